// Lesson 08 · Training — the demo behind `./tt lesson 8`: a real run on
// TinyDigits with the schedule, clipping and curves, a checkpoint and a
// resume that matches the uninterrupted run, and the NaN stop.
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "lessons.h"

using namespace tt;

namespace lessons {

namespace {
struct Digits {
    std::shared_ptr<ImageDataset> train, test;
};
// TinyDigits as [N,64] rows scaled to 0..1.
Digits tiny_digits() {
    auto load = [](const char* images, const char* labels) {
        ImageSet set = load_idx_images(data_path(images), data_path(labels));
        return std::make_shared<ImageDataset>(set, std::vector<float>{0}, std::vector<float>{1}, 16.0f, true);
    };
    return {load("data/tinydigits/train-images-idx3-ubyte", "data/tinydigits/train-labels-idx1-ubyte"),
            load("data/tinydigits/test-images-idx3-ubyte", "data/tinydigits/test-labels-idx1-ubyte")};
}
Sequential digits_mlp(uint64_t seed) {
    Generator g(seed);
    return Sequential{Linear(64, 64, true, Init::Kaiming, g), ReLU(), Linear(64, 10, true, Init::Kaiming, g)};
}
// `epochs` epochs from the optimizer's current step; the loss of every step is appended to `losses`.
void run(Sequential& model, Optimizer& opt, const Digits& d, Generator& g, int epochs, int total_epochs,
         std::vector<float>& losses, History* history = nullptr) {
    DataLoader train(d.train, 50, true, false, g), test(d.test, 200);
    TrainOptions o;
    o.lr_schedule = CosineSchedule(0.01f, total_epochs * train.size(), train.size());
    o.clip_norm = 5.0f;
    o.progress = false;
    const LossFn loss = [&](const Tensor& out, const Tensor& y) {
        Tensor l = cross_entropy(out, y);
        losses.push_back(l.item());
        return l;
    };
    for (int e = 0; e < epochs; e++) {
        const EpochStats tr = train_epoch(model, train, loss, opt, o);
        const EpochStats te = evaluate(model, test, cross_entropy);
        if (history) {
            history->add(tr, te);
            std::printf("  %5zu %10.4f %9.1f%% %10.4f %9.1f%% %9.5f %12.0f\n", history->train_loss.size(), tr.loss,
                        100 * tr.accuracy, te.loss, 100 * te.accuracy, opt.lr, (double)tr.samples / tr.seconds);
        }
    }
}
} // namespace

Json lesson_08(const Options& options) {
    Json measured;
    const Digits d = tiny_digits();
    const int epochs = options.quick ? 6 : 20;
    std::printf("The cosine schedule with warm-up used below (peak 0.01, %d steps, 20 warm-up):\n  step:", epochs * 20);
    const CosineSchedule schedule(0.01f, epochs * 20, 20);
    for (int64_t t : {0, 9, 19, 20, epochs * 5, epochs * 10, epochs * 15, epochs * 20 - 1}) std::printf(" %6lld", (long long)t);
    std::printf("\n  lr:  ");
    for (int64_t t : {0, 9, 19, 20, epochs * 5, epochs * 10, epochs * 15, epochs * 20 - 1}) std::printf(" %6.4f", schedule(t));
    std::printf("\n\n");

    std::printf("TinyDigits, MLP 64-64-10, Adam + that schedule, clip_grad_norm 5, batch 50:\n\n");
    std::printf("  %5s %10s %10s %10s %10s %9s %12s\n", "epoch", "train loss", "train acc", "test loss", "test acc", "last lr",
                "samples/s");
    Sequential model = digits_mlp(8);
    Adam opt(model.parameters(), 0.01f);
    Generator g(8);
    std::vector<float> straight;
    History history;
    run(model, opt, d, g, epochs, epochs, straight, &history);
    std::filesystem::create_directories(".build");
    const std::string svg = ".build/lesson-08-curves.svg";
    save_curves_svg(svg, history, "Lesson 08: MLP 64-64-10 on TinyDigits");
    std::printf("\n  curves written to %s\n\n", svg.c_str());
    measured.number("epochs", epochs).number("final_train_loss", history.train_loss.back())
        .number("final_test_accuracy", history.test_accuracy.back());

    // Checkpoint half-way, resume in a fresh model, compare every loss bit for bit.
    const std::string ckpt = (std::filesystem::temp_directory_path() / "tt-lesson-08.safetensors").string();
    Sequential first = digits_mlp(8), second = digits_mlp(123);
    Adam opt1(first.parameters(), 0.01f), opt2(second.parameters(), 0.01f);
    Generator g1(8), g2(555);
    std::vector<float> resumed;
    run(first, opt1, d, g1, epochs / 2, epochs, resumed);
    const double t0 = now_seconds();
    save_checkpoint(ckpt, first, &opt1, &g1);
    const double saved = seconds_since(t0);
    const double t1 = now_seconds();
    load_checkpoint(ckpt, second, &opt2, &g2);
    const double loaded = seconds_since(t1);
    const int64_t file_bytes = (int64_t)std::filesystem::file_size(ckpt);
    std::filesystem::remove(ckpt);
    run(second, opt2, d, g2, epochs - epochs / 2, epochs, resumed);
    size_t same = 0;
    for (size_t i = 0; i < straight.size() && i < resumed.size(); i++) same += std::memcmp(&straight[i], &resumed[i], 4) == 0;
    int64_t state_bytes = 0;
    for (auto& [name, t] : opt1.state()) state_bytes += t.numel() * 4;
    std::printf("Checkpoint after epoch %d of %d (safetensors: model + Adam state + step + generator):\n"
                "  file %s = parameters %s + optimizer state %s + header %s; saved in %.2f ms, loaded in %.2f ms\n"
                "  resumed run: %zu of %zu step losses identical to the uninterrupted run, bit for bit\n\n",
                epochs / 2, epochs, bytes_str(file_bytes).c_str(), bytes_str(first.num_parameters() * 4).c_str(),
                bytes_str(state_bytes).c_str(), bytes_str(file_bytes - first.num_parameters() * 4 - state_bytes).c_str(),
                1000 * saved, 1000 * loaded, same, straight.size());
    measured.number("checkpoint_bytes", (double)file_bytes).number("checkpoint_save_ms", 1000 * saved)
        .number("checkpoint_load_ms", 1000 * loaded).boolean("resume_bit_identical", same == straight.size());

    // Too large a learning rate: the loss overflows and the loop stops, naming the step.
    Sequential wild = digits_mlp(8);
    SGD sgd(wild.parameters(), 1e12f);
    DataLoader train(d.train, 50, true, false, g);
    TrainOptions o;
    o.progress = false;
    std::printf("SGD with lr 1e12, no clipping:\n");
    try {
        for (int e = 0; e < 5; e++) train_epoch(wild, train, cross_entropy, sgd, o);
        std::printf("  survived 5 epochs\n");
        measured.boolean("nan_stopped", false);
    } catch (const Error& e) {
        std::printf("  %s\n", e.what());
        measured.boolean("nan_stopped", true);
    }
    return measured;
}

} // namespace lessons
