"""The speed tools: ``minigan bench``, ``benchmarks/bench.py`` and the layout/caching choices they measure.

No timing is asserted here (speed lives in the benchmark, docs/performance.md); these tests check that
the tools run, time what they say they time, and that the fast paths give the same numbers as the plain ones.
"""
import importlib.util
import os

import numpy as np
import pytest

import minigan
from minigan.cli import bench

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
    assert "total inside ops and optimizer steps" in out and "Optimizer step" in out
    if model == "dcgan":
        assert "Conv2d forward" in out and "ConvTranspose2d backward" in out and "BatchNormTrain backward" in out
    assert not hasattr(minigan.ops.Add.forward, "__wrapped__")      # the profile's timers are gone afterwards


@pytest.mark.parametrize("args, message", [
    (["--batch-size", "0"], "--batch-size: must be at least 1, got 0"),
    (["--steps", "0"], "--steps: must be at least 1, got 0"),
    (["--warmup", "-1"], "--warmup: must be at least 0, got -1"),
    (["--threads", "0"], "--threads: must be a whole number >= 1, got '0'"),
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


@pytest.mark.parametrize("model", ["dcgan", "mlp"])
def test_bench_times_the_trainers_own_step_and_it_trains_both_players(model):
    from minigan.gan.train import Trainer
    step = bench.STEPS[model](4)
    trainer = step.__self__
    assert step.__func__ is Trainer.train_step
    before = [[p.numpy().copy() for p in net.parameters()] for net in (trainer.G, trainer.D)]
    step()
    for old, net in zip(before, (trainer.G, trainer.D)):
        changed = [not np.array_equal(a, p.numpy()) for a, p in zip(old, net.parameters())]
        assert sum(changed) >= len(changed) - 3          # all but the biases that feed batch norm move


def test_interleaved_times_n_steps_of_each_in_alternating_blocks():
    script = _load_benchmark_script()
    calls = []
    runners = {k: script.local(lambda k=k: calls.append(k), lambda: None) for k in ("mg", "pt")}
    med = script.interleaved(runners, n=7, warmup=2, block=3, pause=0)
    # warm-up of each, then blocks of (1 untimed + up to 3 timed) steps, alternating, until 7 timed of each
    assert calls == ["mg"] * 2 + ["pt"] * 2 + (["mg"] * 4 + ["pt"] * 4) * 2 + ["mg"] * 2 + ["pt"] * 2
    assert sorted(med) == ["mg", "pt"] and min(min(v) for v in med.values()) >= 0


def test_pytorch_in_a_process_of_its_own_answers_block_by_block():
    pytest.importorskip("torch")
    script = _load_benchmark_script()
    own = script.OwnProcess("mlp", 2, "cpu", 1)
    try:
        walls, cpus = own(3)
        assert len(walls) == len(cpus) == 3 and min(walls) > 0
        assert len(own(1)[0]) == 1
    finally:
        own.close()
    assert own.child.returncode == 0


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
        mg_ms, pt_ms, ratio, pt_same_ms, ratio_same = map(float, ln[2:7])
        assert mg_ms > 0 and pt_ms > 0 and ratio == pytest.approx(mg_ms / pt_ms, rel=0.02)
        assert pt_same_ms > 0 and ratio_same == pytest.approx(mg_ms / pt_same_ms, rel=0.02)


def test_torch_quality_reference_trains_the_twin():
    """benchmarks/torch_dcgan_quality.py: PyTorch's DCGAN-28 has minigan's parameter shapes and trains."""
    torch = pytest.importorskip("torch")
    spec = importlib.util.spec_from_file_location(
        "torch_quality", os.path.join(ROOT, "benchmarks", "torch_dcgan_quality.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    from minigan.gan import models

    from bench import torch_dcgan
    for theirs, ours in zip(torch_dcgan(), (models.DCGAN28Generator(), models.DCGAN28Discriminator())):
        assert [tuple(p.shape) for p in theirs.parameters()] == [p.shape for p in ours.parameters()]
    x = np.random.default_rng(0).uniform(-1, 1, (130, 1, 28, 28)).astype(np.float32)
    G = mod.train(x, epochs=1, batch=64, seed=0, device="cpu", progress=False)    # PyTorch's model: on the CPU,
    # where this test's PyTorch runs (the stand-in pass has no CUDA PyTorch)
    assert not G.training
    with torch.no_grad():
        out = G(torch.randn(3, 100))
    assert out.shape == (3, 1, 28, 28) and float(out.abs().max()) <= 1


def test_threads_option_sets_minigans_threads_and_says_why(capsys):
    """--threads N runs minigan's loops and products on N threads; its help says why one job beside another
    should take --threads 1. The trainer keeps the count it is given (train's --threads, a config key)."""
    from minigan import tricks
    from minigan.cli import _parser
    from minigan.gan.config import make_config
    saved = tricks.get_num_threads()
    try:
        assert bench.main(["--model", "mlp", "--batch-size", "2", "--steps", "1", "--warmup", "0",
                           "--threads", "2"]) == 0
        assert tricks.get_num_threads() == 2
        assert make_config(data="ring", threads=1)["threads"] == 1
        with pytest.raises(ValueError, match="--threads must be >= 1"):
            make_config(data="ring", threads=0)
        for command in ("train", "bench"):
            with pytest.raises(SystemExit):
                _parser().parse_args([command, "--help"])
            text = " ".join(capsys.readouterr().out.split())
            assert "--threads N" in text and "spin against each other" in text and "--threads 1" in text
    finally:
        tricks.set_num_threads(saved)
