// Lesson 17 · Acceleration: the fast kernel against the naive one on awkward
// shapes, strides and modes; results independent of the thread count; the pool.
#include <algorithm>
#include <cstring>

#include "test.h"

using namespace tt;

namespace {
std::vector<float> random_floats(int64_t n, uint64_t seed) {
    Generator g(seed);
    std::vector<float> v((size_t)n);
    for (float& x : v) x = g.uniform(-1.0f, 1.0f);
    return v;
}

// gemm_fast and gemm_naive on the same A [M,K] and B [K,N]: stored transposed
// if asked (read through swapped strides), C with `pad` extra columns that
// must stay untouched, overwritten or accumulated into. Returns the largest
// difference, scaled so that 1 means "beyond rounding".
double fast_vs_naive(int64_t M, int64_t N, int64_t K, bool a_transposed, bool b_transposed, bool accumulate,
                     int64_t pad, const GemmTile* tile = nullptr) {
    const std::vector<float> A = random_floats(M * K, 1 + M), B = random_floats(K * N, 2 + N);
    const int64_t rsA = a_transposed ? 1 : K, csA = a_transposed ? M : 1;
    const int64_t rsB = b_transposed ? 1 : N, csB = b_transposed ? K : 1;
    const int64_t ldc = N + pad;
    const std::vector<float> start = random_floats(M * ldc, 3);
    std::vector<float> naive = start, fast = start;
    gemm_naive(M, N, K, A.data(), rsA, csA, B.data(), rsB, csB, naive.data(), ldc, accumulate);
    if (tile)
        gemm_fast_with(*tile, M, N, K, A.data(), rsA, csA, B.data(), rsB, csB, fast.data(), ldc, accumulate);
    else
        gemm_fast(M, N, K, A.data(), rsA, csA, B.data(), rsB, csB, fast.data(), ldc, accumulate);
    double worst = 0;
    const double tolerance = 1e-5 * (double)(K + 1); // |entries| <= 1, so |C| <= K + 1
    for (int64_t i = 0; i < M; i++)
        for (int64_t j = 0; j < ldc; j++) {
            const size_t at = (size_t)(i * ldc + j);
            if (j >= N && fast[at] != start[at]) return 1e9; // wrote into the padding
            worst = std::max(worst, std::fabs((double)fast[at] - naive[at]) / tolerance);
        }
    return worst;
}

bool same_bits(const Tensor& a, const Tensor& b) {
    const std::vector<float> x = a.to_vector(), y = b.to_vector();
    return x.size() == y.size() && std::memcmp(x.data(), y.data(), x.size() * sizeof(float)) == 0;
}

// Runs f with the pool at n threads, then puts the old count back.
template <class F>
auto with_threads(int n, F f) {
    const int before = get_num_threads();
    set_num_threads(n);
    auto result = f();
    set_num_threads(before);
    return result;
}
} // namespace

TEST(gemm_fast_matches_naive_on_many_shapes) {
    // 1x1, primes, tall and skinny, one edge short of the first tiles (6x32, KC=256,
    // MC=144), zero sizes, and sizes past every block boundary; each tile's own
    // edges are in every_register_tile_matches_naive_on_ragged_shapes below.
    const int64_t shapes[][3] = {{1, 1, 1},     {2, 3, 4},     {7, 13, 29},    {67, 71, 73},  {1000, 3, 5},
                                 {3, 1000, 7},  {5, 7, 1000},  {300, 200, 1},  {1, 500, 300}, {500, 1, 300},
                                 {6, 32, 256},  {5, 31, 255},  {145, 33, 257}, {151, 97, 89}, {64, 64, 64},
                                 {0, 5, 5},     {5, 0, 5},     {5, 5, 0},      {100, 100, 0},
                                 // B read in place (M <= 64), with and without a ragged last panel;
                                 // row blocks evened out over the threads (M past one block)
                                 {6, 784, 25},  {16, 100, 150}, {64, 96, 70},  {13, 95, 40},  {65, 64, 64},
                                 {1024, 40, 30}, {290, 50, 20},
                                 // past 200^3 multiply-adds, on the pool: A packed once and shared by
                                 // the column shares; and too large to share (rows * K > 4 MiB of floats)
                                 {64, 256, 784}, {150, 64, 7000}};
    for (const auto& s : shapes)
        for (int variant = 0; variant < 16; variant++) {
            const bool at = variant & 1, bt = variant & 2, acc = variant & 4;
            const int64_t pad = variant & 8 ? 3 : 0;
            const double error = fast_vs_naive(s[0], s[1], s[2], at, bt, acc, pad);
            if (!(error <= 1.0))
                throw test::Failure("gemm_fast differs from gemm_naive at M=" + std::to_string(s[0]) + " N=" +
                                    std::to_string(s[1]) + " K=" + std::to_string(s[2]) + " variant " +
                                    std::to_string(variant) + ": error " + std::to_string(error));
        }
}

