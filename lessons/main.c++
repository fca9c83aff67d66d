// lessons/main.c++ — the command line of ./tt: lessons, milestones, the tour.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>

#include "lessons.h"

using namespace lessons;

namespace {
struct LessonEntry {
    int number;
    const char* name;
    Json (*run)(const Options&); // nullptr: not built yet
};
const LessonEntry lesson_table[] = {
    {1, "Tensor", lesson_01},        {2, "Activations", lesson_02},   {3, "Layers", lesson_03},
    {4, "Losses", lesson_04},        {5, "DataLoader", lesson_05},    {6, "Autograd", lesson_06},
    {7, "Optimizers", lesson_07},    {8, "Training", lesson_08},      {9, "Convolutions", lesson_09},
    {10, "Tokenization", lesson_10}, {11, "Embeddings", lesson_11},   {12, "Attention", lesson_12},
    {13, "Transformers", lesson_13}, {14, "Profiling", lesson_14},    {15, "Quantization", lesson_15},
    {16, "Compression", lesson_16},  {17, "Acceleration", lesson_17}, {18, "Memoization", lesson_18},
    {19, "Benchmarking", lesson_19}, {20, "Capstone", lesson_20},
};
struct MilestoneEntry {
    int year;
    const char* name;
    std::vector<Result> (*run)(const Options&);
};
const MilestoneEntry milestone_table[] = {
    {1958, "Perceptron (Rosenblatt)", milestone_1958},
    {1969, "XOR (Minsky & Papert)", milestone_1969},
    {1986, "MLP with backprop (Rumelhart, Hinton & Williams)", milestone_1986},
    {1998, "CNN (LeCun's LeNet)", milestone_1998},
    {2017, "Transformer (Vaswani et al.)", milestone_2017},
    {2018, "MLPerf-style benchmark", milestone_2018},
    {2024, "Custom kernels (every fast kernel against its reference)", milestone_2024},
};

void usage(FILE* out) {
    std::fprintf(out,
                 "usage: tt <command> [--json] [--quick] [--html FILE]\n"
                 "\n"
                 "commands:\n"
                 "  lesson N          run lesson N's demo: its analysis, measured on this machine\n"
                 "  milestone YEAR    run a milestone on real data and check its gate\n"
                 "  milestones        the tour: every milestone built so far, then a summary table\n"
                 "  memory            print the memory tracker's report\n"
                 "  init MODEL.safetensors --arch TEXT [--seed N] [--train-on INPUT.safetensors]\n"
                 "                    a fresh tt model of that architecture, written as a state_dict\n"
                 "                    (PyTorch's names; the architecture in its metadata)\n"
                 "  predict MODEL.safetensors INPUT.safetensors OUTPUT.safetensors [--arch TEXT]\n"
                 "                    load MODEL (tt's or PyTorch's state_dict), run it in eval mode\n"
                 "                    on INPUT's tensor 'input', write 'output'\n"
                 "  export MODEL.safetensors --pytorch FILE.py [--arch TEXT]\n"
                 "                    write the PyTorch module that loads MODEL (nn.Sequential or GPT)\n"
                 "  capstone [--variant NAME | --model M.safetensors] [--dataset tinydigits|mnist] [--out FILE]\n"
                 "                    measure a model, judge it in Lesson 20's five events, write the\n"
                 "                    submission; capstone --check FILE checks one (capstone --help)\n"
                 "  grade N           run lesson N's tests (N, a range like 1-5, or all) on this\n"
                 "                    build's tt.c++ and report each with its points (make student)\n"
                 "  --help            this text\n"
                 "\n"
                 "options:\n"
                 "  --json            end with JSON: a lesson, one object of what it measured;\n"
                 "                    a milestone, one object per part, then its verdict (pass,\n"
                 "                    every part) as the last line; the tour likewise; grade, one object\n"
                 "  --quick           smaller, faster runs\n"
                 "  --long            a milestone's bigger run (2017: batch 32, 6000 steps; not in the tour)\n"
                 "  --html FILE       milestone and milestones: also write the report as one self-contained\n"
                 "                    page (tables, curves, confusion matrices, samples; no script, no URL)\n"
                 "\n"
                 "environment: TT_MEM_LIMIT=512M stops any run that would pass the budget\n"
                 "             TT_THREADS=n    the thread pool's size (1..1024; default: the hardware's)\n"
                 "             (a malformed value of either stops ./tt before it starts, exit 2)\n"
                 "\n"
                 "lessons:\n");
    for (const LessonEntry& l : lesson_table)
        std::fprintf(out, "  %2d %-14s%s\n", l.number, l.name, l.run ? "" : "  (not built yet)");
    std::fprintf(out, "\nmilestones:\n");
    for (const MilestoneEntry& m : milestone_table)
        std::fprintf(out, "  %d %s%s\n", m.year, m.name, m.run ? "" : "  (not built yet)");
}

int bad_usage(const std::string& message) {
    std::fprintf(stderr, "tt: %s\n\n", message.c_str());
    usage(stderr);
    return 2;
}

// One line per part: a table row, or with --json the part's object.
void print_results(const std::vector<Result>& results, const Options& options) {
    for (const Result& r : results) {
        if (options.json) {
            std::printf("%s\n", to_json(r).c_str());
            continue;
        }
        std::printf("  %-6s %-34s %s", r.milestone.c_str(), r.part.c_str(),
                    r.skipped ? "SKIPPED" : r.pass ? "PASS" : "FAIL");
        for (auto& [k, v] : r.metrics) std::printf("  %s=%.4f", k.c_str(), v);
        std::printf("  (%s; %.1f s; peak %s)\n", r.gate.c_str(), r.seconds, bytes_str(r.peak_bytes).c_str());
        if (!r.note.empty()) std::printf("         %s\n", r.note.c_str());
    }
}

// With --html FILE, the page of these runs; the note goes to stderr, so that
// with --json the verdict stays the last line of stdout.
void write_page(const Options& options, const std::string& title, const std::vector<MilestoneRun>& runs) {
    if (options.html.empty()) return;
    write_html_report(options.html, title, runs, tt::platform());
    std::fprintf(stderr, "tt: the report page is in %s\n", options.html.c_str());
}

MilestoneRun run_milestone(const MilestoneEntry& m, const Options& options) {
    MilestoneRun run;
    run.milestone = std::to_string(m.year);
    run.name = m.name;
    const double start = now_seconds();
    run.parts = m.run(options);
    run.seconds = seconds_since(start);
    return run;
}
} // namespace

