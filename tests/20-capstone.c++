// Lesson 20 · Capstone: the events' rules at their boundaries, the scores,
// the leaderboard, and the submission file: written and read back exactly,
// and every bad field, truncated or corrupt file refused with an Error that
// names the field.
#include <cmath>
#include <fstream>

#include "test.h"
#include "../lessons/lessons.h"

using namespace tt;
using test::TempDir;

namespace {
// A model that passes every rule: 0.95 right, 50 us a sample, 40 kB.
Measurements good_metrics() {
    Measurements m;
    m.accuracy = 0.95;
    m.test_samples = 200;
    m.latency_median = 50e-6;
    m.latency_ci_low = 48e-6;
    m.latency_ci_high = 53e-6;
    m.latency_p90 = 61e-6;
    m.latency_p99 = 0.000123456789;
    m.latency_runs = 300;
    m.throughput = 123456.7;
    m.size_bytes = 40000;
    m.peak_bytes = 41234;
    return m;
}

Submission good_submission() {
    Submission s;
    s.submitter = "Ada \"the tester\"";
    s.dataset = "tinydigits";
    s.model = {"mlp", "Linear(64, 32) ReLU() Linear(32, 10)", 2410, 0.25, false};
    s.metrics = good_metrics();
    s.platform = {"Test CPU @ 1 GHz", 2, 2, "x86_64", "g++ 12", "-O3", "portable", "avx2", "abc123"};
    s.events = judge_all(s.metrics);
    return s;
}

// The file as to_json writes it, with `from` replaced by `to` (once: it must be there).
std::string edited(const std::string& from, const std::string& to) {
    std::string json = to_json(good_submission());
    const size_t at = json.find(from);
    if (at == std::string::npos) throw std::runtime_error("edited: no '" + from + "' in the file");
    return json.replace(at, from.size(), to);
}
} // namespace

TEST_GIVEN(capstone_events_are_the_five_with_their_rules) {
    const std::vector<Event>& events = capstone_events();
    CHECK_EQ(events.size(), (size_t)5);
    CHECK_EQ(events[0].name, std::string("latency-sprint"));
    CHECK_EQ(events[0].rules[0].str(), std::string("accuracy >= 0.85"));
    CHECK_EQ(events[2].name, std::string("accuracy-contest"));
    CHECK_EQ(events[2].rules[0].str(), std::string("latency_median < 0.1"));
    CHECK_EQ(events[2].rules[1].str(), std::string("size_bytes < 10485760"));
    CHECK_EQ(events[4].rules[0].str(), std::string("accuracy >= 0.8"));
    CHECK_EQ(capstone_event("all-around").score, std::string("balance"));
    CHECK_THROWS(capstone_event("marathon"), "capstone_event: no event 'marathon'; the events are latency-sprint, memory-challenge");
    CHECK_THROWS(metric_value(good_metrics(), "speed"), "metric_value: no metric 'speed'");
}

TEST(capstone_rules_hold_exactly_at_their_boundaries) {
    Measurements m = good_metrics();
    const Event &sprint = capstone_event("latency-sprint"), &contest = capstone_event("accuracy-contest"),
                &extreme = capstone_event("extreme-push");
    m.accuracy = 0.85; // >= : the bound itself is in
    CHECK(judge(sprint, m).eligible);
    CHECK(judge(capstone_event("memory-challenge"), m).eligible);
    m.accuracy = std::nextafter(0.85, 0.0);
    Verdict v = judge(sprint, m);
    CHECK(!v.eligible);
    CHECK_EQ(v.reason, std::string("needs accuracy >= 0.85, has 0.85")); // 6 digits cannot show the difference
    CHECK(!judge(capstone_event("all-around"), m).eligible);
    CHECK(judge(extreme, m).eligible);
    m.accuracy = 0.80;
    CHECK(judge(extreme, m).eligible);
    m.accuracy = 0.7999;
    CHECK_EQ(judge(extreme, m).reason, std::string("needs accuracy >= 0.8, has 0.7999"));
    m.accuracy = 0.5; // the contest has no accuracy bar
    m.latency_median = m.latency_p90 = m.latency_p99 = m.latency_ci_high = 0.1; // < : the bound itself is out
    v = judge(contest, m);
    CHECK(!v.eligible);
    CHECK_EQ(v.reason, std::string("needs latency_median < 0.1, has 0.1"));
    CHECK_NEAR(v.score, 0.5, 0); // scored even when not eligible
    m.latency_median = std::nextafter(0.1, 0.0);
    CHECK(judge(contest, m).eligible);
    m.size_bytes = 10 * 1048576;
    CHECK_EQ(judge(contest, m).reason, std::string("needs size_bytes < 10485760, has 10485760"));
    m.size_bytes = 10 * 1048576 - 1;
    CHECK(judge(contest, m).eligible);
    m.latency_median = 0.2; // the first broken rule is the reason
    m.size_bytes = 20 * 1048576;
    CHECK_EQ(judge(contest, m).reason, std::string("needs latency_median < 0.1, has 0.2"));
}

