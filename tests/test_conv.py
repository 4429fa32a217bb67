"""conv2d and conv_transpose2d: forward against naive loop references, the adjoint identity, gradchecks.

The references below are plain Python loops over n, o, oh, ow, c, i, j (no im2col, no strided views),
written from the definitions, so they share no code or idea with minigan/conv.py's GEMM formulation.
"""
import numpy as np
import pytest
from hypothesis import given

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
    seeds,
    t64,
)


def naive_conv2d(x, w, b=None, stride=(1, 1), padding=(0, 0)):
    """y[n,o,p,q] = b[o] + sum_{c,i,j} w[o,c,i,j] x[n, c, p*SH + i - PH, q*SW + j - PW] (zero outside)."""
    N, C, H, W = x.shape
    O, _, KH, KW = w.shape
    (sh, sw), (ph, pw) = stride, padding
    OH, OW = (H + 2 * ph - KH) // sh + 1, (W + 2 * pw - KW) // sw + 1
    xl, wl = x.tolist(), w.tolist()
    y = np.zeros((N, O, OH, OW))
    for n in range(N):
        for o in range(O):
            for p in range(OH):
                for q in range(OW):
                    acc = 0.0 if b is None else float(b[o])
                    for c in range(C):
                        for i in range(KH):
                            for j in range(KW):
                                r, s = p * sh + i - ph, q * sw + j - pw
                                if 0 <= r < H and 0 <= s < W:
                                    acc += xl[n][c][r][s] * wl[o][c][i][j]
                    y[n, o, p, q] = acc
    return y


def naive_conv_transpose2d(x, w, b=None, stride=(1, 1), padding=(0, 0), output_padding=(0, 0)):
    """Scatter form: every x[n,o,h,v] adds x * w[o,c,i,j] at y[n, c, h*SH + i - PH, v*SW + j - PW]."""
    N, O, H, W = x.shape
    _, C, KH, KW = w.shape
    (sh, sw), (ph, pw), (oph, opw) = stride, padding, output_padding
    OH, OW = (H - 1) * sh - 2 * ph + KH + oph, (W - 1) * sw - 2 * pw + KW + opw
    xl, wl = x.tolist(), w.tolist()
    y = [[[[0.0] * OW for _ in range(OH)] for _ in range(C)] for _ in range(N)]
    for n in range(N):
        for o in range(O):
            for h in range(H):
                for v in range(W):
                    for c in range(C):
                        for i in range(KH):
                            for j in range(KW):
                                r, s = h * sh + i - ph, v * sw + j - pw
                                if 0 <= r < OH and 0 <= s < OW:
                                    y[n][c][r][s] += xl[n][o][h][v] * wl[o][c][i][j]
    y = np.array(y).reshape(N, C, OH, OW)
    return y if b is None else y + np.asarray(b).reshape(1, -1, 1, 1)


def _arg(pair, as_int):
    """Pass an equal pair as a plain int sometimes, to cover both call forms."""
    return pair[0] if as_int and pair[0] == pair[1] else pair


# ------------------------------------------------------------------ forward against the naive loops
@examples(25)
@given(case=conv_case(), seed=seeds)
def test_conv2d_forward_matches_naive_loops(case, seed):
    x, w, b = conv_arrays(case, seed)
    s, p = _arg(case["stride"], case["as_int"]), _arg(case["padding"], case["as_int"])
    y = F.conv2d(t64(x), t64(w), None if b is None else t64(b), stride=s, padding=p)
    ref = naive_conv2d(x, w, b, case["stride"], case["padding"])
    assert y.shape == ref.shape
    close(y, ref)


@examples(25)
@given(case=conv_transpose_case(), seed=seeds)
def test_conv_transpose2d_forward_matches_naive_loops(case, seed):
    x, w, b = conv_transpose_arrays(case, seed)
    ai = case["as_int"]
    y = F.conv_transpose2d(t64(x), t64(w), None if b is None else t64(b), stride=_arg(case["stride"], ai),
                           padding=_arg(case["padding"], ai), output_padding=_arg(case["out_pad"], ai))
    ref = naive_conv_transpose2d(x, w, b, case["stride"], case["padding"], case["out_pad"])
    assert y.shape == ref.shape == (case["n"], case["cout"]) + case["out"]
    close(y, ref)


def test_conv2d_small_example_by_hand():
    # 1 channel, 3x3 input, 2x2 kernel of ones: each output is the sum of a 2x2 window
    x = np.arange(9.0).reshape(1, 1, 3, 3)
    y = F.conv2d(t64(x), t64(np.ones((1, 1, 2, 2))))
    close(y, [[[[0 + 1 + 3 + 4, 1 + 2 + 4 + 5], [3 + 4 + 6 + 7, 4 + 5 + 7 + 8]]]])


