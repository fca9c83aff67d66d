// Lesson 08 · Training, PyTorch's side of checkpoints: the dtypes PyTorch
// writes, each conversion checked bit for bit; state_dicts with PyTorch's
// names read onto tt models and written back; every bad file refused with a
// message naming the tensor.
#include <cmath>
#include <cstring>
#include <fstream>

#include "test.h"
#include "../lessons/lessons.h"

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

namespace {
Sequential mlp(uint64_t seed) {
    Generator g(seed);
    return Sequential{Linear(4, 8, true, Init::Kaiming, g), ReLU(), Linear(8, 3, true, Init::Kaiming, g)};
}
std::vector<std::vector<float>> weights_of(Module& m) {
    std::vector<std::vector<float>> out;
    for (Tensor& p : m.parameters()) out.push_back(p.to_vector());
    return out;
}
// The model's tensors under `prefix` + their paths, as a PyTorch state_dict would hold them.
NamedTensors state_of(Module& m, const std::string& prefix = "") {
    NamedTensors out;
    for (auto& [name, p] : m.named_parameters()) out.push_back({prefix + name, p});
    return out;
}
} // namespace

TEST_GIVEN(load_state_dict_takes_pytorch_names) {
    TempDir dir;
    Sequential source = mlp(1), target = mlp(2);
    const Tensor x = test::rnd({5, 4}, 3);
    // "0.weight" ...: the names torch's nn.Sequential state_dict() has
    save_safetensors(dir / "plain", state_of(source));
    LoadReport r = load_state_dict(target, dir / "plain");
    CHECK(r.loaded == 4 && r.missing.empty() && r.unexpected.empty() && r.notes.empty());
    CHECK_EQ(weights_of(target), weights_of(source));
    CHECK_EQ(target(x).to_vector(), source(x).to_vector());
    CHECK(r.str().find("4 tensors loaded") == 0);
    // "layers.0.weight": a Sequential kept as self.layers; the shared prefix is dropped
    Sequential other = mlp(3);
    save_safetensors(dir / "layers", state_of(source, "layers."));
    r = load_state_dict(other, dir / "layers");
    CHECK_EQ(weights_of(other), weights_of(source));
    CHECK(r.notes.size() == 1 && r.notes[0].find("dropped the prefix 'layers.'") != std::string::npos);
    // tt's own checkpoint: "model." dropped, the optimizer's state skipped
    Adam adam(source.parameters());
    source.zero_grad();
    cross_entropy(source(x), Tensor({5}, {0, 1, 2, 0, 1})).backward();
    adam.step();
    save_checkpoint(dir / "ckpt", source, &adam);
    Sequential resumed = mlp(4);
    r = load_state_dict(resumed, dir / "ckpt");
    CHECK_EQ(weights_of(resumed), weights_of(source));
    CHECK(r.loaded == 4 && r.notes.size() == 2 && r.notes[0].find("skipped the 12 optimizer state tensors") != std::string::npos);
    // and tt's writer: no prefix, {"format": "pt"} in the metadata
    save_state_dict(source, dir / "sd", {{"architecture", "x"}});
    const SafeTensors written = load_safetensors(dir / "sd");
    CHECK(written.tensors.size() == 4 && written.tensors[0].first == "0.weight" && written.tensors[3].first == "2.bias");
    CHECK(written.metadata == (Metadata{{"format", "pt"}, {"architecture", "x"}}));
}

TEST_GIVEN(load_state_dict_converts_and_reports) {
    TempDir dir;
    Sequential target = mlp(5);
    // 0.weight as F16 and 2.bias as F64, written by hand: both become the floats they hold
    const std::string f = dir / "mixed";
    NamedTensors state = state_of(target);
    std::string json = "{\"__metadata__\":{\"format\":\"pt\"}", data;
    std::vector<float> want_w0, want_b2;
    for (auto& [name, t] : state) {
        const size_t begin = data.size();
        std::string dtype = "F32";
        for (int64_t k = 0; k < t.numel(); k++) {
            const float v = (float)(k % 7) * 0.25f - 0.5f; // exact in half
            if (name == "0.weight") {
                dtype = "F16";
                const uint16_t h = v == 0 ? 0 : (uint16_t)((v < 0 ? 0x8000 : 0) | (uint16_t)((std::ilogb(v) + 15) << 10) |
                                                          (uint16_t)((std::fabs(v) / std::ldexp(1.0f, std::ilogb(v)) - 1) * 1024));
                data += le(h, 2);
                want_w0.push_back(v);
            } else if (name == "2.bias") {
                dtype = "F64";
                const double d = 0.1 * (double)(k + 1);
                uint64_t u;
                std::memcpy(&u, &d, 8);
                data += le(u, 8);
                want_b2.push_back((float)d);
            } else {
                data += le(bits_of(v), 4);
            }
        }
        std::string shape;
        for (int64_t d : t.shape()) shape += (shape.empty() ? "" : ",") + std::to_string(d);
        json += "," + entry(name, dtype, "[" + shape + "]", begin, data.size());
    }
    write_file(f, json + "}", data);
    LoadReport r = load_state_dict(target, f);
    CHECK_EQ(target.named_parameters()[0].second.to_vector(), want_w0);
    CHECK_EQ(target.named_parameters()[3].second.to_vector(), want_b2);
    CHECK(r.notes.size() == 1 && r.notes[0].find("F64 rounded to the nearest float32") != std::string::npos &&
          r.notes[0].find("'2.bias'") != std::string::npos);
}