TEST(capstone_scores_follow_their_metrics) {
    Measurements m = good_metrics();
    const std::vector<Verdict> all = judge_all(m);
    CHECK_EQ(all.size(), (size_t)5);
    for (const Verdict& v : all) CHECK(v.eligible && v.reason.empty());
    CHECK_NEAR(all[0].score, 50e-6, 0);
    CHECK_NEAR(all[1].score, 40000, 0);
    CHECK_NEAR(all[2].score, 0.95, 0);
    // cbrt(0.95 * (1e-3 / 50e-6) * (1048576 / 40000)) = cbrt(0.95 * 20 * 26.2144)
    CHECK_NEAR(all[3].score, std::cbrt(0.95 * 20 * 26.2144), 1e-12);
    CHECK_NEAR(all[4].score, 40000 * 50e-6, 1e-15);
    // the balance: halving the size is worth as much as halving the latency
    Measurements smaller = m, faster = m;
    smaller.size_bytes /= 2;
    faster.latency_median /= 2;
    CHECK_NEAR(metric_value(smaller, "balance"), metric_value(faster, "balance"), 1e-12);
    CHECK_NEAR(metric_value(smaller, "balance") / metric_value(m, "balance"), std::cbrt(2.0), 1e-12);
}

TEST(capstone_leaderboard_ranks_the_eligible_best_first) {
    std::vector<Submission> entries(4, good_submission());
    const double latencies[] = {80e-6, 20e-6, 40e-6, 10e-6};
    for (size_t k = 0; k < 4; k++) {
        Measurements& m = entries[k].metrics;
        m.latency_median = latencies[k];
        m.latency_ci_low = m.latency_median * 0.9;
        m.latency_ci_high = m.latency_median * 1.1;
        m.latency_p90 = m.latency_median * 1.2;
        m.latency_p99 = m.latency_median * 1.5;
    }
    entries[3].metrics.accuracy = 0.5; // the fastest, but not good enough
    entries[2].metrics.accuracy = 0.99;
    for (Submission& s : entries) s.events = judge_all(s.metrics);
    CHECK((leaderboard(entries, "latency-sprint") == std::vector<size_t>{1, 2, 0}));
    CHECK((leaderboard(entries, "accuracy-contest") == std::vector<size_t>{2, 0, 1, 3}));
    CHECK_THROWS(leaderboard(entries, "sprint"), "no event 'sprint'");
}

TEST(capstone_submission_round_trips_exactly) {
    const Submission s = good_submission();
    const std::string json = to_json(s);
    const Submission r = parse_submission(json);
    CHECK_EQ(r.submitter, s.submitter);
    CHECK_EQ(r.model.architecture, s.model.architecture);
    CHECK_EQ(r.model.params, s.model.params);
    CHECK(r.model.sparsity == 0.25 && !r.model.quantized);
    CHECK(r.metrics.latency_p99 == s.metrics.latency_p99); // every double reads back bit for bit
    CHECK(r.metrics.throughput == s.metrics.throughput);
    CHECK_EQ(r.metrics.peak_bytes, s.metrics.peak_bytes);
    CHECK_EQ(r.platform.cpu, s.platform.cpu);
    CHECK_EQ(r.platform.commit, s.platform.commit);
    CHECK_EQ(r.events.size(), (size_t)5);
    for (size_t k = 0; k < 5; k++) CHECK(r.events[k].score == s.events[k].score && r.events[k].eligible == s.events[k].eligible);
    CHECK_EQ(to_json(r), json); // and writes the same file again
    CHECK(json.find("\"schema_version\": 1") != std::string::npos);
    // an ineligible verdict keeps its reason through the file
    Submission weak = s;
    weak.metrics.accuracy = 0.82;
    weak.events = judge_all(weak.metrics);
    const Submission w = parse_submission(to_json(weak));
    CHECK(!w.events[0].eligible && w.events[4].eligible);
    CHECK_EQ(w.events[0].reason, std::string("needs accuracy >= 0.85, has 0.82"));
    TempDir dir;
    write_submission(dir / "s.json", s);
    CHECK_EQ(read_submission(dir / "s.json").model.name, std::string("mlp"));
    CHECK_THROWS(read_submission(dir / "none.json"), "read_submission: cannot open '" + dir / "none.json" + "'");
    CHECK_THROWS(write_submission(dir / "no/such/folder.json", s), "write_submission: cannot write");
}

