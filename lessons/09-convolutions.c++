// Lesson 09 · Convolutions — the demo behind `./tt lesson 9`: what a
// convolution saves in parameters, what im2col costs in memory, and what it
// buys in time over the loop nest.
#include <cstdio>

#include "lessons.h"

using namespace tt;

namespace lessons {

void lesson_09(const Options& options) {
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
    }
    std::printf("   The conv reuses one small filter at every position, so its parameters do not grow with\n"
                "   the image; its multiply-adds do (k*k*C per output), which is why convs are compute-bound.\n\n");

    // 2. The im2col buffer, as the tracker sees it.
    const int64_t B = options.quick ? 8 : 64;
    std::printf("2. Memory of one im2col forward, batch %lld (tracker, Scratch category):\n", (long long)B);
    std::printf("   %-22s %12s %12s %14s %10s\n", "layer", "input", "output", "scratch peak", "/ input");
    for (const Layer& l : layers) {
        Conv2d conv(l.C, l.O, l.k, 1, l.padding);
        Tensor x = Tensor::randn({B, l.C, l.H, l.W});
        NoGrad inference;
        const int64_t scratch_before = memory_counts(Category::Scratch).live_bytes;
        reset_peak();
        Tensor y = conv(x);
        const int64_t scratch = memory_counts(Category::Scratch).peak_bytes - scratch_before;
        std::printf("   %-22s %12s %12s %14s %9.1fx\n", l.where, bytes_str(x.numel() * 4).c_str(), bytes_str(y.numel() * 4).c_str(),
                    bytes_str(scratch).c_str(), (double)scratch / (double)(x.numel() * 4));
    }
    std::printf("   The scratch holds the columns [C*k*k, B*OH*OW] (each input pixel copied up to k*k\n"
                "   times) and the product [O, B*OH*OW] before it is laid out as [B,O,OH,OW].\n\n");

    // 3. Time: the loop nest vs im2col + gemm, forward and forward+backward.
    const Layer& l = layers[0];
    const int64_t TB = options.quick ? 4 : 32;
    Generator g(9);
    Tensor x = Tensor::randn({TB, l.C, l.H, l.W}, g).requires_grad_();
    Conv2d conv(l.C, l.O, l.k, 1, l.padding, true, g);
    const double macs = (double)TB * l.O * l.H * l.W * l.C * l.k * l.k;
    auto forward = [&](bool naive) {
        NoGrad inference;
        Tensor y = naive ? conv2d_naive(x, conv.weight, conv.bias, 1, l.padding) : conv(x);
    };
    auto train_step = [&](bool naive) {
        Tensor y = naive ? conv2d_naive(x, conv.weight, conv.bias, 1, l.padding) : conv(x);
        sum(y).backward();
        x.zero_grad();
        conv.zero_grad();
    };
    const int repeats = options.quick ? 1 : 3;
    const double naive_fwd = time_best(repeats, [&] { forward(true); });
    const double im2col_fwd = time_best(repeats, [&] { forward(false); });
    const double naive_step = time_best(repeats, [&] { train_step(true); });
    const double im2col_step = time_best(repeats, [&] { train_step(false); });
    std::printf("3. Time of %s on a batch of %lld (%.1f M multiply-adds a forward),\n", l.where, (long long)TB, macs / 1e6);
    std::printf("   gemm = %s:\n", gemm == gemm_naive ? "the naive kernel of Lesson 01" : "the kernel installed by Lesson 17");
    std::printf("   %-20s %12s %10s %22s\n", "", "forward", "GFLOP/s", "forward + backward");
    std::printf("   %-20s %9.2f ms %10.2f %19.2f ms\n", "loop nest", naive_fwd * 1e3, 2 * macs / naive_fwd / 1e9, naive_step * 1e3);
    std::printf("   %-20s %9.2f ms %10.2f %19.2f ms\n", "im2col + gemm", im2col_fwd * 1e3, 2 * macs / im2col_fwd / 1e9, im2col_step * 1e3);
    std::printf("   im2col is %.1fx faster forward and %.1fx faster forward+backward: the loop nest tests\n"
                "   the padding on every multiply-add and walks the filter with a stride; gemm streams rows.\n",
                naive_fwd / im2col_fwd, naive_step / im2col_step);
}

} // namespace lessons
