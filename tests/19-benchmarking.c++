// Lesson 19 · Benchmarking: the statistics of a sample against hand-computed
// values (numpy.percentile's linear rule), Student's t against its tables,
// the t interval's coverage in a seeded simulation, the bootstrap's
// determinism, the harness's three stopping rules with functions that spin
// for a known time, a paired comparison on synthetic timings, the Pareto
// frontier with ties, the platform record, and the errors.
#include "test.h"

#include <chrono>

#include "../lessons/lessons.h"

using namespace tt;

namespace {
// Busy-waits `seconds` of wall-clock time: a fake workload whose duration the
// test chooses (it is timed by the same clock the harness reads).
void spin(double seconds) {
    const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
    while (std::chrono::steady_clock::now() < end) {
    }
}
BenchmarkOptions quick_options(int64_t min_runs, int64_t max_runs, double max_seconds, double target_ci) {
    BenchmarkOptions o;
    o.warmup = 1;
    o.min_runs = min_runs;
    o.max_runs = max_runs;
    o.max_seconds = max_seconds;
    o.target_ci = target_ci;
    return o;
}
} // namespace

TEST(summarize_known_sample) {
    // sorted 2 4 4 4 5 5 7 9: mean 5, squared deviations 9+1+1+1+0+0+4+16 = 32
    const Summary s = summarize({9, 4, 2, 5, 4, 7, 4, 5});
    CHECK_EQ(s.n, 8);
    CHECK_NEAR(s.mean, 5.0, 1e-12);
    CHECK_NEAR(s.stddev, std::sqrt(32.0 / 7), 1e-12);
    CHECK_EQ(s.min, 2.0);
    CHECK_EQ(s.max, 9.0);
    CHECK_NEAR(s.median, 4.5, 1e-12);
    CHECK_NEAR(s.p50, 4.5, 1e-12);
    CHECK_NEAR(s.p90, 7.6, 1e-12);  // rank 0.9*7 = 6.3: 7 + 0.3 (9 - 7)
    CHECK_NEAR(s.p99, 8.86, 1e-12); // rank 6.93
    const double half = 2.3646 * std::sqrt(32.0 / 7) / std::sqrt(8.0); // t(7) s / sqrt(n)
    CHECK_NEAR(s.ci_low, 5 - half, 1e-9);
    CHECK_NEAR(s.ci_high, 5 + half, 1e-9);
    CHECK_NEAR(s.relative_ci(), half / 5, 1e-9);
    CHECK_NEAR(s.cv(), std::sqrt(32.0 / 7) / 5, 1e-12);
    // quartiles 4 and 5.5, fences 1.75 and 7.75: only the 9 (index 0) is out
    CHECK_EQ(s.outliers.size(), (size_t)1);
    CHECK_EQ(s.outliers[0], (int64_t)0);
    // one sample: no spread, and an interval without bounds
    const Summary one = summarize({3.5});
    CHECK_EQ(one.mean, 3.5);
    CHECK_EQ(one.median, 3.5);
    CHECK_EQ(one.stddev, 0.0);
    CHECK(one.ci_low < -1e300 && one.ci_high > 1e300);
    CHECK(one.outliers.empty());
    // outliers on both sides, reported in the samples' order
    const Summary two_sided = summarize({1.0, 1.1, -8, 0.9, 1.05, 0.95, 12, 1.0});
    CHECK_EQ(two_sided.outliers.size(), (size_t)2);
    CHECK_EQ(two_sided.outliers[0], (int64_t)2);
    CHECK_EQ(two_sided.outliers[1], (int64_t)6);
}

TEST(percentile_linear_as_numpy) {
    // numpy.percentile([1, 2, 3, 4, 10], p) for p = 0, 25, 50, 90, 100
    const std::vector<double> v = {10, 3, 1, 4, 2};
    CHECK_NEAR(percentile(v, 0), 1.0, 1e-12);
    CHECK_NEAR(percentile(v, 25), 2.0, 1e-12);
    CHECK_NEAR(percentile(v, 50), 3.0, 1e-12);
    CHECK_NEAR(percentile(v, 90), 7.6, 1e-12);
    CHECK_NEAR(percentile(v, 100), 10.0, 1e-12);
    CHECK_NEAR(percentile({1, 2}, 50), 1.5, 1e-12);
    CHECK_NEAR(percentile({7}, 99), 7.0, 1e-12);
}

