// Lesson 03 · Layers: Linear's forward and initialisation, parameters counted
// as parameters, Sequential and Dropout.
#include "test.h"

using namespace tt;

TEST(linear_forward_and_counts) {
    Linear layer(3, 2);
    CHECK_EQ(layer.num_parameters(), 3 * 2 + 2);
    CHECK_EQ(layer.weight.shape(), (Shape{2, 3}));
    CHECK(layer.weight.requires_grad());
    layer.weight = make_parameter(Tensor({2, 3}, {1, 2, 3, 4, 5, 6}));
    layer.bias = make_parameter(Tensor({2}, {0.5f, -1}));
    Tensor x({2, 3}, {1, 0, -1, 2, 1, 0});
    CHECK_VALUES(layer(x), 0, {1 - 3 + 0.5f, 4 - 6 - 1, 2 + 2 + 0.5f, 8 + 5 - 1});
    CHECK_THROWS(layer(Tensor::ones({2, 4})), "linear: input [2,4] does not end in 3 features");
    CHECK_EQ(layer.name(), "Linear(3, 2)");
    // Kaiming bound sqrt(6/in): every weight inside it
    Linear big(100, 50);
    for (float w : big.weight.to_vector()) CHECK(std::fabs(w) <= std::sqrt(6.0f / 100));
    CHECK_THROWS(Linear(0, 3), "Linear: sizes must be positive");
}

TEST(parameters_are_counted_as_parameters) {
    const int64_t before = memory_counts(Category::Parameters).live_bytes;
    {
        Linear layer(10, 20);
        CHECK_EQ(memory_counts(Category::Parameters).live_bytes - before, (10 * 20 + 20) * 4);
    }
    CHECK_EQ(memory_counts(Category::Parameters).live_bytes, before);
}

TEST(sequential_and_dropout) {
    Sequential model{Linear(4, 8), ReLU(), Dropout(0.5f), Linear(8, 2)};
    CHECK_EQ(model.num_parameters(), 4 * 8 + 8 + 8 * 2 + 2);
    CHECK_EQ(model.parameters().size(), 4);
    CHECK_EQ(model.named_parameters()[2].first, "3.weight");
    Tensor x = Tensor::ones({3, 4});
    CHECK_EQ(model(x).shape(), (Shape{3, 2}));
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
