"""Careless and hostile input, table-driven: every case ends in a clear error and changes nothing on disk.

A CLI case runs ``minigan.cli.main`` in-process in one shared workspace (tiny runs made once per module)
and asserts: the exit code, that no traceback is printed, that the error is one line on stderr holding the
expected words, and that no file of the workspace was created, changed or removed (by size, mtime and
inode: ``os.replace`` changes the inode). Library cases assert the exception, its words and that the
object refusing the input is unchanged. Hypothesis draws masks, option values and corrupt checkpoint bytes.
A few real subprocesses check SIGTERM / SIGINT.
"""
import contextlib
import io
import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import time
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import minigan
from minigan import data, nn, optim
from minigan import inpaint as I
from minigan.cli import main

from conftest import make_set

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# ------------------------------------------------------------------------------------------------ workspace
@pytest.fixture(scope="module")
def ws(tmp_path_factory):
    """A workspace with tiny runs (ring, images, conditional images) and data folders; no network, no
    system data set: HOME, $MINIGAN_DATA and /usr/share/datasets are kept out."""
    root = tmp_path_factory.mktemp("bad_input")
    mp = pytest.MonkeyPatch()
    mp.setenv("HOME", str(root / "home"))
    mp.delenv("MINIGAN_DATA", raising=False)
    mp.setattr(data.images, "SYSTEM_DIR", root / "system")
    mp.setattr(data.images, "MIRRORS", {k: [] for k in data.MIRRORS})          # never download
    mp.chdir(root)
    make_set(root / "fm", n_train=200, n_test=30)
    partial = root / "partial"
    make_set(partial, n_train=20, n_test=5)
    (partial / "t10k-labels-idx1-ubyte.gz").unlink()
    (root / "empty").mkdir()
    (root / "afile").write_text("not a folder")
    quiet = ["--quiet"]
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        assert main(["train", "--data", "ring", "--steps", "2", "--out", "ring"] + quiet) == 0
        assert main(["train", "--data", "gaussian1d", "--steps", "2", "--out", "g1d"] + quiet) == 0
        assert main(["train", "--data", "ring", "--steps", "2", "--seed", "1", "--out", "ring-seed1"] + quiet) == 0
        img = ["train", "--data", "fashion-mnist", "--data-dir", "fm", "--steps", "2", "--batch-size", "16"]
        assert main(img + ["--out", "img"] + quiet) == 0
        assert main(img + ["--out", "cond", "--conditional"] + quiet) == 0
    x = data.load_images("fashion-mnist", "test", str(root / "fm"), scale="sigmoid")[0][:2]
    np.save(root / "x.npy", x)
    yield root
    mp.undo()


def snapshot(root):
    """{path: (size, mtime_ns, inode)} of every file and folder under root."""
    out = {}
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            p = os.path.join(folder, name)
            s = os.lstat(p)
            out[os.path.relpath(p, root)] = (s.st_size if name in files else 0, s.st_mtime_ns, s.st_ino)
    return out


def run_files(root):
    """{path: bytes} of every config.json and metrics.csv under root: a refused command changes none of them
    (compared byte for byte, beside ``snapshot``'s sizes, times and inodes)."""
    return {os.path.relpath(os.path.join(d, f), root): open(os.path.join(d, f), "rb").read()
            for d, _, names in os.walk(root) for f in names
            if f in ("config.json", "metrics.csv") and stat.S_ISREG(os.lstat(os.path.join(d, f)).st_mode)}


class Hung(BaseException):                          # not an Exception: main() must not catch it
    """A command took longer than a minute: it blocked (a named pipe opened for reading, ...)."""


def _hung(signum, frame):
    raise Hung("the command blocked for 60 s")


def run_main(argv):
    """(exit code, stdout, stderr) of minigan.cli.main(argv) in-process; warnings count as stderr lines, as
    they would be printed there. A command that blocks fails the test after 60 s instead of hanging it."""
    out, err = io.StringIO(), io.StringIO()
    old = signal.signal(signal.SIGALRM, _hung)
    signal.alarm(60)
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        try:
            rc = main(argv)
        except SystemExit as e:                       # argparse
            rc = e.code
        finally:
            signal.alarm(0)
            signal.signal(signal.SIGALRM, old)
    hidden = (ResourceWarning, DeprecationWarning, PendingDeprecationWarning, ImportWarning)   # not shown by default
    shown = [x for x in w if not issubclass(x.category, hidden)]
    return rc, out.getvalue(), err.getvalue() + "".join(f"{x.category.__name__}: {x.message}\n" for x in shown)


# ------------------------------------------------------------------------------------------------ set-ups
# A set-up makes the case's input files in its own folder ``c/<id>`` before the snapshot is taken.
def copy_run(name):
    def make(folder):
        shutil.copytree(name, folder / "run")
    return make


