// Lesson 16 · Compression: pruning to an exact sparsity (per layer and
// global) whose masks survive an optimizer step, CSR against the dense
// product, structured pruning that keeps the function of the kept neurons,
// the SVD on matrices with known singular values (rank-deficient, 1x1, wide
// and tall; U and V orthonormal), low-rank layers, the distillation loss and
// its gradient, and the errors.
#include <cmath>

#include "test.h"

using namespace tt;

namespace {
Tensor rnd(const Shape& s, uint64_t seed) {
    Generator g(seed);
    return Tensor::randn(s, g);
}
// A random n x n orthogonal matrix: Gram-Schmidt on Gaussian columns, in double.
std::vector<double> orthogonal(int64_t n, uint64_t seed) {
    Generator g(seed);
    std::vector<double> q((size_t)(n * n));
    for (double& v : q) v = g.normal();
    for (int64_t j = 0; j < n; j++) { // column j = q[i*n + j]
        for (int64_t p = 0; p < j; p++) {
            double dot = 0;
            for (int64_t i = 0; i < n; i++) dot += q[(size_t)(i * n + j)] * q[(size_t)(i * n + p)];
            for (int64_t i = 0; i < n; i++) q[(size_t)(i * n + j)] -= dot * q[(size_t)(i * n + p)];
        }
        double norm = 0;
        for (int64_t i = 0; i < n; i++) norm += q[(size_t)(i * n + j)] * q[(size_t)(i * n + j)];
        for (int64_t i = 0; i < n; i++) q[(size_t)(i * n + j)] /= std::sqrt(norm);
    }
    return q;
}
// A [m,n] = P[:, :r] diag(s) Q[:, :r]^T with orthogonal P, Q: singular values s (then zeros).
Tensor with_singular_values(int64_t m, int64_t n, const std::vector<double>& s, uint64_t seed) {
    const std::vector<double> P = orthogonal(m, seed), Q = orthogonal(n, seed + 1);
    Tensor a = Tensor::zeros({m, n});
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < n; j++) {
            double v = 0;
            for (size_t r = 0; r < s.size(); r++) v += P[(size_t)(i * m) + r] * s[r] * Q[(size_t)(j * n) + r];
            a.data()[i * n + j] = (float)v;
        }
    return a;
}
// max |X^T X - I| over the first `r` columns of X [rows, cols].
double orthonormality_error(const Tensor& X, int64_t r) {
    const int64_t rows = X.size(0), cols = X.size(1);
    double worst = 0;
    for (int64_t a = 0; a < r; a++)
        for (int64_t b = 0; b < r; b++) {
            double dot = 0;
            for (int64_t i = 0; i < rows; i++) dot += (double)X.data()[i * cols + a] * X.data()[i * cols + b];
            worst = std::max(worst, std::fabs(dot - (a == b ? 1.0 : 0.0)));
        }
    return worst;
}
Sequential mlp(uint64_t seed) {
    Generator g(seed);
    return Sequential{Linear(10, 16, true, Init::Kaiming, g), ReLU(), Linear(16, 12, true, Init::Kaiming, g), ReLU(),
                      Linear(12, 3, true, Init::Kaiming, g)};
}
} // namespace

TEST(magnitude_prune_hits_the_sparsity_and_removes_the_smallest) {
    Sequential model = mlp(1);
    const std::vector<float> before = dynamic_cast<Linear*>(model.layers[0].get())->weight.to_vector();
    const PruningMasks masks = magnitude_prune(model, 0.5f);
    CHECK_EQ(masks.weights.size(), (size_t)3);
    // per layer: each weight loses floor(0.5 * n) of its values
    CHECK_EQ(measure_sparsity(masks.weights[0]), 0.5f);
    CHECK_NEAR(measure_sparsity(masks.weights[2]), 18.0 / 36, 1e-6);
    const std::vector<float> after = masks.weights[0].to_vector();
    float largest_pruned = 0, smallest_kept = 1e9f;
    for (size_t i = 0; i < after.size(); i++) {
        if (after[i] == 0) {
            largest_pruned = std::max(largest_pruned, std::fabs(before[i]));
        } else {
            smallest_kept = std::min(smallest_kept, std::fabs(before[i]));
            CHECK_EQ(after[i], before[i]);
        }
    }
    CHECK(largest_pruned <= smallest_kept);
    // global: one threshold for all, the same total fraction
    Sequential other = mlp(2);
    magnitude_prune(other, 0.7f, true);
    CHECK_NEAR(measure_sparsity(other), 0.7, 1.0 / 400);
}

