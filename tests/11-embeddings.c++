// Lesson 11 · Embeddings: the lookup and its scatter-add backward (repeated
// ids add up), bad ids refused, learned and sinusoidal positions.
#include "test.h"

using namespace tt;
using Inputs = std::vector<Tensor>;

namespace {
Tensor random_table(int64_t v, int64_t d, uint64_t seed) {
    Generator g(seed);
    return Tensor::randn({v, d}, g);
}
} // namespace

TEST(embedding_gathers_rows_in_the_ids_shape) {
    Tensor table({4, 3}, {0, 1, 2, 10, 11, 12, 20, 21, 22, 30, 31, 32});
    Tensor ids({2, 2}, {3, 0, 1, 3});
    Tensor y = embedding(ids, table);
    CHECK_EQ(y.shape(), (Shape{2, 2, 3}));
    CHECK_VALUES(y, 0, {30, 31, 32, 0, 1, 2, 10, 11, 12, 30, 31, 32});
    // a non-contiguous ids tensor (a transposed view) reads the same ids
    CHECK_VALUES(embedding(ids.T(), table), 0, {30, 31, 32, 10, 11, 12, 0, 1, 2, 30, 31, 32});
}

TEST(embedding_backward_is_a_scatter_add) {
    // id 2 is used three times: its row's gradient is the sum of the three
    Tensor table = make_parameter(Tensor::zeros({5, 2}));
    Tensor ids({4}, {2, 0, 2, 2});
    Tensor y = embedding(ids, table);
    Tensor w({4, 2}, {1, 2, 3, 4, 5, 6, 7, 8});
    sum(y * w).backward();
    CHECK_VALUES(table.grad(), 0, {3, 4, 0, 0, 1 + 5 + 7, 2 + 6 + 8, 0, 0, 0, 0});
    Inputs in{random_table(6, 3, 1)};
    Tensor many({2, 5}, {0, 5, 5, 1, 0, 2, 2, 2, 3, 5});
    CHECK_GRAD([=](const Inputs& v) { return embedding(many, v[0]); }, in, 1e-2);
    // through a non-contiguous table (a transposed view of [3,6])
    Inputs t{random_table(3, 6, 2)};
    CHECK_GRAD([=](const Inputs& v) { return embedding(many, v[0].T()); }, t, 1e-2);
}

TEST_GIVEN(embedding_refuses_bad_ids) {
    Tensor table = Tensor::zeros({65, 4});
    CHECK_THROWS(embedding(Tensor({3}, {1, 65, 2}), table), "embedding: id 65 at position 1 is not a token of a vocabulary of 65 (ids are 0..64)");
    CHECK_THROWS(embedding(Tensor({1}, {-1}), table), "embedding: id -1 at position 0");
    CHECK_THROWS(embedding(Tensor({1}, {2.5f}), table), "embedding: id 2.5 at position 0");
    CHECK_THROWS(embedding(Tensor({1}, {NAN}), table), "embedding: id nan at position 0");
    CHECK_THROWS(embedding(Tensor({1}, {0}), Tensor::zeros({65})), "embedding: the table should be [V, D], got [65]");
    CHECK_THROWS(Embedding(0, 4), "Embedding: needs num_embeddings > 0");
}

TEST(embedding_module_counts_and_scales) {
    const int64_t before = memory_counts(Category::Parameters).live_bytes;
    Generator g(3);
    Embedding emb(10, 8, false, 0.02f, g);
    CHECK_EQ(memory_counts(Category::Parameters).live_bytes - before, 10 * 8 * 4);
    CHECK_EQ(emb.num_parameters(), 80);
    double sq = 0;
    for (float v : emb.weight.to_vector()) sq += (double)v * v;
    CHECK(std::sqrt(sq / 80) > 0.01 && std::sqrt(sq / 80) < 0.03); // N(0, 0.02^2)
    Tensor ids({3}, {1, 1, 9});
    Embedding scaled(10, 8, true, 0.02f, g);
    scaled.weight = emb.weight;
    const std::vector<float> a = emb(ids).to_vector(), b = scaled(ids).to_vector();
    for (size_t i = 0; i < a.size(); i++) CHECK(std::fabs(b[i] - a[i] * std::sqrt(8.0f)) < 1e-6);
    CHECK_EQ(scaled.name(), "Embedding(10, 8, scaled)");
}

TEST(sinusoidal_positions_follow_the_formula) {
    Tensor pe = sinusoidal_positions(50, 6);
    CHECK_EQ(pe.shape(), (Shape{50, 6}));
    for (int64_t t : {0, 1, 7, 49})
        for (int64_t c = 0; c < 6; c++) {
            const double angle = (double)t / std::pow(10000.0, (double)(c - c % 2) / 6);
            CHECK(std::fabs(pe.at({t, c}) - (c % 2 ? std::cos(angle) : std::sin(angle))) < 1e-6);
        }
    // row 0 is sin 0, cos 0, ...; an odd width ends on a sine column
    CHECK_VALUES(sinusoidal_positions(1, 3), 1e-7, {0, 1, 0});
    CHECK_THROWS(sinusoidal_positions(0, 4), "sinusoidal_positions: length and dim must be positive");
}

TEST(positions_make_a_repeated_token_differ) {
    Generator g(4);
    Embedding tokens(5, 4, false, 1.0f, g);
    for (Positions kind : {Positions::Learned, Positions::Sinusoidal}) {
        PositionalEmbedding pos(8, 4, kind, 0.5f, g);
        Tensor x = pos(tokens(Tensor({1, 3}, {2, 2, 2}))); // [1,3,4]: one token three times
        CHECK_EQ(x.shape(), (Shape{1, 3, 4}));
        double diff = 0;
        for (int64_t c = 0; c < 4; c++) diff += std::fabs(x.at({0, 0, c}) - x.at({0, 2, c}));
        CHECK(diff > 1e-3);
        CHECK_EQ((int64_t)pos.parameters().size(), kind == Positions::Learned ? 1 : 0);
        CHECK_THROWS(pos(Tensor::zeros({1, 9, 4})), "PositionalEmbedding: T = 9 is past max_len = 8");
        CHECK_THROWS(pos(Tensor::zeros({1, 3, 5})), "PositionalEmbedding: expects [B, T, 4], got [1,3,5]");
    }
    // gradients reach both the token table and the learned positions
    Inputs in{random_table(5, 4, 5), random_table(8, 4, 6)};
    Tensor ids({2, 3}, {0, 4, 4, 1, 0, 3});
    CHECK_GRAD([=](const Inputs& v) { return embedding(ids, v[0]) + v[1].slice(0, 0, 3); }, in, 1e-2);
}