// Every tile this build has and this CPU runs (on x86-64 with g++: AVX-512,
// AVX2+FMA and SSE2, each called directly, not only the one picked at start-up),
// on shapes one short of, equal to and one past its own MR, NR, KC and MC.
TEST(every_register_tile_matches_naive_on_ragged_shapes) {
    CHECK(!gemm_tiles().empty() && gemm_tile().isa == gemm_tiles()[0].isa);
    for (const GemmTile& t : gemm_tiles()) {
        CHECK(t.mr > 0 && t.nr % t.vector_floats == 0 && t.kc >= 128 && t.mc % t.mr == 0 && t.mc >= t.mr);
        CHECK(t.mr * t.nr / t.vector_floats < t.registers); // the accumulators fit, with room for A and B
        const int64_t shapes[][3] = {{t.mr - 1, t.nr - 1, t.kc - 1}, {t.mr, t.nr, t.kc}, {t.mr + 1, t.nr + 1, t.kc + 1},
                                     {t.mc + 1, 2 * t.nr + 3, 2 * t.kc + 5}, {t.mc - 1, 3 * t.nr - 1, 7},
                                     {64, 3 * t.nr + 1, 100}, {2, 200, 300}, {t.mc * 2 + t.mr + 1, 70, 40}};
        for (const auto& s : shapes)
            for (int variant = 0; variant < 16; variant++) {
                const double error =
                    fast_vs_naive(s[0], s[1], s[2], variant & 1, variant & 2, variant & 4, variant & 8 ? 3 : 0, &t);
                if (!(error <= 1.0))
                    throw test::Failure("tile " + t.isa + " differs from gemm_naive at M=" + std::to_string(s[0]) +
                                        " N=" + std::to_string(s[1]) + " K=" + std::to_string(s[2]) + " variant " +
                                        std::to_string(variant) + ": error " + std::to_string(error));
            }
        CHECK(std::isfinite(multiply_add_chains(t, 1000)));
    }
    GemmTile unknown;
    unknown.isa = "mmx";
    float c = 0;
    CHECK_THROWS(gemm_fast_with(unknown, 1, 1, 1, &c, 1, 1, &c, 1, 1, &c, 1, false), "no 'mmx' tile");
}

TEST(gemm_fast_with_more_columns_than_one_packed_block) {
    // K = 8192 makes the packed-B block 128 columns wide, so N = 300 takes three.
    CHECK(fast_vs_naive(7, 300, 8192, false, true, true, 1) <= 1.0);
}

TEST(gemm_fast_is_installed_and_used_by_matmul_and_linear) {
    CHECK(gemm == gemm_fast);
    Tensor a = Tensor::randn({2, 3, 70, 90}), b = Tensor::randn({3, 90, 80});
    Tensor y = matmul(a, b); // broadcast batch, each [70,90]@[90,80] through the fast kernel
    for (int64_t i : {0, 1})
        for (int64_t j : {0, 2}) {
            Tensor want = Tensor::zeros({70, 80});
            Tensor ai = a.slice(0, i, i + 1).slice(1, j, j + 1).reshape({70, 90}), bj = b.slice(0, j, j + 1).reshape({90, 80});
            gemm_naive(70, 80, 90, ai.data(), 90, 1, bj.data(), 80, 1, want.data(), 80, false);
            const Tensor got = y.slice(0, i, i + 1).slice(1, j, j + 1).reshape({70, 80});
            CHECK(max(abs(got - want)).item() < 1e-3f);
        }
    // transposed views read in place: (B^T A^T)^T = A B
    Tensor p = Tensor::randn({65, 130}), q = Tensor::randn({130, 75});
    CHECK(max(abs(matmul(q.T(), p.T()).T() - matmul(p, q))).item() < 1e-3f);
    // linear: x @ W^T + b
    Tensor x = Tensor::randn({64, 100}), w = Tensor::randn({70, 100}), bias = Tensor::randn({70});
    CHECK(max(abs(linear(x, w, bias) - (matmul(x, w.T()) + bias))).item() < 1e-3f);
}

TEST(results_do_not_depend_on_the_thread_count) {
    CHECK(gemm == gemm_fast); // (gemm_naive's results do not either: it is one thread)
    Tensor a = Tensor::randn({150, 300}), b = Tensor::randn({300, 200});
    Tensor x = Tensor::randn({64, 784}), w = Tensor::randn({512, 784}); // past 200^3: on the pool
    auto run = [&] {
        return std::vector<Tensor>{matmul(a, b), matmul(b.T(), a.T()), linear(x, w)};
    };
    const std::vector<Tensor> one = with_threads(1, run), two = with_threads(2, run), three = with_threads(3, run);
    for (size_t i = 0; i < one.size(); i++) CHECK(same_bits(one[i], two[i]) && same_bits(one[i], three[i]));
}

