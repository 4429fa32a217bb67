"""The device rules (docs/architecture.md, "Devices"), checked on CuPy or on the strict CuPy stand-in.

Tests marked ``needs_cuda`` run when the default device is 'cuda': in the second run of ``.ci/run``
(``MINIGAN_DEVICE=cuda`` with ``tests/strict_cupy`` on ``PYTHONPATH``) or on a GPU. The tests that run a
fresh Python process put the stand-in on its path themselves (unless a real CuPy with a GPU is here), so
they run in both passes.
"""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

import minigan
import minigan.functional as F
from minigan import backend

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STAND_IN = os.path.join(ROOT, "tests", "strict_cupy")
needs_cuda = pytest.mark.skipif(backend.default_device() != "cuda",
                                reason="runs with MINIGAN_DEVICE=cuda (the stand-in pass of .ci/run, or a GPU)")


def _real_cupy_with_gpu():
    code = "import cupy; assert not getattr(cupy, '_STRICT', False); cupy.cuda.runtime.getDeviceCount()"
    return subprocess.run([sys.executable, "-c", code], capture_output=True, env=_env(stand_in=False)).returncode == 0


def _env(stand_in=True, **extra):
    paths = ([STAND_IN] if stand_in else []) + [ROOT] + \
        [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p and p != STAND_IN]
    env = {k: v for k, v in os.environ.items() if k != "MINIGAN_DEVICE"}
    env.update(PYTHONPATH=os.pathsep.join(paths), **extra)
    return env


def _python(code, force_stand_in=False, **extra):
    """Run ``code`` in a fresh interpreter with CuPy (the stand-in unless a real GPU is here); its stdout."""
    stand_in = force_stand_in or not _real_cupy_with_gpu()
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                       env=_env(stand_in, **extra), timeout=300)
    assert r.returncode == 0, r.stderr
    return r.stdout


# ------------------------------------------------------------------ recognising CuPy arrays (item 2)
def test_cupy_arrays_are_recognised_before_minigan_imports_cupy(tmp_path):
    out = _python(f"""
import cupy, numpy as np
a = cupy.ones((1, 3), dtype=cupy.float32)        # made before minigan has imported CuPy itself
import minigan
from minigan import nn
assert minigan.Tensor(a).device == 'cuda' and minigan.tensor(a, device='cuda').device == 'cuda'
assert minigan.tensor(a).device == 'cpu'           # minigan.tensor: the default device ($MINIGAN_DEVICE unset)
minigan.save({{'w': a}}, {str(tmp_path / 'w.npz')!r})
assert np.array_equal(minigan.load({str(tmp_path / 'w.npz')!r})['w'], np.ones((1, 3), np.float32))
lin = nn.Linear(3, 1)
lin.load_state_dict({{'weight': a * 2, 'bias': cupy.zeros(1, dtype=cupy.float32)}})
assert lin.weight.device == 'cpu' and float(lin.weight.numpy().sum()) == 6.0
print('ok')
""")
    assert out.strip() == "ok"


# ------------------------------------------------------------------ host scalars stay on the host (item 3)
@needs_cuda
def test_host_scalars_stay_on_the_host():
    x = minigan.tensor(np.float64(-2.0), dtype=np.float64, device="cpu", requires_grad=True)
    y = abs(x * 3.0)                                        # 0-d CPU ops give NumPy scalars
    assert y.device == "cpu" and y.detach().device == "cpu"
    y.backward()
    assert x.grad.device == "cpu" and x.grad.item() == -3.0
    x.grad = None
    F.relu(x).backward()
    assert x.grad.device == "cpu"
    assert minigan.Tensor(np.float32(1.5)).device == "cpu"          # a NumPy scalar is host data
    assert minigan.tensor(1.5).device == "cuda"                     # Python data goes to the default device


# ------------------------------------------------------------------ one error for mixed devices (item 6)
@needs_cuda
@pytest.mark.parametrize("case", ["add array", "where cond", "maximum", "compare", "getitem", "add", "conv"])
def test_every_mixed_device_case_gives_one_error(case):
    cpu = minigan.tensor(np.ones(3), device="cpu")
    gpu = minigan.tensor(np.ones(3), device="cuda")
    run = {"add array": lambda: cpu + gpu.data, "where cond": lambda: F.where(gpu > 0, cpu, cpu),
           "maximum": lambda: F.maximum(cpu, gpu), "compare": lambda: cpu < gpu,
           "getitem": lambda: cpu[minigan.tensor(np.array([0, 1]), device="cuda")], "add": lambda: cpu + gpu,
           "conv": lambda: F.conv2d(minigan.zeros(1, 1, 3, 3, device="cpu"), minigan.zeros(1, 1, 2, 2, device="cuda"))}
    with pytest.raises(ValueError, match=r"tensors on different devices \((cpu and cuda|cuda and cpu)\)"):
        run[case]()


