// Milestone 2018 · MLPerf: from a float baseline to an optimised model, every
// step measured. MLPerf (Reddi et al., "MLPerf Inference Benchmark", 2019)
// made the field report accuracy, latency and throughput together, under
// fixed rules, on a named machine. Here the tools of lessons 15-19 are
// applied to models the book trained: (a) the MNIST MLP of 1986 and (b) the
// LeNet-5 of 1998, each as float32, int8 (Lesson 15), 50% pruned and
// fine-tuned (Lesson 16), and pruned then int8, with single-stream latency
// and offline throughput from Lesson 19's harness, the speed-ups against the
// float model with their intervals, and the Pareto frontier; (c) the GPT of
// 2017 served with and without its KV cache (Lesson 18): the same logits,
// then tokens/s. The gates are accuracy, size and agreement, which this
// machine cannot disturb; the speeds are reported with their intervals,
// never gated.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "lessons.h"

using namespace tt;

namespace lessons {

namespace {

// The harness's caps. The default run gives each configuration at most
// 0.2 s of timed calls (the tour's budget: some 40 configurations); --quick
// (the tests, also under sanitizers and qemu) a few milliseconds.
BenchmarkOptions caps(const Options& options) {
    BenchmarkOptions b;
    b.warmup = options.quick ? 1 : 3;
    b.min_runs = options.quick ? 3 : 5;
    b.max_runs = options.quick ? 6 : 2000;
    b.max_seconds = options.quick ? 0.005 : 0.2;
    b.target_ci = 0.02;
    b.bootstrap = true; // the median's interval (2000 resamples)
    return b;
}

// printf into a string, for the tables' cells.
template <class... Numbers>
std::string format(const char* f, Numbers... values) {
    char buf[128];
    std::snprintf(buf, sizeof buf, f, values...);
    return buf;
}

// A speed-up and its interval as table text: "1.52x [1.47-1.58]", or "-".
std::string speedup_text(const Comparison& c) {
    if (c.pairs == 0) return "-";
    return format("%.2fx [%.2f-%.2f]", c.speedup, c.ci.low, c.ci.high);
}

// One variant of a model as measured.
struct Measured {
    std::string name;
    std::shared_ptr<Sequential> model;
    double accuracy = 0;           // on the whole test set
    int64_t weight_bytes = 0;      // as stored and run: float or int8, dense (a pruned weight's zeros included)
    int64_t csr_bytes = 0;         // the same weights in CSR (Lesson 16; float values): what pruning could store
    double zero_fraction = 0;      // of the weights (int8 ones counted as stored)
    Benchmark latency;             // single stream: one sample per call
    Offline throughput;            // offline: the best of the batch sizes tried
    Comparison at_one, at_batch;   // against the float model, paired: batch 1 and the largest batch (pairs 0: the float itself)
    bool pareto = false;
};

// Fraction of exact zeros in the weights of every Linear, Conv2d and
// quantized layer: pruning's zeros survive quantization (round(0 / s) = 0).
double zero_fraction(Sequential& model) {
    int64_t zeros = 0, total = 0;
    auto count_int8 = [&](const QTensor& q) {
        for (int64_t i = 0; i < q.numel(); i++) zeros += q.data()[i] == 0;
        total += q.numel();
    };
    for (auto& layer : model.layers) {
        if (auto* l = dynamic_cast<QuantizedLinear*>(layer.get())) count_int8(l->weight);
        else if (auto* c = dynamic_cast<QuantizedConv2d*>(layer.get())) count_int8(c->weight);
        else if (auto* fl = dynamic_cast<Linear*>(layer.get())) {
            zeros += (int64_t)std::llround(measure_sparsity(fl->weight) * (double)fl->weight.numel());
            total += fl->weight.numel();
        } else if (auto* fc = dynamic_cast<Conv2d*>(layer.get())) {
            zeros += (int64_t)std::llround(measure_sparsity(fc->weight) * (double)fc->weight.numel());
            total += fc->weight.numel();
        }
    }
    return total ? (double)zeros / (double)total : 0;
}

// Bytes of the float weights in CSR: a Conv2d's [O,C,k,k] as [O, C*k*k].
int64_t csr_bytes(Sequential& model) {
    int64_t bytes = 0;
    for (auto& layer : model.layers) {
        if (auto* l = dynamic_cast<Linear*>(layer.get())) bytes += to_csr(l->weight.detach()).bytes();
        else if (auto* c = dynamic_cast<Conv2d*>(layer.get()))
            bytes += to_csr(c->weight.detach().reshape({c->out_channels, -1})).bytes();
    }
    return bytes;
}

// A fresh model of the same architecture holding the trained one's weights.
std::shared_ptr<Sequential> copy_of(Sequential& trained, const std::function<Sequential(Generator&)>& make) {
    Generator g(0);
    auto copy = std::make_shared<Sequential>(make(g));
    const NamedTensors from = trained.named_parameters(), to = copy->named_parameters();
    for (size_t i = 0; i < from.size(); i++)
        std::copy(from[i].second.data(), from[i].second.data() + from[i].second.numel(), to[i].second.data());
    return copy;
}

// What one part trains and measures.
struct ModelPlan {
    const char* part;
    std::string dataset, model_name;
    std::function<Sequential(Generator&)> make;
    std::shared_ptr<Dataset> train, test;
    int epochs, fine_tune_epochs;
    float lr, fine_tune_lr;
    int64_t batch;
    std::vector<int64_t> offline_batches; // the last one is also the comparison's batch
    double size_gate;
};

Result skipped_model(const char* part, const std::string& why) {
    Result r;
    r.milestone = "2018";
    r.part = part;
    r.dataset = "MNIST 28x28";
    r.gate = "int8_accuracy_drop_points <= 1.0 and int8_size_ratio >= 3.9 and pruned_accuracy_drop_points <= 2.0";
    r.skipped = true;
    r.note = why;
    return r;
}

Result model_part(const ModelPlan& p, const Options& options) {
    const BenchmarkOptions bench = caps(options);
    Generator g(2018);
    DataLoader train_loader(p.train, p.batch, true, false, g), calibration(p.train, 128), test_loader(p.test, 500);
    auto accuracy_of = [&](Sequential& m) { return (double)evaluate(m, test_loader, cross_entropy).accuracy; };

    // 1. The float baseline.
    auto base = std::make_shared<Sequential>(p.make(g));
    train_adam(*base, train_loader, p.epochs, p.lr, 0.1, nullptr, "  float32", !options.quick);
    std::vector<Measured> variants(4);
    variants[0].name = "float32";
    variants[0].model = base;
    // 2. int8: weights per channel, inputs calibrated (min-max over 4 batches of 128 training samples).
    variants[1].name = "int8";
    variants[1].model = quantize(*base, &calibration, Calibration::MinMax, 4);
    // 3. 50% of the weights pruned by magnitude (one global threshold), then fine-tuned with the masks.
    auto pruned = copy_of(*base, p.make);
    const PruningMasks masks = magnitude_prune(*pruned, 0.5f, true);
    train_adam(*pruned, train_loader, p.fine_tune_epochs, p.fine_tune_lr, 0.1, &masks, "  pruned 50%, fine-tuning", !options.quick);
    variants[2].name = "pruned 50%";
    variants[2].model = pruned;
    // 4. Both: the pruned model quantized; its zeros stay zeros, but int8 dense stores them.
    variants[3].name = "pruned 50% + int8";
    variants[3].model = quantize(*pruned, &calibration, Calibration::MinMax, 4);

    // Accuracy and size of each.
    for (Measured& v : variants) {
        v.accuracy = accuracy_of(*v.model);
        v.weight_bytes = weight_bytes(*v.model);
        v.zero_fraction = zero_fraction(*v.model);
    }
    variants[0].csr_bytes = csr_bytes(*base);
    variants[2].csr_bytes = csr_bytes(*pruned);

    // Speed: the first test samples, as the model takes them.
    const int64_t largest = p.offline_batches.back();
    const Tensor inputs = DataLoader(p.test, largest).batch(0).x; // [largest, ...]
    NoGrad inference;
    auto runner = [&](Sequential& m) { return [&m, &inputs](int64_t b) { m(b == inputs.size(0) ? inputs : inputs.slice(0, 0, b)); }; };
    for (Measured& v : variants) {
        v.latency = single_stream(v.name, runner(*v.model), bench);
        v.throughput = offline(v.name, runner(*v.model), p.offline_batches, bench);
    }
    auto run_float = runner(*base);
    BenchmarkOptions paired = bench; // a pair at batch 256 is two whole batches: twice the time, for enough pairs
    paired.max_seconds *= 2;
    for (size_t i = 1; i < variants.size(); i++) {
        auto run = runner(*variants[i].model);
        variants[i].at_one = compare(variants[i].name, [&] { run(1); }, "float32", [&] { run_float(1); }, paired);
        variants[i].at_batch = compare(variants[i].name, [&] { run(largest); }, "float32", [&] { run_float(largest); }, paired);
    }
    std::vector<Variant> points;
    for (const Measured& v : variants) points.push_back({v.name, v.accuracy, v.latency.stats.median, v.weight_bytes});
    const std::vector<bool> frontier = pareto_frontier(points);
    for (size_t i = 0; i < variants.size(); i++) variants[i].pareto = frontier[i];

    // The table: stdout and the report's.
    Table table;
    table.title = std::string(p.part) + ": the four variants, " + std::to_string(get_num_threads()) + " threads";
    table.header = {"variant", "test accuracy", "weights (bytes)", "zeros", "latency, median ms [95% CI]",
                    "throughput, samples/s [95% CI] (batch)", "speed-up at batch 1 [95% CI]",
                    "speed-up at batch " + std::to_string(largest) + " [95% CI]", "Pareto"};
    for (const Measured& v : variants) {
        const Interval& m = v.latency.median_ci;
        const bool has_ci = m.high > 0;
        const std::string latency = format("%.4f", 1e3 * v.latency.stats.median) +
                                    (has_ci ? format(" [%.4f-%.4f]", 1e3 * m.low, 1e3 * m.high) : std::string(" [-]"));
        const std::string throughput = format("%.0f [%.0f-%.0f]", v.throughput.samples_per_second, v.throughput.samples_per_second_ci.low,
                                              v.throughput.samples_per_second_ci.high) +
                                       " (" + std::to_string(v.throughput.best_batch) + ")";
        table.rows.push_back({v.name, format("%.2f%%", 100 * v.accuracy), std::to_string(v.weight_bytes),
                              format("%.1f%%", 100 * v.zero_fraction), latency, throughput, speedup_text(v.at_one),
                              speedup_text(v.at_batch), v.pareto ? "yes" : "no"});
    }
    if (!options.json) {
        std::printf("  %-18s %8s %10s %6s %-28s %-30s %-20s %-20s %s\n", "variant", "accuracy", "weights", "zeros",
                    "latency ms, median [CI]", "samples/s [CI] (batch)", "vs float, batch 1",
                    ("vs float, batch " + std::to_string(largest)).c_str(), "Pareto");
        for (const auto& row : table.rows)
            std::printf("  %-18s %8s %10s %6s %-28s %-30s %-20s %-20s %s\n", row[0].c_str(), row[1].c_str(),
                        bytes_str(std::stoll(row[2])).c_str(), row[3].c_str(), row[4].c_str(), row[5].c_str(), row[6].c_str(),
                        row[7].c_str(), row[8].c_str());
    }

    const double int8_drop = 100 * (variants[0].accuracy - variants[1].accuracy);
    const double pruned_drop = 100 * (variants[0].accuracy - variants[2].accuracy);
    const double both_drop = 100 * (variants[0].accuracy - variants[3].accuracy);
    const double size_ratio = (double)variants[0].weight_bytes / (double)variants[1].weight_bytes;
    Result r;
    r.milestone = "2018";
    r.part = p.part;
    r.dataset = p.dataset;
    r.model = p.model_name;
    r.params = base->num_parameters();
    // the gates' values first: the report's summary shows a part's first metrics
    r.metrics = {{"int8_accuracy_drop_points", int8_drop},
                 {"int8_size_ratio", size_ratio},
                 {"pruned_accuracy_drop_points", pruned_drop},
                 {"pruned_int8_accuracy_drop_points", both_drop},
                 {"float_accuracy", variants[0].accuracy},
                 {"int8_accuracy", variants[1].accuracy},
                 {"pruned_accuracy", variants[2].accuracy},
                 {"pruned_int8_accuracy", variants[3].accuracy},
                 {"pruned_sparsity", variants[2].zero_fraction},
                 {"pruned_int8_zero_fraction", variants[3].zero_fraction},
                 {"float_weight_bytes", (double)variants[0].weight_bytes},
                 {"int8_weight_bytes", (double)variants[1].weight_bytes},
                 {"pruned_weight_bytes", (double)variants[2].weight_bytes},
                 {"pruned_int8_weight_bytes", (double)variants[3].weight_bytes},
                 {"pruned_csr_bytes", (double)variants[2].csr_bytes}};
    const char* keys[] = {"float", "int8", "pruned", "pruned_int8"};
    for (size_t i = 0; i < variants.size(); i++) {
        const Measured& v = variants[i];
        const std::string k = keys[i];
        r.metrics.push_back({k + "_latency_median_s", v.latency.stats.median});
        r.metrics.push_back({k + "_latency_median_ci_low", v.latency.median_ci.low});
        r.metrics.push_back({k + "_latency_median_ci_high", v.latency.median_ci.high});
        r.metrics.push_back({k + "_throughput", v.throughput.samples_per_second});
        r.metrics.push_back({k + "_throughput_ci_low", v.throughput.samples_per_second_ci.low});
        r.metrics.push_back({k + "_throughput_ci_high", v.throughput.samples_per_second_ci.high});
        r.metrics.push_back({k + "_throughput_batch", (double)v.throughput.best_batch});
        if (i > 0) {
            r.metrics.push_back({k + "_latency_speedup", v.at_one.speedup});
            r.metrics.push_back({k + "_latency_speedup_ci_low", v.at_one.ci.low});
            r.metrics.push_back({k + "_latency_speedup_ci_high", v.at_one.ci.high});
            r.metrics.push_back({k + "_throughput_speedup", v.at_batch.speedup});
            r.metrics.push_back({k + "_throughput_speedup_ci_low", v.at_batch.ci.low});
            r.metrics.push_back({k + "_throughput_speedup_ci_high", v.at_batch.ci.high});
        }
        r.metrics.push_back({k + "_pareto", v.pareto ? 1.0 : 0.0});
    }
    r.gate = "int8_accuracy_drop_points <= 1.0 and int8_size_ratio >= " + format("%.1f", p.size_gate) +
             " and pruned_accuracy_drop_points <= 2.0";
    r.pass = int8_drop <= 1.0 && size_ratio >= p.size_gate && pruned_drop <= 2.0;
    r.note = "weights as stored and run: int8 dense keeps the pruned zeros (" + bytes_str(variants[3].weight_bytes) +
             "); the pruned float weights in CSR take " + bytes_str(variants[2].csr_bytes) + " against " +
             bytes_str(variants[2].weight_bytes) + " dense; the speeds are reported, not gated";
    if (p.size_gate < 3.9)
        r.note += "; --quick: small layers, whose rows of 9 to 144 weights each add a 4-byte scale (64 weights: 4*64/68 = 3.76x), so its size gate is 3.7";
    r.tables.push_back(table);
    r.figures.push_back({std::string(p.part) + ": accuracy against latency, the dot's area its size",
                         pareto_svg(std::string("Milestone 2018 · ") + p.part, points)});

    if (!options.json) {
        std::printf("  int8: accuracy drop %.2f points (<= 1.0), weights %.2fx smaller (>= %.1f); pruned: drop %.2f points (<= 2.0);"
                    " both: drop %.2f points, %.1f%% zeros\n",
                    int8_drop, size_ratio, p.size_gate, pruned_drop, both_drop, 100 * variants[3].zero_fraction);
        for (size_t i = 1; i < variants.size(); i++)
            std::printf("  %s against float32: %s; %s\n", variants[i].name.c_str(), variants[i].at_one.verdict().c_str(),
                        variants[i].at_batch.verdict().c_str());
        std::printf("  Pareto frontier (accuracy, median latency, weight bytes):");
        for (const Measured& v : variants)
            if (v.pareto) std::printf(" %s;", v.name.c_str());
        std::printf("\n\n");
    }
    return r;
}

// The data of the two model parts: MNIST, or with --quick the 8x8
// TinyDigits (1000 train / 200 test), standardised by the training set.
struct Digits {
    std::shared_ptr<Dataset> train, test;
    std::string name, why_not;
};
Digits digits(const Options& options, bool flat) {
    Digits d;
    if (options.quick) {
        const ImageSet train = load_idx_images(data_path("data/tinydigits/train-images-idx3-ubyte"),
                                               data_path("data/tinydigits/train-labels-idx1-ubyte"));
        const ImageSet test = load_idx_images(data_path("data/tinydigits/test-images-idx3-ubyte"),
                                              data_path("data/tinydigits/test-labels-idx1-ubyte"));
        const ChannelStats stats = channel_stats(train);
        d.train = std::make_shared<ImageDataset>(train, stats.mean, stats.stddev, 1.0f, flat);
        d.test = std::make_shared<ImageDataset>(test, stats.mean, stats.stddev, 1.0f, flat);
        d.name = "TinyDigits 8x8, 1000 train / 200 test (--quick)";
        return d;
    }
    Options full = options;
    ImageSet train, test;
    if (!load_mnist(full, train, test, d.why_not)) return d;
    d.train = mnist_dataset(train, flat);
    d.test = mnist_dataset(test, flat);
    d.name = "MNIST 28x28, 60000 train / 10000 test";
    return d;
}

Result mlp_part(const Options& options) {
    const char* part = "MNIST MLP: float, int8, pruned, both";
    const Digits data = digits(options, true);
    if (!data.train) return skipped_model(part, "MNIST " + data.why_not);
    ModelPlan p{part, data.name, "MLP 784-256-128-10 (milestone 1986), 2 epochs of Adam", mnist_mlp,
                data.train, data.test, 2, 1, 2e-3f, 5e-4f, 128, {64, 256}, 3.9};
    if (options.quick) {
        p.model_name = "MLP 64-128-10 on 8x8 digits, 10 epochs of Adam";
        p.make = [](Generator& g) {
            return Sequential{Linear(64, 128, true, Init::Kaiming, g), ReLU(), Linear(128, 10, true, Init::Kaiming, g)};
        };
        p.epochs = 10, p.fine_tune_epochs = 4, p.lr = 1e-2f, p.fine_tune_lr = 2e-3f, p.batch = 32;
        p.offline_batches = {16, 64};
        p.size_gate = 3.7;
    }
    if (!options.json) std::printf("(a) %s: %s, %s\n", part, p.model_name.c_str(), data.name.c_str());
    return model_part(p, options);
}

Result lenet_part(const Options& options) {
    const char* part = "MNIST LeNet: float, int8, pruned, both";
    const Digits data = digits(options, false);
    if (!data.train) return skipped_model(part, "MNIST " + data.why_not);
    ModelPlan p{part, data.name, "LeNet-5 (milestone 1998), 1 epoch of Adam", lenet5,
                data.train, data.test, 1, 1, 3e-3f, 5e-4f, 64, {64, 256}, 3.9};
    if (options.quick) {
        p.model_name = "conv3x3(16)-pool-conv3x3(32)-pool-linear on 8x8 digits (milestone 1998's), 4 epochs of Adam";
        p.make = [](Generator& g) {
            return Sequential{Conv2d(1, 16, 3, 1, 1, true, g), ReLU(), MaxPool2d(2),  // [16,4,4]
                              Conv2d(16, 32, 3, 1, 1, true, g), ReLU(), MaxPool2d(2), // [32,2,2]
                              Flatten(), Linear(128, 10, true, Init::Kaiming, g)};
        };
        p.epochs = 4, p.fine_tune_epochs = 1, p.lr = 5e-3f, p.fine_tune_lr = 1e-3f, p.batch = 32;
        p.offline_batches = {16, 64};
        p.size_gate = 3.7;
    }
    if (!options.json) std::printf("(b) %s: %s, %s\n", part, p.model_name.c_str(), data.name.c_str());
    return model_part(p, options);
}

// --- (c) the GPT served with and without its KV cache ----------------------
Tensor ids_tensor(const std::vector<int64_t>& ids, int64_t from, int64_t to) {
    return Tensor({1, to - from}, std::vector<float>(ids.begin() + from, ids.begin() + to));
}

// The largest |cached - recomputed| over every position of `ids`: the
// prompt's `prompt` positions in one cached step, then one token a step,
// each against the whole prefix run again by gpt.forward.
double cached_vs_recomputed(GPT& gpt, const std::vector<int64_t>& ids, int64_t prompt) {
    NoGrad no_tape;
    KVCache cache(gpt.config, 1);
    double worst = 0;
    for (int64_t t = prompt; t <= (int64_t)ids.size(); t = t + 1) {
        const int64_t from = t == prompt ? 0 : t - 1;
        const std::vector<float> step = forward_cached(gpt, ids_tensor(ids, from, t), cache).to_vector();   // [1,t-from,V]
        const std::vector<float> full = gpt.forward(ids_tensor(ids, 0, t)).slice(1, from, t).to_vector(); // the same positions
        for (size_t i = 0; i < step.size(); i++) worst = std::max(worst, (double)std::fabs(step[i] - full[i]));
    }
    return worst;
}

Result gpt_part(const Options& options) {
    Result r;
    r.milestone = "2018";
    r.part = "GPT serving: KV cache";
    r.gate = "kv_max_abs_diff <= 1e-4";
    BenchmarkOptions bench = caps(options);
    bench.max_seconds *= 5; // an uncached generation of 63 tokens takes a tenth of a second: enough runs for an interval
    // The model: milestone 2017's, trained briefly on Tiny Shakespeare (its
    // full 2000 steps are 2017's part c); untrained when the text is absent;
    // with --quick a small untrained one.
    CharGPT trained;
    std::string why_not = "--quick";
    std::shared_ptr<GPT> gpt;
    std::string prompt_text = "\n";
    const int64_t steps = 200;
    if (!options.quick && train_shakespeare_gpt(steps, 20, trained, why_not)) {
        gpt = trained.model;
        prompt_text = "ROMEO:";
        r.dataset = "Tiny Shakespeare (char)";
        r.model = "GPT 4 layers, 4 heads, width 128, context 64 (milestone 2017), " + std::to_string(steps) + " steps of its recipe";
        r.metrics.push_back({"train_steps", (double)steps});
        r.metrics.push_back({"untrained_val_loss", trained.untrained_val_loss});
        r.metrics.push_back({"val_loss", trained.val_loss});
        r.note = "trained " + std::to_string(steps) + " steps here (milestone 2017's part c trains 2000, to val loss 1.89)";
    } else {
        Generator g(2018);
        GPTConfig c = shakespeare_gpt_config(65);
        if (options.quick) c.n_layer = 2, c.n_head = 2, c.n_embd = 32, c.block_size = 32;
        gpt = std::make_shared<GPT>(c, g);
        gpt->eval();
        r.dataset = "none: an untrained model (" + why_not + ")";
        r.model = options.quick ? "GPT 2 layers, 2 heads, width 32, context 32, untrained"
                                : "GPT 4 layers, 4 heads, width 128, context 64 (milestone 2017), untrained";
        r.note = "untrained: " + why_not + "; the logits' check and the speeds do not need a trained model";
    }
    r.params = gpt->num_parameters();
    std::vector<int64_t> prompt;
    if (trained.chars) prompt = trained.chars->encode(prompt_text);
    else prompt = {0};
    const int64_t P = (int64_t)prompt.size(), block = gpt->config.block_size, new_tokens = block - P;

    // 1. The cache changes nothing: a whole context generated, every position checked.
    const std::vector<int64_t> cached_ids = generate_cached(*gpt, prompt, new_tokens, 0.8f, 0, 7);
    const std::vector<int64_t> plain_ids = gpt->generate(prompt, new_tokens, 0.8f, 0, 7);
    const double diff = cached_vs_recomputed(*gpt, cached_ids, P);
    // 2. Speed: tokens/s of one whole generation, each way, and their paired
    // ratio, on one thread: a cached step is one row through every matrix,
    // too small to share, and the pool's hand-offs would be most of it
    // (Lesson 18); the uncached steps would gain a little from a second core.
    const int threads = get_num_threads();
    set_num_threads(1);
    auto cached = [&] { generate_cached(*gpt, prompt, new_tokens, 1.0f, 0, 1); };
    auto uncached = [&] { gpt->generate(prompt, new_tokens, 1.0f, 0, 1); };
    const Benchmark with = benchmark("generate_cached", cached, bench, (double)new_tokens);
    const Benchmark without = benchmark("generate", uncached, bench, (double)new_tokens);
    const Comparison speedup = compare("generate_cached", cached, "generate", uncached, bench);
    set_num_threads(threads);
    const KVCache sized(gpt->config, 1);

    r.metrics.insert(r.metrics.begin(), {{"kv_max_abs_diff", diff}, {"positions_checked", (double)block},
                                         {"same_tokens", cached_ids == plain_ids ? 1.0 : 0.0}});
    r.metrics.push_back({"new_tokens", (double)new_tokens});
    r.metrics.push_back({"tokens_per_s_cached", with.throughput()});
    r.metrics.push_back({"tokens_per_s_cached_ci_low", with.throughput_ci().low});
    r.metrics.push_back({"tokens_per_s_cached_ci_high", with.throughput_ci().high});
    r.metrics.push_back({"tokens_per_s_uncached", without.throughput()});
    r.metrics.push_back({"tokens_per_s_uncached_ci_low", without.throughput_ci().low});
    r.metrics.push_back({"tokens_per_s_uncached_ci_high", without.throughput_ci().high});
    r.metrics.push_back({"kv_speedup", speedup.speedup});
    r.metrics.push_back({"kv_speedup_ci_low", speedup.ci.low});
    r.metrics.push_back({"kv_speedup_ci_high", speedup.ci.high});
    r.metrics.push_back({"cache_bytes", (double)sized.bytes()});
    r.metrics.push_back({"threads", 1.0});
    r.pass = diff <= 1e-4;

    Table table;
    table.title = "Generating " + std::to_string(new_tokens) + " tokens at batch 1, one thread";
    table.header = {"generation", "tokens/s [95% CI]", "runs", "speed-up [95% CI]"};
    table.rows.push_back({"GPT::generate (every step recomputes the prefix)",
                          format("%.0f [%.0f-%.0f]", without.throughput(), without.throughput_ci().low,
                                 without.throughput_ci().high),
                          std::to_string(without.stats.n), "1"});
    table.rows.push_back({"generate_cached (KV cache)",
                          format("%.0f [%.0f-%.0f]", with.throughput(), with.throughput_ci().low, with.throughput_ci().high),
                          std::to_string(with.stats.n), speedup_text(speedup)});
    r.tables.push_back(table);
    const std::string sample = trained.chars ? trained.chars->decode(cached_ids) : std::string();
    if (!sample.empty()) r.samples.push_back({"generate_cached from \"ROMEO:\", temperature 0.8, seed 7", sample});

    if (!options.json) {
        std::printf("(c) %s: %s, %lld parameters%s\n", r.part.c_str(), r.model.c_str(), (long long)r.params,
                    trained.chars ? "" : (" (" + r.note + ")").c_str());
        if (trained.chars)
            std::printf("  val loss %.3f after %lld steps (untrained %.3f)\n", trained.val_loss, (long long)steps,
                        trained.untrained_val_loss);
        std::printf("  cached against recomputed logits, all %lld positions: max |difference| %.2e (<= 1e-4); the same tokens: %s\n",
                    (long long)block, diff, cached_ids == plain_ids ? "yes" : "no");
        for (const auto& row : table.rows) std::printf("  %-50s %s tokens/s (%s runs)\n", row[0].c_str(), row[1].c_str(), row[2].c_str());
        std::printf("  %s\n", speedup.verdict().c_str());
        if (!sample.empty()) {
            std::printf("  sample (cached, temperature 0.8):\n    | ");
            for (char ch : sample) ch == '\n' ? (void)std::printf("\n    | ") : (void)std::putchar(ch);
            std::printf("\n");
        }
        std::printf("\n");
    }
    return r;
}

} // namespace

std::vector<Result> milestone_2018(const Options& options) {
    if (!options.json) {
        const Platform p = platform();
        std::printf("measured on %s: %lld hardware threads, tt's pool %lld, %s, %s %s, gemm %s, commit %s\n\n", p.cpu.c_str(),
                    (long long)p.cores, (long long)p.threads, p.arch.c_str(), p.compiler.c_str(), p.build.c_str(),
                    p.gemm_isa.c_str(), p.commit.c_str());
    }
    std::vector<Result> results;
    for (auto part : {mlp_part, lenet_part, gpt_part}) results.push_back(timed_part([&] { return part(options); }));
    return results;
}

} // namespace lessons
