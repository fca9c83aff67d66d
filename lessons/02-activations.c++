// Lesson 02 · Activations — the demo behind `./tt lesson 2`.
#include <cmath>
#include <cstdio>

#include "lessons.h"

using namespace tt;

namespace lessons {

Json lesson_02(const Options& options) {
    Json measured;
    // 16 MB: large enough to miss every cache, small enough that the allocator
    // reuses freed memory instead of asking the OS for fresh (page-faulting) pages
    const int64_t n = options.quick ? (1 << 20) : (1 << 22);
    Tensor x = Tensor::randn({n});
    std::printf("1. Activations are memory-bound: %lld elements (%s in, %s out)\n", (long long)n,
                bytes_str(n * 4).c_str(), bytes_str(n * 4).c_str());
    std::printf("   %-8s %10s %10s %12s %14s %12s\n", "op", "ms", "GB/s", "flops/elem", "flops per byte", "vs a copy");
    struct Row { const char* name; Tensor (*f)(const Tensor&); double flops; };
    const Row rows[] = {{"copy", [](const Tensor& t) { return t.clone(); }, 0}, {"relu", relu, 1},
                        {"sigmoid", sigmoid, 4}, {"tanh", tanh, 20}, {"gelu", gelu, 25}};
    double copy_s = 0;
    std::vector<Json> ops;
    for (const Row& r : rows) {
        const double s = time_best(7, [&] { Tensor y = r.f(x); });
        if (copy_s == 0) copy_s = s;
        std::printf("   %-8s %10.2f %10.2f %12.0f %14.2f %11.1fx\n", r.name, s * 1e3, 8.0 * n / s / 1e9, r.flops, r.flops / 8,
                    s / copy_s);
        ops.push_back(Json().text("op", r.name).number("ms", s * 1e3).number("gb_per_s", 8.0 * n / s / 1e9).number("vs_copy", s / copy_s));
    }
    measured.number("elements", (double)n).objects("activations", ops);
    std::printf("   (flops per element counted from each formula; exp and tanh cost ~20 flops.\n"
                "    relu runs at the speed of a copy: it waits on memory, not arithmetic. The\n"
                "    transcendental ones do enough arithmetic per byte to become compute-bound.)\n\n");

    std::printf("2. Softmax without and with the max trick, on logits [10, 100, 1000]:\n");
    const float logits[3] = {10, 100, 1000};
    float total = 0;
    for (float z : logits) total += std::exp(z);
    std::printf("   naive exp(z)/sum exp(z):     ");
    for (float z : logits) std::printf("%g ", std::exp(z) / total);
    std::printf("  (exp(1000) overflows float: inf/inf = nan)\n");
    Tensor safe = softmax(Tensor({3}, {10, 100, 1000}));
    std::printf("   tt::softmax (max subtracted): %s\n", safe.str().c_str());
    measured.numbers("stable_softmax", {safe.at({0}), safe.at({1}), safe.at({2})});
    std::printf("   float overflows at exp(%.2f); without the trick any logit above that breaks softmax.\n",
                std::log(3.4028235e38));
    return measured;
}

} // namespace lessons
