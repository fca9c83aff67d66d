// Lesson 18 · Memoization: the KV cache. append writes the next positions
// (from strided views too) and returns the filled prefix; its bytes are
// counted under Category::Cache, exactly 2 L B H T_max D * 4; forward_cached
// gives forward's logits at every position (prompt in one step or token by
// token, batch 2), records nothing on the tape; generate_cached gives
// generate's tokens for the same seed over a 128-token generation; and the
// errors: past T_max, another batch, another model's cache, bad prompts.
#include "test.h"

using namespace tt;

namespace {
GPTConfig small_config(int64_t block_size) {
    GPTConfig c;
    c.vocab_size = 13, c.block_size = block_size, c.n_layer = 2, c.n_head = 2, c.n_embd = 16;
    return c;
}
Tensor ids_tensor(const std::vector<int64_t>& ids, int64_t from, int64_t to) {
    return Tensor({1, to - from}, std::vector<float>(ids.begin() + from, ids.begin() + to));
}
std::vector<int64_t> random_tokens(int64_t n, int64_t V, uint64_t seed) {
    Generator g(seed);
    std::vector<int64_t> ids((size_t)n);
    for (int64_t& id : ids) id = g.randint(V);
    return ids;
}
// max |a - b| over two tensors of the same shape.
double max_difference(const Tensor& a, const Tensor& b) {
    const std::vector<float> x = a.to_vector(), y = b.to_vector();
    double worst = x.size() == y.size() ? 0 : INFINITY;
    for (size_t i = 0; i < x.size() && i < y.size(); i++) worst = std::max(worst, (double)std::fabs(x[i] - y[i]));
    return worst;
}
} // namespace

TEST_GIVEN(kv_cache_bytes_are_counted_under_cache) {
    const int64_t before = memory_counts(Category::Cache).live_bytes;
    {
        KVCache cache(3, 2, 4, 10, 8); // L B H T_max D
        CHECK_EQ(cache.bytes(), (int64_t)(2 * 3 * 2 * 4 * 10 * 8 * 4));
        CHECK_EQ(memory_counts(Category::Cache).live_bytes - before, cache.bytes());
        CHECK_EQ(cache.keys[0].shape(), (Shape{2, 4, 10, 8}));
        CHECK_EQ(cache.length(), 0);
        KVCache from_config(small_config(32)); // 2 layers, batch 1, 2 heads, block_size, 16 / 2
        CHECK_EQ(from_config.bytes(), (int64_t)(2 * 2 * 1 * 2 * 32 * 8 * 4));
        CHECK_EQ(KVCache(small_config(32), 3, 5).name(), std::string("KVCache(layers=2, batch=3, heads=2, max_length=5, head_size=8)"));
    }
    CHECK_EQ(memory_counts(Category::Cache).live_bytes, before);
    CHECK_EQ(std::string(category_name(Category::Cache)), std::string("cache"));
    CHECK(memory_report().find("cache") != std::string::npos);
}

TEST(kv_cache_append_writes_the_next_positions) {
    KVCache cache(2, 2, 3, 5, 4);
    const Tensor k1 = test::rnd({2, 3, 2, 4}, 1), v1 = test::rnd({2, 3, 2, 4}, 2);
    auto [keys, values] = cache.append(0, k1, v1);
    CHECK_EQ(keys.shape(), (Shape{2, 3, 2, 4}));
    CHECK_VALUES(keys, 0, k1.to_vector());
    CHECK_VALUES(values, 0, v1.to_vector());
    CHECK(keys.shares_storage(cache.keys[0])); // a view of the buffer, not a copy
    // one more position, from transposed views ([B,H,1,D] seen through [B,H,D,1] memory)
    const Tensor k2 = test::rnd({2, 3, 4, 1}, 3).transpose(2, 3), v2 = test::rnd({2, 3, 4, 1}, 4).transpose(2, 3);
    auto [keys2, values2] = cache.append(0, k2, v2);
    CHECK_EQ(keys2.shape(), (Shape{2, 3, 3, 4}));
    CHECK_VALUES(keys2, 0, concat({k1, k2}, 2).to_vector());
    CHECK_VALUES(values2, 0, concat({v1, v2}, 2).to_vector());
    CHECK_EQ(cache.filled, (std::vector<int64_t>{3, 0}));
    CHECK_THROWS(cache.length(), "KVCache: its layers hold different numbers of positions");
    // the other layer fills its own buffers
    cache.append(1, k1, v1);
    cache.append(1, k2, v2);
    CHECK_EQ(cache.length(), 3);
    CHECK_VALUES(cache.values[1].slice(2, 0, 3), 0, concat({v1, v2}, 2).to_vector());
    // past T_max: 3 + 3 > 5, and nothing is written
    const Tensor k3 = test::rnd({2, 3, 3, 4}, 5);
    CHECK_THROWS(cache.append(0, k3, k3), "KVCache::append: layer 0 holds 3 of 5 positions; 3 more would pass max_length");
    CHECK_EQ(cache.filled[0], 3);
    cache.clear();
    CHECK_EQ(cache.length(), 0);
    CHECK_EQ(cache.append(0, k1, v1).first.shape(), (Shape{2, 3, 2, 4}));
}

