# tt — TinyTorch in C++. Everything builds with this file and a C++17 compiler.
#
#   make            build ./tt (the lessons, the milestones, the tour), jobs in parallel
#   make run        the main job: the milestone tour on bundled data
#   make test       build and run every test; the last line is "N passed, M failed"
#   make check      the same tests built with AddressSanitizer and UBSan
#   make native     ./tt built for this CPU only (-march=native); see below
#   make bench      build and run bench/bench.c++: SGEMM, MLP and LeNet training
#   make data       decompress the bundled MNIST files (done automatically when needed)
#   make data-cifar download the full CIFAR-10 (170 MB, checked by md5) for milestone 1998's last part
#   make data-text  download Tiny Shakespeare (1.1 MB, checked by sha256) for lessons 10-13 and milestone 2017
#   make chapters   re-run the commands the chapters quote and paste their output in
#   make cross ARCH=aarch64   the tests cross-built for a 64-bit ARM board (Raspberry Pi 3/4/5)
#   make cross ARCH=armhf     ... for 32-bit ARM (Pi 2 and up, Raspberry Pi OS 32-bit); both run under qemu
#   make fuzz       each libFuzzer target in tests/fuzz/ for FUZZ_SECONDS (default 10)
#   make student    the course: a copy of the project at STUDENT (../tt-student) in which
#                   every solution region is a stub; SOLVED=1-5 keeps those lessons' solutions
#   make grade LESSON=6        ./tt grade 6: lesson 6's tests, each with its points
#   make restore LESSON=6 FROM=../tt   (in a student tree) put lesson 6's solutions back
#   make clean      remove build products
#
# Knobs: CXX=clang++ to change compiler; OPT=-O2 to change optimisation;
# ARCH=-march=native to build for this CPU only (ARCH=-march=x86-64-v3: for
# AVX2 machines, with no AVX-512 clone); DEBUG=-g for debug information (off
# by default: it costs half the compiler's memory). TT_GEMM_ISA=avx2+fma
# at run time makes gemm use that tile. Tests are never built with NDEBUG.
#
# The build fits a small board (README, "On a Raspberry Pi"): tt.c++ is
# compiled as two objects, tt.o (TT_PART=1) and tt-kernels.o (TT_PART=2, the
# gemm's kernels), which build side by side; make runs JOBS jobs at once (one per core
# and per 400 MB free; -jN overrides).
# The one rule for a new section of tt.c++: outside Lesson 17's kernels block,
# inside a `#if TT_PART != 2` region (all the rest of the file is one).
#
# The flags matter fivefold for matmul (gemm_fast, one thread; measured in
# bench/RESULTS.md):
#   -O3 alone            SSE2 vectors, no fused multiply-add: ~30 GFLOP/s (prototype)
#   -ffp-contract=fast   lets a*b+c be one fused multiply-add; g++ in -std=c++17
#                        mode forbids it otherwise, halving the kernel's speed
#   -fno-trapping-math   tt never reads floating-point exception flags; this lets
#                        g++ vectorise loops with a select (relu's backward, 17x)
#   TT_VECTOR_CLONES     (tt.h) with g++ on x86-64 the hot loops are also compiled
#                        for AVX2 and AVX-512 and the CPU picks: ~160-180 GFLOP/s
#   make native          -march=native: within 3% on matmul on this machine, slower
#                        on a LeNet step (short loops become masked 512-bit code),
#                        and runs on this CPU model only
# clang 14 does not know Zen 5 (there -march=native gives masked 512-bit code,
# ~100x slower) and has no per-CPU clones: build with g++ for speed and with
# clang for checking (warning-free, correct, baseline SSE2 speed).

# Jobs at once when make is not given -j: one per core, and no more than one
# per 400 MB of free memory (the most one compiler process here needs).
JOBS_FIT := $(shell n=$$(nproc 2>/dev/null || echo 1); \
              m=$$(awk '/^MemAvailable/ {print int($$2 / 409600)}' /proc/meminfo 2>/dev/null); \
              [ -n "$$m" ] && [ "$$m" -lt "$$n" ] && n=$$m; [ "$$n" -ge 1 ] 2>/dev/null && echo $$n || echo 1)
