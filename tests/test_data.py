"""harness.train.data: the offline datasets, and the torchvision paths on tiny files in the real formats.

Fashion-MNIST and CIFAR-10 are exercised on files this module writes itself, byte for byte in
the published formats (IDX: big-endian magic, dims, uint8 payload; CIFAR-10 "python version":
Python-2 pickles of dicts holding a uint8 N x 3072 array), read by the real torchvision code.
Every test points ``harness.train.data.CACHE`` at a temporary folder and ``DEBIAN_FMNIST`` at a
folder that does not exist, so nothing is written into the repo and an installed
``dataset-fashion-mnist`` package cannot change what a test sees.
"""
from __future__ import annotations

import gzip
import hashlib
import io
import os
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from torchvision import transforms
from torchvision.datasets import CIFAR10

from harness.declare.profiles import input_shape
from harness.declare.spec import DataSpec
from harness.train import data
from harness.train.data import DATASETS, DatasetUnavailable, load_raw, load_splits

FMNIST_FILES = {"train-images-idx3-ubyte": "train_x", "train-labels-idx1-ubyte": "train_y",
                "t10k-images-idx3-ubyte": "test_x", "t10k-labels-idx1-ubyte": "test_y"}


# --- helpers ----------------------------------------------------------------------------------

def paper_normalise(images_u8: np.ndarray) -> torch.Tensor:
    """The paper's pipeline, ToTensor() then Normalize(0.5, 0.5), image by image (N x C x H x W)."""
    t = transforms.Compose([transforms.ToTensor(), transforms.Normalize(0.5, 0.5)])
    out = []
    for img in images_u8:
        if img.ndim == 2:
            out.append(t(Image.fromarray(img, mode="L")))
        else:  # C x H x W -> H x W x C for PIL
            out.append(t(Image.fromarray(np.ascontiguousarray(img.transpose(1, 2, 0)), mode="RGB")))
    return torch.stack(out)


def reference_normalise(images_u8: np.ndarray) -> torch.Tensor:
    """(x / 255 - 0.5) / 0.5, computed in float64, as N x C x H x W."""
    x = torch.from_numpy(images_u8.astype(np.float64))
    if x.ndim == 3:
        x = x.unsqueeze(1)
    return (x / 255 - 0.5) / 0.5


def make_images(rng, labels: np.ndarray, shape: tuple) -> np.ndarray:
    """Random uint8 images whose first pixel(s) encode (label, index), so pairs can be traced.

    Grey: pixel [0, 0] = 20*label, [0, 1] = index. Colour: pixel [c, 0, 0] = 20*label + c (so
    a channel mix-up shows) and [0, 0, 1] = index. Every set holds a 0 and a 255.
    """
    x = rng.integers(0, 256, size=(len(labels),) + shape, dtype=np.uint8)
    idx = np.arange(len(labels)) % 256
    if len(shape) == 2:
        x[:, 0, 0], x[:, 0, 1] = 20 * labels, idx
    else:
        for c in range(shape[0]):
            x[:, c, 0, 0] = 20 * labels + c
        x[:, 0, 0, 1] = idx
    flat = x.reshape(len(x), -1)  # a view: the last pixel of the first/last image
    flat[0, -1], flat[-1, -1] = 0, 255
    return x


def balanced_labels(per_class: int, rng) -> np.ndarray:
    return rng.permutation(np.repeat(np.arange(10, dtype=np.uint8), per_class))


def idx_bytes(arr: np.ndarray) -> bytes:
    """IDX (Pascal Vincent SN3) format: magic 0x0000 08 nd (big-endian), nd big-endian dims,
    then the uint8 payload. 2051 for the 3-d image files, 2049 for the 1-d label files."""
    assert arr.dtype == np.uint8
    magic = {3: 2051, 1: 2049}[arr.ndim]
    return struct.pack(">I", magic) + struct.pack(f">{arr.ndim}I", *arr.shape) + arr.tobytes()


def tiny_fmnist(seed=0, train_per_class=4, test_per_class=2) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    ytr, yte = balanced_labels(train_per_class, rng), balanced_labels(test_per_class, rng)
    return {"train_x": make_images(rng, ytr, (28, 28)), "train_y": ytr,
            "test_x": make_images(rng, yte, (28, 28)), "test_y": yte}


