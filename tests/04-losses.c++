// Lesson 04 · Losses: values computed by hand, and finite on large logits.
#include "test.h"

using namespace tt;

TEST(losses_values) {
    CHECK_NEAR(mse_loss(Tensor({3}, {1, 2, 3}), Tensor({3}, {1, 4, 0})).item(), (0 + 4 + 9) / 3.0, 1e-6);
    CHECK_THROWS(mse_loss(Tensor::ones({3}), Tensor::ones({3, 1})), "mse_loss: prediction [3] and target [3,1] differ");
    // cross-entropy: -log softmax at the target
    Tensor logits({2, 3}, {1, 2, 3, 1, 1, 1});
    Tensor targets({2}, {2, 0});
    CHECK_NEAR(cross_entropy(logits, targets).item(), (0.40760596 + 1.09861229) / 2, 1e-5);
    CHECK_THROWS(cross_entropy(logits, Tensor({2}, {3, 0})), "cross_entropy: target 3 at row 0 is not a class index in 0..2");
    CHECK_THROWS(cross_entropy(logits, Tensor({2}, {0.5f, 0})), "not a class index");
    CHECK_THROWS(cross_entropy(logits, Tensor({3}, {0, 0, 0})), "cross_entropy: targets [3] should be [2]");
    CHECK_THROWS(cross_entropy(Tensor::ones({6}), targets), "logits should be [B,C]");
    // binary cross-entropy from logits
    Tensor z({2}, {0, 2}), t({2}, {1, 0});
    const double expected = (std::log(2.0) + (2 + std::log1p(std::exp(-2.0)))) / 2;
    CHECK_NEAR(binary_cross_entropy_with_logits(z, t).item(), expected, 1e-6);
    CHECK_THROWS(binary_cross_entropy_with_logits(z, Tensor({2}, {2, 0})), "outside [0,1]");
}

TEST(losses_stay_finite_on_large_logits) {
    Tensor logits({1, 3}, {1000, 0, -1000});
    CHECK_NEAR(cross_entropy(logits, Tensor({1}, {0})).item(), 0.0, 1e-6);
    CHECK_NEAR(cross_entropy(logits, Tensor({1}, {2})).item(), 2000.0, 1e-2);
    CHECK_NEAR(binary_cross_entropy_with_logits(Tensor({1}, {-1000}), Tensor({1}, {1})).item(), 1000.0, 1e-2);
}
