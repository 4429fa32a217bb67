"""minigan.optim: update rules against NumPy closed forms and against torch.optim; state dicts; errors."""
import numpy as np
import pytest

import minigan
from minigan import nn, optim

DEV = minigan.backend.default_device()


def T(a, requires_grad=False):
    return minigan.tensor(np.asarray(a), requires_grad=requires_grad, device=DEV)


def run_with_grads(opt_cls, p0, grads, changes=None, **kw):
    """Apply ``opt_cls`` to one float64 parameter fed the given gradients; returns the trajectory."""
    p = nn.Parameter(T(p0.copy()))
    opt = opt_cls([p], **kw)
    out = []
    for t, g in enumerate(grads):
        for name, v in (changes or {}).get(t, {}).items():
            setattr(opt, name, v)
        p.grad = T(g)
        arr = p.data
        opt.step()
        assert p.data is arr and p.is_leaf            # in place, no graph
        out.append(p.numpy().copy())
    return out


# ------------------------------------------------------------------ NumPy references (textbook form)
def sgd_ref(p, grads, lr, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False, changes=None):
    hyper = dict(lr=lr, momentum=momentum)
    b, out = None, []
    for t, g in enumerate(grads):
        hyper.update((changes or {}).get(t, {}))
        mu = hyper["momentum"]
        g = g + weight_decay * p
        if mu != 0:
            b = g.copy() if b is None else mu * b + (1 - dampening) * g
            g = g + mu * b if nesterov else b
        p = p - hyper["lr"] * g
        out.append(p)
    return out


def adam_ref(p, grads, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
    b1, b2 = betas
    m, v, out = np.zeros_like(p), np.zeros_like(p), []
    for t, g in enumerate(grads, start=1):
        g = g + weight_decay * p
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g ** 2
        m_hat, v_hat = m / (1 - b1 ** t), v / (1 - b2 ** t)
        p = p - lr * m_hat / (np.sqrt(v_hat) + eps)
        out.append(p)
    return out


def rmsprop_ref(p, grads, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0, centered=False):
    s, ga, b, out = np.zeros_like(p), np.zeros_like(p), np.zeros_like(p), []
    for g in grads:
        g = g + weight_decay * p
        s = alpha * s + (1 - alpha) * g ** 2
        ga = alpha * ga + (1 - alpha) * g
        avg = np.sqrt(s - ga ** 2 if centered else s) + eps
        if momentum > 0:
            b = momentum * b + g / avg
            p = p - lr * b
        else:
            p = p - lr * g / avg
        out.append(p)
    return out


CLOSED = [
    (optim.SGD, sgd_ref, dict(lr=0.1)),
    (optim.SGD, sgd_ref, dict(lr=0.1, momentum=0.9)),
    (optim.SGD, sgd_ref, dict(lr=0.1, momentum=0.9, dampening=0.5)),
    (optim.SGD, sgd_ref, dict(lr=0.05, momentum=0.8, nesterov=True, weight_decay=0.1)),
    (optim.Adam, adam_ref, dict()),
    (optim.Adam, adam_ref, dict(lr=0.01, betas=(0.5, 0.999), weight_decay=0.05)),
    (optim.RMSprop, rmsprop_ref, dict()),
    (optim.RMSprop, rmsprop_ref, dict(lr=5e-3, alpha=0.9, weight_decay=0.01)),
    (optim.RMSprop, rmsprop_ref, dict(lr=1e-3, momentum=0.9, centered=True)),
]


@pytest.mark.parametrize("cls,ref,kw", CLOSED, ids=[f"{c.__name__}-{i}" for i, (c, _, _) in enumerate(CLOSED)])
def test_steps_match_closed_form(cls, ref, kw):
    r = np.random.default_rng(0)
    p0 = r.standard_normal((3, 2))
    grads = [r.standard_normal((3, 2)) for _ in range(6)]
    got = run_with_grads(cls, p0, grads, **kw)
    for a, b in zip(got, ref(p0, grads, **kw)):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)


def test_defaults_are_torchs():
    p = [nn.Parameter(T(np.zeros(2)))]
    a, r, s = optim.Adam(p), optim.RMSprop(p), optim.SGD(p, lr=0.1)
    assert (a.lr, a.betas, a.eps, a.weight_decay) == (1e-3, (0.9, 0.999), 1e-8, 0.0)
    assert (r.lr, r.alpha, r.eps, r.momentum, r.centered) == (1e-2, 0.99, 1e-8, 0.0, False)
    assert (s.momentum, s.dampening, s.nesterov, s.weight_decay) == (0.0, 0.0, False, 0.0)