int main(int argc, char** argv) {
    if (argc > 1 && (!std::strcmp(argv[1], "init") || !std::strcmp(argv[1], "predict") || !std::strcmp(argv[1], "export"))) {
        try {
            return interop_command(std::vector<std::string>(argv + 1, argv + argc)); // their own options (--arch TEXT ...)
        } catch (const tt::Error& e) {
            std::fprintf(stderr, "tt: %s\n", e.what());
            return 1;
        }
    }
    if (argc > 1 && !std::strcmp(argv[1], "capstone")) {
        try {
            return capstone_command(std::vector<std::string>(argv + 1, argv + argc)); // its own options (--variant NAME ...)
        } catch (const tt::Error& e) {
            std::fprintf(stderr, "tt: %s\n", e.what());
            return 1;
        }
    }
    Options options;
    std::vector<std::string> words;
    for (int i = 1; i < argc; i++) {
        const std::string a = argv[i];
        if (a == "--help" || a == "-h" || a == "help") { usage(stdout); return 0; }
        else if (a == "--json") options.json = true;
        else if (a == "--quick") options.quick = true;
        else if (a == "--long") options.long_run = true;
        else if (a == "--html" || a.rfind("--html=", 0) == 0) {
            if (a == "--html" && i + 1 == argc) return bad_usage("--html takes a file name: --html FILE");
            options.html = a == "--html" ? argv[++i] : a.substr(7);
            if (options.html.empty()) return bad_usage("--html takes a file name: --html FILE");
        }
        else if (a.size() > 1 && a[0] == '-' && !(a[1] >= '0' && a[1] <= '9')) return bad_usage("unknown option '" + a + "'");
        else words.push_back(a);
    }
    if (words.empty()) return bad_usage("no command given");
    if (!options.html.empty()) {
        if (words[0] != "milestone" && words[0] != "milestones")
            return bad_usage("--html is for 'milestone YEAR' and 'milestones' only");
        // Can the page be written? Asked now, not after a run of many minutes.
        if (!std::ofstream(options.html, std::ios::app)) {
            std::fprintf(stderr, "tt: --html: cannot write '%s'\n", options.html.c_str());
            return 2;
        }
    }
    try {
        tt::check_environment(); // a malformed TT_MEM_LIMIT or TT_THREADS stops here, before any work
    } catch (const tt::Error& e) {
        std::fprintf(stderr, "tt: %s\n", e.what());
        return 2;
    }
    try {
        const std::string& command = words[0];
        if (command == "lesson") {
            long n;
            if (words.size() != 2 || !parse_int(words[1], 1, 20, n))
                return bad_usage("'lesson' takes one number from 1 to 20");
            const LessonEntry& l = lesson_table[n - 1];
            if (!l.run) { std::fprintf(stderr, "tt: lesson %ld (%s) is not built yet\n", n, l.name); return 2; }
            std::printf("Lesson %02ld · %s — measured on %s\n\n", n, l.name, machine_name().c_str());
            const Json measured = l.run(options);
            if (options.json) std::printf("%s\n", measured.str().c_str());
            return 0;
        }
        if (command == "milestone") {
            long year;
            if (words.size() != 2 || !parse_int(words[1], 1900, 2100, year))
                return bad_usage("'milestone' takes a year, one of 1958 1969 1986 1998 2017 2018 2024");
            for (const MilestoneEntry& m : milestone_table)
                if (m.year == year) {
                    if (!m.run) { std::fprintf(stderr, "tt: milestone %ld (%s) is not built yet\n", year, m.name); return 2; }
                    if (!options.json) std::printf("Milestone %ld · %s\n\n", year, m.name);
                    const MilestoneRun run = run_milestone(m, options);
                    if (!options.json) std::printf("\n");
                    print_results(run.parts, options);
                    write_page(options, "Milestone " + run.milestone + " · " + run.name, {run});
                    // with --json the last line is the verdict: the milestone's own object
                    if (options.json) std::printf("%s\n", milestone_json(run).str().c_str());
                    return run.pass() ? 0 : 1;
                }
            return bad_usage("no milestone " + words[1] + "; the milestones are 1958 1969 1986 1998 2017 2018 2024");
        }
        if (command == "milestones") {
            if (words.size() != 1) return bad_usage("'milestones' takes no argument");
            TourRun tour;
            std::vector<Result> all;
            const double start = now_seconds();
            for (const MilestoneEntry& m : milestone_table) {
                if (!m.run) continue;
                std::printf("===== Milestone %d · %s =====\n", m.year, m.name);
                tour.milestones.push_back(run_milestone(m, options));
                all.insert(all.end(), tour.milestones.back().parts.begin(), tour.milestones.back().parts.end());
                std::printf("\n");
            }
            tour.seconds = seconds_since(start);
            std::printf("===== The tour: summary (%.1f s, peak %s) =====\n", tour.seconds, bytes_str(tour.peak_bytes()).c_str());
            Options table = options;
            table.json = false;
            print_results(all, table);
            write_page(options, "The milestone tour", tour.milestones);
            if (options.json) {
                print_results(all, options);
                std::printf("%s\n", tour_json(tour).str().c_str()); // the last line: the tour's verdict
            }
            return tour.pass() ? 0 : 1;
        }
        if (command == "grade") {
            if (words.size() != 2) return bad_usage("'grade' takes a lesson number from 1 to 20, a range like 1-5, or all");
            return grade(words[1], options, [](int n) { return std::string(lesson_table[n - 1].name); });
        }
        if (command == "memory") {
            std::printf("%s", tt::memory_report().c_str());
            return 0;
        }
        return bad_usage("unknown command '" + command + "'");
    } catch (const tt::Error& e) {
        std::fprintf(stderr, "tt: %s\n", e.what());
        return 1;
    }
}
