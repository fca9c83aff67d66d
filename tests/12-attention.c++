// Lesson 12 · Attention: the fused op against attention built from generic
// ops (matmul, softmax), gradient checks (contiguous and strided inputs,
// causal, padding, fewer queries than keys, more rows than one block), a
// query with nothing to see, the weights, MultiHeadAttention, and the errors.
#include "test.h"

using namespace tt;
using Inputs = std::vector<Tensor>;

namespace {
// The mask as an additive tensor [B,1,Tq,Tk]: 0 where visible, -1e9 where hidden.
Tensor additive_mask(int64_t B, int64_t Tq, int64_t Tk, bool causal, const Tensor& pad) {
    Tensor m = Tensor::zeros({B, 1, Tq, Tk});
    for (int64_t b = 0; b < B; b++)
        for (int64_t i = 0; i < Tq; i++)
            for (int64_t j = 0; j < Tk; j++)
                if ((causal && j > i + Tk - Tq) || (pad.defined() && pad.at({b, j}) != 0)) m.set({b, 0, i, j}, -1e9f);
    return m;
}
// softmax(q k^T / sqrt(D) + mask) v from Lesson 01-02's ops: the definition.
Tensor reference_attention(const Tensor& q, const Tensor& k, const Tensor& v, bool causal, const Tensor& pad = Tensor()) {
    const float scale = 1.0f / std::sqrt((float)q.size(3));
    const Tensor mask = additive_mask(q.size(0), q.size(2), k.size(2), causal, pad);
    return matmul(softmax(matmul(q, k.transpose(-2, -1)) * scale + mask, -1), v);
}
struct Case {
    int64_t B, H, Tq, Tk, D, Dv;
    bool causal;
};
// one row block and several (40 and 70 rows: blocks of 32, the last one short), Tq < Tk, Dv != D
const Case cases[] = {{1, 1, 3, 3, 2, 2, false}, {2, 2, 4, 4, 3, 3, true}, {1, 2, 3, 5, 2, 3, true},
                      {2, 1, 2, 6, 4, 2, false}, {1, 1, 40, 40, 2, 2, true}, {1, 2, 35, 70, 2, 3, true}};
} // namespace

TEST(attention_matches_its_definition) {
    uint64_t seed = 1;
    for (const Case& c : cases) {
        const Tensor q = test::rnd({c.B, c.H, c.Tq, c.D}, seed++), k = test::rnd({c.B, c.H, c.Tk, c.D}, seed++), v = test::rnd({c.B, c.H, c.Tk, c.Dv}, seed++);
        const Tensor y = scaled_dot_product_attention(q, k, v, c.causal);
        CHECK_EQ(y.shape(), (Shape{c.B, c.H, c.Tq, c.Dv}));
        CHECK_VALUES(y, 1e-5, reference_attention(q, k, v, c.causal).to_vector());
    }
    // by hand: one query, two keys with scores 0 and ln 3 * sqrt(2) / sqrt(2): weights 1/4, 3/4
    const float s = std::log(3.0f) * std::sqrt(2.0f);
    Tensor q({1, 1, 1, 2}, {1, 0}), k({1, 1, 2, 2}, {0, 0, s, 0}), v({1, 1, 2, 1}, {4, 8});
    Tensor w;
    CHECK_VALUES(scaled_dot_product_attention(q, k, v, false, Tensor(), &w), 1e-5, {0.25f * 4 + 0.75f * 8});
    CHECK_VALUES(w, 1e-6, {0.25f, 0.75f});
}

