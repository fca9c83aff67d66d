// Lesson 13 · Transformers — the demo behind `./tt lesson 13`: where a small
// GPT's parameters are, how its parameter and activation memory grow with
// layers, width and context (tracker), and where the time of one training
// step goes (attention, MLP, head, optimizer), each part timed on its own.
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "lessons.h"

using namespace tt;

namespace lessons {
namespace {

// The recipe of milestone 2017 (nanoGPT's CPU settings), on a 65-character vocabulary.
GPTConfig small_gpt() {
    GPTConfig c;
    c.vocab_size = 65, c.block_size = 64, c.n_layer = 4, c.n_head = 4, c.n_embd = 128;
    return c;
}
// Random token ids [B,T] (and the next tokens [B*T] as targets).
Tensor random_ids(int64_t B, int64_t T, int64_t V, Generator& g) {
    Tensor ids({B, T});
    for (int64_t i = 0; i < B * T; i++) ids.data()[i] = (float)g.randint(V);
    return ids;
}
Tensor lm_loss(GPT& gpt, const Tensor& x, const Tensor& y) {
    const int64_t rows = x.numel();
    return cross_entropy(gpt(x).view({rows, gpt.config.vocab_size}), y.reshape({rows}));
}
} // namespace

Json lesson_13(const Options& options) {
    Json measured;
    const GPTConfig c = small_gpt();
    const int64_t C = c.n_embd, L = c.n_layer;

    // 1. Where the parameters are.
    {
        GPT gpt(c);
        const ParameterCounts n = gpt.parameter_counts();
        std::printf("1. Parameters of %s:\n", gpt.name().c_str());
        const std::pair<const char*, int64_t> parts[] = {{"embeddings (token + position)", n.embeddings},
                                                         {"attention (qkv + proj)", n.attention},
                                                         {"MLP (fc1 + fc2)", n.mlp},
                                                         {"layer norms", n.layer_norms},
                                                         {"head", n.head}};
        for (auto& [what, count] : parts)
            std::printf("   %-32s %9lld  %5.1f%%\n", what, (long long)count, 100.0 * (double)count / (double)n.total());
        std::printf("   %-32s %9lld   (12 L C^2 = %lld: the blocks' matrices)\n\n", "total", (long long)n.total(),
                    (long long)(12 * L * C * C));
        measured.object("parameters", Json().number("embeddings", (double)n.embeddings).number("attention", (double)n.attention)
                                          .number("mlp", (double)n.mlp).number("layer_norms", (double)n.layer_norms)
                                          .number("head", (double)n.head).number("total", (double)n.total()));
    }

    // 2. Memory against layers, width and context: one training step's forward and backward.
    struct Shape3 { int64_t layers, width, T; };
    std::vector<Shape3> shapes{{2, 128, 64}, {4, 128, 64}, {8, 128, 64}, {4, 64, 64}, {4, 256, 64}, {4, 128, 32}, {4, 128, 128}, {4, 128, 256}};
    if (options.quick) shapes = {{2, 64, 32}, {4, 64, 32}, {4, 64, 64}};
    const int64_t B = 12;
    std::printf("2. Memory of one forward + backward, batch %lld (tracker):\n", (long long)B);
    std::printf("   %6s %6s %5s %12s %12s %14s %16s\n", "layers", "width", "T", "parameters", "gradients", "activations", "attention P");
    std::vector<Json> memory;
    for (const Shape3& s : shapes) {
        GPTConfig cs = c;
        cs.n_layer = s.layers, cs.n_embd = s.width, cs.block_size = s.T;
        Generator g(1);
        GPT gpt(cs, g);
        const Tensor x = random_ids(B, s.T, cs.vocab_size, g), y = random_ids(B, s.T, cs.vocab_size, g);
        const int64_t live = memory_counts(Category::Activations).live_bytes;
        reset_peak();
        lm_loss(gpt, x, y).backward();
        const int64_t activations = memory_counts(Category::Activations).peak_bytes - live;
        const int64_t params = memory_counts(Category::Parameters).live_bytes, grads = memory_counts(Category::Gradients).live_bytes;
        const int64_t P = s.layers * B * cs.n_head * s.T * s.T * 4; // the weights every layer keeps
        std::printf("   %6lld %6lld %5lld %12s %12s %14s %16s\n", (long long)s.layers, (long long)s.width, (long long)s.T,
                    bytes_str(params).c_str(), bytes_str(grads).c_str(), bytes_str(activations).c_str(), bytes_str(P).c_str());
        memory.push_back(Json().number("layers", (double)s.layers).number("width", (double)s.width).number("T", (double)s.T)
                             .number("parameter_bytes", (double)params).number("gradient_bytes", (double)grads)
                             .number("activation_peak_bytes", (double)activations).number("attention_weight_bytes", (double)P));
        gpt.zero_grad();
    }
    measured.objects("memory", memory);
    std::printf("   Parameters grow with layers x width^2, activations with layers x width x T (plus the\n"
                "   attention weights, layers x heads x T^2): at this size a batch's activations outweigh the model.\n\n");

    // 3. Where one training step's time goes: each part alone, forward + backward, on the step's shapes.
    const int64_t T = c.block_size, repeats = options.quick ? 2 : 5;
    Generator g(2);
    GPT gpt(c, g);
    AdamW opt(gpt.parameters(), 1e-3f, 0.9f, 0.95f, 1e-8f, 0.1f);
    opt.exclude_from_weight_decay(gpt.no_decay_parameters());
    const Tensor x = random_ids(B, T, c.vocab_size, g), y = random_ids(B, T, c.vocab_size, g);
    // the split is measured on one thread: on two, the small ops' hand-offs between threads
    // make a part timed alone vary more than the work it does
    const int threads = get_num_threads();
    set_num_threads(1);
    auto training_step = [&] {
        opt.zero_grad();
        lm_loss(gpt, x, y).backward();
        opt.step();
    };
    const double step = time_best(repeats, training_step);
    Block& block = *gpt.blocks[0];
    const Tensor h = Tensor::randn({B, T, C}, g).requires_grad_();
    const double attention = L * time_best(repeats, [&] { sum(block.attn(block.ln1(h))).backward(); });
    const double mlp = L * time_best(repeats, [&] { sum(block.fc2(gelu(block.fc1(block.ln2(h))))).backward(); });
    const Tensor wide = Tensor::randn({B, T, 4 * C}, g).requires_grad_();
    const double gelu_part = L * time_best(repeats, [&] { sum(gelu(wide)).backward(); });
    const double head = time_best(repeats, [&] {
        cross_entropy(linear(gpt.ln_f(h), gpt.head).view({B * T, c.vocab_size}), y.reshape({B * T})).backward();
    });
    const double optimizer = time_best(repeats, [&] { opt.step(); });
    const double rest = step - attention - mlp - head - optimizer;
    std::printf("3. One training step of %s, batch %lld x %lld tokens, 1 thread: %.1f ms (%.0f tokens/s)\n",
                gpt.name().c_str(), (long long)B, (long long)T, 1e3 * step, (double)(B * T) / step);
    const std::pair<const char*, double> parts[] = {{"attention (ln1, qkv, attention, proj) x L", attention},
                                                    {"MLP (ln2, fc1, GELU, fc2) x L", mlp},
                                                    {"  of which GELU x L (tanh per element)", gelu_part},
                                                    {"head (ln_f, logits, cross-entropy)", head},
                                                    {"optimizer (AdamW)", optimizer},
                                                    {"the rest (embeddings, residual adds, tape)", rest}};
    for (auto& [what, seconds] : parts)
        std::printf("   %-44s %7.2f ms  %5.1f%%\n", what, 1e3 * seconds, 100 * seconds / step);
    set_num_threads(threads);
    const double step_all = time_best(repeats, training_step);
    std::printf("   Each part is timed alone, forward and backward, on the step's shapes; the rest is the step\n"
                "   minus the parts. The same step on %d threads: %.1f ms (%.0f tokens/s).\n", threads, 1e3 * step_all,
                (double)(B * T) / step_all);
    measured.object("step", Json().number("seconds_1_thread", step).number("tokens_per_second_1_thread", (double)(B * T) / step)
                                .number("threads", threads).number("seconds", step_all).number("tokens_per_second", (double)(B * T) / step_all)
                                .number("attention_seconds", attention).number("mlp_seconds", mlp).number("gelu_seconds", gelu_part)
                                .number("head_seconds", head)
                                .number("optimizer_seconds", optimizer).number("rest_seconds", rest));
    return measured;
}

} // namespace lessons
