// Milestone 2017: a tiny transformer learns to reverse 8 digits, which it
// can only do by attending to a position (the whole milestone trains a GPT
// on Tiny Shakespeare for minutes: `./tt milestone 2017`).
// Graded with Lesson 13: it needs attention, the block and the GPT.
#include "test.h"
#include "../lessons/lessons.h"

GRADED_WITH_LESSON(13);

TEST(milestone_2017_a_tiny_transformer_reverses_digits) {
    // the milestone trains 300 steps for >= 95%; 60 already get most strings right
    CHECK(lessons::digit_task_accuracy(true, 60, 40) >= 0.9);
}
