// Lesson 09 · Convolutions: values by hand, the loop nest and im2col agree,
// a gradient check for every layer over strides, paddings, odd sizes and
// batch 1, the shape errors, and the im2col buffer counted under Scratch.
#include "test.h"

using namespace tt;
using Inputs = std::vector<Tensor>;

namespace {
// Distinct values at least 0.05 apart, so that a gradient check's small
// nudge never changes which element of a pooling window is the largest.
Tensor distinct(const Shape& s, uint64_t seed) {
    Generator g(seed);
    Tensor t = Tensor::zeros(s);
    std::vector<float> v(t.numel());
    for (size_t i = 0; i < v.size(); i++) v[i] = 0.05f * (float)i - 1.0f;
    for (size_t i = v.size(); i > 1; i--) std::swap(v[i - 1], v[g.randint((int64_t)i)]);
    std::copy(v.begin(), v.end(), t.data());
    return t;
}
struct Case {
    Shape x, w;
    int64_t stride, padding;
};
// batch 1 and 2; odd and even sizes; strides 1-3; paddings 0-2; square and
// oblong kernels; a kernel as large as the padded input
const Case cases[] = {
    {{1, 1, 5, 5}, {2, 1, 3, 3}, 1, 0}, {{2, 3, 6, 5}, {4, 3, 3, 3}, 1, 1}, {{2, 2, 7, 7}, {3, 2, 3, 3}, 2, 1},
    {{1, 3, 5, 6}, {2, 3, 2, 3}, 2, 0},  {{2, 1, 4, 4}, {2, 1, 3, 3}, 3, 2}, {{1, 2, 3, 3}, {1, 2, 5, 5}, 1, 1},
    {{2, 2, 5, 5}, {3, 2, 1, 1}, 1, 0},
    // more images than one chunk (8): three chunks, the last one short
    {{19, 2, 6, 6}, {3, 2, 3, 3}, 1, 1}, {{17, 3, 9, 8}, {5, 3, 3, 2}, 2, 0},
};
} // namespace

TEST(conv2d_values_by_hand) {
    // x = 1..9 as a 3x3 image, one 2x2 filter [[1,0],[0,-1]]: y = x[i,j] - x[i+1,j+1]
    Tensor x({1, 1, 3, 3}, {1, 2, 3, 4, 5, 6, 7, 8, 9});
    Tensor w({1, 1, 2, 2}, {1, 0, 0, -1});
    CHECK_VALUES(conv2d(x, w), 0, {-4, -4, -4, -4});
    CHECK_VALUES(conv2d(x, w, Tensor({1}, {10})), 0, {6, 6, 6, 6});
    // padding 1, stride 2: outputs at the corners of the padded 5x5 picture
    CHECK_VALUES(conv2d(x, w, Tensor(), 2, 1), 0, {-1, -3, -7, -4});
    CHECK_EQ(conv2d(Tensor::zeros({2, 3, 28, 28}), Tensor::zeros({6, 3, 5, 5}), Tensor(), 1, 2).shape(), (Shape{2, 6, 28, 28}));
    CHECK_EQ(conv2d(Tensor::zeros({1, 1, 32, 32}), Tensor::zeros({1, 1, 5, 5}), Tensor(), 3, 0).shape(), (Shape{1, 1, 10, 10}));
}

TEST(conv2d_naive_and_im2col_agree) {
    uint64_t seed = 1;
    for (const Case& c : cases) {
        const Tensor x0 = test::rnd(c.x, seed++), w0 = test::rnd(c.w, seed++), b0 = test::rnd({c.w[0]}, seed++);
        Tensor x1 = x0.clone().requires_grad_(), w1 = w0.clone().requires_grad_(), b1 = b0.clone().requires_grad_();
        Tensor x2 = x0.clone().requires_grad_(), w2 = w0.clone().requires_grad_(), b2 = b0.clone().requires_grad_();
        // one backward at a time: backward() clears the whole tape
        Tensor y1 = conv2d_naive(x1, w1, b1, c.stride, c.padding);
        const Tensor seed_grad = test::rnd(y1.shape(), seed++);
        y1.backward(seed_grad);
        Tensor y2 = conv2d(x2, w2, b2, c.stride, c.padding);
        CHECK_EQ(y1.shape(), y2.shape());
        CHECK_VALUES(y2, 1e-5, y1.to_vector());
        y2.backward(seed_grad);
        CHECK_VALUES(x2.grad(), 1e-5, x1.grad().to_vector());
        CHECK_VALUES(w2.grad(), 1e-4, w1.grad().to_vector());
        CHECK_VALUES(b2.grad(), 1e-4, b1.grad().to_vector());
    }
}

