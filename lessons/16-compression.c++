// Lesson 16 · Compression — the demo behind `./tt lesson 16`: the 1986 MLP
// trained on MNIST, then pruned (unstructured, with masks and fine-tuning;
// CSR against the dense kernel at rising sparsity), pruned by whole neurons,
// factorised by SVD; and a small MLP distilled from the 1998 LeNet-5: size,
// speed and accuracy of each, measured here.
#include <cmath>
#include <cstdio>
#include <filesystem>

#include "lessons.h"

using namespace tt;

namespace lessons {

namespace {
float accuracy_of(Module& model, DataLoader& test) { return evaluate(model, test, cross_entropy).accuracy; }

double seconds_per_batch(Module& model, const Tensor& x, int repeats) {
    NoGrad no_grad;
    return time_best(repeats, [&] { model(x); });
}

Sequential make_mlp(Generator& g) {
    return Sequential{Linear(784, 256, true, Init::Kaiming, g), ReLU(), Linear(256, 128, true, Init::Kaiming, g), ReLU(),
                      Linear(128, 10, true, Init::Kaiming, g)};
}
} // namespace

Json lesson_16(const Options& options) {
    Json measured;
    // 1. CSR against the dense kernel, alone: where does skipping zeros pay?
    {
        const int before = get_num_threads();
        set_num_threads(1);
        Generator g(16);
        const Tensor x = Tensor::randn({256, 784}, g);
        std::printf("1. y = x @ W^T, x [256,784], W [256,784] with its smallest weights zeroed; one thread:\n");
        std::printf("   %9s %12s %12s %10s %14s\n", "sparsity", "dense ms", "CSR ms", "CSR/dense", "CSR bytes/dense");
        std::vector<Json> rows;
        double crossover = -1;
        for (const float sparsity : {0.5f, 0.7f, 0.8f, 0.9f, 0.95f, 0.98f}) {
            Generator wg(17);
            Sequential one{Linear(784, 256, true, Init::Kaiming, wg)};
            magnitude_prune(one, sparsity);
            const auto* layer = dynamic_cast<Linear*>(one.layers[0].get());
            const CsrMatrix csr = to_csr(layer->weight);
            NoGrad no_grad;
            const int repeats = options.quick ? 3 : 15;
            const double dense = time_best(repeats, [&] { linear(x, layer->weight, layer->bias); });
            const double sparse = time_best(repeats, [&] { sparse_linear(x, csr, layer->bias); });
            const double size = (double)csr.bytes() / (double)(layer->weight.numel() * 4);
            if (crossover < 0 && sparse < dense) crossover = sparsity;
            std::printf("   %8.0f%% %12.3f %12.3f %9.2fx %14.2f\n", 100 * sparsity, 1e3 * dense, 1e3 * sparse, sparse / dense, size);
            rows.push_back(Json().number("sparsity", sparsity).number("dense_ms", 1e3 * dense).number("csr_ms", 1e3 * sparse)
                               .number("csr_bytes_ratio", size));
        }
        set_num_threads(before);
        if (crossover > 0) std::printf("   CSR beats the dense kernel here from %.0f%% zeros on.\n\n", 100 * crossover);
        else std::printf("   CSR never beats the dense kernel here up to 98%% zeros.\n\n");
        measured.objects("csr", rows).number("csr_beats_dense_at_sparsity", crossover);
    }

    ImageSet train_set, test_set;
    std::string why_not;
    if (!load_mnist(options, train_set, test_set, why_not)) {
        std::printf("2-5. MNIST skipped (%s)\n", why_not.c_str());
        measured.boolean("mnist", false);
        return measured;
    }
    auto train_data = mnist_dataset(train_set, true), test_data = mnist_dataset(test_set, true);
    Generator g(1986);
    DataLoader train_loader(train_data, 128, true, false, g), test_loader(test_data, 1000);
    const Tensor sample = test_loader.batch(0).x.slice(0, 0, 256);
    const int repeats = 15;

    Sequential base = make_mlp(g);
    train_adam(base, train_loader, 3, 2e-3f, 0.25);
    const float base_acc = accuracy_of(base, test_loader);
    const double base_time = seconds_per_batch(base, sample, repeats);
    std::printf("2. The 1986 MLP 784-256-128-10, 3 epochs of Adam: test accuracy %.2f%%, %lld parameters, %.3f ms per batch of 256\n\n",
                100 * base_acc, (long long)base.num_parameters(), 1e3 * base_time);

    // 3. Unstructured: prune a copy to 50%, 80%, 90% (global), fine-tune 1 epoch with the masks.
    std::printf("3. Magnitude pruning (global threshold), then 1 epoch of fine-tuning with the masks:\n");
    std::printf("   %9s %14s %14s %12s %14s\n", "sparsity", "pruned acc", "fine-tuned", "drop", "CSR bytes");
    std::vector<Json> pruned_rows;
    double drop_at_half = 0, sparsity_at_half = 0;
    for (const float sparsity : {0.5f, 0.8f, 0.9f}) {
        Generator cg(1986);
        Sequential copy = make_mlp(cg);
        const NamedTensors from = base.named_parameters(), to = copy.named_parameters();
        for (size_t i = 0; i < from.size(); i++)
            std::copy(from[i].second.data(), from[i].second.data() + from[i].second.numel(), to[i].second.data());
        const PruningMasks masks = magnitude_prune(copy, sparsity, true);
        const float pruned = accuracy_of(copy, test_loader);
        train_adam(copy, train_loader, 1, 5e-4f, 0.25, &masks);
        const float tuned = accuracy_of(copy, test_loader);
        const double measured_sparsity = measure_sparsity(copy);
        int64_t csr_bytes = 0, dense_bytes = 0;
        for (const Tensor& w : masks.weights) csr_bytes += to_csr(w).bytes(), dense_bytes += w.numel() * 4;
        std::printf("   %8.1f%% %13.2f%% %13.2f%% %12.2f %8s of %s\n", 100 * measured_sparsity, 100 * pruned, 100 * tuned,
                    100.0 * (base_acc - tuned), bytes_str(csr_bytes).c_str(), bytes_str(dense_bytes).c_str());
        if (sparsity == 0.5f) drop_at_half = 100.0 * (base_acc - tuned), sparsity_at_half = measured_sparsity;
        pruned_rows.push_back(Json().number("sparsity", measured_sparsity).number("pruned_accuracy", pruned)
                                  .number("fine_tuned_accuracy", tuned).number("csr_bytes", (double)csr_bytes)
                                  .number("dense_bytes", (double)dense_bytes));
    }
    // A picture: the first layer's weights before pruning and after 50% and
    // fine-tuning (the pruned ones at exactly 0, a gap around it).
    std::string histogram;
    {
        Generator cg(1986);
        Sequential copy = make_mlp(cg);
        const NamedTensors from = base.named_parameters(), to = copy.named_parameters();
        for (size_t i = 0; i < from.size(); i++)
            std::copy(from[i].second.data(), from[i].second.data() + from[i].second.numel(), to[i].second.data());
        const std::vector<float> before = from[0].second.to_vector();
        const PruningMasks masks = magnitude_prune(copy, 0.5f, true);
        train_adam(copy, train_loader, 1, 5e-4f, 0.25, &masks);
        float biggest = 0;
        for (float v : before) biggest = std::max(biggest, std::fabs(v));
        histogram = output_path("tt-lesson-16-pruned-weights.svg");
        write_histogram_svg(histogram, "The first layer's weights, before and after 50% magnitude pruning and fine-tuning",
                            {{"before", "#1f77b4", before}, {"pruned 50%, fine-tuned", "#d62728", to[0].second.to_vector()}},
                            -biggest, biggest, 201);
        std::printf("   histogram of the first layer's weights before and after: %s\n", histogram.c_str());
    }
    std::printf("\n");
    measured.objects("magnitude_pruning", pruned_rows).number("sparsity", sparsity_at_half).number("accuracy_drop_points", drop_at_half)
        .text("weights_histogram", histogram);

    // 4. Structured: keep half (a quarter) of the hidden neurons, fine-tune 1 epoch.
    std::printf("4. Structured pruning (hidden neurons with the largest weight rows kept), then 1 epoch of fine-tuning:\n");
    std::printf("   %6s %-22s %10s %14s %14s %12s %9s\n", "keep", "model", "params", "pruned acc", "fine-tuned", "ms/batch", "speed-up");
    std::vector<Json> structured_rows;
    for (const float keep : {0.5f, 0.25f}) {
        auto small = prune_neurons(base, keep);
        const float pruned = accuracy_of(*small, test_loader);
        train_adam(*small, train_loader, 1, 1e-3f, 0.25);
        const float tuned = accuracy_of(*small, test_loader);
        const double t = seconds_per_batch(*small, sample, repeats);
        const auto* l1 = dynamic_cast<Linear*>(small->layers[0].get());
        const auto* l2 = dynamic_cast<Linear*>(small->layers[2].get());
        const std::string shape = "784-" + std::to_string(l1->out_features) + "-" + std::to_string(l2->out_features) + "-10";
        std::printf("   %5.0f%% %-22s %10lld %13.2f%% %13.2f%% %12.3f %8.2fx\n", 100 * keep, shape.c_str(),
                    (long long)small->num_parameters(), 100 * pruned, 100 * tuned, 1e3 * t, base_time / t);
        structured_rows.push_back(Json().number("keep", keep).text("model", shape).number("params", (double)small->num_parameters())
                                      .number("pruned_accuracy", pruned).number("fine_tuned_accuracy", tuned)
                                      .number("ms_per_batch", 1e3 * t).number("speedup", base_time / t));
    }
    std::printf("\n");
    measured.objects("structured_pruning", structured_rows);

    // 5. Low rank: the first layer [256,784] through its SVD.
    auto* first = dynamic_cast<Linear*>(base.layers[0].get());
    const double svd_start = now_seconds();
    const Svd f = svd(first->weight.detach());
    const double svd_seconds = seconds_since(svd_start);
    std::printf("5. Low rank: layer 1's W [256,784] by one-sided Jacobi SVD (%.2f s); W_r = U_r S_r V_r^T\n", svd_seconds);
    std::printf("   %-12s %6s %10s %16s %18s %12s %9s\n", "energy", "rank", "params", "|W - W_r|_F^2", "sum discarded S^2",
                "accuracy", "speed-up");
    std::vector<Json> rank_rows;
    for (const float energy : {0.99f, 0.9f, 0.7f}) {
        const int64_t rank = rank_for_energy(f.S, energy);
        auto two = low_rank(*first, rank);
        const Tensor w_r = matmul(dynamic_cast<Linear*>(two->layers[1].get())->weight, dynamic_cast<Linear*>(two->layers[0].get())->weight);
        double error = 0, discarded = 0;
        for (int64_t i = 0; i < w_r.numel(); i++) error += std::pow((double)w_r.data()[i] - first->weight.data()[i], 2);
        for (int64_t k = rank; k < f.S.numel(); k++) discarded += (double)f.S.data()[k] * f.S.data()[k];
        Sequential factored;
        factored.add(two);
        for (size_t i = 1; i < base.layers.size(); i++) factored.add(base.layers[i]);
        const float acc = accuracy_of(factored, test_loader);
        const double t = seconds_per_batch(factored, sample, repeats);
        std::printf("   %10.0f%% %6lld %10lld %16.4f %18.4f %11.2f%% %8.2fx\n", 100 * energy, (long long)rank,
                    (long long)two->num_parameters(), error, discarded, 100 * acc, base_time / t);
        rank_rows.push_back(Json().number("energy", energy).number("rank", (double)rank).number("params", (double)two->num_parameters())
                                .number("reconstruction_error", error).number("discarded_energy", discarded)
                                .number("accuracy", acc).number("speedup", base_time / t));
    }
    std::printf("   (layer 1 alone has %lld parameters; the error equals the discarded energy, as Eckart-Young says)\n\n",
                (long long)first->num_parameters());
    measured.objects("low_rank", rank_rows).number("svd_seconds", svd_seconds);

    // 6. Distillation: a 784-32-10 student, alone and with the 1998 LeNet-5 as teacher.
    Generator lg(1998);
    auto image_data = mnist_dataset(train_set, false);
    DataLoader image_loader(image_data, 64, true, false, lg);
    Sequential teacher{Conv2d(1, 6, 5, 1, 2, true, lg), ReLU(), MaxPool2d(2), Conv2d(6, 16, 5, 1, 0, true, lg), ReLU(),
                       MaxPool2d(2), Flatten(), Linear(400, 120, true, Init::Kaiming, lg), ReLU(),
                       Linear(120, 84, true, Init::Kaiming, lg), ReLU(), Linear(84, 10, true, Init::Kaiming, lg)};
    train_adam(teacher, image_loader, 1, 3e-3f, 0.25);
    auto image_test = mnist_dataset(test_set, false);
    DataLoader image_test_loader(image_test, 1000);
    const float teacher_acc = accuracy_of(teacher, image_test_loader);
    // The student sees only the first 5000 training images (the teacher saw
    // all 60000): where labels are few, the soft targets carry the most.
    const int student_epochs = 8;
    const float kTemperature = 4.0f, kAlpha = 0.7f;
    const int64_t student_images = 5000;
    Generator sl(16);
    DataLoader student_loader(mnist_dataset(train_set.first(student_images), true), 128, true, false, sl);
    Generator sg(16);
    Sequential alone{Linear(784, 32, true, Init::Kaiming, sg), ReLU(), Linear(32, 10, true, Init::Kaiming, sg)};
    Generator dg(16);
    Sequential distilled{Linear(784, 32, true, Init::Kaiming, dg), ReLU(), Linear(32, 10, true, Init::Kaiming, dg)};
    train_adam(alone, student_loader, student_epochs, 2e-3f, 0.25);
    // The teacher's logits for the batch the student sees: the same images,
    // as [B,1,28,28] for the convolutions.
    Tensor current_x;
    LossFn soft = [&](const Tensor& student, const Tensor& y) {
        Tensor teacher_logits;
        {
            NoGrad no_grad;
            teacher_logits = teacher(current_x.reshape({-1, 1, 28, 28}));
        }
        return distillation_loss(student, teacher_logits, y, kTemperature, kAlpha);
    };
    {
        Adam opt(distilled.parameters(), 2e-3f);
        CosineSchedule schedule(2e-3f, student_epochs * student_loader.size(), student_loader.size() / 4, 1e-4f);
        for (int e = 0; e < student_epochs; e++)
            for (auto& batch : student_loader) {
                opt.lr = schedule(opt.steps);
                current_x = batch.x;
                Tensor l = soft(distilled(batch.x), batch.y);
                opt.zero_grad();
                l.backward();
                opt.step();
            }
        distilled.eval();
    }
    const float alone_acc = accuracy_of(alone, test_loader), distilled_acc = accuracy_of(distilled, test_loader);
    std::printf("6. Distillation: teacher LeNet-5 (%lld parameters, 1 epoch on all 60000 images: %.2f%%);\n"
                "   student MLP 784-32-10 (%lld parameters), %d epochs on the first %lld images:\n",
                (long long)teacher.num_parameters(), 100 * teacher_acc, (long long)alone.num_parameters(), student_epochs,
                (long long)student_images);
    std::printf("   trained alone %.2f%%; distilled from the teacher (T = %g, alpha = %g) %.2f%%: %+.2f points\n",
                100 * alone_acc, kTemperature, kAlpha, 100 * distilled_acc, 100.0 * (distilled_acc - alone_acc));
    measured.object("distillation", Json().number("teacher_params", (double)teacher.num_parameters())
                                          .number("teacher_accuracy", teacher_acc)
                                          .number("student_params", (double)alone.num_parameters())
                                          .number("student_images", (double)student_images)
                                          .number("alone_accuracy", alone_acc).number("distilled_accuracy", distilled_acc)
                                          .number("gain_points", 100.0 * (distilled_acc - alone_acc)));
    std::printf("\nGate: 50%% magnitude-pruned MLP, fine-tuned: sparsity %.2f, accuracy_drop_points %.2f (<= 2: %s)\n",
                sparsity_at_half, drop_at_half, drop_at_half <= 2.0 ? "pass" : "FAIL");
    measured.boolean("mnist", true).number("base_accuracy", base_acc).boolean("pass", drop_at_half <= 2.0);
    return measured;
}

} // namespace lessons