TEST(attention_gradients) {
    uint64_t seed = 100;
    for (const Case& c : cases) {
        if (c.Tq * c.Tk > 1000) continue; // the long ones are checked against the definition below
        const bool causal = c.causal;
        Inputs in{test::rnd({c.B, c.H, c.Tq, c.D}, seed++), test::rnd({c.B, c.H, c.Tk, c.D}, seed++), test::rnd({c.B, c.H, c.Tk, c.Dv}, seed++)};
        CHECK_GRAD([=](const Inputs& x) { return scaled_dot_product_attention(x[0], x[1], x[2], causal); }, in, 1e-2);
    }
    // strided operands: q, k, v as transposed views of [B,T,H,D] tensors, read in place
    Inputs in{test::rnd({2, 3, 2, 3}, 7), test::rnd({2, 4, 2, 3}, 8), test::rnd({2, 4, 2, 2}, 9)};
    CHECK_GRAD([](const Inputs& x) {
        return scaled_dot_product_attention(x[0].transpose(1, 2), x[1].transpose(1, 2), x[2].transpose(1, 2), true);
    }, in, 1e-2);
    // a padding mask: batch 0 hides key 3, batch 1 keys 0 and 2
    const Tensor pad({2, 4}, {0, 0, 0, 1, 1, 0, 1, 0});
    CHECK_GRAD([pad](const Inputs& x) {
        return scaled_dot_product_attention(x[0].transpose(1, 2), x[1].transpose(1, 2), x[2].transpose(1, 2), false, pad);
    }, in, 1e-2);
}

TEST(attention_gradients_over_several_blocks) {
    // 35 queries after 35 earlier keys (Tq < Tk) with padding, causal: the backward
    // of blocks that skip keys, against the backward of the definition
    const int64_t B = 2, H = 2, Tq = 35, Tk = 70, D = 3;
    Tensor pad = Tensor::zeros({B, Tk});
    pad.set({1, 5}, 1);
    pad.set({1, 50}, 1);
    const Tensor q0 = test::rnd({B, H, Tq, D}, 11), k0 = test::rnd({B, H, Tk, D}, 12), v0 = test::rnd({B, H, Tk, D}, 13), dy = test::rnd({B, H, Tq, D}, 14);
    Tensor q1 = q0.clone().requires_grad_(), k1 = k0.clone().requires_grad_(), v1 = v0.clone().requires_grad_();
    Tensor q2 = q0.clone().requires_grad_(), k2 = k0.clone().requires_grad_(), v2 = v0.clone().requires_grad_();
    Tensor y1 = scaled_dot_product_attention(q1, k1, v1, true, pad);
    y1.backward(dy);
    Tensor y2 = reference_attention(q2, k2, v2, true, pad);
    CHECK_VALUES(y1, 1e-5, y2.to_vector());
    y2.backward(dy);
    CHECK_VALUES(q1.grad(), 1e-4, q2.grad().to_vector());
    CHECK_VALUES(k1.grad(), 1e-4, k2.grad().to_vector());
    CHECK_VALUES(v1.grad(), 1e-4, v2.grad().to_vector());
}

TEST(attention_causal_weights_and_empty_rows) {
    Tensor w;
    const Tensor q = test::rnd({1, 1, 5, 2}, 21), k = test::rnd({1, 1, 5, 2}, 22), v = test::rnd({1, 1, 5, 2}, 23);
    scaled_dot_product_attention(q, k, v, true, Tensor(), &w);
    CHECK_EQ(w.shape(), (Shape{1, 1, 5, 5}));
    for (int64_t i = 0; i < 5; i++) {
        float total = 0;
        for (int64_t j = 0; j < 5; j++) {
            total += w.at({0, 0, i, j});
            if (j > i) CHECK_EQ(w.at({0, 0, i, j}), 0.0f);
        }
        CHECK_NEAR(total, 1.0f, 1e-6);
    }
    // more queries than keys under a causal mask: the first Tq - Tk queries see nothing
    Tensor q2 = test::rnd({1, 1, 4, 2}, 24).requires_grad_(), k2 = test::rnd({1, 1, 2, 2}, 25).requires_grad_(), v2 = test::rnd({1, 1, 2, 2}, 26).requires_grad_();
    Tensor y = scaled_dot_product_attention(q2, k2, v2, true);
    CHECK_VALUES(y.slice(2, 0, 2), 0, {0, 0, 0, 0});
    CHECK_VALUES(y.slice(2, 3, 4), 1e-6, matmul(softmax(matmul(q2.detach().slice(2, 3, 4), k2.detach().T()) / std::sqrt(2.0f)), v2.detach()).to_vector());
    // every key of batch 1 hidden: its output is 0, not NaN, and so are its gradients
    Tensor q3 = test::rnd({2, 1, 3, 2}, 27).requires_grad_(), k3 = test::rnd({2, 1, 3, 2}, 28).requires_grad_(), v3 = test::rnd({2, 1, 3, 2}, 29).requires_grad_();
    Tensor y3 = scaled_dot_product_attention(q3, k3, v3, false, Tensor({2, 3}, {0, 0, 0, 1, 1, 1}));
    CHECK_VALUES(y3.slice(0, 1, 2), 0, {0, 0, 0, 0, 0, 0});
    sum(y3).backward();
    CHECK_VALUES(q3.grad().slice(0, 1, 2), 0, {0, 0, 0, 0, 0, 0});
    CHECK_VALUES(v3.grad().slice(0, 1, 2), 0, {0, 0, 0, 0, 0, 0});
    for (float g : k3.grad().to_vector()) CHECK(std::isfinite(g));
}

