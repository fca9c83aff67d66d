// Milestone 2024: every fast kernel passes its check against the reference
// (--quick: 30 cases each), with one part per register tile this CPU runs.
#include "test.h"
#include "../lessons/lessons.h"

GRADED_WITH_LESSON(17);

TEST(milestone_2024_every_kernel_matches_its_reference) {
    lessons::Options quick;
    quick.json = true;
    quick.quick = true;
    const std::vector<lessons::Result> r = lessons::milestone_2024(quick);
    // a gemm per tile, conv, the adjoint, gelu, an int8 gemm per int8 tile (Lesson 15)
    CHECK(r.size() == tt::gemm_tiles().size() + 3 + tt::gemm_int8_tiles().size());
    for (const lessons::Result& part : r) {
        if (!part.pass) throw test::Failure("milestone 2024: " + part.part + " failed: " + part.note);
        CHECK(part.metrics[0].first == "cases" && part.metrics[0].second >= 30);
        CHECK(part.metrics[1].first == "worst_error" && part.metrics[1].second <= 1.0);
    }
}