TEST_GIVEN(student_t_against_tables) {
    CHECK_NEAR(student_t(1), 12.706, 1e-3);
    CHECK_NEAR(student_t(4), 2.776, 1e-3);
    CHECK_NEAR(student_t(9), 2.262, 1e-3);
    CHECK_NEAR(student_t(29), 2.045, 1e-3);
    CHECK_NEAR(student_t(1, 0.90), 6.314, 1e-3);
    CHECK_NEAR(student_t(10, 0.90), 1.812, 1e-3);
    CHECK_NEAR(student_t(1, 0.99), 63.657, 1e-3);
    CHECK_NEAR(student_t(10, 0.99), 3.169, 1e-3);
    // beyond the table: the expansion, against the exact values
    CHECK_NEAR(student_t(40), 2.021075, 1e-5);
    CHECK_NEAR(student_t(60, 0.90), 1.670649, 1e-5);
    CHECK_NEAR(student_t(120, 0.99), 2.617421, 1e-5);
    CHECK_NEAR(student_t(1000000), 1.959966, 1e-5);
    CHECK(student_t(31) < student_t(30) && student_t(31) > student_t(32)); // no step where the table ends
    CHECK_THROWS(student_t(0), "student_t");
    CHECK_THROWS(student_t(5, 0.8), "student_t: confidence");
}

TEST(t_interval_covers_the_mean_95_percent) {
    // 2000 samples of 10 normal values, mean 3: the interval holds 3 in about 95% of them
    Generator g(19);
    int held = 0;
    const int trials = 2000;
    for (int trial = 0; trial < trials; trial++) {
        std::vector<double> sample;
        for (int i = 0; i < 10; i++) sample.push_back(g.normal(3.f, 0.5f));
        const Summary s = summarize(sample);
        held += s.ci_low <= 3 && 3 <= s.ci_high;
    }
    const double coverage = (double)held / trials;
    CHECK(coverage > 0.93 && coverage < 0.97);
}

TEST(bootstrap_median_is_seeded) {
    std::vector<double> sample;
    for (int i = 0; i <= 100; i++) sample.push_back(i);
    const Interval a = bootstrap_median(sample, 500, 7), b = bootstrap_median(sample, 500, 7);
    CHECK_EQ(a.low, b.low);
    CHECK_EQ(a.high, b.high);
    CHECK(a.contains(50));
    CHECK(a.low > 35 && a.high < 65); // the median of 101 values 0..100 moves by about +-10
    const Interval wide = bootstrap_median(sample, 500, 7, 0.99);
    CHECK(wide.low <= a.low && wide.high >= a.high);
    CHECK_THROWS(bootstrap_median(sample, 0), "bootstrap_median");
    CHECK_THROWS(bootstrap_median({}, 10), "bootstrap_median");
}

TEST_GIVEN(runs_needed_for_a_precision) {
    CHECK_EQ(runs_needed(0.1, 0.02), (int64_t)99);  // about (1.96 * 0.1 / 0.02)^2 = 96, plus t's margin
    CHECK_EQ(runs_needed(0.05, 0.02), (int64_t)27);
    CHECK_EQ(runs_needed(0.02, 0.02), (int64_t)7);
    CHECK_EQ(runs_needed(0.01, 0.02), (int64_t)4);
    CHECK_EQ(runs_needed(0.3, 0.01), (int64_t)3460);
    CHECK_EQ(runs_needed(0, 0.02), (int64_t)2);
    CHECK_THROWS(runs_needed(0.1, 0), "runs_needed");
    CHECK_THROWS(runs_needed(-1, 0.02), "runs_needed");
}

