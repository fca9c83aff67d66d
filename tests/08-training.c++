// Lesson 08 · Training: the schedule, clipping, the loop and its NaN stop,
// the progress line, the curves, and checkpoints: a resume that matches an
// uninterrupted run bit for bit, and every kind of bad file refused.
#include <algorithm>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "test.h"

using namespace tt;
namespace fs = std::filesystem;
using test::TempDir;

namespace {
std::string read_all(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(f), {});
}
void write_all(const std::string& path, const std::string& bytes) {
    std::ofstream f(path, std::ios::binary);
    f << bytes;
}
// A safetensors file by hand: the header length, the JSON, then `data_bytes` bytes.
void write_safetensors(const std::string& path, const std::string& json, size_t data_bytes) {
    std::string bytes(8, '\0');
    for (int k = 0; k < 8; k++) bytes[k] = (char)((json.size() >> (8 * k)) & 0xFF);
    write_all(path, bytes + json + std::string(data_bytes, '\x01'));
}
// 32 points of two classes in 4-d, separable by the sign of x0 + x1.
std::shared_ptr<TensorDataset> two_classes(uint64_t seed, int64_t n = 32) {
    Generator g(seed);
    Tensor x = Tensor::randn({n, 4}, g), y = Tensor::zeros({n});
    for (int64_t i = 0; i < n; i++) y.data()[i] = x.at({i, 0}) + x.at({i, 1}) > 0 ? 1.0f : 0.0f;
    return std::make_shared<TensorDataset>(x, y);
}
Sequential small_mlp(uint64_t seed) {
    Generator g(seed);
    return Sequential{Linear(4, 8, true, Init::Kaiming, g), ReLU(), Linear(8, 2, true, Init::Kaiming, g)};
}
std::vector<std::vector<float>> weights_of(Module& m) {
    std::vector<std::vector<float>> out;
    for (Tensor& p : m.parameters()) out.push_back(p.to_vector());
    return out;
}
TrainOptions quiet() {
    TrainOptions o;
    o.progress = false;
    return o;
}
} // namespace

TEST(cosine_schedule_with_warmup) {
    CosineSchedule lr(1.0f, 10, 2, 0.1f);
    CHECK_NEAR(lr(0), 0.5, 1e-6); // warm-up: (t+1)/2
    CHECK_NEAR(lr(1), 1.0, 1e-6);
    CHECK_NEAR(lr(2), 1.0, 1e-6); // the cosine starts at the top
    CHECK_NEAR(lr(6), 0.55, 1e-6); // half way: min + (max-min)/2
    CHECK_NEAR(lr(10), 0.1, 1e-6);
    CHECK_NEAR(lr(1000), 0.1, 1e-6);
    CHECK(lr(3) < lr(2) && lr(8) < lr(7));
    CHECK_THROWS(CosineSchedule(1.0f, 5, 5), "CosineSchedule: need 0 <= warmup < total");
    CHECK_THROWS(CosineSchedule(0.1f, 5, 0, 0.2f), "CosineSchedule: need 0 <= min_lr <= max_lr");
}

TEST(clip_grad_norm_is_global) {
    Tensor a = make_parameter(Tensor({2}, {0, 0})), b = make_parameter(Tensor({1}, {0})), c = make_parameter(Tensor({1}, {0}));
    accumulate_grad(a, Tensor({2}, {3, 4}));
    accumulate_grad(b, Tensor({1}, {12}));
    // c has no grad: it counts as zero and is left alone
    CHECK_NEAR(clip_grad_norm({a, b, c}, 100), 13, 1e-5); // below the limit: unchanged
    CHECK_VALUES(a.grad(), 0, {3, 4});
    CHECK_NEAR(clip_grad_norm({a, b, c}, 6.5f), 13, 1e-5); // scaled by 6.5/13
    CHECK_VALUES(a.grad(), 1e-6, {1.5f, 2});
    CHECK_VALUES(b.grad(), 1e-6, {6});
    CHECK(!c.grad().defined());
    CHECK_THROWS(clip_grad_norm({a}, 0), "clip_grad_norm: max_norm must be > 0");
}

