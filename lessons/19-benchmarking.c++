// Lesson 19 · Benchmarking — the demo behind `./tt lesson 19`: the harness
// of tt.h's Lesson 19 on this machine. A cold start against the warm runs;
// one benchmark's whole report; the noise of this machine (the same
// benchmark run again and again) and how many runs a 2% claim needs; the t
// interval of the mean against the bootstrap interval of the median;
// MLPerf's single-stream and offline scenarios on an MLP; paired
// comparisons (two gemm tiles, and one configuration against itself); and
// the Pareto frontier of a few TinyDigits MLPs, fp32 and int8, drawn as SVG.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include "lessons.h"

using namespace tt;

namespace lessons {
namespace {

// Seconds as the shortest readable unit: "12.3 µs", "4.56 ms", "1.23 s".
std::string duration_str(double seconds) {
    char buf[32];
    if (!std::isfinite(seconds)) return "inf";
    if (std::fabs(seconds) < 1e-3) std::snprintf(buf, sizeof buf, "%.1f µs", seconds * 1e6);
    else if (std::fabs(seconds) < 1) std::snprintf(buf, sizeof buf, "%.3f ms", seconds * 1e3);
    else std::snprintf(buf, sizeof buf, "%.2f s", seconds);
    return buf;
}

Json summary_json(const Summary& s) {
    return Json()
        .number("n", (double)s.n)
        .number("mean", s.mean)
        .number("median", s.median)
        .number("stddev", s.stddev)
        .number("min", s.min)
        .number("max", s.max)
        .number("p50", s.p50)
        .number("p90", s.p90)
        .number("p99", s.p99)
        .number("ci_low", s.ci_low)
        .number("ci_high", s.ci_high)
        .number("cv", s.cv())
        .number("relative_ci", s.relative_ci())
        .number("outliers", (double)s.outliers.size());
}
Json benchmark_json(const Benchmark& b) {
    return Json()
        .text("name", b.name)
        .number("cold_seconds", b.cold_seconds)
        .object("seconds", summary_json(b.stats))
        .text("stopped_by", b.stopped_by)
        .number("items_per_call", b.items)
        .number("items_per_second", b.throughput());
}

// The whole report of one benchmark, indented.
void print_report(const Benchmark& b) {
    const Summary& s = b.stats;
    std::printf("   %s: %lld timed runs (stopped by %s), cold start %s\n", b.name.c_str(), (long long)s.n, b.stopped_by.c_str(),
                duration_str(b.cold_seconds).c_str());
    std::printf("     mean %s, 95%% CI %s .. %s (+-%.2f%%), stddev %s, CV %.2f%%\n", duration_str(s.mean).c_str(),
                duration_str(s.ci_low).c_str(), duration_str(s.ci_high).c_str(), 100 * s.relative_ci(), duration_str(s.stddev).c_str(),
                100 * s.cv());
    std::printf("     min %s  p50 %s  p90 %s  p99 %s  max %s\n", duration_str(s.min).c_str(), duration_str(s.p50).c_str(),
                duration_str(s.p90).c_str(), duration_str(s.p99).c_str(), duration_str(s.max).c_str());
    std::printf("     outliers (beyond 1.5 IQR of the quartiles): %zu of %lld", s.outliers.size(), (long long)s.n);
    if (!s.outliers.empty()) {
        double worst = 0;
        for (int64_t i : s.outliers) worst = std::max(worst, b.samples[(size_t)i]);
        std::printf(", the slowest %s (%.1fx the median)", duration_str(worst).c_str(), worst / s.median);
    }
    std::printf("\n");
}

// The harness's options with these caps; --quick caps every benchmark at 40
// runs and 30 ms.
BenchmarkOptions options_for(const Options& options, double max_seconds, double target_ci = 0.02, int64_t min_runs = 5) {
    BenchmarkOptions o;
    o.max_seconds = options.quick ? std::min(max_seconds, 0.03) : max_seconds;
    o.max_runs = options.quick ? 40 : 100000;
    o.min_runs = std::min(min_runs, o.max_runs);
    o.target_ci = target_ci;
    return o;
}

// 784-128-10 on one flattened MNIST-sized image per row: Lesson 03's MLP.
std::shared_ptr<Sequential> mnist_mlp(uint64_t seed) {
    Generator g(seed);
    return std::make_shared<Sequential>(Linear(784, 128, true, Init::Kaiming, g), ReLU(), Linear(128, 10, true, Init::Kaiming, g));
}

struct TrainedVariant {
    Variant variant;
    Benchmark latency;
};
} // namespace

Json lesson_19(const Options& options) {
    Json measured;
    const Platform machine = platform();
    std::printf("Platform (recorded with every result below):\n"
                "   cpu %s, %lld hardware threads, tt's pool %lld threads, %s\n"
                "   %s, flags \"%s\"\n   build %s, gemm tile %s, commit %s\n\n",
                machine.cpu.c_str(), (long long)machine.cores, (long long)machine.threads, machine.arch.c_str(), machine.compiler.c_str(),
                machine.flags.c_str(), machine.build.c_str(), machine.gemm_isa.c_str(), machine.commit.c_str());
    std::optional<NoGrad> inference(std::in_place); // no tape while timing inference (section 7 trains first)

    // 1. Cold against warm: the first call of all pays for the pages of a new
    // process, the thread pool's start and the caches; a second model in a
    // warm process pays only for its own first touch.
    {
        auto first = mnist_mlp(1);
        Generator g(2);
        const Tensor x = Tensor::randn({1, 784}, g);
        const Benchmark b = single_stream("MLP 784-128-10, batch 1", [&](int64_t) { first->forward(x); }, options_for(options, 0.3));
        auto second = mnist_mlp(3);
        const Benchmark again = single_stream("a second MLP", [&](int64_t) { second->forward(x); }, options_for(options, 0.05));
        std::printf("1. Cold against warm start, %s:\n", b.name.c_str());
        std::printf("   the first call in this process      %s (%.1fx the warm median)\n", duration_str(b.cold_seconds).c_str(),
                    b.cold_seconds / b.stats.median);
        std::printf("   the first call of a second model    %s (%.1fx)\n", duration_str(again.cold_seconds).c_str(),
                    again.cold_seconds / again.stats.median);
        std::printf("   warm: median of %lld runs after %lld warm-up calls  %s\n\n", (long long)b.stats.n, (long long)BenchmarkOptions().warmup,
                    duration_str(b.stats.median).c_str());
        measured.number("cold_seconds", b.cold_seconds).number("second_model_cold_seconds", again.cold_seconds)
            .number("warm_median_seconds", b.stats.median);
    }

    // 2. One benchmark's whole report, and its bootstrap interval of the median (section 4).
    auto mlp = mnist_mlp(4);
    Generator g(5);
    const Tensor x64 = Tensor::randn({64, 784}, g);
    auto forward64 = [&] { mlp->forward(x64); };
    // at least 200 runs: five quiet ones in a row would meet the 2% target
    // and say nothing of the stalls this machine has between them
    BenchmarkOptions full = options_for(options, 2.0, 0.02, 200);
    full.bootstrap = true;
    const Benchmark report = benchmark("MLP 784-128-10 forward, batch 64", forward64, full, 64);
    std::printf("2. A benchmark's report (warm-up %lld, at least %lld runs, then until the 95%% CI is within +-2%% of the mean,\n"
                "   or %g s):\n", (long long)full.warmup, (long long)full.min_runs, full.max_seconds);
    print_report(report);
    std::printf("   throughput %.0f samples/s\n\n", report.throughput());
    measured.object("report", benchmark_json(report));

    // 3. The noise of this machine: the same benchmark, again and again. Each
    // repeat is a benchmark of its own; their medians would agree if the
    // machine were quiet. With the pool's threads and with one: a parallel
    // op waits for its slowest thread, so a core taken by another process
    // stalls the whole call.
    const int repeats = options.quick ? 3 : 10;
    const BenchmarkOptions noise_options = options_for(options, 0.3, 1e-9); // never stops by ci: every repeat runs 0.3 s
    std::printf("3. The noise of this machine: the same benchmark (batch 64) %d times, %g s each:\n", repeats, noise_options.max_seconds);
    std::vector<Json> noise_rows;
    const int pool_threads = get_num_threads();
    for (int threads : {pool_threads, 1}) {
        if (threads == 1 && pool_threads == 1) break;
        set_num_threads(threads);
        std::vector<double> medians, cvs, trimmed_cvs;
        int64_t outliers = 0, runs = 0;
        for (int r = 0; r < repeats; r++) {
            const Benchmark b = benchmark("repeat", forward64, noise_options, 64);
            medians.push_back(b.stats.median);
            cvs.push_back(b.stats.cv());
            // the same runs without Tukey's outliers: what the spread is when nothing interrupts
            std::vector<double> kept;
            for (size_t i = 0, next = 0; i < b.samples.size(); i++) {
                if (next < b.stats.outliers.size() && (size_t)b.stats.outliers[next] == i) next++;
                else kept.push_back(b.samples[i]);
            }
            trimmed_cvs.push_back(summarize(kept).cv());
            outliers += (int64_t)b.stats.outliers.size(), runs += b.stats.n;
        }
        const Summary of_medians = summarize(medians);
        const double within = summarize(cvs).median, trimmed = summarize(trimmed_cvs).median;
        const int64_t runs_2pct = runs_needed(within, 0.02), trimmed_2pct = runs_needed(trimmed, 0.02),
                      repeats_2pct = runs_needed(of_medians.cv(), 0.02);
        std::printf("   %d thread%s: medians %s .. %s, spread (max-min)/min %.1f%%, CV between repeats %.2f%%\n", threads,
                    threads > 1 ? "s" : "", duration_str(of_medians.min).c_str(), duration_str(of_medians.max).c_str(),
                    100 * (of_medians.max - of_medians.min) / of_medians.min, 100 * of_medians.cv());
        std::printf("     within a repeat: CV %.1f%% (median of the repeats), %.1f%% without the %lld outliers of %lld runs\n", 100 * within,
                    100 * trimmed, (long long)outliers, (long long)runs);
        std::printf("     a +-2%% claim (95%%): %lld runs of the mean at CV %.1f%%, %lld once the outliers are left out;\n"
                    "     across separate benchmarks, %lld repeats at their CV %.2f%%\n", (long long)runs_2pct, 100 * within,
                    (long long)trimmed_2pct, (long long)repeats_2pct, 100 * of_medians.cv());
        noise_rows.push_back(Json().number("threads", threads).numbers("medians", medians).number("cv_between", of_medians.cv())
                                 .number("spread", (of_medians.max - of_medians.min) / of_medians.min).number("cv_within", within)
                                 .number("cv_within_without_outliers", trimmed).number("outliers", (double)outliers).number("runs", (double)runs)
                                 .number("runs_for_2pct", (double)runs_2pct).number("runs_for_2pct_without_outliers", (double)trimmed_2pct)
                                 .number("repeats_for_2pct", (double)repeats_2pct));
    }
    set_num_threads(pool_threads);
    std::printf("\n");
    measured.objects("noise", noise_rows);

    // 4. Two intervals from the same runs.
    const Summary& rs = report.stats;
    std::printf("4. Intervals from section 2's %lld runs:\n", (long long)rs.n);
    std::printf("   t interval of the mean          %s .. %s (width %.2f%% of the mean)\n", duration_str(rs.ci_low).c_str(),
                duration_str(rs.ci_high).c_str(), 100 * (rs.ci_high - rs.ci_low) / rs.mean);
    std::printf("   bootstrap interval of the median %s .. %s (width %.2f%% of the median; 2000 resamples)\n",
                duration_str(report.median_ci.low).c_str(), duration_str(report.median_ci.high).c_str(),
                100 * (report.median_ci.high - report.median_ci.low) / rs.median);
    std::printf("   mean - median = %s: the runs are skewed to the slow side (p99 %.2fx p50)\n\n", duration_str(rs.mean - rs.median).c_str(),
                rs.p99 / rs.p50);
    measured.number("median_ci_low", report.median_ci.low).number("median_ci_high", report.median_ci.high);

    // 5. MLPerf's two scenarios on the same MLP.
    std::vector<Tensor> inputs;
    const std::vector<int64_t> batches = options.quick ? std::vector<int64_t>{1, 16, 64} : std::vector<int64_t>{1, 2, 4, 8, 16, 32, 64, 128, 256};
    for (int64_t b : batches) inputs.push_back(Tensor::randn({b, 784}, g));
    auto run = [&](int64_t batch) {
        for (size_t i = 0; i < batches.size(); i++)
            if (batches[i] == batch) mlp->forward(inputs[i]);
    };
    // a p99 needs a few hundred queries to be more than the largest one
    const Benchmark single = single_stream("MLP 784-128-10 single-stream", run, options_for(options, 1.0, 0.02, 1000));
    const Offline off = offline("MLP 784-128-10 offline", run, batches, options_for(options, 0.2));
    set_num_threads(1);
    const Offline off1 = offline("MLP 784-128-10 offline, 1 thread", run, batches, options_for(options, 0.2));
    set_num_threads(pool_threads);
    std::printf("5. MLPerf's scenarios, MLP 784-128-10:\n");
    std::printf("   single-stream (batch 1, %d threads): p50 %s, p90 %s, p99 %s over %lld queries: %.0f samples/s\n", pool_threads,
                duration_str(single.stats.p50).c_str(), duration_str(single.stats.p90).c_str(), duration_str(single.stats.p99).c_str(),
                (long long)single.stats.n, single.throughput());
    std::printf("   offline: %6s %12s %12s    %12s %12s\n", "batch", "median", "samples/s", "1 thread", "samples/s");
    std::vector<Json> offline_rows;
    for (size_t i = 0; i < batches.size(); i++) {
        const Benchmark &b = off.batches[i], &b1 = off1.batches[i];
        std::printf("            %6lld %12s %12.0f%s %12s %12.0f%s\n", (long long)batches[i], duration_str(b.stats.median).c_str(),
                    b.throughput(), batches[i] == off.best_batch ? " <-" : "   ", duration_str(b1.stats.median).c_str(), b1.throughput(),
                    batches[i] == off1.best_batch ? " <-" : "");
        offline_rows.push_back(Json().number("batch", (double)batches[i]).number("median_seconds", b.stats.median)
                                   .number("samples_per_second", b.throughput()).number("one_thread_median_seconds", b1.stats.median)
                                   .number("one_thread_samples_per_second", b1.throughput()));
    }
    for (const Offline* o : {&off, &off1})
        std::printf("   offline%s: batch %lld, %.0f samples/s (95%% CI %.0f .. %.0f), %.1fx single-stream\n", o == &off ? "" : ", 1 thread",
                    (long long)o->best_batch, o->samples_per_second, o->samples_per_second_ci.low, o->samples_per_second_ci.high,
                    o->samples_per_second / single.throughput());
    std::printf("\n");
    measured.object("single_stream", benchmark_json(single)).objects("offline", offline_rows)
        .number("offline_best_batch", (double)off.best_batch).number("offline_samples_per_second", off.samples_per_second)
        .number("offline_one_thread_best_batch", (double)off1.best_batch)
        .number("offline_one_thread_samples_per_second", off1.samples_per_second);

    // Sections 6 and 7 on one thread: kernels and small models, not the
    // pool's wait for a core another process holds.
    set_num_threads(1);
    // 6. Paired comparisons: gemm 256x256x256 through two register tiles, and
    // through one tile against itself, which must show no difference.
    {
        const int64_t n = 256;
        const Tensor a = Tensor::randn({n, n}, g), b = Tensor::randn({n, n}, g);
        std::vector<float> c((size_t)(n * n));
        auto gemm_through = [&](const GemmTile& tile) {
            return [&, tile] { gemm_fast_with(tile, n, n, n, a.data(), n, 1, b.data(), n, 1, c.data(), n, false); };
        };
        const std::vector<GemmTile>& tiles = gemm_tiles();
        const GemmTile& best = tiles[0];
        const GemmTile& other = tiles.size() > 1 ? tiles[1] : tiles[0];
        const BenchmarkOptions pair_options = options_for(options, 1.0, 0.02, 30); // 30 pairs at least: drift has time to show
        std::printf("6. Paired comparisons (a, b alternately, the t interval of the mean log ratio), gemm %lldx%lldx%lld, 1 thread:\n",
                    (long long)n, (long long)n, (long long)n);
        std::vector<Json> comparisons;
        auto show = [&](const Comparison& cmp) {
            std::printf("   %s\n", cmp.verdict().c_str());
            comparisons.push_back(Json().text("a", cmp.a).text("b", cmp.b).number("pairs", (double)cmp.pairs).number("speedup", cmp.speedup)
                                      .number("ci_low", cmp.ci.low).number("ci_high", cmp.ci.high).boolean("a_faster", cmp.a_faster())
                                      .boolean("b_faster", cmp.b_faster()).text("verdict", cmp.verdict()));
        };
        if (tiles.size() > 1) show(compare(best.isa + " tile", gemm_through(best), other.isa + " tile", gemm_through(other), pair_options));
        else std::printf("   (this build has one gemm tile, %s: no second one to compare)\n", best.isa.c_str());
        show(compare(best.isa + " tile", gemm_through(best), "the same tile again", gemm_through(best), pair_options));
        std::printf("   (a comparison of a configuration with itself shows a difference in 5%% of runs by chance alone,\n"
                    "   more when the machine drifts within the run)\n\n");
        measured.objects("comparisons", comparisons);
    }

    // 7. The Pareto frontier of TinyDigits MLPs: accuracy, latency, size.
    {
        ImageSet train = load_idx_images(data_path("data/tinydigits/train-images-idx3-ubyte"), data_path("data/tinydigits/train-labels-idx1-ubyte"));
        ImageSet test = load_idx_images(data_path("data/tinydigits/test-images-idx3-ubyte"), data_path("data/tinydigits/test-labels-idx1-ubyte"));
        const ChannelStats stats = channel_stats(train);
        auto train_data = std::make_shared<ImageDataset>(train, stats.mean, stats.stddev, 1.0f, true);
        auto test_data = std::make_shared<ImageDataset>(test, stats.mean, stats.stddev, 1.0f, true);
        Generator tg(19);
        DataLoader train_loader(train_data, 32, true, false, tg), test_loader(test_data, 200);
        const Tensor one = test_data->gather({0}).x; // [1,64]
        const std::vector<int64_t> widths = options.quick ? std::vector<int64_t>{8, 64} : std::vector<int64_t>{4, 8, 16, 32, 64, 256};
        const int epochs = options.quick ? 3 : 15;
        std::vector<Variant> variants;
        std::vector<Json> rows;
        auto add = [&](const std::string& name, Sequential& model) {
            model.eval();
            const float accuracy = evaluate(model, test_loader, cross_entropy).accuracy;
            const Benchmark latency = single_stream(name, [&](int64_t) { model.forward(one); }, options_for(options, 0.2));
            variants.push_back({name, accuracy, latency.stats.median, weight_bytes(model)});
            rows.push_back(Json().text("name", name).number("accuracy", accuracy).number("latency_seconds", latency.stats.median)
                               .number("latency_ci_relative", latency.stats.relative_ci()).number("size_bytes", (double)weight_bytes(model)));
        };
        for (int64_t width : widths) {
            Generator mg((uint64_t)width);
            Sequential model{Linear(64, width, true, Init::Kaiming, mg), ReLU(), Linear(width, 10, true, Init::Kaiming, mg)};
            inference.reset(); // training needs the tape
            Adam opt(model.parameters(), 1e-2f);
            TrainOptions o;
            o.progress = false;
            for (int e = 0; e < epochs; e++) train_epoch(model, train_loader, cross_entropy, opt, o);
            inference.emplace();
            add("fp32 64-" + std::to_string(width) + "-10", model);
            std::shared_ptr<Sequential> int8 = quantize(model);
            add("int8 64-" + std::to_string(width) + "-10", *int8);
        }
        const std::vector<bool> frontier = pareto_frontier(variants);
        std::printf("7. TinyDigits MLPs (%d epochs of Adam), test accuracy on 200, single-stream median latency (1 thread),\n   weight bytes:\n", epochs);
        std::printf("   %-16s %9s %12s %10s  %s\n", "variant", "accuracy", "latency", "size", "frontier");
        for (size_t i = 0; i < variants.size(); i++) {
            const Variant& v = variants[i];
            std::printf("   %-16s %8.1f%% %12s %10s  %s\n", v.name.c_str(), 100 * v.accuracy, duration_str(v.latency_seconds).c_str(),
                        bytes_str(v.size_bytes).c_str(), frontier[i] ? "yes" : "");
        }
        const std::string svg_path = output_path("tt-lesson-19-pareto.svg");
        std::ofstream f(svg_path);
        if (!f) throw Error("lesson 19: cannot write " + svg_path);
        f << pareto_svg("TinyDigits MLPs: accuracy, latency and size on " + machine.cpu, variants);
        std::printf("   The plot: written to %s (TT_OUT=dir to choose the folder).\n", svg_path.c_str());
        for (size_t i = 0; i < rows.size(); i++) rows[i].boolean("frontier", frontier[i]);
        measured.objects("pareto", rows).text("pareto_svg", svg_path);
    }
    set_num_threads(pool_threads);
    measured.object("platform", platform_json(machine));
    return measured;
}

} // namespace lessons
