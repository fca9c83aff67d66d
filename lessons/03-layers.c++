// Lesson 03 · Layers — the demo behind `./tt lesson 3`.
#include <cstdio>

#include "lessons.h"

using namespace tt;

namespace lessons {

Json lesson_03(const Options&) {
    Json measured;
    Sequential model{Linear(784, 128), ReLU(), Linear(128, 64), ReLU(), Linear(64, 10)};
    std::printf("%s\n", model.name().c_str());
    std::printf("parameters: %lld (%s)\n\n", (long long)model.num_parameters(), bytes_str(model.num_parameters() * 4).c_str());
    std::printf("Parameter vs activation memory of one forward pass, as the tracker measures it:\n");
    std::printf("  %6s %14s %18s %18s\n", "batch", "parameters", "activations peak", "activations/params");
    const int64_t params = memory_counts(Category::Parameters).live_bytes;
    measured.number("parameters", (double)model.num_parameters()).number("parameter_bytes", (double)params);
    std::vector<Json> rows;
    for (int64_t batch : {1, 64, 1024}) {
        Tensor x = Tensor::randn({batch, 784});
        const int64_t input = x.numel() * 4;
        reset_peak();
        const int64_t live = memory_counts(Category::Activations).live_bytes;
        {
            NoGrad inference;
            Tensor y = model(x);
        }
        const int64_t acts = memory_counts(Category::Activations).peak_bytes - live + input;
        std::printf("  %6lld %14s %18s %17.2fx\n", (long long)batch, bytes_str(params).c_str(), bytes_str(acts).c_str(),
                    (double)acts / (double)params);
        rows.push_back(Json().number("batch", (double)batch).number("activation_peak_bytes", (double)acts));
    }
    measured.objects("forward_memory", rows);
    std::printf("  (activations include the input batch; with NoGrad each layer's output is freed\n"
                "   as soon as the next layer has read it, so the peak is about two layers' outputs)\n");
    return measured;
}

} // namespace lessons
