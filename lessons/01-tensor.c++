// Lesson 01 · Tensor — the demo behind `./tt lesson 1`: what a tensor costs.
#include <cstdio>

#include "lessons.h"

using namespace tt;

namespace lessons {

Json lesson_01(const Options& options) {
    Json measured;
    std::printf("A tensor: shape, strides, storage.\n");
    Tensor a = Tensor::arange(6).reshape({2, 3});
    std::printf("  a = arange(6).reshape({2,3}) = %s\n", a.str().c_str());
    std::printf("  a.strides() = %s, a.T().strides() = %s (a view: same storage)\n\n",
                to_string(a.strides()).c_str(), to_string(a.T().strides()).c_str());

    // 1. MNIST's training images as bytes vs floats, counted by the tracker.
    std::printf("1. The MNIST training set (60000 x 28 x 28) in memory:\n");
    const int64_t pixels = 60000LL * 28 * 28;
    const int64_t before = memory_counts().live_bytes;
    {
        Tensor images = Tensor::zeros({60000, 28, 28});
        const int64_t float_bytes = memory_counts().live_bytes - before;
        std::printf("   as uint8 (one byte a pixel, on disk): %s\n", bytes_str(pixels).c_str());
        std::printf("   as float32 (the tracker's count):     %s  (%.0fx)\n\n", bytes_str(float_bytes).c_str(),
                    (double)float_bytes / (double)pixels);
        measured.number("mnist_uint8_bytes", (double)pixels).number("mnist_float32_bytes", (double)float_bytes);
    }

    // 2. Row-wise vs column-wise traversal of one matrix.
    const int64_t n = options.quick ? 1024 : 4096;
    Tensor m = Tensor::ones({n, n});
    const float* p = m.data();
    volatile float sink = 0;
    const double row_s = time_best(3, [&] {
        float s = 0;
        for (int64_t i = 0; i < n; i++)
            for (int64_t j = 0; j < n; j++) s += p[i * n + j];
        sink = s;
    });
    const double col_s = time_best(3, [&] {
        float s = 0;
        for (int64_t j = 0; j < n; j++)
            for (int64_t i = 0; i < n; i++) s += p[i * n + j];
        sink = s;
    });
    (void)sink;
    std::printf("2. Summing a %lldx%lld matrix (%s):\n", (long long)n, (long long)n, bytes_str(n * n * 4).c_str());
    std::printf("   row by row (stride 1):        %8.2f ms  %6.2f GB/s\n", row_s * 1e3, n * n * 4 / row_s / 1e9);
    std::printf("   column by column (stride %lld): %8.2f ms  %6.2f GB/s  -> %.1fx slower\n\n", (long long)n,
                col_s * 1e3, n * n * 4 / col_s / 1e9, col_s / row_s);
    measured.number("sum_matrix_n", (double)n).number("row_gb_per_s", n * n * 4 / row_s / 1e9)
        .number("column_gb_per_s", n * n * 4 / col_s / 1e9).number("column_slowdown", col_s / row_s);

    // 3. A view vs a copy.
    MemoryCounts c0 = memory_counts();
    Tensor view;
    const double view_s = time_best(5, [&] { view = m.T(); });
    const int64_t view_bytes = memory_counts().allocations - c0.allocations;
    c0 = memory_counts();
    Tensor copy;
    const double copy_s = time_best(3, [&] { copy = m.T().contiguous(); });
    std::printf("3. Transposing the same matrix:\n");
    std::printf("   as a view (new strides):  %10.6f ms, %lld allocations\n", view_s * 1e3, (long long)view_bytes);
    std::printf("   as a copy (contiguous()): %10.3f ms, %s allocated each time\n", copy_s * 1e3, bytes_str(copy.numel() * 4).c_str());
    measured.number("transpose_view_ms", view_s * 1e3).number("transpose_view_allocations", (double)view_bytes)
        .number("transpose_copy_ms", copy_s * 1e3);
    return measured;
}

} // namespace lessons
