"""The code fingerprint in every store key (harness/declare/spec.py): it covers every file that
can change a run's numbers, and nothing else.

* Editing the trainer, the models, the data module or the spec changes every store key
  (checked on a copy of those files, with ``spec.ROOT`` pointed at it, through ``RunSpec.key``).
* The fingerprinted files are found by walking the trainer's imports, so a repository module
  the trainer (or anything it imports) starts to import joins by itself, whatever the import's
  form; the one exemption (data.py's dataset names from the profiles) covers those names only.
* Every repository module that a training run really loads (a subprocess imports
  ``harness.train.stacked`` and trains a tiny stack) is fingerprinted or is that exemption.
* Editing code off the training path (engine, statistics, claims, profiles) keeps every key.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tomllib

import pytest

from harness.declare import spec as spec_mod
from harness.declare.spec import DataSpec, Execution, Protocol, RunSpec, code_fingerprint, result_files
from models import q4_depth_net, q5_norm_net, q6_order_cnn, q6_order_mlp

ROOT = spec_mod.ROOT
#: NOT_RESULT_CODE's module, as a file, and what it loads: the question declarations choose
#: which runs are asked for (their specs are keyed), never how a run is computed.
EXEMPT_FILES = {"harness/declare/profiles.py", "harness/declare/questions.py"} | {
    f"claims/{p.name}" for p in (ROOT / "claims").glob("questions_*.py")}


def some_specs() -> list[RunSpec]:
    """Runs that differ in every part of a spec: network, data, protocol, seed, execution."""
    small = dict(width=4, in_channels=1, image_size=8)
    nets = [q4_depth_net(2, "sigmoid", **small), q5_norm_net("group", **small),
            q6_order_cnn("act-norm", "leaky_relu", **small), q6_order_mlp("norm-act", "relu", **small)]
    out = [RunSpec(n, DataSpec("digits"), Protocol(2, 32), seed=s) for n in nets for s in (0, 1)]
    out.append(RunSpec(nets[1], DataSpec("fashion-mnist-subset", 1000, 500, 14), Protocol(1, 2)))
    out.append(out[0].on(Execution("cuda", 0, "bf16")))
    return out


def copy_files(dest, rels) -> None:
    for rel in rels:
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(ROOT / rel, dest / rel)


def keys_at(root, monkeypatch) -> list[str]:
    """Every spec's store key, with the code read from ``root`` (not cached)."""
    with monkeypatch.context() as m:
        m.setattr(spec_mod, "ROOT", root)
        m.setattr(spec_mod, "_fingerprint", None)
        return [s.key() for s in some_specs()]


def test_fingerprint_is_the_trainer_and_what_it_imports():
    files = result_files()
    assert {"harness/train/stacked.py", "harness/train/data.py", "harness/declare/spec.py",
            "models/__init__.py", "harness/__init__.py"} <= set(files)
    # the subpackages' __init__.py on the way run with the trainer (issue 23 item 4's layout)
    assert {"harness/train/__init__.py", "harness/declare/__init__.py"} <= set(files)
    off_path = {"harness/train/engine.py", "harness/train/executors.py", "harness/runstore/store.py",
                "harness/statistics/stats.py", "harness/pytest_plugin/plugin.py",
                "harness/declare/profiles.py", "harness/declare/grids.py", "harness/runstore/runs.py"}
    assert not off_path & set(files)
    assert not any(f.startswith(("claims/", "tests/", "benchmarks/")) for f in files)
    assert code_fingerprint() == code_fingerprint(ROOT)  # the cached value is this checkout's


@pytest.mark.parametrize("edited", ["harness/train/stacked.py", "models/__init__.py", "harness/train/data.py",
                                    "harness/declare/spec.py"])
def test_editing_a_result_file_changes_every_store_key(edited, tmp_path, monkeypatch):
    copy_files(tmp_path, result_files())
    before = keys_at(tmp_path, monkeypatch)
    assert before == [s.key() for s in some_specs()]  # the copy is faithful: the same keys
    assert len(set(before)) == len(before)
    with open(tmp_path / edited, "a") as f:
        f.write("\n# an edit that changes no number still retrains: only the file is known\n")
    after = keys_at(tmp_path, monkeypatch)
    assert len(set(after)) == len(after)
    assert not set(before) & set(after)


@pytest.mark.parametrize("edited", ["harness/train/engine.py", "harness/statistics/stats.py",
                                    "harness/declare/profiles.py", "claims/test_q6_order.py"])