TEST(train_epoch_and_evaluate) {
    auto data = two_classes(1);
    DataLoader loader(data, 8, true);
    Sequential model = small_mlp(2);
    Adam opt(model.parameters(), 0.05f);
    EpochStats first = train_epoch(model, loader, cross_entropy, opt, quiet());
    CHECK(first.samples == 32 && opt.steps == 4 && first.accuracy >= 0 && first.accuracy <= 1);
    for (int e = 0; e < 30; e++) train_epoch(model, loader, cross_entropy, opt, quiet());
    DataLoader in_order(data, 32);
    model.train();
    EpochStats eval = evaluate(model, in_order, cross_entropy);
    CHECK(eval.accuracy >= 0.95f && eval.loss < first.loss);
    CHECK(tape().empty());      // evaluation records nothing
    CHECK(model.training);      // and gives the model back in the mode it found it
    // the mean loss is per sample: evaluate by hand on the one batch
    NoGrad no_tape;
    CHECK_NEAR(eval.loss, cross_entropy(model(data->x), data->y).item(), 1e-6);
}

TEST(training_uses_schedule_and_clipping) {
    auto data = two_classes(3);
    DataLoader loader(data, 8);
    Sequential model = small_mlp(4);
    SGD opt(model.parameters(), 1.0f);
    TrainOptions o = quiet();
    CosineSchedule schedule(0.2f, 8, 2);
    o.lr_schedule = schedule;
    o.clip_norm = 0.5f;
    train_epoch(model, loader, cross_entropy, opt, o);
    CHECK_NEAR(opt.lr, schedule(3), 1e-7); // set before each of the 4 steps
    train_epoch(model, loader, cross_entropy, opt, o);
    CHECK(opt.steps == 8 && opt.lr == schedule(7));
}

// after_step runs after every update, seeing the weights the step wrote:
// here it zeroes one weight, which then stays zero through the epoch.
TEST(train_epoch_calls_after_step_after_each_update) {
    auto data = two_classes(6);
    DataLoader loader(data, 8);
    Sequential model = small_mlp(7);
    SGD opt(model.parameters(), 0.5f);
    TrainOptions o = quiet();
    int64_t calls = 0, steps_seen = 0;
    o.after_step = [&] {
        calls++;
        steps_seen = opt.steps;
        model.parameters()[0].data()[0] = 0;
    };
    train_epoch(model, loader, cross_entropy, opt, o);
    CHECK(calls == 4 && steps_seen == 4);
    CHECK(model.parameters()[0].data()[0] == 0.0f);
}

TEST(training_stops_on_nan_naming_the_step) {
    auto data = two_classes(5);
    data->x.data()[2 * 8 * 4 + 1] = std::nanf(""); // a NaN in the third batch
    DataLoader loader(data, 8);
    Sequential model{Linear(4, 2)}; // (a ReLU would turn the NaN into 0: NaN > 0 is false)
    SGD opt(model.parameters(), 0.1f);
    CHECK_THROWS(train_epoch(model, loader, cross_entropy, opt, quiet()), "train_epoch: the loss became NaN at step 2 (batch 2");
    CHECK_EQ(opt.steps, 2);
    for (auto& w : weights_of(model))
        for (float v : w) CHECK(std::isfinite(v)); // the bad batch never reached the weights
    CHECK(tape().empty());
    Tensor big = Tensor::full({8, 4}, 1e30f);
    auto inf_data = std::make_shared<TensorDataset>(big, Tensor::zeros({8}));
    DataLoader inf_loader(inf_data, 8);
    auto blow_up = [](const Tensor& out, const Tensor&) { return sum(out * out) * 1e30f; };
    CHECK_THROWS(train_epoch(model, inf_loader, blow_up, opt, quiet()), "the loss became infinite at step 2");
}

