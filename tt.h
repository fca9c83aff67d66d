// tt.h — TinyTorch in C++: the whole framework's interface, one lesson after another.
//
// What tt is: a small, readable framework in which you build PyTorch's core
// from first principles (tensor, autograd, optimizers, CNNs, transformers) and
// measure what every piece costs in memory and time. tt.h declares; tt.c++
// defines, in the same order, under the same banners.
//
// What tt refuses to be: no GPU, no dependencies beyond the C++17 standard
// library, no template machinery, no expression graphs you cannot print. One
// float32 tensor type, one tape, plain loops a reader can check by eye.
//
// Train an MLP (the 1986 milestone, shortened):
//
//     #include "tt.h"
//     using namespace tt;
//     Sequential model{Linear(784, 128), ReLU(), Linear(128, 10)};
//     Adam opt(model.parameters(), 1e-3f);
//     DataLoader train(mnist_train, /*batch_size=*/64, /*shuffle=*/true);
//     for (auto& [x, y] : train) {           // x [B,784], y [B] class indices
//         Tensor loss = cross_entropy(model(x), y);
//         opt.zero_grad();
//         loss.backward();                   // walks the tape in reverse
//         opt.step();
//     }
//     std::printf("%s", memory_report().c_str()); // parameters, gradients, ...
//
// Table of contents (each is a banner below and in tt.c++; chapters in lessons/):
//   01 Tensor        memory tracker, storage, views, broadcasting, matmul
//   02 Activations   ReLU, Sigmoid, Tanh, GELU, Softmax, LogSoftmax
//   03 Layers        Module, Linear, Dropout, Sequential
//   04 Losses        MSE, cross-entropy, binary cross-entropy
//   05 DataLoader    datasets, batching, IDX and CIFAR readers, augmentation
//   06 Autograd      the tape, backward(), gradient checking
//   07 Optimizers    SGD, Adam, AdamW
//   08 Training      loops, schedules, clipping, checkpoints, PyTorch state_dicts, curves
//   09 Convolutions  Conv2d, pooling, BatchNorm2d
//   10 Tokenization  UTF-8 text, character and byte-level BPE tokenizers
//   11 Embeddings    the lookup table, learned and sinusoidal positions
//   12 Attention     scaled dot-product attention, MultiHeadAttention
//   13 Transformers  LayerNorm, the pre-LN block, GPT, sampling
//   14 Profiling     time, flops and bytes per op and module, the roofline, latency
//   15 Quantization  int8 storage, the int8 gemm, quantized Linear and Conv2d
//   16 Compression   pruning (masks, CSR, neurons), low-rank SVD, distillation
//   17 Acceleration  blocked, packed, threaded matmul; a register tile per instruction set
//   18 Memoization   the KV cache: generation that computes each key and value once
//   19 Benchmarking  repeated runs with confidence intervals, scenarios, paired comparisons, Pareto
//   20 Capstone      the Olympics: events with eligibility rules, submissions validated on write and read
//
// Shape legend, used in every comment: N samples, B batch, C channels or
// classes, H height, W width, T time, D features, K inner (reduced) size,
// M and N rows and columns of a matrix product; in Lessons 12-13 H heads,
// D the size of one head, V the vocabulary. [B,D] is a B-by-D tensor,
// row-major: the last index moves fastest.
//
// Ownership and accumulation rules, stated once:
// - A Tensor is a handle (like a Python reference): copying it aliases the
//   same data. clone() copies the data.
// - Views (reshape of a contiguous tensor, transpose, permute, slice) share
//   storage and allocate nothing.
// - backward() ADDS into .grad; zero_grad() clears. Two backward calls
//   without zero_grad() double the gradients.
// - Every float of tensor storage is counted by the memory tracker; a budget
//   (TT_MEM_LIMIT=512M) turns an over-budget allocation into a clear error.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <initializer_list>
#include <iosfwd>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <unordered_map>
#include <vector>

namespace tt {

// Every error tt raises: a sentence that names the op and what was wrong,
// e.g. "matmul: inner sizes differ: [2,3] @ [4,5]".
struct Error : std::runtime_error {
    explicit Error(const std::string& message) : std::runtime_error(message) {}
};

// Marks a hot loop to be compiled several times, for AVX-512, for AVX2 with
// FMA and for the baseline, with the best one for the CPU picked when the
// program starts ("function multi-versioning"): the portable build still uses
// the wide vector units. g++ on x86-64 Linux only; elsewhere, and in a build
// for one CPU level (ARCH=-march=..., which defines TT_NO_CLONES), it is
// empty and the loop gets what the build targets. Used from Lesson 02 on (the
// activations' loops); Lesson 17 says what it buys.
#if defined(__x86_64__) && defined(__linux__) && defined(__GNUC__) && !defined(__clang__) && !defined(TT_NO_CLONES)
#define TT_VECTOR_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#define TT_HAS_CLONES 1
#else
#define TT_VECTOR_CLONES
#define TT_HAS_CLONES 0
#endif

// ===== Lesson 01 · Tensor ====================================================
// A tensor is a block of floats (its storage) plus the arithmetic that says
// where element [i,j,k] lives: offset + i*stride0 + j*stride1 + k*stride2.
// Everything else — views, broadcasting, batched matmul — follows from that
// one formula. Before the tensor comes the memory tracker, because every
// byte a tensor owns is allocated through it.

// --- The memory tracker -------------------------------------------------------
// Categories say what the bytes are for. New storage goes to the current
// category (Activations unless a MemoryCategory scope says otherwise).
// Data is what a dataset or tokenizer keeps: token streams, vocabularies.
// Quantized is int8 storage (Lesson 15): 1 byte per element, not 4.
// Cache is what inference keeps from one step to the next (Lesson 18's keys and values).
enum class Category { Parameters, Gradients, Activations, OptimizerState, Scratch, Data, Quantized, Cache };
constexpr int kCategories = 8;
const char* category_name(Category c);

struct MemoryCounts {
    int64_t live_bytes = 0;   // allocated and not yet released
    int64_t peak_bytes = 0;   // the most that was ever live at once (since reset_peak)
    int64_t allocations = 0;  // how many allocations were made
    int64_t releases = 0;     // how many were given back
};
MemoryCounts memory_counts();              // all categories together
MemoryCounts memory_counts(Category c);    // one category
void reset_peak();                         // peak := live, for every category
std::string memory_report();               // a table of the above
// Budget in bytes for live storage; 0 means none. At start-up it is read from
// the environment variable TT_MEM_LIMIT ("512M", "4G", "1000000"; unset or
// empty: no budget). A malformed value ("12X", "abc", "-5", "0", past 2^63)
// is never ignored, since a run without the budget asked for is worse than
// no run: it is an Error naming the variable and its value, thrown by the
// first allocation (and each one after). ./tt and the tests check the
// environment before anything else and stop with exit status 2
// (check_environment, Lesson 17).
void set_memory_budget(int64_t bytes);
int64_t memory_budget();
int64_t parse_bytes(const std::string& text); // "512M" -> 536870912; throws on junk
int64_t memory_limit_setting(const char* value); // TT_MEM_LIMIT's value (nullptr: unset) -> the budget; throws on junk

// The two calls every tracked allocation makes (Storage below; Lesson 10's
// containers): count `bytes` under `c`, or throw naming `op` when the budget
// would be passed; and give them back.
void track_allocation(Category c, int64_t bytes, const char* op);
void track_release(Category c, int64_t bytes);

// RAII: storage allocated inside the scope is counted under `c`.
struct MemoryCategory {
    explicit MemoryCategory(Category c);
    ~MemoryCategory();
    MemoryCategory(const MemoryCategory&) = delete;
    MemoryCategory& operator=(const MemoryCategory&) = delete;
    Category previous;
};

// Where a Storage's block of bytes comes from and goes back to: calloc (or
// malloc, when it need not be zeroed) and free, until Lesson 17 installs a
// cache that keeps freed blocks for the next request of the same size.
struct BlockSource {
    void* (*take)(size_t bytes, bool zeroed); // nullptr when out of memory
    void (*give_back)(void* block, size_t bytes);
};
extern BlockSource block_source;

// The bytes behind one or more tensors. Allocated and released only through
// the tracker; `category` can be changed later (a fresh tensor that becomes a
// parameter moves its bytes from Activations to Parameters).
struct Storage {
    explicit Storage(int64_t count, bool zeroed = true); // count floats, zero-filled unless told not; throws if over budget
    ~Storage();
    Storage(const Storage&) = delete;
    Storage& operator=(const Storage&) = delete;
    void set_category(Category c);
    float* data;
    int64_t count;
    Category category;
};

// --- The seeded random generator ----------------------------------------------
// The same seed gives the same numbers on every platform and compiler:
// xoshiro128+ style integer state, uniform from 24 random bits, normal from
// Box–Muller written here (std::normal_distribution differs between libraries).
struct Generator {
    explicit Generator(uint64_t seed = 42);
    uint32_t next_u32();
    float uniform(float low = 0.f, float high = 1.f); // [low, high)
    float normal(float mean = 0.f, float stddev = 1.f);
    int64_t randint(int64_t n);                         // [0, n)
    uint64_t state[2];
    float spare_normal;
    bool has_spare = false;
};
Generator& default_generator(); // used when no generator is passed
void manual_seed(uint64_t seed);

// --- The tensor ------------------------------------------------------------------
using Shape = std::vector<int64_t>;
std::string to_string(const Shape& s); // "[2,3]"
int64_t numel(const Shape& s);

// What a Tensor handle points at. Strides are counted in elements, not bytes.
struct TensorImpl {
    std::shared_ptr<Storage> storage; // shared between views
    int64_t offset = 0;               // first element's index into storage
    Shape shape;                      // sizes, outermost first
    Shape strides;                    // elements to skip per step along each axis
    bool requires_grad = false;       // a leaf that wants .grad (Lesson 06)
    std::shared_ptr<TensorImpl> grad; // accumulated gradient, same shape
    bool is_leaf = true;              // false for results of recorded ops
};

class Tensor {
public:
    Tensor() = default;                     // an undefined tensor (no data)
    explicit Tensor(const Shape& shape);    // zeros
    Tensor(const Shape& shape, const std::vector<float>& values);
    explicit Tensor(std::shared_ptr<TensorImpl> impl) : impl(std::move(impl)) {}

    // Factories.
    static Tensor zeros(const Shape& shape);
    static Tensor ones(const Shape& shape);
    static Tensor full(const Shape& shape, float value);
    static Tensor scalar(float value);                          // shape []
    static Tensor arange(int64_t n);                            // [0,1,...,n-1]
    static Tensor rand(const Shape& shape, Generator& g = default_generator());   // U[0,1)
    static Tensor randn(const Shape& shape, Generator& g = default_generator());  // N(0,1)

    // Inspecting.
    bool defined() const { return impl != nullptr; }
    const Shape& shape() const;
    const Shape& strides() const;
    int64_t dim() const { return (int64_t)shape().size(); }
    int64_t size(int64_t axis) const;      // negative axes count from the end
    int64_t numel() const;
    bool is_contiguous() const;            // strides are the row-major ones
    float item() const;                    // the value of a one-element tensor
    float at(const std::vector<int64_t>& index) const;
    void set(const std::vector<int64_t>& index, float value);
    std::vector<float> to_vector() const;  // row-major copy
    float* data() const;                   // first element; only for contiguous tensors
    std::string str() const;               // readable print of small tensors

    // Views (no copy) and copies.
    Tensor reshape(const Shape& shape) const;  // a view if contiguous, else a copy; one size may be -1
    Tensor view(const Shape& shape) const;     // like reshape but never copies (throws instead)
    Tensor transpose(int64_t a, int64_t b) const;
    Tensor T() const { return transpose(-2, -1); }
    Tensor permute(const Shape& order) const;
    Tensor slice(int64_t axis, int64_t start, int64_t end, int64_t step = 1) const;
    Tensor contiguous() const;                 // itself if already contiguous
    Tensor clone() const;                      // always a fresh copy
    Tensor detach() const;                     // same data, cut off from the tape
    bool shares_storage(const Tensor& other) const;

    // Autograd (Lesson 06). The fields live in TensorImpl from the start.
    bool requires_grad() const;
    Tensor& requires_grad_(bool on = true);
    Tensor grad() const;                       // undefined until a backward reaches it
    void zero_grad();
    void backward() const;                     // seed 1 for a one-element tensor
    void backward(const Tensor& seed) const;   // seed of the tensor's own shape