TEST(benchmark_stopping_rules) {
    int64_t calls = 0;
    // two durations alternating: the interval never shrinks to 1e-9 of the mean
    auto uneven = [&] { spin(calls++ % 2 ? 40e-6 : 20e-6); };
    // "ci": a target any sample meets, reached at min_runs
    Benchmark ci = benchmark("ci", uneven, quick_options(4, 100, 10, 1e9));
    CHECK(ci.stopped_by == "ci");
    CHECK_EQ(ci.samples.size(), (size_t)4);
    CHECK_EQ(calls, (int64_t)(1 + 1 + 4)); // the cold call, the warm-up, the runs
    CHECK_EQ(ci.stats.n, (int64_t)4);
    // "runs": a target no sample meets
    calls = 0;
    Benchmark runs = benchmark("runs", uneven, quick_options(3, 7, 10, 1e-9));
    CHECK(runs.stopped_by == "runs");
    CHECK_EQ(runs.samples.size(), (size_t)7);
    CHECK_EQ(calls, (int64_t)9);
    // "time": a slow call, 2 ms, against 10 ms of budget: five runs at most,
    // before min_runs (the budget wins once there are two)
    Benchmark slow = benchmark("slow", [] { spin(2e-3); }, quick_options(100, 1000, 0.01, 1e-9));
    CHECK(slow.stopped_by == "time");
    CHECK(slow.samples.size() >= 2 && slow.samples.size() <= 5);
    CHECK(slow.stats.min >= 2e-3);
    CHECK_NEAR(slow.throughput(), 1 / slow.stats.mean, 1e-9);
    CHECK(slow.name == "slow");
}

TEST(benchmark_cold_start_and_bootstrap) {
    int64_t calls = 0;
    auto cold_then_warm = [&] { spin(calls++ == 0 ? 5e-3 : 20e-6); };
    BenchmarkOptions o = quick_options(5, 5, 10, 1e-9);
    o.bootstrap = true;
    Benchmark b = benchmark("cold", cold_then_warm, o, 32);
    CHECK(b.cold_seconds >= 5e-3);
    CHECK(b.stats.min >= 20e-6);
    CHECK(b.median_ci.low > 0 && b.median_ci.low <= b.median_ci.high);
    CHECK(b.median_ci.low >= b.stats.min && b.median_ci.high <= b.stats.max);
    CHECK_NEAR(b.throughput(), 32 / b.stats.mean, 1e-6);
    // without bootstrap, no interval of the median
    Benchmark plain = benchmark("plain", [] {}, quick_options(2, 3, 1, 1e9));
    CHECK_EQ(plain.median_ci.low, 0.0);
    CHECK_EQ(plain.median_ci.high, 0.0);
}

// Throughput's interval is the mean's inverted; a mean's interval that
// reaches zero or below (few, scattered runs) leaves it open above, never negative.
TEST_GIVEN(throughput_interval_inverts_the_mean_s) {
    Benchmark b;
    b.items = 64;
    b.stats = summarize({1.0, 2.0, 3.0}); // mean 2, interval 2 -+ 4.303 * 1 / sqrt(3)
    CHECK_NEAR(b.throughput(), 32.0, 1e-12);
    CHECK_NEAR(b.throughput_ci().low, 64 / b.stats.ci_high, 1e-12);
    CHECK(b.stats.ci_low < 0 && std::isinf(b.throughput_ci().high));
    b.stats = summarize({1.9, 2.0, 2.1});
    CHECK_NEAR(b.throughput_ci().high, 64 / b.stats.ci_low, 1e-12);
    CHECK(b.throughput_ci().contains(b.throughput()));
}

TEST(single_stream_and_offline) {
    std::vector<int64_t> batches_seen;
    auto run = [&](int64_t batch) {
        batches_seen.push_back(batch);
        spin(30e-6 + 2e-6 * (double)batch); // a fixed cost per call, and one per sample
    };
    const BenchmarkOptions o = quick_options(3, 4, 1, 1e-9);
    Benchmark single = single_stream("mlp", run, o);
    CHECK_EQ(single.items, 1.0);
    for (int64_t b : batches_seen) CHECK_EQ(b, (int64_t)1);
    Offline off = offline("mlp", run, {1, 4, 16}, o);
    CHECK_EQ(off.batches.size(), (size_t)3);
    CHECK_EQ(off.batches[2].items, 16.0);
    CHECK(off.batches[1].name == "mlp batch 4");
    // the best batch is the one with the most samples per second, whatever it is today
    size_t best = 0;
    for (size_t i = 0; i < off.batches.size(); i++)
        if (off.batches[i].throughput() > off.batches[best].throughput()) best = i;
    CHECK_EQ(off.best_batch, (int64_t)off.batches[best].items);
    CHECK_NEAR(off.samples_per_second, off.batches[best].throughput(), 1e-9);
    CHECK(off.samples_per_second_ci.contains(off.samples_per_second));
    CHECK_THROWS(offline("mlp", run, {}, o), "offline");
    CHECK_THROWS(offline("mlp", run, {4, 0}, o), "offline");
}

