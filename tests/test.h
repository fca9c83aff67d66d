// tests/test.h — the whole test framework: TEST registers a function, CHECK
// is an assert that records the failure (file:line and the expression) and
// ends that test, so one failing test does not hide the others.
//
// Each test belongs to the lesson its file is named after: tests/06-autograd.c++
// holds Lesson 06's tests, which `./tt grade 6` runs. A milestone's tests
// (tests/milestone-1986.c++) say with GRADED_WITH_LESSON(8) which lesson's
// grade they belong to; every other file is infrastructure, run by `make test`
// only. TEST_GIVEN marks a test of code the lesson gives the student (the
// tracker, a file reader's checks): it is run and reported, never graded,
// because it passes before the student has written anything.
#pragma once
#include <cctype>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include "../tt.h"

namespace test {
struct Failure : std::runtime_error {
    using std::runtime_error::runtime_error;
};
struct Case {
    const char* name;
    std::function<void()> run;
    const char* file;   // the test's source file, whose name gives its lesson
    bool graded;        // false for TEST_GIVEN
};
inline std::vector<Case>& registry() {
    static std::vector<Case> cases;
    return cases;
}
struct Register {
    Register(const char* name, std::function<void()> run, const char* file = "", bool graded = true) {
        registry().push_back({name, std::move(run), file, graded});
    }
};
inline std::string where(const char* file, int line) { return std::string(file) + ":" + std::to_string(line) + ": "; }

// Milestone files: the lesson whose grade includes them, by file.
inline std::vector<std::pair<std::string, int>>& graded_with() {
    static std::vector<std::pair<std::string, int>> files;
    return files;
}
struct GradedWith {
    GradedWith(const char* file, int lesson) { graded_with().push_back({file, lesson}); }
};

// The lesson a test belongs to: the two digits its file name starts with
// (tests/06-autograd.c++ is 6), its milestone file's GRADED_WITH_LESSON, or
// 0 for infrastructure.
inline int lesson_of(const Case& c) {
    const std::string file = c.file, base = file.substr(file.find_last_of('/') + 1);
    if (base.size() > 2 && std::isdigit((unsigned char)base[0]) && std::isdigit((unsigned char)base[1]) && base[2] == '-')
        return (base[0] - '0') * 10 + (base[1] - '0');
    for (const auto& [f, lesson] : graded_with())
        if (f == file) return lesson;
    return 0;
}

// Where the test is: the CHECK being evaluated, or the last one that held,
// so that an exception thrown by the code under test (a stub's "not
// implemented yet") is reported next to the line that reached it.
struct Position {
    const char* file = nullptr;
    int line = 0;
    bool inside = false; // evaluating the CHECK at file:line; else it was the last to hold
};
inline Position& position() {
    static thread_local Position p;
    return p;
}
inline void checking(const char* file, int line) { position() = {file, line, true}; }
inline void checked() { position().inside = false; }

// Runs one test and says how it went: its failure, or "" when it passed.
// Tensor bytes it leaves live count as a failure (a leak); so does any
// exception, reported with the check that reached it.
struct Outcome {
    std::string failure;
    double ms = 0;
    bool passed() const { return failure.empty(); }
};
inline Outcome run_case(const Case& c) {
    Outcome out;
    const int64_t live_before = tt::memory_counts().live_bytes;
    position() = Position{};
    const auto start = std::chrono::steady_clock::now();
    try {
        c.run();
        tt::clear_tape(); // a test's leftover graph is not a leak
        const int64_t leaked = tt::memory_counts().live_bytes - live_before;
        if (leaked != 0) out.failure = "leaked " + std::to_string(leaked) + " bytes of tensor storage";
    } catch (const Failure& e) {
        out.failure = e.what();
    } catch (const std::exception& e) {
        const Position& p = position();
        const std::string at = !p.file ? std::string(c.file) + ", before its first check: "
                               : p.inside ? where(p.file, p.line)
                                          : std::string(p.file) + ", after the check at line " + std::to_string(p.line) + ": ";
        out.failure = at + "unexpected exception: " + e.what();
    }
    tt::clear_tape();
    tt::set_memory_budget(0);
    out.ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    return out;
}

// Uniform values in [-1, 1) of the given shape, the same for the same seed:
// the inputs of the gradient checks.
inline tt::Tensor rnd(const tt::Shape& shape, uint64_t seed) {
    tt::Generator g(seed);
    return tt::Tensor::rand(shape, g) * 2.0f - 1.0f;
}

// A fresh folder under the system's temp dir for the files a test crafts,
// removed with everything in it when the test ends (also when a CHECK fails).
struct TempDir {
    std::filesystem::path path;
    TempDir() {
        static int counter = 0;
        const auto ticks = std::chrono::steady_clock::now().time_since_epoch().count();
        path = std::filesystem::temp_directory_path() / ("tt-test-" + std::to_string(ticks) + "-" + std::to_string(counter++));
        std::filesystem::create_directories(path);
    }
    ~TempDir() {
        std::error_code ignored;
        std::filesystem::remove_all(path, ignored);
    }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    std::string operator/(const std::string& name) const { return (path / name).string(); }
    // Writes the bytes to a file in the folder and returns its path.
    std::string file(const std::string& name, const std::vector<unsigned char>& bytes) const {
        std::ofstream out(path / name, std::ios::binary);
        out.write((const char*)bytes.data(), (std::streamsize)bytes.size());
        return (path / name).string();
    }
};

// A number as it reads best: whole numbers exactly, others to 7 digits.
template <class T>
std::string describe_number(T v) {
    if constexpr (std::is_integral_v<T>) return std::to_string(v);
    else {
        char buf[32];
        std::snprintf(buf, sizeof buf, "%.7g", (double)v);
        return buf;
    }
}
// How a value reads in a failure message: numbers, strings, shapes and short
// lists of floats as themselves; anything else as "(a value)".
inline std::string describe(const std::string& s) { return "\"" + s + "\""; }
inline std::string describe(bool b) { return b ? "true" : "false"; }
inline std::string describe(const std::vector<int64_t>& shape) { return tt::to_string(shape); }
inline std::string describe(const std::vector<float>& v) {
    std::string out = "[";
    for (size_t i = 0; i < v.size() && i < 8; i++) out += (i ? ", " : "") + describe_number(v[i]);
    return out + (v.size() > 8 ? ", ... (" + std::to_string(v.size()) + " values)]" : "]");
}
template <class T>
std::string describe(const T& v) {
    if constexpr (std::is_arithmetic_v<T>) return describe_number(v);
    else if constexpr (std::is_convertible_v<const T&, std::string>) return describe(std::string(v));
    else return "(a value)";
}
} // namespace test

