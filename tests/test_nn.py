"""minigan.nn: layers (gradchecks in float64, closed forms), BatchNorm / Dropout semantics, Module mechanics, init."""
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import minigan
from minigan import nn

DEV = minigan.backend.default_device()
FAST = settings(max_examples=12, deadline=None)


def test_story_a_two_layer_nets_gradient_against_gradcheck():
    """The gradient of a 2-layer net's loss: one by hand, and every one against central differences."""
    import minigan.functional as F
    minigan.manual_seed(0)
    net = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 1)).double()
    rng = np.random.default_rng(0)
    x, t = (minigan.tensor(rng.standard_normal(s), dtype=np.float64, device=DEV) for s in ((5, 3), (5, 1)))
    y = net(x)
    F.mse_loss(y, t).backward()                                 # every parameter's .grad
    np.testing.assert_allclose(net[2].bias.grad.numpy(), [2 * (y - t).numpy().mean()])   # dL/db2 = mean 2(y - t)
    # gradcheck perturbs each parameter in place and compares minigan.grad with central differences
    assert minigan.gradcheck(lambda *params: F.mse_loss(net(x), t), list(net.parameters()))


def T(a, requires_grad=False):
    """A tensor on the default device (keeps float64 arrays float64)."""
    return minigan.tensor(np.asarray(a), requires_grad=requires_grad, device=DEV)


def away_from_zero(x, gap=1e-2):
    """Push values away from kinks at 0 (ReLU) so central differences are valid."""
    return np.where(np.abs(x) < gap, np.sign(x + 1e-12) * gap + x, x)


def check_layer(layer, x, **tol):
    """gradcheck a layer in float64 w.r.t. its input and every parameter."""
    layer.double()
    xt = T(x.astype(np.float64), requires_grad=True)
    params = list(layer.parameters())
    assert all(p.dtype == np.float64 for p in params)
    assert minigan.gradcheck(lambda x, *ps: layer(x), [xt, *params], eps=1e-6,
                             atol=tol.get("atol", 1e-6), rtol=tol.get("rtol", 1e-4))


# ------------------------------------------------------------------ gradchecks
@FAST
@given(n=st.integers(1, 3), i=st.integers(1, 4), o=st.integers(1, 4), bias=st.booleans(), seed=st.integers(0, 99))
def test_linear_gradcheck_and_closed_form(n, i, o, bias, seed):
    r = np.random.default_rng(seed)
    m = nn.Linear(i, o, bias=bias)
    assert m.weight.shape == (o, i) and (m.bias is None) == (not bias)
    x = r.standard_normal((n, i))
    m.double()
    y = m(T(x)).numpy()
    ref = x @ m.weight.numpy().T + (m.bias.numpy() if bias else 0)
    np.testing.assert_allclose(y, ref, rtol=1e-12, atol=1e-12)
    check_layer(m, x)


@FAST
@given(c=st.integers(1, 2), o=st.integers(1, 3), k=st.integers(1, 3), s=st.integers(1, 2), p=st.integers(0, 1),
       h=st.integers(0, 2), bias=st.booleans(), seed=st.integers(0, 99))
def test_conv2d_gradcheck(c, o, k, s, p, h, bias, seed):
    m = nn.Conv2d(c, o, k, stride=s, padding=p, bias=bias)
    assert m.weight.shape == (o, c, k, k)
    x = np.random.default_rng(seed).standard_normal((2, c, k + h, k + h + 1))
    check_layer(m, x)


@FAST
@given(c=st.integers(1, 2), o=st.integers(1, 3), k=st.integers(1, 3), s=st.integers(1, 2), p=st.integers(0, 1),
       op=st.integers(0, 1), bias=st.booleans(), seed=st.integers(0, 99))
