// Lesson 08 · Training, PyTorch's side of checkpoints: the dtypes PyTorch
// writes, each conversion checked bit for bit; state_dicts with PyTorch's
// names read onto tt models and written back; every bad file refused with a
// message naming the tensor.
#include <cmath>
#include <cstring>
#include <fstream>

#include "test.h"

using namespace tt;
using test::TempDir;

namespace {
uint32_t bits_of(float v) {
    uint32_t u;
    std::memcpy(&u, &v, 4);
    return u;
}
// Little-endian bytes of an unsigned value.
std::string le(uint64_t v, int bytes) {
    std::string out;
    for (int k = 0; k < bytes; k++) out += (char)((v >> (8 * k)) & 0xFF);
    return out;
}
// A safetensors file by hand: the header length, the JSON, then `data`.
void write_file(const std::string& path, const std::string& json, const std::string& data) {
    std::ofstream f(path, std::ios::binary);
    f << le(json.size(), 8) << json << data;
}
std::string entry(const std::string& name, const std::string& dtype, const std::string& shape, size_t begin, size_t end) {
    return "\"" + name + "\":{\"dtype\":\"" + dtype + "\",\"shape\":" + shape + ",\"data_offsets\":[" +
           std::to_string(begin) + "," + std::to_string(end) + "]}";
}
} // namespace

TEST_GIVEN(float16_and_bfloat16_convert_exactly) {
    struct Case {
        uint16_t half;
        uint32_t float_bits; // what it must become, bit for bit
    };
    const Case halves[] = {
        {0x0000, 0x00000000}, // +0
        {0x8000, 0x80000000}, // -0
        {0x3C00, 0x3F800000}, // 1
        {0xC000, 0xC0000000}, // -2
        {0x3555, 0x3EAAA000}, // 0.333251953125, the nearest half to 1/3
        {0x7BFF, 0x477FE000}, // 65504, the largest half
        {0x0400, 0x38800000}, // 2^-14, the smallest normal
        {0x0001, 0x33800000}, // 2^-24, the smallest subnormal
        {0x03FF, 0x387FC000}, // 1023 * 2^-24, the largest subnormal
        {0x8001, 0xB3800000}, // -2^-24
        {0x7C00, 0x7F800000}, // +infinity
        {0xFC00, 0xFF800000}, // -infinity
        {0x7E00, 0x7FC00000}, // the quiet NaN
        {0x7C01, 0x7F802000}, // a signalling NaN: its payload kept (still NaN)
        {0xFE01, 0xFFC02000}, // a negative NaN with a payload
    };
    for (const Case& c : halves) CHECK_EQ(bits_of(float16_to_float(c.half)), c.float_bits);
    CHECK(std::isnan(float16_to_float(0x7C01)) && float16_to_float(0x0001) == std::ldexp(1.0f, -24));
    // every half is a float exactly: all 63488 finite ones, against their formula
    for (uint32_t h = 0; h < 0x10000; h++) {
        const int exponent = (h >> 10) & 0x1F, mantissa = h & 0x3FF;
        if (exponent == 31) continue;
        const double magnitude = exponent ? std::ldexp(1.0 + mantissa / 1024.0, exponent - 15) : std::ldexp(mantissa, -24);
        CHECK_EQ((double)float16_to_float((uint16_t)h), h & 0x8000 ? -magnitude : magnitude);
    }
    // bfloat16 is float32's upper half: every pattern, NaN, infinity and subnormal alike
    for (uint32_t h = 0; h < 0x10000; h++) CHECK_EQ(bits_of(bfloat16_to_float((uint16_t)h)), h << 16);
    CHECK_EQ(bfloat16_to_float(0x3F80), 1.0f);
    CHECK_EQ(bfloat16_to_float(0x0001), std::ldexp(1.0f, -133)); // the smallest subnormal
}