def write_fmnist(folder: Path, arrays: dict, *, gz: bool, override: dict | None = None) -> Path:
    """The four IDX files in ``folder``, gzipped (Debian's flat layout) or plain."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, key in FMNIST_FILES.items():
        payload = (override or {}).get(name, idx_bytes(arrays[key]))
        if gz:
            (folder / f"{name}.gz").write_bytes(gzip.compress(payload, mtime=0))
        else:
            (folder / name).write_bytes(payload)
    return folder


class Py2Str(bytes):
    """A Python-2 ``str``: pickled with the (BIN)STRING opcodes the real CIFAR files use."""


class Py2Pickler(pickle._Pickler):  # the pure-Python pickler, so the dispatch table can grow
    dispatch = pickle._Pickler.dispatch.copy()

    def save_py2str(self, obj):
        raw = bytes(obj)
        if len(raw) < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([len(raw)]) + raw)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", len(raw)) + raw)
        self.memoize(obj)

    dispatch[Py2Str] = save_py2str


def py2_pickle(obj) -> bytes:
    buf = io.BytesIO()
    Py2Pickler(buf, protocol=2).dump(obj)
    return buf.getvalue()


CIFAR_BATCHES = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]


def tiny_cifar(seed=0, per_class_per_batch=2, test_per_class=3) -> dict[str, tuple]:
    rng = np.random.default_rng(seed)
    out = {}
    for name in CIFAR_BATCHES:
        y = balanced_labels(test_per_class if name == "test_batch" else per_class_per_batch, rng)
        out[name] = (make_images(rng, y, (3, 32, 32)), y)
    return out


def write_cifar(root: Path, batches: dict) -> Path:
    """``<root>/cifar-10-batches-py/`` as in cifar-10-python.tar.gz: each batch a dict with
    b"data" (uint8, N x 3072, the 1024 red then green then blue values, row-major) and
    b"labels" (a list of ints), plus batches.meta with b"label_names"."""
    base = root / "cifar-10-batches-py"
    base.mkdir(parents=True, exist_ok=True)
    for i, name in enumerate(CIFAR_BATCHES):
        x, y = batches[name]
        label = "testing batch 1 of 1" if name == "test_batch" else f"training batch {i + 1} of 5"
        (base / name).write_bytes(py2_pickle({
            Py2Str(b"batch_label"): Py2Str(label.encode()),
            Py2Str(b"labels"): [int(v) for v in y],
            Py2Str(b"data"): x.reshape(len(x), 3072),
            Py2Str(b"filenames"): [Py2Str(f"img_{j}.png".encode()) for j in range(len(x))],
        }))
    names = [b"airplane", b"automobile", b"bird", b"cat", b"deer", b"dog", b"frog", b"horse",
             b"ship", b"truck"]
    (base / "batches.meta").write_bytes(py2_pickle({
        Py2Str(b"num_cases_per_batch"): len(batches["data_batch_1"][1]),
        Py2Str(b"label_names"): [Py2Str(n) for n in names],
        Py2Str(b"num_vis"): 3072}))
    return root


def md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def trust_cifar_files(monkeypatch, root: Path) -> None:
    """Make torchvision accept OUR files by telling it their md5s.

    torchvision 0.29's CIFAR10 checks, in ``_check_integrity`` (and ``_load_meta``), the md5 of
    every batch against the class attributes ``train_list``/``test_list`` (and ``meta["md5"]``)
    and raises RuntimeError("Dataset not found or corrupted...") on any mismatch. Our tiny
    files cannot have the real files' md5s, so we replace those lists with the md5s of the
    files as they are on disk now. The integrity check itself still runs, unmodified: a file
    changed after this call is still rejected.
    """
    base = root / "cifar-10-batches-py"
    monkeypatch.setattr(CIFAR10, "train_list", [[n, md5(base / n)] for n in CIFAR_BATCHES[:5]])
    monkeypatch.setattr(CIFAR10, "test_list", [["test_batch", md5(base / "test_batch")]])
    monkeypatch.setattr(CIFAR10, "meta", {**CIFAR10.meta, "md5": md5(base / "batches.meta")})


def files_under(path: Path) -> list[Path]:
    return sorted(p for p in path.rglob("*") if p.is_file()) if path.exists() else []


def assert_clean_failure(err: pytest.ExceptionInfo) -> str:
    """A DatasetUnavailable with a one-line message, not a chained traceback from inside."""
    assert type(err.value) is DatasetUnavailable
    msg = str(err.value)
    assert "\n" not in msg and msg.strip() == msg
    e = err.value
    assert e.__cause__ is None and (e.__context__ is None or e.__suppress_context__)
    return msg


def class_counts(y: torch.Tensor) -> list[int]:
    return torch.bincount(y, minlength=10).tolist()


# --- fixtures ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def repo_data_snapshot():
    """The repo's .data folder before this module ran (it must be unchanged after)."""
    folder = data.REPO / ".data"

    def snap():
        return [(p, p.stat().st_size, p.stat().st_mtime_ns) for p in files_under(folder)]

    before = snap()
    yield
    assert snap() == before, "a test wrote into the repo's .data/"