TEST_GIVEN(kv_cache_errors) {
    CHECK_THROWS(KVCache(0, 1, 2, 8, 4), "KVCache: needs positive layers, batch, heads, max_length and head_size");
    KVCache cache(2, 1, 2, 4, 8);
    const Tensor ok = Tensor::zeros({1, 2, 1, 8});
    CHECK_THROWS(cache.append(2, ok, ok), "KVCache::append: layer 2 is not one of the cache's 0..1");
    CHECK_THROWS(cache.append(0, Tensor::zeros({2, 2, 1, 8}), Tensor::zeros({2, 2, 1, 8})),
                 "KVCache::append: k [2,2,1,8] and v [2,2,1,8] should both be [B,H,T,D] = [1,2,1,8]");
    CHECK_THROWS(cache.append(0, ok, Tensor::zeros({1, 2, 1, 4})), "should both be [B,H,T,D] = [1,2,1,8]");
    CHECK_THROWS(cache.append(0, Tensor::zeros({1, 2, 5, 8}), Tensor::zeros({1, 2, 5, 8})),
                 "KVCache::append: layer 0 holds 0 of 4 positions; 5 more would pass max_length (T_max)");
    CHECK_THROWS(cache.append(0, Tensor(), ok), "KVCache::append: the tensor is undefined");

    Generator g(1);
    GPT gpt(small_config(8), g);
    KVCache batch_one(gpt.config, 1);
    CHECK_THROWS(forward_cached(gpt, Tensor::zeros({2, 3}), batch_one),
                 "forward_cached: ids [2,3] are a batch of 2; the cache was made for a batch of 1");
    CHECK_THROWS(forward_cached(gpt, Tensor::zeros({1, 9}), batch_one), "forward_cached: positions 0..8 are past");
    KVCache short_cache(gpt.config, 1, 4);
    CHECK_THROWS(forward_cached(gpt, Tensor::zeros({1, 5}), short_cache), "past the cache's max_length (T_max) 4");
    KVCache other_model(4, 1, 4, 8, 4);
    CHECK_THROWS(forward_cached(gpt, Tensor::zeros({1, 1}), other_model),
                 "forward_cached: the cache is another model's: KVCache(layers=4, batch=1, heads=4, max_length=8, head_size=4) "
                 "holds 4 layers x 4 heads x 4 features");
    KVCache other_heads(2, 1, 4, 8, 4); // same width, other split into heads
    CHECK_THROWS(forward_cached(gpt, Tensor::zeros({1, 1}), other_heads), "has 2 x 2 x 8");
    CHECK_THROWS(forward_cached(gpt, Tensor::zeros({3}), batch_one), "forward_cached: expects ids [B,T] with T >= 1, got [3]");
    CHECK_THROWS(generate_cached(gpt, {}, 3), "generate_cached: the prompt is empty");
    CHECK_THROWS(generate_cached(gpt, {1}, 3, -1.0f), "generate_cached: needs max_new_tokens >= 0, temperature >= 0");
    CHECK_THROWS(generate_cached(gpt, {1, 2}, 8), "generate_cached: a prompt of 2 and 8 new tokens need 9 positions, past block_size 8");
    CHECK(generate_cached(gpt, {1, 2}, 0) == (std::vector<int64_t>{1, 2}));
}