    std::shared_ptr<TensorImpl> impl;
};

// --- The tape: recording now, differentiating in Lesson 06 --------------------
// Every op below checks needs_grad(inputs); if so it records a Node holding
// its inputs and a backward function written right beside its forward.
// Nothing is differentiated until Lesson 06's backward() walks the tape.
using BackwardFn = std::function<void(const Tensor& grad_output)>;
struct Node {
    const char* op;                    // "matmul", "relu", ...
    std::vector<Tensor> inputs;        // kept alive until backward: this is the memory cost
    std::weak_ptr<TensorImpl> output;  // weak: if nobody holds the output, no gradient can reach it
    Shape output_shape;
    BackwardFn backward;               // adds into the inputs' .grad
};
std::vector<Node>& tape();
bool grad_enabled();
// RAII: no op inside the scope is recorded (evaluation, optimizer updates).
struct NoGrad {
    NoGrad();
    ~NoGrad();
    NoGrad(const NoGrad&) = delete;
    NoGrad& operator=(const NoGrad&) = delete;
    bool previous;
};
// Used by each op: true if recording is on and some input requires grad.
bool needs_grad(std::initializer_list<const Tensor*> inputs);
// Appends a node and marks `output` as a non-leaf that requires grad.
void record(const char* op, std::vector<Tensor> inputs, const Tensor& output, BackwardFn backward);
// grad of `input` += g, after summing g over the axes that broadcasting stretched.
// The first gradient becomes .grad: a temporary (or std::move(g)) is adopted
// without a copy; a named tensor is copied, since it may be given to others too.
void accumulate_grad(const Tensor& input, const Tensor& g);
void accumulate_grad(const Tensor& input, Tensor&& g);
Tensor sum_to_shape(const Tensor& g, const Shape& shape);

// --- Hooks for the profiler (Lesson 14) --------------------------------------
// Each op opens an OpScope naming itself and says what it did with count_op
// (flops, and the bytes it read and wrote if each operand crossed memory
// once); Module::operator() opens a ModuleScope; record() and the tracker
// report too. Nothing listens until a Profiler (Lesson 14) installs itself in
// `op_listener`, for its own thread only: until then each hook costs one test
// of a null pointer.
struct Module;
struct OpListener {
    virtual ~OpListener() = default;
    virtual void op_begin(const char* op) = 0;
    virtual void op_end() = 0;
    virtual void op_count(double flops, double bytes_read, double bytes_written) = 0;
    virtual void module_begin(const Module& m) = 0;
    virtual void module_end() = 0;
    virtual void allocated(Category c, int64_t bytes) = 0;
    virtual BackwardFn backward_of(const char* op, BackwardFn backward) = 0; // the same, timed as op's backward
};
extern thread_local OpListener* op_listener;
struct OpScope {
    explicit OpScope(const char* op) : listener(op_listener) { if (listener) listener->op_begin(op); }
    ~OpScope() { if (listener) listener->op_end(); }
    OpScope(const OpScope&) = delete;
    OpScope& operator=(const OpScope&) = delete;
    OpListener* listener;
};
struct ModuleScope {
    explicit ModuleScope(const Module& m) : listener(op_listener) { if (listener) listener->module_begin(m); }
    ~ModuleScope() { if (listener) listener->module_end(); }
    ModuleScope(const ModuleScope&) = delete;
    ModuleScope& operator=(const ModuleScope&) = delete;
    OpListener* listener;
};
inline void count_op(double flops, double bytes_read, double bytes_written) {
    if (op_listener) op_listener->op_count(flops, bytes_read, bytes_written);
}


// Element-wise arithmetic with NumPy broadcasting: shapes are aligned at the
// right; a size-1 axis (or a missing one) stretches to the other's size.
Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op);
Tensor add(const Tensor& a, const Tensor& b);
Tensor sub(const Tensor& a, const Tensor& b);
Tensor mul(const Tensor& a, const Tensor& b);
Tensor div(const Tensor& a, const Tensor& b);
Tensor operator+(const Tensor& a, const Tensor& b);
Tensor operator-(const Tensor& a, const Tensor& b);
Tensor operator*(const Tensor& a, const Tensor& b);
Tensor operator/(const Tensor& a, const Tensor& b);
Tensor operator+(const Tensor& a, float s);
Tensor operator-(const Tensor& a, float s);
Tensor operator*(const Tensor& a, float s);
Tensor operator/(const Tensor& a, float s);
Tensor operator+(float s, const Tensor& a);
Tensor operator-(float s, const Tensor& a);
Tensor operator*(float s, const Tensor& a);
Tensor operator/(float s, const Tensor& a);
Tensor operator-(const Tensor& a);
Tensor exp(const Tensor& x);
Tensor log(const Tensor& x);
Tensor sqrt(const Tensor& x);
Tensor pow(const Tensor& x, float p);  // gradient p*x^(p-1); for p = 0, 0 everywhere, x = 0 too (PyTorch's)
Tensor abs(const Tensor& x);

// Reductions. axis may be negative; keepdims leaves a size-1 axis in place.
Tensor sum(const Tensor& x);                                // over everything: shape []
Tensor sum(const Tensor& x, int64_t axis, bool keepdims = false);
Tensor mean(const Tensor& x);
Tensor mean(const Tensor& x, int64_t axis, bool keepdims = false);
// max and argmax follow PyTorch at the edges: a NaN propagates (it counts as
// larger than any number, so max([1, NaN, 2]) is NaN and argmax is 1, the
// first NaN); on ties argmax is the first. Their gradients differ as
// PyTorch's do: max along an axis gives dy to argmax's index, max over
// everything shares dy evenly among every element equal to the max.
Tensor max(const Tensor& x);
Tensor max(const Tensor& x, int64_t axis, bool keepdims = false);
Tensor argmax(const Tensor& x);                             // flat index, shape []
Tensor argmax(const Tensor& x, int64_t axis, bool keepdims = false);

// Matrix product. [M,K]@[K,N] -> [M,N]; any number of leading (batch) axes
// broadcast, as in PyTorch: [B,M,K]@[K,N] -> [B,M,N], [A,1,C,M,K]@[B,1,K,N]
// -> [A,B,C,M,N]. A 1-d operand is not accepted (PyTorch would treat it as
// a row or a column): reshape it to [1,K] or [K,1].
Tensor matmul(const Tensor& a, const Tensor& b);

// The kernel under matmul: C[i*ldc+j] (+)= sum_k A[i*rsA+k*csA] * B[k*rsB+j*csB].
// Strides let a transposed view be read in place. Lesson 01 defines the naive
// loop; Lesson 17 installs a blocked, threaded one in `gemm`.
using GemmKernel = void (*)(int64_t M, int64_t N, int64_t K,
                            const float* A, int64_t rsA, int64_t csA,
                            const float* B, int64_t rsB, int64_t csB,
                            float* C, int64_t ldc, bool accumulate);
void gemm_naive(int64_t M, int64_t N, int64_t K, const float* A, int64_t rsA, int64_t csA,
                const float* B, int64_t rsB, int64_t csB, float* C, int64_t ldc, bool accumulate);
extern GemmKernel gemm;

// Copying and gathering.
Tensor concat(const std::vector<Tensor>& parts, int64_t axis);
Tensor index_select(const Tensor& x, int64_t axis, const std::vector<int64_t>& index);

// ===== Lesson 02 · Activations ===============================================
// The non-linearities between layers. Each reads and writes every element
// once, doing a few flops per element: they are limited by memory speed.
Tensor relu(const Tensor& x);  // a NaN passes forward, and dy passes back at it (PyTorch zeroes dy only where y <= 0)
Tensor sigmoid(const Tensor& x);
Tensor tanh(const Tensor& x);
Tensor gelu(const Tensor& x);
Tensor softmax(const Tensor& x, int64_t axis = -1);
Tensor log_softmax(const Tensor& x, int64_t axis = -1);

// ===== Lesson 03 · Layers ====================================================
// A Module owns parameters and maps a tensor to a tensor. Composition
// (Sequential) builds networks out of layers.
struct Module {
    virtual ~Module() = default;
    virtual Tensor forward(const Tensor& x) = 0;
    Tensor operator()(const Tensor& x) { ModuleScope scope(*this); return forward(x); } // scope: Lesson 14
    virtual std::vector<Tensor> parameters() { return {}; }
    virtual std::vector<std::pair<std::string, Tensor>> named_parameters();
    // Whole-number state that is counted, not learned (BatchNorm2d's
    // num_batches_tracked, as PyTorch keeps it): what a state_dict holds as I64.
    virtual std::vector<std::pair<std::string, int64_t*>> named_counters() { return {}; }
    virtual std::string name() const = 0;    // "Linear(784, 128)"
    virtual void train(bool on = true) { training = on; }
    void eval() { train(false); }
    int64_t num_parameters();
    void zero_grad();
    bool training = true;
};

// Turn a freshly made tensor into a parameter: requires grad, counted under Parameters.
Tensor make_parameter(Tensor t);

// y = x @ W^T + b as one op (the bias add fused into the product's output pass).
// x [...,in], W [out,in], b [out] or undefined -> y [...,out]
Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias = Tensor());

enum class Init { Kaiming, Xavier };
// y = x @ W^T + b.  x [B,in], W [out,in], b [out] -> y [B,out]
struct Linear : Module {
    Linear(int64_t in_features, int64_t out_features, bool bias = true,
           Init init = Init::Kaiming, Generator& g = default_generator());
    Tensor forward(const Tensor& x) override;
    std::vector<Tensor> parameters() override;
    std::vector<std::pair<std::string, Tensor>> named_parameters() override;
    std::string name() const override;
    int64_t in_features, out_features;
    Tensor weight, bias; // [out,in], [out] (undefined without bias)
};

// Zeroes each element with probability p while training and scales the rest
// by 1/(1-p), so eval needs no change.
struct Dropout : Module {
    explicit Dropout(float p = 0.5f, Generator& g = default_generator());
    Tensor forward(const Tensor& x) override;
    std::string name() const override;
    float p;
    Generator* generator;
};

// Activation modules, so that a Sequential can hold them.
struct ReLU : Module    { Tensor forward(const Tensor& x) override { return relu(x); }    std::string name() const override { return "ReLU()"; } };
struct Sigmoid : Module { Tensor forward(const Tensor& x) override { return sigmoid(x); } std::string name() const override { return "Sigmoid()"; } };
struct Tanh : Module    { Tensor forward(const Tensor& x) override { return tanh(x); }    std::string name() const override { return "Tanh()"; } };
struct GELU : Module    { Tensor forward(const Tensor& x) override { return gelu(x); }    std::string name() const override { return "GELU()"; } };
struct Softmax : Module {
    explicit Softmax(int64_t axis = -1) : axis(axis) {}
    Tensor forward(const Tensor& x) override { return softmax(x, axis); }
    std::string name() const override { return "Softmax()"; }
    int64_t axis;
};

// Runs its modules in order. Sequential model{Linear(2,4), ReLU(), Linear(4,1)};
struct Sequential : Module {
    Sequential() = default;
    template <class... Modules>
    explicit Sequential(Modules... modules) { (add(std::make_shared<Modules>(std::move(modules))), ...); }
    void add(std::shared_ptr<Module> m) { layers.push_back(std::move(m)); }
    Tensor forward(const Tensor& x) override;
    std::vector<Tensor> parameters() override;
    std::vector<std::pair<std::string, Tensor>> named_parameters() override;
    std::vector<std::pair<std::string, int64_t*>> named_counters() override;
    std::string name() const override; // one line per layer
    void train(bool on = true) override;
    std::vector<std::shared_ptr<Module>> layers;
};

// ===== Lesson 04 · Losses ====================================================
// A loss turns predictions and targets into one number to minimise. All
// return a scalar tensor (shape []), the mean over the batch.
Tensor mse_loss(const Tensor& prediction, const Tensor& target);   // mean((p-t)^2), same shapes
// logits [B,C], targets [B] holding class indices 0..C-1 (as floats).
Tensor cross_entropy(const Tensor& logits, const Tensor& targets);
// logits and targets of one shape, targets in [0,1]. Both are differentiable,
// as in PyTorch: dz = (sigmoid(z) - t)/n, dt = -z/n (a learned soft target).
Tensor binary_cross_entropy_with_logits(const Tensor& logits, const Tensor& targets);

// ===== Lesson 05 · DataLoader ================================================
// Data comes from outside as bytes (uint8 pixels in IDX or CIFAR files) and
// leaves as float batches: a Dataset maps an index to one sample, a
// DataLoader gathers B samples into one [B,...] tensor in shuffled order, and
// the readers turn files into tensors, refusing any file whose header
// disagrees with its size. Cost: a float is four times the byte it came from
// (MNIST's 47 MB of pixels become 188 MB), and every batch is a fresh copy of
// its rows (memcpy speed; counted as Activations).

// One batch: x [B,...], y [B] or [B,...]. `for (auto& [x, y] : loader)` binds to it.
struct Batch {
    Tensor x, y;
};

// A dataset maps an index 0..size()-1 to one (input, target) pair, and a
// list of indices to a batch of them (by default get(i) for each, stacked;
// a dataset that can copy rows straight into the batch says how).
struct Dataset {
    virtual ~Dataset() = default;
    virtual int64_t size() const = 0;
    virtual std::pair<Tensor, Tensor> get(int64_t i) const = 0; // x [...], y [] (or [...])
    virtual Batch gather(const std::vector<int64_t>& rows) const; // x [B,...], y [B,...]
};

// Inputs x [N,...] and targets y [N] or [N,...], kept as two big contiguous
// tensors, cut off from the tape. get(i) returns views of row i.
struct TensorDataset : Dataset {
    TensorDataset(Tensor x, Tensor y);
    int64_t size() const override;
    std::pair<Tensor, Tensor> get(int64_t i) const override;
    Batch gather(const std::vector<int64_t>& rows) const override; // index_select of x and y
    Tensor x, y;
};

// Batches of a Dataset, in order or shuffled (Fisher–Yates with the
// given generator at the start of every pass). The last batch is smaller
// when batch_size does not divide the size, unless drop_last drops it. Rows
// are gathered by memcpy, not recorded on the tape.
class DataLoader {
public:
    DataLoader(std::shared_ptr<Dataset> data, int64_t batch_size, bool shuffle = false,
               bool drop_last = false, Generator& g = default_generator());
    int64_t size() const;             // batches per pass
    Batch batch(int64_t b) const;     // batch b of the current pass's order

    struct Iterator {
        const DataLoader* loader;
        int64_t b;                    // which batch
        Batch current;
        Batch& operator*() { return current; }
        Iterator& operator++();
        bool operator!=(const Iterator& other) const { return b != other.b; }
    };
    Iterator begin();                 // starts a pass: reshuffles when shuffle is on
    Iterator end();