def test_conv_transpose2d_gradcheck(c, o, k, s, p, op, bias, seed):
    op = min(op, s - 1)
    m = nn.ConvTranspose2d(c, o, k, stride=s, padding=p, output_padding=op, bias=bias)
    assert m.weight.shape == (c, o, k, k)
    x = np.random.default_rng(seed).standard_normal((1, c, 3, 3))
    check_layer(m, x)


@FAST
@given(n=st.integers(2, 4), c=st.integers(1, 3), length=st.sampled_from([None, 1, 3]), training=st.booleans(),
       seed=st.integers(0, 99))
def test_batchnorm1d_gradcheck(n, c, length, training, seed):
    r = np.random.default_rng(seed)
    m = nn.BatchNorm1d(c)
    m.double()
    nn.init.uniform_(m.weight, 0.5, 1.5)
    nn.init.uniform_(m.bias, -1, 1)
    m.running_mean.data[...] = T(r.standard_normal(c)).data
    m.running_var.data[...] = T(r.uniform(0.5, 2, c)).data
    m.train(training)
    shape = (n, c) if length is None else (n, c, length)
    check_layer(m, r.standard_normal(shape) * 2 + 1)


@FAST
@given(n=st.integers(1, 3), c=st.integers(1, 3), hw=st.integers(1, 3), training=st.booleans(),
       seed=st.integers(0, 99))
def test_batchnorm2d_gradcheck(n, c, hw, training, seed):
    r = np.random.default_rng(seed)
    if training and n * hw * hw < 2:
        n = 2
    m = nn.BatchNorm2d(c).double()
    nn.init.uniform_(m.weight, 0.5, 1.5)
    nn.init.uniform_(m.bias, -1, 1)
    m.running_var.data[...] = T(r.uniform(0.5, 2, c)).data
    m.train(training)
    check_layer(m, r.standard_normal((n, c, hw, hw + 1)))


@FAST
@given(layer=st.sampled_from(["relu", "leaky", "tanh", "sigmoid", "flatten", "unflatten"]),
       seed=st.integers(0, 99))
def test_elementwise_and_shape_layers_gradcheck_and_closed_form(layer, seed):
    x = away_from_zero(np.random.default_rng(seed).standard_normal((2, 6)))
    m, ref = {
        "relu": (nn.ReLU(), np.maximum(x, 0)),
        "leaky": (nn.LeakyReLU(0.2), np.where(x > 0, x, 0.2 * x)),
        "tanh": (nn.Tanh(), np.tanh(x)),
        "sigmoid": (nn.Sigmoid(), 1 / (1 + np.exp(-x))),
        "flatten": (nn.Flatten(), x),
        "unflatten": (nn.Unflatten(1, (2, -1)), x.reshape(2, 2, 3)),
    }[layer]
    np.testing.assert_allclose(m(T(x)).numpy(), ref, rtol=1e-12, atol=1e-12)
    check_layer(m, x)


def test_leaky_relu_default_slope_is_pytorchs():
    assert nn.LeakyReLU().negative_slope == 0.01
    np.testing.assert_allclose(nn.LeakyReLU()(T([-2.0, 3.0])).numpy(), [-0.02, 3.0], rtol=1e-6)


def test_flatten_unflatten_shapes_and_errors():
    x = T(np.arange(2 * 3 * 4 * 5, dtype=np.float64).reshape(2, 3, 4, 5))
    assert nn.Flatten()(x).shape == (2, 60)
    assert nn.Flatten(0, 1)(x).shape == (6, 4, 5)
    np.testing.assert_array_equal(nn.Unflatten(1, (3, 4, 5))(nn.Flatten()(x)).numpy(), x.numpy())
    with pytest.raises(ValueError, match=r"Unflatten: dim 1 .* size 60.*\(7, 9\)"):
        nn.Unflatten(1, (7, 9))(nn.Flatten()(x))