@pytest.fixture
def cache(tmp_path, monkeypatch, repo_data_snapshot):
    """Isolate the module from the machine: private cache, no Debian package."""
    c = tmp_path / "cache"
    monkeypatch.setattr(data, "CACHE", c)
    monkeypatch.setattr(data, "DEBIAN_FMNIST", tmp_path / "no-debian-package")
    return c


# --- Fashion-MNIST via torchvision --------------------------------------------------------------

def check_fmnist_full(splits, arrays):
    assert splits.x_train.shape == (40, 1, 28, 28) and splits.x_test.shape == (20, 1, 28, 28)
    assert splits.x_train.dtype == torch.float32 and splits.y_train.dtype == torch.int64
    assert splits.channels == 1 and splits.image_size == 28 and splits.num_classes == 10
    # Whole splits, in file order, normalised exactly as the paper's transforms did.
    assert torch.equal(splits.x_train, paper_normalise(arrays["train_x"]))
    assert torch.equal(splits.x_test, paper_normalise(arrays["test_x"]))
    torch.testing.assert_close(splits.x_train.double(), reference_normalise(arrays["train_x"]),
                               rtol=0, atol=1e-6)
    assert splits.x_train.min() == -1.0 and splits.x_train.max() == 1.0
    assert torch.equal(splits.y_train, torch.from_numpy(arrays["train_y"]).long())
    assert torch.equal(splits.y_test, torch.from_numpy(arrays["test_y"]).long())


def test_fmnist_debian_flat_gz_layout(tmp_path, cache):
    arrays = tiny_fmnist()
    flat = write_fmnist(tmp_path / "debian", arrays, gz=True)
    check_fmnist_full(load_splits(DataSpec("fashion-mnist"), root=flat), arrays)
    # The .gz files were unpacked into the (temporary) cache, uncompressed, and nothing else.
    cached = files_under(cache)
    assert sorted(p.name for p in cached) == sorted(FMNIST_FILES)
    assert all(p.parent.name == "raw" and p.parent.parent.name == "FashionMNIST" for p in cached)
    assert {p.name: p.read_bytes() for p in cached} == {
        n: idx_bytes(arrays[k]) for n, k in FMNIST_FILES.items()}
    # A second load serves the same tensors from the cache.
    check_fmnist_full(load_splits(DataSpec("fashion-mnist"), root=flat), arrays)
    assert files_under(cache) == cached


def test_fmnist_debian_package_path_is_searched_without_root(tmp_path, cache, monkeypatch):
    arrays = tiny_fmnist(seed=1)
    monkeypatch.setattr(data, "DEBIAN_FMNIST", write_fmnist(tmp_path / "pkg", arrays, gz=True))
    check_fmnist_full(load_splits(DataSpec("fashion-mnist")), arrays)


def test_fmnist_torchvision_raw_layout_uncompressed(tmp_path, cache):
    arrays = tiny_fmnist(seed=2)
    root = tmp_path / "tv"
    write_fmnist(root / "FashionMNIST" / "raw", arrays, gz=False)
    check_fmnist_full(load_splits(DataSpec("fashion-mnist"), root=root), arrays)
    assert files_under(cache) == [], "torchvision's own layout is read in place, not copied"


