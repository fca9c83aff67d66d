// Milestone 2017 · Transformer. Vaswani et al. replaced recurrence with
// attention ("Attention Is All You Need"); GPT stacked the decoder half and
// trained it to predict the next token. Here, in the framework of lessons
// 01-13: (a) a tiny transformer learns to copy and to reverse digit strings,
// which needs attention to look up a position; (b) a probe shows its causal
// mask holds and that positions matter; (c) a character GPT trained on Tiny
// Shakespeare with nanoGPT's CPU recipe, exactly, until its validation loss
// matches PyTorch's; (d, --long) the same model for longer; (e) a GPT that
// answers TinyTalks' questions.
#include <algorithm>
#include <cmath>
#include <cstdio>

#include "lessons.h"

using namespace tt;

namespace lessons {

namespace {

// Mean next-token cross-entropy over logits [B,T,V] and targets [B,T].
Tensor next_token_loss(const Tensor& logits, const Tensor& y) {
    const int64_t V = logits.size(-1);
    return cross_entropy(logits.reshape({-1, V}), y.reshape({-1}));
}

// How a language model is trained here: nanoGPT's train.py, the parts that
// matter for a small model. AdamW (betas 0.9/beta2, weight decay on every
// matrix, embeddings included, as nanoGPT's configure_optimizers does),
// a linear warm-up then a cosine from lr to min_lr, the gradient norm clipped
// to `clip`, batches of random windows drawn with replacement.
struct LmRecipe {
    int64_t steps = 2000, batch = 12, warmup = 100;
    float lr = 1e-3f, min_lr = 1e-4f, beta2 = 0.99f, weight_decay = 0.1f, clip = 1.0f;
    uint64_t seed = 1337;
    int64_t sample_every = 0; // print a short sample every so many steps (0: never)
};

std::vector<int64_t> random_rows(int64_t n, int64_t count, Generator& g) {
    std::vector<int64_t> rows((size_t)count);
    for (int64_t& r : rows) r = g.randint(n);
    return rows;
}

// Mean loss over `batches` batches of random windows, the same ones every
// time (a fixed seed), in eval mode without the tape.
double lm_loss(GPT& model, const TextDataset& data, int64_t batch, int64_t batches, uint64_t seed = 2017) {
    NoGrad no_grad;
    model.eval();
    Generator g(seed);
    double total = 0;
    for (int64_t b = 0; b < batches; b++) {
        const Batch xy = data.gather(random_rows(data.size(), batch, g));
        total += next_token_loss(model(xy.x), xy.y).item();
    }
    model.train();
    return total / (double)batches;
}

struct LmRun {
    double seconds = 0, tokens_per_s = 0, last_loss = 0;
    std::vector<float> loss_curve; // the mean training loss of each run of `window` steps, for the report
    int64_t window = 1;
};

// A training loss averaged over windows of steps: about 20 points for a
// curve, whatever the number of steps.
struct LossCurve {
    explicit LossCurve(int64_t steps) : window(std::max<int64_t>(1, steps / 20)) {}
    void add(double loss) {
        sum += loss;
        if (++count == window) points.push_back((float)(sum / (double)window)), sum = 0, count = 0;
    }
    int64_t window, count = 0;
    double sum = 0;
    std::vector<float> points;
};
Figure curve_figure(const std::string& title, const std::vector<float>& points, int64_t window) {
    History h;
    h.train_loss = points;
    return {"Training loss, the mean of every " + std::to_string(window) + " steps",
            curves_svg(h, title, "training step", (double)window)};
}

LmRun train_lm(GPT& model, const TextDataset& train, const LmRecipe& recipe, const std::string& label,
               const std::function<void(int64_t step)>& on_sample = nullptr) {
    AdamW opt(model.parameters(), recipe.lr, 0.9f, recipe.beta2, 1e-8f, recipe.weight_decay);
    opt.exclude_from_weight_decay(model.no_decay_parameters(true));
    const CosineSchedule schedule(recipe.lr, recipe.steps, recipe.warmup, recipe.min_lr);
    Generator g(recipe.seed);
    Progress progress(label, recipe.steps);
    model.train();
    const int64_t T = train.block_size;
    const double start = now_seconds();
    LmRun run;
    LossCurve curve(recipe.steps);
    for (int64_t step = 0; step < recipe.steps; step++) {
        const Batch xy = train.gather(random_rows(train.size(), recipe.batch, g));
        Tensor loss = next_token_loss(model(xy.x), xy.y);
        opt.zero_grad();
        loss.backward();
        clip_grad_norm(opt.params, recipe.clip);
        opt.lr = schedule(step);
        opt.step();
        run.last_loss = loss.item();
        if (!std::isfinite(run.last_loss)) throw Error(label + ": the loss is " + std::to_string(run.last_loss) + " at step " + std::to_string(step));
        curve.add(run.last_loss);
        progress.update(step + 1, (float)run.last_loss, (step + 1) * recipe.batch * T);
        if (on_sample && recipe.sample_every > 0 && (step + 1) % recipe.sample_every == 0 && step + 1 < recipe.steps) {
            progress.print();
            on_sample(step + 1);
        }
    }
    progress.finish();
    run.seconds = seconds_since(start);
    run.tokens_per_s = (double)(recipe.steps * recipe.batch * T) / run.seconds;
    run.loss_curve = curve.points;
    run.window = curve.window;
    return run;
}

// Text from the model: the prompt's characters, then `n` sampled ones.
std::string sample_text(GPT& model, const CharTokenizer& chars, const std::string& prompt, int64_t n, float temperature,
                        uint64_t seed) {
    return chars.decode(model.generate(chars.encode(prompt), n, temperature, 0, seed));
}

std::string indent(const std::string& text) {
    std::string out = "    | ";
    for (char c : text) out += c == '\n' ? std::string("\n    | ") : std::string(1, c);
    return out;
}

Result make_result(const char* part, const std::string& dataset, const std::string& model, int64_t params) {
    Result r;
    r.milestone = "2017";
    r.part = part;
    r.dataset = dataset;
    r.model = model;
    r.params = params;
    return r;
}

// --- (a) copy and reverse ----------------------------------------------------
// Sequences d1..dn > o1..on over 11 tokens (digits and '>'), with o = d
// (copy) or d reversed. The model reads x = seq[0:2n] and is trained to
// predict seq[1:2n+1] at the n positions from '>' on; the digits before it
// are random and carry no loss. Accuracy: the whole answer right, generated
// greedily from the prompt d1..dn >.
constexpr int64_t kDigits = 8, kArrow = 10;

std::vector<int64_t> digit_task(Generator& g, bool reverse) {
    std::vector<int64_t> seq;
    for (int64_t i = 0; i < kDigits; i++) seq.push_back(g.randint(10));
    seq.push_back(kArrow);
    for (int64_t i = 0; i < kDigits; i++) seq.push_back(seq[(size_t)(reverse ? kDigits - 1 - i : i)]);
    return seq;
}

struct SequenceTask {
    double accuracy = 0, digit_accuracy = 0, seconds = 0;
    int64_t params = 0;
    std::vector<float> loss_curve; // for the report: the mean loss of each window of steps
    int64_t window = 1;
    std::vector<std::vector<std::string>> examples; // the first test strings: prompt, expected, answer, right
};

SequenceTask train_sequence_task(GPT& model, bool reverse, int64_t steps, uint64_t seed, int trials = 200) {
    const int64_t B = 64, T = 2 * kDigits;
    Generator g(seed);
    AdamW opt(model.parameters(), 3e-3f, 0.9f, 0.99f, 1e-8f, 0.01f);
    opt.exclude_from_weight_decay(model.no_decay_parameters());
    const CosineSchedule schedule(3e-3f, steps, 20, 3e-4f);
    Progress progress(reverse ? "  reverse" : "  copy", steps);
    LossCurve curve(steps);
    const double start = now_seconds();
    for (int64_t step = 0; step < steps; step++) {
        Tensor x({B, T}), y({B, kDigits});
        for (int64_t b = 0; b < B; b++) {
            const std::vector<int64_t> seq = digit_task(g, reverse);
            for (int64_t t = 0; t < T; t++) x.data()[b * T + t] = (float)seq[(size_t)t];
            for (int64_t t = 0; t < kDigits; t++) y.data()[b * kDigits + t] = (float)seq[(size_t)(kDigits + 1 + t)];
        }
        Tensor answer_logits = model(x).slice(1, kDigits, T); // [B,n,V]: from '>' on
        Tensor loss = next_token_loss(answer_logits, y);
        opt.zero_grad();
        loss.backward();
        clip_grad_norm(opt.params, 1.0f);
        opt.lr = schedule(step);
        opt.step();
        curve.add(loss.item());
        progress.update(step + 1, loss.item(), (step + 1) * B);
    }
    progress.finish();
    SequenceTask out;
    out.seconds = seconds_since(start);
    out.loss_curve = curve.points;
    out.window = curve.window;
    auto digits = [](const std::vector<int64_t>& tokens, size_t from, size_t to) {
        std::string text;
        for (size_t t = from; t < to && t < tokens.size(); t++) text += tokens[t] == kArrow ? '>' : (char)('0' + tokens[t]);
        return text;
    };
    Generator test(seed + 1);
    int64_t right = 0, digits_right = 0;
    for (int i = 0; i < trials; i++) {
        const std::vector<int64_t> seq = digit_task(test, reverse);
        const std::vector<int64_t> prompt(seq.begin(), seq.begin() + kDigits + 1);
        const std::vector<int64_t> got = model.generate(prompt, kDigits, 0.0f);
        bool all = true;
        for (int64_t t = 0; t < kDigits; t++) {
            const bool ok = got[(size_t)(kDigits + 1 + t)] == seq[(size_t)(kDigits + 1 + t)];
            digits_right += ok;
            all = all && ok;
        }
        right += all;
        if (out.examples.size() < 10)
            out.examples.push_back({digits(seq, 0, kDigits), digits(seq, kDigits + 1, seq.size()),
                                    digits(got, kDigits + 1, got.size()), all ? "yes" : "no"});
    }
    out.accuracy = (double)right / trials;
    out.digit_accuracy = (double)digits_right / (trials * kDigits);
    out.params = model.num_parameters();
    return out;
}

GPTConfig digit_config() {
    GPTConfig c;
    c.vocab_size = 11;
    c.block_size = 2 * kDigits;
    c.n_layer = 2;
    c.n_head = 4;
    c.n_embd = 64;
    return c;
}

Result sequence_part(const Options& options, bool reverse, std::shared_ptr<GPT>* keep) {
    Generator g(reverse ? 12 : 11);
    auto model = std::make_shared<GPT>(digit_config(), g);
    const int64_t steps = options.quick ? 150 : 300;
    const SequenceTask t = train_sequence_task(*model, reverse, steps, reverse ? 22 : 21);
    if (!options.json)
        std::printf("  %-8s %lld steps of batch 64 in %.1f s: %.1f%% of 200 new strings right (%.1f%% of digits)\n",
                    reverse ? "reverse" : "copy", (long long)steps, t.seconds, 100 * t.accuracy, 100 * t.digit_accuracy);
    Result r = make_result(reverse ? "(a) reverse 8 digits" : "(a) copy 8 digits", "random digit strings (seeded)",
                           "GPT 2 layers, 4 heads, width 64", t.params);
    r.metrics = {{"accuracy", t.accuracy}, {"digit_accuracy", t.digit_accuracy}, {"steps", (double)steps}};
    r.gate = "accuracy >= 0.95";
    r.pass = t.accuracy >= 0.95;
    r.tables = {{std::string("The first ") + std::to_string(t.examples.size()) + " of the 200 test strings, answered greedily",
                 {"digits", reverse ? "reversed" : "copied", "the model's answer", "right"}, t.examples}};
    r.figures = {curve_figure(std::string("Milestone 2017 (a): ") + (reverse ? "reverse" : "copy") + " 8 digits", t.loss_curve, t.window)};
    if (keep) *keep = model;
    return r;
}

// --- (b) the causal mask and the positions ----------------------------------
Result probe_part(const Options& options, GPT& model) {
    NoGrad no_grad;
    model.eval();
    const int64_t T = 2 * kDigits, V = 11, changed = kDigits;
    Generator g(17);
    Tensor x({1, T});
    for (int64_t t = 0; t < T; t++) x.data()[t] = (float)g.randint(10);
    Tensor before = model(x);
    Tensor x2 = x.clone();
    x2.data()[changed] = (float)(((int64_t)x.data()[changed] + 5) % 10);
    Tensor after = model(x2);
    double earlier = 0, later = 0;
    for (int64_t t = 0; t < T; t++)
        for (int64_t v = 0; v < V; v++) {
            const double d = std::fabs(before.at({0, t, v}) - after.at({0, t, v}));
            (t < changed ? earlier : later) = std::max(t < changed ? earlier : later, d);
        }
    // one token at every position: only the position tells them apart
    Tensor same = model(Tensor::full({1, T}, 3.0f));
    double spread = 0;
    for (int64_t t = 1; t < T; t++)
        for (int64_t v = 0; v < V; v++) spread = std::max(spread, (double)std::fabs(same.at({0, t, v}) - same.at({0, 0, v})));
    model.train();
    if (!options.json)
        std::printf("  changing token %lld: earlier positions' logits moved by at most %.3g, later ones by %.3g\n"
                    "  the digit 3 at all %lld positions: logits differ between positions by up to %.3g\n",
                    (long long)changed, earlier, later, (long long)T, spread);
    Result r = make_result("(b) causality probe", "the reversal model of (a)", "GPT 2 layers, 4 heads, width 64",
                           model.num_parameters());
    r.metrics = {{"max_diff_before_change", earlier}, {"max_diff_after_change", later}, {"position_spread", spread}};
    r.gate = "max_diff_before_change <= 1e-6 and position_spread > 1e-3";
    r.pass = earlier <= 1e-6 && spread > 1e-3;
    return r;
}

// --- (c, d) Tiny Shakespeare -------------------------------------------------
struct Shakespeare {
    CharTokenizer chars;
    std::shared_ptr<TextDataset> train, val;
};
Shakespeare load_shakespeare(const std::string& path, int64_t block_size) {
    const std::string text = read_text(path);
    CharTokenizer chars(text, false); // 65 characters, no unk: every one occurs
    const auto [train_ids, val_ids] = split_by_position(chars.encode(text), 0.9);
    return {chars, std::make_shared<TextDataset>(token_tensor(train_ids), block_size),
            std::make_shared<TextDataset>(token_tensor(val_ids), block_size)};
}

Result shakespeare_part(const Options& options, bool long_run) {
    const char* name = long_run ? "(d) Tiny Shakespeare, long" : "(c) Tiny Shakespeare, nanoGPT CPU";
    const std::string path = shared_data_path("tinyshakespeare/input.txt");
    Result r = make_result(name, "Tiny Shakespeare (char), 90/10 by position", "GPT 4 layers, 4 heads, width 128, context 64", 0);
    if (path.empty()) {
        r.skipped = true;
        r.note = "Tiny Shakespeare not found in data/ or ../shared/data: `make data-text` downloads it";
        return r;
    }
    Shakespeare data = load_shakespeare(path, 64);
    Generator g(1337);
    GPT model(shakespeare_gpt_config(data.chars.vocab_size()), g);
    r.params = model.num_parameters();
    LmRecipe recipe;
    if (long_run) {
        recipe.steps = 6000;
        recipe.batch = 32;
    }
    if (options.quick) {
        recipe.steps = 100;
        recipe.warmup = 10;
    }
    recipe.sample_every = recipe.steps / 4;
    const int64_t eval_batches = options.quick ? 20 : 200;
    const double untrained = lm_loss(model, *data.val, recipe.batch, eval_batches);
    if (!options.json)
        std::printf("  %lld parameters, vocabulary %lld; untrained val loss %.3f (ln %lld = %.3f)\n", (long long)r.params,
                    (long long)data.chars.vocab_size(), untrained, (long long)data.chars.vocab_size(),
                    std::log((double)data.chars.vocab_size()));
    const bool report = !options.html.empty(); // the samples go on the page too
    auto show = [&](int64_t step) {
        if (options.json && !report) return;
        const std::string text = sample_text(model, data.chars, "\n", 120, 1.0f, (uint64_t)step);
        if (!options.json) std::printf("  step %lld, a sample:\n%s\n", (long long)step, indent(text).c_str());
        r.samples.push_back({"Step " + std::to_string(step) + ": 120 characters, temperature 1.0", text});
    };
    const LmRun run = train_lm(model, *data.train, recipe, long_run ? "  long" : "  shakespeare", show);
    const double val = lm_loss(model, *data.val, recipe.batch, eval_batches);
    const double train_loss = lm_loss(model, *data.train, recipe.batch, eval_batches);
    if (!options.json) {
        std::printf("  %lld steps of %lld x 64 tokens in %.1f s (%.0f tokens/s, %d threads)\n", (long long)recipe.steps,
                    (long long)recipe.batch, run.seconds, run.tokens_per_s, get_num_threads());
        std::printf("  train loss %.4f, val loss %.4f (mean of %lld fixed batches)\n", train_loss, val, (long long)eval_batches);
    }
    if (!options.json || report) {
        const std::string text = sample_text(model, data.chars, "\n", 300, 0.8f, 7);
        if (!options.json) std::printf("  300 characters, temperature 0.8:\n%s\n", indent(text).c_str());
        r.samples.push_back({"After training (" + std::to_string(recipe.steps) + " steps): 300 characters, temperature 0.8", text});
    }
    r.figures = {curve_figure(std::string("Milestone 2017 ") + name, run.loss_curve, run.window)};
    const double gate = long_run ? 1.56 : 1.90;
    r.metrics = {{"val_loss", val}, {"train_loss", train_loss}, {"untrained_val_loss", untrained},
                 {"tokens_per_s", run.tokens_per_s}, {"train_seconds", run.seconds}, {"steps", (double)recipe.steps},
                 {"threads", (double)get_num_threads()}};
    char gate_text[64];
    std::snprintf(gate_text, sizeof gate_text, "val_loss <= %.2f", gate);
    r.gate = gate_text;
    r.pass = options.quick ? val < untrained - 0.5 : val <= gate;
    if (options.quick) r.gate = "--quick: val_loss < untrained - 0.5";
    r.note = "the process's resident peak so far " + bytes_str(resident_peak_bytes()) + " (in the tour, earlier parts' too)";
    return r;
}

// --- (e) TinyTalks -------------------------------------------------------------
Result tinytalks_part(const Options& options) {
    Result r = make_result("(e) TinyTalks Q&A", "TinyTalks v1, splits 210/45/46", "GPT 4 layers, 4 heads, width 128, context 64", 0);
    const std::string train_path = shared_data_path("tinytalks/splits/train.txt");
    const std::string test_path = shared_data_path("tinytalks/splits/test.txt");
    if (train_path.empty() || test_path.empty()) {
        r.skipped = true;
        r.note = "TinyTalks not found in data/tinytalks or ../shared/data/tinytalks (see ../shared/data/README.md)";
        return r;
    }
    const std::string train_text = read_text(train_path), test_text = read_text(test_path);
    CharTokenizer chars(train_text); // with unk: a held-out character the training split lacks
    auto train = std::make_shared<TextDataset>(token_tensor(chars.encode(train_text)), 64);
    auto test = std::make_shared<TextDataset>(token_tensor(chars.encode(test_text)), 64);
    Generator g(2024);
    GPT model(shakespeare_gpt_config(chars.vocab_size()), g);
    r.params = model.num_parameters();
    LmRecipe recipe;
    recipe.steps = options.quick ? 100 : 500;
    recipe.warmup = options.quick ? 10 : 50;
    const double untrained = lm_loss(model, *test, 12, 20);
    const LmRun run = train_lm(model, *train, recipe, "  tinytalks");
    const double train_loss = lm_loss(model, *train, 12, 20), test_loss = lm_loss(model, *test, 12, 20);
    if (!options.json)
        std::printf("  %lld steps in %.1f s: train loss %.3f, held-out loss %.3f (untrained %.3f)\n", (long long)recipe.steps,
                    run.seconds, train_loss, test_loss, untrained);
    if (!options.json || !options.html.empty()) { // the answers go on the report page too
        if (!options.json) std::printf("  five held-out questions, answered greedily:\n");
        Table answers{"Five held-out questions, answered greedily", {"question", "the model's answer", "the answer in TinyTalks"}, {}};
        size_t at = 0;
        for (int q = 0; q < 5; q++) {
            const size_t question = test_text.find("Q: ", at), answer = test_text.find("\nA: ", question);
            if (question == std::string::npos || answer == std::string::npos) break;
            const std::string prompt = test_text.substr(question, answer - question) + "\nA:";
            const std::string expected = test_text.substr(answer + 4, test_text.find('\n', answer + 4) - answer - 4);
            std::string reply = sample_text(model, chars, prompt, 60, 0.0f, 1).substr(prompt.size());
            reply = reply.substr(0, reply.find('\n'));
            if (!options.json)
                std::printf("    %s\n      model:%s\n      truth: %s\n", prompt.substr(0, prompt.size() - 3).c_str(), reply.c_str(),
                            expected.c_str());
            answers.rows.push_back({prompt.substr(3, prompt.size() - 6), reply, expected});
            at = answer + 1;
        }
        r.tables = {answers};
    }
    r.figures = {curve_figure("Milestone 2017 (e) TinyTalks", run.loss_curve, run.window)};
    r.metrics = {{"test_loss", test_loss}, {"train_loss", train_loss}, {"untrained_test_loss", untrained},
                 {"tokens_per_s", run.tokens_per_s}};
    r.gate = "test_loss <= untrained_test_loss - 0.5";
    r.pass = test_loss <= untrained - 0.5;
    return r;
}

} // namespace

GPTConfig shakespeare_gpt_config(int64_t vocab_size) {
    GPTConfig c;
    c.vocab_size = vocab_size;
    c.block_size = 64;
    c.n_layer = 4;
    c.n_head = 4;
    c.n_embd = 128;
    c.dropout = 0;
    c.bias = true;
    c.tie_weights = true; // nanoGPT ties the output layer to the token table
    return c;
}

bool train_shakespeare_gpt(int64_t steps, int64_t eval_batches, CharGPT& out, std::string& why_not) {
    const std::string path = shared_data_path("tinyshakespeare/input.txt");
    if (path.empty()) {
        why_not = "Tiny Shakespeare not found in data/ or ../shared/data: `make data-text` downloads it";
        return false;
    }
    Shakespeare data = load_shakespeare(path, 64);
    Generator g(1337);
    out.chars = std::make_shared<CharTokenizer>(data.chars);
    out.model = std::make_shared<GPT>(shakespeare_gpt_config(data.chars.vocab_size()), g);
    LmRecipe recipe;
    recipe.steps = steps;
    recipe.warmup = std::min<int64_t>(recipe.warmup, steps / 10);
    out.untrained_val_loss = lm_loss(*out.model, *data.val, recipe.batch, eval_batches);
    out.seconds = train_lm(*out.model, *data.train, recipe, "  shakespeare").seconds;
    out.val_loss = lm_loss(*out.model, *data.val, recipe.batch, eval_batches);
    out.steps = steps;
    out.model->eval();
    return true;
}

double digit_task_accuracy(bool reverse, int64_t steps, int trials) {
    Generator g(reverse ? 12 : 11);
    GPT model(digit_config(), g);
    return train_sequence_task(model, reverse, steps, reverse ? 22 : 21, trials).accuracy;
}

std::vector<Result> milestone_2017(const Options& options) {
    std::vector<Result> results;
    std::shared_ptr<GPT> reverser;
    if (!options.json) std::printf("(a) copy and reverse 8 random digits with a 2-layer transformer\n");
    results.push_back(timed_part([&] { return sequence_part(options, false, nullptr); }));
    results.push_back(timed_part([&] { return sequence_part(options, true, &reverser); }));
    if (!options.json) std::printf("\n(b) the causal mask holds, and positions matter\n");
    results.push_back(timed_part([&] { return probe_part(options, *reverser); }));
    if (options.long_run) {
        if (!options.json) std::printf("\n(d) Tiny Shakespeare, nanoGPT's recipe with batch 32 for 6000 steps\n");
        results.push_back(timed_part([&] { return shakespeare_part(options, true); }));
        return results;
    }
    if (!options.json) std::printf("\n(c) Tiny Shakespeare, nanoGPT's CPU recipe: 4 layers, 4 heads, width 128, context 64, batch 12, 2000 steps\n");
    results.push_back(timed_part([&] { return shakespeare_part(options, false); }));
    if (!options.json) std::printf("\n(e) TinyTalks: questions and answers\n");
    results.push_back(timed_part([&] { return tinytalks_part(options); }));
    return results;
}

} // namespace lessons
