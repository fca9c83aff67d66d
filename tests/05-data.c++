// Lesson 05 · DataLoader: batching and shuffling, the readers on real files
// and on small crafted bad ones, and the image transforms against results
// worked out by hand.
#include <chrono>
#include <filesystem>
#include <fstream>

#include "test.h"

using namespace tt;
namespace fs = std::filesystem;
using test::TempDir;

namespace {
// An IDX header: magic 0x000008<rank>, then each dim as a big-endian uint32.
std::vector<unsigned char> idx_header(const std::vector<uint32_t>& dims, unsigned char type = 0x08) {
    std::vector<unsigned char> b{0, 0, type, (unsigned char)dims.size()};
    for (uint32_t d : dims)
        for (int shift : {24, 16, 8, 0}) b.push_back((unsigned char)(d >> shift));
    return b;
}
std::vector<unsigned char> operator+(std::vector<unsigned char> a, const std::vector<unsigned char>& b) {
    a.insert(a.end(), b.begin(), b.end());
    return a;
}
std::vector<unsigned char> bytes(int64_t n, unsigned char first = 0) {
    std::vector<unsigned char> b((size_t)n);
    for (int64_t i = 0; i < n; i++) b[(size_t)i] = (unsigned char)(first + i);
    return b;
}

std::shared_ptr<TensorDataset> counting_dataset(int64_t n) {
    // x [n,2] = rows (10i, 10i+1), y [n] = i: a batch shows which samples it holds
    Tensor x({n, 2});
    for (int64_t i = 0; i < n; i++) x.set({i, 0}, 10.0f * i), x.set({i, 1}, 10.0f * i + 1);
    return std::make_shared<TensorDataset>(x, Tensor::arange(n));
}
} // namespace

// --- Datasets and the loader ---------------------------------------------------

TEST(tensor_dataset_get_and_errors) {
    auto data = counting_dataset(5);
    CHECK(data->size() == 5);
    auto [x, y] = data->get(3);
    CHECK(x.shape() == Shape{2} && y.shape() == Shape{});
    CHECK_VALUES(x, 0, {30, 31});
    CHECK_EQ(y.item(), 3);
    CHECK_THROWS(data->get(5), "TensorDataset: index 5 is out of range for 5 samples");
    CHECK_THROWS(TensorDataset(Tensor::zeros({5, 2}), Tensor::zeros({4})), "TensorDataset: x [5,2] and y [4]");
    CHECK_THROWS(TensorDataset(Tensor::scalar(1), Tensor::zeros({1})), "TensorDataset");
}

TEST(loader_batches_in_order_with_a_partial_last_batch) {
    DataLoader loader(counting_dataset(10), 4);
    CHECK_EQ(loader.size(), 3);
    std::vector<std::vector<float>> ys;
    for (auto& [x, y] : loader) {
        CHECK(x.dim() == 2 && x.size(1) == 2 && x.size(0) == y.size(0));
        CHECK_NEAR(x.at({0, 0}), 10 * y.at({0}), 0);
        ys.push_back(y.to_vector());
    }
    CHECK_EQ(ys.size(), 3);
    CHECK(ys[0] == std::vector<float>({0, 1, 2, 3}));
    CHECK(ys[2] == std::vector<float>({8, 9}));
}

TEST(loader_drop_last) {
    DataLoader loader(counting_dataset(10), 4, false, /*drop_last=*/true);
    CHECK_EQ(loader.size(), 2);
    int64_t batches = 0, samples = 0;
    for (auto& [x, y] : loader) batches++, samples += x.size(0);
    CHECK(batches == 2 && samples == 8);
    CHECK_EQ(DataLoader(counting_dataset(8), 4, false, true).size(), 2);
    CHECK_THROWS(DataLoader(counting_dataset(3), 4, false, true), "DataLoader: drop_last with batch_size 4 and only 3 samples");
}

TEST(loader_shuffles_a_permutation_seeded_and_new_every_pass) {
    Generator g(7);
    DataLoader loader(counting_dataset(50), 8, /*shuffle=*/true, false, g);
    auto pass = [&] {
        std::vector<float> seen;
        for (auto& [x, y] : loader) {
            for (int64_t i = 0; i < x.size(0); i++) CHECK(x.at({i, 1}) == 10 * y.at({i}) + 1); // x and y stay paired
            for (float v : y.to_vector()) seen.push_back(v);
        }
        return seen;
    };
    const std::vector<float> first = pass(), second = pass();
    std::vector<float> sorted = first;
    std::sort(sorted.begin(), sorted.end());
    CHECK_EQ(sorted, Tensor::arange(50).to_vector()); // every sample exactly once
    CHECK(first != sorted);                          // shuffled
    CHECK(first != second);                          // and differently on the next pass
    // The same seed gives the same order: Fisher–Yates drawn from randint.
    Generator h(7);
    std::vector<float> expected = Tensor::arange(50).to_vector();
    for (int64_t i = 49; i > 0; i--) std::swap(expected[i], expected[h.randint(i + 1)]);
    CHECK_EQ(first, expected);
}