def test_fmnist_torchvision_raw_layout_gz_only(tmp_path, cache):
    arrays = tiny_fmnist(seed=3)
    root = tmp_path / "tv"
    write_fmnist(root / "FashionMNIST" / "raw", arrays, gz=True)
    check_fmnist_full(load_splits(DataSpec("fashion-mnist"), root=root), arrays)


def test_fmnist_cache_follows_its_source(tmp_path, cache):
    """A cache filled from one folder is never served for another or for a replaced file."""
    a, b = tiny_fmnist(seed=4), tiny_fmnist(seed=5)
    check_fmnist_full(load_splits(DataSpec("fashion-mnist"), root=write_fmnist(
        tmp_path / "a", a, gz=True)), a)
    check_fmnist_full(load_splits(DataSpec("fashion-mnist"), root=write_fmnist(
        tmp_path / "b", b, gz=True)), b)
    # Same folder, new content (e.g. a re-download): the new files are read.
    flat = write_fmnist(tmp_path / "a", b, gz=True)
    for f in flat.iterdir():
        os.utime(f, ns=(f.stat().st_atime_ns, f.stat().st_mtime_ns + 10**9))
    check_fmnist_full(load_splits(DataSpec("fashion-mnist"), root=flat), b)


def test_fmnist_subsetting_is_stratified_deterministic_and_downsamples(tmp_path, cache):
    arrays = tiny_fmnist(seed=6, train_per_class=6, test_per_class=3)
    flat = write_fmnist(tmp_path / "flat", arrays, gz=True)
    spec = DataSpec("fashion-mnist", train_size=20, test_size=10)
    s1, s2 = load_splits(spec, root=flat), load_splits(spec, root=flat)
    assert s1.x_train.shape == (20, 1, 28, 28) and s1.x_test.shape == (10, 1, 28, 28)
    assert class_counts(s1.y_train) == [2] * 10 and class_counts(s1.y_test) == [1] * 10
    for a, b in ((s1.x_train, s2.x_train), (s1.y_train, s2.y_train), (s1.x_test, s2.x_test),
                 (s1.y_test, s2.y_test)):
        assert torch.equal(a, b)
    # Images stay paired with their labels: pixel [0,0] encodes 20*label; each row is a
    # distinct row of the source file (pixel [0,1] = its index there).
    full = paper_normalise(arrays["train_x"])
    for x, y in zip(s1.x_train, s1.y_train):
        i = round((x[0, 0, 1].item() * 0.5 + 0.5) * 255)
        assert torch.equal(x, full[i]) and arrays["train_y"][i] == y
        assert round((x[0, 0, 0].item() * 0.5 + 0.5) * 255) == 20 * y
    assert len({round((x[0, 0, 1].item() * 0.5 + 0.5) * 255) for x in s1.x_train}) == 20
    # Downsampling: the same sample, each 2x2 block averaged.
    small = load_splits(DataSpec("fashion-mnist", 20, 10, image_size=14), root=flat)
    assert small.x_train.shape == (20, 1, 14, 14) and small.image_size == 14
    torch.testing.assert_close(small.x_train, F.avg_pool2d(s1.x_train, 2), rtol=0, atol=1e-6)
    torch.testing.assert_close(small.x_test, F.avg_pool2d(s1.x_test, 2), rtol=0, atol=1e-6)
    assert torch.equal(small.y_train, s1.y_train)
    assert small.x_train.min() >= -1 and small.x_train.max() <= 1


def test_stratified_take_uneven_sizes_stay_balanced():
    y = np.repeat(np.arange(10), 7)
    for n in (1, 9, 10, 11, 25, 69):
        take = data._stratified_take(y, n, 0)
        assert len(take) == n == len(set(take.tolist()))
        counts = np.bincount(y[take], minlength=10)
        assert counts.max() - counts.min() <= 1
        assert np.array_equal(take, data._stratified_take(y, n, 0))
    assert np.array_equal(data._stratified_take(y, None, 0), np.arange(70))
    assert np.array_equal(data._stratified_take(y, 500, 0), np.arange(70))


# --- CIFAR-10 via torchvision -------------------------------------------------------------------

