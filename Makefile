# tt — TinyTorch in C++. Everything builds with this file and a C++17 compiler.
#
#   make            build ./tt (the lessons, the milestones, the tour)
#   make run        the main job: the milestone tour on bundled data
#   make test       build and run every test; the last line is "N passed, M failed"
#   make check      the same tests built with AddressSanitizer and UBSan
#   make data       decompress the bundled MNIST files (done automatically when needed)
#   make chapters   re-run the commands the chapters quote and paste their output in
#   make clean      remove build products
#
# Knobs: CXX=clang++ to change compiler; OPT=-O2 to change optimisation.
# -O3 matters: it lets the compiler vectorise the inner loops (several times
# faster than -O2 on the matrix kernels). Tests are never built with NDEBUG.

CXX      ?= g++
OPT      ?= -O3
WARN     := -Wall -Wextra
CXXFLAGS ?= -std=c++17 $(OPT) -g $(WARN)
LDFLAGS  ?= -pthread
BUILD    ?= .build/default

LESSONS  := $(filter-out lessons/main.c++,$(wildcard lessons/*.c++))
TESTS    := $(wildcard tests/*.c++)
LIB_OBJ  := $(BUILD)/tt.o $(patsubst lessons/%.c++,$(BUILD)/lessons/%.o,$(LESSONS))
TEST_OBJ := $(patsubst tests/%.c++,$(BUILD)/tests/%.o,$(TESTS))
MNIST    := data/mnist/train-images-idx3-ubyte data/mnist/train-labels-idx1-ubyte \
            data/mnist/t10k-images-idx3-ubyte data/mnist/t10k-labels-idx1-ubyte

.PHONY: all run test check data chapters clean
all: tt

tt: $(LIB_OBJ) $(BUILD)/lessons/main.o
	$(CXX) $(CXXFLAGS) -o $@ $^ $(LDFLAGS)

$(BUILD)/tt.o: tt.c++ tt.h
	@mkdir -p $(dir $@)
	$(CXX) $(CXXFLAGS) -c $< -o $@

$(BUILD)/lessons/%.o: lessons/%.c++ tt.h lessons/lessons.h
	@mkdir -p $(dir $@)
	$(CXX) $(CXXFLAGS) -c $< -o $@

$(BUILD)/tests/%.o: tests/%.c++ tt.h tests/test.h lessons/lessons.h
	@mkdir -p $(dir $@)
	$(CXX) $(CXXFLAGS) -c $< -o $@

$(BUILD)/run-tests: $(LIB_OBJ) $(TEST_OBJ)
	$(CXX) $(CXXFLAGS) -o $@ $^ $(LDFLAGS)

# The MNIST files are committed compressed and decompressed on first use.
data: $(MNIST)
data/mnist/%-ubyte: data/mnist/%-ubyte.gz
	gzip -dc $< > $@.tmp && mv $@.tmp $@

run: tt data
	./tt milestones

test: $(BUILD)/run-tests data
	@$(BUILD)/run-tests

# Sanitizers slow the code ~3x; -O1 keeps the stack traces readable.
check:
	@$(MAKE) --no-print-directory BUILD=.build/check OPT=-O1 \
	  CXXFLAGS="-std=c++17 -O1 -g $(WARN) -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all" \
	  LDFLAGS="-pthread -fsanitize=address,undefined" test

# A chapter quotes a run between "<!-- output of CMD -->" and "<!-- end of output -->".
chapters: tt data
	@for f in lessons/*.md; do \
	  cmd=$$(sed -n 's/^<!-- output of \(.*\) -->$$/\1/p' $$f); \
	  [ -n "$$cmd" ] || continue; \
	  echo "$$f: $$cmd"; \
	  $$cmd > $(BUILD)/chapter.out 2>&1 || true; \
	  awk -v out=$(BUILD)/chapter.out '/^<!-- output of /{print; print "```"; while ((getline l < out) > 0) print l; print "```"; skip=1; next} /^<!-- end of output -->/{skip=0} !skip' $$f > $$f.tmp && mv $$f.tmp $$f; \
	done

clean:
	rm -rf .build tt $(MNIST)