    std::shared_ptr<Dataset> data;
    int64_t batch_size;
    bool shuffle, drop_last;
    Generator* generator;
    std::vector<int64_t> order;       // [N] sample indices of the current pass
};

// Readers of outside bytes. Each error names the file and what is wrong with it.
// IDX (MNIST's format): big-endian magic 0x000008nn (08 = uint8 data, nn =
// number of dims), nn big-endian uint32 sizes, then the bytes. Returns a
// float tensor of those dims holding the raw values (0..255).
// Each reader also takes a seekable stream (an open file, a string's bytes)
// and the name its errors should give: the path readers open the file and
// call it, and the fuzz targets in tests/fuzz/ feed it bytes from memory.
Tensor read_idx(const std::string& path);
Tensor read_idx(std::istream& in, const std::string& name);

// Containers whose bytes the tracker counts under Category::Data: the bytes
// of an image set, what a tokenizer or a text dataset keeps (Lesson 10) are
// memory too. A std::allocator that reports every allocation.
template <class T>
struct DataAllocator {
    using value_type = T;
    DataAllocator() = default;
    template <class U>
    DataAllocator(const DataAllocator<U>&) {}
    T* allocate(size_t n) {
        track_allocation(Category::Data, (int64_t)(n * sizeof(T)), "data");
        return std::allocator<T>().allocate(n);
    }
    void deallocate(T* p, size_t n) {
        std::allocator<T>().deallocate(p, n);
        track_release(Category::Data, (int64_t)(n * sizeof(T)));
    }
    template <class U>
    bool operator==(const DataAllocator<U>&) const { return true; }
    template <class U>
    bool operator!=(const DataAllocator<U>&) const { return false; }
};
template <class T>
using DataVector = std::vector<T, DataAllocator<T>>;
template <class K, class V>
using DataMap = std::unordered_map<K, V, std::hash<K>, std::equal_to<K>, DataAllocator<std::pair<const K, V>>>;

// Images as the files hold them: one byte per pixel, counted under
// Category::Data. Kept as bytes, MNIST's 60,000 training images are 47 MB;
// as floats they would be 188 MB. Batches are converted to floats as they are
// gathered (ImageDataset below). Copies of an ImageSet share its bytes.
struct ImageSet {
    std::shared_ptr<const DataVector<uint8_t>> pixels; // N*C*H*W bytes, row-major [N,C,H,W]
    Shape shape;                                       // [N,C,H,W]
    Tensor labels;                                     // [N] class indices as floats
    int64_t size() const { return shape.empty() ? 0 : shape[0]; }
    // The pixel values (0..255; digits 0..16) of the given images as floats,
    // [rows,C,H,W]; of every image when rows is empty (4 bytes a pixel: for
    // small sets and pictures).
    Tensor images(const std::vector<int64_t>& rows = {}) const;
    ImageSet first(int64_t n) const; // the first n images, sharing the bytes
};
// An IDX image file (magic 0x00000803, [N,H,W]) with its label file
// (0x00000801, [N]) -> images [N,1,H,W].
ImageSet load_idx_images(const std::string& images_path, const std::string& labels_path);
// CIFAR-10's binary format: records of 1 label byte (0..9) then 3072 pixel
// bytes (1024 red, 1024 green, 1024 blue, row-major 32x32) -> [N,3,32,32].
ImageSet load_cifar10(const std::string& path);
ImageSet load_cifar10(std::istream& in, const std::string& name);
// The records of several files, one after another, in one set (the training
// set's five files: 50000 images, 154 MB, allocated once).
ImageSet load_cifar10(const std::vector<std::string>& paths);
// Mean and standard deviation of each channel's pixel values over the whole
// set (one pass over the bytes, in double): what standardising needs.
struct ChannelStats {
    std::vector<float> mean, stddev; // [C] each
};
ChannelStats channel_stats(const ImageSet& set);

// Preparing images (not recorded on the tape: this is data, not model).
// y = (x/scale - mean) / stddev, one pass. MNIST: normalize(x, 0.1307f, 0.3081f, 255).
Tensor normalize(const Tensor& images, float mean, float stddev, float scale = 1.0f);
// The same per channel: images [N,C,H,W], mean and stddev of C values each.
Tensor normalize(const Tensor& images, const std::vector<float>& mean, const std::vector<float>& stddev,
                 float scale = 1.0f);
// Pads each image with `padding` zeros on every side, then cuts out an HxW
// window at a random offset (0..2*padding each way). [B,C,H,W] -> [B,C,H,W]
Tensor random_crop(const Tensor& images, int64_t padding, Generator& g = default_generator());
// Mirrors each image left-right with probability 1/2. [B,C,H,W] -> [B,C,H,W]
Tensor random_hflip(const Tensor& images, Generator& g = default_generator());

// An ImageSet as a dataset: the bytes stay bytes, and each batch is
// converted as it is gathered, x[b,c,...] = (byte/scale - mean[c]) / stddev[c]
// (as byte * gain[c] + shift[c]: one multiply-add per pixel, vectorised), then, when
// augment() asked for it, shifted by random_crop and mirrored by
// random_hflip. The only floats are the batch's: [B,C,H,W], or [B,C*H*W]
// with flatten. mean and stddev hold one value for every channel or one per
// channel. y [B] is the labels.
struct ImageDataset : Dataset {
    ImageDataset(ImageSet set, std::vector<float> mean = {0}, std::vector<float> stddev = {1}, float scale = 1,
                 bool flatten = false);
    int64_t size() const override;
    std::pair<Tensor, Tensor> get(int64_t i) const override; // x [C,H,W] or [C*H*W], y []
    Batch gather(const std::vector<int64_t>& rows) const override;
    // Augmentation on the fly, drawn anew for every batch from g: a training
    // set's, never a test set's. Returns *this.
    ImageDataset& augment(int64_t crop_padding, bool hflip, Generator& g);
    ImageSet set;
    bool flatten;
    std::vector<float> gain, shift;  // [C] each: 1/(scale*stddev[c]), -mean[c]/stddev[c]
    int64_t crop_padding = 0;        // 0: no shift
    bool hflip = false;
    Generator* generator = nullptr;  // set by augment()
};

// Where data lives. data_path("data/mnist/x") is the path of data/mnist/x
// under $TT_DATA (which then stands for data/) if set, else under the current
// directory (the repo root) or its parent; the name itself if none has it, so
// the reader's error names it. shared_data_path("cifar10-subset/x") looks in
// data/ first (where `make data-text` downloads), then in ../shared/data beside
// the repo root (or one folder further up, as from a git worktree), and
// returns "" when the file is absent: group B sets are optional.
std::string data_path(const std::string& relative);
std::string shared_data_path(const std::string& relative);

// ===== Lesson 06 · Autograd ==================================================
// Since Lesson 01 every op whose inputs require grad has appended a Node to
// the tape, in the order the ops ran. backward() walks the tape from the end
// to the start, and each node turns the gradient of its output into gradients
// of its inputs. After a backward the tape is cleared (the graph is freed).
std::string tape_str();               // one line per node, in execution order
void clear_tape();
// Central-difference gradient check in double precision. f maps the inputs to
// a tensor; the check compares d(sum(f * w))/dx for a fixed random w with the
// tape's answer. Returns the largest relative error; `report` says where.
struct GradCheck {
    double max_error = 0;
    std::string report;
    bool ok(double tolerance = 1e-2) const { return max_error <= tolerance; }
};
GradCheck gradcheck(const std::function<Tensor(const std::vector<Tensor>&)>& f,
                    std::vector<Tensor> inputs, double eps = 1e-3);

// ===== Lesson 07 · Optimizers ================================================
// An optimizer turns gradients into parameter updates. Plain SGD keeps
// nothing between steps; momentum keeps one buffer per parameter (a running
// sum of gradients), Adam two (running means of g and g^2) plus a step count.
// That state is memory: counted under OptimizerState, allocated lazily on the
// first step, so `./tt lesson 7` can measure it as a multiple of the
// parameters. Updates run under NoGrad as plain loops over floats: no
// temporaries, one pass over each parameter.
struct Optimizer {
    // params: each must require grad. lr >= 0. `optimizer` names the caller in errors.
    Optimizer(std::vector<Tensor> params, float lr, const char* optimizer);
    virtual ~Optimizer() = default;
    virtual std::string name() const = 0;      // "Adam(lr=0.001, betas=(0.9, 0.999), ...)"
    // One update of every parameter that has a .grad; one without is skipped
    // (no update, no state). Counts the step in `steps`.
    void step();
    void zero_grad();                          // releases every parameter's .grad
    // State, per parameter i, in named slots ("momentum_buffer"; "exp_avg",
    // "exp_avg_sq", "step"). state() lists the allocated ones as "i.slot",
    // in order: what a checkpoint saves.
    virtual std::vector<std::string> slots() const = 0;
    virtual Shape slot_shape(size_t i, size_t slot) const; // the parameter's shape by default
    std::vector<std::pair<std::string, Tensor>> state() const;
    Tensor& buffer(size_t i, size_t slot);     // allocates zeros under OptimizerState on first use
    // Weight decay is on for every parameter until this turns it off for some
    // (biases, LayerNorm weights, embeddings): what PyTorch does with two
    // parameter groups. Each must be one of params (the same tensor), else an Error.
    void exclude_from_weight_decay(const std::vector<Tensor>& some);
    std::vector<bool> decays;                  // [param] whether weight decay applies to it

    std::vector<Tensor> params;
    float lr;
    int64_t steps = 0;                         // step() calls so far (a schedule reads it)
    std::vector<std::vector<Tensor>> buffers;  // [param][slot], undefined until first needed

protected:
    // Updates parameter i in place. p [n] its floats, g [n] its gradient.
    virtual void update(size_t i, float* p, const float* g, int64_t n) = 0;
};

// PyTorch's SGD (no dampening):
//   g = grad + weight_decay * p
//   buf = momentum * buf + g           (only if momentum > 0; buf starts at 0)
//   p -= lr * (momentum > 0 ? buf : g)
struct SGD : Optimizer {
    SGD(std::vector<Tensor> params, float lr, float momentum = 0, float weight_decay = 0);
    std::string name() const override;
    std::vector<std::string> slots() const override;
    float momentum, weight_decay;

protected:
    void update(size_t i, float* p, const float* g, int64_t n) override;
};

// Adam (Kingma & Ba), per parameter with its own step count t:
//   g = grad + weight_decay * p        (L2 folded into the gradient; AdamW decouples it)
//   m = b1 m + (1-b1) g,   v = b2 v + (1-b2) g^2
//   p -= lr * (m / (1-b1^t)) / (sqrt(v / (1-b2^t)) + eps)     bias-corrected: m and v start at 0
struct Adam : Optimizer {
    Adam(std::vector<Tensor> params, float lr = 1e-3f, float beta1 = 0.9f, float beta2 = 0.999f,
         float eps = 1e-8f, float weight_decay = 0);
    std::string name() const override;
    std::vector<std::string> slots() const override;  // exp_avg, exp_avg_sq, step
    Shape slot_shape(size_t i, size_t slot) const override; // step is a scalar []
    float beta1, beta2, eps, weight_decay;

protected:
    Adam(std::vector<Tensor> params, float lr, float beta1, float beta2, float eps, float weight_decay,
         bool decoupled, const char* optimizer);
    void update(size_t i, float* p, const float* g, int64_t n) override;
    bool decoupled; // AdamW
};

// AdamW (Loshchilov & Hutter): weight decay acts on the weights, not through
// the gradient, so Adam's per-coordinate scaling does not weaken it:
//   p -= lr * weight_decay * p,   then the Adam step with weight_decay = 0.
struct AdamW : Adam {
    AdamW(std::vector<Tensor> params, float lr = 1e-3f, float beta1 = 0.9f, float beta2 = 0.999f,
          float eps = 1e-8f, float weight_decay = 1e-2f);
};

// ===== Lesson 08 · Training ==================================================
// The loop every later lesson uses: batches in, loss, backward, step, with the
// pieces that make a run dependable. A schedule for the learning rate, a norm
// clip, a stop on NaN, checkpoints that resume bit for bit, a progress line
// and a curve. Costs: clipping reads every gradient once more; a checkpoint is
// one pass over the parameters and optimizer state.

// lr(t) for optimizer step t = 0, 1, ...: a linear warm-up from max_lr/warmup
// to max_lr over the first `warmup` steps, then a half cosine from max_lr
// down to min_lr at step `total`; min_lr after that.
//   t < warmup:  max_lr * (t+1) / warmup
//   else:        min_lr + (max_lr - min_lr) * (1 + cos(pi * (t - warmup) / (total - warmup))) / 2
struct CosineSchedule {
    CosineSchedule(float max_lr, int64_t total, int64_t warmup = 0, float min_lr = 0);
    float operator()(int64_t t) const;
    float max_lr, min_lr;
    int64_t total, warmup;
};

// Scales every gradient by max_norm / norm when the global L2 norm
// norm = sqrt(sum over all params of sum g^2) exceeds max_norm. Returns the
// norm before clipping (parameters without a .grad count as zero).
float clip_grad_norm(const std::vector<Tensor>& params, float max_norm);

// A progress line: "label  37/938  loss 0.4123  5210 samples/s", shown once a
// pass has run for `quiet_seconds` (short passes stay silent). On a terminal
// (TERM set, CI unset; TT_PROGRESS=plain or live overrides) it rewrites itself
// in place (\r) at most ten times a second; otherwise it prints a plain line
// every ~10% and at the end.
struct Progress {
    Progress(std::string label, int64_t total, FILE* out = stderr);
    void update(int64_t done, float loss, int64_t samples); // samples seen so far
    void finish();                                           // the final line, then a newline
    void print();                                            // the line as it stands, now
    std::string label;
    int64_t total, done = 0, samples = 0;
    float loss = 0;
    FILE* out;
    bool terminal;
    double start, last_print = -1, quiet_seconds = 1.0;
    int64_t last_tenth = -1, last_printed = -1;
};