def damaged(name, how):
    """A copy of run ``name`` whose checkpoint.npz is damaged ``how``."""
    def make(folder):
        shutil.copytree(name, folder / "run")
        path = folder / "run" / "checkpoint.npz"
        raw = bytearray(path.read_bytes())
        if how == "truncated":
            raw = raw[:len(raw) // 2]
        elif how == "empty":
            raw = bytearray()
        elif how == "zeros":
            raw = bytearray(len(raw))
        elif how == "text":
            raw = bytearray(b"hello, this is not a checkpoint\n")
        elif how == "npy":                                       # a .npy renamed checkpoint.npz
            buf = io.BytesIO()
            np.save(buf, np.zeros(3))
            raw = bytearray(buf.getvalue())
        elif how == "method":                                    # zip damage: unknown compression method
            i = raw.find(b"PK\x01\x02")
            raw[i + 10] = 99
        elif how == "crc":                                       # one flipped bit in an array
            i = raw.find(b"PK\x03\x04", 100)
            raw[i - 20] ^= 0x10
        elif how == "eocd":                                      # the zip directory cut off
            raw = raw[:raw.rfind(b"PK\x05\x06")]
        elif how == "pickle":                                    # an object array (pickle) inside
            st_ = {"G": {"x": np.array([object()], dtype=object)}}
            buf = io.BytesIO()
            np.savez(buf, **{"G/x": st_["G"]["x"]})
            raw = bytearray(buf.getvalue())
        else:                                                    # a checkpoint missing keys
            st_ = minigan.load(path)
            for key in how.split("+"):
                st_.pop(key)
            minigan.save(st_, path)
            return
        path.write_bytes(bytes(raw))
    return make


def edited_checkpoint(name, edits):
    """A copy of run ``name`` whose checkpoint has ``edits``: {"step": -3, "G/net.0.weight": "nan", ...}, where
    "nan" / "inf" fill the array at that path."""
    def make(folder):
        shutil.copytree(name, folder / "run")
        path = folder / "run" / "checkpoint.npz"
        st_ = minigan.load(path)
        for where, value in edits.items():
            *parents, key = where.split("/")
            node = st_
            for part in parents:
                node = node[part]
            filled = isinstance(value, str) and value in ("nan", "inf", "-inf")
            node[key] = np.full_like(node[key], float(value)) if filled else value
        minigan.save(st_, path)
    return make


def checkpoint_of(other):
    """A copy of the ring run whose checkpoint.npz is run ``other``'s (another seed, another data set)."""
    def make(folder):
        shutil.copytree("ring", folder / "run")
        shutil.copy(os.path.join(other, "checkpoint.npz"), folder / "run" / "checkpoint.npz")
    return make


def edited_config(name="ring", **kw):
    """A copy of run ``name`` whose config.json has ``kw`` (as a careless edit would)."""
    def make(folder):
        shutil.copytree(name, folder / "run")
        _edit_json(folder / "run" / "config.json", **kw)
    return make


def edited_metrics(how):
    """A copy of the ring run whose metrics.csv is damaged ``how``; its checkpoint is at step 2, and rows for
    steps 3 to 20 follow (as a run killed after its checkpoint leaves them)."""
    def make(folder):
        shutil.copytree("ring", folder / "run")
        path = folder / "run" / "metrics.csv"
        lines = path.read_text().splitlines()
        lines += [f"{i},0,1.38,0.69,0.5,0.5,0.1,0.1,0.01" for i in range(3, 21)]
        if how == "row":
            lines[7] = "garbage,x"
        elif how == "header":
            lines[0] = "a,b,c"
        elif how == "text-step":
            lines[2] = "two," + lines[2].split(",", 1)[1]
        elif how == "short":
            lines[5] = ",".join(lines[5].split(",")[:5])
        raw = ("\r\n".join(lines) + "\r\n").encode()
        if how == "binary":
            raw = raw[:100] + b"\xff\xfe" + raw[100:]
        path.write_bytes(raw)
    return make


def fifo(name, run="ring"):
    """A copy of run ``run`` whose file ``name`` is a named pipe (nothing ever writes to it)."""
    def make(folder):
        shutil.copytree(run, folder / "run")
        os.remove(folder / "run" / name)
        os.mkfifo(folder / "run" / name)
    return make


def crafted_checkpoint(how):
    """A copy of the ring run whose checkpoint.npz is a crafted zip: metadata that is not what it should be,
    or an array header that claims far more than the file holds."""
    import zipfile

    def make(folder):
        shutil.copytree("ring", folder / "run")
        path = folder / "run" / "checkpoint.npz"
        entries = {"G/x": np.ones(2), "step": np.asarray(2)}
        if how == "meta-list":
            entries["__minigan__"] = np.asarray("[1, 2]")
        elif how == "meta-format":
            entries["__minigan__"] = np.asarray('{"format": "two"}')
        elif how == "meta-python-array":
            entries["__minigan__"] = np.asarray('{"python": ["G/x"]}')
        elif how == "meta-json-text":
            entries["__minigan__"], entries["note"] = np.asarray('{"json": ["note"]}'), np.asarray("{not json")
        with zipfile.ZipFile(path, "w") as zf:
            for n, a in entries.items():
                with zf.open(n + ".npy", "w") as e:
                    np.lib.format.write_array(e, a)
            if how == "huge-header":                              # a header claiming 24 TB, 24 bytes of data
                buf = io.BytesIO()
                np.lib.format.write_array_header_1_0(buf, {"descr": "<f8", "fortran_order": False,
                                                           "shape": (3 * 10 ** 12,)})
                zf.writestr("D/y.npy", buf.getvalue() + np.zeros(3).tobytes())
    return make


def random_bytes(folder):
    shutil.copytree("ring", folder / "run")
    (folder / "run" / "checkpoint.npz").write_bytes(np.random.default_rng(0).bytes(3000))


def wrong_model(folder):
    """A ring run whose checkpoint holds a model of another size."""
    shutil.copytree("ring", folder / "run")
    st_ = minigan.load(folder / "run" / "checkpoint.npz")
    w = st_["G"]["net.0.weight"]
    st_["G"]["net.0.weight"] = np.zeros((w.shape[0] + 1,) + w.shape[1:], w.dtype)
    minigan.save(st_, folder / "run" / "checkpoint.npz")


def bad_config(text):
    def make(folder):
        shutil.copytree("ring", folder / "run")
        (folder / "run" / "config.json").write_text(text)
    return make


def no_file(name):
    def make(folder):
        shutil.copytree("ring", folder / "run")
        os.remove(folder / "run" / name)
    return make


def save_npy(name, array):
    def make(folder):
        np.save(folder / name, array)
    return make


def save_png(name, grey):
    def make(folder):
        from PIL import Image
        Image.fromarray(np.asarray(grey, np.uint8)).save(folder / name)
    return make


def write_text(name, text):
    def make(folder):
        (folder / name).write_text(text)
    return make


def data_folder(keep):
    """A data folder with only the files ``keep`` (indices into the four) of the tiny set."""
    def make(folder):
        names = sorted(os.listdir("fm"))
        (folder / "d").mkdir()
        for i in keep:
            shutil.copy(os.path.join("fm", names[i]), folder / "d" / names[i])
    return make


def corrupt_idx(folder):
    shutil.copytree("fm", folder / "d")
    p = next(p for p in (folder / "d").iterdir() if p.name.startswith("train-images"))
    p.write_bytes(p.read_bytes()[:50])


def images_npy(array):
    return save_npy("x.npy", array)


# ------------------------------------------------------------------------------------------------ the table
# (id, argv, exit code, words of the message, set-up or None, environment or None); "{c}" is the case folder.
T = ["train", "--quiet", "--out", "{c}/new"]                       # a fresh training run into the case folder
TI = ["train", "--quiet", "--data", "fashion-mnist", "--data-dir", "fm", "--out", "{c}/new"]
R = ["train", "--quiet", "--resume", "--out", "{c}/run"]             # resume a copy of the ring run
S = ["sample", "--run", "ring", "--out", "{c}/s.npy"]
SI = ["sample", "--run", "img", "--out", "{c}/s.npy"]
SC = ["sample", "--run", "cond", "--out", "{c}/s.npy"]
E = ["evaluate", "--run", "ring"]
P = ["inpaint", "--run", "img", "--data", "fashion-mnist", "--data-dir", "fm", "--n", "2", "--iters", "1",
     "--restarts", "1", "--encoder-steps", "0", "--quiet", "--out", "{c}/f.npy"]
PI = ["inpaint", "--run", "img", "--images", "{c}/x.npy", "--iters", "1", "--restarts", "1", "--encoder-steps", "0",
      "--quiet", "--out", "{c}/f.npy"]
PM = P + ["--mask", "{c}/m.npy"]
NAN, INF = "nan", "inf"

CASES = []


def case(cid, argv, rc, words, setup=None, env=None, marks=()):
    CASES.append(pytest.param(argv, rc, words, setup, env, id=cid, marks=marks))


def _has_cupy():
    try:
        import cupy  # noqa: F401
        return True
    except Exception:                                   # noqa: BLE001  (ImportError, or a broken CUDA install)
        return False


NO_CUPY = pytest.mark.skipif(_has_cupy(), reason="CuPy is usable here")


# --- train: real options, non-finite and out of range, refused before anything is made
for v in (NAN, INF, "-inf", "0", "-1", "-1e-3", "1e400"):
    case(f"train-lr-{v}", T + [f"--lr={v}"], 2, ["--lr", "nan" if v == NAN else ""])
for v in ("x", "0.1.2", ""):
    case(f"train-lr-text-{v or 'empty'}", T + ["--lr", v], 2, ["--lr", "invalid float value"])
for v in (NAN, INF, "-0.1", "1", "1.5"):
    case(f"train-beta1-{v}", T + [f"--beta1={v}"], 2, ["--beta1"])
for opt in ("--steps", "--epochs", "--batch-size", "--k", "--z-dim", "--pack", "--sample-every"):
    for v in ("0", "-5"):
        case(f"train{opt}-{v}", T + [f"{opt}={v}"], 2, [opt, ">= 1", v])
    case(f"train{opt}-text", T + [opt, "x"], 2, [opt, "invalid int value", "'x'"])
    case(f"train{opt}-float", T + [opt, "1.5"], 2, [opt, "invalid int value", "'1.5'"])
case("train-seed-text", T + ["--seed", "x"], 2, ["--seed", "invalid int value"])
case("train-seed-negative", T + ["--seed=-1"], 2, ["--seed must be >= 0", "-1"])
case("sample-seed-negative", S + ["--seed=-3"], 2, ["--seed must be >= 0", "-3"])
case("inpaint-seed-negative", P + ["--seed=-1"], 2, ["--seed must be >= 0", "-1"])
case("inpaint-prior-weight-negative", P + ["--prior-weight=-0.5"], 2, ["--prior-weight must be in [0, inf)", "-0.5"])
# The host-memory check is for CPU runs (a GPU's memory is not the host's): these two pin --device cpu.
case("train-batch-size-beyond-memory", T + ["--batch-size", "4000000000000", "--device", "cpu"], 2,
     ["--batch-size 4000000000000", "GiB of memory"])
case("train-z-dim-beyond-memory", TI + ["--z-dim", "100000000000", "--device", "cpu"], 2,
     ["--z-dim 100000000000", "GiB of memory"])
case("train-pack-not-divisor", T + ["--pack", "3"], 2, ["--batch-size 1024", "multiple of --pack 3"])
case("train-batch-not-multiple", T + ["--batch-size", "30"], 2, ["--batch-size 30", "multiple of --pack 4"])
case("train-data-unknown", T + ["--data", "cifar"], 2, ["--data", "invalid choice", "cifar"])
case("train-model-unknown", T + ["--model", "gan"], 2, ["--model", "invalid choice", "gan"])
case("train-loss-unknown", T + ["--loss", "hinge"], 2, ["--loss", "invalid choice", "hinge"])
case("train-optimizer-unknown", T + ["--optimizer", "lbfgs"], 2, ["--optimizer", "invalid choice"])
case("train-device-unknown", T + ["--device", "tpu"], 2, ["--device", "expected", "tpu"])
case("train-model-dcgan-on-ring", T + ["--model", "dcgan"], 2, ["--model dcgan needs images", "ring"])
case("train-model-mlp-on-grid", T + ["--data", "grid", "--model", "mlp"], 2, ["--model mlp needs images"])
case("train-model-toy-on-images", TI + ["--model", "toy"], 2, ["--model toy", "fashion-mnist"])
case("train-conditional-on-ring", T + ["--conditional"], 2, ["--conditional", "ring"])
# An option the run does not use is refused by name (the table's ``when``), not silently ignored.
for cid, argv, words in (
        ("pack-on-images", TI + ["--pack", "2"], ["--pack is used only with --model toy", "--model dcgan"]),
        ("momentum-with-adam", T + ["--momentum", "0.5"], ["--momentum", "--optimizer sgd", "--optimizer adam"]),
        ("beta1-with-sgd", T + ["--optimizer", "sgd", "--beta1", "0.5"], ["--beta1", "--optimizer adam", "sgd"]),
        ("clip-with-cross-entropy", T + ["--clip", "0.02"], ["--clip", "--loss wasserstein", "nonsaturating"]),
        ("gp-lambda-with-wgan", T + ["--loss", "wasserstein", "--gp-lambda", "5"], ["--gp-lambda", "wasserstein-gp"]),
        ("smooth-with-wgan", T + ["--loss", "wasserstein", "--smooth", "0.9"], ["--smooth", "--loss minimax"]),
        ("max-norm-on-dcgan", TI + ["--max-norm", "2"], ["--max-norm is used only with --model mlp"]),
        ("hidden-on-images", TI + ["--hidden", "64"], ["--hidden", "--model toy"]),
        ("ngf-on-dcgan", TI + ["--ngf", "16"], ["--ngf", "--model dcgan32"]),
        ("data-dir-on-ring", T + ["--data-dir", "fm"], ["--data-dir", "--data mnist or fashion-mnist", "ring"]),
        ("reuse-fake-simultaneous", T + ["--update", "simultaneous", "--reuse-fake"], ["--reuse-fake", "alternating"])):
    case(f"train-unused-{cid}", argv + ["--steps", "2"], 2, words + ["leave", "out"])
case("train-steps-and-epochs", T + ["--steps", "2", "--epochs", "1"], 2, ["--epochs", "not allowed with"])
case("train-unknown-option", T + ["--lerning-rate", "1"], 2, ["unrecognized arguments", "--lerning-rate"])
case("train-no-command-value", ["train", "--out"], 2, ["--out", "expected one argument"])
case("train-unknown-command", ["trian"], 2, ["invalid choice", "trian"])
case("train-resume-and-force", R + ["--force", "--steps", "4"], 2, ["--resume and --force"], copy_run("ring"))
# --- train: where the run goes
case("train-into-existing-run", ["train", "--quiet", "--steps", "2", "--out", "ring"], 2,
     ["--out ring already holds a run", "--resume", "--force"])
case("train-into-existing-image-run", TI[:-1] + ["img", "--steps", "2"], 2, ["--out img already holds a run"])
case("train-into-copy-of-run", T[:-1] + ["{c}/run", "--steps", "2"], 2, ["already holds a run"], copy_run("ring"))
case("train-into-half-run", T[:-1] + ["{c}/run", "--steps", "2"], 2, ["already holds a run"],
     no_file("checkpoint.npz"))
case("train-out-is-file", T[:-1] + ["afile", "--steps", "2"], 2, ["--out afile", "is a file"])
case("train-out-under-file", T[:-1] + ["afile/run", "--steps", "2"], 2, ["--out afile/run", "afile is a file"])
case("train-out-under-file-deep", T[:-1] + ["afile/a/b", "--steps", "2"], 2, ["afile is a file"])
case("train-out-in-proc", T[:-1] + ["/proc/minigan-run", "--steps", "2"], 2, ["/proc/minigan-run"])
case("train-out-config-json", T[:-1] + ["ring/config.json", "--steps", "2"], 2, ["ring/config.json", "is a file"])
# --- train: data folders
case("train-data-dir-empty", TI[:5] + ["empty", "--steps", "2", "--out", "{c}/new"], 2,
     ["--data-dir empty", "incomplete", "train-images-idx3-ubyte", "t10k-labels-idx1-ubyte"])
case("train-data-dir-missing", TI[:5] + ["nowhere", "--steps", "2", "--out", "{c}/new"], 2,
     ["--data-dir nowhere", "no such folder"])
case("train-data-dir-partial", TI[:5] + ["partial", "--steps", "2", "--out", "{c}/new"], 2,
     ["--data-dir partial", "lacks t10k-labels-idx1-ubyte"])
case("train-data-dir-is-file", TI[:5] + ["afile", "--steps", "2", "--out", "{c}/new"], 2, ["--data-dir afile"])
for keep in ((0,), (0, 1), (1, 2, 3), (0, 2, 3)):
    case(f"train-data-dir-keep-{''.join(map(str, keep))}", TI[:5] + ["{c}/d", "--steps", "2", "--out", "{c}/new"],
         2, ["--data-dir", "incomplete", "lacks"], data_folder(keep))
case("train-data-dir-corrupt-idx", TI[:5] + ["{c}/d", "--steps", "2", "--out", "{c}/new"], 2,
     ["train-images-idx3-ubyte"], corrupt_idx)
case("train-env-empty", ["train", "--quiet", "--data", "fashion-mnist", "--steps", "2", "--out", "{c}/new"], 2,
     ["$MINIGAN_DATA", "incomplete", "lacks"], None, {"MINIGAN_DATA": "empty"})
case("train-env-missing", ["train", "--quiet", "--data", "mnist", "--steps", "2", "--out", "{c}/new"], 2,
     ["$MINIGAN_DATA", "misspelt", "no such folder"], None, {"MINIGAN_DATA": "misspelt"})
case("train-env-partial", ["train", "--quiet", "--data", "fashion-mnist", "--steps", "2", "--out", "{c}/new"], 2,
     ["$MINIGAN_DATA partial", "lacks t10k-labels"], None, {"MINIGAN_DATA": "partial"})
case("train-no-data-anywhere", ["train", "--quiet", "--data", "mnist", "--steps", "2", "--out", "{c}/new"], 2,
     ["mnist", "not found"])
for bs in ("500", "161", "1000"):
    case(f"train-batch-larger-than-data-{bs}", TI + ["--steps", "2", "--batch-size", bs], 2,
         [f"--batch-size {bs} is larger than the 160 training images"])
# --- train --resume: what may and may not change
case("resume-no-run-dir", R[:-1] + ["{c}/nothing", "--steps", "4"], 2, ["--resume", "no run directory"])
case("resume-without-out", ["train", "--resume", "--steps", "4"], 2, ["--resume", "runs/ring"])
case("resume-empty-dir", R[:-1] + ["empty", "--steps", "4"], 2, ["--resume", "empty/config.json not found"])
case("resume-no-checkpoint", R + ["--steps", "4"], 2, ["--resume", "no checkpoint"], no_file("checkpoint.npz"))
for key, value, words in (("--data", "grid", ["--data", "'ring'", "'grid'"]),
                          ("--model", "dcgan", ["--model"]), ("--loss", "minimax", ["--loss", "'nonsaturating'"]),
                          ("--batch-size", "32", ["--batch-size", "1024", "32"]), ("--k", "2", ["--k"]),
                          ("--z-dim", "3", ["--z-dim"]), ("--pack", "2", ["--pack"]),
                          ("--optimizer", "sgd", ["--optimizer"]), ("--beta1", "0.9", ["--beta1"]),
                          ("--seed", "5", ["--seed"])):
    argv = R + ["--steps", "4", key] + ([value] if value else [])
    case(f"resume-change{key}", argv, 2, ["--resume cannot change"] + words + ["--lr"], copy_run("ring"))
case("resume-change--conditional", R + ["--steps", "4", "--conditional"], 2,
     ["--resume cannot change", "--conditional"], copy_run("img"))
case("resume-change-data-dir", ["train", "--quiet", "--resume", "--out", "{c}/run", "--steps", "4",
                                "--data-dir", "partial"], 2, ["--data-dir partial", "lacks"], copy_run("img"))
for steps in ("1", "2"):
    case(f"resume-steps-not-beyond-{steps}", R + ["--steps", steps], 2, ["already at step 2", "--steps greater than 2"],
         copy_run("ring"))
for v in (NAN, "-1", "0", INF):
    case(f"resume-lr-{v}", R + ["--steps", "4", f"--lr={v}"], 2, ["--lr"], copy_run("ring"))
case("resume-steps-0", R + ["--steps", "0"], 2, ["--steps must be >= 1"], copy_run("ring"))
case("resume-epochs-negative", R + ["--epochs", "-2"], 2, ["--epochs must be >= 1"], copy_run("ring"))
case("resume-sample-every-0", R + ["--steps", "4", "--sample-every", "0"], 2, ["--sample-every"], copy_run("ring"))
for how in ("truncated", "empty", "zeros", "text", "npy", "method", "crc", "eocd", "pickle"):
    case(f"resume-checkpoint-{how}", R + ["--steps", "4"], 2,
         ["checkpoint.npz"] + (["cut short or damaged"] if how in ("truncated", "eocd") else []), damaged("ring", how))
for how in ("optD", "rng", "G", "optG+optD", "fixed_z", "step", "perm"):
    case(f"resume-checkpoint-without-{how}", R + ["--steps", "4"], 2,
         ["checkpoint.npz", "lacks", how.split("+")[0]], damaged("ring", how))
case("resume-checkpoint-wrong-model", R + ["--steps", "4"], 2, ["checkpoint.npz", "net.0.weight"], wrong_model)
for name, text in (("not-json", "{oops"), ("list", "[1, 2]"), ("empty", ""), ("no-data", '{"model": "toy"}'),
                   ("binary", "\udcff")):
    case(f"resume-config-{name}", R + ["--steps", "4"], 2, ["config.json"],
         bad_config(text.encode("utf-8", "surrogateescape").decode("latin-1") if name == "binary" else text))
# --- sample
for v in ("0", "-1", "-100"):
    case(f"sample-n-{v}", S + [f"--n={v}"], 2, ["--n must be >= 1", v])
case("sample-n-text", S + ["--n", "ten"], 2, ["--n", "invalid int value"])
case("sample-n-huge-npy", S + ["--n", "100000000000"], 2, ["--n 100000000000", "GiB", "free"])
case("sample-n-huge-images-npy", SI + ["--n", "10000000000"], 2, ["--n 10000000000", "GiB"])
case("sample-n-too-many-for-png", SI[:-1] + ["{c}/s.png", "--n", "20000"], 2, ["--n 20000", "PNG", ".npy"])
case("sample-n-too-many-points-png", S[:-1] + ["{c}/s.png", "--n", "2000000"], 2, ["--n 2000000", "PNG"])
for out in ("s.jpg", "s", "s.npz", "s.PNG.txt", "s.npy.bak"):
    case(f"sample-out-{out}", S[:-1] + ["{c}/" + out], 2, ["--out must end in .npy or .png", out])
case("sample-out-is-dir", S[:-1] + ["{c}/s.npy", "--n", "2"], 2, ["--out", "s.npy: is a directory"],
     lambda folder: (folder / "s.npy").mkdir())
case("sample-out-under-file", S[:-1] + ["afile/s.npy"], 2, ["--out afile/s.npy", "afile is a file"])
case("sample-out-missing-folder", S[:-1] + ["{c}/no/such/s.npy"], 2, ["--out", "does not exist"])
case("sample-out-in-proc", S[:-1] + ["/proc/s.npy"], 2, ["/proc/s.npy"])
for labels in ("a,b", "1,,2", "ten", "1;2", "0x3"):
    case(f"sample-labels-{labels}", SC + ["--labels", labels], 2, ["--labels", "class numbers", labels])
for labels in ("10", "-1", "3,12"):
    case(f"sample-labels-range-{labels}", SC + ["--labels", labels], 2, ["--labels", "0..9", labels])
case("sample-labels-unconditional", S + ["--labels", "3"], 2, ["--labels is for conditional runs"])
case("sample-labels-unconditional-images", SI + ["--labels", "3"], 2, ["--labels is for conditional runs"])
case("sample-run-missing", ["sample", "--run", "nope", "--out", "{c}/s.npy"], 2, ["nope", "run directory"])
case("sample-run-is-file", ["sample", "--run", "afile", "--out", "{c}/s.npy"], 2, ["afile", "not found"])
case("sample-run-empty-dir", ["sample", "--run", "empty", "--out", "{c}/s.npy"], 2, ["empty/config.json not found"])
case("sample-run-no-checkpoint", ["sample", "--run", "{c}/run", "--out", "{c}/s.npy"], 2,
     ["checkpoint.npz not found"], no_file("checkpoint.npz"))
case("sample-run-no-config", ["sample", "--run", "{c}/run", "--out", "{c}/s.npy"], 2, ["config.json not found"],
     no_file("config.json"))
for how in ("truncated", "empty", "zeros", "text", "npy", "method", "crc", "eocd", "pickle", "G", "D", "G+D"):
    case(f"sample-checkpoint-{how}", ["sample", "--run", "{c}/run", "--out", "{c}/s.npy"], 2, ["checkpoint.npz"],
         damaged("ring", how))
case("sample-checkpoint-wrong-model", ["sample", "--run", "{c}/run", "--out", "{c}/s.npy"], 2,
     ["checkpoint.npz", "size mismatch", "net.0.weight"], wrong_model)
for name, text in (("not-json", "{oops"), ("list", "[1, 2]"), ("empty", ""), ("missing-keys", '{"data": "ring"}')):
    case(f"sample-config-{name}", ["sample", "--run", "{c}/run", "--out", "{c}/s.npy"], 2, ["config.json"],
         bad_config(text))
case("sample-device-unknown", S + ["--device", "gpu"], 2, ["--device", "expected", "gpu"])
case("sample-seed-text", S + ["--seed", "x"], 2, ["--seed", "invalid int value"])
case("sample-missing-out", ["sample", "--run", "ring"], 2, ["--out", "required"])
case("sample-missing-run", ["sample", "--out", "{c}/s.npy"], 2, ["--run", "required"])
for cid, argv in (("train", T + ["--steps", "2"]), ("sample", S), ("evaluate", E),
                  ("inpaint", P), ("resume", R + ["--steps", "4"])):
    case(f"{cid}-device-cuda-without-cupy", argv + ["--device", "cuda"], 2, ["'cuda' needs CuPy"],
         copy_run("ring") if cid == "resume" else None, marks=NO_CUPY)
# --- evaluate
for v in ("0", "-1", "-10000"):
    case(f"evaluate-samples-{v}", E + [f"--samples={v}"], 2, ["--samples must be >= 1", v])
    case(f"evaluate-images-samples-{v}", ["evaluate", "--run", "img", f"--samples={v}"], 2, ["--samples must be >= 1"])
case("evaluate-samples-beyond-memory", E + ["--samples", "100000000000000"], 2, ["--samples 100000000000000", "memory"])
case("evaluate-images-samples-beyond-memory", ["evaluate", "--run", "img", "--samples", "10000000000"], 2,
     ["--samples 10000000000", "memory"])
case("evaluate-samples-text", E + ["--samples", "many"], 2, ["--samples", "invalid int value"])
case("evaluate-run-missing", ["evaluate", "--run", "nope"], 2, ["nope", "run directory"])
for how in ("truncated", "npy", "method", "D", "text"):
    case(f"evaluate-checkpoint-{how}", ["evaluate", "--run", "{c}/run"], 2, ["checkpoint.npz"], damaged("ring", how))
case("evaluate-images-data-gone", ["evaluate", "--run", "{c}/run", "--samples", "10"], 2,
     ["fashion-mnist", "partial"],
     lambda folder: (shutil.copytree("img", folder / "run"),
                     _edit_json(folder / "run" / "config.json", data_dir=os.path.abspath("partial"))))


def _edit_json(path, **kw):
    cfg = json.loads(path.read_text())
    cfg.update(kw)
    path.write_text(json.dumps(cfg))
    os.utime(path, ns=(0, 0))


# --- inpaint: masks
for name, arr, words in (
        ("half", np.full((28, 28), 0.5), ["0.5"]), ("nan", np.full((28, 28), np.nan), ["nan"]),
        ("minus-one", -np.ones((28, 28)), ["-1"]), ("two", np.full((28, 28), 2.0), ["2"]),
        ("random-floats", np.random.default_rng(0).random((28, 28)), ["value(s)"]),
        ("inf", np.where(np.eye(28) > 0, np.inf, 1.0), ["inf"]),
        ("mixed-bad", np.where(np.arange(784).reshape(28, 28) % 3 == 0, 0.3, 1.0), ["0.3"]),
        ("ints-255", np.where(np.arange(784).reshape(28, 28) < 300, 255, 0).astype(np.uint8), ["255"]),
        ("int-minus", np.where(np.arange(784).reshape(28, 28) < 300, -1, 1).astype(np.int64), ["-1"])):
    case(f"inpaint-mask-{name}", PM, 2, ["m.npy", "only 0 (missing) and 1 (known)"] + words, save_npy("m.npy", arr))
for name, arr, words in (("all-known", np.ones((28, 28)), ["all known"]),
                         ("all-missing", np.zeros((28, 28)), ["all missing"]),
                         ("all-known-bool", np.ones((28, 28), bool), ["all known"]),
                         ("per-image-all-missing", np.stack([I.make_mask("center", (28, 28))[None],
                                                                    np.zeros((1, 28, 28))]),
                          ["all missing", "image(s) 1"])):
    case(f"inpaint-mask-{name}", PM, 2, ["mask"] + words, save_npy("m.npy", arr))
for name, arr in (("strings", np.array([["a", "b"]])), ("wrong-shape", np.ones((14, 14))),
                  ("3-images", np.ones((3, 1, 28, 28))), ("1-d", np.ones(784)),
                  ("complex", np.ones((28, 28), complex))):
    case(f"inpaint-mask-{name}", PM, 2, ["mask"], save_npy("m.npy", arr))
case("inpaint-mask-object", PM, 2, ["m.npy"], lambda f: np.save(f / "m.npy", np.array([None, 1]), allow_pickle=True))
case("inpaint-mask-corrupt-npy", PM, 2, ["m.npy"], write_text("m.npy", "not numpy"))
case("inpaint-mask-missing-file", P + ["--mask", "{c}/none.npy"], 2, ["none.npy"])
case("inpaint-mask-unknown-kind", P + ["--mask", "circle"], 2, ["circle"])
case("inpaint-mask-txt", P + ["--mask", "{c}/m.txt"], 2, ["m.txt", ".npy or .png"], write_text("m.txt", "1 0"))
case("inpaint-mask-png-grey", P + ["--mask", "{c}/m.png"], 2, ["m.png", "grey levels", "128"],
     save_png("m.png", np.full((28, 28), 128)))
case("inpaint-mask-png-white", P + ["--mask", "{c}/m.png"], 2, ["all known"], save_png("m.png", np.full((28, 28), 255)))
case("inpaint-mask-png-black", P + ["--mask", "{c}/m.png"], 2, ["all missing"], save_png("m.png", np.zeros((28, 28))))
case("inpaint-mask-png-corrupt", P + ["--mask", "{c}/m.png"], 2, ["m.png"], write_text("m.png", "not a png"))
case("inpaint-mask-png-size", P + ["--mask", "{c}/m.png"], 2, ["mask of shape (10, 10)"],
     save_png("m.png", np.tile([[0, 255]], (10, 5))))
for v in (NAN, INF, "-inf", "-1"):
    case(f"inpaint-lambda-{v}", P + [f"--lambda={v}"], 2, ["--lambda must be", v])
for v in (NAN, INF, "0", "-0.01"):
    case(f"inpaint-lr-{v}", P + [f"--lr={v}"], 2, ["--lr must be", v])
for v in (NAN, "-0.1", "0", "1", "1.5", INF, "x", ""):
    case(f"inpaint-mask-random-{v or 'empty'}", P + ["--mask", f"random:{v}"], 2, ["--mask", f"random:{v}"])
for spec in ("grid:0", "grid:-2", "grid:x", "grid:", "box:1,2,3", "box:0,0,0,5", "box:20,20,10,10", "box:a,b,c,d",
             "center:3", "box:-1,0,4,4"):
    case(f"inpaint-mask-{spec}", P + ["--mask", spec], 2, ["--mask", spec])
for opt in ("--iters", "--restarts", "--n"):
    for v in ("0", "-3"):
        case(f"inpaint{opt}-{v}", P + [f"{opt}={v}"], 2, [f"{opt} must be >= 1", v])
    case(f"inpaint{opt}-text", P + [opt, "x"], 2, [opt, "invalid int value"])
case("inpaint-images-missing", PI, 2, ["--images", "x.npy"])
case("inpaint-images-txt", ["inpaint", "--run", "img", "--images", "{c}/x.txt", "--out", "{c}/f.npy"], 2,
     ["--images must be a .npy file"], write_text("x.txt", "1"))
case("inpaint-images-3d", PI, 2, ["(N, C, H, W)", "(2, 28, 28)"], images_npy(np.zeros((2, 28, 28), np.float32)))
case("inpaint-images-255", PI, 2, ["values must be in [0, 1]", "255"], images_npy(np.full((2, 1, 28, 28), 255.0)))
case("inpaint-images-nan", PI, 2, ["NaN"], images_npy(np.full((2, 1, 28, 28), np.nan, np.float32)))
case("inpaint-images-negative", PI, 2, ["values must be in [0, 1]", "-1"], images_npy(-np.ones((2, 1, 28, 28))))
case("inpaint-images-small", PI, 2, ["(2, 1, 14, 14)", "do not fit the generator"],
     images_npy(np.zeros((2, 1, 14, 14), np.float32)))
case("inpaint-images-strings", PI, 2, ["--images", "x.npy"], images_npy(np.array([["a"]])))
case("inpaint-images-corrupt", PI, 2, ["x.npy"], write_text("x.npy", "garbage"))
for out in ("f.jpg", "f", "f.npz"):
    case(f"inpaint-out-{out}", P[:-1] + ["{c}/" + out], 2, ["--out must end in .npy or .png", out])
case("inpaint-out-is-dir", P, 2, ["--out", "f.npy: is a directory"], lambda folder: (folder / "f.npy").mkdir())
case("inpaint-out-under-file", P[:-1] + ["afile/f.npy"], 2, ["afile is a file"])
case("inpaint-out-in-proc", P[:-1] + ["/proc/f.npy"], 2, ["/proc/f.npy"])
case("inpaint-ring-run", ["inpaint", "--run", "ring", "--data", "fashion-mnist", "--data-dir", "fm", "--out",
                          "{c}/f.npy"], 2, ["28x28 image generators", "ring"])
case("inpaint-conditional-images", ["inpaint", "--run", "cond", "--images", "x.npy", "--out", "{c}/f.npy"], 2,
     ["conditional run", "--data"])
case("inpaint-data-dir-empty", ["inpaint", "--run", "img", "--data", "fashion-mnist", "--data-dir", "empty", "--out",
                                "{c}/f.npy"], 2, ["--data-dir empty", "lacks"])
case("inpaint-no-source", ["inpaint", "--run", "img", "--out", "{c}/f.npy"], 2, ["one of the arguments", "required"])
case("inpaint-run-missing", ["inpaint", "--run", "nope", "--images", "x.npy", "--out", "{c}/f.npy"], 2, ["nope"])
case("inpaint-diverged-search", P + ["--lr", "1e30", "--iters", "3"], 2, ["NaN / inf", "nothing written"])
case("inpaint-checkpoint-crc", ["inpaint", "--run", "{c}/run", "--images", "x.npy", "--out", "{c}/f.npy"], 2,
     ["checkpoint.npz"], damaged("img", "crc"))


# --- options given empty, or given to a run that would not use them: refused by name, not ignored
case("train-out-empty", ["train", "--quiet", "--steps", "2", "--out", ""], 2, ["--out must not be empty"])
case("train-out-blank", ["train", "--quiet", "--steps", "2", "--out", "  "], 2, ["--out must not be empty"])
case("train-data-dir-empty-string", TI[:5] + ["", "--steps", "2", "--out", "{c}/new"], 2,
     ["--data-dir must not be empty"])
case("train-device-empty", T + ["--steps", "2", "--device", ""], 2, ["--device must not be empty"])
case("train-recipe-paper-on-ring", T + ["--steps", "2", "--recipe", "paper"], 2,
     ["--recipe paper", "image sets", "ring", "leave --recipe out"])
case("resume-unused-momentum", R + ["--steps", "4", "--momentum", "0.5"], 2,
     ["--momentum is used only with --optimizer sgd", "--optimizer adam"], copy_run("ring"))
case("resume-unused-clip", R + ["--steps", "4", "--clip", "0.1"], 2, ["--clip is used only with --loss wasserstein"],
     copy_run("ring"))
case("resume-data-dir-empty", R + ["--steps", "4", "--data-dir", ""], 2, ["--data-dir must not be empty"],
     copy_run("img"))
case("resume-device-empty", R + ["--steps", "4", "--device", ""], 2, ["--device must not be empty"], copy_run("ring"))
for cid, argv, words in (("labels", SC + ["--labels", ""], ["--labels must not be empty"]),
                         ("labels-unconditional", S + ["--labels", ""], ["--labels must not be empty"]),
                         ("device", S + ["--device", ""], ["--device must not be empty"]),
                         ("run", ["sample", "--run", "", "--out", "{c}/s.npy"], ["--run must not be empty"]),
                         ("out", S[:-1] + [""], ["--out must not be empty"])):
    case(f"sample-{cid}-empty", argv, 2, words)
case("evaluate-run-empty", ["evaluate", "--run", ""], 2, ["--run must not be empty"])
case("evaluate-device-empty", E + ["--device", ""], 2, ["--device must not be empty"])
# --- --force checks everything before it moves the old run aside
for cid, folder, words in (("partial", "partial", ["--data-dir partial", "lacks"]),
                           ("missing", "nowhere", ["--data-dir nowhere", "no such folder"]),
                           ("corrupt", "{c}/d", ["train-images-idx3-ubyte"])):
    case(f"train-force-data-dir-{cid}", TI[:5] + [folder, "--steps", "2", "--force", "--out", "{c}/run"], 2, words,
         (lambda f: (copy_run("img")(f), corrupt_idx(f))) if cid == "corrupt" else copy_run("img"))
case("train-force-batch-too-large", TI + ["--steps", "2", "--batch-size", "500", "--force"], 2,
     ["--batch-size 500 is larger than the 160 training images"], copy_run("img"))
# --- a resume checks what it loads: nothing past here is trusted, and a refusal changes no byte
for cid, edits, words in (
        ("nan-weight", {"G/net.0.weight": "nan"}, ["G/net.0.weight", "NaN or inf"]),
        ("inf-bias", {"D/net.0.bias": "-inf"}, ["D/net.0.bias", "NaN or inf"]),
        ("nan-adam-moment", {"optD/state/net.0.weight/exp_avg_sq": "nan"}, ["optD/state/net.0.weight/exp_avg_sq"]),
        ("inf-fixed-z", {"fixed_z": "inf"}, ["fixed_z", "NaN or inf"]),
        ("step-negative", {"step": -3}, ["step -3", "whole number >= 0"]),
        ("step-fractional", {"step": 2.5}, ["step 2.5", "whole number"]),
        ("step-text", {"step": "two"}, ["step 'two'", "whole number"]),
        ("step-bool", {"step": True}, ["step True", "whole number"]),
        ("adam-step-negative", {"optG/state/net.0.weight/step": -1}, ["step of parameter 'net.0.weight'", ">= 0"]),
        ("adam-step-fractional", {"optG/state/net.0.weight/step": 1.5}, ["step of parameter", "whole number"]),
        ("adam-state-none", {"optG/state/net.0.weight/exp_avg": None}, ["exp_avg", "array of numbers"]),
        ("pos-negative", {"pos": -1}, ["pos -1"]),
        ("perm-not-a-permutation", {"perm": np.arange(5)}, ["data order"]),
        ("fixed-z-shape", {"fixed_z": np.zeros((3, 2), np.float32)}, ["fixed noise", "(2500, 2)"]),
        ("rng-damaged", {"rng/cpu": {"bit_generator": "PCG64"}}, ["random generator state (rng) is damaged"]),
        ("config-not-json", {"config": "{oops"}, ["damaged copy of its config"]),
        ("G-not-dict", {"G": 3}, ["holds int for G"])):
    case(f"resume-checkpoint-{cid}", R + ["--steps", "4", "--lr", "5e-4"], 2,
         ["checkpoint.npz"] + words + ["!last good", "!Traceback"], edited_checkpoint("ring", edits))
case("resume-checkpoint-nan-names-no-good-checkpoint", R + ["--steps", "4"], 2,
     ["NaN or inf", "damaged", "never saves", "!last good"],
     edited_checkpoint("ring", {"G/net.0.weight": "nan"}))
case("resume-checkpoint-of-another-seed", R + ["--steps", "4", "--lr", "5e-4"], 2,
     ["checkpoint.npz", "seed 1", "seed 0", "another run"], checkpoint_of("ring-seed1"))
case("resume-checkpoint-of-another-data-set", R + ["--steps", "4"], 2,
     ["checkpoint.npz", "data 'gaussian1d'", "data 'ring'", "another run"], checkpoint_of("g1d"))
for cid, kw, words in (("prior", dict(prior="uniform"), ["prior 'normal'", "prior 'uniform'", "config.json was"]),
                       ("data", dict(data="grid"), ["data 'ring'", "data 'grid'"]),
                       ("seed", dict(seed=7), ["seed 0", "seed 7"]),
                       ("hidden", dict(hidden=64), ["hidden 128", "hidden 64"])):
    case(f"resume-config-edited-{cid}", R + ["--steps", "4"], 2, ["checkpoint.npz"] + words, edited_config(**kw))
    case(f"sample-config-edited-{cid}", ["sample", "--run", "{c}/run", "--out", "{c}/s.npy"], 2,
         ["checkpoint.npz"] + words, edited_config(**kw))
# values read from config.json or $MINIGAN_DEVICE are named as such, never as command-line options
for cid, kw, words in (("lr-text", dict(lr="x"), ["'lr' in", "config.json", "must be a number", "!--lr"]),
                       ("lr-nan", dict(lr=float("nan")), ["'lr' in", "config.json", "finite", "!--lr"]),
                       ("prior-unknown", dict(prior="cauchy"), ["'prior' in", "config.json", "cauchy", "!--prior"]),
                       ("batch-not-multiple", dict(batch_size=30), ["config.json", "--pack 4"]),
                       ("device-unknown", dict(device="tpu"), ["config.json records device 'tpu'", "cuda:N"])):
    case(f"resume-config-{cid}", R + ["--steps", "4"], 2, words, edited_config(**kw))
    if cid != "device-unknown":
        case(f"sample-config-{cid}", ["sample", "--run", "{c}/run", "--out", "{c}/s.npy"], 2,
             [w for w in words if w != "--device"], edited_config(**kw))
case("resume-env-device-unknown", R + ["--steps", "4"], 2, ["$MINIGAN_DEVICE 'tpu'"], copy_run("ring"),
     {"MINIGAN_DEVICE": "tpu"})
case("resume-config-device-unknown-with-device", R + ["--steps", "4", "--device", "cpu"], 2,
     ["config.json records device 'tpu'"], edited_config(device="tpu"))
case("sample-env-device-unknown", S, 2, ["$MINIGAN_DEVICE 'tpu'"], None, {"MINIGAN_DEVICE": "tpu"})
case("sample-env-device-cuda-without-cupy", S, 2, ["$MINIGAN_DEVICE 'cuda'", "needs CuPy"], None,
     {"MINIGAN_DEVICE": "cuda"}, marks=NO_CUPY)
case("resume-config-device-cuda-without-cupy", R + ["--steps", "4"], 2,
     ["config.json records device 'cuda'", "needs CuPy", "give --device"], edited_config(device="cuda"), marks=NO_CUPY)
# damaged and crafted checkpoints: the file named, no Python or NumPy wording (pickle, out of memory, KeyError)
for cid, setup in (("random-bytes", random_bytes), ("meta-list", crafted_checkpoint("meta-list")),
                   ("meta-format", crafted_checkpoint("meta-format")),
                   ("meta-python-array", crafted_checkpoint("meta-python-array")),
                   ("meta-json-text", crafted_checkpoint("meta-json-text")),
                   ("huge-header", crafted_checkpoint("huge-header"))):
    for cmd, argv in (("resume", R + ["--steps", "4"]),
                      ("sample", ["sample", "--run", "{c}/run", "--out", "{c}/s.npy"])):
        case(f"{cmd}-checkpoint-crafted-{cid}", argv, 2,
             ["checkpoint.npz", "!pickle", "!out of memory", "!--batch-size", "!KeyError"], setup)
case("sample-checkpoint-nan", ["sample", "--run", "{c}/run", "--out", "{c}/s.npy"], 2,
     ["checkpoint.npz", "G/net.0.weight", "NaN or inf"], edited_checkpoint("ring", {"G/net.0.weight": "nan"}))
# metrics.csv: a resume that is refused keeps every row (and config.json keeps no change that never ran)
for how, words in (("row", ["metrics.csv, line 8", "'garbage,x'"]), ("header", ["metrics.csv", "first line", "a,b,c"]),
                   ("text-step", ["metrics.csv, line 3", "two"]), ("short", ["metrics.csv, line 6", "5 values"]),
                   ("binary", ["metrics.csv", "not text"])):
    case(f"resume-metrics-{how}", R + ["--steps", "30", "--lr", "5e-4"], 2, words, edited_metrics(how))
# --- one writer, and outputs that are inputs or run files
case("sample-out-run-picture", S[:-1] + ["ring/samples/step_0000002.png"], 2,
     ["--out ring/samples/step_0000002.png", "file of the training run in ring", "choose another --out"])
case("sample-out-new-run-picture", S[:-1] + ["{c}/run/samples/step_0000009.png"], 2, ["file of the training run in"],
     copy_run("ring"))
case("sample-out-nearest-neighbours", S[:-1] + ["img/nearest_neighbours.png"], 2, ["file of the training run in img"])
case("sample-out-into-samples-folder", S[:-1] + ["{c}/run/samples/step_0000002.png"], 2, ["training run"],
     copy_run("ring"))
case("inpaint-out-run-picture", P[:-1] + ["img/samples/step_0000002.png"], 2, ["file of the training run in img"])
# --- odd files: named pipes, directories and devices are refused without blocking
for name in ("checkpoint.npz", "config.json"):
    case(f"sample-{name}-fifo", ["sample", "--run", "{c}/run", "--out", "{c}/s.npy"], 2, [name, "named pipe"],
         fifo(name))
    case(f"resume-{name}-fifo", R + ["--steps", "4"], 2, [name, "named pipe"], fifo(name))
    case(f"evaluate-{name}-fifo", ["evaluate", "--run", "{c}/run"], 2, [name, "named pipe"], fifo(name))
case("resume-metrics-fifo", R + ["--steps", "4"], 2, ["metrics.csv", "named pipe"], fifo("metrics.csv"))
case("train-data-dir-fifo", TI[:5] + ["{c}/d", "--steps", "2", "--out", "{c}/new"], 2,
     ["--data-dir", "lacks train-images-idx3-ubyte", "train-images-idx3-ubyte.gz is there but not a regular file"],
     lambda f: (data_folder((0, 1, 3))(f), os.mkfifo(f / "d" / "train-images-idx3-ubyte.gz")))
case("inpaint-out-empty", P[:-1] + [""], 2, ["--out must not be empty"])
case("inpaint-out-is-images", PI[:-1] + ["{c}/x.npy"], 2, ["--out", "x.npy is the file --images", "another --out"],
     images_npy(np.zeros((2, 1, 28, 28), np.float32)))
case("inpaint-out-is-mask", P[:-1] + ["{c}/m.npy", "--mask", "{c}/m.npy"], 2, ["m.npy is the file --mask"],
     save_npy("m.npy", I.make_mask("center", (28, 28))))
case("inpaint-out-hard-link-to-images", PI, 2, ["f.npy is the file --images"],
     lambda f: (np.save(f / "x.npy", np.zeros((2, 1, 28, 28), np.float32)), os.link(f / "x.npy", f / "f.npy")))
case("inpaint-mask-fifo", PM, 2, ["--mask", "m.npy", "named pipe"], lambda f: os.mkfifo(f / "m.npy"))
case("inpaint-mask-dir", PM, 2, ["--mask", "m.npy", "a directory"], lambda f: (f / "m.npy").mkdir())
case("inpaint-images-fifo", PI, 2, ["--images", "x.npy", "named pipe"], lambda f: os.mkfifo(f / "x.npy"))
case("inpaint-images-dir", PI, 2, ["--images", "x.npy", "a directory"], lambda f: (f / "x.npy").mkdir())
case("inpaint-device-empty", P + ["--device", ""], 2, ["--device must not be empty"])
for v in ("0", "-2"):
    case(f"inpaint-threads-{v}", P + [f"--threads={v}"], 2, ["--threads must be >= 1", v])
case("inpaint-mask-empty", P + ["--mask", ""], 2, ["--mask must not be empty"])
case("resume-checkpoint-is-dir", R + ["--steps", "4"], 2, ["checkpoint.npz", "a directory"],
     lambda f: (shutil.copytree("ring", f / "run"), os.remove(f / "run" / "checkpoint.npz"),
                os.mkdir(f / "run" / "checkpoint.npz")))
case("sample-config-is-dev-null", ["sample", "--run", "{c}/run", "--out", "{c}/s.npy"], 2, ["config.json", "a device"],
     lambda f: (shutil.copytree("ring", f / "run"), os.remove(f / "run" / "config.json"),
                os.symlink("/dev/null", f / "run" / "config.json")))


@pytest.mark.parametrize("argv, rc, words, setup, env", CASES)
def test_cli_case(ws, request, monkeypatch, argv, rc, words, setup, env):
    folder = ws / "c" / request.node.callspec.id
    folder.mkdir(parents=True)
    if setup is not None:
        setup(folder)
    for k, v in (env or {}).items():
        monkeypatch.setenv(k, v)
    argv = [a.replace("{c}", os.path.relpath(folder, ws)) for a in argv]
    before, contents = snapshot(ws), run_files(ws)
    code, out, err = run_main(argv)
    assert code == rc, (code, out, err)
    assert "Traceback" not in out + err, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err                                  # one line
    for w in words:
        if w.startswith("!"):                                    # words the message must not hold
            assert w[1:] not in lines[0], (w, lines[0])
        else:
            assert w in lines[0], (w, lines[0])
    assert snapshot(ws) == before, "the files on disk changed"
    assert run_files(ws) == contents, "a run file changed"


def test_the_table_is_large_enough():
    assert len(CASES) >= 200, len(CASES)


# ------------------------------------------------------------------------------------------------ library cases
def _linear():
    minigan.manual_seed(0)
    return nn.Linear(3, 2)


LIB = []


def lib(cid, fn, exc, words):
    LIB.append(pytest.param(fn, exc, words, id=cid))


for dt in (np.int32, np.int64, np.uint8, np.bool_):
    lib(f"requires-grad-{np.dtype(dt).name}", lambda dt=dt: minigan.tensor(np.zeros(3, dt), requires_grad=True),
        RuntimeError, ["floating point", np.dtype(dt).name])
    lib(f"requires-grad_-{np.dtype(dt).name}", lambda dt=dt: minigan.tensor(np.zeros(3, dt)).requires_grad_(),
        RuntimeError, ["floating point"])
lib("backward-no-grad", lambda: minigan.tensor([1.0, 2.0]).sum().backward(), RuntimeError, ["does not require grad"])
lib("backward-under-no-grad", lambda: _no_grad_backward(), RuntimeError, ["does not require grad"])
for cls in (optim.SGD, optim.Adam, optim.RMSprop):
    n = cls.__name__
    for lr, exc, words in ((float("nan"), ValueError, ["lr", "nan", "finite"]), (float("inf"), ValueError, ["inf"]),
                           (-0.1, ValueError, ["lr", "-0.1"]), ("0.1", TypeError, ["lr must be a number", "'0.1'"]),
                           (None, TypeError, ["lr must be a number"]), (True, TypeError, ["lr must be a number"]),
                           ([0.1], TypeError, ["lr must be a number"])):
        lib(f"{n}-lr-{lr!r}", lambda cls=cls, lr=lr: cls(_linear().parameters(), lr=lr), exc, [n] + words)
    lib(f"{n}-module", lambda cls=cls: cls(_linear(), lr=0.1), TypeError, [n, "Linear", "parameters()"])
    lib(f"{n}-empty", lambda cls=cls: cls([], lr=0.1), ValueError, [n, "empty"])
    lib(f"{n}-tensor", lambda cls=cls: cls(minigan.tensor([1.0], requires_grad=True), lr=0.1), TypeError,
        [n, "single Tensor"])
    lib(f"{n}-string", lambda cls=cls: cls("weights", lr=0.1), TypeError, [n, "str"])
    lib(f"{n}-number", lambda cls=cls: cls(3, lr=0.1), TypeError, [n, "int"])
    lib(f"{n}-array", lambda cls=cls: cls([np.zeros(3)], lr=0.1), TypeError, [n, "ndarray", "not a Tensor"])
for betas, exc, words in (((0.9, float("nan")), ValueError, ["beta2", "nan"]), ((1.0, 0.999), ValueError, ["[0, 1)"]),
                          ((-0.1, 0.999), ValueError, ["[0, 1)"]), ((0.9,), ValueError, ["two numbers"]),
                          ("ab", TypeError, ["betas"]), (("0.9", 0.99), TypeError, ["beta1 must be a number"]),
                          (0.9, TypeError, ["betas"])):
    lib(f"adam-betas-{betas!r}", lambda b=betas: optim.Adam(_linear().parameters(), betas=b), exc, ["Adam"] + words)
for mom in (float("nan"), -0.5, float("inf"), "0.9"):
    lib(f"sgd-momentum-{mom!r}", lambda m=mom: optim.SGD(_linear().parameters(), lr=0.1, momentum=m),
        (ValueError, TypeError), ["SGD", "momentum"])
    lib(f"rmsprop-momentum-{mom!r}", lambda m=mom: optim.RMSprop(_linear().parameters(), momentum=m),
        (ValueError, TypeError), ["RMSprop", "momentum"])
lib("rmsprop-alpha-nan", lambda: optim.RMSprop(_linear().parameters(), alpha=float("nan")), ValueError, ["alpha"])
lib("adam-eps-negative", lambda: optim.Adam(_linear().parameters(), eps=-1e-8), ValueError, ["eps"])


# complex numbers, text, objects and dates are refused, not cast (as PyTorch refuses text, objects and dates)
for cid, make in (("complex-array", lambda: minigan.tensor(np.array([1 + 2j]))),
                  ("complex-python", lambda: minigan.tensor(1 + 2j)),
                  ("complex-dtype", lambda: minigan.tensor([1.0], dtype=np.complex64)),
                  ("string-array", lambda: minigan.tensor(np.array(["1.5"]))),
                  ("string-list", lambda: minigan.tensor(["1.5", "2"])),
                  ("bytes-array", lambda: minigan.tensor(np.array([b"1"]))),
                  ("object-array", lambda: minigan.tensor(np.array([None, 1.0], dtype=object))),
                  ("none", lambda: minigan.tensor(None)),
                  ("list-with-none", lambda: minigan.tensor([1.0, None])),
                  ("datetime", lambda: minigan.tensor(np.array(["2020-01-01"], dtype="datetime64[D]"))),
                  ("timedelta", lambda: minigan.Tensor(np.array([1], dtype="timedelta64[s]"))),
                  ("complex-operand", lambda: minigan.tensor([1.0]) * 1j),
                  ("string-operand", lambda: minigan.tensor([1.0]) + "1"),
                  ("complex-array-operand", lambda: minigan.tensor([1.0]) * np.array([1j]))):
    lib(f"tensor-{cid}", make, TypeError, ["tensor:", "has dtype", "refused, not cast"])
# minigan.grad: one grad_output per output, and every output must depend on something that requires grad
_x = lambda: minigan.tensor([1.0, 2.0], requires_grad=True)     # noqa: E731
lib("grad-more-grad-outputs", lambda: (lambda x: minigan.grad((x * 2).sum(), x, [minigan.tensor(1.0)] * 2))(_x()),
    RuntimeError, ["1 output(s) but 2 grad_outputs"])
lib("grad-fewer-grad-outputs", lambda: (lambda x: minigan.grad([(x * 2).sum(), x.sum()], x, [None]))(_x()),
    RuntimeError, ["2 output(s) but 1 grad_outputs"])
lib("grad-output-without-graph", lambda: (lambda x: minigan.grad([x.sum(), minigan.tensor(3.0)], x))(_x()),
    RuntimeError, ["output 1 does not require grad"])
lib("grad-unused-input", lambda: (lambda x, w: minigan.grad((w * 2).sum(), [x, w]))(_x(), _x()),
    RuntimeError, ["input 0", "not used", "allow_unused=True"])


def _no_grad_backward():
    x = minigan.tensor([1.0], requires_grad=True)
    with minigan.no_grad():
        y = x * 2
    y.sum().backward()


@pytest.mark.parametrize("fn, exc, words", LIB)
def test_library_case(fn, exc, words):
    with pytest.raises(exc) as info:
        fn()
    for w in words:
        assert w in str(info.value), (w, str(info.value))


def _trained_adam():
    m = _linear()
    opt = optim.Adam(m.named_parameters(), lr=0.01)
    m(minigan.tensor(np.ones((4, 3), np.float32))).sum().backward()
    opt.step()
    return opt


BAD_STATES = [
    ("foo", {"foo": 1}, ValueError, ["unexpected keys ['foo']", "missing keys"]),
    ("only-hyper", {"hyper": {}}, ValueError, ["missing keys ['state']"]),
    ("only-state", {"state": {}}, ValueError, ["missing keys ['hyper']"]),
    ("not-a-dict", [1, 2], TypeError, ["expected a dict"]),
    ("hyper-not-dict", {"hyper": 1, "state": {}}, TypeError, ["must be dicts"]),
    ("unknown-hyper", {"hyper": {"momentum": 0.9}, "state": {}}, ValueError, ["unknown hyper-parameters"]),
    ("lr-nan", {"hyper": {"lr": float("nan")}, "state": {}}, ValueError, ["lr", "nan"]),
    ("lr-text", {"hyper": {"lr": "0.1"}, "state": {}}, TypeError, ["lr must be a number"]),
    ("betas-bad", {"hyper": {"betas": (2.0, 0.9)}, "state": {}}, ValueError, ["betas"]),
    ("unknown-param", {"hyper": {}, "state": {"nope": {}}}, ValueError, ["'nope'"]),
    ("wrong-shape", {"hyper": {}, "state": {"weight": {"exp_avg": np.zeros((5, 5))}}}, ValueError, ["shape (5, 5)"]),
    ("unknown-state", {"hyper": {}, "state": {"weight": {"velocity": np.zeros((2, 3))}}}, ValueError, ["'velocity'"]),
    ("entry-not-dict", {"hyper": {}, "state": {"weight": 3}}, TypeError, ["must be a dict"]),
    ("step-negative", {"hyper": {}, "state": {"weight": {"step": -3}}}, ValueError, ["step", "whole number >= 0"]),
    ("step-fractional", {"hyper": {}, "state": {"weight": {"step": 2.5}}}, ValueError, ["step", "2.5"]),
    ("step-bool", {"hyper": {}, "state": {"weight": {"step": True}}}, ValueError, ["step", "True"]),
    ("step-text", {"hyper": {}, "state": {"weight": {"step": "3"}}}, ValueError, ["step", "'3'"]),
    ("step-array-negative", {"hyper": {}, "state": {"weight": {"step": np.array(-1)}}}, ValueError, ["step"]),
    ("state-none", {"hyper": {}, "state": {"weight": {"exp_avg": None}}}, TypeError, ["'exp_avg'", "array of numbers"]),
    ("state-object-array", {"hyper": {}, "state": {"weight": {"exp_avg": np.full((2, 3), None)}}}, TypeError,
     ["array of numbers", "object"]),
    ("state-strings", {"hyper": {}, "state": {"weight": {"exp_avg": np.full((2, 3), "0")}}}, TypeError,
     ["array of numbers"]),
]


@pytest.mark.parametrize("state, exc, words", [pytest.param(s, e, w, id=i) for i, s, e, w in BAD_STATES])
def test_optimizer_load_state_dict_validates_before_touching_state(state, exc, words):
    opt = _trained_adam()
    before = {k: {n: minigan.backend.as_numpy(v) for n, v in s.items()} for k, s in opt.state.items()}
    lr = opt.lr
    with pytest.raises(exc) as info:
        opt.load_state_dict(state)
    for w in words:
        assert w in str(info.value), (w, str(info.value))
    assert opt.lr == lr and set(opt.state) == set(before)
    for k, s in before.items():
        for n, v in s.items():
            np.testing.assert_array_equal(minigan.backend.as_numpy(opt.state[k][n]), v)


@pytest.mark.parametrize("state, words", [
    pytest.param({"weight": np.zeros((2, 3))}, ["missing keys", "'bias'"], id="missing"),
    pytest.param({"weight": np.zeros((3, 3)), "bias": np.zeros(2)}, ["size mismatch", "'weight'"], id="shape"),
    pytest.param({"weight": np.zeros((2, 3)), "bias": np.zeros(2), "x": np.zeros(1)}, ["unexpected keys"], id="extra"),
    pytest.param({"weight": np.full((2, 3), None), "bias": np.zeros(2)}, ["'weight'", "dtype object"], id="object"),
    pytest.param({"weight": None, "bias": np.zeros(2)}, ["'weight'", "dtype object"], id="none"),
    pytest.param({"weight": np.zeros((2, 3)), "bias": np.array(["0", "1"])}, ["'bias'", "not numbers"], id="strings"),
    pytest.param({"weight": np.zeros((2, 3), complex), "bias": np.zeros(2)}, ["'weight'", "complex"], id="complex"),
])
def test_module_load_state_dict_validates_before_copying(state, words):
    m = _linear()
    before = [p.numpy().copy() for p in m.parameters()]
    with pytest.raises(ValueError) as info:
        m.load_state_dict(state)
    for w in words:
        assert w in str(info.value)
    for p, b in zip(m.parameters(), before):
        np.testing.assert_array_equal(p.numpy(), b)


def test_the_mean_of_nothing_is_nan_as_in_numpy_and_pytorch():
    for shape, axis, expected in (((0,), None, np.nan), ((0, 3), 0, [np.nan] * 3), ((0, 3), 1, np.zeros(0))):
        x = minigan.tensor(np.zeros(shape), requires_grad=True)
        with warnings.catch_warnings():
            warnings.simplefilter("error")                      # and no warning on the way
            m = x.mean(axis=axis)
        np.testing.assert_array_equal(m.numpy(), expected)
        m.sum().backward()
        assert x.grad.shape == shape


def test_gradients_have_the_dtype_of_their_leaf():
    a = minigan.tensor(np.ones(3, np.float32), requires_grad=True)
    b = minigan.tensor(np.full(3, 2.0), dtype=np.float64)
    (a * b).sum().backward()
    assert a.grad.dtype == np.float32
    np.testing.assert_array_equal(a.grad.numpy(), [2, 2, 2])


# ------------------------------------------------------------------------------------------------ hypothesis
BAD_FLOATS = st.one_of(st.sampled_from([float("nan"), float("inf"), -float("inf"), 0.0]),
                       st.floats(max_value=0.0, allow_nan=False, allow_infinity=False))   # bad for --lr
BAD_BETAS = st.one_of(st.sampled_from([float("nan"), float("inf"), -float("inf"), 1.0]),
                      st.floats(max_value=-1e-300, allow_nan=False, allow_infinity=False),
                      st.floats(min_value=1.0, allow_nan=False, allow_infinity=False))    # bad for --beta1


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(key=st.sampled_from(["--lr", "--lambda"]), value=BAD_FLOATS)
def test_hypothesis_inpaint_real_options(ws, key, value):
    if key == "--lambda" and value == 0.0:
        value = -1.0                                          # lambda 0 is allowed (no perceptual loss)
    before = snapshot(ws)
    rc, out, err = run_main(P[:-1] + ["hyp.npy", f"{key}={value!r}"])
    assert rc == 2 and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert f"{key} must be " in err
    assert snapshot(ws) == before


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lr=BAD_FLOATS, beta1=BAD_BETAS, use_lr=st.booleans(), counts=st.sampled_from(["--steps", "--k"]),
       n=st.integers(max_value=0))
