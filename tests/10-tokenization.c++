// Lesson 10 · Tokenization: the text reader refuses bad UTF-8 (naming the
// byte), the char tokenizer's sorted vocabulary and unk, byte-level BPE
// (merges learnt as a recount would learn them, exact round trips, strict
// save/load), and next-token windows batched by the DataLoader.
#include "test.h"

#include <map>

using namespace tt;

namespace {
std::vector<unsigned char> bytes_of(const std::string& s) { return std::vector<unsigned char>(s.begin(), s.end()); }

// The most frequent adjacent pair by a full recount of every word: what
// incremental training must agree with at every merge.
std::vector<std::pair<int32_t, int32_t>> recount_merges(const std::string& corpus, int64_t vocab_size) {
    std::vector<std::vector<int32_t>> words;
    for (const std::string& c : split_chunks(corpus)) words.push_back(std::vector<int32_t>(c.begin(), c.end()));
    for (auto& w : words)
        for (int32_t& id : w) id &= 0xFF;
    std::vector<std::pair<int32_t, int32_t>> merges;
    for (int32_t next = 256; next < vocab_size; next++) {
        std::map<std::pair<int32_t, int32_t>, int64_t> counts;
        for (const auto& w : words)
            for (size_t k = 0; k + 1 < w.size(); k++) counts[{w[k], w[k + 1]}]++;
        std::pair<int32_t, int32_t> best{-1, -1};
        int64_t best_count = 1;
        for (const auto& [pair, count] : counts)
            if (count > best_count) { best = pair; best_count = count; } // ties: the smaller pair (map order)
        if (best.first < 0) break;
        merges.push_back(best);
        for (auto& w : words) {
            std::vector<int32_t> out;
            for (size_t k = 0; k < w.size(); k++) {
                if (k + 1 < w.size() && w[k] == best.first && w[k + 1] == best.second) { out.push_back(next); k++; }
                else out.push_back(w[k]);
            }
            w = out;
        }
    }
    return merges;
}

const char* kVerse = "To be, or not to be, that is the question:\nWhether 'tis nobler in the mind to suffer\n"
                     "The slings and arrows of outrageous fortune,\nOr to take arms against a sea of troubles\n"
                     "And by opposing end them. To die: to sleep;\nNo more; and by a sleep to say we end\n";
} // namespace

TEST_GIVEN(read_text_refuses_bad_utf8_naming_the_byte) {
    test::TempDir dir;
    CHECK_EQ(read_text(dir.file("ok.txt", bytes_of("caf\xC3\xA9 \xE2\x82\xAC\n"))), std::string("caf\xC3\xA9 \xE2\x82\xAC\n"));
    CHECK_THROWS(read_text(dir / "missing.txt"), "read_text: cannot open");
    CHECK_THROWS(read_text(dir.file("empty.txt", {})), "is empty");
    CHECK_THROWS(read_text(dir.file("a.txt", bytes_of("abc\x80"))), "not valid UTF-8 at byte 3: a continuation byte 0x80 with no lead byte");
    CHECK_THROWS(read_text(dir.file("b.txt", bytes_of("ab\xE2\x82"))), "at byte 2: a sequence cut short by the end");
    CHECK_THROWS(read_text(dir.file("c.txt", bytes_of("\xC3("))), "at byte 0: a sequence cut short (lead byte 0xC3");
    CHECK_THROWS(read_text(dir.file("d.txt", bytes_of("x\xC0\xAF"))), "at byte 1: an overlong form");
    CHECK_THROWS(read_text(dir.file("e.txt", bytes_of("\xED\xA0\x80"))), "a surrogate code point");
    CHECK_THROWS(read_text(dir.file("f.txt", bytes_of("\xF4\x90\x80\x80"))), "a code point past U+10FFFF");
    CHECK_THROWS(read_text(dir.file("g.txt", bytes_of("\xFF"))), "the byte 0xFF never appears in UTF-8");
    CHECK_THROWS(check_utf8("ok\xFE", "my corpus"), "my corpus: not valid UTF-8 at byte 2");
}