TEST(loader_errors_and_no_tape) {
    CHECK_THROWS(DataLoader(counting_dataset(4), 0), "DataLoader: batch_size must be positive, got 0");
    CHECK_THROWS(DataLoader(counting_dataset(4), -3), "batch_size must be positive");
    CHECK_THROWS(DataLoader(std::make_shared<TensorDataset>(Tensor::zeros({0, 3}), Tensor::zeros({0})), 4), "DataLoader: the dataset is empty");
    CHECK_THROWS(DataLoader(nullptr, 4), "DataLoader: no dataset");
    DataLoader loader(counting_dataset(4), 3);
    CHECK_THROWS(loader.batch(2), "DataLoader: batch 2 is out of range for 2 batches");
    // a dataset made from tensors that require grad still yields plain data
    Tensor x = Tensor::ones({4, 2}).requires_grad_(true);
    DataLoader from_params(std::make_shared<TensorDataset>(x, Tensor::zeros({4})), 2);
    for (auto& [bx, by] : from_params) CHECK(!bx.requires_grad() && !by.requires_grad());
    CHECK(tape().empty());
}

TEST(loader_batches_are_activations) {
    std::shared_ptr<TensorDataset> data = counting_dataset(100);
    DataLoader loader(data, 32);
    const int64_t before = memory_counts(Category::Activations).live_bytes;
    Batch b = loader.batch(0);
    CHECK_EQ(memory_counts(Category::Activations).live_bytes - before, 32 * 3 * (int64_t)sizeof(float));
    CHECK(!b.x.shares_storage(data->x)); // a copy of the rows, not a view
}

// --- Readers: crafted bad files ---------------------------------------------------

TEST_GIVEN(read_idx_reads_a_small_file) {
    TempDir dir;
    Tensor t = read_idx(dir.file("ok-idx3-ubyte", idx_header({2, 2, 3}) + bytes(12, 250)));
    CHECK_EQ(t.shape(), Shape({2, 2, 3}));
    CHECK_VALUES(t, 0, {250, 251, 252, 253, 254, 255, 0, 1, 2, 3, 4, 5}); // uint8 wraps: raw bytes
    CHECK_EQ(read_idx(dir.file("empty-idx1-ubyte", idx_header({0}))).shape(), Shape{0});
}

TEST_GIVEN(read_idx_refuses_bad_files) {
    TempDir dir;
    const std::string missing = (dir.path / "nothing-here").string();
    CHECK_THROWS(read_idx(missing), "read_idx: cannot open " + missing + ": no such file");
    CHECK_THROWS(read_idx((dir.path / "mnist-train-images-idx3-ubyte").string()), "`make data` decompresses them");
    CHECK_THROWS(read_idx(dir.path.string()), "is a directory");
    CHECK_THROWS(read_idx(dir.file("tiny", {0, 0})), "is truncated: 2 bytes, less than the 4-byte magic number");
    CHECK_THROWS(read_idx(dir.file("no-data", idx_header({2, 2, 3}))), "is truncated: its dims [2,2,3] need 12 bytes");
    const std::string cut = dir.file("cut-header", {0, 0, 8, 3, 0, 0, 0, 2});
    CHECK_THROWS(read_idx(cut), cut + " is truncated: 8 bytes, less than its 16-byte header");
    CHECK_THROWS(read_idx(dir.file("cut-data", idx_header({2, 2, 3}) + bytes(11))), "is truncated: its dims [2,2,3] need 12 bytes after the 16-byte header, but the file has 11");
    CHECK_THROWS(read_idx(dir.file("extra", idx_header({2, 2, 3}) + bytes(13))), "need 12 bytes after the 16-byte header, but the file has 13 (dims and size disagree)");
    CHECK_THROWS(read_idx(dir.file("png", {0x89, 'P', 'N', 'G', 0, 0, 0, 0})), "has the wrong magic number 0x89504e47");
    CHECK_THROWS(read_idx(dir.file("int32", idx_header({3}, 0x0C) + bytes(12))), "wrong magic number 0x00000c01");
    CHECK_THROWS(read_idx(dir.file("rank0", {0, 0, 8, 0})), "wrong magic number 0x00000800");
    // dims whose product overflows 64 bits (and every 32-bit size) must not wrap around
    CHECK_THROWS(read_idx(dir.file("huge", idx_header({0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF}) + bytes(4))),
                 "dims [4294967295,4294967295,4294967295,4294967295] need more than 2^63 bytes");
    CHECK_THROWS(read_idx(dir.file("wide", idx_header({65536, 65536}) + bytes(16))), "is truncated: its dims [65536,65536] need 4294967296 bytes");
}

