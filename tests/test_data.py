"""Tests for minigan.data: synthetic sets, mode counting, IDX files, file search, download checks.

No test touches the network; only test_system_fashion_mnist reads /usr/share/datasets (skipped when absent).
"""
import gzip
import hashlib
import io
import math
import struct
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minigan import data
from minigan.data import DataError

from conftest import CODES, ROLES, idx_bytes, make_set, write_idx  # noqa: F401


@pytest.fixture
def iso(tmp_path, monkeypatch):
    """An isolated file system view: HOME, $MINIGAN_DATA and the system folder all under tmp_path."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("MINIGAN_DATA", raising=False)
    monkeypatch.setattr(data.images, "SYSTEM_DIR", tmp_path / "system")
    return tmp_path


# ------------------------------------------------------------------------------------------------ synthetic

def test_gaussian1d_shape_and_moments():
    rng = np.random.default_rng(0)
    n = 20000
    x = data.gaussian1d(n, rng)
    assert x.shape == (n, 1) and x.dtype == np.float32
    se = 0.5 / math.sqrt(n)
    assert abs(x.mean() - 4.0) < 5 * se
    assert abs(x.std() - 0.5) < 0.02
    y = data.gaussian1d(n, rng, mean=-1.0, std=2.0)
    assert abs(y.mean() + 1.0) < 5 * 2.0 / math.sqrt(n) and abs(y.std() - 2.0) < 0.08


@pytest.mark.parametrize("mean,std", [(4.0, 0.5), (-1.0, 2.0)])
def test_gaussian1d_pdf_matches_erf_cdf(mean, std):
    # integrate the pdf numerically and compare with the closed-form CDF 0.5 (1 + erf((a - mean) / (std sqrt 2)))
    grid = np.linspace(mean - 12 * std, mean + 12 * std, 200001)
    p = data.gaussian1d_pdf(grid, mean, std)
    cdf = np.concatenate([[0.0], np.cumsum((p[1:] + p[:-1]) / 2 * np.diff(grid))])
    for a in (mean - 2 * std, mean - 0.3 * std, mean, mean + std):
        i = np.searchsorted(grid, a)
        assert abs(cdf[i] - 0.5 * (1 + math.erf((grid[i] - mean) / (std * math.sqrt(2))))) < 1e-6
    assert abs(cdf[-1] - 1.0) < 1e-6
    assert data.gaussian1d_pdf(mean, mean, std) == pytest.approx(1 / (std * math.sqrt(2 * math.pi)))


def ring_centers_ref():
    return np.array([[math.cos(math.pi * k / 4), math.sin(math.pi * k / 4)] for k in range(8)])


def grid_centers_ref():
    xs, ys = np.meshgrid([-4.0, -2.0, 0.0, 2.0, 4.0], [-4.0, -2.0, 0.0, 2.0, 4.0], indexing="ij")
    return np.stack([xs.ravel(), ys.ravel()], axis=1)


@pytest.mark.parametrize("name,centers,std", [("ring", ring_centers_ref(), 0.01),
                                              ("grid", grid_centers_ref(), 0.05)])
def test_mixture_sets(name, centers, std):
    gen = getattr(data, name)
    n = 20000
    x = gen(n, np.random.default_rng(1))
    assert x.shape == (n, 2) and x.dtype == np.float32
    # the declared modes, compared as sets with the reference centers
    m_centers, m_std = data.MODES[name]
    assert m_std == std and m_centers.shape == centers.shape
    assert np.allclose(np.sort(m_centers, axis=0), np.sort(centers, axis=0))
    assert {tuple(np.round(c, 6)) for c in m_centers} == {tuple(np.round(c, 6)) for c in centers}
    # residuals around the nearest reference center: zero mean, std per coordinate = std
    d = np.linalg.norm(x[:, None, :].astype(np.float64) - centers[None], axis=2)
    k = d.argmin(axis=1)
    r = x - centers[k]
    assert np.all(np.abs(r.mean(axis=0)) < 5 * std / math.sqrt(n))
    assert np.allclose(r.std(axis=0), std, rtol=0.03)
    # equal weights: each mode's share within 5 standard errors of 1 / K
    K = len(centers)
    share = np.bincount(k, minlength=K) / n
    assert np.all(np.abs(share - 1 / K) < 5 * math.sqrt((1 / K) * (1 - 1 / K) / n))
    # same seed, same samples
    assert np.array_equal(gen(50, np.random.default_rng(7)), gen(50, np.random.default_rng(7)))
    assert data.SYNTHETIC[name] is gen


def test_ring_radius():
    x = data.ring(5000, np.random.default_rng(2)).astype(np.float64)
    assert abs(np.linalg.norm(x, axis=1).mean() - 1.0) < 1e-3


# ------------------------------------------------------------------------------------------------ mode_stats

@pytest.mark.parametrize("name,centers,std", [("ring", ring_centers_ref(), 0.01),
                                              ("grid", grid_centers_ref(), 0.05)])
def test_mode_stats_all_some_none(name, centers, std):
    K = len(centers)
    rng = np.random.default_rng(3)
    on = centers + 0.5 * std * rng.uniform(-1, 1, size=centers.shape)   # within 3 std of own mode
    s = data.mode_stats(on, name)
    assert s == dict(modes_covered=K, n_modes=K, high_quality=1.0)
    # only modes 0, 2 and 5, several samples each
    some = np.repeat(centers[[0, 2, 5]], 4, axis=0)
    assert data.mode_stats(some, name)["modes_covered"] == 3
    # points far from every mode: none high quality, nothing covered
    off = np.array([[0.0, 0.0], [0.5, 0.5], [-0.3, 0.2]]) if name == "ring" else \
        np.array([[1.0, 1.0], [-3.0, 1.0], [3.0, -3.0]])
    s = data.mode_stats(off, name)
    assert s["modes_covered"] == 0 and s["high_quality"] == 0.0
    # half on, half off
    s = data.mode_stats(np.concatenate([centers[:3], off]), name)
    assert s["modes_covered"] == 3 and s["high_quality"] == pytest.approx(0.5)


def test_mode_stats_three_std_boundary_and_min_count():
    c = ring_centers_ref()[1]
    direction = np.array([1.0, -1.0]) / math.sqrt(2)
    inside = c + 2.9 * 0.01 * direction
    outside = c + 3.1 * 0.01 * direction
    assert data.mode_stats(inside[None], "ring") == dict(modes_covered=1, n_modes=8, high_quality=1.0)
    assert data.mode_stats(outside[None], "ring") == dict(modes_covered=0, n_modes=8, high_quality=0.0)
    pts = np.concatenate([np.repeat(c[None], 3, axis=0), ring_centers_ref()[2:3]])
    assert data.mode_stats(pts, "ring", min_count=2)["modes_covered"] == 1
    assert data.mode_stats(pts, "ring", min_count=1)["modes_covered"] == 2


def test_mode_stats_on_true_distribution():
    # with 2,500 samples from the real ring every mode is covered, and the high-quality share is the
    # 2-D Gaussian mass within 3 std: P(R <= 3 sigma) = 1 - exp(-9/2)
    s = data.mode_stats(data.ring(2500, np.random.default_rng(4)), "ring")
    assert s["modes_covered"] == 8
    assert abs(s["high_quality"] - (1 - math.exp(-4.5))) < 0.01


def test_mode_stats_accepts_tensor_and_checks_input():
    import minigan
    c = ring_centers_ref()
    assert data.mode_stats(minigan.tensor(c.astype(np.float32)), "ring")["modes_covered"] == 8
    assert data.mode_stats(np.zeros((0, 2)), "grid") == dict(modes_covered=0, n_modes=25, high_quality=0.0)
    with pytest.raises(ValueError, match=r"\(N, 2\).*\(5, 3\)"):
        data.mode_stats(np.zeros((5, 3)), "ring")
    with pytest.raises(ValueError, match="spiral"):
        data.mode_stats(c, "spiral")


# ------------------------------------------------------------------------------------------------ IDX

@pytest.mark.parametrize("dtype", ["u1", "i1", ">i2", ">i4", ">f4", ">f8"])
@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_idx_round_trip(tmp_path, dtype, suffix):
    rng = np.random.default_rng(5)
    arr = (rng.standard_normal((3, 4, 5)) * 100).astype(np.dtype(dtype).newbyteorder("="))
    out = data.read_idx(write_idx(tmp_path / ("a.idx" + suffix), arr))
    assert out.dtype == arr.dtype and out.dtype.isnative and out.shape == arr.shape
    assert np.array_equal(out, arr)
    out[0, 0, 0] = 1  # writable


@settings(max_examples=20, deadline=None)
@given(shape=st.lists(st.integers(0, 6), min_size=1, max_size=4), gz=st.booleans(), seed=st.integers(0, 99))
def test_idx_round_trip_shapes(tmp_path_factory, shape, gz, seed):
    arr = np.random.default_rng(seed).integers(0, 256, size=shape, dtype=np.uint8)
    path = tmp_path_factory.mktemp("idx") / ("x" + (".gz" if gz else ""))
    out = data.read_idx(write_idx(path, arr))
    assert out.shape == tuple(shape) and out.dtype == np.uint8 and np.array_equal(out, arr)


def _corruptions():
    good = idx_bytes(np.arange(24, dtype=np.uint8).reshape(2, 3, 4))
    return {
        "bad magic": (good[:1] + b"\x01" + good[2:], "", "magic"),
        "unknown type": (good[:2] + b"\x07" + good[3:], "", "type code"),
        "truncated data": (good[:-1], "", "truncated"),
        "trailing bytes": (good + b"\x00\x00", "", "trailing"),
        "truncated header": (good[:9], "", "header"),
        "too short": (b"\x00\x00", "", "too short"),
        "bad gzip": (b"this is not gzip data at all", ".gz", "gzip"),
        "raw idx named .gz": (good, ".gz", "gzip"),
        "truncated gzip": (gzip.compress(good)[:-12], ".gz", "gzip"),
        "gzip crc": (gzip.compress(good)[:-8] + b"\xff\xff\xff\xff" + gzip.compress(good)[-4:], ".gz", "gzip"),
        "wrong length in gzip": (gzip.compress(good[:-3]), ".gz", "truncated"),
    }


@pytest.mark.parametrize("case", list(_corruptions()))
def test_idx_corrupt_files_refused(tmp_path, case):
    raw, suffix, words = _corruptions()[case]
    path = tmp_path / ("bad-file" + suffix)
    path.write_bytes(raw)
    with pytest.raises(DataError) as info:
        data.read_idx(path)
    assert str(path) in str(info.value) and words in str(info.value)
    assert isinstance(info.value, ValueError)


def test_idx_missing_file(tmp_path):
    with pytest.raises(DataError, match="not found"):
        data.read_idx(tmp_path / "nope.gz")


# ------------------------------------------------------------------------------------------------ find_files

def test_search_order(iso, monkeypatch):
    dd, env, cache, system = iso / "dd", iso / "env", iso / "home/.cache/minigan/mnist", iso / "system/mnist"
    for folder in (dd, env, cache, system):
        make_set(folder)
    monkeypatch.setenv("MINIGAN_DATA", str(env))
    in_folder = lambda files, folder: set(files) == set(ROLES) and all(p.parent == folder for p in files.values())
    assert in_folder(data.find_files("mnist", data_dir=dd, download_missing=False), dd)
    assert in_folder(data.find_files("mnist", download_missing=False), env)
    # a folder the user named must be complete: no silent fall-back to the next one
    (dd / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DataError, match=r"--data-dir .*dd: the mnist files are incomplete; .*lacks "
                                        r"t10k-labels-idx1-ubyte \(raw or .gz\)"):
        data.find_files("mnist", data_dir=dd, download_missing=False)
    with pytest.raises(DataError, match=r"--data-dir .*nowhere: no such folder"):
        data.find_files("mnist", data_dir=iso / "nowhere", download_missing=False)
    (env / "train-images-idx3-ubyte.gz").unlink()
    (env / "train-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DataError, match=r"\$MINIGAN_DATA .*env: .*lacks train-images-idx3-ubyte, "
                                        r"train-labels-idx1-ubyte"):
        data.find_files("mnist", download_missing=False)
    monkeypatch.delenv("MINIGAN_DATA")
    assert in_folder(data.find_files("mnist", download_missing=False), cache)      # then the cache,
    (cache / "t10k-labels-idx1-ubyte.gz").unlink()
    assert in_folder(data.find_files("mnist", download_missing=False), system)     # then the system folder
    (system / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DataError) as info:
        data.find_files("mnist", download_missing=False)
    msg = str(info.value)
    for folder in (cache, system):
        assert str(folder) in msg
    assert "--data-dir" in msg and "MINIGAN_DATA" in msg
    with pytest.raises(DataError, match="apt-get install dataset-fashion-mnist"):
        data.find_files("fashion-mnist", download_missing=False)


def test_search_subfolders_and_raw_files(iso, monkeypatch):
    make_set(iso / "dd" / "fashion-mnist", gz=False)
    files = data.find_files("fashion-mnist", data_dir=iso / "dd", download_missing=False)
    assert files["train_images"] == iso / "dd" / "fashion-mnist" / "train-images-idx3-ubyte"
    make_set(iso / "env" / "mnist")
    monkeypatch.setenv("MINIGAN_DATA", str(iso / "env"))
    assert data.find_files("mnist", download_missing=False)["test_labels"].parent == iso / "env" / "mnist"
    with pytest.raises(ValueError, match="cifar"):
        data.find_files("cifar")


def test_checksum_table():
    assert set(data.SHA256) == {"mnist", "fashion-mnist"}
    digests = [h for table in data.SHA256.values() for h in table.values()]
    assert len(set(digests)) == 8 and all(len(h) == 64 and int(h, 16) >= 0 for h in digests)
    for table in data.SHA256.values():
        assert set(table) == {s + ".gz" for s in ROLES.values()}
    assert all(u.startswith("https://") for u in data.MIRRORS["mnist"])


# ------------------------------------------------------------------------------------------------ download

def _serve(folder, corrupt=None, truncate=None):
    """A fake opener serving the files of folder by URL basename; counts requests."""
    calls = []

    def opener(url):
        calls.append(url)
        name = url.rsplit("/", 1)[1]
        body = (Path(folder) / name).read_bytes()
        if name == corrupt:
            body = body[:100] + bytes([body[100] ^ 1]) + body[101:]
        if name == truncate:
            body = body[: len(body) // 2]
        return io.BytesIO(body)
    opener.calls = calls
    return opener


def _sums(folder):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in Path(folder).glob("*.gz")}


def test_download_good_hash_is_cached(iso):
    arrays = make_set(iso / "remote")
    opener = _serve(iso / "remote")
    files = data.find_files("mnist", urls=["https://example.invalid/mnist/"], opener=opener,
                            checksums=_sums(iso / "remote"))
    cache = iso / "home/.cache/minigan/mnist"
    assert all(p.parent == cache for p in files.values())
    assert sorted(opener.calls) == sorted(f"https://example.invalid/mnist/{s}.gz" for s in ROLES.values())
    for role, p in files.items():
        assert p.read_bytes() == (iso / "remote" / p.name).read_bytes()
    assert sorted(p.name for p in cache.iterdir()) == sorted(s + ".gz" for s in ROLES.values())  # no temp files
    # cached now: found without any opener
    again = data.find_files("mnist", download_missing=False)
    assert again == files
    x, y = data.load_images("mnist", "test", download_missing=False)
    assert np.array_equal(y, arrays["test_labels"])


@pytest.mark.parametrize("damage", ["corrupt", "truncate"])
def test_download_bad_hash_refused_and_not_cached(iso, damage):
    make_set(iso / "remote")
    bad = "train-images-idx3-ubyte.gz"
    opener = _serve(iso / "remote", **{damage: bad})
    with pytest.raises(DataError) as info:
        data.find_files("mnist", urls=["https://example.invalid/m/"], opener=opener, checksums=_sums(iso / "remote"))
    assert "SHA-256 mismatch" in str(info.value) and bad in str(info.value)
    cache = iso / "home/.cache/minigan/mnist"
    assert not (cache / bad).exists()
    assert not list(cache.glob("*.part"))


def test_download_falls_back_to_next_mirror_and_reports_all(iso):
    make_set(iso / "remote")
    good = _serve(iso / "remote")

    def flaky(url):
        if "first" in url:
            raise OSError("connection refused")
        return good(url)
    files = data.find_files("mnist", urls=["https://first/", "https://second/"], opener=flaky,
                            checksums=_sums(iso / "remote"))
    assert all(p.exists() for p in files.values())

    def down(url):
        raise OSError("network unreachable")
    with pytest.raises(DataError) as info:
        data.find_files("fashion-mnist", urls=["https://a/", "https://b/"], opener=down)
    msg = str(info.value)
    assert "https://a/" in msg and "https://b/" in msg and "network unreachable" in msg
    assert "apt-get install dataset-fashion-mnist" in msg
    assert not list((iso / "home/.cache/minigan/fashion-mnist").glob("*"))


def test_download_from_file_url(iso):
    """The default opener (urllib) with a local file:// mirror; a missing file there is reported."""
    arrays = make_set(iso / "mirror")
    sums = _sums(iso / "mirror")
    files = data.find_files("fashion-mnist", urls=[(iso / "mirror").as_uri() + "/"], checksums=sums)
    x, y = data.load_images("fashion-mnist", "train", download_missing=False)
    assert np.array_equal(y, arrays["train_labels"])
    assert files["train_images"].parent == iso / "home/.cache/minigan/fashion-mnist"
    with pytest.raises(DataError, match="download failed"):
        data.download((iso / "mirror" / "missing.gz").as_uri(), iso / "out.gz", "0" * 64)
    assert not (iso / "out.gz").exists()