def test_cifar10_python_batches(tmp_path, cache, monkeypatch):
    batches = tiny_cifar()
    root = write_cifar(tmp_path / "c", batches)
    trust_cifar_files(monkeypatch, root)
    s = load_splits(DataSpec("cifar10"), root=root)
    assert s.x_train.shape == (100, 3, 32, 32) and s.x_test.shape == (30, 3, 32, 32)
    assert s.x_train.dtype == torch.float32 and s.y_train.dtype == torch.int64
    assert (s.channels, s.image_size) == input_shape("cifar10") == (3, 32)
    # Batches 1..5 in order, channel-major rows (R plane, G plane, B plane) decoded correctly.
    xtr = np.concatenate([batches[n][0] for n in CIFAR_BATCHES[:5]])
    ytr = np.concatenate([batches[n][1] for n in CIFAR_BATCHES[:5]])
    assert torch.equal(s.x_train, paper_normalise(xtr))
    assert torch.equal(s.x_test, paper_normalise(batches["test_batch"][0]))
    torch.testing.assert_close(s.x_train.double(), reference_normalise(xtr), rtol=0, atol=1e-6)
    assert s.x_train.min() == -1.0 and s.x_train.max() == 1.0
    assert torch.equal(s.y_train, torch.from_numpy(ytr).long())
    assert torch.equal(s.y_test, torch.from_numpy(batches["test_batch"][1]).long())
    for c in range(3):  # pixel [c, 0, 0] = 20*label + c
        assert torch.equal(torch.round((s.x_train[:, c, 0, 0] * 0.5 + 0.5) * 255).long(),
                           20 * s.y_train + c)
    assert files_under(cache) == []


def test_cifar10_subsetting(tmp_path, cache, monkeypatch):
    root = write_cifar(tmp_path / "c", tiny_cifar(seed=1))
    trust_cifar_files(monkeypatch, root)
    native = load_splits(DataSpec("cifar10", train_size=30, test_size=10), root=root)
    again = load_splits(DataSpec("cifar10", train_size=30, test_size=10), root=root)
    small = load_splits(DataSpec("cifar10", train_size=30, test_size=10, image_size=16), root=root)
    assert class_counts(native.y_train) == [3] * 10 and class_counts(native.y_test) == [1] * 10
    assert torch.equal(native.x_train, again.x_train) and torch.equal(native.y_test, again.y_test)
    assert small.x_train.shape == (30, 3, 16, 16) and small.x_test.shape == (10, 3, 16, 16)
    torch.testing.assert_close(small.x_train, F.avg_pool2d(native.x_train, 2), rtol=0, atol=1e-6)
    assert torch.equal(small.y_train, native.y_train)


def test_cifar10_real_md5_check_rejects_other_files(tmp_path, cache):
    """Unpatched torchvision rejects files that are not the published ones, and we say so."""
    root = write_cifar(tmp_path / "c", tiny_cifar())
    with pytest.raises(DatasetUnavailable) as err:
        load_raw("cifar10", root=root)
    msg = assert_clean_failure(err)
    assert "corrupted" in msg and str(root) in msg and "--download" in msg


def test_cifar10_truncated_batch(tmp_path, cache, monkeypatch):
    root = write_cifar(tmp_path / "c", tiny_cifar())
    batch = root / "cifar-10-batches-py" / "data_batch_3"
    batch.write_bytes(batch.read_bytes()[: batch.stat().st_size // 2])
    # (1) torchvision's md5 check catches it (md5s of the files as first written).
    # (2) were the md5s to match the truncated file, the unpickling fails instead.
    # Either way: DatasetUnavailable, one line, no chained traceback.
    good = write_cifar(tmp_path / "good", tiny_cifar())
    trust_cifar_files(monkeypatch, good)
    with pytest.raises(DatasetUnavailable) as err:
        load_raw("cifar10", root=root)
    assert "corrupted" in assert_clean_failure(err)
    trust_cifar_files(monkeypatch, root)
    with pytest.raises(DatasetUnavailable) as err:
        load_raw("cifar10", root=root)
    msg = assert_clean_failure(err)
    assert "reading the batches failed" in msg and str(root) in msg
    assert files_under(cache) == []


def test_cifar10_missing(tmp_path, cache):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DatasetUnavailable) as err:
        load_splits(DataSpec("cifar10"), root=empty)
    msg = assert_clean_failure(err)
    assert str(empty) in msg and "--data-root" in msg and "--download" in msg
    with pytest.raises(DatasetUnavailable) as err:
        load_raw("cifar10")  # no root at all
    assert "--data-root" in assert_clean_failure(err)
    assert files_under(cache) == []


# --- Fashion-MNIST failures ---------------------------------------------------------------------

def test_fmnist_missing_names_paths_and_command(tmp_path, cache):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DatasetUnavailable) as err:
        load_splits(DataSpec("fashion-mnist"), root=empty)
    msg = assert_clean_failure(err)
    assert str(empty) in msg and str(data.DEBIAN_FMNIST) in msg
    assert "apt-get install dataset-fashion-mnist" in msg and "--download" in msg
    # Three of the four files are not enough.
    write_fmnist(empty, tiny_fmnist(), gz=True)
    (empty / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DatasetUnavailable):
        load_raw("fashion-mnist", root=empty)
    assert files_under(cache) == []


