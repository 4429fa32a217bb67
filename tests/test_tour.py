"""The tour's notebooks (tour/) show the outputs of today's code.

Each notebook is written from its source, tour/NN_name.py, and run by ``python tour/build.py``, which stores the
outputs; its last cell prints its key numbers under a line "key numbers", one "  name: value" a line.

- In the default suite (fast, nothing is run): every notebook holds exactly its source's cells, its stored run went
  to the end without an error, drew its figures and printed its key numbers, each of which has a tolerance below.
- Marked ``tour`` (``python -m pytest -q -m tour``; CI runs it; about 5 minutes on 2 cores): every notebook is run
  again from a clean kernel, as nbmake would run it, on the CPU, and each key number must equal the stored one
  within its tolerance. A notebook whose code changed without ``python tour/build.py`` fails here.

The tolerances: numbers computed from fixed weights or closed forms must agree to rounding; numbers that come out
of training (a GAN's path depends on every rounding, so another machine's BLAS takes another path) within a margin
that still catches a broken notebook.
"""
import importlib.util
import os
import re

import pytest

nbformat = pytest.importorskip("nbformat", reason="the tour's checks need nbformat (pip install -e '.[dev]')")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
spec = importlib.util.spec_from_file_location("tour_build", os.path.join(ROOT, "tour", "build.py"))
build = importlib.util.module_from_spec(spec)
spec.loader.exec_module(build)

SOURCES = build.sources()
IDS = [os.path.basename(s)[:-3] for s in SOURCES]

# (notebook prefix, key) -> the largest |fresh - stored| allowed; "rel" entries are relative to the stored value.
TOLERANCE = {
    ("01", "df/dw by minigan"): 1e-9,
    ("01", "backward vs by hand, largest difference"): 1e-12,
    ("01", "d2f/dw2 by minigan"): 1e-9,
    ("01", "second derivative vs by hand, difference"): 1e-12,
    ("02", "SGD step vs by hand, largest difference"): 1e-6,
    ("02", "loss after 600 Adam steps"): 0.02,
    ("02", "accuracy"): 0.02,
    ("02", "saved and loaded, largest difference"): 1e-6,
    ("03", "C(G) for N(3, 0.5^2)"): 1e-4,
    ("03", "(a) C(G) + log 4"): 0.01,
    ("03", "(b) mean |D - D*|"): 0.005,
    ("03", "(c) C(G) + log 4 after one G step"): 0.02,
    ("03", "(d) C(G) + log 4 after 2,000 G steps"): 0.02,
    ("03", "(d) mean |D - 1/2| under p_data"): 0.03,
    ("04", "modes covered over steps 310-400, plain"): 1.5,
    ("04", "modes covered over steps 310-400, PacGAN, pack 4"): 3.0,
    ("04", "modes covered over steps 310-400, unrolled, K = 5"): 2.5,
    ("05", "loss_D over the last 50 of 300 steps"): 0.3,
    ("05", "FID after 300 steps"): ("rel", 0.5),
    ("05", "FID of the 12-epoch G"): 0.02,
    ("05", "Inception-style score of the 12-epoch G"): 0.01,
    ("05", "FID of the real test images"): 0.01,
    ("06", "hole PSNR, mean training image"): 1e-3,
    ("06", "hole PSNR, nearest training image"): 1e-3,
    ("06", "hole PSNR, mean of 8 nearest"): 1e-3,
    ("06", "hole PSNR, minigan, random codes"): 0.15,
    ("06", "hole PSNR, minigan, encoder"): 0.15,
    ("06", "hole PSNR, minigan, nearest images' codes"): 0.15,
    ("06", "final L(z) of the search from random codes, mean over images"): ("rel", 0.02),
}
KEY_LINE = re.compile(r"^  (.+): (-?[0-9][0-9.e+-]*)$")