// TT_THREADS's value: 1..1024, or unset (the hardware's threads); junk is an
// Error naming it (./tt and the test runner stop with exit status 2).
TEST_GIVEN(malformed_TT_THREADS_is_an_error_naming_it) {
    CHECK(threads_setting(nullptr) >= 1);
    CHECK_EQ(threads_setting(""), threads_setting(nullptr));
    CHECK_EQ(threads_setting("3"), 3);
    CHECK_EQ(threads_setting("1024"), 1024);
    for (const char* bad : {"abc", "0", "-5", "4x", " 4", "+4", "1025", "99999999999999999999"})
        CHECK_THROWS(threads_setting(bad), "TT_THREADS='" + std::string(bad) + "' is not a number of threads");
}

TEST(thread_pool_counts_and_nesting) {
    CHECK(get_num_threads() >= 1);
    CHECK_THROWS(set_num_threads(0), "set_num_threads: want 1 to 1024 threads, got 0");
    CHECK_THROWS(set_num_threads(5000), "set_num_threads");
    const std::vector<int> counts = with_threads(2, [] {
        // every index once, and a nested parallel_for runs in order inside its task
        std::vector<int> hits(100, 0);
        parallel_for(10, [&](int64_t i) { parallel_for(10, [&](int64_t j) { hits[(size_t)(i * 10 + j)]++; }); });
        return hits;
    });
    for (int c : counts) CHECK(c == 1);
    // a gemm inside a running job (conv over a batch, say) runs there, in order
    const double error = with_threads(2, [] {
        std::vector<double> errors(4);
        parallel_for(4, [&](int64_t i) { errors[(size_t)i] = fast_vs_naive(70 + i, 90, 80, false, i & 1, false, 0); });
        return *std::max_element(errors.begin(), errors.end());
    });
    CHECK(error <= 1.0);
    parallel_for(0, [](int64_t) { throw test::Failure("called for an empty range"); });
}

// The pool is given; a task that throws (a stub's "not implemented yet", an
// op's error) must reach the caller as that exception, not end the program.
TEST_GIVEN(thread_pool_passes_a_task_s_exception_to_the_caller) {
    const int before = get_num_threads();
    set_num_threads(2);
    std::vector<int> ran(64, 0);
    CHECK_THROWS(parallel_for(64, [&](int64_t i) {
                     ran[(size_t)i] = 1;
                     if (i == 5) throw Error("task 5 failed");
                 }),
                 "task 5 failed");
    CHECK_EQ(ran[5], 1);
    // the pool still works after it
    std::vector<int> hits(10, 0);
    parallel_for(10, [&](int64_t i) { hits[(size_t)i]++; });
    set_num_threads(before);
    for (int h : hits) CHECK(h == 1);
}

TEST_GIVEN(elementwise_backward_overwrites_a_gradient_nobody_holds) {
    Tensor x = Tensor::randn({64, 128}).requires_grad_();
    Tensor loss = sum(relu(x));
    const int64_t before = memory_counts().allocations;
    loss.backward();
    // the seed (ones, and the copy backward() keeps of it), sum's gradient spread
    // to [64,128]; relu's backward writes into that one instead of a fourth
    CHECK_EQ(memory_counts().allocations - before, 3);
    const std::vector<float> xv = x.to_vector(), gv = x.grad().to_vector();
    for (size_t i = 0; i < xv.size(); i++) CHECK(gv[i] == (xv[i] > 0 ? 1.0f : 0.0f));
    // a gradient someone still holds is not overwritten
    Tensor held = Tensor::ones({64, 128});
    Tensor z = relu(x);
    z.backward(held);
    CHECK(max(held).item() == 1.0f && sum(held).item() == 64 * 128);
}

// Part 3: a freed block is kept for the next request of its size, and zeroed
// again when that request wants zeros.
TEST_GIVEN(freed_blocks_are_kept_for_the_next_step) {
    const float* first = nullptr;
    {
        Tensor a = Tensor::zeros({54321}); // 212 KB
        a.data()[7] = 3;
        first = a.data();
    }
    Tensor b = Tensor::zeros({54321});
    CHECK(b.data() == first);
    CHECK_EQ(b.data()[7], 0.0f);
    // an 8 MB block of ones comes back as zeros
    {
        Tensor ones = Tensor::ones({2 << 20});
    }
    const Tensor zeros = Tensor::zeros({2 << 20});
    CHECK_EQ(max(zeros).item(), 0.0f);
    CHECK_EQ(max(-zeros).item(), 0.0f);
}
