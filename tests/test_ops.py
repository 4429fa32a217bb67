"""Forward values against NumPy closed forms, and float64 gradchecks, for every non-conv op.

Shapes come from hypothesis, values from a NumPy generator seeded by hypothesis. The independent
references are NumPy closed forms (values and, where short, derivatives) and central differences.
"""
import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes, mutually_broadcastable_shapes

import minigan
import minigan.functional as F
from minigan import ops

from conftest import away_from_zero, close, distinct, examples, normal, positive, seeds, t64


def np_sigmoid(a):
    return 1.0 / (1.0 + np.exp(-a))


small_shapes = array_shapes(min_dims=0, max_dims=3, min_side=1, max_side=4)
nonscalar_shapes = array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=4)


# ------------------------------------------------------------------ unary element-wise ops
# name: (minigan op, NumPy forward, NumPy derivative, value maker)
UNARY = {
    "neg": (lambda x: -x, np.negative, lambda a: -np.ones_like(a), normal),
    "ops.neg": (ops.neg, np.negative, lambda a: -np.ones_like(a), normal),
    "exp": (F.exp, np.exp, np.exp, normal),
    "log": (F.log, np.log, lambda a: 1 / a, positive),
    "sqrt": (F.sqrt, np.sqrt, lambda a: 0.5 / np.sqrt(a), positive),
    "abs": (F.abs, np.abs, np.sign, away_from_zero),
    "tanh": (F.tanh, np.tanh, lambda a: 1 - np.tanh(a) ** 2, normal),
    "sigmoid": (F.sigmoid, np_sigmoid, lambda a: np_sigmoid(a) * (1 - np_sigmoid(a)), normal),
    "relu": (F.relu, lambda a: np.maximum(a, 0), lambda a: (a > 0).astype(float), away_from_zero),
    "softplus": (F.softplus, lambda a: np.log1p(np.exp(a)), np_sigmoid, normal),
    "log_sigmoid": (F.log_sigmoid, lambda a: -np.log1p(np.exp(-a)), lambda a: 1 - np_sigmoid(a), normal),
    "square": (lambda x: x ** 2, np.square, lambda a: 2 * a, normal),
    "method.exp": (lambda x: x.exp(), np.exp, np.exp, normal),
    "method.tanh": (lambda x: x.tanh(), np.tanh, lambda a: 1 - np.tanh(a) ** 2, normal),
    "method.sigmoid": (lambda x: x.sigmoid(), np_sigmoid, lambda a: np_sigmoid(a) * (1 - np_sigmoid(a)), normal),
    "method.relu": (lambda x: x.relu(), lambda a: np.maximum(a, 0), lambda a: (a > 0) * 1.0, away_from_zero),
    "method.log": (lambda x: x.log(), np.log, lambda a: 1 / a, positive),
    "method.sqrt": (lambda x: x.sqrt(), np.sqrt, lambda a: 0.5 / np.sqrt(a), positive),
    "builtin abs": (lambda x: abs(x), np.abs, np.sign, away_from_zero),
}


@pytest.mark.parametrize("name", sorted(UNARY))
@examples(10)
@given(shape=small_shapes, seed=seeds)
def test_unary(name, shape, seed):
    fn, np_fn, np_grad, make = UNARY[name]
    a = make(np.random.default_rng(seed), shape)
    x = t64(a)
    y = fn(x)
    close(y, np_fn(a))
    g = normal(np.random.default_rng(seed + 1), shape)
    y.backward(t64(g, False))
    close(x.grad, g * np_grad(a))                      # closed-form derivative
    assert minigan.gradcheck(fn, [t64(a)])             # central differences


@given(shape=small_shapes, seed=seeds, slope=st.sampled_from([0.0, 0.01, 0.2, 1.5]))
def test_leaky_relu(shape, seed, slope):
    a = away_from_zero(np.random.default_rng(seed), shape)
    x = t64(a)
    y = F.leaky_relu(x, negative_slope=slope)
    close(y, np.where(a > 0, a, slope * a))
    y.sum().backward()
    close(x.grad, np.where(a > 0, 1.0, slope))
    assert minigan.gradcheck(lambda t: F.leaky_relu(t, slope), [t64(a)])


