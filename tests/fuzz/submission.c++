// libFuzzer target: fuzz::submission (tests/fuzz/targets.h). Built and run by `make fuzz`.
#include "targets.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    fuzz::submission(std::string((const char*)data, size));
    return 0;
}