@FAST
@given(n=st.integers(1, 3), i=st.integers(1, 4), o=st.integers(1, 3), k=st.integers(1, 4), seed=st.integers(0, 99))
def test_maxout_against_numpy_and_gradcheck(n, i, o, k, seed):
    r = np.random.default_rng(seed)
    m = nn.Maxout(i, o, k)
    assert m.weight.shape == (o * k, i) and m.bias.shape == (o * k,)
    assert [name for name, _ in m.named_parameters()] == ["weight", "bias"]
    m.double()
    x = r.standard_normal((n, i))
    w, b = m.weight.numpy(), m.bias.numpy()
    ref = np.empty((n, o))
    for a in range(n):                       # unit j uses rows j*k .. j*k + k - 1
        for j in range(o):
            ref[a, j] = max(sum(x[a, q] * w[j * k + p, q] for q in range(i)) + b[j * k + p] for p in range(k))
    np.testing.assert_allclose(m(T(x)).numpy(), ref, rtol=1e-12, atol=1e-12)
    check_layer(m, x)


# ------------------------------------------------------------------ BatchNorm semantics
def test_batchnorm_training_eval_and_running_stats_closed_form():
    r = np.random.default_rng(0)
    c, eps, mom = 3, 1e-5, 0.1
    m = nn.BatchNorm2d(c).double()
    w, b = r.uniform(0.5, 2, c), r.standard_normal(c)
    m.weight.data[...] = T(w).data
    m.bias.data[...] = T(b).data
    rm, rv = np.zeros(c), np.ones(c)
    for step in range(3):
        x = r.standard_normal((4, c, 2, 3)) * (step + 1) + step
        y = m(T(x)).numpy()
        mean = x.mean(axis=(0, 2, 3))
        var = x.var(axis=(0, 2, 3))                           # biased: normalises
        ref = (x - mean[:, None, None]) / np.sqrt(var[:, None, None] + eps) * w[:, None, None] + b[:, None, None]
        np.testing.assert_allclose(y, ref, rtol=1e-10, atol=1e-10)
        rm = (1 - mom) * rm + mom * mean
        rv = (1 - mom) * rv + mom * x.var(axis=(0, 2, 3), ddof=1)  # unbiased: running
        np.testing.assert_allclose(m.running_mean.numpy(), rm, rtol=1e-12)
        np.testing.assert_allclose(m.running_var.numpy(), rv, rtol=1e-12)
        assert int(m.num_batches_tracked.item()) == step + 1
    m.eval()
    x = r.standard_normal((2, c, 2, 2))
    ref = (x - rm[:, None, None]) / np.sqrt(rv[:, None, None] + eps) * w[:, None, None] + b[:, None, None]
    np.testing.assert_allclose(m(T(x)).numpy(), ref, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(m.running_mean.numpy(), rm, rtol=1e-12)       # eval does not update
    assert int(m.num_batches_tracked.item()) == 3


def test_batchnorm_cumulative_average_and_no_running_stats():
    r = np.random.default_rng(1)
    m = nn.BatchNorm1d(2, momentum=None).double()
    xs = [r.standard_normal((5, 2)) + i for i in range(4)]
    for x in xs:
        m(T(x))
    np.testing.assert_allclose(m.running_mean.numpy(), np.mean([x.mean(0) for x in xs], axis=0), rtol=1e-12)
    m2 = nn.BatchNorm1d(2, track_running_stats=False, affine=False).double().eval()
    assert list(m2.state_dict()) == [] and list(m2.parameters()) == []
    x = xs[0]
    np.testing.assert_allclose(m2(T(x)).numpy(), (x - x.mean(0)) / np.sqrt(x.var(0) + 1e-5), rtol=1e-10)


def test_batchnorm_errors():
    m = nn.BatchNorm2d(3)
    with pytest.raises(ValueError, match=r"BatchNorm2d: expected a 4-D input, got shape \(2, 3\)"):
        m(T(np.zeros((2, 3))))
    with pytest.raises(ValueError, match=r"BatchNorm2d: input of shape \(2, 4, 1, 1\) has 4 channels.* 3"):
        m(T(np.zeros((2, 4, 1, 1))))
    with pytest.raises(ValueError, match="more than one value per channel"):
        m(T(np.zeros((1, 3, 1, 1))))
    assert int(m.num_batches_tracked.item()) == 0        # a refused batch is not counted


# ------------------------------------------------------------------ Dropout semantics
def test_dropout_scaling_statistics_and_eval_pass_through():
    p = 0.3
    m = nn.Dropout(p)
    minigan.manual_seed(0)
    x = T(np.ones((200, 50)))
    y = m(x).numpy()
    kept = y != 0
    np.testing.assert_allclose(y[kept], 1 / (1 - p), rtol=1e-6)
    frac = 1 - kept.mean()
    assert abs(frac - p) < 5 * math.sqrt(p * (1 - p) / y.size)       # binomial, 5 sigma
    minigan.manual_seed(0)
    np.testing.assert_array_equal(m(x).numpy(), y)                    # reproducible with the seed
    m.eval()
    np.testing.assert_array_equal(m(x).numpy(), x.numpy())
    m.train()
    np.testing.assert_array_equal(nn.Dropout(0.0)(x).numpy(), x.numpy())
    assert not nn.Dropout(1.0)(x).numpy().any()
    with pytest.raises(ValueError, match=r"Dropout: p must be in \[0, 1\], got 1.5"):
        nn.Dropout(1.5)


@FAST
@given(p=st.sampled_from([0.2, 0.5, 0.8]), training=st.booleans(), seed=st.integers(0, 99))
def test_dropout_gradcheck_with_fixed_seed(p, training, seed):
    m = nn.Dropout(p).train(training)

    def f(x):
        minigan.manual_seed(seed)           # the same mask on every evaluation
        return m(x)
    x = T(np.random.default_rng(seed).standard_normal((3, 4)), requires_grad=True)
    assert minigan.gradcheck(f, [x])
    minigan.manual_seed(seed)
    y = m(x)
    y.backward(T(np.ones((3, 4))))
    mask = y.numpy() != 0
    np.testing.assert_allclose(x.grad.numpy(), mask / (1 - p) if training else np.ones((3, 4)), rtol=1e-12)


# ------------------------------------------------------------------ Module mechanics
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(T(np.ones(2, dtype=np.float32)))
        self.fc1 = nn.Linear(3, 4)
        self.block = nn.Sequential(nn.Linear(4, 4), nn.BatchNorm1d(4), nn.Dropout(0.5))
        self.fc2 = nn.Linear(4, 2, bias=False)
        self.note = "not registered"

    def forward(self, x):
        return self.fc2(self.block(self.fc1(x))) * self.scale


EXPECTED_PARAMS = ["scale", "fc1.weight", "fc1.bias", "block.0.weight", "block.0.bias", "block.1.weight",
                   "block.1.bias", "fc2.weight"]


def test_named_parameters_order_nested_names_and_state_dict():
    net = Net()
    assert [n for n, _ in net.named_parameters()] == EXPECTED_PARAMS
    assert [p.shape for p in net.parameters()] == [(2,), (4, 3), (4,), (4, 4), (4,), (4,), (4,), (2, 4)]
    assert all(isinstance(p, nn.Parameter) and p.requires_grad for p in net.parameters())
    assert [n for n, _ in net.named_buffers()] == ["block.1.running_mean", "block.1.running_var",
                                                   "block.1.num_batches_tracked"]
    assert list(net.state_dict()) == EXPECTED_PARAMS[:7] + ["block.1.running_mean", "block.1.running_var",
                                                            "block.1.num_batches_tracked", "fc2.weight"]
    assert net.state_dict()["block.1.num_batches_tracked"].dtype == np.int64
    assert [n for n, _ in net.named_modules()] == ["", "fc1", "block", "block.0", "block.1", "block.2", "fc2"]
    assert list(net.children()) == [net.fc1, net.block, net.fc2]
    assert net.fc2.bias is None and net.note == "not registered"


def test_names_match_pytorch():
    torch = pytest.importorskip("torch")

    class TNet(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.scale = torch.nn.Parameter(torch.ones(2))
            self.fc1 = torch.nn.Linear(3, 4)
            self.block = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.BatchNorm1d(4), torch.nn.Dropout(0.5))
            self.fc2 = torch.nn.Linear(4, 2, bias=False)
    ours, theirs = Net(), TNet()
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()]
    assert {k: tuple(v.shape) for k, v in ours.state_dict().items()} == \
        {k: tuple(v.shape) for k, v in theirs.state_dict().items()}
    assert list(ours.state_dict()) == list(theirs.state_dict())


