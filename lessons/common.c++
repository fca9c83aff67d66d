// lessons/common.c++ — small helpers the demos and milestones share: timing,
// byte formatting, the machine's name, JSON for --json.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <thread>

#include "lessons.h"

namespace lessons {

double now_seconds() {
    using namespace std::chrono;
    return duration<double>(steady_clock::now().time_since_epoch()).count();
}
double seconds_since(double start) { return now_seconds() - start; }

double time_best(int repeats, const std::function<void()>& f) {
    double best = 1e30;
    for (int i = 0; i < repeats; i++) {
        const double start = now_seconds();
        f();
        best = std::min(best, seconds_since(start));
    }
    return best;
}

bool parse_int(const std::string& text, long lo, long hi, long& out) {
    // digits only: no sign, no spaces, nothing after; a digit that would take
    // the value past hi stops it before it can overflow a 32-bit long
    if (text.empty() || hi < 0) return false;
    long v = 0;
    for (char c : text) {
        if (c < '0' || c > '9' || v > (hi - (c - '0')) / 10) return false;
        v = v * 10 + (c - '0');
    }
    if (v < lo || v > hi) return false;
    out = v;
    return true;
}

std::string bytes_str(int64_t bytes) {
    char buf[32];
    const double b = (double)bytes;
    if (b >= 1e9) std::snprintf(buf, sizeof buf, "%.2f GB", b / 1e9);
    else if (b >= 1e6) std::snprintf(buf, sizeof buf, "%.1f MB", b / 1e6);
    else if (b >= 1e3) std::snprintf(buf, sizeof buf, "%.1f KB", b / 1e3);
    else std::snprintf(buf, sizeof buf, "%lld B", (long long)bytes);
    return buf;
}

std::string machine_name() {
    std::string model;
    std::ifstream cpuinfo("/proc/cpuinfo");
    for (std::string line; std::getline(cpuinfo, line);) {
        // x86 says "model name", ARM boards say "Model" or "Hardware"
        for (const char* key : {"model name", "Model", "Hardware"})
            if (line.rfind(key, 0) == 0 && line.find(':') != std::string::npos && model.empty())
                model = line.substr(line.find(':') + 2);
    }
    if (model.empty()) model = "an unknown CPU";
    return model + ", " + std::to_string(std::thread::hardware_concurrency()) + " hardware threads";
}

namespace {
std::string json_string(const std::string& s) {
    std::string out = "\"";
    for (char c : s) {
        if (c == '"' || c == '\\') out += '\\', out += c;
        else if (c == '\n') out += "\\n";
        else if ((unsigned char)c < 0x20) out += ' ';
        else out += c;
    }
    return out + "\"";
}
std::string json_number(double v) {
    if (!std::isfinite(v)) return "null";
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.6g", v);
    return buf;
}
} // namespace

Result timed_part(const std::function<Result()>& part) {
    tt::reset_peak();
    const double start = now_seconds();
    Result r = part();
    if (!r.skipped) {
        r.seconds = seconds_since(start);
        r.peak_bytes = tt::memory_counts().peak_bytes;
    }
    return r;
}

std::string to_json(const Result& r) {
    std::string out = "{\"milestone\": " + json_string(r.milestone) + ", \"part\": " + json_string(r.part) +
                      ", \"dataset\": " + json_string(r.dataset) + ", \"model\": " + json_string(r.model) +
                      ", \"params\": " + std::to_string(r.params) + ", \"seconds\": " + json_number(r.seconds) +
                      ", \"peak_bytes\": " + std::to_string(r.peak_bytes);
    for (auto& [k, v] : r.metrics) out += ", " + json_string(k) + ": " + json_number(v);
    out += ", \"gate\": " + json_string(r.gate) + ", \"pass\": " + (r.pass ? "true" : "false");
    if (r.skipped) out += ", \"skipped\": true";
    if (!r.note.empty()) out += ", \"note\": " + json_string(r.note);
    return out + "}";
}

} // namespace lessons
