"""minigan.save / minigan.load: round trips, bitwise resumption, atomic writes, clear errors, PyTorch interop."""
import json
import os

import numpy as np
import pytest

import minigan
from minigan import nn, optim
from minigan.serialization import CheckpointError

DEV = minigan.backend.default_device()


def T(a, requires_grad=False):
    return minigan.tensor(np.asarray(a), requires_grad=requires_grad, device=DEV)


def build(device=DEV):
    return nn.Sequential(nn.Linear(4, 16), nn.BatchNorm1d(16), nn.LeakyReLU(0.2), nn.Dropout(0.2),
                         nn.Linear(16, 1)).to(device)


def train(model, opt, steps):
    """Each step draws its batch and its dropout mask from minigan's seeded generator of the default device."""
    for _ in range(steps):
        x = minigan.randn(8, 4, device=DEV)
        y = (x * x).sum(axis=1, keepdims=True)
        opt.zero_grad()
        minigan.functional.mse_loss(model(x), y).backward()
        opt.step()


def test_resume_after_5_steps_equals_10_steps_bitwise(tmp_path):
    # on the default device: backend.rng_state() holds both generators' states (dropout draws on the device)
    minigan.manual_seed(0)
    straight = build()
    opt = optim.Adam(straight.named_parameters(), lr=1e-2, betas=(0.5, 0.999))
    train(straight, opt, 10)

    minigan.manual_seed(0)
    first = build()
    opt1 = optim.Adam(first.named_parameters(), lr=1e-2, betas=(0.5, 0.999))
    train(first, opt1, 5)
    path = tmp_path / "ckpt.npz"
    minigan.save({"model": first.state_dict(), "opt": opt1.state_dict(), "step": 5,
                  "rng": minigan.backend.rng_state()}, path)
    assert sorted(os.listdir(tmp_path)) == ["ckpt.npz"]          # no temporary file left behind

    minigan.manual_seed(123)                                       # another init, another stream
    resumed = build()
    opt2 = optim.Adam(resumed.named_parameters(), lr=0.5)
    ck = minigan.load(path)
    assert ck["step"] == 5 and type(ck["step"]) is int
    resumed.load_state_dict(ck["model"])
    opt2.load_state_dict(ck["opt"])
    assert opt2.lr == 1e-2 and opt2.betas == (0.5, 0.999)
    minigan.backend.set_rng_state(ck["rng"])
    train(resumed, opt2, 5)

    for (k, a), b in zip(straight.state_dict().items(), resumed.state_dict().values()):
        assert np.array_equal(a.numpy(), b.numpy()), k
    for k in opt.state:
        assert opt.state[k]["step"] == opt2.state[k]["step"] == 10
        for n in ("exp_avg", "exp_avg_sq"):
            assert np.array_equal(minigan.backend.as_numpy(opt.state[k][n]),
                                  minigan.backend.as_numpy(opt2.state[k][n])), (k, n)


def test_round_trip_of_values_and_types(tmp_path):
    big = 2 ** 100 + 7
    obj = {"a": {"w": np.arange(6, dtype=np.float32).reshape(2, 3), "i": np.array([1, 2], np.int64),
                 "b": np.array([True, False]), "h": np.ones(2, np.float16), "z": np.array(3.5)},
           "t": T(np.ones((2, 2), np.float32)), "n": 3, "f": 0.25, "flag": True, "s": "hello",
           "none": None, "tup": (0.5, 0.999), "list": [1, "x"], "big": big, "np_scalar": np.float32(2.5),
           "empty": {}, "nested": {"deeper": {"x": 1.0}, "also_empty": {}}, 7: "int key"}
    path = tmp_path / "x.npz"
    minigan.save(obj, path)
    back = minigan.load(path)
    assert list(back) == ["a", "t", "n", "f", "flag", "s", "none", "tup", "list", "big", "np_scalar", "empty",
                          "nested", "7"]
    for k, v in obj["a"].items():
        assert back["a"][k].dtype == v.dtype and np.array_equal(back["a"][k], v)
    assert isinstance(back["t"], np.ndarray) and np.array_equal(back["t"], np.ones((2, 2)))
    assert back["n"] == 3 and type(back["n"]) is int
    assert back["f"] == 0.25 and type(back["f"]) is float
    assert back["flag"] is True and back["s"] == "hello" and back["none"] is None
    assert back["tup"] == [0.5, 0.999] and back["list"] == [1, "x"] and back["big"] == big
    assert isinstance(back["np_scalar"], np.ndarray) and back["np_scalar"].dtype == np.float32
    assert back["empty"] == {} and back["nested"] == {"deeper": {"x": 1.0}, "also_empty": {}}
    assert back["7"] == "int key"


def test_file_is_a_plain_npz_without_pickle(tmp_path):
    path = tmp_path / "x.npz"
    minigan.save({"G": {"w": np.ones(3)}, "rng": minigan.backend.rng_state()}, path)
    cpu = {"rng/cpu/" + k for k in ("bit_generator", "state/state", "state/inc", "has_uint32", "uinteger")}
    with np.load(path, allow_pickle=False) as npz:
        gpu = {"rng/cuda"} & set(npz.files)        # present once the GPU generator has been used
        assert set(npz.files) == {"G/w", "__minigan__"} | cpu | gpu
        assert json.loads(str(npz["rng/cpu/state/state"])) == minigan.backend.rng_state()["cpu"]["state"]["state"]
    back, now = minigan.load(path)["rng"], minigan.backend.rng_state()
    assert back["cpu"] == now["cpu"] and set(back) == set(now)
    if "cuda" in now:
        assert back["cuda"].dtype == np.int8 and np.array_equal(back["cuda"], now["cuda"])


