"""Every speed trick of minigan.tricks gives the numbers of the plain code it stands in for (float64)."""
import numpy as np
import pytest

import minigan
import minigan.functional as F
from minigan import tricks


@pytest.fixture
def switch():
    """switch(name, on): set tricks.ON[name] for the test; restored afterwards."""
    saved = dict(tricks.ON)

    def set_(name, on):
        assert name in tricks.ON
        tricks.ON[name] = on
    yield set_
    tricks.ON.clear()
    tricks.ON.update(saved)


def both_ways(switch, name, fn):
    """fn() with the trick on, then off: two lists of NumPy arrays."""
    out = []
    for on in (True, False):
        switch(name, on)
        out.append([minigan.backend.as_numpy(a) for a in fn()])
    return out


CONV_CASES = [((2, 3, 7, 7), (4, 3, 3, 3), 1, 1, True), ((3, 2, 8, 6), (5, 2, 4, 4), 2, 1, False),
              ((1, 1, 5, 9), (2, 1, 3, 2), (2, 3), (0, 1), True), ((2, 4, 4, 4), (3, 4, 4, 4), 1, 0, True)]


@pytest.mark.parametrize("xs, ws, stride, padding, bias", CONV_CASES)
def test_batch_last_conv_equals_the_plain_im2col(switch, xs, ws, stride, padding, bias):
    rng = np.random.default_rng(0)
    x = minigan.tensor(rng.standard_normal(xs), dtype=np.float64, requires_grad=True)
    w = minigan.tensor(rng.standard_normal(ws), dtype=np.float64, requires_grad=True)
    b = minigan.tensor(rng.standard_normal(ws[0]), dtype=np.float64, requires_grad=True) if bias else None

    def run():
        for t in (x, w, b):
            if t is not None:
                t.grad = None
        y = F.conv2d(x, w, b, stride=stride, padding=padding)
        z = F.conv_transpose2d(y, w * 1.0, None, stride=stride, padding=padding)
        (z * z).sum().backward()
        return [y.data, z.data, x.grad.data, w.grad.data] + ([b.grad.data] if bias else [])
    fast, plain = both_ways(switch, "batch_last_conv", run)
    for a, b_ in zip(fast, plain):
        np.testing.assert_allclose(a, b_, rtol=1e-12, atol=1e-12)


def test_batch_last_conv_second_derivatives_equal_the_plain_ones(switch):
    rng = np.random.default_rng(1)
    x = minigan.tensor(rng.standard_normal((2, 2, 6, 6)), dtype=np.float64, requires_grad=True)
    w = minigan.tensor(rng.standard_normal((3, 2, 3, 3)), dtype=np.float64, requires_grad=True)

    def run():
        w.grad = None
        (gx,) = minigan.grad((F.conv2d(x, w, stride=2, padding=1) ** 2).sum(), x, create_graph=True)
        (gx * gx).sum().backward()
        return [gx.data, w.grad.data]
    fast, plain = both_ways(switch, "batch_last_conv", run)
    for a, b in zip(fast, plain):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("shape", [(6, 4), (4, 3, 5, 5)])
def test_fused_batchnorm_backward_equals_the_tensor_op_backward(switch, shape):
    rng = np.random.default_rng(2)
    c = shape[1]
    x = minigan.tensor(rng.standard_normal(shape) * 3 + 1, dtype=np.float64, requires_grad=True)
    w = minigan.tensor(rng.standard_normal(c), dtype=np.float64, requires_grad=True)
    b = minigan.tensor(rng.standard_normal(c), dtype=np.float64, requires_grad=True)
    gy = rng.standard_normal(shape)

    def run():
        for t in (x, w, b):
            t.grad = None
        rm, rv = minigan.zeros(c, dtype=np.float64), minigan.ones(c, dtype=np.float64)
        y = F.batch_norm(x, rm, rv, w, b, training=True)
        (y * minigan.tensor(gy, dtype=np.float64)).sum().backward()
        return [y.data, x.grad.data, w.grad.data, b.grad.data]
    fast, plain = both_ways(switch, "fused_batchnorm_backward", run)
    for a, b_ in zip(fast, plain):
        np.testing.assert_allclose(a, b_, rtol=1e-10, atol=1e-12)


def test_same_layout_gives_the_reshape_gradient_its_inputs_layout(switch):
    rng = np.random.default_rng(0)
    base = rng.standard_normal((3, 2, 2, 5))                              # physically (C, H, W, N)
    gy = rng.standard_normal((5, 12))

    def run():
        x = minigan.Tensor(base.transpose(3, 0, 1, 2), requires_grad=True)    # (N, C, H, W) view
        (x.reshape(5, 12) * minigan.Tensor(gy)).sum().backward()
        return [x.grad.data, np.array(x.grad.data.strides == x.data.strides)]
    (g_fast, same_fast), (g_plain, same_plain) = both_ways(switch, "same_layout", run)
    np.testing.assert_array_equal(g_fast, g_plain)
    np.testing.assert_array_equal(g_fast, gy.reshape(5, 3, 2, 2))
    assert same_fast and not same_plain