def test_leaky_relu_default_slope_is_pytorchs():
    a = np.array([-2.0, 3.0])
    close(F.leaky_relu(t64(a)), np.array([-0.02, 3.0]))


@given(shape=small_shapes, seed=seeds, c=st.sampled_from([-2.0, -1.5, -1.0, 0.5, 1.0, 2.0, 3.0, 2.5]))
def test_pow_constant_exponent(shape, seed, c):
    a = positive(np.random.default_rng(seed), shape)
    x = t64(a)
    y = x ** c
    close(y, a ** c)
    y.sum().backward()
    close(x.grad, c * a ** (c - 1))
    assert minigan.gradcheck(lambda t: t ** c, [t64(a)])
    assert minigan.gradcheck(lambda t: ops.pow(t, c), [t64(a)])


def test_pow_integer_exponent_of_negative_base():
    a = np.array([-1.5, -0.5, 0.7, 2.0])
    x = t64(a)
    (x ** 3).sum().backward()
    close(x.grad, 3 * a ** 2)
    assert minigan.gradcheck(lambda t: t ** 3, [t64(a)])


@given(shape=small_shapes, seed=seeds,
       bounds=st.sampled_from([(-0.5, 0.5), (None, 0.3), (-0.3, None), (0.0, 1.0)]))
def test_clamp(shape, seed, bounds):
    lo, hi = bounds
    rng = np.random.default_rng(seed)
    a = normal(rng, shape)
    for b in (lo, hi):                         # keep values off the kinks
        if b is not None:
            a = np.where(np.abs(a - b) < 0.05, a + 0.1, a)
    x = t64(a)
    y = F.clamp(x, lo, hi)
    close(y, np.clip(a, lo, hi))
    y.sum().backward()
    inside = np.ones(shape, bool)
    if lo is not None:
        inside &= a >= lo
    if hi is not None:
        inside &= a <= hi
    close(x.grad, inside * 1.0)
    assert minigan.gradcheck(lambda t: F.clamp(t, lo, hi), [t64(a)])
    assert minigan.gradcheck(lambda t: t.clamp(min=lo, max=hi), [t64(a)])


def test_softplus_and_log_sigmoid_are_stable_for_large_inputs():
    a = np.array([-800.0, -40.0, 0.0, 40.0, 800.0])
    sp = F.softplus(t64(a)).numpy()
    ls = F.log_sigmoid(t64(a)).numpy()
    assert np.all(np.isfinite(sp)) and np.all(np.isfinite(ls))
    close(sp, np.logaddexp(0, a), rtol=1e-12)
    close(ls, -np.logaddexp(0, -a), rtol=1e-12)
    close(F.sigmoid(t64(a)), np.array([0.0, np_sigmoid(-40.0), 0.5, np_sigmoid(40.0), 1.0]), atol=1e-300)


# ------------------------------------------------------------------ binary ops with broadcasting
def _signed(rng, shape):
    return away_from_zero(rng, shape, 0.5, 2.0)


# name: (minigan op, NumPy op, maker for a, maker for b)
BINARY = {
    "add": (lambda a, b: a + b, np.add, normal, normal),
    "sub": (lambda a, b: a - b, np.subtract, normal, normal),
    "mul": (lambda a, b: a * b, np.multiply, normal, normal),
    "div": (lambda a, b: a / b, np.divide, normal, _signed),
    "ops.add": (ops.add, np.add, normal, normal),
    "ops.sub": (ops.sub, np.subtract, normal, normal),
    "ops.mul": (ops.mul, np.multiply, normal, normal),
    "ops.div": (ops.div, np.divide, normal, _signed),
    "maximum": (F.maximum, np.maximum, normal, normal),
    "minimum": (F.minimum, np.minimum, normal, normal),
}


