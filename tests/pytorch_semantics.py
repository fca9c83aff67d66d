#!/usr/bin/env python3
"""The edge cases where tt follows PyTorch, computed by PyTorch.

tests/01-tensor.c++ and tests/06-autograd.c++ require these values of tt
(max and argmax at NaN and ties, max's gradient at ties and NaN, relu at
NaN, pow(x, 0) at 0, binary_cross_entropy_with_logits' gradient for its
targets, matmul on 5-d operands). This script asks PyTorch for the same
cases, so that "as in PyTorch" in tt.h stays true: exit 0 when PyTorch
agrees, 1 (with the case) when it does not, 0 with a note when PyTorch is
not installed (Debian: apt-get install python3-torch).
"""
import math
import sys

try:
    import torch
except ImportError:
    print("pytorch_semantics: PyTorch is not installed; skipped")
    sys.exit(0)

nan = float("nan")
failures = []


def same(got, want):
    # floats to 1e-6, NaN where NaN is wanted
    got = torch.as_tensor(got).flatten().tolist()
    if len(got) != len(want):
        return False
    return all((math.isnan(w) and math.isnan(g)) or (not math.isnan(w) and abs(g - w) <= 1e-6) for g, w in zip(got, want))


def check(case, got, want):
    if not same(got, want):
        failures.append("%s: PyTorch gives %s, tt's tests want %s" % (case, torch.as_tensor(got).flatten().tolist(), want))


def leaf(values):
    return torch.tensor(values, dtype=torch.float32, requires_grad=True)


# tests/01-tensor.c++, max_and_argmax_propagate_nan_and_take_the_first_tie
x = torch.tensor([1, nan, 2])
check("max([1, NaN, 2])", x.max(), [nan])
check("argmax([1, NaN, 2])", x.argmax().float(), [1])
rows = torch.tensor([[1, nan, 2], [3, 3, 1], [nan, 0, nan]])
check("max(rows, 1)", rows.max(1).values, [nan, 3, nan])
check("argmax(rows, 1)", rows.argmax(1).float(), [1, 0, 0])
check("max(rows, 0)", rows.max(0).values, [nan, nan, nan])
check("argmax(rows, 0)", rows.argmax(0).float(), [2, 0, 2])

# tests/06-autograd.c++, max_gradient_at_ties_and_nan
x = leaf([[1, 3], [3, 0]])
(x.max() * 4).backward()
check("max over everything, ties", x.grad, [0, 2, 2, 0])
x.grad = None
x.max(0).values.sum().backward()
check("max along axis 0, ties", x.grad, [0, 1, 1, 0])
row = leaf([5, 5, 1, 5])
row.max(0).values.sum().backward()
check("max along an axis, three tied", row.grad, [1, 0, 0, 0])
y = leaf([1, nan, 2, nan])
y.max().backward()
check("max over everything, NaNs", y.grad, [0, 0.5, 0, 0.5])
y.grad = None
y.max(0).values.backward()
check("max along an axis, NaNs", y.grad, [0, 1, 0, 0])

# relu_at_nan_passes_value_and_gradient
x = leaf([-1, 0, nan, 2])
out = torch.relu(x)
check("relu at NaN", out.detach(), [0, 0, nan, 2])
out.backward(torch.tensor([1.0, 1, 3, 1]))
check("relu's gradient at NaN", x.grad, [0, 0, 3, 1])

# pow_zero_has_zero_gradient_at_zero
x = leaf([0, 2, -1])
x.pow(0).sum().backward()
check("pow(x, 0)'s gradient", x.grad, [0, 0, 0])
x.grad = None
x.pow(1).sum().backward()
check("pow(x, 1)'s gradient", x.grad, [1, 1, 1])

# bce_with_logits_gradient_for_the_targets
z, t = leaf([2, -1]), leaf([0.25, 0.5])
torch.nn.functional.binary_cross_entropy_with_logits(z, t).backward()
check("bce's gradient for the targets", t.grad, [-1, 0.5])
check("bce's gradient for the logits", z.grad,
      [(1 / (1 + math.exp(-2)) - 0.25) / 2, (1 / (1 + math.exp(1)) - 0.5) / 2])

# tests/01-tensor.c++, matmul_2d_batched_and_broadcast: 5-d @ 4-d
five = torch.arange(2 * 3 * 2 * 4, dtype=torch.float32).reshape(2, 1, 3, 2, 4) * 0.5
rhs = torch.arange(4 * 4 * 5, dtype=torch.float32).reshape(4, 1, 4, 5) - 30
check("matmul's shape, 5-d @ 4-d", torch.tensor((five @ rhs).shape, dtype=torch.float32), [2, 4, 3, 2, 5])

for f in failures:
    print("pytorch_semantics: " + f)
if failures:
    print("pytorch_semantics: PyTorch %s disagrees on %d edge cases tt's tests require" % (torch.__version__, len(failures)))
else:
    print("pytorch_semantics: PyTorch %s agrees on every edge case tt's tests require" % torch.__version__)
sys.exit(1 if failures else 0)
