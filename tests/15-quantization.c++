// Lesson 15 · Quantization: quantize/dequantize within scale/2, the int8
// gemm against its integer reference on ragged shapes with every tile this
// CPU has (bit for bit, on every architecture), the overflow bound tested at
// its edge, quantized layers against float ones within the rounding bound,
// calibration, the file, the tracker's count, and the errors.
#include <cmath>
#include <cstdio>
#include <fstream>

#include "test.h"

using namespace tt;

namespace {
Tensor rnd(const Shape& s, uint64_t seed, float low = -1, float high = 1) {
    Generator g(seed);
    return Tensor::rand(s, g) * (high - low) + low;
}
std::vector<int8_t> random_int8(int64_t n, uint64_t seed) {
    Generator g(seed);
    std::vector<int8_t> v((size_t)n);
    for (int8_t& x : v) x = (int8_t)(int)(g.next_u32() >> 24); // the whole range, -128 included
    return v;
}
// gemm_int8 (or one tile) and the reference on A [M,K] (rows lda apart) and
// B [N,K]; C has two extra columns that must stay untouched.
bool int8_agrees(int64_t M, int64_t N, int64_t K, const Int8Tile* tile = nullptr) {
    const int64_t lda = K + 3, ldb = K + 1, ldc = N + 2;
    const std::vector<int8_t> A = random_int8(M * lda, 10 + M), B = random_int8(N * ldb, 20 + N);
    std::vector<int32_t> naive((size_t)(M * ldc), 7), fast((size_t)(M * ldc), 7);
    gemm_int8_naive(M, N, K, A.data(), lda, B.data(), ldb, naive.data(), ldc);
    if (tile) gemm_int8_with(*tile, M, N, K, A.data(), lda, B.data(), ldb, fast.data(), ldc);
    else gemm_int8(M, N, K, A.data(), lda, B.data(), ldb, fast.data(), ldc);
    return fast == naive;
}
// FNV-1a of the bytes of int32 values, written little-endian.
uint64_t fnv(const std::vector<int32_t>& v) {
    uint64_t h = 1469598103934665603ull;
    for (int32_t x : v)
        for (int k = 0; k < 4; k++) h = (h ^ (uint8_t)((uint32_t)x >> (8 * k))) * 1099511628211ull;
    return h;
}
Sequential small_mlp(uint64_t seed) {
    Generator g(seed);
    return Sequential{Linear(12, 9, true, Init::Kaiming, g), ReLU(), Linear(9, 4, true, Init::Kaiming, g)};
}
Sequential small_cnn(uint64_t seed) {
    Generator g(seed);
    return Sequential{Conv2d(2, 3, 3, 1, 1, true, g), ReLU(), MaxPool2d(2), Flatten(), Linear(12, 5, true, Init::Kaiming, g)};
}
std::string temp_path(const char* name) { return std::string(".build/test-15-") + name; }
void write_file(const std::string& path, const std::string& header, size_t data_bytes) {
    std::ofstream f(path, std::ios::binary);
    unsigned char length[8];
    for (int k = 0; k < 8; k++) length[k] = (unsigned char)((uint64_t)header.size() >> (8 * k));
    f.write((const char*)length, 8);
    f << header << std::string(data_bytes, '\0');
}
} // namespace

TEST(quantize_dequantize_round_trip_within_half_a_scale) {
    const Tensor x = rnd({7, 13}, 1, -3, 3);
    float max_abs = 0;
    for (float v : x.to_vector()) max_abs = std::max(max_abs, std::fabs(v));
    const float s = symmetric_scale(max_abs);
    CHECK_NEAR(s, max_abs / 127, 1e-9);
    const QTensor q = quantize_per_tensor(x, s);
    CHECK_EQ(q.shape, x.shape());
    const std::vector<float> back = dequantize(q).to_vector(), want = x.to_vector();
    for (size_t i = 0; i < want.size(); i++) CHECK(std::fabs(back[i] - want[i]) <= s / 2 * 1.0001f);
    // the largest value maps to 127 exactly; outside the range, clipped
    const QTensor clipped = quantize_per_tensor(Tensor({3}, {10.0f, -10.0f, 0.26f}), 0.05f);
    CHECK_EQ((int)clipped.data()[0], 127);
    CHECK_EQ((int)clipped.data()[1], -127);
    CHECK_EQ((int)clipped.data()[2], 5);
}

