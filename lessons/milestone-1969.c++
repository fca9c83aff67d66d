// Milestone 1969 · XOR. Minsky and Papert showed that a single-layer
// perceptron cannot compute XOR: no straight line puts (0,1) and (1,0) on one
// side and (0,0) and (1,1) on the other. The same perceptron and rule as
// 1958, run for many epochs, never gets more than 3 of the 4 points right.
#include <algorithm>
#include <cstdio>

#include "lessons.h"

using namespace tt;

namespace lessons {

namespace {
std::string bit(float v) { return std::to_string((int)v); } // the points and outputs are 0 or 1

Result xor_part(const Options& options) {
    const Tensor x({4, 2}, {0, 0, 0, 1, 1, 0, 1, 1});
    const Tensor y({4}, {0, 1, 1, 0});
    Generator g(1969);
    Perceptron p(2, g);
    float best = 0;
    const int epochs = 1000;
    for (int e = 0; e < epochs; e++) {
        p.learn(x, y, 0.1f);
        best = std::max(best, accuracy(p.forward(x), y));
    }
    if (!options.json)
        std::printf("  %d epochs of Rosenblatt's rule on the 4 XOR points\n  best accuracy ever reached: %.0f%% (3 of 4 at most)\n",
                    epochs, 100 * best);
    Result r;
    r.milestone = "1969";
    r.part = "XOR with one perceptron";
    r.dataset = "the four XOR points";
    r.model = "perceptron 2-1, step output, Rosenblatt's rule";
    r.params = 3;
    r.metrics = {{"best_accuracy", best}, {"epochs", epochs}};
    r.gate = "best_accuracy <= 0.75 (the limit Minsky & Papert proved)";
    r.pass = best <= 0.75f;
    r.note = "fix: a hidden layer trained by backpropagation — milestone 1986";
    const std::vector<float> out = p.forward(x).to_vector();
    Table points{"The four points after the last epoch", {"x1", "x2", "target", "perceptron"}, {}};
    for (int64_t i = 0; i < 4; i++)
        points.rows.push_back({bit(x.at({i, 0})), bit(x.at({i, 1})), bit(y.at({i})), bit(out[(size_t)i])});
    r.tables = {points};
    r.figures = {{"XOR: no line puts the red points on one side and the blue on the other",
                  decision_svg("XOR after 1000 epochs: the perceptron's last line", x, y, p.weight.at({0, 0}),
                               p.weight.at({1, 0}), p.bias)}};
    return r;
}
} // namespace

std::vector<Result> milestone_1969(const Options& options) {
    return {timed_part([&] { return xor_part(options); })};
}

} // namespace lessons