TEST(compare_paired_on_synthetic_timings) {
    Generator g(5);
    std::vector<double> fast, slow, same_a, same_b;
    for (int i = 0; i < 30; i++) {
        fast.push_back(1e-3 * (1 + 0.05 * g.normal()));
        slow.push_back(2e-3 * (1 + 0.05 * g.normal()));
        same_a.push_back(1e-3 * (1 + 0.05 * g.normal()));
        same_b.push_back(1e-3 * (1 + 0.05 * g.normal()));
    }
    const Comparison twice = compare_paired("fast", fast, "slow", slow);
    CHECK_EQ(twice.pairs, (int64_t)30);
    CHECK(twice.a_faster() && !twice.b_faster());
    CHECK_NEAR(twice.speedup, 2.0, 0.1);
    CHECK(twice.ci.contains(twice.speedup) && twice.ci.low > 1.9 && twice.ci.high < 2.1);
    CHECK(twice.verdict().find("fast is 2.") == 0);
    // the other way round: b is the faster
    const Comparison reversed = compare_paired("slow", slow, "fast", fast);
    CHECK(reversed.b_faster() && !reversed.a_faster());
    CHECK_NEAR(reversed.speedup * twice.speedup, 1.0, 1e-9);
    CHECK(reversed.verdict().find("fast is 2.") == 0);
    // the same configuration twice: no difference shown
    const Comparison same = compare_paired("a", same_a, "b", same_b);
    CHECK(!same.a_faster() && !same.b_faster());
    CHECK(same.ci.contains(1.0));
    CHECK(same.verdict().find("no difference shown") == 0);
    // the geometric mean of the ratios: 2 and 8 give 4
    const Comparison geometric = compare_paired("a", {1, 1}, "b", {2, 8});
    CHECK_NEAR(geometric.speedup, 4.0, 1e-12);
    CHECK_THROWS(compare_paired("a", {1, 2}, "b", {1}), "compare_paired");
    CHECK_THROWS(compare_paired("a", {1}, "b", {1}), "compare_paired");
    CHECK_THROWS(compare_paired("a", {1, 0}, "b", {1, 1}), "compare_paired");
}

TEST(compare_times_in_pairs) {
    // b does ten times a's work: a is faster, whatever else the machine runs
    const Comparison c = compare("a", [] { spin(20e-6); }, "b", [] { spin(200e-6); }, quick_options(5, 20, 1, 0.05));
    CHECK(c.pairs >= 5 && c.pairs <= 20);
    CHECK(c.a_faster());
    CHECK(c.a == "a" && c.b == "b");
    CHECK_THROWS(compare("a", [] {}, "b", [] {}, quick_options(1, 5, 1, 0.1)), "compare");
}