@pytest.mark.parametrize("name", sorted(BINARY))
@examples(12)
@given(shapes=mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3, max_side=3), seed=seeds)
def test_binary_broadcasting(name, shapes, seed):
    fn, np_fn, make_a, make_b = BINARY[name]
    sa, sb = shapes.input_shapes
    rng = np.random.default_rng(seed)
    a, b = make_a(rng, sa), make_b(rng, sb)
    if name in ("maximum", "minimum"):
        assume(np.abs(np.subtract(a, b)).min() > 1e-3)       # away from ties
    y = fn(t64(a), t64(b))
    assert y.shape == shapes.result_shape
    close(y, np_fn(a, b))
    assert minigan.gradcheck(fn, [t64(a), t64(b)])


@pytest.mark.parametrize("fn, np_fn", [
    (lambda x: 2.5 + x, lambda a: 2.5 + a), (lambda x: x - 1.5, lambda a: a - 1.5),
    (lambda x: 1.5 - x, lambda a: 1.5 - a), (lambda x: 3.0 * x, lambda a: 3.0 * a),
    (lambda x: 3.0 / x, lambda a: 3.0 / a), (lambda x: x / 4.0, lambda a: a / 4.0),
    (lambda x: np.float64(2.0) * x, lambda a: 2.0 * a),
])
def test_python_constants_on_either_side(fn, np_fn, rng):
    a = _signed(rng, (2, 3))
    close(fn(t64(a)), np_fn(a))
    assert minigan.gradcheck(fn, [t64(a)])


def test_pow_takes_a_number_exponent_only():
    a = t64([1.0, 2.0])
    with pytest.raises(TypeError, match="pow: the base must be a Tensor and the exponent a number"):
        a ** a
    with pytest.raises(TypeError):
        2.0 ** a


def test_maximum_ties_split_the_gradient():
    a, b = t64([1.0, 2.0, 3.0]), t64([1.0, 0.0, 5.0])
    F.maximum(a, b).sum().backward()
    close(a.grad, [0.5, 1.0, 0.0])
    close(b.grad, [0.5, 0.0, 1.0])


@given(shapes=mutually_broadcastable_shapes(num_shapes=3, min_dims=0, max_dims=3, max_side=3), seed=seeds)
def test_where(shapes, seed):
    sc, sa, sb = shapes.input_shapes
    rng = np.random.default_rng(seed)
    cond, a, b = rng.random(sc) < 0.5, normal(rng, sa), normal(rng, sb)
    y = F.where(minigan.tensor(cond, device=minigan.backend.default_device()), t64(a), t64(b))
    close(y, np.where(cond, a, b))
    c = minigan.tensor(cond, device=minigan.backend.default_device())    # a host cond with device tensors is refused
    assert minigan.gradcheck(lambda p, q: F.where(c, p, q), [t64(a), t64(b)])


# ------------------------------------------------------------------ matmul
@st.composite
def matmul_shapes(draw):
    """(a, b) shapes: 1-D operands, plain matrices, batched with broadcast batch dims."""
    m, k, n = (draw(st.integers(1, 3)) for _ in range(3))
    ba, bb = draw(mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=2, max_side=3)).input_shapes
    a = (k,) if draw(st.integers(0, 3)) == 0 else ba + (m, k)
    b = (k,) if draw(st.integers(0, 3)) == 0 else bb + (k, n)
    return a, b


@examples(40)
@given(shapes=matmul_shapes(), seed=seeds)
def test_matmul(shapes, seed):
    sa, sb = shapes
    rng = np.random.default_rng(seed)
    a, b = normal(rng, sa), normal(rng, sb)
    ref = np.matmul(a, b)
    y = t64(a) @ t64(b)
    assert y.shape == ref.shape
    close(y, ref)
    close(F.matmul(t64(a), t64(b)), ref)
    assert minigan.gradcheck(lambda p, q: p @ q, [t64(a), t64(b)])