TEST_GIVEN(load_idx_images_checks_the_pair) {
    TempDir dir;
    const std::string images = dir.file("img", idx_header({3, 2, 2}) + bytes(12));
    const std::string labels = dir.file("lab", idx_header({3}) + std::vector<unsigned char>{7, 0, 9});
    ImageSet set = load_idx_images(images, labels);
    CHECK_EQ(set.images().shape(), Shape({3, 1, 2, 2}));
    CHECK_VALUES(set.labels, 0, {7, 0, 9});
    CHECK_NEAR(set.images().at({2, 0, 1, 1}), 11, 0);
    const std::string two_labels = dir.file("lab2", idx_header({2}) + bytes(2));
    CHECK_THROWS(load_idx_images(images, two_labels), "load_idx_images: " + images + " has 3 images but " + two_labels + " has 2 labels");
    CHECK_THROWS(load_idx_images(labels, labels), "load_idx_images: " + labels + " has the wrong magic number 0x00000801: expected 0x00000803 (images [N,H,W])");
    CHECK_THROWS(load_idx_images(images, images), "wrong magic number 0x00000803: expected 0x00000801 (labels [N])");
    CHECK_THROWS(load_idx_images(images, (dir.path / "gone").string()), "cannot open");
}

TEST_GIVEN(load_cifar10_crafted_files) {
    TempDir dir;
    std::vector<unsigned char> two = std::vector<unsigned char>{3} + bytes(3072) + std::vector<unsigned char>{9} + bytes(3072, 7);
    ImageSet set = load_cifar10(dir.file("two.bin", two));
    CHECK_EQ(set.images().shape(), Shape({2, 3, 32, 32}));
    CHECK_VALUES(set.labels, 0, {3, 9});
    CHECK_NEAR(set.images().at({0, 0, 0, 1}), 1, 0);          // red plane first
    CHECK_NEAR(set.images().at({0, 1, 0, 0}), 1024 % 256, 0); // then green
    CHECK_NEAR(set.images().at({1, 2, 31, 31}), (7 + 3071) % 256, 0);
    const std::string cut = dir.file("cut.bin", std::vector<unsigned char>(two.begin(), two.end() - 1));
    CHECK_THROWS(load_cifar10(cut), "load_cifar10: " + cut + " has 6145 bytes, not a whole number of 3073-byte records");
    CHECK_THROWS(load_cifar10(dir.file("empty.bin", {})), "has 0 bytes");
    two[3073] = 10;
    CHECK_THROWS(load_cifar10(dir.file("label.bin", two)), "label 10 of record 1 is out of range 0..9");
    CHECK_THROWS(load_cifar10((dir.path / "missing.bin").string()), "load_cifar10: cannot open");
    // several files into one set, each checked before anything is read
    const std::string one = dir.file("one.bin", std::vector<unsigned char>{5} + bytes(3072, 2));
    const ImageSet three = load_cifar10({dir.file("two-again.bin", std::vector<unsigned char>(two.begin(), two.begin() + 3073)), one});
    CHECK_EQ(three.shape, Shape({2, 3, 32, 32}));
    CHECK_VALUES(three.labels, 0, {3, 5});
    CHECK_NEAR(three.images({1}).at({0, 0, 0, 0}), 2, 0);
    CHECK_THROWS(load_cifar10({one, cut}), "load_cifar10: " + cut + " has 6145 bytes");
    CHECK_THROWS(load_cifar10(std::vector<std::string>{}), "load_cifar10: no files given");
}

// --- Readers: the real files ---------------------------------------------------------