TEST(attention_output_merges_heads_for_free) {
    const Tensor y = scaled_dot_product_attention(test::rnd({2, 3, 4, 5}, 31), test::rnd({2, 3, 4, 5}, 32), test::rnd({2, 3, 4, 5}, 33));
    const Tensor merged = y.transpose(1, 2);
    CHECK(merged.is_contiguous());
    CHECK(merged.view({2, 4, 15}).shares_storage(y));
}

TEST(multi_head_attention_op_is_attention_over_column_blocks) {
    // qkv [B,T,3C], C = 6, 2 heads of 3: the fused op against views + scaled_dot_product_attention
    const int64_t B = 2, T = 5, C = 6, H = 2;
    const Tensor pad({B, T}, {0, 0, 0, 0, 0, 0, 1, 0, 0, 1});
    auto spelled_out = [=](const Tensor& qkv, bool causal) {
        const Tensor heads = qkv.view({B, T, 3 * H, C / H}).transpose(1, 2); // [B,3H,T,D]
        const Tensor y = scaled_dot_product_attention(heads.slice(1, 0, H), heads.slice(1, H, 2 * H), heads.slice(1, 2 * H, 3 * H), causal, pad);
        return y.transpose(1, 2).reshape({B, T, C});
    };
    for (bool causal : {false, true}) {
        const Tensor qkv0 = test::rnd({B, T, 3 * C}, causal ? 61 : 62), dy = test::rnd({B, T, C}, 63);
        Tensor a = qkv0.clone().requires_grad_(), b = qkv0.clone().requires_grad_();
        Tensor w;
        Tensor ya = multi_head_attention(a, H, causal, pad, &w);
        ya.backward(dy); // one backward at a time: backward() clears the whole tape
        Tensor yb = spelled_out(b, causal);
        yb.backward(dy);
        CHECK_VALUES(ya, 1e-6, yb.to_vector());
        CHECK_EQ(w.shape(), (Shape{B, H, T, T}));
        CHECK_VALUES(a.grad(), 1e-5, b.grad().to_vector());
        CHECK_GRAD([=](const Inputs& x) { return multi_head_attention(x[0], H, causal, pad); }, Inputs{qkv0}, 1e-2);
    }
    // a strided qkv is read through a copy, with the same answer
    const Tensor wide = test::rnd({B, T, 3 * C + 2}, 64);
    CHECK_VALUES(multi_head_attention(wide.slice(2, 1, 3 * C + 1), H, true), 1e-6,
                 multi_head_attention(wide.slice(2, 1, 3 * C + 1).contiguous(), H, true).to_vector());
}

