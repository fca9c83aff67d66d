// Lesson 13 · Transformers: layer_norm by hand, against its definition and
// under a large offset, its gradient (also on strided input); the block as
// its pieces; GPT's parameter counts by hand, its gradient by finite
// differences, causality exactly, generate's determinism and context crop,
// the errors, and a tiny GPT that learns a sequence by heart.
#include "test.h"

using namespace tt;
using Inputs = std::vector<Tensor>;

namespace {
// (x - mean) / sqrt(var + eps) * w + b from Lesson 01's ops: the definition.
Tensor reference_layer_norm(const Tensor& x, const Tensor& w, const Tensor& b, float eps) {
    const Tensor centred = x - mean(x, -1, true);
    return centred / sqrt(mean(centred * centred, -1, true) + eps) * w + b;
}
GPTConfig tiny_config() {
    GPTConfig c;
    c.vocab_size = 11, c.block_size = 8, c.n_layer = 2, c.n_head = 2, c.n_embd = 8;
    return c;
}
Tensor ids_tensor(const std::vector<int64_t>& ids) {
    return Tensor({1, (int64_t)ids.size()}, std::vector<float>(ids.begin(), ids.end()));
}
// Mean cross-entropy of predicting ids[t+1] from ids[0..t].
Tensor next_token_loss(GPT& gpt, const std::vector<int64_t>& ids) {
    const int64_t T = (int64_t)ids.size() - 1;
    const Tensor x = ids_tensor(std::vector<int64_t>(ids.begin(), ids.end() - 1));
    const Tensor y = Tensor({T}, std::vector<float>(ids.begin() + 1, ids.end()));
    return cross_entropy(gpt(x).view({T, gpt.config.vocab_size}), y);
}
} // namespace

TEST(layer_norm_values) {
    // rows [1,2,3] and [2,2,2]: mean 2, var 2/3; and a constant row -> 0
    Tensor x({2, 3}, {1, 2, 3, 2, 2, 2});
    const float r = 1.0f / std::sqrt(2.0f / 3.0f + 1e-5f);
    CHECK_VALUES(layer_norm(x, Tensor(), Tensor()), 1e-5, {-r, 0, r, 0, 0, 0});
    CHECK_VALUES(layer_norm(x, Tensor({3}, {1, 2, 3}), Tensor({3}, {0, 1, 0})), 1e-5, {-r, 1, 3 * r, 0, 1, 0});
    const Tensor a = test::rnd({3, 4, 5}, 1), w = test::rnd({5}, 2), b = test::rnd({5}, 3);
    CHECK_VALUES(layer_norm(a, w, b), 1e-5, reference_layer_norm(a, w, b, 1e-5f).to_vector());
    // a large offset: the two-pass variance still sees the spread of 1e-3
    Tensor big({1, 4}, {10000.000f, 10000.001f, 10000.002f, 10000.003f});
    const std::vector<float> v = big.to_vector();
    double m = 0, var = 0;
    for (float e : v) m += e / 4.0;
    for (float e : v) var += (e - m) * (e - m) / 4.0;
    const Tensor y = layer_norm(big, Tensor(), Tensor(), 1e-12f);
    for (int64_t j = 0; j < 4; j++) CHECK_NEAR(y.at({0, j}), (v[j] - m) / std::sqrt(var), 1e-3);
}

TEST(layer_norm_gradients) {
    uint64_t seed = 10;
    for (const Shape& s : {Shape{2, 5}, Shape{3, 2, 4}, Shape{70, 3}}) { // 70 rows: two tasks
        const int64_t C = s.back();
        Inputs in{test::rnd(s, seed++) * 2.0f, test::rnd({C}, seed++) + 1.0f, test::rnd({C}, seed++)};
        CHECK_GRAD([](const Inputs& v) { return layer_norm(v[0], v[1], v[2]); }, in, 1e-2);
        CHECK_GRAD([](const Inputs& v) { return layer_norm(v[0], Tensor(), Tensor()); }, Inputs{in[0]}, 1e-2);
    }
    // strided input: the normalised axis is a transposed one
    CHECK_GRAD([](const Inputs& v) { return layer_norm(v[0].transpose(0, 1), v[1], v[2]); },
               (Inputs{test::rnd({3, 4}, 20), test::rnd({3}, 21), test::rnd({3}, 22)}), 1e-2);
}

TEST_GIVEN(layer_norm_errors) {
    CHECK_THROWS(layer_norm(Tensor::zeros({2, 3}), Tensor::ones({4}), Tensor()), "layer_norm: weight [4] should be [3]");
    CHECK_THROWS(layer_norm(Tensor::zeros({2, 3}), Tensor(), Tensor::ones({2})), "layer_norm: bias [2] should be [3]");
    CHECK_THROWS(layer_norm(Tensor::scalar(1), Tensor(), Tensor()), "layer_norm: x must have at least one axis");
    CHECK_THROWS(LayerNorm(0), "LayerNorm: needs dim > 0");
    CHECK_EQ(LayerNorm(6).num_parameters(), 12);
    CHECK_EQ(LayerNorm(6, 1e-5f, false).num_parameters(), 6);
}

