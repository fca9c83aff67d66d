// tests/fuzz/targets.h — what each fuzz target does with one input. The
// libFuzzer mains (idx.c++, cifar.c++, safetensors.c++, numbers.c++, text.c++,
// submission.c++) call these with the
// fuzzer's bytes; tests/fuzz-corpus.c++ calls them with every file under
// tests/fuzz/corpus/<target>/, so an input that once crashed a reader stays
// a test of the normal suite (g++, clang, sanitizers, qemu).
//
// A reader may refuse an input, but only with a tt::Error; what it accepts
// must hold together. Anything else (a crash, a sanitizer report, another
// exception, a broken invariant) is a bug: check() aborts so that libFuzzer
// saves the input.
#pragma once
#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <string>

#include "../../tt.h"
#include "../../lessons/lessons.h"

namespace fuzz {

inline void check(bool ok, const char* what) {
    if (ok) return;
    std::fprintf(stderr, "fuzz: broken invariant: %s\n", what);
    std::abort();
}

// Every value of an accepted file is a byte, 0..255.
inline void check_bytes(const tt::Tensor& t) {
    for (float v : t.to_vector()) check(v >= 0 && v <= 255 && v == (float)(int)v, "a value is not a byte");
}

// IDX: accepted => the dims account for every byte after the header.
inline void idx(const std::string& bytes) {
    std::istringstream in(bytes);
    try {
        const tt::Tensor t = tt::read_idx(in, "fuzz input");
        check(4 + 4 * (int64_t)t.dim() + t.numel() == (int64_t)bytes.size(), "IDX dims disagree with the size");
        check_bytes(t);
    } catch (const tt::Error&) {
    }
}

// CIFAR-10 binary: accepted => N whole records, labels 0..9.
inline void cifar(const std::string& bytes) {
    std::istringstream in(bytes);
    try {
        const tt::ImageSet set = tt::load_cifar10(in, "fuzz input");
        const int64_t N = set.images().size(0);
        check(N * 3073 == (int64_t)bytes.size() && set.labels.numel() == N, "CIFAR record count");
        for (float label : set.labels.to_vector()) check(label >= 0 && label <= 9, "CIFAR label out of 0..9");
        check_bytes(set.images());
    } catch (const tt::Error&) {
    }
}

// safetensors checkpoints: accepted => the tensors' bytes fill the data
// after the header exactly.
inline void safetensors(const std::string& bytes) {
    std::istringstream in(bytes);
    try {
        const tt::SafeTensors file = tt::load_safetensors(in, "fuzz input");
        uint64_t header = 0;
        for (int k = 0; k < 8; k++) header |= (uint64_t)(unsigned char)bytes[k] << (8 * k);
        uint64_t data = 0;
        for (size_t k = 0; k < file.tensors.size(); k++) {
            const std::string& d = file.dtypes[k];
            const uint64_t size = d == "F64" || d == "I64" ? 8 : d == "F32" || d == "I32" ? 4 : d == "I8" ? 1 : 2;
            data += size * (uint64_t)file.tensors[k].second.numel();
        }
        check(8 + header + data == bytes.size(), "safetensors tensors do not fill the data");
    } catch (const tt::Error&) {
    }
}

// The command line's numbers: TT_MEM_LIMIT's sizes and ./tt's lesson and
// milestone numbers. Accepted => in range, and printing the value back
// parses to the same value. As environment values (up to a NUL, as getenv
// gives them): accepted => a budget or thread count in range, refused =>
// an error that names the variable.
inline void numbers(const std::string& text) {
    const std::string value = text.c_str();
    try {
        const int64_t budget = tt::memory_limit_setting(value.c_str());
        check(budget > 0 || value.empty(), "memory_limit_setting took junk for no budget");
    } catch (const tt::Error& e) {
        check(std::string(e.what()).rfind("TT_MEM_LIMIT='", 0) == 0, "memory_limit_setting's error does not name TT_MEM_LIMIT");
    }
    try {
        const int threads = tt::threads_setting(value.c_str());
        check(threads >= 1 && (value.empty() || threads <= 1024), "threads_setting accepted a count out of 1..1024");
        if (!value.empty()) check(tt::threads_setting(std::to_string(threads).c_str()) == threads, "threads_setting does not read back its value");
    } catch (const tt::Error& e) {
        check(std::string(e.what()).rfind("TT_THREADS='", 0) == 0, "threads_setting's error does not name TT_THREADS");
    }
    try {
        const int64_t b = tt::parse_bytes(text);
        check(b >= 0, "parse_bytes gave a negative size");
        check(tt::parse_bytes(std::to_string(b)) == b, "parse_bytes does not read back its value");
    } catch (const tt::Error&) {
    }
    for (const auto& [lo, hi] : {std::pair<long, long>{1, 20}, {1900, 2100}}) {
        long n = -1;
        if (lessons::parse_int(text, lo, hi, n)) {
            check(n >= lo && n <= hi, "parse_int accepted a number out of range");
            long again = -1;
            check(lessons::parse_int(std::to_string(n), lo, hi, again) && again == n, "parse_int does not read back its value");
        }
    }
}

// Text (Lesson 10), any bytes: valid UTF-8 => the char tokenizer built from
// it round-trips it; BPE trained on the first half round-trips all of it,
// valid UTF-8 or not; read as a saved merges file, accepted => every token
// is the bytes of its two parts.
inline void text(const std::string& bytes) {
    bool utf8 = true;
    try {
        tt::check_utf8(bytes, "fuzz input");
    } catch (const tt::Error&) {
        utf8 = false;
    }
    if (utf8 && !bytes.empty()) {
        tt::CharTokenizer chars(bytes, false);
        check(chars.decode(chars.encode(bytes)) == bytes, "the char tokenizer did not round-trip");
    }
    if (bytes.size() >= 2) {
        const tt::BPETokenizer bpe = tt::BPETokenizer::train(bytes.substr(0, bytes.size() / 2), 300);
        check(bpe.decode(bpe.encode(bytes)) == bytes, "BPE did not round-trip");
    }
    std::istringstream in(bytes);
    try {
        const tt::BPETokenizer loaded = tt::BPETokenizer::load(in, "fuzz input");
        for (size_t k = 0; k < loaded.merges.size(); k++)
            check(loaded.token_bytes(256 + (int64_t)k) ==
                      loaded.token_bytes(loaded.merges[k].first) + loaded.token_bytes(loaded.merges[k].second),
                  "a merge's bytes are not its parts'");
    } catch (const tt::Error&) {
    }
}

// Lesson 20's submission files (and through them parse_json): accepted =>
// it validates, and writing it gives a file that reads back to the same text.
inline void submission(const std::string& bytes) {
    try {
        const tt::Submission s = tt::parse_submission(bytes);
        tt::validate(s);
        const std::string text = tt::to_json(s);
        check(tt::to_json(tt::parse_submission(text)) == text, "a submission does not read back as it was written");
    } catch (const tt::Error&) {
    }
}

} // namespace fuzz