TEST_GIVEN(load_state_dict_refuses_clearly_and_touches_nothing) {
    TempDir dir;
    Sequential source = mlp(6), target = mlp(7);
    const auto before = weights_of(target);
    auto refused = [&](const std::string& path, bool strict, const std::string& text) {
        CHECK_THROWS(load_state_dict(target, path, strict), text);
        CHECK_EQ(weights_of(target), before);
    };
    // a mis-shaped key, strict or not, naming it and both shapes
    NamedTensors state = state_of(source);
    state[2].second = Tensor::zeros({3, 9});
    save_safetensors(dir / "shape", state);
    refused(dir / "shape", true, "load_state_dict: '" + dir / "shape" + "': size mismatch for '2.weight': the file's is [3,9], the model's [3,8]");
    refused(dir / "shape", false, "size mismatch for '2.weight'");
    // missing and unexpected: errors when strict, a report when not
    NamedTensors partial = state_of(source);
    partial.erase(partial.begin() + 1);                          // no 0.bias
    partial.push_back({"4.weight", Tensor::zeros({2, 2})});      // nothing of the model's
    save_safetensors(dir / "partial", partial);
    refused(dir / "partial", true, "missing from the file (strict): '0.bias'; not in the model (strict): '4.weight' (nothing was loaded)");
    const std::vector<float> bias_before = target.named_parameters()[1].second.to_vector();
    LoadReport r = load_state_dict(target, dir / "partial", false);
    CHECK(r.loaded == 3 && r.missing == std::vector<std::string>{"0.bias"} && r.unexpected == std::vector<std::string>{"4.weight"});
    CHECK_EQ(target.named_parameters()[1].second.to_vector(), bias_before); // kept
    CHECK_EQ(target.named_parameters()[0].second.to_vector(), source.named_parameters()[0].second.to_vector());
    CHECK(r.str().find("missing (kept as they were): '0.bias'\nunexpected (ignored): '4.weight'") != std::string::npos);
    Sequential t2 = mlp(7);
    // an integer tensor for a parameter
    write_file(dir / "int", "{" + entry("0.weight", "I64", "[8,4]", 0, 256) + "}", std::string(256, '\0'));
    CHECK_THROWS(load_state_dict(t2, dir / "int", false), "'0.weight' is I64 but the model's '0.weight' is a float parameter");
    // the reader's own refusals pass through, naming the file and the tensor
    write_file(dir / "trunc", "{" + entry("0.weight", "F32", "[8,4]", 0, 128) + "}", std::string(100, '\0'));
    CHECK_THROWS(load_state_dict(t2, dir / "trunc"), "tensor '0.weight': data_offsets end at byte 128 but the file holds 100 bytes of data (truncated?)");
    write_file(dir / "json", "{\"0.weight\":{\"dtype\":\"F32\",", "");
    CHECK_THROWS(load_state_dict(t2, dir / "json"), "load_safetensors: '" + dir / "json" + "': bad JSON header at byte");
    write_file(dir / "dtype", "{" + entry("0.weight", "U8", "[8,4]", 0, 32) + "}", std::string(32, '\0'));
    CHECK_THROWS(load_state_dict(t2, dir / "dtype"), "tensor '0.weight': dtype 'U8' is not one tt reads");
    write_file(dir / "range", "{" + entry("0.weight", "F32", "[8,4]", 0, 128) + "," + entry("0.bias", "F32", "[8]", 128, 160) + "}",
               std::string(128, '\0'));
    CHECK_THROWS(load_state_dict(t2, dir / "range"), "tensor '0.bias': data_offsets end at byte 160 but the file holds 128 bytes");
    CHECK_EQ(weights_of(t2), before);
}

