// Lesson 14 · Profiling — the demo behind `./tt lesson 14`: the training
// steps of an MLP, a LeNet and a GPT profiled op by op and module by module,
// each op placed under this machine's roofline, the profiler's own cost, and
// Amdahl's law checked against a kernel swap (naive vs fast gemm).
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "lessons.h"

using namespace tt;

namespace lessons {
namespace {

struct Model {
    std::string name;
    std::function<void()> step; // one training step: forward, backward, optimizer
    int64_t profiled_steps;     // steps inside the profile (more for a short step)
    int module_depth;           // the module table's deepest level
};

Tensor random_classes(int64_t n, int64_t classes, Generator& g) {
    std::vector<float> v((size_t)n);
    for (float& x : v) x = (float)g.randint(classes);
    return Tensor({n}, v);
}

// The ops whose time is the gemm's: what swapping the kernel speeds up.
bool uses_gemm(const std::string& op) {
    return op == "linear" || op == "matmul" || op == "conv2d" || op == "multi_head_attention" ||
           op == "scaled_dot_product_attention";
}

struct Split {
    double step = 0, gemm_ops = 0; // seconds per step: all, in the gemm's ops (self time)
};
Split profile_split(const Model& m) {
    Profiler p;
    for (int64_t i = 0; i < m.profiled_steps; i++) m.step();
    p.stop();
    Split s;
    s.step = p.total().total_seconds / (double)m.profiled_steps;
    for (const ProfileRow& r : p.ops())
        if (uses_gemm(r.name)) s.gemm_ops += r.self_seconds / (double)m.profiled_steps;
    return s;
}

// What one hook costs while no Profiler listens: an OpScope and a count_op
// (each a test of the thread's listener pointer), against the same loop
// without them. The signal fence makes the compiler reload the pointer every
// time, as it must in a real op (which calls code that could change it).
double seconds_per_idle_hook(int64_t n) {
    auto loop = [n](bool hooks) {
        return time_best(5, [&] {
            for (int64_t i = 0; i < n; i++) {
                std::atomic_signal_fence(std::memory_order_seq_cst);
                if (hooks) {
                    OpScope scope("idle");
                    count_op(1, 4, 4);
                }
            }
        });
    };
    const double with = loop(true), without = loop(false);
    return std::max(0.0, with - without) / (2.0 * (double)n);
}

} // namespace

Json lesson_14(const Options& options) {
    Json measured;
    const bool quick = options.quick;
    const int threads = get_num_threads();
    set_num_threads(1); // one thread: the split of a step is then the work, not the hand-offs

    // 0. The roofline of one core, as Lesson 17 measures it.
    const GemmTile& tile = gemm_tile();
    const int64_t steps = quick ? 200000 : 2000000;
    volatile float sink = 0;
    const double peak = 2.0 * (double)(steps * tile.peak_chains * tile.vector_floats) /
                        time_best(quick ? 3 : 5, [&] { sink = multiply_add_chains(tile, steps); }) * 1e-9;
    const int64_t n_triad = quick ? (1 << 20) : (1 << 23);
    Tensor ta = Tensor::zeros({n_triad}), tb = Tensor::ones({n_triad}), tc = Tensor::ones({n_triad});
    const double bandwidth = 12.0 * (double)n_triad /
                             time_best(5, [&] { triad(ta.data(), tb.data(), tc.data(), 0.5f, n_triad); }) * 1e-9;
    std::printf("0. The roofline of one core (Lesson 17's measurements): peak %.1f GFLOP/s (%s), memory %.1f GB/s;\n"
                "   ridge at %.1f flops per byte. Below it an op waits on memory, above it on arithmetic.\n\n",
                peak, tile.isa.c_str(), bandwidth, peak / bandwidth);
    measured.number("peak_gflops_1_thread", peak).number("bandwidth_gb_per_s", bandwidth);

    // The three training steps.
    Generator g(14);
    const int64_t mlp_batch = 64;
    Sequential mlp{Linear(784, 128, true, Init::Kaiming, g), ReLU(), Linear(128, 10, true, Init::Kaiming, g)};
    SGD mlp_opt(mlp.parameters(), 0.01f, 0.9f);
    const Tensor mlp_x = Tensor::randn({mlp_batch, 784}, g), mlp_y = random_classes(mlp_batch, 10, g);
    auto mlp_step = [&] {
        mlp_opt.zero_grad();
        cross_entropy(mlp(mlp_x), mlp_y).backward();
        mlp_opt.step();
    };
    const int64_t lenet_batch = quick ? 8 : 32;
    Sequential lenet{Conv2d(1, 6, 5, 1, 2, true, g), ReLU(), MaxPool2d(2), Conv2d(6, 16, 5, 1, 0, true, g), ReLU(),
                     MaxPool2d(2), Flatten(), Linear(400, 120, true, Init::Kaiming, g), ReLU(),
                     Linear(120, 84, true, Init::Kaiming, g), ReLU(), Linear(84, 10, true, Init::Kaiming, g)};
    SGD lenet_opt(lenet.parameters(), 0.01f, 0.9f);
    const Tensor lenet_x = Tensor::randn({lenet_batch, 1, 28, 28}, g), lenet_y = random_classes(lenet_batch, 10, g);
    auto lenet_step = [&] {
        lenet_opt.zero_grad();
        cross_entropy(lenet(lenet_x), lenet_y).backward();
        lenet_opt.step();
    };
    GPTConfig c;
    c.vocab_size = 65, c.block_size = quick ? 32 : 64, c.n_layer = quick ? 2 : 4, c.n_head = 4, c.n_embd = quick ? 64 : 128;
    const int64_t B = quick ? 4 : 12, T = c.block_size;
    GPT gpt(c, g);
    AdamW gpt_opt(gpt.parameters(), 1e-3f, 0.9f, 0.95f, 1e-8f, 0.1f);
    gpt_opt.exclude_from_weight_decay(gpt.no_decay_parameters());
    std::vector<float> ids((size_t)(B * T)), next((size_t)(B * T));
    for (size_t i = 0; i < ids.size(); i++) ids[i] = (float)g.randint(c.vocab_size), next[i] = (float)g.randint(c.vocab_size);
    const Tensor gpt_x({B, T}, ids), gpt_y({B * T}, next);
    auto gpt_step = [&] {
        gpt_opt.zero_grad();
        cross_entropy(gpt(gpt_x).view({B * T, c.vocab_size}), gpt_y).backward();
        gpt_opt.step();
    };
    char name[160];
    std::vector<Model> models;
    std::snprintf(name, sizeof name, "MLP 784-128-10, batch %lld, SGD", (long long)mlp_batch);
    models.push_back({name, mlp_step, quick ? 5 : 20, 9});
    std::snprintf(name, sizeof name, "LeNet-5, batch %lld of 28x28, SGD", (long long)lenet_batch);
    models.push_back({name, lenet_step, quick ? 2 : 5, 9});
    std::snprintf(name, sizeof name, "GPT L%lld H%lld C%lld, batch %lld x %lld tokens, AdamW", (long long)c.n_layer,
                  (long long)c.n_head, (long long)c.n_embd, (long long)B, (long long)T);
    models.push_back({name, gpt_step, quick ? 1 : 3, 1});

    // 1. Each step profiled: the ops by self time, then the modules.
    std::vector<Json> models_json;
    std::vector<RooflinePoint> points;
    double gpt_top_fraction = 0;
    std::string gpt_top;
    int part = 1;
    for (const Model& m : models) {
        m.step(); // warm up: the optimizer's state, the allocator's free lists
        Profiler p;
        for (int64_t i = 0; i < m.profiled_steps; i++) m.step();
        p.stop();
        const ProfileRow t = p.total();
        const std::vector<ProfileRow> rows = p.ops();
        std::printf("%d. %s: %lld steps profiled, %.2f ms a step, %.1f MFLOP a step (%.2f GFLOP/s)\n", part++, m.name.c_str(),
                    (long long)m.profiled_steps, 1e3 * t.total_seconds / (double)m.profiled_steps,
                    t.flops / (double)m.profiled_steps * 1e-6, t.flops / t.total_seconds * 1e-9);
        std::printf("%s\n", p.table(quick ? 8 : 12, peak, bandwidth).c_str());
        std::printf("%s\n", p.module_table(m.module_depth).c_str());
        const ProfileRow& top = rows[0];
        std::vector<Json> top_rows;
        for (size_t i = 0; i < rows.size() && i < 5; i++)
            top_rows.push_back(Json().text("op", rows[i].name).boolean("backward", rows[i].backward)
                                   .number("self_fraction", rows[i].self_seconds / t.total_seconds)
                                   .number("gflops_per_second", rows[i].gflops_per_second()).number("intensity", rows[i].intensity()));
        models_json.push_back(Json().text("model", m.name).number("step_seconds", t.total_seconds / (double)m.profiled_steps)
                                  .number("flops_per_step", t.flops / (double)m.profiled_steps)
                                  .number("events_per_step", (double)p.events() / (double)m.profiled_steps)
                                  .number("overhead_fraction", p.overhead_seconds() / t.total_seconds).objects("top_ops", top_rows));
        if (&m == &models.back()) {
            gpt_top = top.name + (top.backward ? " (bwd)" : "");
            gpt_top_fraction = top.self_seconds / t.total_seconds;
            for (const ProfileRow& r : rows)
                if (r.flops > 0 && r.self_seconds > 0) points.push_back({r.name + (r.backward ? " bwd" : ""), r.intensity(), r.gflops_per_second()});
        }
    }
    measured.objects("models", models_json);
    const std::string svg = output_path("tt-lesson-14-roofline.svg");
    write_roofline_svg(svg, "The GPT step's ops under the roofline of one core of " + machine_name(),
                       {{"peak, 1 thread", peak, "#e90"}}, bandwidth, points);
    std::printf("   The GPT step's ops on the roofline: written to %s (TT_OUT=dir to choose the folder).\n\n", svg.c_str());

    // 5. What the profiler costs: a step with a Profiler on and without one.
    const int runs = quick ? 5 : 15;
    std::printf("%d. The profiler's own cost, median of %d steps each (spread = interquartile range / median):\n", part++, runs);
    std::vector<Json> cost_json;
    const double idle_hook = seconds_per_idle_hook(quick ? 1000000 : 20000000);
    for (const Model& m : models) {
        const Latency off = measure_latency(m.step, runs, 2);
        Profiler p;
        const Latency on = measure_latency(m.step, runs, 2);
        p.stop();
        const double events = (double)p.events() / (double)(runs + 2);
        // a step calls about three hooks per event: the scope, its count_op, an allocation or a record
        const double idle = 3 * events * idle_hook;
        std::printf("   %-44s off %8.3f ms (spread %4.1f%%)  on %8.3f ms (spread %4.1f%%): %+5.1f%%; %5.0f ops a step\n",
                    m.name.c_str(), 1e3 * off.median, 100 * off.spread(), 1e3 * on.median, 100 * on.spread(),
                    100 * (on.median / off.median - 1), events);
        std::printf("   %-44s idle hooks (~3 per op, %.2f ns each): %.4f%% of the step\n", "", 1e9 * idle_hook, 100 * idle / off.median);
        cost_json.push_back(Json().text("model", m.name).number("off_seconds", off.median).number("on_seconds", on.median)
                                .number("off_spread", off.spread()).number("on_spread", on.spread())
                                .number("on_overhead_fraction", on.median / off.median - 1)
                                .number("idle_hook_fraction", idle / off.median));
    }
    std::printf("   Off, a hook is a test of a null pointer: nothing a step's own spread would show.\n\n");
    measured.number("idle_hook_seconds", idle_hook).objects("profiler_cost", cost_json);

    // 6. Amdahl's law on the measured split.
    const double two_x = amdahl_speedup(gpt_top_fraction, 2);
    std::printf("%d. Amdahl's law: the GPT step's top op, %s, is %.1f%% of the step; were it twice as fast, the\n"
                "   step would be %.3fx faster (1 / ((1 - f) + f/2)); were it free, at most %.3fx.\n",
                part++, gpt_top.c_str(), 100 * gpt_top_fraction, two_x, amdahl_speedup(gpt_top_fraction, 1e12));
    measured.object("amdahl_gpt", Json().text("top_op", gpt_top).number("fraction", gpt_top_fraction).number("speedup_if_2x", two_x));
    std::printf("   Checked by a real speed-up of one part: the ops that run on gemm (linear, matmul, conv2d,\n"
                "   attention) with Lesson 01's naive kernel, then with Lesson 17's fast one.\n");
    std::printf("   %-44s %9s %10s %9s %11s %11s\n", "step", "gemm part", "its gain", "predicted", "measured", "step naive");
    std::vector<Json> amdahl_json;
    for (size_t i = 0; i < 2; i++) { // the MLP and LeNet: the GPT's naive step is too slow to repeat
        const Model& m = models[i];
        const GemmKernel fast = gemm;
        gemm = gemm_naive;
        m.step();
        const Split naive = profile_split(m);
        const Latency naive_step = measure_latency(m.step, quick ? 3 : 7, 1);
        gemm = fast;
        m.step();
        const Split quick_split = profile_split(m);
        const Latency fast_step = measure_latency(m.step, quick ? 3 : 7, 1);
        const double fraction = naive.gemm_ops / naive.step, gain = naive.gemm_ops / quick_split.gemm_ops;
        const double predicted = amdahl_speedup(fraction, gain), actual = naive_step.median / fast_step.median;
        std::printf("   %-44s %8.1f%% %9.1fx %8.2fx %10.2fx %8.2f ms\n", m.name.c_str(), 100 * fraction, gain, predicted,
                    actual, 1e3 * naive_step.median);
        amdahl_json.push_back(Json().text("model", m.name).number("gemm_fraction_naive", fraction).number("gemm_speedup", gain)
                                  .number("predicted_speedup", predicted).number("measured_speedup", actual));
    }
    std::printf("   gemm part: the share of the naive step in those ops; its gain: how much faster they ran\n"
                "   with the fast kernel; predicted: Amdahl's 1 / ((1 - f) + f / gain); measured: the step's own ratio.\n");
    measured.objects("amdahl_kernel_swap", amdahl_json);
    set_num_threads(threads);
    return measured;
}

} // namespace lessons
