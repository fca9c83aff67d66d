// Milestone 1998 · LeCun, Bottou, Bengio & Haffner, "Gradient-based learning
// applied to document recognition": a convolutional network reads digits by
// learning its own feature detectors, shared across the image. Part 1 reads
// the 8x8 TinyDigits, part 2 is LeNet-5 on full MNIST, part 3 a small CNN on
// the CIFAR-10 subset with augmentation, part 4 a wider one on the full
// CIFAR-10 when a user has downloaded it. Each part prints a confusion matrix
// and writes two pictures: the first layer's learned filters and a grid of
// the test images it got wrong.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "lessons.h"

using namespace tt;

namespace lessons {

namespace {
const std::vector<std::string> digit_names = {"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"};
const std::vector<std::string> cifar_names = {"airplane", "automobile", "bird", "cat", "deer",
                                              "dog", "frog", "horse", "ship", "truck"};

// Per-channel mean and standard deviation of the training images normalise
// both sets as their batches are gathered (the images stay bytes: MNIST's
// 47 MB, not 188 MB of floats): every channel then enters the network with
// mean 0 and variance 1. The training set is augmented on the fly, a random
// crop (shifts of up to `padding` pixels, zeros coming in) and, for
// photographs, a left-right flip; the test set is seen as it is.
struct Standardized {
    std::shared_ptr<ImageDataset> train, test;
};
Standardized standardized(const ImageSet& train, const ImageSet& test, int64_t padding, bool flip, Generator& g) {
    const ChannelStats stats = channel_stats(train);
    Standardized out{std::make_shared<ImageDataset>(train, stats.mean, stats.stddev),
                     std::make_shared<ImageDataset>(test, stats.mean, stats.stddev)};
    if (padding > 0 || flip) out.train->augment(padding, flip, g);
    return out;
}

bool file_exists(const std::string& path) { return !path.empty() && std::ifstream(path).good(); }

// Where the pictures go: $TT_OUT if set, else tt-1998 in the system's
// temporary directory. Never the repository.
std::string output_dir() {
    const char* env = std::getenv("TT_OUT");
    const std::filesystem::path dir = env && *env ? std::filesystem::path(env) : std::filesystem::temp_directory_path() / "tt-1998";
    std::error_code error;
    std::filesystem::create_directories(dir, error);
    if (error) throw Error("milestone 1998: cannot create the picture directory '" + dir.string() + "': " + error.message());
    return dir.string();
}

// Writes images [N,C,H,W] (C = 1: PGM, C = 3: PPM) as a grid of `columns`
// tiles, each stretched from its own min..max to 0..255 and enlarged `scale`
// times, with a grey line between tiles.
void write_grid(const std::string& path, const Tensor& images, int64_t columns, int64_t scale) {
    const Tensor d = images.contiguous();
    const int64_t N = d.size(0), C = d.size(1), H = d.size(2), W = d.size(3);
    const int64_t rows = (N + columns - 1) / columns, th = H * scale + 1, tw = W * scale + 1;
    const int64_t height = rows * th + 1, width = columns * tw + 1;
    std::vector<unsigned char> pixels(height * width * C, 128);
    for (int64_t n = 0; n < N; n++) {
        const float* tile = d.data() + n * C * H * W;
        const auto [lo, hi] = std::minmax_element(tile, tile + C * H * W);
        const float range = *hi > *lo ? *hi - *lo : 1.0f;
        const int64_t top = (n / columns) * th + 1, left = (n % columns) * tw + 1;
        for (int64_t y = 0; y < H * scale; y++)
            for (int64_t x = 0; x < W * scale; x++)
                for (int64_t c = 0; c < C; c++) {
                    const float v = (tile[(c * H + y / scale) * W + x / scale] - *lo) / range;
                    pixels[((top + y) * width + left + x) * C + c] = (unsigned char)std::lround(255 * v);
                }
    }
    std::ofstream out(path, std::ios::binary);
    out << (C == 3 ? "P6" : "P5") << "\n" << width << " " << height << "\n255\n";
    out.write((const char*)pixels.data(), (std::streamsize)pixels.size());
    if (!out) throw Error("milestone 1998: cannot write '" + path + "'");
}

// Rows: the true class; columns: the predicted one; the diagonal is right.
void print_confusion(const std::vector<int64_t>& counts, const std::vector<std::string>& names) {
    const int64_t K = (int64_t)names.size();
    std::printf("  confusion matrix (rows: true class, columns: predicted):\n  %10s", "");
    for (const std::string& n : names) std::printf(" %5.5s", n.c_str());
    std::printf("   right\n");
    for (int64_t t = 0; t < K; t++) {
        int64_t total = 0;
        std::printf("  %10.10s", names[t].c_str());
        for (int64_t p = 0; p < K; p++) {
            total += counts[t * K + p];
            if (counts[t * K + p]) std::printf(" %5lld", (long long)counts[t * K + p]);
            else std::printf(" %5s", ".");
        }
        std::printf("  %5.1f%%\n", total ? 100.0 * (double)counts[t * K + t] / (double)total : 0.0);
    }
}

// The pictures of one part; returns where they went, for the result's note.
std::string save_pictures(const std::string& tag, Conv2d& first, const ImageSet& test,
                          const std::vector<int64_t>& predicted, const std::vector<std::string>& names, const Options& options) {
    const std::string dir = output_dir(), ext = first.in_channels == 3 ? ".ppm" : ".pgm";
    const std::string filters = dir + "/1998-" + tag + "-filters" + ext, wrong = dir + "/1998-" + tag + "-misclassified" + ext;
    const int64_t k = first.kernel_size;
    write_grid(filters, first.weight.detach(), std::min<int64_t>(8, first.out_channels), std::max<int64_t>(1, 40 / k));
    std::vector<int64_t> missed;
    const std::vector<float> truth = test.labels.to_vector();
    for (size_t i = 0; i < predicted.size() && missed.size() < 40; i++)
        if (predicted[i] != (int64_t)truth[i]) missed.push_back((int64_t)i);
    if (!missed.empty()) write_grid(wrong, test.images(missed), 8, std::max<int64_t>(1, 64 / test.shape[2]));
    if (!options.json) {
        std::printf("  pictures: %s (first-layer filters)\n", filters.c_str());
        if (!missed.empty()) {
            std::printf("            %s (the first %zu test images it got wrong; true -> predicted, row by row):",
                        wrong.c_str(), missed.size());
            for (size_t i = 0; i < missed.size(); i++)
                std::printf("%s %s->%s", i % 8 ? "" : "\n   ", names[(int64_t)truth[missed[i]]].c_str(),
                            names[predicted[missed[i]]].c_str());
            std::printf("\n");
        }
    }
    return "pictures in " + dir;
}

// Adam with a cosine schedule (half an epoch of warm-up); one line per epoch,
// and the curves in history.
void fit(Sequential& model, DataLoader& train, DataLoader& test, int epochs, float lr, const Options& options, History& history) {
    Adam opt(model.parameters(), lr);
    TrainOptions o;
    o.lr_schedule = CosineSchedule(lr, epochs * train.size(), train.size() / 2, lr / 50);
    o.progress = !options.json;
    for (int e = 0; e < epochs; e++) {
        o.label = "  epoch " + std::to_string(e + 1) + "/" + std::to_string(epochs);
        const EpochStats trained = train_epoch(model, train, cross_entropy, opt, o);
        const EpochStats tested = evaluate(model, test, cross_entropy);
        history.add(trained, tested);
        if (!options.json)
            std::printf("  epoch %2d  train loss %.4f acc %6.2f%%  test acc %6.2f%%  (%.1f s)\n", e + 1, trained.loss,
                        100 * trained.accuracy, 100 * tested.accuracy, trained.seconds + tested.seconds);
    }
}

Conv2d& first_conv(Sequential& model) {
    for (auto& layer : model.layers)
        if (auto* conv = dynamic_cast<Conv2d*>(layer.get())) return *conv;
    throw Error("milestone 1998: the model has no Conv2d");
}

struct Part {
    const char* part;
    const char* dataset;
    const char* tag;      // file names of the pictures
    float gate;
    int epochs;
    int64_t batch;
    float lr;
    int64_t crop_padding; // augmentation of the training images
    bool hflip;
};

// Trains `model` on the sets, tests it, prints the confusion matrix, saves the pictures.
Result run_part(const Part& p, const std::string& model_name, Sequential& model, const ImageSet& train, const ImageSet& test,
                const std::vector<std::string>& names, Generator& g, const Options& options) {
    const Standardized data = standardized(train, test, p.crop_padding, p.hflip, g);
    if (!options.json)
        std::printf("  %s: %lld train / %lld test images %s, %s, %lld parameters\n", p.dataset, (long long)train.size(),
                    (long long)test.size(), to_string({train.shape[1], train.shape[2], train.shape[3]}).c_str(),
                    model_name.c_str(), (long long)model.num_parameters());
    DataLoader train_loader(data.train, p.batch, true, false, g);
    DataLoader test_loader(data.test, 200);
    History history;
    fit(model, train_loader, test_loader, p.epochs, p.lr, options, history);
    const std::vector<int64_t> predicted = predict_classes(model, test_loader);
    const std::vector<float> truth = test.labels.to_vector();
    int64_t right = 0;
    for (size_t i = 0; i < predicted.size(); i++) right += predicted[i] == (int64_t)truth[i];
    const float accuracy = (float)right / (float)predicted.size();
    const std::vector<int64_t> counts = confusion_counts(predicted, test.labels, (int64_t)names.size());
    if (!options.json) print_confusion(counts, names);
    Result r;
    r.milestone = "1998";
    r.part = p.part;
    r.dataset = p.dataset;
    r.model = model_name;
    r.params = model.num_parameters();
    r.metrics = {{"test_accuracy", accuracy}, {"epochs", p.epochs}};
    char gate[48];
    std::snprintf(gate, sizeof gate, "test_accuracy >= %.2f", p.gate);
    r.gate = gate;
    r.pass = accuracy >= p.gate;
    r.note = save_pictures(p.tag, first_conv(model), test, predicted, names, options);
    const std::string title = std::string("Milestone 1998: ") + p.part;
    r.figures = {{"Loss and accuracy per epoch", curves_svg(history, title)},
                 {"Confusion matrix of the test set", confusion_svg(title + ", the test set", counts, names)}};
    if (!options.json) std::printf("\n");
    return r;
}

Result skipped(const Part& p, const std::string& model_name, const std::string& why) {
    Result r;
    r.milestone = "1998";
    r.part = p.part;
    r.dataset = p.dataset;
    r.model = model_name;
    char gate[48];
    std::snprintf(gate, sizeof gate, "test_accuracy >= %.2f", p.gate);
    r.gate = gate;
    r.skipped = true;
    r.note = why;
    return r;
}

// 8x8 digits: two 3x3 conv layers, a pool after each, one dense layer.
Result tinydigits_part(const Options& options) {
    const Part p{"TinyDigits CNN", "TinyDigits 8x8", "tinydigits", 0.92f, 8, 32, 5e-3f, 0, false};
    const std::string model_name = "conv3x3(16)-pool-conv3x3(32)-pool-linear, ReLU, Adam + cosine";
    ImageSet train = load_idx_images(data_path("data/tinydigits/train-images-idx3-ubyte"), data_path("data/tinydigits/train-labels-idx1-ubyte"));
    ImageSet test = load_idx_images(data_path("data/tinydigits/test-images-idx3-ubyte"), data_path("data/tinydigits/test-labels-idx1-ubyte"));
    Generator g(1998);
    Sequential model{Conv2d(1, 16, 3, 1, 1, true, g), ReLU(), MaxPool2d(2),      // [16,4,4]
                     Conv2d(16, 32, 3, 1, 1, true, g), ReLU(), MaxPool2d(2),     // [32,2,2]
                     Flatten(), Linear(128, 10, true, Init::Kaiming, g)};
    Result r = run_part(p, model_name, model, train, test, digit_names, g, options);
    r.note += "; the original course reaches 86-87%";
    return r;
}

// LeNet-5 as LeCun drew it (6 and 16 feature maps, 120-84-10), with ReLU and
// max pooling in place of the original's scaled tanh and trainable
// subsampling, and training images shifted by up to 2 pixels (the paper's
// distortions were shifts, scalings and shears).
Result mnist_part(const Options& options) {
    const Part p{"LeNet-5 on MNIST", "MNIST 28x28", "mnist", 0.99f, 6, 64, 3e-3f, 2, false};
    const std::string model_name = "LeNet-5: conv5x5(6)-pool-conv5x5(16)-pool-120-84-10, ReLU; shifts of 2; Adam + cosine";
    if (options.quick) return skipped(p, model_name, "--quick: only TinyDigits runs");
    const std::string images = data_path("data/mnist/train-images-idx3-ubyte");
    if (!file_exists(images) || !file_exists(data_path("data/mnist/t10k-images-idx3-ubyte")))
        return skipped(p, model_name, "MNIST is not decompressed; run `make data`");
    ImageSet train = load_idx_images(images, data_path("data/mnist/train-labels-idx1-ubyte"));
    ImageSet test = load_idx_images(data_path("data/mnist/t10k-images-idx3-ubyte"), data_path("data/mnist/t10k-labels-idx1-ubyte"));
    Generator g(1998);
    Sequential model = lenet5(g);
    Result r = run_part(p, model_name, model, train, test, digit_names, g, options);
    r.note += "; LeCun et al. report 99.05% for LeNet-5, 99.2% with distorted training images";
    return r;
}

// Three conv-BN-ReLU-pool stages, global average pooling, one dense layer.
Sequential cifar_model(int64_t width, Generator& g) {
    Sequential model{Conv2d(3, width, 3, 1, 1, false, g), BatchNorm2d(width), ReLU(), MaxPool2d(2),                 // [w,16,16]
                     Conv2d(width, 2 * width, 3, 1, 1, false, g), BatchNorm2d(2 * width), ReLU(), MaxPool2d(2),     // [2w,8,8]
                     Conv2d(2 * width, 4 * width, 3, 1, 1, false, g), BatchNorm2d(4 * width), ReLU(), AvgPool2d(8), // [4w,1,1]
                     Flatten(), Linear(4 * width, 10, true, Init::Kaiming, g)};
    return model;
}

Result cifar_subset_part(const Options& options) {
    const Part p{"CIFAR-10 subset CNN", "CIFAR-10 subset 32x32", "cifar10-subset", 0.45f, 10, 32, 3e-3f, 4, true};
    const std::string model_name = "3 x (conv3x3-BN-ReLU-pool) 16-32-64, avg pool, linear; crop + flip; Adam + cosine";
    if (options.quick) return skipped(p, model_name, "--quick: only TinyDigits runs");
    const std::string train_file = shared_data_path("cifar10-subset/data_batch_1_first4000.bin");
    const std::string test_file = shared_data_path("cifar10-subset/test_batch_first1000.bin");
    if (train_file.empty() || test_file.empty())
        return skipped(p, model_name, "the CIFAR-10 subset is not in ../shared/data/cifar10-subset (group B data, never committed)");
    ImageSet train = load_cifar10(train_file), test = load_cifar10(test_file);
    Generator g(1998);
    Sequential model = cifar_model(16, g);
    return run_part(p, model_name, model, train, test, cifar_names, g, options);
}

// The full set, when a user has downloaded it into data/: the original
// course's 75% "North Star".
Result cifar_full_part(const Options& options) {
    const Part p{"CIFAR-10 CNN (full set)", "CIFAR-10 32x32", "cifar10", 0.75f, 30, 64, 3e-3f, 4, true};
    const std::string model_name = "3 x (conv3x3-BN-ReLU-pool) 32-64-128, avg pool, linear; crop + flip; Adam + cosine";
    if (options.quick) return skipped(p, model_name, "--quick: only TinyDigits runs");
    const std::string dir = "data/cifar-10-batches-bin/";
    if (!file_exists(data_path(dir + "data_batch_5.bin")) || !file_exists(data_path(dir + "test_batch.bin")))
        return skipped(p, model_name, "full CIFAR-10 not in " + dir + ": `make data-cifar` downloads it (170 MB, md5-checked)");
    std::vector<std::string> files;
    for (int i = 1; i <= 5; i++) files.push_back(data_path(dir + "data_batch_" + std::to_string(i) + ".bin"));
    const ImageSet train = load_cifar10(files);
    ImageSet test = load_cifar10(data_path(dir + "test_batch.bin"));
    Generator g(1998);
    Sequential model = cifar_model(32, g);
    return run_part(p, model_name, model, train, test, cifar_names, g, options);
}
} // namespace

std::vector<Result> milestone_1998(const Options& options) {
    std::vector<Result> results;
    for (auto part : {tinydigits_part, mnist_part, cifar_subset_part, cifar_full_part})
        results.push_back(timed_part([&] { return part(options); }));
    return results;
}

} // namespace lessons