def truncated(payload: bytes, keep: float = 0.5) -> bytes:
    return payload[: int(len(payload) * keep)]


@pytest.mark.parametrize("name", ["train-images-idx3-ubyte", "t10k-labels-idx1-ubyte"])
@pytest.mark.parametrize("how", ["payload", "header"])
def test_fmnist_truncated_idx_in_gz(tmp_path, cache, name, how):
    arrays = tiny_fmnist()
    good = idx_bytes(arrays[FMNIST_FILES[name]])
    bad = truncated(good) if how == "payload" else good[:6]
    flat = write_fmnist(tmp_path / "flat", arrays, gz=True, override={name: bad})
    with pytest.raises(DatasetUnavailable) as err:
        load_raw("fashion-mnist", root=flat)
    msg = assert_clean_failure(err)
    assert "reading the IDX files failed" in msg and str(flat) in msg
    assert files_under(cache) == [], "a copy of the bad file was left in the cache"
    # Once the file is replaced with a good one, it loads (nothing stale was kept).
    write_fmnist(flat, arrays, gz=True)
    for f in flat.iterdir():
        os.utime(f, ns=(f.stat().st_atime_ns, f.stat().st_mtime_ns + 10**9))
    check_fmnist_full(load_splits(DataSpec("fashion-mnist"), root=flat), arrays)


@pytest.mark.parametrize("damage", ["truncated", "crc", "deflate"])
def test_fmnist_damaged_gz_stream(tmp_path, cache, damage):
    """Each damage takes a different exception out of gzip: EOFError (stream ends early),
    gzip.BadGzipFile, an OSError (bytes flipped in a stored block: CRC mismatch), and
    zlib.error, which is not an OSError (first deflate block declares reserved type 3)."""
    arrays = tiny_fmnist()
    flat = write_fmnist(tmp_path / "flat", arrays, gz=True)
    gz = flat / "t10k-images-idx3-ubyte.gz"
    raw = gz.read_bytes()  # 10-byte gzip header (no name: mtime=0, no FNAME), then deflate
    if damage == "truncated":
        gz.write_bytes(truncated(raw))
    elif damage == "crc":  # random pixels do not compress: deflate stores them verbatim
        gz.write_bytes(raw[:40] + bytes(b ^ 0xFF for b in raw[40:100]) + raw[100:])
    else:
        gz.write_bytes(raw[:10] + bytes([0b111]) + raw[11:])  # BFINAL=1, BTYPE=11
    with pytest.raises(DatasetUnavailable) as err:
        load_raw("fashion-mnist", root=flat)
    msg = assert_clean_failure(err)
    assert "t10k-images-idx3-ubyte" in msg
    assert files_under(cache) == [], "half-unpacked or partial files were left in the cache"


def test_fmnist_truncated_in_torchvision_layout_keeps_user_files(tmp_path, cache):
    arrays = tiny_fmnist()
    raw = tmp_path / "tv" / "FashionMNIST" / "raw"
    bad = truncated(idx_bytes(arrays["train_x"]), 0.9)
    write_fmnist(raw, arrays, gz=False, override={"train-images-idx3-ubyte": bad})
    before = {p: p.read_bytes() for p in files_under(raw)}
    with pytest.raises(DatasetUnavailable) as err:
        load_raw("fashion-mnist", root=tmp_path / "tv")
    assert "reading the IDX files failed" in assert_clean_failure(err)
    assert {p: p.read_bytes() for p in files_under(raw)} == before, "user files were touched"
    assert files_under(cache) == []


