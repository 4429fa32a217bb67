"""MNIST / Fashion-MNIST on disk: ``find_files`` looks for the four IDX files locally and otherwise downloads
them, checking each file's SHA-256 before it enters the cache; ``load_images`` returns scaled float32 images."""
import hashlib
import http.client
import os
import tempfile
import urllib.request
from pathlib import Path

import numpy as np

from .idx import DataError, read_idx

FILES = {  # role -> file name (without .gz)
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}

# SHA-256 of the official .gz files. MNIST: as published by TensorFlow Datasets / torchvision. Fashion-MNIST:
# the files whose MD5s the Zalando README lists (Debian's copies under /usr/share/datasets differ only in
# the gzip header, name and timestamp stripped, so they decompress to the same bytes but hash differently).
SHA256 = {
    "mnist": {
        "train-images-idx3-ubyte.gz": "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
        "train-labels-idx1-ubyte.gz": "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
        "t10k-images-idx3-ubyte.gz": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
        "t10k-labels-idx1-ubyte.gz": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
    },
    "fashion-mnist": {
        "train-images-idx3-ubyte.gz": "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
        "train-labels-idx1-ubyte.gz": "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
        "t10k-images-idx3-ubyte.gz": "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
        "t10k-labels-idx1-ubyte.gz": "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
    },
}

# Tried in order; a file is kept only if its SHA-256 matches, so a plain-HTTP mirror cannot inject data.
MIRRORS = {
    "mnist": ["https://ossci-datasets.s3.amazonaws.com/mnist/",
              "https://storage.googleapis.com/cvdf-datasets/mnist/"],
    "fashion-mnist": ["https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
                      "https://storage.googleapis.com/tensorflow/tf-keras-datasets/",
                      "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"],
}

CLASS_NAMES = {
    "fashion-mnist": ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                      "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"],
    "mnist": [str(d) for d in range(10)],
}

SYSTEM_DIR = Path("/usr/share/datasets")  # Debian's dataset-fashion-mnist installs <SYSTEM_DIR>/fashion-mnist
CHUNK = 1 << 20


def _check_name(name, where):
    """Raise a ValueError unless name is a known image data set."""
    if name not in CLASS_NAMES:
        raise ValueError(f"{where}: unknown data set {name!r}; expected one of {sorted(CLASS_NAMES)}")


def image_size(name):
    """The (channels, height, width) of one image of the named data set: (1, 28, 28) for both."""
    _check_name(name, "image_size")
    return (1, 28, 28)


def cache_dir(name):
    """Where downloads of the named data set are kept: ~/.cache/minigan/<name>."""
    return Path.home() / ".cache" / "minigan" / name


def search_dirs(name, data_dir=None):
    """The folders find_files looks in, in order (see find_files)."""
    dirs = []
    for base in (data_dir, os.environ.get("MINIGAN_DATA") or None):
        if base is not None:
            base = Path(base).expanduser()
            dirs += [base, base / name]
    return dirs + [cache_dir(name), SYSTEM_DIR / name]


def _complete(folder):
    """{role: path} when folder holds all four files (raw preferred to .gz), else None."""
    found = {}
    for role, stem in FILES.items():
        for candidate in (folder / stem, folder / (stem + ".gz")):
            if candidate.is_file():
                found[role] = candidate
                break
        else:
            return None
    return found


def _missing(folder):
    """The file names (without .gz) of the four that ``folder`` lacks."""
    return [stem for stem in FILES.values() if not ((folder / stem).is_file() or (folder / (stem + ".gz")).is_file())]


def _named_folder(name, base, what):
    """{role: path} from ``base`` or ``base/name``, or a DataError saying what is missing where."""
    for folder in (base, base / name):
        found = _complete(folder)
        if found:
            return found
    if not base.is_dir():
        raise DataError(f"{what} {base}: no such folder (it should hold the four {name} IDX files, or a "
                        f"{name}/ folder with them)")
    sub = base / name
    where = sub if sub.is_dir() and len(_missing(sub)) < len(_missing(base)) else base
    odd = [p.name for stem in _missing(where) for p in (where / stem, where / (stem + ".gz")) if p.exists()]
    odd = f"; {', '.join(odd)} is there but not a regular file (a folder, a named pipe, ...)" if odd else ""
    raise DataError(f"{what} {base}: the {name} files are incomplete; {where} lacks "
                    f"{', '.join(_missing(where))} (raw or .gz){odd}")


