// lessons/common.c++ — small helpers the demos and milestones share: timing,
// byte formatting, the machine's name, JSON for --json.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>

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

TT_VECTOR_CLONES void triad(float* a, const float* b, const float* c, float s, int64_t n) {
    for (int64_t i = 0; i < n; i++) a[i] = b[i] + s * c[i];
}

int64_t resident_peak_bytes() {
    std::ifstream status("/proc/self/status");
    std::string line;
    while (std::getline(status, line))
        if (line.compare(0, 6, "VmHWM:") == 0) return std::atoll(line.c_str() + 6) * 1024; // "VmHWM:  1234 kB"
    return 0;
}

bool load_mnist(const Options& options, tt::ImageSet& train, tt::ImageSet& test, std::string& why_not) {
    const std::string images = tt::data_path("data/mnist/train-images-idx3-ubyte"),
                      test_images = tt::data_path("data/mnist/t10k-images-idx3-ubyte");
    if (options.quick || !std::filesystem::exists(images) || !std::filesystem::exists(test_images)) {
        why_not = options.quick ? "--quick" : "not decompressed; run `make data`";
        return false;
    }
    train = tt::load_idx_images(images, tt::data_path("data/mnist/train-labels-idx1-ubyte"));
    test = tt::load_idx_images(test_images, tt::data_path("data/mnist/t10k-labels-idx1-ubyte"));
    return true;
}

std::shared_ptr<tt::ImageDataset> mnist_dataset(const tt::ImageSet& set, bool flat) {
    return std::make_shared<tt::ImageDataset>(set, std::vector<float>{0.1307f}, std::vector<float>{0.3081f}, 255.0f, flat);
}

std::string output_path(const std::string& name) {
    const char* dir = std::getenv("TT_OUT");
    const std::filesystem::path base = dir && *dir ? std::filesystem::path(dir) : std::filesystem::temp_directory_path();
    std::error_code error;
    std::filesystem::create_directories(base, error);
    if (error) throw tt::Error("output_path: cannot create the picture folder '" + base.string() + "': " + error.message());
    return (base / name).string();
}

