"""The graph machinery: second derivatives, the gradient penalty, shared nodes, deep chains, grad(),
no_grad, detach, accumulation of .grad, seeding.

References: gradgradcheck (central differences of the first derivative), closed-form derivatives, and a
NumPy closed form of the gradient penalty differenced numerically.
"""
import gc
import time

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minigan
import minigan.functional as F

from conftest import (
    away_from_zero,
    close,
    conv_case,
    conv_transpose_case,
    distinct,
    examples,
    normal,
    positive,
    seeds,
    t64,
)


# ------------------------------------------------------------------ the story: a derivative by hand
def test_story_a_derivative_by_hand():
    """y = x^2 + 3x: backward gives dy/dx = 2x + 3, and the gradient, itself a graph, differentiates again."""
    x = minigan.tensor(2.0, dtype=minigan.float64, requires_grad=True)
    y = x * x + 3 * x                                  # Mul, Mul, Add: the graph backward walks in reverse
    y.backward()
    assert x.grad.item() == 2 * 2.0 + 3                # dy/dx at x = 2
    (dy,) = minigan.grad(x * x + 3 * x, x, create_graph=True)
    (d2y,) = minigan.grad(dy, x)
    assert (dy.item(), d2y.item()) == (7.0, 2.0)       # and d2y/dx2 = 2
    t = minigan.tensor([0.5, -1.0], dtype=minigan.float64, requires_grad=True)
    F.tanh(t).sum().backward()
    np.testing.assert_allclose(t.grad.numpy(), 1 - np.tanh(t.numpy()) ** 2)     # d tanh / dx = 1 - tanh^2


# ------------------------------------------------------------------ second derivatives
# name: (function of the inputs, makers of the inputs)
GRADGRAD = {
    "linear": (lambda x, w, b: F.linear(x, w, b), [(3, 4), (2, 4), (2,)], normal),
    "tanh(linear)": (lambda x, w, b: F.tanh(F.linear(x, w, b)), [(3, 4), (2, 4), (2,)], normal),
    "leaky_relu": (lambda x: F.leaky_relu(x, 0.2), [(3, 4)], away_from_zero),
    "leaky_relu*x": (lambda x: F.leaky_relu(x, 0.2) * x, [(3, 4)], away_from_zero),
    "relu(x)^2": (lambda x: F.relu(x) ** 2, [(3, 4)], away_from_zero),
    "tanh": (F.tanh, [(3, 4)], normal),
    "sigmoid": (F.sigmoid, [(3, 4)], normal),
    "softplus": (F.softplus, [(3, 4)], normal),
    "log_sigmoid": (F.log_sigmoid, [(3, 4)], normal),
    "sum": (lambda x: x.sum(axis=1) * x.sum(), [(3, 4)], normal),
    "sum keepdims": (lambda x: (x.sum(axis=0, keepdims=True) ** 2) * x, [(3, 4)], normal),
    "mean": (lambda x: x.mean(axis=(0, 2)) ** 3, [(2, 3, 2)], normal),
    "mean all": (lambda x: x.mean() * x, [(3, 4)], normal),
    "centred square": (lambda x: ((x - x.mean(axis=1, keepdims=True)) ** 2).mean(axis=1), [(3, 4)], normal),
    "max": (lambda x: x.max(axis=1) ** 2, [(3, 4)], distinct),
    "exp, log, sqrt": (lambda x: F.exp(x) * F.log(x) + F.sqrt(x), [(3, 4)], positive),
    "div, pow": (lambda a, b: a / b + a ** 3 + 2.0 / b, [(3, 1), (1, 4)], positive),
    "matmul batched": (lambda a, b: (a @ b) ** 2, [(2, 3, 2), (2, 3)], normal),
    "getitem repeats": (lambda x: x[np.array([0, 2, 0])] ** 2, [(3, 2)], normal),
    "cat, stack": (lambda a, b: F.stack([F.cat([a, b], 1), F.cat([b, a], 1)]) ** 2, [(2, 2), (2, 3)], normal),
    "where, maximum": (lambda a, b: F.maximum(a, b)
                       * F.where(minigan.tensor([True, False, True], dtype=bool, device=a.device), a, b),
                       [(2, 3), (2, 3)], normal),
    "bce_with_logits": (lambda x, t: F.binary_cross_entropy_with_logits(x, t), [(3, 2), (3, 2)], normal),
    "mse_loss": (lambda x, t: F.mse_loss(x, t), [(3, 2), (3, 2)], normal),
}