TEST(grad_conv2d) {
    uint64_t seed = 100;
    for (const Case& c : cases) {
        const int64_t stride = c.stride, padding = c.padding;
        Inputs in{test::rnd(c.x, seed++), test::rnd(c.w, seed++), test::rnd({c.w[0]}, seed++)};
        CHECK_GRAD([=](const Inputs& v) { return conv2d(v[0], v[1], v[2], stride, padding); }, in, 1e-2);
        CHECK_GRAD([=](const Inputs& v) { return conv2d(v[0], v[1], Tensor(), stride, padding); }, Inputs(in.begin(), in.begin() + 2), 1e-2);
    }
    Inputs in{test::rnd({1, 2, 4, 5}, 7), test::rnd({3, 2, 3, 2}, 8), test::rnd({3}, 9)};
    CHECK_GRAD([](const Inputs& v) { return conv2d_naive(v[0], v[1], v[2], 2, 1); }, in, 1e-2);
}

TEST(max_pool2d_routes_to_the_argmax) {
    Tensor x({1, 1, 4, 4}, {1, 5, 2, 0, 3, 4, 8, 1, 0, 0, 1, 2, 9, 0, 3, 7});
    x.requires_grad_();
    Tensor y = max_pool2d(x, 2);
    CHECK_VALUES(y, 0, {5, 8, 9, 7});
    y.backward(Tensor({1, 1, 2, 2}, {10, 20, 30, 40}));
    CHECK_VALUES(x.grad(), 0, {0, 10, 0, 0, 0, 0, 20, 0, 0, 0, 0, 0, 30, 0, 0, 40});
    // overlapping windows (kernel 3, stride 1): a shared maximum collects from every window
    CHECK_VALUES(max_pool2d(x.detach(), 3, 1), 0, {8, 8, 9, 8});
    CHECK_VALUES(avg_pool2d(x.detach(), 2), 0, {13 / 4.f, 11 / 4.f, 9 / 4.f, 13 / 4.f});
}

TEST(grad_pools) {
    struct Pool { Shape x; int64_t kernel, stride; };
    const Pool pools[] = {{{1, 1, 4, 4}, 2, 0}, {{2, 3, 5, 5}, 2, 0}, {{2, 2, 7, 6}, 3, 2}, {{1, 2, 5, 5}, 3, 1}, {{1, 1, 3, 3}, 3, 0}};
    uint64_t seed = 200;
    for (const Pool& p : pools) {
        const int64_t k = p.kernel, s = p.stride;
        CHECK_GRAD([=](const Inputs& v) { return max_pool2d(v[0], k, s); }, Inputs{distinct(p.x, seed++)}, 1e-2);
        CHECK_GRAD([=](const Inputs& v) { return avg_pool2d(v[0], k, s); }, Inputs{test::rnd(p.x, seed++)}, 1e-2);
    }
}

