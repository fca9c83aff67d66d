// bench/bench.c++ — tt's benchmarks, one program (`make bench`):
//   SGEMM GFLOP/s at n = 64 ... 2048 on 1 and all threads,
//   int8 GEMM GOP/s at n = 256 ... 2048 (Lesson 15), and quantized inference,
//   MLP 784-128-64-10 training on MNIST, seconds per epoch,
//   LeNet-5 training on MNIST 28x28, images per second,
//   a GPT training step (milestone 2017's model), tokens per second,
//   GPT generation at batch 1 with and without the KV cache (Lesson 18), tokens per second,
// each with the tracker's peak memory. Times are the best of several runs
// (the machine may be shared); the load average is printed with them.
//
//   bench                      the whole table
//   bench sgemm N THREADS      one measurement, one line of key=value
//   bench int8 N THREADS       the same for Lesson 15's int8 gemm (GOP/s)
//   bench qmlp THREADS         quantized MLP 784-256-128-10 inference, batch 256, images/s
//                              (cpu_value holds the float model's, for comparison)
//   bench mlp THREADS          (bench/compare.py runs these, alternating
//   bench lenet THREADS         with PyTorch)
//   bench gpt T B THREADS
//   bench gen N CACHED THREADS  generation of N new tokens from a 1-token prompt, CACHED 1 with
//                              the KV cache (generate_cached), 0 without (GPT::generate)
//   bench mnist-memory THREADS milestone 1986's MNIST MLP for one epoch: resident peak, MB
//   bench shapes               the training steps' small products, naive and fast kernel
//   bench tile 1               the register tile gemm_fast uses here, as key=value
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <functional>
#include <string>
#include <thread>

#include "../lessons/lessons.h"

using namespace tt;
using lessons::now_seconds;

