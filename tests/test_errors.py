"""Bad input is refused early with an error that names the op and the offending shapes or values."""
import re

import numpy as np
import pytest

import minigan
import minigan.functional as F

from conftest import t64


def raises_naming(exc, fn, *parts):
    """Assert ``fn()`` raises ``exc`` whose message contains every one of ``parts`` (shapes as str)."""
    with pytest.raises(exc) as info:
        fn()
    msg = str(info.value)
    for p in parts:
        assert str(p) in msg, f"{p!r} not in error message {msg!r}"
    return msg


def z(*shape):
    return t64(np.zeros(shape))


# ------------------------------------------------------------------ shape mismatches
@pytest.mark.parametrize("sa, sb", [((2, 3), (4, 2)), ((3,), (4,)), ((3,), (2, 4)), ((2, 5), (3,)),
                                    ((2, 2, 3), (3, 3, 4))])
def test_matmul_shape_mismatch(sa, sb):
    raises_naming(ValueError, lambda: z(*sa) @ z(*sb), "matmul", sa, sb)
    raises_naming(ValueError, lambda: F.matmul(z(*sa), z(*sb)), "matmul", sa, sb)


def test_matmul_of_a_scalar():
    raises_naming(ValueError, lambda: z() @ z(3), "matmul", "()", "(3,)")


@pytest.mark.parametrize("op, fn", [
    ("add", lambda a, b: a + b), ("sub", lambda a, b: a - b), ("mul", lambda a, b: a * b),
    ("div", lambda a, b: a / b), ("maximum", F.maximum), ("minimum", F.minimum),
    ("where", lambda a, b: F.where(np.ones(a.shape, bool), a, b)),
])
def test_broadcasting_mismatch(op, fn):
    raises_naming(ValueError, lambda: fn(z(2, 3), z(4)), op, (2, 3), (4,))
    raises_naming(ValueError, lambda: fn(z(2, 3, 4), z(3, 3, 1)), op, (2, 3, 4), (3, 3, 1))


def test_where_condition_mismatch():
    raises_naming(ValueError, lambda: F.where(np.ones((5,), bool), z(2, 3), z(2, 3)), "where", (5,), (2, 3))


def test_conv2d_channel_mismatch():
    raises_naming(ValueError, lambda: F.conv2d(z(1, 3, 5, 5), z(4, 2, 3, 3)), "conv2d", (1, 3, 5, 5), (4, 2, 3, 3))


def test_conv_transpose2d_channel_mismatch():
    raises_naming(ValueError, lambda: F.conv_transpose2d(z(1, 3, 5, 5), z(2, 4, 3, 3)),
                  "conv_transpose2d", (1, 3, 5, 5), (2, 4, 3, 3))


@pytest.mark.parametrize("wshape", [(4, 3, 3), (4, 3), (4, 3, 3, 3, 1)])
def test_conv_weight_of_wrong_rank(wshape):
    raises_naming(ValueError, lambda: F.conv2d(z(1, 3, 5, 5), z(*wshape)), "conv2d", wshape)
    raises_naming(ValueError, lambda: F.conv_transpose2d(z(1, 4, 5, 5), z(*wshape)), "conv_transpose2d", wshape)


def test_conv_input_of_wrong_rank_and_bad_bias():
    raises_naming(ValueError, lambda: F.conv2d(z(3, 5, 5), z(4, 3, 3, 3)), "conv2d", (3, 5, 5))
    raises_naming(ValueError, lambda: F.conv2d(z(1, 3, 5, 5), z(4, 3, 3, 3), z(3)), "conv2d", "bias", (3,))


def test_conv_bad_hyper_parameters():
    raises_naming(ValueError, lambda: F.conv2d(z(1, 1, 2, 2), z(1, 1, 3, 3)), "conv2d", "3x3")
    raises_naming(ValueError, lambda: F.conv2d(z(1, 1, 5, 5), z(1, 1, 3, 3), stride=0), "conv2d", "stride")
    raises_naming(ValueError, lambda: F.conv2d(z(1, 1, 5, 5), z(1, 1, 3, 3), padding=-1), "conv2d", "padding")
    raises_naming(ValueError, lambda: F.conv_transpose2d(z(1, 1, 3, 3), z(1, 1, 3, 3), stride=2, output_padding=2),
                  "conv_transpose2d", "output_padding", "stride")
    with pytest.raises(TypeError, match="stride"):
        F.conv2d(z(1, 1, 5, 5), z(1, 1, 3, 3), stride=t64(1.0))


