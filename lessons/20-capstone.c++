// Lesson 20 · Capstone — `./tt capstone` and the demo behind `./tt lesson 20`:
// a model (a built-in variant, or a student's checkpoint with its
// architecture) trained or loaded, measured with Lesson 19's harness on
// TinyDigits or MNIST, judged by the five events, and written as a
// submission that tt checks on the way out and on the way back in.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>

#include "lessons.h"

using namespace tt;

namespace lessons {

namespace {
// A data set as the capstone feeds it: the bytes, and how they are
// standardised, y = (x/scale - mean) / stddev, the same for every entry.
struct CapstoneData {
    std::string name; // "tinydigits" or "mnist"
    ImageSet train, test;
    std::vector<float> mean, stddev;
    float scale = 1;
    // x [B,C*H*W] when flat (a model that starts with Linear), else [B,C,H,W]
    std::shared_ptr<ImageDataset> dataset(const ImageSet& set, bool flat) const {
        return std::make_shared<ImageDataset>(set, mean, stddev, scale, flat);
    }
    int64_t pixels() const { return train.shape[1] * train.shape[2] * train.shape[3]; }
};

CapstoneData load_data(const std::string& name) {
    CapstoneData d;
    d.name = name;
    if (name == "tinydigits") {
        d.train = load_idx_images(data_path("data/tinydigits/train-images-idx3-ubyte"), data_path("data/tinydigits/train-labels-idx1-ubyte"));
        d.test = load_idx_images(data_path("data/tinydigits/test-images-idx3-ubyte"), data_path("data/tinydigits/test-labels-idx1-ubyte"));
        const ChannelStats stats = channel_stats(d.train); // pixels 0..16: the training set's own mean and spread
        d.mean = stats.mean, d.stddev = stats.stddev;
    } else if (name == "mnist") {
        d.train = load_idx_images(data_path("data/mnist/train-images-idx3-ubyte"), data_path("data/mnist/train-labels-idx1-ubyte"));
        d.test = load_idx_images(data_path("data/mnist/t10k-images-idx3-ubyte"), data_path("data/mnist/t10k-labels-idx1-ubyte"));
        d.mean = {0.1307f}, d.stddev = {0.3081f}, d.scale = 255;
    } else {
        throw Error("capstone: no data set '" + name + "'; the events are run on tinydigits or mnist");
    }
    return d;
}

// A model that takes images starts with a Conv2d; anything else is fed flat rows.
bool takes_images(Sequential& model) {
    return !model.layers.empty() && dynamic_cast<Conv2d*>(model.layers[0].get()) != nullptr;
}

// Lessons' train_adam on the capstone's training set, in batches of 128
// (MNIST) or 32, shuffled with its own seed.
void train(Sequential& model, const CapstoneData& d, int epochs, float lr, uint64_t seed, const PruningMasks* masks = nullptr) {
    Generator g(seed);
    DataLoader loader(d.dataset(d.train, !takes_images(model)), d.name == "mnist" ? 128 : 32, true, false, g);
    train_adam(model, loader, epochs, lr, 0.25, masks);
}

// Lesson 08's text of the model on one line (its layers separated by spaces).
std::string architecture_line(Module& model) {
    std::string text = architecture_of(model);
    std::replace(text.begin(), text.end(), '\n', ' ');
    return text;
}

// An entry: the model as run, and what the submission says of it.
struct Entry {
    std::shared_ptr<Sequential> model; // what is measured (quantized, pruned...)
    SubmittedModel described;
};

std::shared_ptr<Sequential> as_sequential(std::shared_ptr<Module> m, const std::string& what) {
    auto seq = std::dynamic_pointer_cast<Sequential>(m);
    if (!seq) throw Error("capstone: " + what + " is not a Sequential classifier (a GPT cannot enter these events)");
    return seq;
}

// A trained copy of `source` with the same architecture (weights copied).
std::shared_ptr<Sequential> copy_of(Sequential& source) {
    Generator g(0);
    auto copy = as_sequential(build_model(architecture_of(source), g), "the copy");
    const NamedTensors from = source.named_parameters(), to = copy->named_parameters();
    for (size_t i = 0; i < from.size(); i++)
        std::copy(from[i].second.data(), from[i].second.data() + from[i].second.numel(), to[i].second.data());
    copy->eval();
    return copy;
}

// The built-in variants: a name, the base it starts from, what is done to it.
struct VariantSpec {
    const char* name;
    const char* base;  // "mlp", "cnn" or "wide"
    const char* what;  // for --help and the chapter
};
const VariantSpec kVariants[] = {
    {"mlp", "mlp", "one hidden layer (64-32-10 on TinyDigits, 784-128-10 on MNIST), Adam + cosine"},
    {"mlp-int8", "mlp", "mlp with int8 weights and calibrated activations (Lesson 15's quantize, min-max)"},
    {"mlp-sparse50", "mlp", "mlp with half its weights zeroed by magnitude, fine-tuned with the masks (Lesson 16)"},
    {"mlp-sparse90", "mlp", "mlp with 90% of its weights zeroed and no fine-tuning: what that costs"},
    {"mlp-slim", "mlp", "mlp with half its hidden neurons removed, fine-tuned (Lesson 16's prune_neurons)"},
    {"mlp-slim-int8", "mlp", "mlp-slim quantized to int8"},
    {"wide", "wide", "two hidden layers of 256 (TinyDigits) or 512 (MNIST)"},
    {"cnn", "cnn", "a small convolutional net (Lesson 09): conv, ReLU, max-pool, then a Linear"},
};

std::string base_architecture(const std::string& base, const std::string& dataset) {
    const bool mnist = dataset == "mnist";
    if (base == "mlp") return mnist ? "Linear(784, 128) ReLU() Linear(128, 10)" : "Linear(64, 32) ReLU() Linear(32, 10)";
    if (base == "wide")
        return mnist ? "Linear(784, 512) ReLU() Linear(512, 512) ReLU() Linear(512, 10)"
                     : "Linear(64, 256) ReLU() Linear(256, 256) ReLU() Linear(256, 10)";
    return mnist ? "Conv2d(1, 8, kernel_size=5, padding=2) ReLU() MaxPool2d(kernel_size=2) "
                   "Conv2d(8, 16, kernel_size=5, padding=2) ReLU() MaxPool2d(kernel_size=2) Flatten() Linear(784, 10)"
                 : "Conv2d(1, 8, kernel_size=3, padding=1) ReLU() MaxPool2d(kernel_size=2) Flatten() Linear(128, 10)";
}

// The base models, each trained once per run and shared by its variants.
struct Bases {
    const CapstoneData& data;
    bool quick;
    std::map<std::string, std::shared_ptr<Sequential>> trained;
    Sequential& get(const std::string& base) {
        auto& slot = trained[base];
        if (!slot) {
            Generator g(2020);
            slot = as_sequential(build_model(base_architecture(base, data.name), g), base);
            const bool mnist = data.name == "mnist";
            const int epochs = mnist ? (base == "cnn" ? 1 : 2) : quick ? 8 : 20;
            train(*slot, data, epochs, mnist ? 2e-3f : base == "wide" ? 3e-3f : 1e-2f, 2020);
        }
        return *slot;
    }
};

std::shared_ptr<Sequential> quantized(Sequential& model, const CapstoneData& d) {
    Generator g(15);
    DataLoader calibration(d.dataset(d.train, !takes_images(model)), 100, true, false, g);
    return quantize(model, &calibration, Calibration::MinMax, 4);
}

Entry built_in(const std::string& name, Bases& bases) {
    const VariantSpec* spec = nullptr;
    for (const VariantSpec& v : kVariants)
        if (name == v.name) spec = &v;
    if (!spec) {
        std::string names;
        for (const VariantSpec& v : kVariants) names += std::string(names.empty() ? "" : ", ") + v.name;
        throw Error("capstone: no variant '" + name + "'; the variants are " + names);
    }
    Sequential& base = bases.get(spec->base);
    const CapstoneData& d = bases.data;
    const int tune_epochs = d.name == "mnist" ? 1 : bases.quick ? 3 : 5;
    Entry e;
    e.described.name = name;
    std::shared_ptr<Sequential> model;
    if (name == "mlp-sparse50") {
        model = copy_of(base);
        const PruningMasks masks = magnitude_prune(*model, 0.5f, true);
        train(*model, d, tune_epochs, d.name == "mnist" ? 5e-4f : 2e-3f, 16, &masks);
    } else if (name == "mlp-sparse90") {
        model = copy_of(base);
        magnitude_prune(*model, 0.9f, true);
    } else if (name == "mlp-slim" || name == "mlp-slim-int8") {
        model = prune_neurons(base, 0.5f);
        train(*model, d, tune_epochs, d.name == "mnist" ? 1e-3f : 3e-3f, 16);
    } else {
        model = copy_of(base);
    }
    e.described.architecture = architecture_line(*model);
    e.described.params = model->num_parameters();
    e.described.sparsity = measure_sparsity(*model);
    if (name == "mlp-int8" || name == "mlp-slim-int8") {
        model = quantized(*model, d);
        e.described.quantized = true;
    }
    e.model = model;
    return e;
}

// A student's model: a state_dict (./tt init's, or torch's via safetensors)
// and its architecture, from --arch or the file's metadata.
Entry from_checkpoint(const std::string& path, const std::string& arch_option, FILE* err) {
    Entry e;
    e.model = as_sequential(model_for(path, arch_option), "'" + path + "'");
    const LoadReport report = load_state_dict(*e.model, path);
    std::fprintf(err, "%s", report.str().c_str());
    e.model->eval();
    e.described.name = std::filesystem::path(path).filename().string();
    e.described.architecture = architecture_line(*e.model);
    e.described.params = e.model->num_parameters();
    e.described.sparsity = measure_sparsity(*e.model);
    return e;
}

// The events' measurements of one model on the test set. The latency is of
// one sample at a time (single stream), its interval the bootstrap's; the
// throughput offline, at the best of a few batch sizes.
Measurements measure(Sequential& model, const CapstoneData& d, bool quick) {
    NoGrad no_tape;
    model.eval();
    const auto test = d.dataset(d.test, !takes_images(model));
    Measurements m;
    {
        DataLoader loader(test, 500);
        int64_t right = 0;
        for (auto& batch : loader) {
            Tensor y; // [B,10]
            try {
                y = model(batch.x).contiguous();
            } catch (const Error& e) { // a model made for the other data set, most likely: say what it was given
                throw Error("capstone: the model cannot take " + d.name + "'s test images as " + to_string(batch.x.shape()) +
                            ": " + e.what());
            }
            if (y.dim() != 2 || y.size(1) != 10)
                throw Error("capstone: the model gives " + to_string(y.shape()) + " for a batch of " + std::to_string(batch.x.size(0)) +
                            " images, not [B,10] (one score per digit)");
            const float* p = y.data();
            for (int64_t b = 0; b < y.size(0); b++)
                right += std::max_element(p + b * 10, p + b * 10 + 10) - (p + b * 10) == (int64_t)batch.y.data()[b];
        }
        m.test_samples = test->size();
        m.accuracy = (double)right / (double)m.test_samples; // in double: 170/200 is exactly the 0.85 the rules compare with
    }
    const Tensor one = test->gather({0}).x; // [1,...]
    m.size_bytes = stored_bytes(model);
    reset_peak();
    const int64_t live = memory_counts().live_bytes;
    model(one);
    m.peak_bytes = m.size_bytes + (memory_counts().peak_bytes - live);

    BenchmarkOptions o;
    o.bootstrap = true;
    o.warmup = quick ? 1 : 3;
    o.min_runs = quick ? 20 : 200; // enough runs for a p99 to mean something
    o.max_runs = quick ? 200 : 20000;
    o.max_seconds = quick ? 0.05 : 1.0;
    o.target_ci = 0.01;
    const Benchmark latency = single_stream(d.name, [&](int64_t) { model(one); }, o);
    m.latency_median = latency.stats.median;
    m.latency_ci_low = latency.median_ci.low;
    m.latency_ci_high = latency.median_ci.high;
    m.latency_p90 = latency.stats.p90;
    m.latency_p99 = latency.stats.p99;
    m.latency_runs = latency.stats.n;

    std::map<int64_t, Tensor> batches; // made before the clock runs
    std::vector<int64_t> sizes;
    for (int64_t b : {1, 16, 128, 512}) {
        const int64_t n = std::min<int64_t>(b, test->size());
        if (batches.count(n)) continue;
        std::vector<int64_t> rows((size_t)n);
        for (int64_t k = 0; k < n; k++) rows[(size_t)k] = k;
        batches[n] = test->gather(rows).x;
        sizes.push_back(n);
    }
    BenchmarkOptions ob = o;
    ob.bootstrap = false;
    ob.max_seconds = quick ? 0.02 : 0.5;
    m.throughput = offline(d.name, [&](int64_t b) { model(batches.at(b)); }, sizes, ob).samples_per_second;
    return m;
}

Submission submission_of(const Entry& e, const Measurements& m, const std::string& dataset, const std::string& submitter) {
    Submission s;
    s.submitter = submitter;
    s.dataset = dataset;
    s.model = e.described;
    s.metrics = m;
    s.platform = tt::platform();
    s.events = judge_all(m);
    return s;
}

// A score as people read it: latencies in microseconds, sizes in bytes.
std::string score_text(const std::string& metric, double v) {
    char buf[48];
    if (metric == "latency_median") std::snprintf(buf, sizeof buf, "%.2f us", v * 1e6);
    else if (metric == "size_bytes") return bytes_str((int64_t)v);
    else if (metric == "accuracy") std::snprintf(buf, sizeof buf, "%.2f%%", 100 * v);
    else if (metric == "size_x_latency") std::snprintf(buf, sizeof buf, "%.4g B*s", v);
    else std::snprintf(buf, sizeof buf, "%.2f", v);
    return buf;
}

void print_summary(FILE* out, const Submission& s) {
    const Measurements& m = s.metrics;
    std::fprintf(out, "%s on %s (%s%s%s), measured on %s, %lld threads\n", s.model.name.c_str(), s.dataset.c_str(),
                 s.model.architecture.c_str(), s.model.quantized ? ", int8" : "",
                 s.model.sparsity > 0 ? (", " + score_text("accuracy", s.model.sparsity) + " zeros").c_str() : "",
                 s.platform.cpu.c_str(), (long long)s.platform.threads);
    std::fprintf(out, "  accuracy %.2f%% of %lld; latency median %.2f us (95%% CI %.2f-%.2f), p90 %.2f, p99 %.2f (%lld runs)\n",
                 100 * m.accuracy, (long long)m.test_samples, 1e6 * m.latency_median, 1e6 * m.latency_ci_low, 1e6 * m.latency_ci_high,
                 1e6 * m.latency_p90, 1e6 * m.latency_p99, (long long)m.latency_runs);
    std::fprintf(out, "  throughput %.0f samples/s; size %s; peak %s\n", m.throughput, bytes_str(m.size_bytes).c_str(),
                 bytes_str(m.peak_bytes).c_str());
    for (size_t k = 0; k < s.events.size(); k++) {
        const Event& e = capstone_events()[k];
        std::fprintf(out, "  %-17s %-13s %s\n", e.name.c_str(), score_text(e.score, s.events[k].score).c_str(),
                     s.events[k].eligible ? "eligible" : ("not eligible: " + s.events[k].reason).c_str());
    }
}

// The pretty file on one line, for --json (its strings hold no raw newline).
std::string one_line(const std::string& pretty) {
    std::string out;
    for (size_t i = 0; i < pretty.size(); i++) {
        if (pretty[i] != '\n') { out += pretty[i]; continue; }
        while (i + 1 < pretty.size() && pretty[i + 1] == ' ') i++;
    }
    return out;
}

int capstone_usage(const std::string& message, FILE* err) {
    const char* usage = "usage: tt capstone [--variant NAME | --model M.safetensors [--arch TEXT]] [--quantize] [--prune F]\n"
                        "                   [--dataset tinydigits|mnist] [--submitter NAME] [--out FILE] [--quick] [--json]\n"
                        "       tt capstone --check FILE\n";
    if (!message.empty()) { // a mistake: what it was and the usage, the rest is in --help
        std::fprintf(err, "tt: capstone: %s\n\n%s(tt capstone --help: the variants, the options, the events)\n", message.c_str(), usage);
        return 2;
    }
    std::fprintf(err, "%s", usage);
    std::fprintf(err,
                 "\n"
                 "Measures one model on the data set's test set (accuracy; single-stream latency with the\n"
                 "bootstrap interval of its median, p90, p99; offline throughput; size; peak memory), judges it\n"
                 "in the five events and writes the submission (default submission.json), checked before it is\n"
                 "written. --check reads a submission, checks every field and prints it (exit 1 on a bad one).\n"
                 "\n"
                 "  --variant NAME   a built-in model, trained now (default mlp):\n");
    for (const VariantSpec& v : kVariants) std::fprintf(err, "                     %-14s %s\n", v.name, v.what);
    std::fprintf(err,
                 "  --model FILE     your model: a state_dict in safetensors (./tt init writes one; PyTorch's\n"
                 "                   names), its architecture in the metadata or given with --arch (Lesson 08's\n"
                 "                   text). Inputs are standardised rows [B,64] or [B,784], or images [B,1,H,W]\n"
                 "                   for a model that starts with Conv2d; it must give [B,10]\n"
                 "  --quantize       int8 weights before measuring (Lesson 15's quantize, min-max calibration)\n"
                 "  --prune F        zero the fraction F of the weights by magnitude first (Lesson 16; no fine-tuning)\n"
                 "  --quick          shorter benchmarks (and shorter training of a variant)\n"
                 "  --json           end with the submission on one line\n"
                 "\nevents:\n");
    for (const Event& e : capstone_events()) {
        std::string rules;
        for (const Rule& r : e.rules) rules += (rules.empty() ? "" : ", ") + r.str();
        std::fprintf(err, "  %-17s %s %s; needs %s\n", e.name.c_str(), e.higher_is_better ? "highest" : "lowest", e.score.c_str(),
                     rules.c_str());
    }
    return 0;
}
} // namespace

int capstone_command(const std::vector<std::string>& args, FILE* out, FILE* err) {
    std::string variant, model_path, arch, dataset = "tinydigits", out_path = "submission.json", check_path, submitter, prune_text;
    bool quick = false, json = false, quantize_it = false;
    for (size_t i = 1; i < args.size(); i++) {
        const std::string& a = args[i];
        std::string* value = a == "--variant" ? &variant : a == "--model" ? &model_path : a == "--arch" ? &arch
                             : a == "--dataset" ? &dataset : a == "--out" ? &out_path : a == "--check" ? &check_path
                             : a == "--submitter" ? &submitter : a == "--prune" ? &prune_text : nullptr;
        if (value) {
            if (i + 1 == args.size()) return capstone_usage(a + " needs a value", err);
            *value = args[++i];
        } else if (a == "--quick") quick = true;
        else if (a == "--json") json = true;
        else if (a == "--quantize") quantize_it = true;
        else if (a == "--help" || a == "-h") return capstone_usage("", out);
        else return capstone_usage("unknown argument '" + a + "'", err);
    }
    if (!check_path.empty()) {
        if (!variant.empty() || !model_path.empty()) return capstone_usage("--check takes a file and nothing else", err);
        try {
            const Submission s = read_submission(check_path);
            std::fprintf(out, "%s: a valid submission (schema version %lld)\n", check_path.c_str(), (long long)s.schema_version);
            print_summary(out, s);
            if (json) std::fprintf(out, "%s\n", one_line(to_json(s)).c_str());
            return 0;
        } catch (const Error& e) {
            std::fprintf(err, "tt: capstone: %s\n", e.what());
            return 1;
        }
    }
    if (!variant.empty() && !model_path.empty()) return capstone_usage("give --variant or --model, not both", err);
    if (!arch.empty() && model_path.empty()) return capstone_usage("--arch goes with --model", err);
    double prune = 0;
    if (!prune_text.empty()) {
        char* end = nullptr;
        prune = std::strtod(prune_text.c_str(), &end);
        if (*end != '\0' || !(prune > 0 && prune < 1)) return capstone_usage("--prune takes a fraction between 0 and 1", err);
    }
    if (variant.empty() && model_path.empty()) variant = "mlp";
    const CapstoneData data = load_data(dataset);
    Bases bases{data, quick, {}};
    Entry entry = model_path.empty() ? built_in(variant, bases) : from_checkpoint(model_path, arch, err);
    if (prune > 0) {
        if (entry.described.quantized) return capstone_usage("--prune goes before quantization: use a float variant", err);
        magnitude_prune(*entry.model, (float)prune, true);
        entry.described.sparsity = measure_sparsity(*entry.model);
        entry.described.name += "-pruned";
    }
    if (quantize_it && !entry.described.quantized) {
        entry.model = quantized(*entry.model, data);
        entry.described.quantized = true;
        entry.described.name += "-int8";
    }
    const Measurements m = measure(*entry.model, data, quick);
    const Submission s = submission_of(entry, m, dataset, submitter);
    write_submission(out_path, s);
    print_summary(out, s);
    std::fprintf(out, "wrote %s (checked: ./tt capstone --check %s)\n", out_path.c_str(), out_path.c_str());
    if (json) std::fprintf(out, "%s\n", one_line(to_json(s)).c_str());
    return 0;
}

Json lesson_20(const Options& options) {
    Json measured;
    std::vector<std::string> datasets = {"tinydigits"};
    if (!options.quick && std::filesystem::exists(data_path("data/mnist/t10k-images-idx3-ubyte"))) datasets.push_back("mnist");
    else std::printf("(MNIST left out: %s)\n\n", options.quick ? "--quick" : "not decompressed; run `make data`");
    const Platform p = tt::platform();
    measured.object("platform", platform_json(p));
    int section = 0;
    for (const std::string& name : datasets) {
        const CapstoneData data = load_data(name);
        Bases bases{data, options.quick, {}};
        std::printf("%d. The built-in variants on %s (%lld train / %lld test), trained now, measured by Lesson 19's harness:\n",
                    ++section, name.c_str(), (long long)data.train.size(), (long long)data.test.size());
        std::printf("   %-14s %9s %26s %10s %12s %10s %10s\n", "variant", "accuracy", "latency median (95% CI), us", "p99, us",
                    "samples/s", "size", "peak");
        std::vector<Submission> entries;
        std::vector<Json> rows;
        std::vector<Variant> points;
        for (const VariantSpec& v : kVariants) {
            const Entry e = built_in(v.name, bases);
            const Measurements m = measure(*e.model, data, options.quick);
            entries.push_back(submission_of(e, m, name, "tt lesson 20"));
            char ci[64];
            std::snprintf(ci, sizeof ci, "%.2f (%.2f-%.2f)", 1e6 * m.latency_median, 1e6 * m.latency_ci_low, 1e6 * m.latency_ci_high);
            std::printf("   %-14s %8.2f%% %26s %10.2f %12.0f %10s %10s\n", v.name, 100 * m.accuracy, ci, 1e6 * m.latency_p99,
                        m.throughput, bytes_str(m.size_bytes).c_str(), bytes_str(m.peak_bytes).c_str());
            rows.push_back(Json().text("variant", v.name).number("accuracy", m.accuracy).number("latency_median", m.latency_median)
                               .number("latency_ci_low", m.latency_ci_low).number("latency_ci_high", m.latency_ci_high)
                               .number("latency_p99", m.latency_p99).number("throughput", m.throughput)
                               .number("size_bytes", (double)m.size_bytes).number("peak_bytes", (double)m.peak_bytes)
                               .number("balance", metric_value(m, "balance")));
            points.push_back({v.name, m.accuracy, m.latency_median, m.size_bytes});
        }
        std::printf("\n   The events (eligible entries ranked; the others with the rule they miss):\n");
        Json winners;
        for (const Event& e : capstone_events()) {
            std::string rules;
            for (const Rule& r : e.rules) rules += (rules.empty() ? "" : ", ") + r.str();
            std::printf("   %s: %s %s, needs %s\n", e.title.c_str(), e.higher_is_better ? "highest" : "lowest", e.score.c_str(), rules.c_str());
            const std::vector<size_t> ranked = leaderboard(entries, e.name);
            size_t at = 0;
            while (capstone_events()[at].name != e.name) at++;
            for (size_t r = 0; r < ranked.size(); r++)
                std::printf("     %zu. %-14s %s\n", r + 1, entries[ranked[r]].model.name.c_str(),
                            score_text(e.score, entries[ranked[r]].events[at].score).c_str());
            for (const Submission& s : entries)
                if (!s.events[at].eligible) std::printf("     -  %-14s %s\n", s.model.name.c_str(), s.events[at].reason.c_str());
            if (ranked.empty()) winners.null(e.name);
            else winners.text(e.name, entries[ranked[0]].model.name);
        }
        // The all-around winner's file, written, read back and compared.
        const std::vector<size_t> best = leaderboard(entries, "all-around");
        const Submission& chosen = entries[best.empty() ? 0 : best[0]];
        const std::string file = output_path("tt-lesson-20-" + name + "-submission.json");
        write_submission(file, chosen);
        const Submission again = read_submission(file);
        const bool same = to_json(again) == to_json(chosen);
        std::printf("\n   %s's submission: %s (%lld bytes), read back and checked: %s\n", chosen.model.name.c_str(), file.c_str(),
                    (long long)std::filesystem::file_size(file), same ? "the same" : "DIFFERENT");
        const std::string svg = output_path("tt-lesson-20-" + name + "-pareto.svg");
        {
            std::FILE* f = std::fopen(svg.c_str(), "wb");
            if (!f) throw Error("lesson 20: cannot write '" + svg + "'");
            const std::string text = pareto_svg("Lesson 20: the variants on " + name + " (accuracy, latency, size)", points);
            std::fwrite(text.data(), 1, text.size(), f);
            std::fclose(f);
        }
        std::printf("   the variants' Pareto plot: %s\n\n", svg.c_str());
        measured.object(name, Json().objects("variants", rows).object("winners", winners).text("submission", file)
                                  .boolean("read_back_same", same).text("pareto_svg", svg));
    }
    return measured;
}

} // namespace lessons
