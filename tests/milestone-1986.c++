// Milestone 1986: XOR and TinyDigits pass their gates (MNIST is left to
// `./tt milestone 1986`: minutes, not a unit test).
// Graded with Lesson 08: the first milestone that trains by backprop, with
// the loop, the schedule and the optimizers of lessons 03-08.
#include "test.h"
#include "../lessons/lessons.h"

GRADED_WITH_LESSON(8);

TEST(milestone_1986_xor_and_tinydigits_gates) {
    lessons::Options quick;
    quick.json = true;
    quick.quick = true;
    const std::vector<lessons::Result> r = lessons::milestone_1986(quick);
    CHECK_EQ(r.size(), 3);
    CHECK(r[0].pass && r[0].metrics[0].first == "accuracy" && r[0].metrics[0].second == 1.0);
    CHECK(r[1].pass && r[1].metrics[0].first == "test_accuracy" && r[1].metrics[0].second >= 0.90);
    CHECK(r[2].skipped && !r[2].pass);
    CHECK(lessons::to_json(r[1]).find("\"milestone\": \"1986\"") != std::string::npos);
}
