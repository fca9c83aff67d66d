// lessons/interop.c++ — tt models as text and as PyTorch code (chapter 08):
// the architecture format, and the commands `./tt init`, `./tt predict` and
// `./tt export` that move a model between tt and PyTorch.
#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>

#include "lessons.h"

using namespace tt;

namespace lessons {
namespace {

// One "Name(arg, key=value, ...)" of the architecture text.
struct Item {
    std::string kind;
    std::vector<std::string> positional;
    std::vector<std::pair<std::string, std::string>> named;
    std::string text; // as written, for messages
};

std::string trim(const std::string& s) {
    const size_t begin = s.find_first_not_of(" \t\r\n"), end = s.find_last_not_of(" \t\r\n");
    return begin == std::string::npos ? "" : s.substr(begin, end - begin + 1);
}

std::vector<Item> parse_items(const std::string& text) {
    std::vector<Item> items;
    size_t i = 0;
    auto fail = [&](const std::string& what) -> Error {
        return Error("architecture: " + what + " at character " + std::to_string(i) + " of \"" + text + "\"");
    };
    for (;;) {
        while (i < text.size() && std::string(" \t\r\n,;").find(text[i]) != std::string::npos) i++;
        if (i == text.size()) break;
        const size_t start = i;
        while (i < text.size() && (std::isalnum((unsigned char)text[i]) || text[i] == '_')) i++;
        Item item;
        item.kind = text.substr(start, i - start);
        if (item.kind.empty()) throw fail("expected a layer's name, like Linear(784, 128)");
        while (i < text.size() && (text[i] == ' ' || text[i] == '\t')) i++;
        if (i == text.size() || text[i] != '(') throw fail("expected '(' after " + item.kind);
        const size_t close = text.find(')', i);
        if (close == std::string::npos) throw fail("no ')' closes " + item.kind + "(");
        const std::string inside = text.substr(i + 1, close - i - 1);
        item.text = text.substr(start, close + 1 - start);
        size_t from = 0;
        while (!trim(inside).empty()) {
            const size_t comma = inside.find(',', from);
            const std::string arg = trim(inside.substr(from, comma == std::string::npos ? std::string::npos : comma - from));
            if (arg.empty()) throw fail("an empty argument in " + item.text);
            const size_t eq = arg.find('=');
            const bool word = std::all_of(arg.begin(), arg.end(), [](char c) { return std::isalpha((unsigned char)c) || c == '_'; });
            if (eq == std::string::npos && !item.named.empty() && word) {
                item.named.push_back({arg, "true"}); // a flag after the key=value ones: GPT(..., tied)
            } else if (eq == std::string::npos) {
                if (!item.named.empty()) throw fail("a positional argument after key=value ones in " + item.text);
                item.positional.push_back(arg);
            } else {
                item.named.push_back({trim(arg.substr(0, eq)), trim(arg.substr(eq + 1))});
            }
            if (comma == std::string::npos) break;
            from = comma + 1;
        }
        i = close + 1;
        items.push_back(item);
    }
    if (items.empty()) throw Error("architecture: the text \"" + text + "\" names no layer");
    return items;
}

// The arguments of one item, by position or by key: each read once, then
// anything left over is an Error (a misspelt key must not pass unnoticed).
class Args {
public:
    Args(const Item& item, std::vector<std::string> keys) : item(item), keys(std::move(keys)), used(item.named.size(), false) {
        if (item.positional.size() > this->keys.size())
            throw Error("architecture: " + item.text + " has " + std::to_string(item.positional.size()) +
                        " positional arguments, at most " + std::to_string(this->keys.size()) + " are taken");
    }
    // The value of `key` (the k-th positional argument when there are that many), or "" if absent.
    std::string get(const std::string& key) {
        const size_t k = (size_t)(std::find(keys.begin(), keys.end(), key) - keys.begin());
        std::string found = k < item.positional.size() ? item.positional[k] : "";
        for (size_t j = 0; j < item.named.size(); j++)
            if (item.named[j].first == key) {
                if (!found.empty()) throw Error("architecture: " + item.text + " gives " + key + " twice");
                found = item.named[j].second;
                used[j] = true;
            }
        return found;
    }
    int64_t whole(const std::string& key, int64_t fallback, bool required = false) {
        const std::string v = get(key);
        if (v.empty()) {
            if (required) throw Error("architecture: " + item.text + " needs " + key);
            return fallback;
        }
        char* end = nullptr;
        const long long n = std::strtoll(v.c_str(), &end, 10);
        if (*end != '\0') throw Error("architecture: " + item.text + ": " + key + "=" + v + " is not a whole number");
        return (int64_t)n;
    }
    float real(const std::string& key, float fallback) {
        const std::string v = get(key);
        if (v.empty()) return fallback;
        char* end = nullptr;
        const float x = std::strtof(v.c_str(), &end);
        if (*end != '\0') throw Error("architecture: " + item.text + ": " + key + "=" + v + " is not a number");
        return x;
    }
    bool flag(const std::string& key, bool fallback) {
        const std::string v = get(key);
        if (v.empty()) return fallback;
        if (v == "true" || v == "True") return true;
        if (v == "false" || v == "False") return false;
        throw Error("architecture: " + item.text + ": " + key + "=" + v + " is not true or false");
    }
    void done() {
        for (size_t j = 0; j < item.named.size(); j++)
            if (!used[j]) throw Error("architecture: " + item.text + " has no argument '" + item.named[j].first + "'");
    }

private:
    const Item& item;
    std::vector<std::string> keys;
    std::vector<bool> used;
};

std::shared_ptr<Module> build_layer(const Item& it, Generator& g) {
    const std::string& k = it.kind;
    std::shared_ptr<Module> m;
    if (k == "Linear") {
        Args a(it, {"in_features", "out_features", "bias"});
        const int64_t in = a.whole("in_features", 0, true), out = a.whole("out_features", 0, true);
        m = std::make_shared<Linear>(in, out, a.flag("bias", true), Init::Kaiming, g);
        a.done();
    } else if (k == "Conv2d") {
        Args a(it, {"in_channels", "out_channels", "kernel_size", "stride", "padding", "bias"});
        const int64_t in = a.whole("in_channels", 0, true), out = a.whole("out_channels", 0, true);
        const int64_t kernel = a.whole("kernel_size", 0, true), stride = a.whole("stride", 1), padding = a.whole("padding", 0);
        m = std::make_shared<Conv2d>(in, out, kernel, stride, padding, a.flag("bias", true), g);
        a.done();
    } else if (k == "BatchNorm2d") {
        Args a(it, {"channels", "momentum", "eps", "affine"});
        const int64_t c = a.whole("channels", 0, true);
        const float momentum = a.real("momentum", 0.1f), eps = a.real("eps", 1e-5f);
        m = std::make_shared<BatchNorm2d>(c, momentum, eps, a.flag("affine", true));
        a.done();
    } else if (k == "MaxPool2d" || k == "AvgPool2d") {
        Args a(it, {"kernel_size", "stride"});
        const int64_t kernel = a.whole("kernel_size", 0, true), stride = a.whole("stride", 0);
        if (k == "MaxPool2d") m = std::make_shared<MaxPool2d>(kernel, stride);
        else m = std::make_shared<AvgPool2d>(kernel, stride);
        a.done();
    } else if (k == "Dropout") {
        Args a(it, {"p"});
        m = std::make_shared<Dropout>(a.real("p", 0.5f), g);
        a.done();
    } else if (k == "Softmax") {
        Args a(it, {"axis"});
        m = std::make_shared<Softmax>(a.whole("axis", -1));
        a.done();
    } else if (k == "LayerNorm") {
        Args a(it, {"dim", "eps", "bias"});
        const int64_t dim = a.whole("dim", 0, true);
        const float eps = a.real("eps", 1e-5f);
        m = std::make_shared<LayerNorm>(dim, eps, a.flag("bias", true));
        a.done();
    } else if (k == "ReLU" || k == "Sigmoid" || k == "Tanh" || k == "GELU" || k == "Flatten") {
        Args(it, {}).done();
        if (k == "ReLU") m = std::make_shared<ReLU>();
        else if (k == "Sigmoid") m = std::make_shared<Sigmoid>();
        else if (k == "Tanh") m = std::make_shared<Tanh>();
        else if (k == "GELU") m = std::make_shared<GELU>();
        else m = std::make_shared<Flatten>();
    } else {
        throw Error("architecture: no layer '" + k + "' (in " + it.text + "); the layers are Linear, Conv2d, BatchNorm2d, "
                    "MaxPool2d, AvgPool2d, ReLU, Sigmoid, Tanh, GELU, Softmax, Dropout, Flatten, LayerNorm, or one GPT");
    }
    return m;
}

std::shared_ptr<GPT> build_gpt(const Item& it, Generator& g) {
    Args a(it, {});
    GPTConfig c;
    c.vocab_size = a.whole("vocab_size", 0, true);
    c.block_size = a.whole("block_size", 0, true);
    c.n_layer = a.whole("n_layer", 0, true);
    c.n_head = a.whole("n_head", 0, true);
    c.n_embd = a.whole("n_embd", 0, true);
    c.dropout = a.real("dropout", 0);
    c.bias = a.flag("bias", true);
    c.tie_weights = a.flag("tied", false);
    a.done();
    return std::make_shared<GPT>(c, g);
}

// A float as Python and strtof read it back exactly, in as few digits as that takes.
std::string exact_float(float v) {
    char buf[32];
    for (int digits = 6; digits <= 9; digits++) {
        std::snprintf(buf, sizeof buf, "%.*g", digits, v);
        if (std::strtof(buf, nullptr) == v) break;
    }
    return buf;
}

// One layer of a Sequential as the architecture text says it (its name(), but
// for the settings name() leaves out), and as PyTorch's nn layer.
struct LayerText {
    std::string tt, torch;
};
LayerText describe_layer(Module& m, size_t i) {
    if (auto* l = dynamic_cast<Linear*>(&m))
        return {l->name(), "nn.Linear(" + std::to_string(l->in_features) + ", " + std::to_string(l->out_features) +
                               (l->bias.defined() ? "" : ", bias=False") + ")"};
    if (auto* c = dynamic_cast<Conv2d*>(&m))
        return {c->name(), "nn.Conv2d(" + std::to_string(c->in_channels) + ", " + std::to_string(c->out_channels) +
                               ", kernel_size=" + std::to_string(c->kernel_size) + ", stride=" + std::to_string(c->stride) +
                               ", padding=" + std::to_string(c->padding) + (c->bias.defined() ? "" : ", bias=False") + ")"};
    if (auto* n = dynamic_cast<BatchNorm2d*>(&m)) {
        const std::string affine = n->weight.defined() ? "" : ", affine=false";
        return {"BatchNorm2d(" + std::to_string(n->channels) + ", momentum=" + exact_float(n->momentum) + ", eps=" + exact_float(n->eps) + affine + ")",
                "nn.BatchNorm2d(" + std::to_string(n->channels) + ", eps=" + exact_float(n->eps) + ", momentum=" + exact_float(n->momentum) +
                    (n->weight.defined() ? "" : ", affine=False") + ")"};
    }
    if (auto* p = dynamic_cast<MaxPool2d*>(&m))
        return {p->name(), "nn.MaxPool2d(" + std::to_string(p->kernel_size) + ", stride=" + std::to_string(p->stride ? p->stride : p->kernel_size) + ")"};
    if (auto* p = dynamic_cast<AvgPool2d*>(&m))
        return {p->name(), "nn.AvgPool2d(" + std::to_string(p->kernel_size) + ", stride=" + std::to_string(p->stride ? p->stride : p->kernel_size) + ")"};
    if (auto* d = dynamic_cast<Dropout*>(&m)) return {"Dropout(p=" + exact_float(d->p) + ")", "nn.Dropout(p=" + exact_float(d->p) + ")"};
    if (auto* s = dynamic_cast<Softmax*>(&m))
        return {"Softmax(axis=" + std::to_string(s->axis) + ")", "nn.Softmax(dim=" + std::to_string(s->axis) + ")"};
    if (auto* n = dynamic_cast<LayerNorm*>(&m)) {
        if (!n->bias.defined())
            throw Error("export: layer " + std::to_string(i) + ", LayerNorm without bias: PyTorch 1.13's nn.LayerNorm always has one");
        return {"LayerNorm(" + std::to_string(n->dim) + ", eps=" + exact_float(n->eps) + ")",
                "nn.LayerNorm(" + std::to_string(n->dim) + ", eps=" + exact_float(n->eps) + ")"};
    }
    if (dynamic_cast<ReLU*>(&m)) return {"ReLU()", "nn.ReLU()"};
    if (dynamic_cast<Sigmoid*>(&m)) return {"Sigmoid()", "nn.Sigmoid()"};
    if (dynamic_cast<Tanh*>(&m)) return {"Tanh()", "nn.Tanh()"};
    if (dynamic_cast<GELU*>(&m)) return {"GELU()", "nn.GELU(approximate=\"tanh\")"}; // tt's gelu is the tanh approximation
    if (dynamic_cast<Flatten*>(&m)) return {"Flatten()", "nn.Flatten()"};
    throw Error("architecture: layer " + std::to_string(i) + ", " + m.name() + ", has no text form (nor a PyTorch twin)");
}

std::string gpt_text(const GPT& gpt) {
    const GPTConfig& c = gpt.config;
    return "GPT(vocab_size=" + std::to_string(c.vocab_size) + ", block_size=" + std::to_string(c.block_size) +
           ", n_layer=" + std::to_string(c.n_layer) + ", n_head=" + std::to_string(c.n_head) + ", n_embd=" + std::to_string(c.n_embd) +
           (c.dropout != 0 ? ", dropout=" + exact_float(c.dropout) : "") + (c.bias ? "" : ", bias=false") +
           (c.tie_weights ? ", tied" : "") + ")";
}

// The Python classes of a GPT whose state_dict names are tt's: the same
// attributes (token_embedding, blocks.0.attn.qkv, ...), the same math.
const char* kTorchGPT = R"PY(
class LayerNorm(nn.Module):
    """tt's LayerNorm: weight, and bias unless bias=False."""
    def __init__(self, dim, eps=1e-5, bias=True):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.bias = nn.Parameter(torch.zeros(dim)) if bias else None
        self.eps = eps

