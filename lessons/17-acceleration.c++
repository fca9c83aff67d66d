// Lesson 17 · Acceleration — the demo behind `./tt lesson 17`: the machine's
// roofline, measured, and the path from the naive matmul to the fast one,
// each step timed, with a plot of where each kernel sits.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "lessons.h"

using namespace tt;

namespace lessons {
namespace {

// Step 0: the textbook loop order. The inner loop walks a column of B (a new
// cache line per element) and sums into one scalar, which the compiler may not
// vectorise without reordering the additions.
TT_VECTOR_CLONES void matmul_ijk(int64_t n, const float* A, const float* B, float* C) {
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < n; j++) {
            float s = 0;
            for (int64_t k = 0; k < n; k++) s += A[i * n + k] * B[k * n + j];
            C[i * n + j] = s;
        }
}

// Step 1 is gemm_naive (i-k-j: rows of B and C, stride 1). Step 2, blocking:
// the same i-k-j loops over a 128 x 256 block of B (128 KB, kept in the L2
// cache) at a time, so each block is read from memory once, not n times.
// Results equal gemm_naive's up to rounding (the k sum is split the same way).
TT_VECTOR_CLONES void matmul_blocked(int64_t n, const float* A, const float* B, float* C) {
    constexpr int64_t KB = 128, JB = 256;
    std::fill(C, C + n * n, 0.0f);
    for (int64_t k0 = 0; k0 < n; k0 += KB)
        for (int64_t j0 = 0; j0 < n; j0 += JB) {
            const int64_t k1 = std::min(n, k0 + KB), j1 = std::min(n, j0 + JB);
            for (int64_t i = 0; i < n; i++)
                for (int64_t k = k0; k < k1; k++) {
                    const float a = A[i * n + k];
                    for (int64_t j = j0; j < j1; j++) C[i * n + j] += a * B[k * n + j];
                }
        }
}

} // namespace

