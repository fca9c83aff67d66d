// Lesson 05 · DataLoader — the demo behind `./tt lesson 5`: what a data set
// costs in memory as bytes and as floats, how fast batches come out of the
// loader, and what one sample and its augmented copy look like.
#include <cstdio>
#include <filesystem>
#include <string>

#include "lessons.h"

using namespace tt;

namespace lessons {

namespace {
// One image [H,W] as characters, two per pixel so that it keeps its shape,
// darker characters for larger values. Several images side by side.
void print_ascii(const std::vector<Tensor>& images, float max_value) {
    const char* ramp = " .:-=+*#%@";
    const int64_t H = images[0].size(0), W = images[0].size(1);
    for (int64_t i = 0; i < H; i++) {
        std::string line = "   ";
        for (size_t k = 0; k < images.size(); k++) {
            line += k ? " | " : "|";
            for (int64_t j = 0; j < W; j++) {
                const int level = (int)(images[k].at({i, j}) / max_value * 9.0f + 0.5f);
                line.append(2, ramp[std::min(9, std::max(0, level))]);
            }
        }
        std::printf("%s|\n", line.c_str());
    }
}
} // namespace

Json lesson_05(const Options& options) {
    Json measured;
    // MNIST when `make data` has decompressed it, else the bundled TinyDigits.
    std::string name = "MNIST train", images_path = data_path("data/mnist/train-images-idx3-ubyte"),
                labels_path = data_path("data/mnist/train-labels-idx1-ubyte");
    float max_value = 255;
    int64_t padding = 4;
    const bool mnist_ready = std::filesystem::exists(images_path) && std::filesystem::exists(labels_path);
    if (options.quick || !mnist_ready) {
        if (!options.quick) std::printf("(%s is not decompressed: `make data` does it; using TinyDigits instead)\n\n", images_path.c_str());
        name = "TinyDigits train";
        images_path = data_path("data/tinydigits/train-images-idx3-ubyte");
        labels_path = data_path("data/tinydigits/train-labels-idx1-ubyte");
        max_value = 16;
        padding = 1;
    }

    std::printf("1. %s in memory: kept as uint8, as on disk; converted to float32 only batch by batch\n", name.c_str());
    const int64_t on_disk = (int64_t)(std::filesystem::file_size(images_path) + std::filesystem::file_size(labels_path));
    std::fflush(stdout); // the heading shows while the file is read
    const int64_t before = memory_counts().live_bytes;
    const double start = now_seconds();
    ImageSet set = load_idx_images(images_path, labels_path);
    const double load_s = seconds_since(start);
    const int64_t in_memory = memory_counts().live_bytes - before;
    const int64_t N = set.size(), D = (int64_t)set.pixels->size() / N;
    // What holding the whole set as floats would cost: the copy made once.
    int64_t as_floats = 0;
    const double convert_s = time_best(1, [&] {
        const int64_t live = memory_counts().live_bytes;
        const Tensor all = set.images();
        as_floats = memory_counts().live_bytes - live + set.labels.numel() * (int64_t)sizeof(float);
    });
    std::printf("   %lld images %s, labels %s\n", (long long)N, to_string(set.shape).c_str(), to_string(set.labels.shape()).c_str());
    std::printf("   %-44s %10s\n", "on disk, uint8 (file sizes):", bytes_str(on_disk).c_str());
    std::printf("   %-44s %10s  (%.2fx), read in %.3f s\n", "in memory, uint8 (tracker's count):", bytes_str(in_memory).c_str(),
                (double)in_memory / (double)on_disk, load_s);
    std::printf("   %-44s %10s  (%.2fx), converted in %.3f s\n\n", "the same as float32 tensors would be:",
                bytes_str(as_floats).c_str(), (double)as_floats / (double)on_disk, convert_s);
    measured.text("dataset", name).number("on_disk_bytes", (double)on_disk).number("in_memory_bytes", (double)in_memory)
        .number("as_float_bytes", (double)as_floats).number("load_seconds", load_s);
    std::vector<Json> rows;

    std::printf("2. Loader throughput over one pass, by batch size (bytes turned into floats as rows are gathered):\n");
    std::printf("   %6s %8s %24s %16s\n", "", "", "shuffled", "in order");
    std::printf("   %6s %8s %13s %10s %16s %11s\n", "batch", "batches", "samples/s", "MB/s", "samples/s", "one batch");
    auto data = std::make_shared<ImageDataset>(set, std::vector<float>{0}, std::vector<float>{1}, max_value, true);
    const double bytes_per_sample = (double)(D + 1) * sizeof(float); // what a batch holds per sample
    // Samples per second of one pass, and the loader's peak bytes.
    auto pass = [&](std::shared_ptr<Dataset> from, int64_t batch, bool shuffle, int64_t& batch_bytes) {
        Generator g(5);
        DataLoader loader(from, batch, shuffle, false, g);
        const int64_t live = memory_counts().live_bytes;
        reset_peak();
        const double t0 = now_seconds();
        int64_t samples = 0, done = 0;
        double last_progress = t0;
        for (auto& [x, y] : loader) {
            samples += x.size(0);
            if (++done % 64 == 0 && now_seconds() - last_progress > 0.25) {
                last_progress = now_seconds();
                std::fprintf(stderr, "\r   batch %lld: %lld / %lld batches", (long long)batch, (long long)done, (long long)loader.size());
            }
        }
        const double rate = samples / seconds_since(t0);
        batch_bytes = memory_counts().peak_bytes - live;
        if (last_progress != t0) std::fprintf(stderr, "\r%60s\r", "");
        return rate;
    };
    double ratio_at_64 = 0, shuffled_at_64 = 0;
    for (int64_t batch : {1, 8, 64, 512}) {
        int64_t batch_bytes = 0;
        const double shuffled = pass(data, batch, true, batch_bytes), in_order = pass(data, batch, false, batch_bytes);
        if (batch == 64) ratio_at_64 = in_order / shuffled, shuffled_at_64 = shuffled;
        rows.push_back(Json().number("batch", (double)batch).number("shuffled_samples_per_s", shuffled)
                           .number("in_order_samples_per_s", in_order).number("batch_bytes", (double)batch_bytes));
        std::printf("   %6lld %8lld %13.0f %10.0f %16.0f %11s\n", (long long)batch, (long long)((N + batch - 1) / batch), shuffled,
                    shuffled * bytes_per_sample / 1e6, in_order, bytes_str(batch_bytes).c_str());
    }
    // The same pass from a float copy of the whole set: rows gathered by memcpy.
    double floats_at_64 = 0;
    {
        auto floats = std::make_shared<TensorDataset>(normalize(set.images(), 0, 1, max_value).view({N, D}), set.labels);
        int64_t ignored = 0;
        floats_at_64 = pass(floats, 64, true, ignored);
    }
    std::printf("   Batch 1 pays an allocation and a call per sample. From a few samples on, the\n"
                "   gather is the cost: in order it streams through memory, shuffled it reads each\n"
                "   row at a random place in %s (at batch 64, in order was %.1fx faster here).\n"
                "   From a float32 copy of the set (%s, rows copied by memcpy), batch 64\n"
                "   shuffled gives %.0f samples/s: %.2fx the bytes' rate, for 4x the memory.\n"
                "   The loader holds one batch at a time: the last column.\n\n",
                bytes_str(in_memory).c_str(), ratio_at_64, bytes_str(as_floats).c_str(), floats_at_64,
                floats_at_64 / shuffled_at_64);
    measured.number("float_copy_shuffled_samples_per_s_at_64", floats_at_64);

    measured.objects("loader", rows);
    Generator g(6);
    Tensor first = set.images({0});                    // [1,1,H,W]
    Tensor cropped = random_crop(first, padding, g);   // [1,1,H,W]
    Tensor flipped = random_hflip(cropped, g);         // [1,1,H,W]
    std::printf("3. Sample 0 (label %d), and the same after random_crop(padding %lld) then random_hflip\n"
                "   (which %s it this time):\n",
                (int)set.labels.at({0}), (long long)padding, cropped.to_vector() == flipped.to_vector() ? "left" : "flipped");
    const Shape image{first.size(2), first.size(3)};
    print_ascii({first.reshape(image), flipped.reshape(image)}, max_value);
    return measured;
}

} // namespace lessons