def test_linear_mismatch():
    raises_naming(ValueError, lambda: F.linear(z(2, 3), z(4, 5)), "linear", (2, 3), (4, 5))
    raises_naming(ValueError, lambda: F.linear(z(2, 3), z(3)), "linear", (3,))


def test_other_shape_errors():
    raises_naming(ValueError, lambda: F.cat([z(2, 3), z(3, 4)], 0), "cat", (2, 3), (3, 4))
    raises_naming(ValueError, lambda: F.stack([z(2, 3), z(2, 4)]), "stack", (2, 3), (2, 4))
    raises_naming(ValueError, lambda: z(2, 3).reshape(4, 2), "reshape", (2, 3), (4, 2))
    raises_naming(ValueError, lambda: z(2, 3).expand(4, 3, 2), "broadcast_to", (2, 3), (4, 3, 2))
    raises_naming(ValueError, lambda: z(2, 3).permute(0, 0), "permute", (2, 3))
    raises_naming(ValueError, lambda: z(2, 3).sum(axis=2), "axis", "2")
    raises_naming(IndexError, lambda: z(2, 3)[5], "getitem", (2, 3))
    raises_naming(ValueError, lambda: F.batch_norm(z(4, 3), z(2), z(2), training=True), "batch_norm", (2,), (4, 3))
    raises_naming(ValueError, lambda: F.batch_norm(z(1, 3), None, None, training=True), "batch_norm", (1, 3))
    raises_naming(ValueError, lambda: F.batch_norm(z(4), None, None, training=True), "batch_norm", (4,))
    raises_naming(ValueError, lambda: F.batch_norm(z(4, 3), None, None, training=False), "batch_norm",
                  "running_mean")


@pytest.mark.parametrize("name", ["binary_cross_entropy_with_logits", "mse_loss"])
def test_loss_shape_and_reduction(name):
    loss = getattr(F, name)
    raises_naming(ValueError, lambda: loss(z(4, 1), z(4)), name, (4, 1), (4,))
    raises_naming(ValueError, lambda: loss(z(4), z(4), reduction="avg"), name, "reduction", "'avg'")


def test_bad_option_values():
    raises_naming(ValueError, lambda: F.dropout(z(3), p=1.5), "dropout", "1.5")
    raises_naming(ValueError, lambda: F.clamp(z(3)), "clamp")
    raises_naming(ValueError, lambda: minigan.tensor([1.0], device="tpu"), "device", "'tpu'")


# ------------------------------------------------------------------ autodiff misuse
def test_backward_on_non_scalar_without_grad():
    y = z(2, 3) * 2
    msg = raises_naming(RuntimeError, y.backward, "backward", (2, 3))
    assert "grad" in msg
    raises_naming(RuntimeError, lambda: minigan.grad(y, y.creator.inputs[0]), "grad", (2, 3))


def test_backward_with_grad_of_wrong_shape():
    y = z(2, 3) * 2
    raises_naming(ValueError, lambda: y.backward(np.ones((3, 2))), "backward", (3, 2), (2, 3))


def test_gradcheck_refuses_float32_and_reports_wrong_gradients():
    raises_naming(ValueError, lambda: minigan.gradcheck(lambda x: x * 2, [minigan.ones(3, requires_grad=True)]),
                  "gradcheck", "float32")
    raises_naming(ValueError, lambda: minigan.gradcheck(lambda x: x * 2, [t64([1.0], False)]), "requires_grad")

    class WrongSquare(minigan.Function):
        def forward(self, x):
            return x * x

        def backward(self, gy, needs):
            return gy * self.inputs[0]                  # should be 2 x gy

    msg = raises_naming(minigan.GradcheckError, lambda: minigan.gradcheck(WrongSquare(), [t64([1.0, 2.0])]),
                        "numeric", "analytic")
    pairs = re.findall(r"numeric (\S+), analytic (\S+)", msg)
    assert len(pairs) == 2                              # both elements listed, numeric = 2 * analytic
    for num, ana in pairs:
        np.testing.assert_allclose(float(num), 2 * float(ana), rtol=1e-6)