TEST_GIVEN(tinydigits_real_files) {
    ImageSet train = load_idx_images(data_path("data/tinydigits/train-images-idx3-ubyte"), data_path("data/tinydigits/train-labels-idx1-ubyte"));
    ImageSet test = load_idx_images(data_path("data/tinydigits/test-images-idx3-ubyte"), data_path("data/tinydigits/test-labels-idx1-ubyte"));
    CHECK(train.images().shape() == Shape({1000, 1, 8, 8}) && train.labels.shape() == Shape{1000});
    CHECK(test.images().shape() == Shape({200, 1, 8, 8}) && test.labels.shape() == Shape{200});
    CHECK_NEAR(max(train.images()).item(), 16, 0);
    CHECK_NEAR(-max(-train.images()).item(), 0, 0);
    CHECK_VALUES(train.labels.slice(0, 0, 8), 0, {5, 4, 3, 9, 6, 2, 4, 5});
    CHECK_VALUES(train.images().slice(0, 0, 1).slice(2, 0, 1), 0, {0, 3, 12, 12, 14, 4, 0, 0}); // first row of the first 5
    for (int64_t c = 0; c < 10; c++) { // 100 of each class (the course's split)
        int64_t n = 0;
        for (float v : train.labels.to_vector()) n += v == (float)c;
        CHECK_EQ(n, 100);
    }
}

TEST_GIVEN(digits_and_mnist_labels_real_files) {
    ImageSet digits = load_idx_images(data_path("data/digits/digits-images-idx3-ubyte"), data_path("data/digits/digits-labels-idx1-ubyte"));
    CHECK_EQ(digits.images().shape(), Shape({1797, 1, 8, 8}));
    CHECK_VALUES(digits.labels.slice(0, 0, 12), 0, {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1});
    // `make test` decompresses MNIST first; the label file is small enough to read here
    Tensor mnist = read_idx(data_path("data/mnist/train-labels-idx1-ubyte"));
    CHECK_EQ(mnist.shape(), Shape{60000});
    CHECK_NEAR(mnist.at({0}), 5, 0);
}

TEST_GIVEN(cifar10_real_first_record_when_present) {
    const std::string path = shared_data_path("cifar10-subset/test_batch_first1000.bin");
    if (path.empty()) {
        std::printf("skip  cifar10_real_first_record: ../shared/data/cifar10-subset is absent\n");
        return;
    }
    ImageSet set = load_cifar10(path);
    CHECK_EQ(set.images().shape(), Shape({1000, 3, 32, 32}));
    // the first test record: a cat (class 3); its first red, green, blue pixels
    std::ifstream in(path, std::ios::binary);
    std::vector<unsigned char> head(1 + 3072);
    in.read((char*)head.data(), (std::streamsize)head.size());
    CHECK_EQ(head[0], 3);
    CHECK_NEAR(set.labels.at({0}), 3, 0);
    CHECK_NEAR(set.images().at({0, 0, 0, 0}), head[1], 0);
    CHECK_NEAR(set.images().at({0, 1, 0, 0}), head[1 + 1024], 0);
    CHECK_NEAR(set.images().at({0, 2, 31, 31}), head[3072], 0);
    CHECK_NEAR(max(set.labels).item(), 9, 0);
}

TEST_GIVEN(data_path_finds_the_repo_data) {
    // `make test` runs from the repo root, where data/ is
    const char* root = std::getenv("TT_DATA");
    if (root && *root) CHECK(data_path("data/tinydigits/x") == std::string(root) + "/tinydigits/x");
    else CHECK(data_path("data/tinydigits/train-images-idx3-ubyte") == "data/tinydigits/train-images-idx3-ubyte");
    CHECK(shared_data_path("no-such-set/none.bin").empty());
}

// --- Transforms, by hand ---------------------------------------------------------------

TEST(normalize_by_hand) {
    Tensor x({1, 2, 1, 2}, {0, 255, 51, 102});
    // (x/255 - 0.5) / 0.25
    CHECK_VALUES(normalize(x, 0.5f, 0.25f, 255), 1e-6, {-2, 2, -1.2f, -0.4f});
    // per channel: channel 0 (x - 0)/1, channel 1 (x/51 - 1)/2
    CHECK_VALUES(normalize(x, {0, 1}, {1, 2}, 51), 1e-6, {0, 5, 0, 0.5f});
    CHECK_THROWS(normalize(x, 0, 0), "normalize: stddev and scale must be positive");
    CHECK_THROWS(normalize(x, {0, 1, 2}, {1, 1, 1}), "normalize: 3 means and 3 stddevs for 2 channels of [1,2,1,2]");
    CHECK_THROWS(normalize(Tensor::zeros({2, 2}), {0, 1}, {1, 1}), "normalize: images should be [N,C,H,W]");
}

