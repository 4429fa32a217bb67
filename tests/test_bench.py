"""The speed tools: ``minigan bench``, ``benchmarks/bench.py`` and the layout/caching choices they measure.

No timing is asserted here (speed lives in the benchmark, docs/performance.md); these tests check that
the tools run, time what they say they time, and that the fast paths give the same numbers as the plain ones.
"""
import importlib.util
import os

import numpy as np
import pytest

import minigan
import minigan.functional as F
from minigan import bench

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _load_benchmark_script():
    spec = importlib.util.spec_from_file_location("bench_script", os.path.join(ROOT, "benchmarks", "bench.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.parametrize("model", ["dcgan", "mlp"])
def test_minigan_bench_runs_and_profiles(model, capsys):
    assert bench.main(["--model", model, "--batch-size", "2", "--steps", "1", "--warmup", "0", "--profile"]) == 0
    out = capsys.readouterr().out
    assert f"{model:6s} batch     2 on {minigan.backend.default_device()}:" in out and "ms/step" in out
    assert "peak RSS" in out
    assert "total inside ops and sections" in out
    if model == "dcgan":
        assert "GEMM" in out and "im2col" in out and "col2im" in out and "Adam step" in out


@pytest.mark.parametrize("args, message", [
    (["--batch-size", "0"], "--batch-size: must be at least 1, got 0"),
    (["--steps", "0"], "--steps: must be at least 1, got 0"),
    (["--warmup", "-1"], "--warmup: must be at least 0, got -1"),
])
def test_bench_options_are_checked(args, message, capsys):
    for main in (bench.main, _load_benchmark_script().main):
        with pytest.raises(SystemExit) as exit_:
            main(args)
        assert exit_.value.code == 2 and message in capsys.readouterr().err


def test_bench_without_cupy_is_one_line_of_error(capsys):
    if minigan.backend.cuda_available():
        pytest.skip("CuPy is usable here")
    for main in (bench.main, _load_benchmark_script().main):
        with pytest.raises(SystemExit) as exit_:
            main(["--device", "cuda"])
        err = capsys.readouterr().err
        assert exit_.value.code == 2 and "device 'cuda' needs CuPy" in err and "Traceback" not in err


def test_steps_train_both_players():
    step = bench.STEPS["dcgan"](4)
    loss_d, loss_g = step()
    assert np.isfinite(float(loss_d.data)) and np.isfinite(float(loss_g.data))


def test_interleaved_times_n_steps_of_each_in_alternating_blocks():
    script = _load_benchmark_script()
    calls = []
    mg = lambda: calls.append("mg")  # noqa: E731
    pt = lambda: calls.append("pt")  # noqa: E731
    (tm, cm), (tp, cp) = script.interleaved(mg, lambda: None, pt, lambda: None, n=7, warmup=2, block=3, pause=0)
    # warm-up of each, then blocks of (1 untimed + up to 3 timed) steps, alternating, until 7 timed of each
    assert calls == ["mg"] * 2 + ["pt"] * 2 + (["mg"] * 4 + ["pt"] * 4) * 2 + ["mg"] * 2 + ["pt"] * 2
    assert min(tm, cm, tp, cp) >= 0


def test_benchmark_script_against_pytorch(capsys):
    torch = pytest.importorskip("torch")
    script = _load_benchmark_script()
    # PyTorch times the same device as minigan; a CPU-only PyTorch (as under the CuPy stand-in) keeps both on the CPU
    dev = minigan.backend.default_device() if torch.cuda.is_available() else "cpu"
    assert script.main(["--model", "both", "--batch-size", "2", "--steps", "2", "--warmup", "1", "--device", dev]) == 0
    out = capsys.readouterr().out
    lines = [ln.split() for ln in out.splitlines() if ln.startswith(("dcgan", "mlp"))]
    assert [ln[0] for ln in lines] == ["dcgan", "mlp"]
    for ln in lines:
        mg_ms, pt_ms, ratio = map(float, ln[2:5])
        assert mg_ms > 0 and pt_ms > 0 and ratio == pytest.approx(mg_ms / pt_ms, rel=0.02)


def test_reshape_gradient_keeps_the_input_layout():
    """The first-order gradient of a reshape is laid out as its input (a conv's batch-last output here)."""
    rng = np.random.default_rng(0)
    base = rng.standard_normal((3, 2, 2, 5))                              # physically (C, H, W, N)
    x = minigan.Tensor(base.transpose(3, 0, 1, 2), requires_grad=True)    # (N, C, H, W) view
    gy = rng.standard_normal((5, 12))
    (x.reshape(5, 12) * minigan.Tensor(gy)).sum().backward()
    assert x.grad.data.strides == x.data.strides
    np.testing.assert_array_equal(x.grad.data, gy.reshape(5, 3, 2, 2))


def test_conv2d_reuses_its_columns_once_and_frees_them():
    rng = np.random.default_rng(1)
    x = minigan.Tensor(rng.standard_normal((2, 3, 6, 6)), requires_grad=True)
    w = minigan.Tensor(rng.standard_normal((4, 3, 3, 3)), requires_grad=True)
    y = F.conv2d(x, w, stride=2, padding=1)
    f = y.creator
    assert f.cols is not None                                   # kept by the forward for the weight gradient
    gy = rng.standard_normal(y.shape)
    (y * minigan.Tensor(gy)).sum().backward()
    assert f.cols is None                                       # used once, then dropped
    g1 = w.grad.data.copy()
    w.grad = None
    (y * minigan.Tensor(gy)).sum().backward()                   # a second backward recomputes them: same result
    np.testing.assert_allclose(w.grad.data, g1, rtol=1e-12)
    with minigan.no_grad():
        assert F.conv2d(x, w).creator is None                   # nothing recorded, nothing kept


def test_torch_quality_reference_trains_the_twin():
    """benchmarks/torch_dcgan_quality.py: PyTorch's DCGAN-28 has minigan's parameter shapes and trains."""
    torch = pytest.importorskip("torch")
    spec = importlib.util.spec_from_file_location(
        "torch_quality", os.path.join(ROOT, "benchmarks", "torch_dcgan_quality.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    from bench import torch_dcgan
    from minigan.gan import models
    for theirs, ours in zip(torch_dcgan(), (models.DCGAN28Generator(), models.DCGAN28Discriminator())):
        assert [tuple(p.shape) for p in theirs.parameters()] == [p.shape for p in ours.parameters()]
    x = np.random.default_rng(0).uniform(-1, 1, (130, 1, 28, 28)).astype(np.float32)
    G = mod.train(x, epochs=1, batch=64, seed=0, device="cpu", progress=False)    # PyTorch's model: on the CPU,
    # where this test's PyTorch runs (the stand-in pass has no CUDA PyTorch)
    assert not G.training
    with torch.no_grad():
        out = G(torch.randn(3, 100))
    assert out.shape == (3, 1, 28, 28) and float(out.abs().max()) <= 1
