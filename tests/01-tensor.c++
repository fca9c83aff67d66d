// Lesson 01 · Tensor: the tracker, views, broadcasting, reductions, matmul.
#include "test.h"

using namespace tt;

TEST_GIVEN(tracker_counts_exact_bytes_and_gives_them_back) {
    const MemoryCounts before = memory_counts();
    {
        Tensor t = Tensor::zeros({1000, 1000});
        CHECK_EQ(memory_counts().live_bytes - before.live_bytes, 4000000);
        CHECK_EQ(memory_counts().allocations - before.allocations, 1);
        CHECK(memory_counts(Category::Activations).live_bytes >= 4000000);
    }
    CHECK_EQ(memory_counts().live_bytes, before.live_bytes);
    CHECK_EQ(memory_counts().releases - before.releases, 1);
}

TEST_GIVEN(tracker_peak_and_categories) {
    reset_peak();
    const int64_t base = memory_counts().live_bytes;
    {
        Tensor a = Tensor::zeros({250});   // 1000 bytes
        { Tensor b = Tensor::zeros({500}); } // 2000 bytes, released
        CHECK_EQ(memory_counts().peak_bytes, base + 3000);
        MemoryCategory scope(Category::Scratch);
        Tensor c = Tensor::zeros({10});
        CHECK_EQ(memory_counts(Category::Scratch).live_bytes, 40);
        c.impl->storage->set_category(Category::Parameters);
        CHECK_EQ(memory_counts(Category::Scratch).live_bytes, 0);
    }
    CHECK(memory_report().find("optimizer state") != std::string::npos);
}

TEST(views_allocate_nothing) {
    Tensor t = Tensor::arange(24).reshape({2, 3, 4});
    const MemoryCounts before = memory_counts();
    Tensor v1 = t.reshape({6, 4}), v2 = t.transpose(0, 2), v3 = t.slice(1, 1, 3), v4 = t.permute({2, 0, 1}), v5 = t.T();
    CHECK_EQ(memory_counts().allocations, before.allocations);
    CHECK(v1.shares_storage(t) && v2.shares_storage(t) && v3.shares_storage(t) && v4.shares_storage(t) && v5.shares_storage(t));
    CHECK_EQ(v2.shape(), (Shape{4, 3, 2}));
    CHECK_EQ(v2.at({3, 2, 1}), t.at({1, 2, 3}));
    CHECK_EQ(v3.shape(), (Shape{2, 2, 4}));
    CHECK_EQ(v3.at({1, 0, 2}), t.at({1, 1, 2}));
    CHECK(!v2.is_contiguous() && t.is_contiguous());
    Tensor c = v2.contiguous(); // copies only when needed
    CHECK(!c.shares_storage(t) && c.is_contiguous());
    CHECK(t.contiguous().shares_storage(t));
    CHECK_EQ(c.at({3, 2, 1}), 23);
}

TEST_GIVEN(budget_stops_an_allocation_with_a_clear_error) {
    set_memory_budget(memory_counts().live_bytes + 1000000);
    Tensor small = Tensor::zeros({1000});
    CHECK_THROWS(Tensor::zeros({1000, 1000}), "memory budget exceeded in zeros: asked for 4,000,000 bytes");
    CHECK_THROWS(matmul(Tensor::zeros({1000, 1}), Tensor::zeros({1, 1000})), "budget exceeded in matmul");
    set_memory_budget(0);
    CHECK(parse_bytes("512M") == 512LL << 20);
    CHECK(parse_bytes("4G") == 4LL << 30);
    CHECK_EQ(parse_bytes("1000"), 1000);
    CHECK_THROWS(parse_bytes("12Q"), "unknown unit");
    CHECK_THROWS(parse_bytes("abc"), "not a size");
    CHECK_THROWS(parse_bytes("99999999999999999999"), "too large");
}

// TT_MEM_LIMIT's value: a budget, or unset; never junk run as "no budget"
// (./tt and the test runner turn the Error into exit status 2).
TEST_GIVEN(malformed_TT_MEM_LIMIT_is_an_error_naming_it) {
    CHECK_EQ(memory_limit_setting(nullptr), 0);
    CHECK_EQ(memory_limit_setting(""), 0);
    CHECK_EQ(memory_limit_setting("512M"), 512LL << 20);
    CHECK_THROWS(memory_limit_setting("12X"), "TT_MEM_LIMIT='12X' is not a memory budget (parse_bytes: unknown unit");
    CHECK_THROWS(memory_limit_setting("abc"), "TT_MEM_LIMIT='abc'");
    CHECK_THROWS(memory_limit_setting("-5"), "TT_MEM_LIMIT='-5'");
    CHECK_THROWS(memory_limit_setting("99999999999G"), "too large");
    CHECK_THROWS(memory_limit_setting("0"), "TT_MEM_LIMIT='0' is a budget of 0 bytes");
}