def test_old_checkpoints_hold_the_cpu_state_alone():
    state = minigan.backend.rng_state()["cpu"]
    minigan.backend.rng("cpu").random(5)
    minigan.backend.set_rng_state(state)                  # the format before the GPU state was saved
    assert minigan.backend.rng_state()["cpu"] == state


def test_bad_inputs_to_save(tmp_path):
    with pytest.raises(ValueError, match="contains '/'"):
        minigan.save({"a/b": 1}, tmp_path / "x.npz")
    with pytest.raises(TypeError, match="'obj' is a object"):
        minigan.save({"obj": object()}, tmp_path / "x.npz")
    with pytest.raises(TypeError, match="expected a dict"):
        minigan.save([1, 2], tmp_path / "x.npz")
    assert os.listdir(tmp_path) == []


def test_truncated_and_corrupt_files_are_refused(tmp_path):
    path = tmp_path / "good.npz"
    minigan.save({"G": build().state_dict(), "step": 1}, path)
    data = path.read_bytes()
    cases = {"truncated.npz": data[: len(data) // 2], "empty.npz": b"", "garbage.npz": b"not a checkpoint" * 10}
    flipped = bytearray(data)
    i = data.index(b"\x93NUMPY") + 200                      # inside the first array's bytes
    flipped[i] ^= 0xFF
    cases["flipped.npz"] = bytes(flipped)
    for name, content in cases.items():
        bad = tmp_path / name
        bad.write_bytes(content)
        with pytest.raises(CheckpointError, match=name) as e:
            minigan.load(bad)
        assert isinstance(e.value, ValueError)
    with pytest.raises(FileNotFoundError, match="missing.npz"):
        minigan.load(tmp_path / "missing.npz")


def test_pickled_object_arrays_are_refused(tmp_path):
    path = tmp_path / "pickled.npz"
    np.savez(path, a=np.array([{"x": 1}], dtype=object))
    with pytest.raises(CheckpointError, match="pickled.npz"):
        minigan.load(path)


def test_wrong_shape_is_refused_naming_key_and_shapes(tmp_path):
    path = tmp_path / "lin.npz"
    minigan.save({"model": nn.Linear(3, 4).state_dict()}, path)
    with pytest.raises(ValueError, match=r"size mismatch for 'weight'.*\(4, 3\).*\(5, 3\)"):
        nn.Linear(3, 5).load_state_dict(minigan.load(path)["model"])


def test_a_crash_while_writing_keeps_the_old_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "ck.npz"
    minigan.save({"v": np.zeros(3)}, path)
    calls = []

    def crash(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt("simulated crash")
        return real(*args, **kwargs)
    real = np.lib.format.write_array
    monkeypatch.setattr(np.lib.format, "write_array", crash)
    with pytest.raises(KeyboardInterrupt):
        minigan.save({"v": np.ones(3), "w": np.ones(2)}, path)
    assert os.listdir(tmp_path) == ["ck.npz"]
    assert np.array_equal(minigan.load(path)["v"], np.zeros(3))


# ------------------------------------------------------------------ PyTorch interop
LAYERS = [
    ("Linear", (5, 3), {}, (4, 5)),
    ("Conv2d", (2, 3, 3), dict(stride=2, padding=1), (2, 2, 7, 6)),
    ("ConvTranspose2d", (3, 2, 4), dict(stride=2, padding=1, output_padding=1), (2, 3, 3, 4)),
    ("BatchNorm2d", (3,), {}, (4, 3, 2, 2)),
]


@pytest.mark.parametrize("name,args,kw,shape", LAYERS, ids=[c[0] for c in LAYERS])
def test_state_dict_carries_to_pytorch(tmp_path, name, args, kw, shape):
    torch = pytest.importorskip("torch")
    r = np.random.default_rng(0)
    ours, theirs = getattr(nn, name)(*args, **kw), getattr(torch.nn, name)(*args, **kw)
    if name == "BatchNorm2d":                         # non-trivial affine and running statistics
        nn.init.uniform_(ours.weight, 0.5, 1.5)
        nn.init.uniform_(ours.bias, -1, 1)
        for _ in range(3):
            ours(T((r.standard_normal(shape) * 2 + 1).astype(np.float32)))
        ours.eval()
        theirs.eval()
    minigan.save({"layer": ours.state_dict()}, tmp_path / "l.npz")
    sd = minigan.load(tmp_path / "l.npz")["layer"]
    assert list(sd) == list(theirs.state_dict())
    theirs.load_state_dict({k: torch.tensor(v) for k, v in sd.items()})
    x = r.standard_normal(shape).astype(np.float32)
    with torch.no_grad():
        want = theirs(torch.tensor(x)).numpy()
    np.testing.assert_allclose(ours(T(x)).numpy(), want, rtol=1e-5, atol=1e-5)
    # and back: a PyTorch state_dict loads into the minigan layer
    back = getattr(nn, name)(*args, **kw).train(ours.training)
    back.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
    np.testing.assert_allclose(back(T(x)).numpy(), want, rtol=1e-5, atol=1e-5)