TEST(capstone_validate_refuses_what_is_out_of_range_when_writing) {
    auto refused = [](const std::function<void(Submission&)>& change, const std::string& text) {
        Submission s = good_submission();
        change(s);
        CHECK_THROWS(to_json(s), text);
    };
    refused([](Submission& s) { s.schema_version = 2; }, "submission: field 'schema_version' is 2, a version this tt does not read (it reads 1)");
    refused([](Submission& s) { s.dataset = "cifar"; }, "submission: field 'dataset' must be \"tinydigits\" or \"mnist\", got \"cifar\"");
    refused([](Submission& s) { s.model.name = ""; }, "field 'model.name' must not be empty");
    refused([](Submission& s) { s.model.architecture = ""; }, "field 'model.architecture' must not be empty");
    refused([](Submission& s) { s.model.params = 0; }, "field 'model.params' must be in [1, ");
    refused([](Submission& s) { s.model.sparsity = 1.5; }, "field 'model.sparsity' must be in [0, 1], got 1.5");
    refused([](Submission& s) { s.metrics.accuracy = 1.01; }, "submission: field 'metrics.accuracy' must be in [0, 1], got 1.01");
    refused([](Submission& s) { s.metrics.accuracy = NAN; }, "field 'metrics.accuracy' must be in [0, 1], got nan");
    refused([](Submission& s) { s.metrics.test_samples = 0; }, "field 'metrics.test_samples' must be in [1, ");
    refused([](Submission& s) { s.metrics.latency_median = 0; }, "field 'metrics.latency_median' must be in (0, inf), got 0");
    refused([](Submission& s) { s.metrics.latency_ci_low = -1; }, "field 'metrics.latency_ci_low' must be in (0, inf)");
    refused([](Submission& s) { s.metrics.latency_ci_high = 1e-6; }, "field 'metrics.latency_ci_high' must be in [4.8e-05, inf), got 1e-06");
    refused([](Submission& s) { s.metrics.latency_p90 = 1e-6; }, "field 'metrics.latency_p90' must be in [5e-05, inf)");
    refused([](Submission& s) { s.metrics.latency_p99 = 1e-6; }, "field 'metrics.latency_p99' must be in [6.1e-05, inf)");
    refused([](Submission& s) { s.metrics.latency_runs = 0; }, "field 'metrics.latency_runs' must be in [1, ");
    refused([](Submission& s) { s.metrics.throughput = INFINITY; }, "field 'metrics.throughput' must be in (0, inf), got inf");
    refused([](Submission& s) { s.metrics.size_bytes = 0; }, "field 'metrics.size_bytes' must be in [1, ");
    refused([](Submission& s) { s.metrics.peak_bytes = 100; }, "field 'metrics.peak_bytes' must be in [40000, ");
    refused([](Submission& s) { s.platform.cores = -1; }, "field 'platform.cores' must be in [0, ");
    refused([](Submission& s) { s.events.pop_back(); }, "field 'events' must hold the 5 events, has 4");
    refused([](Submission& s) { std::swap(s.events[0], s.events[1]); },
            "field 'events[0].event' must be \"latency-sprint\" (the events in order), got \"memory-challenge\"");
    refused([](Submission& s) { s.metrics.accuracy = 0.5; }, // the verdicts were judged on 0.95
            "field 'events[0].eligible' is true but the metrics say not eligible (needs accuracy >= 0.85, has 0.5)");
    refused([](Submission& s) { s.events[2].score = 0.99; }, "field 'events[2].score' is 0.99 but the metrics give 0.95");
}

