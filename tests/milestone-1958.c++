// Milestone 1958: the perceptron's forward is the formula, its rule moves
// the weights toward its mistakes, and the gate holds on the two clusters.
// Graded with Lesson 01: the perceptron needs nothing but tensors (matmul,
// a slice, element access); no layer, loss or gradient.
#include "test.h"
#include "../lessons/lessons.h"

using namespace tt;

GRADED_WITH_LESSON(1);

TEST(perceptron_forward_is_the_formula) {
    Generator g(1);
    lessons::Perceptron p(2, g);
    p.weight = Tensor({2, 1}, {0.5f, -1.0f});
    p.bias = 0.25f;
    // 0.5*x1 - x2 + 0.25 > 0 ?
    Tensor x({3, 2}, {1, 0, 0, 1, 2, 1.25f});
    CHECK_VALUES(p.forward(x), 0, {1, 0, 0}); // 0.75 > 0; -0.75; 0 is not > 0
}

TEST(perceptron_rule_moves_toward_mistakes) {
    Generator g(1);
    lessons::Perceptron p(2, g);
    p.weight = Tensor({2, 1}, {0, 0});
    p.bias = 0;
    // one point of class 1 predicted 0: w += lr*x, b += lr
    CHECK_EQ(p.learn(Tensor({1, 2}, {2, 3}), Tensor({1}, {1}), 0.5f), 1);
    CHECK_VALUES(p.weight, 0, {1, 1.5f});
    CHECK_NEAR(p.bias, 0.5, 0);
}

TEST(milestone_1958_gate) {
    lessons::Options quiet;
    quiet.json = true;
    auto r = lessons::milestone_1958(quiet);
    CHECK(r.size() == 1 && r[0].pass);
    CHECK(r[0].metrics[0].second >= 0.98);
    const std::string json = lessons::to_json(r[0]);
    CHECK(json.find("\"milestone\": \"1958\"") != std::string::npos && json.find("\"pass\": true") != std::string::npos);
}