# ------------------------------------------------------------------------------------------------ load_images

def test_load_images_scaling_and_shapes(iso):
    arrays = make_set(iso / "dd", n_train=9, n_test=5)
    for split in ("train", "test"):
        raw = arrays[split + "_images"].astype(np.float64)
        x, y = data.load_images("mnist", split, data_dir=iso / "dd")
        assert x.shape == (len(raw), 1, 28, 28) and x.dtype == np.float32
        assert y.dtype == np.int64 and np.array_equal(y, arrays[split + "_labels"])
        assert x.min() == -1.0 and x.max() == 1.0
        assert np.allclose(x[:, 0], raw / 127.5 - 1.0, atol=1e-6)
        s, _ = data.load_images("mnist", split, data_dir=iso / "dd", scale="sigmoid")
        assert s.min() == 0.0 and s.max() == 1.0
        assert np.allclose(s[:, 0], raw / 255.0, atol=1e-7)
    with pytest.raises(ValueError, match="scale"):
        data.load_images("mnist", data_dir=iso / "dd", scale="relu")
    with pytest.raises(ValueError, match="split"):
        data.load_images("mnist", "valid", data_dir=iso / "dd")


def test_load_images_in_process_cache(iso, monkeypatch):
    make_set(iso / "dd")
    reads = []
    real = data.read_idx
    monkeypatch.setattr(data.images, "read_idx", lambda p: reads.append(p) or real(p))
    x1, y1 = data.load_images("mnist", "train", data_dir=iso / "dd")
    x1[:] = 0  # the caller's copy: must not leak into the cache
    y1[:] = 0
    x2, y2 = data.load_images("mnist", "train", data_dir=iso / "dd")
    assert len(reads) == 2 and not np.all(x2 == 0)
    assert np.array_equal(y2, real(iso / "dd" / "train-labels-idx1-ubyte.gz"))
    # a rewritten file is read again
    make_set(iso / "dd", seed=1)
    x3, _ = data.load_images("mnist", "train", data_dir=iso / "dd")
    assert len(reads) == 4