TEST(per_channel_scales_follow_each_row) {
    // rows of very different sizes: each gets its own scale, so the small row keeps its precision
    Tensor w = rnd({3, 2, 5}, 2);
    for (int64_t k = 0; k < 10; k++) w.data()[k] *= 100.0f, w.data()[20 + k] *= 0.01f;
    const QTensor q = quantize_per_channel(w);
    CHECK_EQ(q.scale.numel(), (int64_t)3);
    CHECK(q.per_channel());
    const std::vector<float> back = dequantize(q).to_vector(), want = w.to_vector();
    for (int64_t o = 0; o < 3; o++) {
        float max_abs = 0;
        for (int64_t k = 0; k < 10; k++) max_abs = std::max(max_abs, std::fabs(want[o * 10 + k]));
        CHECK_NEAR(q.scale.data()[o], max_abs / 127, 1e-6 * max_abs);
        for (int64_t k = 0; k < 10; k++) CHECK(std::fabs(back[o * 10 + k] - want[o * 10 + k]) <= q.scale.data()[o] / 2 * 1.0001f);
    }
    // an all-zero row (a pruned neuron) gets scale 1 and zeros
    const QTensor zero = quantize_per_channel(Tensor::zeros({2, 3}));
    CHECK_VALUES(zero.scale, 0, {1, 1});
    CHECK_VALUES(dequantize(zero), 0, {0, 0, 0, 0, 0, 0});
}

TEST_GIVEN(int8_storage_is_one_byte_per_element_under_quantized) {
    const MemoryCounts before = memory_counts(Category::Quantized);
    {
        const QTensor q = new_qtensor({100, 30}, 100);
        CHECK_EQ(memory_counts(Category::Quantized).live_bytes - before.live_bytes, (int64_t)(3000 + 100 * 4));
        CHECK_EQ(std::string(category_name(Category::Quantized)), std::string("quantized"));
    }
    CHECK_EQ(memory_counts(Category::Quantized).live_bytes, before.live_bytes);
    CHECK_THROWS(new_qtensor({4, 3}, 3), "new_qtensor: 3 scales");
}

TEST_GIVEN(quantize_refuses_bad_scales_and_values) {
    CHECK_THROWS(quantize_per_tensor(Tensor({2}, {1, 2}), 0.0f), "quantize_per_tensor: the scale must be positive");
    CHECK_THROWS(quantize_per_tensor(Tensor({2}, {1, std::nanf("")}), 1.0f), "quantize_per_tensor: the input holds NaN");
    CHECK_THROWS(quantize_per_channel(Tensor::zeros({0, 3})), "quantize_per_channel: expects a weight [O, ...]");
    CHECK_THROWS(quantize_per_channel(Tensor()), "quantize_per_channel");
    CHECK_THROWS(dequantize(QTensor()), "dequantize: the QTensor is empty");
    CHECK_THROWS(symmetric_scale(-1.0f), "symmetric_scale");
}

TEST(gemm_int8_matches_the_integer_reference_on_ragged_shapes) {
    const int64_t shapes[][3] = {{1, 1, 1},   {2, 3, 5},    {7, 11, 13},  {5, 5, 33},  {4, 5, 64},    {13, 37, 19},
                                 {65, 3, 31}, {3, 257, 17}, {64, 10, 784}, {33, 17, 600}, {9, 300, 1100}, {129, 130, 40}};
    for (const Int8Tile& tile : gemm_int8_tiles())
        for (const auto& s : shapes) {
            if (!int8_agrees(s[0], s[1], s[2], &tile))
                std::printf("  tile %s disagrees on %lldx%lldx%lld\n", tile.isa.c_str(), (long long)s[0], (long long)s[1],
                            (long long)s[2]);
            CHECK(int8_agrees(s[0], s[1], s[2], &tile));
        }
    CHECK(int8_agrees(300, 300, 300)); // large enough for the threads
}

TEST(gemm_int8_is_bit_for_bit_the_same_everywhere) {
    // Integer sums: every build on every architecture must give these exact bytes.
    const int64_t M = 23, N = 29, K = 531;
    const std::vector<int8_t> A = random_int8(M * K, 5), B = random_int8(N * K, 6);
    std::vector<int32_t> C((size_t)(M * N));
    gemm_int8(M, N, K, A.data(), K, B.data(), K, C.data(), N);
    CHECK_EQ(fnv(C), (uint64_t)16822277859010923521ull);
}

TEST(gemm_int8_does_not_overflow_at_its_largest_k) {
    // every product (-128)*(-128) = 2^14, K of them: 2^14 * 131071 = 2^31 - 2^14 < 2^31
    const int64_t K = kInt8MaxK;
    const std::vector<int8_t> A((size_t)K, -128), B((size_t)(2 * K), -128);
    std::vector<int32_t> C(2);
    gemm_int8(1, 2, K, A.data(), K, B.data(), K, C.data(), 2);
    CHECK_EQ((int64_t)C[0], (int64_t)16384 * K);
    CHECK_EQ((int64_t)C[1], (int64_t)16384 * K);
    CHECK_THROWS(gemm_int8(1, 2, K + 1, A.data(), K + 1, B.data(), K + 1, C.data(), 2), "gemm_int8: K = 131072 is over");
    CHECK_THROWS(gemm_int8(1, 2, 4, A.data(), 3, B.data(), 4, C.data(), 2), "gemm_int8: leading sizes");
    CHECK_THROWS(gemm_int8(-1, 2, 4, A.data(), 4, B.data(), 4, C.data(), 2), "gemm_int8: negative size");
    CHECK_THROWS(gemm_int8_with(Int8Tile{"z80", 1, 1}, 1, 1, 1, A.data(), 1, B.data(), 1, C.data(), 1), "no int8 tile 'z80'");
}