TEST(capstone_bad_fields_in_a_file_are_named) {
    auto refused = [](const std::string& from, const std::string& to, const std::string& text) {
        CHECK_THROWS(parse_submission(edited(from, to)), text);
    };
    refused("\"schema_version\": 1", "\"schema_version\": 7", "field 'schema_version' is 7, a version this tt does not read (it reads 1)");
    refused("\"schema_version\": 1", "\"schema_version\": \"1\"", "field 'schema_version' must be a whole number, got a string");
    refused("\"schema\": \"tt-capstone-submission\"", "\"schema\": \"mlperf\"", "field 'schema' must be \"tt-capstone-submission\"");
    refused("\"dataset\": \"tinydigits\",", "", "field 'dataset' is missing");
    refused("\"dataset\": \"tinydigits\"", "\"dataset\": null", "field 'dataset' must be a string, got null");
    refused("\"params\": 2410", "\"params\": 2410.5", "field 'model.params' must be a whole number from 0 to 2^53, got 2410.5");
    refused("\"params\": 2410", "\"params\": -3", "field 'model.params' must be a whole number from 0 to 2^53, got -3");
    refused("\"quantized\": false", "\"quantized\": 0", "field 'model.quantized' must be true or false, got a number");
    refused("\"accuracy\": 0.95", "\"accuracy\": \"95%\"", "submission: field 'metrics.accuracy' must be a number, got a string");
    refused("\"accuracy\": 0.95", "\"accuracy\": 95", "field 'metrics.accuracy' must be in [0, 1], got 95");
    refused("\"accuracy\": 0.95,", "\"accuracy\": 0.95, \"acuracy\": 0.95,", "field 'metrics.acuracy' is not in schema version 1");
    refused("\"latency_median\": 5e-05", "\"latency_median\": -5e-05", "field 'metrics.latency_median' must be in (0, inf)");
    refused("\"metrics\": {", "\"metrics\": [], \"x\": {", "field 'metrics' must be an object, got an array");
    refused("\"cores\": 2", "\"cores\": true", "field 'platform.cores' must be a whole number, got a boolean");
    refused("\"gemm_isa\": \"avx2\",", "", "field 'platform.gemm_isa' is missing");
    refused("\"score\": 0.95", "\"score\": null", "field 'events[2].score' must be a number, got null");
    refused("\"score\": 0.95", "\"score\": 0.5", "field 'events[2].score' is 0.5 but the metrics give 0.95");
    refused("\"eligible\": true", "\"eligible\": false", "field 'events[0].eligible' is false but the metrics say eligible");
    refused("\"event\": \"extreme-push\"", "\"event\": \"marathon\"", "field 'events[4].event' must be \"extreme-push\"");
    refused("\"events\": [", "\"events\": [7, ", "field 'events[0]' must be an object, got a number");
    refused("\"events\": [", "\"extra\": 1, \"events\": [", "field 'extra' is not in schema version 1");
    CHECK_THROWS(parse_submission("[1, 2]"), "submission: the file must hold one JSON object, not an array");
}

TEST(capstone_truncated_or_corrupt_files_are_refused_cleanly) {
    const std::string json = to_json(good_submission());
    // every proper prefix is refused with an Error, never accepted or crashed on
    int refused = 0;
    for (size_t n = 0; n < json.size() - 1; n += 7) {
        try {
            parse_submission(json.substr(0, n));
        } catch (const Error& e) {
            refused += std::string(e.what()).rfind("submission: ", 0) == 0;
        }
    }
    CHECK_EQ(refused, (int)((json.size() - 2) / 7 + 1));
    CHECK_THROWS(parse_submission(json.substr(0, json.size() / 2)), "submission: bad JSON at byte");
    CHECK_THROWS(parse_submission(json + "}"), "submission: bad JSON at byte " + std::to_string(json.size()) + ": unexpected text");
    CHECK_THROWS(parse_submission(edited("\"accuracy\": 0.95", "\"accuracy\": 0.9.5")), "submission: bad JSON at byte");
    CHECK_THROWS(parse_submission(edited("\"accuracy\": 0.95", "\"accuracy\": 0.95, \"accuracy\": 1")), "duplicate key \"accuracy\"");
    // one byte changed anywhere: refused, or read as a submission that still validates
    for (size_t k = 0; k < json.size(); k += 3) {
        std::string bad = json;
        bad[k] = (char)(bad[k] ^ 0x25);
        try {
            validate(parse_submission(bad));
        } catch (const Error&) {
        }
    }
}

