// Lesson 11 · Embeddings — the demo behind `./tt lesson 11`.
#include <cmath>
#include <cstdio>

#include "lessons.h"

using namespace tt;

namespace lessons {

Json lesson_11(const Options& options) {
    Json measured;
    std::printf("1. An embedding table costs V x D floats, and training it four times that\n"
                "   (the tracker, after one lookup of 768 ids, a backward and an Adam step):\n");
    std::printf("   %8s %6s %12s %12s %12s %12s\n", "vocab V", "dim D", "parameters", "gradients", "Adam state", "all");
    struct Size { int64_t vocab, dim; };
    const Size sizes[] = {{65, 128}, {512, 128}, {2048, 128}, {2048, 384}, {8192, 384}};
    std::vector<Json> rows;
    Generator g(11);
    for (const Size& s : sizes) {
        const int64_t p0 = memory_counts(Category::Parameters).live_bytes;
        const int64_t g0 = memory_counts(Category::Gradients).live_bytes;
        const int64_t o0 = memory_counts(Category::OptimizerState).live_bytes;
        Embedding table(s.vocab, s.dim, false, 0.02f, g);
        Adam opt(table.parameters(), 1e-3f);
        Tensor ids = (Tensor::rand({768}, g) * (float)s.vocab).reshape({12, 64});
        for (int64_t i = 0; i < ids.numel(); i++) ids.data()[i] = std::floor(ids.data()[i]);
        sum(table(ids)).backward();
        opt.step();
        const int64_t p = memory_counts(Category::Parameters).live_bytes - p0;
        const int64_t gr = memory_counts(Category::Gradients).live_bytes - g0;
        const int64_t o = memory_counts(Category::OptimizerState).live_bytes - o0;
        std::printf("   %8lld %6lld %12s %12s %12s %12s\n", (long long)s.vocab, (long long)s.dim, bytes_str(p).c_str(),
                    bytes_str(gr).c_str(), bytes_str(o).c_str(), bytes_str(p + gr + o).c_str());
        rows.push_back(Json().number("vocab", (double)s.vocab).number("dim", (double)s.dim).number("parameter_bytes", (double)p)
                           .number("gradient_bytes", (double)gr).number("optimizer_bytes", (double)o));
    }
    measured.objects("embedding_memory", rows);
    std::printf("   (the gradient is a whole [V,D] table even though one batch touches a few rows:\n"
                "    a dense scatter-add is simple and, at these sizes, cheaper than a sparse one)\n\n");

    // Gather: a lookup reads a row and writes it, 2*D*4 bytes per id. A table
    // past the caches makes each row a trip to memory; the triad, measured
    // the same way, is what memory can do (Lesson 17's roofline slope).
    const int64_t n_ids = options.quick ? (1 << 14) : (1 << 17), dim = 128;
    std::printf("2. Gather throughput: %lld random ids, D = %lld (one thread)\n", (long long)n_ids, (long long)dim);
    std::printf("   %-28s %10s %10s\n", "", "ms", "GB/s");
    const int64_t n_triad = options.quick ? (1 << 20) : (1 << 23);
    Tensor a = Tensor::zeros({n_triad}), b = Tensor::ones({n_triad}), c = Tensor::ones({n_triad});
    const double triad_s = time_best(5, [&] { triad(a.data(), b.data(), c.data(), 0.5f, n_triad); });
    const double triad_gbs = 12.0 * (double)n_triad / triad_s * 1e-9;
    std::printf("   %-28s %10.2f %10.1f\n", "triad a = b + s*c", triad_s * 1e3, triad_gbs);
    std::vector<Json> gathers;
    double gather_gbs = 0;
    const int threads = get_num_threads();
    set_num_threads(1);
    for (int64_t vocab : {int64_t(2048), options.quick ? int64_t(16384) : int64_t(131072)}) {
        Embedding table(vocab, dim, false, 0.02f, g);
        Tensor ids = Tensor::rand({n_ids}, g) * (float)vocab;
        for (int64_t i = 0; i < n_ids; i++) ids.data()[i] = std::floor(ids.data()[i]);
        const double bytes = 2.0 * (double)(n_ids * dim * 4);
        double forward_s, backward_s;
        {
            NoGrad no_grad;
            forward_s = time_best(5, [&] { Tensor y = table(ids); });
        }
        Tensor seed = Tensor::ones({n_ids, dim});
        backward_s = time_best(3, [&] {
            Tensor y = table(ids);
            y.backward(seed);
            table.zero_grad();
        });
        const double f_gbs = bytes / forward_s * 1e-9;
        char label[64];
        std::snprintf(label, sizeof label, "gather, table %s", bytes_str(vocab * dim * 4).c_str());
        std::printf("   %-28s %10.2f %10.1f   (%.0f%% of the triad)\n", label, forward_s * 1e3, f_gbs, 100 * f_gbs / triad_gbs);
        std::printf("   %-28s %10.2f %10s   (forward, then the [V,D] gradient zeroed and %lld rows added)\n",
                    "  + backward (scatter-add)", backward_s * 1e3, "", (long long)n_ids);
        gathers.push_back(Json().number("table_bytes", (double)(vocab * dim * 4)).number("gather_gb_per_s", f_gbs)
                              .number("forward_backward_ms", backward_s * 1e3));
        if (gather_gbs == 0) gather_gbs = f_gbs; // the headline figure: the table of a small model
    }
    set_num_threads(threads);
    measured.number("triad_gb_per_s", triad_gbs).number("gather_gb_per_s", gather_gbs).objects("gathers", gathers);
    std::printf("   (each id reads a row of 512 bytes, 8 cache lines in a row, and writes it: a table\n"
                "    past the caches adds a trip to memory per row. The backward's cost is mostly the\n"
                "    dense [V,D] gradient, zeroed and added whole, not the rows the batch touched)\n\n");

    std::printf("3. Attention sees a set: without positions the letter 'e' is the same vector\n"
                "   wherever it stands. Added sinusoidal positions (D = 16), distance from position 0:\n   ");
    Embedding letters(65, 16, false, 1.0f, g);
    PositionalEmbedding positions(64, 16, Positions::Sinusoidal);
    Tensor same = Tensor::full({1, 8}, 40.0f); // one id, eight times
    Tensor plain = letters(same), placed = positions(plain);
    std::vector<double> distances;
    for (int64_t t = 0; t < 8; t++) {
        double d = 0;
        for (int64_t k = 0; k < 16; k++) {
            const double diff = placed.at({0, t, k}) - placed.at({0, 0, k});
            d += diff * diff;
        }
        distances.push_back(std::sqrt(d));
        std::printf("t=%lld %.2f  ", (long long)t, std::sqrt(d));
    }
    std::printf("\n   without positions every distance is 0. The sinusoids' dot product depends only\n"
                "   on the offset: PE(t).PE(t+k) for k = 3 at t = 0, 10, 50:");
    Tensor pe = sinusoidal_positions(64, 16);
    std::vector<double> offset_dots;
    for (int64_t t : {0, 10, 50}) {
        double dot = 0;
        for (int64_t k = 0; k < 16; k++) dot += (double)pe.at({t, k}) * pe.at({t + 3, k});
        offset_dots.push_back(dot);
        std::printf(" %.4f", dot);
    }
    std::printf("\n   (sin a sin b + cos a cos b = cos(a - b): a relative position a model can read off)\n");
    measured.numbers("repeated_token_distances", distances).numbers("pe_dot_offset_3", offset_dots);
    return measured;
}

} // namespace lessons