def test_hypothesis_train_options(ws, lr, beta1, use_lr, counts, n):
    key, value = ("--lr", lr) if use_lr else ("--beta1", beta1)
    before = snapshot(ws)
    rc, out, err = run_main(["train", "--quiet", "--out", "hyp-run", f"{key}={value!r}"])
    assert rc == 2 and "Traceback" not in err and len(err.strip().splitlines()) == 1 and key in err
    rc, out, err = run_main(["train", "--quiet", "--out", "hyp-run", f"{counts}={n}"])
    assert rc == 2 and "Traceback" not in err and f"{counts} must be >= 1" in err
    assert snapshot(ws) == before


binary = st.sampled_from([0.0, 1.0])


@settings(max_examples=25, deadline=None)
@given(values=st.lists(st.one_of(binary, st.floats(allow_nan=True, allow_infinity=True)), min_size=16,
                       max_size=16))
def test_hypothesis_masks(values):
    """A mask is refused unless binary with both values; a refusal names a bad value."""
    m = np.array(values, np.float64).reshape(4, 4)
    shape = (1, 1, 4, 4)
    ok = np.isin(m, (0, 1)).all() and 0 < m.sum() < 16
    if ok:
        np.testing.assert_array_equal(I.check_mask(m, shape)[0, 0], m)
        return
    with pytest.raises(ValueError) as info:
        I.check_mask(m, shape)
    msg = str(info.value)
    bad = m[~np.isin(m, (0, 1))]
    if bad.size:
        shown = "nan" if np.isnan(bad).all() else f"{np.unique(bad[~np.isnan(bad)])[0]:g}"
        assert shown in msg, (shown, msg)
    else:
        assert "all known" in msg or "all missing" in msg


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data_=st.data())
def test_hypothesis_corrupt_checkpoints(ws, data_):
    """Flipped, zeroed or truncated bytes anywhere in a checkpoint: a one-line error naming the file, or (when the
    damage misses everything that is read) the same samples as the intact file."""
    folder = ws / "c" / "hyp-ckpt"
    if not folder.exists():
        shutil.copytree("ring", folder)
        run_main(["sample", "--run", "ring", "--n", "8", "--out", str(ws / "c" / "hyp-ref.npy")])
    path = folder / "checkpoint.npz"
    good = (ws / "ring" / "checkpoint.npz").read_bytes()
    raw = bytearray(good)
    how = data_.draw(st.sampled_from(["flip", "zero", "truncate"]))
    i = data_.draw(st.integers(0, len(raw) - 1))
    if how == "flip":
        raw[i] ^= 1 << data_.draw(st.integers(0, 7))
    elif how == "zero":
        raw[i:i + data_.draw(st.integers(1, 64))] = bytes(min(64, len(raw) - i))[:len(raw[i:i + 64])]
    else:
        raw = raw[:i]
    path.write_bytes(bytes(raw))
    out = ws / "c" / "hyp-out.npy"
    rc, _, err = run_main(["sample", "--run", str(folder), "--n", "8", "--out", str(out)])
    assert "Traceback" not in err
    if rc == 0:
        np.testing.assert_array_equal(np.load(out), np.load(ws / "c" / "hyp-ref.npy"))
        os.remove(out)
    else:
        assert rc == 2 and len(err.strip().splitlines()) == 1 and "checkpoint.npz" in err, err
        assert not out.exists()
    path.write_bytes(good)