@pytest.mark.parametrize("slope", [0.0, 0.2, 1.5])
def test_leaky_relu_arithmetic_equals_the_plain_where(switch, slope):
    rng = np.random.default_rng(3)
    x = minigan.tensor(rng.standard_normal((4, 5)), dtype=np.float64, requires_grad=True)
    x.data[0, 0] = 0.0                                                    # the kink: gradient slope
    gy = rng.standard_normal((4, 5))

    def run():
        x.grad = None
        y = F.leaky_relu(x, slope)
        (y * minigan.tensor(gy, dtype=np.float64)).sum().backward()
        return [y.data, x.grad.data]
    fast, plain = both_ways(switch, "leaky_relu_arithmetic", run)
    for a, b in zip(fast, plain):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(plain[1], np.where(x.numpy() > 0, 1, slope) * gy)


def test_keep_conv_columns_gives_the_same_gradients_and_frees_them(switch):
    rng = np.random.default_rng(4)
    x = minigan.tensor(rng.standard_normal((2, 3, 6, 6)), dtype=np.float64, requires_grad=True)
    w = minigan.tensor(rng.standard_normal((4, 3, 3, 3)), dtype=np.float64, requires_grad=True)
    gy = rng.standard_normal((2, 4, 3, 3))

    def run():
        x.grad = w.grad = None
        y = F.conv2d(x, w, stride=2, padding=1)
        kept = y.creator in tricks.SAVED
        (y * minigan.tensor(gy, dtype=np.float64)).sum().backward()
        return [x.grad.data, w.grad.data, np.array([kept, y.creator not in tricks.SAVED])]
    fast, plain = both_ways(switch, "keep_conv_columns", run)
    np.testing.assert_allclose(fast[0], plain[0], rtol=1e-12)
    np.testing.assert_allclose(fast[1], plain[1], rtol=1e-12)
    assert list(fast[2]) == [True, True] and list(plain[2]) == [False, True]
    with minigan.no_grad():
        assert F.conv2d(x, w).creator is None                             # nothing recorded, nothing kept
    assert not tricks.SAVED
    frozen = minigan.tensor(w.numpy(), dtype=np.float64)                 # no weight gradient asked for: not kept
    y = F.conv2d(x, frozen)
    assert y.creator not in tricks.SAVED


def test_outer_product_matmul_equals_the_plain_product(switch):
    rng = np.random.default_rng(5)
    a = minigan.tensor(rng.standard_normal((7, 1)), dtype=np.float64, requires_grad=True)
    b = minigan.tensor(rng.standard_normal((1, 9)), dtype=np.float64, requires_grad=True)
    c = minigan.tensor(rng.standard_normal((2, 7, 1)), dtype=np.float64)
    gy = rng.standard_normal((7, 9))

    def run():
        a.grad = b.grad = None
        y = a @ b
        (y * minigan.tensor(gy, dtype=np.float64)).sum().backward()
        return [y.data, a.grad.data, b.grad.data, (c @ b).data]
    fast, plain = both_ways(switch, "outer_product_matmul", run)
    for f, p in zip(fast, plain):
        np.testing.assert_array_equal(f, p)


def test_every_trick_is_tested_here():
    import inspect
    import sys
    source = inspect.getsource(sys.modules[__name__])
    for name in tricks.ON:
        assert f'"{name}"' in source, f"no test for tricks.ON[{name!r}]"


def test_reuse_freed_memory_has_its_switch(switch):
    """It changes the whole process's allocator, so it has a switch, and the environment can turn it off."""
    import os
    import subprocess
    import sys
    switch("reuse_freed_memory", False)
    assert tricks.reuse_freed_memory() is False                          # the allocator left as it is
    code = "from minigan import tricks; print(tricks.ON['reuse_freed_memory'], tricks.reuse_freed_memory())"
    for env, want in (("0", ["False", "False"]), ("1", ["True", "True"])):
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                             env=dict(os.environ, MINIGAN_REUSE_FREED_MEMORY=env)).stdout
        assert out.split() == want


def test_every_trick_stands_in_for_a_function_and_the_ops_hold_no_switch():
    """A trick is found by its Function's module and name: a renamed Function would silently lose its trick."""
    import importlib

    from minigan import conv, functional, ops, shapes
    tables = list(tricks.FORWARD.items()) + list(tricks.BACKWARD.items())
    for (module, name), (switch_name, fn) in tables:
        cls = getattr(importlib.import_module(module), name)
        assert issubclass(cls, minigan.Function) and switch_name in tricks.ON, (module, name)
    for module in (ops, shapes, conv, functional):                       # the plain maths only
        assert not hasattr(module, "tricks"), module.__name__