def test_shared_parameters_listed_once_and_reassignment():
    lin = nn.Linear(2, 2)
    seq = nn.Sequential(lin, nn.Tanh(), lin)
    assert [n for n, _ in seq.named_parameters()] == ["0.weight", "0.bias"]
    net = Net()
    net.fc1 = nn.Linear(3, 5)                         # a module replaces a module
    assert net.fc1.weight.shape == (5, 3)
    with pytest.raises(TypeError, match="cannot assign str as parameter 'scale'"):
        net.scale = "x"
    net.scale = None
    assert "scale" not in [n for n, _ in net.named_parameters()]
    del net.fc2
    assert not hasattr(net, "fc2") and "fc2.weight" not in net.state_dict()


def test_module_without_super_init_is_a_clear_error():
    class Bad(nn.Module):
        def __init__(self):
            self.fc = nn.Linear(1, 1)
    with pytest.raises(AttributeError, match=r"super\(\).__init__\(\)"):
        Bad()


def test_train_eval_propagate_zero_grad_requires_grad_and_apply():
    net = Net()
    assert all(m.training for m in net.modules())
    assert net.eval() is net and not any(m.training for m in net.modules())
    net.train()
    assert all(m.training for m in net.modules())
    net(T(np.random.default_rng(0).standard_normal((5, 3)).astype(np.float32))).sum().backward()
    assert all(p.grad is not None for p in net.parameters())
    net.zero_grad()
    assert all(p.grad is None for p in net.parameters())
    net.requires_grad_(False)
    assert not any(p.requires_grad for p in net.parameters())
    seen = []
    net.apply(lambda m: seen.append(type(m).__name__))
    assert seen == ["Linear", "Linear", "BatchNorm1d", "Dropout", "Sequential", "Linear", "Net"]