TEST(batch_norm2d_statistics) {
    BatchNorm2d bn(2, 0.5f);
    // channel 0 holds 1..8, channel 1 is constant 3, over a batch of 2
    Tensor x({2, 2, 2, 2}, {1, 2, 3, 4, 3, 3, 3, 3, 5, 6, 7, 8, 3, 3, 3, 3});
    Tensor y = bn(x);
    // channel 0: mean 4.5, biased var 5.25 -> (x - 4.5)/sqrt(5.25 + 1e-5); channel 1 -> 0
    const float s = 1.0f / std::sqrt(5.25f + 1e-5f);
    CHECK_NEAR(y.at({0, 0, 0, 0}), -3.5f * s, 1e-5);
    CHECK_NEAR(y.at({1, 0, 1, 1}), 3.5f * s, 1e-5);
    CHECK_NEAR(y.at({1, 1, 0, 1}), 0, 1e-6);
    // running = 0.5*running + 0.5*batch, with the unbiased var (5.25 * 8/7 = 6)
    CHECK_VALUES(bn.running_mean, 1e-6, {2.25f, 1.5f});
    CHECK_VALUES(bn.running_var, 1e-5, {0.5f + 3.0f, 0.5f});
    bn.eval();
    const Tensor z = bn(x);
    CHECK_NEAR(z.at({0, 0, 0, 0}), (1 - 2.25f) / std::sqrt(3.5f + 1e-5f), 1e-5);
    CHECK_VALUES(bn.running_mean, 1e-6, {2.25f, 1.5f}); // eval leaves them alone
    CHECK_EQ(bn.num_parameters(), 4);
    CHECK(bn.named_parameters().size() == 4 && bn.named_parameters()[3].first == "running_var");
    CHECK_EQ(BatchNorm2d(3, 0.1f, 1e-5f, false).num_parameters(), 0);
}

TEST(grad_batch_norm2d) {
    const Shape shapes[] = {{2, 3, 3, 3}, {1, 2, 5, 3}, {4, 1, 1, 1}};
    uint64_t seed = 300;
    for (const Shape& s : shapes) {
        const int64_t C = s[1];
        Tensor rm = Tensor::zeros({C}), rv = Tensor::ones({C});
        Inputs in{test::rnd(s, seed++), test::rnd({C}, seed++) + 1.5f, test::rnd({C}, seed++)};
        CHECK_GRAD([=](const Inputs& v) { return batch_norm2d(v[0], rm, rv, v[1], v[2], true); }, in, 1e-2);
        CHECK_GRAD([=](const Inputs& v) { return batch_norm2d(v[0], rm, rv, Tensor(), Tensor(), true); }, Inputs{in[0]}, 1e-2);
        Tensor rv_eval = test::rnd({C}, seed++) + 2.0f;
        CHECK_GRAD([=](const Inputs& v) { return batch_norm2d(v[0], rm, rv_eval, v[1], v[2], false); }, in, 1e-2);
    }
}

TEST(conv_modules) {
    Generator g(9);
    Conv2d conv(3, 8, 5, 1, 2, true, g);
    CHECK_EQ(conv.num_parameters(), 8 * 3 * 5 * 5 + 8);
    CHECK_EQ(conv.name(), "Conv2d(3, 8, kernel_size=5, padding=2)");
    CHECK_EQ(Conv2d(1, 2, 3, 2, 0, false).name(), "Conv2d(1, 2, kernel_size=3, stride=2, bias=false)");
    for (float w : conv.weight.to_vector()) CHECK(std::fabs(w) <= std::sqrt(6.0f / 75));
    Sequential net{Conv2d(1, 4, 3, 1, 1), BatchNorm2d(4), ReLU(), MaxPool2d(2), Conv2d(4, 6, 3), AvgPool2d(2), Flatten(), Linear(6, 3)};
    Tensor x = test::rnd({2, 1, 8, 8}, 10).requires_grad_();
    Tensor y = net(x);                    // 8x8 -> 8x8 -> 4x4 -> 2x2 -> 1x1
    CHECK_EQ(y.shape(), (Shape{2, 3}));
    sum(y).backward();
    for (Tensor& p : net.parameters()) CHECK(p.grad().defined());
    CHECK(x.grad().defined());
    CHECK_EQ(MaxPool2d(2).name(), "MaxPool2d(kernel_size=2)");
    CHECK_EQ(AvgPool2d(3, 1).name(), "AvgPool2d(kernel_size=3, stride=1)");
    CHECK_EQ(Flatten()(Tensor::zeros({5, 2, 3, 4})).shape(), (Shape{5, 24}));
    CHECK_THROWS(Conv2d(0, 4, 3), "Conv2d: channels, kernel_size and stride must be positive");
    CHECK_THROWS(MaxPool2d(0), "MaxPool2d(kernel_size=0): kernel_size must be positive");
    CHECK_THROWS(BatchNorm2d(4, 2.0f), "BatchNorm2d: needs channels > 0, momentum in [0,1]");
}