// The architecture text (lessons/interop.c++) and the PyTorch module ./tt export writes.
TEST_GIVEN(architecture_text_round_trips_and_exports) {
    const std::string lenet = "Conv2d(1, 6, kernel_size=5, padding=2) BatchNorm2d(6) ReLU() MaxPool2d(kernel_size=2); "
                              "Flatten()\nLinear(1176, 10, bias=false)";
    Generator g(1);
    std::shared_ptr<Module> m = lessons::build_model(lenet, g);
    auto& seq = dynamic_cast<Sequential&>(*m);
    CHECK_EQ(seq.layers.size(), (size_t)6);
    const std::string text = lessons::architecture_of(*m);
    CHECK_EQ(text, std::string("Conv2d(1, 6, kernel_size=5, padding=2)\nBatchNorm2d(6, momentum=0.1, eps=1e-05)\nReLU()\n"
                               "MaxPool2d(kernel_size=2)\nFlatten()\nLinear(1176, 10, bias=false)"));
    CHECK_EQ(lessons::architecture_of(*lessons::build_model(text, g)), text);
    const std::string py = lessons::pytorch_module(*m, "w.safetensors", "lenet");
    for (const char* line : {"nn.Conv2d(1, 6, kernel_size=5, stride=1, padding=2),", "nn.BatchNorm2d(6, eps=1e-05, momentum=0.1),",
                             "nn.MaxPool2d(2, stride=2),", "nn.Linear(1176, 10, bias=False),", "import lenet", "def load(path=WEIGHTS):"})
        CHECK(py.find(line) != std::string::npos);
    const std::string gpt = "GPT(vocab_size=11, block_size=8, n_layer=1, n_head=2, n_embd=8, bias=false, tied)";
    std::shared_ptr<Module> tiny = lessons::build_model(gpt, g);
    CHECK_EQ(lessons::architecture_of(*tiny), gpt);
    CHECK(dynamic_cast<GPT&>(*tiny).config.tie_weights && !dynamic_cast<GPT&>(*tiny).config.bias);
    CHECK(lessons::pytorch_module(*tiny, "g", "g").find("return GPT(vocab_size=11, block_size=8, n_layer=1, n_head=2, n_embd=8, "
                                                        "dropout=0, bias=False, tied=True)") != std::string::npos);
    // mistakes are named
    CHECK_THROWS(lessons::build_model("Linear(4, 2) Relu()", g), "no layer 'Relu' (in Relu())");
    CHECK_THROWS(lessons::build_model("Linear(4)", g), "Linear(4) needs out_features");
    CHECK_THROWS(lessons::build_model("Linear(4, 2, bais=false)", g), "has no argument 'bais'");
    CHECK_THROWS(lessons::build_model("Linear(4, two)", g), "out_features=two is not a whole number");
    CHECK_THROWS(lessons::build_model("Linear(4, 2", g), "no ')' closes Linear(");
    CHECK_THROWS(lessons::build_model("  ", g), "names no layer");
    CHECK_THROWS(lessons::build_model("Linear(4, 2) " + gpt, g), "a GPT is a model of its own");
    Sequential odd{Linear(2, 2)};
    odd.add(std::make_shared<MultiHeadAttention>(2, 1));
    CHECK_THROWS(lessons::architecture_of(odd), "layer 1, MultiHeadAttention");
}

// ./tt init and ./tt predict: the model comes back from its file alone (the
// architecture in the metadata) and computes what the tt model computes.
TEST_GIVEN(init_and_predict_commands) {
    TempDir dir;
    const std::string arch = "Linear(3, 4) Tanh() Linear(4, 2)";
    const Tensor x = test::rnd({5, 3}, 8);
    save_safetensors(dir / "x", {{"input", x}});
    // what the commands say is read back from files, not printed among the tests' lines
    std::FILE* out = std::tmpfile();
    std::FILE* err = std::tmpfile();
    auto said = [](std::FILE* f) {
        std::string text(4096, '\0');
        std::rewind(f);
        text.resize(std::fread(&text[0], 1, text.size(), f));
        return text;
    };
    auto run = [&](const std::vector<std::string>& args) { return lessons::interop_command(args, out, err); };
    CHECK_EQ(run({"init", dir / "m", "--arch", arch, "--seed", "5"}), 0);
    CHECK_EQ(run({"predict", dir / "m", dir / "x", dir / "y"}), 0);
    Generator g(5);
    std::shared_ptr<Module> model = lessons::build_model(arch, g);
    model->eval();
    CHECK_EQ(load_safetensors(dir / "y").tensors[0].second.to_vector(), model->forward(x).to_vector());
    CHECK_EQ(run({"export", dir / "m", "--pytorch", dir / "m.py"}), 0);
    CHECK(said(out).find("26 parameters, tt's initialisation (seed 5)") != std::string::npos);
    CHECK(said(out).find("output [5,2]") != std::string::npos);
    CHECK_EQ(run({"predict", dir / "m", dir / "x"}), 2);
    CHECK(said(err).find("tt: 'predict' takes MODEL INPUT OUTPUT") != std::string::npos);
    save_safetensors(dir / "bare", model->named_parameters());
    CHECK_THROWS(run({"predict", dir / "bare", dir / "x", dir / "y"}), "does not record its architecture");
    CHECK_EQ(run({"predict", dir / "bare", dir / "x", dir / "y", "--arch", arch}), 0);
    std::fclose(out);
    std::fclose(err);
}