TEST_GIVEN(generator_is_the_same_everywhere) {
    // Reference values from the integer recurrence; any platform must match bit for bit.
    Generator g(42);
    const uint32_t first = g.next_u32();
    Generator h(42);
    CHECK_EQ(h.next_u32(), first);
    Generator a(7), b(7);
    for (int i = 0; i < 100; i++) CHECK(a.normal() == b.normal());
    // moments of a large sample
    Generator n(1);
    double s = 0, s2 = 0;
    for (int i = 0; i < 100000; i++) {
        const double v = n.normal();
        s += v;
        s2 += v * v;
    }
    CHECK_NEAR(s / 1e5, 0.0, 0.02);
    CHECK_NEAR(s2 / 1e5, 1.0, 0.02);
    Generator u(3);
    for (int i = 0; i < 1000; i++) {
        const float v = u.uniform(-2, 3);
        CHECK(v >= -2 && v < 3);
    }
}

TEST(elementwise_broadcasting) {
    Tensor a({2, 3}, {1, 2, 3, 4, 5, 6});
    Tensor row({3}, {10, 20, 30});
    Tensor col({2, 1}, {100, 200});
    CHECK_VALUES(a + row, 0, {11, 22, 33, 14, 25, 36});
    CHECK_VALUES(a * col, 0, {100, 200, 300, 800, 1000, 1200});
    CHECK_VALUES(col - row, 0, {90, 80, 70, 190, 180, 170}); // [2,1] - [3] -> [2,3]
    CHECK_EQ((col - row).shape(), (Shape{2, 3}));
    CHECK_VALUES(a / 2.0f, 0, {0.5f, 1, 1.5f, 2, 2.5f, 3});
    CHECK_VALUES(1.0f - a, 0, {0, -1, -2, -3, -4, -5});
    CHECK_VALUES(-a, 0, {-1, -2, -3, -4, -5, -6});
    Tensor three = Tensor::ones({4, 1, 3});
    CHECK_EQ((three + a).shape(), (Shape{4, 2, 3}));   // unequal ranks
    CHECK_VALUES(a + Tensor::scalar(1), 0, {2, 3, 4, 5, 6, 7});
    // non-contiguous inputs: a transposed view
    Tensor at = a.T(); // [3,2]
    CHECK_VALUES(at + Tensor({2}, {0, 100}), 0, {1, 104, 2, 105, 3, 106});
    CHECK_THROWS(a + Tensor::ones({2}), "add: shapes [2,3] and [2] cannot be broadcast");
    CHECK_THROWS(a * Tensor::ones({3, 3}), "mul: shapes [2,3] and [3,3]");
}

TEST(unary_math) {
    Tensor x({4}, {1, 4, 9, 16});
    CHECK_VALUES(sqrt(x), 1e-6, {1, 2, 3, 4});
    CHECK_VALUES(log(exp(x)), 1e-4, {1, 4, 9, 16});
    CHECK_VALUES(pow(x, 0.5f), 1e-6, {1, 2, 3, 4});
    CHECK_VALUES(abs(Tensor({3}, {-2, 0, 3})), 0, {2, 0, 3});
}

TEST(reductions) {
    Tensor a({2, 3}, {1, 5, 3, 4, 2, 6});
    CHECK_VALUES(sum(a), 0, {21});
    CHECK_EQ(sum(a).dim(), 0);
    CHECK_VALUES(sum(a, 0), 0, {5, 7, 9});
    CHECK_VALUES(sum(a, 1), 0, {9, 12});
    CHECK_EQ(sum(a, 1, true).shape(), (Shape{2, 1}));
    CHECK_VALUES(mean(a, -1), 1e-6, {3, 4});
    CHECK_VALUES(mean(a), 1e-6, {3.5f});
    CHECK_VALUES(max(a, 1), 0, {5, 6});
    CHECK_VALUES(max(a, 0), 0, {4, 5, 6});
    CHECK_VALUES(max(a), 0, {6});
    CHECK_VALUES(argmax(a, 1), 0, {1, 2});
    CHECK_VALUES(argmax(a), 0, {5});
    CHECK_VALUES(sum(a.T(), 1), 0, {5, 7, 9}); // a non-contiguous input
    Tensor b = Tensor::arange(24).reshape({2, 3, 4});
    CHECK_VALUES(sum(b, 1), 0, {12, 15, 18, 21, 48, 51, 54, 57});
    CHECK_THROWS(sum(a, 2), "sum: axis 2 is out of range for a 2-d tensor");
    CHECK_THROWS(max(a, -3), "max: axis -3 is out of range");
}