TEST_GIVEN(progress_line_without_a_terminal) {
    FILE* f = std::tmpfile();
    CHECK(f != nullptr);
    Progress bar("train", 20, f);
    bar.terminal = false; // plain lines, as when TERM is unset, CI is set or TT_PROGRESS=plain
    bar.quiet_seconds = 0; // show even this instant pass
    for (int i = 1; i <= 20; i++) bar.update(i, 0.5f, 64 * i);
    bar.finish();
    std::rewind(f);
    std::string text;
    for (int c; (c = std::fgetc(f)) != EOF;) text += (char)c;
    std::fclose(f);
    CHECK_EQ(text.find('\r'), std::string::npos);                      // plain lines in a file
    CHECK(text.find("train 20/20  loss 0.5000") != std::string::npos); // the last one is there, once
    CHECK_EQ(text.find("20/20"), text.rfind("20/20"));
    CHECK(text.find("samples/s") != std::string::npos);
    CHECK_EQ(std::count(text.begin(), text.end(), '\n'), 11); // the first batch, then one line per tenth
}

TEST_GIVEN(curves_svg_file) {
    TempDir dir;
    History h;
    EpochStats a, b;
    for (int e = 0; e < 5; e++) {
        a.loss = 1.0f / (e + 1), a.accuracy = 0.5f + 0.1f * e, b.loss = a.loss * 1.1f, b.accuracy = a.accuracy - 0.05f;
        h.add(a, b);
    }
    save_curves_svg(dir / "curve.svg", h, "a <test> run");
    const std::string svg = read_all(dir / "curve.svg");
    CHECK(svg.rfind("<svg", 0) == 0 && svg.find("</svg>") != std::string::npos);
    CHECK(svg.find("a &lt;test&gt; run") != std::string::npos);
    for (const char* word : {">epoch<", ">loss<", ">accuracy<", ">train<", ">test<", "<polyline"}) CHECK(svg.find(word) != std::string::npos);
    CHECK_THROWS(save_curves_svg(dir / "no/such/dir/c.svg", h, "x"), "save_curves_svg: cannot write");
}

TEST_GIVEN(safetensors_round_trip_and_layout) {
    TempDir dir;
    Tensor a({2, 3}, {1, -2, 3.5f, 1e-30f, -0.0f, 7}), s = Tensor::scalar(42), t = Tensor({3, 2}, {1, 2, 3, 4, 5, 6}).T();
    save_safetensors(dir / "x.safetensors", {{"a", a}, {"odd \"name\"\n", s}, {"t", t}}, {{"note", "hi"}});
    const std::string bytes = read_all(dir / "x.safetensors");
    uint64_t n = 0;
    for (int k = 0; k < 8; k++) n |= (uint64_t)(unsigned char)bytes[k] << (8 * k);
    CHECK((8 + n) % 8 == 0 && bytes.size() == 8 + n + 4 * (6 + 1 + 6));
    const std::string header = bytes.substr(8, n);
    CHECK(header.find("\"a\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]}") != std::string::npos);
    CHECK(header.find("\"__metadata__\":{\"note\":\"hi\"}") != std::string::npos);
    CHECK_EQ(bytes.substr(8 + n + 8, 4), std::string("\x00\x00\x60\x40", 4)); // 3.5f, little-endian
    SafeTensors back = load_safetensors(dir / "x.safetensors");
    CHECK(back.tensors.size() == 3 && back.metadata.size() == 1 && back.metadata[0].second == "hi");
    CHECK(back.tensors[1].first == "odd \"name\"\n" && back.tensors[1].second.shape() == Shape{});
    CHECK_VALUES(back.tensors[0].second, 0, {1, -2, 3.5f, 1e-30f, -0.0f, 7});
    CHECK_VALUES(back.tensors[2].second, 0, {1, 3, 5, 2, 4, 6});
    CHECK_THROWS(save_safetensors(dir / "y", {{"a", a}, {"a", s}}), "two tensors are named 'a'");
}