def test_hyper_parameters_changed_between_steps_take_effect():
    r = np.random.default_rng(1)
    p0 = r.standard_normal(4)
    grads = [r.standard_normal(4) for _ in range(6)]
    changes = {3: {"momentum": 0.7}, 4: {"lr": 0.01}}
    got = run_with_grads(optim.SGD, p0, grads, changes=changes, lr=0.1, momentum=0.9)
    ref = sgd_ref(p0, grads, lr=0.1, momentum=0.9, changes=changes)
    unchanged = sgd_ref(p0, grads, lr=0.1, momentum=0.9)
    np.testing.assert_allclose(got, ref, rtol=1e-12)
    assert not np.allclose(got[3], unchanged[3])


def test_params_without_grad_are_skipped_and_named_keys():
    a, b = nn.Parameter(T(np.ones(2))), nn.Parameter(T(np.ones(3)))
    opt = optim.Adam([("a", a), ("b", b)], lr=0.1)
    a.grad = T(np.ones(2))
    opt.step()
    assert list(opt.state) == ["a"] and opt.state["a"]["step"] == 1
    np.testing.assert_array_equal(b.numpy(), np.ones(3))
    assert not np.allclose(a.numpy(), 1)
    opt.zero_grad()
    assert a.grad is None
    net = nn.Sequential(nn.Linear(2, 2), nn.Linear(2, 1))
    opt = optim.SGD(net.named_parameters(), lr=0.1, momentum=0.9)
    assert opt.keys == ["0.weight", "0.bias", "1.weight", "1.bias"]
    assert optim.SGD(net.parameters(), lr=0.1).keys == [0, 1, 2, 3]


def test_constructor_errors():
    p = nn.Parameter(T(np.zeros(2)))
    with pytest.raises(ValueError, match="SGD: got an empty parameter list"):
        optim.SGD([], lr=0.1)
    with pytest.raises(ValueError, match="invalid lr -1"):
        optim.Adam([p], lr=-1)
    with pytest.raises(ValueError, match="Nesterov momentum needs momentum > 0"):
        optim.SGD([p], lr=0.1, nesterov=True)
    with pytest.raises(ValueError, match=r"betas must be two numbers in \[0, 1\)"):
        optim.Adam([p], betas=(0.9, 1.0))
    with pytest.raises(ValueError, match="more than once"):
        optim.SGD([p, p], lr=0.1)
    with pytest.raises(TypeError, match="not a single Tensor"):
        optim.SGD(p, lr=0.1)


# ------------------------------------------------------------------ state dicts
def _tiny(seed):
    minigan.manual_seed(seed)
    return nn.Sequential(nn.Linear(3, 5), nn.Tanh(), nn.Linear(5, 1))


def _train(net, opt, steps, seed):
    r = np.random.default_rng(seed)
    for _ in range(steps):
        x = T(r.standard_normal((8, 3)).astype(np.float32))
        y = T(r.standard_normal((8, 1)).astype(np.float32))
        opt.zero_grad()
        minigan.functional.mse_loss(net(x), y).backward()
        opt.step()


@pytest.mark.parametrize("make", [lambda ps: optim.Adam(ps, lr=0.01, betas=(0.5, 0.99)),
                                  lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9, nesterov=True),
                                  lambda ps: optim.RMSprop(ps, lr=0.01, momentum=0.5, centered=True)],
                         ids=["Adam", "SGD", "RMSprop"])
