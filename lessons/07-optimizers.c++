// Lesson 07 · Optimizers — the demo behind `./tt lesson 7`: what each
// optimizer's state costs, measured by the tracker, and how fast each one
// brings a loss down.
#include <cstdio>
#include <memory>

#include "lessons.h"

using namespace tt;

namespace lessons {

namespace {
Sequential mlp(Generator& g) {
    return Sequential{Linear(784, 128, true, Init::Kaiming, g), ReLU(), Linear(128, 64, true, Init::Kaiming, g), ReLU(),
                      Linear(64, 10, true, Init::Kaiming, g)};
}
std::unique_ptr<Optimizer> make_optimizer(int which, const std::vector<Tensor>& params) {
    if (which == 0) return std::make_unique<SGD>(params, 0.05f);
    if (which == 1) return std::make_unique<SGD>(params, 0.05f, 0.9f);
    return std::make_unique<Adam>(params, 1e-3f);
}
const char* optimizer_label(int which) { return which == 0 ? "SGD" : which == 1 ? "SGD+momentum" : "Adam"; }
} // namespace

Json lesson_07(const Options& options) {
    Json measured;
    std::printf("Training memory of the MLP 784-128-64-10 with each optimizer, as the tracker\n"
                "measures it after one step (batch 64); multiples are of the parameter bytes:\n\n");
    std::printf("  %-13s %11s %11s %11s %11s %16s\n", "optimizer", "parameters", "gradients", "opt. state", "total",
                "total / SGD total");
    int64_t sgd_total = 0, params = 0, adam_state = 0, adam_total = 0;
    std::vector<Json> memory, losses;
    for (int which = 0; which < 3; which++) {
        const int64_t p0 = memory_counts(Category::Parameters).live_bytes;
        const int64_t g0 = memory_counts(Category::Gradients).live_bytes;
        const int64_t s0 = memory_counts(Category::OptimizerState).live_bytes;
        Generator g(7);
        Sequential model = mlp(g);
        std::unique_ptr<Optimizer> opt = make_optimizer(which, model.parameters());
        Tensor x = Tensor::randn({64, 784}, g), y = Tensor::zeros({64});
        Tensor loss = cross_entropy(model(x), y);
        loss.backward();
        opt->step();
        params = memory_counts(Category::Parameters).live_bytes - p0;
        const int64_t grads = memory_counts(Category::Gradients).live_bytes - g0;
        const int64_t state = memory_counts(Category::OptimizerState).live_bytes - s0;
        const int64_t total = params + grads + state;
        if (which == 0) sgd_total = total;
        if (which == 2) adam_state = state, adam_total = total;
        std::printf("  %-13s %11s %11s %11s %11s %9.2fx (%.2fx params)\n", optimizer_label(which), bytes_str(params).c_str(),
                    bytes_str(grads).c_str(), bytes_str(state).c_str(), bytes_str(total).c_str(),
                    (double)total / (double)sgd_total, (double)total / (double)params);
        memory.push_back(Json().text("optimizer", optimizer_label(which)).number("parameter_bytes", (double)params)
                             .number("gradient_bytes", (double)grads).number("state_bytes", (double)state)
                             .number("total_bytes", (double)total));
    }
    measured.objects("memory", memory).number("adam_total_vs_sgd_total", (double)adam_total / (double)sgd_total);
    std::printf("\n  The course says Adam needs 3x the memory of SGD. Measured: Adam's parameters plus\n"
                "  state are %.2fx the parameters (p, m, v), but counting the gradients both need,\n"
                "  Adam's total is %.2fx SGD's (p, g, m, v against p, g). Adam's step counts add\n"
                "  4 bytes per parameter tensor; activations are not counted here (Lesson 06).\n\n",
                (double)(params + adam_state) / (double)params, (double)adam_total / (double)sgd_total);

    // The same model and data for each: a fixed random batch the MLP must memorise.
    const int steps = options.quick ? 20 : 100;
    std::printf("Loss on one fixed batch of 64 random inputs with random labels, %d steps:\n\n", steps);
    const std::string middle_step = "step " + std::to_string(steps / 5 + 1);
    std::printf("  %-13s %10s %10s %10s %12s\n", "optimizer", "step 1", middle_step.c_str(), "last", "ms/step");
    for (int which = 0; which < 3; which++) {
        Generator g(7);
        Sequential model = mlp(g);
        std::unique_ptr<Optimizer> opt = make_optimizer(which, model.parameters());
        Tensor x = Tensor::randn({64, 784}, g), y = Tensor::zeros({64});
        for (int64_t i = 0; i < 64; i++) y.data()[i] = (float)g.randint(10);
        float first = 0, middle = 0, last = 0;
        const double start = now_seconds();
        for (int s = 0; s < steps; s++) {
            Tensor loss = cross_entropy(model(x), y);
            opt->zero_grad();
            loss.backward();
            opt->step();
            last = loss.item();
            if (s == 0) first = last;
            if (s == steps / 5) middle = last;
        }
        std::printf("  %-13s %10.4f %10.4f %10.4f %12.2f\n", optimizer_label(which), first, middle, last,
                    1000 * seconds_since(start) / steps);
        losses.push_back(Json().text("optimizer", optimizer_label(which)).number("first_loss", first)
                             .number("last_loss", last).number("ms_per_step", 1000 * seconds_since(start) / steps));
    }
    measured.number("steps", steps).objects("fixed_batch", losses);
    return measured;
}

} // namespace lessons
