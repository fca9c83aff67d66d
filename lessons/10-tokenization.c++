// Lesson 10 · Tokenization — the demo behind `./tt lesson 10`.
#include <cmath>
#include <cstdio>

#include "lessons.h"

using namespace tt;

namespace lessons {

namespace {
// Parameters of the small GPT of milestone 2017 (4 layers, width 128,
// context 64, untied output layer) at vocabulary V, by its parts: each block
// is the fused QKV projection (3C^2+3C), the output projection (C^2+C), the
// MLP (8C^2+5C) and two LayerNorms (4C); then a final LayerNorm, the token
// and position tables, and the output layer (V*C, no bias).
struct GptParameters { int64_t embedding, total; };
GptParameters small_gpt_parameters(int64_t vocab) {
    const int64_t C = 128, L = 4, T = 64;
    const int64_t blocks = L * (12 * C * C + 13 * C), final_norm = 2 * C;
    const int64_t tables = vocab * C + T * C, head = vocab * C;
    return {vocab * C + head, blocks + final_norm + tables + head};
}
} // namespace

Json lesson_10(const Options& options) {
    Json measured;
    const std::string path = shared_data_path("tinyshakespeare/input.txt");
    if (path.empty()) {
        std::printf("SKIPPED: Tiny Shakespeare is not in data/ or ../shared/data; `make data-text` downloads it.\n");
        measured.boolean("skipped", true);
        return measured;
    }
    std::string text = read_text(path);
    if (options.quick) text.resize(1 << 18); // 256 KB (cut on an ASCII byte: the corpus is ASCII)
    std::printf("Tiny Shakespeare: %s, %zu bytes%s, valid UTF-8\n\n", path.c_str(), text.size(), options.quick ? " (--quick: the first 256 KB)" : "");

    std::printf("1. Vocabulary size against sequence length (the whole text, tokenized)\n");
    std::printf("   %-10s %7s %10s %12s %12s %12s %14s\n", "tokenizer", "vocab", "train s", "encode s", "tokens", "bytes/token",
                "tokenizer mem");
    struct Row { std::string name; int64_t vocab; double train_s, encode_s; int64_t tokens; int64_t memory; };
    std::vector<Row> rows;
    {
        const int64_t before = memory_counts(Category::Data).live_bytes;
        double start = now_seconds();
        CharTokenizer chars(text, false);
        const double train_s = seconds_since(start);
        start = now_seconds();
        const std::vector<int64_t> ids = chars.encode(text);
        const double encode_s = seconds_since(start);
        if (chars.decode(ids) != text) throw Error("lesson 10: the char tokenizer did not round-trip the corpus");
        rows.push_back({"char", chars.vocab_size(), train_s, encode_s, (int64_t)ids.size(), memory_counts(Category::Data).live_bytes - before});
    }
    for (int64_t vocab : {256, 512, 1024, 2048}) {
        const int64_t before = memory_counts(Category::Data).live_bytes;
        double start = now_seconds();
        BPETokenizer bpe = BPETokenizer::train(text, vocab);
        const double train_s = seconds_since(start);
        start = now_seconds();
        const std::vector<int64_t> ids = bpe.encode(text);
        const double encode_s = seconds_since(start);
        if (bpe.decode(ids) != text) throw Error("lesson 10: BPE did not round-trip the corpus");
        rows.push_back({"BPE " + std::to_string(vocab), bpe.vocab_size(), train_s, encode_s, (int64_t)ids.size(),
                        memory_counts(Category::Data).live_bytes - before});
    }
    std::vector<Json> json_rows;
    Json bytes_per_token;
    std::vector<double> bpe_vocab, bpe_seconds;
    for (const Row& r : rows) {
        const double bpt = (double)text.size() / (double)r.tokens;
        std::printf("   %-10s %7lld %10.3f %12.3f %12lld %12.2f %14s\n", r.name.c_str(), (long long)r.vocab, r.train_s, r.encode_s,
                    (long long)r.tokens, bpt, bytes_str(r.memory).c_str());
        json_rows.push_back(Json().text("tokenizer", r.name).number("vocab", (double)r.vocab).number("train_seconds", r.train_s)
                                .number("encode_seconds", r.encode_s).number("tokens", (double)r.tokens)
                                .number("bytes_per_token", bpt).number("tokenizer_bytes", (double)r.memory));
        bytes_per_token.number(r.name == "char" ? "char" : "bpe_" + std::to_string(r.vocab), bpt);
        if (r.name != "char") {
            bpe_vocab.push_back((double)r.vocab);
            bpe_seconds.push_back(r.train_s);
        }
    }
    measured.objects("tokenizers", json_rows).object("bytes_per_token", bytes_per_token)
        .numbers("bpe_vocab", bpe_vocab).numbers("bpe_train_seconds", bpe_seconds);
    std::printf("   (BPE 256 is the bytes themselves, no merges. A context of 64 tokens holds\n"
                "    %.0f bytes of text with char, %.0f with BPE 2048. Training time grows with the\n"
                "    merges: %.1fx from 512 to 2048 for 6x the merges, because each merge rewrites\n"
                "    only the words that hold its pair, and later pairs are rarer.)\n\n",
                64.0 * (double)text.size() / (double)rows[0].tokens, 64.0 * (double)text.size() / (double)rows.back().tokens,
                rows[4].train_s / std::max(rows[2].train_s, 1e-9));

    std::printf("2. What a vocabulary costs a model: the small GPT of milestone 2017 (4 layers,\n"
                "   width 128, context 64; token table and output layer are V x 128 each)\n");
    std::printf("   %-10s %7s %12s %12s %8s\n", "tokenizer", "vocab", "parameters", "in V x C", "share");
    std::vector<Json> shares;
    for (const Row& r : rows) {
        const GptParameters p = small_gpt_parameters(r.vocab);
        const double share = (double)p.embedding / (double)p.total;
        std::printf("   %-10s %7lld %12lld %12lld %7.1f%%\n", r.name.c_str(), (long long)r.vocab, (long long)p.total,
                    (long long)p.embedding, 100 * share);
        shares.push_back(Json().number("vocab", (double)r.vocab).number("parameters", (double)p.total).number("embedding_share", share));
    }
    measured.objects("embedding_share", shares);
    std::printf("   (at V = 2048 the two V x C matrices are %.0f%% of the model: a larger vocabulary\n"
                "    buys shorter sequences with parameters the blocks do not get)\n",
                100 * (double)small_gpt_parameters(2048).embedding / (double)small_gpt_parameters(2048).total);
    return measured;
}

} // namespace lessons