# ------------------------------------------------------------------------------------------------ behaviour
def test_resume_on_a_copy_writes_to_the_copy(ws, tmp_path):
    shutil.copytree(ws / "ring", tmp_path / "B")
    before = snapshot(ws / "ring")
    rc, _, err = run_main(["train", "--quiet", "--resume", "--steps", "4", "--lr", "5e-4", "--sample-every", "3",
                           "--out", str(tmp_path / "B")])
    assert rc == 0, err
    assert snapshot(ws / "ring") == before                      # the original is untouched
    assert minigan.load(tmp_path / "B" / "checkpoint.npz")["step"] == 4
    cfg = json.loads((tmp_path / "B" / "config.json").read_text())
    assert cfg["out"] == str(tmp_path / "B") and cfg["lr"] == 5e-4 and cfg["sample_every"] == 3
    changes = {c["option"]: c for c in cfg["changes"]}
    assert changes["lr"] == {"option": "lr", "from": 1e-3, "to": 5e-4, "step": 2}
    assert changes["steps"]["from"] == 2 and changes["steps"]["to"] == 4 and changes["steps"]["step"] == 2
    assert minigan.load(tmp_path / "B" / "checkpoint.npz")["optG"]["hyper"]["lr"] == 5e-4


def test_a_gpu_run_resumes_on_the_cpu(ws, tmp_path):
    """A checkpoint that holds the GPU generator's state (a run trained on a GPU) resumes with --device cpu on a
    machine without CuPy: the CPU never draws from the GPU's generator, so its state is not restored."""
    shutil.copytree(ws / "ring", tmp_path / "r")
    st_ = minigan.load(tmp_path / "r" / "checkpoint.npz")
    st_["rng"]["cuda"] = np.zeros(48, np.int8)
    minigan.save(st_, tmp_path / "r" / "checkpoint.npz")
    rc, _, err = run_main(["train", "--quiet", "--resume", "--steps", "3", "--device", "cpu", "--out",
                           str(tmp_path / "r")])
    assert rc == 0, err
    assert minigan.load(tmp_path / "r" / "checkpoint.npz")["step"] == 3


