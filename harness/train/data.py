"""Datasets as tensors: load once, normalise as the paper did, hold on the training device.

Names: ``digits`` (scikit-learn's bundled 8x8 set), ``fashion-mnist-subset`` (a stratified
12,000/2,000 sample of Fashion-MNIST committed in ``fixtures/``: offline and hard enough for
the smoke profile), ``fashion-mnist`` (the IDX files, through torchvision) and ``cifar10``
(the paper's dataset, through torchvision). Every image is scaled to [0, 1] and then
normalised with (x - 0.5) / 0.5, exactly the paper's ``Normalize(0.5, 0.5)``; no augmentation.
"""
from __future__ import annotations

import gzip
import hashlib
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from harness.declare.profiles import DATASETS  # noqa: F401  (re-exported: the names live with the profiles)
from harness.declare.spec import DataSpec

REPO = Path(__file__).resolve().parents[2]
SUBSET_FILE = REPO / "fixtures" / "fashion-mnist-subset.npz"
#: Where downloads and the unpacked Debian .gz files go (git-ignored). Module-level so tests
#: can point it at a temporary folder.
CACHE = REPO / ".data"
DEBIAN_FMNIST = Path("/usr/share/datasets/fashion-mnist")
_FMNIST_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                 "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
#: The split seed is part of the dataset, not of a run: every run sees the same split.
SPLIT_SEED = 0


class DatasetUnavailable(RuntimeError):
    """The data cannot be found or read. The message says where we looked and what to run."""


@dataclass
class Splits:
    name: str
    x_train: torch.Tensor  # float32, N x C x H x W, normalised to [-1, 1]
    y_train: torch.Tensor  # int64
    x_test: torch.Tensor
    y_test: torch.Tensor
    num_classes: int = 10

    @property
    def channels(self) -> int:
        return self.x_train.shape[1]

    @property
    def image_size(self) -> int:
        return self.x_train.shape[-1]

    def to(self, device) -> "Splits":
        return Splits(self.name, self.x_train.to(device), self.y_train.to(device),
                      self.x_test.to(device), self.y_test.to(device), self.num_classes)


def _normalise(images_uint8: np.ndarray) -> torch.Tensor:
    x = torch.from_numpy(np.ascontiguousarray(images_uint8)).float().div_(255.0)
    if x.ndim == 3:  # N x H x W grey images get their channel axis
        x = x.unsqueeze(1)
    return x.sub_(0.5).div_(0.5)


def _stratified_take(y: np.ndarray, n: int | None, seed: int) -> np.ndarray:
    """Indices of a class-balanced sample of ``n`` items (all, in order, when n is None)."""
    if n is None or n >= len(y):
        return np.arange(len(y))
    rng = np.random.default_rng(seed)
    classes = np.unique(y)
    per_class = [rng.permutation(np.flatnonzero(y == c)) for c in classes]
    take, i = [], 0
    # Round-robin over classes keeps the sample balanced for any n.
    while len(take) < n:
        for idx in per_class:
            if i < len(idx) and len(take) < n:
                take.append(idx[i])
        i += 1
    return np.sort(np.asarray(take))


def searched_paths(name: str, root: str | os.PathLike | None) -> list[Path]:
    paths = []
    if root is not None:
        paths.append(Path(root))
    if name == "fashion-mnist":
        paths.append(DEBIAN_FMNIST)
    if name == "fashion-mnist-subset":
        paths = [SUBSET_FILE]
    return paths


def _how_to_get(name: str) -> str:
    if name == "fashion-mnist":
        return ("apt-get install dataset-fashion-mnist, or pass --data-root DIR --download")
    if name == "cifar10":
        return "pass --data-root DIR --download (torchvision fetches cifar-10-python.tar.gz)"
    if name == "fashion-mnist-subset":
        return "restore fixtures/fashion-mnist-subset.npz from git (git checkout -- fixtures/)"
    return "pip install scikit-learn"


def _unavailable(name: str, root, why: str) -> DatasetUnavailable:
    where = ", ".join(str(p) for p in searched_paths(name, root)) or "(no path: give --data-root)"
    return DatasetUnavailable(f"dataset {name!r} is not available ({why}); searched: {where}; "
                              f"to get it: {_how_to_get(name)}")


def _one_line(exc: BaseException) -> str:
    """An exception as one line; torchvision's header checks are bare ``assert``s."""
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else f"{type(exc).__name__} (no message)"