// ./tt capstone: a built-in variant and a student's checkpoint, each measured
// and written as a submission that tt reads back and checks; --check on a
// file with a bad field says which field (exit 1).
TEST(capstone_command_writes_submissions_tt_validates) {
    TempDir dir;
    std::FILE* out = std::tmpfile();
    std::FILE* err = std::tmpfile();
    auto said = [](std::FILE* f) {
        std::string text(65536, '\0');
        std::rewind(f);
        text.resize(std::fread(&text[0], 1, text.size(), f));
        return text;
    };
    auto run = [&](const std::vector<std::string>& args) { return lessons::capstone_command(args, out, err); };
    CHECK_EQ(run({"capstone", "--variant", "mlp", "--quick", "--out", dir / "mlp.json", "--submitter", "tests"}), 0);
    const Submission s = read_submission(dir / "mlp.json");
    CHECK_EQ(s.dataset, std::string("tinydigits"));
    CHECK_EQ(s.model.architecture, std::string("Linear(64, 32) ReLU() Linear(32, 10)"));
    CHECK_EQ(s.model.params, (int64_t)2410);
    CHECK_EQ(s.metrics.test_samples, (int64_t)200);
    CHECK_EQ(s.metrics.size_bytes, (int64_t)2410 * 4);
    CHECK(s.metrics.accuracy >= 0.85); // 8 epochs on TinyDigits; the milestone gets 0.9 and more
    CHECK(s.events[0].eligible);
    CHECK(said(out).find("wrote " + dir / "mlp.json") != std::string::npos);
    CHECK_EQ(run({"capstone", "--check", dir / "mlp.json"}), 0);
    CHECK(said(out).find("a valid submission (schema version 1)") != std::string::npos);

    // a student's model: ./tt init writes it (untrained), the capstone measures it as it is
    CHECK_EQ(lessons::interop_command({"init", dir / "mine.safetensors", "--arch", "Linear(64, 10)"}, out, err), 0);
    CHECK_EQ(run({"capstone", "--model", dir / "mine.safetensors", "--quantize", "--quick", "--out", dir / "mine.json"}), 0);
    const Submission mine = read_submission(dir / "mine.json");
    CHECK_EQ(mine.model.name, std::string("mine.safetensors-int8"));
    CHECK(mine.model.quantized && mine.metrics.size_bytes == 640 + 10 * 4 + 10 * 4); // int8 weights, scales, bias
    CHECK(!mine.events[0].eligible && mine.events[0].reason.rfind("needs accuracy >= 0.85, has ", 0) == 0);

    // a model for the other data set, or with another number of classes
    CHECK_EQ(lessons::interop_command({"init", dir / "mnist.safetensors", "--arch", "Linear(784, 10)"}, out, err), 0);
    CHECK_THROWS(run({"capstone", "--model", dir / "mnist.safetensors", "--quick", "--out", dir / "x.json"}),
                 "capstone: the model cannot take tinydigits's test images as [200,64]: linear:");
    CHECK_EQ(lessons::interop_command({"init", dir / "five.safetensors", "--arch", "Linear(64, 5)"}, out, err), 0);
    CHECK_THROWS(run({"capstone", "--model", dir / "five.safetensors", "--quick", "--out", dir / "x.json"}),
                 "capstone: the model gives [200,5] for a batch of 200 images, not [B,10]");

    // a file edited by hand is refused with the field's name
    std::string text;
    {
        std::ifstream in(dir / "mlp.json");
        text.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    }
    const size_t at = text.find("\"accuracy\": ");
    text.replace(at, text.find(',', at) - at, "\"accuracy\": 1.5");
    std::ofstream(dir / "bad.json") << text;
    CHECK_EQ(run({"capstone", "--check", dir / "bad.json"}), 1);
    CHECK(said(err).find("tt: capstone: read_submission: '" + dir / "bad.json" +
                         "': submission: field 'metrics.accuracy' must be in [0, 1], got 1.5") != std::string::npos);
    CHECK_EQ(run({"capstone", "--prune", "2"}), 2);
    CHECK(said(err).find("--prune takes a fraction between 0 and 1") != std::string::npos);
    CHECK_EQ(run({"capstone", "--variant", "mlp", "--model", "x"}), 2);
    CHECK_THROWS(run({"capstone", "--variant", "giant", "--out", dir / "g.json"}), "capstone: no variant 'giant'; the variants are mlp, mlp-int8");
    CHECK_THROWS(run({"capstone", "--dataset", "cifar"}), "capstone: no data set 'cifar'");
    CHECK_EQ(run({"capstone", "--help"}), 0);
    CHECK(said(out).find("latency-sprint    lowest latency_median; needs accuracy >= 0.85") != std::string::npos);
    std::fclose(out);
    std::fclose(err);
}