// As in PyTorch: a NaN propagates through max and argmax (it counts as the
// largest value; the first NaN wins), and on ties argmax is the first.
TEST(max_and_argmax_propagate_nan_and_take_the_first_tie) {
    const float nan = std::nanf("");
    Tensor x({3}, {1, nan, 2});
    CHECK(std::isnan(max(x).item()));
    CHECK_EQ(argmax(x).item(), 1);
    Tensor rows({3, 3}, {1, nan, 2, 3, 3, 1, nan, 0, nan});
    const std::vector<float> m = max(rows, 1).to_vector();
    CHECK(std::isnan(m[0]) && m[1] == 3 && std::isnan(m[2]));
    CHECK_VALUES(argmax(rows, 1), 0, {1, 0, 0});                // the first NaN; the first of the tied 3s
    CHECK_VALUES(argmax(rows.T(), 0), 0, {1, 0, 0});            // the same, read through a transposed view
    const std::vector<float> columns = max(rows, 0).to_vector(); // [nan, nan, nan]: a NaN in each column
    CHECK(std::isnan(columns[0]) && std::isnan(columns[1]) && std::isnan(columns[2]));
    CHECK_VALUES(argmax(rows, 0), 0, {2, 0, 2});
    CHECK_VALUES(max(Tensor({4}, {-1, -5, -1, -3})), 0, {-1});
}

TEST(reshape_and_slice_errors) {
    Tensor a = Tensor::arange(6);
    CHECK_EQ(a.reshape({-1, 2}).shape(), (Shape{3, 2}));
    CHECK_THROWS(a.reshape({4, 2}), "reshape: cannot reshape [6] (6 elements) to [4,2] (8 elements)");
    CHECK_THROWS(a.reshape({-1, -1}), "only one size may be -1");
    CHECK_THROWS(a.slice(0, 2, 9), "slice: range [2:9] is out of bounds for axis 0 of shape [6]");
    CHECK_THROWS(a.slice(1, 0, 1), "slice: axis 1 is out of range");
    CHECK_THROWS(a.reshape({2, 3}).T().view({6}), "not contiguous");
    CHECK_VALUES(a.reshape({2, 3}).T().reshape({6}), 0, {0, 3, 1, 4, 2, 5}); // reshape copies
    CHECK_VALUES(a.slice(0, 1, 6, 2), 0, {1, 3, 5});
    CHECK_VALUES(a.slice(0, -2, 6), 0, {4, 5});
    CHECK_THROWS(a.permute({0, 0}), "permute");
    CHECK_THROWS(Tensor({2}, {1, 2, 3}), "holds 2 values but 3 were given");
    CHECK_THROWS(a.at({7}), "at: index 7 is out of range");
    CHECK_THROWS(Tensor().shape(), "undefined");
    // no elements, but strides past 2^63 (found by fuzzing read_idx)
    CHECK_THROWS(Tensor::zeros({0, 1 << 25, 1 << 25, 1 << 25}), "zeros: the sizes of shape [0,33554432,33554432,33554432] multiply past 2^63");
    CHECK_THROWS(Tensor::zeros({0}).view({0, 1LL << 40, 1LL << 40}), "reshape: the sizes of shape");
}

