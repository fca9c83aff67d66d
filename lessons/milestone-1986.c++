// Milestone 1986 · Rumelhart, Hinton & Williams: a hidden layer trained by
// backpropagation. Part 1 solves XOR, the problem 1969 showed no single
// perceptron can; part 2 reads handwritten 8x8 digits (TinyDigits); part 3
// reads full 28x28 MNIST. Everything is the library: Linear, ReLU or Tanh,
// cross-entropy, the tape, Adam, train_epoch and evaluate.
#include <cmath>
#include <cstdio>
#include <filesystem>

#include "lessons.h"

using namespace tt;

namespace lessons {

namespace {
// The training images' pixel mean and standard deviation (one channel: over
// every pixel) normalise both sets as their batches are gathered, so the
// network sees inputs of mean 0 and variance 1; the images stay bytes.
std::pair<std::shared_ptr<ImageDataset>, std::shared_ptr<ImageDataset>> standardized(const ImageSet& train, const ImageSet& test) {
    const ChannelStats stats = channel_stats(train);
    return {std::make_shared<ImageDataset>(train, stats.mean, stats.stddev, 1.0f, true),
            std::make_shared<ImageDataset>(test, stats.mean, stats.stddev, 1.0f, true)};
}

Result start_result(const char* part, const char* dataset, const char* model, Module& m) {
    Result r;
    r.milestone = "1986";
    r.part = part;
    r.dataset = dataset;
    r.model = model;
    r.params = m.num_parameters();
    return r;
}

// Trains for `epochs` with Adam and a cosine schedule, then tests. Prints one
// line per epoch unless --json.
float fit(Sequential& model, DataLoader& train, DataLoader& test, int epochs, float lr, const Options& options,
          History* history = nullptr) {
    Adam opt(model.parameters(), lr);
    TrainOptions o;
    o.lr_schedule = CosineSchedule(lr, epochs * train.size(), train.size() / 2, lr / 50);
    o.progress = !options.json;
    EpochStats tested;
    for (int e = 0; e < epochs; e++) {
        o.label = "epoch " + std::to_string(e + 1) + "/" + std::to_string(epochs);
        const EpochStats trained = train_epoch(model, train, cross_entropy, opt, o);
        tested = evaluate(model, test, cross_entropy);
        if (history) history->add(trained, tested);
        if (!options.json)
            std::printf("  epoch %2d  train loss %.4f acc %.2f%%  test loss %.4f acc %.2f%%  (%.1f s)\n", e + 1, trained.loss,
                        100 * trained.accuracy, tested.loss, 100 * tested.accuracy, trained.seconds + tested.seconds);
    }
    return tested.accuracy;
}

// The report page's figures of a digit part: the curves per epoch, and the
// confusion matrix of the test set (one more pass over it, in eval mode).
std::vector<Figure> report_figures(const std::string& title, const History& history, Sequential& model, DataLoader& test_loader,
                                   const ImageSet& test) {
    const std::vector<std::string> digits = {"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"};
    const std::vector<int64_t> counts = confusion_counts(predict_classes(model, test_loader), test.labels, 10);
    return {{"Loss and accuracy per epoch, " + title.substr(title.find(':') + 2), curves_svg(history, title)},
            {"Confusion matrix of the test set", confusion_svg(title + ": the test set", counts, digits)}};
}

Result xor_part(const Options& options) {
    Generator g(1986);
    Sequential model{Linear(2, 8, true, Init::Xavier, g), Tanh(), Linear(8, 2, true, Init::Xavier, g)};
    auto data = std::make_shared<TensorDataset>(Tensor({4, 2}, {0, 0, 0, 1, 1, 0, 1, 1}), Tensor({4}, {0, 1, 1, 0}));
    DataLoader all(data, 4);
    Adam opt(model.parameters(), 0.05f);
    TrainOptions o;
    o.progress = false;
    int epochs = 0;
    EpochStats s;
    for (; epochs < 500; epochs++) {
        train_epoch(model, all, cross_entropy, opt, o);
        s = evaluate(model, all, cross_entropy);
        if (s.accuracy == 1.0f && s.loss < 0.05f) break;
    }
    if (!options.json)
        std::printf("  XOR: 2-8-2 tanh network, full batch, Adam: %d steps to 4/4 (loss %.4f)\n\n", epochs + 1, s.loss);
    Result r = start_result("XOR with a hidden layer", "the four XOR points", "MLP 2-8-2, tanh, Adam", model);
    r.metrics = {{"accuracy", s.accuracy}, {"steps", epochs + 1}};
    r.gate = "accuracy == 1.0";
    r.pass = s.accuracy == 1.0f;
    r.note = "the problem 1969 proved a single perceptron cannot solve";
    NoGrad no_tape;
    model.eval();
    const Tensor inputs({4, 2}, {0, 0, 0, 1, 1, 0, 1, 1});
    const Tensor p_one = softmax(model(inputs), 1); // [4,2]: each row's class probabilities
    Table points{"The four points and what the trained network says", {"x1", "x2", "target", "P(class 1)"}, {}};
    char probability[32];
    for (int64_t i = 0; i < 4; i++) {
        std::snprintf(probability, sizeof probability, "%.4f", p_one.at({i, 1}));
        points.rows.push_back({std::to_string((int)inputs.at({i, 0})), std::to_string((int)inputs.at({i, 1})),
                               std::to_string((int)(i == 1 || i == 2)), probability});
    }
    r.tables = {points};
    return r;
}

Result tinydigits_part(const Options& options) {
    ImageSet train = load_idx_images(data_path("data/tinydigits/train-images-idx3-ubyte"), data_path("data/tinydigits/train-labels-idx1-ubyte"));
    ImageSet test = load_idx_images(data_path("data/tinydigits/test-images-idx3-ubyte"), data_path("data/tinydigits/test-labels-idx1-ubyte"));
    const auto [train_data, test_data] = standardized(train, test);
    Generator g(1986);
    Sequential model{Linear(64, 32, true, Init::Kaiming, g), ReLU(), Linear(32, 10, true, Init::Kaiming, g)};
    DataLoader train_loader(train_data, 32, true, false, g), test_loader(test_data, 200);
    if (!options.json) std::printf("  TinyDigits: 1000 train / 200 test 8x8 digits, MLP 64-32-10\n");
    History history;
    const float acc = fit(model, train_loader, test_loader, 20, 1e-2f, options, &history);
    Result r = start_result("TinyDigits MLP", "TinyDigits, 1000 train / 200 test, 8x8", "MLP 64-32-10, ReLU, Adam + cosine", model);
    r.figures = report_figures("Milestone 1986: MLP 64-32-10 on TinyDigits", history, model, test_loader, test);
    r.metrics = {{"test_accuracy", acc}};
    r.gate = "test_accuracy >= 0.90";
    r.pass = acc >= 0.90f;
    r.note = "the original course expects 75-85%";
    if (!options.json) std::printf("\n");
    return r;
}

Result mnist_part(const Options& options) {
    const char* model_name = "MLP 784-256-128-10, ReLU, Adam + cosine";
    Result r;
    r.milestone = "1986";
    r.part = "MNIST MLP";
    r.dataset = "MNIST, 60000 train / 10000 test, 28x28";
    r.model = model_name;
    r.gate = "test_accuracy >= 0.98";
    if (options.quick) {
        r.skipped = true;
        r.note = "--quick: the full MNIST run is skipped";
        return r;
    }
    ImageSet train = load_idx_images(data_path("data/mnist/train-images-idx3-ubyte"), data_path("data/mnist/train-labels-idx1-ubyte"));
    ImageSet test = load_idx_images(data_path("data/mnist/t10k-images-idx3-ubyte"), data_path("data/mnist/t10k-labels-idx1-ubyte"));
    const auto [train_data, test_data] = standardized(train, test);
    Generator g(1986);
    Sequential model = mnist_mlp(g);
    DataLoader train_loader(train_data, 128, true, false, g), test_loader(test_data, 1000);
    if (!options.json) std::printf("  MNIST: 60000 train / 10000 test 28x28 digits, %s\n", model_name);
    History history;
    const float acc = fit(model, train_loader, test_loader, 8, 2e-3f, options, &history);
    std::filesystem::create_directories(".build");
    save_curves_svg(".build/milestone-1986-mnist.svg", history, "Milestone 1986: MLP 784-256-128-10 on MNIST");
    r.figures = report_figures("Milestone 1986: MLP 784-256-128-10 on MNIST", history, model, test_loader, test);
    r.params = model.num_parameters();
    r.metrics = {{"test_accuracy", acc}};
    r.pass = acc >= 0.98f;
    r.note = "curves in .build/milestone-1986-mnist.svg; the original course expects 94-97% after 10-15 minutes";
    return r;
}
} // namespace

std::vector<Result> milestone_1986(const Options& options) {
    std::vector<Result> results;
    for (auto part : {xor_part, tinydigits_part, mnist_part}) results.push_back(timed_part([&] { return part(options); }));
    return results;
}

} // namespace lessons
