"""Write the tour's notebooks from their sources and run them, so that each stores the outputs of today's code.

    python tour/build.py              # every notebook: tour/NN_name.py -> tour/NN_name.ipynb, run from a clean kernel
    python tour/build.py 03 05        # only the notebooks whose names start with 03 or 05
    python tour/build.py --check      # no run: say which notebooks differ from their sources (the default test suite
                                      # runs this check: tests/test_tour.py)

Each notebook's source is a plain Python file beside it, cut into cells by ``# %%`` lines (the "percent" format
that Jupytext, VS Code and Spyder read): ``# %% [markdown]`` starts a text cell whose lines are comments, ``# %%``
a code cell. The sources are what one edits and reviews (a change is a few lines of diff, where the notebook's
JSON also holds every output and picture); the notebooks are what one reads and runs. Both are committed: a code
host shows the notebooks with their figures.

The kernels run the minigan of this checkout (its root comes first on PYTHONPATH) on the CPU (MINIGAN_DEVICE=cpu:
the stored numbers are the CPU's), with the working directory tour/, as Jupyter runs a notebook. Each notebook's
running time and the CPU time of its kernel are printed and kept in its metadata (``minigan_tour``).
"""
import argparse
import os
import re
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
NAME = re.compile(r"^\d\d_\w+\.py$")
KERNEL = {"display_name": "Python 3", "language": "python", "name": "python3"}


def sources(prefixes=()):
    """The notebook sources tour/NN_name.py, in order; with ``prefixes``, those whose names start with one."""
    names = sorted(n for n in os.listdir(HERE) if NAME.match(n))
    if prefixes:
        names = [n for n in names if n.startswith(tuple(prefixes))]
    return [os.path.join(HERE, n) for n in names]


def notebook_path(source):
    return source[:-3] + ".ipynb"


def cells_of(text, where="source"):
    """[(kind, text)] of a percent-format source; kind is "markdown" or "code". The file starts with a cell
    marker; a text cell's lines are comments ("# " is taken off); trailing blank lines are dropped."""
    cells, kind, lines = [], None, []

    def close():
        while lines and not lines[-1].strip():
            lines.pop()
        if kind is not None:
            cells.append((kind, "\n".join(lines)))

    for n, line in enumerate(text.splitlines(), 1):
        if line.startswith("# %%"):
            close()
            rest = line[4:].strip()
            if rest not in ("", "[markdown]"):
                raise ValueError(f"{where}:{n}: a cell marker is '# %%' or '# %% [markdown]', got {line!r}")
            kind, lines = ("markdown" if rest else "code"), []
        elif kind is None:
            if line.strip():
                raise ValueError(f"{where}:{n}: the file must start with a cell marker ('# %% [markdown]')")
        elif kind == "markdown":
            if line and not line.startswith("#"):
                raise ValueError(f"{where}:{n}: a line of a text cell must be a comment, got {line!r}")
            lines.append(line[2:] if line.startswith("# ") else line[1:])
        else:
            lines.append(line)
    close()
    return cells


def make_notebook(source):
    """A new notebook (no outputs) holding the cells of ``source``."""
    import nbformat
    with open(source) as f:
        cells = cells_of(f.read(), os.path.relpath(source, ROOT))
    nb = nbformat.v4.new_notebook()
    nb.metadata.update(kernelspec=KERNEL, language_info={"name": "python"})
    nb.cells = [nbformat.v4.new_markdown_cell(text) if kind == "markdown" else nbformat.v4.new_code_cell(text)
                for kind, text in cells]
    for i, cell in enumerate(nb.cells):              # stable ids: a rebuild changes only what changed
        cell["id"] = f"cell-{i:02d}"
    return nb


def same_cells(nb, source):
    """Whether the notebook ``nb`` holds exactly the cells of ``source`` (kinds and texts, in order)."""
    with open(source) as f:
        want = cells_of(f.read(), source)
    return [(c.cell_type, c.source) for c in nb.cells] == want


def kernel_env():
    """The environment the kernels run in: this checkout's minigan first on the path, the CPU."""
    env = dict(os.environ, MINIGAN_DEVICE="cpu")
    env["PYTHONPATH"] = os.pathsep.join([ROOT] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
    return env


def execute(nb, timeout=600):
    """Run ``nb`` in place from a clean kernel in tour/ (raises nbclient's CellExecutionError on a failing
    cell); returns (wall seconds, CPU seconds of the kernel)."""
    import resource

    from nbclient import NotebookClient
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3", record_timing=False,
                            resources={"metadata": {"path": HERE}})

    def cpu():                                       # the kernel is a child process: counted once it has ended
        r = resource.getrusage(resource.RUSAGE_CHILDREN)
        return r.ru_utime + r.ru_stime
    t0, c0 = time.perf_counter(), cpu()
    client.execute(env=kernel_env())
    return time.perf_counter() - t0, cpu() - c0


def build(source):
    """Write and run one notebook; returns (wall seconds, CPU seconds)."""
    import nbformat
    nb = make_notebook(source)
    seconds, cpu = execute(nb)
    nb.metadata["minigan_tour"] = {"seconds": round(seconds, 1), "cpu_seconds": round(cpu, 1)}
    nbformat.write(nb, notebook_path(source))
    return seconds, cpu


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("names", nargs="*", help="notebook name prefixes, e.g. 03 (default: all)")
    p.add_argument("--check", action="store_true", help="only check that the notebooks hold their sources' cells")
    a = p.parse_args(argv)
    todo = sources(a.names)
    if not todo:
        raise SystemExit(f"no notebook source matches {' '.join(a.names)} in {HERE}")
    if a.check:
        import nbformat
        stale = [os.path.relpath(s, ROOT) for s in todo
                 if not os.path.exists(notebook_path(s)) or not same_cells(nbformat.read(notebook_path(s), 4), s)]
        for s in stale:
            print(f"{s}: its notebook is missing or differs; run: python tour/build.py {os.path.basename(s)[:2]}")
        return 1 if stale else 0
    for s in todo:
        seconds, cpu = build(s)
        print(f"{os.path.relpath(notebook_path(s), ROOT)}: {seconds:.0f} s ({cpu:.0f} s of CPU time)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
