// Milestone 1969: one perceptron on XOR never gets past 3 of the 4 points.
// Graded with Lesson 01, as 1958: the same perceptron, tensors only.
#include "test.h"
#include "../lessons/lessons.h"

GRADED_WITH_LESSON(1);

TEST(milestone_1969_gate) {
    lessons::Options quiet;
    quiet.json = true;
    auto r = lessons::milestone_1969(quiet);
    CHECK(r.size() == 1 && r[0].pass);
    CHECK(r[0].metrics[0].second <= 0.75);
}
