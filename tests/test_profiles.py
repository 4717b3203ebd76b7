"""Profiles as data: the named table, a .toml file and --set overrides, each validated with
one error naming the key."""
import subprocess
import sys
from pathlib import Path

import pytest

from harness.declare import grids
from harness.declare import questions as Q
from harness.declare.profiles import (PROFILES, ProfileError, load_profile_file, override, parse_set,
                              resolve_profile)

REPO = Path(__file__).resolve().parent.parent


def test_every_named_profile_is_valid_and_named_for_its_key():
    for name, p in PROFILES.items():
        assert p.name == name
        assert override(p, {}, name) == p


def test_set_overrides_parse_toml_values_and_bare_words():
    p = resolve_profile("smoke", ["width=16", "q4_depths=[1, 2, 4]", "dataset=fashion-mnist",
                                  "alpha=0.01", "q5_train_size=none", "smoke_scale=false"])
    assert (p.width, p.sizes["Q4"]["depth"], p.dataset, p.alpha) == (16, (1, 2, 4), "fashion-mnist", 0.01)
    assert "train_size" not in p.sizes["Q5"] and p.smoke_scale is False
    # the old flat keys and the declared ones are the same setting
    assert resolve_profile("smoke", ["Q4.depth=[1, 2, 4]"]) == resolve_profile("smoke", ["q4_depths=[1,2,4]"])
    # issue 27: `--set name=cpu` labelled a tiny run "cpu"; a name comes with a profile file
    with pytest.raises(ProfileError, match="cannot be overridden.*profile file"):
        parse_set(["name=\"my run\""])


@pytest.mark.parametrize("item, message", [
    ("widht=16", "unknown key 'widht'"),
    ("width=abc", "width must be an integer"),
    ("width=0", "width must be at least 1"),
    ("seeds=1", "seeds must be at least 2"),
    # issue 27: absurd values stop here, not in every test or after hours of training
    ("image_size=100000", "image_size is 100000, beyond the most any session could use (256)"),
    ("q5_epochs=1000000000", "Q5.epochs holds 1000000000, beyond the most"),
    ("q4_depths=[1, 2, 1000]", "Q4.depth holds 1000, beyond the most"),
    ("alpha=1.5", "alpha must be between 0 and 1"),
    ("q4_depths=[4]", "Q4.depth: needs at least two depths"),
    ("Q4.depth=[1, 1]", "Q4.depth must be distinct"),
    ("q4_depths=3", "Q4.depth must be a non-empty list"),
    ("q5_peak_batch=64", "Q5.peak_batch (64) must be one of batch_size"),
    ("q5_small_batch=16", "q5_small_batch is no longer a setting: claims use the smallest of "
                          "Q5.batch_size (set Q5.batch_size)"),
    ("Q9.depth=[1, 2]", "unknown question 'Q9'"),
    ("dataset=mnist", "dataset is 'mnist'"),
    ("smoke_scale=1", "smoke_scale must be true or false"),
    ("first_seed=-1", "first_seed must be >= 0"),
    ("width", "expected key=value"),
])
def test_a_bad_override_is_one_error_naming_the_key(item, message):
    with pytest.raises(ProfileError) as err:
        resolve_profile("smoke", [item])
    assert message in str(err.value) and "\n" not in str(err.value)


def test_profile_file_from_a_base_and_standalone(tmp_path):
    f = tmp_path / "mine.toml"
    f.write_text('base = "smoke"\nwidth = 12\nq5_batch_sizes = [4, 16, 128]\nq5_small_batch = 4\n'
                 '[Q4]\nepochs = 3\n')
    p = load_profile_file(f)
    assert (p.name, p.width, p.sizes["Q5"]["batch_size"], p.sizes["Q4"]["epochs"],
            p.sizes["Q6"]) == ("mine", 12, (4, 16, 128), 3, PROFILES["smoke"].sizes["Q6"])
    full = PROFILES["tiny"].to_dict()
    full.pop("name")

    def toml(k, v):
        return (f"{k} = {list(v) if isinstance(v, tuple) else v!r}".replace("'", '"')
                .replace("True", "true").replace("False", "false"))
    lines = [toml(k, v) for k, v in full.items() if v is not None and k != "sizes"]
    for q, sizes in full["sizes"].items():  # each question's sizes as a [Q4] table
        lines += [f"[{q}]"] + [toml(k, v) for k, v in sizes.items()]
    g = tmp_path / "copy.toml"
    g.write_text("\n".join(lines) + "\n")
    q = load_profile_file(g)
    assert q.replace(name="tiny") == PROFILES["tiny"]


