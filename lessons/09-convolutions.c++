// Lesson 09 · Convolutions — the demo behind `./tt lesson 9`: what a
// convolution saves in parameters, what im2col costs in memory, and what it
// buys in time over the loop nest.
#include <cstdio>

#include "lessons.h"

using namespace tt;

namespace lessons {

Json lesson_09(const Options& options) {
    Json measured;
    // 1. A conv layer vs a dense layer that maps the same input to an output
    //    of the same size.
    struct Layer { const char* where; int64_t C, H, W, O, k, padding; };
    const Layer layers[] = {
        {"LeNet-5 conv1, MNIST", 1, 28, 28, 6, 5, 2},
        {"CIFAR conv1", 3, 32, 32, 32, 3, 1},
        {"CIFAR conv3", 32, 16, 16, 64, 3, 1},
    };
    std::printf("1. A convolution vs a dense layer with the same input and output sizes:\n");
    std::printf("   %-22s %-11s %-11s %11s %12s %8s %10s %12s %6s\n", "layer", "input", "output", "conv params",
                "dense params", "ratio", "conv MACs", "dense MACs", "ratio");
    std::vector<Json> sizes, memory, times;
    for (const Layer& l : layers) {
        Conv2d conv(l.C, l.O, l.k, 1, l.padding);
        const Shape out = conv(Tensor::zeros({1, l.C, l.H, l.W})).shape();
        const int64_t in_features = l.C * l.H * l.W, out_features = numel(out);
        // a dense layer's parameter count, without allocating its (huge) weight
        const int64_t dense_params = in_features * out_features + out_features;
        // each output pixel of each channel is a dot product over a C*k*k patch
        const int64_t conv_macs = out_features * l.C * l.k * l.k, dense_macs = in_features * out_features;
        std::printf("   %-22s %-11s %-11s %11lld %12lld %7.0fx %10lld %12lld %5.0fx\n", l.where, to_string({l.C, l.H, l.W}).c_str(),
                    to_string({out[1], out[2], out[3]}).c_str(), (long long)conv.num_parameters(), (long long)dense_params,
                    (double)dense_params / (double)conv.num_parameters(), (long long)conv_macs, (long long)dense_macs,
                    (double)dense_macs / (double)conv_macs);
        sizes.push_back(Json().text("layer", l.where).number("conv_params", (double)conv.num_parameters())
                            .number("dense_params", (double)dense_params).number("conv_macs", (double)conv_macs)
                            .number("dense_macs", (double)dense_macs));
    }
    measured.objects("conv_vs_dense", sizes);
    std::printf("   The conv reuses one small filter at every position, so its parameters do not grow with\n"
                "   the image; its multiply-adds do (k*k*C per output), which is why convs are compute-bound.\n\n");

    // 2. The im2col buffer, as the tracker sees it.
    const int64_t B = options.quick ? 8 : 64;
    std::printf("2. Memory of one im2col forward, batch %lld (tracker, Scratch category):\n", (long long)B);
    std::printf("   %-22s %12s %12s %14s %10s %16s\n", "layer", "input", "output", "scratch peak", "/ input",
                "batch's columns");
    for (const Layer& l : layers) {
        Conv2d conv(l.C, l.O, l.k, 1, l.padding);
        Tensor x = Tensor::randn({B, l.C, l.H, l.W});
        NoGrad inference;
        const int64_t scratch_before = memory_counts(Category::Scratch).live_bytes;
        reset_peak();
        Tensor y = conv(x);
        const int64_t scratch = memory_counts(Category::Scratch).peak_bytes - scratch_before;
        const int64_t whole_batch = l.C * l.k * l.k * y.numel() / l.O * 4; // [C*k*k, B*OH*OW] floats
        std::printf("   %-22s %12s %12s %14s %9.1fx %16s\n", l.where, bytes_str(x.numel() * 4).c_str(),
                    bytes_str(y.numel() * 4).c_str(), bytes_str(scratch).c_str(), (double)scratch / (double)(x.numel() * 4),
                    bytes_str(whole_batch).c_str());
        memory.push_back(Json().text("layer", l.where).number("batch", (double)B).number("scratch_peak_bytes", (double)scratch)
                             .number("whole_batch_columns_bytes", (double)whole_batch));
    }
    measured.objects("im2col_memory", memory);
    std::printf("   The scratch holds, for each chunk of up to 8 images, the columns of one image\n"
                "   [C*k*k, OH*OW] (each input pixel copied up to k*k times) and, with padding, the image\n"
                "   in its frame of zeros. The last column is what im2col over the whole batch at once\n"
                "   would hold: more than the cache, where one image's columns fit in it.\n\n");

    // 3. Time: the loop nest vs im2col + gemm, with Lesson 01's kernel and
    //    with whatever kernel is installed in `gemm` (Lesson 17's, once built).
    const GemmKernel installed = gemm;
    const int repeats = options.quick ? 1 : 3;
    std::printf("3. Time of a forward and of a forward + backward (input and weight gradients):\n");
    std::printf("   %-28s %10s %9s %12s\n", "", "forward", "GFLOP/s", "fwd + bwd");
    for (const Layer* l : {&layers[0], &layers[2]}) {
        const int64_t TB = options.quick ? 2 : l == &layers[0] ? 32 : 8;
        Generator g(9);
        Tensor x = Tensor::randn({TB, l->C, l->H, l->W}, g).requires_grad_();
        Conv2d conv(l->C, l->O, l->k, 1, l->padding, true, g);
        const double macs = (double)TB * l->O * l->H * l->W * l->C * l->k * l->k;
        auto run = [&](bool naive, bool backward) {
            Tensor y = naive ? conv2d_naive(x, conv.weight, conv.bias, 1, l->padding) : conv(x);
            if (backward) sum(y).backward();
            x.zero_grad();
            conv.zero_grad();
        };
        auto row = [&](const char* path, bool naive, GemmKernel kernel) {
            gemm = kernel;
            double forward;
            {
                NoGrad inference;
                forward = time_best(repeats, [&] { run(naive, false); });
            }
            const double step = time_best(repeats, [&] { run(naive, true); });
            gemm = installed;
            std::printf("     %-26s %7.2f ms %9.2f %9.2f ms\n", path, forward * 1e3, 2 * macs / forward / 1e9, step * 1e3);
            times.push_back(Json().text("layer", l->where).text("path", path).number("batch", (double)TB)
                                .number("forward_ms", forward * 1e3).number("forward_gflops", 2 * macs / forward / 1e9)
                                .number("step_ms", step * 1e3));
        };
        std::printf("   %s, batch %lld (%.1f M multiply-adds a forward):\n", l->where, (long long)TB, macs / 1e6);
        row("loop nest", true, installed);
        row("im2col + gemm_naive", false, gemm_naive);
        if (installed != gemm_naive) row("im2col + gemm (Lesson 17)", false, installed);
    }
    measured.objects("conv_time", times);
    std::printf("   The loop nest tests the padding on every multiply-add and walks the filter with a\n"
                "   stride; im2col pays one copy so that a matrix kernel streams rows. A fast kernel\n"
                "   pays off where the product is large (many channels), less on a 1-channel first layer.\n");
    return measured;
}

} // namespace lessons