TEST(checkpoint_resume_is_bit_for_bit) {
    TempDir dir;
    auto data = two_classes(7, 40);
    // the losses of every step, through a loss function that records them
    auto run = [&](Sequential& model, Optimizer& opt, Generator& g, int epochs, std::vector<float>& losses) {
        DataLoader loader(data, 8, true, false, g);
        TrainOptions o = quiet();
        o.lr_schedule = CosineSchedule(0.05f, 25, 5);
        o.clip_norm = 1.0f;
        LossFn loss = [&](const Tensor& out, const Tensor& y) {
            Tensor l = cross_entropy(out, y);
            losses.push_back(l.item());
            return l;
        };
        for (int e = 0; e < epochs; e++) train_epoch(model, loader, loss, opt, o);
    };
    std::vector<float> straight, resumed;
    Sequential m1 = small_mlp(8);
    AdamW o1(m1.parameters(), 0.05f);
    Generator g1(9);
    run(m1, o1, g1, 5, straight);

    Sequential m2 = small_mlp(8);
    AdamW o2(m2.parameters(), 0.05f);
    Generator g2(9);
    run(m2, o2, g2, 2, resumed);
    save_checkpoint(dir / "ckpt.safetensors", m2, &o2, &g2);
    // a fresh process, in effect: other weights, no state, another generator
    Sequential m3 = small_mlp(99);
    AdamW o3(m3.parameters(), 0.05f);
    Generator g3(1);
    load_checkpoint(dir / "ckpt.safetensors", m3, &o3, &g3);
    CHECK(o3.steps == 10 && o3.state().size() == 12);
    run(m3, o3, g3, 3, resumed);
    CHECK(straight.size() == 25 && resumed.size() == 25);
    for (size_t i = 0; i < straight.size(); i++) CHECK(std::memcmp(&straight[i], &resumed[i], 4) == 0);
    CHECK_EQ(weights_of(m1), weights_of(m3));
    // weights only, for inference: the optimizer state in the file is ignored
    Sequential m4 = small_mlp(5);
    load_checkpoint(dir / "ckpt.safetensors", m4);
    CHECK_EQ(weights_of(m4), weights_of(m2));
}

TEST_GIVEN(bad_safetensors_files_are_refused) {
    TempDir dir;
    const std::string f = dir / "bad.safetensors";
    auto refused = [&](const std::string& json, size_t data, const std::string& text) {
        write_safetensors(f, json, data);
        CHECK_THROWS(load_safetensors(f), text);
        CHECK_THROWS(load_safetensors(f), "load_safetensors: '" + f + "'");
    };
    CHECK_THROWS(load_safetensors(dir / "missing"), "cannot open the file");
    write_all(f, "abc");
    CHECK_THROWS(load_safetensors(f), "too short for the 8-byte header length");
    write_all(f, std::string("\xff\x00\x00\x00\x00\x00\x00\x00{}", 10));
    CHECK_THROWS(load_safetensors(f), "header length 255 runs past the end of the file");
    write_all(f, std::string("\x00\x00\x00\x00\x01\x00\x00\x00{}", 10));
    CHECK_THROWS(load_safetensors(f), "the header length 4294967296 is over the format's limit of 100 MB");
    CHECK_THROWS(load_safetensors(dir.path.string()), "load_safetensors: '" + dir.path.string() + "': cannot");
    const std::string ok = R"("a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]})";
    refused("{" + ok, 8, "bad JSON header at byte");
    refused("{\"a\":{\"dtype\":\"F32\",\"shape\":[2.5],\"data_offsets\":[0,8]}}", 8, "expected a whole number");
    refused("[1,2]", 0, "the header is not a JSON object");
    refused("{" + ok + "," + ok + "}", 8, "duplicate key \"a\"");
    refused(R"({"a":{"dtype":"BOOL","shape":[2],"data_offsets":[0,2]}})", 2, "dtype 'BOOL' is not one tt reads");
    refused(R"({"a":{"dtype":"F32","shape":[2]}})", 8, "exactly dtype, shape and data_offsets");
    refused(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", 4, "holds 4 bytes of data (truncated?)");
    refused(R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", 8, "span 8 bytes but shape [3] needs 12");
    refused(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}})", 8, "end before they begin");
    refused(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})", 12,
            "tensors 'a' and 'b' overlap");
    refused(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})", 12, "data bytes 0..4 belong to no tensor");
    refused("{" + ok + "}", 12, "4 bytes after the last tensor's data");
    refused(R"({"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,0]}})", 0, "shape is larger than the file's data");
    refused(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,18446744073709551616]}})", 8, "integer too large");
    refused(R"({"__metadata__":{"steps":3}})", 0, "metadata \"steps\" is not a string");
    write_safetensors(f, "{" + ok + "}", 8); // and a good one reads
    CHECK_EQ(load_safetensors(f).tensors[0].second.numel(), 2);
}

