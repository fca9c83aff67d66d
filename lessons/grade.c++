// lessons/grade.c++ — `tt grade N`: runs Lesson N's tests against the tt.c++
// this binary was built from, and reports each one (pass or fail, points,
// the first failing check with what it expected and what it got) and the
// total. The tests are tests/*.c++, linked into ./tt; which lesson a test
// belongs to is in its file's name (tests/test.h says how). In a student's
// tree (`make student`) a lesson passes once its stubs are written; the
// lessons after it are listed as not reached yet.
#include <algorithm>
#include <cstdio>

#include "lessons.h"
#include "../tests/test.h"

namespace lessons {

namespace {
struct Graded {
    const test::Case* test;
    test::Outcome outcome;
};

std::string two_digits(int n) {
    char buf[8];
    std::snprintf(buf, sizeof buf, "%02d", n);
    return buf;
}

// "milestone 1986: " for a milestone's test, "" for a lesson's.
std::string milestone_prefix(const test::Case& c) {
    const std::string file = c.file, base = file.substr(file.find_last_of('/') + 1);
    if (base.rfind("milestone-", 0) != 0) return "";
    return "milestone " + base.substr(10, base.find('.') - 10) + ": ";
}

// "3" -> {3}; "1-5" -> {1..5}; "all" -> every lesson that has tests.
bool parse_lessons(const std::string& which, std::vector<int>& out) {
    if (which == "all") {
        for (const test::Case& c : test::registry())
            if (test::lesson_of(c) > 0) out.push_back(test::lesson_of(c));
        std::sort(out.begin(), out.end());
        out.erase(std::unique(out.begin(), out.end()), out.end());
        return true;
    }
    const size_t dash = which.find('-');
    long first, last;
    if (dash == std::string::npos) {
        if (!parse_int(which, 1, 20, first)) return false;
        last = first;
    } else if (!parse_int(which.substr(0, dash), 1, 20, first) || !parse_int(which.substr(dash + 1), 1, 20, last) ||
               last < first) {
        return false;
    }
    for (long n = first; n <= last; n++) out.push_back((int)n);
    return true;
}
} // namespace

int grade(const std::string& which, const Options& options, const std::function<std::string(int)>& lesson_name) {
    std::vector<int> chosen;
    if (!parse_lessons(which, chosen)) {
        std::fprintf(stderr, "tt: 'grade' takes a lesson number from 1 to 20, a range like 1-5, or all\n");
        return 2;
    }
    if (chosen.empty()) {
        std::fprintf(stderr, "tt: no lesson has tests yet\n");
        return 2;
    }
    std::vector<Json> lessons_json;
    int points = 0, out_of = 0;
    for (int lesson : chosen) {
        std::vector<const test::Case*> cases;
        for (const test::Case& c : test::registry())
            if (test::lesson_of(c) == lesson) cases.push_back(&c);
        // graded tests first (milestones last), then the given ones
        std::stable_sort(cases.begin(), cases.end(), [](const test::Case* a, const test::Case* b) {
            if (a->graded != b->graded) return a->graded;
            return milestone_prefix(*a).empty() && !milestone_prefix(*b).empty();
        });
        const std::string title = "Lesson " + two_digits(lesson) + " · " + lesson_name(lesson);
        if (cases.empty()) { // not built yet: nothing to grade, nothing failed
            if (!options.json) std::printf("%s has no tests yet.\n\n", title.c_str());
            continue;
        }
        if (!options.json) std::printf("%s\n", title.c_str());
        int lesson_points = 0, lesson_out_of = 0;
        std::vector<Json> tests_json;
        for (const test::Case* c : cases) {
            const test::Outcome o = test::run_case(*c);
            const std::string name = milestone_prefix(*c) + c->name;
            const int worth = c->graded ? 1 : 0, earned = o.passed() ? worth : 0;
            lesson_points += earned, lesson_out_of += worth;
            if (!options.json) {
                if (c->graded) std::printf("  %s  %d/%d  %s\n", o.passed() ? "PASS" : "FAIL", earned, worth, name.c_str());
                else std::printf("  %s  given  %s  (tests code the lesson gives you: not graded)\n", o.passed() ? "pass" : "fail", name.c_str());
                if (!o.passed()) std::printf("             %s\n", o.failure.c_str());
                std::fflush(stdout);
            }
            Json t;
            t.text("name", name).text("file", c->file).boolean("graded", c->graded).boolean("passed", o.passed());
            t.number("points", earned).number("out_of", worth);
            if (o.passed()) t.null("failure");
            else t.text("failure", o.failure);
            tests_json.push_back(t.number("ms", o.ms));
        }
        points += lesson_points, out_of += lesson_out_of;
        const bool passed = lesson_points == lesson_out_of;
        if (!options.json)
            std::printf("  %s: %d of %d points%s\n\n", title.c_str(), lesson_points, lesson_out_of,
                        passed ? ", passed" : ", not passed yet");
        Json l;
        l.number("lesson", lesson).text("name", lesson_name(lesson)).number("points", lesson_points);
        l.number("out_of", lesson_out_of).boolean("passed", passed).objects("tests", tests_json);
        lessons_json.push_back(l);
    }
    // What comes after the last lesson graded: not reached yet.
    std::vector<Json> later;
    std::vector<std::pair<int, int>> counts; // lesson, tests
    for (const test::Case& c : test::registry()) {
        const int lesson = test::lesson_of(c);
        if (lesson <= chosen.back()) continue;
        auto at = std::find_if(counts.begin(), counts.end(), [&](const std::pair<int, int>& p) { return p.first == lesson; });
        if (at == counts.end()) counts.push_back({lesson, 1});
        else at->second++;
    }
    std::sort(counts.begin(), counts.end());
    if (!options.json && !counts.empty()) std::printf("Not reached yet:\n");
    for (const auto& [lesson, n] : counts) {
        if (!options.json)
            std::printf("  Lesson %s · %-14s %d test%s\n", two_digits(lesson).c_str(), lesson_name(lesson).c_str(), n, n == 1 ? "" : "s");
        later.push_back(Json().number("lesson", lesson).text("name", lesson_name(lesson)).number("tests", n));
    }
    if (out_of == 0 && lessons_json.empty()) return 2; // nothing to grade: said so above
    const bool passed = points == out_of;
    if (!options.json) {
        if (!counts.empty()) std::printf("\n");
        std::printf("Total: %d of %d points%s\n", points, out_of, passed ? ", passed" : ", not passed yet");
    } else {
        Json all;
        all.objects("lessons", lessons_json).objects("not_reached_yet", later);
        all.number("points", points).number("out_of", out_of).boolean("passed", passed);
        std::printf("%s\n", all.str().c_str());
    }
    return passed ? 0 : 1;
}

} // namespace lessons