TEST(char_tokenizer_sorted_vocabulary_and_unk) {
    CharTokenizer tok("hello world\n");
    // sorted distinct characters: \n ' ' d e h l o r w, then unk
    CHECK_EQ(tok.vocab_size(), 10);
    CHECK_EQ(tok.unk_id, 9);
    CHECK_EQ(tok.encode("hold"), (std::vector<int64_t>{4, 6, 5, 2}));
    CHECK_EQ(tok.decode(tok.encode("hello world\n")), std::string("hello world\n"));
    CHECK_EQ(tok.encode("hez"), (std::vector<int64_t>{4, 3, 9}));
    CHECK_EQ(tok.decode({4, 9}), std::string("h\xEF\xBF\xBD")); // unk decodes to U+FFFD
    CharTokenizer again("\nwdlrohe l");
    CHECK_EQ(again.encode("hold"), tok.encode("hold")); // the same characters give the same ids
    CharTokenizer utf8("\xC3\xA9t\xC3\xA9", false); // é t é: two characters, no unk
    CHECK_EQ(utf8.vocab_size(), 2);
    CHECK_EQ(utf8.encode("t\xC3\xA9"), (std::vector<int64_t>{0, 1}));
    CHECK_THROWS(utf8.encode("x"), "CharTokenizer::encode: U+0078 at character 0 is not in the vocabulary");
    CHECK_THROWS(tok.decode({10}), "CharTokenizer::decode: id 10 is not in 0..9");
    CHECK_THROWS(CharTokenizer(""), "CharTokenizer: the corpus is empty");
    CHECK_THROWS(tok.encode("\xC3"), "CharTokenizer::encode: the text: not valid UTF-8 at byte 0");
}

TEST_GIVEN(split_chunks_like_gpt2) {
    CHECK_EQ(split_chunks("Hello, world!  It's 2017.\n\nOk"),
             (std::vector<std::string>{"Hello", ",", " world", "!", " ", " It", "'", "s", " 2017", ".", "\n\n", "Ok"}));
    std::string long_run(150, 'a');
    const std::vector<std::string> pieces = split_chunks(long_run);
    CHECK_EQ(pieces.size(), 3); // 64 + 64 + 22
    CHECK_EQ(pieces[2].size(), 22);
}

TEST(bpe_learns_what_a_recount_learns) {
    const std::string corpus = std::string(kVerse) + kVerse + "the the the then there";
    BPETokenizer tok = BPETokenizer::train(corpus, 300);
    const auto expected = recount_merges(corpus, 300);
    CHECK_EQ(tok.merges.size(), expected.size());
    for (size_t k = 0; k < expected.size(); k++) {
        CHECK_EQ(tok.merges[k].first, expected[k].first);
        CHECK_EQ(tok.merges[k].second, expected[k].second);
    }
    CHECK(tok.vocab_size() > 280);
    const std::vector<int64_t> ids = tok.encode(corpus);
    CHECK(ids.size() * 10 < corpus.size() * 7); // it compresses: 30% fewer tokens than bytes at least
    CHECK_EQ(tok.decode(ids), corpus);
    CHECK_EQ(tok.token_bytes(tok.encode(" the")[0]), std::string(" the"));
}

TEST(bpe_round_trips_every_byte_string) {
    BPETokenizer tok = BPETokenizer::train(kVerse, 320);
    Generator g(10);
    for (int trial = 0; trial < 200; trial++) {
        std::string s;
        const int64_t n = g.randint(40);
        for (int64_t i = 0; i < n; i++) s += (char)g.randint(256);
        CHECK_EQ(tok.decode(tok.encode(s)), s);
    }
    const std::string unseen = "\xE6\x97\xA5\xE6\x9C\xAC \xF0\x9F\x98\x80 zebra";  // never in training
    CHECK_EQ(tok.decode(tok.encode(unseen)), unseen);
    CHECK_EQ(BPETokenizer().encode("ab").size(), 2); // no merges: a token per byte
    CHECK(tok.vocab_size() < 320); // the verse runs out of pairs that occur twice
    const int64_t v = tok.vocab_size();
    CHECK_THROWS(tok.decode({v}), "BPETokenizer::decode: id " + std::to_string(v) + " is not in 0.." + std::to_string(v - 1));
    CHECK_THROWS(BPETokenizer::train(kVerse, 100), "BPETokenizer::train: vocab_size must be in 256..");
    CHECK_THROWS(BPETokenizer::train("", 300), "the corpus is empty");
}