@pytest.mark.parametrize("sa, sb", [((4, 1), (1, 6)), ((2, 5, 1), (1, 3)), ((4, 1), (3, 1, 6))])
def test_matmul_inner_size_one_is_an_outer_product(sa, sb, rng):
    """K = 1 takes the broadcast-multiply path (ops.MatMul.forward); it must equal np.matmul exactly."""
    a, b = normal(rng, sa), normal(rng, sb)
    y = t64(a) @ t64(b)
    assert y.shape == np.matmul(a, b).shape
    assert np.array_equal(y.numpy(), np.matmul(a, b))
    assert minigan.gradcheck(lambda p, q: p @ q, [t64(a), t64(b)])


def test_matmul_inner_size_one_still_checks_shapes():
    with pytest.raises(ValueError, match="matmul"):
        t64(np.ones((3, 1))) @ t64(np.ones((2, 3)))


def test_matmul_closed_form_gradients(rng):
    a, b, g = normal(rng, (3, 4)), normal(rng, (4, 2)), normal(rng, (3, 2))
    x, w = t64(a), t64(b)
    (x @ w).backward(t64(g, False))
    close(x.grad, g @ b.T)
    close(w.grad, a.T @ g)


# ------------------------------------------------------------------ reductions
@st.composite
def shape_and_axis(draw, min_dims=1):
    shape = draw(array_shapes(min_dims=min_dims, max_dims=3, min_side=1, max_side=4))
    nd = len(shape)
    kind = draw(st.sampled_from(["none", "int", "tuple"])) if nd else "none"
    if kind == "none":
        axis = None
    elif kind == "int":
        axis = draw(st.integers(-nd, nd - 1))
    else:
        axes = draw(st.lists(st.integers(0, nd - 1), min_size=1, max_size=nd, unique=True))
        axis = tuple(a - nd if draw(st.booleans()) else a for a in axes)     # some negative
    return shape, axis, draw(st.booleans())


REDUCTIONS = {
    "sum": (lambda x, ax, kd: x.sum(axis=ax, keepdims=kd), np.sum),
    "mean": (lambda x, ax, kd: x.mean(axis=ax, keepdims=kd), np.mean),
    "max": (lambda x, ax, kd: x.max(axis=ax, keepdims=kd), np.max),
    "min": (lambda x, ax, kd: x.min(axis=ax, keepdims=kd), np.min),
    "ops.sum": (lambda x, ax, kd: ops.sum(x, ax, kd), np.sum),
    "ops.mean": (lambda x, ax, kd: ops.mean(x, ax, kd), np.mean),
}


@pytest.mark.parametrize("name", sorted(REDUCTIONS))
@examples(15)
@given(case=shape_and_axis(min_dims=0), seed=seeds)
def test_reduction(name, case, seed):
    shape, axis, keepdims = case
    fn, np_fn = REDUCTIONS[name]
    rng = np.random.default_rng(seed)
    a = distinct(rng, shape) if name in ("max", "min") else normal(rng, shape)
    y = fn(t64(a), axis, keepdims)
    ref = np_fn(a, axis=axis, keepdims=keepdims)
    assert y.shape == np.shape(ref)
    close(y, ref)
    assert minigan.gradcheck(lambda t: fn(t, axis, keepdims), [t64(a)])


def test_reduction_closed_form_gradients(rng):
    a = distinct(rng, (3, 4))
    for fn, expect in [
        (lambda x: x.sum(axis=1), np.ones((3, 4))),
        (lambda x: x.mean(axis=0), np.full((3, 4), 1 / 3)),
        (lambda x: x.max(axis=1), (a == a.max(axis=1, keepdims=True)) * 1.0),
        (lambda x: x.min(), (a == a.min()) * 1.0),
    ]:
        x = t64(a)
        fn(x).sum().backward()
        close(x.grad, expect)


def test_max_ties_share_the_gradient():
    x = t64([[1.0, 3.0, 3.0, 2.0], [5.0, 5.0, 5.0, 5.0]])
    x.max(axis=1).sum().backward()
    close(x.grad, [[0, 0.5, 0.5, 0], [0.25, 0.25, 0.25, 0.25]])


