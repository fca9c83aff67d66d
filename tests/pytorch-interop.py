#!/usr/bin/env python3
"""tt and PyTorch exchange models both ways, and agree on what they compute.

    make tt && python3 tests/pytorch-interop.py

For the MLP (784-128-64-10), LeNet-5 with BatchNorm and two small GPTs (one
with its head tied to the token embedding and no biases):

  torch -> tt   a PyTorch model (its own initialisation; BatchNorm's running
                statistics moved by three batches in train mode) writes its
                state_dict as safetensors with the small writer below (Debian has
                no safetensors package; this follows the format's spec), and
                `./tt predict` loads it onto the tt model of the same
                architecture and writes its logits on the same input;
  tt -> torch   `./tt init` makes the tt model (tt's initialisation; BatchNorm
                moved the same way), `./tt predict` writes its logits, `./tt
                export --pytorch` writes the PyTorch module, which loads tt's
                file with load_state_dict(strict=True) and no torch.load.

Each line reports the largest |logit difference|; every one must be <= 1e-4.
The MLP also goes torch -> tt in F16 and BF16 (read exactly: both sides compute
in float32 from the same values) and in F64 (PyTorch computes in float64, tt
rounds the weights to float32 and computes in float32).
Never a dependency of tt: without PyTorch it says so and exits 0 (skipped).
Debian's python3-torch lives under /usr/bin/python3; the script re-runs itself
there when the python it was started with lacks it.
"""
import json
import os
import struct
import subprocess
import sys
import tempfile

try:
    import torch
    from torch import nn
except ImportError:
    if os.path.exists("/usr/bin/python3") and not os.environ.get("TT_INTEROP_REEXEC") and \
            os.path.realpath(sys.executable) != os.path.realpath("/usr/bin/python3"):
        os.environ["TT_INTEROP_REEXEC"] = "1"
        os.execv("/usr/bin/python3", ["/usr/bin/python3"] + sys.argv)
    print("pytorch-interop: skipped: PyTorch is not installed (Debian: apt-get install python3-torch)")
    sys.exit(0)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TT = os.path.join(ROOT, "tt")
TOLERANCE = 1e-4

MLP = "Linear(784, 128) ReLU() Linear(128, 64) ReLU() Linear(64, 10)"
LENET = ("Conv2d(1, 6, kernel_size=5, padding=2) BatchNorm2d(6) ReLU() MaxPool2d(kernel_size=2) "
         "Conv2d(6, 16, kernel_size=5) BatchNorm2d(16) ReLU() MaxPool2d(kernel_size=2) Flatten() "
         "Linear(400, 120) ReLU() Linear(120, 84) ReLU() Linear(84, 10)")
GPT = "GPT(vocab_size=32, block_size=16, n_layer=2, n_head=2, n_embd=32)"
GPT_TIED = "GPT(vocab_size=32, block_size=16, n_layer=1, n_head=4, n_embd=32, bias=false, tied)"

DTYPE_NAMES = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16", torch.float64: "F64",
               torch.int64: "I64", torch.int32: "I32"}
DTYPES = {name: dtype for dtype, name in DTYPE_NAMES.items()}


def write_safetensors(path, tensors, metadata=None):
    """The format's spec: 8 bytes little-endian header length n; n bytes of JSON
    {name: {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {...}}
    (padded with spaces to a multiple of 8); then each tensor's bytes, little-endian."""
    header, blobs, offset = {}, [], 0
    if metadata:
        header["__metadata__"] = metadata
    for name, t in tensors.items():
        t = t.detach().contiguous().cpu()
        raw = t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b""
        if sys.byteorder != "little":
            sys.exit("pytorch-interop: this writer assumes a little-endian machine")
        header[name] = {"dtype": DTYPE_NAMES[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))


def read_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    header.pop("__metadata__", None)
    out = {}
    for name, e in header.items():
        begin, end = e["data_offsets"]
        raw = bytearray(data[8 + n + begin:8 + n + end])
        out[name] = torch.frombuffer(raw, dtype=DTYPES[e["dtype"]]).reshape(e["shape"])
    return out


def tt(*args):
    run = subprocess.run([TT] + list(args), capture_output=True, text=True)
    if run.returncode != 0:
        sys.exit("pytorch-interop: ./tt %s failed:\n%s%s" % (" ".join(args), run.stdout, run.stderr))
    return run.stdout + run.stderr


TWINS = {}


def twin_of(arch):
    """The Python module ./tt export writes for this architecture: its build() is
    the PyTorch model (nn.Sequential, or the GPT class) with PyTorch's own
    initialisation; made by tt's exporter, so the two sides cannot drift apart."""
    if arch not in TWINS:
        name = "twin%d" % len(TWINS)
        weights = os.path.join(WORK, name + ".safetensors")
        tt("init", weights, "--arch", arch)
        tt("export", weights, "--pytorch", os.path.join(WORK, name + ".py"))
        sys.path.insert(0, WORK)
        TWINS[arch] = __import__(name)
    return TWINS[arch]


def logits_of(model, x, ids):
    with torch.no_grad():
        return model(x.long() if ids else x)


def warm_up(model, x, ids):
    """Three forward passes in train mode: BatchNorm's running statistics and
    num_batches_tracked move (the weights do not)."""
    model.train()
    with torch.no_grad():
        for _ in range(3):
            model(x.long() if ids else x)
    model.eval()


def max_diff(a, b):
    return (a.double() - b.double()).abs().max().item()