# ------------------------------------------------------------------ index bounds (item 5)
@pytest.mark.parametrize("index", [np.array([0, 3]), np.array([-4]), [1, 7], (slice(None), np.array([2, 0, 9]))])
def test_out_of_range_index_arrays_raise_on_every_device(index):
    x = minigan.tensor(np.arange(6.0).reshape(2, 3) if isinstance(index, tuple) else np.arange(3.0))
    with pytest.raises(IndexError, match="out of range"):
        x[index]
    if not isinstance(index, list):                         # the same index as a tensor on x's device
        dev_index = tuple(minigan.tensor(i, device=x.device) if isinstance(i, np.ndarray) else i
                          for i in index) if isinstance(index, tuple) else minigan.tensor(index, device=x.device)
        with pytest.raises(IndexError, match="out of range"):
            x[dev_index]


def test_in_range_negative_indices_still_gather():
    x = minigan.tensor(np.arange(3.0), requires_grad=True)
    y = x[np.array([-1, 0, -1])]
    assert y.numpy().tolist() == [2.0, 0.0, 2.0]
    y.sum().backward()
    assert x.grad.numpy().tolist() == [1.0, 0.0, 2.0]


# ------------------------------------------------------------------ device names
def test_device_names_are_checked():
    with pytest.raises(ValueError, match="'tpu'"):
        backend.check_device("tpu")
    with pytest.raises(ValueError, match="cuda:N"):
        backend.check_device("cuda:x")


@needs_cuda
def test_cuda_n_selects_a_gpu_or_is_refused():
    assert backend.check_device("cuda:0") == "cuda"
    n = backend.xp_of("cuda").cuda.runtime.getDeviceCount()
    with pytest.raises(ValueError, match=f"device 'cuda:{n}': this machine has {n} GPU"):
        backend.check_device(f"cuda:{n}")


def test_device_order_flag_then_environment_then_cpu(monkeypatch):
    monkeypatch.delenv("MINIGAN_DEVICE", raising=False)
    assert backend.resolve_device(None) == "cpu"
    assert backend.resolve_device("cpu") == "cpu"
    monkeypatch.setenv("MINIGAN_DEVICE", "cpu")
    assert backend.resolve_device(None) == "cpu"


# ------------------------------------------------------------------ the trainer on the device (items 1, 4, 7)
def _image_config(tmp_path, **kw):
    from minigan.gan.config import make_config

    from conftest import make_set
    make_set(tmp_path / "fm", n_train=120, n_test=20)
    return make_config(data="fashion-mnist", data_dir=str(tmp_path / "fm"), batch_size=8,
                       out=str(tmp_path / "run"), **{"model": "dcgan", "steps": 6, **kw})


def test_train_records_the_device_it_used(tmp_path):
    from minigan.gan.train import Trainer
    tr = Trainer(_image_config(tmp_path), progress=False)
    assert not (tmp_path / "run").exists()                  # a Trainer writes nothing until its run starts
    tr.start()
    with open(tmp_path / "run" / "config.json") as f:
        assert json.load(f)["device"] == backend.default_device() == tr.device
    assert all(p.device == tr.device for p in tr.G.parameters())


@pytest.mark.parametrize("model", ["mlp", "dcgan"])
def test_resume_is_exact_on_the_default_device(tmp_path, model):
    """The MLP's dropout draws from the device's generator: its state is in the checkpoint too."""
    from minigan.gan.train import Trainer, train
    straight = Trainer(_image_config(tmp_path / "a", model=model, steps=4, conditional=model == "mlp"),
                       progress=False)
    straight.fit()
    first = Trainer(_image_config(tmp_path / "b", model=model, steps=4, conditional=model == "mlp"), progress=False)
    first.train_step()                                      # stopped after 2 of the 4 steps (the MLP's momentum
    first.train_step()                                      # and lr schedules depend on the total)
    first.save_checkpoint()
    train(out=str(tmp_path / "b" / "run"), resume=True, progress=False)
    with open(tmp_path / "b" / "run" / "config.json") as f:
        resumed = Trainer(json.load(f), resume=True, progress=False)
    assert resumed.step == 4
    for a, b in zip(list(straight.G.parameters()) + list(straight.D.parameters()),
                    list(resumed.G.parameters()) + list(resumed.D.parameters())):
        assert np.array_equal(a.numpy(), b.numpy())


def test_log_every_writes_one_row_per_logged_step(tmp_path):
    from minigan.gan.train import Trainer
    tr = Trainer(_image_config(tmp_path, steps=7, log_every=3), progress=False)
    tr.fit()
    with open(tmp_path / "run" / "metrics.csv") as f:
        steps = [int(line.split(",")[0]) for line in f.read().splitlines()[1:]]
    assert steps == [3, 6, 7]                               # every 3rd step, and the last one