TEST_GIVEN(conv_shape_errors_name_the_layer) {
    Conv2d conv(3, 8, 5);
    CHECK_THROWS(conv(Tensor::zeros({2, 1, 28, 28})),
                 "Conv2d(3, 8, kernel_size=5): input [2,1,28,28] has 1 channels but weight [8,3,5,5] expects 3");
    CHECK_THROWS(conv(Tensor::zeros({2, 3, 4, 9})),
                 "Conv2d(3, 8, kernel_size=5): kernel 5x5 is larger than the padded input 4x9 (input [2,3,4,9], padding 0)");
    CHECK_THROWS(conv(Tensor::zeros({3, 28, 28})), "Conv2d(3, 8, kernel_size=5): expects a 4-d input [B,C,H,W], got [3,28,28]");
    CHECK_THROWS(conv2d(Tensor::zeros({1, 1, 3, 3}), Tensor::zeros({1, 1, 3})), "conv2d: weight must be [O,C,kh,kw], got [1,1,3]");
    CHECK_THROWS(conv2d(Tensor::zeros({1, 1, 3, 3}), Tensor::zeros({2, 1, 3, 3}), Tensor::zeros({3})), "conv2d: bias [3] should be [2]");
    CHECK_THROWS(conv2d(Tensor::zeros({1, 1, 3, 3}), Tensor::zeros({2, 1, 3, 3}), Tensor(), 0), "conv2d: kernel 3x3, stride 0, padding 0");
    CHECK_THROWS(conv2d_naive(Tensor::zeros({1, 2, 3, 3}), Tensor::zeros({1, 1, 3, 3})), "conv2d_naive: input [1,2,3,3] has 2 channels");
    CHECK_THROWS(MaxPool2d(3)(Tensor::zeros({1, 1, 2, 5})), "MaxPool2d(kernel_size=3): kernel 3x3 is larger than the padded input 2x5");
    CHECK_THROWS(AvgPool2d(2)(Tensor::zeros({4, 4})), "AvgPool2d(kernel_size=2): expects a 4-d input [B,C,H,W], got [4,4]");
    CHECK_THROWS(max_pool2d(Tensor::zeros({1, 1, 4}), 2), "max_pool2d: expects a 4-d input");
    BatchNorm2d bn(4);
    CHECK_THROWS(bn(Tensor::zeros({2, 3, 5, 5})), "BatchNorm2d(4, momentum=0.1, eps=1e-05): input [2,3,5,5] has 3 channels but a per-channel tensor is [4]");
    CHECK_THROWS(bn(Tensor::zeros({1, 4, 1, 1})), "needs more than one value per channel");
    CHECK_THROWS(bn(Tensor::zeros({4, 4})), "BatchNorm2d(4, momentum=0.1, eps=1e-05): expects a 4-d input");
}

TEST(im2col_buffer_is_scratch_and_released) {
    // x [2,3,10,10], W [4,3,3,3], padding 1: one chunk of images, with the
    // columns of one image [3*3*3, 10*10] and its frame [3, 12, 12]
    Tensor x = test::rnd({2, 3, 10, 10}, 11), w = test::rnd({4, 3, 3, 3}, 12);
    const int64_t before = memory_counts(Category::Scratch).live_bytes;
    reset_peak();
    Tensor y = conv2d(x, w, Tensor(), 1, 1);
    const int64_t columns = 27 * 100 * 4, frame = 3 * 12 * 12 * 4;
    CHECK_EQ(memory_counts(Category::Scratch).peak_bytes - before, columns + frame);
    CHECK_EQ(memory_counts(Category::Scratch).live_bytes, before);
    // 20 images: three chunks, each with its own columns and frame
    reset_peak();
    conv2d(test::rnd({20, 3, 10, 10}, 13), w, Tensor(), 1, 1);
    CHECK_EQ(memory_counts(Category::Scratch).peak_bytes - before, 3 * (columns + frame));
}

