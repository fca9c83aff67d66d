// Lesson 08 · Training — the demo behind `./tt lesson 8`.
#include "lessons.h"
namespace lessons {
void lesson_08(const Options&) {}
}