#define TT_CAT2(a, b) a##b
#define TT_CAT(a, b) TT_CAT2(a, b)
#define TEST(name)                                                            \
    static void name();                                                       \
    static test::Register TT_CAT(register_, name)(#name, name, __FILE__);     \
    static void name()
#define TEST_GIVEN(name)                                                      \
    static void name();                                                       \
    static test::Register TT_CAT(register_, name)(#name, name, __FILE__, false); \
    static void name()
#define GRADED_WITH_LESSON(n) static test::GradedWith TT_CAT(graded_with_, __LINE__)(__FILE__, n)

#define CHECK(cond)                                                           \
    do {                                                                      \
        test::checking(__FILE__, __LINE__);                                   \
        if (!(cond)) throw test::Failure(test::where(__FILE__, __LINE__) + "CHECK(" #cond ") failed"); \
        test::checked();                                                      \
    } while (0)


// a == b, with both values in the message: "x.shape() is [2,4], expected [2,3]".
// (b is evaluated again for the message, so keep it free of side effects.)
#define CHECK_EQ(a, b)                                                        \
    do {                                                                      \
        test::checking(__FILE__, __LINE__);                                   \
        const auto got_ = (a); /* a copy: (a) may refer into a temporary */ \
        if (!(got_ == (b)))                                                   \
            throw test::Failure(test::where(__FILE__, __LINE__) + #a " is " + test::describe(got_) + \
                                ", expected " + test::describe(b));           \
        test::checked();                                                      \
    } while (0)

// |a - b| <= tol, with both values in the message.
#define CHECK_NEAR(a, b, tol)                                                 \
    do {                                                                      \
        test::checking(__FILE__, __LINE__);                                   \
        const double va_ = (a), vb_ = (b);                                    \
        if (!(std::fabs(va_ - vb_) <= (tol)))                                 \
            throw test::Failure(test::where(__FILE__, __LINE__) + #a " = " + std::to_string(va_) + \
                                ", expected " + std::to_string(vb_) + " (tolerance " + std::to_string(tol) + ")"); \
        test::checked();                                                      \
    } while (0)

// expr must throw tt::Error whose message contains `text`.
#define CHECK_THROWS(expr, text)                                              \
    do {                                                                      \
        test::checking(__FILE__, __LINE__);                                   \
        bool thrown_ = false;                                                 \
        try {                                                                 \
            (void)(expr);                                                     \
        } catch (const tt::Error& e_) {                                       \
            thrown_ = true;                                                   \
            if (std::string(e_.what()).find(text) == std::string::npos)       \
                throw test::Failure(test::where(__FILE__, __LINE__) + "error \"" + e_.what() + \
                                    "\" does not mention \"" + text + "\""); \
        }                                                                     \
        if (!thrown_) throw test::Failure(test::where(__FILE__, __LINE__) + #expr " did not throw"); \
        test::checked();                                                      \
    } while (0)

// Every value of tensor t equals the list, to within tol.
#define CHECK_VALUES(t, tol, ...)                                             \
    do {                                                                      \
        test::checking(__FILE__, __LINE__);                                   \
        const std::vector<float> got_ = (t).to_vector(), want_ = __VA_ARGS__; \
        if (got_.size() != want_.size())                                      \
            throw test::Failure(test::where(__FILE__, __LINE__) + "size " + std::to_string(got_.size()) + \
                                " != " + std::to_string(want_.size()));      \
        for (size_t i_ = 0; i_ < got_.size(); i_++)                           \
            if (!(std::fabs(got_[i_] - want_[i_]) <= (tol)))                  \
                throw test::Failure(test::where(__FILE__, __LINE__) + "element " + std::to_string(i_) + \
                                    " = " + std::to_string(got_[i_]) + ", expected " + std::to_string(want_[i_])); \
        test::checked();                                                      \
    } while (0)

// The gradient checker of Lesson 06 passes on f at these inputs.
#define CHECK_GRAD(f, inputs, tol)                                            \
    do {                                                                      \
        test::checking(__FILE__, __LINE__);                                   \
        const tt::GradCheck r_ = tt::gradcheck(f, inputs);                    \
        if (!r_.ok(tol))                                                      \
            throw test::Failure(test::where(__FILE__, __LINE__) + "gradcheck error " + \
                                std::to_string(r_.max_error) + " at " + r_.report); \
        test::checked();                                                      \
    } while (0)