TEST(quantized_linear_is_within_the_rounding_bound) {
    Generator g(3);
    Linear layer(40, 7, true, Init::Kaiming, g);
    const Tensor x = rnd({5, 40}, 4, -2, 2);
    const QuantizedLinear q(layer);
    const Tensor y = QuantizedLinear(layer).forward(x), want = linear(x, layer.weight, layer.bias);
    CHECK_EQ(y.shape(), (Shape{5, 7}));
    // |error| <= sum_k (sx/2 |w| + sw/2 |x| + sx sw / 4)
    float max_x = 0;
    for (float v : x.to_vector()) max_x = std::max(max_x, std::fabs(v));
    const float sx = max_x / 127;
    for (int64_t i = 0; i < 5; i++)
        for (int64_t o = 0; o < 7; o++) {
            const float sw = q.weight.scale.data()[o];
            double bound = 0;
            for (int64_t k = 0; k < 40; k++)
                bound += sx / 2 * std::fabs(layer.weight.at({o, k})) + sw / 2 * std::fabs(x.at({i, k})) + sx * sw / 4;
            CHECK(std::fabs(y.at({i, o}) - want.at({i, o})) <= bound * 1.001 + 1e-6);
        }
    CHECK_THROWS(QuantizedLinear(layer).forward(Tensor::zeros({2, 39})), "QuantizedLinear(40, 7): expects an input [..., 40]");
    CHECK_THROWS(QuantizedLinear(layer, -1.0f), "QuantizedLinear(40, 7): the input scale");
}

TEST(quantized_conv2d_is_close_to_conv2d) {
    Generator g(5);
    for (const int64_t stride : {1, 2})
        for (const int64_t padding : {0, 1}) {
            Conv2d layer(3, 4, 3, stride, padding, true, g);
            const Tensor x = rnd({2, 3, 7, 6}, 6 + stride + padding);
            const Tensor y = QuantizedConv2d(layer).forward(x), want = conv2d(x, layer.weight, layer.bias, stride, padding);
            CHECK_EQ(y.shape(), want.shape());
            const std::vector<float> a = y.to_vector(), b = want.to_vector();
            double worst = 0, largest = 0;
            for (size_t i = 0; i < a.size(); i++) worst = std::max(worst, (double)std::fabs(a[i] - b[i])), largest = std::max(largest, (double)std::fabs(b[i]));
            CHECK(worst <= 0.02 * largest + 1e-6); // 27 products, each off by ~1/127 of its size at worst
        }
    Conv2d layer(3, 4, 3, 1, 0, true, g);
    CHECK_THROWS(QuantizedConv2d(layer).forward(Tensor::zeros({1, 2, 5, 5})), "QuantizedConv2d(3, 4, kernel_size=3): expects 3 input channels");
    CHECK_THROWS(QuantizedConv2d(layer).forward(Tensor::zeros({1, 3, 5})), "QuantizedConv2d(3, 4, kernel_size=3): expects a 4-d input");
}

