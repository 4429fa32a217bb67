"""minigan against PyTorch (an independent implementation) in float64: forward values and the gradients
of every input. Skipped where torch is not installed; minigan itself never imports torch.
"""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minigan
import minigan.functional as F

from conftest import (
    close,
    conv_arrays,
    conv_case,
    conv_transpose_arrays,
    conv_transpose_case,
    examples,
    normal,
    positive,
    seeds,
    t64,
)

torch = pytest.importorskip("torch")
TF = torch.nn.functional


def tt(a, requires_grad=True):
    """A float64 torch leaf tensor."""
    return torch.tensor(np.asarray(a, dtype=np.float64), requires_grad=requires_grad)


def compare(mg_fn, torch_fn, arrays, seed, rtol=1e-9, atol=1e-10):
    """Run both on the same float64 arrays (None entries are passed as None), backpropagate the same random
    upstream gradient, compare the outputs and the gradients of all inputs."""
    mg = [None if a is None else t64(a) for a in arrays]
    th = [None if a is None else tt(a) for a in arrays]
    y, ty = mg_fn(*mg), torch_fn(*th)
    ref = ty.detach().numpy()
    assert y.shape == ref.shape
    close(y, ref, rtol=rtol, atol=atol)
    g = normal(np.random.default_rng(seed), ref.shape)
    y.backward(t64(g, False))
    ty.backward(torch.tensor(g))
    for i, (a, b) in enumerate(zip(mg, th)):
        if a is not None:
            assert a.grad is not None, f"input {i} got no gradient"
            close(a.grad, b.grad.numpy(), rtol=rtol, atol=atol)


@examples(20)
@given(case=conv_case(), seed=seeds)
def test_conv2d(case, seed):
    s, p = case["stride"], case["padding"]
    compare(lambda x, w, b: F.conv2d(x, w, b, stride=s, padding=p),
            lambda x, w, b: TF.conv2d(x, w, b, stride=s, padding=p),
            conv_arrays(case, seed), seed)


@examples(20)
@given(case=conv_transpose_case(), seed=seeds)
def test_conv_transpose2d(case, seed):
    s, p, op = case["stride"], case["padding"], case["out_pad"]
    compare(lambda x, w, b: F.conv_transpose2d(x, w, b, stride=s, padding=p, output_padding=op),
            lambda x, w, b: TF.conv_transpose2d(x, w, b, stride=s, padding=p, output_padding=op),
            conv_transpose_arrays(case, seed), seed)


@given(batch=st.sampled_from([(), (1,), (3,), (2, 3)]), fin=st.integers(1, 5), fout=st.integers(1, 5),
       bias=st.booleans(), seed=seeds)
def test_linear(batch, fin, fout, bias, seed):
    rng = np.random.default_rng(seed)
    arrays = [normal(rng, batch + (fin,)), normal(rng, (fout, fin)), normal(rng, (fout,)) if bias else None]
    compare(F.linear, TF.linear, arrays, seed)


bn_shapes = st.sampled_from([(4, 3), (2, 3, 5), (3, 2, 4, 3), (2, 1, 3, 4), (5, 4, 1, 1)])


@given(shape=bn_shapes, seed=seeds, momentum=st.sampled_from([0.1, 0.3]), eps=st.sampled_from([1e-5, 1e-3]))
def test_batch_norm_training_and_running_stats(shape, seed, momentum, eps):
    rng = np.random.default_rng(seed)
    c = shape[1]
    x, w, b = normal(rng, shape, 2.0) + 0.5, normal(rng, (c,)), normal(rng, (c,))
    rm, rv = normal(rng, (c,)), positive(rng, (c,))
    mg_rm, mg_rv, th_rm, th_rv = t64(rm, False), t64(rv, False), tt(rm, False), tt(rv, False)
    compare(lambda a, g, h: F.batch_norm(a, mg_rm, mg_rv, g, h, training=True, momentum=momentum, eps=eps),
            lambda a, g, h: TF.batch_norm(a, th_rm, th_rv, g, h, training=True, momentum=momentum, eps=eps),
            [x, w, b], seed, rtol=1e-8, atol=1e-9)
    close(mg_rm, th_rm.numpy())
    close(mg_rv, th_rv.numpy())
    # a second step from the updated statistics
    x2 = normal(rng, shape)
    with minigan.no_grad():
        F.batch_norm(t64(x2, False), mg_rm, mg_rv, training=True, momentum=momentum, eps=eps)
    TF.batch_norm(tt(x2, False), th_rm, th_rv, training=True, momentum=momentum, eps=eps)
    close(mg_rm, th_rm.numpy())
    close(mg_rv, th_rv.numpy())


@given(shape=bn_shapes, seed=seeds, eps=st.sampled_from([1e-5, 1e-3]))
def test_batch_norm_eval(shape, seed, eps):
    rng = np.random.default_rng(seed)
    c = shape[1]
    x, w, b = normal(rng, shape), normal(rng, (c,)), normal(rng, (c,))
    rm, rv = normal(rng, (c,)), positive(rng, (c,))
    mg_rm, mg_rv, th_rm, th_rv = t64(rm, False), t64(rv, False), tt(rm, False), tt(rv, False)
    compare(lambda a, g, h: F.batch_norm(a, mg_rm, mg_rv, g, h, training=False, eps=eps),
            lambda a, g, h: TF.batch_norm(a, th_rm, th_rv, g, h, training=False, eps=eps),
            [x, w, b], seed)
    close(mg_rm, rm)
    close(mg_rv, rv)


@given(shape=st.sampled_from([(1,), (5,), (3, 2), (2, 1, 3)]), seed=seeds,
       reduction=st.sampled_from(["mean", "sum", "none"]), scale=st.sampled_from([1.0, 10.0, 60.0]))
def test_binary_cross_entropy_with_logits(shape, seed, reduction, scale):
    rng = np.random.default_rng(seed)
    arrays = [normal(rng, shape, scale), rng.random(shape)]           # large logits included
    compare(lambda x, t: F.binary_cross_entropy_with_logits(x, t, reduction=reduction),
            lambda x, t: TF.binary_cross_entropy_with_logits(x, t, reduction=reduction),
            arrays, seed)


def test_mse_loss(rng):
    x, t = normal(rng, (4, 3)), normal(rng, (4, 3))
    for reduction in ("mean", "sum", "none"):
        compare(lambda a, b: F.mse_loss(a, b, reduction=reduction),
                lambda a, b: TF.mse_loss(a, b, reduction=reduction), [x, t], 0)


@pytest.mark.parametrize("name", ["tanh", "sigmoid", "softplus", "relu", "leaky_relu", "log_sigmoid"])
def test_activations(name, rng):
    x = normal(rng, (5, 4), 4.0)
    tfn = {"tanh": torch.tanh, "sigmoid": torch.sigmoid, "log_sigmoid": TF.logsigmoid}.get(name) or getattr(TF, name)
    compare(getattr(F, name), tfn, [x], 1, rtol=1e-12, atol=1e-14)