TEST(block_is_its_pieces) {
    Generator g(3);
    Block block(8, 2, 0, true, true, g);
    const Tensor x = test::rnd({2, 5, 8}, 30);
    const Tensor h = x + block.attn(block.ln1(x));
    const Tensor expected = h + linear(gelu(linear(block.ln2(h), block.fc1.weight, block.fc1.bias)), block.fc2.weight, block.fc2.bias);
    CHECK_VALUES(block(x), 1e-5, expected.to_vector());
    CHECK_EQ(block.num_parameters(), (int64_t)(2 * 16 + (8 * 24 + 24 + 8 * 8 + 8) + (8 * 32 + 32 + 32 * 8 + 8)));
    // the gradient with respect to the input, through every sublayer
    auto shared = std::make_shared<Block>(4, 2, 0, true, true, g);
    CHECK_GRAD([shared](const Inputs& v) { return (*shared)(v[0]); }, Inputs{test::rnd({2, 3, 4}, 31)}, 1e-2);
}

TEST_GIVEN(gpt_parameter_counts_by_hand) {
    Generator g(4);
    GPT gpt(tiny_config(), g);
    const ParameterCounts n = gpt.parameter_counts();
    CHECK_EQ(n.embeddings, 11 * 8 + 8 * 8);
    CHECK_EQ(n.attention, 2 * (8 * 24 + 24 + 8 * 8 + 8));
    CHECK_EQ(n.mlp, 2 * (8 * 32 + 32 + 32 * 8 + 8));
    CHECK_EQ(n.layer_norms, 2 * 2 * 16 + 16);
    CHECK_EQ(n.head, 11 * 8);
    CHECK_EQ(n.total(), gpt.num_parameters());
    GPTConfig c = tiny_config();
    c.tie_weights = true, c.bias = false;
    GPT tied(c, g);
    CHECK_EQ(tied.parameter_counts().head, 0);
    CHECK_EQ(tied.parameter_counts().layer_norms, 2 * 2 * 8 + 8);
    CHECK_EQ(tied.num_parameters(), 11 * 8 + 8 * 8 + 2 * (8 * 24 + 8 * 8 + 8 * 32 + 32 * 8) + 5 * 8);
    CHECK(tied.head.shares_storage(tied.token_embedding));
    // decay: the Linears' matrices and the head; the rest not (embeddings on request)
    CHECK_EQ(gpt.decay_parameters().size(), (size_t)(2 * 4 + 1));
    CHECK_EQ(gpt.decay_parameters().size() + gpt.no_decay_parameters().size(), gpt.parameters().size());
    CHECK_EQ(gpt.decay_parameters(true).size(), (size_t)(2 * 4 + 3));
    // GPT-2's initialisation: the residual projections are 1/sqrt(2 n_layer) narrower
    GPTConfig wide = tiny_config();
    wide.n_embd = 64, wide.n_head = 4;
    GPT big(wide, g);
    auto stddev = [](const Tensor& t) {
        double s = 0;
        for (float v : t.to_vector()) s += (double)v * v;
        return std::sqrt(s / (double)t.numel());
    };
    CHECK_NEAR(stddev(big.blocks[0]->fc1.weight), 0.02, 0.002);
    CHECK_NEAR(stddev(big.blocks[0]->fc2.weight), 0.01, 0.001);
    CHECK_NEAR(stddev(big.token_embedding), 0.02, 0.002);
    CHECK_EQ(big.blocks[1]->attn.qkv.bias.to_vector(), std::vector<float>(3 * 64, 0.0f));
}

TEST(gpt_gradient_by_finite_differences) {
    Generator g(5);
    GPTConfig c;
    c.vocab_size = 5, c.block_size = 4, c.n_layer = 1, c.n_head = 2, c.n_embd = 4;
    GPT gpt(c, g);
    // larger weights than GPT-2's init, so that every path carries a gradient worth checking
    for (Tensor& p : gpt.parameters()) {
        const Tensor r = test::rnd(p.shape(), (uint64_t)p.numel());
        for (int64_t i = 0; i < p.numel(); i++) p.data()[i] += 0.3f * r.data()[i];
    }
    const std::vector<int64_t> ids{1, 4, 2, 0, 3};
    gpt.zero_grad();
    next_token_loss(gpt, ids).backward();
    double worst = 0;
    for (Tensor& p : gpt.parameters()) {
        const Tensor analytic = p.grad();
        for (int64_t i = 0; i < p.numel(); i++) {
            NoGrad no_tape;
            const float saved = p.data()[i];
            p.data()[i] = saved + 1e-2f;
            const double plus = next_token_loss(gpt, ids).item();
            p.data()[i] = saved - 1e-2f;
            const double minus = next_token_loss(gpt, ids).item();
            p.data()[i] = saved;
            const double numeric = (plus - minus) / 2e-2;
            worst = std::max(worst, std::fabs(numeric - analytic.data()[i]));
        }
    }
    CHECK(worst < 2e-3);
}

