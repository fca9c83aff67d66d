// tt.c++ — TinyTorch in C++: the definitions, in the order of the lessons.
// Read tt.h first (the cover page, the shape legend, the ownership rules);
// then read this file top to bottom: each section uses only what the
// sections above it defined.
//
// The parts a student writes are marked, each a run of whole statements in
// a function or lambda body between two comment lines of their own:
//
//     // BEGIN SOLUTION Lesson 06: backward of matmul
//     ...
//     // END SOLUTION
//
// The lesson is the one that teaches it, wherever the code sits: the
// backward rules of Lesson 01's ops are written in Lesson 06. `make student`
// copies the project with each region replaced by a stub that throws
// "not implemented yet: Lesson 06, backward of matmul (tt.c++:LINE)", and
// `./tt grade 6` runs Lesson 06's tests on whatever is there. For a region's
// stub to compile (warning-free) and to fail loudly: nothing declared in a
// region is used after it (declare before, assign inside); what only the
// solution needs is declared inside it; a lambda whose returns are all in the
// region names its return type (`[](float v) -> float {`); no region in a
// destructor, a noexcept function or anything that runs before main().
// README.md ("Student mode") has the rules for tests and chapters.
//
// How it is built: `make` compiles this file twice, into two objects that
// build side by side, so that no one compiler process needs more memory than
// a Raspberry Pi has to spare (README, "On a Raspberry Pi"): with TT_PART=1
// everything but Lesson 17's kernels, with TT_PART=2 the kernels alone (the
// hot code, compiled once per instruction set). Without TT_PART it is all of
// it. The one rule for a new section: write it inside a `#if TT_PART != 2`
// region, which is all of the file but the kernels' block near the end of
// Lesson 17 (sections after Lesson 17 go above the last `#endif`).
#include "tt.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cctype>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <condition_variable>
#include <exception>
#include <filesystem>
#include <fstream>
#include <limits>
#include <mutex>
#include <iterator>
#include <numeric>
#include <queue>
#include <sstream>
#include <thread>
#include <type_traits>

namespace tt {
#if TT_PART != 2 // everything but the kernels (see the head of the file)

// ===== Lesson 01 · Tensor ====================================================
// Part 1, where the bytes go. Every tensor's storage is allocated here, so the
// tracker can say at any moment how many bytes are live, the most there ever
// were, and what they are for. Cost: one mutex and a few additions per
// allocation — nothing next to the memset that zero-fills the new block.

namespace {
struct Tracker {
    MemoryCounts total;
    MemoryCounts by_category[kCategories];
    int64_t budget = 0; // 0: no budget
    std::mutex mutex;
    // a malformed TT_MEM_LIMIT throws here, so no tracker is built and
    // every allocation that follows throws the same Error
    Tracker() : budget(memory_limit_setting(std::getenv("TT_MEM_LIMIT"))) {}
};
Tracker& tracker() {
    static Tracker instance; // built on first use, so TT_MEM_LIMIT is read once
    return instance;
}
thread_local Category current_category = Category::Activations;
// The op allocating right now, so that an over-budget error can name it.
thread_local const char* allocating_op = "tensor";

std::string with_commas(int64_t n) {
    std::string digits = std::to_string(n < 0 ? -n : n), out;
    for (size_t i = 0; i < digits.size(); i++) {
        if (i && (digits.size() - i) % 3 == 0) out += ',';
        out += digits[i];
    }
    return n < 0 ? "-" + out : out;
}
} // namespace

const char* category_name(Category c) {
    static const char* names[kCategories] = {"parameters", "gradients", "activations",
                                             "optimizer state", "scratch", "data", "quantized", "cache"};
    return names[(int)c];
}

MemoryCounts memory_counts() {
    std::lock_guard<std::mutex> lock(tracker().mutex);
    return tracker().total;
}
MemoryCounts memory_counts(Category c) {
    std::lock_guard<std::mutex> lock(tracker().mutex);
    return tracker().by_category[(int)c];
}
void reset_peak() {
    Tracker& t = tracker();
    std::lock_guard<std::mutex> lock(t.mutex);
    t.total.peak_bytes = t.total.live_bytes;
    for (auto& c : t.by_category) c.peak_bytes = c.live_bytes;
}
void set_memory_budget(int64_t bytes) {
    if (bytes < 0) throw Error("set_memory_budget: budget must be >= 0 bytes, got " + std::to_string(bytes));
    std::lock_guard<std::mutex> lock(tracker().mutex);
    tracker().budget = bytes;
}
int64_t memory_budget() {
    std::lock_guard<std::mutex> lock(tracker().mutex);
    return tracker().budget;
}

int64_t parse_bytes(const std::string& text) {
    // digits, then an optional K, M or G (powers of 1024), then nothing else
    size_t i = 0;
    int64_t value = 0;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
        if (value > (std::numeric_limits<int64_t>::max() - 9) / 10)
            throw Error("parse_bytes: '" + text + "' is too large");
        value = value * 10 + (text[i++] - '0');
    }
    if (i == 0) throw Error("parse_bytes: '" + text + "' is not a size like 512M, 4G or 1000000");
    int shift = 0;
    if (i < text.size()) {
        char unit = (char)std::toupper((unsigned char)text[i++]);
        if (unit == 'K') shift = 10;
        else if (unit == 'M') shift = 20;
        else if (unit == 'G') shift = 30;
        else throw Error("parse_bytes: unknown unit in '" + text + "' (use K, M or G)");
        if (i < text.size() && (text[i] == 'B' || text[i] == 'b')) i++;
    }
    if (i != text.size()) throw Error("parse_bytes: unexpected characters in '" + text + "'");
    if (value > (std::numeric_limits<int64_t>::max() >> shift))
        throw Error("parse_bytes: '" + text + "' is too large");
    return value << shift;
}

int64_t memory_limit_setting(const char* value) {
    if (!value || !*value) return 0;
    int64_t bytes = 0;
    try {
        bytes = parse_bytes(value);
    } catch (const Error& e) {
        throw Error("TT_MEM_LIMIT='" + std::string(value) + "' is not a memory budget (" + e.what() +
                    "); unset it for no budget");
    }
    if (bytes == 0)
        throw Error("TT_MEM_LIMIT='" + std::string(value) + "' is a budget of 0 bytes, which no tensor fits; unset it for no budget");
    return bytes;
}

std::string memory_report() {
    Tracker& t = tracker();
    std::lock_guard<std::mutex> lock(t.mutex);
    char line[160];
    std::string out = "  category            live bytes      peak bytes   allocations\n";
    auto row = [&](const char* name, const MemoryCounts& c) {
        std::snprintf(line, sizeof line, "  %-16s %13s   %13s   %11s\n", name,
                      with_commas(c.live_bytes).c_str(), with_commas(c.peak_bytes).c_str(),
                      with_commas(c.allocations).c_str());
        out += line;
    };
    for (int c = 0; c < kCategories; c++) row(category_name((Category)c), t.by_category[c]);
    row("total", t.total);
    if (t.budget) out += "  budget " + with_commas(t.budget) + " bytes\n";
    return out;
}

MemoryCategory::MemoryCategory(Category c) : previous(current_category) { current_category = c; }
MemoryCategory::~MemoryCategory() { current_category = previous; }

void track_allocation(Category category, int64_t bytes, const char* op) {
    if (op_listener) op_listener->allocated(category, bytes); // Lesson 14
    Tracker& t = tracker();
    std::lock_guard<std::mutex> lock(t.mutex);
    if (t.budget && t.total.live_bytes + bytes > t.budget)
        throw Error("memory budget exceeded in " + std::string(op) + ": asked for " + with_commas(bytes) + " bytes (" +
                    category_name(category) + ") with " + with_commas(t.total.live_bytes) + " live; budget " +
                    with_commas(t.budget) + " bytes (TT_MEM_LIMIT or set_memory_budget)");
    for (MemoryCounts* c : {&t.total, &t.by_category[(int)category]}) {
        c->live_bytes += bytes;
        c->peak_bytes = std::max(c->peak_bytes, c->live_bytes);
        c->allocations++;
    }
}
void track_release(Category category, int64_t bytes) {
    Tracker& t = tracker();
    std::lock_guard<std::mutex> lock(t.mutex);
    for (MemoryCounts* c : {&t.total, &t.by_category[(int)category]}) {
        c->live_bytes -= bytes;
        c->releases++;
    }
}

namespace {
void* malloc_block(size_t bytes, bool zeroed) { return zeroed ? std::calloc(bytes, 1) : std::malloc(bytes); }
void free_block(void* block, size_t) { std::free(block); }
} // namespace
BlockSource block_source = {malloc_block, free_block};

Storage::Storage(int64_t n, bool zeroed) : data(nullptr), count(n), category(current_category) {
    if (n < 0) throw Error(std::string(allocating_op) + ": cannot allocate a negative number of elements");
    const int64_t bytes = n * (int64_t)sizeof(float);
    track_allocation(category, bytes, allocating_op);
    if (n > 0) {
        // calloc: the operating system hands out zeroed pages lazily, but a
        // block malloc reuses must be cleared: an op that writes every
        // element of its output skips that (zeroed = false)
        if ((uint64_t)n > SIZE_MAX / sizeof(float) ||
            !(data = (float*)block_source.take((size_t)n * sizeof(float), zeroed))) {
            track_release(category, bytes);
            throw Error(std::string(allocating_op) + ": out of memory allocating " + with_commas(bytes) + " bytes");
        }
    }
}

Storage::~Storage() {
    if (data) block_source.give_back(data, (size_t)count * sizeof(float));
    track_release(category, count * (int64_t)sizeof(float));
}

void Storage::set_category(Category c) {
    if (c == category) return;
    const int64_t bytes = count * (int64_t)sizeof(float);
    Tracker& t = tracker();
    std::lock_guard<std::mutex> lock(t.mutex);
    MemoryCounts& from = t.by_category[(int)category];
    MemoryCounts& to = t.by_category[(int)c];
    from.live_bytes -= bytes;
    from.releases++;
    to.live_bytes += bytes;
    to.peak_bytes = std::max(to.peak_bytes, to.live_bytes);
    to.allocations++;
    category = c;
}

// Part 2, random numbers that are the same everywhere. xoroshiro128+ (two
// 64-bit words of state, shifts and xors only) seeded through splitmix64.
// Integer arithmetic is exact on every machine; the only floating point is in
// normal(), which works in double and rounds once to float.

namespace {
uint64_t splitmix64(uint64_t& x) {
    uint64_t z = (x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}
uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
} // namespace

Generator::Generator(uint64_t seed) : spare_normal(0) {
    state[0] = splitmix64(seed);
    state[1] = splitmix64(seed);
}

uint32_t Generator::next_u32() {
    const uint64_t s0 = state[0];
    uint64_t s1 = state[1];
    const uint64_t result = s0 + s1;
    s1 ^= s0;
    state[0] = rotl(s0, 24) ^ s1 ^ (s1 << 16);
    state[1] = rotl(s1, 37);
    return (uint32_t)(result >> 32); // the high bits are the better ones
}

float Generator::uniform(float low, float high) {
    // 24 random bits: exactly the floats k/2^24 in [0,1)
    const float u = (float)(next_u32() >> 8) * (1.0f / 16777216.0f);
    return low + (high - low) * u;
}

float Generator::normal(float mean, float stddev) {
    if (has_spare) {
        has_spare = false;
        return mean + stddev * spare_normal;
    }
    // Marsaglia's polar method: a point uniform in the unit disc gives two
    // independent normals, using only log and sqrt (no sin/cos).
    double u, v, s;
    do {
        u = 2.0 * ((next_u32() >> 8) / 16777216.0) - 1.0;
        v = 2.0 * ((next_u32() >> 8) / 16777216.0) - 1.0;
        s = u * u + v * v;
    } while (s >= 1.0 || s == 0.0);
    const double factor = std::sqrt(-2.0 * std::log(s) / s);
    spare_normal = (float)(v * factor);
    has_spare = true;
    return mean + stddev * (float)(u * factor);
}

int64_t Generator::randint(int64_t n) {
    if (n <= 0) throw Error("randint: n must be positive, got " + std::to_string(n));
    // 64 random bits modulo n: the bias is below n/2^64, invisible here
    const uint64_t r = ((uint64_t)next_u32() << 32) | next_u32();
    return (int64_t)(r % (uint64_t)n);
}

Generator& default_generator() {
    static Generator g(42);
    return g;
}
void manual_seed(uint64_t seed) { default_generator() = Generator(seed); }

// Part 3, the tensor. Shape and strides turn an index [i0,i1,...] into the
// storage position offset + i0*s0 + i1*s1 + ...; a view is a new shape,
// strides and offset over the same storage.

std::string to_string(const Shape& s) {
    std::string out = "[";
    for (size_t i = 0; i < s.size(); i++) out += (i ? "," : "") + std::to_string(s[i]);
    return out + "]";
}

int64_t numel(const Shape& s) {
    int64_t n = 1;
    for (int64_t d : s) n *= d;
    return n;
}

namespace {
Shape contiguous_strides(const Shape& shape) {
    Shape strides(shape.size());
    int64_t step = 1;
    for (size_t i = shape.size(); i-- > 0;) {
        strides[i] = step;
        step *= shape[i];
    }
    return strides;
}

// Sizes are not negative, and the nonzero ones multiply within int64: every
// stride and the element count are such products (a shape read from a file
// can be [0,2^25,2^25,2^25]: no elements, but strides past 2^63).
void check_shape(const Shape& shape, const char* op) {
    int64_t product = 1;
    for (int64_t d : shape) {
        if (d < 0) throw Error(std::string(op) + ": negative size in shape " + to_string(shape));
        if (d > 0 && product > std::numeric_limits<int64_t>::max() / d)
            throw Error(std::string(op) + ": the sizes of shape " + to_string(shape) + " multiply past 2^63");
        if (d > 0) product *= d;
    }
}

// A fresh contiguous tensor of zeros, allocated on behalf of `op` (named in a
// budget error). zeroed = false leaves its values undefined, for an op that
// writes every element before anything reads one (a product's output): it
// saves clearing memory that is about to be overwritten.
Tensor new_tensor(const Shape& shape, const char* op, bool zeroed = true);
Tensor new_tensor(const Shape& shape, const char* op, bool zeroed) {
    check_shape(shape, op);
    const char* outer = allocating_op;
    allocating_op = op;
    auto impl = std::make_shared<TensorImpl>();
    try {
        impl->storage = std::make_shared<Storage>(numel(shape), zeroed);
    } catch (...) {
        allocating_op = outer;
        throw;
    }
    allocating_op = outer;
    impl->shape = shape;
    impl->strides = contiguous_strides(shape);
    return Tensor(impl);
}

// A view: same storage, other shape/strides/offset.
Tensor make_view(const Tensor& base, Shape shape, Shape strides, int64_t offset) {
    auto impl = std::make_shared<TensorImpl>();
    impl->storage = base.impl->storage;
    impl->shape = std::move(shape);
    impl->strides = std::move(strides);
    impl->offset = offset;
    return Tensor(impl);
}

void require_defined(const Tensor& t, const char* op) {
    if (!t.defined()) throw Error(std::string(op) + ": the tensor is undefined (default-constructed)");
}

int64_t normalize_axis(int64_t axis, int64_t rank, const char* op) {
    if (axis < -rank || axis >= rank || rank == 0)
        throw Error(std::string(op) + ": axis " + std::to_string(axis) + " is out of range for a " +
                    std::to_string(rank) + "-d tensor");
    return axis < 0 ? axis + rank : axis;
}

// Visits every element of `shape` in row-major order, calling
// f(ia, ib, ic): the element's position in three operands, each with its own
// strides (0 along an axis it is broadcast over). The last axis is the inner
// loop, so contiguous and broadcast operands stream through memory.
template <class F>
void strided_loop(const Shape& shape, const int64_t* sa, int64_t oa, const int64_t* sb, int64_t ob,
                  const int64_t* sc, int64_t oc, F f) {
    // BEGIN SOLUTION Lesson 01: strided_loop: every element, through each operand's strides
    const int64_t rank = (int64_t)shape.size();
    if (numel(shape) == 0) return;
    if (rank == 0) { f(oa, ob, oc); return; }
    const int64_t n = shape[rank - 1], ta = sa[rank - 1], tb = sb[rank - 1], tc = sc[rank - 1];
    std::vector<int64_t> index(rank, 0);
    for (;;) {
        for (int64_t j = 0; j < n; j++) f(oa + j * ta, ob + j * tb, oc + j * tc);
        // odometer over the outer axes
        int64_t axis = rank - 2;
        for (; axis >= 0; axis--) {
            oa += sa[axis]; ob += sb[axis]; oc += sc[axis];
            if (++index[axis] < shape[axis]) break;
            oa -= sa[axis] * shape[axis]; ob -= sb[axis] * shape[axis]; oc -= sc[axis] * shape[axis];
            index[axis] = 0;
        }
        if (axis < 0) return;
    }
    // END SOLUTION
}

// x's strides seen from a (possibly larger) broadcast shape: aligned at the
// right, 0 where x has size 1 or no axis at all.
Shape broadcast_strides(const Tensor& x, const Shape& shape) {
    Shape strides(shape.size(), 0);
    // BEGIN SOLUTION Lesson 01: broadcast_strides: stride 0 where an axis is stretched
    const size_t shift = shape.size() - x.shape().size();
    for (size_t i = 0; i < x.shape().size(); i++)
        strides[i + shift] = x.shape()[i] == 1 ? 0 : x.strides()[i];
    // END SOLUTION
    return strides;
}

float* base_of(const Tensor& t) { return t.impl->storage->data; }

// A contiguous copy made without recording on the tape: for ops that read
// their inputs as flat arrays and record their own backward.
Tensor dense(const Tensor& x) {
    if (x.is_contiguous()) return x;
    OpScope scope("contiguous");
    count_op(0, 4.0 * x.numel(), 4.0 * x.numel()); // a copy: no arithmetic
    Tensor out = new_tensor(x.shape(), "contiguous");
    const float* src = base_of(x);
    float* dst = out.data();
    const Shape zero(x.dim(), 0), dst_strides = contiguous_strides(x.shape());
    strided_loop(x.shape(), x.strides().data(), x.impl->offset, dst_strides.data(), 0, zero.data(), 0,
                 [&](int64_t i, int64_t o, int64_t) { dst[o] = src[i]; });
    return out;
}
} // namespace

Tensor::Tensor(const Shape& shape) : Tensor(new_tensor(shape, "Tensor")) {}

Tensor::Tensor(const Shape& shape, const std::vector<float>& values) : Tensor(new_tensor(shape, "Tensor")) {
    if ((int64_t)values.size() != numel())
        throw Error("Tensor: shape " + to_string(shape) + " holds " + std::to_string(numel()) +
                    " values but " + std::to_string(values.size()) + " were given");
    std::copy(values.begin(), values.end(), data());
}

Tensor Tensor::zeros(const Shape& shape) { return new_tensor(shape, "zeros"); }
Tensor Tensor::ones(const Shape& shape) { return full(shape, 1.0f); }
Tensor Tensor::full(const Shape& shape, float value) {
    Tensor t = new_tensor(shape, "full");
    std::fill(t.data(), t.data() + t.numel(), value);
    return t;
}
Tensor Tensor::scalar(float value) { return full({}, value); }
Tensor Tensor::arange(int64_t n) {
    Tensor t = new_tensor({n}, "arange");
    for (int64_t i = 0; i < n; i++) t.data()[i] = (float)i;
    return t;
}
Tensor Tensor::rand(const Shape& shape, Generator& g) {
    Tensor t = new_tensor(shape, "rand");
    for (int64_t i = 0; i < t.numel(); i++) t.data()[i] = g.uniform();
    return t;
}
Tensor Tensor::randn(const Shape& shape, Generator& g) {
    Tensor t = new_tensor(shape, "randn");
    for (int64_t i = 0; i < t.numel(); i++) t.data()[i] = g.normal();
    return t;
}

const Shape& Tensor::shape() const { require_defined(*this, "shape"); return impl->shape; }
const Shape& Tensor::strides() const { require_defined(*this, "strides"); return impl->strides; }
int64_t Tensor::size(int64_t axis) const { return shape()[normalize_axis(axis, dim(), "size")]; }
int64_t Tensor::numel() const { return tt::numel(shape()); }

bool Tensor::is_contiguous() const {
    // size-1 axes may carry any stride: they are never stepped over
    int64_t step = 1;
    for (int64_t i = dim() - 1; i >= 0; i--) {
        if (impl->shape[i] != 1 && impl->strides[i] != step) return false;
        step *= impl->shape[i];
    }
    return true;
}

float* Tensor::data() const {
    require_defined(*this, "data");
    if (!is_contiguous()) throw Error("data: tensor of shape " + to_string(shape()) + " is not contiguous; call contiguous() first");
    return impl->storage->data + impl->offset;
}

namespace {
int64_t element_offset(const Tensor& t, const std::vector<int64_t>& index, const char* op) {
    if ((int64_t)index.size() != t.dim())
        throw Error(std::string(op) + ": index has " + std::to_string(index.size()) + " numbers for a " +
                    std::to_string(t.dim()) + "-d tensor of shape " + to_string(t.shape()));
    int64_t offset = t.impl->offset;
    for (size_t i = 0; i < index.size(); i++) {
        if (index[i] < 0 || index[i] >= t.shape()[i])
            throw Error(std::string(op) + ": index " + std::to_string(index[i]) + " is out of range for axis " +
                        std::to_string(i) + " of shape " + to_string(t.shape()));
        offset += index[i] * t.strides()[i];
    }
    return offset;
}
} // namespace

float Tensor::at(const std::vector<int64_t>& index) const { return base_of(*this)[element_offset(*this, index, "at")]; }
void Tensor::set(const std::vector<int64_t>& index, float value) { base_of(*this)[element_offset(*this, index, "set")] = value; }

float Tensor::item() const {
    require_defined(*this, "item");
    if (numel() != 1) throw Error("item: tensor of shape " + to_string(shape()) + " has " + std::to_string(numel()) + " elements, not 1");
    return dense(*this).data()[0];
}

std::vector<float> Tensor::to_vector() const {
    require_defined(*this, "to_vector");
    Tensor d = dense(*this);
    return std::vector<float>(d.data(), d.data() + d.numel());
}

std::string Tensor::str() const {
    if (!defined()) return "tensor(undefined)";
    std::ostringstream out;
    const std::vector<float> v = to_vector();
    const Shape& s = shape();
    if (numel() > 1000) {
        out << "tensor(shape=" << to_string(s) << ", first=" << v[0] << ", last=" << v.back() << ")";
        return out.str();
    }
    // nested brackets, one row of the last axis per line
    std::function<void(size_t, int64_t&)> print = [&](size_t axis, int64_t& pos) {
        if (axis == s.size()) {
            char buf[32];
            std::snprintf(buf, sizeof buf, "%.4f", v[pos++]);
            out << buf;
            return;
        }
        out << "[";
        for (int64_t i = 0; i < s[axis]; i++) {
            if (i) out << (axis + 1 == s.size() ? ", " : ",\n" + std::string(axis + 8, ' '));
            print(axis + 1, pos);
        }
        out << "]";
    };
    int64_t pos = 0;
    out << "tensor(";
    print(0, pos);
    out << ")";
    return out.str();
}

bool Tensor::shares_storage(const Tensor& other) const {
    return defined() && other.defined() && impl->storage == other.impl->storage;
}

// --- The tape: recording now, differentiating in Lesson 06 --------------------
// Recording costs a Node per op and keeps the op's inputs alive until the
// backward pass: that is why training needs more memory than inference.

thread_local OpListener* op_listener = nullptr; // the hooks of tt.h; Lesson 14 listens

namespace {
thread_local bool recording = true;
size_t next_prune = 1024; // tape length at which to drop unreachable nodes
} // namespace

std::vector<Node>& tape() {
    static std::vector<Node> nodes;
    return nodes;
}
bool grad_enabled() { return recording; }
NoGrad::NoGrad() : previous(recording) { recording = false; }
NoGrad::~NoGrad() { recording = previous; }

bool needs_grad(std::initializer_list<const Tensor*> inputs) {
    if (!recording) return false;
    for (const Tensor* t : inputs)
        if (t->defined() && t->impl->requires_grad) return true;
    return false;
}

namespace {
// A node whose output nobody holds can never receive a gradient: drop it.
// Walking from the end lets a drop cascade: the inputs it held may be the
// outputs of earlier nodes, which then expire too. Keeps evaluation loops
// that forgot NoGrad from growing the tape without bound.
void prune_tape() {
    std::vector<Node>& nodes = tape();
    for (size_t i = nodes.size(); i-- > 0;)
        if (nodes[i].output.expired()) nodes[i].inputs.clear(), nodes[i].backward = nullptr;
    nodes.erase(std::remove_if(nodes.begin(), nodes.end(), [](const Node& n) { return n.output.expired(); }),
                nodes.end());
    next_prune = std::max<size_t>(1024, 2 * nodes.size());
}
} // namespace

void record(const char* op, std::vector<Tensor> inputs, const Tensor& output, BackwardFn backward) {
    if (op_listener) backward = op_listener->backward_of(op, std::move(backward)); // timed (Lesson 14)
    output.impl->requires_grad = true;
    output.impl->is_leaf = false;
    tape().push_back(Node{op, std::move(inputs), output.impl, output.shape(), std::move(backward)});
    if (tape().size() >= next_prune) prune_tape();
}

// Part 4, views. Each returns a tensor over the same storage; its backward
// maps the gradient back through the inverse view.

Tensor Tensor::view(const Shape& new_shape) const {
    require_defined(*this, "view");
    Shape s = new_shape;
    Shape sizes = s; // without the -1, for the check
    sizes.erase(std::remove(sizes.begin(), sizes.end(), -1), sizes.end());
    check_shape(sizes, "reshape");
    // BEGIN SOLUTION Lesson 01: Tensor::view: the new shape, with its -1 inferred
    int64_t known = 1, infer = -1;
    for (size_t i = 0; i < s.size(); i++) {
        if (s[i] == -1) {
            if (infer >= 0) throw Error("reshape: only one size may be -1 in " + to_string(new_shape));
            infer = (int64_t)i;
        } else {
            known *= s[i];
        }
    }
    if (infer >= 0) {
        if (known == 0 || numel() % known) throw Error("reshape: cannot reshape " + to_string(shape()) + " (" + std::to_string(numel()) + " elements) to " + to_string(new_shape));
        s[infer] = numel() / known;
    }
    if (tt::numel(s) != numel())
        throw Error("reshape: cannot reshape " + to_string(shape()) + " (" + std::to_string(numel()) +
                    " elements) to " + to_string(new_shape) + " (" + std::to_string(tt::numel(s)) + " elements)");
    // END SOLUTION
    if (!is_contiguous()) throw Error("view: tensor of shape " + to_string(shape()) + " is not contiguous; use reshape() (copies) or contiguous() first");
    Tensor out = make_view(*this, s, contiguous_strides(s), impl->offset);
    if (needs_grad({this})) {
        Tensor x = *this;
        record("reshape", {x}, out, [x](const Tensor& g) { accumulate_grad(x, g.reshape(x.shape())); });
    }
    return out;
}

Tensor Tensor::reshape(const Shape& new_shape) const {
    require_defined(*this, "reshape");
    return is_contiguous() ? view(new_shape) : contiguous().view(new_shape);
}

Tensor Tensor::permute(const Shape& order) const {
    require_defined(*this, "permute");
    if ((int64_t)order.size() != dim())
        throw Error("permute: order " + to_string(order) + " does not have one entry per axis of shape " + to_string(shape()));
    Shape s(dim()), st(dim()), inverse(dim(), -1);
    // BEGIN SOLUTION Lesson 01: Tensor::permute: the axes' sizes and strides in the new order
    for (int64_t i = 0; i < dim(); i++) {
        const int64_t a = normalize_axis(order[i], dim(), "permute");
        if (inverse[a] != -1) throw Error("permute: axis " + std::to_string(a) + " appears twice in " + to_string(order));
        inverse[a] = i;
        s[i] = impl->shape[a];
        st[i] = impl->strides[a];
    }
    // END SOLUTION
    Tensor out = make_view(*this, s, st, impl->offset);
    if (needs_grad({this})) {
        Tensor x = *this;
        record("permute", {x}, out, [x, inverse](const Tensor& g) { accumulate_grad(x, g.permute(inverse)); });
    }
    return out;
}

Tensor Tensor::transpose(int64_t a, int64_t b) const {
    require_defined(*this, "transpose");
    a = normalize_axis(a, dim(), "transpose");
    b = normalize_axis(b, dim(), "transpose");
    Shape order(dim());
    std::iota(order.begin(), order.end(), 0);
    std::swap(order[a], order[b]);
    return permute(order);
}

Tensor Tensor::slice(int64_t axis, int64_t start, int64_t end, int64_t step) const {
    require_defined(*this, "slice");
    axis = normalize_axis(axis, dim(), "slice");
    const int64_t n = impl->shape[axis];
    if (step <= 0) throw Error("slice: step must be positive, got " + std::to_string(step));
    if (start < 0) start += n;
    if (end < 0) end += n;
    if (start < 0 || end > n || start > end)
        throw Error("slice: range [" + std::to_string(start) + ":" + std::to_string(end) + "] is out of bounds for axis " +
                    std::to_string(axis) + " of shape " + to_string(shape()));
    Shape s = impl->shape, st = impl->strides;
    int64_t offset = impl->offset;
    // BEGIN SOLUTION Lesson 01: Tensor::slice: every step-th index from start to end
    s[axis] = (end - start + step - 1) / step;
    st[axis] *= step;
    offset += start * impl->strides[axis];
    // END SOLUTION
    Tensor out = make_view(*this, s, st, offset);
    if (needs_grad({this})) {
        Tensor x = *this;
        record("slice", {x}, out, [x, axis, start, end, step](const Tensor& g) {
            // BEGIN SOLUTION Lesson 06: backward of slice
            Tensor gx = Tensor::zeros(x.shape());
            Tensor window = gx.slice(axis, start, end, step); // a view into gx
            const Tensor gd = dense(g); // held: a copy when g is a view
            const float* src = gd.data();
            float* dst = base_of(gx);
            const Shape gs = contiguous_strides(g.shape()), zero(g.dim(), 0);
            strided_loop(g.shape(), window.strides().data(), window.impl->offset, gs.data(), 0, zero.data(), 0,
                         [&](int64_t o, int64_t i, int64_t) { dst[o] = src[i]; });
            accumulate_grad(x, std::move(gx));
            // END SOLUTION
        });
    }
    return out;
}

Tensor Tensor::contiguous() const {
    require_defined(*this, "contiguous");
    if (is_contiguous()) return *this;
    return clone();
}

Tensor Tensor::clone() const {
    require_defined(*this, "clone");
    Tensor out = new_tensor(shape(), "clone");
    const Tensor d = dense(*this);
    std::copy(d.data(), d.data() + d.numel(), out.data());
    if (needs_grad({this})) {
        Tensor x = *this;
        record("clone", {x}, out, [x](const Tensor& g) { accumulate_grad(x, g); });
    }
    return out;
}

Tensor Tensor::detach() const {
    require_defined(*this, "detach");
    return make_view(*this, impl->shape, impl->strides, impl->offset);
}

bool Tensor::requires_grad() const { return defined() && impl->requires_grad; }
Tensor& Tensor::requires_grad_(bool on) {
    require_defined(*this, "requires_grad_");
    if (!impl->is_leaf && !on) throw Error("requires_grad_: cannot switch off gradients of a recorded result; use detach()");
    impl->requires_grad = on;
    return *this;
}
Tensor Tensor::grad() const {
    require_defined(*this, "grad");
    return impl->grad ? Tensor(impl->grad) : Tensor();
}
void Tensor::zero_grad() {
    if (defined()) impl->grad.reset(); // releases the gradient's bytes; the next backward allocates anew
}

// Part 5, element-wise arithmetic with broadcasting.

Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op) {
    const size_t rank = std::max(a.size(), b.size());
    Shape out(rank);
    // BEGIN SOLUTION Lesson 01: broadcast_shapes: the broadcasting rule
    for (size_t i = 0; i < rank; i++) {
        const int64_t da = i < rank - a.size() ? 1 : a[i - (rank - a.size())];
        const int64_t db = i < rank - b.size() ? 1 : b[i - (rank - b.size())];
        if (da != db && da != 1 && db != 1)
            throw Error(std::string(op) + ": shapes " + to_string(a) + " and " + to_string(b) +
                        " cannot be broadcast (axis " + std::to_string(i) + ": " + std::to_string(da) +
                        " vs " + std::to_string(db) + ")");
        out[i] = da == 1 ? db : da;
    }
    // END SOLUTION
    return out;
}

// Sums g over the axes that broadcasting stretched, so it matches `shape`:
// the adjoint of broadcasting. g [2,3,4] to shape [3,1] sums axes 0 and 2.
Tensor sum_to_shape(const Tensor& g, const Shape& shape) {
    if (g.shape() == shape) return g;
    // BEGIN SOLUTION Lesson 06: sum_to_shape: sum a gradient back over the broadcast axes
    Tensor out = g;
    while (out.dim() > (int64_t)shape.size()) out = sum(out, 0);
    for (int64_t i = 0; i < (int64_t)shape.size(); i++)
        if (shape[i] == 1 && out.shape()[i] != 1) out = sum(out, i, true);
    if (out.shape() != shape)
        throw Error("sum_to_shape: gradient of shape " + to_string(g.shape()) + " cannot be reduced to " + to_string(shape));
    return out;
    // END SOLUTION
}

namespace {
// The first gradient to reach an input becomes its .grad; later ones are added
// in place. A gradient passed as a temporary (may_adopt) is adopted as it is,
// storage and all; one passed by name is copied, because the caller may hand
// the same tensor to another input too (add gives dy to both a and b).
void accumulate(const Tensor& input, const Tensor& g, bool may_adopt) {
    if (!input.requires_grad()) return;
    // BEGIN SOLUTION Lesson 06: accumulate: the first gradient becomes .grad, later ones add to it
    const Tensor reduced = sum_to_shape(g, input.shape());
    TensorImpl& x = *input.impl;
    if (!x.grad) {
        const bool fresh = reduced.impl != g.impl; // sum_to_shape made it
        x.grad = (may_adopt || fresh) && reduced.is_contiguous()
                     ? make_view(reduced, reduced.shape(), reduced.strides(), reduced.impl->offset).impl
                     : reduced.clone().impl;
        return;
    }
    float* dst = Tensor(x.grad).data();
    const Tensor src = dense(reduced);
    const float* s = src.data();
    for (int64_t i = 0, n = src.numel(); i < n; i++) dst[i] += s[i];
    // END SOLUTION
}
} // namespace

void accumulate_grad(const Tensor& input, const Tensor& g) { accumulate(input, g, false); }
void accumulate_grad(const Tensor& input, Tensor&& g) { accumulate(input, g, true); }

namespace {
// out = f(a, b) elementwise, with broadcasting; the loop every binary op shares.
template <class F>
Tensor binary_map(const Tensor& a, const Tensor& b, const char* op, F f) {
    require_defined(a, op);
    require_defined(b, op);
    const Shape shape = broadcast_shapes(a.shape(), b.shape(), op);
    OpScope scope(op);
    count_op((double)numel(shape), 4.0 * (a.numel() + b.numel()), 4.0 * numel(shape)); // 1 flop per output element
    Tensor out = new_tensor(shape, op);
    const Shape sa = broadcast_strides(a, shape), sb = broadcast_strides(b, shape), so = contiguous_strides(shape);
    const float *pa = base_of(a), *pb = base_of(b);
    float* po = out.data();
    strided_loop(shape, sa.data(), a.impl->offset, sb.data(), b.impl->offset, so.data(), 0,
                 [&](int64_t i, int64_t j, int64_t k) { po[k] = f(pa[i], pb[j]); });
    return out;
}

// out = f(x) elementwise.
template <class F>
Tensor unary_map(const Tensor& x, const char* op, F f) {
    require_defined(x, op);
    OpScope scope(op);
    count_op((double)x.numel(), 4.0 * x.numel(), 4.0 * x.numel()); // 1 flop per element, whatever f is
    const Tensor d = dense(x);
    Tensor out = new_tensor(x.shape(), op);
    // BEGIN SOLUTION Lesson 01: unary_map: y = f(x) for every element
    const float* in = d.data();
    float* o = out.data();
    for (int64_t i = 0, n = d.numel(); i < n; i++) o[i] = f(in[i]);
    // END SOLUTION
    return out;
}

// Elementwise g * f'(x, y) for the backward of a unary op: x its input, y its output.
// A gradient nobody else holds is overwritten in place: backward() hands each
// node its output's gradient and drops its own reference first, so on the
// training path this saves one allocation per element-wise op.
template <class F>
Tensor unary_grad(const Tensor& g, const Tensor& x, const Tensor& y, F derivative) {
    const bool sole_owner = g.is_contiguous() && g.impl.use_count() == 1 && g.impl->storage.use_count() == 1;
    const Tensor gd = dense(g), xd = dense(x), yd = dense(y);
    count_op(2.0 * x.numel(), 12.0 * x.numel(), 4.0 * x.numel()); // the derivative and the product: 2 flops
    Tensor out = sole_owner ? g : new_tensor(x.shape(), "backward");
    const float *pg = gd.data(), *px = xd.data(), *py = yd.data();
    float* o = out.data();
    for (int64_t i = 0, n = out.numel(); i < n; i++) o[i] = pg[i] * derivative(px[i], py[i]);
    return out;
}
} // namespace

// y = a + b          da += dy, db += dy   (each summed back to its own shape)
Tensor add(const Tensor& a, const Tensor& b) {
    Tensor y = binary_map(a, b, "add", [](float p, float q) { return p + q; });
    if (needs_grad({&a, &b}))
        record("add", {a, b}, y, [a, b](const Tensor& g) { accumulate_grad(a, g); accumulate_grad(b, g); });
    return y;
}
// y = a - b          da += dy, db -= dy
Tensor sub(const Tensor& a, const Tensor& b) {
    Tensor y = binary_map(a, b, "sub", [](float p, float q) { return p - q; });
    if (needs_grad({&a, &b}))
        record("sub", {a, b}, y, [a, b](const Tensor& g) {
            // BEGIN SOLUTION Lesson 06: backward of sub
            accumulate_grad(a, g);
            if (b.requires_grad()) accumulate_grad(b, -g);
            // END SOLUTION
        });
    return y;
}
// y = a * b          da += dy*b, db += dy*a
Tensor mul(const Tensor& a, const Tensor& b) {
    Tensor y = binary_map(a, b, "mul", [](float p, float q) { return p * q; });
    if (needs_grad({&a, &b}))
        record("mul", {a, b}, y, [a, b](const Tensor& g) {
            // BEGIN SOLUTION Lesson 06: backward of mul
            if (a.requires_grad()) accumulate_grad(a, g * b);
            if (b.requires_grad()) accumulate_grad(b, g * a);
            // END SOLUTION
        });
    return y;
}
// y = a / b          da += dy/b, db -= dy*a/b^2
Tensor div(const Tensor& a, const Tensor& b) {
    Tensor y = binary_map(a, b, "div", [](float p, float q) { return p / q; });
    if (needs_grad({&a, &b}))
        record("div", {a, b}, y, [a, b](const Tensor& g) {
            // BEGIN SOLUTION Lesson 06: backward of div
            if (a.requires_grad()) accumulate_grad(a, g / b);
            if (b.requires_grad()) accumulate_grad(b, -(g * a) / (b * b));
            // END SOLUTION
        });
    return y;
}

Tensor operator+(const Tensor& a, const Tensor& b) { return add(a, b); }
Tensor operator-(const Tensor& a, const Tensor& b) { return sub(a, b); }
Tensor operator*(const Tensor& a, const Tensor& b) { return mul(a, b); }
Tensor operator/(const Tensor& a, const Tensor& b) { return div(a, b); }
// A scalar operand is a shape-[] tensor, broadcast like any other.
Tensor operator+(const Tensor& a, float s) { return add(a, Tensor::scalar(s)); }
Tensor operator-(const Tensor& a, float s) { return sub(a, Tensor::scalar(s)); }
Tensor operator*(const Tensor& a, float s) { return mul(a, Tensor::scalar(s)); }
Tensor operator/(const Tensor& a, float s) { return div(a, Tensor::scalar(s)); }
Tensor operator+(float s, const Tensor& a) { return add(Tensor::scalar(s), a); }
Tensor operator-(float s, const Tensor& a) { return sub(Tensor::scalar(s), a); }
Tensor operator*(float s, const Tensor& a) { return mul(Tensor::scalar(s), a); }
Tensor operator/(float s, const Tensor& a) { return div(Tensor::scalar(s), a); }
Tensor operator-(const Tensor& a) { return mul(a, Tensor::scalar(-1.0f)); }

// y = exp(x)         dx += dy*y
Tensor exp(const Tensor& x) {
    Tensor y = unary_map(x, "exp", [](float v) { return std::exp(v); });
    if (needs_grad({&x}))
        record("exp", {x}, y, [x, y](const Tensor& g) {
            // BEGIN SOLUTION Lesson 06: backward of exp
            accumulate_grad(x, unary_grad(g, x, y, [](float, float yv) { return yv; }));
            // END SOLUTION
        });
    return y;
}
// y = log(x)         dx += dy/x
Tensor log(const Tensor& x) {
    Tensor y = unary_map(x, "log", [](float v) { return std::log(v); });
    if (needs_grad({&x}))
        record("log", {x}, y, [x, y](const Tensor& g) {
            // BEGIN SOLUTION Lesson 06: backward of log
            accumulate_grad(x, unary_grad(g, x, y, [](float xv, float) { return 1.0f / xv; }));
            // END SOLUTION
        });
    return y;
}
// y = sqrt(x)        dx += dy/(2y)
Tensor sqrt(const Tensor& x) {
    Tensor y = unary_map(x, "sqrt", [](float v) { return std::sqrt(v); });
    if (needs_grad({&x}))
        record("sqrt", {x}, y, [x, y](const Tensor& g) {
            // BEGIN SOLUTION Lesson 06: backward of sqrt
            accumulate_grad(x, unary_grad(g, x, y, [](float, float yv) { return 0.5f / yv; }));
            // END SOLUTION
        });
    return y;
}
// y = x^p            dx += dy*p*x^(p-1);  p = 0: dx += 0, at x = 0 too (as PyTorch)
// x^0 = 1 is flat everywhere, but the formula at x = 0 reads 0 * 0^-1 = 0 * inf = NaN.
Tensor pow(const Tensor& x, float p) {
    Tensor y = unary_map(x, "pow", [p](float v) { return std::pow(v, p); });
    if (needs_grad({&x}))
        record("pow", {x}, y, [x, y, p](const Tensor& g) {
            // BEGIN SOLUTION Lesson 06: backward of pow
            if (p == 0.0f) accumulate_grad(x, Tensor::zeros(x.shape()));
            else accumulate_grad(x, unary_grad(g, x, y, [p](float xv, float) { return p * std::pow(xv, p - 1.0f); }));
            // END SOLUTION
        });
    return y;
}
// y = |x|            dx += dy*sign(x)
Tensor abs(const Tensor& x) {
    Tensor y = unary_map(x, "abs", [](float v) { return std::fabs(v); });
    if (needs_grad({&x}))
        record("abs", {x}, y, [x, y](const Tensor& g) {
            // BEGIN SOLUTION Lesson 06: backward of abs
            accumulate_grad(x, unary_grad(g, x, y, [](float xv, float) { return xv > 0 ? 1.0f : xv < 0 ? -1.0f : 0.0f; }));
            // END SOLUTION
        });
    return y;
}

// Part 6, reductions. A reduction over axis a sees a contiguous tensor as
// [outer, n, inner]: outer = product of sizes before a, inner = after.

namespace {
struct AxisSplit {
    int64_t outer, n, inner;
};
AxisSplit split_at(const Shape& shape, int64_t axis) {
    AxisSplit s{1, shape[axis], 1};
    for (int64_t i = 0; i < axis; i++) s.outer *= shape[i];
    for (size_t i = axis + 1; i < shape.size(); i++) s.inner *= shape[i];
    return s;
}
Shape reduced_shape(const Shape& shape, int64_t axis, bool keepdims) {
    Shape out = shape;
    if (keepdims) out[axis] = 1;
    else out.erase(out.begin() + axis);
    return out;
}
// A view of g with size-1 axes where x had the reduced axis, with stride 0, so
// that it reads as x's shape: how a reduction's backward spreads dy back.
Tensor expand_back(const Tensor& g, const Shape& shape, int64_t axis, bool keepdims) {
    Shape kept = shape;
    kept[axis] = 1;
    Tensor gk = dense(g);
    if (!keepdims) gk = make_view(gk, kept, contiguous_strides(kept), gk.impl->offset);
    Shape strides = contiguous_strides(kept);
    strides[axis] = 0;
    return make_view(gk, shape, strides, gk.impl->offset);
}
} // namespace

// y = sum_a x        dx += dy (spread along a)
Tensor sum(const Tensor& x, int64_t axis, bool keepdims) {
    require_defined(x, "sum");
    axis = normalize_axis(axis, x.dim(), "sum");
    OpScope scope("sum");
    Tensor y = new_tensor(reduced_shape(x.shape(), axis, keepdims), "sum");
    count_op((double)x.numel(), 4.0 * x.numel(), 4.0 * y.numel()); // one add per element
    // BEGIN SOLUTION Lesson 01: sum: add up along one axis
    const Tensor d = dense(x);
    const AxisSplit s = split_at(x.shape(), axis);
    const float* in = d.data();
    float* out = y.data();
    for (int64_t o = 0; o < s.outer; o++)
        for (int64_t k = 0; k < s.n; k++)
            for (int64_t i = 0; i < s.inner; i++) out[o * s.inner + i] += in[(o * s.n + k) * s.inner + i];
    // END SOLUTION
    if (needs_grad({&x}))
        record("sum", {x}, y, [x, axis, keepdims](const Tensor& g) {
            // BEGIN SOLUTION Lesson 06: backward of sum
            accumulate_grad(x, dense(expand_back(g, x.shape(), axis, keepdims)));
            // END SOLUTION
        });
    return y;
}

Tensor sum(const Tensor& x) {
    require_defined(x, "sum");
    return sum(x.reshape({x.numel()}), 0);
}

// y = sum_a x / n    dx += dy/n
Tensor mean(const Tensor& x, int64_t axis, bool keepdims) {
    require_defined(x, "mean");
    const int64_t n = x.size(axis);
    if (n == 0) throw Error("mean: axis " + std::to_string(axis) + " of shape " + to_string(x.shape()) + " is empty");
    return sum(x, axis, keepdims) * (1.0f / (float)n);
}
Tensor mean(const Tensor& x) {
    require_defined(x, "mean");
    if (x.numel() == 0) throw Error("mean: the tensor of shape " + to_string(x.shape()) + " is empty");
    return sum(x) * (1.0f / (float)x.numel());
}

namespace {
// Index of the largest value along `axis`, as floats: the first, on ties;
// a NaN counts as larger than any number (the first NaN wins), so that a NaN
// propagates through max as it does in PyTorch, instead of hiding behind
// the numbers (max([1, NaN, 2]) is NaN, argmax 1).
Tensor argmax_along(const Tensor& x, int64_t axis, const char* op) {
    axis = normalize_axis(axis, x.dim(), op);
    if (x.shape()[axis] == 0) throw Error(std::string(op) + ": axis " + std::to_string(axis) + " of shape " + to_string(x.shape()) + " is empty");
    Tensor idx = new_tensor(reduced_shape(x.shape(), axis, true), op);
    // BEGIN SOLUTION Lesson 01: argmax_along: the index of the largest value along one axis
    const Tensor d = dense(x);
    const AxisSplit s = split_at(x.shape(), axis);
    const float* in = d.data();
    for (int64_t o = 0; o < s.outer; o++)
        for (int64_t i = 0; i < s.inner; i++) {
            int64_t best = 0;
            for (int64_t k = 1; k < s.n; k++) {
                const float v = in[(o * s.n + k) * s.inner + i], top = in[(o * s.n + best) * s.inner + i];
                if (v > top || (std::isnan(v) && !std::isnan(top))) best = k;
            }
            idx.data()[o * s.inner + i] = (float)best;
        }
    // END SOLUTION
    return idx;
}
} // namespace

// y = max_a x        dx += dy at argmax's position (the first max, or the first NaN), 0 elsewhere
Tensor max(const Tensor& x, int64_t axis, bool keepdims) {
    require_defined(x, "max");
    axis = normalize_axis(axis, x.dim(), "max");
    OpScope scope("max");
    count_op((double)x.numel(), 4.0 * x.numel(), 4.0 * x.numel() / std::max<int64_t>(1, x.size(axis))); // a compare per element
    const Tensor idx = argmax_along(x, axis, "max");
    const Tensor d = dense(x);
    const AxisSplit s = split_at(x.shape(), axis);
    Tensor y = new_tensor(reduced_shape(x.shape(), axis, keepdims), "max");
    // BEGIN SOLUTION Lesson 01: max: the largest value along one axis, at argmax's index
    for (int64_t o = 0; o < s.outer; o++)
        for (int64_t i = 0; i < s.inner; i++)
            y.data()[o * s.inner + i] = d.data()[(o * s.n + (int64_t)idx.data()[o * s.inner + i]) * s.inner + i];
    // END SOLUTION
    if (needs_grad({&x}))
        record("max", {x}, y, [x, idx, s](const Tensor& g) {
            // BEGIN SOLUTION Lesson 06: backward of max
            Tensor gx = new_tensor(x.shape(), "max backward");
            const Tensor gd = dense(g);
            for (int64_t o = 0; o < s.outer; o++)
                for (int64_t i = 0; i < s.inner; i++)
                    gx.data()[(o * s.n + (int64_t)idx.data()[o * s.inner + i]) * s.inner + i] = gd.data()[o * s.inner + i];
            accumulate_grad(x, std::move(gx));
            // END SOLUTION
        });
    return y;
}
// y = max of every element   dx += dy/k at each of the k elements equal to y
// (each NaN, when y is NaN), 0 elsewhere: ties share the gradient evenly, as
// in PyTorch, where max along an axis gives it all to the index it returns.
Tensor max(const Tensor& x) {
    require_defined(x, "max");
    Tensor y;
    {
        NoGrad forward_only; // the value is max along one axis; the backward is this op's own
        y = max(x.reshape({x.numel()}), 0);
    }
    if (needs_grad({&x}))
        record("max", {x}, y, [x, y](const Tensor& g) {
            // BEGIN SOLUTION Lesson 06: backward of max over everything: dy shared evenly by the elements equal to the max
            const Tensor d = dense(x);
            const float top = y.item(), dy = g.item();
            auto is_max = [&](float v) { return std::isnan(top) ? std::isnan(v) : v == top; };
            int64_t ties = 0;
            for (int64_t i = 0; i < d.numel(); i++) ties += is_max(d.data()[i]);
            Tensor gx = new_tensor(x.shape(), "max backward");
            for (int64_t i = 0; i < d.numel(); i++)
                if (is_max(d.data()[i])) gx.data()[i] = dy / (float)ties;
            accumulate_grad(x, std::move(gx));
            // END SOLUTION
        });
    return y;
}
Tensor argmax(const Tensor& x, int64_t axis, bool keepdims) {
    require_defined(x, "argmax");
    axis = normalize_axis(axis, x.dim(), "argmax");
    Tensor idx = argmax_along(x, axis, "argmax");
    return keepdims ? idx : idx.reshape(reduced_shape(x.shape(), axis, false));
}
Tensor argmax(const Tensor& x) {
    require_defined(x, "argmax");
    return argmax(x.reshape({x.numel()}), 0);
}

// Part 7, the matrix product. The naive kernel is the definition, written in
// the loop order i-k-j: the inner loop walks a row of B and a row of C with
// stride 1, so it streams through memory and the compiler vectorises it. The
// order i-j-k would instead walk a column of B, one cache line per element.

void gemm_naive(int64_t M, int64_t N, int64_t K, const float* A, int64_t rsA, int64_t csA,
                const float* B, int64_t rsB, int64_t csB, float* C, int64_t ldc, bool accumulate) {
    // BEGIN SOLUTION Lesson 01: gemm_naive: C (+)= A @ B in the loop order i-k-j
    for (int64_t i = 0; i < M; i++) {
        float* c = C + i * ldc;
        if (!accumulate) std::fill(c, c + N, 0.0f);
        for (int64_t k = 0; k < K; k++) {
            const float a = A[i * rsA + k * csA];
            const float* b = B + k * rsB;
            if (csB == 1)
                for (int64_t j = 0; j < N; j++) c[j] += a * b[j];
            else
                for (int64_t j = 0; j < N; j++) c[j] += a * b[j * csB];
        }
    }
    // END SOLUTION
}
GemmKernel gemm = gemm_naive;

// C = A @ B over broadcast batch axes. a [...,M,K], b [...,K,N] -> [...,M,N]
//   dA += dC @ B^T,   dB += A^T @ dC   (each summed back over broadcast batch axes)
Tensor matmul(const Tensor& a, const Tensor& b) {
    require_defined(a, "matmul");
    require_defined(b, "matmul");
    if (a.dim() < 2 || b.dim() < 2)
        throw Error("matmul: both operands need at least 2 axes, got " + to_string(a.shape()) + " @ " + to_string(b.shape()));
    const int64_t M = a.size(-2), K = a.size(-1), N = b.size(-1);
    if (b.size(-2) != K)
        throw Error("matmul: inner sizes differ: " + to_string(a.shape()) + " @ " + to_string(b.shape()) + " (" +
                    std::to_string(K) + " vs " + std::to_string(b.size(-2)) + ")");
    const Shape batch_a(a.shape().begin(), a.shape().end() - 2), batch_b(b.shape().begin(), b.shape().end() - 2);
    Shape out_shape = broadcast_shapes(batch_a, batch_b, "matmul");
    const Shape batch = out_shape;
    out_shape.push_back(M);
    out_shape.push_back(N);
    OpScope scope("matmul");
    count_op(2.0 * (double)numel(batch) * M * N * K, 4.0 * (a.numel() + b.numel()), 4.0 * numel(out_shape)); // 2MNK per product
    Tensor y = new_tensor(out_shape, "matmul");
    // batch strides of each operand (0 where broadcast), from a batch-only view
    const Tensor a_batch = make_view(a, batch_a, Shape(a.strides().begin(), a.strides().end() - 2), a.impl->offset);
    const Tensor b_batch = make_view(b, batch_b, Shape(b.strides().begin(), b.strides().end() - 2), b.impl->offset);
    const Shape sa = broadcast_strides(a_batch, batch), sb = broadcast_strides(b_batch, batch), sy = contiguous_strides(batch);
    const float *pa = base_of(a), *pb = base_of(b);
    float* py = y.data();
    const int64_t rsA = a.strides()[a.dim() - 2], csA = a.strides()[a.dim() - 1];
    const int64_t rsB = b.strides()[b.dim() - 2], csB = b.strides()[b.dim() - 1];
    strided_loop(batch, sa.data(), a.impl->offset, sb.data(), b.impl->offset, sy.data(), 0,
                 [&](int64_t ia, int64_t ib, int64_t iy) {
                     gemm(M, N, K, pa + ia, rsA, csA, pb + ib, rsB, csB, py + iy * M * N, N, false);
                 });
    if (needs_grad({&a, &b}))
        record("matmul", {a, b}, y, [a, b](const Tensor& g) {
            // BEGIN SOLUTION Lesson 06: backward of matmul
            if (a.requires_grad()) accumulate_grad(a, matmul(g, b.transpose(-2, -1)));
            if (b.requires_grad()) accumulate_grad(b, matmul(a.transpose(-2, -1), g));
            // END SOLUTION
        });
    return y;
}

// Part 8, copying and gathering.

// y = x[..., index, ...] along axis       dx[index[i]] += dy[i]   (repeats add up)
Tensor index_select(const Tensor& x, int64_t axis, const std::vector<int64_t>& index) {
    require_defined(x, "index_select");
    axis = normalize_axis(axis, x.dim(), "index_select");
    const AxisSplit s = split_at(x.shape(), axis);
    for (int64_t i : index)
        if (i < 0 || i >= s.n)
            throw Error("index_select: index " + std::to_string(i) + " is out of range for axis " + std::to_string(axis) +
                        " of shape " + to_string(x.shape()));
    Shape shape = x.shape();
    shape[axis] = (int64_t)index.size();
    OpScope scope("index_select");
    count_op(0, 4.0 * numel(shape), 4.0 * numel(shape)); // a gather: bytes only
    Tensor y = new_tensor(shape, "index_select");
    // BEGIN SOLUTION Lesson 01: index_select: gather the chosen rows along an axis
    const Tensor d = dense(x);
    const int64_t m = (int64_t)index.size();
    for (int64_t o = 0; o < s.outer; o++)
        for (int64_t k = 0; k < m; k++)
            std::memcpy(y.data() + (o * m + k) * s.inner, d.data() + (o * s.n + index[k]) * s.inner, sizeof(float) * s.inner);
    // END SOLUTION
    if (needs_grad({&x}))
        record("index_select", {x}, y, [x, index, s](const Tensor& g) {
            // BEGIN SOLUTION Lesson 06: backward of index_select
            Tensor gx = new_tensor(x.shape(), "index_select backward");
            const Tensor gd = dense(g);
            const int64_t m = (int64_t)index.size();
            float* to = gx.data();
            const float* from = gd.data();
            for (int64_t o = 0; o < s.outer; o++)
                for (int64_t k = 0; k < m; k++) {
                    float* row = to + (o * s.n + index[k]) * s.inner;
                    const float* grow = from + (o * m + k) * s.inner;
                    for (int64_t i = 0; i < s.inner; i++) row[i] += grow[i];
                }
            accumulate_grad(x, std::move(gx));
            // END SOLUTION
        });
    return y;
}

// y = [a | b | ...] along axis            each part gets its slice of dy
Tensor concat(const std::vector<Tensor>& parts, int64_t axis) {
    if (parts.empty()) throw Error("concat: no tensors given");
    for (const Tensor& p : parts) require_defined(p, "concat");
    axis = normalize_axis(axis, parts[0].dim(), "concat");
    Shape shape = parts[0].shape();
    shape[axis] = 0;
    for (const Tensor& p : parts) {
        Shape other = p.shape();
        if ((int64_t)other.size() != (int64_t)shape.size())
            throw Error("concat: shapes " + to_string(parts[0].shape()) + " and " + to_string(p.shape()) + " differ in rank");
        const int64_t n = other[axis];
        other[axis] = 0;
        Shape expected = shape;
        expected[axis] = 0;
        if (other != expected)
            throw Error("concat: shapes " + to_string(parts[0].shape()) + " and " + to_string(p.shape()) +
                        " differ outside axis " + std::to_string(axis));
        shape[axis] += n;
    }
    OpScope scope("concat");
    count_op(0, 4.0 * numel(shape), 4.0 * numel(shape)); // a copy: bytes only
    Tensor y = new_tensor(shape, "concat");
    // BEGIN SOLUTION Lesson 01: concat: copy each part into its place along the axis
    const AxisSplit s = split_at(shape, axis);
    int64_t at = 0;
    for (const Tensor& p : parts) {
        const Tensor d = dense(p);
        const int64_t n = p.shape()[axis];
        for (int64_t o = 0; o < s.outer; o++)
            std::memcpy(y.data() + (o * s.n + at) * s.inner, d.data() + o * n * s.inner, sizeof(float) * n * s.inner);
        at += n;
    }
    // END SOLUTION
    bool any_needs_grad = false;
    for (const Tensor& p : parts) any_needs_grad = any_needs_grad || needs_grad({&p});
    if (any_needs_grad)
        record("concat", parts, y, [parts, axis](const Tensor& g) {
            // BEGIN SOLUTION Lesson 06: backward of concat
            int64_t start = 0;
            for (const Tensor& p : parts) {
                const int64_t n = p.shape()[axis];
                if (p.requires_grad()) accumulate_grad(p, dense(g.slice(axis, start, start + n)));
                start += n;
            }
            // END SOLUTION
        });
    return y;
}

// ===== Lesson 02 · Activations ===============================================
// Each activation reads every element once and writes it once, doing a
// handful of flops per element: 8 bytes moved per element for 1–20 flops,
// so their speed is set by memory bandwidth, not arithmetic.

// y = max(0, x)                       dx += dy * (x > 0), or dy where x is NaN
Tensor relu(const Tensor& x) {
    // Written so that a NaN passes through (NaN < 0 is false), as in PyTorch,
    // whose backward zeroes dy only where y <= 0: at a NaN the gradient passes.
    Tensor y = unary_map(x, "relu", [](float v) -> float {
        // BEGIN SOLUTION Lesson 02: relu: max(0, x), letting a NaN through
        return v < 0 ? 0.0f : v;
        // END SOLUTION
    });
    if (needs_grad({&x}))
        record("relu", {x}, y, [x, y](const Tensor& g) {
            // BEGIN SOLUTION Lesson 06: backward of relu
            accumulate_grad(x, unary_grad(g, x, y, [](float xv, float) { return xv <= 0 ? 0.0f : 1.0f; }));
            // END SOLUTION
        });
    return y;
}

// y = 1/(1+exp(-x))                   dx += dy * y*(1-y)
// For x < 0, exp(-x) overflows to inf when x < -88; the equal form
// exp(x)/(1+exp(x)) does not, so each sign uses the form that is safe.
Tensor sigmoid(const Tensor& x) {
    Tensor y = unary_map(x, "sigmoid", [](float v) -> float {
        // BEGIN SOLUTION Lesson 02: sigmoid: in the form that is safe for the sign of x
        if (v >= 0) return 1.0f / (1.0f + std::exp(-v));
        const float e = std::exp(v);
        return e / (1.0f + e);
        // END SOLUTION
    });
    if (needs_grad({&x}))
        record("sigmoid", {x}, y, [x, y](const Tensor& g) {
            // BEGIN SOLUTION Lesson 06: backward of sigmoid
            accumulate_grad(x, unary_grad(g, x, y, [](float, float yv) { return yv * (1.0f - yv); }));
            // END SOLUTION
        });
    return y;
}

// y = tanh(x)                         dx += dy * (1-y^2)
Tensor tanh(const Tensor& x) {
    Tensor y = unary_map(x, "tanh", [](float v) -> float {
        // BEGIN SOLUTION Lesson 02: tanh: the hyperbolic tangent
        return std::tanh(v);
        // END SOLUTION
    });
    if (needs_grad({&x}))
        record("tanh", {x}, y, [x, y](const Tensor& g) {
            // BEGIN SOLUTION Lesson 06: backward of tanh
            accumulate_grad(x, unary_grad(g, x, y, [](float, float yv) { return 1.0f - yv * yv; }));
            // END SOLUTION
        });
    return y;
}

namespace {
// tanh in float without a library call, so that a loop over it vectorises:
// std::tanh costs ~16 ns an element here, which made gelu most of a GPT's
// training step. tanh|u| = (1 - e)/(1 + e) with e = exp(-2|u|) = 2^t, split
// as 2^n (built in the exponent bits) times exp(r), |r| <= ln2/2, from its
// Taylor polynomial of degree 7 (error < 1e-8). Absolute error below 2e-7,
// what gelu needs: it adds tanh to 1. |u| >= 9 gives +-1, as float tanh does.
inline float tanh_float(float u) {
    const float a = std::min(std::fabs(u), 9.0f);
    const float t = -2.0f * a * 1.44269504f;      // exp(-2a) = 2^t, t in [-26, 0]
    const int32_t n = (int32_t)(t - 0.5f);         // t rounded to the nearest integer (t <= 0)
    const float r = (t - (float)n) * 0.693147181f; // 2^(t-n) = exp(r)
    float p = 1.0f / 5040;
    for (float c : {1.0f / 720, 1.0f / 120, 1.0f / 24, 1.0f / 6, 0.5f, 1.0f, 1.0f}) p = p * r + c;
    const int32_t bits = (n + 127) << 23;          // the float 2^n
    float two_to_n;
    std::memcpy(&two_to_n, &bits, sizeof two_to_n);
    const float e = p * two_to_n, y = (1.0f - e) / (1.0f + e);
    return u < 0 ? -y : y;
}
} // namespace

// y = x/2 * (1 + tanh(u)),  u = sqrt(2/pi) * (x + 0.044715 x^3)   (the tanh approximation)
// dx += dy * (1/2 (1 + tanh u) + x/2 (1 - tanh^2 u) sqrt(2/pi) (1 + 3*0.044715 x^2))
// The two loops are functions of their own so that they are compiled for the
// CPU's widest vectors (TT_VECTOR_CLONES): a GPT's MLP runs gelu over 4C
// values per token, forward and backward, and at 4 floats a step (the
// baseline build) it was a tenth of milestone 2017's training step.
namespace {
constexpr float kGeluC = 0.7978845608f, kGeluK = 0.044715f; // sqrt(2/pi), the cubic's weight
TT_VECTOR_CLONES void gelu_loop(const float* x, float* y, int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        const float v = x[i];
        // BEGIN SOLUTION Lesson 02: gelu_loop: the tanh approximation
        y[i] = 0.5f * v * (1.0f + tanh_float(kGeluC * (v + kGeluK * v * v * v)));
        // END SOLUTION
    }
}
TT_VECTOR_CLONES void gelu_backward_loop(const float* x, const float* dy, float* dx, int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        const float v = x[i];
        // BEGIN SOLUTION Lesson 06: gelu_backward_loop: dy times the slope of the tanh approximation
        const float t = tanh_float(kGeluC * (v + kGeluK * v * v * v));
        dx[i] = dy[i] * (0.5f * (1.0f + t) + 0.5f * v * (1.0f - t * t) * kGeluC * (1.0f + 3.0f * kGeluK * v * v));
        // END SOLUTION
    }
}
} // namespace

Tensor gelu(const Tensor& x) {
    require_defined(x, "gelu");
    OpScope scope("gelu");
    count_op((double)x.numel(), 4.0 * x.numel(), 4.0 * x.numel()); // 1 flop per element, as every element-wise op
    const Tensor xd = dense(x);
    Tensor y = new_tensor(x.shape(), "gelu", false);
    gelu_loop(xd.data(), y.data(), xd.numel());
    if (needs_grad({&x}))
        record("gelu", {x}, y, [x](const Tensor& g) {
            const Tensor gd = dense(g), xd = dense(x);
            count_op(2.0 * x.numel(), 8.0 * x.numel(), 4.0 * x.numel());
            Tensor gx = new_tensor(x.shape(), "gelu backward", false);
            gelu_backward_loop(xd.data(), gd.data(), gx.data(), xd.numel());
            accumulate_grad(x, std::move(gx));
        });
    return y;
}

namespace {
// Softmax and log-softmax along `axis`, seen as [outer, n, inner]. The max is
// subtracted first: exp(x - max) <= 1 never overflows, and the result is the
// same because softmax(x) = softmax(x - c) for any constant c.
Tensor softmax_forward(const Tensor& x, int64_t axis, bool take_log, const char* op) {
    require_defined(x, op);
    axis = normalize_axis(axis, x.dim(), op);
    OpScope scope(op);
    count_op(5.0 * x.numel(), 4.0 * x.numel(), 4.0 * x.numel()); // max, subtract, exp, sum, normalise: 5 per element
    Tensor y = new_tensor(x.shape(), op);
    // BEGIN SOLUTION Lesson 02: softmax_forward: subtract the max, exponentiate, divide by the sum
    const Tensor d = dense(x);
    const AxisSplit s = split_at(x.shape(), axis);
    const float* in = d.data();
    float* out = y.data();
    for (int64_t o = 0; o < s.outer; o++)
        for (int64_t i = 0; i < s.inner; i++) {
            const float* row = in + o * s.n * s.inner + i;
            float* dst = out + o * s.n * s.inner + i;
            float biggest = -std::numeric_limits<float>::infinity();
            for (int64_t k = 0; k < s.n; k++) biggest = std::max(biggest, row[k * s.inner]);
            double total = 0;
            for (int64_t k = 0; k < s.n; k++) total += std::exp((double)(row[k * s.inner] - biggest));
            const float log_total = (float)std::log(total);
            for (int64_t k = 0; k < s.n; k++) {
                const float shifted = row[k * s.inner] - biggest - log_total; // log of the probability
                dst[k * s.inner] = take_log ? shifted : std::exp(shifted);
            }
        }
    // END SOLUTION
    return y;
}
} // namespace

// y = exp(x - max) / sum exp(x - max)        dx += y * (dy - sum(dy * y))
Tensor softmax(const Tensor& x, int64_t axis) {
    Tensor y = softmax_forward(x, axis, false, "softmax");
    if (needs_grad({&x})) {
        axis = normalize_axis(axis, x.dim(), "softmax");
        record("softmax", {x}, y, [x, y, axis](const Tensor& g) {
            // BEGIN SOLUTION Lesson 06: backward of softmax
            accumulate_grad(x, y * (g - sum(g * y, axis, true)));
            // END SOLUTION
        });
    }
    return y;
}

// y = x - max - log(sum exp(x - max))        dx += dy - softmax(x) * sum(dy)
Tensor log_softmax(const Tensor& x, int64_t axis) {
    Tensor y = softmax_forward(x, axis, true, "log_softmax");
    if (needs_grad({&x})) {
        axis = normalize_axis(axis, x.dim(), "log_softmax");
        record("log_softmax", {x}, y, [x, y, axis](const Tensor& g) {
            // BEGIN SOLUTION Lesson 06: backward of log_softmax
            accumulate_grad(x, g - exp(y) * sum(g, axis, true));
            // END SOLUTION
        });
    }
    return y;
}

// ===== Lesson 03 · Layers ====================================================
// A layer is a function with parameters. Parameters live as long as the model
// and are counted under Parameters; the activations a forward pass makes are
// temporary, and at large batch sizes they outweigh the parameters.

std::vector<std::pair<std::string, Tensor>> Module::named_parameters() {
    std::vector<std::pair<std::string, Tensor>> out;
    int i = 0;
    for (Tensor& p : parameters()) out.push_back({std::to_string(i++), p});
    return out;
}
int64_t Module::num_parameters() {
    int64_t n = 0;
    for (Tensor& p : parameters()) n += p.numel();
    return n;
}
void Module::zero_grad() {
    for (Tensor& p : parameters()) p.zero_grad();
}

Tensor make_parameter(Tensor t) {
    t = t.detach();
    t.impl->storage->set_category(Category::Parameters);
    t.requires_grad_(true);
    return t;
}

// y = x @ W^T + b, one op with its bias fused in: one pass over y instead of two.
// x [...,in], W [out,in], b [out] -> y [...,out]
//   dx += dy @ W,   dW += dy^T @ x,   db += sum of dy over the rows
Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias) {
    require_defined(x, "linear");
    require_defined(weight, "linear");
    if (weight.dim() != 2) throw Error("linear: weight must be [out,in], got " + to_string(weight.shape()));
    const int64_t out_f = weight.size(0), in_f = weight.size(1);
    if (x.dim() < 1 || x.size(-1) != in_f)
        throw Error("linear: input " + to_string(x.shape()) + " does not end in " + std::to_string(in_f) +
                    " features (weight " + to_string(weight.shape()) + ")");
    if (bias.defined() && bias.shape() != Shape{out_f})
        throw Error("linear: bias " + to_string(bias.shape()) + " should be [" + std::to_string(out_f) + "]");
    const Tensor xd = dense(x);
    const int64_t rows = x.numel() / std::max<int64_t>(in_f, 1);
    Shape out_shape = x.shape();
    out_shape.back() = out_f;
    OpScope scope("linear");
    // 2 flops per multiply-add of the product, and one add per output for the bias
    count_op(2.0 * rows * out_f * in_f + (bias.defined() ? (double)rows * out_f : 0.0),
             4.0 * (x.numel() + weight.numel() + (bias.defined() ? out_f : 0)), 4.0 * rows * out_f);
    Tensor y = new_tensor(out_shape, "linear", false); // gemm writes every element
    // BEGIN SOLUTION Lesson 03: linear: y = x @ W^T + b, one gemm and the bias
    const Tensor w = dense(weight);
    // W^T read in place: element (k, j) of W^T is W[j*in + k]
    gemm(rows, out_f, in_f, xd.data(), in_f, 1, w.data(), 1, in_f, y.data(), out_f, false);
    if (bias.defined()) {
        const Tensor bd = dense(bias); // held: a copy when bias is a view
        const float* b = bd.data();
        float* py = y.data();
        for (int64_t r = 0; r < rows; r++)
            for (int64_t j = 0; j < out_f; j++) py[r * out_f + j] += b[j];
    }
    // END SOLUTION
    if (needs_grad({&x, &weight, &bias}))
        record("linear", {x, weight, bias}, y, [xd, x, weight, bias, rows, in_f, out_f](const Tensor& g) {
            // one product for dx and one for dW (the bias's sum counts itself)
            const double products = (x.requires_grad() ? 1.0 : 0.0) + (weight.requires_grad() ? 1.0 : 0.0);
            count_op(2.0 * products * rows * in_f * out_f, 4.0 * (g.numel() + x.numel() + weight.numel()),
                     4.0 * ((x.requires_grad() ? x.numel() : 0) + (weight.requires_grad() ? weight.numel() : 0)));
            // BEGIN SOLUTION Lesson 06: backward of linear
            const Tensor gd = dense(g);
            if (x.requires_grad()) {
                Tensor gx = new_tensor(x.shape(), "linear backward", false);
                gemm(rows, in_f, out_f, gd.data(), out_f, 1, dense(weight).data(), in_f, 1, gx.data(), in_f, false);
                accumulate_grad(x, std::move(gx));
            }
            if (weight.requires_grad()) {
                Tensor gw = new_tensor(weight.shape(), "linear backward", rows == 0); // K = 0 writes nothing
                // dy^T read in place: element (j, r) of dy^T is dy[r*out + j]
                gemm(out_f, in_f, rows, gd.data(), 1, out_f, xd.data(), in_f, 1, gw.data(), in_f, false);
                accumulate_grad(weight, std::move(gw));
            }
            if (bias.requires_grad()) accumulate_grad(bias, sum(gd.reshape({rows, out_f}), 0));
            // END SOLUTION
        });
    return y;
}

Linear::Linear(int64_t in, int64_t out, bool with_bias, Init init, Generator& g)
    : in_features(in), out_features(out) {
    if (in <= 0 || out <= 0)
        throw Error("Linear: sizes must be positive, got in=" + std::to_string(in) + " out=" + std::to_string(out));
    // Kaiming (He) keeps the variance of ReLU activations steady from layer to
    // layer: U(-b, b) with b = sqrt(6/in). Xavier (Glorot) balances forward and
    // backward variance for tanh/sigmoid: b = sqrt(6/(in+out)).
    // BEGIN SOLUTION Lesson 03: Linear: the weight drawn from U(-b, b), the bias zero
    const float bound = init == Init::Kaiming ? std::sqrt(6.0f / (float)in) : std::sqrt(6.0f / (float)(in + out));
    MemoryCategory parameters(Category::Parameters);
    weight = make_parameter(Tensor::rand({out, in}, g) * (2 * bound) - bound);
    if (with_bias) bias = make_parameter(Tensor::zeros({out}));
    // END SOLUTION
}
Tensor Linear::forward(const Tensor& x) { return linear(x, weight, bias); }
std::vector<Tensor> Linear::parameters() {
    if (bias.defined()) return {weight, bias};
    return {weight};
}
std::vector<std::pair<std::string, Tensor>> Linear::named_parameters() {
    std::vector<std::pair<std::string, Tensor>> out{{"weight", weight}};
    if (bias.defined()) out.push_back({"bias", bias});
    return out;
}
std::string Linear::name() const {
    return "Linear(" + std::to_string(in_features) + ", " + std::to_string(out_features) + (bias.defined() ? "" : ", bias=false") + ")";
}

Dropout::Dropout(float p_, Generator& g) : p(p_), generator(&g) {
    if (!(p >= 0.0f && p < 1.0f)) throw Error("Dropout: p must be in [0, 1), got " + std::to_string(p));
}
// train: y = x * mask / (1-p), mask ~ Bernoulli(1-p)     eval: y = x
Tensor Dropout::forward(const Tensor& x) {
    if (!training || p == 0.0f) return x;
    OpScope scope("dropout"); // the mask's draws; x * mask counts itself
    // BEGIN SOLUTION Lesson 03: Dropout: a mask of 0 (probability p) and 1/(1-p)
    Tensor mask = new_tensor(x.shape(), "dropout");
    const float keep_scale = 1.0f / (1.0f - p);
    for (int64_t i = 0; i < mask.numel(); i++) mask.data()[i] = generator->uniform() < p ? 0.0f : keep_scale;
    return x * mask;
    // END SOLUTION
}
std::string Dropout::name() const {
    char buf[48];
    std::snprintf(buf, sizeof buf, "Dropout(p=%g)", p);
    return buf;
}

Tensor Sequential::forward(const Tensor& x) {
    // BEGIN SOLUTION Lesson 03: Sequential: each layer's output is the next one's input
    Tensor h = x;
    for (auto& layer : layers) h = (*layer)(h);
    return h;
    // END SOLUTION
}
std::vector<Tensor> Sequential::parameters() {
    std::vector<Tensor> out;
    for (auto& layer : layers)
        for (Tensor& p : layer->parameters()) out.push_back(p);
    return out;
}
std::vector<std::pair<std::string, Tensor>> Sequential::named_parameters() {
    std::vector<std::pair<std::string, Tensor>> out;
    for (size_t i = 0; i < layers.size(); i++)
        for (auto& [name, p] : layers[i]->named_parameters()) out.push_back({std::to_string(i) + "." + name, p});
    return out;
}
std::vector<std::pair<std::string, int64_t*>> Sequential::named_counters() {
    std::vector<std::pair<std::string, int64_t*>> out;
    for (size_t i = 0; i < layers.size(); i++)
        for (auto& [name, c] : layers[i]->named_counters()) out.push_back({std::to_string(i) + "." + name, c});
    return out;
}
std::string Sequential::name() const {
    std::string out = "Sequential(\n";
    for (size_t i = 0; i < layers.size(); i++) out += "  (" + std::to_string(i) + ") " + layers[i]->name() + "\n";
    return out + ")";
}
void Sequential::train(bool on) {
    training = on;
    for (auto& layer : layers) layer->train(on);
}

// ===== Lesson 04 · Losses ====================================================
// Cross-entropy is computed from logits with the log-sum-exp trick in one
// fused op: softmax followed by log would overflow for logits near 100 and
// take log(0) = -inf for confident wrong answers.

// L = mean((p - t)^2)                 dp += 2(p - t)/n * dL
Tensor mse_loss(const Tensor& prediction, const Tensor& target) {
    require_defined(prediction, "mse_loss");
    require_defined(target, "mse_loss");
    if (prediction.shape() != target.shape())
        throw Error("mse_loss: prediction " + to_string(prediction.shape()) + " and target " + to_string(target.shape()) + " differ in shape");
    // BEGIN SOLUTION Lesson 04: mse_loss: the mean of the squared differences
    Tensor diff = prediction - target;
    return mean(diff * diff);
    // END SOLUTION
}

namespace {
// Checks that targets [B] hold whole class numbers in [0, C) and returns them.
std::vector<int64_t> class_indices(const Tensor& targets, int64_t batch, int64_t classes, const char* op) {
    if (targets.shape() != Shape{batch})
        throw Error(std::string(op) + ": targets " + to_string(targets.shape()) + " should be [" + std::to_string(batch) + "], one class index per row");
    std::vector<int64_t> out;
    const std::vector<float> t = targets.to_vector();
    for (int64_t i = 0; i < batch; i++) {
        const float v = t[i];
        if (!(v >= 0 && v < (float)classes) || v != std::floor(v)) {
            char buf[160];
            std::snprintf(buf, sizeof buf, "%s: target %g at row %" PRId64 " is not a class index in 0..%" PRId64, op, v, i, classes - 1);
            throw Error(buf);
        }
        out.push_back((int64_t)v);
    }
    return out;
}
} // namespace

// L = mean_b( logsumexp(z_b) - z_b[t_b] )     dz_b += (softmax(z_b) - onehot(t_b)) / B * dL
Tensor cross_entropy(const Tensor& logits, const Tensor& targets) {
    require_defined(logits, "cross_entropy");
    require_defined(targets, "cross_entropy");
    if (logits.dim() != 2) throw Error("cross_entropy: logits should be [B,C], got " + to_string(logits.shape()));
    const int64_t B = logits.size(0), C = logits.size(1);
    if (B == 0) throw Error("cross_entropy: empty batch");
    const std::vector<int64_t> t = class_indices(targets, B, C, "cross_entropy");
    Tensor log_p = softmax_forward(logits, 1, true, "cross_entropy"); // [B,C]
    double total = 0;
    // BEGIN SOLUTION Lesson 04: cross_entropy: minus the log-probability of each target, summed
    for (int64_t b = 0; b < B; b++) total -= log_p.data()[b * C + t[b]];
    // END SOLUTION
    Tensor loss = Tensor::scalar((float)(total / (double)B));
    if (needs_grad({&logits}))
        record("cross_entropy", {logits}, loss, [logits, log_p, t, B, C](const Tensor& g) {
            count_op(3.0 * B * C, 4.0 * B * C, 4.0 * B * C); // exp, subtract, scale per logit
            // BEGIN SOLUTION Lesson 06: backward of cross_entropy
            const float scale = g.item() / (float)B;
            Tensor gz = new_tensor({B, C}, "cross_entropy backward");
            for (int64_t b = 0; b < B; b++)
                for (int64_t c = 0; c < C; c++)
                    gz.data()[b * C + c] = (std::exp(log_p.data()[b * C + c]) - (c == t[b] ? 1.0f : 0.0f)) * scale;
            accumulate_grad(logits, std::move(gz));
            // END SOLUTION
        });
    return loss;
}

// L = mean( max(z,0) - z*t + log(1 + exp(-|z|)) )   (= -t log s - (1-t) log(1-s), s = sigmoid z)
// dz += (sigmoid(z) - t) / n * dL,   dt += -z / n * dL   (soft targets that are
// themselves learned, as in PyTorch; a target that does not require grad gets none)
Tensor binary_cross_entropy_with_logits(const Tensor& logits, const Tensor& targets) {
    const char* op = "binary_cross_entropy_with_logits";
    require_defined(logits, op);
    require_defined(targets, op);
    if (logits.shape() != targets.shape())
        throw Error(std::string(op) + ": logits " + to_string(logits.shape()) + " and targets " + to_string(targets.shape()) + " differ in shape");
    const int64_t n = logits.numel();
    if (n == 0) throw Error(std::string(op) + ": empty input");
    const Tensor z = dense(logits), t = dense(targets);
    for (int64_t i = 0; i < n; i++) {
        const float ti = t.data()[i];
        if (!(ti >= 0.0f && ti <= 1.0f)) throw Error(std::string(op) + ": target " + std::to_string(ti) + " is outside [0,1]");
    }
    double total = 0;
    // BEGIN SOLUTION Lesson 04: binary_cross_entropy_with_logits: the stable form, summed
    for (int64_t i = 0; i < n; i++) {
        const float zi = z.data()[i], ti = t.data()[i];
        total += std::max(zi, 0.0f) - zi * ti + std::log1p(std::exp(-std::fabs(zi)));
    }
    // END SOLUTION
    Tensor loss = Tensor::scalar((float)(total / (double)n));
    if (needs_grad({&logits, &targets}))
        record(op, {logits, targets}, loss, [logits, targets, z, t, n](const Tensor& g) {
            // BEGIN SOLUTION Lesson 06: backward of binary_cross_entropy_with_logits
            const float scale = g.item() / (float)n;
            if (logits.requires_grad()) {
                Tensor gz = new_tensor(logits.shape(), "bce backward");
                for (int64_t i = 0; i < n; i++) {
                    const float zi = z.data()[i];
                    const float s = zi >= 0 ? 1.0f / (1.0f + std::exp(-zi)) : std::exp(zi) / (1.0f + std::exp(zi));
                    gz.data()[i] = (s - t.data()[i]) * scale;
                }
                accumulate_grad(logits, std::move(gz));
            }
            if (targets.requires_grad()) {
                Tensor gt = new_tensor(targets.shape(), "bce backward");
                for (int64_t i = 0; i < n; i++) gt.data()[i] = -z.data()[i] * scale;
                accumulate_grad(targets, std::move(gt));
            }
            // END SOLUTION
        });
    return loss;
}

// ===== Lesson 05 · DataLoader ================================================
// Part 1 batches the samples of a dataset; part 2 reads the files they come
// from; part 3 prepares images for training. Nothing here is recorded on the
// tape: data enters the graph only when a model reads a batch.

// Part 1, datasets and batches.

TensorDataset::TensorDataset(Tensor x_, Tensor y_) {
    require_defined(x_, "TensorDataset");
    require_defined(y_, "TensorDataset");
    if (x_.dim() == 0 || y_.dim() == 0 || x_.size(0) != y_.size(0))
        throw Error("TensorDataset: x " + to_string(x_.shape()) + " and y " + to_string(y_.shape()) +
                    " should hold the same number of samples along their first axis");
    // contiguous rows let a batch be gathered with one memcpy per sample
    x = dense(x_.detach());
    y = dense(y_.detach());
}

int64_t TensorDataset::size() const { return x.size(0); }

std::pair<Tensor, Tensor> TensorDataset::get(int64_t i) const {
    if (i < 0 || i >= size())
        throw Error("TensorDataset: index " + std::to_string(i) + " is out of range for " + std::to_string(size()) + " samples");
    // BEGIN SOLUTION Lesson 05: TensorDataset::get: sample i of x and y, as views
    const Shape x_row(x.shape().begin() + 1, x.shape().end()), y_row(y.shape().begin() + 1, y.shape().end());
    return {x.slice(0, i, i + 1).view(x_row), y.slice(0, i, i + 1).view(y_row)};
    // END SOLUTION
}

// x[rows], y[rows]: one memcpy per row (index_select).
Batch TensorDataset::gather(const std::vector<int64_t>& rows) const {
    // BEGIN SOLUTION Lesson 05: TensorDataset::gather: the chosen rows of x and of y, copied
    return {index_select(x, 0, rows), index_select(y, 0, rows)};
    // END SOLUTION
}

// get(i) for each row, each sample copied into its slot of the batch.
Batch Dataset::gather(const std::vector<int64_t>& rows) const {
    if (rows.empty()) throw Error("Dataset::gather: no rows asked for");
    Batch out;
    for (size_t r = 0; r < rows.size(); r++) {
        const auto [x, y] = get(rows[r]);
        if (r == 0) {
            Shape xs = x.shape(), ys = y.shape();
            xs.insert(xs.begin(), (int64_t)rows.size());
            ys.insert(ys.begin(), (int64_t)rows.size());
            out = {new_tensor(xs, "Dataset::gather"), new_tensor(ys, "Dataset::gather")};
        }
        if (x.numel() != out.x.numel() / (int64_t)rows.size() || y.numel() != out.y.numel() / (int64_t)rows.size())
            throw Error("Dataset::gather: sample " + std::to_string(rows[r]) + " has shapes " + to_string(x.shape()) +
                        ", " + to_string(y.shape()) + " unlike the first sample's");
        const Tensor xd = dense(x), yd = dense(y);
        std::memcpy(out.x.data() + (int64_t)r * x.numel(), xd.data(), sizeof(float) * (size_t)x.numel());
        std::memcpy(out.y.data() + (int64_t)r * y.numel(), yd.data(), sizeof(float) * (size_t)y.numel());
    }
    return out;
}

DataLoader::DataLoader(std::shared_ptr<Dataset> data_, int64_t batch_size, bool shuffle, bool drop_last, Generator& g)
    : data(std::move(data_)), batch_size(batch_size), shuffle(shuffle), drop_last(drop_last), generator(&g) {
    if (!data) throw Error("DataLoader: no dataset (a null pointer)");
    if (batch_size <= 0) throw Error("DataLoader: batch_size must be positive, got " + std::to_string(batch_size));
    const int64_t n = data->size();
    if (n == 0) throw Error("DataLoader: the dataset is empty");
    if (drop_last && n < batch_size)
        throw Error("DataLoader: drop_last with batch_size " + std::to_string(batch_size) + " and only " +
                    std::to_string(n) + " samples leaves no batch at all");
    order.resize(n);
    std::iota(order.begin(), order.end(), 0);
}

int64_t DataLoader::size() const {
    // BEGIN SOLUTION Lesson 05: DataLoader::size: the number of batches, with or without drop_last
    const int64_t n = (int64_t)order.size();
    return n / batch_size + (!drop_last && n % batch_size != 0);
    // END SOLUTION
}

// x_batch = x[order[b*B : b*B+B]], gathered by the dataset, under NoGrad so
// that a dataset tensor that requires grad still yields plain data.
Batch DataLoader::batch(int64_t b) const {
    if (b < 0 || b >= size())
        throw Error("DataLoader: batch " + std::to_string(b) + " is out of range for " + std::to_string(size()) + " batches");
    // BEGIN SOLUTION Lesson 05: DataLoader::batch: gather batch b's rows, in the loader's order
    const int64_t start = b * batch_size, count = std::min(batch_size, (int64_t)order.size() - start);
    const std::vector<int64_t> rows(order.begin() + start, order.begin() + start + count);
    NoGrad no_tape;
    MemoryCategory activations(Category::Activations);
    return data->gather(rows);
    // END SOLUTION
}

DataLoader::Iterator DataLoader::begin() {
    if (shuffle) {
        // Fisher–Yates from the identity, so a pass's order depends only on the
        // generator's state (a run resumed with the same state sees the same order).
        // BEGIN SOLUTION Lesson 05: DataLoader::begin: shuffle the order, Fisher–Yates
        std::iota(order.begin(), order.end(), 0);
        for (int64_t i = (int64_t)order.size() - 1; i > 0; i--) std::swap(order[i], order[generator->randint(i + 1)]);
        // END SOLUTION
    }
    return Iterator{this, 0, batch(0)};
}

DataLoader::Iterator DataLoader::end() { return Iterator{this, size(), Batch{}}; }

DataLoader::Iterator& DataLoader::Iterator::operator++() {
    current = Batch{}; // release the old batch first: one batch alive at a time, not two
    if (++b < loader->size()) current = loader->batch(b);
    return *this;
}

// Part 2, reading files. Every size in a header is checked against the
// file's real size before anything is allocated, with divisions instead of
// products so that no check can itself overflow (this runs on 32-bit boards,
// and the files may be hostile). Data is read in 64 KB chunks straight into
// the float tensor: no second copy of the file is held.

namespace {
// Opens `path` for reading, or says why not.
std::ifstream open_input(const std::string& path, const char* op) {
    std::error_code ec;
    const auto status = std::filesystem::status(path, ec);
    if (!std::filesystem::exists(status)) {
        std::string hint;
        if (path.find("mnist") != std::string::npos && path.size() > 6 && path.compare(path.size() - 6, 6, "-ubyte") == 0)
            hint = " (the MNIST files are committed as .gz: `make data` decompresses them)";
        throw Error(std::string(op) + ": cannot open " + path + ": no such file" + hint);
    }
    if (std::filesystem::is_directory(status)) throw Error(std::string(op) + ": " + path + " is a directory, not a file");
    std::ifstream in(path, std::ios::binary);
    if (!in) throw Error(std::string(op) + ": cannot read " + path);
    return in;
}

// The bytes left in a seekable stream (a file, a string), found by seeking
// to its end and back: the readers check headers against this before
// allocating anything.
int64_t bytes_left(std::istream& in, const std::string& name, const char* op) {
    const std::streampos here = in.tellg();
    in.seekg(0, std::ios::end);
    const std::streampos end = in.tellg();
    in.seekg(here);
    if (here < 0 || end < 0 || !in) throw Error(std::string(op) + ": cannot read " + name + " (not a seekable stream)");
    return (int64_t)(end - here);
}

void read_exact(std::istream& in, unsigned char* buffer, int64_t n, const std::string& path, const char* op) {
    in.read((char*)buffer, (std::streamsize)n);
    if (in.gcount() != (std::streamsize)n) throw Error(std::string(op) + ": " + path + " is truncated (it ended while being read)");
}

uint32_t big_endian_u32(const unsigned char* p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

// Reads an IDX file of uint8 data: its dims, and its bytes as they are.
// rank = 0 takes any rank 1..4; else the file must have exactly that rank.
DataVector<uint8_t> read_idx_bytes(std::istream& in, const std::string& path, const char* op, int64_t rank,
                                   const char* what, Shape& dims) {
    const int64_t size = bytes_left(in, path, op);
    unsigned char head[4];
    if (size < 4) throw Error(std::string(op) + ": " + path + " is truncated: " + std::to_string(size) + " bytes, less than the 4-byte magic number");
    read_exact(in, head, 4, path, op);
    const uint32_t magic = big_endian_u32(head);
    char hex[16];
    std::snprintf(hex, sizeof hex, "0x%08x", (unsigned)magic);
    if (head[0] != 0 || head[1] != 0 || head[2] != 0x08 || head[3] < 1 || head[3] > 4)
        throw Error(std::string(op) + ": " + path + " has the wrong magic number " + hex +
                    " for an IDX file of bytes (0x00000801 labels, 0x00000803 images)");
    if (rank && head[3] != rank) {
        char want[16];
        std::snprintf(want, sizeof want, "0x%08x", 0x800u + (unsigned)rank);
        throw Error(std::string(op) + ": " + path + " has the wrong magic number " + hex + ": expected " + want + " (" + what + ")");
    }
    const int64_t header = 4 + 4 * (int64_t)head[3], payload = size - header;
    if (payload < 0)
        throw Error(std::string(op) + ": " + path + " is truncated: " + std::to_string(size) + " bytes, less than its " +
                    std::to_string(header) + "-byte header");
    dims.assign(head[3], 0);
    for (int64_t& d : dims) {
        read_exact(in, head, 4, path, op);
        d = big_endian_u32(head);
    }
    // count = product of dims; `fits` goes false before a product could overflow
    int64_t count = std::find(dims.begin(), dims.end(), 0) != dims.end() ? 0 : 1;
    bool fits = true;
    for (int64_t d : dims) {
        if (count == 0) break;
        if (count > std::numeric_limits<int64_t>::max() / d) { fits = false; break; }
        count *= d;
    }
    if (!fits || count != payload) {
        const bool extra = fits && count < payload;
        throw Error(std::string(op) + ": " + path + (extra ? "" : " is truncated") + ": its dims " + to_string(dims) +
                    " need " + (fits ? std::to_string(count) : std::string("more than 2^63")) + " bytes after the " +
                    std::to_string(header) + "-byte header, but the file has " + std::to_string(payload) +
                    (extra ? " (dims and size disagree)" : ""));
    }
    DataVector<uint8_t> bytes((size_t)count);
    read_exact(in, bytes.data(), count, path, op);
    return bytes;
}

// The same as floats of the values 0..255.
Tensor read_idx_as(std::istream& in, const std::string& path, const char* op, int64_t rank, const char* what) {
    Shape dims;
    const DataVector<uint8_t> bytes = read_idx_bytes(in, path, op, rank, what, dims);
    Tensor out = new_tensor(dims, op);
    std::copy(bytes.begin(), bytes.end(), out.data());
    return out;
}
} // namespace

Tensor read_idx(std::istream& in, const std::string& name) { return read_idx_as(in, name, "read_idx", 0, ""); }
Tensor read_idx(const std::string& path) {
    std::ifstream in = open_input(path, "read_idx");
    return read_idx(in, path);
}

Tensor ImageSet::images(const std::vector<int64_t>& rows) const {
    const int64_t per_image = size() ? shape[1] * shape[2] * shape[3] : 0;
    std::vector<int64_t> all;
    if (rows.empty()) {
        all.resize((size_t)size());
        std::iota(all.begin(), all.end(), 0);
    }
    const std::vector<int64_t>& chosen = rows.empty() ? all : rows;
    Shape shape_out = shape;
    shape_out[0] = (int64_t)chosen.size();
    Tensor out = new_tensor(shape_out, "ImageSet::images", false);
    for (size_t r = 0; r < chosen.size(); r++) {
        if (chosen[r] < 0 || chosen[r] >= size())
            throw Error("ImageSet::images: image " + std::to_string(chosen[r]) + " is out of range for " +
                        std::to_string(size()) + " images");
        const uint8_t* src = pixels->data() + chosen[r] * per_image;
        std::copy(src, src + per_image, out.data() + (int64_t)r * per_image);
    }
    return out;
}

ImageSet ImageSet::first(int64_t n) const {
    if (n < 0 || n > size())
        throw Error("ImageSet::first: " + std::to_string(n) + " images asked for from a set of " + std::to_string(size()));
    Shape fewer = shape;
    fewer[0] = n;
    return {pixels, fewer, labels.slice(0, 0, n)};
}

ImageSet load_idx_images(const std::string& images_path, const std::string& labels_path) {
    const char* op = "load_idx_images";
    std::ifstream labels_file = open_input(labels_path, op);
    Tensor labels = read_idx_as(labels_file, labels_path, op, 1, "labels [N]");  // the small file first: fail fast
    std::ifstream images_file = open_input(images_path, op);
    Shape dims;
    auto pixels = std::make_shared<DataVector<uint8_t>>(read_idx_bytes(images_file, images_path, op, 3, "images [N,H,W]", dims));
    const int64_t N = dims[0];
    if (labels.size(0) != N)
        throw Error(std::string(op) + ": " + images_path + " has " + std::to_string(N) + " images but " + labels_path +
                    " has " + std::to_string(labels.size(0)) + " labels");
    return {std::move(pixels), {N, 1, dims[1], dims[2]}, labels};
}

namespace {
constexpr int64_t kCifarPixels = 3 * 32 * 32, kCifarRecord = 1 + kCifarPixels; // label byte, then R, G, B planes

// The number of records in a CIFAR-10 file, checked against its size.
int64_t cifar_records(std::istream& in, const std::string& path, const char* op) {
    const int64_t size = bytes_left(in, path, op);
    if (size == 0 || size % kCifarRecord != 0)
        throw Error(std::string(op) + ": " + path + " has " + std::to_string(size) +
                    " bytes, not a whole number of 3073-byte records (1 label + 3072 pixels): truncated, or not CIFAR-10 binary");
    return size / kCifarRecord;
}

// Reads n records into pixels [n,3,32,32] and labels [n].
void read_cifar_records(std::istream& in, const std::string& path, const char* op, int64_t n, uint8_t* pixels, float* labels) {
    for (int64_t r = 0; r < n; r++) {
        unsigned char label;
        read_exact(in, &label, 1, path, op);
        if (label > 9)
            throw Error(std::string(op) + ": " + path + ": label " + std::to_string(label) + " of record " +
                        std::to_string(r) + " is out of range 0..9");
        labels[r] = label;
        read_exact(in, pixels + r * kCifarPixels, kCifarPixels, path, op);
    }
}
} // namespace

ImageSet load_cifar10(const std::string& path) { return load_cifar10(std::vector<std::string>{path}); }

ImageSet load_cifar10(std::istream& in, const std::string& path) {
    const char* op = "load_cifar10";
    const int64_t N = cifar_records(in, path, op);
    auto pixels = std::make_shared<DataVector<uint8_t>>((size_t)(N * kCifarPixels));
    Tensor labels = new_tensor({N}, op);
    read_cifar_records(in, path, op, N, pixels->data(), labels.data());
    return {std::move(pixels), {N, 3, 32, 32}, labels};
}

// Every file's size is checked before anything is allocated; the bytes are allocated once.
ImageSet load_cifar10(const std::vector<std::string>& paths) {
    const char* op = "load_cifar10";
    if (paths.empty()) throw Error("load_cifar10: no files given");
    std::vector<std::ifstream> files;
    std::vector<int64_t> records;
    int64_t N = 0;
    for (const std::string& path : paths) {
        files.push_back(open_input(path, op));
        records.push_back(cifar_records(files.back(), path, op));
        N += records.back();
    }
    auto pixels = std::make_shared<DataVector<uint8_t>>((size_t)(N * kCifarPixels));
    Tensor labels = new_tensor({N}, op);
    for (size_t f = 0, done = 0; f < files.size(); done += (size_t)records[f], f++)
        read_cifar_records(files[f], paths[f], op, records[f], pixels->data() + done * kCifarPixels, labels.data() + done);
    return {std::move(pixels), {N, 3, 32, 32}, labels};
}

// Counts of each byte value per channel, then the moments from the counts:
// exact sums, whatever the set's size.
ChannelStats channel_stats(const ImageSet& set) {
    if (set.size() == 0) throw Error("channel_stats: the image set is empty");
    const int64_t C = set.shape[1], plane = set.shape[2] * set.shape[3];
    std::vector<int64_t> counts((size_t)(C * 256), 0);
    const uint8_t* p = set.pixels->data();
    for (int64_t n = 0; n < set.size(); n++)
        for (int64_t c = 0; c < C; c++)
            for (int64_t i = 0; i < plane; i++) counts[(size_t)(c * 256 + *p++)]++;
    ChannelStats stats;
    for (int64_t c = 0; c < C; c++) {
        double total = 0, squares = 0;
        for (int v = 0; v < 256; v++) total += (double)v * counts[c * 256 + v], squares += (double)v * v * counts[c * 256 + v];
        const double count = (double)(set.size() * plane), mean = total / count;
        stats.mean.push_back((float)mean);
        stats.stddev.push_back((float)std::sqrt(std::max(0.0, squares / count - mean * mean)));
    }
    return stats;
}

std::string data_path(const std::string& relative) {
    const std::string inside = relative.rfind("data/", 0) == 0 ? relative.substr(5) : relative;
    const char* root = std::getenv("TT_DATA");
    if (root && *root) return std::string(root) + "/" + inside;
    for (const std::string base : {"data/", "../data/"}) {
        std::error_code ec;
        if (std::filesystem::exists(base + inside, ec)) return base + inside;
    }
    return "data/" + inside;
}

std::string shared_data_path(const std::string& relative) {
    std::error_code ec;
    const std::string downloaded = data_path("data/" + relative);
    if (std::filesystem::exists(downloaded, ec)) return downloaded;
    for (const std::string base : {"../shared/data/", "../../shared/data/"}) {
        std::error_code ec;
        if (std::filesystem::exists(base + relative, ec)) return base + relative;
    }
    return "";
}

// Part 3, preparing images. Each is one pass over the batch, into a new tensor.

// y = (x/scale - mean) / stddev
Tensor normalize(const Tensor& images, float mean, float stddev, float scale) {
    if (!(stddev > 0) || !(scale > 0))
        throw Error("normalize: stddev and scale must be positive, got stddev " + std::to_string(stddev) + " and scale " + std::to_string(scale));
    return unary_map(images, "normalize", [=](float v) -> float {
        // BEGIN SOLUTION Lesson 05: normalize: one mean and stddev for every pixel
        return (v / scale - mean) / stddev;
        // END SOLUTION
    });
}

// y[n,c] = (x[n,c]/scale - mean[c]) / stddev[c]
Tensor normalize(const Tensor& images, const std::vector<float>& mean, const std::vector<float>& stddev, float scale) {
    require_defined(images, "normalize");
    if (images.dim() != 4) throw Error("normalize: images should be [N,C,H,W] for per-channel statistics, got " + to_string(images.shape()));
    const int64_t N = images.size(0), C = images.size(1), HW = images.size(2) * images.size(3);
    if ((int64_t)mean.size() != C || (int64_t)stddev.size() != C)
        throw Error("normalize: " + std::to_string(mean.size()) + " means and " + std::to_string(stddev.size()) +
                    " stddevs for " + std::to_string(C) + " channels of " + to_string(images.shape()));
    for (float s : stddev)
        if (!(s > 0)) throw Error("normalize: every stddev must be positive, got " + std::to_string(s));
    if (!(scale > 0)) throw Error("normalize: scale must be positive, got " + std::to_string(scale));
    Tensor y = new_tensor(images.shape(), "normalize");
    // BEGIN SOLUTION Lesson 05: normalize: a mean and stddev per channel
    const Tensor d = dense(images);
    for (int64_t n = 0; n < N; n++)
        for (int64_t c = 0; c < C; c++) {
            const float *src = d.data() + (n * C + c) * HW;
            float* dst = y.data() + (n * C + c) * HW;
            for (int64_t i = 0; i < HW; i++) dst[i] = (src[i] / scale - mean[c]) / stddev[c];
        }
    // END SOLUTION
    return y;
}

namespace {
void require_images(const Tensor& images, const char* op) {
    require_defined(images, op);
    if (images.dim() != 4) throw Error(std::string(op) + ": images should be [B,C,H,W], got " + to_string(images.shape()));
}
} // namespace

// y[b,c,i,j] = x[b,c,i+dy,j+dx], 0 outside x; dy, dx uniform in -padding..padding per image
Tensor random_crop(const Tensor& images, int64_t padding, Generator& g) {
    require_images(images, "random_crop");
    const int64_t B = images.size(0), C = images.size(1), H = images.size(2), W = images.size(3);
    if (padding < 0 || padding > H || padding > W)
        throw Error("random_crop: padding " + std::to_string(padding) + " should be in 0..min(H,W) for images " + to_string(images.shape()));
    Tensor y = new_tensor(images.shape(), "random_crop"); // zeros: the padding
    // BEGIN SOLUTION Lesson 05: random_crop: shift each image by up to `padding` pixels
    const Tensor d = dense(images);
    for (int64_t b = 0; b < B; b++) {
        // the window's corner in the padded image is (padding+dy, padding+dx)
        const int64_t dy = g.randint(2 * padding + 1) - padding, dx = g.randint(2 * padding + 1) - padding;
        const int64_t j0 = std::max<int64_t>(0, -dx), j1 = std::min(W, W - dx); // columns of y that read inside x
        for (int64_t c = 0; c < C; c++)
            for (int64_t i = std::max<int64_t>(0, -dy); i < std::min(H, H - dy); i++)
                std::memcpy(y.data() + ((b * C + c) * H + i) * W + j0, d.data() + ((b * C + c) * H + i + dy) * W + j0 + dx,
                            sizeof(float) * (j1 - j0));
    }
    // END SOLUTION
    return y;
}

// y[b,c,i,j] = x[b,c,i,W-1-j] for the images drawn (each with probability 1/2), else x[b,c,i,j]
Tensor random_hflip(const Tensor& images, Generator& g) {
    require_images(images, "random_hflip");
    const int64_t B = images.size(0), rows = images.size(1) * images.size(2), W = images.size(3);
    Tensor y = new_tensor(images.shape(), "random_hflip");
    // BEGIN SOLUTION Lesson 05: random_hflip: mirror each image with probability 1/2
    const Tensor d = dense(images);
    for (int64_t b = 0; b < B; b++) {
        const bool flip = g.uniform() < 0.5f;
        for (int64_t r = 0; r < rows; r++) {
            const float* src = d.data() + (b * rows + r) * W;
            float* dst = y.data() + (b * rows + r) * W;
            if (flip) std::reverse_copy(src, src + W, dst);
            else std::copy(src, src + W, dst);
        }
    }
    // END SOLUTION
    return y;
}

ImageDataset::ImageDataset(ImageSet set_, std::vector<float> mean, std::vector<float> stddev, float scale, bool flatten_)
    : set(std::move(set_)), flatten(flatten_) {
    if (!set.pixels || set.shape.size() != 4 || set.size() == 0)
        throw Error("ImageDataset: the image set should hold images [N,C,H,W], N > 0; got " + to_string(set.shape));
    const int64_t C = set.shape[1];
    if (mean.size() == 1) mean.assign(C, mean[0]);
    if (stddev.size() == 1) stddev.assign(C, stddev[0]);
    if ((int64_t)mean.size() != C || (int64_t)stddev.size() != C)
        throw Error("ImageDataset: " + std::to_string(mean.size()) + " means and " + std::to_string(stddev.size()) +
                    " stddevs for " + std::to_string(C) + " channels of " + to_string(set.shape));
    for (float s : stddev)
        if (!(s > 0)) throw Error("ImageDataset: every stddev must be positive, got " + std::to_string(s));
    if (!(scale > 0)) throw Error("ImageDataset: scale must be positive, got " + std::to_string(scale));
    for (int64_t c = 0; c < C; c++) {
        gain.push_back(1.0f / (scale * stddev[c]));
        shift.push_back(-mean[c] / stddev[c]);
    }
}

int64_t ImageDataset::size() const { return set.size(); }

std::pair<Tensor, Tensor> ImageDataset::get(int64_t i) const {
    const Batch one = gather({i});
    const Shape x_row(one.x.shape().begin() + 1, one.x.shape().end());
    return {one.x.view(x_row), one.y.view({})};
}

ImageDataset& ImageDataset::augment(int64_t padding, bool flip, Generator& g) {
    if (padding < 0 || padding > std::min(set.shape[2], set.shape[3]))
        throw Error("ImageDataset::augment: crop padding " + std::to_string(padding) + " should be in 0..min(H,W) for images " +
                    to_string(set.shape));
    crop_padding = padding, hflip = flip, generator = &g;
    return *this;
}

// x[b,c,i] = byte[rows[b],c,i] * gain[c] + shift[c]; y = labels[rows]
Batch ImageDataset::gather(const std::vector<int64_t>& rows) const {
    if (rows.empty()) throw Error("ImageDataset: no rows asked for");
    const int64_t B = (int64_t)rows.size(), C = set.shape[1], H = set.shape[2], W = set.shape[3], plane = H * W;
    Tensor x = new_tensor({B, C, H, W}, "ImageDataset", false); // every element written below
    for (int64_t b = 0; b < B; b++) {
        if (rows[b] < 0 || rows[b] >= size())
            throw Error("ImageDataset: index " + std::to_string(rows[b]) + " is out of range for " + std::to_string(size()) + " images");
        // BEGIN SOLUTION Lesson 05: ImageDataset::gather: each image's bytes, normalised per channel, into the batch
        const uint8_t* src = set.pixels->data() + rows[b] * C * plane;
        float* dst = x.data() + b * C * plane;
        for (int64_t c = 0; c < C; c++) {
            const float g = gain[c], s = shift[c];
            for (int64_t i = 0; i < plane; i++) dst[c * plane + i] = (float)src[c * plane + i] * g + s;
        }
        // END SOLUTION
    }
    if (generator && crop_padding > 0) x = random_crop(x, crop_padding, *generator);
    if (generator && hflip) x = random_hflip(x, *generator);
    return {flatten ? x.view({B, C * plane}) : x, index_select(set.labels, 0, rows)};
}

// ===== Lesson 06 · Autograd ==================================================
// The forward pass has left a tape: one Node per op, in the order they ran.
// Walking it backwards visits every node after all the nodes that used its
// output, so by then the output's gradient is complete. Cost: the tape holds
// every saved input until the walk, and the walk does about twice the
// forward's arithmetic.

void clear_tape() {
    tape().clear();
    next_prune = 1024;
}

std::string tape_str() {
    std::string out;
    char line[256];
    int i = 0;
    for (const Node& n : tape()) {
        std::string ins;
        for (const Tensor& t : n.inputs) ins += (ins.empty() ? "" : ", ") + (t.defined() ? to_string(t.shape()) : "-");
        std::snprintf(line, sizeof line, "%4d  %-32s %-28s -> %s\n", i++, n.op, ins.c_str(), to_string(n.output_shape).c_str());
        out += line;
    }
    return out;
}

void Tensor::backward() const {
    require_defined(*this, "backward");
    if (numel() != 1)
        throw Error("backward: tensor of shape " + to_string(shape()) + " is not a single number; pass a seed gradient of that shape");
    backward(Tensor::ones(shape()));
}

void Tensor::backward(const Tensor& seed) const {
    require_defined(*this, "backward");
    require_defined(seed, "backward");
    if (!requires_grad())
        throw Error("backward: this tensor does not require grad (no input of the ops that made it requires grad, or it was made under NoGrad)");
    if (seed.shape() != shape())
        throw Error("backward: seed " + to_string(seed.shape()) + " does not match the tensor's shape " + to_string(shape()));
    NoGrad no_recording;                      // the backward pass is not itself recorded
    MemoryCategory grads(Category::Gradients); // its temporaries count as gradient memory
    // BEGIN SOLUTION Lesson 06: Tensor::backward: the walk over the tape, last node first
    accumulate_grad(*this, seed);
    std::vector<Node>& nodes = tape();
    // Hold every output that is still alive, so that an intermediate's
    // gradient survives until its own node is reached, even after the later
    // nodes that held it as an input have released their inputs.
    std::vector<std::shared_ptr<TensorImpl>> outputs(nodes.size());
    for (size_t i = 0; i < nodes.size(); i++) outputs[i] = nodes[i].output.lock();
    for (size_t i = nodes.size(); i-- > 0;) {
        Node& node = nodes[i];
        std::shared_ptr<TensorImpl> out = std::move(outputs[i]);
        if (out && out->grad) { // else no gradient reached this op
            const Tensor g(out->grad);
            if (!out->is_leaf) out->grad.reset(); // an intermediate's gradient is needed only here
            node.backward(g);
        }
        node.inputs.clear(); // release saved activations as soon as possible
        node.backward = nullptr;
    }
    // END SOLUTION
    clear_tape();
}

GradCheck gradcheck(const std::function<Tensor(const std::vector<Tensor>&)>& f, std::vector<Tensor> inputs, double eps) {
    // The inputs become fresh contiguous leaves that require grad.
    for (Tensor& x : inputs) {
        NoGrad no_recording;
        x = x.clone().detach().requires_grad_(true);
    }
    // A fixed random weighting w makes the output one number, L = sum(f * w),
    // so a single backward checks every output element's gradient.
    Tensor probe = f(inputs);
    Generator g(1234);
    Tensor w = Tensor::rand(probe.shape(), g) * 2.0f - 1.0f;
    auto objective = [&]() {
        NoGrad no_recording;
        const std::vector<float> y = f(inputs).to_vector(), wv = w.to_vector();
        double total = 0;
        for (size_t i = 0; i < y.size(); i++) total += (double)y[i] * wv[i];
        return total;
    };
    clear_tape();
    for (Tensor& x : inputs) x.zero_grad();
    Tensor loss = sum(f(inputs) * w);
    loss.backward();

    GradCheck result;
    for (size_t n = 0; n < inputs.size(); n++) {
        float* x = inputs[n].data();
        const Tensor analytic_t = inputs[n].grad();
        for (int64_t i = 0; i < inputs[n].numel(); i++) {
            const float saved = x[i];
            x[i] = (float)(saved + eps);
            const double plus = objective();
            x[i] = (float)(saved - eps);
            const double minus = objective();
            x[i] = saved;
            const double numeric = (plus - minus) / (2 * eps);
            const double analytic = analytic_t.defined() ? analytic_t.data()[i] : 0.0;
            const double error = std::fabs(numeric - analytic) / std::max(1.0, std::fabs(numeric));
            if (error > result.max_error) {
                result.max_error = error;
                char buf[200];
                std::snprintf(buf, sizeof buf, "input %zu element %" PRId64 ": analytic %.6g, numeric %.6g", n, i, analytic, numeric);
                result.report = buf;
            }
        }
    }
    return result;
}

// ===== Lesson 07 · Optimizers ================================================
// The base class checks the arguments, finds each parameter's gradient and
// owns the state; each optimizer writes only its per-parameter update, a loop
// over raw floats. Cost per step: one read of p and g, one write of p, and a
// read and write of each state slot: SGD 3 floats moved per weight, Adam 7.

namespace {
void check_hyper(bool ok, const char* optimizer, const char* what, float value, const char* rule) {
    if (!ok) {
        char buf[200];
        std::snprintf(buf, sizeof buf, "%s: %s must be %s, got %g", optimizer, what, rule, value);
        throw Error(buf);
    }
}
std::string format_float(float v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%g", v);
    return buf;
}
} // namespace

Optimizer::Optimizer(std::vector<Tensor> params_, float lr_, const char* optimizer)
    : params(std::move(params_)), lr(lr_) {
    if (params.empty()) throw Error(std::string(optimizer) + ": got an empty parameter list");
    for (size_t i = 0; i < params.size(); i++) {
        require_defined(params[i], optimizer);
        if (!params[i].requires_grad() || !params[i].impl->is_leaf || !params[i].is_contiguous())
            throw Error(std::string(optimizer) + ": parameter " + std::to_string(i) + " " + to_string(params[i].shape()) +
                        " is not a contiguous leaf that requires grad (use make_parameter)");
    }
    check_hyper(lr >= 0, optimizer, "lr", lr, ">= 0");
    buffers.resize(params.size());
    decays.assign(params.size(), true);
}

void Optimizer::exclude_from_weight_decay(const std::vector<Tensor>& some) {
    for (const Tensor& t : some) {
        size_t i = 0;
        while (i < params.size() && !params[i].shares_storage(t)) i++;
        if (i == params.size() || params[i].impl != t.impl)
            throw Error("exclude_from_weight_decay: a tensor of shape " + (t.defined() ? to_string(t.shape()) : std::string("(undefined)")) +
                        " is not one of the optimizer's parameters");
        decays[i] = false;
    }
}

Shape Optimizer::slot_shape(size_t i, size_t) const { return params[i].shape(); }

Tensor& Optimizer::buffer(size_t i, size_t slot) {
    std::vector<Tensor>& b = buffers[i];
    if (b.size() < slots().size()) b.resize(slots().size());
    if (!b[slot].defined()) {
        MemoryCategory state(Category::OptimizerState);
        b[slot] = Tensor::zeros(slot_shape(i, slot));
    }
    return b[slot];
}

std::vector<std::pair<std::string, Tensor>> Optimizer::state() const {
    std::vector<std::pair<std::string, Tensor>> out;
    const std::vector<std::string> names = slots();
    for (size_t i = 0; i < buffers.size(); i++)
        for (size_t s = 0; s < buffers[i].size(); s++)
            if (buffers[i][s].defined()) out.push_back({std::to_string(i) + "." + names[s], buffers[i][s]});
    return out;
}

void Optimizer::step() {
    NoGrad no_tape; // an update is not part of the model's graph
    OpScope scope("optimizer step"); // timed by Lesson 14's Profiler (its flops not counted)
    for (size_t i = 0; i < params.size(); i++) {
        const Tensor g = params[i].grad();
        if (!g.defined()) continue; // no gradient reached it: leave it and its state alone
        update(i, params[i].data(), g.data(), params[i].numel());
    }
    steps++;
}

void Optimizer::zero_grad() {
    for (Tensor& p : params) p.zero_grad();
}

SGD::SGD(std::vector<Tensor> params, float lr, float momentum_, float weight_decay_)
    : Optimizer(std::move(params), lr, "SGD"), momentum(momentum_), weight_decay(weight_decay_) {
    check_hyper(momentum >= 0, "SGD", "momentum", momentum, ">= 0");
    check_hyper(weight_decay >= 0, "SGD", "weight_decay", weight_decay, ">= 0");
}
std::string SGD::name() const {
    return "SGD(lr=" + format_float(lr) + ", momentum=" + format_float(momentum) + ", weight_decay=" + format_float(weight_decay) + ")";
}
std::vector<std::string> SGD::slots() const {
    if (momentum > 0) return {"momentum_buffer"};
    return {};
}

// g' = g + wd p;   buf = mu buf + g';   p -= lr * (mu > 0 ? buf : g')
void SGD::update(size_t i, float* p, const float* g, int64_t n) {
    const float decay = decays[i] ? weight_decay : 0.0f;
    // BEGIN SOLUTION Lesson 07: SGD::update: weight decay, momentum, the step
    float* buf = momentum > 0 ? buffer(i, 0).data() : nullptr;
    for (int64_t k = 0; k < n; k++) {
        float d = g[k] + decay * p[k];
        if (buf) d = buf[k] = momentum * buf[k] + d;
        p[k] -= lr * d;
    }
    // END SOLUTION
}

Adam::Adam(std::vector<Tensor> params, float lr, float beta1, float beta2, float eps, float weight_decay)
    : Adam(std::move(params), lr, beta1, beta2, eps, weight_decay, false, "Adam") {}

Adam::Adam(std::vector<Tensor> params, float lr, float beta1_, float beta2_, float eps_, float weight_decay_,
           bool decoupled_, const char* optimizer)
    : Optimizer(std::move(params), lr, optimizer), beta1(beta1_), beta2(beta2_), eps(eps_),
      weight_decay(weight_decay_), decoupled(decoupled_) {
    check_hyper(beta1 >= 0 && beta1 < 1, optimizer, "beta1", beta1, "in [0, 1)");
    check_hyper(beta2 >= 0 && beta2 < 1, optimizer, "beta2", beta2, "in [0, 1)");
    check_hyper(eps >= 0, optimizer, "eps", eps, ">= 0");
    check_hyper(weight_decay >= 0, optimizer, "weight_decay", weight_decay, ">= 0");
}
std::string Adam::name() const {
    return std::string(decoupled ? "AdamW" : "Adam") + "(lr=" + format_float(lr) + ", betas=(" + format_float(beta1) + ", " +
           format_float(beta2) + "), eps=" + format_float(eps) + ", weight_decay=" + format_float(weight_decay) + ")";
}
std::vector<std::string> Adam::slots() const { return {"exp_avg", "exp_avg_sq", "step"}; }
Shape Adam::slot_shape(size_t i, size_t slot) const { return slot == 2 ? Shape{} : params[i].shape(); }

// m = b1 m + (1-b1) g;  v = b2 v + (1-b2) g^2;  p -= lr * m/(1-b1^t) / (sqrt(v/(1-b2^t)) + eps)
// The step count is a float: exact up to 2^24 steps, far beyond any run here.
void Adam::update(size_t i, float* p, const float* g, int64_t n) {
    const float decay = decays[i] ? weight_decay : 0.0f;
    // BEGIN SOLUTION Lesson 07: Adam::update: the two moments, bias-corrected, and AdamW's decoupled decay
    float* m = buffer(i, 0).data();
    float* v = buffer(i, 1).data();
    float& t = buffer(i, 2).data()[0];
    t += 1;
    const float correction1 = 1 - (float)std::pow((double)beta1, (double)t);
    const float correction2 = 1 - (float)std::pow((double)beta2, (double)t);
    const float l2 = decoupled ? 0.0f : decay;
    const float shrink = decoupled ? 1 - lr * decay : 1.0f;
    for (int64_t k = 0; k < n; k++) {
        const float d = g[k] + l2 * p[k];
        m[k] = beta1 * m[k] + (1 - beta1) * d;
        v[k] = beta2 * v[k] + (1 - beta2) * d * d;
        p[k] = p[k] * shrink - lr * (m[k] / correction1) / (std::sqrt(v[k] / correction2) + eps);
    }
    // END SOLUTION
}

AdamW::AdamW(std::vector<Tensor> params, float lr, float beta1, float beta2, float eps, float weight_decay)
    : Adam(std::move(params), lr, beta1, beta2, eps, weight_decay, true, "AdamW") {}

// ===== Lesson 08 · Training ==================================================
// Everything here is bookkeeping around Lesson 07's step: it decides the
// learning rate, guards the step (clip, NaN stop), reports (progress line,
// curves) and makes a run restartable (checkpoints) and portable (PyTorch's
// state_dicts, read and written under the same module paths). None of it
// records on the tape; the loop's memory is the model's, the optimizer's and
// one batch's activations.

CosineSchedule::CosineSchedule(float max_lr_, int64_t total_, int64_t warmup_, float min_lr_)
    : max_lr(max_lr_), min_lr(min_lr_), total(total_), warmup(warmup_) {
    if (!(max_lr >= 0) || !(min_lr >= 0) || min_lr > max_lr)
        throw Error("CosineSchedule: need 0 <= min_lr <= max_lr, got min_lr=" + format_float(min_lr) + " max_lr=" + format_float(max_lr));
    if (warmup < 0 || total <= warmup)
        throw Error("CosineSchedule: need 0 <= warmup < total steps, got warmup=" + std::to_string(warmup) + " total=" + std::to_string(total));
}
float CosineSchedule::operator()(int64_t t) const {
    // BEGIN SOLUTION Lesson 08: CosineSchedule: linear warm-up, then half a cosine down to min_lr
    if (t < warmup) return max_lr * (float)(t + 1) / (float)warmup;
    if (t >= total) return min_lr;
    const double progress = (double)(t - warmup) / (double)(total - warmup); // 0 -> 1
    return min_lr + (max_lr - min_lr) * (float)(0.5 * (1 + std::cos(3.14159265358979323846 * progress)));
    // END SOLUTION
}

// norm = sqrt(sum g^2) over all gradients, in double;  g *= max_norm / norm if norm > max_norm
float clip_grad_norm(const std::vector<Tensor>& params, float max_norm) {
    if (!(max_norm > 0)) throw Error("clip_grad_norm: max_norm must be > 0, got " + format_float(max_norm));
    // BEGIN SOLUTION Lesson 08: clip_grad_norm: one norm over every gradient, and the rescale
    double total = 0;
    for (const Tensor& p : params) {
        const Tensor g = p.grad();
        if (!g.defined()) continue;
        const float* d = g.data();
        for (int64_t i = 0, n = g.numel(); i < n; i++) total += (double)d[i] * d[i];
    }
    const float norm = (float)std::sqrt(total);
    if (norm > max_norm) {
        const float scale = max_norm / norm;
        for (const Tensor& p : params) {
            const Tensor g = p.grad();
            if (!g.defined()) continue;
            float* d = g.data();
            for (int64_t i = 0, n = g.numel(); i < n; i++) d[i] *= scale;
        }
    }
    return norm;
    // END SOLUTION
}

namespace {
double clock_seconds() {
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}
// Whether the line may be rewritten in place with \r. Standard C++ cannot
// ask whether a stream is a terminal, so this trusts the environment: a
// terminal sets TERM, CI systems set CI, and TT_PROGRESS=plain (or =live)
// overrides both. Plain lines are always safe.
bool live_progress() {
    if (const char* choice = std::getenv("TT_PROGRESS")) return std::string(choice) != "plain";
    const char* term = std::getenv("TERM");
    return !std::getenv("CI") && term && *term && std::string(term) != "dumb";
}
} // namespace

Progress::Progress(std::string label_, int64_t total_, FILE* out_)
    : label(std::move(label_)), total(total_), out(out_), terminal(live_progress()), start(clock_seconds()) {}

void Progress::update(int64_t done_, float loss_, int64_t samples_) {
    done = done_, loss = loss_, samples = samples_;
    const double now = clock_seconds();
    const int64_t tenth = total > 0 ? done * 10 / total : 10;
    if (now - start < quiet_seconds || (terminal ? now - last_print < 0.1 : tenth == last_tenth)) return;
    last_print = now, last_tenth = tenth;
    print();
}

void Progress::print() {
    const double rate = (double)samples / std::max(clock_seconds() - start, 1e-9);
    std::fprintf(out, "%s  %s %" PRId64 "/%" PRId64 "  loss %.4f  %.0f samples/s   %s", terminal ? "\r" : "",
                 label.c_str(), done, total, loss, rate, terminal ? "" : "\n");
    std::fflush(out);
    last_printed = done;
}

void Progress::finish() {
    if (last_printed < 0) return; // too short to have shown anything
    if (terminal || last_printed != done) print();
    if (terminal) std::fprintf(out, "\n");
}

namespace {
// Rows of output [B,C] whose largest entry is at the target class; -1 if the
// output is not a classifier's [B,C] with targets [B].
int64_t correct_rows(const Tensor& output, const Tensor& target) {
    if (output.dim() != 2 || target.shape() != Shape{output.size(0)}) return -1;
    const Tensor o = dense(output), t = dense(target);
    const int64_t B = output.size(0), C = output.size(1);
    int64_t right = 0;
    for (int64_t b = 0; b < B; b++) {
        const float* row = o.data() + b * C;
        right += (float)(std::max_element(row, row + C) - row) == t.data()[b];
    }
    return right;
}

struct Tally {
    double loss = 0;
    int64_t samples = 0, right = 0;
    bool classifier = true;
    void add(float batch_loss, const Tensor& output, const Tensor& target) {
        const int64_t B = output.dim() ? output.size(0) : 1;
        loss += (double)batch_loss * (double)B;
        samples += B;
        const int64_t r = correct_rows(output, target);
        classifier = classifier && r >= 0;
        right += std::max<int64_t>(r, 0);
    }
    EpochStats stats(double start) const {
        EpochStats s;
        s.samples = samples;
        s.loss = samples ? (float)(loss / (double)samples) : 0.0f;
        s.accuracy = classifier && samples ? (float)right / (float)samples : std::numeric_limits<float>::quiet_NaN();
        s.seconds = clock_seconds() - start;
        return s;
    }
};
} // namespace

EpochStats train_epoch(Module& model, DataLoader& loader, const LossFn& loss_fn, Optimizer& opt, const TrainOptions& options) {
    model.train();
    Progress bar(options.label, loader.size());
    Tally tally;
    const double start = clock_seconds();
    int64_t batch = 0;
    for (auto& [x, y] : loader) {
        const Tensor output = model(x);
        const Tensor loss = loss_fn(output, y);
        const float value = loss.item();
        if (!std::isfinite(value)) {
            clear_tape(); // nothing of this batch reaches the weights
            if (options.progress) bar.finish();
            throw Error("train_epoch: the loss became " + std::string(std::isnan(value) ? "NaN" : "infinite") + " at step " +
                        std::to_string(opt.steps) + " (batch " + std::to_string(batch) + " of this epoch, lr " +
                        format_float(opt.lr) + "); stopped before the update. Lower the learning rate or clip gradients.");
        }
        // BEGIN SOLUTION Lesson 08: train_epoch: one step: the learning rate, the gradients, clipping, the update
        if (options.lr_schedule) opt.lr = options.lr_schedule(opt.steps);
        opt.zero_grad();
        loss.backward();
        if (options.clip_norm > 0) clip_grad_norm(opt.params, options.clip_norm);
        opt.step();
        // END SOLUTION
        if (options.after_step) options.after_step();
        tally.add(value, output, y);
        if (options.progress) bar.update(++batch, value, tally.samples);
        else batch++;
    }
    if (options.progress) bar.finish();
    return tally.stats(start);
}

EpochStats evaluate(Module& model, DataLoader& loader, const LossFn& loss_fn, bool progress) {
    NoGrad inference;
    const bool was_training = model.training;
    model.eval();
    Progress bar("eval", loader.size());
    Tally tally;
    const double start = clock_seconds();
    int64_t batch = 0;
    for (auto& [x, y] : loader) {
        const Tensor output = model(x);
        const float value = loss_fn(output, y).item();
        tally.add(value, output, y);
        if (progress) bar.update(++batch, value, tally.samples);
    }
    if (progress) bar.finish();
    model.train(was_training);
    return tally.stats(start);
}

void History::add(const EpochStats& train, const EpochStats& test) {
    train_loss.push_back(train.loss);
    train_accuracy.push_back(train.accuracy);
    test_loss.push_back(test.loss);
    test_accuracy.push_back(test.accuracy);
}

std::string xml_escape(const std::string& s) {
    std::string out;
    for (char c : s) {
        if (c == '<') out += "&lt;";
        else if (c == '>') out += "&gt;";
        else if (c == '&') out += "&amp;";
        else if (c == '"') out += "&quot;";
        else if (c == '\'') out += "&#39;";
        else out += c;
    }
    return out;
}

namespace {
// A tick step of 1, 2 or 5 times a power of ten giving about `count` ticks over `span`.
double nice_step(double span, int count) {
    const double raw = span / count, power = std::pow(10.0, std::floor(std::log10(raw)));
    const double r = raw / power;
    return (r < 1.5 ? 1 : r < 3.5 ? 2 : r < 7.5 ? 5 : 10) * power;
}
struct Series {
    const char* label;
    const std::vector<float>* values;
    const char* colour;
};
// One chart in the box (x0, y0, w, h): axes, ticks, grid, lines and a legend
// (top right, or bottom right where the curves rise). x runs over points
// 1..n, ticks labelled point * x_step; y over a rounded range that holds
// every finite value.
std::string svg_panel(double x0, double y0, double w, double h, const char* y_label, const std::string& x_label,
                      double x_step, const std::vector<Series>& series, bool legend_at_bottom) {
    size_t n = 0;
    double lo = std::numeric_limits<double>::infinity(), hi = -lo;
    for (const Series& s : series) {
        n = std::max(n, s.values->size());
        for (float v : *s.values)
            if (std::isfinite(v)) lo = std::min(lo, (double)v), hi = std::max(hi, (double)v);
    }
    if (!(lo <= hi)) lo = 0, hi = 1;
    if (hi - lo < 1e-6) lo -= 0.5, hi += 0.5;
    const double ystep = nice_step(hi - lo, 5);
    lo = std::floor(lo / ystep) * ystep, hi = std::ceil(hi / ystep) * ystep;
    const double left = x0 + 60, right = x0 + w - 15, top = y0 + 15, bottom = y0 + h - 45;
    const double xmax = std::max<double>(n, 2);
    auto px = [&](double epoch) { return left + (epoch - 1) / (xmax - 1) * (right - left); };
    auto py = [&](double v) { return bottom - (v - lo) / (hi - lo) * (bottom - top); };
    std::string out;
    char buf[320];
    // grid and y ticks
    for (double v = lo; v <= hi + ystep / 2; v += ystep) {
        std::snprintf(buf, sizeof buf,
                      "<line x1='%.1f' y1='%.1f' x2='%.1f' y2='%.1f' stroke='#e4e4e4'/>"
                      "<text x='%.1f' y='%.1f' text-anchor='end' font-size='11'>%g</text>\n",
                      left, py(v), right, py(v), left - 6, py(v) + 4, std::fabs(v) < ystep / 1e6 ? 0.0 : v);
        out += buf;
    }
    const double xstep = std::max(1.0, nice_step(xmax - 1, 6));
    for (double e = 1; e <= xmax + 1e-9; e += xstep) {
        std::snprintf(buf, sizeof buf,
                      "<line x1='%.1f' y1='%.1f' x2='%.1f' y2='%.1f' stroke='#333'/>"
                      "<text x='%.1f' y='%.1f' text-anchor='middle' font-size='11'>%g</text>\n",
                      px(e), bottom, px(e), bottom + 5, px(e), bottom + 18, e * x_step);
        out += buf;
    }
    std::snprintf(buf, sizeof buf,
                  "<polyline points='%.1f,%.1f %.1f,%.1f %.1f,%.1f' fill='none' stroke='#333'/>\n"
                  "<text x='%.1f' y='%.1f' text-anchor='middle' font-size='12'>%s</text>\n"
                  "<text transform='translate(%.1f,%.1f) rotate(-90)' text-anchor='middle' font-size='12'>%s</text>\n",
                  left, top, left, bottom, right, bottom, (left + right) / 2, bottom + 36, xml_escape(x_label).c_str(), x0 + 16,
                  (top + bottom) / 2, y_label);
    out += buf;
    // the lines, with a dot per epoch; a non-finite value is left out
    int drawn = 0;
    const double legend_top = legend_at_bottom ? bottom - 10 - 16 * (double)series.size() : top;
    for (const Series& s : series) {
        if (s.values->empty()) continue;
        std::string points;
        for (size_t i = 0; i < s.values->size(); i++) {
            const float v = (*s.values)[i];
            if (!std::isfinite(v)) continue;
            std::snprintf(buf, sizeof buf, "%.1f,%.1f ", px((double)i + 1), py(v));
            points += buf;
            std::snprintf(buf, sizeof buf, "<circle cx='%.1f' cy='%.1f' r='2.5' fill='%s'/>\n", px((double)i + 1), py(v), s.colour);
            out += buf;
        }
        out += "<polyline points='" + points + "' fill='none' stroke-width='2' stroke='" + s.colour + "'/>\n";
        std::snprintf(buf, sizeof buf,
                      "<line x1='%.1f' y1='%.1f' x2='%.1f' y2='%.1f' stroke='%s' stroke-width='2'/>"
                      "<text x='%.1f' y='%.1f' font-size='11'>%s</text>\n",
                      right - 95, legend_top + 12 + 16 * drawn, right - 75, legend_top + 12 + 16 * drawn, s.colour, right - 70,
                      legend_top + 16 + 16 * drawn, s.label);
        out += buf;
        drawn++;
    }
    return out;
}
} // namespace

std::string curves_svg(const History& history, const std::string& title, const std::string& x_label, double x_step) {
    const bool accuracy = !history.train_accuracy.empty() || !history.test_accuracy.empty();
    const double width = 900, height = 340, loss_width = accuracy ? width / 2 : width;
    std::string svg;
    char buf[256];
    std::snprintf(buf, sizeof buf,
                  "<svg xmlns='http://www.w3.org/2000/svg' width='%.0f' height='%.0f' viewBox='0 0 %.0f %.0f' "
                  "font-family='sans-serif'>\n<rect width='100%%' height='100%%' fill='white'/>\n",
                  width, height, width, height);
    svg += buf;
    svg += "<text x='450' y='24' text-anchor='middle' font-size='15'>" + xml_escape(title) + "</text>\n";
    svg += svg_panel(0, 35, loss_width, height - 35, "loss", x_label, x_step,
                     {{"train", &history.train_loss, "#1f77b4"}, {"test", &history.test_loss, "#d62728"}}, false);
    if (accuracy)
        svg += svg_panel(width / 2, 35, width / 2, height - 35, "accuracy", x_label, x_step,
                         {{"train", &history.train_accuracy, "#1f77b4"}, {"test", &history.test_accuracy, "#d62728"}}, true);
    return svg + "</svg>\n";
}

void save_curves_svg(const std::string& path, const History& history, const std::string& title) {
    const std::string svg = curves_svg(history, title);
    std::ofstream file(path, std::ios::binary);
    file << svg;
    if (!file.good()) throw Error("save_curves_svg: cannot write '" + path + "'");
}

// Checkpoints. The header is JSON, so this part carries a JSON writer and a
// reader (tt::parse_json, also what Lesson 20 reads submissions with). The
// reader trusts nothing: every offset is checked against the file's real
// size before a byte of data is read, and for safetensors it runs in its
// narrow mode, where a number must be a whole non-negative one and true,
// false and null are refused, as the format has no use for them.

std::string json_quote(const std::string& s) {
    std::string out = "\"";
    for (unsigned char c : s) {
        if (c == '"' || c == '\\') out += '\\', out += (char)c;
        else if (c < 0x20) {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\u%04x", c);
            out += buf;
        } else out += (char)c;
    }
    return out + "\"";
}

const JsonValue* JsonValue::find(const std::string& key) const {
    for (size_t i = 0; i < keys.size(); i++)
        if (keys[i] == key) return &items[i];
    return nullptr;
}

const char* JsonValue::kind_name() const {
    switch (kind) {
    case Null: return "null";
    case Boolean: return "a boolean";
    case Number: return "a number";
    case String: return "a string";
    case Array: return "an array";
    case Object: return "an object";
    }
    return "?";
}

namespace {
// Recursive descent over the text, one byte index i. Errors say the byte
// where it stopped: "<where>bad <noun> at byte 17: expected ':'".
class JsonReader {
public:
    // whole_numbers_only: safetensors' mode (digits only, no true/false/null, 8 deep).
    JsonReader(const std::string& text, const std::string& where, const std::string& noun, bool whole_numbers_only)
        : s(text), where(where), noun(noun), narrow(whole_numbers_only) {}
    JsonValue document() {
        JsonValue v = value(0);
        skip_space();
        if (i != s.size()) fail(narrow ? "unexpected text after the JSON object" : "unexpected text after the JSON value");
        return v;
    }

private:
    const std::string& s;
    const std::string& where;
    const std::string noun;
    const bool narrow;
    size_t i = 0;
    [[noreturn]] void fail(const std::string& what) {
        throw Error(where + "bad " + noun + " at byte " + std::to_string(i) + ": " + what);
    }
    void skip_space() {
        while (i < s.size() && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r')) i++;
    }
    void expect(char c) {
        skip_space();
        if (i >= s.size() || s[i] != c) fail(std::string("expected '") + c + "'");
        i++;
    }
    bool digit(size_t k) const { return k < s.size() && s[k] >= '0' && s[k] <= '9'; }
    JsonValue value(int depth) {
        if (depth > (narrow ? 8 : 32)) fail("nested too deeply");
        skip_space();
        if (i >= s.size()) fail("unexpected end");
        JsonValue v;
        const char c = s[i];
        if (c == '{') {
            v.kind = JsonValue::Object;
            i++;
            skip_space();
            if (i < s.size() && s[i] == '}') { i++; return v; }
            for (;;) {
                skip_space();
                if (i >= s.size() || s[i] != '"') fail("expected a string key");
                std::string key = string();
                if (v.find(key)) fail("duplicate key \"" + key + "\"");
                expect(':');
                v.keys.push_back(key);
                v.items.push_back(value(depth + 1));
                skip_space();
                if (i < s.size() && s[i] == ',') { i++; continue; }
                expect('}');
                return v;
            }
        }
        if (c == '[') {
            v.kind = JsonValue::Array;
            i++;
            skip_space();
            if (i < s.size() && s[i] == ']') { i++; return v; }
            for (;;) {
                v.items.push_back(value(depth + 1));
                skip_space();
                if (i < s.size() && s[i] == ',') { i++; continue; }
                expect(']');
                return v;
            }
        }
        if (c == '"') {
            v.kind = JsonValue::String;
            v.text = string();
            return v;
        }
        if (narrow && c >= '0' && c <= '9') {
            v.kind = JsonValue::Number;
            v.whole = true;
            while (digit(i)) {
                const uint64_t d = (uint64_t)(s[i] - '0');
                if (v.integer > (UINT64_MAX - d) / 10) fail("integer too large");
                v.integer = v.integer * 10 + d;
                i++;
            }
            if (i < s.size() && (s[i] == '.' || s[i] == 'e' || s[i] == 'E')) fail("expected a whole number");
            v.number = (double)v.integer;
            return v;
        }
        if (!narrow && (c == '-' || (c >= '0' && c <= '9'))) return number();
        if (!narrow)
            for (const char* word : {"true", "false", "null"})
                if (s.compare(i, std::strlen(word), word) == 0) {
                    i += std::strlen(word);
                    v.kind = word[0] == 'n' ? JsonValue::Null : JsonValue::Boolean;
                    v.boolean = word[0] == 't';
                    return v;
                }
        fail(std::string("unexpected character '") + c + "'" +
             (narrow ? " (only objects, arrays, strings and whole numbers are read)" : ""));
    }
    // -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)? as RFC 8259 has it;
    // converted by strtod in the "C" locale tt runs in (tt never calls
    // setlocale), so '.' is the decimal point.
    JsonValue number() {
        JsonValue v;
        v.kind = JsonValue::Number;
        const size_t start = i;
        if (s[i] == '-') i++;
        if (!digit(i)) fail("expected a digit");
        if (s[i] == '0' && digit(i + 1)) fail("a number cannot start with 0 (leading zeros)");
        while (digit(i)) i++;
        bool plain = s[start] != '-';
        if (i < s.size() && s[i] == '.') {
            i++, plain = false;
            if (!digit(i)) fail("expected a digit after '.'");
            while (digit(i)) i++;
        }
        if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
            i++, plain = false;
            if (i < s.size() && (s[i] == '+' || s[i] == '-')) i++;
            if (!digit(i)) fail("expected a digit in the exponent");
            while (digit(i)) i++;
        }
        const std::string digits = s.substr(start, i - start);
        v.number = std::strtod(digits.c_str(), nullptr);
        if (!std::isfinite(v.number)) fail("number " + digits + " is out of a double's range");
        v.whole = plain;
        for (size_t k = 0; v.whole && k < digits.size(); k++) { // exact, up to 2^64 - 1
            const uint64_t d = (uint64_t)(digits[k] - '0');
            if (v.integer > (UINT64_MAX - d) / 10) v.whole = false, v.integer = 0;
            else v.integer = v.integer * 10 + d;
        }
        return v;
    }
    std::string string() {
        i++; // the opening quote
        std::string out;
        for (;;) {
            if (i >= s.size()) fail("unterminated string");
            const char c = s[i++];
            if (c == '"') return out;
            if ((unsigned char)c < 0x20) fail("control character in a string");
            if (c != '\\') { out += c; continue; }
            if (i >= s.size()) fail("unterminated string");
            const char e = s[i++];
            if (e == '"' || e == '\\' || e == '/') out += e;
            else if (e == 'n') out += '\n';
            else if (e == 't') out += '\t';
            else if (e == 'r') out += '\r';
            else if (e == 'b') out += '\b';
            else if (e == 'f') out += '\f';
            else if (e == 'u') {
                if (i + 4 > s.size()) fail("short \\u escape");
                unsigned code = 0;
                for (int k = 0; k < 4; k++) {
                    const char h = s[i++];
                    const int d = h >= '0' && h <= '9' ? h - '0' : h >= 'a' && h <= 'f' ? h - 'a' + 10 : h >= 'A' && h <= 'F' ? h - 'A' + 10 : -1;
                    if (d < 0) fail("bad \\u escape");
                    code = code * 16 + (unsigned)d;
                }
                if (code >= 0xD800 && code < 0xE000) fail("surrogate \\u escapes are not supported");
                // UTF-8: 1, 2 or 3 bytes for a code point below 0x10000
                if (code < 0x80) out += (char)code;
                else if (code < 0x800) out += (char)(0xC0 | (code >> 6)), out += (char)(0x80 | (code & 0x3F));
                else out += (char)(0xE0 | (code >> 12)), out += (char)(0x80 | ((code >> 6) & 0x3F)), out += (char)(0x80 | (code & 0x3F));
            } else fail(std::string("bad escape '\\") + e + "'");
        }
    }
};
} // namespace

JsonValue parse_json(const std::string& text, const std::string& where) {
    return JsonReader(text, where, "JSON", false).document();
}

namespace {

// Floats to and from little-endian bytes, whatever the machine's byte order.
void put_le32(float v, unsigned char* out) {
    uint32_t u;
    std::memcpy(&u, &v, 4);
    for (int k = 0; k < 4; k++) out[k] = (unsigned char)(u >> (8 * k));
}
float get_le32(const unsigned char* in) {
    uint32_t u = 0;
    for (int k = 0; k < 4; k++) u |= (uint32_t)in[k] << (8 * k);
    float v;
    std::memcpy(&v, &u, 4);
    return v;
}
// An unsigned little-endian integer of `bytes` bytes (2, 4 or 8).
uint64_t get_le(const unsigned char* in, int bytes) {
    uint64_t u = 0;
    for (int k = 0; k < bytes; k++) u |= (uint64_t)in[k] << (8 * k);
    return u;
}

// The dtypes the reader takes, with their sizes in bytes.
struct DtypeSize {
    const char* name;
    unsigned bytes;
};
constexpr DtypeSize kDtypes[] = {{"F32", 4}, {"F16", 2}, {"BF16", 2}, {"F64", 8}, {"I64", 8}, {"I32", 4}, {"I8", 1}};
constexpr double kExactIntegers = 16777216.0; // 2^24: past it, float32 skips whole numbers
} // namespace

// half: (-1)^s * 2^(e-15) * 1.m for e in 1..30; (-1)^s * 2^-14 * 0.m for e = 0
// (subnormal); infinity or NaN for e = 31. float32 has a wider exponent and
// 13 more mantissa bits, so each case maps exactly: rebias the exponent
// (+112), shift the mantissa up; a subnormal half is m * 2^-24, a normal float.
float float16_to_float(uint16_t h) {
    const uint32_t sign = (uint32_t)(h >> 15) << 31, exponent = (h >> 10) & 0x1Fu, mantissa = h & 0x3FFu;
    uint32_t bits;
    if (exponent == 0x1F) {
        bits = sign | 0x7F800000u | mantissa << 13; // infinity (m = 0) or NaN, payload kept
    } else if (exponent != 0) {
        bits = sign | (exponent + 112) << 23 | mantissa << 13;
    } else {
        const float magnitude = (float)mantissa * 0x1p-24f; // zero or subnormal: exact (m < 2^10)
        std::memcpy(&bits, &magnitude, 4);
        bits |= sign;
    }
    float v;
    std::memcpy(&v, &bits, 4);
    return v;
}
float bfloat16_to_float(uint16_t h) {
    const uint32_t bits = (uint32_t)h << 16;
    float v;
    std::memcpy(&v, &bits, 4);
    return v;
}

void save_safetensors(const std::string& path, const NamedTensors& tensors, const Metadata& metadata,
                      const std::vector<std::string>& dtypes) {
    const std::string where = "save_safetensors: '" + path + "': ";
    if (!dtypes.empty() && dtypes.size() != tensors.size())
        throw Error(where + "got " + std::to_string(dtypes.size()) + " dtypes for " + std::to_string(tensors.size()) + " tensors");
    auto dtype_of = [&](size_t k) { return dtypes.empty() ? std::string("F32") : dtypes[k]; };
    std::string header = "{";
    if (!metadata.empty()) {
        header += "\"__metadata__\":{";
        for (size_t k = 0; k < metadata.size(); k++)
            header += (k ? "," : "") + json_quote(metadata[k].first) + ":" + json_quote(metadata[k].second);
        header += "}";
    }
    uint64_t offset = 0;
    for (size_t k = 0; k < tensors.size(); k++) {
        const auto& [name, t] = tensors[k];
        require_defined(t, "save_safetensors");
        if (name == "__metadata__") throw Error(where + "a tensor cannot be named __metadata__");
        for (size_t j = 0; j < k; j++)
            if (tensors[j].first == name) throw Error(where + "two tensors are named '" + name + "'");
        const std::string dtype = dtype_of(k);
        if (dtype != "F32" && dtype != "I64") throw Error(where + "tensor '" + name + "': dtype '" + dtype + "' is not F32 or I64, the dtypes tt writes");
        if (dtype == "I64")
            for (float v : t.to_vector())
                if (!(v == std::floor(v) && std::fabs(v) <= kExactIntegers))
                    throw Error(where + "tensor '" + name + "' is to be I64 but holds " + format_float(v) +
                                ", not a whole number of at most 2^24");
        std::string shape;
        for (int64_t d : t.shape()) shape += (shape.empty() ? "" : ",") + std::to_string(d);
        const uint64_t bytes = (uint64_t)t.numel() * (dtype == "I64" ? 8 : 4);
        header += std::string(header.size() > 1 ? "," : "") + json_quote(name) + ":{\"dtype\":\"" + dtype + "\",\"shape\":[" + shape +
                  "],\"data_offsets\":[" + std::to_string(offset) + "," + std::to_string(offset + bytes) + "]}";
        offset += bytes;
    }
    header += "}";
    header.append((8 - header.size() % 8) % 8, ' '); // the data then starts 8-byte aligned
    // Written beside the target and renamed over it: a crash mid-write never
    // leaves a half-written checkpoint under the real name.
    const std::string temporary = path + ".tmp";
    {
        std::ofstream file(temporary, std::ios::binary | std::ios::trunc);
        if (!file) throw Error(where + "cannot open '" + temporary + "' for writing");
        unsigned char length[8];
        for (int k = 0; k < 8; k++) length[k] = (unsigned char)((uint64_t)header.size() >> (8 * k));
        file.write((const char*)length, 8);
        file.write(header.data(), (std::streamsize)header.size());
        std::vector<unsigned char> chunk;
        for (size_t k = 0; k < tensors.size(); k++) {
            const Tensor d = dense(tensors[k].second);
            if (dtype_of(k) == "I64") { // two's complement, little-endian
                chunk.resize((size_t)d.numel() * 8);
                for (int64_t i = 0; i < d.numel(); i++)
                    for (int b = 0; b < 8; b++) chunk[8 * i + b] = (unsigned char)((uint64_t)(int64_t)d.data()[i] >> (8 * b));
            } else {
                chunk.resize((size_t)d.numel() * 4);
                for (int64_t i = 0; i < d.numel(); i++) put_le32(d.data()[i], chunk.data() + 4 * i);
            }
            file.write((const char*)chunk.data(), (std::streamsize)chunk.size());
        }
        if (!file.flush()) throw Error(where + "write failed (disk full?)");
    }
    if (std::rename(temporary.c_str(), path.c_str()) != 0) {
        std::remove(temporary.c_str());
        throw Error(where + "cannot rename '" + temporary + "' to it");
    }
}

SafeTensors load_safetensors(const std::string& path) {
    std::ifstream file(path, std::ios::binary);
    if (!file) throw Error("load_safetensors: '" + path + "': cannot open the file");
    return load_safetensors(file, path);
}

SafeTensors load_safetensors(std::istream& file, const std::string& path) {
    const std::string where = "load_safetensors: '" + path + "': ";
    file.seekg(0, std::ios::end);
    const std::streamoff end = file.tellg();
    if (end < 0) throw Error(where + "cannot read the file's size");
    const uint64_t file_size = (uint64_t)end;
    file.seekg(0);
    if (file_size < 8) throw Error(where + "the file has " + std::to_string(file_size) + " bytes, too short for the 8-byte header length");
    unsigned char length[8];
    if (!file.read((char*)length, 8)) throw Error(where + "cannot read the file (a folder?)");
    uint64_t header_size = 0;
    for (int k = 0; k < 8; k++) header_size |= (uint64_t)length[k] << (8 * k);
    if (header_size > 100000000) // the format's own limit; also keeps the size_t below safe on 32-bit machines
        throw Error(where + "the header length " + std::to_string(header_size) + " is over the format's limit of 100 MB");
    if (header_size > file_size - 8)
        throw Error(where + "the header length " + std::to_string(header_size) + " runs past the end of the file (" +
                    std::to_string(file_size) + " bytes; truncated?)");
    std::string header((size_t)header_size, '\0');
    file.read(&header[0], (std::streamsize)header_size);
    if (!file) throw Error(where + "could not read the header");
    const uint64_t data_size = file_size - 8 - header_size;

    const JsonValue doc = JsonReader(header, where, "JSON header", true).document();
    if (doc.kind != JsonValue::Object) throw Error(where + "the header is not a JSON object");
    SafeTensors out;
    struct Entry {
        std::string name;
        Shape shape;
        uint64_t begin, end;
        std::string dtype;
        unsigned element_bytes; // 4 for F32, 2 for F16, ...
    };
    std::vector<Entry> entries;
    for (size_t k = 0; k < doc.keys.size(); k++) {
        const std::string& name = doc.keys[k];
        const JsonValue& v = doc.items[k];
        if (name == "__metadata__") {
            if (v.kind != JsonValue::Object) throw Error(where + "__metadata__ is not an object");
            for (size_t j = 0; j < v.keys.size(); j++) {
                if (v.items[j].kind != JsonValue::String) throw Error(where + "metadata \"" + v.keys[j] + "\" is not a string");
                out.metadata.push_back({v.keys[j], v.items[j].text});
            }
            continue;
        }
        const std::string what = where + "tensor '" + name + "': ";
        if (v.kind != JsonValue::Object) throw Error(what + "its entry is not an object");
        const JsonValue *dtype = v.find("dtype"), *shape = v.find("shape"), *offsets = v.find("data_offsets");
        if (!dtype || !shape || !offsets || v.keys.size() != 3)
            throw Error(what + "the entry must hold exactly dtype, shape and data_offsets");
        const DtypeSize* known = nullptr;
        for (const DtypeSize& d : kDtypes)
            if (dtype->kind == JsonValue::String && dtype->text == d.name) known = &d;
        if (!known)
            throw Error(what + "dtype " + (dtype->kind == JsonValue::String ? "'" + dtype->text + "'" : "(not a string)") +
                        " is not one tt reads (F32, F16, BF16, F64, I64, I32, and I8 for Lesson 15's int8 weights)");
        if (shape->kind != JsonValue::Array) throw Error(what + "shape is not an array");
        Entry e{name, {}, 0, 0, known->name, known->bytes};
        uint64_t count = 1;
        for (const JsonValue& d : shape->items) {
            if (d.kind != JsonValue::Number || !d.whole) throw Error(what + "shape holds something other than whole numbers");
            // a size can never exceed the data it would need
            if (d.integer > data_size || (d.integer && count > data_size / d.integer))
                throw Error(what + "shape is larger than the file's data");
            count *= d.integer;
            e.shape.push_back((int64_t)d.integer);
        }
        if (offsets->kind != JsonValue::Array || offsets->items.size() != 2 || !offsets->items[0].whole ||
            !offsets->items[1].whole)
            throw Error(what + "data_offsets is not a pair of whole numbers [begin, end]");
        e.begin = offsets->items[0].integer, e.end = offsets->items[1].integer;
        if (e.begin > e.end) throw Error(what + "data_offsets [" + std::to_string(e.begin) + ", " + std::to_string(e.end) + "] end before they begin");
        if (e.end > data_size)
            throw Error(what + "data_offsets end at byte " + std::to_string(e.end) + " but the file holds " +
                        std::to_string(data_size) + " bytes of data (truncated?)");
        if (e.end - e.begin != count * e.element_bytes)
            throw Error(what + "data_offsets span " + std::to_string(e.end - e.begin) + " bytes but shape " + to_string(e.shape) +
                        " needs " + std::to_string(count * e.element_bytes));
        entries.push_back(e);
    }
    // The tensors must tile the data exactly: no overlap, no gap, nothing after.
    std::vector<const Entry*> by_offset;
    for (const Entry& e : entries) by_offset.push_back(&e);
    std::sort(by_offset.begin(), by_offset.end(), [](const Entry* a, const Entry* b) {
        return a->begin != b->begin ? a->begin < b->begin : a->end < b->end;
    });
    uint64_t covered = 0;
    for (size_t k = 0; k < by_offset.size(); k++) {
        const Entry& e = *by_offset[k];
        if (e.begin < covered)
            throw Error(where + "tensors '" + by_offset[k - 1]->name + "' and '" + e.name + "' overlap in the data");
        if (e.begin > covered)
            throw Error(where + "data bytes " + std::to_string(covered) + ".." + std::to_string(e.begin) + " belong to no tensor");
        covered = e.end;
    }
    if (covered != data_size)
        throw Error(where + "the file has " + std::to_string(data_size - covered) + " bytes after the last tensor's data");

    MemoryCategory scratch(Category::Scratch);
    std::vector<unsigned char> bytes;
    for (const Entry& e : entries) {
        Tensor t = new_tensor(e.shape, "load_safetensors");
        bytes.resize((size_t)(e.end - e.begin));
        file.seekg((std::streamoff)(8 + header_size + e.begin));
        file.read((char*)bytes.data(), (std::streamsize)bytes.size());
        if (!file) throw Error(where + "could not read the data of tensor '" + e.name + "'");
        const unsigned char* at = bytes.data();
        float* to = t.data();
        const int64_t n = t.numel();
        const std::string what = where + "tensor '" + e.name + "' (" + e.dtype + "): ";
        if (e.dtype == "F32") {
            for (int64_t k = 0; k < n; k++) to[k] = get_le32(at + 4 * k);
        } else if (e.dtype == "F16" || e.dtype == "BF16") {
            const bool half = e.dtype == "F16";
            for (int64_t k = 0; k < n; k++) {
                const uint16_t h = (uint16_t)get_le(at + 2 * k, 2);
                to[k] = half ? float16_to_float(h) : bfloat16_to_float(h);
            }
        } else if (e.dtype == "F64") {
            for (int64_t k = 0; k < n; k++) {
                const uint64_t u = get_le(at + 8 * k, 8);
                double v;
                std::memcpy(&v, &u, 8);
                to[k] = (float)v; // to the nearest float32
                if (std::isfinite(v) && !std::isfinite(to[k]))
                    throw Error(what + "value " + std::to_string(v) + " at index " + std::to_string(k) + " is past float32's range");
            }
        } else if (e.dtype == "I8") {
            for (int64_t k = 0; k < n; k++) to[k] = (float)(int8_t)at[k]; // an int8 is exactly a float
        } else { // I64, I32: two's complement
            const int size = (int)e.element_bytes;
            for (int64_t k = 0; k < n; k++) {
                const uint64_t u = get_le(at + size * k, size);
                const int64_t v = size == 8 ? (int64_t)u : (int64_t)(int32_t)(uint32_t)u;
                if (std::fabs((double)v) > kExactIntegers)
                    throw Error(what + "value " + std::to_string(v) + " at index " + std::to_string(k) +
                                " is past 2^24, where float32 stops holding every whole number");
                to[k] = (float)v;
            }
        }
        out.tensors.push_back({e.name, t});
        out.dtypes.push_back(e.dtype);
    }
    return out;
}

namespace {
std::string optimizer_kind(const Optimizer& opt) {
    const std::string n = opt.name();
    return n.substr(0, n.find('('));
}
std::string metadata_value(const Metadata& m, const std::string& key) {
    for (const auto& [k, v] : m)
        if (k == key) return v;
    return "";
}

// The generator's whole state as text: two 64-bit words, the spare normal's bits, whether it is held.
std::string generator_text(const Generator& g) {
    uint32_t spare;
    std::memcpy(&spare, &g.spare_normal, 4);
    char buf[64];
    std::snprintf(buf, sizeof buf, "%016" PRIx64 " %016" PRIx64 " %08" PRIx32 " %d", g.state[0], g.state[1], spare, g.has_spare ? 1 : 0);
    return buf;
}
bool parse_generator(const std::string& text, Generator& g) {
    unsigned long long s0, s1;
    unsigned spare;
    int has_spare;
    char tail;
    if (std::sscanf(text.c_str(), "%16llx %16llx %8x %d%c", &s0, &s1, &spare, &has_spare, &tail) != 4 || (has_spare & ~1)) return false;
    g.state[0] = s0, g.state[1] = s1, g.has_spare = has_spare;
    const uint32_t bits = spare;
    std::memcpy(&g.spare_normal, &bits, 4);
    return true;
}
} // namespace

void save_checkpoint(const std::string& path, Module& model, const Optimizer* opt, const Generator* rng) {
    // BEGIN SOLUTION Lesson 08: save_checkpoint: the weights, the optimizer's state and step, the generator
    NamedTensors tensors;
    for (auto& [name, p] : model.named_parameters()) tensors.push_back({"model." + name, p});
    Metadata metadata{{"format", "tt checkpoint"}};
    if (opt) {
        for (auto& [name, t] : opt->state()) tensors.push_back({"optimizer." + name, t});
        metadata.push_back({"optimizer", optimizer_kind(*opt)});
        metadata.push_back({"steps", std::to_string(opt->steps)});
    }
    if (rng) metadata.push_back({"generator", generator_text(*rng)});
    save_safetensors(path, tensors, metadata);
    // END SOLUTION
}

void load_checkpoint(const std::string& path, Module& model, Optimizer* opt, Generator* rng) {
    const std::string where = "load_checkpoint: '" + path + "': ";
    const SafeTensors file = load_safetensors(path);
    // Pass 1: check everything, change nothing.
    const NamedTensors params = model.named_parameters();
    std::vector<const Tensor*> param_source(params.size(), nullptr);
    std::vector<std::pair<std::pair<size_t, size_t>, const Tensor*>> state; // (param, slot) -> data
    const std::vector<std::string> slots = opt ? opt->slots() : std::vector<std::string>{};
    int64_t steps = 0;
    if (opt) {
        const std::string kind = metadata_value(file.metadata, "optimizer"), text = metadata_value(file.metadata, "steps");
        if (kind.empty()) throw Error(where + "holds no optimizer state, so it cannot resume " + optimizer_kind(*opt));
        if (kind != optimizer_kind(*opt)) throw Error(where + "holds " + kind + " state, not " + optimizer_kind(*opt) + " state");
        if (text.empty() || text.size() > 18 || text.find_first_not_of("0123456789") != std::string::npos)
            throw Error(where + "its step counter '" + text + "' is not a whole number");
        steps = std::stoll(text);
    }
    Generator generator;
    if (rng && !parse_generator(metadata_value(file.metadata, "generator"), generator))
        throw Error(where + "holds no valid generator state ('" + metadata_value(file.metadata, "generator") + "')");
    for (size_t k = 0; k < file.tensors.size(); k++)
        if (file.dtypes[k] != "F32")
            throw Error(where + "tensor '" + file.tensors[k].first + "' is " + file.dtypes[k] +
                        (file.dtypes[k] == "I8" ? ", a quantized model's (Lesson 15's load_quantized reads it)"
                                                : ", not F32 as tt's checkpoints are (load_state_dict reads PyTorch's dtypes)"));
    for (const auto& [name, t] : file.tensors) {
        if (name.rfind("model.", 0) == 0) {
            const std::string pname = name.substr(6);
            size_t k = 0;
            while (k < params.size() && params[k].first != pname) k++;
            if (k == params.size()) throw Error(where + "tensor '" + name + "' is not a parameter of the model");
            if (t.shape() != params[k].second.shape())
                throw Error(where + "tensor '" + name + "' has shape " + to_string(t.shape()) + " but the model's is " +
                            to_string(params[k].second.shape()));
            param_source[k] = &t;
        } else if (name.rfind("optimizer.", 0) == 0) {
            if (!opt) continue; // weights only: the optimizer state is not wanted
            const std::string rest = name.substr(10);
            const size_t dot = rest.find('.');
            const std::string index = rest.substr(0, dot), slot = dot == std::string::npos ? "" : rest.substr(dot + 1);
            const size_t s = (size_t)(std::find(slots.begin(), slots.end(), slot) - slots.begin());
            if (index.empty() || index.size() > 9 || index.find_first_not_of("0123456789") != std::string::npos ||
                std::stoul(index) >= opt->params.size() || s == slots.size())
                throw Error(where + "tensor '" + name + "' is not state of this " + optimizer_kind(*opt) + " (" +
                            std::to_string(opt->params.size()) + " parameters)");
            const size_t i = std::stoul(index);
            if (t.shape() != opt->slot_shape(i, s))
                throw Error(where + "tensor '" + name + "' has shape " + to_string(t.shape()) + " but the optimizer's is " +
                            to_string(opt->slot_shape(i, s)));
            state.push_back({{i, s}, &t});
        } else {
            throw Error(where + "tensor '" + name + "' is neither model.* nor optimizer.* (a PyTorch state_dict? load_state_dict reads those)");
        }
    }
    for (size_t k = 0; k < params.size(); k++)
        if (!param_source[k]) throw Error(where + "has no tensor 'model." + params[k].first + "'");
    // a parameter's state is all there (it has been stepped) or all absent
    std::vector<size_t> slots_found(opt ? opt->params.size() : 0, 0);
    for (auto& entry : state) slots_found[entry.first.first]++;
    for (size_t i = 0; i < slots_found.size(); i++)
        if (slots_found[i] != 0 && slots_found[i] != slots.size())
            throw Error(where + "has " + std::to_string(slots_found[i]) + " of the " + std::to_string(slots.size()) +
                        " state tensors of parameter " + std::to_string(i));
    // Pass 2: copy.
    for (size_t k = 0; k < params.size(); k++)
        std::copy(param_source[k]->data(), param_source[k]->data() + param_source[k]->numel(), params[k].second.data());
    if (opt) {
        for (auto& b : opt->buffers) b.clear();
        for (auto& [at, t] : state) std::copy(t->data(), t->data() + t->numel(), opt->buffer(at.first, at.second).data());
        opt->steps = steps;
    }
    if (rng) *rng = generator;
}

// PyTorch's state_dicts. The names are module paths on both sides, so the
// work is in the checks: which names match (after at most one shared prefix),
// which shapes and dtypes agree, and what to say about the rest.

namespace {
std::string quoted_list(const std::vector<std::string>& names) {
    std::string out;
    for (const std::string& n : names) out += (out.empty() ? "'" : ", '") + n + "'";
    return out;
}
bool is_integer_dtype(const std::string& dtype) { return dtype == "I64" || dtype == "I32"; }
} // namespace

std::string LoadReport::str() const {
    std::string out = std::to_string(loaded) + " tensors loaded\n";
    if (!missing.empty()) out += "missing (kept as they were): " + quoted_list(missing) + "\n";
    if (!unexpected.empty()) out += "unexpected (ignored): " + quoted_list(unexpected) + "\n";
    for (const std::string& n : notes) out += n + "\n";
    return out;
}

LoadReport load_state_dict(Module& model, const std::string& path, bool strict) {
    const std::string where = "load_state_dict: '" + path + "': ";
    const SafeTensors file = load_safetensors(path);
    const NamedTensors params = model.named_parameters();
    const std::vector<std::pair<std::string, int64_t*>> counters = model.named_counters();
    LoadReport report;
    auto param_index = [&](const std::string& n) {
        size_t k = 0;
        while (k < params.size() && params[k].first != n) k++;
        return k;
    };
    auto counter_index = [&](const std::string& n) {
        size_t k = 0;
        while (k < counters.size() && counters[k].first != n) k++;
        return k;
    };
    auto known = [&](const std::string& n) { return param_index(n) < params.size() || counter_index(n) < counters.size(); };

    // The file's tensors that are the model's candidates: all of them, but a tt checkpoint's optimizer state.
    const bool tt_checkpoint = metadata_value(file.metadata, "format") == "tt checkpoint";
    std::vector<size_t> keys;
    size_t optimizer_tensors = 0;
    for (size_t k = 0; k < file.tensors.size(); k++) {
        if (tt_checkpoint && file.tensors[k].first.rfind("optimizer.", 0) == 0) optimizer_tensors++;
        else keys.push_back(k);
    }
    if (optimizer_tensors)
        report.notes.push_back("skipped the " + std::to_string(optimizer_tensors) + " optimizer state tensors of this tt checkpoint (load_checkpoint resumes them)");
    // One shared prefix up to a dot, dropped when no name matches as it is and dropping it makes some match.
    std::string prefix;
    if (!keys.empty() && std::none_of(keys.begin(), keys.end(), [&](size_t k) { return known(file.tensors[k].first); })) {
        const std::string& first = file.tensors[keys[0]].first;
        const std::string candidate = first.substr(0, first.find('.') + 1);
        const auto shares = [&](size_t k) { return file.tensors[k].first.rfind(candidate, 0) == 0; };
        const auto matches = [&](size_t k) { return known(file.tensors[k].first.substr(candidate.size())); };
        if (!candidate.empty() && std::all_of(keys.begin(), keys.end(), shares) && std::any_of(keys.begin(), keys.end(), matches)) {
            prefix = candidate;
            report.notes.push_back("dropped the prefix '" + prefix + "' every name in the file has");
        }
    }

    // Pass 1: match and check everything, change nothing.
    std::vector<const Tensor*> param_source(params.size(), nullptr), counter_source(counters.size(), nullptr);
    std::vector<std::string> problems, rounded;
    for (size_t k : keys) {
        const std::string& key = file.tensors[k].first;
        const std::string name = key.substr(prefix.size()), dtype = file.dtypes[k];
        const Tensor& t = file.tensors[k].second;
        const size_t p = param_index(name), c = counter_index(name);
        if (p < params.size()) {
            if (is_integer_dtype(dtype) || dtype == "I8")
                problems.push_back("'" + key + "' is " + dtype + " but the model's '" + name + "' is a float parameter" +
                                   (dtype == "I8" ? " (a quantized model's? load_quantized reads those)" : ""));
            else if (t.shape() != params[p].second.shape())
                problems.push_back("size mismatch for '" + name + "': the file's is " + to_string(t.shape()) + ", the model's " +
                                   to_string(params[p].second.shape()));
            else param_source[p] = &t;
            if (dtype == "F64") rounded.push_back(name);
        } else if (c < counters.size()) {
            if (!is_integer_dtype(dtype))
                problems.push_back("'" + key + "' is " + dtype + " but the model's '" + name + "' is a counter (I64 or I32)");
            else if (t.shape() != Shape{})
                problems.push_back("size mismatch for '" + name + "': the file's is " + to_string(t.shape()) + ", the model's counter is a scalar []");
            else counter_source[c] = &t;
        } else {
            report.unexpected.push_back(key);
        }
    }
    for (size_t p = 0; p < params.size(); p++)
        if (!param_source[p]) {
            const std::string& name = params[p].first;
            const bool refused = std::any_of(keys.begin(), keys.end(), [&](size_t k) { return file.tensors[k].first.substr(prefix.size()) == name; });
            if (!refused) report.missing.push_back(name);
        }
    if (strict && !report.missing.empty())
        problems.push_back("missing from the file (strict): " + quoted_list(report.missing));
    if (strict && !report.unexpected.empty())
        problems.push_back("not in the model (strict): " + quoted_list(report.unexpected));
    if (!problems.empty()) {
        std::string text;
        for (const std::string& p : problems) text += (text.empty() ? "" : "; ") + p;
        throw Error(where + text + " (nothing was loaded)");
    }
    // Pass 2: copy.
    for (size_t p = 0; p < params.size(); p++)
        if (param_source[p]) {
            std::copy(param_source[p]->data(), param_source[p]->data() + param_source[p]->numel(), params[p].second.data());
            report.loaded++;
        }
    for (size_t c = 0; c < counters.size(); c++) {
        if (counter_source[c]) {
            *counters[c].second = (int64_t)counter_source[c]->item();
            report.loaded++;
        } else {
            report.notes.push_back("'" + counters[c].first + "' is not in the file: kept at " + std::to_string(*counters[c].second));
        }
    }
    if (!rounded.empty())
        report.notes.push_back("F64 rounded to the nearest float32 (a relative change of at most 2^-24 in float32's normal range): " + quoted_list(rounded));
    return report;
}

void save_state_dict(Module& model, const std::string& path, const Metadata& metadata) {
    NamedTensors tensors = model.named_parameters();
    std::vector<std::string> dtypes(tensors.size(), "F32");
    MemoryCategory scratch(Category::Scratch);
    for (auto& [name, c] : model.named_counters()) {
        if (std::llabs(*c) > (1 << 24))
            throw Error("save_state_dict: '" + path + "': counter '" + name + "' = " + std::to_string(*c) +
                        " is past 2^24, where tt's float32 tensors stop holding every whole number");
        tensors.push_back({name, Tensor::scalar((float)*c)});
        dtypes.push_back("I64");
    }
    Metadata all{{"format", "pt"}};
    all.insert(all.end(), metadata.begin(), metadata.end());
    save_safetensors(path, tensors, all, dtypes);
}

// ===== Lesson 09 · Convolutions ==============================================
// First the definition, as a loop nest a reader can check against the math
// line. Then the way frameworks run it: im2col lays every input patch out as
// a column of a matrix, so the layer becomes matrix products, which is the
// one kernel worth making fast (Lesson 17). The price is the column matrix:
// C*kh*kw rows by OH*OW columns per image. Built one image at a time it stays
// in the cache (78 KB for LeNet's first layer, where the whole batch's would
// be 5 MB), and each image's product lands directly in its slice of y.
// Images are independent, so they are handed out in chunks with parallel_for.
// Pooling and batch norm are plain loops over windows and channels: they move
// memory, they do little arithmetic.

void parallel_for_serial(int64_t n, const std::function<void(int64_t)>& f) {
    for (int64_t i = 0; i < n; i++) f(i);
}
ParallelFor parallel_for = parallel_for_serial;

namespace {
// Everything a sliding window needs to know, checked once.
struct ConvGeometry {
    int64_t B, C, H, W;     // input [B,C,H,W]
    int64_t O, kh, kw;      // output channels, window size
    int64_t stride, padding;
    int64_t OH, OW;         // output size
    int64_t patch() const { return C * kh * kw; }     // K: one window, flattened
    int64_t PH() const { return H + 2 * padding; }     // the input in its frame of zeros
    int64_t PW() const { return W + 2 * padding; }
};

// Checks what every windowed op needs; `op` names the layer in the error.
ConvGeometry window_geometry(const Tensor& x, int64_t kh, int64_t kw, int64_t stride, int64_t padding,
                             const std::string& op) {
    if (!x.defined()) throw Error(op + ": the input is undefined (default-constructed)");
    if (x.dim() != 4) throw Error(op + ": expects a 4-d input [B,C,H,W], got " + to_string(x.shape()));
    if (kh <= 0 || kw <= 0 || stride <= 0 || padding < 0)
        throw Error(op + ": kernel " + std::to_string(kh) + "x" + std::to_string(kw) + ", stride " + std::to_string(stride) +
                    ", padding " + std::to_string(padding) + ": kernel and stride must be positive, padding >= 0");
    const int64_t H = x.size(2), W = x.size(3), PH = H + 2 * padding, PW = W + 2 * padding;
    if (kh > PH || kw > PW)
        throw Error(op + ": kernel " + std::to_string(kh) + "x" + std::to_string(kw) + " is larger than the padded input " +
                    std::to_string(PH) + "x" + std::to_string(PW) + " (input " + to_string(x.shape()) + ", padding " +
                    std::to_string(padding) + ")");
    return {x.size(0), x.size(1), H, W, x.size(1), kh, kw, stride, padding, (PH - kh) / stride + 1, (PW - kw) / stride + 1};
}

ConvGeometry conv_geometry(const Tensor& x, const Tensor& weight, const Tensor& bias, int64_t stride, int64_t padding,
                           const std::string& op) {
    if (!weight.defined()) throw Error(op + ": the weight is undefined (default-constructed)");
    if (weight.dim() != 4) throw Error(op + ": weight must be [O,C,kh,kw], got " + to_string(weight.shape()));
    ConvGeometry g = window_geometry(x, weight.size(2), weight.size(3), stride, padding, op);
    if (g.C != weight.size(1))
        throw Error(op + ": input " + to_string(x.shape()) + " has " + std::to_string(g.C) + " channels but weight " +
                    to_string(weight.shape()) + " expects " + std::to_string(weight.size(1)));
    g.O = weight.size(0);
    if (bias.defined() && bias.shape() != Shape{g.O})
        throw Error(op + ": bias " + to_string(bias.shape()) + " should be [" + std::to_string(g.O) + "]");
    return g;
}

// One image at a time, and padded first: the image is copied into a frame
// of zeros [C, H+2p, W+2p] (a few KB), so every patch lies inside it and the
// copy loops below need no test for the border. With padding 0 the image
// itself is the frame.
void pad_image(const float* x, const ConvGeometry& g, float* framed) {
    const int64_t p = g.padding, PH = g.PH(), PW = g.PW();
    std::fill(framed, framed + g.C * PH * PW, 0.0f);
    for (int64_t c = 0; c < g.C; c++)
        for (int64_t h = 0; h < g.H; h++)
            std::copy(x + (c * g.H + h) * g.W, x + (c * g.H + h + 1) * g.W, framed + (c * PH + h + p) * PW + p);
}

// dx [C,H,W] += the inside of the frame's gradient (the border belongs to no pixel).
void add_unpadded(const float* dframed, const ConvGeometry& g, float* dx) {
    const int64_t p = g.padding, PH = g.PH(), PW = g.PW();
    for (int64_t c = 0; c < g.C; c++)
        for (int64_t h = 0; h < g.H; h++) {
            const float* from = dframed + (c * PH + h + p) * PW + p;
            float* to = dx + (c * g.H + h) * g.W;
            for (int64_t w = 0; w < g.W; w++) to[w] += from[w];
        }
}

// Walks one image's column matrix [C*kh*kw, OH*OW] a row of output pixels at
// a time: for patch row (c,u,v) and output row i it calls f(at, from), where
// the row's OW pixels j sit at cols[at + j] and come from the framed image at
// framed[from + j*stride]: rows of OW pixels, long runs the copy streams.
template <class F>
void for_each_patch_row(const ConvGeometry& g, F f) {
    const int64_t PH = g.PH(), PW = g.PW();
    int64_t at = 0;
    for (int64_t c = 0; c < g.C; c++)
        for (int64_t u = 0; u < g.kh; u++)
            for (int64_t v = 0; v < g.kw; v++)
                for (int64_t i = 0; i < g.OH; i++, at += g.OW) f(at, (c * PH + i * g.stride + u) * PW + v);
}

// cols [C*kh*kw, OH*OW] of one framed image: column n holds the patch under output pixel n.
void im2col(const float* framed, const ConvGeometry& g, float* cols) {
    // BEGIN SOLUTION Lesson 09: im2col: each patch of the image as a column
    const int64_t s = g.stride, OW = g.OW;
    for_each_patch_row(g, [&](int64_t at, int64_t from) {
        if (s == 1) // a unit-stride copy of its own, so that it vectorises
            for (int64_t j = 0; j < OW; j++) cols[at + j] = framed[from + j];
        else
            for (int64_t j = 0; j < OW; j++) cols[at + j] = framed[from + j * s];
    });
    // END SOLUTION
}

// The backward wants the same patches as rows: rows [OH*OW, C*kh*kw], the
// transpose of im2col's matrix, so that dW = dY @ rows reads it in place
// (transposing while packing for the product costs more than the product).
// Walks it in runs of kw values: for output pixel (i,j), channel c and window
// row u it calls f(at, from), where rows[at + v] is framed[from + v]. im2row
// and its adjoint row2im are this one walk read in two directions.
template <class F>
void for_each_patch_run(const ConvGeometry& g, F f) {
    const int64_t PH = g.PH(), PW = g.PW();
    int64_t at = 0;
    for (int64_t i = 0; i < g.OH; i++)
        for (int64_t j = 0; j < g.OW; j++)
            for (int64_t c = 0; c < g.C; c++)
                for (int64_t u = 0; u < g.kh; u++, at += g.kw) f(at, (c * PH + i * g.stride + u) * PW + j * g.stride);
}

// The runs are short (5 values in LeNet), so their length is made a
// compile-time constant for the usual 3 and 5: the compiler then unrolls the
// copy instead of looping over a count it does not know.
template <class F>
void with_run_length(int64_t kw, F f) {
    if (kw == 5)
        f(std::integral_constant<int64_t, 5>());
    else if (kw == 3)
        f(std::integral_constant<int64_t, 3>());
    else
        f(kw);
}

void im2row(const float* framed, const ConvGeometry& g, float* rows) {
    with_run_length(g.kw, [&](auto kw) {
        for_each_patch_run(g, [&](int64_t at, int64_t from) {
            for (int64_t v = 0; v < kw; v++) rows[at + v] = framed[from + v];
        });
    });
}

// dframed += row2im(drows): each patch element adds back to the pixel it was copied from.
void row2im(const float* drows, const ConvGeometry& g, float* dframed) {
    with_run_length(g.kw, [&](auto kw) {
        for_each_patch_run(g, [&](int64_t at, int64_t from) {
            for (int64_t v = 0; v < kw; v++) dframed[from + v] += drows[at + v];
        });
    });
}

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// p[0] + ... + p[n-1] in 16 running sums, which the compiler keeps in vector
// registers: one running sum would be a chain of dependent adds, 4 cycles each.
float sum_of(const float* p, int64_t n) {
    float lanes[16] = {};
    int64_t i = 0;
    for (; i + 16 <= n; i += 16)
        for (int64_t j = 0; j < 16; j++) lanes[j] += p[i + j];
    float total = 0;
    for (; i < n; i++) total += p[i];
    for (float lane : lanes) total += lane;
    return total;
}

// The images of a batch in chunks of up to kConvChunk, one parallel_for call
// per chunk, each with its own frame and column matrix in scratch. The chunks
// depend only on the batch size, never on the thread count, so a sum over
// images (dW, db) is added up in the same order however many threads run.
constexpr int64_t kConvChunk = 8;

// y[b] = W @ im2col(x[b]) + bias, image by image, with the backward:
//   dW += sum_b dY[b] @ im2row(x[b])       db += sum of dY over batch and pixels
//   dx[b] += row2im(dY[b]^T @ W)
// where dY[b] is y's gradient for image b seen as [O, OH*OW] and W is
// [O, C*kh*kw]. The backward rebuilds the patches instead of keeping them
// from the forward: one more copy pass, and no kh*kw-times-the-input buffer
// held from forward to backward.
// Scratch per chunk: the patches [K, OH*OW] and the frame [C, H+2p, W+2p].
Tensor conv2d_im2col(const Tensor& x, const Tensor& weight, const Tensor& bias, int64_t stride, int64_t padding,
                     const std::string& op) {
    const ConvGeometry g = conv_geometry(x, weight, bias, stride, padding, op);
    const int64_t K = g.patch(), L = g.OH * g.OW, image = g.C * g.H * g.W, chunks = ceil_div(g.B, kConvChunk);
    const int64_t frame = g.padding ? g.C * g.PH() * g.PW() : 0;
    OpScope scope("conv2d");
    // per image a [O,K] @ [K,L] product that starts from the bias: 2*O*L*K flops
    count_op(2.0 * g.B * g.O * L * K, 4.0 * (x.numel() + weight.numel() + g.O), 4.0 * g.B * g.O * L);
    const Tensor xd = dense(x), w = dense(weight), bd = bias.defined() ? dense(bias) : Tensor::zeros({g.O});
    Tensor y = new_tensor({g.B, g.O, g.OH, g.OW}, "conv2d");
    {
        MemoryCategory scratch(Category::Scratch);
        Tensor patches = new_tensor({chunks, K * L + frame}, "conv2d");
        // BEGIN SOLUTION Lesson 09: conv2d_im2col: y[b] = W @ im2col(x[b]) + bias, a chunk of images per task
        const float *in = xd.data(), *pw = w.data(), *pb = bd.data();
        float *py = y.data(), *ppatches = patches.data();
        parallel_for(chunks, [&](int64_t c) {
            float *my_patches = ppatches + c * (K * L + frame), *my_frame = my_patches + K * L;
            for (int64_t b = c * kConvChunk; b < std::min(g.B, (c + 1) * kConvChunk); b++) {
                const float* framed = in + b * image;
                if (frame) pad_image(framed, g, my_frame), framed = my_frame;
                im2col(framed, g, my_patches); // [K, L]
                float* yb = py + b * g.O * L;
                for (int64_t o = 0; o < g.O; o++) std::fill(yb + o * L, yb + (o + 1) * L, pb[o]);
                gemm(g.O, L, K, pw, K, 1, my_patches, L, 1, yb, L, true);
            }
        });
        // END SOLUTION
    }
    if (needs_grad({&x, &weight, &bias}))
        record("conv2d", {x, weight, bias}, y, [x, xd, weight, bias, g, K, L, image, chunks, frame](const Tensor& dy) {
            // a product per image for dW and one for dx (2*O*L*K each), a sum over pixels for db
            count_op(2.0 * g.B * g.O * L * K * ((x.requires_grad() ? 1 : 0) + (weight.requires_grad() ? 1 : 0)) +
                         (bias.requires_grad() ? (double)g.B * g.O * L : 0.0),
                     4.0 * (dy.numel() + x.numel() + weight.numel()), 4.0 * (x.numel() + weight.numel() + g.O));
            // BEGIN SOLUTION Lesson 09: backward of conv2d_im2col: dW from im2row, dx through row2im, db
            const Tensor gd = dense(dy), w = dense(weight);
            Tensor gx = x.requires_grad() ? new_tensor(x.shape(), "conv2d backward") : Tensor();
            Tensor gw = weight.requires_grad() ? new_tensor(weight.shape(), "conv2d backward") : Tensor();
            Tensor gb = bias.requires_grad() ? new_tensor(bias.shape(), "conv2d backward") : Tensor();
            {
                MemoryCategory scratch(Category::Scratch);
                // per chunk: patches and frame, and the chunk's share of dW and db
                Tensor patches = new_tensor({chunks, K * L + frame}, "conv2d backward");
                Tensor gw_part = new_tensor({chunks, g.O, K}, "conv2d backward");
                Tensor gb_part = new_tensor({chunks, g.O}, "conv2d backward");
                const float *in = xd.data(), *pw = w.data(), *pdy = gd.data();
                float *ppatches = patches.data(), *pgw = gw_part.data(), *pgb = gb_part.data();
                float* pgx = gx.defined() ? gx.data() : nullptr;
                parallel_for(chunks, [&](int64_t c) {
                    float *my_patches = ppatches + c * (K * L + frame), *my_frame = my_patches + K * L;
                    for (int64_t b = c * kConvChunk; b < std::min(g.B, (c + 1) * kConvChunk); b++) {
                        const float* dyb = pdy + b * g.O * L;
                        if (gb.defined())
                            for (int64_t o = 0; o < g.O; o++) pgb[c * g.O + o] += sum_of(dyb + o * L, L);
                        if (gw.defined()) {
                            const float* framed = in + b * image;
                            if (frame) pad_image(framed, g, my_frame), framed = my_frame;
                            im2row(framed, g, my_patches); // [L, K]
                            gemm(g.O, K, L, dyb, L, 1, my_patches, K, 1, pgw + c * g.O * K, K, true);
                        }
                        if (pgx) {
                            // dY^T read in place: element (l, o) of dY^T is dY[o*L + l]
                            gemm(L, K, g.O, dyb, 1, L, pw, K, 1, my_patches, K, false);
                            if (!frame) {
                                row2im(my_patches, g, pgx + b * image);
                                continue;
                            }
                            std::fill(my_frame, my_frame + frame, 0.0f);
                            row2im(my_patches, g, my_frame);
                            add_unpadded(my_frame, g, pgx + b * image);
                        }
                    }
                });
                // the chunks' shares, added in chunk order
                for (int64_t c = 1; c < chunks; c++) {
                    for (int64_t i = 0; i < g.O * K; i++) pgw[i] += pgw[c * g.O * K + i];
                    for (int64_t o = 0; o < g.O; o++) pgb[o] += pgb[c * g.O + o];
                }
                if (gw.defined()) std::copy(pgw, pgw + g.O * K, gw.data());
                if (gb.defined()) std::copy(pgb, pgb + g.O, gb.data());
            }
            if (gx.defined()) accumulate_grad(x, std::move(gx));
            if (gw.defined()) accumulate_grad(weight, std::move(gw));
            if (gb.defined()) accumulate_grad(bias, std::move(gb));
            // END SOLUTION
        });
    return y;
}

// A pooling window's input positions, for output pixel (i,j) of image plane
// `plane` (= b*C + c): calls f(t, xi) for t = 0..k*k-1, xi its index in x.
// Pools take no padding, so every window lies inside the input.
template <class F>
void for_each_in_window(const ConvGeometry& g, int64_t plane, int64_t i, int64_t j, F f) {
    for (int64_t u = 0; u < g.kh; u++)
        for (int64_t v = 0; v < g.kw; v++)
            f(u * g.kw + v, (plane * g.H + i * g.stride + u) * g.W + j * g.stride + v);
}

// y = max of the window     dx += dy at the window's (first) largest element.
// Saves the winner's position in its image plane, h*W + w: a whole number a
// float holds exactly for planes up to 2^24 pixels.
Tensor max_pool2d_op(const Tensor& x, int64_t kernel, int64_t stride, const std::string& op) {
    const ConvGeometry g = window_geometry(x, kernel, kernel, stride ? stride : kernel, 0, op);
    OpScope scope("max_pool2d");
    count_op((double)g.B * g.C * g.OH * g.OW * g.kh * g.kw, 4.0 * x.numel(), 4.0 * g.B * g.C * g.OH * g.OW); // one per window element
    const Tensor xd = dense(x);
    Tensor y = new_tensor({g.B, g.C, g.OH, g.OW}, "max_pool2d");
    Tensor winner = new_tensor(y.shape(), "max_pool2d");
    const int64_t plane_size = g.H * g.W, per_plane = g.OH * g.OW;
    // BEGIN SOLUTION Lesson 09: max_pool2d: each window's largest value, and where it was
    const float* in = xd.data();
    float *py = y.data(), *pwin = winner.data();
    // image planes are independent: handed out 64 at a time (g copied in, so
    // its sizes are the lambda's own and can stay in registers)
    parallel_for(ceil_div(g.B * g.C, 64), [&, g](int64_t t) {
        for (int64_t plane = t * 64; plane < std::min(g.B * g.C, (t + 1) * 64); plane++)
            for (int64_t i = 0, at = plane * per_plane; i < g.OH; i++)
                for (int64_t j = 0; j < g.OW; j++, at++) {
                    float best = -std::numeric_limits<float>::infinity();
                    int64_t best_xi = (plane * g.H + i * g.stride) * g.W + j * g.stride;
                    for_each_in_window(g, plane, i, j, [&](int64_t, int64_t xi) {
                        if (in[xi] > best) best = in[xi], best_xi = xi;
                    });
                    py[at] = best;
                    pwin[at] = (float)(best_xi - plane * plane_size);
                }
    });
    // END SOLUTION
    if (needs_grad({&x}))
        record("max_pool2d", {x}, y, [x, winner, g, plane_size, per_plane](const Tensor& dy) {
            // BEGIN SOLUTION Lesson 09: backward of max_pool2d: each gradient to its window's winner
            const Tensor gd = dense(dy);
            Tensor gx = new_tensor(x.shape(), "max_pool2d backward");
            const float *pg = gd.data(), *pwin = winner.data();
            float* pgx = gx.data();
            for (int64_t plane = 0, at = 0; plane < g.B * g.C; plane++)
                for (int64_t end = at + per_plane; at < end; at++) pgx[plane * plane_size + (int64_t)pwin[at]] += pg[at];
            accumulate_grad(x, std::move(gx));
            // END SOLUTION
        });
    return y;
}

// y = sum of the window / (k*k)     dx += dy / (k*k) over the window
Tensor avg_pool2d_op(const Tensor& x, int64_t kernel, int64_t stride, const std::string& op) {
    const ConvGeometry g = window_geometry(x, kernel, kernel, stride ? stride : kernel, 0, op);
    OpScope scope("avg_pool2d");
    count_op((double)g.B * g.C * g.OH * g.OW * g.kh * g.kw, 4.0 * x.numel(), 4.0 * g.B * g.C * g.OH * g.OW); // one per window element
    const Tensor xd = dense(x);
    Tensor y = new_tensor({g.B, g.C, g.OH, g.OW}, "avg_pool2d");
    const float scale = 1.0f / (float)(kernel * kernel);
    // BEGIN SOLUTION Lesson 09: avg_pool2d: each window's mean
    const float* in = xd.data();
    float* py = y.data();
    int64_t at = 0;
    for (int64_t plane = 0; plane < g.B * g.C; plane++)
        for (int64_t i = 0; i < g.OH; i++)
            for (int64_t j = 0; j < g.OW; j++, at++) {
                float total = 0;
                for_each_in_window(g, plane, i, j, [&](int64_t, int64_t xi) { total += in[xi]; });
                py[at] = total * scale;
            }
    // END SOLUTION
    if (needs_grad({&x}))
        record("avg_pool2d", {x}, y, [x, g, scale](const Tensor& dy) {
            // BEGIN SOLUTION Lesson 09: backward of avg_pool2d: each gradient shared over its window
            const Tensor gd = dense(dy);
            Tensor gx = new_tensor(x.shape(), "avg_pool2d backward");
            const float* pg = gd.data();
            float* pgx = gx.data();
            int64_t at = 0;
            for (int64_t plane = 0; plane < g.B * g.C; plane++)
                for (int64_t i = 0; i < g.OH; i++)
                    for (int64_t j = 0; j < g.OW; j++, at++)
                        for_each_in_window(g, plane, i, j, [&](int64_t, int64_t xi) { pgx[xi] += pg[at] * scale; });
            accumulate_grad(x, std::move(gx));
            // END SOLUTION
        });
    return y;
}

// xhat = (x - mean_c) * inv_std_c,   y = xhat * gamma_c + beta_c,   per channel c over n = B*H*W values.
// Backward, with the statistics of this batch (training):
//   dbeta += sum dy,   dgamma += sum dy*xhat,
//   dx += gamma * inv_std / n * (n*dy - sum dy - xhat * sum dy*xhat)
// With the running statistics (eval) mean and inv_std are constants: dx += gamma * inv_std * dy.
Tensor batch_norm2d_op(const Tensor& x, const Tensor& running_mean, const Tensor& running_var, const Tensor& weight,
                       const Tensor& bias, bool training, float momentum, float eps, const std::string& op) {
    if (!x.defined()) throw Error(op + ": the input is undefined (default-constructed)");
    if (x.dim() != 4) throw Error(op + ": expects a 4-d input [B,C,H,W], got " + to_string(x.shape()));
    const int64_t B = x.size(0), C = x.size(1), L = x.size(2) * x.size(3), n = B * L;
    for (const Tensor* t : {&running_mean, &running_var, &weight, &bias})
        if (t->defined() && t->shape() != Shape{C})
            throw Error(op + ": input " + to_string(x.shape()) + " has " + std::to_string(C) +
                        " channels but a per-channel tensor is " + to_string(t->shape()));
    if (!running_mean.defined() || !running_var.defined()) throw Error(op + ": running_mean and running_var are required");
    if (training && n < 2)
        throw Error(op + ": training needs more than one value per channel to take a variance, got input " + to_string(x.shape()));
    const Tensor xd = dense(x);
    const Tensor gamma_t = weight.defined() ? dense(weight) : Tensor::ones({C});
    const Tensor beta_t = bias.defined() ? dense(bias) : Tensor::zeros({C});
    float* rm = running_mean.data(); // updated in place: must be contiguous
    float* rv = running_var.data();
    OpScope scope("batch_norm2d");
    count_op(8.0 * x.numel(), 4.0 * x.numel(), 8.0 * x.numel()); // statistics 3, normalise 3, scale and shift 2; y and xhat
    Tensor xhat = new_tensor(x.shape(), "batch_norm2d"), inv_std_t = new_tensor({C}, "batch_norm2d");
    Tensor y = new_tensor(x.shape(), "batch_norm2d");
    // channel c of sample b is the contiguous run [(b*C + c)*L, (b*C + c + 1)*L)
    auto each = [B, C, L](int64_t c, auto f) {
        for (int64_t b = 0; b < B; b++)
            for (int64_t i = (b * C + c) * L, end = i + L; i < end; i++) f(i);
    };
    // BEGIN SOLUTION Lesson 09: batch_norm2d: each channel's statistics, the running ones, and y
    const float *px = xd.data(), *gamma = gamma_t.data(), *beta = beta_t.data();
    float *pxhat = xhat.data(), *inv_std = inv_std_t.data(), *py = y.data();
    for (int64_t c = 0; c < C; c++) {
        double mean = rm[c], var = rv[c];
        if (training) {
            double total = 0, squares = 0;
            each(c, [&](int64_t i) { total += px[i]; });
            mean = total / (double)n;
            each(c, [&](int64_t i) { squares += (px[i] - mean) * (px[i] - mean); });
            var = squares / (double)n;
            rm[c] = (float)((1 - momentum) * rm[c] + momentum * mean);
            rv[c] = (float)((1 - momentum) * rv[c] + momentum * squares / (double)(n - 1));
        }
        inv_std[c] = (float)(1.0 / std::sqrt(var + eps));
        each(c, [&](int64_t i) {
            pxhat[i] = (float)((px[i] - mean) * inv_std[c]);
            py[i] = pxhat[i] * gamma[c] + beta[c];
        });
    }
    // END SOLUTION
    if (needs_grad({&x, &weight, &bias}))
        record("batch_norm2d", {x, weight, bias}, y, [=](const Tensor& dy) {
            // BEGIN SOLUTION Lesson 09: backward of batch_norm2d: with this batch's statistics or the running ones
            const Tensor gd = dense(dy);
            const float *pg = gd.data(), *pxhat = xhat.data(), *inv_std = inv_std_t.data(), *gamma = gamma_t.data();
            Tensor gw = new_tensor({C}, "batch_norm2d backward"), gb = new_tensor({C}, "batch_norm2d backward");
            Tensor gx = x.requires_grad() ? new_tensor(x.shape(), "batch_norm2d backward") : Tensor();
            for (int64_t c = 0; c < C; c++) {
                double sum_dy = 0, sum_dy_xhat = 0;
                each(c, [&](int64_t i) { sum_dy += pg[i], sum_dy_xhat += (double)pg[i] * pxhat[i]; });
                gw.data()[c] = (float)sum_dy_xhat;
                gb.data()[c] = (float)sum_dy;
                if (!gx.defined()) continue;
                float* pgx = gx.data();
                const double scale = (double)gamma[c] * inv_std[c], mean_dy = sum_dy / (double)n, mean_dy_xhat = sum_dy_xhat / (double)n;
                if (training) each(c, [&](int64_t i) { pgx[i] = (float)(scale * (pg[i] - mean_dy - pxhat[i] * mean_dy_xhat)); });
                else each(c, [&](int64_t i) { pgx[i] = (float)(scale * pg[i]); });
            }
            if (gx.defined()) accumulate_grad(x, std::move(gx));
            accumulate_grad(weight, std::move(gw)); // each is a no-op for an undefined or frozen tensor
            accumulate_grad(bias, std::move(gb));
            // END SOLUTION
        });
    return y;
}
} // namespace

// The definition, one multiply-add at a time. Its backward is the same loop
// nest with the products sent the other way:
//   dx[b,c,h,w] += W[o,c,u,v] * dy[b,o,i,j],   dW[o,c,u,v] += x[b,c,h,w] * dy[b,o,i,j],   db[o] += dy[b,o,i,j]
Tensor conv2d_naive(const Tensor& x, const Tensor& weight, const Tensor& bias, int64_t stride, int64_t padding) {
    const ConvGeometry g = conv_geometry(x, weight, bias, stride, padding, "conv2d_naive");
    const Tensor xd = dense(x), wd = dense(weight);
    Tensor y = new_tensor({g.B, g.O, g.OH, g.OW}, "conv2d_naive");
    // visit(f) calls f(x index, W index, y index) for every product of the sum
    auto visit = [g](auto f) {
        // BEGIN SOLUTION Lesson 09: conv2d_naive: the loop nest over every product of the sum
        for (int64_t b = 0; b < g.B; b++)
            for (int64_t o = 0; o < g.O; o++)
                for (int64_t i = 0; i < g.OH; i++)
                    for (int64_t j = 0; j < g.OW; j++)
                        for (int64_t c = 0; c < g.C; c++)
                            for (int64_t u = 0; u < g.kh; u++)
                                for (int64_t v = 0; v < g.kw; v++) {
                                    const int64_t h = i * g.stride - g.padding + u, w = j * g.stride - g.padding + v;
                                    if (h < 0 || h >= g.H || w < 0 || w >= g.W) continue; // the zero padding
                                    f(((b * g.C + c) * g.H + h) * g.W + w, ((o * g.C + c) * g.kh + u) * g.kw + v,
                                      ((b * g.O + o) * g.OH + i) * g.OW + j);
                                }
        // END SOLUTION
    };
    const float *px = xd.data(), *pw = wd.data();
    float* py = y.data();
    if (bias.defined()) {
        const Tensor bd = dense(bias);
        for (int64_t i = 0; i < y.numel(); i++) py[i] = bd.data()[i / (g.OH * g.OW) % g.O];
    }
    visit([&](int64_t xi, int64_t wi, int64_t yi) { py[yi] += px[xi] * pw[wi]; });
    if (needs_grad({&x, &weight, &bias}))
        record("conv2d_naive", {x, weight, bias}, y, [x, xd, weight, wd, bias, g, visit](const Tensor& dy) {
            const Tensor gd = dense(dy);
            Tensor gx = new_tensor(x.shape(), "conv2d_naive backward"), gw = new_tensor(weight.shape(), "conv2d_naive backward");
            const float *px = xd.data(), *pw = wd.data(), *pg = gd.data();
            float *pgx = gx.data(), *pgw = gw.data();
            visit([&](int64_t xi, int64_t wi, int64_t yi) {
                pgx[xi] += pw[wi] * pg[yi];
                pgw[wi] += px[xi] * pg[yi];
            });
            accumulate_grad(x, std::move(gx));
            accumulate_grad(weight, std::move(gw));
            if (bias.requires_grad()) accumulate_grad(bias, sum(sum(gd.reshape({g.B, g.O, g.OH * g.OW}), 2), 0));
        });
    return y;
}

Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias, int64_t stride, int64_t padding) {
    return conv2d_im2col(x, weight, bias, stride, padding, "conv2d");
}
Tensor max_pool2d(const Tensor& x, int64_t kernel_size, int64_t stride) { return max_pool2d_op(x, kernel_size, stride, "max_pool2d"); }
Tensor avg_pool2d(const Tensor& x, int64_t kernel_size, int64_t stride) { return avg_pool2d_op(x, kernel_size, stride, "avg_pool2d"); }
Tensor batch_norm2d(const Tensor& x, const Tensor& running_mean, const Tensor& running_var, const Tensor& weight,
                    const Tensor& bias, bool training, float momentum, float eps) {
    return batch_norm2d_op(x, running_mean, running_var, weight, bias, training, momentum, eps, "batch_norm2d");
}

// The modules hold parameters and settings and pass their own name to the
// op, so a shape error names the layer that was built wrong.

Conv2d::Conv2d(int64_t in, int64_t out, int64_t kernel, int64_t stride_, int64_t padding_, bool with_bias, Generator& g)
    : in_channels(in), out_channels(out), kernel_size(kernel), stride(stride_), padding(padding_) {
    if (in <= 0 || out <= 0 || kernel <= 0 || stride <= 0 || padding < 0)
        throw Error("Conv2d: channels, kernel_size and stride must be positive and padding >= 0, got in=" + std::to_string(in) +
                    " out=" + std::to_string(out) + " kernel_size=" + std::to_string(kernel) + " stride=" + std::to_string(stride) +
                    " padding=" + std::to_string(padding));
    // Kaiming (He) uniform, as Linear: each output sums in*k*k products.
    const float bound = std::sqrt(6.0f / (float)(in * kernel * kernel));
    MemoryCategory parameters(Category::Parameters);
    weight = make_parameter(Tensor::rand({out, in, kernel, kernel}, g) * (2 * bound) - bound);
    if (with_bias) bias = make_parameter(Tensor::zeros({out}));
}
Tensor Conv2d::forward(const Tensor& x) { return conv2d_im2col(x, weight, bias, stride, padding, name()); }
std::vector<Tensor> Conv2d::parameters() {
    if (bias.defined()) return {weight, bias};
    return {weight};
}
std::vector<std::pair<std::string, Tensor>> Conv2d::named_parameters() {
    std::vector<std::pair<std::string, Tensor>> out{{"weight", weight}};
    if (bias.defined()) out.push_back({"bias", bias});
    return out;
}
std::string Conv2d::name() const {
    std::string s = "Conv2d(" + std::to_string(in_channels) + ", " + std::to_string(out_channels) +
                    ", kernel_size=" + std::to_string(kernel_size);
    if (stride != 1) s += ", stride=" + std::to_string(stride);
    if (padding != 0) s += ", padding=" + std::to_string(padding);
    if (!bias.defined()) s += ", bias=false";
    return s + ")";
}

namespace {
std::string pool_name(const char* kind, int64_t kernel, int64_t stride) {
    return std::string(kind) + "(kernel_size=" + std::to_string(kernel) +
           (stride && stride != kernel ? ", stride=" + std::to_string(stride) : "") + ")";
}
void check_pool(const char* kind, int64_t kernel, int64_t stride) {
    if (kernel <= 0 || stride < 0)
        throw Error(pool_name(kind, kernel, stride) + ": kernel_size must be positive and stride >= 0 (0: stride = kernel_size)");
}
} // namespace

MaxPool2d::MaxPool2d(int64_t kernel, int64_t stride_) : kernel_size(kernel), stride(stride_) { check_pool("MaxPool2d", kernel, stride); }
Tensor MaxPool2d::forward(const Tensor& x) { return max_pool2d_op(x, kernel_size, stride, name()); }
std::string MaxPool2d::name() const { return pool_name("MaxPool2d", kernel_size, stride); }

AvgPool2d::AvgPool2d(int64_t kernel, int64_t stride_) : kernel_size(kernel), stride(stride_) { check_pool("AvgPool2d", kernel, stride); }
Tensor AvgPool2d::forward(const Tensor& x) { return avg_pool2d_op(x, kernel_size, stride, name()); }
std::string AvgPool2d::name() const { return pool_name("AvgPool2d", kernel_size, stride); }

BatchNorm2d::BatchNorm2d(int64_t c, float momentum_, float eps_, bool affine) : channels(c), momentum(momentum_), eps(eps_) {
    if (c <= 0 || !(momentum >= 0 && momentum <= 1) || !(eps > 0)) {
        char buf[160];
        std::snprintf(buf, sizeof buf, "BatchNorm2d: needs channels > 0, momentum in [0,1] and eps > 0, got channels=%lld momentum=%g eps=%g",
                      (long long)c, momentum, eps);
        throw Error(buf);
    }
    MemoryCategory parameters(Category::Parameters);
    if (affine) {
        weight = make_parameter(Tensor::ones({c}));
        bias = make_parameter(Tensor::zeros({c}));
    }
    running_mean = Tensor::zeros({c});
    running_var = Tensor::ones({c});
}
Tensor BatchNorm2d::forward(const Tensor& x) {
    Tensor y = batch_norm2d_op(x, running_mean, running_var, weight, bias, training, momentum, eps, name());
    if (training) num_batches_tracked++;
    return y;
}
std::vector<Tensor> BatchNorm2d::parameters() {
    if (weight.defined()) return {weight, bias};
    return {};
}
// The running statistics are listed too, so that a checkpoint (which saves
// named_parameters) restores a model that evaluates the same.
std::vector<std::pair<std::string, Tensor>> BatchNorm2d::named_parameters() {
    std::vector<std::pair<std::string, Tensor>> out;
    if (weight.defined()) out = {{"weight", weight}, {"bias", bias}};
    out.push_back({"running_mean", running_mean});
    out.push_back({"running_var", running_var});
    return out;
}
std::vector<std::pair<std::string, int64_t*>> BatchNorm2d::named_counters() { return {{"num_batches_tracked", &num_batches_tracked}}; }
std::string BatchNorm2d::name() const {
    char buf[96];
    std::snprintf(buf, sizeof buf, "BatchNorm2d(%lld, momentum=%g, eps=%g%s)", (long long)channels, momentum, eps,
                  weight.defined() ? "" : ", affine=false");
    return buf;
}

// y = x viewed as [B, everything else]     dx += dy reshaped back (reshape records it)
Tensor Flatten::forward(const Tensor& x) {
    if (!x.defined() || x.dim() < 1) throw Error("Flatten(): expects an input with a batch axis, got " + (x.defined() ? to_string(x.shape()) : std::string("an undefined tensor")));
    return x.reshape({x.size(0), -1});
}

// ===== Lesson 10 · Tokenization ==============================================
// Reading text (checked UTF-8), the character tokenizer, byte-level BPE with
// incremental pair counts, and the next-token dataset.

namespace {
// One UTF-8 sequence at s[i]: its length and code point, or 0 and what is
// wrong with it. The rules of RFC 3629: 1 to 4 bytes, the shortest form only,
// no surrogates (U+D800..DFFF), nothing past U+10FFFF.
int utf8_sequence(const std::string& s, size_t i, char32_t& cp, std::string& problem) {
    const unsigned char b = (unsigned char)s[i];
    char hex[8];
    std::snprintf(hex, sizeof hex, "0x%02X", b);
    if (b < 0x80) { cp = b; return 1; }
    int length;
    char32_t smallest;
    if ((b & 0xE0) == 0xC0) { length = 2; cp = b & 0x1F; smallest = 0x80; }
    else if ((b & 0xF0) == 0xE0) { length = 3; cp = b & 0x0F; smallest = 0x800; }
    else if ((b & 0xF8) == 0xF0) { length = 4; cp = b & 0x07; smallest = 0x10000; }
    else {
        problem = (b & 0xC0) == 0x80 ? std::string("a continuation byte ") + hex + " with no lead byte before it"
                                     : std::string("the byte ") + hex + " never appears in UTF-8";
        return 0;
    }
    for (int k = 1; k < length; k++) {
        if (i + k >= s.size()) { problem = std::string("a sequence cut short by the end (lead byte ") + hex + ")"; return 0; }
        const unsigned char c = (unsigned char)s[i + k];
        if ((c & 0xC0) != 0x80) { problem = std::string("a sequence cut short (lead byte ") + hex + ", then not a continuation byte)"; return 0; }
        cp = (cp << 6) | (c & 0x3F);
    }
    if (cp < smallest) { problem = "an overlong form (a longer sequence than the code point needs)"; return 0; }
    if (cp >= 0xD800 && cp <= 0xDFFF) { problem = "a surrogate code point (U+D800..U+DFFF are not characters)"; return 0; }
    if (cp > 0x10FFFF) { problem = "a code point past U+10FFFF"; return 0; }
    return length;
}

void bad_utf8(const std::string& name, size_t at, const std::string& problem) {
    throw Error(name + ": not valid UTF-8 at byte " + std::to_string(at) + ": " + problem);
}
} // namespace

void check_utf8(const std::string& bytes, const std::string& name) { utf8_to_code_points(bytes, name); }

std::u32string utf8_to_code_points(const std::string& bytes, const std::string& name) {
    std::u32string out;
    out.reserve(bytes.size());
    std::string problem;
    for (size_t i = 0; i < bytes.size();) {
        char32_t cp = 0;
        const int n = utf8_sequence(bytes, i, cp, problem);
        if (n == 0) bad_utf8(name, i, problem);
        out.push_back(cp);
        i += (size_t)n;
    }
    return out;
}

std::string code_points_to_utf8(const std::u32string& code_points) {
    std::string out;
    for (char32_t c : code_points) {
        if (c < 0x80) out += (char)c;
        else if (c < 0x800) { out += (char)(0xC0 | (c >> 6)); out += (char)(0x80 | (c & 0x3F)); }
        else if (c < 0x10000) { out += (char)(0xE0 | (c >> 12)); out += (char)(0x80 | ((c >> 6) & 0x3F)); out += (char)(0x80 | (c & 0x3F)); }
        else { out += (char)(0xF0 | (c >> 18)); out += (char)(0x80 | ((c >> 12) & 0x3F)); out += (char)(0x80 | ((c >> 6) & 0x3F)); out += (char)(0x80 | (c & 0x3F)); }
    }
    return out;
}

std::string read_text(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw Error("read_text: cannot open '" + path + "'");
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (in.bad()) throw Error("read_text: error reading '" + path + "'");
    if (bytes.empty()) throw Error("read_text: '" + path + "' is empty");
    check_utf8(bytes, "read_text: '" + path + "'");
    return bytes;
}

CharTokenizer::CharTokenizer(const std::string& corpus, bool with_unk) {
    const std::u32string text = utf8_to_code_points(corpus, "CharTokenizer: the corpus");
    if (text.empty()) throw Error("CharTokenizer: the corpus is empty");
    // BEGIN SOLUTION Lesson 10: CharTokenizer: the corpus's distinct characters, sorted
    std::u32string sorted = text;
    std::sort(sorted.begin(), sorted.end());
    sorted.erase(std::unique(sorted.begin(), sorted.end()), sorted.end());
    chars.assign(sorted.begin(), sorted.end());
    // END SOLUTION
    if (with_unk) unk_id = (int64_t)chars.size();
}

std::vector<int64_t> CharTokenizer::encode(const std::string& text) const {
    const std::u32string cps = utf8_to_code_points(text, "CharTokenizer::encode: the text");
    std::vector<int64_t> ids(cps.size());
    for (size_t i = 0; i < cps.size(); i++) {
        // BEGIN SOLUTION Lesson 10: CharTokenizer::encode: a character's id by binary search, else unk
        const auto at = std::lower_bound(chars.begin(), chars.end(), cps[i]);
        ids[i] = at != chars.end() && *at == cps[i] ? (int64_t)(at - chars.begin()) : unk_id;
        // END SOLUTION
        if (ids[i] < 0) {
            char buf[160];
            std::snprintf(buf, sizeof buf, "CharTokenizer::encode: U+%04X at character %zu is not in the vocabulary (built without an unk id)",
                          (unsigned)cps[i], i);
            throw Error(buf);
        }
    }
    return ids;
}

std::string CharTokenizer::decode(const std::vector<int64_t>& ids) const {
    std::u32string cps;
    cps.reserve(ids.size());
    for (int64_t id : ids) {
        if (id < 0 || id >= vocab_size())
            throw Error("CharTokenizer::decode: id " + std::to_string(id) + " is not in 0.." + std::to_string(vocab_size() - 1));
        cps.push_back(id == unk_id ? U'\uFFFD' : chars[(size_t)id]);
    }
    return code_points_to_utf8(cps);
}

namespace {
enum class ByteClass { Letter, Digit, Space, Symbol };
ByteClass byte_class(unsigned char c) {
    if (std::isalpha(c) || c >= 0x80) return ByteClass::Letter;
    if (std::isdigit(c)) return ByteClass::Digit;
    if (c == ' ' || c == '\n' || c == '\t' || c == '\r' || c == '\v' || c == '\f') return ByteClass::Space;
    return ByteClass::Symbol;
}
constexpr size_t kMaxChunk = 64;
uint64_t pair_key(int32_t left, int32_t right) { return (uint64_t)(uint32_t)left << 32 | (uint32_t)right; }
} // namespace

std::vector<std::string> split_chunks(const std::string& text) {
    std::vector<std::string> chunks;
    const size_t n = text.size();
    auto cls = [&](size_t i) { return byte_class((unsigned char)text[i]); };
    for (size_t i = 0; i < n;) {
        size_t j = i;
        if (text[i] == ' ' && i + 1 < n && cls(i + 1) != ByteClass::Space) j++; // the space joins the word after it
        const ByteClass c = cls(j);
        size_t end = j + 1;
        while (end < n && end - i < kMaxChunk && cls(end) == c) end++;
        // a run of whitespace leaves its last space to the word that follows
        if (c == ByteClass::Space && end < n && end - i > 1 && text[end - 1] == ' ' && cls(end) != ByteClass::Space) end--;
        chunks.push_back(text.substr(i, end - i));
        i = end;
    }
    return chunks;
}

BPETokenizer::BPETokenizer() {
    offsets.push_back(0);
    for (int b = 0; b < 256; b++) {
        bytes.push_back((uint8_t)b);
        offsets.push_back(b + 1);
    }
}

void BPETokenizer::add_merge(int32_t left, int32_t right) {
    rank[pair_key(left, right)] = (int32_t)merges.size();
    merges.push_back({left, right});
    for (int32_t part : {left, right})
        for (int64_t k = offsets[(size_t)part]; k < offsets[(size_t)part + 1]; k++) bytes.push_back(bytes[(size_t)k]);
    offsets.push_back((int64_t)bytes.size());
}

// Training, on the corpus's distinct chunks ("words") weighted by how often
// each occurs. counts[pair] is the number of times the pair is adjacent in
// the corpus; a max-heap orders the pairs by count (ties: the smaller pair
// first, so every platform learns the same merges). A heap entry is checked
// against counts when it comes out: stale ones are dropped or re-queued.
// A merge rewrites only the words that contain the pair (where[pair]), and
// only their pairs' counts change: cost per merge ~ the size of those words,
// not the corpus.
BPETokenizer BPETokenizer::train(const std::string& corpus, int64_t vocab_size) {
    if (vocab_size < 256 || vocab_size > (1 << 24))
        throw Error("BPETokenizer::train: vocab_size must be in 256..16777216 (256 bytes + merges), got " + std::to_string(vocab_size));
    if (corpus.empty()) throw Error("BPETokenizer::train: the corpus is empty");
    BPETokenizer tok;
    std::unordered_map<std::string, int64_t> frequency;
    for (std::string& chunk : split_chunks(corpus)) frequency[std::move(chunk)]++;
    std::vector<std::string> distinct;
    for (const auto& kv : frequency) distinct.push_back(kv.first);
    std::sort(distinct.begin(), distinct.end()); // word order fixed, whatever the hash map's
    std::vector<std::vector<int32_t>> words(distinct.size());
    std::vector<int64_t> weight(distinct.size());
    std::unordered_map<uint64_t, int64_t> counts;
    std::unordered_map<uint64_t, std::vector<int32_t>> where;
    for (size_t w = 0; w < distinct.size(); w++) {
        weight[w] = frequency[distinct[w]];
        for (unsigned char c : distinct[w]) words[w].push_back(c);
        for (size_t k = 0; k + 1 < words[w].size(); k++) {
            const uint64_t key = pair_key(words[w][k], words[w][k + 1]);
            counts[key] += weight[w];
            where[key].push_back((int32_t)w);
        }
    }
    using Entry = std::pair<int64_t, uint64_t>; // count, pair
    auto later = [](const Entry& a, const Entry& b) { return a.first != b.first ? a.first < b.first : a.second > b.second; };
    std::priority_queue<Entry, std::vector<Entry>, decltype(later)> heap(later);
    for (const auto& [key, count] : counts) heap.push({count, key});
    std::vector<int64_t> seen(words.size(), -1); // the merge that last rewrote each word
    while (tok.vocab_size() < vocab_size && !heap.empty()) {
        const auto [count, key] = heap.top();
        heap.pop();
        const int64_t now = counts[key];
        if (now != count) {
            if (now > 0 && now < count) heap.push({now, key}); // lowered since: queue it at its count
            continue;                                          // (raised ones were queued when raised)
        }
        if (count < 2) break; // a pair that occurs once compresses nothing
        const int32_t left = (int32_t)(key >> 32), right = (int32_t)(key & 0xFFFFFFFFu);
        const int32_t merged = (int32_t)tok.vocab_size();
        tok.add_merge(left, right);
        // BEGIN SOLUTION Lesson 10: BPETokenizer::train: rewrite the words that hold the pair, updating the pair counts
        std::vector<uint64_t> raised;
        for (int32_t w : where[key]) {
            if (seen[(size_t)w] == merged) continue; // listed twice
            seen[(size_t)w] = merged;
            std::vector<int32_t>& ids = words[(size_t)w];
            bool has = false;
            for (size_t k = 0; k + 1 < ids.size() && !has; k++) has = ids[k] == left && ids[k + 1] == right;
            if (!has) continue; // a stale entry: an earlier merge took the pair away
            for (size_t k = 0; k + 1 < ids.size(); k++) counts[pair_key(ids[k], ids[k + 1])] -= weight[(size_t)w];
            std::vector<int32_t> out;
            for (size_t k = 0; k < ids.size(); k++) {
                if (k + 1 < ids.size() && ids[k] == left && ids[k + 1] == right) { out.push_back(merged); k++; }
                else out.push_back(ids[k]);
            }
            ids = std::move(out);
            for (size_t k = 0; k + 1 < ids.size(); k++) {
                const uint64_t pair = pair_key(ids[k], ids[k + 1]);
                counts[pair] += weight[(size_t)w];
                if (ids[k] == merged || ids[k + 1] == merged) {
                    where[pair].push_back(w);
                    raised.push_back(pair);
                }
            }
        }
        for (uint64_t pair : raised) heap.push({counts[pair], pair});
        // END SOLUTION
        counts.erase(key);
        where.erase(key);
    }
    return tok;
}

// The merges in the order they were learnt: repeatedly join the adjacent
// pair of lowest rank, every occurrence of it, until no pair has a rank.
// O(n^2) in the chunk's length, which split_chunks keeps <= 64.
std::vector<int32_t> BPETokenizer::encode_chunk(const std::string& chunk) const {
    std::vector<int32_t> ids(chunk.begin(), chunk.end());
    for (int32_t& id : ids) id &= 0xFF; // char may be signed
    // BEGIN SOLUTION Lesson 10: encode_chunk: apply the lowest-ranked merge until none applies
    while (ids.size() > 1) {
        int32_t best = -1;
        for (size_t k = 0; k + 1 < ids.size(); k++) {
            const auto at = rank.find(pair_key(ids[k], ids[k + 1]));
            if (at != rank.end() && (best < 0 || at->second < best)) best = at->second;
        }
        if (best < 0) break;
        const auto [left, right] = merges[(size_t)best];
        std::vector<int32_t> out;
        for (size_t k = 0; k < ids.size(); k++) {
            if (k + 1 < ids.size() && ids[k] == left && ids[k + 1] == right) { out.push_back(256 + best); k++; }
            else out.push_back(ids[k]);
        }
        ids = std::move(out);
    }
    // END SOLUTION
    return ids;
}

std::vector<int64_t> BPETokenizer::encode(const std::string& text) const {
    std::vector<int64_t> out;
    for (const std::string& chunk : split_chunks(text)) {
        auto at = cache.find(chunk);
        if (at == cache.end()) {
            std::vector<int32_t> ids = encode_chunk(chunk);
            if (cache.size() >= (1 << 16)) cache.clear(); // a memo, not a second copy of a huge corpus
            at = cache.emplace(chunk, std::move(ids)).first;
        }
        out.insert(out.end(), at->second.begin(), at->second.end());
    }
    return out;
}

std::string BPETokenizer::token_bytes(int64_t id) const {
    if (id < 0 || id >= vocab_size())
        throw Error("BPETokenizer: id " + std::to_string(id) + " is not in 0.." + std::to_string(vocab_size() - 1));
    return std::string(bytes.begin() + offsets[(size_t)id], bytes.begin() + offsets[(size_t)id + 1]);
}

std::string BPETokenizer::decode(const std::vector<int64_t>& ids) const {
    std::string out;
    for (int64_t id : ids) {
        if (id < 0 || id >= vocab_size())
            throw Error("BPETokenizer::decode: id " + std::to_string(id) + " is not in 0.." + std::to_string(vocab_size() - 1));
        out.append(bytes.begin() + offsets[(size_t)id], bytes.begin() + offsets[(size_t)id + 1]);
    }
    return out;
}

void BPETokenizer::save(const std::string& path) const {
    std::ofstream out(path, std::ios::binary);
    if (!out) throw Error("BPETokenizer::save: cannot open '" + path + "' for writing");
    out << "tt-bpe 1\nmerges " << merges.size() << "\n";
    for (const auto& [left, right] : merges) out << left << ' ' << right << '\n';
    if (!out.flush()) throw Error("BPETokenizer::save: error writing '" + path + "'");
}

BPETokenizer BPETokenizer::load(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw Error("BPETokenizer::load: cannot open '" + path + "'");
    return load(in, path);
}

namespace {
// A decimal number of at most 9 digits, nothing else.
bool parse_count(const std::string& text, int64_t& out) {
    if (text.empty() || text.size() > 9) return false;
    out = 0;
    for (char c : text) {
        if (c < '0' || c > '9') return false;
        out = out * 10 + (c - '0');
    }
    return true;
}
} // namespace

BPETokenizer BPETokenizer::load(std::istream& in, const std::string& name) {
    int64_t line_number = 0;
    auto fail = [&](const std::string& what) -> Error {
        return Error("BPETokenizer::load: '" + name + "' line " + std::to_string(line_number) + ": " + what);
    };
    std::string line;
    auto next_line = [&]() {
        line_number++;
        if (!std::getline(in, line)) throw fail("the file ends early");
        if (in.eof()) throw fail("the line has no newline at its end (a truncated file?)");
    };
    next_line();
    if (line != "tt-bpe 1") throw fail("expected the header 'tt-bpe 1', got '" + line.substr(0, 40) + "'");
    next_line();
    int64_t n = 0;
    if (line.compare(0, 7, "merges ") != 0 || !parse_count(line.substr(7), n) || n > (1 << 24) - 256)
        throw fail("expected 'merges N' with N in 0..16776960, got '" + line.substr(0, 40) + "'");
    BPETokenizer tok;
    for (int64_t k = 0; k < n; k++) {
        next_line();
        const size_t space = line.find(' ');
        int64_t left = 0, right = 0;
        if (space == std::string::npos || !parse_count(line.substr(0, space), left) || !parse_count(line.substr(space + 1), right))
            throw fail("expected two ids 'LEFT RIGHT', got '" + line.substr(0, 40) + "'");
        if (left >= 256 + k || right >= 256 + k)
            throw fail("merge " + std::to_string(k) + " uses id " + std::to_string(std::max(left, right)) +
                       ", but only ids 0.." + std::to_string(255 + k) + " exist before it");
        if (tok.rank.count(pair_key((int32_t)left, (int32_t)right)))
            throw fail("the pair " + std::to_string(left) + " " + std::to_string(right) + " is merged twice");
        tok.add_merge((int32_t)left, (int32_t)right);
    }
    line_number++;
    if (in.peek() != std::char_traits<char>::eof()) throw fail("unexpected text after the " + std::to_string(n) + " merges");
    return tok;
}

Tensor token_tensor(const std::vector<int64_t>& ids) {
    MemoryCategory data(Category::Data);
    Tensor t = new_tensor({(int64_t)ids.size()}, "token_tensor");
    for (size_t i = 0; i < ids.size(); i++) {
        if (ids[i] < 0 || ids[i] > (1 << 24))
            throw Error("token_tensor: id " + std::to_string(ids[i]) + " at " + std::to_string(i) +
                        " is not in 0..16777216 (the ids a float holds exactly)");
        t.data()[i] = (float)ids[i];
    }
    return t;
}

std::pair<std::vector<int64_t>, std::vector<int64_t>> split_by_position(const std::vector<int64_t>& ids, double train_fraction) {
    if (!(train_fraction > 0 && train_fraction < 1))
        throw Error("split_by_position: train_fraction must be in (0, 1), got " + std::to_string(train_fraction));
    const size_t n_train = (size_t)((double)ids.size() * train_fraction);
    return {std::vector<int64_t>(ids.begin(), ids.begin() + (int64_t)n_train), std::vector<int64_t>(ids.begin() + (int64_t)n_train, ids.end())};
}

TextDataset::TextDataset(Tensor tokens_, int64_t t) : block_size(t) {
    require_defined(tokens_, "TextDataset");
    if (tokens_.dim() != 1) throw Error("TextDataset: tokens should be [N], got " + to_string(tokens_.shape()));
    if (t <= 0) throw Error("TextDataset: block_size must be positive, got " + std::to_string(t));
    if (tokens_.numel() <= t)
        throw Error("TextDataset: " + std::to_string(tokens_.numel()) + " tokens are too few for one window of " +
                    std::to_string(t) + " and its next token");
    tokens = tokens_.detach().contiguous();
}
int64_t TextDataset::size() const { return tokens.numel() - block_size; }
std::pair<Tensor, Tensor> TextDataset::get(int64_t i) const {
    if (i < 0 || i >= size())
        throw Error("TextDataset: index " + std::to_string(i) + " is out of range for " + std::to_string(size()) + " windows");
    return {tokens.slice(0, i, i + block_size), tokens.slice(0, i + 1, i + 1 + block_size)};
}
Batch TextDataset::gather(const std::vector<int64_t>& rows) const {
    for (int64_t i : rows)
        if (i < 0 || i >= size())
            throw Error("TextDataset: index " + std::to_string(i) + " is out of range for " + std::to_string(size()) + " windows");
    const int64_t b = (int64_t)rows.size(), t = block_size;
    Batch out{new_tensor({b, t}, "TextDataset"), new_tensor({b, t}, "TextDataset")};
    // BEGIN SOLUTION Lesson 10: TextDataset::gather: each window of T tokens and the same shifted by one
    for (int64_t r = 0; r < b; r++) {
        std::memcpy(out.x.data() + r * t, tokens.data() + rows[(size_t)r], sizeof(float) * (size_t)t);
        std::memcpy(out.y.data() + r * t, tokens.data() + rows[(size_t)r] + 1, sizeof(float) * (size_t)t);
    }
    // END SOLUTION
    return out;
}

// ===== Lesson 11 · Embeddings ================================================
// A lookup is index_select on the table's rows, so its backward is
// index_select's: a scatter-add of each token's gradient into its row. What
// this section adds is the checking (an id is a float here, so it must be a
// whole number in range) and the two kinds of position.

Tensor embedding(const Tensor& ids, const Tensor& weight) {
    require_defined(ids, "embedding");
    require_defined(weight, "embedding");
    if (weight.dim() != 2)
        throw Error("embedding: the table should be [V, D], got " + to_string(weight.shape()));
    const int64_t vocab = weight.size(0);
    const Tensor d = dense(ids);
    std::vector<int64_t> rows((size_t)d.numel());
    for (int64_t n = 0; n < d.numel(); n++) {
        const float v = d.data()[n];
        if (!(v >= 0 && v < (float)vocab) || v != std::floor(v)) {
            char buf[160];
            std::snprintf(buf, sizeof buf, "embedding: id %g at position %" PRId64 " is not a token of a vocabulary of %" PRId64 " (ids are 0..%" PRId64 ")",
                          v, n, vocab, vocab - 1);
            throw Error(buf);
        }
        rows[(size_t)n] = (int64_t)v;
    }
    Shape shape = ids.shape();
    shape.push_back(weight.size(1));
    Tensor y;
    // BEGIN SOLUTION Lesson 11: embedding: each id's row of the table, in the ids' shape
    y = index_select(weight, 0, rows).reshape(shape);
    // END SOLUTION
    return y;
}

Tensor sinusoidal_positions(int64_t length, int64_t dim) {
    if (length <= 0 || dim <= 0)
        throw Error("sinusoidal_positions: length and dim must be positive, got " + std::to_string(length) + " and " + std::to_string(dim));
    Tensor pe = new_tensor({length, dim}, "sinusoidal_positions");
    // BEGIN SOLUTION Lesson 11: sinusoidal_positions: sin on even columns, cos on odd, one frequency per pair
    for (int64_t t = 0; t < length; t++)
        for (int64_t c = 0; c < dim; c++) {
            const double frequency = std::pow(10000.0, -(double)(c - c % 2) / (double)dim);
            const double angle = (double)t * frequency;
            pe.data()[t * dim + c] = (float)(c % 2 == 0 ? std::sin(angle) : std::cos(angle));
        }
    // END SOLUTION
    return pe;
}

Embedding::Embedding(int64_t n, int64_t d, bool scale, float init_std, Generator& g)
    : num_embeddings(n), dim(d), scale_by_sqrt_dim(scale) {
    if (n <= 0 || d <= 0 || !(init_std > 0))
        throw Error("Embedding: needs num_embeddings > 0, dim > 0 and init_std > 0, got " + std::to_string(n) + ", " +
                    std::to_string(d) + ", " + std::to_string(init_std));
    MemoryCategory parameters(Category::Parameters);
    weight = make_parameter(Tensor::randn({n, d}, g) * init_std);
}
Tensor Embedding::forward(const Tensor& ids) {
    Tensor y = embedding(ids, weight);
    return scale_by_sqrt_dim ? y * std::sqrt((float)dim) : y;
}
std::string Embedding::name() const {
    return "Embedding(" + std::to_string(num_embeddings) + ", " + std::to_string(dim) + (scale_by_sqrt_dim ? ", scaled" : "") + ")";
}

PositionalEmbedding::PositionalEmbedding(int64_t n, int64_t d, Positions k, float init_std, Generator& g)
    : max_len(n), dim(d), kind(k) {
    if (n <= 0 || d <= 0)
        throw Error("PositionalEmbedding: needs max_len > 0 and dim > 0, got " + std::to_string(n) + " and " + std::to_string(d));
    MemoryCategory parameters(Category::Parameters);
    table = kind == Positions::Learned ? make_parameter(Tensor::randn({n, d}, g) * init_std) : sinusoidal_positions(n, d);
}
// x [B,T,D] + table[0:T] [T,D] (broadcast over B; backward sums the B rows into the table's)
Tensor PositionalEmbedding::forward(const Tensor& x) {
    require_defined(x, "PositionalEmbedding");
    if (x.dim() != 3 || x.size(2) != dim)
        throw Error("PositionalEmbedding: expects [B, T, " + std::to_string(dim) + "], got " + to_string(x.shape()));
    if (x.size(1) > max_len)
        throw Error("PositionalEmbedding: T = " + std::to_string(x.size(1)) + " is past max_len = " + std::to_string(max_len));
    Tensor y;
    // BEGIN SOLUTION Lesson 11: PositionalEmbedding: add the first T rows of the table to every sequence
    y = x + table.slice(0, 0, x.size(1));
    // END SOLUTION
    return y;
}
std::vector<Tensor> PositionalEmbedding::parameters() {
    if (kind == Positions::Learned) return {table};
    return {};
}
std::vector<std::pair<std::string, Tensor>> PositionalEmbedding::named_parameters() {
    if (kind == Positions::Learned) return {{"weight", table}};
    return {};
}
std::string PositionalEmbedding::name() const {
    return std::string("PositionalEmbedding(") + std::to_string(max_len) + ", " + std::to_string(dim) +
           (kind == Positions::Learned ? ", learned)" : ", sinusoidal)");
}

// ===== Lesson 12 · Attention =================================================
// One op computes softmax(q k^T / sqrt(D)) v and records one backward, so
// the only T x T tensor is P, the weights (kept for the backward: B*H*Tq*Tk
// floats, the quadratic memory the demo measures). It works through each
// head in blocks of 32 query rows: three gemms per block (scores, output;
// and in the backward dP, dq, dk, dv), reading q, k, v and dy in place
// through their strides. Under a causal mask a block of rows [r0, r1) sees
// only keys up to r1 - 1 + (Tk - Tq), so the gemms stop there: the key blocks
// above the diagonal are skipped, which halves the work of a long causal
// sequence (the hidden triangle is Tq*Tk/2 of the scores). Heads run in
// parallel. multi_head_attention is the same two cores over one fused
// projection: its q, k, v are column blocks of qkv, and its backward writes
// dq, dk, dv straight into qkv's gradient (no slice of a gradient to gather).

namespace {
constexpr int64_t kAttentionRows = 32; // query rows per block

// How many keys query `row` may see: all of them, or under a causal mask
// those up to its own position, counted from the right (row + Tk - Tq).
int64_t visible_keys(bool causal, int64_t row, int64_t Tq, int64_t Tk) {
    return causal ? std::min(Tk, std::max<int64_t>(0, row + 1 + Tk - Tq)) : Tk;
}

// One row of scores s[0..computed) in place -> its softmax over the first
// `seen` keys, 0 elsewhere (and everywhere if every key is hidden).
// pad[j] != 0 hides key j.
void attention_softmax_row(float* s, int64_t seen, int64_t computed, float scale, const float* pad) {
    const float hidden = -std::numeric_limits<float>::infinity();
    float biggest = hidden;
    for (int64_t j = 0; j < seen; j++) {
        s[j] = pad && pad[j] != 0 ? hidden : s[j] * scale;
        biggest = std::max(biggest, s[j]);
    }
    std::fill(s + seen, s + computed, 0.0f);
    if (biggest == hidden) { // nothing to attend to: weights 0, so y = 0
        std::fill(s, s + seen, 0.0f);
        return;
    }
    float total = 0;
    for (int64_t j = 0; j < seen; j++) total += s[j] = std::exp(s[j] - biggest); // exp(-inf) = 0
    const float inverse = 1.0f / total;
    for (int64_t j = 0; j < seen; j++) s[j] *= inverse;
}

// Head (b, h) of a [B,H,T,D] operand: where it starts, its row and column strides.
struct HeadView {
    const float* base;
    int64_t s0, s1, rows, cols;
    const float* at(int64_t b, int64_t h) const { return base + b * s0 + h * s1; }
};
HeadView head_view(const Tensor& t) {
    return {base_of(t) + t.impl->offset, t.strides()[0], t.strides()[1], t.strides()[2], t.strides()[3]};
}
// Head (b, h) of an output or gradient written with unit column stride: rows `rows` apart.
struct HeadOut {
    float* base;
    int64_t s0, s1, rows;
    float* at(int64_t b, int64_t h) const { return base ? base + b * s0 + h * s1 : nullptr; }
};
struct AttentionShape {
    int64_t B, H, Tq, Tk, D, Dv;
    bool causal;
    float scale; // 1/sqrt(D)
};

// The scores the blocks below compute, over every head: B*H*Tq*Tk, less the
// key blocks a causal mask skips. The ops count their flops from it (Lesson 14):
// forward, per score 2D (q.k), 5 (softmax) and 2Dv (P v); backward 2Dv (dP),
// 5 (dS), and 2D, 2D, 2Dv for each of dq, dk, dv it computes.
double attention_scores(const AttentionShape& a) {
    double scores = 0;
    for (int64_t r0 = 0; r0 < a.Tq; r0 += kAttentionRows) {
        const int64_t rows = std::min(kAttentionRows, a.Tq - r0);
        scores += (double)rows * (double)visible_keys(a.causal, r0 + rows - 1, a.Tq, a.Tk);
    }
    return scores * (double)(a.B * a.H);
}

// The forward of every head: P [B,H,Tq,Tk] (zero-filled on entry) and y.
void attention_forward(const AttentionShape& a, const HeadView& qv, const HeadView& kv, const HeadView& vv,
                       const float* pmask, float* pp, const HeadOut& y) {
    // BEGIN SOLUTION Lesson 12: attention_forward: per head, blocks of query rows: scores, softmax, P v
    parallel_for(a.B * a.H, [&](int64_t bh) {
        const int64_t b = bh / a.H, h = bh % a.H;
        const float *qh = qv.at(b, h), *kh = kv.at(b, h), *vh = vv.at(b, h);
        const float* pad = pmask ? pmask + b * a.Tk : nullptr;
        float* ph = pp + bh * a.Tq * a.Tk;
        float* yh = y.at(b, h);
        for (int64_t r0 = 0; r0 < a.Tq; r0 += kAttentionRows) {
            const int64_t rows = std::min(kAttentionRows, a.Tq - r0);
            const int64_t keys = visible_keys(a.causal, r0 + rows - 1, a.Tq, a.Tk); // the block's last row sees the most
            if (keys == 0) continue;                                                // all hidden: P and y stay 0
            float* s = ph + r0 * a.Tk;
            // scores [rows, keys] = q[r0:r0+rows] @ k[0:keys]^T, k^T read in place
            gemm(rows, keys, a.D, qh + r0 * qv.rows, qv.rows, qv.cols, kh, kv.cols, kv.rows, s, a.Tk, false);
            for (int64_t i = 0; i < rows; i++)
                attention_softmax_row(s + i * a.Tk, visible_keys(a.causal, r0 + i, a.Tq, a.Tk), keys, a.scale, pad);
            // y[r0:r0+rows] = P[rows, keys] @ v[0:keys]
            gemm(rows, a.Dv, keys, s, a.Tk, 1, vh, vv.rows, vv.cols, yh + r0 * y.rows, y.rows, false);
        }
    });
    // END SOLUTION
}

// The backward of every head, from P and dy: dq written (its buffer zero-filled
// on entry), dk and dv added; a null destination is skipped.
void attention_backward(const AttentionShape& a, const HeadView& qv, const HeadView& kv, const HeadView& vv,
                        const HeadView& dyv, const float* pp, const HeadOut& gq, const HeadOut& gk, const HeadOut& gv) {
    MemoryCategory scratch(Category::Scratch);
    Tensor ds_all = new_tensor({a.B * a.H, kAttentionRows * a.Tk}, "attention backward"); // dP, then dS, per head
    float* pds = ds_all.data();
    // BEGIN SOLUTION Lesson 12: attention_backward: dP, dS, then dq, dk, dv block by block
    parallel_for(a.B * a.H, [&](int64_t bh) {
        const int64_t b = bh / a.H, h = bh % a.H;
        const float *qh = qv.at(b, h), *kh = kv.at(b, h), *vh = vv.at(b, h), *dyh = dyv.at(b, h);
        const float* ph = pp + bh * a.Tq * a.Tk;
        float* ds = pds + bh * kAttentionRows * a.Tk;
        float *gqh = gq.at(b, h), *gkh = gk.at(b, h), *gvh = gv.at(b, h);
        for (int64_t r0 = 0; r0 < a.Tq; r0 += kAttentionRows) {
            const int64_t rows = std::min(kAttentionRows, a.Tq - r0);
            const int64_t keys = visible_keys(a.causal, r0 + rows - 1, a.Tq, a.Tk);
            if (keys == 0) continue;
            const float* p = ph + r0 * a.Tk;          // [rows, keys], row stride Tk
            const float* dyr = dyh + r0 * dyv.rows;   // [rows, Dv]
            // dP [rows, keys] = dy @ v^T
            gemm(rows, keys, a.Dv, dyr, dyv.rows, dyv.cols, vh, vv.cols, vv.rows, ds, keys, false);
            // dS = P * (dP - rowsum(dP * P)), times the scale (0 wherever P is)
            for (int64_t i = 0; i < rows; i++) {
                float* d = ds + i * keys;
                const float* pi = p + i * a.Tk;
                float dot = 0;
                for (int64_t j = 0; j < keys; j++) dot += d[j] * pi[j];
                for (int64_t j = 0; j < keys; j++) d[j] = pi[j] * (d[j] - dot) * a.scale;
            }
            if (gqh) gemm(rows, a.D, keys, ds, keys, 1, kh, kv.rows, kv.cols, gqh + r0 * gq.rows, gq.rows, false);
            if (gkh) gemm(keys, a.D, rows, ds, 1, keys, qh + r0 * qv.rows, qv.rows, qv.cols, gkh, gk.rows, true);
            if (gvh) gemm(keys, a.Dv, rows, p, 1, a.Tk, dyr, dyv.rows, dyv.cols, gvh, gv.rows, true);
        }
    });
    // END SOLUTION
}

// The mask, checked: [B,Tk] or undefined.
Tensor checked_mask(const Tensor& mask, int64_t B, int64_t Tk, const std::string& op, const std::string& shapes) {
    if (!mask.defined()) return Tensor();
    if (mask.shape() != Shape{B, Tk})
        throw Error(op + ": key_padding_mask " + to_string(mask.shape()) + " should be [B,Tk] = " + to_string({B, Tk}) + " for " + shapes);
    return dense(mask);
}
} // namespace

Tensor scaled_dot_product_attention(const Tensor& q, const Tensor& k, const Tensor& v, bool causal,
                                    const Tensor& key_padding_mask, Tensor* weights) {
    const char* op = "scaled_dot_product_attention";
    require_defined(q, op);
    require_defined(k, op);
    require_defined(v, op);
    const std::string shapes = "q " + to_string(q.shape()) + ", k " + to_string(k.shape()) + ", v " + to_string(v.shape());
    if (q.dim() != 4 || k.dim() != 4 || v.dim() != 4)
        throw Error(std::string(op) + ": q, k and v must be 4-d [B,H,T,D], got " + shapes);
    const int64_t B = q.size(0), H = q.size(1), Tq = q.size(2), D = q.size(3), Tk = k.size(2), Dv = v.size(3);
    if (k.size(0) != B || k.size(1) != H || k.size(3) != D || v.size(0) != B || v.size(1) != H || v.size(2) != Tk)
        throw Error(std::string(op) + ": shapes do not fit q [B,H,Tq,D], k [B,H,Tk,D], v [B,H,Tk,Dv]: " + shapes);
    const Tensor mask = checked_mask(key_padding_mask, B, Tk, op, shapes);
    const AttentionShape a{B, H, Tq, Tk, D, Dv, causal, 1.0f / std::sqrt((float)std::max<int64_t>(D, 1))};
    OpScope scope(op);
    count_op(attention_scores(a) * (2.0 * D + 5 + 2.0 * Dv), 4.0 * (q.numel() + k.numel() + v.numel()),
             4.0 * (B * H * Tq * (Tk + Dv)));
    Tensor P = new_tensor({B, H, Tq, Tk}, op);                // the weights, kept for the backward
    Tensor y = new_tensor({B, Tq, H, Dv}, op).transpose(1, 2); // [B,H,Tq,Dv] seen through [B,Tq,H,Dv] memory
    attention_forward(a, head_view(q), head_view(k), head_view(v), mask.defined() ? mask.data() : nullptr, P.data(),
                      HeadOut{base_of(y), Tq * H * Dv, Dv, H * Dv});
    if (weights) *weights = P;
    if (needs_grad({&q, &k, &v}))
        record(op, {q, k, v}, y, [q, k, v, P, a](const Tensor& dy) {
            count_op(attention_scores(a) * (2.0 * a.Dv + 5 + (q.requires_grad() ? 2.0 * a.D : 0) +
                                            (k.requires_grad() ? 2.0 * a.D : 0) + (v.requires_grad() ? 2.0 * a.Dv : 0)),
                     4.0 * (q.numel() + k.numel() + v.numel() + dy.numel() + P.numel()), 4.0 * (q.numel() + k.numel() + v.numel()));
            Tensor gq = q.requires_grad() ? new_tensor(q.shape(), "scaled_dot_product_attention backward") : Tensor();
            Tensor gk = k.requires_grad() ? new_tensor(k.shape(), "scaled_dot_product_attention backward") : Tensor();
            Tensor gv = v.requires_grad() ? new_tensor(v.shape(), "scaled_dot_product_attention backward") : Tensor();
            // each gradient contiguous [B,H,T,D]
            auto out = [&](Tensor& g, int64_t T, int64_t D) {
                return HeadOut{g.defined() ? g.data() : nullptr, a.H * T * D, T * D, D};
            };
            attention_backward(a, head_view(q), head_view(k), head_view(v), head_view(dy), P.data(), out(gq, a.Tq, a.D),
                               out(gk, a.Tk, a.D), out(gv, a.Tk, a.Dv));
            if (gq.defined()) accumulate_grad(q, std::move(gq));
            if (gk.defined()) accumulate_grad(k, std::move(gk));
            if (gv.defined()) accumulate_grad(v, std::move(gv));
        });
    return y;
}

Tensor multi_head_attention(const Tensor& qkv, int64_t heads, bool causal, const Tensor& key_padding_mask, Tensor* weights) {
    const char* op = "multi_head_attention";
    require_defined(qkv, op);
    if (qkv.dim() != 3 || heads <= 0 || qkv.size(2) % (3 * heads) != 0)
        throw Error(std::string(op) + ": qkv must be [B,T,3C] with C a multiple of heads=" + std::to_string(heads) + ", got " +
                    to_string(qkv.shape()));
    const int64_t B = qkv.size(0), T = qkv.size(1), C = qkv.size(2) / 3, D = C / heads;
    const Tensor mask = checked_mask(key_padding_mask, B, T, op, "qkv " + to_string(qkv.shape()));
    const AttentionShape a{B, heads, T, T, D, D, causal, 1.0f / std::sqrt((float)D)};
    OpScope scope(op);
    count_op(attention_scores(a) * (4.0 * D + 5), 4.0 * qkv.numel(), 4.0 * (B * heads * T * T + B * T * C));
    const Tensor dense_qkv = dense(qkv);
    // head h of q is columns h*D.. of the first C; of k, of the next C; of v, of the last C
    auto third = [&](int64_t which) { return HeadView{dense_qkv.data() + which * C, T * 3 * C, D, 3 * C, 1}; };
    Tensor P = new_tensor({B, heads, T, T}, op);
    Tensor y = new_tensor({B, T, C}, op); // the heads side by side: head h is columns h*D..
    attention_forward(a, third(0), third(1), third(2), mask.defined() ? mask.data() : nullptr, P.data(), HeadOut{y.data(), T * C, D, C});
    if (weights) *weights = P;
    if (needs_grad({&qkv}))
        record(op, {qkv}, y, [qkv, dense_qkv, P, a, C](const Tensor& dy) {
            count_op(attention_scores(a) * (8.0 * a.D + 5), 4.0 * (qkv.numel() + dy.numel() + P.numel()), 4.0 * qkv.numel());
            Tensor g = new_tensor(qkv.shape(), "multi_head_attention backward");
            auto third = [&](const Tensor& t, int64_t which) { return HeadView{t.data() + which * C, a.Tq * 3 * C, a.D, 3 * C, 1}; };
            auto grad_third = [&](int64_t which) { return HeadOut{g.data() + which * C, a.Tq * 3 * C, a.D, 3 * C}; };
            const Tensor dyd = dense(dy);
            attention_backward(a, third(dense_qkv, 0), third(dense_qkv, 1), third(dense_qkv, 2),
                               HeadView{dyd.data(), a.Tq * a.H * a.D, a.D, a.H * a.D, 1}, P.data(), grad_third(0), grad_third(1),
                               grad_third(2));
            accumulate_grad(qkv, std::move(g));
        });
    return y;
}

namespace {
int64_t checked_width(int64_t dim, int64_t heads) {
    if (dim <= 0 || heads <= 0 || dim % heads != 0)
        throw Error("MultiHeadAttention: dim must be a positive multiple of heads, got dim=" + std::to_string(dim) +
                    " heads=" + std::to_string(heads));
    return dim;
}
} // namespace

MultiHeadAttention::MultiHeadAttention(int64_t dim_, int64_t heads_, bool bias, float p, bool causal_, Generator& g)
    : dim(checked_width(dim_, heads_)), heads(heads_), causal(causal_), qkv(dim_, 3 * dim_, bias, Init::Xavier, g),
      proj(dim_, dim_, bias, Init::Xavier, g), dropout(p, g) {}

Tensor MultiHeadAttention::forward(const Tensor& x) { return forward(x, Tensor()); }

Tensor MultiHeadAttention::forward(const Tensor& x, const Tensor& key_padding_mask) {
    if (!x.defined() || x.dim() != 3 || x.size(2) != dim)
        throw Error(name() + ": expects x [B,T," + std::to_string(dim) + "], got " +
                    (x.defined() ? to_string(x.shape()) : std::string("an undefined tensor")));
    const int64_t B = x.size(0), T = x.size(1);
    if (key_padding_mask.defined() && key_padding_mask.shape() != Shape{B, T})
        throw Error(name() + ": key_padding_mask " + to_string(key_padding_mask.shape()) + " should be [B,T] = " + to_string({B, T}));
    Tensor y;
    // BEGIN SOLUTION Lesson 12: MultiHeadAttention::forward: project to q, k, v at once, attend head by head, project back
    y = dropout(proj(multi_head_attention(qkv(x), heads, causal, key_padding_mask, keep_weights ? &weights : nullptr)));
    // END SOLUTION
    return y;
}
std::vector<Tensor> MultiHeadAttention::parameters() {
    std::vector<Tensor> out = qkv.parameters();
    for (Tensor& p : proj.parameters()) out.push_back(p);
    return out;
}
std::vector<std::pair<std::string, Tensor>> MultiHeadAttention::named_parameters() {
    std::vector<std::pair<std::string, Tensor>> out;
    for (auto& [n, p] : qkv.named_parameters()) out.push_back({"qkv." + n, p});
    for (auto& [n, p] : proj.named_parameters()) out.push_back({"proj." + n, p});
    return out;
}
std::string MultiHeadAttention::name() const {
    return "MultiHeadAttention(" + std::to_string(dim) + ", heads=" + std::to_string(heads) + (causal ? ", causal" : "") +
           (qkv.bias.defined() ? "" : ", bias=false") + ")";
}
void MultiHeadAttention::train(bool on) {
    training = on;
    dropout.train(on);
}

// ===== Lesson 13 · Transformers ==============================================
// LayerNorm is one op with its own backward: per row, the mean and the
// variance in double with two passes (the one-pass E[x^2] - E[x]^2 cancels
// badly when the mean is large next to the spread), and only those numbers
// saved per row; the normalised row is recomputed in the backward. The mean
// is kept as two floats, hi + lo: x - hi is exact in float when x is close to
// the mean, so (x - hi) - lo keeps the digits a float mean would round off.
// The block and the GPT are compositions of ops that already exist; the
// new cost is the T x T attention weights per head and layer.

namespace {
constexpr int64_t kLayerNormRows = 64; // rows per task
} // namespace

Tensor layer_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, float eps) {
    const char* op = "layer_norm";
    require_defined(x, op);
    if (x.dim() < 1) throw Error("layer_norm: x must have at least one axis, got " + to_string(x.shape()));
    const int64_t C = x.size(-1), rows = C ? x.numel() / C : 0, tasks = ceil_div(rows, kLayerNormRows);
    if (weight.defined() && weight.shape() != Shape{C})
        throw Error("layer_norm: weight " + to_string(weight.shape()) + " should be [" + std::to_string(C) + "] for x " + to_string(x.shape()));
    if (bias.defined() && bias.shape() != Shape{C})
        throw Error("layer_norm: bias " + to_string(bias.shape()) + " should be [" + std::to_string(C) + "] for x " + to_string(x.shape()));
    if (!(eps > 0)) throw Error("layer_norm: eps must be > 0, got " + std::to_string(eps));
    OpScope scope(op);
    count_op(8.0 * x.numel(), 4.0 * (x.numel() + 2 * C), 4.0 * (x.numel() + 3 * rows)); // mean 1, variance 3, y 4 per element
    const Tensor xd = dense(x), wd = weight.defined() ? dense(weight) : Tensor(), bd = bias.defined() ? dense(bias) : Tensor();
    Tensor y = new_tensor(x.shape(), op);
    Tensor stats = new_tensor({rows, 3}, op); // per row: the mean as hi + lo, rstd = 1/sqrt(var + eps)
    const float* px = xd.data();
    const float* pw = wd.defined() ? wd.data() : nullptr;
    const float* pb = bd.defined() ? bd.data() : nullptr;
    float* py = y.data();
    float* pstats = stats.data();
    // BEGIN SOLUTION Lesson 13: layer_norm: each row's mean and variance in two passes, then y
    parallel_for(tasks, [&](int64_t task) {
        for (int64_t r = task * kLayerNormRows; r < std::min(rows, (task + 1) * kLayerNormRows); r++) {
            const float* xr = px + r * C;
            float* yr = py + r * C;
            double total = 0, squares = 0;
            for (int64_t j = 0; j < C; j++) total += xr[j];
            const double mean = total / (double)C;
            for (int64_t j = 0; j < C; j++) squares += (xr[j] - mean) * (xr[j] - mean);
            const float hi = (float)mean, lo = (float)(mean - hi), rstd = (float)(1.0 / std::sqrt(squares / (double)C + eps));
            for (int64_t j = 0; j < C; j++) {
                const float xhat = ((xr[j] - hi) - lo) * rstd;
                yr[j] = (pw ? xhat * pw[j] : xhat) + (pb ? pb[j] : 0.0f);
            }
            pstats[3 * r] = hi;
            pstats[3 * r + 1] = lo;
            pstats[3 * r + 2] = rstd;
        }
    });
    // END SOLUTION
    if (needs_grad({&x, &weight, &bias}))
        record(op, {x, weight, bias}, y, [x, xd, weight, bias, stats, C, rows, tasks](const Tensor& g) {
            count_op(10.0 * x.numel(), 8.0 * x.numel(), 4.0 * x.numel()); // xhat, the two row means, dx; dweight, dbias
            const Tensor gd = dense(g);
            Tensor gx = x.requires_grad() ? new_tensor(x.shape(), "layer_norm backward") : Tensor();
            MemoryCategory scratch(Category::Scratch);
            Tensor parts = new_tensor({tasks, 2, C}, "layer_norm backward"); // each task's share of dweight, dbias
            const float* x_of = xd.data();
            const float* dy_of = gd.data();
            const float* saved = stats.data();
            const Tensor w_dense = weight.defined() ? dense(weight) : Tensor(); // alive while w_of is read
            const float* w_of = w_dense.defined() ? w_dense.data() : nullptr;
            float* dx_of = gx.defined() ? gx.data() : nullptr;
            float* parts_of = parts.data();
            // BEGIN SOLUTION Lesson 13: backward of layer_norm: dx from the two row means, dweight and dbias summed over rows
            parallel_for(tasks, [&](int64_t task) {
                float *gw = parts_of + task * 2 * C, *gb = gw + C;
                for (int64_t r = task * kLayerNormRows; r < std::min(rows, (task + 1) * kLayerNormRows); r++) {
                    const float *xr = x_of + r * C, *gr = dy_of + r * C;
                    const float hi = saved[3 * r], lo = saved[3 * r + 1], rstd = saved[3 * r + 2];
                    double sum_dxhat = 0, sum_dxhat_xhat = 0;
                    for (int64_t j = 0; j < C; j++) {
                        const float xhat = ((xr[j] - hi) - lo) * rstd, dxhat = w_of ? gr[j] * w_of[j] : gr[j];
                        sum_dxhat += dxhat;
                        sum_dxhat_xhat += dxhat * xhat;
                        gw[j] += gr[j] * xhat;
                        gb[j] += gr[j];
                    }
                    if (!dx_of) continue;
                    const float mean1 = (float)(sum_dxhat / (double)C), mean2 = (float)(sum_dxhat_xhat / (double)C);
                    for (int64_t j = 0; j < C; j++) {
                        const float xhat = ((xr[j] - hi) - lo) * rstd, dxhat = w_of ? gr[j] * w_of[j] : gr[j];
                        dx_of[r * C + j] = rstd * (dxhat - mean1 - xhat * mean2);
                    }
                }
            });
            // END SOLUTION
            if (gx.defined()) accumulate_grad(x, std::move(gx));
            const Tensor totals = sum(parts, 0); // [2,C]
            if (weight.requires_grad()) accumulate_grad(weight, totals.slice(0, 0, 1).reshape({C}));
            if (bias.requires_grad()) accumulate_grad(bias, totals.slice(0, 1, 2).reshape({C}));
        });
    return y;
}

LayerNorm::LayerNorm(int64_t dim_, float eps_, bool with_bias) : dim(dim_), eps(eps_) {
    if (dim <= 0 || !(eps > 0))
        throw Error("LayerNorm: needs dim > 0 and eps > 0, got dim=" + std::to_string(dim) + " eps=" + std::to_string(eps));
    MemoryCategory parameters(Category::Parameters);
    weight = make_parameter(Tensor::ones({dim}));
    if (with_bias) bias = make_parameter(Tensor::zeros({dim}));
}
Tensor LayerNorm::forward(const Tensor& x) { return layer_norm(x, weight, bias, eps); }
std::vector<Tensor> LayerNorm::parameters() {
    if (bias.defined()) return {weight, bias};
    return {weight};
}
std::vector<std::pair<std::string, Tensor>> LayerNorm::named_parameters() {
    std::vector<std::pair<std::string, Tensor>> out{{"weight", weight}};
    if (bias.defined()) out.push_back({"bias", bias});
    return out;
}
std::string LayerNorm::name() const {
    return "LayerNorm(" + std::to_string(dim) + (bias.defined() ? "" : ", bias=false") + ")";
}

namespace {
// "prefix.name" for each of a module's named parameters, appended to out.
void add_named(std::vector<std::pair<std::string, Tensor>>& out, const std::string& prefix, Module& m) {
    for (auto& [n, p] : m.named_parameters()) out.push_back({prefix + n, p});
}
} // namespace

Block::Block(int64_t dim, int64_t heads, float p, bool bias, bool causal, Generator& g)
    : ln1(dim, 1e-5f, bias), attn(dim, heads, bias, p, causal, g), ln2(dim, 1e-5f, bias),
      fc1(dim, 4 * dim, bias, Init::Xavier, g), fc2(4 * dim, dim, bias, Init::Xavier, g), dropout(p, g) {}
Tensor Block::forward(const Tensor& x) {
    Tensor h;
    // BEGIN SOLUTION Lesson 13: Block::forward: x + attn(ln1(x)), then x + mlp(ln2(x))
    h = x + attn(ln1(x));
    h = h + dropout(fc2(gelu(fc1(ln2(h)))));
    // END SOLUTION
    return h;
}
std::vector<Tensor> Block::parameters() {
    std::vector<Tensor> out;
    for (auto& [n, p] : named_parameters()) out.push_back(p);
    return out;
}
std::vector<std::pair<std::string, Tensor>> Block::named_parameters() {
    std::vector<std::pair<std::string, Tensor>> out;
    add_named(out, "ln1.", ln1);
    add_named(out, "attn.", attn);
    add_named(out, "ln2.", ln2);
    add_named(out, "fc1.", fc1);
    add_named(out, "fc2.", fc2);
    return out;
}
std::string Block::name() const { return "Block(" + std::to_string(attn.dim) + ", heads=" + std::to_string(attn.heads) + ")"; }
void Block::train(bool on) {
    training = on;
    attn.train(on);
    dropout.train(on);
}

namespace {
const GPTConfig& checked_config(const GPTConfig& c) {
    if (c.vocab_size <= 0 || c.block_size <= 0 || c.n_layer <= 0 || c.n_head <= 0 || c.n_embd <= 0 ||
        c.n_embd % c.n_head != 0 || !(c.dropout >= 0 && c.dropout < 1))
        throw Error("GPT: needs positive vocab_size, block_size, n_layer, n_head, n_embd with n_embd a multiple of n_head "
                    "and dropout in [0,1), got vocab_size=" + std::to_string(c.vocab_size) + " block_size=" +
                    std::to_string(c.block_size) + " n_layer=" + std::to_string(c.n_layer) + " n_head=" +
                    std::to_string(c.n_head) + " n_embd=" + std::to_string(c.n_embd) + " dropout=" + std::to_string(c.dropout));
    return c;
}
} // namespace

GPT::GPT(const GPTConfig& c, Generator& g)
    : config(checked_config(c)), ln_f(c.n_embd, 1e-5f, c.bias), dropout(c.dropout, g) {
    const int64_t V = c.vocab_size, C = c.n_embd;
    const float scale = 0.02f, residual_scale = 0.02f / std::sqrt(2.0f * (float)c.n_layer);
    MemoryCategory parameters(Category::Parameters);
    auto normal = [&](const Shape& shape, float stddev) { return make_parameter(Tensor::randn(shape, g) * stddev); };
    token_embedding = normal({V, C}, scale);
    position_embedding = normal({c.block_size, C}, scale);
    for (int64_t i = 0; i < c.n_layer; i++) {
        auto block = std::make_shared<Block>(C, c.n_head, c.dropout, c.bias, true, g);
        block->attn.qkv.weight = normal({3 * C, C}, scale);
        block->attn.proj.weight = normal({C, C}, residual_scale);
        block->fc1.weight = normal({4 * C, C}, scale);
        block->fc2.weight = normal({C, 4 * C}, residual_scale);
        blocks.push_back(block);
    }
    head = c.tie_weights ? token_embedding : normal({V, C}, scale);
}

Tensor GPT::forward(const Tensor& ids) {
    if (!ids.defined() || ids.dim() != 2 || ids.size(1) == 0)
        throw Error("GPT: expects ids [B,T] with T >= 1, got " + (ids.defined() ? to_string(ids.shape()) : std::string("an undefined tensor")));
    const int64_t T = ids.size(1);
    if (T > config.block_size)
        throw Error("GPT: sequence length T=" + std::to_string(T) + " is beyond the context, block_size=" + std::to_string(config.block_size));
    Tensor logits;
    // BEGIN SOLUTION Lesson 13: GPT::forward: token and position embeddings, the blocks, ln_f, the head
    Tensor x = dropout(embedding(ids, token_embedding) + position_embedding.slice(0, 0, T)); // [B,T,C] + [T,C]
    for (auto& block : blocks) x = (*block)(x);
    logits = linear(ln_f(x), head); // [B,T,V]
    // END SOLUTION
    return logits;
}

std::vector<Tensor> GPT::parameters() {
    std::vector<Tensor> out;
    for (auto& [n, p] : named_parameters()) out.push_back(p);
    return out;
}
std::vector<std::pair<std::string, Tensor>> GPT::named_parameters() {
    std::vector<std::pair<std::string, Tensor>> out{{"token_embedding", token_embedding}, {"position_embedding", position_embedding}};
    for (size_t i = 0; i < blocks.size(); i++) add_named(out, "blocks." + std::to_string(i) + ".", *blocks[i]);
    add_named(out, "ln_f.", ln_f);
    if (!config.tie_weights) out.push_back({"head", head});
    return out;
}
std::string GPT::name() const {
    return "GPT(vocab_size=" + std::to_string(config.vocab_size) + ", block_size=" + std::to_string(config.block_size) +
           ", n_layer=" + std::to_string(config.n_layer) + ", n_head=" + std::to_string(config.n_head) +
           ", n_embd=" + std::to_string(config.n_embd) + (config.tie_weights ? ", tied" : "") + ")";
}
void GPT::train(bool on) {
    training = on;
    dropout.train(on);
    for (auto& block : blocks) block->train(on);
}

ParameterCounts GPT::parameter_counts() {
    ParameterCounts n;
    n.embeddings = token_embedding.numel() + position_embedding.numel();
    for (auto& block : blocks) {
        n.attention += block->attn.num_parameters();
        n.mlp += block->fc1.num_parameters() + block->fc2.num_parameters();
        n.layer_norms += block->ln1.num_parameters() + block->ln2.num_parameters();
    }
    n.layer_norms += ln_f.num_parameters();
    n.head = config.tie_weights ? 0 : head.numel();
    return n;
}

std::vector<Tensor> GPT::decay_parameters(bool decay_embeddings) {
    std::vector<Tensor> out;
    if (decay_embeddings) out = {token_embedding, position_embedding};
    for (auto& block : blocks)
        for (Linear* l : {&block->attn.qkv, &block->attn.proj, &block->fc1, &block->fc2}) out.push_back(l->weight);
    if (!config.tie_weights) out.push_back(head);
    return out;
}
std::vector<Tensor> GPT::no_decay_parameters(bool decay_embeddings) {
    const std::vector<Tensor> decayed = decay_parameters(decay_embeddings);
    std::vector<Tensor> out;
    for (Tensor& p : parameters())
        if (std::none_of(decayed.begin(), decayed.end(), [&](const Tensor& d) { return d.impl == p.impl; })) out.push_back(p);
    return out;
}

int64_t sample_token(std::vector<float>& scores, float temperature, int64_t top_k, Generator& rng) {
    const int64_t V = (int64_t)scores.size();
    int64_t next = 0;
    // BEGIN SOLUTION Lesson 13: sample_token: greedy at temperature 0, else scale, keep the top k, draw from the softmax
    if (temperature == 0) {
        next = std::max_element(scores.begin(), scores.end()) - scores.begin();
    } else {
        float threshold = -std::numeric_limits<float>::infinity(); // keep scores >= the k-th largest (ties too)
        if (top_k > 0 && top_k < V) {
            std::vector<float> sorted = scores;
            std::nth_element(sorted.begin(), sorted.begin() + (top_k - 1), sorted.end(), std::greater<float>());
            threshold = sorted[top_k - 1];
        }
        const float biggest = *std::max_element(scores.begin(), scores.end());
        double total = 0;
        for (float& s : scores) total += s = s >= threshold ? std::exp((s - biggest) / temperature) : 0.0f;
        double u = rng.uniform() * total;
        next = -1;
        for (int64_t v = 0; v < V; v++) {
            if (scores[v] > 0) next = v; // the last one with any weight, if rounding overshoots
            if ((u -= scores[v]) < 0 && scores[v] > 0) break;
        }
    }
    // END SOLUTION
    return next;
}

std::vector<int64_t> GPT::generate(const std::vector<int64_t>& prompt, int64_t max_new_tokens, float temperature,
                                   int64_t top_k, uint64_t seed) {
    if (prompt.empty()) throw Error("GPT::generate: the prompt is empty; give it at least one token");
    if (max_new_tokens < 0 || !(temperature >= 0) || top_k < 0)
        throw Error("GPT::generate: needs max_new_tokens >= 0, temperature >= 0 and top_k >= 0, got " + std::to_string(max_new_tokens) +
                    ", " + format_float(temperature) + ", " + std::to_string(top_k));
    const int64_t V = config.vocab_size;
    NoGrad no_tape;
    const bool was_training = training;
    eval();
    Generator rng(seed);
    std::vector<int64_t> out = prompt;
    std::vector<float> scores(V);
    for (int64_t n = 0; n < max_new_tokens; n++) {
        const int64_t start = std::max<int64_t>(0, (int64_t)out.size() - config.block_size), T = (int64_t)out.size() - start;
        Tensor ids({1, T}, std::vector<float>(out.begin() + start, out.end()));
        const Tensor logits = forward(ids); // [1,T,V]
        std::copy(logits.data() + (T - 1) * V, logits.data() + T * V, scores.begin()); // the last position's
        out.push_back(sample_token(scores, temperature, top_k, rng));
    }
    train(was_training);
    return out;
}

// ===== Lesson 14 · Profiling =================================================
// The Profiler listens to the hooks every op has called since Lesson 01 (an
// OpScope, count_op, record's backward, the tracker). It keeps a stack of open
// frames, one per op in progress: when a frame closes, its time is added to
// its row as total time and, less the time of the frames it opened, as self
// time; its flops, bytes and allocations go to its row and to the modules it
// ran in. Self times never overlap, so the rows' self times add up to the
// wall time. Cost: two clock reads and a hash lookup per op.

namespace {
using ProfileClock = std::chrono::steady_clock;
double seconds_between(ProfileClock::time_point a, ProfileClock::time_point b) {
    return std::chrono::duration<double>(b - a).count();
}
// What one frame (an op in progress) counted so far of its own.
struct Counted {
    double flops = 0, bytes_read = 0, bytes_written = 0;
    int64_t allocated[kCategories] = {};
    void add_to(ProfileRow& row) const {
        row.flops += flops;
        row.bytes_read += bytes_read;
        row.bytes_written += bytes_written;
        for (int c = 0; c < kCategories; c++) row.allocated[c] += allocated[c];
    }
};
} // namespace

struct ProfilerState : OpListener, std::enable_shared_from_this<ProfilerState> {
    struct Frame {
        int row;                     // into op_rows
        int module;                  // into modules, -1 outside any
        ProfileClock::time_point start;
        double children = 0;         // seconds in the frames it opened
        Counted counted;
    };
    std::vector<ProfileRow> op_rows;          // one per (op name pointer, pass)
    std::unordered_map<const char*, int> forward_row, backward_row;
    struct ModuleEntry {
        int parent;                           // -1 for the outermost
        const Module* module;
        ProfileRow pass[2];                   // forward, backward
    };
    std::vector<ModuleEntry> modules;
    std::vector<Frame> frames;
    std::vector<int> module_stack;            // the modules entered, innermost last
    int current_module = -1;
    bool in_backward = false;
    Counted outside;                          // allocations made outside any op
    double top_level_seconds = 0;             // time in ops no op called
    int64_t events = 0;
    ProfileClock::time_point started, stopped;
    bool running = false;
    OpListener* previous = nullptr;

    int row_of(const char* op) {
        auto& ids = in_backward ? backward_row : forward_row;
        auto found = ids.find(op);
        if (found != ids.end()) return found->second;
        ProfileRow row;
        row.name = op;
        row.backward = in_backward;
        op_rows.push_back(row);
        return ids[op] = (int)op_rows.size() - 1;
    }
    void op_begin(const char* op) override {
        events++;
        const int row = row_of(op);
        frames.push_back(Frame{row, current_module, ProfileClock::now(), 0, {}});
    }
    void op_end() override {
        const ProfileClock::time_point now = ProfileClock::now();
        const Frame f = std::move(frames.back());
        frames.pop_back();
        const double seconds = seconds_between(f.start, now);
        ProfileRow& row = op_rows[f.row];
        row.calls++;
        row.total_seconds += seconds;
        row.self_seconds += seconds - f.children;
        f.counted.add_to(row);
        if (frames.empty()) top_level_seconds += seconds;
        else frames.back().children += seconds;
        // the modules it ran in: self time to the innermost, total to each
        for (int m = f.module; m >= 0; m = modules[m].parent) {
            ProfileRow& mr = modules[m].pass[in_backward];
            mr.total_seconds += seconds - f.children;
            if (m == f.module) mr.self_seconds += seconds - f.children;
            f.counted.add_to(mr);
        }
    }
    void op_count(double flops, double bytes_read, double bytes_written) override {
        if (frames.empty()) return; // an op without a scope: nothing to count it in
        Counted& c = frames.back().counted;
        c.flops += flops;
        c.bytes_read += bytes_read;
        c.bytes_written += bytes_written;
    }
    void allocated(Category c, int64_t bytes) override {
        (frames.empty() ? outside : frames.back().counted).allocated[(int)c] += bytes;
    }
    void module_begin(const Module& m) override {
        events++;
        int id = -1;
        for (size_t i = 0; i < modules.size() && id < 0; i++) // few modules: a scan is enough
            if (modules[i].module == &m && modules[i].parent == current_module) id = (int)i;
        if (id < 0) {
            ModuleEntry e{current_module, &m, {}};
            std::string name = m.name();
            name = name.substr(0, name.find('\n')); // a Sequential's is one line per layer
            if (!name.empty() && name.back() == '(') name.pop_back(); // "Sequential(" -> "Sequential"
            if (name.size() > 30) name = name.substr(0, 27) + "...";
            for (int pass = 0; pass < 2; pass++) {
                e.pass[pass].name = name;
                e.pass[pass].backward = pass == 1;
                e.pass[pass].depth = (int)module_stack.size();
                e.pass[pass].module = true;
            }
            modules.push_back(e);
            id = (int)modules.size() - 1;
        }
        modules[id].pass[0].calls++;
        module_stack.push_back(current_module);
        current_module = id;
    }
    void module_end() override {
        current_module = module_stack.back();
        module_stack.pop_back();
    }
    // The backward is timed as a frame named after the op, in the module the
    // forward ran in; the ops it calls are the backward pass's too.
    BackwardFn backward_of(const char* op, BackwardFn backward) override {
        std::weak_ptr<ProfilerState> self = shared_from_this();
        const int module = current_module;
        return [self, op, module, backward = std::move(backward)](const Tensor& g) {
            std::shared_ptr<ProfilerState> s = self.lock();
            if (!s || op_listener != s.get()) return backward(g); // stopped since: untimed
            struct Pass { // restores the forward's state even if the backward throws
                ProfilerState& s;
                bool was_backward;
                int was_module;
                ~Pass() { s.op_end(), s.in_backward = was_backward, s.current_module = was_module; }
            } pass{*s, s->in_backward, s->current_module};
            s->in_backward = true;
            s->current_module = module;
            s->op_begin(op);
            backward(g);
        };
    }
};

namespace {
// One op_begin / op_end pair, measured once on a scratch profiler.
double seconds_per_event() {
    static const double cost = [] {
        auto scratch = std::make_shared<ProfilerState>();
        const int n = 20000;
        const ProfileClock::time_point start = ProfileClock::now();
        for (int i = 0; i < n; i++) scratch->op_begin("overhead"), scratch->op_end();
        return seconds_between(start, ProfileClock::now()) / n;
    }();
    return cost;
}
} // namespace

int64_t ProfileRow::allocated_bytes() const {
    int64_t total = 0;
    for (int64_t b : allocated) total += b;
    return total;
}
double ProfileRow::intensity() const {
    double result = 0;
    // BEGIN SOLUTION Lesson 14: ProfileRow::intensity: flops per byte moved
    const double bytes = bytes_read + bytes_written;
    result = bytes > 0 ? flops / bytes : 0.0;
    // END SOLUTION
    return result;
}
double ProfileRow::gflops_per_second() const {
    const double seconds = module ? total_seconds : self_seconds;
    return seconds > 0 ? flops / seconds * 1e-9 : 0.0;
}

Profiler::Profiler() : state(std::make_shared<ProfilerState>()) {
    seconds_per_event(); // measured now, not inside the first profiled op
    if (op_listener) throw Error("Profiler: another Profiler is already recording on this thread");
    state->previous = op_listener;
    state->running = true;
    state->started = ProfileClock::now();
    op_listener = state.get();
}
Profiler::~Profiler() { stop(); }
void Profiler::stop() {
    if (!state->running) return;
    state->stopped = ProfileClock::now();
    state->running = false;
    op_listener = state->previous;
}

std::vector<ProfileRow> Profiler::ops() const {
    const ProfilerState& s = *state;
    std::vector<ProfileRow> rows;
    // BEGIN SOLUTION Lesson 14: Profiler::ops: rows of the same name and pass merged, the time outside ops, by self time
    for (const ProfileRow& r : s.op_rows) { // two string literals may spell the same op
        auto same = std::find_if(rows.begin(), rows.end(), [&](const ProfileRow& o) { return o.name == r.name && o.backward == r.backward; });
        if (same == rows.end()) {
            rows.push_back(r);
            continue;
        }
        same->calls += r.calls;
        same->total_seconds += r.total_seconds;
        same->self_seconds += r.self_seconds;
        Counted c{r.flops, r.bytes_read, r.bytes_written, {}};
        std::copy(r.allocated, r.allocated + kCategories, c.allocated);
        c.add_to(*same);
    }
    ProfileRow outside;
    outside.name = "(outside ops)";
    outside.calls = 1;
    outside.total_seconds = outside.self_seconds = total().total_seconds - s.top_level_seconds;
    s.outside.add_to(outside);
    rows.push_back(outside);
    std::stable_sort(rows.begin(), rows.end(), [](const ProfileRow& a, const ProfileRow& b) { return a.self_seconds > b.self_seconds; });
    // END SOLUTION
    return rows;
}

std::vector<ProfileRow> Profiler::modules() const {
    std::vector<ProfileRow> rows;
    for (int pass = 0; pass < 2; pass++) {
        // depth first: each module followed by its children, in the order first entered
        std::function<void(int)> visit = [&](int parent) {
            for (size_t i = 0; i < state->modules.size(); i++)
                if (state->modules[i].parent == parent) {
                    rows.push_back(state->modules[i].pass[pass]);
                    rows.back().calls = state->modules[i].pass[0].calls; // a backward per forward
                    visit((int)i);
                }
        };
        visit(-1);
    }
    return rows;
}

ProfileRow Profiler::total() const {
    const ProfilerState& s = *state;
    ProfileRow t;
    t.name = "total";
    t.calls = 1;
    t.total_seconds = t.self_seconds = seconds_between(s.started, s.running ? ProfileClock::now() : s.stopped);
    for (const ProfileRow& r : s.op_rows) {
        Counted c{r.flops, r.bytes_read, r.bytes_written, {}};
        std::copy(r.allocated, r.allocated + kCategories, c.allocated);
        c.add_to(t);
    }
    s.outside.add_to(t);
    return t;
}
int64_t Profiler::events() const { return state->events; }
double Profiler::overhead_seconds() const { return (double)state->events * seconds_per_event(); }

namespace {
std::string si(double v, const char* unit) { // 1.23 G, 456 M ...
    const char* prefixes[] = {"", "k", "M", "G", "T"};
    int p = 0;
    while (std::fabs(v) >= 1000 && p < 4) v /= 1000, p++;
    char buf[32];
    std::snprintf(buf, sizeof buf, v == 0 ? "0" : std::fabs(v) < 10 ? "%.2f %s%s" : "%.0f %s%s", v, prefixes[p], unit);
    return buf;
}
std::string profile_line(const ProfileRow& r, double wall, const std::string& roof) {
    char buf[320];
    const std::string name = std::string(2 * r.depth, ' ') + r.name + (r.backward ? " (bwd)" : "");
    std::snprintf(buf, sizeof buf, "%-40s %6lld %10.3f %10.3f %5.1f%% %9s %8.2f %10s %7.2f %10s%s\n", name.c_str(),
                  (long long)r.calls, 1e3 * r.total_seconds, 1e3 * r.self_seconds, wall > 0 ? 100 * r.self_seconds / wall : 0.0,
                  si(r.flops, "").c_str(), r.gflops_per_second(), si(r.bytes_read + r.bytes_written, "B").c_str(),
                  r.intensity(), si((double)r.allocated_bytes(), "B").c_str(), roof.c_str());
    return buf;
}
const char* kProfileHeader = "%-40s %6s %10s %10s %6s %9s %8s %10s %7s %10s%s\n";
} // namespace

std::string Profiler::table(int max_rows, double peak_gflops, double bandwidth_gb_per_s) const {
    const std::vector<ProfileRow> rows = ops();
    const ProfileRow t = total();
    const bool roof = peak_gflops > 0 && bandwidth_gb_per_s > 0;
    char buf[320];
    std::snprintf(buf, sizeof buf, kProfileHeader, "op", "calls", "total ms", "self ms", "self", "flops", "GFLOP/s",
                  "moved", "flop/B", "allocated", roof ? "   roof" : "");
    std::string out = buf;
    for (int i = 0; i < (int)rows.size() && i < max_rows; i++) {
        std::string fraction;
        if (roof && rows[i].flops > 0) {
            char f[32];
            std::snprintf(f, sizeof f, " %5.0f%%", 100 * rows[i].gflops_per_second() /
                                                        roofline_gflops(rows[i].intensity(), peak_gflops, bandwidth_gb_per_s));
            fraction = f;
        }
        out += profile_line(rows[i], t.total_seconds, fraction);
    }
    if ((int)rows.size() > max_rows)
        out += "(" + std::to_string(rows.size() - max_rows) + (rows.size() - max_rows > 1 ? " more rows)\n" : " more row)\n");
    out += profile_line(t, t.total_seconds, "");
    return out;
}

std::string Profiler::module_table(int max_depth) const {
    const ProfileRow t = total();
    char buf[320];
    std::snprintf(buf, sizeof buf, kProfileHeader, "module (time of its ops)", "calls", "total ms", "self ms", "self",
                  "flops", "GFLOP/s", "moved", "flop/B", "allocated", "");
    std::string out = buf;
    for (const ProfileRow& r : modules())
        if (r.depth <= max_depth) out += profile_line(r, t.total_seconds, "");
    return out;
}

double roofline_gflops(double intensity, double peak_gflops, double bandwidth_gb_per_s) {
    double result = 0;
    // BEGIN SOLUTION Lesson 14: roofline_gflops: the lower of the two roofs
    result = std::min(peak_gflops, bandwidth_gb_per_s * intensity);
    // END SOLUTION
    return result;
}

Latency measure_latency(const std::function<void()>& f, int runs, int warmup) {
    if (runs < 1 || warmup < 0)
        throw Error("measure_latency: needs runs >= 1 and warmup >= 0, got runs=" + std::to_string(runs) + " warmup=" + std::to_string(warmup));
    for (int i = 0; i < warmup; i++) f();
    std::vector<double> seconds;
    for (int i = 0; i < runs; i++) {
        const ProfileClock::time_point start = ProfileClock::now();
        f();
        seconds.push_back(seconds_between(start, ProfileClock::now()));
    }
    Latency l;
    l.runs = runs;
    // BEGIN SOLUTION Lesson 14: measure_latency: the median, the quartiles and the extremes of the runs
    std::sort(seconds.begin(), seconds.end());
    // the value at fraction p of the sorted runs, interpolated between neighbours
    auto quantile = [&](double p) {
        const double at = p * (double)(runs - 1);
        const size_t lo = (size_t)at, hi = std::min(lo + 1, seconds.size() - 1);
        return seconds[lo] + (at - (double)lo) * (seconds[hi] - seconds[lo]);
    };
    l.min = seconds.front();
    l.max = seconds.back();
    l.median = quantile(0.5);
    l.q1 = quantile(0.25);
    l.q3 = quantile(0.75);
    // END SOLUTION
    return l;
}

double amdahl_speedup(double fraction, double speedup) {
    if (!(fraction >= 0 && fraction <= 1) || !(speedup > 0))
        throw Error("amdahl_speedup: needs a fraction in [0, 1] and a speed-up > 0, got " + std::to_string(fraction) + " and " + std::to_string(speedup));
    double result = 1;
    // BEGIN SOLUTION Lesson 14: amdahl_speedup: the part that is not sped up bounds the whole
    result = 1.0 / ((1.0 - fraction) + fraction / speedup);
    // END SOLUTION
    return result;
}

// ===== Lesson 15 · Quantization ==============================================
// Four parts: int8 storage counted by the tracker; quantize and dequantize;
// the int8 gemm's reference (its fast kernel is in the kernels' block at the
// end of Lesson 17, compiled once per instruction set); and the quantized
// layers, the calibration that sets their input scales, and their file.

// Part 1, int8 bytes. The same bookkeeping as Lesson 01's Storage, one byte
// per element, under Category::Quantized.
Int8Storage::Int8Storage(int64_t n) : data(nullptr), count(n) {
    if (n < 0) throw Error("Int8Storage: cannot allocate a negative number of elements");
    Tracker& t = tracker();
    {
        std::lock_guard<std::mutex> lock(t.mutex);
        if (t.budget && t.total.live_bytes + n > t.budget)
            throw Error("memory budget exceeded in an int8 tensor: asked for " + with_commas(n) + " bytes (quantized) with " +
                        with_commas(t.total.live_bytes) + " live; budget " + with_commas(t.budget) + " bytes");
        for (MemoryCounts* c : {&t.total, &t.by_category[(int)Category::Quantized]}) {
            c->live_bytes += n;
            c->peak_bytes = std::max(c->peak_bytes, c->live_bytes);
            c->allocations++;
        }
    }
    if (n > 0 && ((uint64_t)n > SIZE_MAX || !(data = (int8_t*)std::calloc((size_t)n, 1)))) {
        std::lock_guard<std::mutex> lock(t.mutex);
        for (MemoryCounts* c : {&t.total, &t.by_category[(int)Category::Quantized]}) c->live_bytes -= n;
        throw Error("Int8Storage: out of memory allocating " + with_commas(n) + " bytes");
    }
}

Int8Storage::~Int8Storage() {
    std::free(data);
    Tracker& t = tracker();
    std::lock_guard<std::mutex> lock(t.mutex);
    for (MemoryCounts* c : {&t.total, &t.by_category[(int)Category::Quantized]}) {
        c->live_bytes -= count;
        c->releases++;
    }
}

QTensor new_qtensor(const Shape& shape, int64_t scales) {
    check_shape(shape, "new_qtensor");
    if (scales < 1 || (scales > 1 && (shape.empty() || shape[0] != scales)))
        throw Error("new_qtensor: " + std::to_string(scales) + " scales for shape " + to_string(shape) +
                    " (want 1, or one per row)");
    QTensor q;
    q.shape = shape;
    q.storage = std::make_shared<Int8Storage>(numel(shape));
    MemoryCategory quantized(Category::Quantized);
    q.scale = Tensor::ones({scales});
    return q;
}

// Part 2, quantize and dequantize. Symmetric: q = round(x / s) clamped to
// [-127, 127] (-128 unused, so that -q is always an int8 too), x ~= s * q.
// Rounding to nearest makes the error of a value inside [-127s, 127s] at
// most s/2; a value outside is clipped (its error grows with the distance).

float symmetric_scale(float max_abs) {
    if (!std::isfinite(max_abs) || max_abs < 0)
        throw Error("symmetric_scale: the range's largest |x| is " + std::to_string(max_abs) + ", not a finite size");
    return max_abs > 0 ? max_abs / 127.0f : 1.0f;
}

namespace {
// Clamped first, then rounded half away from zero by adding +-0.5 and
// truncating: plain arithmetic the compiler vectorises (std::nearbyint is a
// call per value without SSE4.1). NaN is an Error earlier.
int8_t quantize_value(float x, float inverse_scale) {
    const float q = std::min(127.0f, std::max(-127.0f, x * inverse_scale));
    return (int8_t)(int)(q + (q >= 0 ? 0.5f : -0.5f));
}
void require_finite(const Tensor& x, const char* op) {
    const float* p = x.data();
    for (int64_t i = 0, n = x.numel(); i < n; i++)
        if (!std::isfinite(p[i])) throw Error(std::string(op) + ": the input holds NaN or infinity (element " + std::to_string(i) + ")");
}
} // namespace

QTensor quantize_per_tensor(const Tensor& x, float scale) {
    require_defined(x, "quantize_per_tensor");
    if (!(scale > 0) || !std::isfinite(scale))
        throw Error("quantize_per_tensor: the scale must be positive and finite, got " + std::to_string(scale));
    const Tensor d = x.contiguous();
    require_finite(d, "quantize_per_tensor");
    QTensor q = new_qtensor(d.shape(), 1);
    const float* in = d.data();
    int8_t* out = q.data();
    const int64_t n = d.numel();
    // BEGIN SOLUTION Lesson 15: quantize_per_tensor: q = clamp(round(x / scale), -127, 127)
    const float inverse = 1.0f / scale;
    for (int64_t i = 0; i < n; i++) out[i] = quantize_value(in[i], inverse);
    q.scale.data()[0] = scale;
    // END SOLUTION
    return q;
}

QTensor quantize_per_channel(const Tensor& w) {
    require_defined(w, "quantize_per_channel");
    if (w.dim() < 1 || w.size(0) == 0)
        throw Error("quantize_per_channel: expects a weight [O, ...] with O >= 1, got " + to_string(w.shape()));
    const Tensor d = w.contiguous();
    require_finite(d, "quantize_per_channel");
    const int64_t rows = d.size(0), row_size = d.numel() / rows;
    QTensor q = new_qtensor(d.shape(), rows);
    const float* in = d.data();
    int8_t* out = q.data();
    float* scale = q.scale.data();
    // BEGIN SOLUTION Lesson 15: quantize_per_channel: each row's scale from its largest |w|, then its values
    for (int64_t o = 0; o < rows; o++) {
        const float* row = in + o * row_size;
        float max_abs = 0;
        for (int64_t k = 0; k < row_size; k++) max_abs = std::max(max_abs, std::fabs(row[k]));
        scale[o] = symmetric_scale(max_abs);
        const float inverse = 1.0f / scale[o];
        for (int64_t k = 0; k < row_size; k++) out[o * row_size + k] = quantize_value(row[k], inverse);
    }
    // END SOLUTION
    return q;
}

Tensor dequantize(const QTensor& q) {
    if (!q.storage || !q.scale.defined()) throw Error("dequantize: the QTensor is empty (default-constructed)");
    Tensor x = new_tensor(q.shape, "dequantize");
    const int64_t rows = q.scale.numel(), row_size = rows > 1 ? q.numel() / rows : q.numel();
    const int8_t* in = q.data();
    const float* scale = q.scale.data();
    float* out = x.data();
    // BEGIN SOLUTION Lesson 15: dequantize: x = scale[row] * q
    for (int64_t r = 0; r < rows; r++)
        for (int64_t k = 0; k < row_size; k++) out[r * row_size + k] = scale[r] * (float)in[r * row_size + k];
    // END SOLUTION
    return x;
}

// Part 3, the int8 product's definition: one int32 dot product per element,
// the reference every fast kernel is checked against, exactly.
void gemm_int8_naive(int64_t M, int64_t N, int64_t K, const int8_t* A, int64_t lda, const int8_t* B, int64_t ldb,
                     int32_t* C, int64_t ldc) {
    for (int64_t i = 0; i < M; i++)
        for (int64_t j = 0; j < N; j++) {
            int32_t sum = 0;
            for (int64_t k = 0; k < K; k++) sum += (int32_t)A[i * lda + k] * (int32_t)B[j * ldb + k];
            C[i * ldc + j] = sum;
        }
}

// Part 4, the quantized layers. Forward of y = x @ W^T + b with
// x ~= sx * xq and W[o] ~= sw[o] * wq[o]:
//   y[i,o] ~= sx * sw[o] * sum_k xq[i,k] * wq[o,k] + b[o]
// so the sum is one int8 gemm and the scales are applied once per output.
// Its error: each x and w is off by at most half its scale, so |y - y_float|
// <= sum_k (sx/2 |w[o,k]| + sw[o]/2 |x[i,k]| + sx*sw[o]/4) (the demo checks it).
// The int32 sums are written into y's own bytes, then turned into floats in
// place: no buffer beside the output.

namespace {
const char* calibration_names[] = {"dynamic", "min-max", "percentile 99.99"};

float input_scale_of(const Tensor& x, float input_scale) {
    if (input_scale > 0) return input_scale;
    const float* p = x.data();
    float max_abs = 0;
    for (int64_t i = 0, n = x.numel(); i < n; i++) max_abs = std::max(max_abs, std::fabs(p[i]));
    return symmetric_scale(max_abs);
}

// y[r, o] = sums[r, o] * (sx * sw[o]) + b[o], for y [rows, O] whose bytes hold
// the int32 sums (channels_are_rows: y [O, cols] instead, a conv's output).
// One scale (weights per tensor) serves every channel.
void sums_to_floats(float* y, int64_t rows, int64_t cols, bool channels_are_rows, float sx, const Tensor& sw,
                    const Tensor& bias) {
    const int64_t channels = channels_are_rows ? rows : cols;
    std::vector<float> scale((size_t)channels), shift((size_t)channels, 0.0f);
    for (int64_t o = 0; o < channels; o++) {
        scale[(size_t)o] = sx * sw.data()[sw.numel() == 1 ? 0 : o];
        if (bias.defined()) shift[(size_t)o] = bias.data()[o];
    }
    for (int64_t r = 0; r < rows; r++) {
        float* row = y + r * cols;
        for (int64_t c = 0; c < cols; c++) {
            const size_t o = (size_t)(channels_are_rows ? r : c);
            int32_t sum;
            std::memcpy(&sum, row + c, 4);
            row[c] = (float)sum * scale[o] + shift[o];
        }
    }
}

Tensor copy_under_quantized(const Tensor& t) {
    if (!t.defined()) return Tensor();
    MemoryCategory quantized(Category::Quantized);
    return t.detach().clone();
}
} // namespace

const char* calibration_name(Calibration c) { return calibration_names[(int)c]; }

QuantizedLinear::QuantizedLinear(const Linear& layer, float input_scale)
    : in_features(layer.in_features), out_features(layer.out_features), weight(quantize_per_channel(layer.weight.detach())),
      bias(copy_under_quantized(layer.bias)), input_scale(input_scale) {
    if (input_scale < 0 || !std::isfinite(input_scale))
        throw Error(name() + ": the input scale must be >= 0 (0: dynamic), got " + std::to_string(input_scale));
}

std::string QuantizedLinear::name() const {
    return "QuantizedLinear(" + std::to_string(in_features) + ", " + std::to_string(out_features) + ")";
}

Tensor QuantizedLinear::forward(const Tensor& x) {
    if (!x.defined() || x.dim() < 1 || x.size(-1) != in_features)
        throw Error(name() + ": expects an input [..., " + std::to_string(in_features) + "], got " +
                    (x.defined() ? to_string(x.shape()) : std::string("an undefined tensor")));
    const Tensor flat = x.contiguous().reshape({-1, in_features}); // [rows, in]
    const int64_t rows = flat.size(0);
    const float sx = input_scale_of(flat, input_scale);
    const QTensor xq = quantize_per_tensor(flat, sx);
    Shape out_shape = x.shape();
    out_shape.back() = out_features;
    Tensor y = new_tensor(out_shape, "QuantizedLinear");
    static_assert(sizeof(int32_t) == sizeof(float), "the sums are written into the output's floats");
    gemm_int8(rows, out_features, in_features, xq.data(), in_features, weight.data(), in_features, (int32_t*)(void*)y.data(),
              out_features);
    sums_to_floats(y.data(), rows, out_features, false, sx, weight.scale, bias);
    return y;
}

QuantizedConv2d::QuantizedConv2d(const Conv2d& layer, float input_scale)
    : in_channels(layer.in_channels), out_channels(layer.out_channels), kernel_size(layer.kernel_size),
      stride(layer.stride), padding(layer.padding), weight(quantize_per_channel(layer.weight.detach())),
      bias(copy_under_quantized(layer.bias)), input_scale(input_scale) {
    if (input_scale < 0 || !std::isfinite(input_scale))
        throw Error(name() + ": the input scale must be >= 0 (0: dynamic), got " + std::to_string(input_scale));
}

std::string QuantizedConv2d::name() const {
    return "QuantizedConv2d(" + std::to_string(in_channels) + ", " + std::to_string(out_channels) +
           ", kernel_size=" + std::to_string(kernel_size) + (stride != 1 ? ", stride=" + std::to_string(stride) : "") +
           (padding ? ", padding=" + std::to_string(padding) : "") + ")";
}

// im2row of a chunk of images: patches [images*OH*OW, C*k*k], one row per
// output pixel (a zero outside the image is an exact 0 in int8); then one
// gemm W [O, C*k*k] @ patches^T -> [O, images*OH*OW], moved into y [B,O,OH,OW].
// Chunks of kImages images bound the patches' bytes (LeNet's conv1: 3.2 MB)
// and give the gemm long rows.
Tensor QuantizedConv2d::forward(const Tensor& x) {
    const ConvGeometry g = window_geometry(x, kernel_size, kernel_size, stride, padding, name());
    if (g.C != in_channels)
        throw Error(name() + ": expects " + std::to_string(in_channels) + " input channels, got " + to_string(x.shape()));
    const Tensor d = x.contiguous();
    const float sx = input_scale_of(d, input_scale);
    const QTensor xq = quantize_per_tensor(d, sx);
    Tensor y = new_tensor({g.B, out_channels, g.OH, g.OW}, "QuantizedConv2d");
    const int64_t pixels = g.OH * g.OW, patch = g.patch(), image = g.C * g.H * g.W, kImages = 64;
    const int64_t chunk = std::min(kImages, g.B);
    Int8Storage patches(chunk * pixels * patch);
    Tensor sums = new_tensor({out_channels, chunk * pixels}, "QuantizedConv2d"); // int32 in float's bytes
    for (int64_t b0 = 0; b0 < g.B; b0 += chunk) {
        const int64_t images = std::min(chunk, g.B - b0), n = images * pixels;
        parallel_for(images, [&](int64_t b) {
            const int8_t* src = xq.data() + (b0 + b) * image;
            int8_t* row = patches.data + b * pixels * patch;
            for (int64_t i = 0; i < g.OH; i++)
                for (int64_t j = 0; j < g.OW; j++) {
                    // the window's columns inside the image: [v0, v1) of 0..kw
                    const int64_t col0 = j * g.stride - g.padding;
                    const int64_t v0 = std::max<int64_t>(0, -col0), v1 = std::min(g.kw, g.W - col0);
                    for (int64_t c = 0; c < g.C; c++)
                        for (int64_t u = 0; u < g.kh; u++, row += g.kw) {
                            const int64_t h = i * g.stride - g.padding + u;
                            if (h < 0 || h >= g.H || v1 <= v0) {
                                std::memset(row, 0, (size_t)g.kw);
                                continue;
                            }
                            const int8_t* in_row = src + (c * g.H + h) * g.W + col0;
                            for (int64_t v = 0; v < v0; v++) row[v] = 0;
                            for (int64_t v = v0; v < v1; v++) row[v] = in_row[v];
                            for (int64_t v = v1; v < g.kw; v++) row[v] = 0;
                        }
                }
        });
        gemm_int8(out_channels, n, patch, weight.data(), patch, patches.data, patch, (int32_t*)(void*)sums.data(), n);
        sums_to_floats(sums.data(), out_channels, n, true, sx, weight.scale, bias);
        for (int64_t o = 0; o < out_channels; o++)
            for (int64_t b = 0; b < images; b++)
                std::memcpy(y.data() + ((b0 + b) * out_channels + o) * pixels, sums.data() + o * n + b * pixels,
                            (size_t)pixels * sizeof(float));
    }
    return y;
}

namespace {
// What calibration saw at one layer's input: the largest |x|, and a sample
// of |x| for the percentile (every value, up to a few million).
struct RangeObserver {
    float max_abs = 0;
    std::vector<float> magnitudes;
    void observe(const Tensor& x) {
        const Tensor d = x.contiguous();
        const float* p = d.data();
        for (int64_t i = 0, n = d.numel(); i < n; i++) {
            const float a = std::fabs(p[i]);
            max_abs = std::max(max_abs, a);
            if (magnitudes.size() < (size_t)1 << 22) magnitudes.push_back(a);
        }
    }
    float scale(Calibration method) {
        if (method == Calibration::MinMax || magnitudes.empty()) return symmetric_scale(max_abs);
        const size_t at = (size_t)(0.9999 * (double)(magnitudes.size() - 1));
        std::nth_element(magnitudes.begin(), magnitudes.begin() + (std::ptrdiff_t)at, magnitudes.end());
        return symmetric_scale(magnitudes[at]);
    }
};
} // namespace

std::shared_ptr<Sequential> quantize(Sequential& model, DataLoader* calibration, Calibration method,
                                     int64_t calibration_batches) {
    std::vector<bool> quantizable(model.layers.size(), false);
    int64_t count = 0;
    for (size_t i = 0; i < model.layers.size(); i++) {
        Module* m = model.layers[i].get();
        quantizable[i] = dynamic_cast<Linear*>(m) || dynamic_cast<Conv2d*>(m);
        if (!quantizable[i] && !m->named_parameters().empty())
            throw Error("quantize: layer " + std::to_string(i) + ", " + m->name() +
                        ", has parameters, and only Linear and Conv2d can be quantized (fold a BatchNorm2d into its conv first)");
        if (quantizable[i]) {
            count++;
            for (auto& [pname, p] : m->named_parameters()) require_finite(p.contiguous(), "quantize");
        }
    }
    if (count == 0) throw Error("quantize: the model has no Linear or Conv2d layer to quantize");
    if (method != Calibration::Dynamic && (!calibration || calibration->size() == 0))
        throw Error(std::string("quantize: ") + calibration_name(method) + " calibration needs a calibration loader with data");
    if (calibration_batches < 1)
        throw Error("quantize: calibration_batches must be >= 1, got " + std::to_string(calibration_batches));

    std::vector<RangeObserver> ranges(model.layers.size());
    if (method != Calibration::Dynamic) {
        const bool was_training = model.training;
        model.eval();
        NoGrad no_grad;
        const int64_t batches = std::min(calibration_batches, calibration->size());
        for (int64_t b = 0; b < batches; b++) {
            Tensor h = calibration->batch(b).x;
            for (size_t i = 0; i < model.layers.size(); i++) {
                if (quantizable[i]) ranges[i].observe(h);
                h = model.layers[i]->forward(h);
            }
        }
        model.train(was_training);
    }
    auto out = std::make_shared<Sequential>();
    for (size_t i = 0; i < model.layers.size(); i++) {
        Module* m = model.layers[i].get();
        const float sx = method == Calibration::Dynamic || !quantizable[i] ? 0.0f : ranges[i].scale(method);
        if (auto* linear = dynamic_cast<Linear*>(m)) out->add(std::make_shared<QuantizedLinear>(*linear, sx));
        else if (auto* conv = dynamic_cast<Conv2d*>(m)) out->add(std::make_shared<QuantizedConv2d>(*conv, sx));
        else out->add(model.layers[i]);
    }
    out->eval();
    return out;
}

int64_t weight_bytes(Sequential& model) {
    int64_t bytes = 0;
    for (auto& layer : model.layers) {
        Module* m = layer.get();
        if (auto* l = dynamic_cast<Linear*>(m)) bytes += l->weight.numel() * 4;
        else if (auto* c = dynamic_cast<Conv2d*>(m)) bytes += c->weight.numel() * 4;
        else if (auto* ql = dynamic_cast<QuantizedLinear*>(m)) bytes += ql->weight.numel() + ql->weight.scale.numel() * 4;
        else if (auto* qc = dynamic_cast<QuantizedConv2d*>(m)) bytes += qc->weight.numel() + qc->weight.scale.numel() * 4;
    }
    return bytes;
}

namespace {
// A quantized layer's tensors as the file names them: i.weight (I8) and
// its float companions. The writer and the reader share this list.
struct QuantizedEntry {
    std::string name;
    QTensor* q;      // the I8 tensor, or
    Tensor* values;  // an F32 one
    Shape shape;
};
std::vector<QuantizedEntry> quantized_entries(Sequential& model, const std::string& op) {
    std::vector<QuantizedEntry> entries;
    for (size_t i = 0; i < model.layers.size(); i++) {
        const std::string at = std::to_string(i) + ".";
        QTensor* w = nullptr;
        Tensor* bias = nullptr;
        if (auto* l = dynamic_cast<QuantizedLinear*>(model.layers[i].get())) w = &l->weight, bias = &l->bias;
        else if (auto* c = dynamic_cast<QuantizedConv2d*>(model.layers[i].get())) w = &c->weight, bias = &c->bias;
        else if (!model.layers[i]->named_parameters().empty())
            throw Error(op + ": layer " + std::to_string(i) + ", " + model.layers[i]->name() + ", is not quantized (quantize() the model first)");
        if (!w) continue;
        entries.push_back({at + "weight", w, nullptr, w->shape});
        entries.push_back({at + "weight_scale", nullptr, &w->scale, w->scale.shape()});
        if (bias->defined()) entries.push_back({at + "bias", nullptr, bias, bias->shape()});
        entries.push_back({at + "input_scale", nullptr, nullptr, {1}});
    }
    if (entries.empty()) throw Error(op + ": the model has no quantized layer");
    return entries;
}
float* input_scale_of_layer(Sequential& model, const std::string& name) {
    const size_t i = std::stoul(name.substr(0, name.find('.')));
    if (auto* l = dynamic_cast<QuantizedLinear*>(model.layers[i].get())) return &l->input_scale;
    return &dynamic_cast<QuantizedConv2d*>(model.layers[i].get())->input_scale;
}
} // namespace

void save_quantized(const std::string& path, Sequential& model) {
    const std::vector<QuantizedEntry> entries = quantized_entries(model, "save_quantized");
    const std::string where = "save_quantized: '" + path + "': ";
    std::string header = "{\"__metadata__\":{\"format\":\"tt quantized int8\"}";
    std::vector<unsigned char> data;
    for (const QuantizedEntry& e : entries) {
        const uint64_t begin = data.size();
        if (e.q) {
            data.insert(data.end(), (const unsigned char*)e.q->data(), (const unsigned char*)e.q->data() + e.q->numel());
        } else {
            const Tensor v = e.values ? e.values->contiguous() : Tensor({1}, {*input_scale_of_layer(model, e.name)});
            for (int64_t k = 0; k < v.numel(); k++) {
                unsigned char b[4];
                put_le32(v.data()[k], b);
                data.insert(data.end(), b, b + 4);
            }
        }
        std::string shape;
        for (int64_t d : e.shape) shape += (shape.empty() ? "" : ",") + std::to_string(d);
        header += "," + json_quote(e.name) + ":{\"dtype\":\"" + (e.q ? "I8" : "F32") + "\",\"shape\":[" + shape +
                  "],\"data_offsets\":[" + std::to_string(begin) + "," + std::to_string(data.size()) + "]}";
    }
    header += "}";
    header.append((8 - header.size() % 8) % 8, ' ');
    std::ofstream file(path, std::ios::binary | std::ios::trunc);
    if (!file) throw Error(where + "cannot open the file for writing");
    unsigned char length[8];
    for (int k = 0; k < 8; k++) length[k] = (unsigned char)((uint64_t)header.size() >> (8 * k));
    file.write((const char*)length, 8);
    file.write(header.data(), (std::streamsize)header.size());
    file.write((const char*)data.data(), (std::streamsize)data.size());
    if (!file.flush()) throw Error(where + "write failed (disk full?)");
}

// Lesson 08's reader checks the file's structure and reads I8 into floats
// exactly; here every name, dtype and shape is checked against the model
// before anything is copied.
void load_quantized(const std::string& path, Sequential& model) {
    const std::vector<QuantizedEntry> entries = quantized_entries(model, "load_quantized");
    const std::string where = "load_quantized: '" + path + "': ";
    const SafeTensors file = load_safetensors(path);
    std::vector<size_t> source(entries.size());
    for (size_t e = 0; e < entries.size(); e++) {
        size_t k = 0;
        while (k < file.tensors.size() && file.tensors[k].first != entries[e].name) k++;
        if (k == file.tensors.size()) throw Error(where + "has no tensor '" + entries[e].name + "'");
        const std::string want = entries[e].q ? "I8" : "F32";
        if (file.dtypes[k] != want)
            throw Error(where + "tensor '" + entries[e].name + "' is " + file.dtypes[k] + ", expected " + want);
        if (file.tensors[k].second.shape() != entries[e].shape)
            throw Error(where + "tensor '" + entries[e].name + "' has shape " + to_string(file.tensors[k].second.shape()) +
                        " but the model's is " + to_string(entries[e].shape));
        const bool is_scale = entries[e].name.find("scale") != std::string::npos;
        if (!entries[e].q)
            for (float v : file.tensors[k].second.to_vector())
                if (!std::isfinite(v) || (is_scale && v < 0))
                    throw Error(where + "tensor '" + entries[e].name + "' holds " + std::to_string(v) +
                                (is_scale ? ", not a scale (finite, >= 0)" : ", not a finite number"));
        source[e] = k;
    }
    if (file.tensors.size() != entries.size())
        throw Error(where + "holds " + std::to_string(file.tensors.size()) + " tensors, the model " + std::to_string(entries.size()));
    for (size_t e = 0; e < entries.size(); e++) {
        const Tensor& t = file.tensors[source[e]].second;
        if (entries[e].q)
            for (int64_t k = 0; k < t.numel(); k++) entries[e].q->data()[k] = (int8_t)t.data()[k];
        else if (entries[e].values)
            std::copy(t.data(), t.data() + t.numel(), entries[e].values->data());
        else
            *input_scale_of_layer(model, entries[e].name) = t.data()[0];
    }
}

// ===== Lesson 16 · Compression ===============================================
// Four parts: unstructured pruning with masks, CSR storage and its product,
// structured pruning of whole neurons, the SVD behind low-rank layers, and
// the distillation loss.

// Part 1, magnitude pruning. The weights are the parameters with two or more
// axes (a Linear's [out,in], a Conv2d's [O,C,k,k]); biases stay.

namespace {
std::vector<Tensor> prunable_weights(Module& model, const char* op) {
    std::vector<Tensor> weights;
    for (const Tensor& p : model.parameters())
        if (p.dim() >= 2) weights.push_back(p);
    if (weights.empty()) throw Error(std::string(op) + ": " + model.name() + " has no weight with two or more axes");
    return weights;
}
} // namespace

float measure_sparsity(const Tensor& t) {
    require_defined(t, "measure_sparsity");
    const Tensor d = t.contiguous();
    int64_t zeros = 0;
    for (int64_t i = 0, n = d.numel(); i < n; i++) zeros += d.data()[i] == 0.0f;
    return d.numel() ? (float)zeros / (float)d.numel() : 0.0f;
}

float measure_sparsity(Module& model) {
    int64_t zeros = 0, total = 0;
    for (const Tensor& w : prunable_weights(model, "measure_sparsity")) {
        zeros += (int64_t)std::llround(measure_sparsity(w) * (double)w.numel());
        total += w.numel();
    }
    return (float)zeros / (float)total;
}

void PruningMasks::apply() const {
    for (size_t i = 0; i < weights.size(); i++) {
        float* w = weights[i].data();
        const float* m = masks[i].data();
        for (int64_t k = 0, n = weights[i].numel(); k < n; k++) w[k] *= m[k];
    }
}

PruningMasks magnitude_prune(Module& model, float sparsity, bool global) {
    if (!(sparsity >= 0.0f && sparsity < 1.0f))
        throw Error("magnitude_prune: sparsity must be in [0, 1), got " + std::to_string(sparsity));
    PruningMasks out;
    out.weights = prunable_weights(model, "magnitude_prune");
    for (const Tensor& w : out.weights) {
        if (!w.is_contiguous()) throw Error("magnitude_prune: a weight is not contiguous");
        MemoryCategory parameters(Category::Parameters);
        out.masks.push_back(Tensor::ones(w.shape()));
    }
    // The candidates: (layer, index) of every weight (global), or of one layer at a time.
    std::vector<std::vector<std::pair<size_t, int64_t>>> groups;
    if (global) groups.emplace_back();
    for (size_t l = 0; l < out.weights.size(); l++) {
        if (!global) groups.emplace_back();
        for (int64_t k = 0; k < out.weights[l].numel(); k++) groups.back().push_back({l, k});
    }
    for (auto& group : groups) {
        const int64_t pruned = (int64_t)((double)sparsity * (double)group.size()); // floor
        auto magnitude = [&](const std::pair<size_t, int64_t>& at) { return std::fabs(out.weights[at.first].data()[at.second]); };
        // BEGIN SOLUTION Lesson 16: magnitude_prune: the `pruned` smallest |w| of the group get mask 0
        if (pruned > 0) {
            std::nth_element(group.begin(), group.begin() + (pruned - 1), group.end(),
                             [&](const auto& a, const auto& b) { return magnitude(a) < magnitude(b); });
            for (int64_t k = 0; k < pruned; k++) out.masks[group[(size_t)k].first].data()[group[(size_t)k].second] = 0.0f;
        }
        // END SOLUTION
    }
    out.apply();
    return out;
}

// Part 2, CSR. For y = x @ W^T the loop runs over W's nonzeros: for each
// (o, k, v), y[:, o] += v * x[:, k], a multiply-add over the batch that
// vectorises when x is stored transposed (xt [in, B], yt [out, B]). Per
// nonzero it loads a row of xt and updates a row of yt, where the dense
// kernel keeps C in registers: so CSR wins only at high sparsity (the demo
// measures where).

int64_t CsrMatrix::bytes() const { return 4 * nnz() + 4 * nnz() + 4 * (int64_t)row_start.size(); }

CsrMatrix to_csr(const Tensor& w) {
    require_defined(w, "to_csr");
    if (w.dim() != 2) throw Error("to_csr: expects a matrix [rows, cols], got " + to_string(w.shape()));
    if (w.numel() > std::numeric_limits<int32_t>::max()) throw Error("to_csr: more than 2^31 elements");
    const Tensor d = w.contiguous();
    CsrMatrix m;
    m.rows = d.size(0), m.cols = d.size(1);
    std::vector<float> values;
    m.row_start.push_back(0);
    for (int64_t r = 0; r < m.rows; r++) {
        for (int64_t c = 0; c < m.cols; c++)
            if (const float v = d.data()[r * m.cols + c]; v != 0.0f) values.push_back(v), m.column.push_back((int32_t)c);
        m.row_start.push_back((int32_t)m.column.size());
    }
    m.values = new_tensor({(int64_t)values.size()}, "to_csr");
    std::copy(values.begin(), values.end(), m.values.data());
    return m;
}

Tensor from_csr(const CsrMatrix& m) {
    Tensor w = new_tensor({m.rows, m.cols}, "from_csr");
    for (int64_t r = 0; r < m.rows; r++)
        for (int32_t p = m.row_start[(size_t)r]; p < m.row_start[(size_t)r + 1]; p++)
            w.data()[r * m.cols + m.column[(size_t)p]] = m.values.data()[p];
    return w;
}

Tensor sparse_linear(const Tensor& x, const CsrMatrix& w, const Tensor& bias) {
    if (!x.defined() || x.dim() != 2 || x.size(1) != w.cols)
        throw Error("sparse_linear: expects x [B," + std::to_string(w.cols) + "] for W [" + std::to_string(w.rows) + "," +
                    std::to_string(w.cols) + "], got " + (x.defined() ? to_string(x.shape()) : std::string("undefined")));
    if (bias.defined() && (bias.dim() != 1 || bias.size(0) != w.rows))
        throw Error("sparse_linear: bias must be [" + std::to_string(w.rows) + "], got " + to_string(bias.shape()));
    const int64_t B = x.size(0);
    const Tensor xt = x.transpose(0, 1).contiguous(); // [in, B]
    Tensor yt = new_tensor({w.rows, B}, "sparse_linear");
    const float* values = w.values.data();
    parallel_for(ceil_div(w.rows, 16), [&](int64_t chunk) {
        for (int64_t o = chunk * 16; o < std::min(w.rows, chunk * 16 + 16); o++) {
            float* y = yt.data() + o * B;
            const float b = bias.defined() ? bias.data()[o] : 0.0f;
            for (int64_t i = 0; i < B; i++) y[i] = b;
            for (int32_t p = w.row_start[(size_t)o]; p < w.row_start[(size_t)o + 1]; p++) {
                const float v = values[p];
                const float* xr = xt.data() + (int64_t)w.column[(size_t)p] * B;
                for (int64_t i = 0; i < B; i++) y[i] += v * xr[i];
            }
        }
    });
    return yt.transpose(0, 1).contiguous();
}

// Part 3, structured pruning: neuron o of a hidden Linear is row o of its
// weight, its bias o, and column o of the next Linear's weight; removing all
// three leaves a smaller dense model computing the same thing without that
// neuron. Which to remove: the rows with the smallest L2 norm.

std::shared_ptr<Sequential> prune_neurons(Sequential& model, float keep) {
    if (!(keep > 0.0f && keep <= 1.0f)) throw Error("prune_neurons: keep must be in (0, 1], got " + std::to_string(keep));
    std::vector<size_t> linears;
    for (size_t i = 0; i < model.layers.size(); i++) {
        if (dynamic_cast<Linear*>(model.layers[i].get())) linears.push_back(i);
        else if (!model.layers[i]->parameters().empty())
            throw Error("prune_neurons: layer " + std::to_string(i) + ", " + model.layers[i]->name() +
                        ", is not a Linear (only a Sequential of Linear layers and activations is supported)");
    }
    if (linears.size() < 2) throw Error("prune_neurons: needs two or more Linear layers (a hidden layer to prune)");
    auto out = std::make_shared<Sequential>();
    std::vector<int64_t> previous_kept; // the previous Linear's kept neurons: this one's kept columns
    Generator unused(0);
    for (size_t i = 0; i < model.layers.size(); i++) {
        auto* layer = dynamic_cast<Linear*>(model.layers[i].get());
        if (!layer) {
            out->add(model.layers[i]);
            continue;
        }
        const bool last = i == linears.back();
        const Tensor w = layer->weight.contiguous();
        const int64_t rows = layer->out_features, in = layer->in_features;
        std::vector<int64_t> kept(rows), columns = previous_kept;
        std::iota(kept.begin(), kept.end(), 0);
        if (columns.empty()) columns.resize(in), std::iota(columns.begin(), columns.end(), 0);
        if (!last) {
            std::vector<double> norm(rows, 0.0);
            for (int64_t o = 0; o < rows; o++)
                for (int64_t k = 0; k < in; k++) norm[o] += (double)w.data()[o * in + k] * w.data()[o * in + k];
            const int64_t keep_rows = std::max<int64_t>(1, (int64_t)std::ceil((double)keep * rows));
            std::stable_sort(kept.begin(), kept.end(), [&](int64_t a, int64_t b) { return norm[a] > norm[b]; });
            kept.resize(keep_rows);
            std::sort(kept.begin(), kept.end());
        }
        auto smaller = std::make_shared<Linear>((int64_t)columns.size(), (int64_t)kept.size(), layer->bias.defined(),
                                                Init::Kaiming, unused);
        for (size_t r = 0; r < kept.size(); r++) {
            for (size_t c = 0; c < columns.size(); c++)
                smaller->weight.data()[r * columns.size() + c] = w.data()[kept[r] * in + columns[c]];
            if (layer->bias.defined()) smaller->bias.data()[r] = layer->bias.contiguous().data()[kept[r]];
        }
        out->add(smaller);
        previous_kept = kept;
    }
    return out;
}

// Part 4, the SVD by one-sided Jacobi (Hestenes): rotate pairs of columns of
// A until every pair is orthogonal; then A V = U S with the column norms as
// S. Each rotation of columns p, q with a = |a_p|^2, b = |a_q|^2,
// g = a_p . a_q makes them orthogonal:
//   zeta = (b - a) / 2g,  t = sign(zeta) / (|zeta| + sqrt(1 + zeta^2)),
//   c = 1 / sqrt(1 + t^2), s = c t;  a_p <- c a_p - s a_q,  a_q <- s a_p + c a_q
// and the same rotation of V's columns. Sweeps over all pairs converge
// quadratically once close. Cost: n^2/2 pairs x 3 dot products of length m
// per sweep, in double. A wide matrix (m < n) is done as its transpose.

Svd svd(const Tensor& a, int max_sweeps) {
    require_defined(a, "svd");
    if (a.dim() != 2 || a.numel() == 0) throw Error("svd: expects a non-empty matrix [m, n], got " + to_string(a.shape()));
    if (a.size(0) < a.size(1)) {
        Svd t = svd(a.transpose(0, 1), max_sweeps);
        return {t.V, t.S, t.U};
    }
    const int64_t m = a.size(0), n = a.size(1);
    const Tensor d = a.contiguous();
    std::vector<double> A((size_t)(m * n)), V((size_t)(n * n), 0.0); // columns contiguous: A[j*m + i]
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < n; j++) {
            if (!std::isfinite(d.data()[i * n + j])) throw Error("svd: the matrix holds NaN or infinity");
            A[(size_t)(j * m + i)] = d.data()[i * n + j];
        }
    for (int64_t j = 0; j < n; j++) V[(size_t)(j * n + j)] = 1.0;
    for (int sweep = 0; sweep < max_sweeps; sweep++) {
        bool rotated = false;
        for (int64_t p = 0; p < n - 1; p++)
            for (int64_t q = p + 1; q < n; q++) {
                double* ap = &A[(size_t)(p * m)];
                double* aq = &A[(size_t)(q * m)];
                double alpha = 0, beta = 0, gamma = 0;
                for (int64_t i = 0; i < m; i++) alpha += ap[i] * ap[i], beta += aq[i] * aq[i], gamma += ap[i] * aq[i];
                if (std::fabs(gamma) <= 1e-15 * std::sqrt(alpha * beta) || gamma == 0) continue;
                rotated = true;
                double* vp = &V[(size_t)(p * n)];
                double* vq = &V[(size_t)(q * n)];
                // BEGIN SOLUTION Lesson 16: svd: one Jacobi rotation that makes columns p and q orthogonal
                const double zeta = (beta - alpha) / (2 * gamma);
                const double t = (zeta >= 0 ? 1.0 : -1.0) / (std::fabs(zeta) + std::sqrt(1 + zeta * zeta));
                const double c = 1 / std::sqrt(1 + t * t), s = c * t;
                for (int64_t i = 0; i < m; i++) {
                    const double x = ap[i], y = aq[i];
                    ap[i] = c * x - s * y, aq[i] = s * x + c * y;
                }
                for (int64_t i = 0; i < n; i++) {
                    const double x = vp[i], y = vq[i];
                    vp[i] = c * x - s * y, vq[i] = s * x + c * y;
                }
                // END SOLUTION
            }
        if (!rotated) break;
    }
    std::vector<double> sigma((size_t)n);
    for (int64_t j = 0; j < n; j++) {
        double norm = 0;
        for (int64_t i = 0; i < m; i++) norm += A[(size_t)(j * m + i)] * A[(size_t)(j * m + i)];
        sigma[(size_t)j] = std::sqrt(norm);
    }
    std::vector<int64_t> order((size_t)n);
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](int64_t x, int64_t y) { return sigma[(size_t)x] > sigma[(size_t)y]; });
    Svd out{new_tensor({m, n}, "svd"), new_tensor({n}, "svd"), new_tensor({n, n}, "svd")};
    const double tiny = 1e-12 * std::max(1.0, sigma[(size_t)order[0]]);
    for (int64_t r = 0; r < n; r++) {
        const int64_t j = order[(size_t)r];
        const double s = sigma[(size_t)j];
        out.S.data()[r] = (float)s;
        for (int64_t i = 0; i < m; i++) out.U.data()[i * n + r] = s > tiny ? (float)(A[(size_t)(j * m + i)] / s) : 0.0f;
        for (int64_t i = 0; i < n; i++) out.V.data()[i * n + r] = (float)V[(size_t)(j * n + i)];
    }
    return out;
}

int64_t rank_for_energy(const Tensor& S, float fraction) {
    require_defined(S, "rank_for_energy");
    if (!(fraction > 0.0f && fraction <= 1.0f)) throw Error("rank_for_energy: fraction must be in (0, 1], got " + std::to_string(fraction));
    const std::vector<float> s = S.to_vector();
    double total = 0, running = 0;
    for (float v : s) total += (double)v * v;
    for (size_t r = 0; r < s.size(); r++) {
        running += (double)s[r] * s[r];
        if (running >= fraction * total * (1 - 1e-9)) return (int64_t)r + 1;
    }
    return (int64_t)s.size();
}

std::shared_ptr<Sequential> low_rank(const Linear& layer, int64_t rank) {
    const int64_t out_features = layer.out_features, in_features = layer.in_features;
    if (rank < 1 || rank > std::min(out_features, in_features))
        throw Error("low_rank: rank must be in [1, " + std::to_string(std::min(out_features, in_features)) + "] for " +
                    layer.name() + ", got " + std::to_string(rank));
    const Svd f = svd(layer.weight.detach());
    const int64_t r_all = f.S.numel();
    Generator unused(0);
    auto first = std::make_shared<Linear>(in_features, rank, false, Init::Kaiming, unused);
    auto second = std::make_shared<Linear>(rank, out_features, layer.bias.defined(), Init::Kaiming, unused);
    for (int64_t r = 0; r < rank; r++) {
        for (int64_t k = 0; k < in_features; k++) first->weight.data()[r * in_features + k] = f.V.data()[k * r_all + r];
        for (int64_t o = 0; o < out_features; o++)
            second->weight.data()[o * rank + r] = f.U.data()[o * r_all + r] * f.S.data()[r];
    }
    if (layer.bias.defined()) std::copy(layer.bias.contiguous().data(), layer.bias.contiguous().data() + out_features, second->bias.data());
    auto out = std::make_shared<Sequential>();
    out->add(first);
    out->add(second);
    return out;
}

// Part 5, distillation. A teacher's softmax at temperature T > 1 spreads
// probability over the wrong classes in proportion to how wrong they look
// (a 7 that could be a 1): more information per example than the one-hot
// label. The student matches it: KL(p_t || p_s) with p = softmax(z / T); its
// gradient scales as 1/T^2, hence the factor T^2 (Hinton et al., 2015).
// Every piece is an op with a backward, so the tape differentiates it.

Tensor distillation_loss(const Tensor& student_logits, const Tensor& teacher_logits, const Tensor& targets,
                         float temperature, float alpha) {
    if (!student_logits.defined() || !teacher_logits.defined() || student_logits.dim() != 2 ||
        student_logits.shape() != teacher_logits.shape())
        throw Error("distillation_loss: student and teacher logits must both be [B,C], got " +
                    (student_logits.defined() ? to_string(student_logits.shape()) : std::string("undefined")) + " and " +
                    (teacher_logits.defined() ? to_string(teacher_logits.shape()) : std::string("undefined")));
    if (!(temperature > 0.0f) || !(alpha >= 0.0f && alpha <= 1.0f))
        throw Error("distillation_loss: temperature must be > 0 and alpha in [0, 1], got T=" + std::to_string(temperature) +
                    " alpha=" + std::to_string(alpha));
    const Tensor teacher = teacher_logits.detach();
    const float batch = (float)student_logits.size(0);
    Tensor loss;
    // BEGIN SOLUTION Lesson 16: distillation_loss: T^2 * KL of the softened distributions, mixed with the hard loss
    const Tensor p_teacher = softmax(teacher / temperature), log_p_teacher = log_softmax(teacher / temperature);
    const Tensor kl = sum(p_teacher * (log_p_teacher - log_softmax(student_logits / temperature))) / batch;
    loss = alpha * temperature * temperature * kl + (1 - alpha) * cross_entropy(student_logits, targets);
    // END SOLUTION
    return loss;
}

// ===== Lesson 17 · Acceleration ==============================================
// Two parts: a thread pool (workers that sleep between jobs, so a job costs a
// wake-up, not a thread start), and the Goto-style kernel that makes one core
// fast and then shares blocks of C among the pool's threads.

// Part 1, the thread pool. A job is n numbered calls; the workers and the
// caller take numbers from one atomic counter until none are left. Waking a
// sleeping thread costs far less than starting one, but still 10-100 us in
// a virtual machine, and a training step of a small model is a run of jobs
// a few microseconds apart. So a worker that finishes a job first watches
// for the next one for a short while (kSpin), and only then goes to sleep;
// the caller, too, watches for the workers to finish before it sleeps.
// Cost: up to kSpin of a core's time after each job, spent waiting.

namespace {
thread_local bool inside_pool_task = false; // a nested parallel_for runs in order
constexpr auto kSpin = std::chrono::microseconds(200);

// Returns once done() is true or kSpin has passed; says which.
template <class Done>
bool spin_until(Done done) {
    const auto give_up = std::chrono::steady_clock::now() + kSpin;
    for (int i = 1;; i++) {
        if (done()) return true;
        if (i % 256 == 0 && std::chrono::steady_clock::now() > give_up) return false;
    }
}

class ThreadPool {
public:
    explicit ThreadPool(int threads) {
        for (int t = 1; t < threads; t++) workers.emplace_back([this] { work(); });
    }
    ~ThreadPool() {
        {
            std::lock_guard<std::mutex> lock(mutex);
            stopping = true;
        }
        wake.notify_all();
        for (std::thread& w : workers) w.join();
    }
    // The caller must hold pool_mutex below: one job at a time.
    void run(int64_t n, const std::function<void(int64_t)>& f) {
        job = &f;
        calls = n;
        next_call = 0;
        failure = nullptr;
        busy = (int)workers.size();
        {
            std::lock_guard<std::mutex> lock(mutex); // a worker going to sleep sees the new job, or is woken
            generation++;
        }
        wake.notify_all();
        take_calls();
        if (!spin_until([this] { return busy.load() == 0; })) {
            std::unique_lock<std::mutex> lock(mutex);
            done.wait(lock, [this] { return busy.load() == 0; });
        }
        if (failure) std::rethrow_exception(failure);
    }

private:
    // A call that throws (a tt::Error from an op, say) ends the job: the
    // calls not yet taken are skipped, and once every thread has left the
    // job the caller rethrows the first exception. Without this it would
    // escape a worker thread and end the program.
    void take_calls() {
        inside_pool_task = true;
        for (int64_t i; (i = next_call.fetch_add(1)) < calls;) {
            try {
                (*job)(i);
            } catch (...) {
                std::lock_guard<std::mutex> lock(mutex);
                if (!failure) failure = std::current_exception();
                next_call = calls;
            }
        }
        inside_pool_task = false;
    }
    void work() {
        uint64_t seen = 0;
        for (;;) {
            if (!spin_until([&] { return generation.load() != seen; })) {
                std::unique_lock<std::mutex> lock(mutex);
                wake.wait(lock, [&] { return stopping || generation.load() != seen; });
                if (stopping) return;
            }
            seen = generation.load();
            take_calls();
            if (busy.fetch_sub(1) == 1) {
                std::lock_guard<std::mutex> lock(mutex); // the caller checks busy under it, then sleeps
                done.notify_one();
            }
        }
    }
    std::vector<std::thread> workers;
    std::mutex mutex;
    std::condition_variable wake, done;
    const std::function<void(int64_t)>* job = nullptr; // written before generation moves on
    int64_t calls = 0;
    std::atomic<int64_t> next_call{0};
    std::atomic<int> busy{0};               // workers still on the current job
    std::atomic<uint64_t> generation{0};    // counts jobs, so a worker never runs one twice
    std::exception_ptr failure;             // the job's first exception, under mutex
    bool stopping = false;
};

std::mutex pool_mutex;              // guards the pool, and makes jobs take turns
std::unique_ptr<ThreadPool> pool;   // started on the first parallel job
std::atomic<int> pool_threads{0};   // 0: not decided yet. Atomic, not under pool_mutex:
                                    // a gemm inside a running job must read it too

} // namespace

int threads_setting(const char* value) {
    if (!value || !*value) return std::max(1, (int)std::thread::hardware_concurrency());
    // digits only (no sign, no spaces), stopping before a value past 1024 can overflow
    int n = 0;
    for (const char* c = value; *c; c++) {
        if (*c < '0' || *c > '9' || n > 1024) { n = 0; break; }
        n = n * 10 + (*c - '0');
    }
    if (n < 1 || n > 1024)
        throw Error("TT_THREADS='" + std::string(value) + "' is not a number of threads (want a whole number from 1 to 1024)");
    return n;
}

void check_environment() {
    memory_limit_setting(std::getenv("TT_MEM_LIMIT"));
    threads_setting(std::getenv("TT_THREADS"));
}

void set_num_threads(int n) {
    if (n < 1 || n > 1024) throw Error("set_num_threads: want 1 to 1024 threads, got " + std::to_string(n));
    std::lock_guard<std::mutex> lock(pool_mutex); // waits for a running job to finish
    if (n == pool_threads) return;                // keep the threads we have
    pool.reset();
    pool_threads = n;
}

int get_num_threads() {
    int n = pool_threads.load();
    if (n) return n;
    int undecided = 0;
    pool_threads.compare_exchange_strong(undecided, threads_setting(std::getenv("TT_THREADS")));
    return pool_threads.load();
}

void parallel_for_pool(int64_t n, const std::function<void(int64_t)>& f) {
    if (n <= 1 || inside_pool_task || get_num_threads() == 1) {
        for (int64_t i = 0; i < n; i++) f(i);
        return;
    }
    std::lock_guard<std::mutex> lock(pool_mutex);
    if (!pool) pool = std::make_unique<ThreadPool>(get_num_threads());
    pool->run(n, f);
}

#endif // TT_PART != 2

// Part 2, the kernel. Loops, outermost first (Goto's; BLIS names them the same):
//   jc  columns of C in blocks whose packed B fits kPackedB floats (4 MiB)
//   pack B[K, jc block] into panels of NR columns, in parallel
//   --- one task per block of C (at most MC rows x a share of the columns), in parallel:
//   pc  K in slices of KC, always in the same order (the sum's order is fixed)
//       pack A[MC, KC] into panels of MR rows (a quarter of the L2 cache)
//   jr  each KC x NR panel of packed B (it fills the L1 cache) meets...
//   ir  ...every MR-row panel of packed A in the micro-kernel:
//       an MR x NR tile of C held in float accumulators (vector registers).
// Per k step the micro-kernel loads MR + NR floats and does MR*NR multiply-adds
// (8x32: 256 per 40 loads), which is what lets it run near the core's peak.
// Packing also turns any strides (a transposed view) into unit-stride reads,
// and pads ragged edges with zeros so the micro-kernel has no edge cases.
//
// The register tile is the one number that depends on the instruction set.
// The accumulators, one row of B (NR/VF vectors of VF floats) and a broadcast
// of A must all fit in the registers, or the compiler spills the tile to the
// stack and every multiply-add waits on a load and a store. So each ISA gets
// its own tile (MR x NR; VF floats per vector; registers):
//   AVX-512   8 x 32   16 accumulators + 2 of B + 1 broadcast of A  of 32 zmm
//   AVX2+FMA  4 x 24   12 + 3 + 1                                  of 16 ymm
//   SSE2      8 x 4    8 + 1 + 1, and temporaries: no FMA, so a
//                      multiply and an add                         of 16 xmm
//   NEON      6 x 8    12 + 2 + 2 (A read as vectors, used by lane) of 32 q
//   VFP       6 x 4    24 scalar accumulators, A and B as they come of 32 s
//   (other)   3 x 4    12 scalar accumulators                       of 16 assumed
// These are the tiles g++ 12 keeps in registers, checked in the object code
// (.ci/run: no load or store relative to the stack pointer in the k loop).
// Others that fit on paper are spilled by the compiler's vectorizer: 6x16
// and 8x8 on AVX2, 6x8 on SSE2, 8x12 and 8x8 on NEON (the accumulators are
// stored to the stack on every k step, or left in scalar registers).
// and the blocking follows from the tile and from the caches (assumed: 32 KiB
// of L1 data and at least 512 KiB of L2 per core, as on every x86-64 core
// since 2013 and the Pi 4 and 5's Cortex-A72/A76):
//   KC: a KC x NR panel of packed B fills the L1: 32768 / (4 bytes * NR),
//       between 128 and 512 (AVX-512 256, AVX2 336, NEON 512, SSE2 512)
//   MC: an MC x KC block of packed A fills a quarter of the L2, whole MR panels
//   NC: a block of packed B fits kPackedB floats (4 MiB, in the L3 cache)
// Which tile runs: a g++ build for x86-64 compiles the kernel three times
// (target attributes, as TT_VECTOR_CLONES does) and picks the CPU's best when
// the program starts; every other build has the one tile its target macros
// select (-march=native, ARCH=-march=x86-64-v3, aarch64, armhf, clang).
//
// A training step is mostly small products (a batch of 64 rows; a conv's
// 6 or 16 output channels per image), where the packing is the cost, not the
// multiply-adds. So: with at most 64 rows, B with unit-stride rows is read in
// place, not packed; A is packed once when several tasks share its rows;
// products below ~200^3 multiply-adds stay on one thread, and tiny ones go
// to the naive loop. `bench shapes` times each such product both ways.
//
// Scratch: packed B is at most kPackedB floats (4 MiB; K*NR if K is larger
// than 32768 * 32 / NR), held by the calling thread, or by each thread for
// its own columns when there is one block of rows; packed A is MC*KC floats
// (a quarter of the L2) per thread, or all of A (M rounded up to MR, times K;
// at most kPackedB) when it is shared.
// All are plain thread-local buffers that grow and are kept, not tracked
// tensors: gemm runs inside ops on every step, and a fresh allocation per
// call would cost page faults and show up as allocations of every op.

#if TT_PART != 1 // (the kernels' object, TT_PART=2, starts here; see the head of the file)
#if TT_PART == 2
namespace {
int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; } // Lesson 09's, which this object does not see
} // namespace
#endif

namespace {
constexpr int64_t kL1Bytes = 32 * 1024, kL2Bytes = 512 * 1024;
constexpr int64_t kPackedB = int64_t(1) << 20;
// Where the kernel changes its approach (multiply-adds; rows of A): see `bench shapes`.
constexpr double kTinyProduct = 16.0 * 16 * 16;
constexpr double kSmallProduct = 200.0 * 200 * 200;
constexpr int64_t kDirectRows = 64;

constexpr int64_t kc_for(int64_t nr) {
    const int64_t kc = kL1Bytes / (4 * nr);
    return kc < 128 ? 128 : kc > 512 ? 512 : kc / 16 * 16;
}
constexpr int64_t mc_for(int64_t mr, int64_t kc) { return kL2Bytes / 4 / (4 * kc) / mr * mr; }

// g++ inlines a plain function into a function of another target only when
// forced; otherwise every ISA's copy would call the one baseline micro-kernel.
#if defined(__GNUC__)
#define TT_FORCE_INLINE inline __attribute__((always_inline))
#else
#define TT_FORCE_INLINE inline
#endif

// A buffer that grows and is kept: 64-byte aligned (a cache line, an AVX-512 vector).
struct PackBuffer {
    std::unique_ptr<float[]> memory;
    int64_t capacity = 0;
    float* get(int64_t n) {
        if (n > capacity) {
            memory.reset(new float[n + 16]);
            capacity = n;
        }
        const uintptr_t p = reinterpret_cast<uintptr_t>(memory.get());
        return reinterpret_cast<float*>((p + 63) & ~uintptr_t(63));
    }
};

// A[mc, kc] (any strides) -> panels of MR rows; panel p holds element (r, k)
// at p*MR*kc + k*MR + r, the order the micro-kernel reads. Rows past mc are 0.
template <int64_t MR>
void pack_a(int64_t mc, int64_t kc, const float* A, int64_t rsA, int64_t csA, float* packed) {
    // BEGIN SOLUTION Lesson 17: pack_a: A's rows in panels of MR, in the micro-kernel's order
    for (int64_t i0 = 0; i0 < mc; i0 += MR, packed += MR * kc) {
        const int64_t rows = std::min(MR, mc - i0);
        for (int64_t k = 0; k < kc; k++)
            for (int64_t r = 0; r < MR; r++) packed[k * MR + r] = r < rows ? A[(i0 + r) * rsA + k * csA] : 0.0f;
    }
    // END SOLUTION
}

// B[kc, nc] (any strides) -> panels of NR columns; panel p holds (k, j) at
// p*NR*kc + k*NR + j, and columns past nc are 0. The loops follow B's unit
// stride: along whole rows for a row-major B (one read stream, not one jump
// per NR floats), down columns for a transposed view (W^T in linear). In a
// batch-64 MLP each element of B is used only 64 times, so a slow pack would
// cost as much as the multiply.
template <int64_t NR>
void pack_b(int64_t kc, int64_t nc, const float* B, int64_t rsB, int64_t csB, float* packed) {
    // BEGIN SOLUTION Lesson 17: pack_b: B's columns in panels of NR, following B's unit stride
    const int64_t panels = ceil_div(nc, NR);
    if (nc % NR) std::fill(packed + (panels - 1) * NR * kc, packed + panels * NR * kc, 0.0f);
    if (csB == 1) {
        for (int64_t k = 0; k < kc; k++)
            for (int64_t p = 0; p < panels; p++) {
                const float* from = B + k * rsB + p * NR;
                float* to = packed + p * NR * kc + k * NR;
                const int64_t nr = std::min(NR, nc - p * NR);
                for (int64_t j = 0; j < nr; j++) to[j] = from[j];
            }
    } else {
        // a transpose, in blocks of 16 rows of a panel (in L1) so the
        // scattered writes land in lines just written
        for (int64_t p = 0; p < panels; p++) {
            const int64_t nr = std::min(NR, nc - p * NR);
            for (int64_t k0 = 0; k0 < kc; k0 += 16)
                for (int64_t j = 0; j < nr; j++)
                    for (int64_t k = k0; k < std::min(kc, k0 + 16); k++)
                        packed[p * NR * kc + k * NR + j] = B[k * rsB + (p * NR + j) * csB];
        }
    }
    // END SOLUTION
}

// C[mr, nr] (+)= a[MR, kc] @ b[kc, NR]: kc rank-1 updates of an MR x NR tile.
// b's rows are ldb apart: NR in a packed panel, B's own row stride when B is
// read in place. The fixed trip counts let the compiler unroll i, vectorise j
// and keep acc in registers (MR*NR/VF of them: see the table above).
template <int64_t MR, int64_t NR>
TT_FORCE_INLINE void micro_kernel(int64_t kc, const float* __restrict a, const float* __restrict b, int64_t ldb,
                                  float* __restrict C, int64_t ldc, int64_t mr, int64_t nr, bool accumulate) {
    // BEGIN SOLUTION Lesson 17: micro_kernel: an MR x NR tile of C in registers, kc rank-1 updates
    float acc[MR][NR] = {};
    for (int64_t k = 0; k < kc; k++, a += MR, b += ldb)
        for (int64_t i = 0; i < MR; i++)
            for (int64_t j = 0; j < NR; j++) acc[i][j] += a[i] * b[j];
    for (int64_t i = 0; i < mr; i++) {
        float* c = C + i * ldc;
        if (accumulate)
            for (int64_t j = 0; j < nr; j++) c[j] += acc[i][j];
        else
            for (int64_t j = 0; j < nr; j++) c[j] = acc[i][j];
    }
    // END SOLUTION
}

// C[mc, nc] (+)= packed A [mc, kc] @ B [kc, nc], where B's panel p (NR
// columns) starts at b + p*panel_step with rows ldb apart. jr outside, ir
// inside: one B panel stays in L1 while every A panel passes it.
template <int64_t MR, int64_t NR>
TT_FORCE_INLINE void macro_kernel(int64_t mc, int64_t nc, int64_t kc, const float* packed_a, const float* b,
                                  int64_t ldb, int64_t panel_step, float* C, int64_t ldc, bool accumulate) {
    for (int64_t j = 0; j < nc; j += NR)
        for (int64_t i = 0; i < mc; i += MR)
            micro_kernel<MR, NR>(kc, packed_a + i * kc, b + j / NR * panel_step, ldb, C + i * ldc + j, ldc,
                                 std::min(MR, mc - i), std::min(NR, nc - j), accumulate);
}

// The roofline's ceiling: ROWS x COLS accumulators, acc = acc * m + s, the
// same shape of loop as the micro-kernel's (rows unrolled, columns in vector
// registers) so that the compiler keeps them all in registers: ROWS*COLS/VF
// independent chains of multiply-adds. m comes from a 16-row table in L1,
// below 1 so the sums settle instead of overflowing, and a load the compiler
// cannot move out of the loop (with no load at all g++ swaps the loops and
// runs each chain to its end alone, one dependent multiply-add after another).
template <int64_t ROWS, int64_t COLS>
TT_FORCE_INLINE float multiply_add_chains_of(int64_t steps) {
    float acc[ROWS][COLS], table[16][COLS];
    for (int64_t i = 0; i < ROWS; i++)
        for (int64_t v = 0; v < COLS; v++) acc[i][v] = 0.001f * (float)(i * COLS + v);
    for (int64_t r = 0; r < 16; r++)
        for (int64_t v = 0; v < COLS; v++) table[r][v] = 0.999f - 0.0001f * (float)(r + v % 7);
    const float s = 1e-4f;
    for (int64_t step = 0; step < steps; step++) {
        const float* m = table[step & 15];
        for (int64_t i = 0; i < ROWS; i++)
            for (int64_t v = 0; v < COLS; v++) acc[i][v] = acc[i][v] * m[v] + s;
    }
    float total = 0;
    for (auto& row : acc)
        for (float v : row) total += v;
    return total;
}

// One ISA's tile: its numbers (tt.h) and its code.
using MacroKernel = void (*)(int64_t mc, int64_t nc, int64_t kc, const float* packed_a, const float* b, int64_t ldb,
                             int64_t panel_step, float* C, int64_t ldc, bool accumulate);
using PackA = void (*)(int64_t mc, int64_t kc, const float* A, int64_t rsA, int64_t csA, float* packed);
using PackB = void (*)(int64_t kc, int64_t nc, const float* B, int64_t rsB, int64_t csB, float* packed);
struct TileCode {
    GemmTile tile;
    MacroKernel macro_kernel;
    PackA pack_a;
    PackB pack_b;
    float (*chains)(int64_t steps);
};

// A tile's numbers from its shape: blocking per the rules above.
GemmTile tile_numbers(const char* isa, int64_t mr, int64_t nr, int64_t vf, int64_t registers, int64_t chains) {
    GemmTile t;
    t.isa = isa;
    t.mr = mr, t.nr = nr, t.vector_floats = vf, t.registers = registers, t.peak_chains = chains;
    t.kc = kc_for(nr);
    t.mc = mc_for(mr, t.kc);
    return t;
}

// Each ISA's code is the same templates compiled for its target: the x86
// clones carry a target attribute, the build's own tile needs none. One line
// per tile gives its shape and makes its functions and its table entry.
#define TT_TILE(ATTRIBUTE, NAME, ISA, MR, NR, VF, REGISTERS, ROWS, COLS)                                          \
    ATTRIBUTE void macro_kernel_##NAME(int64_t mc, int64_t nc, int64_t kc, const float* a, const float* b,   \
                                       int64_t ldb, int64_t step, float* C, int64_t ldc, bool accumulate) {    \
        macro_kernel<MR, NR>(mc, nc, kc, a, b, ldb, step, C, ldc, accumulate);                                \
    }                                                                                                         \
    ATTRIBUTE float chains_##NAME(int64_t steps) { return multiply_add_chains_of<ROWS, COLS>(steps); }       \
    TileCode tile_##NAME() {                                                                                  \
        return {tile_numbers(ISA, MR, NR, VF, REGISTERS, ROWS * COLS / VF), macro_kernel_##NAME, pack_a<MR>,   \
                pack_b<NR>, chains_##NAME};                                                                   \
    }

// The last two numbers shape the peak loop: rows x columns of accumulators.
//                                                  isa         MR  NR  VF  regs  peak loop
#if TT_HAS_CLONES
TT_TILE(__attribute__((target("arch=x86-64-v4"))), avx512, "avx512",    8, 32, 16, 32,  8, 48)
TT_TILE(__attribute__((target("arch=x86-64-v3"))), avx2,   "avx2+fma",  4, 24,  8, 16,  4, 24)
#endif
// The build's own tile, from the compiler's target macros.
#if defined(__AVX512F__)
TT_TILE(, build, "avx512",    8, 32, 16, 32,  8, 48)
#elif defined(__AVX2__) && defined(__FMA__)
TT_TILE(, build, "avx2+fma",  4, 24,  8, 16,  4, 24)
#elif defined(__aarch64__)
TT_TILE(, build, "neon",      6,  8,  4, 32, 12,  8)
#elif defined(__SSE2__)
TT_TILE(, build, "sse2",      8,  4,  4, 16, 12,  4)
#elif defined(__ARM_FP)
TT_TILE(, build, "vfp",       6,  4,  1, 32,  4,  4)
#else
TT_TILE(, build, "scalar",    3,  4,  1, 16,  2,  4)
#endif

// The tiles this CPU can run, best first.
std::vector<TileCode> make_tiles() {
    std::vector<TileCode> tiles;
#if TT_HAS_CLONES
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl"))
        tiles.push_back(tile_avx512());
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) tiles.push_back(tile_avx2());
#endif
    const TileCode build = tile_build();
    bool have = false;
    for (const TileCode& t : tiles) have = have || t.tile.isa == build.tile.isa;
    if (!have) tiles.push_back(build);
    // TT_GEMM_ISA=avx2+fma (say) puts that tile first: an AVX2 machine's
    // kernel, measured on an AVX-512 one.
    if (const char* wanted = std::getenv("TT_GEMM_ISA")) {
        auto at = std::find_if(tiles.begin(), tiles.end(), [&](const TileCode& t) { return t.tile.isa == wanted; });
        if (at != tiles.end()) std::rotate(tiles.begin(), at, at + 1);
        else std::fprintf(stderr, "tt: ignoring TT_GEMM_ISA='%s': this build on this CPU has no such tile\n", wanted);
    }
    return tiles;
}

const std::vector<TileCode>& tile_codes() {
    static const std::vector<TileCode> tiles = make_tiles();
    return tiles;
}

const TileCode& code_of(const GemmTile& tile) {
    for (const TileCode& t : tile_codes())
        if (t.tile.isa == tile.isa) return t;
    throw Error("gemm_fast_with: this build has no '" + tile.isa + "' tile that this CPU can run (see gemm_tiles())");
}

void gemm_with(const TileCode& code, int64_t M, int64_t N, int64_t K, const float* A, int64_t rsA, int64_t csA,
               const float* B, int64_t rsB, int64_t csB, float* C, int64_t ldc, bool accumulate) {
    if (M <= 0 || N <= 0) return;
    const int64_t MR = code.tile.mr, NR = code.tile.nr, KC = code.tile.kc, MC = code.tile.mc;
    const double multiply_adds = (double)M * (double)N * (double)K;
    // Below ~16^3 multiply-adds, packing costs more than it saves; a single
    // row is a matrix-vector product, bound by reading B once either way.
    if (multiply_adds < kTinyProduct || M == 1) {
        gemm_naive(M, N, K, A, rsA, csA, B, rsB, csB, C, ldc, accumulate);
        return;
    }
    // Below ~200^3 (~50 us on one core), moving the operands and the result
    // between cores costs more than the second core saves: this one does it
    // all. (A batch-64 MLP epoch on 2 threads: 0.69 s with the line at 64^3,
    // 0.40 s with it here; 0.42 s on 1 thread. `bench mlp 2`.)
    const int64_t threads = multiply_adds < kSmallProduct ? 1 : get_num_threads();
    auto run = [threads](int64_t n, const std::function<void(int64_t)>& f) {
        if (threads == 1)
            for (int64_t i = 0; i < n; i++) f(i);
        else
            parallel_for(n, f);
    };
    // Blocks of at most MC rows, as even as whole MR-row panels allow, and as
    // many as a multiple of the thread count, so no thread is left with a
    // sliver while the others wait (M=1024 on 2 threads, MC=144: 8 blocks of
    // 132 rows and one of 100, not 7 of 144 and one of 16).
    int64_t mblocks = ceil_div(M, MC);
    if (mblocks > 1) mblocks = ceil_div(mblocks, threads) * threads;
    const int64_t block_rows = std::min(MC, ceil_div(ceil_div(M, mblocks), MR) * MR);
    mblocks = ceil_div(M, block_rows);
    // B read in place: with few rows of A (a convolution's output channels),
    // each B element is used only a few times, so packing it would cost as
    // much as the product. Rows of unit stride are already what the
    // micro-kernel reads; only a ragged last panel is packed.
    const bool direct_b = csB == 1 && M <= kDirectRows;
    // With one block of rows (a training batch) each B panel meets only one
    // task, so the task packs its own and the job needs one wake-up, not two.
    // With more, B is packed once, together, and shared.
    const bool shared_b = !direct_b && mblocks > 1;
    const int64_t column_block = shared_b ? std::max(NR, kPackedB / K / NR * NR) : kPackedB / KC / NR * NR;
    for (int64_t jc = 0; jc < N; jc += column_block) {
        const int64_t nc = std::min(column_block, N - jc), panels = ceil_div(nc, NR), width = panels * NR;
        // packed B: slice pc starts at pc*width, its panel p at p*NR*kc within it
        static thread_local PackBuffer b_buffer;
        float* packed_b = shared_b ? b_buffer.get(K * width) : nullptr;
        // (in tasks of a K slice by a group of panels: rows of 256 floats read in one stream)
        const int64_t group = std::max<int64_t>(1, 256 / NR), groups = ceil_div(panels, group);
        if (shared_b)
            run(ceil_div(K, KC) * groups, [&](int64_t t) {
                const int64_t pc = t / groups * KC, p = t % groups * group, kc = std::min(KC, K - pc);
                code.pack_b(kc, std::min(group * NR, nc - p * NR), B + pc * rsB + (jc + p * NR) * csB, rsB, csB,
                            packed_b + pc * width + p * NR * kc);
            });
        // Tasks: row blocks, and column shares when there are too few of them
        // to give every thread two (so that a slow thread does not stall the rest).
        const int64_t shares = threads == 1 ? 1 : std::min(panels, std::max<int64_t>(1, ceil_div(2 * threads, mblocks)));
        const int64_t share = ceil_div(panels, shares) * NR; // columns per task
        const int64_t tasks_across = ceil_div(nc, share);
        // Tasks that share rows would each pack the same block of A, and with
        // a batch of 64 rows packing A costs as much as the multiply: then A
        // is packed once, together, before (if it fits kPackedB floats).
        // Packed A: slice pc starts at pc*rows, its block at i0 in that slice at i0*kc.
        const int64_t rows = ceil_div(M, MR) * MR;
        const bool shared_a = tasks_across > 1 && rows * K <= kPackedB;
        static thread_local PackBuffer a_shared_buffer;
        float* a_shared = shared_a ? a_shared_buffer.get(rows * K) : nullptr;
        if (shared_a)
            run(mblocks * ceil_div(K, KC), [&](int64_t t) {
                const int64_t i0 = t % mblocks * block_rows, pc = t / mblocks * KC, kc = std::min(KC, K - pc);
                code.pack_a(std::min(block_rows, M - i0), kc, A + i0 * rsA + pc * csA, rsA, csA,
                            a_shared + pc * rows + i0 * kc);
            });
        run(mblocks * tasks_across, [&](int64_t t) {
            static thread_local PackBuffer a_buffer, own_b_buffer;
            float* own_b = shared_b ? nullptr : own_b_buffer.get(KC * share);
            const int64_t i0 = t / tasks_across * block_rows, j0 = t % tasks_across * share;
            const int64_t mc = std::min(block_rows, M - i0), ncols = std::min(share, nc - j0);
            const int64_t in_place = direct_b ? ncols / NR * NR : 0; // columns read from B itself
            float* c = C + i0 * ldc + jc + j0;
            for (int64_t pc = 0; pc < K; pc += KC) {
                const int64_t kc = std::min(KC, K - pc);
                const bool add = accumulate || pc > 0;
                const float* packed_a = a_shared + pc * rows + i0 * kc;
                if (!shared_a) {
                    float* own_a = a_buffer.get(MC * KC);
                    code.pack_a(mc, kc, A + i0 * rsA + pc * csA, rsA, csA, own_a);
                    packed_a = own_a;
                }
                if (shared_b) {
                    code.macro_kernel(mc, ncols, kc, packed_a, packed_b + pc * width + j0 * kc, NR, NR * kc, c, ldc, add);
                    continue;
                }
                const float* b = B + pc * rsB + (jc + j0) * csB;
                if (in_place) code.macro_kernel(mc, in_place, kc, packed_a, b, rsB, NR, c, ldc, add);
                if (ncols == in_place) continue;
                code.pack_b(kc, ncols - in_place, b + in_place * csB, rsB, csB, own_b);
                code.macro_kernel(mc, ncols - in_place, kc, packed_a, own_b, NR, NR * kc, c + in_place, ldc, add);
            }
        });
    }
}
} // namespace

const std::vector<GemmTile>& gemm_tiles() {
    static const std::vector<GemmTile> tiles = [] {
        std::vector<GemmTile> out;
        for (const TileCode& t : tile_codes()) out.push_back(t.tile);
        return out;
    }();
    return tiles;
}

const GemmTile& gemm_tile() { return gemm_tiles()[0]; }

void gemm_fast_with(const GemmTile& tile, int64_t M, int64_t N, int64_t K, const float* A, int64_t rsA, int64_t csA,
                    const float* B, int64_t rsB, int64_t csB, float* C, int64_t ldc, bool accumulate) {
    gemm_with(code_of(tile), M, N, K, A, rsA, csA, B, rsB, csB, C, ldc, accumulate);
}

void gemm_fast(int64_t M, int64_t N, int64_t K, const float* A, int64_t rsA, int64_t csA,
               const float* B, int64_t rsB, int64_t csB, float* C, int64_t ldc, bool accumulate) {
    static const TileCode& best = tile_codes()[0];
    gemm_with(best, M, N, K, A, rsA, csA, B, rsB, csB, C, ldc, accumulate);
}

float multiply_add_chains(const GemmTile& tile, int64_t steps) { return code_of(tile).chains(steps); }

namespace {
// Whether gemm_fast gives gemm_naive's answer on two small products: plain
// operands, then both transposed and accumulating, which between them take
// the micro-kernel, both ways of packing B, and B read in place. Small
// multiples of 1/8 keep every sum exact, so the two must agree bit for bit.
bool gemm_fast_agrees() {
    const int64_t M = 13, N = 37, K = 19;
    std::vector<float> A(M * K), B(K * N), fast(M * N), naive(M * N);
    for (size_t i = 0; i < A.size(); i++) A[i] = (float)((int64_t)(i * 7 % 13) - 6) / 8;
    for (size_t i = 0; i < B.size(); i++) B[i] = (float)((int64_t)(i * 5 % 11) - 5) / 8;
    try {
        for (const bool transposed : {false, true}) {
            const int64_t rsA = transposed ? 1 : K, csA = transposed ? M : 1, rsB = transposed ? 1 : N, csB = transposed ? K : 1;
            gemm_naive(M, N, K, A.data(), rsA, csA, B.data(), rsB, csB, naive.data(), N, transposed);
            gemm_fast(M, N, K, A.data(), rsA, csA, B.data(), rsB, csB, fast.data(), N, transposed);
        }
    } catch (const Error&) {
        return false; // a kernel still to be written: its stub throws "not implemented yet"
    }
    if (fast == naive) return true;
    std::fprintf(stderr, "tt: gemm_fast disagrees with gemm_naive on a 13x19 @ 19x37 product; every op uses gemm_naive\n");
    return false;
}
} // namespace

// Installed before main() runs: from here on every op's gemm is the fast one,
// once it agrees with the definition. Until then (a kernel broken mid-edit,
// or a student's tree where Lesson 17 is still to be written) every op runs
// on gemm_naive, so the lessons before it work meanwhile.
[[maybe_unused]] const GemmKernel installed_gemm = gemm = gemm_fast_agrees() ? gemm_fast : gemm_naive;
// ----- Lesson 15's int8 kernel (here because it is compiled once per ISA) -----
// C [M,N] = A [M,K] @ B [N,K]^T in int32. The sum that vectorises is a dot
// product of two rows, acc += (int32_t)a[k] * (int32_t)b[k], in one of two
// forms, chosen per instruction set (each measured; the other is 2-5x slower):
//   int16 x int16 (both widened while packing): g++ and clang emit pmaddwd,
//       2 int16 products added into each int32 lane, then an add (NEON:
//       smlal/smlal2). Per instruction the multiply-adds of a float FMA.
//   uint8 x int8 (AVX-512 VNNI): vpdpbusd, 4 byte products summed into each
//       int32 lane and accumulated in one instruction: 4x the multiply-adds
//       of a float FMA. A must be unsigned, so packing adds 128 to it and
//       the sum is corrected by 128 * sum_k B[j,k], counted while packing B:
//       sum_k (a+128) b - 128 sum_k b = sum_k a b, exactly.
// Packing cuts K into slices of KC values (1 KiB rows), pads each slice to
// a whole vector (32 int16 or 64 bytes) and the rows to whole tiles, with
// zeros, so the loops have no edges. Each slice's sums fit int32 easily
// (1024 * 255 * 128 < 2^25), and C only ever holds a true partial sum.
// The micro-kernel holds MR x NR vector accumulators (one dot product each,
// summed across the vector at the end) and loads MR + NR vectors per step:
//   AVX-512 (+VNNI) 4 x 5   20 accumulators + 4 + 5 loads       of 32 zmm
//   AVX2, SSE2      3 x 3    9 + 3 + 3                          of 16
//   NEON            4 x 4   16 + 4 + 4                          of 32
//   (other)         2 x 2   scalar
// (4x4 and 3x6 measured slower on AVX-512; 2x4 and 2x3 on AVX2.) The sum
// across a vector at the end of each tile costs a few shuffles per
// accumulator, so longer slices pay it less often. Tasks are blocks of
// kInt8Rows rows x kInt8Columns columns of C, threaded as gemm_fast's are;
// integer sums are exact, so threads cannot change them.
// Scratch: thread-local buffers (B's slice, each task's rows of A).
namespace {
constexpr int64_t kInt8Rows = 64, kInt8Columns = 256;

struct Int8Buffer {
    std::unique_ptr<int16_t[]> memory;
    int64_t capacity = 0;
    void* get(int64_t bytes) {
        const int64_t n = (bytes + 1) / 2;
        if (n > capacity) memory.reset(new int16_t[(size_t)n]), capacity = n;
        return memory.get();
    }
};

// rows x kc int8s of X (rows ld apart) -> padded_rows x kcp, zeros beyond:
// as int16, or (bytes) as uint8 x + 128 for A and int8 for B.
void pack_int8_rows(const int8_t* X, int64_t ld, int64_t rows, int64_t padded_rows, int64_t kc, int64_t kcp,
                    bool bytes, bool is_a, void* out) {
    for (int64_t r = 0; r < padded_rows; r++) {
        const int8_t* x = X + r * ld;
        const int64_t valid = r < rows ? kc : 0;
        if (!bytes) {
            int16_t* o = (int16_t*)out + r * kcp;
            for (int64_t k = 0; k < valid; k++) o[k] = x[k];
            for (int64_t k = valid; k < kcp; k++) o[k] = 0;
        } else if (is_a) {
            uint8_t* o = (uint8_t*)out + r * kcp;
            for (int64_t k = 0; k < valid; k++) o[k] = (uint8_t)(x[k] + 128);
            for (int64_t k = valid; k < kcp; k++) o[k] = 0;
        } else {
            int8_t* o = (int8_t*)out + r * kcp;
            for (int64_t k = 0; k < valid; k++) o[k] = x[k];
            for (int64_t k = valid; k < kcp; k++) o[k] = 0;
        }
    }
}

// C[mr, nr] (+)= a [MR rows of kcp] . b [NR rows of kcp] - correction[nr],
// the dot products of every pair of rows; the fixed MR and NR let the
// compiler keep acc in registers and vectorise k.
template <class TA, class TB, int64_t MR, int64_t NR>
TT_FORCE_INLINE void int8_micro_kernel(int64_t kcp, const TA* __restrict a, const TB* __restrict b,
                                       const int32_t* correction, int32_t* __restrict C, int64_t ldc, int64_t mr,
                                       int64_t nr, bool accumulate) {
    // BEGIN SOLUTION Lesson 15: int8_micro_kernel: an MR x NR tile of int32 dot products of rows
    int32_t acc[MR][NR] = {};
    for (int64_t k = 0; k < kcp; k++)
        for (int64_t i = 0; i < MR; i++)
            for (int64_t j = 0; j < NR; j++) acc[i][j] += (int32_t)a[i * kcp + k] * (int32_t)b[j * kcp + k];
    for (int64_t i = 0; i < mr; i++)
        for (int64_t j = 0; j < nr; j++) {
            const int32_t slice = acc[i][j] - correction[j];
            C[i * ldc + j] = accumulate ? C[i * ldc + j] + slice : slice;
        }
    // END SOLUTION
}

// C[mc, nc] (+)= packed A [mc rows] . packed B [nc rows]: each B tile stays
// in L1 while every A tile of the block passes it.
template <class TA, class TB, int64_t MR, int64_t NR>
TT_FORCE_INLINE void int8_macro_kernel(int64_t mc, int64_t nc, int64_t kcp, const void* packed_a, const void* packed_b,
                                       const int32_t* correction, int32_t* C, int64_t ldc, bool accumulate) {
    const TA* a = (const TA*)packed_a;
    const TB* b = (const TB*)packed_b;
    for (int64_t j = 0; j < nc; j += NR)
        for (int64_t i = 0; i < mc; i += MR)
            int8_micro_kernel<TA, TB, MR, NR>(kcp, a + i * kcp, b + j * kcp, correction + j, C + i * ldc + j, ldc,
                                              std::min(MR, mc - i), std::min(NR, nc - j), accumulate);
}

struct Int8Code {
    Int8Tile tile;
    bool bytes; // uint8 x int8 (VNNI), or int16 x int16
    void (*macro_kernel)(int64_t mc, int64_t nc, int64_t kcp, const void* a, const void* b, const int32_t* correction,
                         int32_t* C, int64_t ldc, bool accumulate);
};

#define TT_INT8_TILE(ATTRIBUTE, NAME, ISA, BYTES, MR, NR)                                                           \
    ATTRIBUTE void int8_macro_kernel_##NAME(int64_t mc, int64_t nc, int64_t kcp, const void* a, const void* b,   \
                                            const int32_t* correction, int32_t* C, int64_t ldc, bool accumulate) { \
        if (BYTES) int8_macro_kernel<uint8_t, int8_t, MR, NR>(mc, nc, kcp, a, b, correction, C, ldc, accumulate); \
        else int8_macro_kernel<int16_t, int16_t, MR, NR>(mc, nc, kcp, a, b, correction, C, ldc, accumulate);     \
    }                                                                                                             \
    Int8Code int8_tile_##NAME() { return {{ISA, MR, NR}, BYTES, int8_macro_kernel_##NAME}; }

//                                                                    isa            bytes  MR NR
#if TT_HAS_CLONES
TT_INT8_TILE(__attribute__((target("arch=x86-64-v4,avx512vnni"))), vnni,   "avx512+vnni", true,  4, 5)
TT_INT8_TILE(__attribute__((target("arch=x86-64-v4"))),            avx512, "avx512",      false, 4, 5)
TT_INT8_TILE(__attribute__((target("arch=x86-64-v3"))),            avx2,   "avx2",        false, 3, 3)
#endif
#if defined(__AVX512F__) && defined(__AVX512VNNI__)
TT_INT8_TILE(, build, "avx512+vnni", true,  4, 5)
#elif defined(__AVX512F__)
TT_INT8_TILE(, build, "avx512",      false, 4, 5)
#elif defined(__AVX2__)
TT_INT8_TILE(, build, "avx2",        false, 3, 3)
#elif defined(__aarch64__)
TT_INT8_TILE(, build, "neon",        false, 4, 4)
#elif defined(__SSE2__)
TT_INT8_TILE(, build, "sse2",        false, 3, 3)
#else
TT_INT8_TILE(, build, "scalar",      false, 2, 2)
#endif

const std::vector<Int8Code>& int8_codes() {
    static const std::vector<Int8Code> codes = [] {
        std::vector<Int8Code> out;
#if TT_HAS_CLONES
        __builtin_cpu_init();
        const bool avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                            __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl");
        if (avx512 && __builtin_cpu_supports("avx512vnni")) out.push_back(int8_tile_vnni());
        if (avx512) out.push_back(int8_tile_avx512());
        if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) out.push_back(int8_tile_avx2());
#endif
        const Int8Code build = int8_tile_build();
        bool have = false;
        for (const Int8Code& c : out) have = have || c.tile.isa == build.tile.isa;
        if (!have) out.push_back(build);
        return out;
    }();
    return codes;
}

void gemm_int8_code(const Int8Code& code, int64_t M, int64_t N, int64_t K, const int8_t* A, int64_t lda,
                    const int8_t* B, int64_t ldb, int32_t* C, int64_t ldc) {
    if (M < 0 || N < 0 || K < 0)
        throw Error("gemm_int8: negative size M=" + std::to_string(M) + " N=" + std::to_string(N) + " K=" + std::to_string(K));
    if (K > kInt8MaxK)
        throw Error("gemm_int8: K = " + std::to_string(K) + " is over " + std::to_string(kInt8MaxK) +
                    ", where a sum of int8 products could overflow int32");
    if ((M && lda < K) || (N && ldb < K) || (M && ldc < N))
        throw Error("gemm_int8: leading sizes lda=" + std::to_string(lda) + " ldb=" + std::to_string(ldb) + " ldc=" +
                    std::to_string(ldc) + " are smaller than a row (K=" + std::to_string(K) + ", N=" + std::to_string(N) + ")");
    if (M == 0 || N == 0) return;
    if (K == 0) {
        for (int64_t i = 0; i < M; i++) std::fill(C + i * ldc, C + i * ldc + N, 0);
        return;
    }
    const int64_t MR = code.tile.mr, NR = code.tile.nr, element = code.bytes ? 1 : 2;
    const int64_t KC = 1024 / element, vector = 64 / element; // 1 KiB rows; one AVX-512 vector
    const int64_t rows = kInt8Rows / MR * MR, columns = kInt8Columns / NR * NR;
    const int64_t row_blocks = ceil_div(M, rows), column_blocks = ceil_div(N, columns);
    const int64_t padded_n = ceil_div(N, NR) * NR;
    static thread_local Int8Buffer packed_b;
    std::vector<int32_t> correction((size_t)padded_n, 0); // 128 * sum_k B[j,k] over the slice (bytes only)
    for (int64_t pc = 0; pc < K; pc += KC) {
        const int64_t kc = std::min(KC, K - pc), kcp = ceil_div(kc, vector) * vector;
        void* b = packed_b.get(padded_n * kcp * element);
        pack_int8_rows(B + pc, ldb, N, padded_n, kc, kcp, code.bytes, false, b);
        if (code.bytes)
            for (int64_t j = 0; j < N; j++) {
                int32_t sum = 0;
                for (int64_t k = 0; k < kc; k++) sum += B[j * ldb + pc + k];
                correction[(size_t)j] = 128 * sum;
            }
        auto task = [&](int64_t t) {
            static thread_local Int8Buffer packed_a;
            const int64_t i0 = t / column_blocks * rows, j0 = t % column_blocks * columns;
            const int64_t mc = std::min(rows, M - i0), nc = std::min(columns, N - j0);
            const int64_t padded_m = ceil_div(mc, MR) * MR;
            void* a = packed_a.get(padded_m * kcp * element);
            pack_int8_rows(A + i0 * lda + pc, lda, mc, padded_m, kc, kcp, code.bytes, true, a);
            code.macro_kernel(mc, nc, kcp, a, (const char*)b + j0 * kcp * element, correction.data() + j0,
                              C + i0 * ldc + j0, ldc, pc > 0);
        };
        const int64_t tasks = row_blocks * column_blocks;
        if ((double)M * N * K < kSmallProduct)
            for (int64_t t = 0; t < tasks; t++) task(t);
        else
            parallel_for(tasks, task);
    }
}
} // namespace

const std::vector<Int8Tile>& gemm_int8_tiles() {
    static const std::vector<Int8Tile> tiles = [] {
        std::vector<Int8Tile> out;
        for (const Int8Code& c : int8_codes()) out.push_back(c.tile);
        return out;
    }();
    return tiles;
}

void gemm_int8_with(const Int8Tile& tile, int64_t M, int64_t N, int64_t K, const int8_t* A, int64_t lda,
                    const int8_t* B, int64_t ldb, int32_t* C, int64_t ldc) {
    for (const Int8Code& c : int8_codes())
        if (c.tile.isa == tile.isa) return gemm_int8_code(c, M, N, K, A, lda, B, ldb, C, ldc);
    throw Error("gemm_int8_with: this build on this CPU has no int8 tile '" + tile.isa + "'");
}

void gemm_int8(int64_t M, int64_t N, int64_t K, const int8_t* A, int64_t lda, const int8_t* B, int64_t ldb,
               int32_t* C, int64_t ldc) {
    gemm_int8_code(int8_codes()[0], M, N, K, A, lda, B, ldb, C, ldc);
}

#endif // TT_PART != 1: the kernels' block ends here

#if TT_PART != 2 // the rest of the file is the first object's again
[[maybe_unused]] const ParallelFor installed_parallel_for = parallel_for = parallel_for_pool;

// Part 3, memory that stays. A training step frees and allocates the same
// blocks every step (about 170 for milestone 2017's GPT, up to 1.5 MB each).
// A C library may give a large freed block's pages back to the operating
// system (glibc does past 128 KB) and the next step then page-faults them in
// again, pages the kernel zeroes first: measured 20% of that GPT's training
// step on one thread. So a freed block of 64 KB to 16 MB is kept, under its
// exact size, for the next request of that size (smaller blocks stay with
// malloc, which keeps them and is faster at them: 3% of an MLP step of
// many small tensors). Costs: a map lookup under a lock per large allocation, a memset when a kept block must be zeroed, and memory
// the process holds that no tensor uses: at most kCacheCapacity, and when a
// block would take the cache past it, every kept block is freed first (a
// new phase of the program, other sizes: the old ones are not coming back).
namespace {
constexpr size_t kSmallestKeptBlock = 64 << 10, kLargestKeptBlock = 16 << 20, kCacheCapacity = 64 << 20;
struct BlockCache {
    std::mutex mutex;
    std::unordered_map<size_t, std::vector<void*>> kept; // bytes -> freed blocks of that size
    size_t kept_bytes = 0;
};
// Never destroyed: tensors that live until exit give their blocks back after
// static destructors have run.
BlockCache& block_cache() {
    static BlockCache* cache = new BlockCache;
    return *cache;
}

void* take_kept_block(size_t bytes, bool zeroed) {
    BlockCache& cache = block_cache();
    void* block = nullptr;
    if (bytes >= kSmallestKeptBlock) {
        std::lock_guard<std::mutex> lock(cache.mutex);
        auto it = cache.kept.find(bytes);
        if (it != cache.kept.end() && !it->second.empty()) {
            block = it->second.back();
            it->second.pop_back();
            cache.kept_bytes -= bytes;
        }
    }
    if (!block) return zeroed ? std::calloc(bytes, 1) : std::malloc(bytes);
    if (zeroed) std::memset(block, 0, bytes);
    return block;
}

void keep_block(void* block, size_t bytes) {
    if (bytes < kSmallestKeptBlock || bytes > kLargestKeptBlock) return std::free(block);
    BlockCache& cache = block_cache();
    std::lock_guard<std::mutex> lock(cache.mutex);
    if (cache.kept_bytes + bytes > kCacheCapacity) {
        for (auto& [size, blocks] : cache.kept)
            for (void* b : blocks) std::free(b);
        cache.kept.clear();
        cache.kept_bytes = 0;
    }
    cache.kept[bytes].push_back(block);
    cache.kept_bytes += bytes;
}
} // namespace
[[maybe_unused]] const BlockSource installed_block_source = block_source = {take_kept_block, keep_block};

// (Sections after Lesson 17 go here, above the #endif.)

// ===== Lesson 18 · Memoization ===============================================
// The cache is two tensors per layer, [B,H,T_max,D], allocated once under
// Category::Cache; a step writes its new keys and values at the next free
// positions and attends over the filled prefix, read in place as a view
// [B,H,filled,D] (strides H*T_max*D, T_max*D, D, 1). Everything else is what
// Lessons 12-13 built: the block's own weights, layer_norm and gelu, and
// scaled_dot_product_attention with its causal mask aligned at the bottom
// right (query i of the T new ones sees keys up to filled + i), which is
// exactly attention over a cached prefix. A step of one token is
// matrix-vector work, each weight read once and used once, so the step's
// products are dot products of W's rows (step_linear) rather than gemm's.

KVCache::KVCache(int64_t layers_, int64_t batch_, int64_t heads_, int64_t max_length_, int64_t head_size_)
    : layers(layers_), batch(batch_), heads(heads_), max_length(max_length_), head_size(head_size_) {
    if (layers <= 0 || batch <= 0 || heads <= 0 || max_length <= 0 || head_size <= 0)
        throw Error("KVCache: needs positive layers, batch, heads, max_length and head_size, got " + name());
    MemoryCategory cache(Category::Cache);
    for (int64_t l = 0; l < layers; l++) {
        keys.push_back(new_tensor({batch, heads, max_length, head_size}, "KVCache"));
        values.push_back(new_tensor({batch, heads, max_length, head_size}, "KVCache"));
    }
    filled.assign((size_t)layers, 0);
}

KVCache::KVCache(const GPTConfig& c, int64_t batch_, int64_t max_length_)
    : KVCache(c.n_layer, batch_, c.n_head, max_length_ == 0 ? c.block_size : max_length_,
              c.n_head > 0 ? c.n_embd / c.n_head : 0) {}

std::pair<Tensor, Tensor> KVCache::append(int64_t layer, const Tensor& k, const Tensor& v) {
    const char* op = "KVCache::append";
    require_defined(k, op);
    require_defined(v, op);
    if (layer < 0 || layer >= layers)
        throw Error(std::string(op) + ": layer " + std::to_string(layer) + " is not one of the cache's 0.." + std::to_string(layers - 1));
    const Shape expected{batch, heads, k.dim() == 4 ? k.size(2) : 1, head_size};
    if (k.shape() != expected || v.shape() != expected)
        throw Error(std::string(op) + ": k " + to_string(k.shape()) + " and v " + to_string(v.shape()) +
                    " should both be [B,H,T,D] = " + to_string(expected) + " for " + name());
    const int64_t T = k.size(2), start = filled[(size_t)layer];
    if (start + T > max_length)
        throw Error(std::string(op) + ": layer " + std::to_string(layer) + " holds " + std::to_string(start) + " of " +
                    std::to_string(max_length) + " positions; " + std::to_string(T) + " more would pass max_length (T_max)");
    const int64_t D = head_size;
    float* pk = keys[(size_t)layer].data();
    float* pv = values[(size_t)layer].data();
    const float *sk = base_of(k) + k.impl->offset, *sv = base_of(v) + v.impl->offset;
    const Shape &tk = k.strides(), &tv = v.strides();
    // BEGIN SOLUTION Lesson 18: KVCache::append: each new row of k and v into the layer's next free position
    for (int64_t b = 0; b < batch; b++)
        for (int64_t h = 0; h < heads; h++)
            for (int64_t t = 0; t < T; t++) {
                const int64_t row = ((b * heads + h) * max_length + start + t) * D; // [b,h,start+t,:]
                for (int64_t d = 0; d < D; d++) {
                    pk[row + d] = sk[b * tk[0] + h * tk[1] + t * tk[2] + d * tk[3]];
                    pv[row + d] = sv[b * tv[0] + h * tv[1] + t * tv[2] + d * tv[3]];
                }
            }
    filled[(size_t)layer] = start + T;
    // END SOLUTION
    const int64_t n = filled[(size_t)layer];
    return {keys[(size_t)layer].slice(2, 0, n), values[(size_t)layer].slice(2, 0, n)};
}

int64_t KVCache::length() const {
    for (int64_t f : filled)
        if (f != filled[0])
            throw Error("KVCache: its layers hold different numbers of positions (a forward stopped half-way?); clear() it. " + name());
    return filled[0];
}
void KVCache::clear() { std::fill(filled.begin(), filled.end(), 0); }
int64_t KVCache::bytes() const { return 2 * layers * batch * heads * max_length * head_size * (int64_t)sizeof(float); }
std::string KVCache::name() const {
    return "KVCache(layers=" + std::to_string(layers) + ", batch=" + std::to_string(batch) + ", heads=" + std::to_string(heads) +
           ", max_length=" + std::to_string(max_length) + ", head_size=" + std::to_string(head_size) + ")";
}

namespace {
// The Linears of a step see a few rows (B*T: one per sequence once the
// prompt is in), and there gemm's loop order, made for many rows, reads W^T
// down its columns, one float per row of W (93% of a cached generation's
// time, measured with perf). Read the other way, each row of W is a dot
// product with each row of x, read once, in order. Beyond kStepRows rows
// (a prompt) linear's gemm is the faster one again.
constexpr int64_t kStepRows = 8;

// y[r,o] = b[o] + sum_k x[r,k] W[o,k] for x [R,in], W [out,in] (out >= 4), b [out] or
// null -> y [R,out]. Four rows of W at a time, each dotted with every row of x
// in 16 partial sums: 4 x 16 independent sums, which the compiler vectorises
// (one sum it may not reorder); the 16 are added pairwise at the end. (g++ 12
// keeps these on the stack; 32 lanes it keeps in registers, but a generation
// measured 9% slower with them: at in = 128 the longer pairwise end costs
// more than the loads and stores save.) The last group of four may overlap
// the one before, so that every group is whole (the overlap is computed
// twice, the same way).
constexpr int64_t kGroup = 4, kLanes = 16;
TT_VECTOR_CLONES void dot_rows(int64_t R, int64_t out, int64_t in, const float* __restrict x, const float* __restrict W,
                               const float* __restrict b, float* __restrict y) {
    const int64_t whole = in / kLanes * kLanes;
    for (int64_t group = 0; group < out; group += kGroup) {
        const int64_t o0 = std::min(group, out - kGroup);
        const float* w = W + o0 * in;
        for (int64_t r = 0; r < R; r++) {
            const float* xr = x + r * in;
            float lanes[kGroup][kLanes] = {};
            for (int64_t k = 0; k < whole; k += kLanes)
                for (int64_t i = 0; i < kGroup; i++)
                    for (int64_t l = 0; l < kLanes; l++) lanes[i][l] += w[i * in + k + l] * xr[k + l];
            for (int64_t i = 0; i < kGroup; i++) {
                for (int64_t width = kLanes / 2; width > 0; width /= 2)
                    for (int64_t l = 0; l < width; l++) lanes[i][l] += lanes[i][l + width];
                float total = lanes[i][0];
                for (int64_t k = whole; k < in; k++) total += w[i * in + k] * xr[k];
                y[r * out + o0 + i] = total + (b ? b[o0 + i] : 0.0f);
            }
        }
    }
}

// linear(x, weight, bias) for a step: x [...,in] -> [...,out], no tape.
Tensor step_linear(const Tensor& x, const Tensor& weight, const Tensor& bias = Tensor()) {
    const int64_t in = weight.size(1), out = weight.size(0), rows = x.numel() / in;
    if (rows > kStepRows || out < kGroup) return linear(x, weight, bias);
    const Tensor xd = dense(x), wd = dense(weight), bd = bias.defined() ? dense(bias) : Tensor();
    Shape shape = x.shape();
    shape.back() = out;
    Tensor y = new_tensor(shape, "step_linear", false); // every element written
    dot_rows(rows, out, in, xd.data(), wd.data(), bd.defined() ? bd.data() : nullptr, y.data());
    return y;
}

// One block on T new positions whose attention reads the cache's prefix:
//   x [B,T,C] -> [B,T,C], the T positions' keys and values appended to `layer`.
// Block::forward's two residual steps, with attention over cached keys.
Tensor block_forward_cached(Block& block, const Tensor& x, KVCache& cache, int64_t layer) {
    const int64_t B = x.size(0), T = x.size(1), C = x.size(2), H = block.attn.heads, D = C / H;
    Tensor h;
    // BEGIN SOLUTION Lesson 18: block_forward_cached: q, k, v of the new positions, k and v into the cache, attention over all it holds
    // qkv [B,T,3C]: q, k, v side by side, head h at columns h*D.. of each
    const Tensor qkv = step_linear(block.ln1(x), block.attn.qkv.weight, block.attn.qkv.bias);
    // q, k or v as [B,H,T,D] seen in place through qkv's memory
    auto part = [&](int64_t which) { return make_view(qkv, {B, H, T, D}, {T * 3 * C, D, 3 * C, 1}, which * C); };
    const auto [keys, values] = cache.append(layer, part(1), part(2)); // [B,H,n,D], n = positions so far
    const Tensor y = scaled_dot_product_attention(part(0), keys, values, /*causal=*/true); // [B,H,T,D] in [B,T,H,D] memory
    h = x + step_linear(y.transpose(1, 2).view({B, T, C}), block.attn.proj.weight, block.attn.proj.bias);
    const Tensor hidden = gelu(step_linear(block.ln2(h), block.fc1.weight, block.fc1.bias)); // [B,T,4C]
    h = h + step_linear(hidden, block.fc2.weight, block.fc2.bias);
    // END SOLUTION
    return h;
}
} // namespace

Tensor forward_cached(GPT& gpt, const Tensor& ids, KVCache& cache) {
    const char* op = "forward_cached";
    const GPTConfig& c = gpt.config;
    if (!ids.defined() || ids.dim() != 2 || ids.size(1) == 0)
        throw Error(std::string(op) + ": expects ids [B,T] with T >= 1, got " +
                    (ids.defined() ? to_string(ids.shape()) : std::string("an undefined tensor")));
    if (cache.layers != c.n_layer || cache.heads != c.n_head || cache.head_size != c.n_embd / c.n_head)
        throw Error(std::string(op) + ": the cache is another model's: " + cache.name() + " holds " + std::to_string(cache.layers) +
                    " layers x " + std::to_string(cache.heads) + " heads x " + std::to_string(cache.head_size) +
                    " features, " + gpt.name() + " has " + std::to_string(c.n_layer) + " x " + std::to_string(c.n_head) +
                    " x " + std::to_string(c.n_embd / c.n_head));
    const int64_t B = ids.size(0), T = ids.size(1), start = cache.length();
    if (B != cache.batch)
        throw Error(std::string(op) + ": ids " + to_string(ids.shape()) + " are a batch of " + std::to_string(B) +
                    "; the cache was made for a batch of " + std::to_string(cache.batch));
    if (start + T > std::min(cache.max_length, c.block_size))
        throw Error(std::string(op) + ": positions " + std::to_string(start) + ".." + std::to_string(start + T - 1) +
                    " are past the cache's max_length (T_max) " + std::to_string(cache.max_length) + " or the model's block_size " +
                    std::to_string(c.block_size));
    NoGrad no_tape; // inference only: the cache is written in place
    Tensor logits;
    // BEGIN SOLUTION Lesson 18: forward_cached: embeddings at the cache's positions, each block with its layer's cache, ln_f, the head
    Tensor x = embedding(ids, gpt.token_embedding) + gpt.position_embedding.slice(0, start, start + T); // [B,T,C]
    for (size_t l = 0; l < gpt.blocks.size(); l++) x = block_forward_cached(*gpt.blocks[l], x, cache, (int64_t)l);
    logits = step_linear(gpt.ln_f(x), gpt.head); // [B,T,V]
    // END SOLUTION
    return logits;
}

std::vector<int64_t> generate_cached(GPT& gpt, const std::vector<int64_t>& prompt, int64_t max_new_tokens, float temperature,
                                     int64_t top_k, uint64_t seed) {
    const char* op = "generate_cached";
    if (prompt.empty()) throw Error(std::string(op) + ": the prompt is empty; give it at least one token");
    if (max_new_tokens < 0 || !(temperature >= 0) || top_k < 0)
        throw Error(std::string(op) + ": needs max_new_tokens >= 0, temperature >= 0 and top_k >= 0, got " +
                    std::to_string(max_new_tokens) + ", " + format_float(temperature) + ", " + std::to_string(top_k));
    const int64_t P = (int64_t)prompt.size(), positions = P + std::max<int64_t>(max_new_tokens - 1, 0), V = gpt.config.vocab_size;
    if (positions > gpt.config.block_size)
        throw Error(std::string(op) + ": a prompt of " + std::to_string(P) + " and " + std::to_string(max_new_tokens) +
                    " new tokens need " + std::to_string(positions) + " positions, past block_size " +
                    std::to_string(gpt.config.block_size) + " (a cache cannot slide its window; GPT::generate crops)");
    std::vector<int64_t> out = prompt;
    if (max_new_tokens == 0) return out;
    KVCache cache(gpt.config, 1, positions);
    Generator rng(seed);
    std::vector<float> scores((size_t)V);
    // BEGIN SOLUTION Lesson 18: generate_cached: the prompt in one step, then each new token alone, sampled as generate does
    Tensor logits = forward_cached(gpt, Tensor({1, P}, std::vector<float>(prompt.begin(), prompt.end())), cache); // [1,P,V]
    for (int64_t n = 0; n < max_new_tokens; n++) {
        const int64_t T = logits.size(1);
        std::copy(logits.data() + (T - 1) * V, logits.data() + T * V, scores.begin()); // the last position's
        out.push_back(sample_token(scores, temperature, top_k, rng));
        if (n + 1 < max_new_tokens) logits = forward_cached(gpt, Tensor({1, 1}, {(float)out.back()}), cache); // [1,1,V]
    }
    // END SOLUTION
    return out;
}

// ===== Lesson 19 · Benchmarking ==============================================
// The harness around Lesson 14's clock: a sample of timings summarized as a
// distribution (mean and its t interval, median and percentiles, the
// spread, the outliers), a run that stops itself when the interval is
// narrow enough or a cap is reached, MLPerf's two inference scenarios, a
// paired comparison whose verdict waits for its interval, the Pareto
// frontier of a set of variants, and the platform every result is recorded
// with. Nothing here is fast or slow itself: the cost is the runs, and a
// sort or a few thousand resamples of them.

BuildInfo build_info; // constant-initialized: the build's object overwrites it before main

namespace {
// The p-th percentile of sorted values, linear between neighbours (numpy's
// default): rank p/100 (n-1), between the values at floor and ceil of it.
double percentile_of_sorted(const std::vector<double>& sorted, double p) {
    double result = 0;
    // BEGIN SOLUTION Lesson 19: percentile: the rank p/100 (n-1), interpolated between its two neighbours
    const double rank = p / 100.0 * (double)(sorted.size() - 1);
    const size_t lo = (size_t)std::floor(rank), hi = std::min(lo + 1, sorted.size() - 1);
    result = sorted[lo] + (rank - (double)lo) * (sorted[hi] - sorted[lo]);
    // END SOLUTION
    return result;
}
// An Error naming `op` when the sample is empty or not all finite.
void check_sample(const char* op, const std::vector<double>& values) {
    if (values.empty()) throw Error(std::string(op) + ": the sample is empty; give it at least one value");
    for (size_t i = 0; i < values.size(); i++)
        if (!std::isfinite(values[i]))
            throw Error(std::string(op) + ": sample " + std::to_string(i) + " is " + std::to_string(values[i]) +
                        "; every value must be finite");
}
void check_options(const char* op, const BenchmarkOptions& o) {
    if (o.warmup < 0 || o.min_runs < 2 || o.max_runs < o.min_runs || !(o.max_seconds > 0) || !(o.target_ci > 0))
        throw Error(std::string(op) + ": needs warmup >= 0, min_runs >= 2, max_runs >= min_runs, max_seconds > 0 and target_ci > 0, got warmup=" +
                    std::to_string(o.warmup) + " min_runs=" + std::to_string(o.min_runs) + " max_runs=" + std::to_string(o.max_runs) +
                    " max_seconds=" + std::to_string(o.max_seconds) + " target_ci=" + std::to_string(o.target_ci));
}
// Seconds one call of f takes.
double time_call(const std::function<void()>& f) {
    const ProfileClock::time_point start = ProfileClock::now();
    f();
    return seconds_between(start, ProfileClock::now());
}
// The mean and the spread of values added one at a time, with Welford's
// update (no large sum of squares to cancel), and the half-width of the t
// interval of the mean: O(1) per value, so a harness can ask after every run.
struct RunningStats {
    int64_t n = 0;
    double mean = 0, squares = 0; // squares: the sum of squared deviations from the mean
    void add(double x) {
        n++;
        const double d = x - mean;
        mean += d / (double)n;
        squares += d * (x - mean);
    }
    double stddev() const { return n > 1 ? std::sqrt(squares / (double)(n - 1)) : 0; }
    // one value: an interval without bounds
    double half_width() const { return n > 1 ? student_t(n - 1) * stddev() / std::sqrt((double)n) : std::numeric_limits<double>::infinity(); }
};
RunningStats running_stats(const std::vector<double>& values) {
    RunningStats s;
    for (double v : values) s.add(v);
    return s;
}
std::string two_digits(double v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.2f", v);
    return buf;
}
} // namespace

double Summary::cv() const { return mean != 0 ? stddev / std::fabs(mean) : (stddev > 0 ? std::numeric_limits<double>::infinity() : 0); }
double Summary::relative_ci() const {
    const double half = (ci_high - ci_low) / 2;
    return mean != 0 ? half / std::fabs(mean) : (half > 0 ? std::numeric_limits<double>::infinity() : 0);
}

double percentile(std::vector<double> values, double p) {
    check_sample("percentile", values);
    if (!(p >= 0 && p <= 100)) throw Error("percentile: p must be in [0, 100], got " + std::to_string(p));
    std::sort(values.begin(), values.end());
    return percentile_of_sorted(values, p);
}

// The two-sided critical values of Student's t for 1..30 degrees of freedom
// (each to 4 decimals, from the distribution's tail integral); beyond 30, the
// Cornish-Fisher expansion of t around the normal quantile z in powers of
// 1/df, within 1e-6 of the exact value there.
double student_t(int64_t df, double confidence) {
    static const double t90[30] = {6.3138, 2.9200, 2.3534, 2.1318, 2.0150, 1.9432, 1.8946, 1.8595, 1.8331, 1.8125,
                                   1.7959, 1.7823, 1.7709, 1.7613, 1.7531, 1.7459, 1.7396, 1.7341, 1.7291, 1.7247,
                                   1.7207, 1.7171, 1.7139, 1.7109, 1.7081, 1.7056, 1.7033, 1.7011, 1.6991, 1.6973};
    static const double t95[30] = {12.7062, 4.3027, 3.1824, 2.7764, 2.5706, 2.4469, 2.3646, 2.3060, 2.2622, 2.2281,
                                   2.2010,  2.1788, 2.1604, 2.1448, 2.1314, 2.1199, 2.1098, 2.1009, 2.0930, 2.0860,
                                   2.0796,  2.0739, 2.0687, 2.0639, 2.0595, 2.0555, 2.0518, 2.0484, 2.0452, 2.0423};
    static const double t99[30] = {63.6567, 9.9248, 5.8409, 4.6041, 4.0321, 3.7074, 3.4995, 3.3554, 3.2498, 3.1693,
                                   3.1058,  3.0545, 3.0123, 2.9768, 2.9467, 2.9208, 2.8982, 2.8784, 2.8609, 2.8453,
                                   2.8314,  2.8188, 2.8073, 2.7969, 2.7874, 2.7787, 2.7707, 2.7633, 2.7564, 2.7500};
    const double* table = nullptr;
    double z = 0; // the normal quantile (1 + confidence) / 2
    if (confidence == 0.90) table = t90, z = 1.6448536269514722;
    else if (confidence == 0.95) table = t95, z = 1.959963984540054;
    else if (confidence == 0.99) table = t99, z = 2.5758293035489004;
    else throw Error("student_t: confidence must be 0.90, 0.95 or 0.99, got " + std::to_string(confidence));
    if (df < 1) throw Error("student_t: needs at least 1 degree of freedom, got " + std::to_string(df));
    if (df <= 30) return table[df - 1];
    const double v = (double)df, z2 = z * z;
    return z + z * (z2 + 1) / (4 * v) + z * ((5 * z2 + 16) * z2 + 3) / (96 * v * v) +
           z * (((3 * z2 + 19) * z2 + 17) * z2 - 15) / (384 * v * v * v) +
           z * ((((79 * z2 + 776) * z2 + 1482) * z2 - 1920) * z2 - 945) / (92160 * v * v * v * v);
}

Summary summarize(const std::vector<double>& samples) {
    check_sample("summarize", samples);
    std::vector<double> sorted = samples;
    std::sort(sorted.begin(), sorted.end());
    Summary s;
    s.n = (int64_t)samples.size();
    s.min = sorted.front();
    s.max = sorted.back();
    s.median = s.p50 = percentile_of_sorted(sorted, 50);
    s.p90 = percentile_of_sorted(sorted, 90);
    s.p99 = percentile_of_sorted(sorted, 99);
    // BEGIN SOLUTION Lesson 19: summarize: the mean, the standard deviation, the t interval of the mean, Tukey's outliers
    const RunningStats m = running_stats(samples);
    s.mean = m.mean;
    s.stddev = m.stddev();
    s.ci_low = m.mean - m.half_width();
    s.ci_high = m.mean + m.half_width();
    const double q1 = percentile_of_sorted(sorted, 25), q3 = percentile_of_sorted(sorted, 75), fence = 1.5 * (q3 - q1);
    for (size_t i = 0; i < samples.size(); i++)
        if (samples[i] < q1 - fence || samples[i] > q3 + fence) s.outliers.push_back((int64_t)i);
    // END SOLUTION
    return s;
}

Interval bootstrap_median(const std::vector<double>& samples, int64_t resamples, uint64_t seed, double confidence) {
    check_sample("bootstrap_median", samples);
    if (resamples < 1 || !(confidence > 0 && confidence < 1))
        throw Error("bootstrap_median: needs resamples >= 1 and a confidence in (0, 1), got " + std::to_string(resamples) +
                    " and " + std::to_string(confidence));
    Generator g(seed);
    const int64_t n = (int64_t)samples.size();
    std::vector<double> resample((size_t)n), medians((size_t)resamples);
    for (int64_t r = 0; r < resamples; r++) {
        for (int64_t i = 0; i < n; i++) resample[(size_t)i] = samples[(size_t)g.randint(n)];
        std::sort(resample.begin(), resample.end());
        medians[(size_t)r] = percentile_of_sorted(resample, 50);
    }
    std::sort(medians.begin(), medians.end());
    return {percentile_of_sorted(medians, 50 * (1 - confidence)), percentile_of_sorted(medians, 50 * (1 + confidence))};
}

int64_t runs_needed(double cv, double precision, double confidence) {
    if (!(cv >= 0) || !std::isfinite(cv) || !(precision > 0))
        throw Error("runs_needed: needs a finite cv >= 0 and a precision > 0, got " + std::to_string(cv) + " and " + std::to_string(precision));
    auto enough = [&](int64_t n) { return student_t(n - 1, confidence) * cv / std::sqrt((double)n) <= precision; };
    // t(n-1)/sqrt(n) falls as n grows: double n until it is enough, then bisect
    int64_t lo = 1, hi = 2; // enough(lo) is false or lo == 1; enough(hi) once the loop ends
    while (!enough(hi)) {
        if (hi > (int64_t)1 << 52) throw Error("runs_needed: cv " + std::to_string(cv) + " at precision " + std::to_string(precision) + " needs more runs than can be counted");
        lo = hi, hi *= 2;
    }
    while (hi - lo > 1) {
        const int64_t mid = lo + (hi - lo) / 2;
        if (enough(mid)) hi = mid;
        else lo = mid;
    }
    return hi;
}

double Benchmark::throughput() const { return stats.mean > 0 ? items / stats.mean : 0; }
// samples/s = items / seconds: the interval of the mean seconds, inverted
Interval Benchmark::throughput_ci() const {
    return {items / stats.ci_high, stats.ci_low > 0 ? items / stats.ci_low : std::numeric_limits<double>::infinity()};
}

Benchmark benchmark(const std::string& name, const std::function<void()>& f, const BenchmarkOptions& options, double items_per_call) {
    check_options("benchmark", options);
    if (!(items_per_call > 0) || !std::isfinite(items_per_call))
        throw Error("benchmark: items_per_call must be > 0, got " + std::to_string(items_per_call));
    Benchmark b;
    b.name = name;
    b.items = items_per_call;
    b.cold_seconds = time_call(f);
    for (int64_t i = 0; i < options.warmup; i++) f();
    double total = 0;
    // BEGIN SOLUTION Lesson 19: benchmark: time calls until the interval is narrow enough or a cap is reached
    RunningStats running;
    while (b.stopped_by.empty()) {
        b.samples.push_back(time_call(f));
        total += b.samples.back();
        running.add(b.samples.back());
        if (running.n < 2) continue;
        if (running.n >= options.min_runs && running.half_width() <= options.target_ci * std::fabs(running.mean)) b.stopped_by = "ci";
        else if (running.n >= options.max_runs) b.stopped_by = "runs";
        else if (total >= options.max_seconds) b.stopped_by = "time";
    }
    // END SOLUTION
    b.stats = summarize(b.samples);
    if (options.bootstrap) b.median_ci = bootstrap_median(b.samples);
    return b;
}

Benchmark single_stream(const std::string& name, const std::function<void(int64_t)>& run, const BenchmarkOptions& options) {
    return benchmark(name, [&] { run(1); }, options, 1);
}

Offline offline(const std::string& name, const std::function<void(int64_t)>& run, const std::vector<int64_t>& batch_sizes,
                const BenchmarkOptions& options) {
    if (batch_sizes.empty()) throw Error("offline: no batch sizes to try; give at least one");
    for (int64_t batch : batch_sizes)
        if (batch < 1) throw Error("offline: batch sizes must be >= 1, got " + std::to_string(batch));
    Offline o;
    for (int64_t batch : batch_sizes) {
        o.batches.push_back(benchmark(name + " batch " + std::to_string(batch), [&] { run(batch); }, options, (double)batch));
        const Benchmark& b = o.batches.back();
        if (b.throughput() > o.samples_per_second) {
            o.best_batch = batch;
            o.samples_per_second = b.throughput();
            o.samples_per_second_ci = b.throughput_ci();
        }
    }
    return o;
}

Comparison compare(const std::string& name_a, const std::function<void()>& a, const std::string& name_b,
                   const std::function<void()>& b, const BenchmarkOptions& options) {
    check_options("compare", options);
    time_call(a), time_call(b); // the cold calls
    for (int64_t i = 0; i < options.warmup; i++) a(), b();
    // pairs in the order a b, b a, a b...: what runs second in a pair (a
    // warmer cache, a clock that ramped up) favours each side equally
    std::vector<double> seconds_a, seconds_b;
    RunningStats log_ratios;
    double total = 0;
    for (int64_t pair = 0;; pair++) {
        double ta = 0, tb = 0;
        if (pair % 2 == 0) ta = time_call(a), tb = time_call(b);
        else tb = time_call(b), ta = time_call(a);
        seconds_a.push_back(ta);
        seconds_b.push_back(tb);
        log_ratios.add(std::log(std::max(tb, 1e-12) / std::max(ta, 1e-12)));
        total += ta + tb;
        const int64_t n = pair + 1;
        if (n < 2) continue;
        // the interval of the mean log ratio, as a fraction of the speed-up: exp(half) - 1
        if ((n >= options.min_runs && std::expm1(log_ratios.half_width()) <= options.target_ci) || n >= options.max_runs ||
            total >= options.max_seconds)
            break;
    }
    return compare_paired(name_a, seconds_a, name_b, seconds_b);
}

Comparison compare_paired(const std::string& name_a, const std::vector<double>& seconds_a, const std::string& name_b,
                          const std::vector<double>& seconds_b) {
    if (seconds_a.size() != seconds_b.size() || seconds_a.size() < 2)
        throw Error("compare_paired: needs two timings of the same length, at least 2 pairs, got " + std::to_string(seconds_a.size()) +
                    " and " + std::to_string(seconds_b.size()));
    for (size_t i = 0; i < seconds_a.size(); i++)
        if (!(seconds_a[i] > 0 && seconds_b[i] > 0) || !std::isfinite(seconds_a[i]) || !std::isfinite(seconds_b[i]))
            throw Error("compare_paired: pair " + std::to_string(i) + " has times " + std::to_string(seconds_a[i]) + " and " +
                        std::to_string(seconds_b[i]) + "; every time must be finite and > 0");
    Comparison c;
    c.a = name_a;
    c.b = name_b;
    c.pairs = (int64_t)seconds_a.size();
    // BEGIN SOLUTION Lesson 19: compare_paired: the t interval of the mean log ratio b/a, back through exp
    // a ratio's log is symmetric (2x faster and 2x slower are +-log 2), so
    // its mean and t interval are taken there and exponentiated: the
    // speed-up is the geometric mean of the pairs' ratios
    std::vector<double> log_ratios;
    for (size_t i = 0; i < seconds_a.size(); i++) log_ratios.push_back(std::log(seconds_b[i] / seconds_a[i]));
    const RunningStats m = running_stats(log_ratios);
    c.speedup = std::exp(m.mean);
    c.ci = {std::exp(m.mean - m.half_width()), std::exp(m.mean + m.half_width())};
    // END SOLUTION
    return c;
}

std::string Comparison::verdict() const {
    const std::string interval = " (95% CI " + two_digits(ci.low) + "-" + two_digits(ci.high) + ", " + std::to_string(pairs) + " pairs)";
    if (a_faster()) return a + " is " + two_digits(speedup) + "x faster than " + b + interval;
    if (b_faster())
        return b + " is " + two_digits(1 / speedup) + "x faster than " + a + " (95% CI " + two_digits(1 / ci.high) + "-" +
               two_digits(1 / ci.low) + ", " + std::to_string(pairs) + " pairs)";
    return "no difference shown between " + a + " and " + b + ": time of " + b + " / " + a + " = " + two_digits(speedup) + interval +
           ", the interval holds 1";
}

std::vector<bool> pareto_frontier(const std::vector<Variant>& variants) {
    for (const Variant& v : variants)
        if (!std::isfinite(v.accuracy) || !std::isfinite(v.latency_seconds) || v.latency_seconds < 0 || v.size_bytes < 0)
            throw Error("pareto_frontier: variant '" + v.name + "' has accuracy " + std::to_string(v.accuracy) + ", latency " +
                        std::to_string(v.latency_seconds) + " s and size " + std::to_string(v.size_bytes) +
                        " bytes; each must be finite and the latency and size >= 0");
    std::vector<bool> frontier(variants.size(), true);
    // BEGIN SOLUTION Lesson 19: pareto_frontier: a variant leaves the frontier when another is as good on all three axes and better on one
    for (size_t i = 0; i < variants.size(); i++)
        for (size_t j = 0; j < variants.size() && frontier[i]; j++) {
            const Variant &v = variants[i], &w = variants[j];
            const bool as_good = w.accuracy >= v.accuracy && w.latency_seconds <= v.latency_seconds && w.size_bytes <= v.size_bytes;
            const bool better = w.accuracy > v.accuracy || w.latency_seconds < v.latency_seconds || w.size_bytes < v.size_bytes;
            if (j != i && as_good && better) frontier[i] = false;
        }
    // END SOLUTION
    return frontier;
}

Platform platform() {
    Platform p;
#if defined(__x86_64__)
    p.arch = "x86_64";
#elif defined(__i386__)
    p.arch = "i686";
#elif defined(__aarch64__)
    p.arch = "aarch64";
#elif defined(__arm__)
    p.arch = "armv7l";
#else
    p.arch = "unknown";
#endif
    std::ifstream cpuinfo("/proc/cpuinfo");
    for (std::string line; std::getline(cpuinfo, line) && p.cpu.empty();)
        for (const char* key : {"model name", "Model", "Hardware"}) // x86 says "model name", ARM boards "Model" or "Hardware"
            if (line.rfind(key, 0) == 0 && line.find(':') != std::string::npos && p.cpu.empty()) {
                const size_t at = line.find_first_not_of(" \t", line.find(':') + 1);
                if (at != std::string::npos) p.cpu = line.substr(at);
            }
    if (p.cpu.empty()) p.cpu = "an unknown " + p.arch + " CPU";
    p.cores = std::max<int64_t>(1, (int64_t)std::thread::hardware_concurrency());
    p.threads = get_num_threads();
#if defined(__clang__)
    p.compiler = "clang++ " + std::to_string(__clang_major__) + "." + std::to_string(__clang_minor__) + "." + std::to_string(__clang_patchlevel__);
#elif defined(__GNUC__)
    p.compiler = std::string("g++ ") + __VERSION__;
#else
    p.compiler = __VERSION__;
#endif
    p.flags = build_info.flags;
    p.commit = build_info.commit;
    // -march (or ARM's -mcpu) ties the build to one CPU; without it, the
    // kernels' per-CPU clones pick the instruction set at start-up
    std::string arch_flag;
    std::istringstream words(p.flags);
    for (std::string w; words >> w;)
        if (w.rfind("-march=", 0) == 0 || w.rfind("-mcpu=", 0) == 0) arch_flag = w;
    p.build = arch_flag.empty() ? "portable" : "native (" + arch_flag + ")";
    p.gemm_isa = gemm_tile().isa;
    return p;
}

// ===== Lesson 20 · Capstone ==================================================
// The events are data: a table of rules and the metric each ranks by. A
// submission is written by hand (a small pretty printer) and read with
// parse_json, then walked field by field against the schema, so that an
// error can name the path of the field it is about.

int64_t stored_bytes(Module& model) {
    int64_t bytes = 0;
    for (const Tensor& p : model.parameters()) bytes += p.numel() * 4;
    if (auto* seq = dynamic_cast<Sequential*>(&model))
        for (auto& layer : seq->layers) {
            const Tensor* bias = nullptr;
            if (auto* ql = dynamic_cast<QuantizedLinear*>(layer.get()))
                bytes += ql->weight.numel() + ql->weight.scale.numel() * 4, bias = &ql->bias;
            else if (auto* qc = dynamic_cast<QuantizedConv2d*>(layer.get()))
                bytes += qc->weight.numel() + qc->weight.scale.numel() * 4, bias = &qc->bias;
            if (bias && bias->defined()) bytes += bias->numel() * 4;
        }
    return bytes;
}

namespace {
// A number as it reads best in a message: up to 6 significant digits.
std::string short_number(double v) {
    char buf[32];
    const bool whole = v == std::floor(v) && std::fabs(v) < 1e16; // a byte count in full: 10485760, not 1.04858e+07
    std::snprintf(buf, sizeof buf, whole ? "%.0f" : "%.6g", v);
    return buf;
}
constexpr double kMiB = 1048576.0;
} // namespace

std::string Rule::str() const { return metric + (at_least ? " >= " : " < ") + short_number(bound); }

const std::vector<Event>& capstone_events() {
    static const std::vector<Event> events = {
        {"latency-sprint", "Latency Sprint", "the fastest answer to one sample, for a model that is still good",
         {{"accuracy", true, 0.85}}, "latency_median", false},
        {"memory-challenge", "Memory Challenge", "the fewest bytes of model, for a model that is still good",
         {{"accuracy", true, 0.85}}, "size_bytes", false},
        {"accuracy-contest", "Accuracy Contest", "the most right answers, from a model that fits a small device's budget",
         {{"latency_median", false, 0.1}, {"size_bytes", false, 10 * kMiB}}, "accuracy", true},
        {"all-around", "All-Around", "the best balance of accuracy, speed and size (their geometric mean)",
         {{"accuracy", true, 0.85}}, "balance", true},
        {"extreme-push", "Extreme Push", "the smallest size times latency, with a lower bar on accuracy",
         {{"accuracy", true, 0.80}}, "size_x_latency", false},
    };
    return events;
}

const Event& capstone_event(const std::string& name) {
    std::string names;
    for (const Event& e : capstone_events()) {
        if (e.name == name) return e;
        names += (names.empty() ? "" : ", ") + e.name;
    }
    throw Error("capstone_event: no event '" + name + "'; the events are " + names);
}

double metric_value(const Measurements& m, const std::string& metric) {
    if (metric == "accuracy") return m.accuracy;
    if (metric == "test_samples") return (double)m.test_samples;
    if (metric == "latency_median") return m.latency_median;
    if (metric == "latency_ci_low") return m.latency_ci_low;
    if (metric == "latency_ci_high") return m.latency_ci_high;
    if (metric == "latency_p90") return m.latency_p90;
    if (metric == "latency_p99") return m.latency_p99;
    if (metric == "latency_runs") return (double)m.latency_runs;
    if (metric == "throughput") return m.throughput;
    if (metric == "size_bytes") return (double)m.size_bytes;
    if (metric == "peak_bytes") return (double)m.peak_bytes;
    if (metric == "balance") {
        // BEGIN SOLUTION Lesson 20: balance: the geometric mean of accuracy, 1 ms / latency and 1 MiB / size
        return std::cbrt(m.accuracy * (1e-3 / m.latency_median) * (kMiB / (double)m.size_bytes));
        // END SOLUTION
    }
    if (metric == "size_x_latency") return (double)m.size_bytes * m.latency_median;
    throw Error("metric_value: no metric '" + metric + "'");
}

Verdict judge(const Event& event, const Measurements& m) {
    Verdict v;
    v.event = event.name;
    // BEGIN SOLUTION Lesson 20: judge: every rule in order, the first broken one the reason; the score either way
    v.eligible = true;
    for (const Rule& rule : event.rules) {
        const double value = metric_value(m, rule.metric);
        const bool holds = rule.at_least ? value >= rule.bound : value < rule.bound;
        if (!holds) {
            v.eligible = false;
            v.reason = "needs " + rule.str() + ", has " + short_number(value);
            break;
        }
    }
    v.score = metric_value(m, event.score);
    // END SOLUTION
    return v;
}

std::vector<Verdict> judge_all(const Measurements& m) {
    std::vector<Verdict> out;
    for (const Event& e : capstone_events()) out.push_back(judge(e, m));
    return out;
}

std::vector<size_t> leaderboard(const std::vector<Submission>& entries, const std::string& event) {
    const Event& e = capstone_event(event);
    size_t at = 0;
    while (capstone_events()[at].name != event) at++;
    std::vector<size_t> ranked;
    for (size_t k = 0; k < entries.size(); k++)
        if (at < entries[k].events.size() && entries[k].events[at].eligible) ranked.push_back(k);
    std::stable_sort(ranked.begin(), ranked.end(), [&](size_t a, size_t b) {
        const double sa = entries[a].events[at].score, sb = entries[b].events[at].score;
        return e.higher_is_better ? sa > sb : sa < sb;
    });
    return ranked;
}

namespace {
[[noreturn]] void bad_field(const std::string& path, const std::string& what) {
    throw Error("submission: field '" + path + "' " + what);
}
// A range check: lo <= v <= hi (either end open when the flag says so).
void check_range(const std::string& path, double v, double lo, double hi, bool lo_open = false) {
    if (!std::isfinite(v) || (lo_open ? v <= lo : v < lo) || v > hi)
        bad_field(path, "must be in " + std::string(lo_open ? "(" : "[") + short_number(lo) + ", " +
                            (std::isinf(hi) ? std::string("inf)") : short_number(hi) + "]") + ", got " + short_number(v));
}
constexpr double kInf = std::numeric_limits<double>::infinity();
// Whole numbers a double holds exactly: what a JSON reader of any language keeps.
constexpr double kMaxWhole = 9007199254740992.0; // 2^53

void check_measurements(const Measurements& m) {
    // BEGIN SOLUTION Lesson 20: check_measurements: each metric in its range, the latencies in order
    check_range("metrics.accuracy", m.accuracy, 0, 1);
    check_range("metrics.test_samples", (double)m.test_samples, 1, kMaxWhole);
    check_range("metrics.latency_median", m.latency_median, 0, kInf, true);
    check_range("metrics.latency_ci_low", m.latency_ci_low, 0, kInf, true);
    check_range("metrics.latency_ci_high", m.latency_ci_high, m.latency_ci_low, kInf);
    check_range("metrics.latency_p90", m.latency_p90, m.latency_median, kInf);
    check_range("metrics.latency_p99", m.latency_p99, m.latency_p90, kInf);
    check_range("metrics.latency_runs", (double)m.latency_runs, 1, kMaxWhole);
    check_range("metrics.throughput", m.throughput, 0, kInf, true);
    check_range("metrics.size_bytes", (double)m.size_bytes, 1, kMaxWhole);
    check_range("metrics.peak_bytes", (double)m.peak_bytes, (double)m.size_bytes, kMaxWhole);
    // END SOLUTION
}
} // namespace

void validate(const Submission& s) {
    if (s.schema_version != kSubmissionSchemaVersion)
        bad_field("schema_version", "is " + std::to_string(s.schema_version) + ", a version this tt does not read (it reads " +
                                        std::to_string(kSubmissionSchemaVersion) + ")");
    if (s.dataset != "tinydigits" && s.dataset != "mnist") bad_field("dataset", "must be \"tinydigits\" or \"mnist\", got \"" + s.dataset + "\"");
    if (s.model.name.empty()) bad_field("model.name", "must not be empty");
    if (s.model.architecture.empty()) bad_field("model.architecture", "must not be empty");
    check_range("model.params", (double)s.model.params, 1, kMaxWhole);
    check_range("model.sparsity", s.model.sparsity, 0, 1);
    check_measurements(s.metrics);
    check_range("platform.cores", (double)s.platform.cores, 0, kMaxWhole);
    check_range("platform.threads", (double)s.platform.threads, 0, kMaxWhole);
    const std::vector<Event>& events = capstone_events();
    if (s.events.size() != events.size())
        bad_field("events", "must hold the " + std::to_string(events.size()) + " events, has " + std::to_string(s.events.size()));
    for (size_t k = 0; k < events.size(); k++) {
        const std::string at = "events[" + std::to_string(k) + "]";
        const Verdict& given = s.events[k];
        if (given.event != events[k].name)
            bad_field(at + ".event", "must be \"" + events[k].name + "\" (the events in order), got \"" + given.event + "\"");
        const Verdict v = judge(events[k], s.metrics);
        if (given.eligible != v.eligible)
            bad_field(at + ".eligible", std::string("is ") + (given.eligible ? "true" : "false") + " but the metrics say " +
                                            (v.eligible ? "eligible" : "not eligible (" + v.reason + ")"));
        if (!(std::fabs(given.score - v.score) <= 1e-9 * std::fabs(v.score)))
            bad_field(at + ".score", "is " + short_number(given.score) + " but the metrics give " + short_number(v.score));
    }
}

namespace {
// The shortest decimal that reads back as exactly v (at most 17 digits).
std::string exact_number(double v) {
    char buf[32];
    if (v == std::floor(v) && std::fabs(v) < kMaxWhole) { // whole: all its digits, no exponent (9640, not 9.64e+03)
        std::snprintf(buf, sizeof buf, "%.0f", v);
        return buf;
    }
    for (int digits = 1; digits <= 17; digits++) {
        std::snprintf(buf, sizeof buf, "%.*g", digits, v);
        if (std::strtod(buf, nullptr) == v) break;
    }
    return buf;
}

// Fields of one JSON object, written "key": value, one a line.
struct ObjectWriter {
    std::vector<std::pair<std::string, std::string>> fields;
    ObjectWriter& raw(const std::string& key, const std::string& json) { fields.push_back({key, json}); return *this; }
    ObjectWriter& text(const std::string& key, const std::string& v) { return raw(key, json_quote(v)); }
    ObjectWriter& number(const std::string& key, double v) { return raw(key, exact_number(v)); }
    ObjectWriter& whole(const std::string& key, int64_t v) { return raw(key, std::to_string(v)); }
    ObjectWriter& boolean(const std::string& key, bool v) { return raw(key, v ? "true" : "false"); }
    std::string str(const std::string& indent) const {
        std::string out = "{";
        for (size_t k = 0; k < fields.size(); k++)
            out += (k ? ",\n" : "\n") + indent + "  " + json_quote(fields[k].first) + ": " + fields[k].second;
        return out + "\n" + indent + "}";
    }
};

// The reading side: each accessor names the field's path in its error.
struct FieldReader {
    const JsonValue& object;
    std::string path; // "" at the top, "metrics." inside metrics
    std::vector<std::string> known;
    const JsonValue& get(const std::string& key, JsonValue::Kind kind, const char* type) {
        known.push_back(key);
        const JsonValue* v = object.find(key);
        if (!v) bad_field(path + key, "is missing");
        if (v->kind != kind) bad_field(path + key, std::string("must be ") + type + ", got " + v->kind_name());
        return *v;
    }
    std::string text(const std::string& key) { return get(key, JsonValue::String, "a string").text; }
    double number(const std::string& key) { return get(key, JsonValue::Number, "a number").number; }
    bool boolean(const std::string& key) { return get(key, JsonValue::Boolean, "true or false").boolean; }
    int64_t whole(const std::string& key) {
        const JsonValue& v = get(key, JsonValue::Number, "a whole number");
        if (!v.whole || (double)v.integer > kMaxWhole) bad_field(path + key, "must be a whole number from 0 to 2^53, got " + short_number(v.number));
        return (int64_t)v.integer;
    }
    FieldReader child(const std::string& key) { return FieldReader{get(key, JsonValue::Object, "an object"), path + key + ".", {}}; }
    // After the known fields are read: any other key is a mistake.
    void no_others() const {
        for (const std::string& k : object.keys)
            if (std::find(known.begin(), known.end(), k) == known.end()) bad_field(path + k, "is not in schema version 1");
    }
};
} // namespace

std::string to_json(const Submission& s) {
    validate(s);
    const Platform& p = s.platform;
    ObjectWriter model, metrics, platform;
    model.text("name", s.model.name).text("architecture", s.model.architecture).whole("params", s.model.params)
        .number("sparsity", s.model.sparsity).boolean("quantized", s.model.quantized);
    const Measurements& m = s.metrics;
    metrics.number("accuracy", m.accuracy).whole("test_samples", m.test_samples).number("latency_median", m.latency_median)
        .number("latency_ci_low", m.latency_ci_low).number("latency_ci_high", m.latency_ci_high).number("latency_p90", m.latency_p90)
        .number("latency_p99", m.latency_p99).whole("latency_runs", m.latency_runs).number("throughput", m.throughput)
        .whole("size_bytes", m.size_bytes).whole("peak_bytes", m.peak_bytes);
    platform.text("cpu", p.cpu).whole("cores", p.cores).whole("threads", p.threads).text("arch", p.arch).text("compiler", p.compiler)
        .text("flags", p.flags).text("build", p.build).text("gemm_isa", p.gemm_isa).text("commit", p.commit);
    std::string events = "[";
    for (size_t k = 0; k < s.events.size(); k++) {
        ObjectWriter e;
        e.text("event", s.events[k].event).boolean("eligible", s.events[k].eligible).text("reason", s.events[k].reason)
            .number("score", s.events[k].score);
        events += (k ? ",\n    " : "\n    ") + e.str("    ");
    }
    events += "\n  ]";
    ObjectWriter top;
    top.text("schema", "tt-capstone-submission").whole("schema_version", s.schema_version).text("submitter", s.submitter)
        .text("dataset", s.dataset).raw("model", model.str("  ")).raw("metrics", metrics.str("  "))
        .raw("platform", platform.str("  ")).raw("events", events);
    return top.str("") + "\n";
}

Submission parse_submission(const std::string& json) {
    const JsonValue doc = parse_json(json, "submission: ");
    if (doc.kind != JsonValue::Object) throw Error(std::string("submission: the file must hold one JSON object, not ") + doc.kind_name());
    FieldReader top{doc, "", {}};
    Submission s;
    if (top.text("schema") != "tt-capstone-submission") bad_field("schema", "must be \"tt-capstone-submission\"");
    // the version first: a newer file's other fields may not be these
    const JsonValue* version = doc.find("schema_version");
    if (version && version->kind == JsonValue::Number && !(version->whole && version->integer == (uint64_t)kSubmissionSchemaVersion))
        bad_field("schema_version", "is " + short_number(version->number) + ", a version this tt does not read (it reads " +
                                        std::to_string(kSubmissionSchemaVersion) + ")");
    s.schema_version = top.whole("schema_version");
    s.submitter = top.text("submitter");
    s.dataset = top.text("dataset");
    FieldReader model = top.child("model");
    s.model.name = model.text("name");
    s.model.architecture = model.text("architecture");
    s.model.params = model.whole("params");
    s.model.sparsity = model.number("sparsity");
    s.model.quantized = model.boolean("quantized");
    model.no_others();
    FieldReader metrics = top.child("metrics");
    Measurements& m = s.metrics;
    m.accuracy = metrics.number("accuracy");
    m.test_samples = metrics.whole("test_samples");
    m.latency_median = metrics.number("latency_median");
    m.latency_ci_low = metrics.number("latency_ci_low");
    m.latency_ci_high = metrics.number("latency_ci_high");
    m.latency_p90 = metrics.number("latency_p90");
    m.latency_p99 = metrics.number("latency_p99");
    m.latency_runs = metrics.whole("latency_runs");
    m.throughput = metrics.number("throughput");
    m.size_bytes = metrics.whole("size_bytes");
    m.peak_bytes = metrics.whole("peak_bytes");
    metrics.no_others();
    FieldReader platform = top.child("platform");
    Platform& p = s.platform;
    p.cpu = platform.text("cpu");
    p.cores = platform.whole("cores");
    p.threads = platform.whole("threads");
    p.arch = platform.text("arch");
    p.compiler = platform.text("compiler");
    p.flags = platform.text("flags");
    p.build = platform.text("build");
    p.gemm_isa = platform.text("gemm_isa");
    p.commit = platform.text("commit");
    platform.no_others();
    const JsonValue& events = top.get("events", JsonValue::Array, "an array");
    for (size_t k = 0; k < events.items.size(); k++) {
        const std::string at = "events[" + std::to_string(k) + "]";
        if (events.items[k].kind != JsonValue::Object) bad_field(at, std::string("must be an object, got ") + events.items[k].kind_name());
        FieldReader e{events.items[k], at + ".", {}};
        Verdict v;
        v.event = e.text("event");
        v.eligible = e.boolean("eligible");
        v.reason = e.text("reason");
        v.score = e.number("score");
        e.no_others();
        s.events.push_back(v);
    }
    top.no_others();
    validate(s);
    return s;
}

void write_submission(const std::string& path, const Submission& s) {
    const std::string text = to_json(s); // checked before the file is touched
    std::ofstream file(path, std::ios::binary | std::ios::trunc);
    file << text;
    if (!file.flush()) throw Error("write_submission: cannot write '" + path + "'");
}

Submission read_submission(const std::string& path) {
    std::ifstream file(path, std::ios::binary);
    if (!file) throw Error("read_submission: cannot open '" + path + "'");
    const std::string text((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
    try {
        return parse_submission(text);
    } catch (const Error& e) {
        throw Error("read_submission: '" + path + "': " + e.what());
    }
}
#endif // TT_PART != 2

} // namespace tt