// What one pass over a data set measured.
struct EpochStats {
    float loss = 0;       // mean loss per sample
    float accuracy = 0;   // fraction of rows whose argmax is the target (output [B,C], target [B]); NaN otherwise
    int64_t samples = 0;
    double seconds = 0;
};
using LossFn = std::function<Tensor(const Tensor& output, const Tensor& target)>;
struct TrainOptions {
    std::function<float(int64_t step)> lr_schedule; // sets opt.lr before each step (step = opt.steps); empty: keep it
    float clip_norm = 0;                            // > 0: clip_grad_norm before each step
    bool progress = true;                           // the progress line (on stderr)
    std::string label = "train";
    std::function<void()> after_step;               // called after each opt.step(): e.g. Lesson 16's
                                                    // PruningMasks::apply, so pruned weights stay zero
};
// One pass over the loader: forward, loss, backward, (clip), step. Stops with
// an Error naming the step if the loss becomes NaN or infinite, before the
// bad gradient reaches the weights.
EpochStats train_epoch(Module& model, DataLoader& loader, const LossFn& loss_fn, Optimizer& opt,
                       const TrainOptions& options = {});
// The model in eval mode under NoGrad; restores the model's training mode after.
EpochStats evaluate(Module& model, DataLoader& loader, const LossFn& loss_fn, bool progress = false);

// Text made safe inside an SVG (or any XML) element or a quoted attribute:
// & < > " ' as entities.
std::string xml_escape(const std::string& s);

// The curves of a run, one value per epoch, drawn as an SVG image: a loss
// panel and an accuracy panel with axes, ticks, labels and a legend. Series
// left empty are not drawn; with no accuracy at all the loss panel takes the
// whole width. curves_svg returns the <svg> element's text (~10-20 KB for
// tens of points; the report page inlines it), save_curves_svg writes it.
// Point i (from 0) of a series is at x = (i + 1) * x_step, labelled x_label:
// epochs 1, 2, ..., or steps 100, 200, ... for a curve sampled every 100.
struct History {
    std::vector<float> train_loss, test_loss, train_accuracy, test_accuracy;
    void add(const EpochStats& train, const EpochStats& test);
};
std::string curves_svg(const History& history, const std::string& title, const std::string& x_label = "epoch",
                       double x_step = 1);
void save_curves_svg(const std::string& path, const History& history, const std::string& title);

// --- JSON -----------------------------------------------------------------------
// A safetensors header is JSON, and so is Lesson 20's submission: one strict
// reader for both. parse_json takes one value (RFC 8259: objects with unique
// keys kept in file order, arrays, strings with their escapes as UTF-8,
// numbers, true, false, null; at most 32 levels deep) and nothing after it;
// anything else is an Error "<where>bad JSON at byte N: what was wrong".
struct JsonValue {
    enum Kind { Null, Boolean, Number, String, Array, Object } kind = Null;
    bool boolean = false;
    double number = 0;             // a Number's value, always finite
    bool whole = false;            // written as digits alone (no sign, point or exponent), below 2^64
    uint64_t integer = 0;          // then its exact value (a double holds only 2^53 exactly)
    std::string text;              // a String's bytes
    std::vector<JsonValue> items;  // an Array's elements, or an Object's values
    std::vector<std::string> keys; // an Object's keys, one per item
    const JsonValue* find(const std::string& key) const; // an Object's value, or nullptr
    const char* kind_name() const;                       // "a number", "an object", "null" ... for messages
};
JsonValue parse_json(const std::string& text, const std::string& where = "");
// s as a JSON string literal, in quotes; a quote, a backslash and the control
// bytes below 0x20 escaped.
std::string json_quote(const std::string& s);

// --- Checkpoints in the safetensors format -------------------------------------
// File layout: 8 bytes, the header length n as a little-endian uint64; n bytes
// of JSON {"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]},
// ..., "__metadata__": {"key": "value"}}; then the data, each tensor's values
// little-endian at [begin, end) counted from the end of the header. Offsets are
// 64-bit throughout, so a 32-bit machine reads the same files.
using NamedTensors = std::vector<std::pair<std::string, Tensor>>;
using Metadata = std::vector<std::pair<std::string, std::string>>;
// dtypes: one per tensor, "F32" (the default when empty) or "I64" (whole
// numbers, e.g. a counter; anything else is an Error).
void save_safetensors(const std::string& path, const NamedTensors& tensors, const Metadata& metadata = {},
                      const std::vector<std::string>& dtypes = {});
// Reads and checks the whole file (header, every entry, offsets that tile the
// data exactly); any problem is an Error naming the file and what is wrong.
// Every dtype PyTorch writes for these models becomes float32:
//   F32, F16, BF16, I8   exactly (every value of those is a float32)
//   F64                  rounded to the nearest float32 (a finite value past
//                        float32's range is an Error)
//   I64, I32             exactly, up to 2^24 = 16777216 in size, where float32
//                        stops holding every whole number (larger is an Error)
struct SafeTensors {
    NamedTensors tensors; // in file order, counted under Scratch
    Metadata metadata;
    std::vector<std::string> dtypes; // each tensor's dtype in the file: "F32", "F16", "I64", ...
};
// The two 16-bit float formats, bit for bit: IEEE half (1 sign, 5 exponent,
// 10 mantissa bits; subnormals, infinities and NaN payloads kept) and
// bfloat16 (float32's upper half).
float float16_to_float(uint16_t bits);
float bfloat16_to_float(uint16_t bits);
SafeTensors load_safetensors(const std::string& path);
// The same from a seekable stream holding the whole file (what the fuzz
// target feeds it); `name` stands for the path in the messages.
SafeTensors load_safetensors(std::istream& in, const std::string& name);
// A model's named_parameters as "model.<name>", the optimizer's state as
// "optimizer.<i>.<slot>", its kind and step counter in the metadata, and the
// state of the generator that shuffles the data (so a resumed run sees the
// same batches).
void save_checkpoint(const std::string& path, Module& model, const Optimizer* opt = nullptr,
                     const Generator* rng = nullptr);
// Checks everything first (names, shapes, dtype, the optimizer's kind), then
// copies: a refused checkpoint leaves the model, optimizer and generator
// untouched. Without `opt`, only the model's weights are read.
void load_checkpoint(const std::string& path, Module& model, Optimizer* opt = nullptr, Generator* rng = nullptr);

// --- PyTorch's state_dicts ------------------------------------------------------
// A state_dict is a model's tensors by module path, as PyTorch names them:
// "0.weight" for layer 0 of a Sequential, "3.running_var", "3.num_batches_tracked"
// (I64). tt's named_parameters use the same paths, so a file written from
// torch's model.state_dict() (by the safetensors package, or any writer that
// follows its spec) maps onto the tt model with the same layers, and back.
//
// load_state_dict reads the file (any dtype load_safetensors takes) and
// copies each tensor to the parameter or counter of the same name, like
// PyTorch's model.load_state_dict(sd, strict):
// - names: when no name matches as it is, a prefix every name shares up to
//   its first dot is dropped if that makes them match ("model." of tt's
//   checkpoints, "layers." of a Sequential kept as self.layers, "module.");
//   a tt checkpoint's optimizer.* state is skipped (load_checkpoint resumes it);
// - a tensor whose shape differs from the model's is always an Error (PyTorch
//   too), as is a float tensor for a counter or an integer one for a parameter;
// - strict: a parameter the file lacks (missing) or a tensor the model lacks
//   (unexpected) is an Error listing all of them; not strict: they are
//   reported and the missing ones keep their values. A counter the file lacks
//   keeps its value either way, as PyTorch's BatchNorm fills in a missing
//   num_batches_tracked (older checkpoints have none).
// Everything is checked before anything is copied: a refused file leaves the
// model untouched. The report says what was missing, unexpected or converted.
struct LoadReport {
    std::vector<std::string> missing;    // the model's names the file lacks (kept as they were)
    std::vector<std::string> unexpected; // the file's names the model lacks (ignored)
    std::vector<std::string> notes;      // a prefix dropped, F64 rounded, a counter kept, ...
    int64_t loaded = 0;                  // tensors copied into the model
    std::string str() const;             // one line per item, for people
};
LoadReport load_state_dict(Module& model, const std::string& path, bool strict = true);
// The model's parameters as F32 and its counters as I64 scalars, under their
// paths (no prefix): what torch's model.load_state_dict(sd, strict=True) takes.
// metadata adds to {"format": "pt"}, the safetensors package's mark for PyTorch.
void save_state_dict(Module& model, const std::string& path, const Metadata& metadata = {});

// ===== Lesson 09 · Convolutions ==============================================
// A convolution slides one small filter over the whole image, so a layer
// that sees a 28x28 picture needs 5x5 weights per channel pair instead of
// 784 x 784: far fewer parameters, and the same detector at every position.
// It costs arithmetic, not memory: every output pixel is a dot product over
// a C*kh*kw patch. The loop nest below is the definition; the default path
// copies each image's patches into a matrix (im2col) so a gemm does the work,
// at the price of a scratch buffer kh*kw times the size of one image (per
// chunk of 8 images that run at the same time).
//
// Sizes along one axis: out = (in + 2*padding - kernel) / stride + 1.

// Calls f(0), ..., f(n-1), in any order: conv2d hands out the images of a
// batch this way, since they are independent. The calls must write disjoint
// data and not throw. Here it is a plain loop; Lesson 17 installs one that
// spreads the calls over a pool of threads (and runs a nested call in order).
using ParallelFor = void (*)(int64_t n, const std::function<void(int64_t)>& f);
extern ParallelFor parallel_for;
void parallel_for_serial(int64_t n, const std::function<void(int64_t)>& f);

// y[b,o,i,j] = bias[o] + sum_{c,u,v} x[b,c, i*stride-padding+u, j*stride-padding+v] * W[o,c,u,v]
// (zero outside the input). x [B,C,H,W], W [O,C,kh,kw], bias [O] or undefined -> y [B,O,OH,OW]
Tensor conv2d_naive(const Tensor& x, const Tensor& weight, const Tensor& bias = Tensor(),
                    int64_t stride = 1, int64_t padding = 0);
// The same result as conv2d_naive, computed image by image as
// W [O,C*kh*kw] @ im2col(x[b]) [C*kh*kw, OH*OW] -> y[b] [O, OH*OW].
Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias = Tensor(),
              int64_t stride = 1, int64_t padding = 0);
// Windows of kernel x kernel, moved by stride (0: stride = kernel, windows
// that do not overlap). x [B,C,H,W] -> [B,C,OH,OW].
Tensor max_pool2d(const Tensor& x, int64_t kernel_size, int64_t stride = 0); // y = max of the window
Tensor avg_pool2d(const Tensor& x, int64_t kernel_size, int64_t stride = 0); // y = mean of the window
// Normalises each channel over the batch and the image, then scales and
// shifts it: y = (x - mean_c) / sqrt(var_c + eps) * weight[c] + bias[c].
// training: mean and var of this batch (biased var), and the running
// statistics move toward them: running = (1-momentum)*running + momentum*batch
// (the running var takes the unbiased batch var). eval: the running statistics.
// x [B,C,H,W]; running_mean, running_var, weight, bias [C] (weight, bias may be undefined).
Tensor batch_norm2d(const Tensor& x, const Tensor& running_mean, const Tensor& running_var,
                    const Tensor& weight, const Tensor& bias, bool training,
                    float momentum = 0.1f, float eps = 1e-5f);

// x [B,C,H,W] -> [B,O,OH,OW]. Kaiming-uniform weights (as Linear), zero bias.
struct Conv2d : Module {
    Conv2d(int64_t in_channels, int64_t out_channels, int64_t kernel_size, int64_t stride = 1,
           int64_t padding = 0, bool bias = true, Generator& g = default_generator());
    Tensor forward(const Tensor& x) override;
    std::vector<Tensor> parameters() override;
    std::vector<std::pair<std::string, Tensor>> named_parameters() override;
    std::string name() const override; // "Conv2d(1, 6, kernel_size=5, padding=2)"
    int64_t in_channels, out_channels, kernel_size, stride, padding;
    Tensor weight, bias; // [O,C,k,k], [O] (undefined without bias)
};
struct MaxPool2d : Module {
    explicit MaxPool2d(int64_t kernel_size, int64_t stride = 0);
    Tensor forward(const Tensor& x) override;
    std::string name() const override;
    int64_t kernel_size, stride;
};
struct AvgPool2d : Module {
    explicit AvgPool2d(int64_t kernel_size, int64_t stride = 0);
    Tensor forward(const Tensor& x) override;
    std::string name() const override;
    int64_t kernel_size, stride;
};
// Train mode uses and updates batch statistics; eval() switches to the running ones.
struct BatchNorm2d : Module {
    explicit BatchNorm2d(int64_t channels, float momentum = 0.1f, float eps = 1e-5f, bool affine = true);
    Tensor forward(const Tensor& x) override;
    std::vector<Tensor> parameters() override;                                 // weight, bias: what an optimizer updates
    std::vector<std::pair<std::string, Tensor>> named_parameters() override;   // those and the running statistics (for checkpoints)
    std::vector<std::pair<std::string, int64_t*>> named_counters() override;   // num_batches_tracked
    std::string name() const override;
    int64_t channels;
    float momentum, eps;
    Tensor weight, bias;                // [C] ones and zeros (undefined unless affine)
    Tensor running_mean, running_var;   // [C] zeros and ones; state, not parameters
    int64_t num_batches_tracked = 0;    // forward passes in train mode (PyTorch's counter; kept for its state_dict)
};
// [B, ...] -> [B, product of the rest]: from feature maps to a Linear's input.
struct Flatten : Module {
    Tensor forward(const Tensor& x) override;
    std::string name() const override { return "Flatten()"; }
};

