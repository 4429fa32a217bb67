"""Masks M (1 = known pixel, 0 = missing) and Yeh et al.'s importance weights.

Every mask is float32 and holds only 0 and 1, of shape (H, W) or (N, 1, H, W).
NumPy only: masks are made once per call and moved to the device by ``search``.
"""
import os

import numpy as np

from .. import files

KINDS = ("center", "left", "right", "top", "bottom", "random", "grid", "box")
# The argument a kind takes after a colon in a mask spec ("random:0.9", "grid:2", "box:2,11,14,14"), and its default.
ARGS = {"random": ("p, the fraction of pixels missing, in (0, 1)", 0.8),
        "grid": ("the spacing s: only pixels whose row and column are multiples of s are known, s >= 2", 4),
        "box": ("Y,X,H,W: the missing rectangle's top row, left column, height and width", None)}


def _rng(rng):
    """A numpy Generator from None (seed 0), an int seed, or a Generator."""
    if isinstance(rng, np.random.Generator):
        return rng
    return np.random.default_rng(0 if rng is None else int(rng))


def _hw(shape, where):
    shape = tuple(int(s) for s in shape)
    if len(shape) == 2:
        return shape, 1
    if len(shape) == 4 and shape[1] == 1:
        return shape[2:], shape[0]
    raise ValueError(f"{where}: mask shape must be (H, W) or (N, 1, H, W), got {shape}")


def parse_spec(spec, where="mask"):
    """A mask spec -> (kind, argument): "center" -> ("center", None), "random:0.9" -> ("random", 0.9),
    "grid" -> ("grid", 4), "box:2,11,14,14" -> ("box", (2, 11, 14, 14)). A ValueError names ``where`` (the
    option, in the CLI) and the bad part."""
    spec = str(spec)
    kind, colon, arg = spec.partition(":")
    if kind not in KINDS:
        if "." in spec or "/" in spec or os.sep in spec:
            raise ValueError(f"{where} {spec!r}: a mask file must end in .npy or .png")
        raise ValueError(f"{where}: unknown kind {kind!r}; expected one of {', '.join(KINDS)} "
                         "(or a .npy / .png file)")
    if kind not in ARGS:
        if colon:
            raise ValueError(f"{where} {spec!r}: {kind} takes no argument")
        return kind, None
    what, default = ARGS[kind]
    if not arg:
        if colon or default is None:
            raise ValueError(f"{where} {spec!r}: {kind} needs its argument after the colon, {what}")
        return kind, default
    try:
        value = (float(arg) if kind == "random" else int(arg) if kind == "grid"
                 else tuple(int(v) for v in arg.split(",")))
    except ValueError:
        raise ValueError(f"{where} {spec!r}: cannot read {arg!r} as {what}") from None
    if (kind == "random" and not 0 < value < 1) or (kind == "grid" and value < 2) or \
            (kind == "box" and (len(value) != 4 or min(value) < 0 or min(value[2:]) < 1)):
        raise ValueError(f"{where} {spec!r}: the argument must be {what}; got {arg!r}")
    return kind, value