def torch_to_tt(label, arch, x, ids, dtype=torch.float32, init=None):
    torch.manual_seed(1)
    model = twin_of(arch).build()
    if init:
        init(model)
    if dtype == torch.float64:  # PyTorch computes in float64 from float64 weights; tt rounds them to float32
        model = model.double()
        with torch.no_grad():  # weights float32 cannot hold (torch drew them in float32)
            for p in model.parameters():
                p.mul_(1 + 1e-6 * torch.randn_like(p))
        x = x if ids else x.double()
    warm_up(model, x, ids)
    if dtype in (torch.float16, torch.bfloat16):  # the values as that dtype holds them; both compute in float32 from those
        with torch.no_grad():
            for v in model.state_dict().values():
                if v.is_floating_point():
                    v.copy_(v.to(dtype).float())
    state = {k: (v.to(dtype) if v.is_floating_point() else v) for k, v in model.state_dict().items()}
    weights, inputs, outputs = (os.path.join(WORK, f) for f in ("torch.safetensors", "input.safetensors", "tt-out.safetensors"))
    write_safetensors(weights, state, {"format": "pt"})
    write_safetensors(inputs, {"input": x.float()})
    tt("predict", weights, inputs, outputs, "--arch", arch)
    expected = logits_of(model, x, ids)
    diff = max_diff(read_safetensors(outputs)["output"], expected)
    return report(label, "torch -> tt", DTYPE_NAMES[dtype], diff, expected)


def tt_to_torch(label, arch, x, ids):
    weights, inputs, outputs = (os.path.join(WORK, f) for f in ("tt.safetensors", "input.safetensors", "tt-out.safetensors"))
    write_safetensors(inputs, {"input": x.float()})
    tt("init", weights, "--arch", arch, "--seed", "7", "--train-on", inputs)
    tt("predict", weights, inputs, outputs)
    module = os.path.join(WORK, "exported_%s.py" % "".join(c for c in label.lower() if c.isalnum()))
    tt("export", weights, "--pytorch", module)
    sys.path.insert(0, WORK)
    exported = __import__(os.path.basename(module)[:-3])
    model = exported.load(weights)  # strict=True; no torch.load
    counters = [int(v) for k, v in model.state_dict().items() if k.endswith("num_batches_tracked")]
    if any(c != 3 for c in counters):
        sys.exit("pytorch-interop: %s: num_batches_tracked came back as %s, not 3" % (label, counters))
    expected = logits_of(model, x, ids)
    diff = max_diff(read_safetensors(outputs)["output"], expected)
    note = "F32, num_batches_tracked %s" % counters[0] if counters else "F32"
    ok = report(label, "tt -> torch", note, diff, expected)
    # the same weights as tt's save_checkpoint lays them out: "model." names, optimizer state beside them
    state = read_safetensors(weights)
    checkpoint = os.path.join(WORK, "tt-checkpoint.safetensors")
    tensors = {"model." + k: v for k, v in state.items() if not k.endswith("num_batches_tracked")}
    tensors["optimizer.0.momentum_buffer"] = torch.zeros(1)
    write_safetensors(checkpoint, tensors, {"format": "tt checkpoint", "optimizer": "SGD", "steps": "1"})
    diff = max_diff(read_safetensors(outputs)["output"], logits_of(exported.load(checkpoint), x, ids))
    return report(label, "tt -> torch", "tt checkpoint (model.*)", diff, expected) and ok


RESULTS = []


def report(label, direction, note, diff, logits):
    ok = diff <= TOLERANCE
    RESULTS.append(ok)
    print("  %-18s %-12s %-28s max |logit diff| %-9.3g (logits up to %.3g)  %s" %
          (label, direction, note, diff, logits.abs().max().item(), "ok" if ok else "FAIL (> 1e-4)"))
    return ok


def gpt_init(model):
    """Weights of GPT-2's scales, and LayerNorms away from 1 and 0, drawn by torch."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("weight") and p.dim() == 1:
                p.copy_(1 + 0.1 * torch.randn_like(p))
            else:
                p.copy_(0.05 * torch.randn_like(p))


def main():
    if not os.access(TT, os.X_OK):
        sys.exit("pytorch-interop: build ./tt first (make tt)")
    print("pytorch-interop: PyTorch %s beside ./tt; tolerance %g" % (torch.__version__, TOLERANCE))
    torch.manual_seed(0)
    torch.set_num_threads(1)
    mnist_like = torch.rand(16, 784)
    images = torch.rand(8, 1, 28, 28)
    ids = torch.randint(0, 32, (4, 16)).float()
    torch_to_tt("MLP", MLP, mnist_like, False)
    torch_to_tt("MLP", MLP, mnist_like, False, torch.float16)
    torch_to_tt("MLP", MLP, mnist_like, False, torch.bfloat16)
    torch_to_tt("MLP", MLP, mnist_like, False, torch.float64)
    tt_to_torch("MLP", MLP, mnist_like, False)
    torch_to_tt("LeNet+BatchNorm", LENET, images, False)
    tt_to_torch("LeNet+BatchNorm", LENET, images, False)
    torch_to_tt("GPT", GPT, ids, True, init=gpt_init)
    tt_to_torch("GPT", GPT, ids, True)
    torch_to_tt("GPT tied, no bias", GPT_TIED, ids, True, init=gpt_init)
    tt_to_torch("GPT tied, no bias", GPT_TIED, ids, True)
    print("pytorch-interop: %d of %d agree to 1e-4" % (sum(RESULTS), len(RESULTS)))
    return 0 if all(RESULTS) else 1


if __name__ == "__main__":
    with tempfile.TemporaryDirectory(prefix="tt-interop-") as WORK:
        sys.exit(main())