void write_roofline_svg(const std::string& path, const std::string& title, const std::vector<Roof>& roofs, double bandwidth,
                        const std::vector<RooflinePoint>& points) {
    if (roofs.empty() || !(bandwidth > 0)) throw tt::Error("write_roofline_svg: needs a roof and a bandwidth > 0");
    double highest = 0, lowest = 0.1;
    for (const Roof& r : roofs) highest = std::max(highest, r.peak_gflops);
    for (const RooflinePoint& p : points) lowest = std::min(lowest, p.gflops);
    const double W = 760, H = 480, left = 70, right = 20, top = 40, bottom = 60;
    const double x_lo = 1.0 / 16, x_hi = 1024, y_hi = std::pow(10, std::ceil(std::log10(highest * 1.5)));
    const double y_lo = std::pow(10, std::floor(std::log10(std::max(lowest, 1e-3))));
    auto X = [&](double v) { return left + (W - left - right) * std::log(v / x_lo) / std::log(x_hi / x_lo); };
    auto Y = [&](double v) { return H - bottom - (H - top - bottom) * std::log(v / y_lo) / std::log(y_hi / y_lo); };
    std::ofstream f(path);
    if (!f) throw tt::Error("write_roofline_svg: cannot write " + path);
    char buf[512];
    f << "<svg xmlns='http://www.w3.org/2000/svg' width='" << W << "' height='" << H << "' font-family='sans-serif' font-size='12'>\n"
      << "<rect width='100%' height='100%' fill='white'/>\n";
    std::snprintf(buf, sizeof buf, "<text x='%g' y='22' font-size='15'>%s</text>\n", left, title.c_str());
    f << buf;
    for (double v = x_lo; v <= x_hi * 1.01; v *= 4) { // grid and tick labels
        std::snprintf(buf, sizeof buf, "<line x1='%.1f' y1='%g' x2='%.1f' y2='%g' stroke='#ddd'/><text x='%.1f' y='%g' text-anchor='middle'>%g</text>\n",
                      X(v), top, X(v), H - bottom, X(v), H - bottom + 16, v);
        f << buf;
    }
    for (double v = y_lo; v <= y_hi * 1.01; v *= 10) {
        std::snprintf(buf, sizeof buf, "<line x1='%g' y1='%.1f' x2='%g' y2='%.1f' stroke='#ddd'/><text x='%g' y='%.1f' text-anchor='end'>%g</text>\n",
                      left, Y(v), W - right, Y(v), left - 6, Y(v) + 4, v);
        f << buf;
    }
    std::snprintf(buf, sizeof buf, "<text x='%g' y='%g' text-anchor='middle'>arithmetic intensity (flops per byte of memory traffic)</text>\n"
                  "<text transform='translate(18,%g) rotate(-90)' text-anchor='middle'>GFLOP/s</text>\n",
                  (left + W - right) / 2, H - 18, (top + H - bottom) / 2);
    f << buf;
    for (const Roof& r : roofs) { // the slope bandwidth * intensity up to the ridge, then flat at the peak
        const double ridge = r.peak_gflops / bandwidth;
        std::snprintf(buf, sizeof buf, "<polyline fill='none' stroke='%s' stroke-width='2' points='%.1f,%.1f %.1f,%.1f %.1f,%.1f'/>"
                      "<text x='%.1f' y='%.1f' fill='%s'>%s</text>\n", r.colour.c_str(), X(x_lo), Y(bandwidth * x_lo), X(ridge),
                      Y(r.peak_gflops), X(x_hi), Y(r.peak_gflops), X(ridge) + 6, Y(r.peak_gflops) - 6, r.colour.c_str(), r.label.c_str());
        f << buf;
    }
    for (size_t i = 0; i < points.size(); i++) {
        const RooflinePoint& p = points[i];
        const double x = X(std::max(p.intensity, x_lo)), y = Y(std::max(p.gflops, y_lo));
        std::snprintf(buf, sizeof buf, "<circle cx='%.1f' cy='%.1f' r='4' fill='#36c'/><text x='%.1f' y='%.1f'%s>%s</text>\n", x, y,
                      x + (i % 2 ? -8 : 8), y + 4, i % 2 ? " text-anchor='end'" : "", p.name.c_str()); // odd labels to the left
        f << buf;
    }
    f << "</svg>\n";
}

void write_histogram_svg(const std::string& path, const std::string& title, const std::vector<HistogramSeries>& series,
                         float lo, float hi, int bins) {
    if (!(hi > lo) || bins < 1) throw tt::Error("write_histogram_svg: needs lo < hi and bins >= 1");
    std::vector<std::vector<double>> counts(series.size(), std::vector<double>((size_t)bins, 0));
    double most = 1;
    for (size_t s = 0; s < series.size(); s++)
        for (float v : series[s].values) {
            if (!(v >= lo && v <= hi)) continue;
            const int b = std::min(bins - 1, (int)((v - lo) / (hi - lo) * (float)bins));
            most = std::max(most, ++counts[s][(size_t)b]);
        }
    const double W = 640, H = 320, left = 50, right = 10, top = 30, bottom = 40;
    auto X = [&](double b) { return left + (W - left - right) * b / bins; };
    auto Y = [&](double c) { return H - bottom - (H - top - bottom) * (c > 0 ? std::log10(1 + c) / std::log10(1 + most) : 0); };
    std::ofstream f(path);
    if (!f) throw tt::Error("write_histogram_svg: cannot write '" + path + "'");
    char buf[256];
    f << "<svg xmlns='http://www.w3.org/2000/svg' width='" << W << "' height='" << H
      << "' font-family='sans-serif' font-size='12'>\n<rect width='100%' height='100%' fill='white'/>\n"
      << "<text x='" << left << "' y='18'>" << title << "</text>\n";
    std::snprintf(buf, sizeof buf, "<line x1='%g' y1='%g' x2='%g' y2='%g' stroke='black'/>\n", left, H - bottom, W - right, H - bottom);
    f << buf;
    for (int t = 0; t <= 4; t++) {
        std::snprintf(buf, sizeof buf, "<text x='%g' y='%g' text-anchor='middle'>%.3g</text>\n", X(bins * t / 4.0), H - bottom + 16,
                      lo + (hi - lo) * t / 4);
        f << buf;
    }
    std::snprintf(buf, sizeof buf, "<text x='%g' y='%g'>count (log scale, max %.0f)</text>\n", left, H - 8, most);
    f << buf;
    for (size_t s = 0; s < series.size(); s++) {
        f << "<polyline fill='none' stroke='" << series[s].colour << "' stroke-width='1.2' points='";
        for (int b = 0; b < bins; b++) {
            std::snprintf(buf, sizeof buf, "%.1f,%.1f %.1f,%.1f ", X(b), Y(counts[s][(size_t)b]), X(b + 1), Y(counts[s][(size_t)b]));
            f << buf;
        }
        f << "'/>\n";
        std::snprintf(buf, sizeof buf, "<text x='%g' y='%g' fill='%s'>%s</text>\n", W - right - 220, top + 14.0 * (double)(s + 1),
                      series[s].colour.c_str(), series[s].label.c_str());
        f << buf;
    }
    f << "</svg>\n";
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
    const tt::Platform p = tt::platform();
    return p.cpu + ", " + std::to_string(p.cores) + " hardware threads";
}