# ------------------------------------------------------------------ the backward contract, checked at the op
class Broken(minigan.Function):
    """x * y whose backward returns whatever ``bad`` makes of the right gradients (gx, gy)."""

    def __init__(self, bad):
        self.bad = bad

    def forward(self, x, y):
        return x * y

    def backward(self, gy, needs):
        x, y = self.inputs
        return self.bad(gy * y, gy * x)


@pytest.mark.parametrize("bad, parts", [
    (lambda gx, gy: (gx,), ["Broken.backward", "1 gradient(s)", "2 input(s)"]),                 # one missing
    (lambda gx, gy: (gx, gy, gy), ["Broken.backward", "3 gradient(s)", "2 input(s)"]),          # one too many
    (lambda gx, gy: (gx, gy.sum()), ["Broken.backward", "input 1", "()", "(2, 3)"]),            # wrong shape
    (lambda gx, gy: (gx.reshape(3, 2), gy), ["Broken.backward", "input 0", "(3, 2)", "(2, 3)"]),
    (lambda gx, gy: (gx[None], gy), ["Broken.backward", "input 0", "(1, 2, 3)", "(2, 3)"]),     # would broadcast
    (lambda gx, gy: (gx.numpy(), gy), ["Broken.backward", "input 0", "ndarray", "not a Tensor"]),
])
def test_a_backward_that_breaks_the_contract_is_named_at_the_op(bad, parts):
    x, y = (minigan.tensor(np.ones((2, 3)), dtype=np.float64, requires_grad=True) for _ in range(2))
    out = (Broken(bad)(x, y) * 2).sum()
    raises_naming(RuntimeError, out.backward, *parts)
    raises_naming(RuntimeError, lambda: minigan.grad(out, [x, y]), *parts)
    assert x.grad is None and y.grad is None                       # nothing was accumulated


def test_a_backward_may_return_none_for_an_input():
    x = minigan.tensor(np.ones((2, 3)), dtype=np.float64, requires_grad=True)
    y = minigan.tensor(np.full((2, 3), 4.0), dtype=np.float64)
    Broken(lambda gx, gy: (gx, None))(x, y).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.full((2, 3), 4.0))


# ------------------------------------------------------------------ devices
@pytest.mark.skipif(minigan.cuda_available(), reason="CuPy and a GPU are present")
def test_cuda_without_cupy_says_how_to_install():
    for make in (lambda: minigan.tensor([1.0], device="cuda"), lambda: minigan.zeros(2, device="cuda"),
                 lambda: minigan.randn(2, device="cuda"), lambda: minigan.set_default_device("cuda"),
                 lambda: t64([1.0]).to("cuda")):
        msg = raises_naming(RuntimeError, make, "cuda", ".[cuda]")
        assert "CuPy" in msg
    assert minigan.backend.default_device() == "cpu"      # the failed switch left the default alone


@pytest.mark.skipif(not minigan.cuda_available(), reason="needs CuPy and a GPU")
def test_mixing_devices_is_refused():
    a = minigan.tensor(np.ones(3), device="cpu")
    b = minigan.tensor(np.ones(3), device="cuda")
    raises_naming(ValueError, lambda: a + b, "add", "cpu", "cuda")
    raises_naming(ValueError, lambda: F.conv2d(minigan.zeros(1, 1, 3, 3, device="cpu"),
                                               minigan.zeros(1, 1, 2, 2, device="cuda")), "cpu", "cuda")


@pytest.mark.skipif(not minigan.cuda_available(), reason="needs CuPy and a GPU")
def test_device_round_trip_keeps_values_and_gradients():
    a = np.array([1.0, -2.0, 3.0])
    x = minigan.tensor(a, dtype=np.float64, device="cpu", requires_grad=True)
    y = x.to("cuda")
    assert y.device == "cuda"
    ((y * y).sum()).backward()
    assert x.grad.device == "cpu"
    np.testing.assert_allclose(x.grad.numpy(), 2 * a)