    def forward(self, x):
        return F.layer_norm(x, (x.shape[-1],), self.weight, self.bias, self.eps)


class Attention(nn.Module):
    """tt's MultiHeadAttention, causal: one Linear makes q, k, v [B,T,C] side by side."""
    def __init__(self, dim, heads, bias, dropout):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim, bias=bias)
        self.proj = nn.Linear(dim, dim, bias=bias)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x):
        B, T, C = x.shape
        D = C // self.heads
        q, k, v = (t.view(B, T, self.heads, D).transpose(1, 2) for t in self.qkv(x).split(C, dim=2))
        scores = q @ k.transpose(-2, -1) / math.sqrt(D)
        hidden = torch.ones(T, T, dtype=torch.bool, device=x.device).triu(1)
        y = torch.softmax(scores.masked_fill(hidden, float("-inf")), dim=-1) @ v
        return self.dropout(self.proj(y.transpose(1, 2).reshape(B, T, C)))


class Block(nn.Module):
    """x + attn(ln1(x)), then x + dropout(fc2(gelu(fc1(ln2(x)))))."""
    def __init__(self, dim, heads, bias, dropout):
        super().__init__()
        self.ln1 = LayerNorm(dim, bias=bias)
        self.attn = Attention(dim, heads, bias, dropout)
        self.ln2 = LayerNorm(dim, bias=bias)
        self.fc1 = nn.Linear(dim, 4 * dim, bias=bias)
        self.fc2 = nn.Linear(4 * dim, dim, bias=bias)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x):
        x = x + self.attn(self.ln1(x))
        return x + self.dropout(self.fc2(F.gelu(self.fc1(self.ln2(x)), approximate="tanh")))


