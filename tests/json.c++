// --json: what a lesson measured is one JSON object; whole numbers print
// exactly (byte counts past 2^31), fractions to 6 digits, NaN as null.
// (Infrastructure: the command line's, not a lesson's.)
#include "test.h"
#include "../lessons/lessons.h"

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

// A milestone's last --json line is its verdict: "pass" when every part that
// ran passed, the same as the exit status; a part whose data is absent is
// "skipped": true with "pass": null, and counts neither way.
TEST(milestone_json_last_line_is_the_verdict) {
    lessons::Result ran, skipped;
    ran.milestone = skipped.milestone = "1998";
    ran.part = "TinyDigits CNN";
    ran.params = 1234;
    ran.seconds = 1.5;
    ran.peak_bytes = 4096;
    ran.metrics = {{"test_accuracy", 0.95}};
    ran.gate = "test_accuracy >= 0.92";
    ran.pass = true;
    skipped.part = "CIFAR-10 CNN";
    skipped.gate = "test_accuracy >= 0.75";
    skipped.skipped = true;
    skipped.note = "not downloaded";
    lessons::MilestoneRun run;
    run.milestone = "1998";
    run.name = "CNN";
    run.parts = {ran, skipped};
    run.seconds = 2;
    CHECK(run.pass() && run.peak_bytes() == 4096);
    CHECK_EQ(lessons::milestone_json(run).str(),
             "{\"milestone\": \"1998\", \"name\": \"CNN\", \"pass\": true, \"parts_run\": 1, \"parts_skipped\": 1, "
             "\"seconds\": 2, \"peak_bytes\": 4096, \"parts\": ["
             "{\"milestone\": \"1998\", \"part\": \"TinyDigits CNN\", \"dataset\": \"\", \"model\": \"\", \"params\": 1234, "
             "\"seconds\": 1.5, \"peak_bytes\": 4096, \"metrics\": {\"test_accuracy\": 0.95}, "
             "\"gate\": \"test_accuracy >= 0.92\", \"pass\": true, \"skipped\": false}, "
             "{\"milestone\": \"1998\", \"part\": \"CIFAR-10 CNN\", \"dataset\": \"\", \"model\": \"\", \"params\": 0, "
             "\"seconds\": 0, \"peak_bytes\": 0, \"metrics\": {}, \"gate\": \"test_accuracy >= 0.75\", \"pass\": null, "
             "\"skipped\": true, \"note\": \"not downloaded\"}]}");
    // a part that ran and failed fails the milestone, and the tour
    lessons::MilestoneRun failed = run;
    failed.milestone = "1986";
    failed.parts[0].pass = false;
    CHECK(!failed.pass());
    CHECK(lessons::milestone_json(failed).str().find("\"name\": \"CNN\", \"pass\": false") != std::string::npos);
    lessons::TourRun tour;
    tour.milestones = {run, failed};
    tour.seconds = 3;
    CHECK(!tour.pass() && tour.peak_bytes() == 4096);
    const std::string json = lessons::tour_json(tour).str();
    CHECK(json.rfind("{\"tour\": true, \"pass\": false, \"seconds\": 3, \"peak_bytes\": 4096, \"resident_peak_bytes\": ", 0) == 0);
    CHECK(json.find("\"milestones\": [{\"milestone\": \"1998\"") != std::string::npos);
    tour.milestones.pop_back();
    CHECK(tour.pass() && lessons::tour_json(tour).str().find("\"pass\": true") != std::string::npos);
}