COUNT_STEP = """
import json, os, sys, tempfile
sys.path.insert(0, "tests")
import cupy
from conftest import make_set
from minigan.gan.train import Trainer
from minigan.gan.config import make_config
d = tempfile.mkdtemp()
make_set(os.path.join(d, "fm"), n_train=120, n_test=20)
cfg = make_config(data="fashion-mnist", model="dcgan", data_dir=os.path.join(d, "fm"), steps=50, batch_size=8,
                  device="cuda", out=os.path.join(d, "run"), log_every={log_every}, conditional={conditional})
tr = Trainer(cfg, progress=False)
tr.train_step()                                      # the first step makes the optimizers' buffers
cupy.reset_counters()
for _ in range({steps}):
    tr.train_step()
print(json.dumps(cupy.snapshot()))
"""


@pytest.mark.parametrize("log_every, conditional", [(1, False), (4, False), (1, True)])
def test_a_dcgan_step_makes_at_most_one_copy_back(log_every, conditional):
    """Counted by the strict stand-in: per DCGAN-28 step at most one device-to-host copy or sync on
    average, and host-to-device copies only for the batch's indices and the noise (and, conditional, the
    real and the drawn labels, each moved once)."""
    steps = 8
    counts = json.loads(_python(COUNT_STEP.format(log_every=log_every, steps=steps, conditional=conditional),
                                force_stand_in=True))
    back = sum(counts["d2h"].values()) + sum(counts["sync"].values())
    assert back <= steps / log_every, counts
    moved = set()
    for module in ("train", "run"):
        src = open(os.path.join(ROOT, "minigan", "gan", f"{module}.py")).read().splitlines()
        moved |= {f"minigan/gan/{module}.py:{i + 1}" for i, line in enumerate(src)
                  if "backend.to_device(idx, self.device)" in line or "backend.to_device(z, device)" in line
                  or (conditional and "self.labels[idx], self.device" in line)
                  or (conditional and "self.rng.integers(0, N_CLASSES, m), self.device" in line)}
    assert set(counts["h2d"]) <= moved, counts["h2d"]
    # D: batch indices and noise; G: noise; conditional: real labels, D's and G's drawn labels
    assert sum(counts["h2d"].values()) == (6 if conditional else 3) * steps


# ------------------------------------------------------------------ the stand-in itself behaves as CuPy documents
def test_the_stand_in_is_as_strict_as_cupy():
    out = _python("""
import numpy as np, cupy
a = cupy.asarray(np.arange(6.0).reshape(2, 3))
assert not isinstance(a, np.ndarray)
def refused(f, text):
    try:
        f()
    except TypeError as e:
        assert text in str(e), str(e)
    else:
        raise AssertionError('not refused')
refused(lambda: np.asarray(a), 'Implicit conversion to a NumPy array is not allowed')
refused(lambda: a + np.ones(3), 'Unsupported type')
refused(lambda: np.ones(3) * a, 'Unsupported type')
refused(lambda: cupy.maximum(a, np.zeros(3)), 'Unsupported type')
a[...] = a * 2.0 + np.float32(1)                      # Python and NumPy scalars are fine
s = a.sum()
assert type(s) is cupy.ndarray and s.shape == () and float(s) == 36.0
assert a[:, cupy.asarray(np.array([4]))].get().ravel().tolist() == [3.0, 9.0]     # wraps, as CuPy
g = cupy.random.default_rng(0)
assert not hasattr(g, 'normal') and not hasattr(g, 'permutation')      # not in CuPy's Generator
state = g.bit_generator._state.get()
x = g.random(4).get()
g.bit_generator._state[...] = cupy.asarray(state)
assert np.array_equal(g.random(4).get(), x)           # the state array restores the stream
z = cupy.zeros(3)
cupy.add.at(z, cupy.asarray(np.array([0, 0, 2])), 1.0)
assert z.get().tolist() == [2.0, 0.0, 1.0]
counts = cupy.snapshot()
assert [sum(counts[k].values()) for k in ('h2d', 'd2h', 'sync')] == [4, 5, 1], counts
print('ok')
""", force_stand_in=True)
    assert out.strip() == "ok"


@pytest.mark.parametrize("error, missing", [
    (RuntimeError("CuPy failed to load libnvrtc.so.12: OSError: libnvrtc.so.12: cannot open shared object"), "NVRTC"),
    (ImportError("libcublas.so.12: cannot open shared object file"), "cuBLAS"),
    (RuntimeError("cudaErrorInsufficientDriver: CUDA driver version is insufficient"), "driver"),
    (RuntimeError("cudaErrorNoDevice: no CUDA-capable device is detected"), "GPU"),
])
def test_a_cuda_library_failure_is_one_line_naming_what_is_missing(error, missing):
    line = backend._cuda_failure(error)
    assert missing in line and "\n" not in line and type(error).__name__ in line