TEST(gpt_is_causal) {
    Generator g(6);
    GPT gpt(tiny_config(), g);
    std::vector<int64_t> ids{3, 1, 4, 1, 5, 9, 2, 6};
    const Tensor before = gpt(ids_tensor(ids));
    CHECK_EQ(before.shape(), (Shape{1, 8, 11}));
    ids[5] = 7; // a future token for positions 0..4
    const Tensor after = gpt(ids_tensor(ids));
    CHECK_EQ(before.slice(1, 0, 5).to_vector(), after.slice(1, 0, 5).to_vector()); // exactly
    CHECK(before.slice(1, 5, 6).to_vector() != after.slice(1, 5, 6).to_vector());
}

TEST(gpt_generate_is_deterministic) {
    Generator g(7);
    GPT gpt(tiny_config(), g);
    const std::vector<int64_t> a = gpt.generate({1, 2}, 20, 1.0f, 0, 123), b = gpt.generate({1, 2}, 20, 1.0f, 0, 123);
    CHECK_EQ(a.size(), (size_t)22); // longer than block_size: the context is cropped
    CHECK(a == b);
    CHECK(a != gpt.generate({1, 2}, 20, 1.0f, 0, 124));
    CHECK(std::vector<int64_t>(a.begin(), a.begin() + 2) == (std::vector<int64_t>{1, 2}));
    for (int64_t t : a) CHECK(t >= 0 && t < 11);
    // greedy: each new token is the argmax of the last position's logits
    const std::vector<int64_t> greedy = gpt.generate({4}, 3, 0.0f);
    NoGrad no_tape;
    for (size_t n = 1; n < greedy.size(); n++) {
        const Tensor logits = gpt(ids_tensor(std::vector<int64_t>(greedy.begin(), greedy.begin() + n)));
        CHECK_EQ((int64_t)argmax(logits.slice(1, n - 1, n).reshape({11})).item(), greedy[n]);
    }
    // top_k = 1 is greedy whatever the temperature
    CHECK(gpt.generate({4}, 3, 5.0f, 1, 9) == greedy);
    CHECK(gpt.training); // generate leaves the mode as it found it
}

TEST_GIVEN(gpt_errors) {
    Generator g(8);
    GPT gpt(tiny_config(), g);
    CHECK_THROWS(gpt(Tensor::zeros({1, 9})), "GPT: sequence length T=9 is beyond the context, block_size=8");
    CHECK_THROWS(gpt(Tensor::zeros({4})), "GPT: expects ids [B,T]");
    CHECK_THROWS(gpt.generate({}, 5), "GPT::generate: the prompt is empty");
    CHECK_THROWS(gpt.generate({1}, 5, -1.0f), "GPT::generate: needs max_new_tokens >= 0, temperature >= 0");
    GPTConfig c = tiny_config();
    c.n_head = 3;
    CHECK_THROWS(GPT(c, g), "n_embd a multiple of n_head");
}

TEST(gpt_refuses_ids_that_are_not_tokens) {
    Generator g(10);
    GPT gpt(tiny_config(), g);
    CHECK_THROWS(gpt(Tensor({1, 2}, {1, 11})), "embedding: id 11 at position 1 is not a token of a vocabulary of 11");
    CHECK_THROWS(gpt(Tensor({1, 2}, {1, 0.5f})), "embedding: id 0.5 at position 1");
}

TEST(tiny_gpt_learns_a_sequence) {
    Generator g(9);
    GPTConfig c;
    c.vocab_size = 6, c.block_size = 8, c.n_layer = 1, c.n_head = 2, c.n_embd = 16;
    GPT gpt(c, g);
    const std::vector<int64_t> text{0, 3, 1, 4, 1, 5, 2, 5, 3}; // 1 and 5 are followed by different tokens
    AdamW opt(gpt.parameters(), 1e-2f, 0.9f, 0.999f, 1e-8f, 0.01f);
    opt.exclude_from_weight_decay(gpt.no_decay_parameters());
    float loss = 0;
    for (int step = 0; step < 150; step++) {
        opt.zero_grad();
        const Tensor l = next_token_loss(gpt, text);
        l.backward();
        opt.step();
        loss = l.item();
    }
    CHECK(loss < 0.05f);
    CHECK(gpt.generate({0}, 8, 0.0f) == text);
}