def test_force_moves_the_old_run_aside(ws, tmp_path):
    shutil.copytree(ws / "ring", tmp_path / "A")
    old = (tmp_path / "A" / "checkpoint.npz").read_bytes()
    rc, _, err = run_main(["train", "--quiet", "--force", "--steps", "1", "--out", str(tmp_path / "A")])
    assert rc == 0 and err.strip().splitlines() == [f"--force: moved the old run in {tmp_path / 'A'} to "
                                                    f"{tmp_path / 'A.old'}"]
    assert (tmp_path / "A.old" / "checkpoint.npz").read_bytes() == old
    assert minigan.load(tmp_path / "A" / "checkpoint.npz")["step"] == 1


def test_config_records_the_data_folder_read(ws):
    cfg = json.loads((ws / "img" / "config.json").read_text())
    assert cfg["data_dir"] == str((ws / "fm").resolve())


def test_evaluate_honours_samples_for_2d_runs(ws, tmp_path):
    shutil.copytree(ws / "ring", tmp_path / "r")
    rc, out, err = run_main(["evaluate", "--run", str(tmp_path / "r"), "--samples", "40"])
    assert rc == 0, err
    assert json.loads((tmp_path / "r" / "evaluation.json").read_text())["n_samples"] == 40


def test_sample_in_batches_gives_the_same_samples(ws, tmp_path):
    rc, _, err = run_main(["sample", "--run", "ring", "--n", "1203", "--out", str(tmp_path / "a.npy")])
    assert rc == 0, err
    cfg, G, _ = minigan.gan.run.load_run(str(ws / "ring"))
    ref = minigan.gan.evaluate.generate(cfg, G, 1203, np.random.default_rng(0), device=minigan.backend.resolve_device())
    np.testing.assert_array_equal(np.load(tmp_path / "a.npy"), ref)
    assert not [f for f in os.listdir(tmp_path) if ".part" in f]