@pytest.mark.parametrize("name", sorted(GRADGRAD))
def test_gradgradcheck(name, rng):
    fn, shapes, make = GRADGRAD[name]
    arrays = [make(rng, s) for s in shapes]
    if name == "where, maximum":
        arrays[1] = arrays[0] + away_from_zero(rng, shapes[1])          # no ties
    assert minigan.gradgradcheck(fn, [t64(a) for a in arrays])


@examples(6)
@given(case=conv_case(max_hw=5), seed=seeds)
def test_gradgradcheck_conv2d(case, seed):
    rng = np.random.default_rng(seed)
    x = normal(rng, (min(case["n"], 2), case["c"]) + case["hw"])
    w = normal(rng, (case["o"], case["c"]) + case["kernel"])
    b = normal(rng, (case["o"],))
    s, p = case["stride"], case["padding"]
    assert minigan.gradgradcheck(lambda *a: F.conv2d(*a, stride=s, padding=p), [t64(x), t64(w), t64(b)])


@examples(6)
@given(case=conv_transpose_case(max_hw=3), seed=seeds)
def test_gradgradcheck_conv_transpose2d(case, seed):
    rng = np.random.default_rng(seed)
    x = normal(rng, (min(case["n"], 2), case["cin"]) + case["hw"])
    w = normal(rng, (case["cin"], case["cout"]) + case["kernel"])
    s, p, op = case["stride"], case["padding"], case["out_pad"]
    assert minigan.gradgradcheck(lambda *a: F.conv_transpose2d(*a, stride=s, padding=p, output_padding=op),
                                 [t64(x), t64(w)])


def test_gradgradcheck_conv_then_nonlinearity(rng):
    """conv2d -> softplus -> conv_transpose2d: curvature from the nonlinearity flows through both convs."""
    x, w1, w2 = normal(rng, (1, 2, 4, 3)), normal(rng, (3, 2, 2, 2)), normal(rng, (3, 1, 2, 2))
    assert minigan.gradgradcheck(
        lambda a, u, v: F.conv_transpose2d(F.softplus(F.conv2d(a, u, stride=1, padding=1)), v, stride=2),
        [t64(x), t64(w1), t64(w2)])


@pytest.mark.parametrize("shape", [(5, 3), (4, 2, 3), (3, 2, 2, 3)])
def test_gradgradcheck_batch_norm_training(shape, rng):
    c = shape[1]
    x, w, b = normal(rng, shape), normal(rng, (c,)), normal(rng, (c,))
    assert minigan.gradgradcheck(lambda a, g, h: F.batch_norm(a, None, None, g, h, training=True),
                                 [t64(x), t64(w), t64(b)])


def test_third_derivative_by_repeated_grad():
    a = np.array([-0.3, 0.1, 0.7])
    x = t64(a)
    y = F.exp(2 * x).sum()
    g1 = minigan.grad(y, x, create_graph=True)[0]
    g2 = minigan.grad(g1.sum(), x, create_graph=True)[0]
    g3 = minigan.grad(g2.sum(), x)[0]
    close(g1, 2 * np.exp(2 * a))
    close(g2, 4 * np.exp(2 * a))
    close(g3, 8 * np.exp(2 * a))


# ------------------------------------------------------------------ the gradient penalty (WGAN-GP pattern)
def _penalty_numpy(x, w1, b1, w2, b2, slope):
    """Closed form for D(x) = w2 leaky(w1 x + b1) + b2: dD/dx_i = w1^T (leaky'(h_i) * w2[0])."""
    h = x @ w1.T + b1                                   # (N, H)
    d = np.where(h > 0, 1.0, slope) * w2[0]             # (N, H)
    g = d @ w1                                          # (N, D)
    return np.mean((np.sqrt((g * g).sum(1)) - 1) ** 2)