def test_to_dtype_keeps_parameter_objects_and_integer_buffers():
    net = Net()
    before = list(net.parameters())
    assert net.double() is net
    assert [id(p) for p in net.parameters()] == [id(p) for p in before]
    assert all(p.dtype == np.float64 for p in net.parameters())
    assert net.block[1].running_var.dtype == np.float64
    assert net.block[1].num_batches_tracked.dtype == np.int64
    assert net.to("cpu") is net and all(p.device == "cpu" for p in net.parameters())


def test_sequential_indexing():
    layers = [nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1)]
    seq = nn.Sequential(*layers)
    assert len(seq) == 3 and list(seq) == layers and seq[-1] is layers[2]
    assert list(seq[1:]) == layers[1:] and isinstance(seq[:2], nn.Sequential)
    with pytest.raises(IndexError, match="index 3 is out of range for 3 modules"):
        seq[3]
    with pytest.raises(TypeError, match="argument 1 is a int"):
        nn.Sequential(nn.ReLU(), 3)
    x = T(np.ones((4, 2), dtype=np.float32))
    np.testing.assert_array_equal(seq(x).numpy(), layers[2](layers[1](layers[0](x))).numpy())


REPR = """Sequential(
  (0): Linear(in_features=2, out_features=3, bias=True)
  (1): Sequential(
    (0): Conv2d(1, 2, kernel_size=(3, 3), stride=(2, 2), padding=(1, 1), bias=False)
    (1): LeakyReLU(negative_slope=0.2)
  )
  (2): Tanh()
)"""