def test_divergence_stops_before_a_bad_checkpoint(ws, tmp_path):
    """Adam at lr 1e6 on the ring: inf reaches the optimizer state, the run stops, no checkpoint is written,
    and the message says so (and how to start again)."""
    rc, _, err = run_main(["train", "--quiet", "--steps", "30", "--lr", "1e6", "--out", str(tmp_path / "d")])
    assert rc == 1 and "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert "not finite" in err and "No checkpoint has been saved yet" in err and "--force --lr 100000" in err
    assert not (tmp_path / "d" / "checkpoint.npz").exists()


def test_divergence_after_a_checkpoint_names_it(ws, tmp_path, monkeypatch):
    from minigan.gan.config import make_config
    from minigan.gan.train import Trainer, TrainingDiverged
    tr = Trainer(make_config(data="ring", steps=20, hidden=16, depth=2, batch_size=32, pack=1, sample_every=100,
                             out=str(tmp_path / "r")), progress=False)
    tr.steps_per_epoch = 3
    step = tr.train_step

    def poisoned():
        row = step()
        if tr.step == 5:
            next(iter(tr.optD.state.values()))["exp_avg_sq"][...] = np.inf
        return row
    tr.train_step = poisoned
    with pytest.raises(TrainingDiverged) as info:
        tr.fit()
    msg = str(info.value)
    # poisoned between steps 5 and 6: step 6's row (which carries the finiteness flag) stops the run, before the
    # save that step 6 would have made
    assert "step 6: D optimizer state exp_avg_sq" in msg and "last good checkpoint, step 3" in msg
    assert f"--resume --out {tmp_path / 'r'} --lr 0.0001" in msg
    st_ = minigan.load(tmp_path / "r" / "checkpoint.npz")
    assert st_["step"] == 3 and all(np.isfinite(v["exp_avg_sq"]).all() for v in st_["optD"]["state"].values())


