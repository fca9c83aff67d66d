// Lesson 12 · Attention — the demo behind `./tt lesson 12`: the T x T memory
// of attention as the tracker sees it (a table and an SVG chart), the time of
// causal and full attention as T grows (with the share of score blocks the
// causal op skips), and pictures of the heads of a tiny model trained here to
// reverse a string of digits.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "lessons.h"

using namespace tt;

namespace lessons {
namespace {

// Memory against T on log-log axes: the measured peaks and the weights' B*H*T*T*4 bytes.
void write_memory_svg(const std::string& path, const std::vector<double>& T, const std::vector<double>& peak,
                      const std::vector<double>& weights, const std::string& title) {
    const double W = 640, H = 420, left = 70, right = 20, top = 40, bottom = 55;
    const double x_lo = T.front() / 1.5, x_hi = T.back() * 1.5;
    const double y_lo = std::min(*std::min_element(peak.begin(), peak.end()), weights.front()) / 2;
    const double y_hi = *std::max_element(peak.begin(), peak.end()) * 2;
    auto X = [&](double v) { return left + (W - left - right) * std::log(v / x_lo) / std::log(x_hi / x_lo); };
    auto Y = [&](double v) { return H - bottom - (H - top - bottom) * std::log(v / y_lo) / std::log(y_hi / y_lo); };
    std::ofstream f(path);
    if (!f) throw Error("lesson 12: cannot write " + path);
    char buf[512];
    f << "<svg xmlns='http://www.w3.org/2000/svg' width='" << W << "' height='" << H << "' font-family='sans-serif' font-size='12'>\n"
      << "<rect width='100%' height='100%' fill='white'/>\n";
    std::snprintf(buf, sizeof buf, "<text x='%g' y='22' font-size='15'>%s</text>\n", left, title.c_str());
    f << buf;
    for (double t : T) {
        std::snprintf(buf, sizeof buf, "<line x1='%.1f' y1='%g' x2='%.1f' y2='%g' stroke='#ddd'/><text x='%.1f' y='%g' text-anchor='middle'>%g</text>\n",
                      X(t), top, X(t), H - bottom, X(t), H - bottom + 16, t);
        f << buf;
    }
    for (double v = std::pow(10, std::floor(std::log10(y_lo))); v <= y_hi; v *= 10) {
        if (v < y_lo) continue;
        std::snprintf(buf, sizeof buf, "<line x1='%g' y1='%.1f' x2='%g' y2='%.1f' stroke='#ddd'/><text x='%g' y='%.1f' text-anchor='end'>%s</text>\n",
                      left, Y(v), W - right, Y(v), left - 6, Y(v) + 4, bytes_str((int64_t)v).c_str());
        f << buf;
    }
    std::snprintf(buf, sizeof buf, "<text x='%g' y='%g' text-anchor='middle'>sequence length T</text>\n"
                  "<text transform='translate(16,%g) rotate(-90)' text-anchor='middle'>bytes</text>\n",
                  (left + W - right) / 2, H - 15, (top + H - bottom) / 2);
    f << buf;
    auto series = [&](const std::vector<double>& ys, const char* colour, const char* label, double label_y) {
        f << "<polyline fill='none' stroke='" << colour << "' stroke-width='2' points='";
        for (size_t i = 0; i < T.size(); i++) f << X(T[i]) << "," << Y(ys[i]) << " ";
        f << "'/>\n";
        for (size_t i = 0; i < T.size(); i++) {
            std::snprintf(buf, sizeof buf, "<circle cx='%.1f' cy='%.1f' r='3.5' fill='%s'/>\n", X(T[i]), Y(ys[i]), colour);
            f << buf;
        }
        std::snprintf(buf, sizeof buf, "<text x='%g' y='%g' fill='%s'>%s</text>\n", left + 12, label_y, colour, label);
        f << buf;
    };
    series(peak, "#c33", "tracker peak of forward + backward", top + 16);
    series(weights, "#36c", "the weights P alone, B*H*T*T*4 bytes", top + 32);
    f << "</svg>\n";
}

// Attention weights [H,T,T] of each layer, as one PGM: a row of heads per
// layer, each weight 0..max of its matrix mapped to white..black, enlarged.
void write_heads_pgm(const std::string& path, const std::vector<Tensor>& layers, int64_t scale) {
    const int64_t L = (int64_t)layers.size(), Hh = layers[0].size(0), T = layers[0].size(1);
    const int64_t tile = T * scale + 2, width = Hh * tile + 2, height = L * tile + 2;
    std::vector<unsigned char> pixels(width * height, 160);
    for (int64_t l = 0; l < L; l++)
        for (int64_t h = 0; h < Hh; h++) {
            const Tensor w = layers[l].slice(0, h, h + 1).contiguous();
            const float top = std::max(1e-6f, *std::max_element(w.data(), w.data() + T * T));
            for (int64_t y = 0; y < T * scale; y++)
                for (int64_t x = 0; x < T * scale; x++) {
                    const float v = w.data()[(y / scale) * T + x / scale] / top;
                    pixels[(l * tile + 2 + y) * width + h * tile + 2 + x] = (unsigned char)std::lround(255 * (1 - v));
                }
        }
    std::ofstream out(path, std::ios::binary);
    out << "P5\n" << width << " " << height << "\n255\n";
    out.write((const char*)pixels.data(), (std::streamsize)pixels.size());
    if (!out) throw Error("lesson 12: cannot write " + path);
}

// The task: N digits, a separator (10), then the same digits reversed.
// ids [B, 2N+1]; the model sees ids[0..2N-1] and predicts ids[1..2N].
Tensor reversal_batch(int64_t B, int64_t N, Generator& g) {
    Tensor ids({B, 2 * N + 1});
    for (int64_t b = 0; b < B; b++) {
        std::vector<int64_t> digits(N);
        for (int64_t& d : digits) d = g.randint(10);
        for (int64_t i = 0; i < N; i++) {
            ids.set({b, i}, (float)digits[i]);
            ids.set({b, N + 1 + i}, (float)digits[N - 1 - i]);
        }
        ids.set({b, N}, 10.0f);
    }
    return ids;
}
} // namespace

Json lesson_12(const Options& options) {
    Json measured;

    // 1. Memory: one forward and backward of causal attention, B*H*D fixed.
    const int64_t B = 1, H = 4, D = 32;
    std::vector<int64_t> lengths{64, 128, 256, 512, 1024};
    if (options.quick) lengths = {64, 128, 256};
    std::printf("1. Memory of attention, forward + backward (B=%lld, H=%lld, D=%lld; tracker peak above q, k, v):\n",
                (long long)B, (long long)H, (long long)D);
    std::printf("   %6s %12s %14s %12s %10s\n", "T", "q, k, v", "weights P", "peak", "peak / T^2");
    std::vector<double> Ts, peaks, weight_bytes;
    std::vector<Json> memory;
    for (int64_t T : lengths) {
        Tensor q = Tensor::randn({B, H, T, D}).requires_grad_(), k = Tensor::randn({B, H, T, D}).requires_grad_(),
               v = Tensor::randn({B, H, T, D}).requires_grad_();
        const int64_t before = memory_counts().live_bytes;
        reset_peak();
        sum(scaled_dot_product_attention(q, k, v, true)).backward();
        const int64_t peak = memory_counts().peak_bytes - before, P = B * H * T * T * 4;
        std::printf("   %6lld %12s %14s %12s %8.1f B\n", (long long)T, bytes_str(3 * B * H * T * D * 4).c_str(), bytes_str(P).c_str(),
                    bytes_str(peak).c_str(), (double)peak / (double)(T * T));
        Ts.push_back((double)T), peaks.push_back((double)peak), weight_bytes.push_back((double)P);
        memory.push_back(Json().number("T", (double)T).number("peak_bytes", (double)peak).number("weights_bytes", (double)P));
    }
    measured.objects("memory", memory);
    const std::string svg = output_path("tt-lesson-12-memory.svg");
    write_memory_svg(svg, Ts, peaks, weight_bytes, "Attention memory vs T (B=1, H=4, D=32), " + machine_name());
    std::printf("   The weights P [B,H,T,T] are kept for the backward: at T = %lld they are %.0f%% of the peak, and each\n"
                "   doubling of T multiplies the peak by %.1f (x4 in the limit). Chart: %s\n\n", (long long)lengths.back(),
                100 * weight_bytes.back() / peaks.back(), peaks.back() / peaks[peaks.size() - 2], svg.c_str());

    // 2. Time: causal vs full, forward + backward.
    // one thread: the work itself, not how well the machine's other tenants let two threads meet
    const int threads = get_num_threads();
    set_num_threads(1);
    std::printf("2. Time of attention, forward + backward, best of 3 (B=%lld, H=%lld, D=%lld, 1 thread):\n", (long long)B,
                (long long)H, (long long)D);
    std::printf("   %6s %12s %12s %8s %18s\n", "T", "full", "causal", "ratio", "scores computed");
    std::vector<Json> times;
    for (int64_t T : lengths) {
        Tensor q = Tensor::randn({B, H, T, D}).requires_grad_(), k = Tensor::randn({B, H, T, D}).requires_grad_(),
               v = Tensor::randn({B, H, T, D}).requires_grad_();
        double seconds[2];
        for (int causal = 0; causal < 2; causal++)
            seconds[causal] = time_best(3, [&] { sum(scaled_dot_product_attention(q, k, v, causal == 1)).backward(); });
        // the causal op computes, per block of 32 rows, the keys up to the block's last row
        int64_t computed = 0;
        for (int64_t r0 = 0; r0 < T; r0 += 32) computed += std::min<int64_t>(32, T - r0) * std::min<int64_t>(T, r0 + 32);
        const double share = (double)computed / (double)(T * T);
        std::printf("   %6lld %9.2f ms %9.2f ms %7.2fx %17.0f%%\n", (long long)T, 1e3 * seconds[0], 1e3 * seconds[1],
                    seconds[0] / seconds[1], 100 * share);
        times.push_back(Json().number("T", (double)T).number("full_seconds", seconds[0]).number("causal_seconds", seconds[1])
                            .number("causal_scores_computed", share));
    }
    set_num_threads(threads);
    measured.objects("time", times);
    std::printf("   The causal op skips the key blocks above the diagonal: little more than half the scores are\n"
                "   computed, so at long T it takes about half the time of full attention.\n\n");

    // 3. A tiny model that reverses digit strings, and pictures of its heads.
    const int64_t N = 6, steps = options.quick ? 60 : 400, batch = 32;
    GPTConfig c;
    c.vocab_size = 11, c.block_size = 2 * N, c.n_layer = 2, c.n_head = 2, c.n_embd = 32;
    Generator g(12);
    GPT gpt(c, g);
    AdamW opt(gpt.parameters(), 3e-3f, 0.9f, 0.99f, 1e-8f, 0.01f);
    opt.exclude_from_weight_decay(gpt.no_decay_parameters());
    CosineSchedule schedule(3e-3f, steps, steps / 10, 3e-4f);
    const double start = now_seconds();
    float loss_value = 0;
    for (int64_t step = 0; step < steps; step++) {
        const Tensor ids = reversal_batch(batch, N, g);
        const Tensor x = ids.slice(1, 0, 2 * N), y = ids.slice(1, 1, 2 * N + 1);
        // only the reversed half can be predicted: the loss counts positions N..2N-1
        const Tensor logits = gpt(x.contiguous()).slice(1, N, 2 * N).reshape({batch * N, c.vocab_size});
        const Tensor loss = cross_entropy(logits, y.slice(1, N, 2 * N).reshape({batch * N}));
        opt.lr = schedule(step);
        opt.zero_grad();
        loss.backward();
        opt.step();
        loss_value = loss.item();
    }
    const double train_seconds = seconds_since(start);
    // accuracy: every reversed digit right, greedy, on fresh strings
    const int64_t tests = options.quick ? 20 : 100;
    int64_t right = 0;
    for (int64_t t = 0; t < tests; t++) {
        const Tensor ids = reversal_batch(1, N, g);
        std::vector<int64_t> prompt;
        for (int64_t i = 0; i <= N; i++) prompt.push_back((int64_t)ids.at({0, i}));
        const std::vector<int64_t> out = gpt.generate(prompt, N, 0.0f);
        bool ok = true;
        for (int64_t i = 0; i < N; i++) ok = ok && out[N + 1 + i] == (int64_t)ids.at({0, N + 1 + i});
        right += ok;
    }
    // the heads' weights on one string
    for (auto& block : gpt.blocks) block->attn.keep_weights = true;
    {
        NoGrad inference;
        gpt.eval();
        gpt(reversal_batch(1, N, g).slice(1, 0, 2 * N).contiguous());
    }
    std::vector<Tensor> maps;
    for (auto& block : gpt.blocks) maps.push_back(block->attn.weights.slice(0, 0, 1).reshape({c.n_head, 2 * N, 2 * N}));
    const std::string pgm = output_path("tt-lesson-12-heads.pgm");
    write_heads_pgm(pgm, maps, 12);
    const double accuracy = (double)right / (double)tests;
    std::printf("3. A 2-layer, 2-head GPT (C=32, %lld parameters) learns to reverse %lld digits: %lld steps of batch %lld\n"
                "   in %.1f s, final loss %.3f, %.0f%% of %lld fresh strings reversed exactly (greedy).\n"
                "   Its heads' weights on one string (a row per layer, a column per head; in each, rows are queries,\n"
                "   columns keys, dark = high): %s\n"
                "   In the second half each query has to find the digit mirrored about the separator: an anti-diagonal.\n",
                (long long)gpt.num_parameters(), (long long)N, (long long)steps, (long long)batch, train_seconds, loss_value,
                100 * accuracy, (long long)tests, pgm.c_str());
    // the first layer's heads as characters, darker = more weight (each head scaled to its largest weight)
    const char* shades = " .:-=+*#%@";
    const Tensor first = maps[0].contiguous();
    const int64_t T = 2 * N;
    std::printf("   Layer 1, heads side by side (query rows 0..%lld, key columns 0..%lld; '@' = the most weight):\n", (long long)(T - 1),
                (long long)(T - 1));
    for (int64_t i = 0; i < T; i++) {
        std::printf("   ");
        for (int64_t h = 0; h < c.n_head; h++) {
            const float* w = first.data() + h * T * T;
            const float top = std::max(1e-6f, *std::max_element(w, w + T * T));
            std::printf("  |");
            for (int64_t j = 0; j < T; j++) std::printf("%c", shades[std::min<int64_t>(9, std::lround(9 * w[i * T + j] / top))]);
            std::printf("|");
        }
        std::printf("\n");
    }
    measured.object("reversal", Json().number("digits", (double)N).number("steps", (double)steps).number("seconds", train_seconds)
                                    .number("loss", loss_value).number("accuracy", accuracy).text("picture", pgm));
    return measured;
}

} // namespace lessons
