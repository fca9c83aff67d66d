// Milestone 1958 · Rosenblatt's perceptron, trained by his rule on two
// separable clusters. No backprop: the rule nudges the weights toward every
// misclassified point, and it provably stops making mistakes when a
// separating line exists.
#include <cstdio>

#include "lessons.h"

using namespace tt;

namespace lessons {

Perceptron::Perceptron(int64_t inputs, Generator& g) : weight(Tensor::randn({inputs, 1}, g) * 0.01f) {}

Tensor Perceptron::forward(const Tensor& x) const {
    NoGrad no_tape;
    Tensor s = matmul(x, weight) + bias; // [N,1]
    Tensor y = Tensor::zeros({x.size(0)});
    for (int64_t i = 0; i < x.size(0); i++) y.data()[i] = s.at({i, 0}) > 0 ? 1.0f : 0.0f;
    return y;
}

int64_t Perceptron::learn(const Tensor& x, const Tensor& y, float lr) {
    NoGrad no_tape;
    int64_t mistakes = 0;
    const int64_t N = x.size(0), D = x.size(1);
    for (int64_t i = 0; i < N; i++) {
        Tensor row = x.slice(0, i, i + 1);                  // [1,D]
        const float predicted = forward(row).item();
        const float error = y.at({i}) - predicted;           // -1, 0 or +1
        if (error == 0) continue;
        mistakes++;
        for (int64_t d = 0; d < D; d++) weight.set({d, 0}, weight.at({d, 0}) + lr * error * row.at({0, d}));
        bias += lr * error;
    }
    return mistakes;
}

float accuracy(const Tensor& predicted, const Tensor& target) {
    const std::vector<float> p = predicted.to_vector(), t = target.to_vector();
    if (p.size() != t.size() || p.empty()) throw Error("accuracy: " + std::to_string(p.size()) + " predictions for " + std::to_string(t.size()) + " targets");
    int64_t right = 0;
    for (size_t i = 0; i < p.size(); i++) right += p[i] == t[i];
    return (float)right / (float)p.size();
}

void two_clusters(int64_t n, uint64_t seed, Tensor& x, Tensor& y) {
    Generator g(seed);
    x = Tensor::zeros({2 * n, 2});
    y = Tensor::zeros({2 * n});
    for (int64_t i = 0; i < 2 * n; i++) {
        const float centre = i % 2 ? 2.0f : -2.0f; // alternate the classes
        x.set({i, 0}, g.normal(centre, 0.7f));
        x.set({i, 1}, g.normal(centre, 0.7f));
        y.set({i}, (float)(i % 2));
    }
}

namespace {
Result two_clusters_part(const Options& options) {
    Tensor x_train, y_train, x_test, y_test;
    two_clusters(200, 1958, x_train, y_train);
    two_clusters(100, 2958, x_test, y_test);
    Generator g(1958);
    Perceptron p(2, g);
    int epochs = 0;
    Table per_epoch{"Mistakes per epoch on the 400 training points", {"epoch", "mistakes"}, {}};
    for (; epochs < 20; epochs++) {
        const int64_t mistakes = p.learn(x_train, y_train, 0.1f);
        if (!options.json) std::printf("  epoch %2d: %3lld mistakes on 400 training points\n", epochs + 1, (long long)mistakes);
        per_epoch.rows.push_back({std::to_string(epochs + 1), std::to_string(mistakes)});
        if (mistakes == 0) break;
    }
    const float acc = accuracy(p.forward(x_test), y_test);
    if (!options.json)
        std::printf("  learned line: %.3f*x1 + %.3f*x2 + %.3f = 0\n  test accuracy: %.1f%%\n", p.weight.at({0, 0}),
                    p.weight.at({1, 0}), p.bias, 100 * acc);
    Result r;
    r.milestone = "1958";
    r.part = "Perceptron, two clusters";
    r.dataset = "two Gaussian clusters (seeded), 400 train / 200 test";
    r.model = "perceptron 2-1, step output, Rosenblatt's rule";
    r.params = 3;
    r.metrics = {{"test_accuracy", acc}, {"epochs", epochs + 1}};
    r.gate = "test_accuracy >= 0.98";
    r.pass = acc >= 0.98f;
    r.note = "a straight line separates these clusters; next, 1969: a problem no line can solve";
    r.tables = {per_epoch};
    r.figures = {{"The 200 test points and the line the perceptron learned",
                  decision_svg("Perceptron on two clusters: test points and the learned line", x_test, y_test,
                               p.weight.at({0, 0}), p.weight.at({1, 0}), p.bias)}};
    return r;
}
} // namespace

std::vector<Result> milestone_1958(const Options& options) {
    return {timed_part([&] { return two_clusters_part(options); })};
}

} // namespace lessons
