#!/usr/bin/env python3
"""tt next to PyTorch and NumPy on the same workloads, on this machine.

    python3 bench/compare.py            (from the repo root; about three minutes)
    python3 bench/compare.py --quick    (SGEMM at n = 256 and 1024 only, then the models)
    python3 bench/compare.py --only gpt (one kind of row: sgemm, mlp, lenet, qmlp, gpt, gen, memory; comma-separated)
    python3 bench/compare.py --isa x86-64-v3   (tt built for AVX2+FMA only, OpenBLAS's Haswell kernel)
    python3 bench/compare.py --isa x86-64-v4   (tt built for AVX-512, OpenBLAS's SkylakeX kernel)

--isa checks an instruction set this machine has but the users' may not: tt's
bench is built with -march=LEVEL and no per-CPU clones (make BUILD=.build/LEVEL
ARCH=-march=LEVEL), and OpenBLAS is forced to the kernel for the same vector
units, so an AVX-512 machine measures what an AVX2 one (Zen 3, Haswell) gets.
Without it: the default build, which picks the CPU's best tile at start-up.

Runs the workloads of bench/bench.c++ with the same shapes, batch, optimizer and
thread counts: SGEMM [n,n] @ [n,n] (tt, PyTorch, NumPy), the MLP 784-128-64-10 for
one MNIST epoch, and LeNet-5 for 200 steps, batch 64, SGD lr 0.01 momentum 0.9
(tt, PyTorch), and milestone 2017's GPT training step at T=64 B=12 and T=128
B=32 (tt, PyTorch: the same model, init scales, AdamW, tanh GELU, clipping),
and that model generating 127 and 511 tokens at batch 1 from a 1-token prompt
(Lesson 18), without and with a KV cache (PyTorch's written here by hand).
The systems alternate within each row (tt, PyTorch, NumPy, and
again), so a change in the machine's load hits them alike; each keeps its best.

Never a dependency of tt, and installs nothing: without PyTorch or NumPy it says
which Debian packages give them. Debian's builds live under /usr/bin/python3;
this script re-runs itself there when the python it was started with lacks them.
"""
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
APT = "apt-get install -y python3-torch python3-numpy libopenblas0-pthread python3-threadpoolctl"


def cpu_flags():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


# OpenBLAS 0.3.21 does not recognise recent CPUs (Zen 4/5) and falls back to
# slower kernels (SSE3, or Haswell's AVX2 when told). Name the kernel for the
# widest vector units the CPU has, before numpy or torch loads the library;
# this overrides a value inherited from the environment, and says so.
ISA_CORETYPE = {"x86-64-v3": "Haswell", "x86-64-v4": "SkylakeX"}
ISA = sys.argv[sys.argv.index("--isa") + 1] if "--isa" in sys.argv[:-1] else None
if ISA is not None and ISA not in ISA_CORETYPE:
    sys.exit(f"compare.py: --isa takes one of {', '.join(ISA_CORETYPE)}, not {ISA!r}")
PREVIOUS_CORETYPE = os.environ.get("OPENBLAS_CORETYPE")
if not os.environ.get("TT_COMPARE_REEXEC"):
    flags = cpu_flags()
    if ISA is not None:
        if ISA == "x86-64-v4" and "avx512f" not in flags or "avx2" not in flags:
            sys.exit(f"compare.py: this CPU cannot run {ISA} code")
        os.environ["OPENBLAS_CORETYPE"] = ISA_CORETYPE[ISA]
    elif "avx512f" in flags:
        os.environ["OPENBLAS_CORETYPE"] = "SkylakeX"
    elif "avx2" in flags:
        os.environ["OPENBLAS_CORETYPE"] = "Haswell"

try:
    import numpy as np
except ImportError:
    np = None
try:
    import torch
except ImportError:
    torch = None

if (np is None or torch is None) and sys.executable != "/usr/bin/python3" and os.path.exists("/usr/bin/python3") \
        and not os.environ.get("TT_COMPARE_REEXEC"):
    os.environ["TT_COMPARE_REEXEC"] = "1"
    os.environ["TT_COMPARE_PREVIOUS_CORETYPE"] = PREVIOUS_CORETYPE or ""
    os.execv("/usr/bin/python3", ["/usr/bin/python3"] + sys.argv)