TEST(conv2d_does_not_depend_on_the_thread_count) {
    // 20 images in three chunks: dW and db are sums over the images, added
    // chunk by chunk in the same order whatever the number of threads
    const Tensor x0 = test::rnd({20, 3, 9, 9}, 21), w0 = test::rnd({4, 3, 3, 3}, 22), b0 = test::rnd({4}, 23), seed_grad = test::rnd({20, 4, 9, 9}, 24);
    auto run = [&](int threads) {
        set_num_threads(threads);
        Tensor x = x0.clone().requires_grad_(), w = w0.clone().requires_grad_(), b = b0.clone().requires_grad_();
        Tensor y = conv2d(x, w, b, 1, 1);
        y.backward(seed_grad);
        return std::vector<std::vector<float>>{y.to_vector(), x.grad().to_vector(), w.grad().to_vector(), b.grad().to_vector()};
    };
    const int before = get_num_threads();
    const auto one = run(1), two = run(2), three = run(3);
    set_num_threads(before);
    CHECK(one == two && one == three);
}

// BatchNorm2d's counter, as PyTorch keeps it: num_batches_tracked counts the
// forward passes in train mode, and a state_dict carries it as an I64 scalar.
TEST_GIVEN(batch_norm_state_dict_keeps_num_batches_tracked) {
    test::TempDir dir;
    Generator g(3);
    Sequential source{Conv2d(1, 2, 3, 1, 1, true, g), BatchNorm2d(2), ReLU()}, target{Conv2d(1, 2, 3, 1, 1, true, g), BatchNorm2d(2), ReLU()};
    const Tensor x = test::rnd({4, 1, 5, 5}, 4);
    for (int k = 0; k < 3; k++) source(x);
    source.eval();
    source(x); // eval: not counted
    auto& bn = dynamic_cast<BatchNorm2d&>(*source.layers[1]);
    CHECK_EQ(bn.num_batches_tracked, (int64_t)3);
    CHECK(source.named_counters().size() == 1 && source.named_counters()[0].first == "1.num_batches_tracked");
    save_state_dict(source, dir / "bn");
    const SafeTensors file = load_safetensors(dir / "bn");
    CHECK(file.tensors.back().first == "1.num_batches_tracked" && file.dtypes.back() == "I64" && file.tensors.back().second.item() == 3.0f);
    LoadReport r = load_state_dict(target, dir / "bn");
    CHECK(r.loaded == 7 && r.notes.empty());
    CHECK_EQ(dynamic_cast<BatchNorm2d&>(*target.layers[1]).num_batches_tracked, (int64_t)3);
    target.eval();
    CHECK_EQ(target(x).to_vector(), source(x).to_vector()); // the running statistics came too
    // a file without the counter (tt's checkpoints, older PyTorch ones): kept, and said
    save_checkpoint(dir / "ckpt", source);
    dynamic_cast<BatchNorm2d&>(*target.layers[1]).num_batches_tracked = 9;
    r = load_state_dict(target, dir / "ckpt");
    CHECK(r.notes.back() == "'1.num_batches_tracked' is not in the file: kept at 9");
    // a counter of the wrong dtype or shape
    NamedTensors state = source.named_parameters();
    state.push_back({"1.num_batches_tracked", Tensor::scalar(3)});
    save_safetensors(dir / "f32", state);
    CHECK_THROWS(load_state_dict(target, dir / "f32"), "'1.num_batches_tracked' is F32 but the model's '1.num_batches_tracked' is a counter (I64 or I32)");
    state.back().second = Tensor({1}, {3});
    std::vector<std::string> dtypes(state.size(), "F32");
    dtypes.back() = "I64";
    save_safetensors(dir / "shape", state, {}, dtypes);
    CHECK_THROWS(load_state_dict(target, dir / "shape"), "size mismatch for '1.num_batches_tracked': the file's is [1], the model's counter is a scalar []");
}