JOBS     ?= $(JOBS_FIT)
MAKEFLAGS += -j$(JOBS)

CXX      ?= g++
OPT      ?= -O3 -ffp-contract=fast -fno-trapping-math
ARCH     ?=
DEBUG    ?=
WARN     := -Wall -Wextra
# A build for one CPU level (ARCH=-march=...) gets that level's code only:
# no per-CPU clones that would pick a wider instruction set at run time.
CLONES   := $(if $(strip $(ARCH)),-DTT_NO_CLONES)
CXXFLAGS ?= -std=c++17 $(OPT) $(ARCH) $(CLONES) $(DEBUG) $(WARN)
LDFLAGS  ?= -pthread
BUILD    ?= .build/default

LESSONS  := $(filter-out lessons/main.c++,$(wildcard lessons/*.c++))
TESTS    := $(wildcard tests/*.c++)
LIB_OBJ  := $(BUILD)/tt.o $(BUILD)/tt-kernels.o $(BUILD)/build-info.o $(patsubst lessons/%.c++,$(BUILD)/lessons/%.o,$(LESSONS))
TEST_OBJ := $(patsubst tests/%.c++,$(BUILD)/tests/%.o,$(TESTS))
# ./tt holds the tests too (all but their main), so that `./tt grade N` runs
# lesson N's tests against the tt.c++ it was built from.
GRADE_OBJ := $(filter-out $(BUILD)/tests/main.o,$(TEST_OBJ))
MNIST    := data/mnist/train-images-idx3-ubyte data/mnist/train-labels-idx1-ubyte \
            data/mnist/t10k-images-idx3-ubyte data/mnist/t10k-labels-idx1-ubyte

.PHONY: all run test check data data-cifar data-text chapters clean native bench FORCE cross fuzz student restore grade student-check
all: tt

# ./tt is linked from whichever build asked last (default or native): the
# stamp names that build, so switching back relinks.
tt: $(LIB_OBJ) $(GRADE_OBJ) $(BUILD)/lessons/main.o .build/tt-is-from
	$(CXX) $(CXXFLAGS) -o $@ $(filter %.o,$^) $(LDFLAGS)
.build/tt-is-from: FORCE
	@mkdir -p .build; echo "$(BUILD)" | cmp -s - $@ || echo "$(BUILD)" > $@

native:
	@$(MAKE) --no-print-directory BUILD=.build/native ARCH=-march=native tt

# Benchmarks are measured, never asserted: see bench/RESULTS.md. For the
# native build: make bench BUILD=.build/native ARCH=-march=native
bench: $(BUILD)/bench data
	$(BUILD)/bench
$(BUILD)/bench: bench/bench.c++ $(LIB_OBJ)
	$(CXX) $(CXXFLAGS) -o $@ $^ $(LDFLAGS)

# tt.c++ is two objects (see its head): the kernels alone, and the rest.
# The rest is the largest object. g++ sizes its garbage collector by the
# machine's memory (here, 24 GB: it lets the heap grow large); these make it
# collect as it would on a small board: 368 -> 243 MB here, ~15% slower, and
# 355 MB for a tt.c++ twice today's size. clang takes no --param.
GCC_LOWMEM := $(if $(findstring clang,$(shell $(CXX) --version 2>/dev/null)),,--param ggc-min-expand=30 --param ggc-min-heapsize=32768)
$(BUILD)/tt.o: tt.c++ tt.h
	@mkdir -p $(dir $@)
	$(CXX) $(CXXFLAGS) $(GCC_LOWMEM) -DTT_PART=1 -c $< -o $@
$(BUILD)/tt-kernels.o: tt.c++ tt.h
	@mkdir -p $(dir $@)
	$(CXX) $(CXXFLAGS) -DTT_PART=2 -c $< -o $@

# What tt::platform() reports of the build (Lesson 19): the source's commit
# and the flags, written into a tiny file only when they change (as
# .build/tt-is-from is), so a commit recompiles this file, not tt.c++.
# Outside a git checkout (a student tree) the commit is "unknown".
BUILD_COMMIT := $(shell test -e .git && git describe --always --dirty 2>/dev/null || echo unknown)
BUILD_FLAGS   = $(subst ",\",$(subst \,\\,$(strip $(CXXFLAGS))))
BUILD_INFO    = printf '%s\n' '// Written by the Makefile: what tt::platform() says of this build.' '\#include "$(CURDIR)/tt.h"' \
                  'namespace { const bool recorded = (tt::build_info = {"$(BUILD_COMMIT)", "$(BUILD_FLAGS)"}, true); }'
$(BUILD)/build-info.c++: FORCE
	@mkdir -p $(dir $@); $(BUILD_INFO) | cmp -s - $@ || $(BUILD_INFO) > $@
$(BUILD)/build-info.o: $(BUILD)/build-info.c++ tt.h
	$(CXX) $(CXXFLAGS) -c $< -o $@

# The demos and milestones are cold code (their work runs in tt.o), so they
# get a cheaper optimisation level; Lesson 17's demo times its own loops.
# Parsing lessons.h (tt.h and the standard headers under it) is most of each
# demo's compile time, so g++ parses it once, into a precompiled header that
# every demo built with the same flags loads (-Winvalid-pch says if one cannot).
COLD_OPT ?= -O2 -ffp-contract=fast -fno-trapping-math
PCH      := $(if $(findstring clang,$(shell $(CXX) --version 2>/dev/null)),,$(BUILD)/pch/lessons.h)
$(BUILD)/lessons/%.o $(BUILD)/pch/lessons.h.gch: OPT = $(COLD_OPT)
$(BUILD)/lessons/17-acceleration.o: OPT = -O3 -ffp-contract=fast -fno-trapping-math
$(BUILD)/pch/lessons.h.gch: lessons/lessons.h tt.h
	@mkdir -p $(dir $@)
	@echo '#include "$(CURDIR)/lessons/lessons.h"' > $(BUILD)/pch/lessons.h
	$(CXX) $(CXXFLAGS) -x c++-header $(BUILD)/pch/lessons.h -o $@
$(BUILD)/lessons/%.o: lessons/%.c++ tt.h lessons/lessons.h $(PCH:%=%.gch)
	@mkdir -p $(dir $@)
	$(CXX) $(CXXFLAGS) $(PCH:%=-include % -Winvalid-pch) -c $< -o $@

$(BUILD)/lessons/grade.o: tests/test.h

$(BUILD)/tests/%.o: tests/%.c++ tt.h tests/test.h lessons/lessons.h
	@mkdir -p $(dir $@)
	$(CXX) $(CXXFLAGS) -c $< -o $@
$(BUILD)/tests/fuzz-corpus.o: tests/fuzz/targets.h

$(BUILD)/run-tests: $(LIB_OBJ) $(TEST_OBJ)
	$(CXX) $(CXXFLAGS) -o $@ $^ $(LDFLAGS)

# The MNIST files are committed compressed and decompressed on first use.
data: $(MNIST)
data/mnist/%-ubyte: data/mnist/%-ubyte.gz
	gzip -dc $< > $@.tmp && mv $@.tmp $@

run: tt data
	./tt milestones

# RUNNER runs the test binary: empty here, qemu for `make cross`.
test: $(BUILD)/run-tests data
	@$(RUNNER) $(BUILD)/run-tests

# Sanitizers slow the code ~3x; -O1 keeps the stack traces readable.
check:
	@$(MAKE) --no-print-directory BUILD=.build/check OPT=-O1 \
	  CXXFLAGS="-std=c++17 -O1 -g $(WARN) -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all" \
	  LDFLAGS="-pthread -fsanitize=address,undefined" test

# The full CIFAR-10 is never needed by the tests; users with internet fetch it
# here, checked against its published md5, into data/cifar-10-batches-bin/.
CIFAR_URL := https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz
CIFAR_MD5 := c32a1d4ab5d03f1284b67883e8d87530
data-cifar: data/cifar-10-batches-bin/test_batch.bin
data/cifar-10-batches-bin/test_batch.bin:
	@command -v curl >/dev/null || { echo "data-cifar: needs curl to download $(CIFAR_URL)" >&2; exit 1; }
	curl -fL --retry 3 -o data/cifar-10-binary.tar.gz.tmp $(CIFAR_URL)
	@echo "$(CIFAR_MD5)  data/cifar-10-binary.tar.gz.tmp" | md5sum -c - >/dev/null || \
	  { rm -f data/cifar-10-binary.tar.gz.tmp; echo "data-cifar: the download's md5 is not $(CIFAR_MD5); removed it" >&2; exit 1; }
	tar -xzf data/cifar-10-binary.tar.gz.tmp -C data && rm data/cifar-10-binary.tar.gz.tmp

# Tiny Shakespeare (karpathy/char-rnn), never committed: ../shared/data/README.md's group B.
SHAKESPEARE_URL := https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt
SHAKESPEARE_SHA256 := 86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed
data-text: data/tinyshakespeare/input.txt
data/tinyshakespeare/input.txt:
	@command -v curl >/dev/null || { echo "data-text: needs curl to download $(SHAKESPEARE_URL)" >&2; exit 1; }
	mkdir -p data/tinyshakespeare
	curl -fL --retry 3 -o $@.tmp $(SHAKESPEARE_URL)
	@echo "$(SHAKESPEARE_SHA256)  $@.tmp" | sha256sum -c - >/dev/null || \
	  { rm -f $@.tmp; echo "data-text: the download's sha256 is not $(SHAKESPEARE_SHA256); removed it" >&2; exit 1; }
	mv $@.tmp $@

# A chapter quotes a run (its standard output; progress lines go to stderr) between
# "<!-- output of CMD -->" and "<!-- end of output -->". CHAPTER=lessons/11-embeddings.md
# re-runs one.
CHAPTER ?= lessons/*.md
# A chapter may quote several commands: block n gets the output of the n-th.
chapters: tt data
	@for f in $(CHAPTER); do \
	  sed -n 's/^<!-- output of \(.*\) -->$$/\1/p' $$f > $(BUILD)/chapter.commands; \
	  [ -s $(BUILD)/chapter.commands ] || continue; \
	  n=0; \
	  while IFS= read -r cmd; do \
	    n=$$((n + 1)); \
	    echo "$$f: $$cmd"; \
	    $$cmd > $(BUILD)/chapter.out.$$n 2> $(BUILD)/chapter.err < /dev/null || { echo "  failed:"; cat $(BUILD)/chapter.err; }; \
	  done < $(BUILD)/chapter.commands; \
	  awk -v out=$(BUILD)/chapter.out. '/^<!-- output of /{n++; print; print "```"; while ((getline l < (out n)) > 0) print l; print "```"; skip=1; next} /^<!-- end of output -->/{skip=0} !skip' $$f > $$f.tmp && mv $$f.tmp $$f; \
	done

# Other boards. Debian's cross compilers build the tests, qemu's user mode
# runs them (binfmt_misc need not be set up: RUNNER names qemu and its
# sysroot). armhf is Debian's default target: ARMv7-A, VFPv3-D16, no NEON,
# 32-bit size_t and long. -Wno-psabi silences g++'s note that passing some
# structs changed ABI in GCC 7.1: nothing here mixes code from before it.
# ARCH= below: the sub-make must not see the board's name as a -march flag.
CROSS_aarch64 := aarch64-linux-gnu
CROSS_armhf   := arm-linux-gnueabihf
QEMU_aarch64  := qemu-aarch64
QEMU_armhf    := qemu-arm
WARN_armhf    := -Wno-psabi
cross:
	@test -n "$(CROSS_$(ARCH))" || { echo "make cross: say ARCH=aarch64 or ARCH=armhf" >&2; exit 2; }
	@$(MAKE) --no-print-directory BUILD=.build/$(ARCH) CXX=$(CROSS_$(ARCH))-g++ ARCH= \
	  WARN="$(WARN) $(WARN_$(ARCH))" RUNNER="$(QEMU_$(ARCH)) -L /usr/$(CROSS_$(ARCH))" test

# Fuzzing (clang's libFuzzer). Each tests/fuzz/NAME.c++ is a target; its
# corpus is tests/fuzz/corpus/NAME/ (seeds, and every input that ever found
# a bug: the normal suite replays them all). New inputs the fuzzer finds go
# to .build/fuzz/new/NAME/, a crashing one to .build/fuzz/NAME-crash-*.
FUZZ_SECONDS  ?= 10
FUZZ_TARGETS  := $(patsubst tests/fuzz/%.c++,%,$(wildcard tests/fuzz/*.c++))
FUZZ_CXXFLAGS := -std=c++17 -O1 -g $(WARN) -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all
.build/fuzz/obj/tt.o: tt.c++ tt.h
	@mkdir -p $(dir $@)
	clang++ $(FUZZ_CXXFLAGS) -fsanitize=fuzzer-no-link -c $< -o $@
.build/fuzz/obj/common.o: lessons/common.c++ tt.h lessons/lessons.h
	@mkdir -p $(dir $@)
	clang++ $(FUZZ_CXXFLAGS) -fsanitize=fuzzer-no-link -c $< -o $@
.build/fuzz/bin/%: tests/fuzz/%.c++ tests/fuzz/targets.h .build/fuzz/obj/tt.o .build/fuzz/obj/common.o
	@mkdir -p $(dir $@)
	clang++ $(FUZZ_CXXFLAGS) -fsanitize=fuzzer -o $@ $< $(filter %.o,$^) -pthread
fuzz: $(FUZZ_TARGETS:%=.build/fuzz/bin/%)
	@for t in $(FUZZ_TARGETS); do \
	  mkdir -p .build/fuzz/new/$$t; \
	  .build/fuzz/bin/$$t -max_total_time=$(FUZZ_SECONDS) -max_len=8192 -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
	    -artifact_prefix=.build/fuzz/$$t- .build/fuzz/new/$$t tests/fuzz/corpus/$$t > .build/fuzz/$$t.log 2>&1 \
	  || { tail -n 30 .build/fuzz/$$t.log; echo "fuzz $$t: FAILED; the input is in .build/fuzz/$$t-*"; exit 1; }; \
	  echo "fuzz $$t: $$(sed -n 's/^stat::number_of_executed_units: *//p' .build/fuzz/$$t.log) inputs in $(FUZZ_SECONDS) s, no crash"; \
	done

# Student mode (tests/student/student.c++ says how the stubs are made, and
# README.md what an author of a lesson marks). The tool is compiled like the
# tests and needs only the standard library.
STUDENT ?= ../tt-student
SOLVED  ?=
$(BUILD)/student: tests/student/student.c++
	@mkdir -p $(dir $@)
	$(CXX) -std=c++17 -O1 $(WARN) -o $@ $<
student: $(BUILD)/student
	$(BUILD)/student make . $(STUDENT) $(if $(SOLVED),--lessons $(SOLVED))
student-check: $(BUILD)/student
	$(BUILD)/student check .
restore: $(BUILD)/student
	@test -n "$(LESSON)" -a -n "$(FROM)" || { echo "make restore: say LESSON=6 (or 1-5) and FROM=the solution tree" >&2; exit 2; }
	$(BUILD)/student restore . $(FROM) $(LESSON)
grade: tt data
	@test -n "$(LESSON)" || { echo "make grade: say LESSON=6 (or 1-5, or all)" >&2; exit 2; }
	./tt grade $(LESSON)

clean:
	rm -rf .build tt $(MNIST)