COUNT_INPAINT = """
import json, numpy as np, cupy
from minigan.gan import models
from minigan.inpaint import search
G = models.dcgan_init(models.DCGAN28Generator()).to("cuda")
D = models.dcgan_init(models.DCGAN28Discriminator()).to("cuda")
x = np.random.default_rng(0).uniform(0, 1, (2, 1, 28, 28)).astype(np.float32)
m = np.ones((1, 1, 28, 28), np.float32)
m[..., 8:20, 8:20] = 0
out = []
for iters in (2, 6):
    cupy.reset_counters()
    search.inpaint(G, D, x, m, iters=iters, restarts=2, progress=False, record=0, z_dim=100, scale="tanh",
                   prior="normal")
    out.append({k: sum(v.values()) for k, v in cupy.snapshot().items()})
print(json.dumps(out))
"""


def test_inpainting_copies_do_not_grow_with_iterations():
    few, more = json.loads(_python(COUNT_INPAINT, force_stand_in=True))
    assert few == more, (few, more)


def test_numbers_in_ops_are_not_copied_to_the_device():
    out = _python("""
import json, numpy as np, cupy, minigan, minigan.functional as F
x = minigan.tensor(np.linspace(-1, 1, 6).astype(np.float32), device='cuda', requires_grad=True)
cupy.reset_counters()
y = (1 - x * 0.5 + 2.0) / 3.0 + F.maximum(x, 0.0) + F.where(x > 0, x, 0.25) + 1.5 / (x + 4)
y.sum().backward()
print(json.dumps(cupy.snapshot()))
""", force_stand_in=True)
    counts = json.loads(out)
    assert counts == {"h2d": {}, "d2h": {}, "sync": {}}, counts


# ------------------------------------------------------------------ kernel launches per training step
COUNT_LAUNCHES = """
import json, cupy
from minigan.cli.bench import STEPS
out = {}
for name in ("dcgan", "mlp"):
    for batch in (64, 100):
        step = STEPS[name](batch, "cuda")
        step(); step()                                   # the first steps make the optimizers' state
        cupy.reset_counters()
        step()
        out[f"{name} {batch}"] = cupy.kernel_launches()
print(json.dumps(out))
"""
# Launching CuPy calls per step of the trainer (docs/performance.md; python benchmarks/launches.py): before the
# GPU tricks of minigan.tricks (fused_elementwise, flat_optimizer, scatter_col2im) and the one-vector grad_norm,
# a DCGAN-28 step made 999 and an MLP step 381.
LAUNCHES = {"dcgan": 375, "mlp": 285}


def test_kernel_launches_per_step_are_pinned():
    """Counted by the strict stand-in, the same at every batch size. A change that adds launches fails here:
    if it is worth it, update LAUNCHES and the table in docs/performance.md (python benchmarks/launches.py)."""
    counts = json.loads(_python(COUNT_LAUNCHES, force_stand_in=True))
    assert counts == {f"{name} {batch}": n for name, n in LAUNCHES.items() for batch in (64, 100)}, counts
    assert LAUNCHES["dcgan"] <= 999 // 2                  # at most half of the step's launches before the tricks


def test_the_stand_in_counts_launches_as_cupy_would_launch_them():
    out = _python("""
import numpy as np, cupy
a = cupy.asarray(np.arange(12.0).reshape(3, 4))
cupy.reset_counters()
b = a.T.reshape(12)          # a copy: 1
c = a.reshape(4, 3)          # a view: 0
d = a * 2 + 1                # 2
e = a[:, 1:]                 # a view: 0
f = cupy.empty((3, 4))       # 0
g = a.sum(axis=0)            # 1
h = a[cupy.asarray(np.array([0, 2]))]   # a gather: 1 (and one copy of the host index)
assert cupy.kernel_launches() == 5, cupy.kernel_launches()

@cupy.fuse()
def axpy(x, y, out):
    cupy.multiply(x, 2.0, out=out)
    out += y
cupy.reset_counters()
out = cupy.empty((3, 4))
axpy(a, a, out)
assert cupy.kernel_launches() == 1 and np.array_equal(out.get(), 3 * a.get())
def refused(f):
    try:
        f()
    except TypeError:
        return
    raise AssertionError("not refused")
refused(lambda: cupy.fuse(lambda x: x.sum())(a))          # no reductions in a fused function here
refused(lambda: cupy.fuse(lambda x: float(x[0, 0]))(a))   # nor reading a value back
print('ok')
""", force_stand_in=True)
    assert out.strip() == "ok"
