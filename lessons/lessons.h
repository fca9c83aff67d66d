// lessons/lessons.h — what the binary ./tt can run: one demo per lesson and
// one function per milestone. Each prints what it measures on this machine.
#pragma once
#include <cstdio>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "../tt.h"

namespace lessons {

// Options from the command line, shared by every demo and milestone.
struct Options {
    bool json = false;  // end with one JSON object of what was measured
    bool quick = false; // smaller runs (the tests use this)
    bool long_run = false; // --long: a milestone's bigger budget (2017's part d), never in the tour
    std::string html;      // --html FILE: also write the report as one self-contained page (milestones)
};

// One JSON object, its fields in the order they were added: what a demo or a
// milestone measured, printed as the last line with --json so that every
// figure of the book can be read by a script. Numbers that are whole print
// exactly (byte counts), others with 6 significant digits; NaN and infinity
// print as null.
struct Json {
    Json& number(const std::string& key, double value);
    Json& text(const std::string& key, const std::string& value);
    Json& boolean(const std::string& key, bool value);
    Json& null(const std::string& key);
    Json& object(const std::string& key, const Json& value);
    Json& numbers(const std::string& key, const std::vector<double>& values);
    Json& objects(const std::string& key, const std::vector<Json>& values);
    std::string str() const;                               // {"key": value, ...} on one line
    std::vector<std::pair<std::string, std::string>> fields; // key, value already written as JSON
};

// What a part shows beyond its numbers, for the report page (--html).
struct Figure {
    std::string title;
    std::string svg;   // one whole <svg ...>...</svg> element, inline in the page
};
struct Table {
    std::string title;
    std::vector<std::string> header;
    std::vector<std::vector<std::string>> rows; // each as long as header
};
struct Sample {
    std::string title, text; // generated text, shown as written
};

// What a milestone reports: the tour's table and --json are made from this.
struct Result {
    std::string milestone;                 // "1958"
    std::string part;                      // "TinyDigits MLP" ...
    std::string dataset, model;
    int64_t params = 0;
    double seconds = 0;
    int64_t peak_bytes = 0;                // tracker peak during the run
    std::vector<std::pair<std::string, double>> metrics; // e.g. {"test_accuracy", 0.97}
    std::string gate;                      // "test_accuracy >= 0.98"
    bool pass = false;
    bool skipped = false;
    std::string note;                      // why skipped, what comes next
    std::vector<Figure> figures;           // for the report page: curves, confusion matrices, plots
    std::vector<Table> tables;
    std::vector<Sample> samples;
};
// A part as JSON: {"milestone", "part", "dataset", "model", "params",
// "seconds", "peak_bytes", "metrics": {"test_accuracy": 0.97, ...}, "gate",
// "pass", "skipped", "note"}. A part whose data is absent (or left out by
// --quick) has "skipped": true and "pass": null: it neither passed nor failed.
Json part_json(const Result& r);
std::string to_json(const Result& r); // part_json(r) on one line

// One milestone as run: its parts and its wall-clock time, loading included.
struct MilestoneRun {
    std::string milestone, name;            // "1998", "CNN (LeCun's LeNet)"
    std::vector<Result> parts;
    double seconds = 0;
    bool pass() const;                      // every part that ran passed; ./tt's exit status is 0 then
    int64_t peak_bytes() const;             // the largest tracker peak of its parts
};
// The verdict a script reads, the last line of `./tt milestone YEAR --json`:
// {"milestone": "1998", "name", "pass", "parts_run", "parts_skipped",
// "seconds", "peak_bytes", "parts": [part_json, ...]}. "pass" is true when
// every part that ran passed, as the exit status says: skipped parts do not
// count against it ("parts_run" says how many ran).
Json milestone_json(const MilestoneRun& run);
// The tour (`./tt milestones`): every milestone built, one after the other.
struct TourRun {
    std::vector<MilestoneRun> milestones;
    double seconds = 0;
    bool pass() const;                      // every milestone passed
    int64_t peak_bytes() const;             // the largest tracker peak of any part
};
// The last line of `./tt milestones --json`: {"tour": true, "pass",
// "seconds", "peak_bytes", "resident_peak_bytes", "milestones":
// [milestone_json, ...]}.
Json tour_json(const TourRun& tour);
// Runs one part of a milestone from a fresh tracker peak and fills in its
// seconds and peak: the whole part, loading included (not for a skipped part).
Result timed_part(const std::function<Result()>& part);

// Lessons: each prints its chapter's analysis, measured now, and returns the
// figures it measured (printed as JSON by --json).
Json lesson_01(const Options&);
Json lesson_02(const Options&);
Json lesson_03(const Options&);
Json lesson_04(const Options&);
Json lesson_05(const Options&);
Json lesson_06(const Options&);
Json lesson_07(const Options&);
Json lesson_08(const Options&);
Json lesson_09(const Options&);
Json lesson_10(const Options&);
Json lesson_11(const Options&);
Json lesson_12(const Options&);
Json lesson_13(const Options&);
Json lesson_14(const Options&);
Json lesson_15(const Options&);
Json lesson_16(const Options&);
Json lesson_17(const Options&);
Json lesson_18(const Options&);
Json lesson_19(const Options&);
Json lesson_20(const Options&);

// `tt grade`: runs the tests of lesson N (which is "N", a range "1-5" or
// "all") from tests/, linked into ./tt, against the tt.c++ it was built
// from; prints a report (one JSON object with --json) and returns the exit
// status: 0 when every graded test passed. lesson_name(n) is "Tensor" for 1.
int grade(const std::string& which, const Options& options, const std::function<std::string(int)>& lesson_name);

// Milestones: each returns one Result per part.
std::vector<Result> milestone_1958(const Options&);
std::vector<Result> milestone_1969(const Options&);
std::vector<Result> milestone_1986(const Options&);
std::vector<Result> milestone_1998(const Options&);
std::vector<Result> milestone_2017(const Options&);
// Milestone 2017's part (a) alone: a 2-layer GPT trained `steps` steps of
// batch 64 to copy (or reverse) 8 random digits; the fraction of `trials`
// new strings it then answers right, greedily.
double digit_task_accuracy(bool reverse, int64_t steps, int trials = 200);
std::vector<Result> milestone_2018(const Options&);
std::vector<Result> milestone_2024(const Options&);

// The Pareto plot (Lesson 19): one dot per variant, latency (log scale)
// across, accuracy up, the dot's area by its size in bytes, the frontier
// (tt::pareto_frontier) joined by a line and labelled; the SVG's text.
std::string pareto_svg(const std::string& title, const std::vector<tt::Variant>& variants);

// The platform as JSON (Lesson 19): {"cpu", "cores", "threads", "arch",
// "compiler", "flags", "build", "gemm_isa", "commit"}; every benchmark's
// and submission's record carries it.
Json platform_json(const tt::Platform& p);

// The report page (lessons/report.c++): one self-contained HTML file (inline
// SVG and CSS, no script, nothing fetched) with the platform, each
// milestone's verdict, its parts' metrics, tables, figures and samples.
// `./tt milestone YEAR --html FILE` and `./tt milestones --html FILE`.
std::string html_report(const std::string& title, const std::vector<MilestoneRun>& runs, const tt::Platform& platform);
void write_html_report(const std::string& path, const std::string& title, const std::vector<MilestoneRun>& runs,
                       const tt::Platform& platform); // an Error naming the path when it cannot be written

// ./tt capstone (lessons/20-capstone.c++, chapter 20): args[0] is "capstone".
// Returns the exit status; output to out, errors and usage to err.
int capstone_command(const std::vector<std::string>& args, FILE* out = stdout, FILE* err = stderr);

// Rosenblatt's perceptron (1958): y = step(x . w + b), where step(s) = 1 if s > 0
// else 0. It learns by his rule, no gradients: for each sample,
// w += lr * (target - y) * x and b += lr * (target - y).
struct Perceptron {
    explicit Perceptron(int64_t inputs, tt::Generator& g);
    tt::Tensor forward(const tt::Tensor& x) const;              // x [N,D] -> [N] of 0 and 1
    int64_t learn(const tt::Tensor& x, const tt::Tensor& y, float lr); // one pass; returns the mistakes
    tt::Tensor weight;                                          // [D,1]
    float bias = 0;
};
float accuracy(const tt::Tensor& predicted, const tt::Tensor& target); // fraction equal
// Two Gaussian clusters, `n` points each, around (-2,-2) (class 0) and (2,2) (class 1).
void two_clusters(int64_t n, uint64_t seed, tt::Tensor& x, tt::Tensor& y);

// Helpers the demos share.
double seconds_since(double start);        // wall-clock seconds since `start`
double now_seconds();
// The roofline's slope (Lesson 17) and the yardstick of memory-bound ops:
// a = b + s*c over n floats (STREAM's triad), 12 bytes moved per element.
void triad(float* a, const float* b, const float* c, float s, int64_t n);
// Best of `repeats` timings of f, in seconds.
double time_best(int repeats, const std::function<void()>& f);
std::string bytes_str(int64_t bytes);
// The command line's numbers ("lesson 5", "milestone 1958"): true and `out`
// set when text is only digits and its value lies in [lo, hi].
bool parse_int(const std::string& text, long lo, long hi, long& out);      // "4.0 MB"
int64_t resident_peak_bytes();             // this process's peak resident memory (VmHWM), 0 if unknown
std::string machine_name();                // CPU model and core count, from /proc/cpuinfo when present
// Epochs of Adam from lr on a cosine schedule (a warm-up of `warmup_epochs`,
// then down to lr/20), each one Lesson 08's train_epoch; after every step the
// masks, when given, zero the pruned weights again (Lesson 16), so
// fine-tuning cannot regrow them. Leaves the model in eval mode.
void train_adam(tt::Module& model, tt::DataLoader& loader, int epochs, float lr, double warmup_epochs,
                const tt::PruningMasks* masks = nullptr, const std::string& label = "train", bool progress = false,
                const tt::LossFn& loss = tt::cross_entropy);
// MNIST for a demo, as bytes: true with train (60000) and test (10000)
// filled, or false with why_not set ("--quick", or the command that gets the
// files).
bool load_mnist(const Options& options, tt::ImageSet& train, tt::ImageSet& test, std::string& why_not);
// MNIST images as a dataset normalised by MNIST's mean and std (0.1307,
// 0.3081): x [B,784] when flat, else [B,1,28,28].
std::shared_ptr<tt::ImageDataset> mnist_dataset(const tt::ImageSet& set, bool flat);
// The two MNIST models milestones 1986, 1998 and 2018 share, Kaiming-initialised
// from g: the MLP 784-256-128-10 with ReLU (x [B,784]) and LeNet-5 as LeCun
// drew it, with ReLU and max pooling (x [B,1,28,28]): conv5x5(6, padding 2)-
// pool-conv5x5(16)-pool-120-84-10.
tt::Sequential mnist_mlp(tt::Generator& g);
tt::Sequential lenet5(tt::Generator& g);
// Milestone 2017's character GPT (bench's too): 4 layers, 4 heads, width 128,
// context 64, biases, no dropout, the head tied to the token table.
tt::GPTConfig shakespeare_gpt_config(int64_t vocab_size);
// That GPT trained `steps` steps of milestone 2017's nanoGPT recipe (batch 12)
// on Tiny Shakespeare: true with `out` filled, or false with why_not set
// when the text is not in data/ or ../shared/data. Losses are the mean of
// `eval_batches` fixed validation batches.
struct CharGPT {
    std::shared_ptr<tt::CharTokenizer> chars;
    std::shared_ptr<tt::GPT> model;
    double untrained_val_loss = 0, val_loss = 0, seconds = 0;
    int64_t steps = 0;
};
bool train_shakespeare_gpt(int64_t steps, int64_t eval_batches, CharGPT& out, std::string& why_not);
// Where a demo's pictures go: $TT_OUT/name if TT_OUT is set, else the
// system's temporary folder (never the repository).
std::string output_path(const std::string& name);
// Histograms of a few sets of values on shared bins over [lo, hi], drawn as
// outlined steps in one SVG (a log count axis, so a spike and a spread show
// together): weights before and after quantization or pruning.
struct HistogramSeries {
    std::string label, colour;
    std::vector<float> values;
};
std::string histogram_svg(const std::string& title, const std::vector<HistogramSeries>& series, float lo, float hi, int bins);
void write_histogram_svg(const std::string& path, const std::string& title, const std::vector<HistogramSeries>& series,
                         float lo, float hi, int bins); // histogram_svg's text, to a file
// The roofline as a log-log plot (Lessons 14 and 17): GFLOP/s against flops
// per byte, one roof per peak (the slope `bandwidth` GB/s up to the ridge,
// then flat), and a labelled dot per kernel or op.
struct Roof {
    std::string label;
    double peak_gflops;
    std::string colour;
};
struct RooflinePoint {
    std::string name;
    double intensity; // flops per byte of the minimal traffic
    double gflops;
};
std::string roofline_svg(const std::string& title, const std::vector<Roof>& roofs, double bandwidth,
                         const std::vector<RooflinePoint>& points);
void write_roofline_svg(const std::string& path, const std::string& title, const std::vector<Roof>& roofs, double bandwidth,
                        const std::vector<RooflinePoint>& points); // roofline_svg's text, to a file
// Text made safe inside HTML and XML, in an element or a quoted attribute:
// & < > " ' as entities, control characters but tab and newline as spaces,
// and bytes that are not valid UTF-8 as U+FFFD. Every SVG writer here and
// the report page pass their labels through it.
std::string html_escape(const std::string& text);
std::string utf8_text(const std::string& text); // the same without the entities: markup kept, made valid UTF-8
// The class the model picks (argmax) for every sample of the loader, in
// order, in eval mode under NoGrad (the model's mode is restored after).
std::vector<int64_t> predict_classes(tt::Module& model, tt::DataLoader& loader);
// counts[t * classes + p]: how many samples of true class t were predicted
// p (labels [N] of class numbers); an Error for a class outside 0..classes-1.
std::vector<int64_t> confusion_counts(const std::vector<int64_t>& predicted, const tt::Tensor& labels, int64_t classes);
// The confusion matrix as an SVG (about 40 px a cell: ~25 KB for 10
// classes): rows the true class, columns the predicted one, each cell's
// count, shaded by its share of the row (the diagonal blue, mistakes red),
// and each row's fraction right.
std::string confusion_svg(const std::string& title, const std::vector<int64_t>& counts, const std::vector<std::string>& names);
// Points x [N,2] coloured by their class y [N] (0 blue, 1 red) and the line
// w1 x1 + w2 x2 + b = 0 a perceptron draws between them, dashed.
std::string decision_svg(const std::string& title, const tt::Tensor& x, const tt::Tensor& y, double w1, double w2, double b);

// tt models as text and as PyTorch code (lessons/interop.c++, chapter 08).
// The architecture text is a Sequential's layers in order, as tt prints them,
// separated by spaces, newlines or ';':
//   Linear(784, 128) ReLU() Linear(128, 10, bias=false)
//   Conv2d(1, 6, kernel_size=5, padding=2) BatchNorm2d(6) ReLU() MaxPool2d(kernel_size=2) Flatten() ...
// (arguments by position or key=value: Linear(in_features, out_features, bias),
// Conv2d(in_channels, out_channels, kernel_size, stride, padding, bias),
// BatchNorm2d(channels, momentum, eps, affine), MaxPool2d/AvgPool2d(kernel_size,
// stride), Dropout(p), Softmax(axis), LayerNorm(dim, eps, bias); ReLU(),
// Sigmoid(), Tanh(), GELU(), Flatten()), or one GPT:
//   GPT(vocab_size=65, block_size=64, n_layer=2, n_head=4, n_embd=64[, dropout=0.1][, bias=false][, tied])
// build_model makes it with tt's initialisation from g; architecture_of
// writes the text back (build_model(architecture_of(m)) has m's layers).
std::shared_ptr<tt::Module> build_model(const std::string& architecture, tt::Generator& g);
std::string architecture_of(tt::Module& model);
// The Python source of the model's PyTorch twin: build() makes it (nn.Sequential
// of the same layers, or a GPT class whose attributes have tt's names), and
// load(weights_path) reads a state_dict with its own safetensors reader and
// loads it strictly. import module_name is how the docstring says to use it.
// The model a checkpoint holds the weights of, built with any weights: its
// architecture from arch_option, else from the file's metadata (what
// ./tt init writes); an Error that asks for --arch when neither has one.
std::shared_ptr<tt::Module> model_for(const std::string& model_path, const std::string& arch_option);
std::string pytorch_module(tt::Module& model, const std::string& weights_path, const std::string& module_name);
// ./tt init, ./tt predict, ./tt export: args[0] is the command. Returns the
// exit status; what it says goes to out, errors and usage to err (a test
// passes files it reads back).
int interop_command(const std::vector<std::string>& args, FILE* out = stdout, FILE* err = stderr);

} // namespace lessons
