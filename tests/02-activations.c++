// Lesson 02 · Activations: values computed by hand, and the stable forms.
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