def test_editing_code_off_the_training_path_keeps_every_key(edited, tmp_path, monkeypatch):
    assert (ROOT / edited).is_file()
    copy_files(tmp_path, result_files() + [edited])
    before = keys_at(tmp_path, monkeypatch)
    with open(tmp_path / edited, "a") as f:
        f.write("\n# edited\n")
    assert keys_at(tmp_path, monkeypatch) == before


@pytest.mark.parametrize("line", ["from models.blocks import Block as _B",
                                  "from .blocks import Block as _B",
                                  "import models.blocks",
                                  "from models import blocks",
                                  "def _later():\n    from models.blocks import Block"])
def test_a_module_the_models_start_to_import_is_fingerprinted(line, tmp_path):
    """E.g. a new models/blocks.py (as the config moved to models/config.py, which joined by
    itself): no list to update by hand."""
    copy_files(tmp_path, result_files())
    (tmp_path / "models" / "blocks.py").write_text("Block = None\n")
    assert "models/blocks.py" not in result_files(tmp_path)
    with open(tmp_path / "models" / "__init__.py", "a") as f:
        f.write(f"\n{line}\n")
    assert "models/blocks.py" in result_files(tmp_path)
    before = code_fingerprint(tmp_path)
    (tmp_path / "models" / "blocks.py").write_text("Block = 1\n")
    assert code_fingerprint(tmp_path) != before


def test_a_repo_module_the_trainer_starts_to_import_is_fingerprinted(tmp_path):
    copy_files(tmp_path, result_files() + ["harness/runstore/store.py"])
    assert "harness/runstore/store.py" not in result_files(tmp_path)
    with open(tmp_path / "harness" / "train" / "stacked.py", "a") as f:
        f.write("\nfrom harness.runstore.store import RunStore  # noqa: E402\n")
    assert "harness/runstore/store.py" in result_files(tmp_path)


def test_the_exemption_covers_the_dataset_names_only(tmp_path):
    """data.py takes DATASETS from the profiles unfingerprinted; anything more is followed."""
    copy_files(tmp_path, result_files() + ["harness/declare/profiles.py"])
    assert "from harness.declare.profiles import DATASETS" in (ROOT / "harness/train/data.py").read_text()
    assert "harness/declare/profiles.py" not in result_files(tmp_path)
    with open(tmp_path / "harness" / "train" / "data.py", "a") as f:
        f.write("\nfrom harness.declare.profiles import get_profile  # noqa: E402\n")
    assert "harness/declare/profiles.py" in result_files(tmp_path)


def test_every_repo_module_a_training_run_loads_is_fingerprinted():
    """What Python really loads (a fresh interpreter imports the trainer and trains a tiny stack
    for one epoch, so imports inside functions run too), against the import walk."""
    script = """
import json, sys, torch
from pathlib import Path
from harness.train.data import Splits
from harness.declare.spec import DataSpec, Protocol, RunSpec, ROOT
from harness.train.stacked import train_stacked
from models import q5_norm_net
g = torch.Generator().manual_seed(0)
data = Splits("random", torch.randn(20, 1, 6, 6, generator=g), torch.randint(0, 10, (20,), generator=g),
              torch.randn(8, 1, 6, 6, generator=g), torch.randint(0, 10, (8,), generator=g))
net = q5_norm_net("batch", width=4, in_channels=1, image_size=6)
train_stacked([RunSpec(net, DataSpec("random"), Protocol(1, 8), seed=s) for s in (0, 1)], data)
files = [Path(m.__file__).resolve() for m in list(sys.modules.values())  # (torch._ops has
         if getattr(m, "__file__", None) and Path(m.__file__).is_file()]  # a bare "_ops.py")
print(json.dumps(sorted(f.relative_to(ROOT).as_posix() for f in files if f.is_relative_to(ROOT))))
"""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    loaded = set(json.loads(out.stdout.strip().splitlines()[-1]))
    assert "harness/train/stacked.py" in loaded and "models/__init__.py" in loaded
    assert loaded - set(result_files()) <= EXEMPT_FILES, loaded - set(result_files())


def test_the_walk_knows_the_installed_packages():
    """The walk follows this repository's packages only (an installed copy's ROOT is
    site-packages, beside torch): they are the packages pyproject.toml installs."""
    with open(ROOT / "pyproject.toml", "rb") as f:
        installed = tomllib.load(f)["tool"]["setuptools"]["packages"]
    code = [p for p in installed if any((ROOT / p.replace(".", "/")).glob("*.py"))]  # not fixtures/
    assert set(spec_mod.PACKAGES) == {p.split(".")[0] for p in code}  # subpackages inside
    assert {(k[1].split(".")[0]) for k in spec_mod.NOT_RESULT_CODE} <= set(spec_mod.PACKAGES)
