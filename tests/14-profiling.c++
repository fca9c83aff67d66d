// Lesson 14 · Profiling: the flops that Linear, Conv2d and attention count
// against the hand-computed values, forward and backward; the bytes and the
// allocations of a row; times that are non-negative and whose self parts add
// up to the wall time within the profiler's own overhead; module rows of a
// Sequential; the latency helper, Amdahl's law and the roofline.
#include "test.h"

using namespace tt;

namespace {
// The row of `name` in `rows` for one pass; fails the test if there is none.
ProfileRow row_named(const std::vector<ProfileRow>& rows, const std::string& name, bool backward) {
    for (const ProfileRow& r : rows)
        if (r.name == name && r.backward == backward) return r;
    throw test::Failure("no " + std::string(backward ? "backward" : "forward") + " row named " + name);
}
} // namespace

TEST(profile_linear_flops_bytes_allocations) {
    Generator g(1);
    Linear layer(20, 30, true, Init::Kaiming, g);
    const Tensor x = Tensor::randn({8, 20}, g).requires_grad_(true);
    Profiler p;
    Tensor y = layer(x);
    sum(y).backward();
    p.stop();
    const std::vector<ProfileRow> rows = p.ops();
    const ProfileRow fwd = row_named(rows, "linear", false), bwd = row_named(rows, "linear", true);
    // forward: 2*B*in*out for the product, B*out for the bias
    CHECK_EQ(fwd.calls, 1);
    CHECK_EQ(fwd.flops, 2.0 * 8 * 20 * 30 + 8 * 30);
    CHECK_EQ(fwd.bytes_read, 4.0 * (8 * 20 + 30 * 20 + 30));
    CHECK_EQ(fwd.bytes_written, 4.0 * 8 * 30);
    CHECK_EQ(fwd.allocated[(int)Category::Activations], 4 * 8 * 30); // y and nothing else
    // backward: one product for dx and one for dW; db is the sum's own row
    CHECK_EQ(bwd.flops, 2 * 2.0 * 8 * 20 * 30);
    CHECK_EQ(row_named(rows, "sum", true).flops, 8.0 * 30);
    CHECK(bwd.allocated[(int)Category::Gradients] >= 4 * (8 * 20 + 30 * 20));
    CHECK_NEAR(fwd.intensity(), fwd.flops / (fwd.bytes_read + fwd.bytes_written), 1e-12);
}

TEST(profile_conv2d_flops) {
    Generator g(2);
    Conv2d conv(3, 4, 3, 1, 1, true, g); // 3 -> 4 channels, 3x3, padding 1: 8x8 -> 8x8
    const Tensor x = Tensor::randn({2, 3, 8, 8}, g).requires_grad_(true);
    Profiler p;
    sum(conv(x)).backward();
    p.stop();
    const std::vector<ProfileRow> rows = p.ops();
    const double per_product = 2.0 * 2 * 4 * (8 * 8) * (3 * 3 * 3); // 2 * B * O * OH*OW * C*kh*kw
    CHECK_EQ(row_named(rows, "conv2d", false).flops, per_product);
    CHECK_EQ(row_named(rows, "conv2d", true).flops, 2 * per_product + 2.0 * 4 * 64); // dW, dx, db
    // a strided conv without padding: 9x9 -> 4x4 with stride 2
    Conv2d strided(3, 5, 3, 2, 0, false, g);
    Profiler q;
    strided(Tensor::randn({1, 3, 9, 9}, g));
    q.stop();
    CHECK_EQ(row_named(q.ops(), "conv2d", false).flops, 2.0 * 1 * 5 * 16 * 27);
}