def test_gradient_penalty_matches_central_differences():
    rng = np.random.default_rng(3)
    n, dim, hidden, slope = 5, 3, 4, 0.2
    while True:                                         # pre-activations away from the kink of leaky_relu
        x, w1, b1 = normal(rng, (n, dim)), normal(rng, (hidden, dim)), normal(rng, (hidden,))
        if np.abs(x @ w1.T + b1).min() > 0.05:
            break
    w2, b2 = normal(rng, (1, hidden)), normal(rng, (1,))
    params = [t64(p) for p in (w1, b1, w2, b2)]

    def penalty(w1_, b1_, w2_, b2_):
        xt = t64(x)
        out = F.linear(F.leaky_relu(F.linear(xt, w1_, b1_), slope), w2_, b2_)
        g = minigan.grad(out.sum(), xt, create_graph=True)[0]
        return (((g * g).sum(1).sqrt() - 1) ** 2).mean()

    pen = penalty(*params)
    close(pen, _penalty_numpy(x, w1, b1, w2, b2, slope))
    pen.backward()
    arrays = [w1, b1, w2, b2]
    eps = 1e-6
    for k, p in enumerate(params):
        numeric = np.zeros(p.shape)
        for idx in np.ndindex(p.shape):
            plus = [a.copy() for a in arrays]
            minus = [a.copy() for a in arrays]
            plus[k][idx] += eps
            minus[k][idx] -= eps
            numeric[idx] = (_penalty_numpy(x, *plus, slope=slope) - _penalty_numpy(x, *minus, slope=slope)) \
                / (2 * eps)
        if k in (1, 3):                                 # the biases do not move dD/dx (away from kinks):
            assert p.grad is None                       # they are not in the graph of g at all
            close(numeric, np.zeros(p.shape), atol=1e-7)
        else:
            assert np.abs(numeric).max() > 1e-3
            close(p.grad, numeric, rtol=1e-5, atol=1e-7)
    # and minigan's own central differences agree (gradient of the penalty = a second derivative of D)
    assert minigan.gradcheck(penalty, [t64(w1), t64(b1, False), t64(w2), t64(b2, False)])


# ------------------------------------------------------------------ graph shapes
def test_diamond_graph_gradient_is_exact():
    a = np.array([-1.5, -0.2, 0.0, 0.4, 2.0])
    x = t64(a)
    y = x * x + x * 3 + F.exp(x)
    y.sum().backward()
    close(x.grad, 2 * a + 3 + np.exp(a), rtol=1e-14, atol=1e-14)
    g = minigan.grad(y.sum(), x, create_graph=True)[0]
    close(minigan.grad(g.sum(), x)[0], 2 + np.exp(a), rtol=1e-14, atol=1e-14)


def test_shared_intermediate_node():
    a = np.array([0.3, -0.6])
    x = t64(a)
    h = F.exp(x)                                        # used three times downstream
    (h * h + h).sum().backward()
    e = np.exp(a)
    close(x.grad, (2 * e + 1) * e)


