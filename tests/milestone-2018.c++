// Milestone 2018: the --quick run (TinyDigits in place of MNIST, a small
// untrained GPT) passes its gates: int8 within a point and ~3.8x smaller
// (the 64-input rows' scales cap it below MNIST's 3.9), 50% pruned within
// two, pruning's zeros kept through int8, the KV cache's logits those of
// recomputation; every speed-up comes with an interval around it. Graded
// with Lesson 19: it needs the benchmarking harness (and lessons 15-18).
#include "test.h"
#include "../lessons/lessons.h"

GRADED_WITH_LESSON(19);

namespace {
double metric(const lessons::Result& r, const std::string& key) {
    for (auto& [k, v] : r.metrics)
        if (k == key) return v;
    throw tt::Error("no metric " + key + " in " + r.part);
}
} // namespace

TEST(milestone_2018_quick_gates) {
    lessons::Options quick;
    quick.json = true;
    quick.quick = true;
    const std::vector<lessons::Result> r = lessons::milestone_2018(quick);
    CHECK_EQ(r.size(), 3);
    for (const lessons::Result& part : r) CHECK(!part.skipped && part.pass);
    for (size_t m = 0; m < 2; m++) {
        const lessons::Result& model = r[m];
        CHECK(metric(model, "int8_accuracy_drop_points") <= 1.0);
        CHECK(metric(model, "int8_size_ratio") >= 3.7);
        CHECK(metric(model, "pruned_accuracy_drop_points") <= 2.0);
        // pruning's zeros survive quantization; int8 dense stores them, so the size is int8's
        CHECK(metric(model, "pruned_sparsity") >= 0.499);
        CHECK(metric(model, "pruned_int8_zero_fraction") >= metric(model, "pruned_sparsity"));
        CHECK_EQ(metric(model, "pruned_int8_weight_bytes"), metric(model, "int8_weight_bytes"));
        for (const char* v : {"int8", "pruned", "pruned_int8"})
            for (const char* kind : {"_latency_speedup", "_throughput_speedup"}) {
                const std::string k = std::string(v) + kind;
                CHECK(metric(model, k + "_ci_low") <= metric(model, k) && metric(model, k) <= metric(model, k + "_ci_high"));
            }
        // the report's table has a row per variant, and a Pareto plot
        CHECK_EQ(model.tables.size(), 1);
        CHECK_EQ(model.tables[0].rows.size(), 4);
        CHECK(model.figures.size() == 1 && model.figures[0].svg.find("<svg") != std::string::npos);
    }
    const lessons::Result& gpt = r[2];
    CHECK(metric(gpt, "kv_max_abs_diff") <= 1e-4);
    CHECK_EQ(metric(gpt, "same_tokens"), 1.0);
    CHECK(metric(gpt, "kv_speedup_ci_low") <= metric(gpt, "kv_speedup") && metric(gpt, "kv_speedup") <= metric(gpt, "kv_speedup_ci_high"));
    CHECK(metric(gpt, "tokens_per_s_cached") > 0 && metric(gpt, "tokens_per_s_uncached") > 0);
    lessons::MilestoneRun run;
    run.milestone = "2018";
    run.parts = r;
    CHECK(lessons::milestone_json(run).str().find("\"pass\": true, \"parts_run\": 3, \"parts_skipped\": 0") != std::string::npos);
}