class GPT(nn.Module):
    """ids [B,T] (long) -> logits [B,T,V]; the head is the token embedding when tied."""
    def __init__(self, vocab_size, block_size, n_layer, n_head, n_embd, dropout=0.0, bias=True, tied=False):
        super().__init__()
        self.token_embedding = nn.Parameter(torch.zeros(vocab_size, n_embd))
        self.position_embedding = nn.Parameter(torch.zeros(block_size, n_embd))
        self.blocks = nn.ModuleList(Block(n_embd, n_head, bias, dropout) for _ in range(n_layer))
        self.ln_f = LayerNorm(n_embd, bias=bias)
        self.head = None if tied else nn.Parameter(torch.zeros(vocab_size, n_embd))
        self.dropout = nn.Dropout(dropout)

    def forward(self, ids):
        T = ids.shape[1]
        x = self.dropout(F.embedding(ids, self.token_embedding) + self.position_embedding[:T])
        for block in self.blocks:
            x = block(x)
        head = self.token_embedding if self.head is None else self.head
        return self.ln_f(x) @ head.t()
)PY";

const char* kTorchReader = R"PY(
DTYPES = {"F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16, "F64": torch.float64,
          "I64": torch.int64, "I32": torch.int32, "I8": torch.int8}


def read_safetensors(path):
    """{name: tensor} of a safetensors file, read by its spec (no torch.load, no pickle):
    8 bytes little-endian header size n, n bytes of JSON, then the data. A tt
    checkpoint (save_checkpoint) gives its model.* tensors without the prefix."""
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    metadata = header.pop("__metadata__", {})
    if metadata.get("format") == "tt checkpoint":
        header = {k[len("model."):]: v for k, v in header.items() if k.startswith("model.")}
    state = {}
    for name, entry in header.items():
        begin, end = entry["data_offsets"]
        dtype = DTYPES[entry["dtype"]]
        raw = bytearray(data[8 + n + begin:8 + n + end])
        flat = torch.frombuffer(raw, dtype=dtype) if raw else torch.zeros(0, dtype=dtype)  # little-endian machines
        state[name] = flat.reshape(entry["shape"])
    return state