def _fmnist_cache_dir(d: Path) -> Path:
    """The unpack cache for the IDX files in ``d``, keyed by those files' path, size and mtime.

    Keyed so that a cache filled from one folder is never served for another, and so that a
    replaced (e.g. re-downloaded after truncation) source file is unpacked afresh.
    """
    h = hashlib.sha256()
    for f in _FMNIST_FILES:
        src = d / f if (d / f).exists() else d / f"{f}.gz"
        st = src.stat()
        h.update(f"{src.resolve()}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return CACHE / "fmnist-cache" / h.hexdigest()[:16] / "FashionMNIST" / "raw"


def _fmnist_dir(root) -> Path | None:
    """A folder holding the four IDX files (plain or .gz), torchvision's layout or flat."""
    for base in searched_paths("fashion-mnist", root):
        for d in (base / "FashionMNIST" / "raw", base):
            if all((d / f).exists() or (d / f"{f}.gz").exists() for f in _FMNIST_FILES):
                return d
    return None


def _load_fmnist(root, download: bool):
    from torchvision.datasets import FashionMNIST

    d = _fmnist_dir(root)
    if d is None and not download:
        raise _unavailable("fashion-mnist", root, "the four IDX files were not found")
    if d is None:
        target = Path(root or CACHE)
        FashionMNIST(str(target), train=True, download=True)
        FashionMNIST(str(target), train=False, download=True)
        d = target / "FashionMNIST" / "raw"
    # torchvision reads uncompressed files from <root>/FashionMNIST/raw/; the Debian package
    # ships flat .gz files, so they are unpacked once into a private cache in that layout.
    raw, cached = d, False
    if d.name != "raw" or d.parent.name != "FashionMNIST" or not all((d / f).exists() for f in _FMNIST_FILES):
        raw, cached = _fmnist_cache_dir(d), True
        raw.mkdir(parents=True, exist_ok=True)
        for f in _FMNIST_FILES:
            dst = raw / f
            if dst.exists():
                continue
            src = d / f
            tmp = dst.with_name(f"{f}.tmp{os.getpid()}")
            try:
                if src.exists():
                    shutil.copyfile(src, tmp)
                else:
                    with gzip.open(d / f"{f}.gz") as fin, open(tmp, "wb") as fout:
                        shutil.copyfileobj(fin, fout)
                os.replace(tmp, dst)  # atomic: a killed unpack leaves no half file behind
            except Exception as exc:  # OSError, EOFError (truncated .gz), zlib.error (corrupt .gz)
                tmp.unlink(missing_ok=True)
                _drop_cache(raw)
                raise _unavailable("fashion-mnist", root, f"unpacking {f} failed: {_one_line(exc)}") from None
    out = []
    try:
        for train in (True, False):
            ds = FashionMNIST(str(raw.parent.parent), train=train, download=False)
            out += [ds.data.numpy(), ds.targets.numpy()]
    except Exception as exc:  # truncated or corrupt IDX files
        if cached:  # never delete the user's own files, only our copies of them
            _drop_cache(raw)
        raise _unavailable("fashion-mnist", root, f"reading the IDX files failed: {_one_line(exc)}") from None
    return out


def _drop_cache(raw: Path) -> None:
    """Remove one source's unpack cache (``.../<key>/FashionMNIST/raw``) after a failure."""
    shutil.rmtree(raw.parent.parent, ignore_errors=True)


def _load_cifar10(root, download: bool):
    from torchvision.datasets import CIFAR10

    if root is None:
        raise _unavailable("cifar10", root, "no --data-root given")
    out = []
    try:
        for train in (True, False):
            ds = CIFAR10(str(root), train=train, download=download)
            out += [ds.data.transpose(0, 3, 1, 2), np.asarray(ds.targets)]
    except RuntimeError as exc:
        raise _unavailable("cifar10", root, str(exc).split("\n")[0].rstrip(".")) from None
    except Exception as exc:  # truncated pickle batches
        raise _unavailable("cifar10", root, f"reading the batches failed: {_one_line(exc)}") from None
    return out


def _load_digits():
    try:
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split
    except ImportError:
        raise _unavailable("digits", None, "scikit-learn is not installed") from None
    d = load_digits()
    # sklearn's digits are 0..16 intensities; scale to 0..255 so one normaliser serves all.
    images = (d.images * (255.0 / 16.0)).round().astype(np.uint8)
    xtr, xte, ytr, yte = train_test_split(images, d.target, test_size=0.25,
                                          stratify=d.target, random_state=SPLIT_SEED)
    return [xtr, ytr, xte, yte]


def _load_subset():
    try:
        # Opened here, not by np.load: numpy leaks its own handle when the zip is corrupt.
        with open(SUBSET_FILE, "rb") as f, np.load(f) as z:
            return [z["x_train"], z["y_train"], z["x_test"], z["y_test"]]
    except FileNotFoundError:
        raise _unavailable("fashion-mnist-subset", None, "the file is missing") from None
    except Exception as exc:
        raise _unavailable("fashion-mnist-subset", None, f"the file is unreadable: {exc}") from None


def load_raw(name: str, *, root=None, download: bool = False):
    """[x_train, y_train, x_test, y_test] as uint8 images and integer labels."""
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; valid: {', '.join(DATASETS)}")
    if name == "digits":
        out = _load_digits()
    elif name == "fashion-mnist-subset":
        out = _load_subset()
    elif name == "fashion-mnist":
        out = _load_fmnist(root, download)
    else:
        out = _load_cifar10(root, download)
    for split, (x, y) in (("train", out[:2]), ("test", out[2:])):
        if len(x) != len(y):  # e.g. image and label files from different downloads
            raise _unavailable(name, root, f"the {split} split has {len(x)} images but {len(y)} labels")
    return out


def load_splits(spec: DataSpec, *, root=None, download: bool = False) -> Splits:
    """The spec's data as normalised CPU tensors (move them with ``.to(device)``)."""
    xtr, ytr, xte, yte = load_raw(spec.name, root=root, download=download)
    itr = _stratified_take(np.asarray(ytr), spec.train_size, SPLIT_SEED)
    ite = _stratified_take(np.asarray(yte), spec.test_size, SPLIT_SEED + 1)
    x_train, x_test = _normalise(xtr[itr]), _normalise(xte[ite])
    if spec.image_size is not None and spec.image_size != x_train.shape[-1]:
        # Area averaging: the smoke profile's downsampling keeps every pixel's mass.
        size = (spec.image_size, spec.image_size)
        x_train = F.interpolate(x_train, size=size, mode="area")
        x_test = F.interpolate(x_test, size=size, mode="area")
    return Splits(spec.name, x_train.contiguous(), torch.as_tensor(np.asarray(ytr)[itr]).long(),
                  x_test.contiguous(), torch.as_tensor(np.asarray(yte)[ite]).long())