def test_conv_on_non_contiguous_input(rng):
    x = normal(rng, (2, 3, 5, 4))
    w = normal(rng, (2, 3, 3, 2))
    xt = t64(x).permute(0, 1, 3, 2)                    # (2, 3, 4, 5), a strided view
    close(F.conv2d(xt, t64(w), stride=2, padding=1), naive_conv2d(x.transpose(0, 1, 3, 2), w, None, (2, 2), (1, 1)))
    y = normal(rng, (2, 3, 3, 4)).transpose(0, 1, 3, 2)
    wt = normal(rng, (3, 2, 2, 3))
    close(F.conv_transpose2d(t64(y.transpose(0, 1, 3, 2)).permute(0, 1, 3, 2), t64(wt), stride=2),
          naive_conv_transpose2d(y, wt, None, (2, 2)))


def test_conv_keeps_float32():
    x = minigan.randn(2, 3, 6, 5)
    w = minigan.randn(4, 3, 3, 3)
    y = F.conv2d(x, w, padding=1)
    assert y.dtype == np.float32
    close(y, naive_conv2d(x.numpy().astype(np.float64), w.numpy().astype(np.float64), None, (1, 1), (1, 1)),
          rtol=1e-4, atol=1e-4)
    z = F.conv_transpose2d(y, w, padding=1)
    assert z.dtype == np.float32 and z.shape == x.shape


# ------------------------------------------------------------------ the adjoint identity
@examples(25)
@given(case=conv_case(), seed=seeds)
def test_adjoint_identity(case, seed):
    """<conv2d(x, w), y> == <x, conv_transpose2d(y, w)>, output_padding chosen so the shapes match."""
    x, w, _ = conv_arrays(case, seed)
    (sh, sw), (ph, pw), (kh, kw) = case["stride"], case["padding"], case["kernel"]
    h, wd = case["hw"]
    out_pad = ((h + 2 * ph - kh) % sh, (wd + 2 * pw - kw) % sw)
    cx = F.conv2d(t64(x), t64(w), stride=case["stride"], padding=case["padding"]).numpy()
    y = normal(np.random.default_rng(seed + 1), cx.shape)
    ty = F.conv_transpose2d(t64(y), t64(w), stride=case["stride"], padding=case["padding"],
                            output_padding=out_pad).numpy()
    assert ty.shape == x.shape
    lhs, rhs = np.sum(cx * y), np.sum(x * ty)
    np.testing.assert_allclose(lhs, rhs, rtol=1e-10, atol=1e-10)


# ------------------------------------------------------------------ gradchecks
@examples(20)
@given(case=conv_case(max_hw=6), seed=seeds)
def test_conv2d_gradcheck(case, seed):
    x, w, b = conv_arrays(case, seed)
    s, p = case["stride"], case["padding"]
    args = [t64(x), t64(w)] + ([] if b is None else [t64(b)])
    assert minigan.gradcheck(lambda *a: F.conv2d(*a, stride=s, padding=p), args)


@examples(20)
@given(case=conv_transpose_case(max_hw=4), seed=seeds)
def test_conv_transpose2d_gradcheck(case, seed):
    x, w, b = conv_transpose_arrays(case, seed)
    s, p, op = case["stride"], case["padding"], case["out_pad"]
    args = [t64(x), t64(w)] + ([] if b is None else [t64(b)])
    assert minigan.gradcheck(lambda *a: F.conv_transpose2d(*a, stride=s, padding=p, output_padding=op), args)


@pytest.mark.parametrize("which", ["x", "w"])
def test_conv2d_gradients_one_input_at_a_time(which, rng):
    """needs_input_grad: a gradient asked for one input only is still right."""
    x, w = normal(rng, (2, 2, 5, 4)), normal(rng, (3, 2, 2, 3))
    args = [t64(x, which == "x"), t64(w, which == "w")]
    assert minigan.gradcheck(lambda a, b: F.conv2d(a, b, stride=(2, 1), padding=1), args)


def test_conv2d_weight_gradient_closed_form(rng):
    """With a 1x1 kernel, conv2d is a per-pixel matmul: dL/dw[o, c] = sum_{n,h,w} g[n,o,h,w] x[n,c,h,w]."""
    x, w, g = normal(rng, (2, 3, 4, 5)), normal(rng, (4, 3, 1, 1)), normal(rng, (2, 4, 4, 5))
    xt, wt = t64(x), t64(w)
    F.conv2d(xt, wt).backward(t64(g, False))
    close(wt.grad, np.einsum("nohw,nchw->oc", g, x).reshape(4, 3, 1, 1))
    close(xt.grad, np.einsum("nohw,oc->nchw", g, w[:, :, 0, 0]))
