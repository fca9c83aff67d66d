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
