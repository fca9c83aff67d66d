// Lesson 04 · Losses — the demo behind `./tt lesson 4`.
#include <cmath>
#include <cstdio>

#include "lessons.h"

using namespace tt;

namespace lessons {

Json lesson_04(const Options& options) {
    Json measured;
    const int64_t B = options.quick ? 64 : 256;
    std::printf("1. Cross-entropy cost vs number of classes (batch %lld):\n", (long long)B);
    std::printf("   %8s %12s %14s %14s\n", "classes", "ms", "ns per logit", "logits bytes");
    std::vector<Json> rows;
    for (int64_t C : {10, 100, 1000, 10000}) {
        Tensor logits = Tensor::randn({B, C});
        Tensor targets = Tensor::zeros({B});
        const double s = time_best(5, [&] { Tensor l = cross_entropy(logits, targets); });
        std::printf("   %8lld %12.3f %14.2f %14s\n", (long long)C, s * 1e3, s * 1e9 / (double)(B * C), bytes_str(B * C * 4).c_str());
        rows.push_back(Json().number("classes", (double)C).number("ms", s * 1e3).number("ns_per_logit", s * 1e9 / (double)(B * C)));
    }
    measured.number("batch", (double)B).objects("cross_entropy", rows);
    std::printf("   (linear in C: every logit is exponentiated once)\n\n");

    std::printf("2. The loss on logits [100, 0, -100] with target class 2:\n");
    const float z[3] = {100, 0, -100};
    float total = 0;
    for (float v : z) total += std::exp(v);
    const float naive = -std::log(std::exp(z[2]) / total);
    std::printf("   -log(softmax) computed naively: %g  (exp(-100)/exp(100) underflows to 0, log(0) = -inf)\n", naive);
    const float stable = cross_entropy(Tensor({1, 3}, {100, 0, -100}), Tensor({1}, {2})).item();
    std::printf("   tt::cross_entropy (log-sum-exp): %g\n", stable);
    measured.number("naive_loss", naive).number("stable_loss", stable);
    return measured;
}

} // namespace lessons
