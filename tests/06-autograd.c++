// Lesson 06 · Autograd: a finite-difference check for every differentiable
// op, on plain, broadcast and non-contiguous inputs, plus the tape's rules.
#include "test.h"

using namespace tt;
using Inputs = std::vector<Tensor>;

namespace {
Tensor rnd(const Shape& s, uint64_t seed, float lo = -1, float hi = 1) {
    Generator g(seed);
    return Tensor::rand(s, g) * (hi - lo) + lo;
}
// values kept away from 0, where |x| and relu have their kink
Tensor away_from_zero(const Shape& s, uint64_t seed) {
    Tensor t = rnd(s, seed);
    for (int64_t i = 0; i < t.numel(); i++) t.data()[i] += t.data()[i] >= 0 ? 0.2f : -0.2f;
    return t;
}
} // namespace

TEST(grad_elementwise_with_broadcasting) {
    Inputs in{rnd({2, 3}, 1), rnd({3}, 2)};
    CHECK_GRAD([](const Inputs& v) { return v[0] + v[1]; }, in, 1e-2);
    CHECK_GRAD([](const Inputs& v) { return v[0] - v[1]; }, in, 1e-2);
    CHECK_GRAD([](const Inputs& v) { return v[0] * v[1]; }, in, 1e-2);
    Inputs pos{rnd({2, 1}, 3), rnd({1, 3}, 4, 0.5f, 2)};
    CHECK_GRAD([](const Inputs& v) { return v[0] / v[1]; }, pos, 1e-2);
    Inputs ranks{rnd({4, 2, 3}, 5), rnd({2, 1}, 6)};
    CHECK_GRAD([](const Inputs& v) { return v[0] * v[1] + 2.0f * v[0] - v[1] / 3.0f; }, ranks, 1e-2);
}

TEST(grad_unary) {
    Inputs x{rnd({3, 4}, 7, 0.5f, 2)};
    CHECK_GRAD([](const Inputs& v) { return exp(v[0]); }, x, 1e-2);
    CHECK_GRAD([](const Inputs& v) { return log(v[0]); }, x, 1e-2);
    CHECK_GRAD([](const Inputs& v) { return sqrt(v[0]); }, x, 1e-2);
    CHECK_GRAD([](const Inputs& v) { return pow(v[0], 3.0f); }, x, 1e-2);
    CHECK_GRAD([](const Inputs& v) { return -v[0]; }, x, 1e-2);
    CHECK_GRAD([](const Inputs& v) { return abs(v[0]); }, Inputs{away_from_zero({3, 4}, 8)}, 1e-2);
}

TEST(grad_views_non_contiguous) {
    Inputs x{rnd({2, 3, 4}, 9)};
    CHECK_GRAD([](const Inputs& v) { return v[0].transpose(0, 2) * Tensor::arange(2); }, x, 1e-2);
    CHECK_GRAD([](const Inputs& v) { return v[0].permute({1, 2, 0}).reshape({3, 8}); }, x, 1e-2);
    CHECK_GRAD([](const Inputs& v) { return v[0].slice(2, 1, 4, 2) * 3.0f; }, x, 1e-2);
    CHECK_GRAD([](const Inputs& v) { return v[0].T().contiguous(); }, x, 1e-2);
    CHECK_GRAD([](const Inputs& v) { return exp(v[0].slice(1, 0, 2).T()); }, x, 1e-2);
    CHECK_GRAD([](const Inputs& v) { return index_select(v[0], 1, {2, 0, 2}); }, x, 1e-2);
    CHECK_GRAD([](const Inputs& v) { return concat({v[0], v[0].slice(1, 1, 2) * 2.0f}, 1); }, x, 1e-2);
}

TEST(grad_reductions) {
    Inputs x{rnd({3, 4}, 10)};
    CHECK_GRAD([](const Inputs& v) { return sum(v[0]); }, x, 1e-2);
    CHECK_GRAD([](const Inputs& v) { return sum(v[0], 0); }, x, 1e-2);
    CHECK_GRAD([](const Inputs& v) { return sum(v[0], 1, true); }, x, 1e-2);
    CHECK_GRAD([](const Inputs& v) { return mean(v[0], -1); }, x, 1e-2);
    CHECK_GRAD([](const Inputs& v) { return mean(v[0].T()); }, x, 1e-2);
    CHECK_GRAD([](const Inputs& v) { return max(v[0], 1); }, x, 1e-2);
    CHECK_GRAD([](const Inputs& v) { return max(v[0], 0, true); }, x, 1e-2);
    CHECK_GRAD([](const Inputs& v) { return max(v[0]); }, x, 1e-2);
    CHECK_GRAD([](const Inputs& v) { return max(v[0].T()); }, x, 1e-2);
}