TEST(quantize_a_model_with_calibration) {
    Sequential model = small_cnn(7);
    auto data = std::make_shared<TensorDataset>(rnd({40, 2, 4, 4}, 8), Tensor::zeros({40}));
    DataLoader calibration(data, 10);
    const Tensor x = rnd({6, 2, 4, 4}, 9);
    NoGrad no_grad;
    model.eval();
    const Tensor want = model(x);
    for (const Calibration method : {Calibration::Dynamic, Calibration::MinMax, Calibration::Percentile}) {
        auto q = quantize(model, &calibration, method);
        CHECK_EQ(q->layers.size(), model.layers.size());
        CHECK(dynamic_cast<QuantizedConv2d*>(q->layers[0].get()) != nullptr);
        CHECK(dynamic_cast<QuantizedLinear*>(q->layers[4].get()) != nullptr);
        CHECK(q->layers[1] == model.layers[1]); // ReLU shared
        const auto* conv = dynamic_cast<QuantizedConv2d*>(q->layers[0].get());
        if (method == Calibration::Dynamic) CHECK_EQ(conv->input_scale, 0.0f);
        if (method == Calibration::MinMax) {
            float max_abs = 0;
            for (int64_t b = 0; b < 4; b++)
                for (float v : calibration.batch(b).x.to_vector()) max_abs = std::max(max_abs, std::fabs(v));
            CHECK_NEAR(conv->input_scale, max_abs / 127, 1e-7);
        }
        if (method == Calibration::Percentile) CHECK(conv->input_scale > 0);
        const std::vector<float> a = (*q)(x).to_vector(), b = want.to_vector();
        double worst = 0, largest = 0;
        for (size_t i = 0; i < a.size(); i++)
            worst = std::max(worst, (double)std::fabs(a[i] - b[i])), largest = std::max(largest, (double)std::fabs(b[i]));
        if (worst > 0.05 * largest) std::printf("  %s: worst %g of %g\n", calibration_name(method), worst, largest);
        CHECK(worst <= 0.05 * largest);
    }
    // no float copy of the weights: quantizing adds nothing under Parameters; the
    // quantized weights are one byte each plus a float scale per output channel
    const int64_t parameters = memory_counts(Category::Parameters).live_bytes;
    auto q = quantize(model);
    CHECK_EQ(memory_counts(Category::Parameters).live_bytes, parameters);
    CHECK_EQ(weight_bytes(*q), (int64_t)(3 * 2 * 3 * 3 + 5 * 12 + 4 * (3 + 5)));
    CHECK_EQ(weight_bytes(model), (int64_t)(4 * (3 * 2 * 3 * 3 + 5 * 12)));
}

TEST_GIVEN(quantize_refuses_what_it_cannot_quantize) {
    Sequential none{ReLU(), Flatten()};
    CHECK_THROWS(quantize(none), "quantize: the model has no Linear or Conv2d layer");
    Sequential with_bn{Conv2d(1, 2, 3), BatchNorm2d(2)};
    CHECK_THROWS(quantize(with_bn), "quantize: layer 1, BatchNorm2d");
    Sequential mlp = small_mlp(1);
    CHECK_THROWS(quantize(mlp, nullptr, Calibration::MinMax), "quantize: min-max calibration needs a calibration loader");
    auto* first = dynamic_cast<Linear*>(mlp.layers[0].get());
    first->weight.data()[3] = std::nanf("");
    CHECK_THROWS(quantize(mlp), "quantize: the input holds NaN");
}

TEST(save_and_load_a_quantized_model) {
    Sequential model = small_cnn(11);
    auto q = quantize(model), fresh = quantize(*std::make_shared<Sequential>(small_cnn(12)));
    dynamic_cast<QuantizedLinear*>(q->layers[4].get())->input_scale = 0.25f;
    const std::string path = temp_path("model.safetensors");
    save_quantized(path, *q);
    load_quantized(path, *fresh);
    const Tensor x = rnd({3, 2, 4, 4}, 13);
    CHECK_EQ((*fresh)(x).to_vector(), (*q)(x).to_vector());
    CHECK_EQ(dynamic_cast<QuantizedLinear*>(fresh->layers[4].get())->input_scale, 0.25f);
    // the file is Lesson 08's format: its reader sees I8 and F32 entries
    const SafeTensors file = load_safetensors(path);
    CHECK_EQ(file.dtypes[0], std::string("I8"));
    CHECK_EQ(file.tensors[0].first, std::string("0.weight"));
    CHECK_THROWS(load_checkpoint(path, model), "is I8, a quantized model's");
    // a different architecture, a float model, a wrong dtype, an unsupported one
    auto other = quantize(*std::make_shared<Sequential>(small_mlp(1)));
    CHECK_THROWS(load_quantized(path, *other), "load_quantized: '" + path + "': tensor '0.weight' has shape [3,2,3,3]");
    CHECK_THROWS(load_quantized(path, model), "load_quantized: layer 0, Conv2d(2, 3");
    CHECK_THROWS(save_quantized(path, model), "save_quantized: layer 0");
    const std::string bad = temp_path("bad.safetensors");
    write_file(bad, R"({"0.weight":{"dtype":"F32","shape":[9,12],"data_offsets":[0,432]}})", 432);
    CHECK_THROWS(load_quantized(bad, *other), "tensor '0.weight' is F32, expected I8");
    write_file(bad, R"({"0.weight":{"dtype":"F16","shape":[9,12],"data_offsets":[0,216]}})", 216);
    CHECK_THROWS(load_quantized(bad, *other), "tensor '0.weight' is F16, expected I8");
    write_file(bad, R"({"0.weight":{"dtype":"I8","shape":[9,12],"data_offsets":[0,100]}})", 120);
    CHECK_THROWS(load_quantized(bad, *other), "needs 108");
    std::remove(path.c_str());
    std::remove(bad.c_str());
}