TEST(pruning_masks_survive_an_optimizer_step) {
    Sequential model = mlp(3);
    const PruningMasks masks = magnitude_prune(model, 0.6f);
    SGD opt(model.parameters(), 0.1f);
    const Tensor x = rnd({8, 10}, 4), y = Tensor({8}, {0, 1, 2, 0, 1, 2, 0, 1});
    cross_entropy(model(x), y).backward();
    opt.step();
    CHECK(measure_sparsity(masks.weights[0]) < 0.6f); // the step regrew them...
    masks.apply();
    CHECK_EQ(measure_sparsity(masks.weights[0]), 0.6f); // ...and the masks put them back
    const std::vector<float> m = masks.masks[1].to_vector(), w = masks.weights[1].to_vector();
    for (size_t i = 0; i < m.size(); i++) CHECK(m[i] == 1.0f || w[i] == 0.0f);
}

TEST_GIVEN(csr_matches_the_dense_product) {
    Tensor w = rnd({7, 13}, 5);
    for (int64_t i = 0; i < w.numel(); i++)
        if (i % 3) w.data()[i] = 0;
    const CsrMatrix m = to_csr(w);
    CHECK_EQ(m.nnz(), (int64_t)31);
    CHECK_EQ(from_csr(m).to_vector(), w.to_vector());
    const Tensor x = rnd({5, 13}, 6), b = rnd({7}, 7);
    const std::vector<float> got = sparse_linear(x, m, b).to_vector(), want = linear(x, w, b).to_vector();
    for (size_t i = 0; i < got.size(); i++) CHECK_NEAR(got[i], want[i], 1e-5);
    CHECK_THROWS(sparse_linear(rnd({5, 12}, 1), m), "sparse_linear: expects x [B,13]");
    CHECK_THROWS(to_csr(rnd({2, 2, 2}, 1)), "to_csr: expects a matrix");
}

TEST_GIVEN(prune_neurons_returns_a_smaller_model) {
    Sequential model = mlp(8);
    auto small = prune_neurons(model, 0.5f);
    auto* first = dynamic_cast<Linear*>(small->layers[0].get());
    auto* second = dynamic_cast<Linear*>(small->layers[2].get());
    auto* last = dynamic_cast<Linear*>(small->layers[4].get());
    CHECK_EQ(first->out_features, (int64_t)8);
    CHECK_EQ(second->in_features, (int64_t)8);
    CHECK_EQ(second->out_features, (int64_t)6);
    CHECK_EQ(last->in_features, (int64_t)6);
    CHECK_EQ(last->out_features, (int64_t)3);
    CHECK(small->num_parameters() < model.num_parameters());
    // keep = 1: the same function
    const Tensor x = rnd({4, 10}, 9);
    const std::vector<float> a = (*prune_neurons(model, 1.0f))(x).to_vector(), b = model(x).to_vector();
    for (size_t i = 0; i < a.size(); i++) CHECK_NEAR(a[i], b[i], 1e-6);
    CHECK_THROWS(prune_neurons(model, 0.0f), "prune_neurons: keep must be in (0, 1]");
    Sequential one{Linear(3, 2)};
    CHECK_THROWS(prune_neurons(one, 0.5f), "prune_neurons: needs two or more Linear layers");
    Sequential conv{Conv2d(1, 2, 3), Flatten(), Linear(2, 2)};
    CHECK_THROWS(prune_neurons(conv, 0.5f), "prune_neurons: layer 0, Conv2d");
}

TEST(svd_finds_known_singular_values) {
    const std::vector<double> s = {5.0, 3.0, 2.0, 0.5, 0.1};
    for (const auto& [m, n] : std::vector<std::pair<int64_t, int64_t>>{{7, 5}, {5, 9}, {5, 5}}) {
        const Tensor a = with_singular_values(m, n, s, 10 + m + n);
        const Svd f = svd(a);
        const int64_t r = std::min(m, n);
        CHECK_EQ(f.S.numel(), r);
        for (int64_t k = 0; k < r; k++) CHECK_NEAR(f.S.data()[k], k < 5 ? s[(size_t)k] : 0.0, 1e-4);
        CHECK(orthonormality_error(f.U, r) < 1e-4);
        CHECK(orthonormality_error(f.V, r) < 1e-4);
        // U diag(S) V^T gives a back
        for (int64_t i = 0; i < m; i++)
            for (int64_t j = 0; j < n; j++) {
                double v = 0;
                for (int64_t k = 0; k < r; k++) v += (double)f.U.data()[i * r + k] * f.S.data()[k] * f.V.data()[j * r + k];
                CHECK_NEAR(v, a.data()[i * n + j], 1e-4);
            }
    }
}

TEST(svd_of_rank_deficient_and_tiny_matrices) {
    // rank 2 in a 6x4: two zero singular values, their U columns zero, V still orthonormal
    const Svd f = svd(with_singular_values(6, 4, {4.0, 1.0}, 3));
    CHECK_NEAR(f.S.data()[0], 4.0, 1e-4);
    CHECK_NEAR(f.S.data()[1], 1.0, 1e-4);
    CHECK(f.S.data()[2] < 1e-4 && f.S.data()[3] < 1e-4);
    CHECK(orthonormality_error(f.U, 2) < 1e-4);
    CHECK(orthonormality_error(f.V, 4) < 1e-4);
    const Svd one = svd(Tensor({1, 1}, {-3.0f}));
    CHECK_VALUES(one.S, 1e-6, {3.0f});
    CHECK_NEAR(one.U.item() * one.V.item(), -1.0, 1e-6);
    const Svd zero = svd(Tensor::zeros({3, 2}));
    CHECK_VALUES(zero.S, 0, {0.0f, 0.0f});
    CHECK_THROWS(svd(Tensor::zeros({0, 3})), "svd: expects a non-empty matrix");
    CHECK_THROWS(svd(Tensor::zeros({3})), "svd: expects a non-empty matrix");
}