namespace {
// Text for an SVG element: the characters XML gives a meaning escaped.
std::string xml_text(const std::string& s) {
    std::string out;
    for (char c : s) {
        if (c == '&') out += "&amp;";
        else if (c == '<') out += "&lt;";
        else if (c == '>') out += "&gt;";
        else if (c == '\'') out += "&#39;";
        else out += c;
    }
    return out;
}
} // namespace

std::string pareto_svg(const std::string& title, const std::vector<tt::Variant>& variants) {
    if (variants.empty()) throw tt::Error("pareto_svg: no variants to draw");
    for (const tt::Variant& v : variants)
        if (!(v.latency_seconds > 0)) throw tt::Error("pareto_svg: variant '" + v.name + "' has latency " + std::to_string(v.latency_seconds) + " s; a log axis needs > 0");
    const std::vector<bool> frontier = tt::pareto_frontier(variants);
    double lat_lo = 1e300, lat_hi = 0, acc_lo = 1e300, acc_hi = -1e300, biggest = 1;
    for (const tt::Variant& v : variants) {
        lat_lo = std::min(lat_lo, v.latency_seconds * 1e3), lat_hi = std::max(lat_hi, v.latency_seconds * 1e3);
        acc_lo = std::min(acc_lo, v.accuracy), acc_hi = std::max(acc_hi, v.accuracy);
        biggest = std::max(biggest, (double)v.size_bytes);
    }
    // the axes: latency in ms on whole decades, accuracy with a margin of a tenth of its range
    const double x_lo = std::pow(10, std::floor(std::log10(lat_lo))), x_hi = std::pow(10, std::ceil(std::log10(lat_hi * 1.0001)));
    const double pad = std::max((acc_hi - acc_lo) * 0.15, 0.005), y_lo = acc_lo - pad, y_hi = acc_hi + pad;
    const double W = 680, H = 420, left = 70, right = 30, top = 40, bottom = 56;
    auto X = [&](double ms) { return left + (W - left - right) * std::log(ms / x_lo) / std::log(x_hi / x_lo); };
    auto Y = [&](double acc) { return H - bottom - (H - top - bottom) * (acc - y_lo) / (y_hi - y_lo); };
    auto R = [&](int64_t bytes) { return 3 + 15 * std::sqrt((double)std::max<int64_t>(bytes, 0) / biggest); }; // area by size
    std::string svg;
    char buf[512];
    std::snprintf(buf, sizeof buf, "<svg xmlns='http://www.w3.org/2000/svg' width='%g' height='%g' font-family='sans-serif' font-size='12'>\n"
                  "<rect width='100%%' height='100%%' fill='white'/>\n", W, H);
    svg += buf;
    std::snprintf(buf, sizeof buf, "<text x='%g' y='22' font-size='15'>", left);
    svg += buf + xml_text(title) + "</text>\n";
    for (double decade = x_lo; decade <= x_hi * 1.0001; decade *= 10)
        for (double m : {1.0, 2.0, 5.0}) { // grid at 1, 2, 5 of each decade
            const double v = decade * m;
            if (v > x_hi * 1.0001) break;
            std::snprintf(buf, sizeof buf, "<line x1='%.1f' y1='%g' x2='%.1f' y2='%g' stroke='#%s'/><text x='%.1f' y='%g' text-anchor='middle'>%g</text>\n",
                          X(v), top, X(v), H - bottom, m == 1 ? "ccc" : "eee", X(v), H - bottom + 16, v);
            svg += buf;
        }
    for (int t = 0; t <= 5; t++) {
        const double v = y_lo + (y_hi - y_lo) * t / 5;
        std::snprintf(buf, sizeof buf, "<line x1='%g' y1='%.1f' x2='%g' y2='%.1f' stroke='#eee'/><text x='%g' y='%.1f' text-anchor='end'>%.3g</text>\n",
                      left, Y(v), W - right, Y(v), left - 6, Y(v) + 4, v);
        svg += buf;
    }
    std::snprintf(buf, sizeof buf, "<text x='%g' y='%g' text-anchor='middle'>latency, ms (log scale); dot area: size in bytes (largest %s)</text>\n"
                  "<text transform='translate(18,%g) rotate(-90)' text-anchor='middle'>accuracy</text>\n",
                  (left + W - right) / 2, H - 16, bytes_str((int64_t)biggest).c_str(), (top + H - bottom) / 2);
    svg += buf;
    // the frontier in order of latency, joined
    std::vector<size_t> on;
    for (size_t i = 0; i < variants.size(); i++)
        if (frontier[i]) on.push_back(i);
    std::sort(on.begin(), on.end(), [&](size_t a, size_t b) { return variants[a].latency_seconds < variants[b].latency_seconds; });
    svg += "<polyline fill='none' stroke='#c33' stroke-width='1.5' points='";
    for (size_t i : on) {
        std::snprintf(buf, sizeof buf, "%.1f,%.1f ", X(variants[i].latency_seconds * 1e3), Y(variants[i].accuracy));
        svg += buf;
    }
    svg += "'/>\n";
    for (size_t i = 0; i < variants.size(); i++) {
        const tt::Variant& v = variants[i];
        const double x = X(v.latency_seconds * 1e3), y = Y(v.accuracy), r = R(v.size_bytes);
        std::snprintf(buf, sizeof buf, "<circle cx='%.1f' cy='%.1f' r='%.1f' fill='%s' fill-opacity='0.45' stroke='%s'/>"
                      "<text x='%.1f' y='%.1f'%s>", x, y, r, frontier[i] ? "#c33" : "#999", frontier[i] ? "#c33" : "#666",
                      x + r + 3, y + 4, frontier[i] ? " font-weight='bold'" : "");
        svg += buf + xml_text(v.name) + "</text>\n";
    }
    std::snprintf(buf, sizeof buf, "<text x='%g' y='%g' fill='#c33'>red: the Pareto frontier (no variant is as good on all three and better on one)</text>\n",
                  left, top - 4.0);
    svg += buf;
    return svg + "</svg>\n";
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
    // whole numbers below 2^53 (counts, bytes) exactly; the rest to 6 digits
    if (v == std::floor(v) && std::fabs(v) < 9007199254740992.0) std::snprintf(buf, sizeof buf, "%.0f", v);
    else std::snprintf(buf, sizeof buf, "%.6g", v);
    return buf;
}
std::string json_list(const std::vector<std::string>& items) {
    std::string out = "[";
    for (size_t i = 0; i < items.size(); i++) out += (i ? ", " : "") + items[i];
    return out + "]";
}
} // namespace