# ------------------------------------------------------------------ shape ops
@given(shape=small_shapes, seed=seeds, which=st.integers(0, 3))
def test_reshape(shape, seed, which):
    a = normal(np.random.default_rng(seed), shape)
    target = [(-1,), tuple(reversed(shape)), (1,) + tuple(shape), (a.size, 1)][which]
    y = t64(a).reshape(target)
    close(y, a.reshape(target))
    assert minigan.gradcheck(lambda t: t.reshape(target), [t64(a)])
    assert minigan.gradcheck(lambda t: t.view(*target), [t64(a)])


@st.composite
def shape_and_perm(draw):
    shape = draw(nonscalar_shapes)
    return shape, tuple(draw(st.permutations(range(len(shape)))))


@given(case=shape_and_perm(), seed=seeds, d=st.data())
def test_transpose_and_permute(case, seed, d):
    shape, perm = case
    nd = len(shape)
    a = normal(np.random.default_rng(seed), shape)
    d0, d1 = d.draw(st.integers(-nd, nd - 1)), d.draw(st.integers(-nd, nd - 1))
    close(t64(a).permute(perm), a.transpose(perm))
    close(t64(a).permute(*perm), a.transpose(perm))
    close(t64(a).T, a.T)
    close(t64(a).transpose(), a.T)
    close(t64(a).transpose(d0, d1), np.swapaxes(a, d0, d1))
    assert minigan.gradcheck(lambda t: t.permute(perm), [t64(a)])
    assert minigan.gradcheck(lambda t: t.T, [t64(a)])
    assert minigan.gradcheck(lambda t: t.transpose(d0, d1), [t64(a)])


@given(shape=array_shapes(min_dims=1, max_dims=4, max_side=3), seed=seeds, d=st.data())
def test_flatten(shape, seed, d):
    nd = len(shape)
    s = d.draw(st.integers(0, nd - 1))
    e = d.draw(st.integers(s, nd - 1))
    a = normal(np.random.default_rng(seed), shape)
    ref = a.reshape(shape[:s] + (-1,) + shape[e + 1:])
    close(t64(a).flatten(s, e), ref)
    close(t64(a).flatten(s - nd, e - nd), ref)
    close(t64(a).flatten(), a.reshape(-1))
    assert minigan.gradcheck(lambda t: t.flatten(s, e), [t64(a)])


@st.composite
def expand_case(draw):
    target = draw(array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=3))
    lead = draw(st.integers(0, len(target)))
    src = tuple(1 if draw(st.booleans()) else s for s in target[lead:])
    return src, target


@given(case=expand_case(), seed=seeds)
def test_expand_and_broadcast_to(case, seed):
    src, target = case
    a = normal(np.random.default_rng(seed), src)
    ref = np.broadcast_to(a, target)
    close(t64(a).expand(*target), ref)
    close(t64(a).broadcast_to(target), ref)
    close(ops.broadcast_to(t64(a), target), ref)
    keep = tuple(target[:len(target) - len(src)]) + tuple(-1 if s == t else t for s, t in
                                                          zip(src, target[len(target) - len(src):]))
    close(t64(a).expand(keep), ref)
    x = t64(a)
    x.expand(target).sum().backward()
    # closed form: each source element is repeated prod(target) / prod(src) times
    close(x.grad, np.full(src, np.prod(target) / max(np.prod(src), 1)))
    assert minigan.gradcheck(lambda t: t.expand(target), [t64(a)])
    assert minigan.gradcheck(lambda t: t.broadcast_to(target), [t64(a)])


# ------------------------------------------------------------------ getitem
@st.composite
def basic_index(draw):
    shape = draw(array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=5))
    index = []
    for s in shape[:draw(st.integers(1, len(shape)))]:
        if draw(st.integers(0, 4)) == 0:
            index.append(draw(st.integers(-s, s - 1)))
        else:
            bound = st.none() | st.integers(-s - 1, s + 1)
            index.append(slice(draw(bound), draw(bound), draw(st.sampled_from([None, 1, 2, 3, -1, -2]))))
    return shape, tuple(index)