TEST(low_rank_error_is_the_discarded_singular_values) {
    Generator g(4);
    Linear layer(12, 8, true, Init::Kaiming, g);
    const Svd f = svd(layer.weight.detach());
    CHECK_EQ(rank_for_energy(f.S, 1.0f), (int64_t)8);
    for (const int64_t rank : {1, 3, 8}) {
        auto two = low_rank(layer, rank);
        // the product of the two weights, against W: its squared error is the sum of the discarded S^2
        const Tensor w1 = dynamic_cast<Linear*>(two->layers[0].get())->weight, w2 = dynamic_cast<Linear*>(two->layers[1].get())->weight;
        const Tensor approx = matmul(w2, w1);
        double error = 0, discarded = 0;
        for (int64_t i = 0; i < approx.numel(); i++) error += std::pow((double)approx.data()[i] - layer.weight.data()[i], 2);
        for (int64_t k = rank; k < 8; k++) discarded += (double)f.S.data()[k] * f.S.data()[k];
        CHECK_NEAR(error, discarded, 1e-4 * (1 + discarded));
        CHECK_EQ(two->num_parameters(), rank * 12 + 8 * rank + 8);
    }
    CHECK_THROWS(low_rank(layer, 0), "low_rank: rank must be in [1, 8]");
    CHECK_THROWS(low_rank(layer, 9), "low_rank: rank must be in [1, 8]");
    CHECK_THROWS(rank_for_energy(f.S, 0.0f), "rank_for_energy: fraction must be in (0, 1]");
}

TEST(distillation_loss_values_and_gradient) {
    const Tensor s = rnd({4, 5}, 11), t = rnd({4, 5}, 12), y = Tensor({4}, {0, 3, 1, 4});
    // alpha 0: just the hard loss; a student equal to its teacher: no soft loss
    CHECK_NEAR(distillation_loss(s, t, y, 3.0f, 0.0f).item(), cross_entropy(s, y).item(), 1e-6);
    CHECK_NEAR(distillation_loss(t, t, y, 3.0f, 1.0f).item(), 0.0, 1e-6);
    // by hand for T = 2, alpha = 1: T^2 * mean_b sum_c p_t (log p_t - log p_s)
    double kl = 0;
    for (int64_t b = 0; b < 4; b++) {
        double zs = 0, zt = 0;
        for (int64_t c = 0; c < 5; c++) zs += std::exp(s.at({b, c}) / 2.0), zt += std::exp(t.at({b, c}) / 2.0);
        for (int64_t c = 0; c < 5; c++) {
            const double pt = std::exp(t.at({b, c}) / 2.0) / zt, ps = std::exp(s.at({b, c}) / 2.0) / zs;
            kl += pt * (std::log(pt) - std::log(ps));
        }
    }
    CHECK_NEAR(distillation_loss(s, t, y, 2.0f, 1.0f).item(), 4.0 * kl / 4, 1e-5);
    // the gradient, also through a non-contiguous student
    CHECK_GRAD([&](const std::vector<Tensor>& in) { return distillation_loss(in[0], t, y, 4.0f, 0.7f); },
               std::vector<Tensor>{s.clone().requires_grad_()}, 1e-2);
    CHECK_GRAD([&](const std::vector<Tensor>& in) { return distillation_loss(in[0].transpose(0, 1), t, y, 2.0f, 0.5f); },
               std::vector<Tensor>{rnd({5, 4}, 13).requires_grad_()}, 1e-2);
    CHECK_THROWS(distillation_loss(s, rnd({4, 6}, 1), y), "distillation_loss: student and teacher logits must both be [B,C]");
    CHECK_THROWS(distillation_loss(s, t, y, 0.0f), "distillation_loss: temperature must be > 0");
}

TEST_GIVEN(pruning_refuses_bad_sparsity) {
    Sequential model = mlp(5);
    CHECK_THROWS(magnitude_prune(model, 1.0f), "magnitude_prune: sparsity must be in [0, 1)");
    CHECK_THROWS(magnitude_prune(model, -0.1f), "magnitude_prune: sparsity must be in [0, 1)");
    Sequential none{ReLU()};
    CHECK_THROWS(magnitude_prune(none, 0.5f), "magnitude_prune: Sequential");
    CHECK_EQ(measure_sparsity(Tensor({4}, {0, 1, 0, 2})), 0.5f);
}