TEST_GIVEN(safetensors_reads_pytorch_dtypes) {
    TempDir dir;
    const std::string f = dir / "dtypes.safetensors";
    double third = 1.0 / 3.0, tiny = 1e-300;
    uint64_t third_bits, tiny_bits;
    std::memcpy(&third_bits, &third, 8);
    std::memcpy(&tiny_bits, &tiny, 8);
    const std::string json = "{" + entry("h", "F16", "[3]", 0, 6) + "," + entry("b", "BF16", "[2]", 6, 10) + "," +
                             entry("d", "F64", "[2]", 10, 26) + "," + entry("n", "I64", "[]", 26, 34) + "," +
                             entry("i", "I32", "[2]", 34, 42) + "}";
    write_file(f, json,
               le(0x3C00, 2) + le(0x0001, 2) + le(0xFC00, 2) +            // 1, 2^-24, -inf
                   le(0x4049, 2) + le(0xFF81, 2) +                        // 3.140625, a NaN
                   le(third_bits, 8) + le(tiny_bits, 8) +                 // rounded: 1/3, 1e-300 (to 0)
                   le(12345, 8) +                                         // a counter
                   le(0xFFFFFFFFu, 4) + le(16777216, 4));                 // -1, 2^24
    const SafeTensors file = load_safetensors(f);
    CHECK_EQ(file.dtypes, (std::vector<std::string>{"F16", "BF16", "F64", "I64", "I32"}));
    CHECK_VALUES(file.tensors[0].second.slice(0, 0, 2), 0, {1.0f, std::ldexp(1.0f, -24)});
    CHECK_EQ(file.tensors[0].second.at({2}), -INFINITY);
    CHECK_EQ(file.tensors[1].second.at({0}), 3.140625f);
    CHECK(std::isnan(file.tensors[1].second.at({1})));
    CHECK_VALUES(file.tensors[2].second, 0, {(float)(1.0 / 3.0), 0.0f});
    CHECK(file.tensors[3].second.shape() == Shape{} && file.tensors[3].second.item() == 12345.0f);
    CHECK_VALUES(file.tensors[4].second, 0, {-1.0f, 16777216.0f});

    // what does not fit a float32 is refused, naming the tensor, the value and where
    write_file(f, "{" + entry("n", "I64", "[2]", 0, 16) + "}", le(0, 8) + le(16777217, 8));
    CHECK_THROWS(load_safetensors(f), "tensor 'n' (I64): value 16777217 at index 1 is past 2^24");
    write_file(f, "{" + entry("i", "I32", "[1]", 0, 4) + "}", le((uint32_t)-16777217, 4));
    CHECK_THROWS(load_safetensors(f), "tensor 'i' (I32): value -16777217 at index 0 is past 2^24");
    double huge = 1e300;
    uint64_t huge_bits;
    std::memcpy(&huge_bits, &huge, 8);
    write_file(f, "{" + entry("d", "F64", "[1]", 0, 8) + "}", le(huge_bits, 8));
    CHECK_THROWS(load_safetensors(f), "tensor 'd' (F64): value");
    CHECK_THROWS(load_safetensors(f), "is past float32's range");
    // sizes follow the dtype: an F16 [3] needs 6 bytes, an I64 [] 8
    write_file(f, "{" + entry("h", "F16", "[3]", 0, 8) + "}", std::string(8, '\0'));
    CHECK_THROWS(load_safetensors(f), "tensor 'h': data_offsets span 8 bytes but shape [3] needs 6");
    write_file(f, "{" + entry("n", "I64", "[]", 0, 4) + "}", std::string(4, '\0'));
    CHECK_THROWS(load_safetensors(f), "span 4 bytes but shape [] needs 8");
    write_file(f, "{" + entry("x", "F8_E4M3", "[1]", 0, 1) + "}", std::string(1, '\0'));
    CHECK_THROWS(load_safetensors(f), "tensor 'x': dtype 'F8_E4M3' is not one tt reads (F32, F16, BF16, F64, I64, I32");
}

TEST_GIVEN(safetensors_writes_i64) {
    TempDir dir;
    const std::string f = dir / "counter.safetensors";
    save_safetensors(f, {{"w", Tensor({2}, {0.5f, -1})}, {"count", Tensor::scalar(-3)}}, {}, {"F32", "I64"});
    std::ifstream in(f, std::ios::binary);
    const std::string bytes(std::istreambuf_iterator<char>(in), {});
    CHECK(bytes.find("\"count\":{\"dtype\":\"I64\",\"shape\":[],\"data_offsets\":[8,16]}") != std::string::npos);
    CHECK_EQ(bytes.substr(bytes.size() - 8), le((uint64_t)-3, 8)); // two's complement, little-endian
    const SafeTensors back = load_safetensors(f);
    CHECK(back.dtypes[1] == "I64" && back.tensors[1].second.item() == -3.0f);
    CHECK_THROWS(save_safetensors(f, {{"c", Tensor::scalar(0.5f)}}, {}, {"I64"}), "tensor 'c' is to be I64 but holds 0.5");
    CHECK_THROWS(save_safetensors(f, {{"c", Tensor::scalar(0.5f)}}, {}, {"F16"}), "dtype 'F16' is not F32 or I64");
    CHECK_THROWS(save_safetensors(f, {{"c", Tensor::scalar(1)}}, {}, {"F32", "F32"}), "got 2 dtypes for 1 tensors");
}
