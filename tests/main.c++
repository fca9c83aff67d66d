// tests/main.c++ — runs every registered test (or those whose name contains
// the first argument), checks that none leaked tensor memory, and ends with
// the line "N passed, M failed".
#include <chrono>
#include <cstring>

#include "test.h"

int main(int argc, char** argv) {
    const char* filter = argc > 1 ? argv[1] : "";
    int passed = 0, failed = 0;
    for (const test::Case& c : test::registry()) {
        if (!std::strstr(c.name, filter)) continue;
        const int64_t live_before = tt::memory_counts().live_bytes;
        std::string failure;
        const auto start = std::chrono::steady_clock::now();
        try {
            c.run();
            tt::clear_tape(); // a test's leftover graph is not a leak
            const int64_t leaked = tt::memory_counts().live_bytes - live_before;
            if (leaked != 0) failure = "leaked " + std::to_string(leaked) + " bytes of tensor storage";
        } catch (const test::Failure& e) {
            failure = e.what();
        } catch (const std::exception& e) {
            failure = std::string("unexpected exception: ") + e.what();
        }
        tt::clear_tape();
        tt::set_memory_budget(0);
        const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
        if (failure.empty()) {
            passed++;
            if (ms > 1000) std::printf("slow  %-40s %.0f ms\n", c.name, ms);
        } else {
            failed++;
            std::printf("FAIL  %-40s %s\n", c.name, failure.c_str());
        }
    }
    std::printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