def load(path=WEIGHTS):
    """The model with the weights of `path`, in eval mode (strict: every name must match)."""
    model = build()
    model.load_state_dict(read_safetensors(path), strict=True)
    return model.eval()
)PY";


// The tensor named "input", or the file's only tensor.
Tensor input_of(const std::string& path) {
    const SafeTensors file = load_safetensors(path);
    for (const auto& [name, t] : file.tensors)
        if (name == "input") return t;
    if (file.tensors.size() == 1) return file.tensors[0].second;
    throw Error("'" + path + "' holds " + std::to_string(file.tensors.size()) + " tensors and none is named 'input'");
}

int interop_usage(const std::string& message, FILE* err) {
    std::fprintf(err,
                 "tt: %s\n\n"
                 "usage:\n"
                 "  tt init MODEL.safetensors --arch TEXT [--seed N] [--train-on INPUT.safetensors]\n"
                 "  tt predict MODEL.safetensors INPUT.safetensors OUTPUT.safetensors [--arch TEXT]\n"
                 "  tt export MODEL.safetensors --pytorch FILE.py [--arch TEXT]\n",
                 message.c_str());
    return 2;
}
} // namespace

// The model a file holds the weights of: its architecture from --arch, else
// from the file's metadata (what ./tt init writes), made with any weights.
std::shared_ptr<Module> model_for(const std::string& model_path, const std::string& arch_option) {
    std::string arch = arch_option;
    if (arch.empty()) {
        for (const auto& [k, v] : load_safetensors(model_path).metadata)
            if (k == "architecture") arch = v;
        if (arch.empty())
            throw Error("'" + model_path + "' does not record its architecture (tt's save_checkpoint and PyTorch's files don't): "
                        "give it with --arch, e.g. --arch \"Linear(784, 128) ReLU() Linear(128, 10)\"");
    }
    Generator g(0);
    return build_model(arch, g);
}

