// Lesson 18 · Memoization — the demo behind `./tt lesson 18`: a GPT's
// generation with and without a KV cache. That the two agree (every
// position's logits, the sampled tokens), how fast each is as the generation
// grows (tokens/s, and one step's time at a given position), how many key
// and value projections each computes, and what the cache costs in memory
// next to the model (tracker).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "lessons.h"

using namespace tt;

namespace lessons {
namespace {

// Milestone 2017's model (bench's too): 4 layers, 4 heads, width 128, a
// 65-token vocabulary, the head tied to the token table.
GPTConfig generation_gpt(const Options& options, int64_t block_size) {
    GPTConfig c;
    c.vocab_size = 65, c.block_size = block_size, c.n_layer = 4, c.n_head = 4, c.n_embd = 128, c.tie_weights = true;
    if (options.quick) c.n_layer = 2, c.n_head = 2, c.n_embd = 32;
    return c;
}
Tensor ids_of(const std::vector<int64_t>& ids, int64_t from, int64_t to) {
    return Tensor({1, to - from}, std::vector<float>(ids.begin() + from, ids.begin() + to));
}
double max_abs_difference(const Tensor& a, const Tensor& b) {
    const std::vector<float> x = a.to_vector(), y = b.to_vector();
    double worst = 0;
    for (size_t i = 0; i < x.size(); i++) worst = std::max(worst, (double)std::fabs(x[i] - y[i]));
    return worst;
}
} // namespace

Json lesson_18(const Options& options) {
    Json measured;
    const int threads = get_num_threads();
    set_num_threads(1); // one core: the comparison is of work, not of how it shares out

    // 1. The cache changes nothing: a 128-token generation both ways.
    {
        const int64_t total = options.quick ? 32 : 128;
        Generator g(18);
        GPT gpt(generation_gpt(options, total), g);
        const std::vector<int64_t> plain = gpt.generate({0}, total - 1, 1.0f, 0, 7);
        const std::vector<int64_t> cached = generate_cached(gpt, {0}, total - 1, 1.0f, 0, 7);
        // every position's logits: one cached step against the whole prefix recomputed
        NoGrad no_tape;
        KVCache cache(gpt.config, 1);
        double worst = 0;
        for (int64_t t = 0; t < total; t++) {
            const Tensor step = forward_cached(gpt, ids_of(cached, t, t + 1), cache);                  // [1,1,V]
            const Tensor recomputed = gpt.forward(ids_of(cached, 0, t + 1)).slice(1, t, t + 1);       // its last position
            worst = std::max(worst, max_abs_difference(step, recomputed));
        }
        std::printf("1. %s, a %lld-token generation (1-token prompt, sampled at temperature 1, seed 7):\n",
                    gpt.name().c_str(), (long long)total);
        std::printf("   cached and recomputed logits, max |difference| over all %lld positions: %.2e\n", (long long)total, worst);
        std::printf("   the same tokens with the same seed: %s\n\n", plain == cached ? "yes" : "NO");
        measured.number("cached_vs_recomputed_max_abs", worst).boolean("same_tokens", plain == cached)
            .number("positions_checked", (double)total);
    }

    // 2. Speed: tokens/s of a whole generation, and one step at position t.
    const std::vector<int64_t> lengths = options.quick ? std::vector<int64_t>{16, 32} : std::vector<int64_t>{64, 128, 256, 512, 1024};
    const int64_t longest = lengths.back();
    Generator g(19);
    GPT gpt(generation_gpt(options, longest), g);
    gpt.eval();
    std::printf("2. Generation of %s from a 1-token prompt, batch 1, 1 thread, tokens/s:\n", gpt.name().c_str());
    std::printf("   %10s %12s %12s %9s %26s\n", "new tokens", "no cache", "KV cache", "speed-up", "K,V positions computed");
    std::vector<Json> speed;
    const int64_t L = gpt.config.n_layer;
    for (int64_t n : lengths) {
        const int repeats = n <= 256 ? 3 : 1;
        const double plain = time_best(repeats, [&] { gpt.generate({0}, n); });
        const double cached = time_best(repeats, [&] { generate_cached(gpt, {0}, n); });
        // each step of generate feeds the whole sequence so far (1, 2, ..., n positions): n(n+1)/2 per layer;
        // the cached one feeds each position once: n
        const int64_t plain_rows = L * n * (n + 1) / 2, cached_rows = L * n;
        std::printf("   %10lld %12.0f %12.0f %8.1fx %14lld vs %lld\n", (long long)n, (double)n / plain, (double)n / cached,
                    plain / cached, (long long)plain_rows, (long long)cached_rows);
        speed.push_back(Json().number("new_tokens", (double)n).number("uncached_tokens_per_second", (double)n / plain)
                            .number("cached_tokens_per_second", (double)n / cached).number("speedup", plain / cached)
                            .number("uncached_kv_positions", (double)plain_rows).number("cached_kv_positions", (double)cached_rows));
    }
    measured.objects("speedup", speed);
    std::printf("   (K,V positions: keys and values computed, summed over the %lld layers; the last new token is\n"
                "   sampled, never fed, so n positions are fed for n new tokens from one prompt token)\n\n", (long long)L);

    // One step at position t: the whole prefix (no cache) against one token reading a cache of t - 1.
    std::printf("   One step that yields the token after position t, ms:\n   %10s %12s %12s %9s\n", "t", "no cache", "KV cache", "ratio");
    std::vector<Json> steps;
    {
        NoGrad no_tape;
        std::vector<int64_t> ids((size_t)longest);
        for (int64_t i = 0; i < longest; i++) ids[(size_t)i] = i % gpt.config.vocab_size;
        std::vector<int64_t> positions = options.quick ? std::vector<int64_t>{1, 8, 32} : std::vector<int64_t>{1, 4, 16, 32, 64, 256, 1024};
        double one_row = 0; // the uncached step at t = 1: one row through gemm's one-row loop
        int64_t pays_from = 0;
        for (int64_t t : positions) {
            const Tensor prefix = ids_of(ids, 0, t), last = ids_of(ids, t - 1, t);
            const double plain = time_best(5, [&] { gpt.forward(prefix); });
            KVCache cache(gpt.config, 1, t);
            if (t > 1) forward_cached(gpt, ids_of(ids, 0, t - 1), cache);
            const double cached = time_best(5, [&] {
                cache.filled.assign(cache.filled.size(), t - 1); // the same step again: positions 0..t-2 cached
                forward_cached(gpt, last, cache);
            });
            if (t == 1) one_row = plain;
            if (!pays_from && t > 1 && plain > one_row) pays_from = t;
            std::printf("   %10lld %12.3f %12.3f %8.1fx\n", (long long)t, 1e3 * plain, 1e3 * cached, plain / cached);
            steps.push_back(Json().number("t", (double)t).number("uncached_seconds", plain).number("cached_seconds", cached));
        }
        std::printf("   At t = 1 there is nothing to reuse: both steps feed one token, and the ratio is the kernels'\n"
                    "   alone (the cached step's dot products, step_linear, against gemm's one-row loop). A cache\n"
                    "   stepping through gemm's one-row loop would pay %.3f ms a step; the uncached step costs more\n"
                    "   than that only from %s (a few rows through gemm cost little more than one).\n"
                    "   Past that the uncached step grows with t (t rows through every matrix, a t x t attention);\n"
                    "   the cached one only by its attention row over the prefix.\n\n", 1e3 * one_row,
                    pays_from ? ("t = " + std::to_string(pays_from) + " of these").c_str() : "none of these t");
        measured.number("uncached_one_row_step_seconds", one_row).number("cache_alone_pays_from_t", (double)pays_from);
    }
    measured.objects("step", steps);

    // 3. Memory: the cache's buffers (tracker) against the formula and the model.
    std::printf("3. Memory of a cache for %s (T_max = block_size = %lld), tracker:\n", gpt.name().c_str(), (long long)longest);
    std::printf("   %6s %14s %20s %14s %12s\n", "batch", "cache", "2 L B H T D x 4", "parameters", "cache/model");
    const int64_t parameter_bytes = memory_counts(Category::Parameters).live_bytes;
    std::vector<Json> memory;
    int64_t cache_bytes_b1 = 0, formula_b1 = 0;
    for (int64_t B : {1, 8, 32}) {
        const int64_t before = memory_counts(Category::Cache).live_bytes;
        KVCache cache(gpt.config, B);
        const int64_t bytes = memory_counts(Category::Cache).live_bytes - before;
        const GPTConfig& c = gpt.config;
        const int64_t formula = 2 * c.n_layer * B * c.n_head * c.block_size * (c.n_embd / c.n_head) * 4;
        if (B == 1) cache_bytes_b1 = bytes, formula_b1 = formula;
        std::printf("   %6lld %14s %20s %14s %11.2fx\n", (long long)B, bytes_str(bytes).c_str(), bytes_str(formula).c_str(),
                    bytes_str(parameter_bytes).c_str(), (double)bytes / (double)parameter_bytes);
        memory.push_back(Json().number("batch", (double)B).number("cache_bytes", (double)bytes).number("formula_bytes", (double)formula));
    }
    std::printf("   The cache grows with batch x context (2 L C floats per position); the model does not.\n");
    measured.number("cache_bytes", (double)cache_bytes_b1).number("cache_bytes_formula", (double)formula_b1)
        .number("parameter_bytes", (double)parameter_bytes).objects("memory", memory);
    set_num_threads(threads);
    return measured;
}

} // namespace lessons
