// Milestone 1998: the TinyDigits CNN passes its gate and draws its filters
// (--quick; LeNet-5 on MNIST and the CIFAR-10 CNN take minutes: `./tt milestone 1998`).
// Graded with Lesson 09: it needs the convolution, pooling and batch norm.
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "test.h"
#include "../lessons/lessons.h"

GRADED_WITH_LESSON(9);

TEST(milestone_1998_quick_tinydigits_cnn) {
    lessons::Options quick;
    quick.json = true;
    quick.quick = true;
    const std::vector<lessons::Result> r = lessons::milestone_1998(quick);
    CHECK_EQ(r.size(), 4);
    CHECK(r[0].pass && !r[0].skipped && r[0].metrics[0].second >= 0.92);
    for (size_t i = 1; i < r.size(); i++) CHECK(r[i].skipped && r[i].note.find("--quick") != std::string::npos);
    // the verdict (the last line of --json) passes although three parts were skipped
    lessons::MilestoneRun run;
    run.milestone = "1998";
    run.parts = r;
    const std::string verdict = lessons::milestone_json(run).str();
    CHECK(verdict.find("\"pass\": true, \"parts_run\": 1, \"parts_skipped\": 3") != std::string::npos);
    CHECK(lessons::to_json(r[3]).find("\"pass\": null, \"skipped\": true") != std::string::npos);
    // the first-layer filters, 16 of 3x3 enlarged 13 times, as a binary PGM
    const char* out = std::getenv("TT_OUT");
    const std::string dir = out && *out ? out : (std::filesystem::temp_directory_path() / "tt-1998").string();
    std::ifstream pgm(dir + "/1998-tinydigits-filters.pgm", std::ios::binary);
    std::string magic;
    int width = 0, height = 0;
    pgm >> magic >> width >> height;
    CHECK(magic == "P5" && width == 8 * (3 * 13 + 1) + 1 && height == 2 * (3 * 13 + 1) + 1);
}
