// The fuzz corpora as tests: every file under tests/fuzz/corpus/<target>/
// (the seeds, and every input that ever crashed a reader) goes through the
// same entry point its libFuzzer target uses (tests/fuzz/targets.h). A
// reader that crashes on one fails here under any compiler or emulator.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "test.h"
#include "fuzz/targets.h"

namespace fs = std::filesystem;

namespace {
// Feeds each file of tests/fuzz/corpus/<target>/, in name order, to `run`;
// returns how many there were (a missing folder counts none).
int replay(const std::string& target, void (*run)(const std::string&)) {
    const fs::path dir = fs::path("tests/fuzz/corpus") / target;
    std::error_code ec;
    if (!fs::is_directory(dir, ec)) return 0;
    std::vector<fs::path> files;
    for (const auto& e : fs::directory_iterator(dir))
        if (e.is_regular_file()) files.push_back(e.path());
    std::sort(files.begin(), files.end());
    for (const fs::path& f : files) {
        std::ifstream in(f, std::ios::binary);
        run(std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()));
    }
    return (int)files.size();
}
} // namespace

TEST(fuzz_corpus_idx) { CHECK(replay("idx", fuzz::idx) > 0); }
TEST(fuzz_corpus_cifar) { CHECK(replay("cifar", fuzz::cifar) > 0); }
TEST(fuzz_corpus_safetensors) { CHECK(replay("safetensors", fuzz::safetensors) > 0); }
TEST(fuzz_corpus_numbers) { CHECK(replay("numbers", fuzz::numbers) > 0); }
TEST(fuzz_corpus_text) { CHECK(replay("text", fuzz::text) > 0); }
TEST(fuzz_corpus_submission) { CHECK(replay("submission", fuzz::submission) > 0); }
