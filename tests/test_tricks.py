"""Every speed trick of minigan.tricks gives the numbers of the plain code it stands in for (float64)."""
import numpy as np
import pytest

import minigan
import minigan.functional as F
from minigan import nn, optim, tricks

from conftest import device


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
    bt = minigan.tensor(rng.standard_normal(ws[1]), dtype=np.float64, requires_grad=True) if bias else None

    def run():
        for t in (x, w, b, bt):
            if t is not None:
                t.grad = None
        y = F.conv2d(x, w, b, stride=stride, padding=padding)
        z = F.conv_transpose2d(y, w * 1.0, bt, stride=stride, padding=padding)
        (z * z).sum().backward()
        return [y.data, z.data, x.grad.data, w.grad.data] + ([b.grad.data, bt.grad.data] if bias else [])
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


# ------------------------------------------------------------------ the tricks of every core, the GPU's launches
@pytest.fixture
def two_threads():
    """Two threads and no minimum size: every split_over_cores split really runs on the pool."""
    saved = tricks.get_num_threads(), tricks.SPLIT_MIN
    tricks.set_num_threads(2)
    tricks.SPLIT_MIN = 1
    yield
    tricks.set_num_threads(saved[0])
    tricks.SPLIT_MIN = saved[1]


def a_dcgan_layer_stack(seed=6, dtype=np.float64):
    """conv -> batch norm -> leaky ReLU -> transposed conv -> batch norm (1-D view) -> ReLU -> linear, a backward
    through it all: every split and fused trick on the way. Returns the arrays to compare."""
    rng = np.random.default_rng(seed)

    def t(shape, scale=1.0):
        return minigan.tensor(rng.standard_normal(shape) * scale, dtype=dtype, requires_grad=True, device=device())
    x, w, b, bt = t((8, 6, 9, 9)), t((5, 6, 4, 4)), t(5), t(6)
    bn_w, bn_b, bn2_w, bn2_b, lin_w = t(5, 0.5), t(5), t(6 * 9 * 9), t(6 * 9 * 9), t((3, 6 * 9 * 9))
    y = F.conv2d(x, w, b, stride=2, padding=1)
    y = F.leaky_relu(F.batch_norm(y, None, None, bn_w, bn_b, training=True), 0.2)
    z = F.conv_transpose2d(y, w * 1.0, bt, stride=2, padding=1, output_padding=1)
    z = F.relu(F.batch_norm(z.reshape(8, -1), None, None, bn2_w, bn2_b, training=True))
    out = F.linear(z, lin_w)                                             # a matrix product (gemm)
    (out * out).sum().backward()
    return [a.numpy() for a in (y, z, out, x.grad, w.grad, b.grad, bt.grad, bn_w.grad, bn_b.grad, bn2_w.grad,
                                bn2_b.grad, lin_w.grad)]


def test_split_over_cores_gives_the_numbers_of_one_core(switch, two_threads):
    """im2col's copy, col2im's adds, batch norm (by channels), LeakyReLU and the conv bias (element-wise, by the
    outermost axis) and the matrix products (by rows or columns), split over two threads: bit for bit the
    numbers of one thread here (each element is computed by the same loop or the same OpenBLAS kernel)."""
    fast, plain = both_ways(switch, "split_over_cores", a_dcgan_layer_stack)
    for a, b in zip(fast, plain):
        np.testing.assert_array_equal(a, b)


def test_split_runs_every_chunk_and_raises_a_chunks_error(two_threads):
    seen = []
    assert tricks.split(10, lambda lo, hi: seen.append((lo, hi)) or hi - lo) == [5, 5]
    assert sorted(seen) == [(0, 5), (5, 10)]

    def fails(lo, hi):
        if lo:
            raise ValueError("chunk 2")
    with pytest.raises(ValueError, match="chunk 2"):
        tricks.split(10, fails)
    assert tricks.split(10, lambda lo, hi: tricks.split(4, lambda a, b: (a, b))) == [[(0, 4)], [(0, 4)]]  # inline


def test_set_num_threads_follows_the_environment_and_is_checked():
    import os
    import subprocess
    import sys
    code = "import minigan; print(minigan.get_num_threads())"
    for env, want in (({"OPENBLAS_NUM_THREADS": "3"}, "3"), ({"OMP_NUM_THREADS": "2"}, "2")):
        clean = {k: v for k, v in os.environ.items() if k not in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS")}
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                             env=dict(clean, **env)).stdout
        assert out.strip() == want
    with pytest.raises(ValueError, match="at least 1"):
        minigan.set_num_threads(0)


def test_fused_elementwise_gives_the_numbers_of_the_ops_one_by_one(switch):
    """On the GPU each element-wise formula (LeakyReLU, batch norm's normalisation and gradient, the optimizers'
    updates) is one fused kernel; switched off, the same formula runs op by op. (On the CPU the switch changes
    nothing; the stand-in pass of the suite runs the fused path.)"""
    fast, plain = both_ways(switch, "fused_elementwise", a_dcgan_layer_stack)
    for a, b in zip(fast, plain):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