// An ImageSet of the given bytes, [N,C,H,W], labels 0..N-1.
static ImageSet byte_images(const Shape& shape, const std::vector<uint8_t>& values) {
    auto pixels = std::make_shared<DataVector<uint8_t>>(values.begin(), values.end());
    return {pixels, shape, Tensor::arange(shape[0])};
}

TEST(image_dataset_converts_each_batch_as_normalize_would) {
    // two images of 2 channels of 1x2 pixels
    const ImageSet set = byte_images({2, 2, 1, 2}, {0, 255, 51, 102, 10, 20, 30, 40});
    ImageDataset data(set, {0, 1}, {1, 2}, 51);
    const Batch batch = data.gather({1, 0});
    CHECK_EQ(batch.x.shape(), Shape({2, 2, 1, 2}));
    // image 1 first: channel 0 (x/51 - 0)/1, channel 1 (x/51 - 1)/2, as normalize() gives them
    CHECK_VALUES(batch.x, 1e-6, normalize(set.images({1, 0}), {0, 1}, {1, 2}, 51).to_vector());
    CHECK_VALUES(batch.x.slice(0, 0, 1), 1e-6, {10 / 51.f, 20 / 51.f, (30 / 51.f - 1) / 2, (40 / 51.f - 1) / 2});
    CHECK_VALUES(batch.y, 0, {1, 0});
    // one mean and stddev for every channel, flattened rows, get(i)
    ImageDataset flat(set, {0.5f}, {0.25f}, 255, true);
    CHECK_EQ(flat.gather({0}).x.shape(), Shape({1, 4}));
    CHECK_VALUES(flat.gather({0, 1}).x, 1e-6, normalize(set.images(), 0.5f, 0.25f, 255).to_vector());
    auto [x, y] = flat.get(1);
    CHECK_EQ(x.shape(), Shape{4});
    CHECK_NEAR(y.item(), 1, 0);
    // a loader over it: every sample once per pass
    DataLoader loader(std::make_shared<ImageDataset>(set), 1, true);
    float seen = 0;
    for (auto& [bx, by] : loader) seen += by.item();
    CHECK_NEAR(seen, 1, 0);
}

TEST(image_dataset_augments_as_random_crop_then_random_hflip) {
    std::vector<uint8_t> values(4 * 3 * 5 * 5);
    for (size_t i = 0; i < values.size(); i++) values[i] = (uint8_t)(i * 7);
    const ImageSet set = byte_images({4, 3, 5, 5}, values);
    Generator a(3), b(3);
    ImageDataset augmented(set, {10, 20, 30}, {2, 3, 4});
    augmented.augment(2, true, a);
    ImageDataset plain(set, {10, 20, 30}, {2, 3, 4});
    for (int pass = 0; pass < 3; pass++) { // drawn anew every batch, from the same stream as the two transforms
        const Tensor want = random_hflip(random_crop(plain.gather({3, 1, 2}).x, 2, b), b);
        CHECK_EQ(augmented.gather({3, 1, 2}).x.to_vector(), want.to_vector());
    }
    CHECK_THROWS(augmented.augment(6, false, a), "ImageDataset::augment: crop padding 6 should be in 0..min(H,W) for images [4,3,5,5]");
}

