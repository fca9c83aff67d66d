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

void train_adam(tt::Module& model, tt::DataLoader& loader, int epochs, float lr, double warmup_epochs,
                const tt::PruningMasks* masks, const std::string& label, bool progress, const tt::LossFn& loss) {
    tt::Adam opt(model.parameters(), lr);
    tt::TrainOptions o;
    o.lr_schedule = tt::CosineSchedule(lr, epochs * loader.size(), (int64_t)(warmup_epochs * (double)loader.size()), lr / 20);
    o.progress = progress;
    o.label = label;
    if (masks) o.after_step = [masks] { masks->apply(); };
    for (int e = 0; e < epochs; e++) tt::train_epoch(model, loader, loss, opt, o);
    model.eval();
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

tt::Sequential mnist_mlp(tt::Generator& g) {
    using namespace tt;
    return Sequential{Linear(784, 256, true, Init::Kaiming, g), ReLU(), Linear(256, 128, true, Init::Kaiming, g), ReLU(),
                      Linear(128, 10, true, Init::Kaiming, g)};
}

tt::Sequential lenet5(tt::Generator& g) {
    using namespace tt;
    return Sequential{Conv2d(1, 6, 5, 1, 2, true, g), ReLU(), MaxPool2d(2),  // [6,14,14]
                      Conv2d(6, 16, 5, 1, 0, true, g), ReLU(), MaxPool2d(2), // [16,5,5]
                      Flatten(), Linear(400, 120, true, Init::Kaiming, g), ReLU(),
                      Linear(120, 84, true, Init::Kaiming, g), ReLU(), Linear(84, 10, true, Init::Kaiming, g)};
}

std::string output_path(const std::string& name) {
    const char* dir = std::getenv("TT_OUT");
    const std::filesystem::path base = dir && *dir ? std::filesystem::path(dir) : std::filesystem::temp_directory_path();
    std::error_code error;
    std::filesystem::create_directories(base, error);
    if (error) throw tt::Error("output_path: cannot create the picture folder '" + base.string() + "': " + error.message());
    return (base / name).string();
}

namespace {
// Valid UTF-8 with no control character but tab and newline; with `escape`,
// also & < > " ' as entities.
std::string clean_text(const std::string& text, bool escape) {
    std::string out;
    out.reserve(text.size());
    const size_t n = text.size();
    for (size_t i = 0; i < n;) {
        const unsigned char c = (unsigned char)text[i];
        if (c < 0x80) {
            if (escape && c == '&') out += "&amp;";
            else if (escape && c == '<') out += "&lt;";
            else if (escape && c == '>') out += "&gt;";
            else if (escape && c == '"') out += "&quot;";
            else if (escape && c == '\'') out += "&#39;";
            else if (c < 0x20 && c != '\n' && c != '\t') out += ' '; // XML 1.0 forbids the other control characters
            else if (c == 0x7f) out += ' ';
            else out += (char)c;
            i++;
            continue;
        }
        // A multi-byte sequence: the lead byte says how long; the rest must be
        // 10xxxxxx, with no overlong forms, no surrogates, nothing past U+10FFFF.
        const size_t length = c >= 0xc2 && c <= 0xdf ? 2 : c >= 0xe0 && c <= 0xef ? 3 : c >= 0xf0 && c <= 0xf4 ? 4 : 0;
        bool valid = length > 0 && i + length <= n;
        for (size_t k = 1; valid && k < length; k++) valid = ((unsigned char)text[i + k] & 0xc0) == 0x80;
        if (valid && length >= 3) {
            const unsigned char second = (unsigned char)text[i + 1];
            valid = !(c == 0xe0 && second < 0xa0) && !(c == 0xed && second >= 0xa0) && !(c == 0xf0 && second < 0x90) &&
                    !(c == 0xf4 && second >= 0x90);
        }
        if (valid) out.append(text, i, length), i += length;
        else out += "\xef\xbf\xbd", i++; // U+FFFD, the replacement character
    }
    return out;
}
} // namespace

std::string html_escape(const std::string& text) { return clean_text(text, true); }
std::string utf8_text(const std::string& text) { return clean_text(text, false); }

namespace {
// The opening of every SVG these writers make: white, sized, scalable.
std::string svg_open(double width, double height, int font_size) {
    char buf[256];
    std::snprintf(buf, sizeof buf,
                  "<svg xmlns='http://www.w3.org/2000/svg' width='%g' height='%g' viewBox='0 0 %g %g' font-family='sans-serif' "
                  "font-size='%d'>\n<rect width='100%%' height='100%%' fill='white'/>\n",
                  width, height, width, height, font_size);
    return buf;
}
void write_text_file(const std::string& path, const std::string& text, const char* who) {
    std::ofstream f(path, std::ios::binary);
    f << text;
    if (!f.good()) throw tt::Error(std::string(who) + ": cannot write '" + path + "'");
}
} // namespace

std::string roofline_svg(const std::string& title, const std::vector<Roof>& roofs, double bandwidth,
                         const std::vector<RooflinePoint>& points) {
    if (roofs.empty() || !(bandwidth > 0)) throw tt::Error("roofline_svg: needs a roof and a bandwidth > 0");
    double highest = 0, lowest = 0.1;
    for (const Roof& r : roofs) highest = std::max(highest, r.peak_gflops);
    for (const RooflinePoint& p : points) lowest = std::min(lowest, p.gflops);
    const double W = 760, H = 480, left = 70, right = 20, top = 40, bottom = 60;
    const double x_lo = 1.0 / 16, x_hi = 1024, y_hi = std::pow(10, std::ceil(std::log10(highest * 1.5)));
    const double y_lo = std::pow(10, std::floor(std::log10(std::max(lowest, 1e-3))));
    auto X = [&](double v) { return left + (W - left - right) * std::log(v / x_lo) / std::log(x_hi / x_lo); };
    auto Y = [&](double v) { return H - bottom - (H - top - bottom) * std::log(v / y_lo) / std::log(y_hi / y_lo); };
    std::string f = svg_open(W, H, 12);
    char buf[512];
    std::snprintf(buf, sizeof buf, "<text x='%g' y='22' font-size='15'>", left);
    f += buf + html_escape(title) + "</text>\n";
    for (double v = x_lo; v <= x_hi * 1.01; v *= 4) { // grid and tick labels
        std::snprintf(buf, sizeof buf, "<line x1='%.1f' y1='%g' x2='%.1f' y2='%g' stroke='#ddd'/><text x='%.1f' y='%g' text-anchor='middle'>%g</text>\n",
                      X(v), top, X(v), H - bottom, X(v), H - bottom + 16, v);
        f += buf;
    }
    for (double v = y_lo; v <= y_hi * 1.01; v *= 10) {
        std::snprintf(buf, sizeof buf, "<line x1='%g' y1='%.1f' x2='%g' y2='%.1f' stroke='#ddd'/><text x='%g' y='%.1f' text-anchor='end'>%g</text>\n",
                      left, Y(v), W - right, Y(v), left - 6, Y(v) + 4, v);
        f += buf;
    }
    std::snprintf(buf, sizeof buf, "<text x='%g' y='%g' text-anchor='middle'>arithmetic intensity (flops per byte of memory traffic)</text>\n"
                  "<text transform='translate(18,%g) rotate(-90)' text-anchor='middle'>GFLOP/s</text>\n",
                  (left + W - right) / 2, H - 18, (top + H - bottom) / 2);
    f += buf;
    for (const Roof& r : roofs) { // the slope bandwidth * intensity up to the ridge, then flat at the peak
        const double ridge = r.peak_gflops / bandwidth;
        const std::string colour = html_escape(r.colour);
        std::snprintf(buf, sizeof buf, "<polyline fill='none' stroke='%s' stroke-width='2' points='%.1f,%.1f %.1f,%.1f %.1f,%.1f'/>"
                      "<text x='%.1f' y='%.1f' fill='%s'>", colour.c_str(), X(x_lo), Y(bandwidth * x_lo), X(ridge),
                      Y(r.peak_gflops), X(x_hi), Y(r.peak_gflops), X(ridge) + 6, Y(r.peak_gflops) - 6, colour.c_str());
        f += buf + html_escape(r.label) + "</text>\n";
    }
    for (size_t i = 0; i < points.size(); i++) {
        const RooflinePoint& p = points[i];
        const double x = X(std::max(p.intensity, x_lo)), y = Y(std::max(p.gflops, y_lo));
        std::snprintf(buf, sizeof buf, "<circle cx='%.1f' cy='%.1f' r='4' fill='#36c'/><text x='%.1f' y='%.1f'%s>", x, y,
                      x + (i % 2 ? -8 : 8), y + 4, i % 2 ? " text-anchor='end'" : ""); // odd labels to the left
        f += buf + html_escape(p.name) + "</text>\n";
    }
    return f + "</svg>\n";
}

void write_roofline_svg(const std::string& path, const std::string& title, const std::vector<Roof>& roofs, double bandwidth,
                        const std::vector<RooflinePoint>& points) {
    write_text_file(path, roofline_svg(title, roofs, bandwidth, points), "write_roofline_svg");
}

std::string histogram_svg(const std::string& title, const std::vector<HistogramSeries>& series, float lo, float hi, int bins) {
    if (!(hi > lo) || bins < 1) throw tt::Error("histogram_svg: needs lo < hi and bins >= 1");
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
    std::string f = svg_open(W, H, 12);
    char buf[256];
    std::snprintf(buf, sizeof buf, "<text x='%g' y='18'>", left);
    f += buf + html_escape(title) + "</text>\n";
    std::snprintf(buf, sizeof buf, "<line x1='%g' y1='%g' x2='%g' y2='%g' stroke='black'/>\n", left, H - bottom, W - right, H - bottom);
    f += buf;
    for (int t = 0; t <= 4; t++) {
        std::snprintf(buf, sizeof buf, "<text x='%g' y='%g' text-anchor='middle'>%.3g</text>\n", X(bins * t / 4.0), H - bottom + 16,
                      lo + (hi - lo) * t / 4);
        f += buf;
    }
    std::snprintf(buf, sizeof buf, "<text x='%g' y='%g'>count (log scale, max %.0f)</text>\n", left, H - 8, most);
    f += buf;
    for (size_t s = 0; s < series.size(); s++) {
        const std::string colour = html_escape(series[s].colour);
        f += "<polyline fill='none' stroke='" + colour + "' stroke-width='1.2' points='";
        for (int b = 0; b < bins; b++) {
            std::snprintf(buf, sizeof buf, "%.1f,%.1f %.1f,%.1f ", X(b), Y(counts[s][(size_t)b]), X(b + 1), Y(counts[s][(size_t)b]));
            f += buf;
        }
        f += "'/>\n";
        std::snprintf(buf, sizeof buf, "<text x='%g' y='%g' fill='%s'>", W - right - 220, top + 14.0 * (double)(s + 1), colour.c_str());
        f += buf + html_escape(series[s].label) + "</text>\n";
    }
    return f + "</svg>\n";
}

void write_histogram_svg(const std::string& path, const std::string& title, const std::vector<HistogramSeries>& series,
                         float lo, float hi, int bins) {
    write_text_file(path, histogram_svg(title, series, lo, hi, bins), "write_histogram_svg");
}

std::vector<int64_t> predict_classes(tt::Module& model, tt::DataLoader& loader) {
    tt::NoGrad inference;
    const bool was_training = model.training;
    model.eval();
    std::vector<int64_t> out;
    for (auto& [x, y] : loader)
        for (float v : tt::argmax(model(x), 1).to_vector()) out.push_back((int64_t)v);
    model.train(was_training);
    return out;
}

std::vector<int64_t> confusion_counts(const std::vector<int64_t>& predicted, const tt::Tensor& labels, int64_t classes) {
    const std::vector<float> truth = labels.to_vector();
    if (truth.size() != predicted.size())
        throw tt::Error("confusion_counts: " + std::to_string(predicted.size()) + " predictions for " +
                        std::to_string(truth.size()) + " labels");
    std::vector<int64_t> counts((size_t)(classes * classes), 0);
    for (size_t i = 0; i < predicted.size(); i++) {
        const int64_t t = (int64_t)truth[i], p = predicted[i];
        if (t < 0 || t >= classes || p < 0 || p >= classes)
            throw tt::Error("confusion_counts: class " + std::to_string(t < 0 || t >= classes ? t : p) + " at sample " +
                            std::to_string(i) + " is not in 0.." + std::to_string(classes - 1));
        counts[(size_t)(t * classes + p)]++;
    }
    return counts;
}

std::string confusion_svg(const std::string& title, const std::vector<int64_t>& counts, const std::vector<std::string>& names) {
    const int64_t K = (int64_t)names.size();
    if (K == 0 || (int64_t)counts.size() != K * K)
        throw tt::Error("confusion_svg: " + std::to_string(counts.size()) + " counts for " + std::to_string(K) +
                        " classes (needs classes^2, at least one)");
    const double cell = 40, left = 100, top = 70, right = 70, bottom = 20;
    const double W = left + cell * (double)K + right, H = top + cell * (double)K + bottom + 20;
    std::string f = svg_open(W, H, 11);
    char buf[320];
    std::snprintf(buf, sizeof buf, "<text x='10' y='20' font-size='14'>");
    f += buf + html_escape(title) + "</text>\n";
    std::snprintf(buf, sizeof buf,
                  "<text x='%g' y='%g' text-anchor='middle'>predicted</text>"
                  "<text x='10' y='%g'>true</text><text x='%g' y='%g' text-anchor='middle'>right</text>\n",
                  left + cell * (double)K / 2, top - 30, top - 8, left + cell * (double)K + right / 2, top - 8);
    f += buf;
    for (int64_t k = 0; k < K; k++) { // class names along both edges, truncated to fit a cell across
        const std::string name = html_escape(names[(size_t)k].substr(0, 12)), across = html_escape(names[(size_t)k].substr(0, 5));
        std::snprintf(buf, sizeof buf, "<text x='%g' y='%g' text-anchor='middle'>", left + cell * ((double)k + 0.5), top - 8);
        f += buf + across + "</text>";
        std::snprintf(buf, sizeof buf, "<text x='%g' y='%g' text-anchor='end'>", left - 6, top + cell * ((double)k + 0.5) + 4);
        f += buf + name + "</text>\n";
    }
    // Each row shaded by its own total: the diagonal (right) in blue, the
    // mistakes in red, darker as a larger share of that class lands there.
    int64_t right_total = 0, total = 0;
    for (int64_t t = 0; t < K; t++) {
        int64_t row = 0;
        for (int64_t p = 0; p < K; p++) row += counts[(size_t)(t * K + p)];
        total += row;
        right_total += counts[(size_t)(t * K + t)];
        for (int64_t p = 0; p < K; p++) {
            const int64_t n = counts[(size_t)(t * K + p)];
            const double share = row ? (double)n / (double)row : 0, shade = n ? 0.15 + 0.85 * std::sqrt(share) : 0;
            const int r = t == p ? (int)(255 - 225 * shade) : 255, g = (int)(255 - 200 * shade),
                      b = t == p ? 255 : (int)(255 - 200 * shade);
            std::snprintf(buf, sizeof buf, "<rect x='%g' y='%g' width='%g' height='%g' fill='#%02x%02x%02x' stroke='#ccc'/>",
                          left + cell * (double)p, top + cell * (double)t, cell, cell, r, g, b);
            f += buf;
            if (n) {
                std::snprintf(buf, sizeof buf, "<text x='%g' y='%g' text-anchor='middle' fill='%s'>%lld</text>",
                              left + cell * ((double)p + 0.5), top + cell * ((double)t + 0.5) + 4, shade > 0.6 ? "white" : "black",
                              (long long)n);
                f += buf;
            }
        }
        std::snprintf(buf, sizeof buf, "<text x='%g' y='%g' text-anchor='middle'>%.1f%%</text>\n", left + cell * (double)K + right / 2,
                      top + cell * ((double)t + 0.5) + 4, row ? 100.0 * (double)counts[(size_t)(t * K + t)] / (double)row : 0.0);
        f += buf;
    }
    std::snprintf(buf, sizeof buf, "<text x='%g' y='%g' text-anchor='middle'>%lld of %lld right (%.2f%%); rows: the true class</text>\n",
                  left + cell * (double)K / 2, H - 12, (long long)right_total, (long long)total,
                  total ? 100.0 * (double)right_total / (double)total : 0.0);
    f += buf;
    return f + "</svg>\n";
}

std::string decision_svg(const std::string& title, const tt::Tensor& x, const tt::Tensor& y, double w1, double w2, double b) {
    if (x.dim() != 2 || x.size(1) != 2 || y.dim() != 1 || y.size(0) != x.size(0))
        throw tt::Error("decision_svg: needs x [N,2] and y [N], got x " + tt::to_string(x.shape()) + " and y " +
                        tt::to_string(y.shape()));
    const std::vector<float> xs = x.contiguous().to_vector(), ys = y.to_vector();
    double lo = 0, hi = 1; // the box holds every point, with a margin
    for (float v : xs) lo = std::min(lo, (double)v), hi = std::max(hi, (double)v);
    const double margin = 0.15 * (hi - lo);
    lo -= margin, hi += margin;
    const double W = 480, H = 440, left = 60, top = 40, size = 360;
    auto X = [&](double v) { return left + size * (v - lo) / (hi - lo); };
    auto Y = [&](double v) { return top + size * (hi - v) / (hi - lo); };
    std::string f = svg_open(W, H, 11);
    char buf[320];
    f += "<text x='10' y='20' font-size='14'>" + html_escape(title) + "</text>\n";
    std::snprintf(buf, sizeof buf, "<rect x='%g' y='%g' width='%g' height='%g' fill='none' stroke='#333'/>\n", left, top, size, size);
    f += buf;
    std::snprintf(buf, sizeof buf, "<text x='%g' y='%g' text-anchor='middle'>x1 (%.3g to %.3g)</text>"
                  "<text transform='translate(%g,%g) rotate(-90)' text-anchor='middle'>x2</text>\n",
                  left + size / 2, top + size + 18, lo, hi, left - 10, top + size / 2);
    f += buf;
    for (size_t i = 0; i < ys.size(); i++) {
        std::snprintf(buf, sizeof buf, "<circle cx='%.1f' cy='%.1f' r='%s' fill='%s' fill-opacity='0.7'/>\n", X(xs[2 * i]),
                      Y(xs[2 * i + 1]), ys.size() > 16 ? "3" : "7", ys[i] > 0.5f ? "#d62728" : "#1f77b4");
        f += buf;
    }
    // The line w1 x1 + w2 x2 + b = 0, clipped to the box: where it crosses
    // the box's four edges (at most two of the crossings lie on the box).
    std::vector<std::pair<double, double>> ends;
    if (std::fabs(w2) > 1e-12)
        for (double v : {lo, hi}) {
            const double u = -(w1 * v + b) / w2;
            if (u >= lo && u <= hi) ends.push_back({v, u});
        }
    if (std::fabs(w1) > 1e-12)
        for (double u : {lo, hi}) {
            const double v = -(w2 * u + b) / w1;
            if (v >= lo && v <= hi) ends.push_back({v, u});
        }
    if (ends.size() >= 2) {
        std::snprintf(buf, sizeof buf, "<line x1='%.1f' y1='%.1f' x2='%.1f' y2='%.1f' stroke='#333' stroke-width='2' stroke-dasharray='6 3'/>\n",
                      X(ends[0].first), Y(ends[0].second), X(ends.back().first), Y(ends.back().second));
        f += buf;
    }
    std::snprintf(buf, sizeof buf, "<text x='%g' y='%g'>class 0 blue, class 1 red; dashed: %.3g x1 + %.3g x2 + %.3g = 0</text>\n", left,
                  H - 8, w1, w2, b);
    f += buf;
    return f + "</svg>\n";
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


std::string pareto_svg(const std::string& title, const std::vector<tt::Variant>& variants) {
    if (variants.empty()) throw tt::Error("pareto_svg: no variants to draw");
    for (const tt::Variant& v : variants)
        if (!(v.latency_seconds > 0)) throw tt::Error("pareto_svg: variant '" + v.name + "' has latency " + std::to_string(v.latency_seconds) + " s; a log axis needs > 0");
    const std::vector<bool> frontier = tt::pareto_frontier(variants);
    // the frontier of accuracy and latency alone (every size equal): the line
    std::vector<tt::Variant> flat = variants;
    for (tt::Variant& v : flat) v.size_bytes = 0;
    const std::vector<bool> line = tt::pareto_frontier(flat);
    double lat_lo = 1e300, lat_hi = 0, acc_lo = 1e300, acc_hi = -1e300, biggest = 1;
    for (const tt::Variant& v : variants) {
        lat_lo = std::min(lat_lo, v.latency_seconds), lat_hi = std::max(lat_hi, v.latency_seconds);
        acc_lo = std::min(acc_lo, v.accuracy), acc_hi = std::max(acc_hi, v.accuracy);
        biggest = std::max(biggest, (double)v.size_bytes);
    }
    // latency in µs or ms on whole decades; accuracy on round steps around its range
    const double unit = lat_hi < 1e-3 ? 1e6 : 1e3;
    const char* unit_name = unit == 1e6 ? "µs" : "ms";
    const double x_lo = std::pow(10, std::floor(std::log10(lat_lo * unit))), x_hi = std::pow(10, std::ceil(std::log10(lat_hi * unit * 1.0001)));
    const double range = std::max(acc_hi - acc_lo, 0.01), magnitude = std::pow(10, std::floor(std::log10(range / 5)));
    double step = magnitude;
    for (double m : {1.0, 2.0, 5.0, 10.0})
        if (range / (m * magnitude) <= 6) { step = m * magnitude; break; }
    const double y_lo = std::floor((acc_lo - step / 2) / step) * step, y_hi = std::ceil((acc_hi + step / 2) / step) * step;
    const double W = 680, H = 420, left = 70, right = 30, top = 40, bottom = 56;
    auto X = [&](double seconds) { return left + (W - left - right) * std::log(seconds * unit / x_lo) / std::log(x_hi / x_lo); };
    auto Y = [&](double acc) { return H - bottom - (H - top - bottom) * (acc - y_lo) / (y_hi - y_lo); };
    auto R = [&](int64_t bytes) { return 3 + 15 * std::sqrt((double)std::max<int64_t>(bytes, 0) / biggest); }; // area by size
    std::string svg;
    char buf[512];
    std::snprintf(buf, sizeof buf, "<svg xmlns='http://www.w3.org/2000/svg' width='%g' height='%g' viewBox='0 0 %g %g' font-family='sans-serif' font-size='12'>\n"
                  "<rect width='100%%' height='100%%' fill='white'/>\n", W, H, W, H);
    svg += buf;
    std::snprintf(buf, sizeof buf, "<text x='%g' y='18' font-size='15'>", left);
    svg += buf + tt::xml_escape(title) + "</text>\n";
    for (double decade = x_lo; decade <= x_hi * 1.0001; decade *= 10)
        for (double m : {1.0, 2.0, 5.0}) { // grid at 1, 2, 5 of each decade
            const double v = decade * m;
            if (v > x_hi * 1.0001) break;
            std::snprintf(buf, sizeof buf, "<line x1='%.1f' y1='%g' x2='%.1f' y2='%g' stroke='#%s'/><text x='%.1f' y='%g' text-anchor='middle'>%g</text>\n",
                          X(v / unit), top, X(v / unit), H - bottom, m == 1 ? "ccc" : "eee", X(v / unit), H - bottom + 16, v);
            svg += buf;
        }
    for (double v = y_lo; v <= y_hi + step / 100; v += step) {
        std::snprintf(buf, sizeof buf, "<line x1='%g' y1='%.1f' x2='%g' y2='%.1f' stroke='#eee'/><text x='%g' y='%.1f' text-anchor='end'>%g</text>\n",
                      left, Y(v), W - right, Y(v), left - 6, Y(v) + 4, std::round(v / step) * step);
        svg += buf;
    }
    std::snprintf(buf, sizeof buf, "<text x='%g' y='%g' text-anchor='middle'>latency, %s (log scale); dot area: size in bytes (largest %s)</text>\n"
                  "<text transform='translate(18,%g) rotate(-90)' text-anchor='middle'>accuracy</text>\n",
                  (left + W - right) / 2, H - 16, unit_name, bytes_str((int64_t)biggest).c_str(), (top + H - bottom) / 2);
    svg += buf;
    // the best accuracy at each latency: a staircase through the accuracy-latency frontier, fastest first
    std::vector<size_t> on;
    for (size_t i = 0; i < variants.size(); i++)
        if (line[i]) on.push_back(i);
    std::sort(on.begin(), on.end(), [&](size_t a, size_t b) { return variants[a].latency_seconds < variants[b].latency_seconds; });
    svg += "<polyline fill='none' stroke='#c33' stroke-width='1.5' points='";
    for (size_t k = 0; k < on.size(); k++) {
        const tt::Variant& v = variants[on[k]];
        if (k > 0) {
            std::snprintf(buf, sizeof buf, "%.1f,%.1f ", X(v.latency_seconds), Y(variants[on[k - 1]].accuracy));
            svg += buf;
        }
        std::snprintf(buf, sizeof buf, "%.1f,%.1f ", X(v.latency_seconds), Y(v.accuracy));
        svg += buf;
    }
    std::snprintf(buf, sizeof buf, "%.1f,%.1f'/>\n", W - right, Y(variants[on.back()].accuracy));
    svg += buf;
    for (size_t i = 0; i < variants.size(); i++) {
        const tt::Variant& v = variants[i];
        const double x = X(v.latency_seconds), y = Y(v.accuracy), r = R(v.size_bytes);
        std::snprintf(buf, sizeof buf, "<circle cx='%.1f' cy='%.1f' r='%.1f' fill='%s' fill-opacity='0.45' stroke='%s'/>"
                      "<text x='%.1f' y='%.1f'%s>", x, y, r, frontier[i] ? "#c33" : "#999", frontier[i] ? "#c33" : "#666",
                      x + r + 3, y + 4 + (i % 2 ? 10.0 : 0.0), frontier[i] ? " font-weight='bold'" : ""); // every other label lower
        svg += buf + tt::xml_escape(v.name) + "</text>\n";
    }
    std::snprintf(buf, sizeof buf, "<text x='%g' y='%g' font-size='11'>red, bold: on the frontier (accuracy, latency, size); "
                  "line: the best accuracy at each latency</text>\n", left, top - 8.0);
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
