// Lessons 02–04: activations, layers, losses — values computed by hand.
#include "test.h"

using namespace tt;

TEST(activations_values) {
    Tensor x({5}, {-2, -0.5f, 0, 0.5f, 2});
    CHECK_VALUES(relu(x), 0, {0, 0, 0, 0.5f, 2});
    CHECK_VALUES(sigmoid(x), 1e-6, {0.11920292f, 0.37754067f, 0.5f, 0.62245933f, 0.88079708f});
    CHECK_VALUES(tanh(x), 1e-6, {-0.96402758f, -0.46211716f, 0, 0.46211716f, 0.96402758f});
    // GELU, tanh form: 0.5 x (1 + tanh(sqrt(2/pi)(x + 0.044715 x^3)))
    CHECK_VALUES(gelu(x), 1e-5, {-0.04540231f, -0.15428599f, 0, 0.34571401f, 1.95459769f});
}

TEST(sigmoid_is_stable_for_large_inputs) {
    Tensor x({4}, {-1000, -100, 100, 1000});
    const std::vector<float> y = sigmoid(x).to_vector();
    for (float v : y) CHECK(std::isfinite(v));
    CHECK(y[0] == 0.0f && y[3] == 1.0f);
}

TEST(softmax_rows_and_axis) {
    Tensor x({2, 3}, {1, 2, 3, 1000, 1000, 1000});
    CHECK_VALUES(softmax(x), 1e-6, {0.09003057f, 0.24472847f, 0.66524096f, 1 / 3.f, 1 / 3.f, 1 / 3.f});
    CHECK_VALUES(log_softmax(x), 1e-5, {-2.40760596f, -1.40760596f, -0.40760596f, -1.09861229f, -1.09861229f, -1.09861229f});
    CHECK_VALUES(sum(softmax(x, 0), 0), 1e-6, {1, 1, 1});
    CHECK_THROWS(softmax(x, 2), "softmax: axis 2 is out of range");
}

TEST(linear_forward_and_counts) {
    Linear layer(3, 2);
    CHECK(layer.num_parameters() == 3 * 2 + 2);
    CHECK((layer.weight.shape() == Shape{2, 3}));
    CHECK(layer.weight.requires_grad());
    layer.weight = make_parameter(Tensor({2, 3}, {1, 2, 3, 4, 5, 6}));
    layer.bias = make_parameter(Tensor({2}, {0.5f, -1}));
    Tensor x({2, 3}, {1, 0, -1, 2, 1, 0});
    CHECK_VALUES(layer(x), 0, {1 - 3 + 0.5f, 4 - 6 - 1, 2 + 2 + 0.5f, 8 + 5 - 1});
    CHECK_THROWS(layer(Tensor::ones({2, 4})), "linear: input [2,4] does not end in 3 features");
    CHECK(layer.name() == "Linear(3, 2)");
    // Kaiming bound sqrt(6/in): every weight inside it
    Linear big(100, 50);
    for (float w : big.weight.to_vector()) CHECK(std::fabs(w) <= std::sqrt(6.0f / 100));
    CHECK_THROWS(Linear(0, 3), "Linear: sizes must be positive");
}

TEST(parameters_are_counted_as_parameters) {
    const int64_t before = memory_counts(Category::Parameters).live_bytes;
    {
        Linear layer(10, 20);
        CHECK(memory_counts(Category::Parameters).live_bytes - before == (10 * 20 + 20) * 4);
    }
    CHECK(memory_counts(Category::Parameters).live_bytes == before);
}

TEST(sequential_and_dropout) {
    Sequential model{Linear(4, 8), ReLU(), Dropout(0.5f), Linear(8, 2)};
    CHECK(model.num_parameters() == 4 * 8 + 8 + 8 * 2 + 2);
    CHECK(model.parameters().size() == 4);
    CHECK(model.named_parameters()[2].first == "3.weight");
    Tensor x = Tensor::ones({3, 4});
    CHECK((model(x).shape() == Shape{3, 2}));
    model.eval();
    CHECK_VALUES(model(x), 0, model(x).to_vector()); // deterministic in eval
    Dropout drop(0.25f);
    Tensor ones = Tensor::ones({10000});
    Tensor y = drop(ones);
    int zeros = 0;
    for (float v : y.to_vector()) {
        CHECK(v == 0.0f || std::fabs(v - 1 / 0.75f) < 1e-6);
        zeros += v == 0.0f;
    }
    CHECK(zeros > 2300 && zeros < 2700);
    drop.eval();
    CHECK(drop(ones).shares_storage(ones));
    CHECK_THROWS(Dropout(1.0f), "Dropout: p must be in [0, 1)");
}

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