def test_scatter_col2im_gives_the_numbers_of_the_tap_loop(switch):
    """On the GPU col2im is one scatter-add of every kernel tap; switched off, a strided add per tap."""
    fast, plain = both_ways(switch, "scatter_col2im", a_dcgan_layer_stack)
    for a, b in zip(fast, plain):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


OPTIMIZERS = [("Adam", dict(lr=0.01, betas=(0.5, 0.999))), ("Adam", dict(lr=0.01, weight_decay=0.1)),
              ("SGD", dict(lr=0.1)), ("SGD", dict(lr=0.1, momentum=0.5, dampening=0.1)),
              ("SGD", dict(lr=0.1, momentum=0.9, nesterov=True)), ("RMSprop", dict(lr=0.01, momentum=0.5)),
              ("RMSprop", dict(lr=0.01, centered=True))]


def train_a_few_steps(name, hyper, steps=4, dtype=np.float64):
    """A small model trained `steps` steps: its parameters and its optimizer's state, as NumPy arrays."""
    minigan.manual_seed(0)
    model = nn.Sequential(nn.Linear(5, 7), nn.BatchNorm1d(7), nn.LeakyReLU(0.2), nn.Linear(7, 1)).to(device())
    model.to(dtype=dtype)
    opt = getattr(optim, name)(model.named_parameters(), **hyper)
    x = minigan.tensor(np.random.default_rng(1).standard_normal((9, 5)), dtype=dtype, device=device())
    for _ in range(steps):
        opt.zero_grad()
        (model(x) ** 2).mean().backward()
        opt.step()
    state = [v for k in opt.keys for n, v in sorted(opt.state[k].items()) if hasattr(v, "shape")]
    return model, opt, [p.numpy() for p in model.parameters()] + [minigan.backend.as_numpy(v) for v in state]


@pytest.mark.parametrize("name, hyper", OPTIMIZERS)
def test_flat_optimizer_gives_the_numbers_of_the_update_per_parameter(switch, two_threads, name, hyper):
    """One update on the flat buffers (split over two threads on the CPU, one fused kernel on the GPU) gives bit
    for bit the parameters and states of the update parameter by parameter."""
    fast, plain = both_ways(switch, "flat_optimizer", lambda: train_a_few_steps(name, hyper)[2])
    assert len(fast) == len(plain)
    for a, b in zip(fast, plain):
        np.testing.assert_array_equal(a, b)


def test_flat_optimizer_parameters_and_states_are_views_into_one_buffer_each(switch):
    model, opt, _ = train_a_few_steps("Adam", {})
    flat = tricks.FLAT[opt]
    xp = minigan.backend.get_array_module(flat.params)
    for p, view in zip(model.parameters(), flat.param_views):
        assert p.data is view
    flat.params[...] = 0                                                 # one buffer: every parameter sees it
    assert all(not p.numpy().any() for p in model.parameters())
    for k in opt.keys:
        assert opt.state[k]["step"] == 4
    m = flat.state["exp_avg"]
    m[...] = 1
    assert all((minigan.backend.as_numpy(opt.state[k]["exp_avg"]) == 1).all() for k in opt.keys)
    assert xp is minigan.backend.get_array_module(m)


def test_flat_optimizer_follows_replaced_arrays_and_state_dicts(switch):
    """Module.to, load_state_dict and a parameter without a gradient: the flat buffers are made again from the
    arrays as they are (or the step runs the plain way); the numbers stay those of the plain optimizer."""
    def run():
        model, opt, _ = train_a_few_steps("Adam", {})
        saved = {k: {n: minigan.backend.as_numpy(v).copy() if hasattr(v, "shape") else v for n, v in st.items()}
                 for k, st in opt.state_dict()["state"].items()}
        model.to(dtype=np.float32).to(dtype=np.float64)                  # every parameter's array replaced
        opt.load_state_dict({"hyper": opt.state_dict()["hyper"], "state": saved})
        x = minigan.tensor(np.ones((3, 5)), dtype=np.float64, device=model[0].weight.device)
        for step in range(3):
            opt.zero_grad()
            (model(x) ** 2).mean().backward()
            if step == 1:
                model[0].bias.grad = None                                 # skipped: the plain step
            opt.step()
        return [p.numpy() for p in model.parameters()] + [np.array([opt.state[k]["step"] for k in opt.keys])]
    fast, plain = both_ways(switch, "flat_optimizer", run)
    for a, b in zip(fast, plain):
        np.testing.assert_array_equal(a, b)
    assert isinstance(optim.Adam(nn.Linear(2, 2).parameters()), optim.Adam)