namespace {
// Everything one measurement reports.
struct Measurement {
    double value = 0;       // GFLOP/s, seconds per epoch or images per second (wall clock)
    double cpu_value = 0;   // the same from the process's CPU time: what an idle machine would give one thread
    int64_t peak_bytes = 0; // the tracker's peak during the run, above what was live before (the data set)
    int64_t allocations_per_step = 0;
};

double cpu_seconds() { return (double)std::clock() / CLOCKS_PER_SEC; }

std::string load_average() {
    std::ifstream f("/proc/loadavg");
    std::string one;
    return f >> one ? one : "?";
}

// The rate of `multiply`, an [n,n] @ [n,n] product (2 n^3 operations): best
// of several timings of enough repetitions to last ~50 ms each, in G per
// second of wall clock (value) and of CPU time (cpu_value).
Measurement square_product_rate(int64_t n, const std::function<void()>& multiply) {
    const double once = lessons::time_best(1, multiply);
    const int reps = (int)std::max(1.0, 0.05 / std::max(once, 1e-9));
    double best = 1e30, best_cpu = 1e30;
    for (int t = 0; t < (n >= 1024 ? 5 : 10); t++) {
        const double start = now_seconds(), cpu_start = cpu_seconds();
        for (int r = 0; r < reps; r++) multiply();
        best = std::min(best, (now_seconds() - start) / reps);
        best_cpu = std::min(best_cpu, (cpu_seconds() - cpu_start) / reps);
    }
    const double giga = 2.0 * (double)(n * n) * (double)n * 1e-9;
    return {giga / best, giga / std::max(best_cpu, 1e-9), 0, 0};
}

// C = A @ B for [n,n] matrices through tt::gemm, best of several timings of
// enough repetitions to last ~50 ms each. cpu_value: GFLOP per CPU second.
Measurement sgemm(int64_t n) {
    reset_peak();
    const int64_t live = memory_counts().live_bytes;
    Tensor a = Tensor::randn({n, n}), b = Tensor::randn({n, n}), c = Tensor::zeros({n, n});
    Measurement m = square_product_rate(n, [&] { gemm(n, n, n, a.data(), n, 1, b.data(), n, 1, c.data(), n, false); });
    m.peak_bytes = memory_counts().peak_bytes - live;
    return m;
}

// Lesson 15: C = A @ B^T for [n,n] int8 matrices through gemm_int8 (int32
// sums), timed as sgemm is; GOP/s (2 ops per multiply-add, as for floats).
Measurement int8_gemm(int64_t n) {
    Generator g(15);
    std::vector<int8_t> a((size_t)(n * n)), b((size_t)(n * n));
    for (size_t i = 0; i < a.size(); i++) a[i] = (int8_t)(int)(g.next_u32() >> 24), b[i] = (int8_t)(int)(g.next_u32() >> 24);
    std::vector<int32_t> c((size_t)(n * n));
    return square_product_rate(n, [&] { gemm_int8(n, n, n, a.data(), n, b.data(), n, c.data(), n); });
}

// Inference of an (untrained: speed does not care) model on a batch of 256,
// float and quantized (Lesson 15, dynamic input scales); images per second.
std::pair<double, double> inference(Sequential& model, const Shape& input) {
    NoGrad no_grad;
    model.eval();
    const Tensor x = Tensor::randn(input);
    auto quantized = quantize(model);
    const double f = lessons::time_best(10, [&] { model(x); }), q = lessons::time_best(10, [&] { (*quantized)(x); });
    return {(double)input[0] / f, (double)input[0] / q};
}

// MNIST's training images as bytes, normalised batch by batch as the
// milestones read them: x [64,784] when flat, else [64,1,28,28].
std::shared_ptr<Dataset> mnist(bool flat) {
    static const ImageSet set = load_idx_images(data_path("data/mnist/train-images-idx3-ubyte"),
                                                data_path("data/mnist/train-labels-idx1-ubyte"));
    return std::make_shared<ImageDataset>(set, std::vector<float>{0.1307f}, std::vector<float>{0.3081f}, 255.0f, flat);
}

// Trains `model` with SGD (lr 0.01, momentum 0.9) on shuffled batches of 64:
// `batches` of them (all of an epoch if 0). Returns seconds, and fills peak
// memory and the allocations of one step (the tracker's count before and after).
double train(Module& model, std::shared_ptr<Dataset> images, int64_t batches, Measurement& m) {
    DataLoader loader(images, 64, true);
    SGD opt(model.parameters(), 0.01f, 0.9f);
    const int64_t total = batches ? std::min(batches, loader.size()) : loader.size();
    auto step = [&](int64_t i) {
        Batch batch = loader.batch(i);
        Tensor loss = cross_entropy(model(batch.x), batch.y);
        opt.zero_grad();
        loss.backward();
        opt.step();
    };
    loader.begin();                                 // shuffles: this pass's order
    for (int64_t i = 0; i < 3; i++) step(i);        // warm up: optimizer state, pool, caches
    reset_peak();
    const int64_t before = memory_counts().allocations, live = memory_counts().live_bytes;
    step(3);
    m.allocations_per_step = memory_counts().allocations - before;
    const double start = now_seconds(), cpu_start = cpu_seconds();
    for (int64_t i = 0; i < total; i++) step(i);
    m.peak_bytes = memory_counts().peak_bytes - live;
    m.cpu_value = cpu_seconds() - cpu_start;
    return now_seconds() - start;
}

// MLP 784-128-64-10, one epoch (938 steps of 64); best of `runs` epochs, in seconds.
Measurement mlp(int runs) {
    Measurement m, best{1e30, 1e30, 0, 0};
    for (int r = 0; r < runs; r++) {
        manual_seed(0);
        Sequential model{Linear(784, 128), ReLU(), Linear(128, 64), ReLU(), Linear(64, 10)};
        best.value = std::min(best.value, train(model, mnist(true), 0, m));
        best.cpu_value = std::min(best.cpu_value, m.cpu_value);
    }
    best.peak_bytes = m.peak_bytes;
    best.allocations_per_step = m.allocations_per_step;
    return best;
}

// Milestone 1986's MNIST job, for its memory: the MLP 784-256-128-10, Adam
// (lr 0.002), shuffled batches of 128, one epoch, MNIST's bytes read through
// ImageDataset. value: the process's resident peak in MB (what `top` shows,
// the binary and the C++ runtime included); peak_bytes: the tracker's.
Measurement mnist_memory() {
    manual_seed(0);
    Sequential model{Linear(784, 256), ReLU(), Linear(256, 128), ReLU(), Linear(128, 10)};
    Adam opt(model.parameters(), 2e-3f);
    DataLoader loader(mnist(true), 128, true);
    const double start = now_seconds();
    for (auto& [x, y] : loader) {
        Tensor loss = cross_entropy(model(x), y);
        opt.zero_grad();
        loss.backward();
        opt.step();
    }
    return {(double)lessons::resident_peak_bytes() / 1e6, now_seconds() - start, memory_counts().peak_bytes, 0};
}

// LeNet-5 on 28x28 (padding 2 on the first conv): 200 steps of 64 images;
// images per second, best of `runs`.
Measurement lenet(int runs) {
    const int64_t batches = 200;
    Measurement m, best{1e30, 1e30, 0, 0};
    for (int r = 0; r < runs; r++) {
        manual_seed(0);
        Sequential model{Conv2d(1, 6, 5, 1, 2), ReLU(), MaxPool2d(2), Conv2d(6, 16, 5), ReLU(), MaxPool2d(2), Flatten(),
                         Linear(400, 120), ReLU(), Linear(120, 84), ReLU(), Linear(84, 10)};
        best.value = std::min(best.value, train(model, mnist(false), batches, m));
        best.cpu_value = std::min(best.cpu_value, m.cpu_value);
    }
    const double images = (double)(batches * 64);
    return {images / best.value, images / best.cpu_value, m.peak_bytes, m.allocations_per_step};
}

// Milestone 2017's model: 4 layers, 4 heads, width 128, vocabulary 65, the
// head tied to the token table, biases; a context of block_size.
GPTConfig bench_gpt_config(int64_t block_size) {
    GPTConfig c;
    c.vocab_size = 65;
    c.block_size = block_size;
    c.n_layer = 4;
    c.n_head = 4;
    c.n_embd = 128;
    c.tie_weights = true;
    return c;
}

// Milestone 2017's GPT (4 layers, 4 heads, width 128, vocabulary 65, tied
// head, biases) trained on random windows of random ids, batch B of context
// T: AdamW, the gradient norm clipped to 1, as part (c) does. 3 warm-up steps,
// then tokens per second over `steps` steps, best of `runs`.
Measurement gpt(int64_t T, int64_t B, int runs) {
    const int64_t steps = 20;
    Measurement best{0, 0, 0, 0};
    for (int r = 0; r < runs; r++) {
        manual_seed(0);
        GPT model(bench_gpt_config(T));
        AdamW opt(model.parameters(), 1e-3f, 0.9f, 0.99f, 1e-8f, 0.1f);
        Generator g(1);
        reset_peak();
        const int64_t live = memory_counts().live_bytes;
        auto step = [&] {
            Tensor x({B, T}), y({B, T});
            for (int64_t i = 0; i < B * T; i++) {
                x.data()[i] = (float)g.randint(65);
                y.data()[i] = (float)g.randint(65);
            }
            Tensor loss = cross_entropy(model(x).reshape({B * T, 65}), y.reshape({B * T}));
            opt.zero_grad();
            loss.backward();
            clip_grad_norm(opt.params, 1.0f);
            opt.step();
        };
        for (int i = 0; i < 3; i++) step();
        const int64_t before = memory_counts().allocations;
        step();
        const int64_t allocations = memory_counts().allocations - before;
        const double start = now_seconds(), cpu_start = cpu_seconds();
        for (int64_t i = 0; i < steps; i++) step();
        const double tokens = (double)(steps * B * T);
        best.value = std::max(best.value, tokens / (now_seconds() - start));
        best.cpu_value = std::max(best.cpu_value, tokens / (cpu_seconds() - cpu_start));
        best.peak_bytes = memory_counts().peak_bytes - live;
        best.allocations_per_step = allocations;
    }
    return best;
}

// Lesson 18: the same GPT (block_size 512) generating `n` tokens at batch 1
// from a 1-token prompt, sampled at temperature 1: with the KV cache
// (generate_cached) or without (GPT::generate, the whole prefix every
// step). Tokens per second, best of `runs` after a short warm-up generation;
// peak_bytes is the tracker's peak (the cache's buffers, and the step's
// activations), allocations_per_step the tracker's allocations per token.
Measurement generation(int64_t n, bool cached, int runs) {
    manual_seed(0);
    GPT model(bench_gpt_config(512));
    auto generate = [&](int64_t tokens) { return cached ? generate_cached(model, {0}, tokens) : model.generate({0}, tokens); };
    generate(std::min<int64_t>(n, 32)); // warm-up: the pool, the allocator's kept blocks
    Measurement best{0, 0, 0, 0};
    for (int r = 0; r < runs; r++) {
        reset_peak();
        const int64_t live = memory_counts().live_bytes, before = memory_counts().allocations;
        const double start = now_seconds(), cpu_start = cpu_seconds();
        generate(n);
        best.value = std::max(best.value, (double)n / (now_seconds() - start));
        best.cpu_value = std::max(best.cpu_value, (double)n / std::max(cpu_seconds() - cpu_start, 1e-9));
        best.peak_bytes = memory_counts().peak_bytes - live;
        best.allocations_per_step = (memory_counts().allocations - before) / n;
    }
    return best;
}

// The products a training step of the MLP and LeNet-5 (batch 64) is made of,
// as gemm sees them (M, N, K, and whether A or B is read transposed), timed
// on one thread through the naive and the fast kernel. Where the fast one
// stops paying is where gemm_fast's thresholds (kTinyProduct, kDirectRows) sit.
int small_shapes() {
    struct Shape { const char* what; int64_t M, N, K; bool at, bt; };
    const Shape shapes[] = {
        {"MLP fc1 forward  x @ W^T", 64, 128, 784, false, true},   {"MLP fc1 dW  dY^T @ x", 128, 784, 64, true, false},
        {"MLP fc2 dX  dY @ W", 64, 128, 64, false, false},          {"MLP fc3 forward", 64, 10, 64, false, true},
        {"MLP fc3 dW", 10, 64, 64, true, false},                    {"MLP fc3 dX", 64, 64, 10, false, false},
        {"conv1 forward  W @ cols (1 image)", 6, 784, 25, false, false},
        {"conv1 dW  dY @ rows (1 image)", 6, 25, 784, false, false},
        {"  the same through cols^T", 6, 25, 784, false, true},
        {"conv2 forward (1 image)", 16, 100, 150, false, false},   {"conv2 dW (1 image)", 16, 150, 100, false, false},
        {"conv2 drows  dY^T @ W (1 image)", 100, 150, 16, true, false},
        {"fc 400->120 forward", 64, 120, 400, false, true},        {"fc 120->84 dX", 64, 120, 84, false, false},
        {"tiny (kTinyProduct = 16^3)", 16, 16, 16, false, false},  {"smaller", 8, 8, 16, false, false},
        {"one batch row", 1, 128, 784, false, true},
    };
    set_num_threads(1);
    std::printf("one thread, GFLOP/s (best of several)\n  %-36s %5s %5s %5s %8s %8s\n", "product", "M", "N", "K",
                "naive", "fast");
    for (const Shape& s : shapes) {
        const Tensor a = Tensor::randn({s.M, s.K}), b = Tensor::randn({s.K, s.N});
        Tensor c = Tensor::zeros({s.M, s.N});
        const int64_t rsA = s.at ? 1 : s.K, csA = s.at ? s.M : 1, rsB = s.bt ? 1 : s.N, csB = s.bt ? s.K : 1;
        const double gflop = 2e-9 * (double)(s.M * s.N * s.K);
        double rate[2];
        for (int fast = 0; fast < 2; fast++) {
            const GemmKernel kernel = fast ? gemm_fast : gemm_naive;
            auto multiply = [&] { kernel(s.M, s.N, s.K, a.data(), rsA, csA, b.data(), rsB, csB, c.data(), s.N, false); };
            const int reps = (int)std::max(1.0, 0.02 / std::max(lessons::time_best(1, multiply), 1e-9));
            rate[fast] = gflop / lessons::time_best(5, [&] { for (int r = 0; r < reps; r++) multiply(); }) * reps;
        }
        std::printf("  %-36s %5lld %5lld %5lld %8.1f %8.1f\n", s.what, (long long)s.M, (long long)s.N, (long long)s.K,
                    rate[0], rate[1]);
    }
    return 0;
}

void print_line(const char* workload, int64_t n, int threads, const Measurement& m) {
    std::printf("workload=%s n=%lld threads=%d value=%.4f cpu_value=%.4f peak_bytes=%lld allocations_per_step=%lld load=%s\n",
                workload, (long long)n, threads, m.value, m.cpu_value, (long long)m.peak_bytes,
                (long long)m.allocations_per_step, load_average().c_str());
}

int whole_table() {
    const int all = (int)std::max(1u, std::thread::hardware_concurrency());
    std::printf("tt benchmarks on %s; load average %s at the start; gemm tile %s %lldx%lld\n",
                lessons::machine_name().c_str(), load_average().c_str(), gemm_tile().isa.c_str(),
                (long long)gemm_tile().mr, (long long)gemm_tile().nr);
    std::printf("(best of several runs; TT_THREADS is overridden per column. \"CPU\" columns divide by the\n"
                " process's CPU time instead of the wall clock: on a shared machine, what one thread does\n"
                " while it runs)\n\n");
    std::printf("SGEMM C = A @ B, [n,n] float32, GFLOP/s\n  %6s %10s %10s %8s %12s %12s\n", "n", "1 thread",
                (std::to_string(all) + " threads").c_str(), "speed-up", "1 thr, CPU", "peak memory");
    for (int64_t n : {64, 128, 256, 512, 1024, 2048}) {
        set_num_threads(1);
        const Measurement one = sgemm(n);
        set_num_threads(all);
        const Measurement many = sgemm(n);
        std::printf("  %6lld %10.1f %10.1f %7.2fx %12.1f %12s\n", (long long)n, one.value, many.value,
                    many.value / one.value, one.cpu_value, lessons::bytes_str(one.peak_bytes).c_str());
        std::fflush(stdout);
    }
    std::printf("\nint8 GEMM C = A @ B^T, [n,n] int8 -> int32 (Lesson 15, tile %s %lldx%lld), GOP/s; float: the SGEMM above\n"
                "  %6s %10s %10s %8s %12s %14s\n", gemm_int8_tiles()[0].isa.c_str(), (long long)gemm_int8_tiles()[0].mr,
                (long long)gemm_int8_tiles()[0].nr, "n", "1 thread", (std::to_string(all) + " threads").c_str(), "speed-up",
                "1 thr, CPU", "vs float, 1 thr");
    for (int64_t n : {256, 512, 1024, 2048}) {
        set_num_threads(1);
        const Measurement one = int8_gemm(n), float_one = sgemm(n);
        set_num_threads(all);
        const Measurement many = int8_gemm(n);
        std::printf("  %6lld %10.1f %10.1f %7.2fx %12.1f %13.2fx\n", (long long)n, one.value, many.value,
                    many.value / one.value, one.cpu_value, one.value / float_one.value);
        std::fflush(stdout);
    }
    std::printf("\nInference, batch 256, images/s: float vs quantized int8 (Lesson 15)\n  %-34s %8s %12s %12s %8s\n",
                "model", "threads", "float", "int8", "ratio");
    for (int threads : {1, all}) {
        set_num_threads(threads);
        manual_seed(0);
        Sequential mlp{Linear(784, 256), ReLU(), Linear(256, 128), ReLU(), Linear(128, 10)};
        Sequential lenet{Conv2d(1, 6, 5, 1, 2), ReLU(), MaxPool2d(2), Conv2d(6, 16, 5), ReLU(), MaxPool2d(2), Flatten(),
                         Linear(400, 120), ReLU(), Linear(120, 84), ReLU(), Linear(84, 10)};
        const auto [mf, mq] = inference(mlp, {256, 784});
        const auto [lf, lq] = inference(lenet, {256, 1, 28, 28});
        std::printf("  %-34s %8d %12.0f %12.0f %7.2fx\n", "MLP 784-256-128-10", threads, mf, mq, mq / mf);
        std::printf("  %-34s %8d %12.0f %12.0f %7.2fx\n", "LeNet-5 28x28", threads, lf, lq, lq / lf);
        std::fflush(stdout);
    }
    std::printf("\nTraining on MNIST, batch 64, SGD momentum 0.9\n  %-34s %8s %14s %14s %12s %12s\n", "workload",
                "threads", "result", "CPU", "peak memory", "allocs/step");
    for (int threads : {1, all}) {
        set_num_threads(threads);
        const Measurement m = mlp(2);
        std::printf("  %-34s %8d %9.2f s/ep %9.2f s/ep %12s %12lld\n", "MLP 784-128-64-10, one epoch", threads, m.value,
                    m.cpu_value, lessons::bytes_str(m.peak_bytes).c_str(), (long long)m.allocations_per_step);
        std::fflush(stdout);
    }
    for (int threads : {1, all}) {
        set_num_threads(threads);
        const Measurement m = lenet(2);
        std::printf("  %-34s %8d %8.0f img/s %8.0f img/s %12s %12lld\n", "LeNet-5 28x28, 200 steps", threads, m.value,
                    m.cpu_value, lessons::bytes_str(m.peak_bytes).c_str(), (long long)m.allocations_per_step);
        std::fflush(stdout);
    }
    std::printf("\nGPT training step (milestone 2017: 4 layers, 4 heads, width 128), AdamW, tokens/s\n  %-34s %8s %14s %14s %12s %12s\n",
                "workload", "threads", "result", "CPU", "peak memory", "allocs/step");
    for (auto [T, B] : {std::pair<int64_t, int64_t>{64, 12}, {128, 32}})
        for (int threads : {1, all}) {
            set_num_threads(threads);
            const Measurement m = gpt(T, B, 2);
            char name[64];
            std::snprintf(name, sizeof name, "GPT T=%lld B=%lld", (long long)T, (long long)B);
            std::printf("  %-34s %8d %7.0f tok/s %7.0f tok/s %12s %12lld\n", name, threads, m.value, m.cpu_value,
                        lessons::bytes_str(m.peak_bytes).c_str(), (long long)m.allocations_per_step);
            std::fflush(stdout);
        }
    std::printf("\nGPT generation at batch 1 (Lesson 18: 4 layers, 4 heads, width 128, a 1-token prompt), tokens/s\n"
                "  %-34s %8s %14s %14s %9s %12s %12s\n", "workload", "threads", "no cache", "KV cache", "speed-up",
                "cache peak", "allocs/token");
    for (int64_t n : {127, 511})
        for (int threads : {1, all}) {
            set_num_threads(threads);
            const Measurement plain = generation(n, false, n > 200 ? 1 : 2), cached = generation(n, true, 3);
            char name[64];
            std::snprintf(name, sizeof name, "generate %lld new tokens", (long long)n);
            std::printf("  %-34s %8d %8.0f tok/s %8.0f tok/s %8.1fx %12s %12lld\n", name, threads, plain.value, cached.value,
                        cached.value / plain.value, lessons::bytes_str(cached.peak_bytes).c_str(),
                        (long long)cached.allocations_per_step);
            std::fflush(stdout);
        }
    std::printf("\nload average %s at the end\n", load_average().c_str());
    return 0;
}

int usage() {
    std::fprintf(stderr, "usage: bench [sgemm N THREADS | int8 N THREADS | qmlp THREADS | mlp THREADS | lenet THREADS | gpt T B THREADS | gen N CACHED THREADS | mnist-memory THREADS | shapes | tile 1]\n");
    return 2;
}
} // namespace