def test_repr_shows_the_tree():
    seq = nn.Sequential(nn.Linear(2, 3), nn.Sequential(nn.Conv2d(1, 2, 3, 2, 1, bias=False), nn.LeakyReLU(0.2)),
                        nn.Tanh())
    assert repr(seq) == REPR


def test_repr_matches_pytorch():
    torch = pytest.importorskip("torch")
    tn = torch.nn

    def build(m):
        return m.Sequential(m.Linear(2, 3, bias=False), m.Conv2d(1, 2, 3), m.ConvTranspose2d(4, 2, 4, 2, 1, 1),
                            m.Sequential(m.BatchNorm2d(2), m.BatchNorm1d(3, momentum=0.2), m.ReLU(), m.Sigmoid()),
                            m.LeakyReLU(0.2), m.Tanh(), m.Flatten(), m.Unflatten(1, (2, 3)))
    expected = repr(build(tn))
    if "bias=" not in repr(tn.BatchNorm1d(1)):      # older PyTorch (2.11 seen) does not print BatchNorm's bias flag
        expected = expected.replace("affine=True, track", "affine=True, bias=True, track")
    assert repr(build(nn)) == expected


def test_load_state_dict_accepts_arrays_and_tensors_and_refuses_bad_ones():
    src, dst = Net(), Net()
    sd = src.state_dict()
    dst.load_state_dict({k: v.numpy() for k, v in sd.items()})
    for k, v in dst.state_dict().items():
        np.testing.assert_array_equal(v.numpy(), sd[k].numpy())
    dst2 = Net()
    dst2.load_state_dict(sd)                                      # Tensors too
    np.testing.assert_array_equal(dst2.fc1.weight.numpy(), src.fc1.weight.numpy())

    fresh = Net()
    before = {k: v.numpy().copy() for k, v in fresh.state_dict().items()}
    bad = dict(sd)
    del bad["fc1.bias"]
    bad["extra.weight"] = np.zeros(3)
    with pytest.raises(nn.StateDictError, match=r"missing keys: 'fc1.bias'[\s\S]*unexpected keys: 'extra.weight'"):
        fresh.load_state_dict(bad)
    bad = {k: v.numpy() for k, v in sd.items()}
    bad["block.0.weight"] = np.zeros((4, 5), np.float32)
    with pytest.raises(RuntimeError, match=r"size mismatch for 'block.0.weight'.*\(4, 5\).*\(4, 4\)"):
        fresh.load_state_dict(bad)
    with pytest.raises(ValueError, match="size mismatch"):
        fresh.load_state_dict(bad, strict=False)
    for k, v in fresh.state_dict().items():                        # refused loads changed nothing
        np.testing.assert_array_equal(v.numpy(), before[k])
    partial = {"fc1.weight": sd["fc1.weight"], "junk": np.zeros(1)}
    res = fresh.load_state_dict(partial, strict=False)
    assert "fc1.bias" in res.missing_keys and res.unexpected_keys == ["junk"]
    np.testing.assert_array_equal(fresh.fc1.weight.numpy(), sd["fc1.weight"].numpy())


# ------------------------------------------------------------------ initialisation
def test_default_init_bounds_follow_pytorch():
    minigan.manual_seed(0)
    lin = nn.Linear(20, 300)
    bound = 1 / math.sqrt(20)
    for t in (lin.weight, lin.bias):
        a = np.abs(t.numpy())
        assert a.max() <= bound and a.max() > 0.95 * bound
    # ConvTranspose2d weight (in, out, kh, kw): PyTorch's fan_in is out * kh * kw = 2 * 4 = 8, not in * kh * kw
    ct = nn.ConvTranspose2d(50, 2, 2)
    a = np.abs(ct.weight.numpy())
    assert a.max() <= 1 / math.sqrt(8) and a.max() > 0.9 / math.sqrt(8)
    conv = nn.Conv2d(3, 40, 3)
    a = np.abs(conv.weight.numpy())
    assert a.max() <= 1 / math.sqrt(27) and a.max() > 0.9 / math.sqrt(27)
    bn = nn.BatchNorm2d(3)
    assert (bn.weight.numpy() == 1).all() and (bn.bias.numpy() == 0).all()
    assert (bn.running_mean.numpy() == 0).all() and (bn.running_var.numpy() == 1).all()