def make_mask(kind, shape, p=0.8, rng=None, spacing=4, box=None):
    """A mask of ``shape`` ((H, W) or (N, 1, H, W)); 1 = known, 0 = missing.

    Args:
        kind: "center" (the square [H/4, 3H/4) x [W/4, 3W/4) missing), "left" / "right" / "top" / "bottom"
            (that half missing), "random" (round(p*H*W) pixels missing, drawn afresh for every image), "grid"
            (known only where row and column are both multiples of ``spacing``) or "box" (the rectangle
            ``box`` = (Y, X, H, W) missing, clipped to the image).
        shape: (H, W) or (N, 1, H, W).
        p: the fraction of missing pixels, for "random" only.
        rng: None (seed 0), an int seed, or a numpy Generator, for "random" only.
        spacing: the grid's spacing, for "grid" only.
        box: (top, left, height, width) of the hole, for "box" only.
    Returns:
        float32 array of ``shape``.
    """
    (h, w), n = _hw(shape, f"make_mask({kind!r})")
    if h < 1 or w < 1:
        raise ValueError(f"make_mask: image size must be positive, got {h}x{w}")
    m = np.ones((n, 1, h, w), dtype=np.float32)
    if kind == "center":
        m[:, :, h // 4:(3 * h) // 4, w // 4:(3 * w) // 4] = 0
    elif kind in ("left", "right", "top", "bottom"):
        half = {"left": (slice(None), slice(0, w // 2)), "right": (slice(None), slice(w // 2, None)),
                "top": (slice(0, h // 2), slice(None)), "bottom": (slice(h // 2, None), slice(None))}[kind]
        m[(slice(None), slice(None)) + half] = 0
    elif kind == "grid":
        if isinstance(spacing, bool) or int(spacing) != spacing or spacing < 2:
            raise ValueError(f"make_mask('grid'): spacing must be a whole number >= 2, got {spacing}")
        m[:] = 0
        m[:, :, ::int(spacing), ::int(spacing)] = 1
    elif kind == "box":
        if box is None or len(box) != 4 or min(box) < 0 or min(box[2:]) < 1:
            raise ValueError(f"make_mask('box'): box must be (top, left, height, width) with height, width >= 1, "
                             f"got {box}")
        y, x, bh, bw = (int(v) for v in box)
        m[:, :, y:y + bh, x:x + bw] = 0
    elif kind == "random":
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"make_mask('random'): p (the fraction missing) must be in [0, 1], got {p}")
        g, k = _rng(rng), int(round(p * h * w))
        for i in range(n):
            m[i, 0].reshape(-1)[g.permutation(h * w)[:k]] = 0
    else:
        raise ValueError(f"make_mask: unknown mask kind {kind!r}; expected one of {', '.join(KINDS)} "
                         "(or a .npy / .png file for load_mask)")
    return m.reshape(shape)


def training_masks(n, rng, h=28, w=28):
    """n masks (n, 1, h, w) from a broad family, for training the encoder to read any mask: a box of any size
    anywhere (6 to 21 pixels a side on 28 x 28), a third to two thirds of the image from one side, random
    pixels (50 to 97 % missing), a grid of spacing 2 to 7 at any offset, or an elliptic hole. Each image
    keeps at least one known and one missing pixel."""
    g = _rng(rng)
    m = np.ones((n, 1, h, w), np.float32)
    yy, xx = np.mgrid[:h, :w]
    for i, kind in enumerate(g.integers(0, 5, n)):
        hole = m[i, 0]
        if kind == 0:                                               # a box
            bh, bw = (int(round(v)) for v in g.uniform(0.2, 0.78, 2) * (h, w))
            y, x = g.integers(0, h - bh + 1), g.integers(0, w - bw + 1)
            hole[y:y + bh, x:x + bw] = 0
        elif kind == 1:                                             # a part from one side
            side, frac = g.integers(0, 4), g.uniform(1 / 3, 2 / 3)
            c = int(round(frac * (w if side < 2 else h)))
            view = hole if side < 2 else hole.T
            view[:, :c] = 0
            if side % 2:
                view[:] = view[:, ::-1].copy()
        elif kind == 2:                                             # random pixels
            hole[g.random((h, w)) < g.uniform(0.5, 0.97)] = 0
        elif kind == 3:                                             # a grid
            s = int(g.integers(2, 8))
            oy, ox = g.integers(0, s, 2)
            hole[:] = 0
            hole[oy::s, ox::s] = 1
        else:                                                       # an elliptic hole
            (cy, cx), (ry, rx) = g.uniform(0.15, 0.85, 2) * (h, w), g.uniform(0.14, 0.4, 2) * (h, w)
            hole[((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 < 1] = 0
        if hole.all():
            hole[h // 3:2 * h // 3, w // 3:2 * w // 3] = 0
        if not hole.any():
            hole[h // 2, w // 2] = 1
    return m


def _bad_values(values, allowed):
    """A short description of the values of ``values`` not in ``allowed`` (for error messages)."""
    v = np.asarray(values)
    bad = v[~np.isin(v, allowed)] if v.dtype.kind != "f" else v[~(np.isin(v, allowed) & np.isfinite(v))]
    uniq = np.unique(bad[~np.isnan(bad)]) if bad.dtype.kind == "f" else np.unique(bad)
    shown = [f"{x:g}" if isinstance(x, float) else str(x) for x in uniq[:5].tolist()]
    if bad.dtype.kind == "f" and np.isnan(bad).any():
        shown.append("nan")
    more = " ..." if len(uniq) > 5 else ""
    return f"{bad.size} value(s) such as {', '.join(shown)}{more}"


def load_mask(path):
    """A mask from a file: ``.npy`` of 0 / 1 (or bool) or ``.png`` of black (0) / white (255); 1 = known.

    Any other value (0.5, -1, NaN, a grey level) is refused naming the bad values: a mask is binary.
    Returns float32 of shape (H, W) for a 2-D array or a PNG, else the array's own shape (for example
    (N, 1, H, W)); ``check_mask`` fits it to the images.
    """
    ext = os.path.splitext(str(path))[1].lower()
    if not os.path.exists(path):
        raise FileNotFoundError(f"load_mask: no such mask file {path!r}")
    path = files.regular_file(path, "the mask")
    if ext == ".npy":
        try:
            a = np.load(path, allow_pickle=False)
        except (ValueError, OSError, EOFError) as e:
            raise ValueError(f"load_mask: cannot read {path} as a .npy array ({e})") from None
        if not isinstance(a, np.ndarray) or a.dtype.kind not in "biuf":
            raise ValueError(f"load_mask: {path} holds {getattr(a, 'dtype', type(a).__name__)} values; "
                             "expected 0 (missing) and 1 (known), or bool")
        if a.dtype.kind != "b" and not np.isin(a, (0, 1)).all():
            raise ValueError(f"load_mask: {path} must hold only 0 (missing) and 1 (known); it holds "
                             f"{_bad_values(a, (0, 1))}")
        return a.astype(np.float32)
    if ext == ".png":
        from PIL import Image, UnidentifiedImageError
        try:
            grey = np.asarray(Image.open(path).convert("L"))      # (H, W) uint8
        except (UnidentifiedImageError, OSError) as e:
            raise ValueError(f"load_mask: cannot read {path} as a PNG ({e})") from None
        if not np.isin(grey, (0, 255)).all():
            raise ValueError(f"load_mask: {path} must be black (0, missing) and white (255, known) only; it "
                             f"holds grey levels: {_bad_values(grey, (0, 255))}")
        return (grey == 255).astype(np.float32)
    raise ValueError(f"load_mask: mask file must end in .npy or .png, got {path!r}")


def save_mask(mask, path):
    """Write a mask as ``.npy`` (float32 0/1) or ``.png`` (white = known, black = missing; (H, W) only)."""
    m = np.asarray(mask, dtype=np.float32)
    ext = os.path.splitext(str(path))[1].lower()
    if ext == ".npy":
        np.save(path, m)
    elif ext == ".png":
        if m.ndim < 2 or int(np.prod(m.shape[:-2])) != 1:
            raise ValueError(f"save_mask: a PNG holds one (H, W) mask, got shape {np.shape(mask)}")
        m = m.reshape(m.shape[-2:])
        from PIL import Image
        Image.fromarray(((m > 0) * 255).astype(np.uint8)).save(path)
    else:
        raise ValueError(f"save_mask: file must end in .npy or .png, got {path!r}")


def get_mask(spec, shape, rng=None, where="mask"):
    """A mask for images of ``shape`` (N, C, H, W), fitted to them (``check_mask``), from a spec: a kind with its
    optional argument (``parse_spec``: "center", "random:0.9", "grid:2", "box:2,11,14,14"), or a .npy / .png
    file (``load_mask``). ``rng`` seeds the random kind; ``where`` names the spec in errors."""
    n, _, h, w = shape
    if str(spec).lower().endswith((".npy", ".png")):
        return check_mask(load_mask(spec), shape)
    kind, arg = parse_spec(spec, where)
    if kind == "box" and (arg[0] + arg[2] > h or arg[1] + arg[3] > w):
        raise ValueError(f"{where} {spec!r}: the box reaches row {arg[0] + arg[2]}, column {arg[1] + arg[3]}, "
                         f"outside the {h}x{w} images")
    keyword = {"random": "p", "grid": "spacing", "box": "box"}.get(kind)
    return check_mask(make_mask(kind, (n, 1, h, w), rng=rng, **({keyword: arg} if keyword else {})), shape)


def check_mask(mask, shape):
    """``mask`` as float32 (N, 1, H, W) (or (1, 1, H, W), shared) for images of ``shape`` (N, C, H, W).

    Accepts (H, W), (1, H, W), (1, 1, H, W), (N, 1, H, W) and (N, C, H, W) with equal channels; refuses a
    mask whose size does not fit the images, or values other than 0 and 1, with an error naming both.
    """
    m = np.asarray(mask)
    n, c, h, w = shape
    if m.ndim == 2:
        m = m[None, None]
    elif m.ndim == 3 and m.shape[0] == 1:
        m = m[None]
    if m.ndim != 4 or m.shape[2:] != (h, w) or m.shape[0] not in (1, n) or m.shape[1] not in (1, c):
        raise ValueError(f"inpaint: mask of shape {tuple(np.shape(mask))} does not fit images of shape "
                         f"{tuple(shape)}; expected (H, W) = ({h}, {w}), (1, 1, {h}, {w}) or ({n}, 1, {h}, {w})")
    if m.dtype.kind not in "biuf":
        raise ValueError(f"inpaint: mask values must be 0 (missing) or 1 (known), got dtype {m.dtype}")
    if m.dtype.kind != "b" and not np.isin(m, (0, 1)).all():
        raise ValueError("inpaint: mask values must be 0 (missing) or 1 (known); got "
                         f"{_bad_values(m, (0, 1))}")
    if m.shape[1] > 1:
        if not (m == m[:, :1]).all():
            raise ValueError("inpaint: a per-channel mask must be the same in every channel")
        m = m[:, :1]
    known = m.reshape(len(m), -1).astype(bool)
    for i, what in ((np.flatnonzero(known.all(1)), "all known: nothing to fill"),
                    (np.flatnonzero(~known.any(1)), "all missing: nothing to match")):
        if len(i):
            which = "the mask" if len(m) == 1 else f"the mask of image(s) {', '.join(map(str, i[:5]))}"
            raise ValueError(f"inpaint: {which} is {what}")
    return m.astype(np.float32)


def importance_weights(mask, size=7):
    """Yeh et al.'s weights: W_i = M_i * (missing pixels in the size x size window around i) / size^2.

    A known pixel next to the hole counts more than one far from it; missing pixels get 0. Pixels outside
    the image count as known. A box filter on 1 - M (zero padding, NumPy sliding windows).
    Input and output: float32 (H, W) or (N, 1, H, W).
    """
    m = np.asarray(mask, dtype=np.float32)
    if size < 1 or size % 2 == 0:
        raise ValueError(f"importance_weights: window size must be odd and positive, got {size}")
    r = size // 2
    hole = np.pad(1.0 - m, [(0, 0)] * (m.ndim - 2) + [(r, r), (r, r)])       # (..., H + 2r, W + 2r)
    win = np.lib.stride_tricks.sliding_window_view(hole, (size, size), axis=(-2, -1))  # (..., H, W, k, k)
    return (m * win.sum(axis=(-2, -1)) / (size * size)).astype(np.float32)