try:
    from threadpoolctl import threadpool_info, threadpool_limits
except ImportError:
    threadpool_info = threadpool_limits = None

QUICK = "--quick" in sys.argv
SIZES = [256, 1024] if QUICK else [64, 128, 256, 512, 1024, 2048]
THREADS = sorted({1, os.cpu_count() or 1})
ROUNDS = 2


def load():
    with open("/proc/loadavg") as f:
        return f.read().split()[0]


# ---- tt: the bench binary, one measurement per call ------------------------
def tt_bench():
    build = f".build/{ISA}" if ISA else ".build/default"
    extra = [f"BUILD={build}", f"ARCH=-march={ISA}"] if ISA else []
    subprocess.run(["make", "-s", "-C", ROOT, *extra, f"{build}/bench", "data"], check=True)
    return os.path.join(ROOT, build, "bench")


def run_tt(binary, *args):
    out = subprocess.run([binary, *map(str, args)], cwd=ROOT, check=True, capture_output=True, text=True).stdout
    line = out.strip().splitlines()[-1]
    return {k: v for k, v in (item.split("=", 1) for item in line.split())}


# ---- the same workloads in PyTorch and NumPy ---------------------------------
class Limits:
    """n threads: NumPy's and PyTorch's BLAS get n; PyTorch's own OpenMP pool gets 1.
    (Debian's PyTorch with 2 OpenMP threads *and* 2 BLAS threads oversubscribes
    two cores and runs slower than with one.)"""

    def __init__(self, n):
        self.n = n
        self.ctx = None

    def __enter__(self):
        # One thread: every system on the same core (its children inherit it).
        # On a shared VM the cores need not be equally fast: on the machine in
        # bench/RESULTS.md one ran 20-35% slower than the other, which alone
        # flips a ratio near 1.
        if hasattr(os, "sched_setaffinity"):
            os.sched_setaffinity(0, {PIN_CPU} if self.n == 1 else ALL_CPUS)
        if torch is not None:
            torch.set_num_threads(1)
        if threadpool_limits:
            self.ctx = threadpool_limits(limits=self.n, user_api="blas")
            self.ctx.__enter__()
        return self

    def __exit__(self, *exc):
        if self.ctx:
            self.ctx.__exit__(*exc)


ALL_CPUS = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else set()
PIN_CPU = max(ALL_CPUS) if ALL_CPUS else None  # CPU 0 is the one that usually takes the interrupts


def best_seconds(fn, min_time=0.05, trials=5):
    fn()
    t0 = time.perf_counter()
    fn()
    reps = max(1, int(min_time / max(time.perf_counter() - t0, 1e-9)))
    best = float("inf")
    for _ in range(trials):
        t0 = time.perf_counter()
        for _ in range(reps):
            fn()
        best = min(best, (time.perf_counter() - t0) / reps)
    return best


def numpy_sgemm(n):
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((n, n), dtype=np.float32), rng.standard_normal((n, n), dtype=np.float32)
    c = np.empty((n, n), dtype=np.float32)
    return 2 * n ** 3 / best_seconds(lambda: np.matmul(a, b, out=c)) * 1e-9


def torch_sgemm(n):
    a, b = torch.randn(n, n), torch.randn(n, n)
    c = torch.empty(n, n)
    return 2 * n ** 3 / best_seconds(lambda: torch.mm(a, b, out=c)) * 1e-9


def read_idx(name):
    path = os.path.join(ROOT, "data/mnist", name)
    with open(path, "rb") as f:
        data = f.read()
    dims = data[3]
    shape = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(dims)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


MNIST = {}


def mnist():
    if not MNIST:
        x = read_idx("train-images-idx3-ubyte").astype(np.float32)
        MNIST["x"] = torch.from_numpy((x / 255.0 - 0.1307) / 0.3081).reshape(-1, 1, 28, 28)
        MNIST["y"] = torch.from_numpy(read_idx("train-labels-idx1-ubyte").astype(np.int64))
    return MNIST["x"], MNIST["y"]


