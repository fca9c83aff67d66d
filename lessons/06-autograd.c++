// Lesson 06 · Autograd — the demo behind `./tt lesson 6`: the tape, and what
// keeping it costs in memory.
#include <cstdio>

#include "lessons.h"

using namespace tt;

namespace lessons {

Json lesson_06(const Options& options) {
    Json measured;
    std::printf("1. The tape of a tiny two-layer network, in execution order:\n");
    {
        Linear l1(3, 4), l2(4, 2);
        Tensor x = Tensor::randn({5, 3});
        Tensor loss = cross_entropy(l2(relu(l1(x))), Tensor({5}, {0, 1, 1, 0, 1}));
        std::printf("%s", tape_str().c_str());
        loss.backward();
        std::printf("   after loss.backward(): l1.weight.grad %s, tape length %zu (freed)\n\n",
                    to_string(l1.weight.grad().shape()).c_str(), tape().size());
    }

    std::printf("2. Peak memory of one step of the MLP 784-128-64-10, measured by the tracker\n");
    std::printf("   (beyond the parameters and the input batch, which both cases hold anyway):\n");
    std::printf("   %6s %16s %20s %14s %12s %7s\n", "batch", "no-grad forward", "forward + backward", "activations", "gradients", "ratio");
    Sequential model{Linear(784, 128), ReLU(), Linear(128, 64), ReLU(), Linear(64, 10)};
    std::vector<Json> rows;
    for (int64_t batch : {1, 64, 256, options.quick ? 512 : 4096}) {
        Tensor x = Tensor::randn({batch, 784});
        Tensor y = Tensor::zeros({batch});
        int64_t base = memory_counts().live_bytes;
        reset_peak();
        {
            NoGrad inference;
            Tensor logits = model(x);
        }
        const int64_t inference = memory_counts().peak_bytes - base;
        base = memory_counts().live_bytes;
        const int64_t acts_base = memory_counts(Category::Activations).live_bytes;
        const int64_t grads_base = memory_counts(Category::Gradients).live_bytes;
        reset_peak();
        {
            Tensor loss = cross_entropy(model(x), y);
            loss.backward();
            model.zero_grad();
        }
        const int64_t training = memory_counts().peak_bytes - base;
        const int64_t acts = memory_counts(Category::Activations).peak_bytes - acts_base;
        const int64_t grads = memory_counts(Category::Gradients).peak_bytes - grads_base;
        std::printf("   %6lld %16s %20s %14s %12s %6.1fx\n", (long long)batch, bytes_str(inference).c_str(),
                    bytes_str(training).c_str(), bytes_str(acts).c_str(), bytes_str(grads).c_str(),
                    (double)training / (double)inference);
        rows.push_back(Json().number("batch", (double)batch).number("inference_peak_bytes", (double)inference)
                           .number("training_peak_bytes", (double)training).number("activation_peak_bytes", (double)acts)
                           .number("gradient_peak_bytes", (double)grads));
    }
    measured.objects("step_memory", rows);
    std::printf("   (activations and gradients are each category's own peak within the step)\n");
    std::printf("   The tape keeps every layer's input alive until backward reaches it, and the\n"
                "   gradients (as large as the parameters) are allocated on top; without the tape\n"
                "   each activation is freed as soon as the next layer has read it.\n\n");

    std::printf("3. The gradient checker (central differences, double) on the linear layer:\n");
    GradCheck check = gradcheck([](const std::vector<Tensor>& v) { return relu(linear(v[0], v[1], v[2])); },
                                {Tensor::randn({4, 3}), Tensor::randn({2, 3}), Tensor::randn({2})});
    std::printf("   largest error %.2e (%s): %s\n", check.max_error, check.report.c_str(), check.ok() ? "OK" : "MISMATCH");
    measured.number("gradcheck_max_error", check.max_error);
    return measured;
}

} // namespace lessons