def test_fmnist_image_and_label_counts_must_agree(tmp_path, cache):
    arrays = tiny_fmnist()
    fewer = idx_bytes(arrays["train_y"][:-3])  # a well-formed file, from "another download"
    flat = write_fmnist(tmp_path / "flat", arrays, gz=True,
                        override={"train-labels-idx1-ubyte": fewer})
    with pytest.raises(DatasetUnavailable) as err:
        load_splits(DataSpec("fashion-mnist"), root=flat)
    msg = assert_clean_failure(err)
    assert "40 images" in msg and "37 labels" in msg


# --- offline datasets ---------------------------------------------------------------------------

def test_digits_offline_split():
    s = load_splits(DataSpec("digits"))
    assert s.x_train.shape == (1347, 1, 8, 8) and s.x_test.shape == (450, 1, 8, 8)
    assert s.x_train.dtype == torch.float32 and s.y_train.dtype == torch.int64
    assert (s.channels, s.image_size) == input_shape("digits") == (1, 8)
    assert s.x_train.min() == -1.0 and s.x_train.max() == 1.0
    assert s.x_test.min() >= -1.0 and s.x_test.max() <= 1.0
    from sklearn.datasets import load_digits

    totals = np.bincount(load_digits().target, minlength=10)
    tr, te = np.array(class_counts(s.y_train)), np.array(class_counts(s.y_test))
    assert np.array_equal(tr + te, totals) and tr.sum() + te.sum() == 1797
    assert np.all(np.abs(te - 0.25 * totals) <= 1), "split is not stratified"
    t = load_splits(DataSpec("digits"))
    assert torch.equal(s.x_train, t.x_train) and torch.equal(s.y_train, t.y_train)
    assert torch.equal(s.x_test, t.x_test) and torch.equal(s.y_test, t.y_test)


def test_fashion_mnist_subset_fixture():
    s = load_splits(DataSpec("fashion-mnist-subset"))
    assert s.x_train.shape == (12_000, 1, 28, 28) and s.x_test.shape == (2_000, 1, 28, 28)
    assert s.x_train.dtype == torch.float32 and s.y_train.dtype == torch.int64
    assert (s.channels, s.image_size) == input_shape("fashion-mnist-subset") == (1, 28)
    assert s.x_train.min() == -1.0 and s.x_train.max() == 1.0
    assert class_counts(s.y_train) == [1200] * 10 and class_counts(s.y_test) == [200] * 10
    with np.load(data.SUBSET_FILE) as z:  # whole splits, in file order
        assert torch.equal(s.x_test[:50], paper_normalise(z["x_test"][:50]))
        assert torch.equal(s.y_train, torch.from_numpy(z["y_train"]).long())
    small = load_splits(DataSpec("fashion-mnist-subset", 500, 100, image_size=14))
    assert small.x_train.shape == (500, 1, 14, 14) and small.x_test.shape == (100, 1, 14, 14)
    assert class_counts(small.y_train) == [50] * 10 and class_counts(small.y_test) == [10] * 10


def test_fashion_mnist_subset_missing(tmp_path, monkeypatch):
    gone = tmp_path / "gone.npz"
    monkeypatch.setattr(data, "SUBSET_FILE", gone)
    with pytest.raises(DatasetUnavailable) as err:
        load_raw("fashion-mnist-subset")
    msg = assert_clean_failure(err)
    assert str(gone) in msg and "git checkout" in msg
    gone.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(DatasetUnavailable) as err:
        load_raw("fashion-mnist-subset")
    assert "unreadable" in assert_clean_failure(err)


@pytest.mark.parametrize("name", ["mnist", "cifar100", "Fashion-MNIST", ""])
def test_unknown_dataset_lists_valid_names(name):
    for call in (lambda: load_raw(name), lambda: load_splits(DataSpec(name))):
        with pytest.raises(ValueError) as err:
            call()
        assert all(valid in str(err.value) for valid in DATASETS)
        assert repr(name) in str(err.value)