def torch_train(model, x, steps):
    """Shuffled batches of 64 gathered by index (as tt's DataLoader), SGD
    lr 0.01 momentum 0.9, 3 warm-up steps; returns seconds for `steps` steps."""
    _, y = mnist()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    loss_fn = torch.nn.CrossEntropyLoss()
    order = torch.randperm(x.shape[0])

    def step(i):
        idx = order[i * 64:(i + 1) * 64]
        loss = loss_fn(model(x[idx]), y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()

    for i in range(3):
        step(i)
    t0 = time.perf_counter()
    for i in range(steps):
        step(i)
    return time.perf_counter() - t0


def torch_mlp():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(784, 128), torch.nn.ReLU(), torch.nn.Linear(128, 64),
                                torch.nn.ReLU(), torch.nn.Linear(64, 10))
    x = mnist()[0].reshape(-1, 784)
    return torch_train(model, x, (x.shape[0] + 63) // 64)


# Milestone 1986's MNIST MLP for one epoch in a fresh process, for its resident
# peak: the images kept as uint8 and converted per batch, as tt does.
TORCH_MNIST_MEMORY = r"""
import resource, sys, numpy as np, torch
torch.set_num_threads(1)
def read_idx(path):
    data = open(path, "rb").read()
    dims = data[3]
    shape = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(dims)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)
imported = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
root = sys.argv[1]
x = torch.from_numpy(read_idx(root + "/data/mnist/train-images-idx3-ubyte").reshape(-1, 784).copy())
y = torch.from_numpy(read_idx(root + "/data/mnist/train-labels-idx1-ubyte").astype(np.int64))
torch.manual_seed(0)
nn = torch.nn
model = nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 128), nn.ReLU(), nn.Linear(128, 10))
opt = torch.optim.Adam(model.parameters(), lr=2e-3)
order = torch.randperm(x.shape[0])
for i in range(0, x.shape[0], 128):
    idx = order[i:i + 128]
    batch = (x[idx].float() / 255 - 0.1307) / 0.3081
    loss = nn.functional.cross_entropy(model(batch), y[idx])
    opt.zero_grad()
    loss.backward()
    opt.step()
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3, imported / 1e3)
"""


def torch_mnist_memory():
    """(resident peak MB of the whole job, of `import torch` alone)"""
    out = subprocess.run([sys.executable, "-c", TORCH_MNIST_MEMORY, ROOT], check=True, capture_output=True, text=True)
    peak, imported = map(float, out.stdout.split())
    return peak, imported


def torch_lenet():
    torch.manual_seed(0)
    nn = torch.nn
    model = nn.Sequential(nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(6, 16, 5), nn.ReLU(),
                          nn.MaxPool2d(2), nn.Flatten(), nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84),
                          nn.ReLU(), nn.Linear(84, 10))
    return 200 * 64 / torch_train(model, mnist()[0], 200)