def key_numbers(nb):
    """{name: value} from the output of the notebook's last code cell, under its line "key numbers"."""
    cell = [c for c in nb.cells if c.cell_type == "code"][-1]
    text = "".join(o.get("text", "") for o in cell.get("outputs", []) if o.output_type == "stream")
    lines = text.splitlines()
    assert "key numbers" in lines, "the last cell prints no 'key numbers'"
    out = {}
    for line in lines[lines.index("key numbers") + 1:]:
        m = KEY_LINE.match(line)
        assert m, f"not a key number line ('  name: value'): {line!r}"
        out[m.group(1)] = float(m.group(2))
    assert out, "no key numbers"
    return out


def tolerance(prefix, key):
    for (p, k), tol in TOLERANCE.items():
        if p == prefix and k == key:
            return tol
    raise AssertionError(f"{prefix}: no tolerance for the key number {key!r}; add one to tests/test_tour.py")


def stored(source):
    path = build.notebook_path(source)
    assert os.path.exists(path), f"{os.path.relpath(path, ROOT)} is missing; run: python tour/build.py"
    return nbformat.read(path, 4)


def test_there_is_a_tour():
    assert len(SOURCES) >= 6, [os.path.basename(s) for s in SOURCES]


@pytest.mark.parametrize("source", SOURCES, ids=IDS)
def test_stored_notebook_is_its_source_run_to_the_end(source):
    nb = stored(source)
    assert build.same_cells(nb, source), (f"{os.path.basename(build.notebook_path(source))} differs from its source; "
                                          f"run: python tour/build.py {os.path.basename(source)[:2]}")
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.get("execution_count") for c in code), "a code cell was not run"
    errors = [o for c in code for o in c.outputs if o.output_type == "error"]
    assert not errors, f"a cell failed: {errors[0].ename}: {errors[0].evalue}"
    assert "cuda_available()" in code[0].source and "set_default_device" in code[0].source, \
        "the first code cell selects the device"
    assert "on cpu" in "".join(o.get("text", "") for o in code[0].outputs), "stored outputs are the CPU's"
    numbers = key_numbers(nb)
    prefix = os.path.basename(source)[:2]
    for key in numbers:
        tolerance(prefix, key)
    assert nb.metadata.get("minigan_tour", {}).get("seconds"), "no running time in the metadata"


@pytest.mark.parametrize("source", SOURCES, ids=IDS)
def test_notebook_draws_its_figures(source):
    nb = stored(source)
    with open(source) as f:
        shows = f.read().count("plt.show()")
    pictures = sum("image/png" in o.get("data", {}) for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    assert pictures >= shows, f"{pictures} pictures stored, {shows} drawn by the source"


def test_sources_parse_as_cells():
    cells = build.cells_of("# %% [markdown]\n# # Title\n#\n# text\n\n# %%\nx = 1\n\n\n# %%\nprint(x)\n")
    assert cells == [("markdown", "# Title\n\ntext"), ("code", "x = 1"), ("code", "print(x)")]
    with pytest.raises(ValueError, match="must start with a cell marker"):
        build.cells_of("x = 1\n")
    with pytest.raises(ValueError, match="must be a comment"):
        build.cells_of("# %% [markdown]\ntext\n")


@pytest.mark.tour
@pytest.mark.parametrize("source", SOURCES, ids=IDS)
def test_notebook_runs_and_gives_its_stored_numbers(source):
    before = key_numbers(stored(source))
    nb = build.make_notebook(source)
    seconds, cpu = build.execute(nb)
    print(f"{os.path.basename(source)[:-3]}: {seconds:.0f} s ({cpu:.0f} s of CPU time)")
    after = key_numbers(nb)
    assert set(after) == set(before), f"the key numbers changed names: {sorted(set(after) ^ set(before))}"
    prefix, bad = os.path.basename(source)[:2], []
    for key, value in before.items():
        tol = tolerance(prefix, key)
        allowed = tol[1] * abs(value) if isinstance(tol, tuple) else tol
        if not abs(after[key] - value) <= allowed:
            bad.append(f"{key}: stored {value}, now {after[key]} (tolerance {allowed:.3g})")
    assert not bad, ("the notebook no longer gives its stored numbers; if the change is meant, run "
                     f"python tour/build.py {prefix}:\n  " + "\n  ".join(bad))