TEST_GIVEN(image_sets_stay_bytes) {
    // the tracker counts the bytes, under Data, one byte a pixel
    const MemoryCounts before = memory_counts(Category::Data);
    std::vector<uint8_t> values(3 * 1 * 4 * 4);
    for (size_t i = 0; i < values.size(); i++) values[i] = (uint8_t)i;
    const ImageSet set = byte_images({3, 1, 4, 4}, values);
    CHECK_EQ(memory_counts(Category::Data).live_bytes - before.live_bytes, 48);
    CHECK_VALUES(set.images({2}).slice(2, 0, 1), 0, {32, 33, 34, 35});
    const ImageSet two = set.first(2);
    CHECK_EQ(two.images().shape(), Shape({2, 1, 4, 4}));
    CHECK_VALUES(two.labels, 0, {0, 1});
    CHECK_EQ(two.images({1}).to_vector(), set.images({1}).to_vector());
    const ChannelStats stats = channel_stats(set);                    // 0..47: mean 23.5, variance (48^2-1)/12
    CHECK_NEAR(stats.mean[0], 23.5f, 1e-5);
    CHECK_NEAR(stats.stddev[0], std::sqrt((48.0f * 48.0f - 1) / 12), 1e-4);
    CHECK_THROWS(set.images({3}), "ImageSet::images: image 3 is out of range for 3 images");
    CHECK_THROWS(set.first(4), "ImageSet::first: 4 images asked for from a set of 3");
    CHECK_THROWS(ImageDataset(set, {0, 1}, {1}), "ImageDataset: 2 means and 1 stddevs for 1 channels of [3,1,4,4]");
    CHECK_THROWS(ImageDataset(set, {0}, {0}), "ImageDataset: every stddev must be positive");
    CHECK_THROWS(ImageDataset(set, {0}, {1}, -1), "ImageDataset: scale must be positive");
    CHECK_THROWS(ImageDataset(ImageSet{}), "ImageDataset: the image set should hold images [N,C,H,W], N > 0; got []");
    CHECK_THROWS(ImageDataset(set).gather({0, 3}), "ImageDataset: index 3 is out of range for 3 images");
    CHECK_THROWS(channel_stats(set.first(0)), "channel_stats: the image set is empty");
}

TEST(random_crop_by_hand) {
    // one 1x2x3 image; with padding 1 the window's offset (dy, dx) is in -1..1
    Tensor x({1, 1, 2, 3}, {1, 2, 3, 4, 5, 6});
    for (uint64_t seed = 0; seed < 12; seed++) {
        Generator g(seed), copy(seed);
        const int64_t dy = copy.randint(3) - 1, dx = copy.randint(3) - 1;
        Tensor y = random_crop(x, 1, g);
        // y[i][j] = x[i+dy][j+dx], or 0 outside x
        std::vector<float> want;
        for (int64_t i = 0; i < 2; i++)
            for (int64_t j = 0; j < 3; j++) {
                const int64_t si = i + dy, sj = j + dx;
                want.push_back(si >= 0 && si < 2 && sj >= 0 && sj < 3 ? (float)(si * 3 + sj + 1) : 0.0f);
            }
        CHECK_EQ(y.to_vector(), want);
    }
    // written out: shifted down-right by one (dy = dx = -1), and up-left (dy = dx = 1)
    Generator g(0);
    bool saw_down_right = false, saw_up_left = false;
    for (int k = 0; k < 200; k++) {
        const std::vector<float> y = random_crop(x, 1, g).to_vector();
        saw_down_right |= y == std::vector<float>({0, 0, 0, 0, 1, 2});
        saw_up_left |= y == std::vector<float>({5, 6, 0, 0, 0, 0});
    }
    CHECK(saw_down_right && saw_up_left);
    CHECK_VALUES(random_crop(x, 0, g), 0, {1, 2, 3, 4, 5, 6});
    CHECK_THROWS(random_crop(x, 3, g), "random_crop: padding 3 should be in 0..min(H,W) for images [1,1,2,3]");
    CHECK_THROWS(random_crop(x, -1, g), "random_crop: padding -1");
    CHECK_THROWS(random_crop(Tensor::zeros({2, 3}), 1, g), "random_crop: images should be [B,C,H,W], got [2,3]");
}

TEST(random_hflip_by_hand) {
    // two images of 2 channels x 1 row x 3
    Tensor x({2, 2, 1, 3}, {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12});
    Generator g(3), copy(3);
    const bool flip0 = copy.uniform() < 0.5f, flip1 = copy.uniform() < 0.5f;
    std::vector<float> want = flip0 ? std::vector<float>{3, 2, 1, 6, 5, 4} : std::vector<float>{1, 2, 3, 4, 5, 6};
    const std::vector<float> second = flip1 ? std::vector<float>{9, 8, 7, 12, 11, 10} : std::vector<float>{7, 8, 9, 10, 11, 12};
    want.insert(want.end(), second.begin(), second.end());
    CHECK_EQ(random_hflip(x, g).to_vector(), want);
    // about half of 1000 images flipped
    Tensor many = Tensor::arange(2).reshape({1, 1, 1, 2}) * Tensor::ones({1000, 1, 1, 1});
    const std::vector<float> flipped = random_hflip(many, g).to_vector();
    int64_t n = 0;
    for (int64_t i = 0; i < 1000; i++) n += flipped[2 * i] == 1;
    CHECK(n > 450 && n < 550);
    CHECK_THROWS(random_hflip(Tensor::zeros({3}), g), "random_hflip: images should be [B,C,H,W]");
}
