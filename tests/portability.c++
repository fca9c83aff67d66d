// Same numbers on every machine: a short seeded training run gives the same
// loss trace on x86-64, aarch64 and 32-bit ARM (make cross runs this file
// under qemu), and sizes past 32 bits survive a 32-bit build.
#include <filesystem>
#include <fstream>

#include "test.h"

using namespace tt;

namespace {
// The loss of each of `steps` SGD steps (lr 0.1, batches of 32 in file
// order) of a 784-64-10 MLP, seed 7, on the first steps*32 MNIST test images.
std::vector<float> mnist_loss_trace(int steps) {
    ImageSet set = load_idx_images(data_path("data/mnist/t10k-images-idx3-ubyte"), data_path("data/mnist/t10k-labels-idx1-ubyte"));
    DataLoader loader(std::make_shared<ImageDataset>(set, std::vector<float>{0.1307f}, std::vector<float>{0.3081f}, 255.0f, true), 32);
    Generator g(7);
    Sequential model{Linear(784, 64, true, Init::Kaiming, g), ReLU(), Linear(64, 10, true, Init::Kaiming, g)};
    SGD opt(model.parameters(), 0.1f);
    std::vector<float> trace;
    for (auto& [x, y] : loader) {
        Tensor loss = cross_entropy(model(x), y);
        opt.zero_grad();
        loss.backward();
        opt.step();
        trace.push_back(loss.item());
        if ((int)trace.size() == steps) break;
    }
    opt.zero_grad();
    return trace;
}
} // namespace

// The reference was made by this test on x86-64 (g++ -O3, before Lesson
// 17's gemm). Builds differ only where a compiler fuses a*b+c into one
// multiply-add (one rounding instead of two: ~6e-8 relative per product;
// the default build asks for it with -ffp-contract=fast, and on x86-64 the
// CPU picks an AVX2/AVX-512 kernel with or without it), or where a libm
// rounds exp/log differently in the last bit. Measured over the 50 steps,
// against the reference: x86-64 with gemm's kernel, aarch64 and armhf all
// within 5e-7 (before gemm, armhf matched bit for bit). The tolerance, 2e-4 on losses of 3.5 down to 0.3,
// leaves room for a few hundred times that (other compilers and CPUs), while
// a real change (a gradient off by a factor, a batch in another order,
// another seed) moves the trace by 1e-2 or more within a few steps.
TEST(mnist_loss_trace_matches_the_reference) {
    const std::vector<float> reference = {
        3.48290634f, 2.33548856f, 1.84626806f, 2.39750981f, 2.11846828f,
        1.1746366f, 1.61744404f, 1.32200193f, 0.82510668f, 1.12405348f,
        1.34191322f, 0.999420345f, 0.653404653f, 0.802458644f, 1.00416815f,
        1.01874375f, 0.943161011f, 0.672556281f, 0.770365059f, 1.01510322f,
        0.816245735f, 0.700813234f, 0.662302375f, 0.381055743f, 0.3774997f,
        0.342036813f, 0.404297471f, 0.429248959f, 0.509457648f, 1.21059632f,
        0.463494867f, 0.569815099f, 0.71912241f, 0.448467016f, 0.725623488f,
        0.51622653f, 0.604841232f, 0.961235821f, 1.02161765f, 1.08978426f,
        1.08062792f, 0.917703927f, 0.544507563f, 0.622390509f, 0.485593766f,
        0.734179974f, 0.565795004f, 0.504369795f, 0.472626895f, 0.58691889f,
    };
    const std::vector<float> trace = mnist_loss_trace((int)reference.size());
    CHECK(trace.size() == reference.size());
    for (size_t i = 0; i < trace.size(); i++)
        if (!(std::fabs(trace[i] - reference[i]) <= 2e-4f)) {
            std::string all; // to paste as the reference when the change is meant
            for (float v : trace) {
                char number[24];
                std::snprintf(number, sizeof number, "%.9gf, ", v);
                all += number;
            }
            throw test::Failure("step " + std::to_string(i) + ": loss " + std::to_string(trace[i]) + ", reference " +
                                std::to_string(reference[i]) + "; the whole trace: " + all);
        }
}

// A 32-bit board must still see sizes past 4 GB: a sparse IDX file of
// 4 GB and a bit whose header disagrees with it by one byte is refused with
// both 64-bit numbers right (no byte of it is read, nothing is allocated).
TEST(readers_see_file_sizes_past_4_gb) {
    const std::string path = (std::filesystem::temp_directory_path() / "tt-portability-4gb-idx2-ubyte").string();
    {
        std::ofstream out(path, std::ios::binary);
        const unsigned char header[12] = {0, 0, 8, 2, 0, 1, 0, 0, 0, 1, 0, 1}; // dims [65536,65537]
        out.write((const char*)header, sizeof header);
    }
    std::filesystem::resize_file(path, 12 + 65536ull * 65537 + 1); // sparse: takes no disk
    std::string error;
    try {
        read_idx(path);
    } catch (const Error& e) {
        error = e.what();
    }
    std::filesystem::remove(path);
    CHECK(error.find("need 4295032832 bytes after the 12-byte header, but the file has 4295032833") != std::string::npos);
}

// Threads split the work, never a sum: each output element of gemm is summed
// by one thread in one order, so 1 and 2 threads give the same bits.
TEST(threads_do_not_change_the_loss_trace) {
    const int threads = get_num_threads();
    set_num_threads(1);
    const std::vector<float> one = mnist_loss_trace(20);
    set_num_threads(2);
    const std::vector<float> two = mnist_loss_trace(20);
    set_num_threads(threads);
    CHECK(one == two);
}