TEST(profile_attention_flops) {
    Generator g(3);
    // B 2, H 3, Tq 16, Tk 20, D 8, Dv 4, no mask: per score 2D + 5 + 2Dv
    const Tensor q = Tensor::randn({2, 3, 16, 8}, g).requires_grad_(true);
    const Tensor k = Tensor::randn({2, 3, 20, 8}, g).requires_grad_(true);
    const Tensor v = Tensor::randn({2, 3, 20, 4}, g).requires_grad_(true);
    {
        Profiler p;
        sum(scaled_dot_product_attention(q, k, v)).backward();
        p.stop();
        const double scores = 2.0 * 3 * 16 * 20;
        CHECK_EQ(row_named(p.ops(), "scaled_dot_product_attention", false).flops, scores * (2 * 8 + 5 + 2 * 4));
        // backward: dP 2Dv, dS 5, dq 2D, dk 2D, dv 2Dv per score
        CHECK_EQ(row_named(p.ops(), "scaled_dot_product_attention", true).flops, scores * (2 * 4 + 5 + 2 * 8 + 2 * 8 + 2 * 4));
    }
    {
        // causal, T = 64 in blocks of 32 query rows: the first block computes 32 keys,
        // the second 64, so 32*32 + 32*64 scores per head instead of 64*64
        const Tensor qc = Tensor::randn({1, 2, 64, 8}, g);
        Profiler p;
        scaled_dot_product_attention(qc, qc, qc, true);
        p.stop();
        CHECK_EQ(row_named(p.ops(), "scaled_dot_product_attention", false).flops, 2.0 * (32 * 32 + 32 * 64) * (2 * 8 + 5 + 2 * 8));
    }
    {
        // a MultiHeadAttention module: C 8, H 2, D 4, T 6: the fused op's scores are B*H*T*T
        MultiHeadAttention mha(8, 2, true, 0, true, g);
        Profiler p;
        mha(Tensor::randn({3, 6, 8}, g));
        p.stop();
        const std::vector<ProfileRow> rows = p.ops();
        CHECK_EQ(row_named(rows, "multi_head_attention", false).flops, 3.0 * 2 * 6 * 6 * (4 * 4 + 5));
        CHECK_EQ(row_named(rows, "linear", false).flops, (2.0 * 18 * 8 * 24 + 18 * 24) + (2.0 * 18 * 8 * 8 + 18 * 8)); // qkv, proj
    }
}

TEST(profile_times_add_up_to_the_wall_time) {
    Generator g(4);
    Sequential model{Linear(64, 128, true, Init::Kaiming, g), ReLU(), Linear(128, 10, true, Init::Kaiming, g)};
    const Tensor x = Tensor::randn({32, 64}, g), y = Tensor({32}, std::vector<float>(32, 3.0f));
    Profiler p;
    for (int step = 0; step < 3; step++) {
        model.zero_grad();
        cross_entropy(model(x), y).backward();
    }
    p.stop();
    const std::vector<ProfileRow> rows = p.ops();
    const ProfileRow total = p.total();
    double self = 0;
    for (const ProfileRow& r : rows) {
        CHECK(r.self_seconds >= 0);
        CHECK(r.total_seconds >= r.self_seconds - 1e-12);
        self += r.self_seconds;
    }
    CHECK(p.events() > 0);
    CHECK(p.overhead_seconds() > 0);
    CHECK(total.total_seconds > 0);
    CHECK_NEAR(self, total.total_seconds, p.overhead_seconds() + 1e-9);
    for (size_t i = 1; i < rows.size(); i++) CHECK(rows[i - 1].self_seconds >= rows[i].self_seconds); // sorted
    CHECK_EQ(row_named(rows, "linear", false).calls, 6);
    CHECK_EQ(row_named(rows, "relu", true).calls, 3);
    CHECK_EQ(row_named(rows, "(outside ops)", false).calls, 1);
    // the rows' flops are the total's
    double flops = 0;
    for (const ProfileRow& r : rows) flops += r.flops;
    CHECK_EQ(flops, total.flops);
}