Json& Json::number(const std::string& key, double value) { fields.emplace_back(key, json_number(value)); return *this; }
Json& Json::text(const std::string& key, const std::string& value) { fields.emplace_back(key, json_string(value)); return *this; }
Json& Json::boolean(const std::string& key, bool value) { fields.emplace_back(key, value ? "true" : "false"); return *this; }
Json& Json::null(const std::string& key) { fields.emplace_back(key, "null"); return *this; }
Json& Json::object(const std::string& key, const Json& value) { fields.emplace_back(key, value.str()); return *this; }
Json& Json::numbers(const std::string& key, const std::vector<double>& values) {
    std::vector<std::string> items;
    for (double v : values) items.push_back(json_number(v));
    fields.emplace_back(key, json_list(items));
    return *this;
}
Json& Json::objects(const std::string& key, const std::vector<Json>& values) {
    std::vector<std::string> items;
    for (const Json& v : values) items.push_back(v.str());
    fields.emplace_back(key, json_list(items));
    return *this;
}
std::string Json::str() const {
    std::string out = "{";
    for (size_t i = 0; i < fields.size(); i++) out += (i ? ", " : "") + json_string(fields[i].first) + ": " + fields[i].second;
    return out + "}";
}

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

Json platform_json(const tt::Platform& p) {
    return Json()
        .text("cpu", p.cpu)
        .number("cores", (double)p.cores)
        .number("threads", (double)p.threads)
        .text("arch", p.arch)
        .text("compiler", p.compiler)
        .text("flags", p.flags)
        .text("build", p.build)
        .text("gemm_isa", p.gemm_isa)
        .text("commit", p.commit);
}