// ===== Lesson 10 · Tokenization ==============================================
// Text enters as bytes and leaves as token ids. A character tokenizer gives
// every distinct character an id: a tiny vocabulary, one token per character.
// Byte-pair encoding (BPE, as GPT-2 does it on bytes) starts from the 256
// bytes and repeatedly merges the most frequent adjacent pair into a new
// token: a larger vocabulary, fewer tokens per text (so more text fits a
// context of T), and nothing is ever unknown, because every byte is a token.
// Costs: training BPE keeps a count of every adjacent pair and updates only
// the words a merge touches (a full recount per merge would be vocab_size
// passes over the corpus); a bigger vocabulary makes the embedding table and
// the output layer of a model bigger (V x D each).

// (DataVector and DataMap, the containers counted under Category::Data,
// are Lesson 05's.)

// A whole text file as bytes, refused unless it is valid UTF-8 and not
// empty. Errors name the file and, for bad UTF-8, the byte offset and what is
// wrong (a stray continuation byte, a truncated sequence, an overlong form, a
// surrogate, a code point past U+10FFFF): never silently dropped or replaced.
std::string read_text(const std::string& path);
// The same check of bytes already in memory; `name` is what errors call them.
void check_utf8(const std::string& bytes, const std::string& name);
// Code points of valid UTF-8 (checked as above).
std::u32string utf8_to_code_points(const std::string& bytes, const std::string& name);
std::string code_points_to_utf8(const std::u32string& code_points);

// One id per distinct character (code point) of the corpus, sorted by code
// point, so the same corpus always gives the same ids. with_unk adds one
// more id, the last, that every character not in the corpus encodes to and
// that decodes to U+FFFD (the replacement character); without it such a
// character is an error. Encode and decode take and give UTF-8.
struct CharTokenizer {
    explicit CharTokenizer(const std::string& corpus, bool with_unk = true);
    std::vector<int64_t> encode(const std::string& text) const;
    std::string decode(const std::vector<int64_t>& ids) const;
    int64_t vocab_size() const { return (int64_t)chars.size() + (unk_id >= 0); }
    DataVector<char32_t> chars; // id -> code point, ascending
    int64_t unk_id = -1;        // chars.size() when with_unk, else -1
};

// Byte-level BPE. Ids 0..255 are the bytes; id 256+k is merge k, the pair
// (left, right) it joins. Text is first cut into chunks (split_chunks) and
// merges never cross a chunk's edge, as GPT-2 does with its regular
// expression, so that " the" is learnt once rather than with every
// neighbour. Encoding applies the merges in the order they were learnt;
// decode(encode(t)) == t for every byte string t, valid UTF-8 or not.
struct BPETokenizer {
    BPETokenizer();                           // no merges: one token per byte
    // Learns vocab_size - 256 merges (fewer if the corpus runs out of pairs
    // that occur twice). vocab_size >= 256.
    static BPETokenizer train(const std::string& corpus, int64_t vocab_size);
    std::vector<int64_t> encode(const std::string& text) const;
    std::string decode(const std::vector<int64_t>& ids) const;
    int64_t vocab_size() const { return 256 + (int64_t)merges.size(); }
    std::string token_bytes(int64_t id) const;
    // Text format, one merge per line in order:
    //   tt-bpe 1
    //   merges N
    //   LEFT RIGHT        (N lines, decimal ids; line k's ids are < 256 + k)
    // load refuses anything else (naming the file and line): a bad header, a
    // count that disagrees with the lines, an id out of range, trailing junk.
    void save(const std::string& path) const;
    static BPETokenizer load(const std::string& path);
    static BPETokenizer load(std::istream& in, const std::string& name);

    DataVector<std::pair<int32_t, int32_t>> merges; // merge k makes id 256+k
    DataMap<uint64_t, int32_t> rank;                // (left << 32 | right) -> k
    DataVector<uint8_t> bytes;                      // every token's bytes, back to back
    DataVector<int64_t> offsets;                    // token id's bytes are [offsets[id], offsets[id+1])
    mutable DataMap<std::string, std::vector<int32_t>> cache; // chunk -> its ids (encode's memo)
private:
    void add_merge(int32_t left, int32_t right);
    std::vector<int32_t> encode_chunk(const std::string& chunk) const;
};

// GPT-2's pre-tokenizer, without regular expressions: a chunk is an optional
// space followed by a run of letters (bytes >= 0x80 count as letters, so a
// UTF-8 character stays whole), or of digits, or of other symbols; or a run
// of whitespace. Runs longer than 64 bytes are cut every 64 bytes (which keeps
// encoding linear on pathological input).
std::vector<std::string> split_chunks(const std::string& text);

// Token ids as a float tensor [N] (counted as Data) for a dataset.
Tensor token_tensor(const std::vector<int64_t>& ids);
// nanoGPT's split: the first `train_fraction` of the tokens train, the rest
// validate (by position, so no window of one is inside the other).
std::pair<std::vector<int64_t>, std::vector<int64_t>> split_by_position(const std::vector<int64_t>& ids,
                                                                        double train_fraction = 0.9);

// Next-token prediction windows over a token stream [N]: sample i is
// x = tokens[i : i+T], y = tokens[i+1 : i+T+1] (y is x shifted by one), for
// i = 0 .. N-T-1. Nothing is copied until a batch is gathered, so a 1 MB
// corpus does not become a million windows of T floats.
struct TextDataset : Dataset {
    TextDataset(Tensor tokens, int64_t block_size);
    int64_t size() const override;                              // N - T
    std::pair<Tensor, Tensor> get(int64_t i) const override;    // x [T], y [T] (views)
    Batch gather(const std::vector<int64_t>& rows) const override; // x [B,T], y [B,T]
    Tensor tokens;  // [N]
    int64_t block_size;
};

// ===== Lesson 11 · Embeddings ================================================
// A token id is a row number: an embedding is a table [V,D] of learned
// vectors, and looking a token up is copying its row. Forward costs one row
// copy per token (memory-bound: D floats read and written); backward adds
// each token's gradient into its row, so a row used twice gets both. The
// table is the biggest matrix of a small language model (V*D floats, plus as
// much again for its gradient and twice that for Adam's state). Attention
// sees a set, not a sequence, so position is added to each vector: a learned
// table of one row per position, or the fixed sinusoids of Vaswani et al.

// y[..., :] = weight[ids[...], :]       ids [*] whole numbers in 0..V-1 (floats,
// as every tensor here), weight [V,D] -> y [*, D]. Backward: dweight[ids[n]] += dy[n]
// (a scatter-add: repeated ids add up; rows no id uses get zero). An id that
// is not a whole number in 0..V-1 is an error naming the id and V.
Tensor embedding(const Tensor& ids, const Tensor& weight);

// PE[t, 2i] = sin(t / 10000^(2i/D)),  PE[t, 2i+1] = cos(t / 10000^(2i/D))
// -> [length, D]: each pair of columns a clock at its own frequency, from one
// turn per 2*pi positions down to one per 10000*2*pi; no parameters.
Tensor sinusoidal_positions(int64_t length, int64_t dim);

// A lookup table of `num_embeddings` vectors of size `dim`, drawn from
// N(0, init_std^2) (PyTorch's default is 1; GPT-2 uses 0.02). With
// scale_by_sqrt_dim the output is multiplied by sqrt(dim), as the original
// transformer does so that the embeddings are not drowned by the positions.
// ids [*] -> [*, dim]
struct Embedding : Module {
    Embedding(int64_t num_embeddings, int64_t dim, bool scale_by_sqrt_dim = false, float init_std = 1.0f,
              Generator& g = default_generator());
    Tensor forward(const Tensor& ids) override;
    std::vector<Tensor> parameters() override { return {weight}; }
    std::vector<std::pair<std::string, Tensor>> named_parameters() override { return {{"weight", weight}}; }
    std::string name() const override;
    int64_t num_embeddings, dim;
    bool scale_by_sqrt_dim;
    Tensor weight; // [num_embeddings, dim]
};

// Adds a position vector to every token vector: x [B,T,D] -> x + P[0:T] (P [max_len, D]).
// Learned: P is a parameter, N(0, init_std^2), max_len*D more floats to train;
// Sinusoidal: P = sinusoidal_positions(max_len, D), fixed, no parameters.
// A T past max_len is an error (a learned table has no row for it).
enum class Positions { Learned, Sinusoidal };
struct PositionalEmbedding : Module {
    PositionalEmbedding(int64_t max_len, int64_t dim, Positions kind = Positions::Learned, float init_std = 0.02f,
                        Generator& g = default_generator());
    Tensor forward(const Tensor& x) override;
    std::vector<Tensor> parameters() override;
    std::vector<std::pair<std::string, Tensor>> named_parameters() override;
    std::string name() const override;
    int64_t max_len, dim;
    Positions kind;
    Tensor table; // [max_len, dim]: a parameter when learned
};

// ===== Lesson 12 · Attention =================================================
// Attention lets each position of a sequence read from every other position,
// weighted by how well its query matches each key: a layer that can reach the
// whole context, where a convolution sees only a window. The price is
// quadratic: per head, the Tq x Tk matrix of weights is computed, kept for
// the backward pass and read again, so at T = 1024 it is bigger than
// everything else a small model holds. Here attention is one op with its own
// backward, worked in blocks of query rows, so that the key blocks a causal
// mask hides completely are never computed.

// S = q k^T / sqrt(D) (+ mask: -inf where a key is hidden),  P = softmax(S) along the keys,  y = P v
//   dv += P^T dy,  dP = dy v^T,  dS = P * (dP - rowsum(dP * P)),  dq += dS k / sqrt(D),  dk += dS^T q / sqrt(D)
// q [B,H,Tq,D], k [B,H,Tk,D], v [B,H,Tk,Dv], any strides (views are read in place)
// -> y [B,H,Tq,Dv], laid out in memory as [B,Tq,H,Dv], so that merging the heads,
// y.transpose(1,2).view({B,Tq,H*Dv}), is free.
// causal: query i sees keys j <= i + (Tk - Tq), aligned at the bottom right: the
// queries are the last Tq of the Tk positions (a prefix of Tk - Tq keys comes first).
// key_padding_mask [B,Tk]: nonzero marks a key that no query may see (PyTorch's True).
// A query that can see no key gets y = 0 (not NaN) and passes no gradient.
// weights, if given, receives P [B,H,Tq,Tk] (0 where hidden): the op's one T x T activation.
Tensor scaled_dot_product_attention(const Tensor& q, const Tensor& k, const Tensor& v, bool causal = false,
                                    const Tensor& key_padding_mask = Tensor(), Tensor* weights = nullptr);

// Attention of H heads over one fused projection, as one op: qkv [B,T,3C]
// holds q (head h in columns h*D..h*D+D-1 of the first C, D = C/H), then k,
// then v -> y [B,T,C], the heads' outputs side by side. The same as viewing
// the three column blocks as [B,H,T,D], scaled_dot_product_attention and
// merging the heads; here q, k, v are read in place and the backward writes
// dq, dk, dv straight into one [B,T,3C] gradient, where slices of a gradient
// would each allocate and fill a whole [B,T,3C] to gather into. Masks and
// weights as above (key_padding_mask [B,T]).
Tensor multi_head_attention(const Tensor& qkv, int64_t heads, bool causal = false, const Tensor& key_padding_mask = Tensor(),
                            Tensor* weights = nullptr);

// Self-attention with H heads of D = C/H features each:
//   q, k, v = split(x @ Wqkv^T + bqkv),   y = concat_h(attention(q_h, k_h, v_h)) @ Wo^T + bo
// x [B,T,C] -> [B,T,C]. The three projections are one Linear [C -> 3C] (one gemm
// instead of three), whose output multi_head_attention reads in place. Dropout
// (if p > 0) acts on the output projection while training; the attention
// weights themselves are not dropped (the fused op keeps one T x T matrix).
struct MultiHeadAttention : Module {
    MultiHeadAttention(int64_t dim, int64_t heads, bool bias = true, float dropout = 0, bool causal = false,
                       Generator& g = default_generator());
    Tensor forward(const Tensor& x) override;
    Tensor forward(const Tensor& x, const Tensor& key_padding_mask); // mask [B,T], nonzero = padding
    std::vector<Tensor> parameters() override;
    std::vector<std::pair<std::string, Tensor>> named_parameters() override;
    std::string name() const override; // "MultiHeadAttention(128, heads=4, causal)"
    void train(bool on = true) override;
    int64_t dim, heads;
    bool causal;
    bool keep_weights = false; // keep the last forward's attention weights in `weights` (for pictures)
    Linear qkv;                // [3C,C]: the rows of q (head 0, 1, ...), then of k, then of v
    Linear proj;               // [C,C]
    Dropout dropout;
    Tensor weights;            // [B,H,T,T] of the last forward, when keep_weights
};

// ===== Lesson 13 · Transformers ==============================================
// A transformer block is attention (positions talk to each other) followed by
// an MLP (each position thinks alone), each wrapped as x + f(LayerNorm(x)): the
// residual path lets gradients reach the first layer undiminished, and the
// normalisation keeps every sublayer's input at unit scale. A GPT stacks N
// blocks between a token-and-position embedding and a head that scores every
// token of the vocabulary. Cost per token: about 12 C^2 weights per block (4 C^2
// attention, 8 C^2 MLP), 2 flops per weight forward and 4 backward, plus the
// attention's T x T weights per head.