class TorchBlock(torch.nn.Module if torch else object):
    """nanoGPT's Block: pre-LN, causal self-attention through
    scaled_dot_product_attention when this torch has it, tanh GELU."""

    def __init__(self, C, H):
        super().__init__()
        nn = torch.nn
        self.H = H
        self.ln1, self.ln2 = nn.LayerNorm(C), nn.LayerNorm(C)
        self.qkv, self.proj = nn.Linear(C, 3 * C), nn.Linear(C, C)
        self.fc1, self.fc2 = nn.Linear(C, 4 * C), nn.Linear(4 * C, C)

    def forward(self, x):
        B, T, C = x.shape
        q, k, v = self.qkv(self.ln1(x)).split(C, dim=2)
        q, k, v = (t.view(B, T, self.H, C // self.H).transpose(1, 2) for t in (q, k, v))
        if hasattr(torch.nn.functional, "scaled_dot_product_attention"):
            y = torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True)
        else:  # torch 1.13 (Debian 12): nanoGPT's "slow" path
            att = (q @ k.transpose(-2, -1)) * (1.0 / (C // self.H) ** 0.5)
            mask = torch.ones(T, T, dtype=torch.bool).tril()
            y = att.masked_fill(~mask, float("-inf")).softmax(dim=-1) @ v
        x = x + self.proj(y.transpose(1, 2).reshape(B, T, C))
        return x + self.fc2(torch.nn.functional.gelu(self.fc1(self.ln2(x)), approximate="tanh"))


class TorchGPT(torch.nn.Module if torch else object):
    """Milestone 2017's model as nanoGPT builds it: 4 layers, 4 heads, width
    128, biases, the head tied to the token table, GPT-2's init."""

    def __init__(self, V=65, T=64, C=128, L=4, H=4):
        super().__init__()
        nn = torch.nn
        self.tok, self.pos = nn.Embedding(V, C), nn.Embedding(T, C)
        self.blocks = nn.ModuleList(TorchBlock(C, H) for _ in range(L))
        self.ln_f = nn.LayerNorm(C)
        for name, p in self.named_parameters():
            if p.dim() >= 2:
                torch.nn.init.normal_(p, 0.0, 0.02 / (2 * L) ** 0.5 if name.endswith(("proj.weight", "fc2.weight")) else 0.02)
            elif name.endswith("bias"):
                torch.nn.init.zeros_(p)

    def forward(self, ids):
        x = self.tok(ids) + self.pos(torch.arange(ids.shape[1]))
        for b in self.blocks:
            x = b(x)
        return self.ln_f(x) @ self.tok.weight.t()


def torch_gpt(T, B, steps=20):
    """Tokens/s of training steps on random ids, as `bench gpt T B` does:
    AdamW (0.9, 0.99), weight decay 0.1, the gradient norm clipped to 1."""
    torch.manual_seed(0)
    model = TorchGPT(T=T)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, betas=(0.9, 0.99), weight_decay=0.1)

    def step():
        x, y = torch.randint(0, 65, (B, T)), torch.randint(0, 65, (B, T))
        loss = torch.nn.functional.cross_entropy(model(x).reshape(B * T, 65), y.reshape(B * T))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()

    for _ in range(3):
        step()
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    return steps * B * T / (time.perf_counter() - t0)


def torch_generate(n, cached):
    """Lesson 18's rows, as `bench gen N CACHED` does: TorchGPT with block_size 512
    generating n tokens at batch 1 from a 1-token prompt, sampled at temperature 1
    (softmax, torch.multinomial), under torch.no_grad(). Without a cache every step
    runs the whole prefix (GPT::generate); with one, a KV cache written here by hand:
    per layer preallocated [1,H,512,D] keys and values, each step's written at its
    positions, attention over the filled prefix. Tokens/s of one generation after a
    short warm-up; before timing, the cached logits are checked against the full forward."""
    torch.manual_seed(0)
    T_max = 512
    model = TorchGPT(T=T_max).eval()
    L, H, C = len(model.blocks), model.blocks[0].H, model.tok.weight.shape[1]
    D = C // H
    F = torch.nn.functional

    def cached_forward(ids, pos, keys, values):
        """ids [1,T] at positions pos..pos+T-1 -> logits [1,T,V]; appends their k, v."""
        T = ids.shape[1]
        x = model.tok(ids) + model.pos(torch.arange(pos, pos + T))
        for b, K, V in zip(model.blocks, keys, values):
            q, k, v = b.qkv(b.ln1(x)).split(C, dim=2)
            q, k, v = (t.view(1, T, H, D).transpose(1, 2) for t in (q, k, v))
            K[:, :, pos:pos + T] = k
            V[:, :, pos:pos + T] = v
            att = (q @ K[:, :, :pos + T].transpose(-2, -1)) * (1.0 / D ** 0.5)
            if T > 1:  # query i sees keys up to pos + i
                att = att.masked_fill(~torch.ones(T, pos + T, dtype=torch.bool).tril(pos), float("-inf"))
            y = att.softmax(dim=-1) @ V[:, :, :pos + T]
            x = x + b.proj(y.transpose(1, 2).reshape(1, T, C))
            x = x + b.fc2(F.gelu(b.fc1(b.ln2(x)), approximate="tanh"))
        return model.ln_f(x) @ model.tok.weight.t()

    def new_cache():
        return [torch.zeros(1, H, T_max, D) for _ in range(L)], [torch.zeros(1, H, T_max, D) for _ in range(L)]

    def generate(n):
        ids = [0]
        if cached:
            keys, values = new_cache()
            logits = cached_forward(torch.tensor([ids]), 0, keys, values)
        for i in range(n):
            if not cached:
                logits = model(torch.tensor([ids]))
            ids.append(int(torch.multinomial(F.softmax(logits[0, -1], dim=-1), 1)))
            if cached and i + 1 < n:
                logits = cached_forward(torch.tensor([[ids[-1]]]), len(ids) - 1, keys, values)
        return ids

    with torch.no_grad():
        seq = torch.randint(0, 65, (1, 16))
        keys, values = new_cache()
        steps = [cached_forward(seq[:, :5], 0, keys, values)] + \
                [cached_forward(seq[:, t:t + 1], t, keys, values) for t in range(5, 16)]
        difference = (torch.cat(steps, dim=1) - model(seq)).abs().max().item()
        if difference > 1e-4:
            raise RuntimeError(f"compare.py: the hand-written KV cache disagrees with the full forward by {difference}")
        generate(min(n, 32))  # warm-up
        t0 = time.perf_counter()
        generate(n)
        return n / (time.perf_counter() - t0)


# ---- the table ---------------------------------------------------------------
def torch_qmlp():
    """Lesson 15's row: PyTorch's own dynamic int8 quantization of the MLP
    784-256-128-10 (torch.quantization.quantize_dynamic: int8 weights, each
    batch's activations quantized on the fly), inference on a batch of 256,
    images per second; None when this PyTorch build has no quantized engine."""
    if not [e for e in torch.backends.quantized.supported_engines if e != "none"]:
        return None
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(784, 256), torch.nn.ReLU(), torch.nn.Linear(256, 128), torch.nn.ReLU(),
                                torch.nn.Linear(128, 10)).eval()
    q = torch.quantization.quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)
    x = torch.randn(256, 784)
    with torch.no_grad():
        return 256 / best_seconds(lambda: q(x))