@pytest.mark.parametrize("text, message", [
    ('base = "smoke"\nwdth = 3\n', "unknown key 'wdth'"),
    ('base = "smoke"\nq6_epochs = "four"\n', "Q6.epochs must be a number"),
    ('base = "nope"\n', "base 'nope' is not a profile"),
    ('width = 8\n', "missing key"),
    ('width = = 8\n', "not valid TOML"),
])
def test_a_bad_profile_file_is_one_error(tmp_path, text, message):
    f = tmp_path / "bad.toml"
    f.write_text(text)
    with pytest.raises(ProfileError) as err:
        load_profile_file(f)
    assert message in str(err.value) and str(f) in str(err.value)


def test_first_seed_moves_every_grid_to_disjoint_seeds():
    pilot = PROFILES["tiny"].replace(first_seed=1000)
    for q in Q.QUESTIONS:
        confirm = {s.seed for s in grids.grid(q, PROFILES["tiny"])}
        pilots = {s.seed for s in grids.grid(q, pilot)}
        assert confirm == set(range(5)) and pilots == set(range(1000, 1005))
        assert {s.key() for s in grids.grid(q, pilot)}.isdisjoint(
            {s.key() for s in grids.grid(q, PROFILES["tiny"])})


@pytest.mark.parametrize("args, message", [
    (["--profile", "tiny", "--set", "q6_epochs=0"], "--set: Q6.epochs must be at least 1"),
    (["--profile", "no/such.toml"], "--profile no/such.toml: cannot read it"),
    (["--profile", "tiny", "--set", "colour=red"], "--set: unknown key 'colour'"),
])
def test_bad_profile_options_stop_pytest_with_one_line(args, message):
    proc = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "claims",
                           "--collect-only", "-q", *args], cwd=REPO, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 4, proc.stdout + proc.stderr
    errors = [ln for ln in proc.stderr.splitlines() if ln.startswith("ERROR")]
    assert len(errors) == 1 and message in errors[0], proc.stderr
    assert "Traceback" not in proc.stderr


def test_a_retired_key_is_named_with_its_replacement_and_dropped_from_a_recorded_profile():
    """equivalence_margin became per-claim margins (issue 21): --set names the new keys; an
    older report's recorded profile is re-judged under today's rules, not silently replaced
    by a guessed profile (a bn2015 cpu report was once re-judged as smoke that way)."""
    from harness.declare.profiles import PROFILES, recorded

    with pytest.raises(ProfileError, match="equivalence_margin is no longer a setting.*q5_gn_consistency_margin"):
        resolve_profile("smoke", ["equivalence_margin=2.0"])
    old = PROFILES["cpu"].to_dict() | {"equivalence_margin": 2.0}
    assert recorded(old, "report.json") == PROFILES["cpu"]


def test_an_unusable_recorded_profile_is_one_error_line_naming_the_way_out(tmp_path):
    import json

    from harness.pytest_plugin.session import SettingsError, recorded_profile

    csv = tmp_path / "runs.csv"
    csv.write_text("key\n")
    assert recorded_profile(str(csv)) is None  # no report beside it: the profile is guessed
    (tmp_path / "report.json").write_text(json.dumps(
        {"meta": {"profile_settings": {"name": "cpu", "width": "wide"}}}))
    with pytest.raises(SettingsError, match="width.*pass --profile NAME"):
        recorded_profile(str(csv))