// Normalises each row (the last axis) to mean 0 and variance 1, then scales and shifts it:
//   y = (x - mean) / sqrt(var + eps) * weight + bias        (var biased, over the C features)
//   xhat = (x - mean) * rstd,  dxhat = dy * weight
//   dx += rstd * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat)),  dweight += sum dy * xhat,  dbias += sum dy
// x [...,C]; weight, bias [C] or undefined -> y [...,C]. Saves the mean and
// 1/sqrt(var + eps) of each row for the backward.
Tensor layer_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, float eps = 1e-5f);

// x [...,C] -> [...,C]; weight ones, bias zeros (no bias if bias = false).
struct LayerNorm : Module {
    explicit LayerNorm(int64_t dim, float eps = 1e-5f, bool bias = true);
    Tensor forward(const Tensor& x) override;
    std::vector<Tensor> parameters() override;
    std::vector<std::pair<std::string, Tensor>> named_parameters() override;
    std::string name() const override;
    int64_t dim;
    float eps;
    Tensor weight, bias; // [C], [C] (undefined without bias)
};

// Pre-LN transformer block (GPT-2's):
//   x = x + attn(ln1(x))                                    (causal self-attention)
//   x = x + dropout(fc2(gelu(fc1(ln2(x)))))                 fc1 [C -> 4C], fc2 [4C -> C]
// x [B,T,C] -> [B,T,C].
struct Block : Module {
    Block(int64_t dim, int64_t heads, float dropout = 0, bool bias = true, bool causal = true,
          Generator& g = default_generator());
    Tensor forward(const Tensor& x) override;
    std::vector<Tensor> parameters() override;
    std::vector<std::pair<std::string, Tensor>> named_parameters() override;
    std::string name() const override;
    void train(bool on = true) override;
    LayerNorm ln1;
    MultiHeadAttention attn;
    LayerNorm ln2;
    Linear fc1, fc2;
    Dropout dropout;
};

struct GPTConfig {
    int64_t vocab_size = 0;   // V
    int64_t block_size = 0;   // the longest context, T <= block_size
    int64_t n_layer = 0;      // blocks
    int64_t n_head = 0;       // H
    int64_t n_embd = 0;       // C, a multiple of H
    float dropout = 0;
    bool bias = true;         // biases in the Linears and LayerNorms
    bool tie_weights = false; // the head's weight is the token embedding
};

// Parameters by role. With tied weights the head adds none (the token embedding is it).
struct ParameterCounts {
    int64_t embeddings = 0, attention = 0, mlp = 0, layer_norms = 0, head = 0;
    int64_t total() const { return embeddings + attention + mlp + layer_norms + head; }
};

// A GPT: logits = head(ln_f(blocks(token_embedding[ids] + position_embedding[0..T-1]))).
// ids [B,T] of token numbers 0..V-1 (as floats) -> logits [B,T,V].
// GPT-2's initialisation: every weight and embedding from N(0, 0.02), the two
// projections that end each block (attn.proj, fc2) from N(0, 0.02/sqrt(2 n_layer))
// so that the residual sum of 2 n_layer branches keeps its scale; biases 0,
// LayerNorm weights 1.
struct GPT : Module {
    explicit GPT(const GPTConfig& config, Generator& g = default_generator());
    Tensor forward(const Tensor& ids) override;
    std::vector<Tensor> parameters() override;
    std::vector<std::pair<std::string, Tensor>> named_parameters() override;
    std::string name() const override;
    void train(bool on = true) override;
    ParameterCounts parameter_counts();
    // For AdamW: the matrices of the Linears (and the head) take weight decay;
    // biases, LayerNorms and the embeddings do not, unless decay_embeddings
    // (nanoGPT decays every 2-d parameter, embeddings included). Together the
    // two lists are parameters(). Use: AdamW opt(gpt.parameters(), ...);
    // opt.exclude_from_weight_decay(gpt.no_decay_parameters());
    std::vector<Tensor> decay_parameters(bool decay_embeddings = false);
    std::vector<Tensor> no_decay_parameters(bool decay_embeddings = false);
    // The prompt followed by max_new_tokens sampled tokens. Each step feeds the
    // last block_size tokens, takes the last position's logits / temperature,
    // keeps the top_k largest (0: all) and samples from their softmax with a
    // Generator seeded with `seed`: the same seed gives the same text.
    // temperature 0 is greedy (argmax). Runs in eval mode under NoGrad.
    std::vector<int64_t> generate(const std::vector<int64_t>& prompt, int64_t max_new_tokens, float temperature = 1.0f,
                                  int64_t top_k = 0, uint64_t seed = 42);
    // (Lesson 18's generate_cached is the same loop, with a KV cache.)
    GPTConfig config;
    Tensor token_embedding;    // [V,C]
    Tensor position_embedding; // [block_size,C]
    std::vector<std::shared_ptr<Block>> blocks;
    LayerNorm ln_f;
    Tensor head;               // [V,C]: logits = x @ head^T (no bias); the token embedding itself if tied
    Dropout dropout;           // on the embeddings' sum
};

// The choice generate makes from one position's logits: argmax at
// temperature 0, else a draw from softmax(scores / temperature) over the
// top_k largest (0: all; ties with the k-th are kept). scores [V] is
// overwritten; draws one uniform from rng (none when greedy).
int64_t sample_token(std::vector<float>& scores, float temperature, int64_t top_k, Generator& rng);

// ===== Lesson 14 · Profiling =================================================
// Where does a training step's time go? Measure, do not estimate: a Profiler
// is a scope (like torch.profiler.profile) during which every op on its thread
// reports, through the hooks of Lesson 01, its wall time, the flops and bytes
// it counts itself and the bytes it allocates, by op and by module, forward
// and backward apart. Flops divided by bytes is the op's arithmetic
// intensity, which places it under the roofline of Lesson 17: is it waiting
// on memory or on arithmetic? Cost while on: two clock reads and a table
// update per op (the demo measures it); while off, one test of a null
// pointer per op.

// One line of a profile: an op (in one pass) or a module.
struct ProfileRow {
    std::string name;          // "matmul", "(outside ops)", or a module's name
    bool backward = false;     // the backward pass's share
    bool module = false;       // a module's row: its ops' self times and counts, child modules included
    int depth = 0;             // a module's nesting depth (0: outermost)
    int64_t calls = 0;
    double total_seconds = 0;  // wall time inside it, what it called included
    double self_seconds = 0;   // less the time in the ops it called (a module: in its child modules)
    double flops = 0;          // as the ops counted them (for an op row: its own, not its callees')
    double bytes_read = 0, bytes_written = 0; // each operand crossing memory once
    int64_t allocated[kCategories] = {};      // new tensor bytes, by Category
    int64_t allocated_bytes() const;          // their sum
    double intensity() const;                 // flops per byte read or written (0 without bytes)
    double gflops_per_second() const;         // flops / self seconds (a module: / total)
};

// Profiler p; ... one training step ...; p.stop(); std::puts(p.table().c_str());
// The scope must hold the forward and the backward: an op recorded on the tape
// while a Profiler is on is timed in the backward too. One Profiler at a time
// per thread; ops on other threads (gemm's workers) count in the op that
// started them.
class Profiler {
public:
    Profiler();
    ~Profiler();
    Profiler(const Profiler&) = delete;
    Profiler& operator=(const Profiler&) = delete;
    void stop();                              // stop recording; the results stay
    std::vector<ProfileRow> ops() const;      // by self time, largest first; "(outside ops)" among them
    std::vector<ProfileRow> modules() const;  // as first entered, each followed by its children; forward, then backward
    ProfileRow total() const;                 // wall time, every op's flops, bytes and allocations
    int64_t events() const;                   // ops and modules entered
    // The bookkeeping's cost: events() times the cost of one event measured
    // on this machine. The rows' self times add up to the wall time exactly;
    // this is how much of it the profiler itself spent.
    double overhead_seconds() const;
    // The ops as a table sorted by time (the first `rows`), and the modules'
    // table. With a roofline (peak GFLOP/s, bandwidth GB/s) each op's column
    // "roof" is its GFLOP/s as a fraction of what the roofline allows at its intensity.
    std::string table(int rows = 15, double peak_gflops = 0, double bandwidth_gb_per_s = 0) const;
    std::string module_table(int max_depth = 1 << 20) const; // modules nested deeper are left out
    std::shared_ptr<struct ProfilerState> state;
};

// The roofline: what a kernel of `intensity` flops per byte can reach,
// min(peak, bandwidth * intensity), in GFLOP/s.
double roofline_gflops(double intensity, double peak_gflops, double bandwidth_gb_per_s);

// Latency of f: `warmup` calls not timed, then `runs` timed ones (runs >= 1).
// Report the median, and the spread as the interquartile range: a run
// disturbed by the machine moves the mean, not these.
struct Latency {
    int runs = 0;
    double median = 0, min = 0, max = 0, q1 = 0, q3 = 0; // seconds
    double spread() const { return median > 0 ? (q3 - q1) / median : 0; } // (q3 - q1) / median
};
Latency measure_latency(const std::function<void()>& f, int runs = 10, int warmup = 2);

// Amdahl's law: the whole's speed-up when a part taking `fraction` of the
// time is made `speedup` times faster: 1 / ((1 - fraction) + fraction / speedup).
double amdahl_speedup(double fraction, double speedup);

// ===== Lesson 15 · Quantization ==============================================
// A trained network's weights, stored in 8-bit integers instead of 32-bit
// floats: four times smaller, and an int8 x int8 product summed in int32 runs
// faster than a float one (twice the values per vector register). Each row
// of a weight gets a scale, real ~= scale * q with q in [-127, 127]
// ("symmetric": zero is exactly 0, no zero point); an activation gets one
// scale per tensor, from its largest |x| in this batch (dynamic) or from a
// range measured beforehand on a few hundred training samples (calibrated:
// min-max, or a percentile that ignores the rarest outliers). Cost: a
// rounding error of at most scale/2 per value, and inference only.

// Int8 bytes counted by the tracker under Quantized (one byte per element).
struct Int8Storage {
    explicit Int8Storage(int64_t count); // zero-filled; throws if over budget
    ~Int8Storage();
    Int8Storage(const Int8Storage&) = delete;
    Int8Storage& operator=(const Int8Storage&) = delete;
    int8_t* data;
    int64_t count;
};

// An int8 tensor, contiguous and row-major: value[i] ~= scale[row(i)] * q[i],
// with one scale for the whole tensor (scale [1]) or one per row, i.e. per
// output channel of a weight [O, ...] (scale [O]).
struct QTensor {
    Shape shape;
    std::shared_ptr<Int8Storage> storage;
    Tensor scale; // [1] or [shape[0]], float, counted under Quantized
    int8_t* data() const { return storage ? storage->data : nullptr; }
    int64_t numel() const { return storage ? storage->count : 0; }
    bool per_channel() const { return scale.defined() && scale.numel() > 1; }
};
QTensor new_qtensor(const Shape& shape, int64_t scales); // zeros, scale [scales] of ones
// The scale that maps [-max_abs, max_abs] onto [-127, 127] (1 for an all-zero range).
float symmetric_scale(float max_abs);
// q = clamp(round(x / scale), -127, 127), one scale for all: x any shape.
QTensor quantize_per_tensor(const Tensor& x, float scale);
// Each row o of w [O, ...] with its own scale max|w[o]| / 127.
QTensor quantize_per_channel(const Tensor& w);
// x ~= scale * q, back to float (shape of q). |x - dequantize(quantize(x))| <= scale/2
// for x inside the range.
Tensor dequantize(const QTensor& q);

// C[i*ldc+j] = sum_k A[i*lda+k] * B[j*ldb+k] in int32: A [M,K] @ B[N,K]^T,
// the layout of x @ W^T (both operands read along K). Exact: int8 products
// are at most 128*128 = 2^14, so a sum of K of them stays below 2^31 while
// K <= kInt8MaxK; larger K is an Error.
constexpr int64_t kInt8MaxK = 131071; // (2^31 - 1) / 2^14
void gemm_int8_naive(int64_t M, int64_t N, int64_t K, const int8_t* A, int64_t lda, const int8_t* B, int64_t ldb,
                     int32_t* C, int64_t ldc);
// The fast kernel (in the kernels' block at the end of Lesson 17, as it is
// compiled once per instruction set): operands packed in K slices, an
// MR x NR tile of dot products over K that the compilers turn into
// multiply-add-pairs instructions (with AVX-512 VNNI, vpdpbusd on uint8 x
// int8, A offset by 128 and the sum corrected; elsewhere int16 x int16:
// x86 pmaddwd, NEON smlal), threaded over blocks of C.
struct Int8Tile {
    std::string isa; // "avx512+vnni", "avx512", "avx2", "sse2", "neon", "scalar"
    int64_t mr = 0, nr = 0;
};
const std::vector<Int8Tile>& gemm_int8_tiles(); // this build on this CPU, best first
void gemm_int8(int64_t M, int64_t N, int64_t K, const int8_t* A, int64_t lda, const int8_t* B, int64_t ldb,
               int32_t* C, int64_t ldc);
void gemm_int8_with(const Int8Tile& tile, int64_t M, int64_t N, int64_t K, const int8_t* A, int64_t lda,
                    const int8_t* B, int64_t ldb, int32_t* C, int64_t ldc);