@examples(40)
@given(case=basic_index(), seed=seeds)
def test_getitem_basic(case, seed):
    shape, index = case
    rng = np.random.default_rng(seed)
    a = normal(rng, shape)
    ref = a[index]
    assume(ref.size > 0)
    x = t64(a)
    y = x[index]
    close(y, ref)
    g = normal(rng, ref.shape)
    y.backward(t64(g, False))
    expect = np.zeros(shape)
    expect[index] += g                                 # basic indices never repeat
    close(x.grad, expect)
    assert minigan.gradcheck(lambda t: t[index], [t64(a)])


@examples(25)
@given(shape=array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=4), seed=seeds,
       kind=st.sampled_from(["array", "list", "tensor", "negative", "2d-array", "pair", "with-slice"]))
def test_getitem_integer_arrays_accumulate_like_add_at(shape, seed, kind):
    rng = np.random.default_rng(seed)
    a = normal(rng, shape)
    n = shape[0]
    idx = rng.integers(0, n, size=n + 3)
    idx[-1] = idx[0]                                   # at least one repeat
    if kind == "array":
        index = idx
    elif kind == "list":
        index = idx.tolist()
    elif kind == "tensor":
        index = minigan.tensor(idx)
    elif kind == "negative":
        index = idx - n
    elif kind == "2d-array":
        index = idx[:4].reshape(2, 2)
    elif kind == "pair":
        assume(len(shape) >= 2)
        index = (idx, rng.integers(0, shape[1], size=idx.size))
    else:
        assume(len(shape) >= 2)
        index = (idx, slice(None, None, -1))
    np_index = idx if kind == "tensor" else index
    ref = a[np_index]
    x = t64(a)
    y = x[index]
    close(y, ref)
    g = normal(rng, ref.shape)
    y.backward(t64(g, False))
    expect = np.zeros(shape)
    np.add.at(expect, np_index, g)
    close(x.grad, expect)
    assert minigan.gradcheck(lambda t: t[index], [t64(a)])


def test_getitem_repeated_index_counts_every_use():
    x = t64([10.0, 20.0, 30.0])
    x[np.array([0, 0, 0, 2])].sum().backward()
    close(x.grad, [3.0, 0.0, 1.0])


# ------------------------------------------------------------------ cat and stack
@st.composite
def cat_case(draw):
    shape = list(draw(array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=3)))
    nd = len(shape)
    dim = draw(st.integers(-nd, nd - 1))
    shapes = []
    for _ in range(draw(st.integers(1, 3))):
        s = list(shape)
        s[dim] = draw(st.integers(1, 3))
        shapes.append(tuple(s))
    return shapes, dim


@given(case=cat_case(), seed=seeds)
def test_cat(case, seed):
    shapes, dim = case
    rng = np.random.default_rng(seed)
    arrays = [normal(rng, s) for s in shapes]
    close(F.cat([t64(a) for a in arrays], dim), np.concatenate(arrays, dim))
    close(F.cat(tuple(t64(a) for a in arrays), dim=dim), np.concatenate(arrays, dim))
    assert minigan.gradcheck(lambda *ts: F.cat(ts, dim), [t64(a) for a in arrays])


@given(shape=small_shapes, seed=seeds, k=st.integers(1, 3), d=st.data())
def test_stack(shape, seed, k, d):
    nd = len(shape)
    dim = d.draw(st.integers(-nd - 1, nd))
    rng = np.random.default_rng(seed)
    arrays = [normal(rng, shape) for _ in range(k)]
    close(F.stack([t64(a) for a in arrays], dim), np.stack(arrays, dim))
    assert minigan.gradcheck(lambda *ts: F.stack(ts, dim), [t64(a) for a in arrays])


# ------------------------------------------------------------------ linear
@given(batch=array_shapes(min_dims=0, max_dims=2, min_side=1, max_side=3), fin=st.integers(1, 4),
       fout=st.integers(1, 4), bias=st.booleans(), seed=seeds)