TEST_GIVEN(bpe_save_and_load_strictly) {
    test::TempDir dir;
    auto load = [&](const std::string& text) { return BPETokenizer::load(dir.file("bad.txt", bytes_of(text))); };
    BPETokenizer tok = load("tt-bpe 1\nmerges 3\n116 104\n256 101\n32 257\n"); // th, the, " the"
    CHECK_EQ(tok.vocab_size(), 259);
    CHECK_EQ(tok.token_bytes(258), std::string(" the"));
    tok.save(dir / "bpe.txt");
    BPETokenizer back = BPETokenizer::load(dir / "bpe.txt");
    CHECK_EQ(back.vocab_size(), tok.vocab_size());
    CHECK_EQ(back.merges, tok.merges);
    CHECK_THROWS(load(""), "line 1: the file ends early");
    CHECK_THROWS(load("tt-bpe 2\nmerges 0\n"), "line 1: expected the header 'tt-bpe 1'");
    CHECK_THROWS(load("tt-bpe 1\nmerges x\n"), "line 2: expected 'merges N'");
    CHECK_THROWS(load("tt-bpe 1\nmerges 2\n116 104\n"), "line 4: the file ends early");
    CHECK_THROWS(load("tt-bpe 1\nmerges 1\n116 104"), "line 3: the line has no newline at its end");
    CHECK_THROWS(load("tt-bpe 1\nmerges 1\n116 256\n"), "merge 0 uses id 256, but only ids 0..255 exist before it");
    CHECK_THROWS(load("tt-bpe 1\nmerges 1\n116 -4\n"), "line 3: expected two ids 'LEFT RIGHT'");
    CHECK_THROWS(load("tt-bpe 1\nmerges 2\n116 104\n116 104\n"), "the pair 116 104 is merged twice");
    CHECK_THROWS(load("tt-bpe 1\nmerges 1\n116 104\nextra\n"), "unexpected text after the 1 merges");
    CHECK_THROWS(BPETokenizer::load(dir / "none.txt"), "BPETokenizer::load: cannot open");
}

TEST_GIVEN(tokenizer_memory_is_counted_as_data) {
    const int64_t before = memory_counts(Category::Data).live_bytes;
    {
        BPETokenizer tok; // the 256 bytes and their offsets
        CHECK(memory_counts(Category::Data).live_bytes - before >= 256 + 257 * 8);
        Tensor ids = token_tensor({1, 2, 3});
        CHECK(memory_counts(Category::Data).live_bytes - before >= 256 + 257 * 8 + 3 * 4);
    }
    CHECK_EQ(memory_counts(Category::Data).live_bytes, before);
}

TEST(text_dataset_windows_are_shifted_by_one) {
    const std::vector<int64_t> ids{5, 6, 7, 8, 9, 10, 11, 12, 13, 14};
    const auto [train, val] = split_by_position(ids, 0.8);
    CHECK_EQ(train, (std::vector<int64_t>{5, 6, 7, 8, 9, 10, 11, 12}));
    CHECK_EQ(val, (std::vector<int64_t>{13, 14}));
    auto data = std::make_shared<TextDataset>(token_tensor(train), 3);
    CHECK_EQ(data->size(), 5);
    const auto [x, y] = data->get(2);
    CHECK_VALUES(x, 0, {7, 8, 9});
    CHECK_VALUES(y, 0, {8, 9, 10});
    Batch b = data->gather({4, 0});
    CHECK_EQ(b.x.shape(), (Shape{2, 3}));
    CHECK_VALUES(b.x, 0, {9, 10, 11, 5, 6, 7});
    CHECK_VALUES(b.y, 0, {10, 11, 12, 6, 7, 8});
    Generator g(3);
    DataLoader loader(data, 2, true, true, g);
    int64_t batches = 0;
    for (auto& [bx, by] : loader) {
        CHECK_EQ(bx.shape(), (Shape{2, 3}));
        for (int64_t r = 0; r < 2; r++)
            for (int64_t t = 0; t < 3; t++) CHECK_EQ(by.at({r, t}), bx.at({r, t}) + 1); // consecutive ids
        batches++;
    }
    CHECK_EQ(batches, 2);
    CHECK_THROWS(TextDataset(token_tensor({1, 2, 3}), 3), "TextDataset: 3 tokens are too few for one window of 3");
    CHECK_THROWS(data->get(5), "TextDataset: index 5 is out of range for 5 windows");
    CHECK_THROWS(split_by_position(ids, 1.0), "split_by_position: train_fraction must be in (0, 1)");
    CHECK_THROWS(token_tensor({-1}), "token_tensor: id -1 at 0");
}