def test_load_images_mismatched_files(iso):
    make_set(iso / "dd")
    write_idx(iso / "dd" / "t10k-labels-idx1-ubyte.gz", np.zeros(3, dtype=np.uint8))
    with pytest.raises(DataError, match="labels"):
        data.load_images("mnist", "test", data_dir=iso / "dd")
    write_idx(iso / "dd" / "t10k-labels-idx1-ubyte.gz", np.full(7, 10, dtype=np.uint8))
    with pytest.raises(DataError, match="out of range"):
        data.load_images("mnist", "test", data_dir=iso / "dd")


def test_class_names_and_image_size():
    assert data.CLASS_NAMES["mnist"] == [str(i) for i in range(10)]
    names = data.CLASS_NAMES["fashion-mnist"]
    assert len(names) == 10 and names[0] == "T-shirt/top" and names[9] == "Ankle boot"
    assert data.image_size("mnist") == data.image_size("fashion-mnist") == (1, 28, 28)
    with pytest.raises(ValueError, match="svhn"):
        data.image_size("svhn")


SYSTEM = Path("/usr/share/datasets/fashion-mnist")
# Debian's strip-nondeterminism removed the file name and timestamp from the gzip headers; putting back
# the originals' (from the upstream files, whose MD5s the Zalando README lists) must give our SHA-256s.
ORIGINAL_MTIME = {"train-images-idx3-ubyte.gz": 1504176606, "train-labels-idx1-ubyte.gz": 1504176606,
                  "t10k-images-idx3-ubyte.gz": 1504176627, "t10k-labels-idx1-ubyte.gz": 1504176627}


@pytest.mark.skipif(not SYSTEM.is_dir(), reason="dataset-fashion-mnist is not installed")
def test_system_fashion_mnist(iso, monkeypatch):
    monkeypatch.setattr(data.images, "SYSTEM_DIR", SYSTEM.parent)
    files = data.find_files("fashion-mnist", download_missing=False)
    assert all(p.parent == SYSTEM for p in files.values())
    x, y = data.load_images("fashion-mnist", "test")
    assert x.shape == (10000, 1, 28, 28) and x.min() == -1.0 and x.max() == 1.0
    assert np.array_equal(np.bincount(y), np.full(10, 1000))  # the test split is balanced
    for p in files.values():
        b = p.read_bytes()
        assert b[3] == 0  # no FNAME field any more
        original = b[:3] + b"\x08" + struct.pack("<I", ORIGINAL_MTIME[p.name]) + b[8:10] \
            + p.name[:-3].encode() + b"\x00" + b[10:]
        assert gzip.decompress(original) == gzip.decompress(b)
        assert hashlib.sha256(original).hexdigest() == data.SHA256["fashion-mnist"][p.name]