// Ties and NaN, as in PyTorch: max over everything shares dy evenly among
// the elements equal to the max (the NaNs, when it is NaN); max along an
// axis gives it to the index argmax returns (the first max, or first NaN).
TEST(max_gradient_at_ties_and_nan) {
    Tensor x = make_parameter(Tensor({2, 2}, {1, 3, 3, 0}));
    (max(x) * 4.0f).backward();
    CHECK_VALUES(x.grad(), 0, {0, 2, 2, 0});
    x.zero_grad();
    sum(max(x, 0)).backward();                // columns [1,3] and [3,0]: rows 1 and 0
    CHECK_VALUES(x.grad(), 0, {0, 1, 1, 0});
    Tensor row = make_parameter(Tensor({4}, {5, 5, 1, 5}));
    sum(max(row, 0)).backward();              // along an axis: all to the first 5
    CHECK_VALUES(row.grad(), 0, {1, 0, 0, 0});
    const float nan = std::nanf("");
    Tensor y = make_parameter(Tensor({4}, {1, nan, 2, nan}));
    max(y).backward();
    CHECK_VALUES(y.grad(), 0, {0, 0.5f, 0, 0.5f});
    y.zero_grad();
    max(y, 0).backward();
    CHECK_VALUES(y.grad(), 0, {0, 1, 0, 0});
}

// relu at NaN: the value passes (NaN), and so does the gradient, since
// PyTorch zeroes dy only where relu's output is <= 0 (NaN <= 0 is false).
TEST(relu_at_nan_passes_value_and_gradient) {
    Tensor x = make_parameter(Tensor({4}, {-1, 0, std::nanf(""), 2}));
    Tensor y = relu(x);
    CHECK(std::isnan(y.to_vector()[2]));
    y.backward(Tensor({4}, {1, 1, 3, 1}));
    CHECK_VALUES(x.grad(), 0, {0, 0, 3, 1});
}

// x^0 = 1 is flat, 0 included: PyTorch's gradient 0, where p*x^(p-1) reads 0*inf.
TEST(pow_zero_has_zero_gradient_at_zero) {
    Tensor x = make_parameter(Tensor({3}, {0, 2, -1}));
    Tensor y = pow(x, 0.0f);
    CHECK_VALUES(y, 0, {1, 1, 1});
    sum(y).backward();
    CHECK_VALUES(x.grad(), 0, {0, 0, 0});
    x.zero_grad();
    sum(pow(x, 1.0f)).backward();             // 1 * x^0 = 1 at x = 0 too
    CHECK_VALUES(x.grad(), 0, {1, 1, 1});
}

// Soft targets that are themselves learned get dL/dt = -z / n, as in PyTorch.
TEST(bce_with_logits_gradient_for_the_targets) {
    Tensor z = make_parameter(Tensor({2}, {2, -1}));
    Tensor t = make_parameter(Tensor({2}, {0.25f, 0.5f}));
    binary_cross_entropy_with_logits(z, t).backward();
    CHECK_VALUES(t.grad(), 1e-7, {-1, 0.5f});
    CHECK_VALUES(z.grad(), 1e-6, {(1 / (1 + std::exp(-2.0f)) - 0.25f) / 2, (1 / (1 + std::exp(1.0f)) - 0.5f) / 2});
    Tensor fixed = Tensor({2}, {0.25f, 0.5f});
    z.zero_grad();
    binary_cross_entropy_with_logits(z, fixed).backward(); // a target that does not require grad gets none
    CHECK(!fixed.grad().defined() && z.grad().defined());
    CHECK_GRAD([](const Inputs& v) { return binary_cross_entropy_with_logits(v[0], v[1]); },
               (Inputs{rnd({3, 2}, 28, -3, 3), rnd({3, 2}, 29, 0.2f, 0.8f)}), 1e-2);
    CHECK_GRAD([](const Inputs& v) { return binary_cross_entropy_with_logits(v[0].T(), v[1].T()); }, // both transposed views
               (Inputs{rnd({2, 3}, 30, -3, 3), rnd({2, 3}, 31, 0.2f, 0.8f)}), 1e-2);
}

TEST(grad_matmul_batched_broadcast_transposed) {
    CHECK_GRAD([](const Inputs& v) { return matmul(v[0], v[1]); }, (Inputs{rnd({3, 4}, 11), rnd({4, 2}, 12)}), 1e-2);
    CHECK_GRAD([](const Inputs& v) { return matmul(v[0], v[1]); }, (Inputs{rnd({2, 3, 4}, 13), rnd({4, 5}, 14)}), 1e-2);
    CHECK_GRAD([](const Inputs& v) { return matmul(v[0], v[1]); }, (Inputs{rnd({2, 1, 3, 4}, 15), rnd({3, 4, 2}, 16)}), 1e-2);
    CHECK_GRAD([](const Inputs& v) { return matmul(v[0].T(), v[1].T()); }, (Inputs{rnd({4, 3}, 17), rnd({2, 4}, 18)}), 1e-2);
    CHECK_GRAD([](const Inputs& v) { return matmul(v[0], v[1]); }, (Inputs{rnd({2, 1, 2, 3, 4}, 32), rnd({3, 1, 4, 2}, 33)}), 1e-2);
}