Json lesson_17(const Options& options) {
    Json measured;
    const int threads = get_num_threads();

    // 1. The roofline: what the cores can compute, what memory can feed them.
    // The ceiling is measured by independent multiply-add chains in vector
    // registers (tt::multiply_add_chains), not by gemm's own tile: a tile
    // that spills would otherwise report its own slowness as the peak.
    const GemmTile& tile = gemm_tile();
    const int64_t steps = options.quick ? 200000 : 4000000;
    auto chain_flops = [&](const GemmTile& t) { return 2.0 * (double)(steps * t.peak_chains * t.vector_floats); };
    volatile float sink = 0;
    set_num_threads(1);
    std::vector<Json> tiles_json;
    std::vector<double> tile_peaks;
    for (const GemmTile& t : gemm_tiles()) { // every tile this CPU runs: the peak of each instruction set
        const double seconds = time_best(options.quick ? 3 : 7, [&] { sink = multiply_add_chains(t, steps); });
        tile_peaks.push_back(chain_flops(t) / seconds * 1e-9);
    }
    set_num_threads(threads);
    const double peak1 = tile_peaks[0];
    std::vector<float> sums(threads); // one per thread: the calls write disjoint data
    const double all = time_best(options.quick ? 3 : 7, [&] {
        parallel_for(threads, [&](int64_t t) { sums[t] = multiply_add_chains(tile, steps); });
    });
    const double peak_all = threads * chain_flops(tile) / all * 1e-9;
    const int64_t n_triad = options.quick ? (1 << 20) : (1 << 23); // 3 x 32 MB: past the caches
    Tensor a = Tensor::zeros({n_triad}), b = Tensor::ones({n_triad}), c = Tensor::ones({n_triad});
    const int64_t chunk = (n_triad + threads - 1) / threads;
    auto run_triad = [&](int64_t part) {
        const int64_t start = part * chunk, count = std::min(chunk, n_triad - start);
        triad(a.data() + start, b.data() + start, c.data() + start, 0.5f, count);
    };
    run_triad(0); // first touch of a's pages
    const double triad1 = time_best(5, [&] { for (int64_t p = 0; p < threads; p++) run_triad(p); });
    const double triad_all = time_best(5, [&] { parallel_for(threads, run_triad); });
    const double bytes = 12.0 * (double)n_triad;
    const double bandwidth = bytes / std::min(triad1, triad_all) * 1e-9;
    measured.number("threads", threads).text("isa", tile.isa)
        .text("tile", std::to_string(tile.mr) + "x" + std::to_string(tile.nr))
        .number("peak_gflops_1_thread", peak1).number("peak_gflops_all_threads", peak_all)
        .number("bandwidth_gb_per_s", bandwidth);
    std::printf("1. The roofline of this machine (measured now):\n");
    std::printf("   peak, 1 thread   %8.1f GFLOP/s   (%s: %lld independent multiply-add chains of %lld floats)\n", peak1,
                tile.isa.c_str(), (long long)tile.peak_chains, (long long)tile.vector_floats);
    for (size_t i = 1; i < tile_peaks.size(); i++)
        std::printf("                    %8.1f GFLOP/s   (%s, the same loop for a narrower instruction set)\n",
                    tile_peaks[i], gemm_tiles()[i].isa.c_str());
    std::printf("   peak, %d threads %8.1f GFLOP/s\n", threads, peak_all);
    std::printf("   memory bandwidth %8.1f GB/s      (triad a = b + s*c over 3 x %s; 1 thread %.1f, %d threads %.1f)\n",
                bandwidth, bytes_str(4 * n_triad).c_str(), bytes / triad1 * 1e-9, threads, bytes / triad_all * 1e-9);
    std::printf("   ridge point      %8.1f flops per byte: below it a kernel waits on memory, above it on arithmetic\n\n",
                peak_all / bandwidth);

    // 2. The path, on one [n,n] @ [n,n] product.
    const int64_t n = options.quick ? 128 : 512;
    Tensor A = Tensor::randn({n, n}), B = Tensor::randn({n, n}), C = Tensor::zeros({n, n}), want = Tensor::zeros({n, n});
    const double flops = 2.0 * (double)(n * n) * (double)n;
    gemm_naive(n, n, n, A.data(), n, 1, B.data(), n, 1, want.data(), n, false);
    const std::string tile_step = "packing + " + std::to_string(tile.mr) + "x" + std::to_string(tile.nr) + " tile";
    struct Step {
        const char* name;
        const char* how;
        std::function<void()> run;
        double gflops = 0;
    };
    std::vector<Step> path = {
        {"naive i-j-k", "C[i,j] = sum_k A[i,k] B[k,j]: walks B's columns", [&] { matmul_ijk(n, A.data(), B.data(), C.data()); }},
        {"loop order i-k-j", "gemm_naive: C[i,:] += A[i,k] B[k,:], stride 1", [&] { gemm_naive(n, n, n, A.data(), n, 1, B.data(), n, 1, C.data(), n, false); }},
        {"blocking", "the same over 128x256 blocks of B kept in L2", [&] { matmul_blocked(n, A.data(), B.data(), C.data()); }},
        {tile_step.c_str(), "gemm_fast on 1 thread: packed panels, registers", [&] { set_num_threads(1); gemm_fast(n, n, n, A.data(), n, 1, B.data(), n, 1, C.data(), n, false); }},
        {"threads", "gemm_fast on every thread: blocks of C shared out", [&] { set_num_threads(threads); gemm_fast(n, n, n, A.data(), n, 1, B.data(), n, 1, C.data(), n, false); }},
    };
    std::printf("2. From the naive loop to the fast kernel, C = A @ B with n = %lld (%.2f GFLOP per product):\n", (long long)n, flops * 1e-9);
    std::printf("   %-22s %-50s %9s %9s %9s\n", "step", "what changes", "GFLOP/s", "vs prev", "vs naive");
    for (size_t i = 0; i < path.size(); i++) {
        Step& s = path[i];
        s.run(); // warm up (and the pool's threads start)
        const double once = time_best(1, s.run);
        const int reps = (int)std::max(1.0, 0.1 / std::max(once, 1e-9));
        s.gflops = flops / (time_best(3, [&] { for (int r = 0; r < reps; r++) s.run(); }) / reps) * 1e-9;
        const float error = max(abs(C - want)).item();
        std::printf("   %-22s %-50s %9.1f %8.1fx %8.0fx%s\n", s.name, s.how, s.gflops, i ? s.gflops / path[i - 1].gflops : 1.0,
                    s.gflops / path[0].gflops, error < 1e-2f * std::sqrt((float)n) ? "" : "  WRONG RESULT");
        std::fflush(stdout);
    }
    set_num_threads(threads);
    std::vector<Json> steps_json;
    for (const Step& s : path) steps_json.push_back(Json().text("step", s.name).number("gflops", s.gflops));
    measured.number("n", (double)n).objects("gemm_path", steps_json);

    // 3. Where they sit on the roofline.
    std::vector<RooflinePoint> points = {{"triad", 2.0 / 12.0, 2.0 * (double)n_triad / std::min(triad1, triad_all) * 1e-9}};
    const double intensity = flops / (3.0 * 4.0 * (double)(n * n)); // each matrix moved once: n/6 flops per byte
    for (const Step& s : path) points.push_back({s.name, intensity, s.gflops});
    std::printf("\n3. On the roofline (intensity = flops / bytes if each operand crossed the memory bus once):\n");
    std::printf("   triad     %6.2f flops/byte  %7.1f GFLOP/s: on the slope (it measured the slope), memory-bound\n",
                points[0].intensity, points[0].gflops);
    std::printf("   matmul    %6.1f flops/byte, far right of the ridge: the roof is the peak; the path climbs toward it\n",
                intensity);
    std::printf("   gemm_fast on %d threads reaches %.0f%% of the measured peak, on 1 thread %.0f%% of one core's\n", threads,
                100 * path.back().gflops / peak_all, 100 * path[3].gflops / peak1);
    measured.number("gemm_fraction_of_peak_1_thread", path[3].gflops / peak1)
        .number("gemm_fraction_of_peak_all_threads", path.back().gflops / peak_all);
    // every tile's gemm on one thread against its own instruction set's peak
    set_num_threads(1);
    for (size_t i = 0; i < gemm_tiles().size(); i++) {
        const GemmTile& t = gemm_tiles()[i];
        auto run = [&] { gemm_fast_with(t, n, n, n, A.data(), n, 1, B.data(), n, 1, C.data(), n, false); };
        run();
        const double gflops = flops / time_best(3, run) * 1e-9;
        std::printf("   tile %-9s %2lldx%-3lld gemm %7.1f GFLOP/s on 1 thread, %3.0f%% of its peak (%.1f)\n", t.isa.c_str(),
                    (long long)t.mr, (long long)t.nr, gflops, 100 * gflops / tile_peaks[i], tile_peaks[i]);
        tiles_json.push_back(Json().text("isa", t.isa).number("mr", (double)t.mr).number("nr", (double)t.nr)
                                 .number("kc", (double)t.kc).number("mc", (double)t.mc)
                                 .number("peak_gflops_1_thread", tile_peaks[i]).number("gemm_gflops_1_thread", gflops));
    }
    set_num_threads(threads);
    measured.objects("tiles", tiles_json);
    const std::string svg = output_path("tt-lesson-17-roofline.svg");
    write_roofline_svg(svg, "Roofline of " + machine_name(), {{"peak, " + std::to_string(threads) + " threads", peak_all, "#c33"}, {"peak, 1 thread", peak1, "#e90"}},
                       bandwidth, points);
    std::printf("   plot written to %s (TT_OUT=dir to choose the folder)\n", svg.c_str());
    return measured;
}

} // namespace lessons