Json part_json(const Result& r) {
    Json metrics;
    for (auto& [k, v] : r.metrics) metrics.number(k, v);
    Json j;
    j.text("milestone", r.milestone).text("part", r.part).text("dataset", r.dataset).text("model", r.model);
    j.number("params", (double)r.params).number("seconds", r.seconds).number("peak_bytes", (double)r.peak_bytes);
    j.object("metrics", metrics).text("gate", r.gate);
    if (r.skipped) j.null("pass");
    else j.boolean("pass", r.pass);
    j.boolean("skipped", r.skipped);
    if (!r.note.empty()) j.text("note", r.note);
    return j;
}
std::string to_json(const Result& r) { return part_json(r).str(); }

bool MilestoneRun::pass() const {
    for (const Result& r : parts)
        if (!r.skipped && !r.pass) return false;
    return true;
}
int64_t MilestoneRun::peak_bytes() const {
    int64_t peak = 0;
    for (const Result& r : parts) peak = std::max(peak, r.peak_bytes);
    return peak;
}

Json milestone_json(const MilestoneRun& run) {
    std::vector<Json> parts;
    int64_t skipped = 0;
    for (const Result& r : run.parts) {
        parts.push_back(part_json(r));
        skipped += r.skipped;
    }
    Json j;
    j.text("milestone", run.milestone).text("name", run.name).boolean("pass", run.pass());
    j.number("parts_run", (double)((int64_t)run.parts.size() - skipped)).number("parts_skipped", (double)skipped);
    j.number("seconds", run.seconds).number("peak_bytes", (double)run.peak_bytes());
    return j.objects("parts", parts);
}

bool TourRun::pass() const {
    for (const MilestoneRun& run : milestones)
        if (!run.pass()) return false;
    return true;
}
int64_t TourRun::peak_bytes() const {
    int64_t peak = 0;
    for (const MilestoneRun& run : milestones) peak = std::max(peak, run.peak_bytes());
    return peak;
}

Json tour_json(const TourRun& tour) {
    std::vector<Json> milestones;
    for (const MilestoneRun& run : tour.milestones) milestones.push_back(milestone_json(run));
    Json j;
    j.boolean("tour", true).boolean("pass", tour.pass()).number("seconds", tour.seconds);
    j.number("peak_bytes", (double)tour.peak_bytes()).number("resident_peak_bytes", (double)resident_peak_bytes());
    return j.objects("milestones", milestones);
}

} // namespace lessons
