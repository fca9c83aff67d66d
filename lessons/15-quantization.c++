// Lesson 15 · Quantization — the demo behind `./tt lesson 15`: the rounding
// error against its bound, what an outlier does to a per-tensor scale, the
// int8 gemm's speed against the float one, and the 1986 MLP and 1998 LeNet
// trained on MNIST, then quantized: accuracy, size, speed, the file.
#include <cmath>
#include <cstdio>
#include <filesystem>

#include "lessons.h"

using namespace tt;

namespace lessons {

namespace {
float max_abs_of(const Tensor& t) {
    float m = 0;
    for (float v : t.to_vector()) m = std::max(m, std::fabs(v));
    return m;
}
// Mean |w - dequantize(quantize(w))| over the tensor, and the largest.
std::pair<double, double> rounding_error(const Tensor& w, const QTensor& q) {
    const std::vector<float> a = w.to_vector(), b = dequantize(q).to_vector();
    double total = 0, worst = 0;
    for (size_t i = 0; i < a.size(); i++) total += std::fabs(a[i] - b[i]), worst = std::max(worst, (double)std::fabs(a[i] - b[i]));
    return {total / (double)a.size(), worst};
}

// C = A @ B^T timed both ways at M x N x K on the pool's current threads:
// the float gemm (Lesson 17) and the int8 one. Returns GFLOP/s (2 ops per multiply-add).
std::pair<double, double> gemm_rates(int64_t M, int64_t N, int64_t K, int repeats) {
    Generator g(15);
    std::vector<float> A((size_t)(M * K)), B((size_t)(N * K)), C((size_t)(M * N));
    std::vector<int8_t> qa((size_t)(M * K)), qb((size_t)(N * K));
    std::vector<int32_t> qc((size_t)(M * N));
    for (size_t i = 0; i < A.size(); i++) A[i] = g.uniform(-1, 1), qa[i] = (int8_t)(A[i] * 127);
    for (size_t i = 0; i < B.size(); i++) B[i] = g.uniform(-1, 1), qb[i] = (int8_t)(B[i] * 127);
    const double ops = 2.0 * (double)M * (double)N * (double)K;
    // B^T read in place through its strides, as linear() does
    const double f = time_best(repeats, [&] { gemm(M, N, K, A.data(), K, 1, B.data(), 1, K, C.data(), N, false); });
    const double q = time_best(repeats, [&] { gemm_int8(M, N, K, qa.data(), K, qb.data(), K, qc.data(), N); });
    return {ops / f / 1e9, ops / q / 1e9};
}

float test_accuracy(Module& model, DataLoader& test) { return evaluate(model, test, cross_entropy).accuracy; }

// The same quantized model with every weight quantized per tensor (one scale
// for the whole matrix) instead of per output channel.
void make_per_tensor(Sequential& q) {
    for (auto& layer : q.layers) {
        QTensor* w = nullptr;
        if (auto* l = dynamic_cast<QuantizedLinear*>(layer.get())) w = &l->weight;
        if (auto* c = dynamic_cast<QuantizedConv2d*>(layer.get())) w = &c->weight;
        if (!w) continue;
        const Tensor real = dequantize(*w);
        *w = quantize_per_tensor(real, symmetric_scale(max_abs_of(real)));
    }
}

struct ModelReport {
    Json json;
    double drop_points = 0, size_ratio = 0;
};

ModelReport quantize_and_measure(const char* label, Sequential& model, DataLoader& calibration, DataLoader& test,
                                 const Tensor& sample, const Options& options) {
    ModelReport report;
    const float float_acc = test_accuracy(model, test);
    std::printf("   %s: float test accuracy %.2f%%\n", label, 100 * float_acc);
    std::printf("     %-26s %9s %8s\n", "quantized (weights per channel)", "accuracy", "drop");
    std::vector<Json> methods;
    double dynamic_drop = 0;
    for (const Calibration method : {Calibration::Dynamic, Calibration::MinMax, Calibration::Percentile}) {
        auto q = quantize(model, &calibration, method, 4);
        const float acc = test_accuracy(*q, test);
        const double drop = 100.0 * (float_acc - acc);
        if (method == Calibration::Dynamic) dynamic_drop = drop;
        std::printf("     inputs %-19s %8.2f%% %7.2f\n", calibration_name(method), 100 * acc, drop);
        methods.push_back(Json().text("calibration", calibration_name(method)).number("accuracy", acc).number("drop_points", drop));
    }
    auto per_tensor = quantize(model);
    make_per_tensor(*per_tensor);
    const float per_tensor_acc = test_accuracy(*per_tensor, test);
    std::printf("     weights per tensor, dynamic %6.2f%% %7.2f\n", 100 * per_tensor_acc, 100.0 * (float_acc - per_tensor_acc));

    // Sizes: the weights by weight_bytes, the whole model as the tracker counts it.
    const int64_t before = memory_counts(Category::Quantized).live_bytes;
    auto q = quantize(model);
    const int64_t quantized_bytes = memory_counts(Category::Quantized).live_bytes - before;
    int64_t float_bytes = 0;
    for (const Tensor& p : model.parameters()) float_bytes += p.numel() * 4;
    const int64_t fw = weight_bytes(model), qw = weight_bytes(*q);
    report.size_ratio = (double)fw / (double)qw;
    std::printf("     weights %s -> %s (%.2fx smaller); the whole model with biases %s -> %s (%.2fx)\n", bytes_str(fw).c_str(),
                bytes_str(qw).c_str(), report.size_ratio, bytes_str(float_bytes).c_str(), bytes_str(quantized_bytes).c_str(),
                (double)float_bytes / (double)quantized_bytes);

    // A picture: the first Linear's weights, float and int8 (dequantized),
    // on 255 bins over the float range: the int8 values sit on each channel's
    // grid of multiples of its scale.
    std::string slug = label; // "MLP 784-..." -> "mlp"
    slug = slug.substr(0, slug.find_first_of(" -"));
    for (char& c : slug) c = (char)std::tolower((unsigned char)c);
    std::string histogram;
    for (size_t i = 0; i < model.layers.size() && i < q->layers.size() && histogram.empty(); i++) {
        const auto* fl = dynamic_cast<Linear*>(model.layers[i].get());
        const auto* ql = dynamic_cast<QuantizedLinear*>(q->layers[i].get());
        if (!fl || !ql) continue;
        const std::vector<float> before_q = fl->weight.to_vector(), after_q = dequantize(ql->weight).to_vector();
        float biggest = 0;
        for (float v : before_q) biggest = std::max(biggest, std::fabs(v));
        histogram = output_path("tt-lesson-15-" + slug + "-weights.svg");
        write_histogram_svg(histogram, std::string(label) + ": layer " + std::to_string(i) + "'s weights, float32 and int8",
                            {{"float32", "#1f77b4", before_q}, {"int8 per channel, dequantized", "#d62728", after_q}}, -biggest,
                            biggest, 255);
        std::printf("     histogram of layer %zu's weights, float32 and int8: %s\n", i, histogram.c_str());
    }

    // Inference speed on one batch of test images, one thread and all.
    std::vector<Json> speeds;
    for (const int threads : {1, get_num_threads()}) {
        const int before_threads = get_num_threads();
        set_num_threads(threads);
        NoGrad no_grad;
        const int repeats = options.quick ? 2 : 5;
        const double tf = time_best(repeats, [&] { model(sample); }), tq = time_best(repeats, [&] { (*q)(sample); });
        set_num_threads(before_threads);
        const double n = (double)sample.size(0);
        std::printf("     inference, %d thread%s: float %8.0f images/s, int8 %8.0f images/s (%.2fx)\n", threads,
                    threads > 1 ? "s" : " ", n / tf, n / tq, tf / tq);
        speeds.push_back(Json().number("threads", threads).number("float_images_per_s", n / tf).number("int8_images_per_s", n / tq));
        if (threads == get_num_threads() && threads == 1) break;
    }

    // The file: I8 weights and F32 scales, read back into a fresh copy.
    std::filesystem::create_directories(".build");
    const std::string path = ".build/lesson-15-" + slug + ".safetensors";
    save_quantized(path, *q);
    auto reloaded = quantize(model);
    load_quantized(path, *reloaded);
    const float reloaded_acc = test_accuracy(*reloaded, test);
    const int64_t file_bytes = (int64_t)std::filesystem::file_size(path);
    std::printf("     saved to %s: %s; read back, accuracy %.2f%%\n\n", path.c_str(), bytes_str(file_bytes).c_str(), 100 * reloaded_acc);

    report.drop_points = dynamic_drop;
    report.json = Json()
                      .text("model", label)
                      .number("float_accuracy", float_acc)
                      .objects("calibrations", methods)
                      .number("per_tensor_accuracy", per_tensor_acc)
                      .number("weight_bytes_float", (double)fw)
                      .number("weight_bytes_int8", (double)qw)
                      .number("size_ratio", report.size_ratio)
                      .number("model_bytes_float", (double)float_bytes)
                      .number("model_bytes_quantized", (double)quantized_bytes)
                      .objects("inference", speeds)
                      .number("file_bytes", (double)file_bytes)
                      .number("reloaded_accuracy", reloaded_acc)
                      .text("weights_histogram", histogram);
    return report;
}

} // namespace

Json lesson_15(const Options& options) {
    Json measured;
    // 1. Rounding: per tensor vs per channel, and one outlier.
    Generator g(15);
    Tensor w = Tensor::randn({256, 784}, g) * 0.05f;
    const QTensor per_channel = quantize_per_channel(w), per_tensor = quantize_per_tensor(w, symmetric_scale(max_abs_of(w)));
    const auto [pc_mean, pc_worst] = rounding_error(w, per_channel);
    const auto [pt_mean, pt_worst] = rounding_error(w, per_tensor);
    w.data()[5] = 20 * max_abs_of(w); // one weight 20x the largest
    const QTensor outlier_channel = quantize_per_channel(w), outlier_tensor = quantize_per_tensor(w, symmetric_scale(max_abs_of(w)));
    const auto [oc_mean, oc_worst] = rounding_error(w, outlier_channel);
    const auto [ot_mean, ot_worst] = rounding_error(w, outlier_tensor);
    std::printf("1. Rounding a [256,784] weight of N(0, 0.05^2) to int8 (bound: scale/2 per value):\n");
    std::printf("   %-34s %12s %12s %12s\n", "", "mean |error|", "max |error|", "scale/2");
    std::printf("   %-34s %12.2e %12.2e %12.2e\n", "per tensor", pt_mean, pt_worst, per_tensor.scale.item() / 2);
    std::printf("   %-34s %12.2e %12.2e %12s\n", "per channel", pc_mean, pc_worst, "per row");
    std::printf("   %-34s %12.2e %12.2e %12.2e\n", "per tensor, one outlier 20x", ot_mean, ot_worst, outlier_tensor.scale.item() / 2);
    std::printf("   %-34s %12.2e %12.2e %12s\n", "per channel, one outlier 20x", oc_mean, oc_worst, "per row");
    std::printf("   The outlier stretches a per-tensor scale 20x, and every weight's error with it;\n"
                "   per channel only its own row pays.\n");
    // The product: a quantized Linear against the float one, and the bound
    // sum_k (sx/2 |w| + sw/2 |x| + sx sw/4) of each output.
    Generator qg(151);
    Linear layer(784, 256, true, Init::Kaiming, qg);
    const Tensor x = Tensor::randn({64, 784}, qg);
    const QuantizedLinear qlayer(layer);
    Tensor yq, yf;
    {
        NoGrad no_grad;
        yq = QuantizedLinear(layer).forward(x), yf = linear(x, layer.weight, layer.bias);
    }
    const float sx = symmetric_scale(max_abs_of(x));
    double worst_ratio = 0, mean_error = 0, mean_bound = 0;
    for (int64_t i = 0; i < 64; i++)
        for (int64_t o = 0; o < 256; o++) {
            const float sw = qlayer.weight.scale.data()[o];
            double bound = 0;
            for (int64_t k = 0; k < 784; k++)
                bound += sx / 2 * std::fabs(layer.weight.data()[o * 784 + k]) + sw / 2 * std::fabs(x.data()[i * 784 + k]) + sx * sw / 4;
            const double error = std::fabs(yq.data()[i * 256 + o] - yf.data()[i * 256 + o]);
            worst_ratio = std::max(worst_ratio, error / bound);
            mean_error += error / (64 * 256), mean_bound += bound / (64 * 256);
        }
    std::printf("   A quantized Linear(784, 256) on x [64,784] of N(0,1): mean |y - y_float| %.2e; the\n"
                "   worst-case bound sum_k (sx/2 |w| + sw/2 |x| + sx sw/4) averages %.2e, and the largest\n"
                "   error is %.1f%% of its own bound: the errors of the 784 terms have random signs.\n\n",
                mean_error, mean_bound, 100 * worst_ratio);
    measured.object("rounding", Json()
                                    .number("per_tensor_mean_error", pt_mean)
                                    .number("per_channel_mean_error", pc_mean)
                                    .number("per_tensor_outlier_mean_error", ot_mean)
                                    .number("per_channel_outlier_mean_error", oc_mean)
                                    .number("linear_mean_error", mean_error)
                                    .number("linear_mean_bound", mean_bound)
                                    .number("linear_worst_error_over_bound", worst_ratio));

    // 2. The int8 gemm against the float one.
    const int before_threads = get_num_threads();
    set_num_threads(1);
    std::printf("2. C = A @ B^T, one thread: float gemm (tile %s) vs int8 gemm (tile %s %lldx%lld)\n", gemm_tile().isa.c_str(),
                gemm_int8_tiles()[0].isa.c_str(), (long long)gemm_int8_tiles()[0].mr, (long long)gemm_int8_tiles()[0].nr);
    std::printf("   %-28s %12s %12s %8s\n", "M x N x K", "float GFLOP/s", "int8 GOP/s", "speed-up");
    struct Shape3 { const char* what; int64_t M, N, K; };
    const int64_t n = options.quick ? 128 : 512;
    const Shape3 shapes[] = {{"square", n, n, n},
                             {"MLP layer 1, batch 256", 256, 256, 784},
                             {"MLP layer 2, batch 256", 256, 128, 256},
                             {"LeNet conv2 (one image)", 16, 100, 150},
                             {"LeNet fc1, batch 256", 256, 120, 400}};
    std::vector<Json> rates;
    double speedup = 0;
    for (const Shape3& s : shapes) {
        const auto [f, q] = gemm_rates(s.M, s.N, s.K, options.quick ? 3 : 9);
        if (&s == &shapes[0]) speedup = q / f;
        const std::string dims = std::to_string(s.M) + " x " + std::to_string(s.N) + " x " + std::to_string(s.K);
        std::printf("   %-24s %-16s %9.1f %12.1f %7.2fx\n", s.what, dims.c_str(), f, q, q / f);
        rates.push_back(Json().text("shape", s.what).number("M", (double)s.M).number("N", (double)s.N).number("K", (double)s.K)
                            .number("float_gflops", f).number("int8_gops", q).number("speedup", q / f));
    }
    set_num_threads(before_threads);
    std::printf("\n");
    measured.number("n", (double)n).number("int8_speedup", speedup).objects("gemm", rates);

    // 3. MNIST: train the 1986 MLP and the 1998 LeNet briefly, quantize them.
    ImageSet train_set, test_set;
    std::string why_not;
    if (!load_mnist(options, train_set, test_set, why_not)) {
        std::printf("3. MNIST skipped (%s)\n", why_not.c_str());
        measured.boolean("mnist", false);
        return measured;
    }
    std::printf("3. MNIST (60000 train / 10000 test); each model trained briefly with Adam, then quantized.\n"
                "   Calibration: 4 batches of 128 training images.\n");
    Generator tg(1986);
    auto flat_train = mnist_dataset(train_set, true), flat_test = mnist_dataset(test_set, true);
    DataLoader mlp_train(flat_train, 128, true, false, tg), mlp_calibration(flat_train, 128), mlp_test(flat_test, 1000);
    Sequential mlp{Linear(784, 256, true, Init::Kaiming, tg), ReLU(), Linear(256, 128, true, Init::Kaiming, tg), ReLU(),
                   Linear(128, 10, true, Init::Kaiming, tg)};
    train_adam(mlp, mlp_train, 2, 2e-3f, 0.25, nullptr, "train", !options.json);
    const Tensor mlp_sample = mlp_test.batch(0).x.slice(0, 0, 256);
    const ModelReport mlp_report = quantize_and_measure("MLP 784-256-128-10", mlp, mlp_calibration, mlp_test, mlp_sample, options);

    auto image_train = mnist_dataset(train_set, false), image_test = mnist_dataset(test_set, false);
    Generator lg(1998);
    DataLoader lenet_train(image_train, 64, true, false, lg), lenet_calibration(image_train, 128), lenet_test(image_test, 500);
    Sequential lenet{Conv2d(1, 6, 5, 1, 2, true, lg), ReLU(), MaxPool2d(2), Conv2d(6, 16, 5, 1, 0, true, lg), ReLU(),
                     MaxPool2d(2), Flatten(), Linear(400, 120, true, Init::Kaiming, lg), ReLU(),
                     Linear(120, 84, true, Init::Kaiming, lg), ReLU(), Linear(84, 10, true, Init::Kaiming, lg)};
    train_adam(lenet, lenet_train, 1, 3e-3f, 0.25, nullptr, "train", !options.json);
    const Tensor lenet_sample = lenet_test.batch(0).x.slice(0, 0, 256);
    const ModelReport lenet_report = quantize_and_measure("LeNet-5", lenet, lenet_calibration, lenet_test, lenet_sample, options);

    const double drop = std::max(mlp_report.drop_points, lenet_report.drop_points);
    const double ratio = std::min(mlp_report.size_ratio, lenet_report.size_ratio);
    std::printf("Gates: accuracy_drop_points %.2f (<= 1.0: %s), size_ratio %.2f (>= 3.9: %s); int8_speedup %.2fx at n=%lld\n",
                drop, drop <= 1.0 ? "pass" : "FAIL", ratio, ratio >= 3.9 ? "pass" : "FAIL", speedup, (long long)n);
    measured.boolean("mnist", true)
        .objects("models", {mlp_report.json, lenet_report.json})
        .number("accuracy_drop_points", drop)
        .number("size_ratio", ratio)
        .boolean("pass", drop <= 1.0 && ratio >= 3.9);
    return measured;
}

} // namespace lessons