TEST(forward_cached_gives_forward_s_logits) {
    Generator g(2);
    GPT gpt(small_config(16), g);
    const std::vector<int64_t> ids = random_tokens(16, 13, 3);
    NoGrad no_tape;
    const Tensor full = gpt.forward(ids_tensor(ids, 0, 16)); // [1,16,V]
    KVCache cache(gpt.config, 1);
    // the prompt of 5 in one step, then one token at a time
    std::vector<Tensor> steps{forward_cached(gpt, ids_tensor(ids, 0, 5), cache)};
    for (int64_t t = 5; t < 16; t++) steps.push_back(forward_cached(gpt, ids_tensor(ids, t, t + 1), cache));
    CHECK_EQ(cache.length(), 16);
    CHECK_EQ(steps[0].shape(), (Shape{1, 5, 13}));
    CHECK(max_difference(concat(steps, 1), full) <= 1e-5);
    CHECK_THROWS(forward_cached(gpt, ids_tensor(ids, 0, 1), cache), "forward_cached: positions 16..16 are past");
    // batch 2: each row its own sequence
    const std::vector<int64_t> other = random_tokens(16, 13, 4);
    std::vector<float> both(ids.begin(), ids.end());
    both.insert(both.end(), other.begin(), other.end());
    const Tensor pair({2, 16}, both);
    KVCache two(gpt.config, 2);
    const Tensor head = forward_cached(gpt, pair.slice(1, 0, 9), two), tail = forward_cached(gpt, pair.slice(1, 9, 16), two);
    CHECK(max_difference(concat({head, tail}, 1), gpt.forward(pair)) <= 1e-5);
    // a width that is no multiple of the step's 16 partial sums (12; fc2 reads 48), one token at a time
    GPTConfig odd = small_config(6);
    odd.n_embd = 12;
    GPT narrow(odd, g);
    KVCache narrow_cache(narrow.config, 1);
    std::vector<Tensor> narrow_steps;
    for (int64_t t = 0; t < 6; t++) narrow_steps.push_back(forward_cached(narrow, ids_tensor(ids, t, t + 1), narrow_cache));
    CHECK(max_difference(concat(narrow_steps, 1), narrow.forward(ids_tensor(ids, 0, 6))) <= 1e-5);
}

TEST(forward_cached_records_nothing) {
    Generator g(5);
    GPT gpt(small_config(8), g);
    CHECK(grad_enabled());
    clear_tape();
    KVCache cache(gpt.config, 1);
    const Tensor logits = forward_cached(gpt, Tensor({1, 3}, {1, 2, 3}), cache);
    CHECK_EQ(logits.shape(), (Shape{1, 3, 13}));
    CHECK(!logits.requires_grad());
    CHECK_EQ(tape().size(), (size_t)0);
    CHECK(grad_enabled()); // and recording is back on
    CHECK_THROWS(forward_cached(gpt, Tensor::full({1, 1}, 13), cache), "embedding: id 13"); // the lookup's own check
}

TEST(generate_cached_gives_generate_s_tokens) {
    // a 128-token generation: a prompt of 1, 127 new tokens, every position's
    // logits as recomputed from the whole prefix, and the same sampled tokens
    Generator g(6);
    GPTConfig c = small_config(128);
    c.n_layer = 3;
    GPT gpt(c, g);
    const std::vector<int64_t> plain = gpt.generate({7}, 127, 1.0f, 0, 99), cached = generate_cached(gpt, {7}, 127, 1.0f, 0, 99);
    CHECK_EQ(cached.size(), (size_t)128);
    CHECK(cached == plain);
    CHECK(generate_cached(gpt, {7}, 127, 1.0f, 0, 100) != cached); // the seed matters
    CHECK(generate_cached(gpt, {3, 4}, 20, 0.0f) == gpt.generate({3, 4}, 20, 0.0f));
    CHECK(generate_cached(gpt, {3, 4}, 20, 0.8f, 3, 5) == gpt.generate({3, 4}, 20, 0.8f, 3, 5));
    NoGrad no_tape;
    KVCache cache(gpt.config, 1);
    double worst = 0;
    for (int64_t t = 0; t < 128; t++) {
        const Tensor step = forward_cached(gpt, ids_tensor(cached, t, t + 1), cache);               // [1,1,V]
        const Tensor recomputed = gpt.forward(ids_tensor(cached, 0, t + 1)).slice(1, t, t + 1);   // the last position's
        worst = std::max(worst, max_difference(step, recomputed));
    }
    CHECK(worst <= 1e-4);
}