def _default_opener(url):
    """Open url for reading (urllib, 60 s timeout)."""
    return urllib.request.urlopen(url, timeout=60)


def download(url, dest, sha256, opener=None):
    """Download url to dest, keeping it only if its SHA-256 equals ``sha256``.

    The bytes go to a temporary file in dest's folder, are hashed while they stream, and are moved into
    place with ``os.replace`` only after the hash matches, so a truncated or tampered download never
    reaches the cache. ``opener(url)`` must return a readable binary file object (default: urllib).
    Raises DataError on a network error or a hash mismatch.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    opener = opener or _default_opener
    fd, tmp = tempfile.mkstemp(prefix=dest.name + ".", suffix=".part", dir=dest.parent)
    try:
        h, size = hashlib.sha256(), 0
        with os.fdopen(fd, "wb") as out:
            try:
                with opener(url) as src:
                    for block in iter(lambda: src.read(CHUNK), b""):
                        h.update(block)
                        size += len(block)
                        out.write(block)
            except (OSError, ValueError, http.client.HTTPException) as e:  # URLError, timeouts: OSError
                raise DataError(f"{url}: download failed ({type(e).__name__}: {e})") from None
        if h.hexdigest() != sha256:
            raise DataError(f"{url}: SHA-256 mismatch after {size} bytes (got {h.hexdigest()}, "
                            f"expected {sha256}); the file is truncated or not the original, not cached")
        os.chmod(tmp, 0o644)  # mkstemp makes it 0600
        os.replace(tmp, dest)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return dest


def find_files(name, data_dir=None, download_missing=True, urls=None, opener=None, checksums=None):
    """Locate (or fetch) the four IDX files of "mnist" or "fashion-mnist"; returns {role: Path}.

    Roles are train_images, train_labels, test_images, test_labels. A folder counts when it holds all
    four files, raw (``train-images-idx3-ubyte``) or gzipped (``...ubyte.gz``). A folder the user names
    is used or is an error (listing what it lacks), never silently passed over: ``data_dir`` (or
    ``data_dir/<name>``), else ``$MINIGAN_DATA`` (or ``$MINIGAN_DATA/<name>``). Without either, in order:
    ``~/.cache/minigan/<name>``; ``/usr/share/datasets/<name>`` (Debian's ``dataset-fashion-mnist``).
    Local files are not hashed (Debian's copies have rewritten gzip headers); ``read_idx`` still checks
    their structure. If no folder is complete and ``download_missing``, the missing ``.gz`` files are
    downloaded into the cache from ``urls`` (default ``MIRRORS[name]``, tried in order) with ``opener``
    and kept only if their SHA-256 matches ``checksums`` (default ``SHA256[name]``). Otherwise, or if
    every mirror fails, raises DataError saying where it looked and how to get the files.
    """
    _check_name(name, "find_files")
    for base, what in ((data_dir, "--data-dir"), (os.environ.get("MINIGAN_DATA") or None, "$MINIGAN_DATA")):
        if base is not None:                 # a folder the user named is used, or is an error: no silent fallback
            return _named_folder(name, Path(base).expanduser(), what)
    dirs = search_dirs(name, data_dir)
    for folder in dirs:
        found = _complete(folder)
        if found:
            return found
    looked = "\n  ".join(str(d) for d in dirs)
    howto = ("Get the files with `apt-get install dataset-fashion-mnist`, or p" if name == "fashion-mnist"
             else "P") + (f"ut {', '.join(s + '.gz' for s in FILES.values())} in a folder and name it with "
                          f"--data-dir (data_dir=...) or $MINIGAN_DATA.")
    if not download_missing:
        raise DataError(f"{name}: files not found; looked in:\n  {looked}\n{howto}")
    cache = cache_dir(name)
    checksums = checksums or SHA256[name]
    mirrors = list(urls) if urls is not None else MIRRORS[name]
    found = {}
    for role, stem in FILES.items():
        local = next((p for p in (cache / stem, cache / (stem + ".gz")) if p.is_file()), None)
        if local is not None:
            found[role] = local
            continue
        fname = stem + ".gz"
        errors = []
        for base in mirrors:
            try:
                found[role] = download(base.rstrip("/") + "/" + fname, cache / fname, checksums[fname], opener)
                break
            except DataError as e:
                errors.append(str(e))
        else:
            raise DataError(f"{name}: {fname} not found locally and could not be downloaded:\n  "
                            + "\n  ".join(errors or ["no download URLs given"])
                            + f"\nLooked in:\n  {looked}\n{howto}")
    return found


# ----------------------------------------------------------------------------------------------------------
# Images
# ----------------------------------------------------------------------------------------------------------

_CACHE = {}  # (image path, label path, their sizes and mtimes) -> (uint8 images, uint8 labels)


def _file_key(path):
    """A cache key that changes when the file is replaced or rewritten."""
    st = Path(path).stat()
    return (str(Path(path).resolve()), st.st_size, st.st_mtime_ns)


def load_uint8(name, split="train", data_dir=None, **find_kwargs):
    """The raw (uint8 images (N, 28, 28), uint8 labels (N,)) of a split, cached in this process."""
    _check_name(name, "load_uint8")
    if split not in ("train", "test"):
        raise ValueError(f"load_images: split must be 'train' or 'test', got {split!r}")
    files = find_files(name, data_dir, **find_kwargs)
    img_path, lab_path = files[split + "_images"], files[split + "_labels"]
    key = (_file_key(img_path), _file_key(lab_path))
    if key not in _CACHE:
        images, labels = read_idx(img_path), read_idx(lab_path)
        if images.dtype != np.uint8 or images.ndim != 3:
            raise DataError(f"{img_path}: expected uint8 images of shape (N, H, W), "
                            f"got {images.dtype} {images.shape}")
        if labels.dtype != np.uint8 or labels.shape != images.shape[:1]:
            raise DataError(f"{lab_path}: expected {images.shape[0]} uint8 labels to match {img_path}, "
                            f"got {labels.dtype} {labels.shape}")
        n_classes = len(CLASS_NAMES[name])
        if labels.size and labels.max() >= n_classes:
            raise DataError(f"{lab_path}: label {int(labels.max())} out of range 0..{n_classes - 1}")
        images.flags.writeable = labels.flags.writeable = False  # shared by every caller
        _CACHE[key] = (images, labels)
    return _CACHE[key]


def load_images(name, split="train", data_dir=None, scale="tanh", **find_kwargs):
    """Images and labels of MNIST / Fashion-MNIST, ready for a generator with the given output scale.

    Args:
        name: "mnist" or "fashion-mnist".
        split: "train" (60,000 images) or "test" (10,000).
        data_dir: a folder to look in first (see find_files; other keywords go to find_files too).
        scale: "tanh" maps pixels 0..255 to [-1, 1]; "sigmoid" to [0, 1].
    Returns:
        (images float32 (N, 1, 28, 28), labels int64 (N,)), fresh arrays the caller may modify.
    """
    if scale not in ("tanh", "sigmoid"):
        raise ValueError(f"load_images: scale must be 'tanh' or 'sigmoid', got {scale!r}")
    images, labels = load_uint8(name, split, data_dir, **find_kwargs)
    x = images.astype(np.float32)[:, None, :, :]  # (N, H, W) -> (N, 1, H, W)
    if scale == "tanh":
        x = (x - np.float32(127.5)) / np.float32(127.5)
    else:
        x /= np.float32(255.0)
    return x, labels.astype(np.int64)


# ----------------------------------------------------------------------------------------------------------
# Minibatches
# ----------------------------------------------------------------------------------------------------------