def main():
    if np is None or torch is None:
        missing = " and ".join(n for n, m in (("NumPy", np), ("PyTorch", torch)) if m is None)
        print(f"compare.py: {missing} not found for {sys.executable}; tt's side alone is `make bench`.")
        print(f"On Debian: {APT}  (then run with /usr/bin/python3)")
        return 1
    binary = tt_bench()
    tile = run_tt(binary, "tile", 1)
    print(f"tt: {os.path.relpath(binary, ROOT)}, " + (f"built with -march={ISA}, no per-CPU clones" if ISA else
          "the default build (per-CPU clones)") + f"; gemm tile {tile['isa']} {tile['tile']}")
    print(f"python {sys.executable}, numpy {np.__version__}, torch {torch.__version__}")
    was = os.environ.get("TT_COMPARE_PREVIOUS_CORETYPE", PREVIOUS_CORETYPE)
    print(f"OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', '(unset)')} (chosen by this script from the CPU's flags; "
          f"the environment had {was or 'none'})")
    if threadpool_info:
        for lib in threadpool_info():
            print(f"  {lib.get('internal_api')}: {lib.get('version') or ''} kernel={lib.get('architecture')} "
                  f"threads={lib.get('num_threads')} {lib.get('filepath')}")
    else:
        print("  (python3-threadpoolctl is not installed: the BLAS kernel and its threads cannot be shown or limited)")
    print("threads: tt uses TT_THREADS=n; NumPy and PyTorch get n BLAS threads, PyTorch's OpenMP pool 1")
    if PIN_CPU is not None:
        print(f"1-thread rows: every system pinned to CPU {PIN_CPU} (sched_setaffinity); "
              f"n-thread rows: CPUs {sorted(ALL_CPUS)}")
    print(f"load average {load()} at the start; best of {ROUNDS} alternating rounds per row\n")

    print(f"{'workload':<28} {'threads':>7} {'tt':>10} {'PyTorch':>10} {'NumPy':>10} {'tt/PyTorch':>11}  unit")
    only = sys.argv[sys.argv.index("--only") + 1].split(",") if "--only" in sys.argv[:-1] else None
    rows = [("sgemm", n, t) for n in SIZES for t in THREADS] + [("mlp", 0, t) for t in THREADS] + \
           [("lenet", 0, t) for t in THREADS] + [("qmlp", 0, t) for t in THREADS] + \
           [("gpt", shape, t) for shape in ((64, 12), (128, 32)) for t in THREADS] + \
           [("gen", (n, cached), t) for n in (127, 511) for t in THREADS for cached in (False, True)] + \
           [("memory", 0, 1)]
    if only:
        rows = [r for r in rows if r[0] in only]
    generation = {}  # (n, cached), threads -> best tokens/s of each system
    for what, n, t in rows:
        best = {"tt": None, "torch": None, "numpy": None}
        for _ in range(ROUNDS):
            with Limits(t):
                if what == "sgemm":
                    results = {"tt": float(run_tt(binary, "sgemm", n, t)["value"]), "torch": torch_sgemm(n),
                               "numpy": numpy_sgemm(n)}
                elif what == "mlp":
                    results = {"tt": float(run_tt(binary, "mlp", t)["value"]), "torch": torch_mlp()}
                elif what == "qmlp":
                    results = {"tt": float(run_tt(binary, "qmlp", t)["value"]), "torch": torch_qmlp()}
                elif what == "lenet":
                    results = {"tt": float(run_tt(binary, "lenet", t)["value"]), "torch": torch_lenet()}
                elif what == "gen":
                    results = {"tt": float(run_tt(binary, "gen", n[0], int(n[1]), t)["value"]), "torch": torch_generate(*n)}
                elif what == "memory":
                    torch_peak, torch_import = torch_mnist_memory()
                    results = {"tt": float(run_tt(binary, "mnist-memory", t)["value"]), "torch": torch_peak}
                else:
                    results = {"tt": float(run_tt(binary, "gpt", n[0], n[1], t)["value"]), "torch": torch_gpt(*n)}
            lower_is_better = what in ("mlp", "memory")
            for k, v in results.items():
                if v is None:
                    continue
                if best[k] is None or (v < best[k] if lower_is_better else v > best[k]):
                    best[k] = v
        if what == "sgemm":
            name, unit, ratio = f"SGEMM n={n}", "GFLOP/s", best["tt"] / best["torch"]
        elif what == "mlp":
            name, unit, ratio = "MLP 784-128-64-10 epoch", "s/epoch", best["torch"] / best["tt"]
        elif what == "qmlp":
            if best["torch"] is None:
                print(f"{'int8 MLP inference':<28} {t:>7} {best['tt']:10.2f}  (this PyTorch has no quantized engine)")
                continue
            name, unit, ratio = "int8 MLP 784-256-128-10", "images/s", best["tt"] / best["torch"]
        elif what == "lenet":
            name, unit, ratio = "LeNet-5 28x28, 200 steps", "images/s", best["tt"] / best["torch"]
        elif what == "gen":
            name, unit, ratio = f"generate {n[0]}, " + ("KV cache" if n[1] else "no cache"), "tokens/s", best["tt"] / best["torch"]
            generation[(n, t)] = best
        elif what == "memory":
            name, unit, ratio = "MNIST MLP epoch, resident", f"MB peak (PyTorch's import alone: {torch_import:.0f} MB)", \
                best["torch"] / best["tt"]
        else:
            name, unit, ratio = f"GPT L4 C128 T={n[0]} B={n[1]}", "tokens/s", best["tt"] / best["torch"]
        numpy_cell = f"{best['numpy']:10.2f}" if best["numpy"] is not None else f"{'-':>10}"
        print(f"{name:<28} {t:>7} {best['tt']:10.2f} {best['torch']:10.2f} {numpy_cell} {ratio:10.2f}x  {unit}",
              flush=True)
    for (n, cached), t in generation:
        if cached and ((n, False), t) in generation:
            with_cache, without = generation[((n, True), t)], generation[((n, False), t)]
            print(f"generate {n}, {t} thread{'s' if t > 1 else ''}: the KV cache's speed-up: tt "
                  f"{with_cache['tt'] / without['tt']:.1f}x, PyTorch {with_cache['torch'] / without['torch']:.1f}x")
    print(f"\ntt/PyTorch is a speed ratio: above 1 tt is faster (for the memory row, PyTorch's peak over tt's). "
          f"Load average {load()} at the end.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