TEST(matmul_2d_batched_and_broadcast) {
    Tensor a({2, 3}, {1, 2, 3, 4, 5, 6});
    Tensor b({3, 2}, {7, 8, 9, 10, 11, 12});
    CHECK_VALUES(matmul(a, b), 0, {58, 64, 139, 154});
    CHECK_VALUES(matmul(b.T(), a.T()), 0, {58, 139, 64, 154}); // transposed views, no copies
    Tensor batch = Tensor::arange(12).reshape({2, 2, 3});       // [2,2,3]
    Tensor y = matmul(batch, b);                                 // [2,3]@... broadcast -> [2,2,2]
    CHECK_EQ(y.shape(), (Shape{2, 2, 2}));
    CHECK_VALUES(y, 0, {0 * 7 + 1 * 9 + 2 * 11, 0 * 8 + 1 * 10 + 2 * 12, 3 * 7 + 4 * 9 + 5 * 11, 3 * 8 + 4 * 10 + 5 * 12,
                        6 * 7 + 7 * 9 + 8 * 11, 6 * 8 + 7 * 10 + 8 * 12, 9 * 7 + 10 * 9 + 11 * 11, 9 * 8 + 10 * 10 + 11 * 12});
    Tensor four = Tensor::ones({2, 1, 4, 3});
    Tensor other = Tensor::ones({3, 3, 5});
    CHECK_EQ(matmul(four, other).shape(), (Shape{2, 3, 4, 5}));
    CHECK_VALUES(sum(matmul(four, other)), 0, {2 * 3 * 4 * 5 * 3});
    // any number of batch axes: 5-d @ 4-d, broadcast to [2,4,3] batches of [2,4]@[4,5]
    Tensor five = Tensor::arange(2 * 3 * 2 * 4).reshape({2, 1, 3, 2, 4}) * 0.5f;
    Tensor rhs = Tensor::arange(4 * 4 * 5).reshape({4, 1, 4, 5}) - 30.0f;
    Tensor product = matmul(five, rhs);
    CHECK_EQ(product.shape(), (Shape{2, 4, 3, 2, 5}));
    for (int64_t p = 0; p < 2; p++)
        for (int64_t q = 0; q < 4; q++)
            for (int64_t r = 0; r < 3; r++)
                for (int64_t i = 0; i < 2; i++)
                    for (int64_t j = 0; j < 5; j++) {
                        float want = 0;
                        for (int64_t k = 0; k < 4; k++) want += five.at({p, 0, r, i, k}) * rhs.at({q, 0, k, j});
                        CHECK_EQ(product.at({p, q, r, i, j}), want);
                    }
    CHECK_THROWS(matmul(a, a), "matmul: inner sizes differ: [2,3] @ [2,3]");
    CHECK_THROWS(matmul(Tensor::ones({3}), a), "matmul: both operands need at least 2 axes");
    CHECK_THROWS(matmul(Tensor::ones({2, 2, 3}), Tensor::ones({3, 3, 2})), "matmul: shapes [2] and [3] cannot be broadcast");
}

TEST(gemm_naive_matches_definition_with_strides) {
    Generator g(5);
    const int64_t M = 7, N = 5, K = 3;
    Tensor A = Tensor::randn({M, K}, g), B = Tensor::randn({K, N}, g);
    Tensor C = Tensor::zeros({M, N});
    gemm_naive(M, N, K, A.data(), K, 1, B.data(), N, 1, C.data(), N, false);
    for (int64_t i = 0; i < M; i++)
        for (int64_t j = 0; j < N; j++) {
            double s = 0;
            for (int64_t k = 0; k < K; k++) s += A.at({i, k}) * B.at({k, j});
            CHECK_NEAR(C.at({i, j}), s, 1e-5);
        }
    gemm_naive(M, N, K, A.data(), K, 1, B.data(), N, 1, C.data(), N, true); // accumulate doubles
    CHECK_NEAR(C.at({2, 3}), 2 * matmul(A, B).at({2, 3}), 1e-5);
}

TEST(index_select_and_concat) {
    Tensor a = Tensor::arange(6).reshape({3, 2});
    CHECK_VALUES(index_select(a, 0, {2, 0, 2}), 0, {4, 5, 0, 1, 4, 5});
    CHECK_VALUES(index_select(a, 1, {1}), 0, {1, 3, 5});
    CHECK_THROWS(index_select(a, 0, {3}), "index_select: index 3 is out of range for axis 0 of shape [3,2]");
    CHECK_VALUES(concat({a, a}, 1), 0, {0, 1, 0, 1, 2, 3, 2, 3, 4, 5, 4, 5});
    CHECK_EQ(concat({a, a.slice(0, 0, 1)}, 0).shape(), (Shape{4, 2}));
    CHECK_THROWS(concat({a, Tensor::ones({2, 3})}, 0), "concat: shapes [3,2] and [2,3] differ outside axis 0");
}

TEST_GIVEN(print_small_tensors) {
    Tensor a({2, 2}, {1, 2, 3, 4});
    CHECK_EQ(a.str(), "tensor([[1.0000, 2.0000],\n        [3.0000, 4.0000]])");
    CHECK_EQ(Tensor::scalar(2).str(), "tensor(2.0000)");
    CHECK(Tensor::zeros({100, 100}).str().find("shape=[100,100]") != std::string::npos);
}