// How a quantized layer picks its input's scale.
enum class Calibration {
    Dynamic,    // max|x| of each batch, measured as it runs
    MinMax,     // the largest |x| seen on the calibration data
    Percentile, // the 99.99th percentile of |x| there: a rare outlier does not stretch the scale
};
const char* calibration_name(Calibration c);

// Inference-only layers: int8 weights with a float scale per output channel,
// the input quantized per tensor, int32 sums, then y = sum * (sx * sw[o]) + b[o].
// Built from a trained layer; they keep no float copy of its weight.
struct QuantizedLinear : Module {
    explicit QuantizedLinear(const Linear& layer, float input_scale = 0); // 0: dynamic
    Tensor forward(const Tensor& x) override; // x [B,in] -> [B,out]
    std::string name() const override;
    int64_t in_features, out_features;
    QTensor weight;    // [out,in] int8, scale [out]
    Tensor bias;       // [out] float (undefined without bias), under Quantized
    float input_scale; // 0: dynamic
};
// Through im2row: each output pixel's C*k*k patch as a row of int8s, then
// gemm_int8 against W [O, C*k*k].
struct QuantizedConv2d : Module {
    explicit QuantizedConv2d(const Conv2d& layer, float input_scale = 0);
    Tensor forward(const Tensor& x) override; // x [B,C,H,W] -> [B,O,OH,OW]
    std::string name() const override;
    int64_t in_channels, out_channels, kernel_size, stride, padding;
    QTensor weight;    // [O,C,k,k] int8, scale [O]
    Tensor bias;       // [O] float (undefined without bias)
    float input_scale; // 0: dynamic
};

// A quantized copy of a trained Sequential: each Linear and Conv2d becomes
// its quantized twin, the layers without parameters (ReLU, pooling, Flatten,
// Dropout, Augment...) are shared. Calibrated ranges are measured by running
// the float model in eval mode on the calibration loader's first
// `calibration_batches` batches. A model with no Linear or Conv2d, or a layer
// with other parameters (BatchNorm2d), is an Error.
std::shared_ptr<Sequential> quantize(Sequential& model, DataLoader* calibration = nullptr,
                                     Calibration method = Calibration::Dynamic, int64_t calibration_batches = 4);
// Bytes the tracker counts for the model's weights: float weight tensors
// (Linear, Conv2d) or int8 weights plus their scales (quantized layers).
int64_t weight_bytes(Sequential& model);

// A quantized model in safetensors: per layer i, "<i>.weight" (I8),
// "<i>.weight_scale" and "<i>.input_scale" (F32), "<i>.bias" (F32). Loading
// fills a quantized model of the same architecture (from quantize()), after
// checking every name, dtype and shape; anything else is an Error.
void save_quantized(const std::string& path, Sequential& model);
void load_quantized(const std::string& path, Sequential& model);

// ===== Lesson 16 · Compression ===============================================
// Three ways to make a trained model smaller or faster, each measured, not
// simulated: pruning (zero the smallest weights; then store only the others,
// in CSR, so the product skips them; or remove whole neurons, so the dense
// layers themselves shrink), low-rank factorisation (a Linear [out,in] as two
// thin ones through its truncated SVD), and distillation (train a small
// model on a big one's softened outputs). Cost: some accuracy, bought back
// in part by fine-tuning.

// Fraction of exact zeros in the tensor, or in all Linear/Conv2d weights.
float measure_sparsity(const Tensor& t);
float measure_sparsity(Module& model);

// Masks that keep pruned weights at zero: apply() multiplies each weight by
// its mask (call it after every optimizer step, so fine-tuning cannot
// regrow them). masks[i] is 1 where weights[i] is kept, 0 where pruned.
struct PruningMasks {
    std::vector<Tensor> weights, masks;
    void apply() const;
};
// Unstructured magnitude pruning of every Linear/Conv2d weight to `sparsity`
// in [0,1): per layer (each loses that fraction of its own smallest |w|),
// or global (one threshold over all of them, so small layers may lose less).
PruningMasks magnitude_prune(Module& model, float sparsity, bool global = false);

// Compressed sparse rows: the nonzeros of W [rows, cols], row by row.
// values [nnz] is a tracked tensor; the index arrays are int32.
struct CsrMatrix {
    int64_t rows = 0, cols = 0;
    Tensor values;                 // [nnz]
    std::vector<int32_t> column;   // [nnz]
    std::vector<int32_t> row_start; // [rows+1]: row r is [row_start[r], row_start[r+1])
    int64_t nnz() const { return (int64_t)column.size(); }
    int64_t bytes() const;         // 4 per value, 4 per column index, 4 per row start
};
CsrMatrix to_csr(const Tensor& w);   // w [rows, cols]
Tensor from_csr(const CsrMatrix& m); // back to dense
// y = x @ W^T + b with W in CSR: x [B,in], W [out,in], b [out] or undefined
// -> y [B,out]; nnz * B multiply-adds instead of out * in * B. Inference only.
Tensor sparse_linear(const Tensor& x, const CsrMatrix& w, const Tensor& bias = Tensor());

// Structured pruning of a Sequential of Linear layers (activations between):
// keeps the `keep` fraction (0,1] of each hidden Linear's neurons with the
// largest L2 norm of their weight row, and drops the matching columns of the
// next Linear. Returns a new, smaller dense model; the last layer's outputs
// all stay.
std::shared_ptr<Sequential> prune_neurons(Sequential& model, float keep);

// Thin SVD of a [m,n] matrix by one-sided Jacobi: a = U diag(S) V^T with
// U [m,r], S [r] descending, V [n,r], r = min(m,n). Columns of U for a zero
// singular value are zero.
struct Svd {
    Tensor U, S, V;
};
Svd svd(const Tensor& a, int max_sweeps = 60);
// The smallest rank whose singular values hold `fraction` of sum S^2.
int64_t rank_for_energy(const Tensor& S, float fraction);
// A Linear as two: x -> x @ (V_r)^T [in -> rank] -> @ (U_r S_r)^T + b [rank -> out].
// rank in [1, min(out,in)].
std::shared_ptr<Sequential> low_rank(const Linear& layer, int64_t rank);

// Hinton's distillation loss: alpha * T^2 * KL(softmax(teacher/T) || softmax(student/T))
// + (1 - alpha) * cross_entropy(student, targets), the mean over the batch.
// student, teacher [B,C] (the teacher is not differentiated), targets [B].
Tensor distillation_loss(const Tensor& student_logits, const Tensor& teacher_logits, const Tensor& targets,
                         float temperature = 4.0f, float alpha = 0.9f);

// ===== Lesson 17 · Acceleration ==============================================
// The naive kernel of Lesson 01 runs at a few GFLOP/s; a core of this era can
// do a hundred times that. The gap is closed in steps, each measured by
// `./tt lesson 17`: loop order (stream rows, not columns), blocking (work on
// tiles that fit the caches), packing (copy each tile once into the order the
// inner loop reads), a register tile (accumulators the compiler keeps in
// vector registers, sized for the instruction set), and threads (blocks of C
// shared among the cores). Cost: a few hundred lines, scratch for the packed
// tiles, and one thread per core.


// Same contract as gemm_naive (Lesson 01): C[i*ldc+j] (+)= sum_k A[i,k] * B[k,j]
// with any strides for A and B, so transposed views are read in place. Installed
// in tt::gemm when the program starts, so matmul, linear and conv2d all use it.
// The result does not depend on the number of threads: each element of C is
// summed by one thread, always in the same order.
void gemm_fast(int64_t M, int64_t N, int64_t K, const float* A, int64_t rsA, int64_t csA,
               const float* B, int64_t rsB, int64_t csB, float* C, int64_t ldc, bool accumulate);

// gemm_fast's register tile for one instruction set: C[mr,nr] held in
// mr*nr/vector_floats vector registers while the k loop runs, sized so that
// the tile, a row of B and a broadcast of A fit the ISA's registers (AVX-512
// 32 of 16 floats, AVX2 and SSE2 16 of 8 and 4, NEON 32 of 4, VFP 32 floats).
// kc and mc are the blocking that follows from it: a kc x nr panel of packed B
// fills the L1 cache, an mc x kc block of packed A a quarter of the L2.
struct GemmTile {
    std::string isa;          // "avx512", "avx2+fma", "sse2", "neon", "vfp", "scalar"
    int64_t mr = 0, nr = 0;   // the tile of C in registers
    int64_t vector_floats = 1; // floats per vector register (1: scalar)
    int64_t registers = 0;    // vector (or float) registers the ISA has
    int64_t kc = 0, mc = 0;   // K slice, rows of an A block
    int64_t peak_chains = 0;  // independent multiply-add chains (vectors) of its peak loop
};
// The tiles this build has and this CPU can run, the one gemm_fast uses first.
// A g++ build for x86-64 has three (AVX-512, AVX2+FMA, SSE2), the CPU's best
// picked at start-up; other builds have the one their target macros select.
const std::vector<GemmTile>& gemm_tiles();
const GemmTile& gemm_tile(); // gemm_tiles()[0]
// gemm_fast through a given tile (one of gemm_tiles(); else an Error): the
// tests and milestone 2024 check every one this CPU can run.
void gemm_fast_with(const GemmTile& tile, int64_t M, int64_t N, int64_t K, const float* A, int64_t rsA,
                    int64_t csA, const float* B, int64_t rsB, int64_t csB, float* C, int64_t ldc, bool accumulate);
// The roofline's ceiling for the tile's instruction set, independent of the
// gemm: `steps` rounds of tile.peak_chains independent multiply-add chains,
// each a full vector register, enough to hide the latency of a multiply-add
// (4-5 cycles, two issued per cycle). Does 2 * steps * peak_chains *
// vector_floats flops; returns a checksum so the work cannot be dropped.
float multiply_add_chains(const GemmTile& tile, int64_t steps);

// The thread pool every parallel op shares. Its size comes from the environment
// variable TT_THREADS (a whole number from 1 to 1024) or, when it is unset or
// empty, the number of hardware threads; set_num_threads changes it (throws
// outside 1..1024). A malformed TT_THREADS ("abc", "0", "4x", "-2", " 4") is
// an Error naming it, thrown by the first parallel op, as TT_MEM_LIMIT's is.
void set_num_threads(int n);
int get_num_threads();
int threads_setting(const char* value); // TT_THREADS's value (nullptr: unset) -> threads; throws on junk
// Both settings of the environment, TT_MEM_LIMIT and TT_THREADS, read now:
// throws the Error of the first malformed one. ./tt and the test runner
// call it first and stop with exit status 2, before any work is done.
void check_environment();
// Lesson 09's parallel_for on the pool: calls f(0), ..., f(n-1) spread over
// the threads (the calling thread helps) and returns when all are done.
// Called from inside a pool task (nested), it simply runs the calls in order.
// Installed in tt::parallel_for when the program starts.
void parallel_for_pool(int64_t n, const std::function<void(int64_t)>& f);

// ===== Lesson 18 · Memoization ===============================================
// Generating n tokens with GPT::generate runs the whole sequence through the
// model at every step: the keys and values of position t are recomputed at
// every later step, n^2/2 projections where n would do, and each step's
// attention is T x T where only its last row is new. A KV cache memoizes them:
// per layer, buffers [B,H,T_max,D] for keys and values, preallocated, into
// which each step writes its new positions (O(1) per token, nothing moved),
// so a step is one token's matrix-vector work plus one attention row over the
// cached prefix. Cost: 2 L B H T_max D floats of memory, counted under
// Category::Cache, and inference only: nothing is recorded on the tape (the
// buffers are written in place, which the tape could not differentiate).

// The keys and values of the positions a GPT has seen, per layer. Each layer
// fills its own buffers (append); length() is how many positions every layer
// holds once a step has run through all of them.
struct KVCache {
    // L layers of H heads of D features, for batch B, up to max_length positions.
    KVCache(int64_t layers, int64_t batch, int64_t heads, int64_t max_length, int64_t head_size);
    // A GPT's shapes: L = n_layer, H = n_head, D = n_embd / n_head; max_length 0 means block_size.
    explicit KVCache(const GPTConfig& config, int64_t batch = 1, int64_t max_length = 0);
    // Writes k, v [B,H,T,D] (any strides) at the layer's next T positions and
    // returns views [B,H,filled+T,D] of all the keys and values it now holds.
    // An Error if the shapes are not the cache's or T_max would be passed.
    std::pair<Tensor, Tensor> append(int64_t layer, const Tensor& k, const Tensor& v);
    int64_t length() const;   // positions held by every layer; an Error if the layers disagree
    void clear();             // forget every position (the buffers stay allocated)
    int64_t bytes() const;    // 2 L B H T_max D * 4, the tracker's count of the buffers
    std::string name() const; // "KVCache(layers=4, batch=1, heads=4, max_length=128, head_size=32)"
    int64_t layers, batch, heads, max_length, head_size;
    std::vector<Tensor> keys, values; // per layer [B,H,T_max,D], zeros until written
    std::vector<int64_t> filled;      // per layer, positions written
};

// The GPT on T new positions, reading and extending the cache: ids [B,T] are
// the tokens at positions cache.length() .. cache.length()+T-1 -> logits
// [B,T,V], what gpt.forward on the whole sequence so far gives for those
// positions (to rounding). The first call feeds the prompt, each later one a
// token. Inference only: records nothing (no gradients), no dropout (eval).
// Errors name forward_cached: a cache of other shapes than the model's
// (layers, heads, head size), another batch, or T_max or block_size passed.
Tensor forward_cached(GPT& gpt, const Tensor& ids, KVCache& cache);