def test_init_is_reproducible_with_manual_seed():
    minigan.manual_seed(7)
    a = nn.Linear(3, 4).weight.numpy()
    minigan.manual_seed(7)
    b = nn.Linear(3, 4).weight.numpy()
    minigan.manual_seed(8)
    c = nn.Linear(3, 4).weight.numpy()
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_init_functions():
    minigan.manual_seed(0)
    t = T(np.zeros((100, 200), np.float32))
    assert nn.init.normal_(t, 1.0, 0.02) is t
    assert abs(t.numpy().mean() - 1.0) < 1e-3 and abs(t.numpy().std() - 0.02) < 1e-3
    nn.init.uniform_(t, -3, -2)
    assert t.numpy().min() >= -3 and t.numpy().max() <= -2
    nn.init.xavier_uniform_(t, gain=2.0)
    bound = 2.0 * math.sqrt(6 / 300)
    assert np.abs(t.numpy()).max() <= bound and np.abs(t.numpy()).max() > 0.95 * bound
    nn.init.kaiming_uniform_(t, a=0)                           # gain sqrt(2), fan_in 200
    bound = math.sqrt(2) * math.sqrt(3 / 200)
    assert np.abs(t.numpy()).max() <= bound and np.abs(t.numpy()).max() > 0.95 * bound
    nn.init.constant_(t, 0.5)
    assert (t.numpy() == 0.5).all()
    assert (nn.init.zeros_(t).numpy() == 0).all() and (nn.init.ones_(t).numpy() == 1).all()
    with pytest.raises(ValueError, match="at least 2 dims"):
        nn.init.xavier_uniform_(T(np.zeros(3)))


# ------------------------------------------------------------------ GPU
def _dcgan(seed):
    minigan.manual_seed(seed)
    G = nn.Sequential(nn.ConvTranspose2d(8, 16, 4, 1, 0, bias=False), nn.BatchNorm2d(16), nn.ReLU(),
                      nn.ConvTranspose2d(16, 1, 4, 2, 1, bias=False), nn.Tanh())
    D = nn.Sequential(nn.Conv2d(1, 16, 4, 2, 1), nn.LeakyReLU(0.2), nn.Conv2d(16, 1, 4, 1, 0), nn.Flatten())
    return G, D


def _forward_backward(G, D, z, device):
    G.to(device)
    D.to(device)
    zt = minigan.tensor(z, device=device)
    out = D(G(zt))
    loss = minigan.functional.binary_cross_entropy_with_logits(out, minigan.tensor(np.ones(out.shape, np.float32),
                                                                                   device=device))
    loss.backward()
    return [out.numpy()] + [p.grad.numpy() for p in list(G.parameters()) + list(D.parameters())]


@pytest.mark.skipif(not minigan.cuda_available(), reason="needs CuPy and a GPU")
def test_dcgan_forward_backward_cpu_and_gpu_agree():
    z = np.random.default_rng(0).standard_normal((6, 8, 1, 1)).astype(np.float32)
    cpu = _forward_backward(*_dcgan(0), z, "cpu")
    gpu = _forward_backward(*_dcgan(0), z, "cuda")
    for a, b in zip(cpu, gpu):
        np.testing.assert_allclose(b, a, rtol=1e-4, atol=1e-4 * np.abs(a).max())