TEST(grad_activations) {
    Inputs x{away_from_zero({3, 5}, 19)};
    CHECK_GRAD([](const Inputs& v) { return relu(v[0]); }, x, 1e-2);
    CHECK_GRAD([](const Inputs& v) { return sigmoid(v[0] * 3.0f); }, x, 1e-2);
    CHECK_GRAD([](const Inputs& v) { return tanh(v[0]); }, x, 1e-2);
    CHECK_GRAD([](const Inputs& v) { return gelu(v[0] * 2.0f); }, x, 1e-2);
    CHECK_GRAD([](const Inputs& v) { return softmax(v[0]); }, x, 1e-2);
    CHECK_GRAD([](const Inputs& v) { return softmax(v[0], 0); }, x, 1e-2);
    CHECK_GRAD([](const Inputs& v) { return log_softmax(v[0].T(), 1); }, x, 1e-2);
}

TEST(grad_linear_and_losses) {
    Inputs lin{rnd({4, 3}, 20), rnd({2, 3}, 21), rnd({2}, 22)};
    CHECK_GRAD([](const Inputs& v) { return linear(v[0], v[1], v[2]); }, lin, 1e-2);
    CHECK_GRAD([](const Inputs& v) { return linear(v[0].reshape({2, 2, 3}), v[1]); }, lin, 1e-2); // 3-d input, no bias
    Tensor targets({4}, {0, 2, 1, 2});
    CHECK_GRAD([targets](const Inputs& v) { return cross_entropy(v[0], targets); }, Inputs{rnd({4, 3}, 23, -3, 3)}, 1e-2);
    Tensor t01 = rnd({3, 2}, 24, 0, 1);
    CHECK_GRAD([t01](const Inputs& v) { return binary_cross_entropy_with_logits(v[0], t01); }, Inputs{rnd({3, 2}, 25, -3, 3)}, 1e-2);
    CHECK_GRAD([](const Inputs& v) { return mse_loss(v[0], v[1]); }, (Inputs{rnd({3, 2}, 26), rnd({3, 2}, 27)}), 1e-2);
}

TEST(gradients_accumulate_and_zero_grad_clears) {
    Tensor w = Tensor({2}, {1, 2}).requires_grad_();
    Tensor x({2}, {3, 4});
    sum(w * x).backward();
    CHECK_VALUES(w.grad(), 0, {3, 4});
    sum(w * x).backward(); // no zero_grad in between: doubled
    CHECK_VALUES(w.grad(), 0, {6, 8});
    w.zero_grad();
    CHECK(!w.grad().defined());
    sum(w * x).backward();
    CHECK_VALUES(w.grad(), 0, {3, 4});
}

TEST(a_tensor_used_twice_gets_both_gradients) {
    Tensor x = Tensor({3}, {1, 2, 3}).requires_grad_();
    Tensor y = x * x + x; // dy/dx = 2x + 1
    y.backward(Tensor::ones({3}));
    CHECK_VALUES(x.grad(), 0, {3, 5, 7});
}

TEST(tape_records_in_order_and_prints) {
    clear_tape();
    Tensor w = Tensor::ones({2, 2}).requires_grad_();
    Tensor y = relu(matmul(w, w) + 1.0f);
    CHECK_EQ(tape().size(), 3);
    const std::string s = tape_str();
    CHECK(s.find("matmul") < s.find("add") && s.find("add") < s.find("relu"));
    { NoGrad off; Tensor z = matmul(w, w); CHECK(!z.requires_grad()); }
    CHECK_EQ(tape().size(), 3);
    sum(y).backward();
    CHECK(tape().empty()); // backward frees the graph
    CHECK_THROWS(y.backward(Tensor::ones({3})), "backward: seed [3] does not match");
    CHECK_THROWS(Tensor::ones({2}).backward(), "not a single number");
    CHECK_THROWS(Tensor::ones({1}).backward(), "does not require grad");
}

TEST_GIVEN(tape_drops_nodes_nobody_can_reach) {
    clear_tape();
    Tensor w = Tensor::ones({4}).requires_grad_();
    for (int i = 0; i < 5000; i++) { Tensor discarded = w * 2.0f; } // evaluation without NoGrad
    CHECK(tape().size() < 1100);
}

// The backward of slice and linear's bias read a non-contiguous gradient or
// bias through a copy they keep alive (a sanitizer build catches a dangling one).
TEST(slice_and_linear_read_non_contiguous_inputs_safely) {
    Tensor x = make_parameter(Tensor({2, 4}, {1, 2, 3, 4, 5, 6, 7, 8}));
    Tensor s = x.slice(1, 1, 3);                     // [2,2]
    Tensor w({2, 2}, {1, 2, 3, 4});
    sum(s * w.T()).backward();                       // the gradient reaching slice is w^T, a view
    CHECK_VALUES(x.grad(), 0, {0, 1, 3, 0, 0, 2, 4, 0});
    Tensor b = Tensor({4}, {10, -1, 20, -1}).slice(0, 0, 4, 2); // {10, 20}, stride 2
    CHECK(!b.is_contiguous());
    Tensor y = linear(Tensor({1, 2}, {1, 1}), Tensor({2, 2}, {1, 0, 0, 1}), b);
    CHECK_VALUES(y, 0, {11, 21});
}