TEST(pareto_frontier_cases) {
    const std::vector<Variant> v = {
        {"fp32", 0.98, 2e-3, 400000},  // the most accurate
        {"int8", 0.97, 1e-3, 100000},  // faster and smaller
        {"pruned", 0.96, 1.5e-3, 150000}, // int8 beats it on all three
        {"tiny", 0.90, 0.5e-3, 20000}, // the fastest and smallest
        {"tiny copy", 0.90, 0.5e-3, 20000}, // a tie on all three: both stay
        {"slow tiny", 0.90, 0.8e-3, 20000}, // tiny is as good everywhere and faster
    };
    const std::vector<bool> f = pareto_frontier(v);
    const std::vector<bool> expected = {true, true, false, true, true, false};
    CHECK_EQ(f.size(), expected.size());
    for (size_t i = 0; i < f.size(); i++) CHECK_EQ((bool)f[i], (bool)expected[i]);
    CHECK(pareto_frontier({}).empty());
    CHECK(pareto_frontier({{"only", 0.5, 1, 1}})[0]);
    // better on one axis only is enough to stay
    const std::vector<bool> g = pareto_frontier({{"a", 0.9, 1e-3, 100}, {"b", 0.9, 1e-3, 99}, {"c", 0.91, 2e-3, 1000}});
    CHECK(!g[0] && g[1] && g[2]);
    CHECK_THROWS(pareto_frontier({{"nan", std::nan(""), 1, 1}}), "pareto_frontier: variant 'nan'");
    CHECK_THROWS(pareto_frontier({{"neg", 0.5, -1, 1}}), "pareto_frontier");
}

TEST_GIVEN(platform_is_recorded) {
    const Platform p = platform();
    CHECK(!p.cpu.empty());
    CHECK(p.cores >= 1);
    CHECK(p.threads >= 1);
    CHECK(!p.arch.empty());
    CHECK(!p.compiler.empty());
    CHECK(!p.flags.empty());
    CHECK(p.build == "portable" || p.build.rfind("native (-m", 0) == 0);
    CHECK(p.gemm_isa == gemm_tile().isa);
    CHECK(!p.commit.empty());
}

TEST_GIVEN(benchmark_errors_name_the_function) {
    CHECK_THROWS(summarize({}), "summarize: the sample is empty");
    CHECK_THROWS(summarize({1, std::nan("")}), "summarize: sample 1");
    CHECK_THROWS(summarize({1, HUGE_VAL}), "summarize");
    CHECK_THROWS(percentile({1, 2}, 101), "percentile");
    CHECK_THROWS(percentile({}, 50), "percentile");
    auto f = [] {};
    CHECK_THROWS(benchmark("x", f, quick_options(1, 10, 1, 0.1)), "benchmark: needs");
    CHECK_THROWS(benchmark("x", f, quick_options(5, 4, 1, 0.1)), "benchmark");
    CHECK_THROWS(benchmark("x", f, quick_options(5, 10, 0, 0.1)), "benchmark");
    CHECK_THROWS(benchmark("x", f, quick_options(5, 10, 1, 0)), "benchmark");
    BenchmarkOptions negative;
    negative.warmup = -1;
    CHECK_THROWS(benchmark("x", f, negative), "benchmark");
    CHECK_THROWS(benchmark("x", f, {}, 0), "benchmark: items_per_call");
}

TEST(pareto_plot_and_platform_json) {
    const std::string svg = lessons::pareto_svg("variants <&>", {{"fp32", 0.98, 2e-3, 400000}, {"int8 'q'", 0.97, 1e-3, 100000},
                                                                 {"pruned", 0.96, 1.5e-3, 150000}});
    CHECK(svg.rfind("<svg ", 0) == 0);
    CHECK(svg.find("</svg>") != std::string::npos);
    CHECK(svg.find("variants &lt;&amp;&gt;") != std::string::npos); // the title escaped
    CHECK(svg.find("int8 &#39;q&#39;") != std::string::npos);
    CHECK(svg.find("<polyline") != std::string::npos);          // the frontier's line
    CHECK(svg.find("font-weight='bold'>pruned") == std::string::npos); // not on the frontier
    CHECK(svg.find("font-weight='bold'>fp32") != std::string::npos);
    CHECK(svg.find("http://www.w3.org/2000/svg") != std::string::npos && svg.find("<link") == std::string::npos);
    CHECK_THROWS(lessons::pareto_svg("none", {}), "pareto_svg");
    CHECK_THROWS(lessons::pareto_svg("zero", {{"z", 0.5, 0, 1}}), "pareto_svg: variant 'z'");
    const std::string json = lessons::platform_json(platform()).str();
    for (const char* key : {"cpu", "cores", "threads", "arch", "compiler", "flags", "build", "gemm_isa", "commit"})
        CHECK(json.find("\"" + std::string(key) + "\": ") != std::string::npos);
}