// parse_json reads every JSON value; safetensors' header keeps its narrow
// mode (whole non-negative numbers only), tested above and here.
TEST_GIVEN(parse_json_reads_all_of_json_and_nothing_else) {
    const JsonValue v = parse_json(R"( {"a": [1, -2.5, 3e2, 0.125E-1, true, false, null], "s": "x\u00e9\n", "o": {}} )");
    CHECK(v.kind == JsonValue::Object && v.keys.size() == 3);
    const JsonValue& a = *v.find("a");
    CHECK(a.kind == JsonValue::Array && a.items.size() == 7);
    CHECK(a.items[0].whole && a.items[0].integer == 1 && a.items[0].number == 1);
    CHECK(!a.items[1].whole && a.items[1].number == -2.5);
    CHECK(!a.items[2].whole && a.items[2].number == 300);
    CHECK_NEAR(a.items[3].number, 0.0125, 1e-15);
    CHECK(a.items[4].kind == JsonValue::Boolean && a.items[4].boolean && !a.items[5].boolean);
    CHECK(a.items[6].kind == JsonValue::Null);
    CHECK_EQ(v.find("s")->text, std::string("x\xc3\xa9\n"));
    CHECK(v.find("o")->kind == JsonValue::Object && v.find("missing") == nullptr);
    CHECK(parse_json("18446744073709551615").integer == UINT64_MAX);
    CHECK(!parse_json("18446744073709551616").whole); // past uint64: a double, not whole
    CHECK_EQ(std::string(parse_json("[]").kind_name()), std::string("an array"));
    CHECK_EQ(parse_json(json_quote("a\"b\\c\x01")).text, std::string("a\"b\\c\x01"));
    CHECK_THROWS(parse_json("[1,]", "here: "), "here: bad JSON at byte 3: unexpected character ']'");
    CHECK_THROWS(parse_json("01"), "leading zeros");
    CHECK_THROWS(parse_json("-"), "expected a digit");
    CHECK_THROWS(parse_json("1."), "expected a digit after '.'");
    CHECK_THROWS(parse_json("1e"), "expected a digit in the exponent");
    CHECK_THROWS(parse_json("1e999"), "out of a double's range");
    CHECK_THROWS(parse_json("tru"), "unexpected character 't'");
    CHECK_THROWS(parse_json("{} {}"), "unexpected text after the JSON value");
    CHECK_THROWS(parse_json("{\"a\": 1, \"a\": 2}"), "duplicate key \"a\"");
    CHECK_THROWS(parse_json("\"abc"), "unterminated string");
    CHECK_THROWS(parse_json(""), "unexpected end");
    CHECK_THROWS(parse_json(std::string(40, '[') + std::string(40, ']')), "nested too deeply");
}

