// Milestone 2024 · Custom kernels. The newest TinyTorch ends by writing fast
// kernels, and the lesson every kernel writer learns is that fast means
// nothing until it is right. So this milestone checks every fast kernel tt
// has against the slow one it replaces, on 30 or more random shapes with
// ragged edges (sizes one past a tile), stride 2 and padding, and only then
// times them. The gate is the checks; the times are reported, never judged
// (they belong to the machine, not to the code).
//
//   gemm_fast, every register tile this CPU runs   vs gemm_naive (Lesson 01)
//   conv2d through im2col and row2im (Lesson 09)   vs the loop nest, forward and backward
//   im2col and its adjoint col2im                  <im2col(x), g> = <x, col2im(g)>, in double
//   gelu, forward and backward (Lesson 02)         vs the formula in double precision
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include "lessons.h"

using namespace tt;

namespace lessons {

namespace {
// What one kernel check found: how many cases, the worst error in units of
// its tolerance (<= 1 passes), and where.
struct Check {
    int64_t cases = 0;
    double worst = 0;
    std::string worst_case;
    void add(double error, const std::string& what) {
        cases++;
        if (!(error <= worst)) { // NaN counts as the worst
            worst = std::isnan(error) ? 1e30 : error;
            worst_case = what;
        }
    }
};

std::vector<float> uniform_floats(int64_t n, Generator& g) {
    std::vector<float> v((size_t)n);
    for (float& x : v) x = g.uniform(-1.0f, 1.0f);
    return v;
}

int64_t pick(Generator& g, int64_t lo, int64_t hi) { // lo..hi, inclusive
    return std::min(hi, lo + (int64_t)(g.uniform(0.0f, 1.0f) * (float)(hi - lo + 1)));
}

// |got - want| / (tolerance * scale), worst over the arrays.
double worst_error(const std::vector<float>& got, const std::vector<float>& want, double tolerance) {
    double worst = 0;
    for (size_t i = 0; i < got.size(); i++) {
        const double e = std::fabs((double)got[i] - want[i]) / (tolerance * (1.0 + std::fabs((double)want[i])));
        worst = std::isnan(e) ? 1e30 : std::max(worst, e);
    }
    return worst;
}

// gemm_fast through one tile against gemm_naive: 40 random shapes, ragged
// against the tile (sizes up to 3 tiles and 2 K slices, plus one past each
// edge), A and B read transposed or not, overwrite or accumulate, C with a
// padded row whose padding must stay untouched.
Check check_gemm(const GemmTile& tile, Generator& g, int shapes) {
    Check check;
    for (int s = 0; s < shapes; s++) {
        const int64_t M = s % 4 == 0 ? tile.mr * pick(g, 1, 3) + 1
                          : s % 4 == 3 ? tile.mc + pick(g, 1, tile.mr) // past one block of rows
                                       : pick(g, 1, 3 * tile.mr + 40);
        const int64_t N = s % 4 == 1 ? tile.nr * pick(g, 1, 3) + 1 : pick(g, 1, 3 * tile.nr + 40);
        const int64_t K = s % 4 == 2 ? tile.kc + 1 : pick(g, 1, 2 * tile.kc + 8);
        const bool at = s & 1, bt = s & 2, acc = s & 4;
        const int64_t pad = s % 3;
        const std::vector<float> A = uniform_floats(M * K, g), B = uniform_floats(K * N, g);
        const int64_t ldc = N + pad;
        const std::vector<float> start = uniform_floats(M * ldc, g);
        std::vector<float> naive = start, fast = start;
        const int64_t rsA = at ? 1 : K, csA = at ? M : 1, rsB = bt ? 1 : N, csB = bt ? K : 1;
        gemm_naive(M, N, K, A.data(), rsA, csA, B.data(), rsB, csB, naive.data(), ldc, acc);
        gemm_fast_with(tile, M, N, K, A.data(), rsA, csA, B.data(), rsB, csB, fast.data(), ldc, acc);
        double error = 0;
        for (int64_t i = 0; i < M; i++)
            for (int64_t j = N; j < ldc; j++)
                if (fast[(size_t)(i * ldc + j)] != start[(size_t)(i * ldc + j)]) error = 1e30; // wrote the padding
        // entries in [-1,1]: |C| <= K + 1, and float rounding grows with K
        error = std::max(error, worst_error(fast, naive, 1e-5 * (double)(K + 1)) / 1.0);
        check.add(error, "M=" + std::to_string(M) + " N=" + std::to_string(N) + " K=" + std::to_string(K) +
                             (at ? " A^T" : "") + (bt ? " B^T" : "") + (acc ? " +=" : ""));
    }
    return check;
}

// gemm_int8 through one tile against gemm_int8_naive: random shapes ragged
// against the tile and past one and two K slices (1024 values), rows of A
// and B and C padded. Integer sums: any difference at all is an error.
Check check_gemm_int8(const Int8Tile& tile, Generator& g, int shapes) {
    Check check;
    for (int s = 0; s < shapes; s++) {
        const int64_t M = s % 3 == 0 ? tile.mr * pick(g, 1, 3) + 1 : pick(g, 1, 3 * tile.mr + 70);
        const int64_t N = s % 3 == 1 ? tile.nr * pick(g, 1, 3) + 1 : pick(g, 1, 3 * tile.nr + 300);
        const int64_t K = s % 4 == 2 ? 1024 + pick(g, 1, 3) : pick(g, 1, 2100);
        const int64_t lda = K + s % 3, ldb = K + s % 2, ldc = N + s % 3;
        std::vector<int8_t> A((size_t)(M * lda)), B((size_t)(N * ldb));
        for (int8_t& v : A) v = (int8_t)(int)(g.next_u32() >> 24);
        for (int8_t& v : B) v = (int8_t)(int)(g.next_u32() >> 24);
        std::vector<int32_t> naive((size_t)(M * ldc), 7), fast((size_t)(M * ldc), 7);
        gemm_int8_naive(M, N, K, A.data(), lda, B.data(), ldb, naive.data(), ldc);
        gemm_int8_with(tile, M, N, K, A.data(), lda, B.data(), ldb, fast.data(), ldc);
        check.add(fast == naive ? 0.0 : 1e30, "M=" + std::to_string(M) + " N=" + std::to_string(N) + " K=" + std::to_string(K));
    }
    return check;
}

struct ConvShape {
    int64_t B, C, H, W, O, k, stride, padding;
    std::string str() const {
        return "x [" + std::to_string(B) + "," + std::to_string(C) + "," + std::to_string(H) + "," + std::to_string(W) +
               "] k=" + std::to_string(k) + " O=" + std::to_string(O) + " stride=" + std::to_string(stride) +
               " padding=" + std::to_string(padding);
    }
};

ConvShape random_conv(Generator& g, int s) {
    ConvShape c;
    c.B = pick(g, 1, 3), c.C = pick(g, 1, 4), c.O = pick(g, 1, 7);
    c.k = pick(g, 1, 5), c.stride = s % 2 ? 2 : 1, c.padding = s % 3; // stride 2 on half, padding 0, 1, 2
    c.H = pick(g, std::max<int64_t>(1, c.k - 2 * c.padding), 13);
    c.W = pick(g, std::max<int64_t>(1, c.k - 2 * c.padding), 13);
    return c;
}

// conv2d (im2col, gemm, row2im) against conv2d_naive (the loop nest): the
// output, and the gradients of x, W and b for one random upstream gradient.
Check check_conv(Generator& g, int shapes) {
    Check check;
    for (int s = 0; s < shapes; s++) {
        const ConvShape c = random_conv(g, s);
        const Tensor x = Tensor::randn({c.B, c.C, c.H, c.W}, g), w = Tensor::randn({c.O, c.C, c.k, c.k}, g);
        const Tensor b = Tensor::randn({c.O}, g);
        std::vector<std::vector<float>> results[2];
        for (int naive = 0; naive < 2; naive++) {
            Tensor xi = x.detach().requires_grad_(), wi = w.detach().requires_grad_(), bi = b.detach().requires_grad_();
            Tensor y = naive ? conv2d_naive(xi, wi, bi, c.stride, c.padding) : conv2d(xi, wi, bi, c.stride, c.padding);
            Generator seed(7 + s);
            y.backward(Tensor::randn(y.shape(), seed));
            results[naive] = {y.to_vector(), xi.grad().to_vector(), wi.grad().to_vector(), bi.grad().to_vector()};
        }
        const double tolerance = 1e-5 * (double)(c.C * c.k * c.k + c.B * c.O * c.H * c.W / std::max<int64_t>(1, c.stride));
        double error = 0;
        for (size_t r = 0; r < 4; r++) error = std::max(error, worst_error(results[0][r], results[1][r], tolerance));
        check.add(error, c.str());
    }
    return check;
}

// im2col(x) [B, C*k*k, OH*OW] is conv2d with one output channel per patch
// element (weight: the identity on the patch), so it needs no API of its own:
// conv2d(x, E) lays out the patches, and its backward with upstream gradient
// g is col2im(g), every patch element added back to the pixel it came from.
// Adjoint: <im2col(x), g> = <x, col2im(g)>, summed in double. Also checks the
// patches themselves against the loop nest with the same E.
Check check_adjoint(Generator& g, int shapes) {
    Check check;
    for (int s = 0; s < shapes; s++) {
        const ConvShape c = random_conv(g, s + 1);
        const int64_t K = c.C * c.k * c.k;
        Tensor e = Tensor::zeros({K, c.C, c.k, c.k});
        for (int64_t i = 0; i < K; i++) e.data()[i * K + i] = 1.0f;
        Tensor x = Tensor::randn({c.B, c.C, c.H, c.W}, g).requires_grad_();
        const Tensor cols = conv2d(x, e, Tensor(), c.stride, c.padding); // [B, K, OH, OW]: im2col(x)
        const Tensor patches = conv2d_naive(x.detach(), e, Tensor(), c.stride, c.padding);
        const Tensor grad = Tensor::randn(cols.shape(), g);
        cols.backward(grad);                                            // x.grad = col2im(grad)
        const std::vector<float> cv = cols.to_vector(), gv = grad.to_vector(), xv = x.to_vector(),
                                 back = x.grad().to_vector();
        double left = 0, right = 0, size = 0;
        for (size_t i = 0; i < cv.size(); i++) left += (double)cv[i] * gv[i], size += std::fabs((double)cv[i] * gv[i]);
        for (size_t i = 0; i < xv.size(); i++) right += (double)xv[i] * back[i];
        const double error = std::max(std::fabs(left - right) / (1e-6 * (1.0 + size)),
                                      worst_error(cv, patches.to_vector(), 1e-7));
        check.add(error, c.str());
    }
    return check;
}

// gelu's tanh form in float against the same formula in double, and its
// derivative, on random values and the awkward ones (0, the tails, where
// tanh saturates, and around the bend).
Check check_gelu(Generator& g, int batches) {
    Check check;
    auto formula = [](double v) { return 0.5 * v * (1.0 + std::tanh(std::sqrt(2.0 / M_PI) * (v + 0.044715 * v * v * v))); };
    for (int s = 0; s < batches; s++) {
        const int64_t n = pick(g, 1, 2000);
        std::vector<float> v((size_t)n);
        const float range = s % 3 == 0 ? 12.0f : 3.0f;
        for (float& f : v) f = g.uniform(-range, range);
        if (s == 0) v.insert(v.end(), {0.0f, -0.0f, 1e-8f, -1e-8f, 5.0f, -5.0f, 30.0f, -30.0f, 1.0f, -1.0f});
        Tensor x = Tensor({(int64_t)v.size()}, v).requires_grad_();
        Tensor y = gelu(x);
        y.backward(Tensor::ones(y.shape()));
        const std::vector<float> yv = y.to_vector(), dv = x.grad().to_vector();
        double error = 0;
        for (size_t i = 0; i < v.size(); i++) {
            const double h = 1e-4 * (1.0 + std::fabs((double)v[i]));
            const double want = formula(v[i]), slope = (formula(v[i] + h) - formula(v[i] - h)) / (2 * h);
            error = std::max({error, std::fabs(yv[i] - want) / (1e-6 * (1.0 + std::fabs(want))),
                              std::fabs(dv[i] - slope) / (1e-5 * (1.0 + std::fabs(slope)))});
        }
        check.add(error, std::to_string(v.size()) + " values in [-" + std::to_string((int)range) + "," +
                             std::to_string((int)range) + "]");
    }
    return check;
}

// Best of a few runs of f, in milliseconds.
double milliseconds(const std::function<void()>& f, int repeats) {
    f();
    return 1e3 * time_best(repeats, f);
}

Result kernel_result(const std::string& part, const std::string& reference, const Check& check, double fast_ms,
                     double reference_ms, const std::string& timed, const Options& options) {
    Result r;
    r.milestone = "2024";
    r.part = part;
    r.dataset = std::to_string(check.cases) + " random cases";
    r.model = "against " + reference;
    r.metrics = {{"cases", (double)check.cases}, {"worst_error", check.worst},
                 {"fast_ms", fast_ms}, {"reference_ms", reference_ms}, {"speedup", reference_ms / fast_ms}};
    r.gate = "worst_error <= 1 (in units of the tolerance) on 30+ cases";
    r.pass = check.worst <= 1.0 && check.cases >= 30;
    r.note = "timed on " + timed + " (reported, not gated)" +
             (check.worst > 1.0 ? "; worst case: " + check.worst_case : "");
    if (!options.json)
        std::printf("  %-34s %3lld cases, worst error %.3f of the tolerance; %s: %.3f ms vs %.3f ms (%.1fx)\n",
                    part.c_str(), (long long)check.cases, check.worst, timed.c_str(), fast_ms, reference_ms,
                    reference_ms / fast_ms);
    return r;
}
} // namespace

std::vector<Result> milestone_2024(const Options& options) {
    std::vector<Result> results;
    Generator g(2024);
    const int shapes = options.quick ? 30 : 40;
    if (!options.json) std::printf("  every fast kernel against its reference, then timed (the times decide nothing):\n");

    // gemm_fast: every register tile this CPU can run, not just the one it picked.
    for (const GemmTile& tile : gemm_tiles())
        results.push_back(timed_part([&] {
            const Check check = check_gemm(tile, g, shapes);
            const int64_t n = options.quick ? 96 : 256;
            const std::vector<float> a = uniform_floats(n * n, g), b = uniform_floats(n * n, g);
            std::vector<float> c((size_t)(n * n));
            const int threads = get_num_threads();
            set_num_threads(1);
            const double fast = milliseconds([&] { gemm_fast_with(tile, n, n, n, a.data(), n, 1, b.data(), n, 1, c.data(), n, false); }, 5);
            const double naive = milliseconds([&] { gemm_naive(n, n, n, a.data(), n, 1, b.data(), n, 1, c.data(), n, false); }, 3);
            set_num_threads(threads);
            return kernel_result("gemm_fast, tile " + tile.isa + " " + std::to_string(tile.mr) + "x" + std::to_string(tile.nr),
                                 "gemm_naive", check, fast, naive,
                                 "[" + std::to_string(n) + "," + std::to_string(n) + "]^2, 1 thread", options);
        }));

    // conv2d: im2col + gemm + row2im against the loop nest.
    results.push_back(timed_part([&] {
        const Check check = check_conv(g, shapes);
        const Tensor x = Tensor::randn({options.quick ? 8 : 64, 6, 14, 14}, g), w = Tensor::randn({16, 6, 5, 5}, g);
        NoGrad no_grad;
        const double fast = milliseconds([&] { conv2d(x, w); }, 3), naive = milliseconds([&] { conv2d_naive(x, w); }, 3);
        return kernel_result("conv2d (im2col, row2im)", "conv2d_naive, forward and backward", check, fast, naive,
                             "LeNet's conv2, batch " + std::to_string(x.size(0)) + ", forward", options);
    }));

    results.push_back(timed_part([&] {
        const Check check = check_adjoint(g, shapes);
        const Tensor x = Tensor::randn({options.quick ? 4 : 16, 6, 14, 14}, g); // the loop nest takes ~60 ms an image
        Tensor e = Tensor::zeros({150, 6, 5, 5});
        for (int64_t i = 0; i < 150; i++) e.data()[i * 150 + i] = 1.0f;
        NoGrad no_grad;
        const double fast = milliseconds([&] { conv2d(x, e); }, 3), naive = milliseconds([&] { conv2d_naive(x, e); }, 3);
        return kernel_result("im2col / col2im adjoint", "<im2col(x), g> = <x, col2im(g)> in double", check, fast,
                             naive, "im2col of LeNet's conv2 input, batch " + std::to_string(x.size(0)), options);
    }));

    results.push_back(timed_part([&] {
        const Check check = check_gelu(g, shapes);
        const int64_t n = options.quick ? 1 << 14 : 1 << 20;
        const Tensor x = Tensor::randn({n}, g);
        const std::vector<float> xv = x.to_vector();
        std::vector<double> out((size_t)n);
        NoGrad no_grad;
        const double fast = milliseconds([&] { gelu(x); }, 3);
        const double exact = milliseconds([&] {
            for (size_t i = 0; i < xv.size(); i++) {
                const double v = xv[i];
                out[i] = 0.5 * v * (1.0 + std::tanh(std::sqrt(2.0 / M_PI) * (v + 0.044715 * v * v * v)));
            }
        }, 3);
        return kernel_result("gelu, forward and backward", "the formula in double precision", check, fast, exact,
                             std::to_string(n) + " values, forward", options);
    }));

    // Lesson 15's int8 gemm: every tile this CPU can run, exact.
    for (const Int8Tile& tile : gemm_int8_tiles())
        results.push_back(timed_part([&] {
            const Check check = check_gemm_int8(tile, g, shapes);
            const int64_t n = options.quick ? 96 : 256;
            std::vector<int8_t> a((size_t)(n * n)), b((size_t)(n * n));
            for (size_t i = 0; i < a.size(); i++) a[i] = (int8_t)(int)(g.next_u32() >> 24), b[i] = (int8_t)(int)(g.next_u32() >> 24);
            std::vector<int32_t> c((size_t)(n * n));
            const int threads = get_num_threads();
            set_num_threads(1);
            const double fast = milliseconds([&] { gemm_int8_with(tile, n, n, n, a.data(), n, b.data(), n, c.data(), n); }, 5);
            const double naive = milliseconds([&] { gemm_int8_naive(n, n, n, a.data(), n, b.data(), n, c.data(), n); }, 3);
            set_num_threads(threads);
            return kernel_result("gemm_int8, tile " + tile.isa + " " + std::to_string(tile.mr) + "x" + std::to_string(tile.nr),
                                 "gemm_int8_naive (exact)", check, fast, naive,
                                 "[" + std::to_string(n) + "," + std::to_string(n) + "]^2, 1 thread", options);
        }));

    // Further kernels add their check here, one timed_part each, the same way.

    // For the report page: every kernel in one table, on the first part.
    Table all{"Every fast kernel against its reference (times reported, not gated)",
              {"kernel", "reference", "cases", "worst error / tolerance", "fast ms", "reference ms", "speedup", "verdict"}, {}};
    for (const Result& r : results) {
        auto metric = [&](const char* key, const char* format) {
            char buf[32] = "";
            for (const auto& [k, v] : r.metrics)
                if (k == key) std::snprintf(buf, sizeof buf, format, v);
            return std::string(buf);
        };
        all.rows.push_back({r.part, r.model.substr(std::string("against ").size()), metric("cases", "%.0f"),
                            metric("worst_error", "%.3f"), metric("fast_ms", "%.3f"), metric("reference_ms", "%.3f"),
                            metric("speedup", "%.1fx"), r.pass ? "PASS" : "FAIL"});
    }
    if (!results.empty()) results.front().tables.push_back(all);
    return results;
}

} // namespace lessons
