// tests/test.h — the whole test framework: TEST registers a function, CHECK
// is an assert that records the failure (file:line and the expression) and
// ends that test, so one failing test does not hide the others.
#pragma once
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

#include "../tt.h"

namespace test {
struct Failure : std::runtime_error {
    using std::runtime_error::runtime_error;
};
struct Case {
    const char* name;
    std::function<void()> run;
};
inline std::vector<Case>& registry() {
    static std::vector<Case> cases;
    return cases;
}
struct Register {
    Register(const char* name, std::function<void()> run) { registry().push_back({name, std::move(run)}); }
};
inline std::string where(const char* file, int line) { return std::string(file) + ":" + std::to_string(line) + ": "; }

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
} // namespace test

#define TT_CAT2(a, b) a##b
#define TT_CAT(a, b) TT_CAT2(a, b)
#define TEST(name)                                                            \
    static void name();                                                       \
    static test::Register TT_CAT(register_, name)(#name, name);               \
    static void name()

#define CHECK(cond)                                                           \
    do {                                                                      \
        if (!(cond)) throw test::Failure(test::where(__FILE__, __LINE__) + "CHECK(" #cond ") failed"); \
    } while (0)

// |a - b| <= tol, with both values in the message.
#define CHECK_NEAR(a, b, tol)                                                 \
    do {                                                                      \
        const double va_ = (a), vb_ = (b);                                    \
        if (!(std::fabs(va_ - vb_) <= (tol)))                                 \
            throw test::Failure(test::where(__FILE__, __LINE__) + #a " = " + std::to_string(va_) + \
                                ", expected " + std::to_string(vb_) + " (tolerance " + std::to_string(tol) + ")"); \
    } while (0)

// expr must throw tt::Error whose message contains `text`.
#define CHECK_THROWS(expr, text)                                              \
    do {                                                                      \
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
    } while (0)

// Every value of tensor t equals the list, to within tol.
#define CHECK_VALUES(t, tol, ...)                                             \
    do {                                                                      \
        const std::vector<float> got_ = (t).to_vector(), want_ = __VA_ARGS__; \
        if (got_.size() != want_.size())                                      \
            throw test::Failure(test::where(__FILE__, __LINE__) + "size " + std::to_string(got_.size()) + \
                                " != " + std::to_string(want_.size()));      \
        for (size_t i_ = 0; i_ < got_.size(); i_++)                           \
            if (!(std::fabs(got_[i_] - want_[i_]) <= (tol)))                  \
                throw test::Failure(test::where(__FILE__, __LINE__) + "element " + std::to_string(i_) + \
                                    " = " + std::to_string(got_[i_]) + ", expected " + std::to_string(want_[i_])); \
    } while (0)

// The gradient checker of Lesson 06 passes on f at these inputs.
#define CHECK_GRAD(f, inputs, tol)                                            \
    do {                                                                      \
        const tt::GradCheck r_ = tt::gradcheck(f, inputs);                    \
        if (!r_.ok(tol))                                                      \
            throw test::Failure(test::where(__FILE__, __LINE__) + "gradcheck error " + \
                                std::to_string(r_.max_error) + " at " + r_.report); \
    } while (0)