TEST(profile_module_rows) {
    Generator g(5);
    Sequential model{Linear(6, 5, true, Init::Kaiming, g), ReLU(), Linear(5, 2, true, Init::Kaiming, g)};
    const Tensor x = Tensor::randn({4, 6}, g);
    Profiler p;
    sum(model(x)).backward();
    p.stop();
    const std::vector<ProfileRow> m = p.modules();
    CHECK_EQ(m.size(), (size_t)8); // Sequential, Linear, ReLU, Linear; forward then backward
    CHECK_EQ(m[0].depth, 0);
    CHECK_EQ(m[1].name, std::string("Linear(6, 5)"));
    CHECK_EQ(m[1].depth, 1);
    CHECK_EQ(m[2].name, std::string("ReLU()"));
    CHECK(!m[3].backward && m[4].backward);
    const double fc1 = 2.0 * 4 * 6 * 5 + 4 * 5, relu = 4 * 5, fc2 = 2.0 * 4 * 5 * 2 + 4 * 2;
    CHECK_EQ(m[1].flops, fc1);
    CHECK_NEAR(m[1].intensity(), fc1 / (4.0 * (4 * 6 + 5 * 6 + 5) + 4.0 * 4 * 5), 1e-12); // x, W, b read; y written
    CHECK_EQ(m[2].flops, relu);
    CHECK_EQ(m[0].flops, fc1 + relu + fc2);     // the Sequential holds its layers' counts
    CHECK_EQ(m[0].calls, 1);
    CHECK_EQ(m[5].flops, 2.0 * 4 * 6 * 5 + 4 * 5); // fc1 backward: dW (x needs no gradient) and the bias sum
    CHECK(m[0].total_seconds >= m[1].total_seconds);
    CHECK(m[4].total_seconds > 0);
}

TEST_GIVEN(profiler_scope_rules) {
    {
        Profiler p;
        CHECK_THROWS(Profiler(), "already recording");
    }
    Profiler p;
    p.stop();
    relu(Tensor::ones({4}));
    Profiler q; // a second one after the first stopped is fine
    CHECK_EQ(q.events(), 0);
    CHECK_EQ(p.events(), 0);
    CHECK_THROWS(measure_latency([] {}, 0), "runs >= 1");
    CHECK_THROWS(amdahl_speedup(1.5, 2), "fraction in [0, 1]");
}

TEST(profile_a_backward_after_stop_is_untimed) {
    const Tensor x = Tensor::ones({5}).requires_grad_(true);
    Tensor y;
    std::vector<ProfileRow> rows;
    {
        Profiler p;
        y = sum(exp(x));
        p.stop();
        y.backward(); // the wrapped backward runs, untimed
        rows = p.ops();
    }
    CHECK_VALUES(x.grad(), 1e-6, {2.7182817f, 2.7182817f, 2.7182817f, 2.7182817f, 2.7182817f});
    for (const ProfileRow& r : rows) CHECK(!r.backward);
    CHECK_EQ(row_named(rows, "exp", false).flops, 5.0);
}

TEST(latency_median_and_spread) {
    int calls = 0;
    const Latency l = measure_latency([&] { calls++; }, 7, 3);
    CHECK_EQ(calls, 10);
    CHECK_EQ(l.runs, 7);
    CHECK(l.min >= 0);
    CHECK(l.min <= l.q1 && l.q1 <= l.median && l.median <= l.q3 && l.q3 <= l.max);
    CHECK(l.spread() >= 0);
    const Latency one = measure_latency([] {}, 1, 0);
    CHECK_EQ(one.min, one.max);
    CHECK_EQ(one.median, one.min);
}

TEST(amdahl_and_roofline) {
    CHECK_NEAR(amdahl_speedup(0.5, 2), 4.0 / 3.0, 1e-12);
    CHECK_NEAR(amdahl_speedup(1.0, 3), 3.0, 1e-12);
    CHECK_NEAR(amdahl_speedup(0.0, 100), 1.0, 1e-12);
    CHECK_NEAR(amdahl_speedup(0.9, 1e9), 10.0, 1e-6); // the serial tenth caps it at 10x
    CHECK_NEAR(roofline_gflops(0.25, 100, 40), 10.0, 1e-12); // on the slope
    CHECK_NEAR(roofline_gflops(10, 100, 40), 100.0, 1e-12);  // under the flat roof
    ProfileRow r;
    r.flops = 60, r.bytes_read = 20, r.bytes_written = 10;
    CHECK_NEAR(r.intensity(), 2.0, 1e-12);
    CHECK_EQ(ProfileRow().intensity(), 0.0);
}