int main(int argc, char** argv) {
    try {
        if (argc == 1) return whole_table();
        if (argc == 2 && std::string(argv[1]) == "shapes") return small_shapes();
        const std::string what = argv[1];
        const int threads = std::atoi(argv[argc - 1]);
        if (threads < 1) return usage();
        set_num_threads(threads);
        if (what == "tile" && argc == 3) {
            const GemmTile& t = gemm_tile();
            std::printf("isa=%s tile=%lldx%lld kc=%lld mc=%lld\n", t.isa.c_str(), (long long)t.mr, (long long)t.nr,
                        (long long)t.kc, (long long)t.mc);
        } else if (what == "sgemm" && argc == 4) print_line("sgemm", std::atoll(argv[2]), threads, sgemm(std::atoll(argv[2])));
        else if (what == "int8" && argc == 4) print_line("int8", std::atoll(argv[2]), threads, int8_gemm(std::atoll(argv[2])));
        else if (what == "qmlp" && argc == 3) {
            manual_seed(0);
            Sequential mlp{Linear(784, 256), ReLU(), Linear(256, 128), ReLU(), Linear(128, 10)};
            const auto [float_rate, int8_rate] = inference(mlp, {256, 784});
            print_line("qmlp", 0, threads, {int8_rate, float_rate, 0, 0}); // value: int8 images/s; cpu_value: float's
        }
        else if (what == "mlp" && argc == 3) print_line("mlp", 0, threads, mlp(1));
        else if (what == "lenet" && argc == 3) print_line("lenet", 0, threads, lenet(1));
        else if (what == "mnist-memory" && argc == 3) print_line("mnist-memory", 0, threads, mnist_memory());
        else if (what == "gpt" && argc == 5) print_line("gpt", std::atoll(argv[2]), threads, gpt(std::atoll(argv[2]), std::atoll(argv[3]), 1));
        else if (what == "gen" && argc == 5) {
            const bool cached = std::atoi(argv[3]) != 0;
            print_line(cached ? "gen_cached" : "gen", std::atoll(argv[2]), threads, generation(std::atoll(argv[2]), cached, 1));
        }
        else return usage();
        return 0;
    } catch (const Error& e) {
        std::fprintf(stderr, "bench: %s\n", e.what());
        return 1;
    }
}