def test_linear(batch, fin, fout, bias, seed):
    rng = np.random.default_rng(seed)
    a, w, b = normal(rng, batch + (fin,)), normal(rng, (fout, fin)), normal(rng, (fout,))
    ref = a @ w.T + (b if bias else 0)
    args = [t64(a), t64(w)] + ([t64(b)] if bias else [])
    close(F.linear(*args), ref)
    assert minigan.gradcheck(F.linear, args)


# ------------------------------------------------------------------ batch norm
def np_batch_norm(a, w, b, eps):
    axes = (0,) + tuple(range(2, a.ndim))
    shape = (1, -1) + (1,) * (a.ndim - 2)
    mu = a.mean(axis=axes, keepdims=True)
    var = a.var(axis=axes, keepdims=True)
    return (a - mu) / np.sqrt(var + eps) * w.reshape(shape) + b.reshape(shape), mu.ravel(), var.ravel()


bn_shapes = st.tuples(st.integers(1, 4), st.integers(1, 3), st.sampled_from([(), (3,), (2, 3), (3, 2)])).map(
    lambda t: (t[0], t[1]) + t[2])


@given(shape=bn_shapes, seed=seeds, momentum=st.sampled_from([0.1, 0.5]), eps=st.sampled_from([1e-5, 1e-2]))
def test_batch_norm_training(shape, seed, momentum, eps):
    n = int(np.prod(shape)) // shape[1]
    assume(n >= 2)
    rng = np.random.default_rng(seed)
    c = shape[1]
    a, w, b = normal(rng, shape, 2.0) + 1.0, normal(rng, (c,)), normal(rng, (c,))
    rm0, rv0 = normal(rng, (c,)), positive(rng, (c,))
    rm, rv = t64(rm0, False), t64(rv0, False)
    y = F.batch_norm(t64(a), rm, rv, t64(w), t64(b), training=True, momentum=momentum, eps=eps)
    ref, mu, var = np_batch_norm(a, w, b, eps)
    close(y, ref, rtol=1e-9, atol=1e-10)
    close(rm, (1 - momentum) * rm0 + momentum * mu)
    close(rv, (1 - momentum) * rv0 + momentum * var * n / (n - 1))       # unbiased, as PyTorch
    assume(n >= 3)                     # with n == 2 the normalised values are +-1: a flat function of x
    assert minigan.gradcheck(lambda x, g, h: F.batch_norm(x, None, None, g, h, training=True, eps=eps),
                             [t64(a), t64(w), t64(b)], atol=1e-5, rtol=1e-4)


def test_batch_norm_training_without_affine(rng):
    a = normal(rng, (5, 3))
    ref, _, _ = np_batch_norm(a, np.ones(3), np.zeros(3), 1e-5)
    close(F.batch_norm(t64(a), None, None, training=True), ref, rtol=1e-9)


@given(shape=bn_shapes, seed=seeds, eps=st.sampled_from([1e-5, 1e-2]))
def test_batch_norm_eval(shape, seed, eps):
    rng = np.random.default_rng(seed)
    c = shape[1]
    a, w, b = normal(rng, shape), normal(rng, (c,)), normal(rng, (c,))
    rm, rv = normal(rng, (c,)), positive(rng, (c,))
    bshape = (1, c) + (1,) * (len(shape) - 2)
    ref = (a - rm.reshape(bshape)) / np.sqrt(rv.reshape(bshape) + eps) * w.reshape(bshape) + b.reshape(bshape)
    rm_t, rv_t = t64(rm, False), t64(rv, False)
    y = F.batch_norm(t64(a), rm_t, rv_t, t64(w), t64(b), training=False, eps=eps)
    close(y, ref, rtol=1e-9, atol=1e-12)
    close(rm_t, rm)                                                      # eval leaves the stats alone
    close(rv_t, rv)
    assert minigan.gradcheck(lambda x, g, h: F.batch_norm(x, rm_t, rv_t, g, h, training=False, eps=eps),
                             [t64(a), t64(w), t64(b)])