std::shared_ptr<Module> build_model(const std::string& text, Generator& g) {
    const std::vector<Item> items = parse_items(text);
    for (size_t i = 0; i < items.size(); i++)
        if (items[i].kind == "GPT") {
            if (items.size() != 1) throw Error("architecture: a GPT is a model of its own; \"" + text + "\" has other layers too");
            return build_gpt(items[0], g);
        }
    auto model = std::make_shared<Sequential>();
    for (const Item& it : items) model->add(build_layer(it, g));
    return model;
}

std::string architecture_of(Module& model) {
    if (auto* gpt = dynamic_cast<GPT*>(&model)) return gpt_text(*gpt);
    auto* seq = dynamic_cast<Sequential*>(&model);
    if (!seq) throw Error("architecture: " + model.name() + " is not a Sequential or a GPT");
    std::string out;
    for (size_t i = 0; i < seq->layers.size(); i++) out += (i ? "\n" : "") + describe_layer(*seq->layers[i], i).tt;
    return out;
}

std::string pytorch_module(Module& model, const std::string& weights_path, const std::string& module_name) {
    std::string out =
        "\"\"\"The PyTorch twin of a tt model, written by `./tt export` (tt's chapter 08).\n\n"
        "    import " + module_name + "\n"
        "    model = " + module_name + ".load(\"" + weights_path + "\")   # eval mode; the weights read by read_safetensors\n\n"
        "build() makes the model with PyTorch's own initialisation; its state_dict names\n"
        "are tt's (the module paths), so load_state_dict(strict=True) takes tt's file.\n"
        "\"\"\"\n"
        "import json\nimport math\nimport struct\n\nimport torch\nfrom torch import nn\nimport torch.nn.functional as F\n\n"
        "WEIGHTS = \"" + weights_path + "\"\n"
        "ARCHITECTURE = \"\"\"" + architecture_of(model) + "\"\"\"\n";
    if (auto* gpt = dynamic_cast<GPT*>(&model)) {
        const GPTConfig& c = gpt->config;
        out += kTorchGPT;
        out += "\n\ndef build():\n    return GPT(vocab_size=" + std::to_string(c.vocab_size) + ", block_size=" + std::to_string(c.block_size) +
               ", n_layer=" + std::to_string(c.n_layer) + ", n_head=" + std::to_string(c.n_head) + ", n_embd=" + std::to_string(c.n_embd) +
               ", dropout=" + exact_float(c.dropout) + ", bias=" + (c.bias ? "True" : "False") + ", tied=" + (c.tie_weights ? "True" : "False") + ")\n";
    } else {
        auto& seq = dynamic_cast<Sequential&>(model);
        out += "\n\ndef build():\n    return nn.Sequential(\n";
        for (size_t i = 0; i < seq.layers.size(); i++) out += "        " + describe_layer(*seq.layers[i], i).torch + ",\n";
        out += "    )\n";
    }
    out += kTorchReader;
    return out;
}