TEST_GIVEN(safetensors_headers_stay_whole_numbers_only) {
    TempDir dir;
    const std::string f = dir / "narrow.safetensors";
    auto refused = [&](const std::string& json, const std::string& text) {
        write_safetensors(f, json, 8);
        CHECK_THROWS(load_safetensors(f), text);
    };
    refused(R"({"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", "unexpected character '-'");
    refused(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8e0]}})", "expected a whole number");
    refused(R"({"a":{"dtype":"F32","shape":true,"data_offsets":[0,8]}})", "unexpected character 't'");
    refused(R"({"__metadata__":null})", "unexpected character 'n'");
}

TEST(bad_checkpoints_leave_the_model_untouched) {
    TempDir dir;
    Sequential model = small_mlp(10);
    SGD sgd(model.parameters(), 0.1f, 0.9f);
    Tensor loss = cross_entropy(model(Tensor::ones({2, 4})), Tensor({2}, {0, 1}));
    loss.backward();
    sgd.step();
    save_checkpoint(dir / "good", model, &sgd);

    Sequential target = small_mlp(11);
    Adam adam(target.parameters());
    SGD plain(target.parameters(), 0.1f), with_momentum(target.parameters(), 0.1f, 0.9f);
    const auto before = weights_of(target);
    auto refused = [&](const std::string& path, Module& m, Optimizer* opt, const std::string& text) {
        CHECK_THROWS(load_checkpoint(path, m, opt), text);
        CHECK_EQ(weights_of(target), before);
    };
    refused(dir / "good", target, &adam, "holds SGD state, not Adam state");
    refused(dir / "good", target, &plain, "tensor 'optimizer.0.momentum_buffer' is not state of this SGD");
    // truncated: the last tensor's data is cut short
    const std::string bytes = read_all(dir / "good");
    write_all(dir / "short", bytes.substr(0, bytes.size() - 4));
    refused(dir / "short", target, &with_momentum, "(truncated?)");
    // other names, other shapes
    Sequential wider{Linear(4, 9), ReLU(), Linear(9, 2)};
    CHECK_THROWS(load_checkpoint(dir / "good", wider), "tensor 'model.0.weight' has shape [8,4] but the model's is [9,4]");
    Sequential deeper{Linear(4, 8), ReLU(), Linear(8, 2), ReLU(), Linear(2, 2)};
    CHECK_THROWS(load_checkpoint(dir / "good", deeper), "has no tensor 'model.4.weight'");
    Sequential single{Linear(4, 8)};
    CHECK_THROWS(load_checkpoint(dir / "good", single), "tensor 'model.2.weight' is not a parameter of the model");
    // a file with the right names where only the last tensor has the wrong shape: still nothing written
    NamedTensors almost;
    for (auto& [name, p] : model.named_parameters()) almost.push_back({"model." + name, p});
    almost.back().second = Tensor::zeros({3});
    save_safetensors(dir / "almost", almost);
    refused(dir / "almost", target, nullptr, "tensor 'model.2.bias' has shape [3] but the model's is [2]");
    // optimizer state that is half there
    NamedTensors half = almost;
    half.back().second = model.named_parameters().back().second;
    half.push_back({"optimizer.0.exp_avg", Tensor::zeros({8, 4})});
    save_safetensors(dir / "half", half, {{"optimizer", "Adam"}, {"steps", "1"}});
    refused(dir / "half", target, &adam, "has 1 of the 3 state tensors of parameter 0");
    save_safetensors(dir / "steps", half, {{"optimizer", "Adam"}, {"steps", "-1"}});
    refused(dir / "steps", target, &adam, "its step counter '-1' is not a whole number");
    Generator g;
    CHECK_THROWS(load_checkpoint(dir / "good", target, &with_momentum, &g), "holds no valid generator state");
    CHECK(with_momentum.state().empty() && with_momentum.steps == 0);
    load_checkpoint(dir / "good", target, &with_momentum); // the right one loads
    CHECK(weights_of(target) == weights_of(model) && with_momentum.state().size() == 4 && with_momentum.steps == 1);
}
