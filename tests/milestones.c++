// Milestones 1958 and 1969: the perceptron's forward is the formula, the
// gates hold.
#include "test.h"
#include "../lessons/lessons.h"

using namespace tt;

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
    CHECK(p.learn(Tensor({1, 2}, {2, 3}), Tensor({1}, {1}), 0.5f) == 1);
    CHECK_VALUES(p.weight, 0, {1, 1.5f});
    CHECK_NEAR(p.bias, 0.5, 0);
}

TEST(milestone_1958_and_1969_gates) {
    lessons::Options quiet;
    quiet.json = true;
    auto r58 = lessons::milestone_1958(quiet);
    CHECK(r58.size() == 1 && r58[0].pass);
    CHECK(r58[0].metrics[0].second >= 0.98);
    auto r69 = lessons::milestone_1969(quiet);
    CHECK(r69.size() == 1 && r69[0].pass);
    CHECK(r69[0].metrics[0].second <= 0.75);
    const std::string json = lessons::to_json(r58[0]);
    CHECK(json.find("\"milestone\": \"1958\"") != std::string::npos && json.find("\"pass\": true") != std::string::npos);
}

// --json: what a lesson measured is one JSON object; whole numbers print
// exactly (byte counts past 2^31), fractions to 6 digits, NaN as null.
TEST(json_objects_print_as_one_line) {
    lessons::Json inner;
    inner.number("batch", 64).text("op", "re\"lu\n");
    lessons::Json j;
    j.number("bytes", 5368709120.0).number("ratio", 1.0 / 3).number("nan", std::nan("")).boolean("ok", true)
        .object("inner", inner).numbers("xs", {1, 2.5}).objects("rows", {inner, inner});
    CHECK(j.str() == "{\"bytes\": 5368709120, \"ratio\": 0.333333, \"nan\": null, \"ok\": true, "
                     "\"inner\": {\"batch\": 64, \"op\": \"re\\\"lu\\n\"}, \"xs\": [1, 2.5], "
                     "\"rows\": [{\"batch\": 64, \"op\": \"re\\\"lu\\n\"}, {\"batch\": 64, \"op\": \"re\\\"lu\\n\"}]}");
}