def test_debug_shows_the_traceback(ws):
    with pytest.raises(ValueError, match="--n must be >= 1"):
        with contextlib.redirect_stderr(io.StringIO()):
            main(["--debug", "sample", "--run", "ring", "--n", "0", "--out", "x.npy"])


# ------------------------------------------------------------------------------------------------ signals
# $PYTHONPATH made absolute now, before the fixtures change the working directory (it may name the strict
# CuPy stand-in as tests/strict_cupy).
PATHS = [os.path.abspath(p) for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]


def _env():
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([REPO] + PATHS))
    env.pop("MINIGAN_DATA", None)
    return env


def _start_and_wait(run_dir):
    """A long ring run resumed from a copy; returns once it has trained past the checkpoint's step 2."""
    p = subprocess.Popen([sys.executable, "-m", "minigan", "train", "--resume", "--quiet", "--steps", "100000",
                          "--out", str(run_dir)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=_env(),
                         text=True)
    metrics = run_dir / "metrics.csv"
    deadline = time.time() + 60
    while time.time() < deadline and p.poll() is None:
        if metrics.exists() and len(metrics.read_text().splitlines()) > 4:
            return p
        time.sleep(0.05)
    p.kill()
    raise AssertionError(f"the run did not start: {p.communicate()}")


@pytest.mark.parametrize("sig, code", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_signal_finishes_the_step_saves_and_exits(ws, tmp_path, sig, code):
    shutil.copytree(ws / "ring", tmp_path / "r")
    p = _start_and_wait(tmp_path / "r")
    p.send_signal(sig)
    out, err = p.communicate(timeout=60)
    assert p.returncode == code, err
    assert "Traceback" not in err and f"{sig.name}: stopped at step" in err and "--resume --out" in err
    step = minigan.load(tmp_path / "r" / "checkpoint.npz")["step"]
    rows = (tmp_path / "r" / "metrics.csv").read_text().splitlines()
    assert step > 2 and int(rows[-1].split(",")[0]) == step         # the checkpoint holds the last step trained


def test_a_second_signal_stops_at_once_and_the_checkpoint_is_intact(ws, tmp_path):
    shutil.copytree(ws / "ring", tmp_path / "r")
    p = _start_and_wait(tmp_path / "r")
    p.send_signal(signal.SIGINT)
    p.send_signal(signal.SIGTERM)
    out, err = p.communicate(timeout=60)
    assert p.returncode in (130, 143), err
    assert "Traceback" not in err, err
    st_ = minigan.load(tmp_path / "r" / "checkpoint.npz")              # loads: never half written
    assert st_["step"] >= 2
    assert not [f for f in os.listdir(tmp_path / "r") if f.endswith(".tmp")]


# ------------------------------------------------------------------------------------------------ one writer
TINY = ["--data", "ring", "--hidden", "16", "--depth", "2", "--batch-size", "32", "--pack", "1", "--device", "cpu",
        "--sample-every", "100000", "--quiet"]


def _minigan(args, **kw):
    return subprocess.Popen([sys.executable, "-m", "minigan"] + args, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=_env(), text=True, **kw)


def _rows(run_dir):
    path = run_dir / "metrics.csv"
    return len(path.read_bytes().splitlines()) - 1 if path.exists() else 0


def test_one_writer_per_run(tmp_path):
    """Two processes on one --out: the second is refused, naming the first's pid, whether it starts a run,
    resumes or forces; the first finishes, and its run is whole (every row once, the checkpoint at the end)."""
    run = tmp_path / "r"
    first = _minigan(["train"] + TINY + ["--steps", "1200", "--out", str(run)])
    deadline = time.time() + 60
    while _rows(run) < 2 and first.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    assert first.poll() is None, first.communicate()
    config = (run / "config.json").read_bytes()
    others = [_minigan(["train"] + TINY + ["--steps", "3000", "--out", str(run)] + extra)
              for extra in ([], ["--resume"], ["--force"])]                   # all three at once
    for second in others:
        out, err = second.communicate(timeout=60)
        assert second.returncode == 2 and "Traceback" not in err and len(err.strip().splitlines()) == 1, err
        assert f"--out {run} is being trained by process {first.pid}" in err, err
    assert first.poll() is None                                         # (it was still training)
    out, err = first.communicate(timeout=120)
    assert first.returncode == 0, err
    assert (run / "config.json").read_bytes() == config and not (tmp_path / "r.old").exists()
    steps = [int(line.split(b",")[0]) for line in (run / "metrics.csv").read_bytes().splitlines()[1:]]
    assert steps == list(range(1, 1201))
    assert minigan.load(run / "checkpoint.npz")["step"] == 1200
    assert (run / "lock").read_text().strip() == str(first.pid)     # the pid of the run's writer


def test_the_lock_is_one_per_run_even_in_one_process(tmp_path):
    from minigan.gan.run import RunInUse, RunLock
    a, b = RunLock(str(tmp_path / "r")), RunLock(str(tmp_path / "r"))
    with a:
        with a:                                                      # the same lock nests
            with pytest.raises(RunInUse, match="is being trained by this process"):
                b.acquire()
            with pytest.raises(RunInUse, match="this process"):
                b.check_free()
    with b:                                                          # released: free again
        pass


# A run of 105 steps whose "epoch" is 7 steps, so that it writes a checkpoint every 7 steps (a 2-D set's epoch is
# 1,000 steps): the real command, with the Trainer's epoch shortened.
SHORT_EPOCHS = """
import sys
from minigan.gan import train
init = train.Trainer.__init__
def short(self, *args, **kwargs):
    init(self, *args, **kwargs)
    self.steps_per_epoch = 7
train.Trainer.__init__ = short
from minigan.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_kill_9_at_random_moments_loses_nothing(tmp_path):
    """SIGKILL at random moments (before the first row, mid-step, mid-checkpoint), then --resume, again and again
    until the run is done: every checkpoint left on disk loads, the lock is never stale, and the resumed run
    ends bit for bit where the uninterrupted run ends (weights, optimizer state, every row of metrics.csv as
    watch.read_metrics replays it; on the CPU)."""
    from minigan.gan.watch import read_metrics
    script = tmp_path / "short_epochs.py"
    script.write_text(SHORT_EPOCHS)

    def start(args):
        return subprocess.Popen([sys.executable, str(script)] + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                env=_env(), text=True)
    args = ["train"] + TINY + ["--steps", "105"]
    ref = start(args + ["--out", str(tmp_path / "ref")])
    assert ref.wait(timeout=120) == 0, ref.communicate()
    run, rng, kills = tmp_path / "run", np.random.default_rng(0), 0
    p = start(args + ["--out", str(run)])
    for _ in range(40):
        base, target = _rows(run), int(rng.integers(0, 20))           # kill once this process wrote this many rows
        deadline = time.time() + 60
        while _rows(run) < base + target and p.poll() is None and time.time() < deadline:
            time.sleep(0.001)
        time.sleep(float(rng.uniform(0, 0.02)))                       # ... and a moment more
        if p.poll() is not None:
            break                                                     # it finished first
        p.kill()
        p.wait()
        kills += 1
        if (run / "checkpoint.npz").exists():
            st_ = minigan.load(run / "checkpoint.npz")                # loads: a kill never leaves half a file
            assert 0 <= st_["step"] <= 105
            p = start(["train", "--resume", "--quiet", "--out", str(run)])
        else:                                                         # killed before its first checkpoint
            p = start(args + ["--out", str(run), "--force"])
    out, err = p.communicate(timeout=120)
    assert p.returncode == 0 or "already at step 105" in err, err    # (killed after its last save)
    assert kills >= 5, kills
    a, b = minigan.load(tmp_path / "ref" / "checkpoint.npz"), minigan.load(run / "checkpoint.npz")
    for net in ("G", "D"):
        for k in a[net]:
            np.testing.assert_array_equal(a[net][k], b[net][k])
    for opt in ("optG", "optD"):
        for k, s in a[opt]["state"].items():
            for name, v in s.items():
                np.testing.assert_array_equal(v, b[opt]["state"][k][name])
    strip = lambda rows: [{k: v for k, v in r.items() if k != "seconds"} for r in rows]    # noqa: E731
    assert strip(read_metrics(run / "metrics.csv")) == strip(read_metrics(tmp_path / "ref" / "metrics.csv"))
    assert not [f for f in os.listdir(run) if f.endswith(".tmp")]  # the last writer removed what kills left


# ------------------------------------------------------------------------------------------------ a full disk
def _small_files(limit):
    """In the child: files may grow to ``limit`` bytes, past which a write fails (EFBIG), as on a full disk."""
    def set_limit():
        import resource
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return set_limit


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX resource limits")
def test_a_full_disk_names_the_file_and_leaves_no_temporary_file(ws, tmp_path):
    p = _minigan(["sample", "--run", str(ws / "ring"), "--n", "4000", "--out", str(tmp_path / "s.npy")],
                 preexec_fn=_small_files(10000))
    out, err = p.communicate(timeout=60)
    assert p.returncode == 2 and "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert f"{tmp_path / 's.npy'}: File too large" in err, err
    assert os.listdir(tmp_path) == []
    p = _minigan(["train"] + TINY + ["--steps", "3", "--out", str(tmp_path / "r")], preexec_fn=_small_files(20000))
    out, err = p.communicate(timeout=60)
    assert p.returncode == 2 and "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert f"{tmp_path / 'r' / 'checkpoint.npz'}: File too large" in err, err
    assert sorted(f for f in os.listdir(tmp_path / "r") if f.endswith(".tmp")) == []


# ------------------------------------------------------------------------------------------------ Ctrl-C at start
SLOW_NUMPY = """
import os, sys, time
class SlowNumpy:                       # importing NumPy waits here, as on a slow disk, until the test presses Ctrl-C
    def find_spec(self, name, path=None, target=None):
        if name == "numpy" and os.environ.get("SLOW_NUMPY_MARK"):
            open(os.environ["SLOW_NUMPY_MARK"], "w").close()
            time.sleep(60)
        return None
sys.meta_path.insert(0, SlowNumpy())
"""


def test_ctrl_c_while_starting_prints_one_line(tmp_path):
    (tmp_path / "sitecustomize.py").write_text(SLOW_NUMPY)
    env = dict(_env(), SLOW_NUMPY_MARK=str(tmp_path / "importing"))
    env["PYTHONPATH"] = os.pathsep.join([str(tmp_path), env["PYTHONPATH"]])
    p = subprocess.Popen([sys.executable, "-m", "minigan", "train", "--out", str(tmp_path / "r")], env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 60
    while not (tmp_path / "importing").exists() and time.time() < deadline:
        time.sleep(0.01)
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=60)
    assert p.returncode == 130 and err == "minigan: interrupted while starting\n", (p.returncode, err)
    assert not (tmp_path / "r").exists()