// GPT::generate with a cache made for the call: the prompt in one step,
// then one token per step; the same sampling (sample_token), so the same
// seed gives the same tokens. Positions are absolute, so the window cannot
// slide: prompt + max_new_tokens - 1 must fit block_size (generate crops
// instead). The cache holds exactly those positions.
std::vector<int64_t> generate_cached(GPT& gpt, const std::vector<int64_t>& prompt, int64_t max_new_tokens,
                                     float temperature = 1.0f, int64_t top_k = 0, uint64_t seed = 42);


// ===== Lesson 19 · Benchmarking ==============================================
// One timing is an anecdote. A benchmark warms up (caches, the thread pool,
// the allocator's free blocks), then repeats the timed run until the 95%
// confidence interval of the mean is narrow enough, or a cap on runs or time
// is reached; it reports the distribution (median and percentiles, which a
// disturbed run cannot move far), the interval, the coefficient of variation
// and the outliers, with the machine that measured it. Two configurations
// are compared in alternating pairs, so the machine's drift hits both
// alike, and "A is faster" is said only when the interval of the ratio
// excludes 1. Cost: the runs themselves (seconds per benchmark), and the
// honesty to report "no difference shown".

// The statistics of a sample (seconds, or any measure), n >= 1.
struct Summary {
    int64_t n = 0;
    double mean = 0, median = 0, stddev = 0, min = 0, max = 0; // stddev with n - 1 (0 when n == 1)
    double p50 = 0, p90 = 0, p99 = 0;  // percentiles, linear between the sorted samples
    double ci_low = 0, ci_high = 0;    // the 95% confidence interval of the mean: mean -+ t(n-1) stddev / sqrt(n)
                                       // (-+infinity when n == 1: one run says nothing of the spread)
    std::vector<int64_t> outliers;     // indices of the samples beyond Tukey's fences (1.5 IQR outside the quartiles)
    double cv() const;                 // coefficient of variation: stddev / mean
    double relative_ci() const;        // half the interval's width as a fraction of the mean
};
// The p-th percentile (p in [0,100]) of values (not empty), linear between
// the sorted values as numpy.percentile does by default.
double percentile(std::vector<double> values, double p);
// Student's t: the two-sided critical value for `confidence` (0.90, 0.95 or
// 0.99) with that many degrees of freedom (>= 1); 1.96 for 0.95 at infinity.
double student_t(int64_t degrees_of_freedom, double confidence = 0.95);
// An Error naming summarize when samples is empty or holds a NaN or infinity.
Summary summarize(const std::vector<double>& samples);

struct Interval {
    double low = 0, high = 0;
    bool contains(double x) const { return low <= x && x <= high; }
};
// The percentile bootstrap of the median: `resamples` resamples with
// replacement from a seeded generator, the interval between their medians'
// (1-confidence)/2 and (1+confidence)/2 percentiles. For skewed timings,
// where the t interval of the mean is too optimistic.
Interval bootstrap_median(const std::vector<double>& samples, int64_t resamples = 2000, uint64_t seed = 42,
                          double confidence = 0.95);
// How many runs bring the t interval's half-width under `precision` (a
// fraction of the mean, e.g. 0.02) when the runs vary by `cv`: the smallest
// n >= 2 with t(n-1) cv / sqrt(n) <= precision.
int64_t runs_needed(double cv, double precision, double confidence = 0.95);

struct BenchmarkOptions {
    int64_t warmup = 3;             // calls not timed, after the cold one
    int64_t min_runs = 5, max_runs = 1000;
    double max_seconds = 2.0;       // stop once the timed runs add up to this much (from the 2nd run on:
                                    // a slow f is not run min_runs times past the budget)
    double target_ci = 0.02;        // stop once relative_ci() is at most this (after min_runs)
    bool bootstrap = false;         // also the bootstrap interval of the median
};
struct Benchmark {
    std::string name;
    double cold_seconds = 0;        // the first call of all, before the warm-up: caches and allocator cold
    std::vector<double> samples;    // seconds of each timed call, in order
    Summary stats;                  // of samples
    Interval median_ci;             // the bootstrap's, when asked (else 0, 0)
    std::string stopped_by;         // "ci", "runs" or "time": which condition ended it
    double items = 1;               // items each call processes (samples, tokens)
    double throughput() const;      // items / mean seconds
    Interval throughput_ci() const; // items / the mean's interval: [items / ci_high, items / ci_low] (infinite above when ci_low <= 0)
};
// f called 1 + warmup + n times; an Error naming benchmark for bad options
// (negative warm-up, min_runs < 2, max_runs < min_runs, caps not positive).
Benchmark benchmark(const std::string& name, const std::function<void()>& f, const BenchmarkOptions& options = {},
                    double items_per_call = 1);

// MLPerf Inference's two scenarios for one model. run(batch) infers `batch`
// samples. Single-stream: one sample at a time, the latency percentiles
// count. Offline: all the samples at once, only throughput counts, at the
// batch size that gives the most.
Benchmark single_stream(const std::string& name, const std::function<void(int64_t)>& run,
                        const BenchmarkOptions& options = {});
struct Offline {
    std::vector<Benchmark> batches;   // one per batch size tried, items = the batch size
    int64_t best_batch = 0;
    double samples_per_second = 0;    // at the best batch
    Interval samples_per_second_ci;   // from the best batch's interval of the mean
};
Offline offline(const std::string& name, const std::function<void(int64_t)>& run, const std::vector<int64_t>& batch_sizes,
                const BenchmarkOptions& options = {});

// A paired comparison: a and b timed alternately (a, b, b, a, ...), the
// ratio of each pair's times b/a, and the t interval of their mean log,
// back-transformed: `speedup` is the geometric mean of how many times a is
// faster than b. a_faster() only when the whole interval is above 1.
struct Comparison {
    std::string a, b;
    int64_t pairs = 0;
    double speedup = 1;  // time of b / time of a
    Interval ci;         // 95% interval of speedup
    bool a_faster() const { return ci.low > 1; }
    bool b_faster() const { return ci.high < 1; }
    std::string verdict() const; // "A is 1.83x faster than B (95% CI 1.79-1.87)", or "no difference shown ..."
};
Comparison compare(const std::string& name_a, const std::function<void()>& a, const std::string& name_b,
                   const std::function<void()>& b, const BenchmarkOptions& options = {});
// The same from timings already paired: seconds_a[i] and seconds_b[i] ran together.
Comparison compare_paired(const std::string& name_a, const std::vector<double>& seconds_a, const std::string& name_b,
                          const std::vector<double>& seconds_b);

// A model variant on the three axes a deployment trades.
struct Variant {
    std::string name;
    double accuracy = 0;        // higher is better
    double latency_seconds = 0; // lower is better
    int64_t size_bytes = 0;     // lower is better
};
// frontier[i] is true when no other variant is at least as good on all
// three axes and better on one (ties on all three: both stay).
std::vector<bool> pareto_frontier(const std::vector<Variant>& variants);

// The machine and build a result was measured on, recorded with every result.
struct Platform {
    std::string cpu;       // the model name in /proc/cpuinfo (or the architecture's name)
    int64_t cores = 0;     // hardware threads
    int64_t threads = 0;   // tt's thread pool
    std::string arch;      // "x86_64", "aarch64", "armv7l" ...
    std::string compiler;  // "g++ 12.2.0", "clang++ 14.0.6"
    std::string flags;     // the flags tt.c++ was built with
    std::string build;     // "portable" (per-CPU clones picked at start-up) or "native (-march=...)"
    std::string gemm_isa;  // gemm_tile().isa, what this CPU runs
    std::string commit;    // `git describe --always --dirty` of the source; "unknown" outside a checkout
};
Platform platform();
// What the build knew, for platform(): the Makefile writes $(BUILD)/build-info.c++
// (rewritten only when its text changes, so a commit recompiles that one tiny
// file, not tt.c++), whose object sets this before main. A program linked
// without it reports "unknown" for both.
struct BuildInfo {
    const char* commit = "unknown";
    const char* flags = "unknown"; // the CXXFLAGS
};
extern BuildInfo build_info;

// ===== Lesson 20 · Capstone ==================================================
// The course ends in a contest, as MLPerf's rounds do: five events, each
// judging one model's measurements (accuracy on the test set, single-stream
// latency with its interval, size, memory) under rules of its own, and a
// submission file that records them with the model, the data set and the
// machine (Lesson 19's Platform). tt checks a submission before writing it
// and again on reading it: every field present, of its type and in its
// range, and each event's verdict and score recomputed from the metrics, so
// a leaderboard can rank files it did not make. Cost: the measurements (the
// harness, seconds per model); judging and checking are arithmetic.

// What the events judge: one model, on one test set, on one machine.
struct Measurements {
    double accuracy = 0;          // fraction of the test set classified right, in [0,1]
    int64_t test_samples = 0;     // the test set's size (>= 1)
    double latency_median = 0;    // seconds to infer one sample (single stream, batch 1): the median run
    double latency_ci_low = 0;    // the bootstrap's 95% interval of that median
    double latency_ci_high = 0;
    double latency_p90 = 0, latency_p99 = 0; // percentiles of the same runs (median <= p90 <= p99)
    int64_t latency_runs = 0;     // timed runs behind them (>= 1)
    double throughput = 0;        // samples per second offline, at the best batch size
    int64_t size_bytes = 0;       // the model's tensors as held: 4 bytes a float, 1 an int8 (stored_bytes)
    int64_t peak_bytes = 0;       // size_bytes plus the most one single-stream inference had live beyond it
};
// Bytes of a model's tensors as tt holds them: every parameter's floats, and
// a quantized layer's int8 weight, its scales and its bias. Zeros count: a
// pruned layer stored dense is as big as before (Lesson 16's CSR is not).
int64_t stored_bytes(Module& model);

// A rule an entry must meet to be ranked in an event: metric >= bound
// (at_least) or metric < bound.
struct Rule {
    std::string metric; // a name metric_value knows
    bool at_least = true;
    double bound = 0;
    std::string str() const; // "accuracy >= 0.85", "latency_median < 0.1"
};
struct Event {
    std::string name;       // "latency-sprint": how files and the command line name it
    std::string title;      // "Latency Sprint"
    std::string objective;  // what it rewards, in a sentence
    std::vector<Rule> rules;
    std::string score;      // the metric it ranks by
    bool higher_is_better = false;
};
// The five events, in this order (the chapter's table):
//   latency-sprint    accuracy >= 0.85                          lowest latency_median
//   memory-challenge  accuracy >= 0.85                          smallest size_bytes
//   accuracy-contest  latency_median < 0.1 s, size < 10 MiB     highest accuracy
//   all-around        accuracy >= 0.85                          highest balance
//   extreme-push      accuracy >= 0.80                          lowest size_x_latency
const std::vector<Event>& capstone_events();
const Event& capstone_event(const std::string& name); // an Error listing the names for another
// A field of Measurements by its name ("accuracy", "latency_median",
// "size_bytes", ...) or one of two derived from them:
//   balance        = cbrt(accuracy * (1 ms / latency_median) * (1 MiB / size_bytes))
//                    (a geometric mean: halving the size counts as much as halving the latency)
//   size_x_latency = size_bytes * latency_median, in byte-seconds
// An Error naming metric_value for any other name.
double metric_value(const Measurements& m, const std::string& metric);

// One event's verdict on one entry: eligible when every rule holds; else
// reason says the first that does not ("needs accuracy >= 0.85, has 0.84").
// The score is computed either way (an ineligible entry is not ranked).
struct Verdict {
    std::string event;
    bool eligible = false;
    std::string reason; // "" when eligible
    double score = 0;
};
Verdict judge(const Event& event, const Measurements& m);
std::vector<Verdict> judge_all(const Measurements& m); // one per capstone_events(), in order

// The submission file, schema version 1 (chapter 20 documents every field).
constexpr int64_t kSubmissionSchemaVersion = 1;
struct SubmittedModel {
    std::string name;          // "mlp-int8", or the checkpoint's file name
    std::string architecture;  // Lesson 08's text of the float model: "Linear(64, 32) ReLU() Linear(32, 10)"
    int64_t params = 0;        // parameters of that architecture
    double sparsity = 0;       // fraction of its Linear/Conv2d weights that are exactly 0, in [0,1]
    bool quantized = false;    // int8 weights (Lesson 15's quantize)
};
struct Submission {
    int64_t schema_version = kSubmissionSchemaVersion;
    std::string submitter;       // free text, may be empty
    std::string dataset;         // "tinydigits" or "mnist"
    SubmittedModel model;
    Measurements metrics;
    Platform platform;           // where it was measured
    std::vector<Verdict> events; // judge_all(metrics)
};
// The checks a file passes on the way out and on the way in; each failure
// an Error "submission: field 'events[2].score' ..." naming the field's path
// and what was wrong: an unknown schema version or data set, a value out of
// its range (an accuracy above 1, a latency that is not positive, p90 below
// the median), events that are not the five in order, or a verdict or score
// that the metrics do not give.
void validate(const Submission& s);
// Pretty-printed JSON, two-space indents, numbers that read back exactly;
// validate(s) first.
std::string to_json(const Submission& s);
// The reverse, and stricter than JSON: every field of the schema present
// with its type, no field it does not know (a misspelt key is caught), then
// validate. Bad JSON is an Error "submission: bad JSON at byte N: ...".
Submission parse_submission(const std::string& json);
void write_submission(const std::string& path, const Submission& s); // Errors name the path
Submission read_submission(const std::string& path);

// The leaderboard of one event: indices of the eligible entries, best score
// first (ties keep the entries' order).
std::vector<size_t> leaderboard(const std::vector<Submission>& entries, const std::string& event);

} // namespace tt