def test_state_dict_round_trip_continues_identically(make):
    a = _tiny(0)
    opt_a = make(a.parameters())
    _train(a, opt_a, 3, seed=1)
    sd = opt_a.state_dict()
    # what minigan.load would give back: string keys, NumPy arrays, numbers as 0-d arrays, tuples as lists
    plain = {"hyper": {k: (list(v) if isinstance(v, tuple) else np.asarray(v)) for k, v in sd["hyper"].items()},
             "state": {str(k): {n: (minigan.backend.as_numpy(v).copy() if hasattr(v, "shape") else np.asarray(v))
                                for n, v in st.items()} for k, st in sd["state"].items()}}
    b = _tiny(5)
    b.load_state_dict(a.state_dict())
    opt_b = make(b.parameters())
    opt_b.lr = 123.0                                              # restored by load_state_dict
    opt_b.load_state_dict(plain)
    assert opt_b.lr == opt_a.lr and type(opt_b.lr) is float
    for n in opt_a.hyper:
        assert getattr(opt_b, n) == getattr(opt_a, n)
    _train(a, opt_a, 3, seed=2)
    _train(b, opt_b, 3, seed=2)
    for pa, pb in zip(a.parameters(), b.parameters()):
        assert np.array_equal(pa.numpy(), pb.numpy())


def test_load_state_dict_errors():
    net = _tiny(0)
    adam = optim.Adam(net.parameters())
    _train(net, adam, 1, seed=0)
    sgd = optim.SGD(net.parameters(), lr=0.1)
    with pytest.raises(ValueError, match=r"unknown hyper-parameters \['betas', 'eps'\]"):
        sgd.load_state_dict(adam.state_dict())
    sd = adam.state_dict()
    sd["state"][2]["exp_avg"] = np.zeros((7, 7))
    with pytest.raises(ValueError, match=r"state 'exp_avg' of parameter 2 has shape \(7, 7\).*\(1, 5\)"):
        optim.Adam(net.parameters()).load_state_dict(sd)
    sd = adam.state_dict()
    sd["state"][9] = {}
    with pytest.raises(ValueError, match="state for parameter 9, which this optimizer does not have"):
        optim.Adam(net.parameters()).load_state_dict(sd)
    sd = adam.state_dict()
    sd["state"][0]["momentum_buffer"] = np.zeros((5, 3))
    with pytest.raises(ValueError, match="unknown state 'momentum_buffer' for parameter 0"):
        optim.Adam(net.parameters()).load_state_dict(sd)


# ------------------------------------------------------------------ against torch.optim
TORCH_CONFIGS = [
    ("SGD", dict(lr=0.1, momentum=0.9), {}),
    ("SGD", dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-2), {}),
    ("SGD", dict(lr=0.1, momentum=0.5, dampening=0.3), {}),
    ("SGD", dict(lr=0.1, momentum=0.9), {8: {"momentum": 0.7}, 14: {"lr": 0.02}}),
    ("Adam", dict(lr=1e-2), {}),
    ("Adam", dict(lr=2e-3, betas=(0.5, 0.999), weight_decay=1e-2), {10: {"lr": 1e-3}}),
    ("RMSprop", dict(lr=5e-3), {}),
    ("RMSprop", dict(lr=1e-3, alpha=0.9, weight_decay=1e-3, momentum=0.9, centered=True), {}),
]


@pytest.mark.parametrize("name,kw,changes", TORCH_CONFIGS, ids=[f"{c[0]}-{i}" for i, c in enumerate(TORCH_CONFIGS)])
def test_tracks_torch_optim_for_20_steps(name, kw, changes):
    torch = pytest.importorskip("torch")
    net = _tiny(3)
    tnet = torch.nn.Sequential(torch.nn.Linear(3, 5), torch.nn.Tanh(), torch.nn.Linear(5, 1))
    tnet.load_state_dict({k: torch.tensor(v.numpy()) for k, v in net.state_dict().items()})
    opt = getattr(optim, name)(net.named_parameters(), **kw)
    topt = getattr(torch.optim, name)(tnet.parameters(), **kw)
    r = np.random.default_rng(4)
    for t in range(20):
        for k, v in changes.get(t, {}).items():
            setattr(opt, k, v)
            topt.param_groups[0][k] = v
        x = r.standard_normal((16, 3)).astype(np.float32)
        y = r.standard_normal((16, 1)).astype(np.float32)
        opt.zero_grad()
        minigan.functional.mse_loss(net(T(x)), T(y)).backward()
        opt.step()
        topt.zero_grad()
        torch.nn.functional.mse_loss(tnet(torch.tensor(x)), torch.tensor(y)).backward()
        topt.step()
        for (k, p), tp in zip(net.named_parameters(), tnet.parameters()):
            np.testing.assert_allclose(p.numpy(), tp.detach().numpy(), rtol=1e-5, atol=1e-6,
                                       err_msg=f"{name} step {t} parameter {k}")