TEST_GIVEN(attention_errors) {
    const Tensor q = Tensor::zeros({1, 2, 3, 4});
    CHECK_THROWS(scaled_dot_product_attention(Tensor::zeros({2, 3, 4}), q, q), "scaled_dot_product_attention: q, k and v must be 4-d");
    CHECK_THROWS(scaled_dot_product_attention(q, Tensor::zeros({1, 2, 3, 5}), q), "shapes do not fit");
    CHECK_THROWS(scaled_dot_product_attention(q, q, Tensor::zeros({1, 3, 3, 4})), "shapes do not fit");
    CHECK_THROWS(scaled_dot_product_attention(q, q, Tensor::zeros({1, 2, 4, 4})), "shapes do not fit");
    CHECK_THROWS(scaled_dot_product_attention(q, q, q, false, Tensor::zeros({1, 4})), "key_padding_mask [1,4] should be [B,Tk] = [1,3]");
    CHECK_THROWS(multi_head_attention(Tensor::zeros({2, 3, 10}), 2), "multi_head_attention: qkv must be [B,T,3C] with C a multiple of heads=2, got [2,3,10]");
    CHECK_THROWS(multi_head_attention(Tensor::zeros({2, 3, 12}), 2, false, Tensor::zeros({3, 3})), "multi_head_attention: key_padding_mask [3,3] should be [B,Tk] = [2,3]");
    CHECK_THROWS(MultiHeadAttention(10, 3), "MultiHeadAttention: dim must be a positive multiple of heads, got dim=10 heads=3");
    CHECK_THROWS(MultiHeadAttention(8, 0), "dim must be a positive multiple of heads");
    MultiHeadAttention mha(8, 2);
    CHECK_THROWS(mha(Tensor::zeros({2, 3, 6})), "MultiHeadAttention(8, heads=2): expects x [B,T,8], got [2,3,6]");
    CHECK_THROWS(mha(Tensor::zeros({3, 8})), "expects x [B,T,8]");
    CHECK_THROWS(mha.forward(Tensor::zeros({2, 3, 8}), Tensor::zeros({2, 4})), "MultiHeadAttention(8, heads=2): key_padding_mask [2,4] should be [B,T] = [2,3]");
}

TEST(multi_head_attention_is_heads_of_attention) {
    Generator g(5);
    MultiHeadAttention mha(6, 2, true, 0, true, g);
    CHECK_EQ(mha.num_parameters(), 6 * 18 + 18 + 6 * 6 + 6);
    CHECK_EQ(mha.name(), std::string("MultiHeadAttention(6, heads=2, causal)"));
    const Tensor x = test::rnd({2, 4, 6}, 41);
    mha.keep_weights = true;
    const Tensor y = mha(x);
    CHECK_EQ(y.shape(), (Shape{2, 4, 6}));
    CHECK_EQ(mha.weights.shape(), (Shape{2, 2, 4, 4}));
    // the same thing spelled out: project, cut each head's columns, attend, concatenate, project
    const Tensor qkv = linear(x, mha.qkv.weight, mha.qkv.bias); // [B,T,18]
    std::vector<Tensor> heads;
    for (int64_t h = 0; h < 2; h++) {
        const Tensor q = qkv.slice(2, 3 * h, 3 * h + 3), k = qkv.slice(2, 6 + 3 * h, 6 + 3 * h + 3), v = qkv.slice(2, 12 + 3 * h, 12 + 3 * h + 3);
        heads.push_back(matmul(softmax(matmul(q, k.T()) / std::sqrt(3.0f) + additive_mask(2, 4, 4, true, Tensor()).view({2, 4, 4})), v));
    }
    CHECK_VALUES(y, 1e-5, linear(concat(heads, 2), mha.proj.weight, mha.proj.bias).to_vector());
}

TEST(multi_head_attention_gradients) {
    Generator g(6);
    auto mha = std::make_shared<MultiHeadAttention>(4, 2, true, 0, true, g);
    const Tensor pad({2, 3}, {0, 0, 0, 0, 1, 0});
    Inputs in{test::rnd({2, 3, 4}, 51), mha->qkv.weight, mha->qkv.bias, mha->proj.weight, mha->proj.bias};
    // the checker's fresh leaves become the module's parameters
    auto f = [mha, pad](const Inputs& v) {
        mha->qkv.weight = v[1], mha->qkv.bias = v[2], mha->proj.weight = v[3], mha->proj.bias = v[4];
        return mha->forward(v[0], pad);
    };
    CHECK_GRAD(f, in, 1e-2);
    mha->causal = false;
    CHECK_GRAD(f, in, 1e-2);
}