int interop_command(const std::vector<std::string>& args, FILE* out, FILE* err) {
    std::vector<std::string> files;
    std::string arch, pytorch, train_on, seed_text;
    for (size_t i = 1; i < args.size(); i++) {
        const std::string& a = args[i];
        std::string* value = a == "--arch" ? &arch : a == "--pytorch" ? &pytorch : a == "--train-on" ? &train_on : a == "--seed" ? &seed_text : nullptr;
        if (value) {
            if (i + 1 == args.size()) return interop_usage(a + " needs a value", err);
            *value = args[++i];
        } else if (a.size() > 1 && a[0] == '-') {
            return interop_usage("unknown option '" + a + "' for '" + args[0] + "'", err);
        } else {
            files.push_back(a);
        }
    }
    const std::string& command = args[0];
    if (command == "init") {
        long seed = 0;
        if (files.size() != 1 || arch.empty()) return interop_usage("'init' takes one file to write and --arch", err);
        if (!seed_text.empty() && !parse_int(seed_text, 0, 2147483647, seed)) return interop_usage("--seed takes a whole number", err);
        Generator g((uint64_t)seed);
        std::shared_ptr<Module> model = build_model(arch, g);
        if (!train_on.empty()) { // BatchNorm's statistics and counter move; no weight changes
            const Tensor x = input_of(train_on);
            NoGrad no_tape;
            for (int k = 0; k < 3; k++) model->forward(x);
        }
        save_state_dict(*model, files[0], {{"architecture", architecture_of(*model)}});
        std::fprintf(out, "%s: %lld parameters, tt's initialisation (seed %ld)%s\n", files[0].c_str(), (long long)model->num_parameters(), seed,
                    train_on.empty() ? "" : ", then 3 forward passes in train mode");
        return 0;
    }
    if (command == "predict") {
        if (files.size() != 3 || !pytorch.empty() || !train_on.empty()) return interop_usage("'predict' takes MODEL INPUT OUTPUT", err);
        std::shared_ptr<Module> model = model_for(files[0], arch);
        const LoadReport report = load_state_dict(*model, files[0]);
        std::fprintf(err, "%s", report.str().c_str());
        model->eval();
        NoGrad no_tape;
        const Tensor y = model->forward(input_of(files[1]));
        save_safetensors(files[2], {{"output", y}});
        std::fprintf(out, "%s: output %s\n", files[2].c_str(), to_string(y.shape()).c_str());
        return 0;
    }
    if (command == "export") {
        if (files.size() != 1 || pytorch.empty()) return interop_usage("'export' takes MODEL and --pytorch FILE.py", err);
        std::shared_ptr<Module> model = model_for(files[0], arch);
        load_state_dict(*model, files[0]); // the file must be this model's, strictly: the Python side will load it so
        std::ofstream file(pytorch, std::ios::binary);
        const size_t slash = pytorch.find_last_of('/') + 1, dot = pytorch.rfind('.');
        const std::string module_name = pytorch.substr(slash, dot == std::string::npos || dot < slash ? std::string::npos : dot - slash);
        file << pytorch_module(*model, files[0], module_name);
        if (!file.flush()) throw Error("export: cannot write '" + pytorch + "'");
        std::fprintf(out, "%s: the PyTorch module for %s (%lld parameters)\n", pytorch.c_str(), files[0].c_str(), (long long)model->num_parameters());
        return 0;
    }
    return interop_usage("unknown command '" + command + "'", err);
}

} // namespace lessons