# ------------------------------------------------------------------ dropout
@pytest.mark.parametrize("p", [0.1, 0.5, 0.8])
def test_dropout_scales_kept_values_and_drops_about_p(p):
    rng = np.random.default_rng(0)
    a = positive(rng, (100, 200))                                        # no zeros in the input
    minigan.manual_seed(7)
    y = F.dropout(t64(a), p=p).numpy()
    kept = y != 0
    close(y[kept], a[kept] / (1 - p), rtol=1e-12)
    assert abs(kept.mean() - (1 - p)) < 0.02                             # 20000 draws: > 5 sigma margin
    minigan.manual_seed(7)
    again = F.dropout(t64(a), p=p).numpy()
    np.testing.assert_array_equal(again, y)                              # fixed mask for a fixed seed


def test_dropout_gradient_is_the_scaled_mask(rng):
    p = 0.4
    a = positive(rng, (6, 5))

    def fn(t):
        minigan.manual_seed(11)                                          # the same mask at every call
        return F.dropout(t, p)
    x = t64(a)
    y = fn(x)
    y.sum().backward()
    mask = y.numpy() != 0
    assert 0 < mask.sum() < mask.size
    close(x.grad, mask / (1 - p))
    assert minigan.gradcheck(fn, [t64(a)])


def test_dropout_eval_and_edge_probabilities(rng):
    a = normal(rng, (4, 5))
    x = t64(a)
    close(F.dropout(x, p=0.5, training=False), a, rtol=0, atol=0)
    close(F.dropout(x, p=0.0), a, rtol=0, atol=0)
    close(F.dropout(x, p=1.0), np.zeros_like(a), rtol=0, atol=0)
    F.dropout(x, p=0.5, training=False).sum().backward()
    close(x.grad, np.ones_like(a))


# ------------------------------------------------------------------ losses
@given(shape=nonscalar_shapes, seed=seeds, reduction=st.sampled_from(["mean", "sum", "none"]))
def test_binary_cross_entropy_with_logits(shape, seed, reduction):
    rng = np.random.default_rng(seed)
    a, t = normal(rng, shape, 2.0), rng.random(shape)
    s = np_sigmoid(a)
    per = -(t * np.log(s) + (1 - t) * np.log(1 - s))
    ref = {"mean": per.mean(), "sum": per.sum(), "none": per}[reduction]
    x = t64(a)
    loss = F.binary_cross_entropy_with_logits(x, t64(t, False), reduction=reduction)
    close(loss, ref, rtol=1e-9)
    if reduction != "none":
        loss.backward()
        close(x.grad, (s - t) / (per.size if reduction == "mean" else 1))
    assert minigan.gradcheck(lambda p, q: F.binary_cross_entropy_with_logits(p, q, reduction=reduction),
                             [t64(a), t64(t)])


def test_binary_cross_entropy_with_logits_saturated_logits_stay_finite():
    x = t64([200.0, -200.0, 200.0, -200.0])
    t = t64([1.0, 0.0, 0.0, 1.0], False)
    loss = F.binary_cross_entropy_with_logits(x, t, reduction="none")
    close(loss, [0.0, 0.0, 200.0, 200.0], atol=1e-60)
    loss.sum().backward()
    close(x.grad, [0.0, 0.0, 1.0, -1.0], atol=1e-60)
    # a Python list target is accepted too
    close(F.binary_cross_entropy_with_logits(t64([0.0]), [1.0]), np.log(2.0))


@given(shape=nonscalar_shapes, seed=seeds, reduction=st.sampled_from(["mean", "sum", "none"]))
def test_mse_loss(shape, seed, reduction):
    rng = np.random.default_rng(seed)
    t = normal(rng, shape)
    a = normal(rng, shape)
    red = {"mean": np.mean, "sum": np.sum, "none": lambda v: v}[reduction]
    close(F.mse_loss(t64(a), t64(t), reduction=reduction), red((a - t) ** 2))
    x = t64(a)
    F.mse_loss(x, t64(t, False), reduction="sum").backward()
    close(x.grad, 2 * (a - t))
    assert minigan.gradcheck(lambda p, q: F.mse_loss(p, q, reduction=reduction), [t64(a), t64(t)])
