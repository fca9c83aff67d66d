// tests/main.c++ — runs every registered test (or those whose name contains
// the first argument), checks that none leaked tensor memory, and ends with
// the line "N passed, M failed". `./tt grade N` runs the same tests, a
// lesson at a time (lessons/grade.c++).
#include <cstring>

#include "test.h"

int main(int argc, char** argv) {
    try {
        tt::check_environment(); // a malformed TT_MEM_LIMIT or TT_THREADS: no test could trust its run
    } catch (const tt::Error& e) {
        std::fprintf(stderr, "run-tests: %s\n", e.what());
        return 2;
    }
    const char* filter = argc > 1 ? argv[1] : "";
    int passed = 0, failed = 0;
    for (const test::Case& c : test::registry()) {
        if (!std::strstr(c.name, filter)) continue;
        const test::Outcome o = test::run_case(c);
        if (o.passed()) {
            passed++;
            if (o.ms > 1000) std::printf("slow  %-40s %.0f ms\n", c.name, o.ms);
        } else {
            failed++;
            std::printf("FAIL  %-40s %s\n", c.name, o.failure.c_str());
        }
    }
    std::printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