def _chain(n):
    """x -> (x * c + d) n / 2 times; returns x, output and the closed-form derivative."""
    c, d = 1.0001, 0.001
    x = t64([0.5])
    y = x
    for _ in range(n // 2):
        y = y * c + d
    return x, y, c ** (n // 2)


def test_deep_chain_backward_needs_no_recursion_and_is_linear():
    times = {}
    for n in (5000, 20000):                             # 4x the length: linear 4x the time, quadratic 16x
        best = float("inf")
        for _ in range(3):
            x, y, expect = _chain(n)
            gc.collect()
            gc.disable()                                # time the engine, not the cycle collector
            try:
                t0 = time.perf_counter()
                y.backward()
                best = min(best, time.perf_counter() - t0)
            finally:
                gc.enable()
            close(x.grad, [expect], rtol=1e-12)
        times[n] = best
    assert times[20000] / times[5000] < 8, times        # a wide margin: a loaded machine adds noise


def test_deep_chain_grad_with_create_graph():
    x, y, a = _chain(10000)                             # y = a x + b
    b = y.item() - a * 0.5
    out = (y * x).sum()                                 # a x^2 + b x: d/dx = 2 a x + b, d2/dx2 = 2 a
    g = minigan.grad(out, x, create_graph=True)[0]
    close(g, [2 * a * 0.5 + b], rtol=1e-12)
    assert g.requires_grad
    close(minigan.grad(g.sum(), x)[0], [2 * a], rtol=1e-12)


# ------------------------------------------------------------------ grad()
def test_grad_with_and_without_create_graph():
    a = np.array([0.5, -1.0, 2.0])
    x = t64(a)
    y = (x ** 3).sum()
    g = minigan.grad(y, x)[0]
    close(g, 3 * a ** 2)
    assert not g.requires_grad and g.creator is None    # no graph recorded
    assert x.grad is None                               # grad() leaves .grad alone
    g = minigan.grad(y, x, create_graph=True)[0]
    close(g, 3 * a ** 2)
    assert g.requires_grad and g.creator is not None
    close(minigan.grad(g.sum(), x)[0], 6 * a)
    assert x.grad is None


def test_grad_several_inputs_outputs_and_intermediates():
    a, b = np.array([1.0, 2.0]), np.array([3.0, -1.0])
    x, z = t64(a), t64(b)
    h = x * z                                           # an intermediate
    y1, y2 = h.sum(), (h * x).sum()
    gx, gz, gh = minigan.grad([y1, y2], [x, z, h])
    close(gx, b + 2 * a * b)
    close(gz, a + a * a)
    close(gh, 1 + a)
    gx, = minigan.grad(h, [x], grad_outputs=t64([10.0, 100.0], False))
    close(gx, [10.0 * 3.0, 100.0 * -1.0])
    unused = t64([1.0])
    assert minigan.grad(y1, [x, unused], allow_unused=True)[1] is None
    with pytest.raises(RuntimeError, match="not used"):
        minigan.grad(y1, [x, unused])
    with pytest.raises(RuntimeError, match="does not require grad"):
        minigan.grad(y1, [t64([1.0], requires_grad=False)])


def test_backward_with_create_graph_gives_differentiable_grad():
    a = np.array([0.2, -0.7])
    x = t64(a)
    (x ** 4).sum().backward(create_graph=True)
    close(x.grad, 4 * a ** 3)
    close(minigan.grad(x.grad.sum(), x)[0], 12 * a ** 2)


# ------------------------------------------------------------------ no_grad, detach, accumulation
def test_no_grad_records_nothing():
    x = t64([1.0, 2.0])
    with minigan.no_grad():
        assert not minigan.is_grad_enabled()
        y = x * 2 + F.exp(x).sum()
        with minigan.enable_grad():
            z = x * 2
    assert minigan.is_grad_enabled()
    assert not y.requires_grad and y.creator is None
    assert z.requires_grad and z.creator is not None
    close(y, 2 * np.array([1.0, 2.0]) + np.exp([1.0, 2.0]).sum())

    @minigan.no_grad()
    def f(t):
        return t * 3
    for _ in range(2):                                  # usable as a decorator, more than once
        assert f(x).creator is None
    assert (x * 3).creator is not None


def test_no_grad_restores_state_after_an_exception():
    with pytest.raises(KeyError):
        with minigan.no_grad():
            raise KeyError
    assert minigan.is_grad_enabled()


def test_detach_cuts_the_graph():
    a = np.array([1.5, -2.0])
    x = t64(a)
    d = x.detach()
    assert d.creator is None and not d.requires_grad
    close(d, a)
    (x * d).sum().backward()
    close(x.grad, a)                                    # only one factor is differentiated: not 2a
    y = F.tanh(x)
    assert y.detach().creator is None and y.creator is not None


def test_grad_accumulates_over_backward_calls():
    a = np.array([0.5, -1.0])
    x = t64(a)
    y = (x * x).sum()
    y.backward()
    y.backward()                                        # the graph is kept: a second backward works
    close(x.grad, 4 * a)
    (x * 3).sum().backward()
    close(x.grad, 4 * a + 3)


def test_non_leaf_and_non_requiring_tensors_get_no_grad():
    x, c = t64([1.0, 2.0]), t64([3.0, 4.0], requires_grad=False)
    h = x * c
    h.sum().backward()
    assert h.grad is None and c.grad is None
    close(x.grad, [3.0, 4.0])


# ------------------------------------------------------------------ seeding
def test_manual_seed_reproduces_randn_rand_and_dropout():
    def draw():
        x = minigan.randn(3, 4, dtype=np.float64)
        u = minigan.rand(5)
        m = F.dropout(minigan.ones(50), p=0.5)
        return x.numpy(), u.numpy(), m.numpy()
    minigan.manual_seed(42)
    first = draw()
    minigan.manual_seed(42)
    second = draw()
    minigan.manual_seed(43)
    third = draw()
    for a, b, c in zip(first, second, third):
        np.testing.assert_array_equal(a, b)
        assert not np.array_equal(a, c)
    assert first[0].dtype == np.float64 and first[1].dtype == np.float32
    assert first[0].shape == (3, 4) and minigan.randn((2, 5)).shape == (2, 5)
    assert np.all((first[1] >= 0) & (first[1] < 1))


@given(seed=st.integers(0, 1000))
@examples(5)
def test_seeded_draws_differ_between_consecutive_calls(seed):
    minigan.manual_seed(seed)
    assert not np.array_equal(minigan.randn(8).numpy(), minigan.randn(8).numpy())
