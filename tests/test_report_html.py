"""report.html: self-contained, escaped, and rendering in a real headless browser.

The browser tests drive Chromium (or Chrome) with no Python package: ``--dump-dom`` on a test
copy of the page into which a probe script is injected first thing in ``<head>``; the probe
hooks ``window.onerror`` (JS errors and, in the capture phase, resources that fail to load),
``unhandledrejection`` and ``console.error``, and after the load event clicks the page's own
"unfold every claim" button and writes what it found into ``<body data-checks="...">``,
which the dumped DOM carries back. A second run takes a screenshot of the page itself. They
are skipped, saying so, where no browser is installed; ``test_browser_check_fails_on_a_broken_page``
shows that the check does fail on a page with a missing image or a script error.
"""
from __future__ import annotations

import base64
import html
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from harness.report import html as report_html, write_report
from harness.runstore.runs import read_runs_csv, published_runs

REPO = Path(__file__).resolve().parent.parent
SOURCE = REPO / "docs" / "results" / "smoke-auto"  # real runs, all five figures, --seeds auto
BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")
BROWSER_TIMEOUT_S = 120
SCREENSHOT = "report-html-screenshot.png"

HOSTILE = {
    "id": "zz-escaping<b>&\"quotes\"", "question": "Q4", "outcome": "failed",
    "sentence": "A sentence with <script>window.__pwned = 1; undefinedFunction()</script>, "
                "<img src=\"no-such-file.png\"> and [a link](javascript:alert(1)) | a pipe",
    "status_note": "note <i>not italic</i> & more",
    "evidence": {"verdict": "refuted", "test": "Welch <t>", "effect": -2.5, "effect_label": "diff <pp>",
                 "ci": [-4.0, -1.0], "ci_level": 0.95, "p": 0.99, "n": [5, 5], "alpha": 0.05,
                 "mde": 1.2, "arms": [{"label": "<arm A>", "n": 5, "mean": 80.0, "sd": 1.0}],
                 "details": {"t": -3.2, "<key>": "<value>"}, "note": "<note>"},
    "paper_evidence": None, "p_adjusted": 1.0, "run_keys": [],
}


def _browser() -> str | None:
    exe = os.environ.get("CHROMIUM")
    if exe:
        return exe if Path(exe).exists() else None
    return next((p for p in map(shutil.which, BROWSERS) if p), None)


needs_browser = pytest.mark.skipif(
    _browser() is None, reason=f"no headless browser installed (looked for {', '.join(BROWSERS)} "
                               "on PATH, or $CHROMIUM): report.html is checked without rendering it")


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    """The smoke-auto report's results and runs, plus one result full of markup."""
    doc = json.loads((SOURCE / "report.json").read_text())
    results = doc["results"] + [HOSTILE]
    folder = write_report(tmp_path_factory.mktemp("reports"), results,
                          read_runs_csv(SOURCE / "runs.csv"), published_runs(), doc["meta"])
    return folder, [r["id"] for r in results]


# ---------------------------------------------------------------------------------------------
# without a browser
# ---------------------------------------------------------------------------------------------

def test_written_beside_report_md_and_linked(report):
    folder, _ = report
    assert (folder / "report.html").is_file()
    assert "[report.html](report.html)" in (folder / "report.md").read_text()
    assert (folder.parent / "latest" / "report.html").is_file()


def test_self_contained_figures_embedded(report):
    folder, ids = report
    page = (folder / "report.html").read_text()
    # nothing is fetched: no external URL, stylesheet or script file
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:|//)""", page, re.I)
    assert "<link" not in page and not re.search(r"<script[^>]+src", page)
    srcs = re.findall(r'<img src="([^"]*)"', page)
    figures = json.loads((folder / "report.json").read_text())["figures"]
    # the seed paper's five figures and, since smoke-auto holds bn2015's runs too, its two
    assert len(srcs) == len(figures) == 7 and {"q4_accuracy_vs_depth.png", "q6_orders.png",
                                               "bn2015_lr_arms.png"} <= set(figures)
    for src, name in zip(srcs, figures):  # each figure is the PNG file, byte for byte
        assert src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.split(",", 1)[1]) == (folder / name).read_bytes()
    for cid in ids:
        assert f"<code>{html.escape(cid)}</code>" in page


def test_all_text_escaped(report):
    folder, _ = report
    page = (folder / "report.html").read_text()
    assert "__pwned" in page  # the text is there ...
    assert "<script>window.__pwned" not in page  # ... as text, not as markup
    assert '<img src="no-such-file.png">' not in page and "<i>not italic</i>" not in page
    assert "<arm A>" not in page and "<key>" not in page and "zz-escaping<b>" not in page
    assert 'href="javascript:' not in page
    assert page.count("<script>") == 1  # the page's own few lines


def test_inline_markdown_converter():
    assert report_html.inline("**a** `<b>` *c* [r](report.md)") == \
        '<strong>a</strong> <code>&lt;b&gt;</code> <em>c</em> <a href="report.md">r</a>'
    assert report_html.inline("[x](javascript:alert(1))") == "[x](javascript:alert(1))"
    assert report_html.inline("`**not bold**`") == "<code>**not bold**</code>"
    assert report_html.inline("1-2*alpha and 3*4") == "1-2*alpha and 3*4"


# ---------------------------------------------------------------------------------------------
# in a browser
# ---------------------------------------------------------------------------------------------

PROBE = """<script>(function () {
  var errors = [];
  window.addEventListener("error", function (e) {
    var t = e.target;
    if (t && t !== window && t.tagName) {
      errors.push("resource failed to load: <" + t.tagName.toLowerCase() + "> "
                  + String(t.currentSrc || t.src || t.href || "").slice(0, 60));
    } else {
      errors.push("script error: " + (e.message || "unknown"));
    }
  }, true);
  window.addEventListener("unhandledrejection", function (e) {
    errors.push("unhandled rejection: " + e.reason);
  });
  var consoleError = console.error;
  console.error = function () {
    errors.push("console.error: " + Array.prototype.join.call(arguments, " "));
    return consoleError.apply(console, arguments);
  };
  window.addEventListener("load", function () {
    setTimeout(function () {
      var imgs = Array.prototype.slice.call(document.images);
      var unfold = document.querySelector('button[data-unfold="all"]');
      if (unfold) { unfold.click(); }
      document.body.setAttribute("data-checks", JSON.stringify({
        title: document.title,
        rows: Array.prototype.map.call(document.querySelectorAll("tr.claim > td:first-child"),
                                       function (td) { return td.textContent; }),
        images: imgs.length,
        imagesLoaded: imgs.filter(function (i) { return i.complete && i.naturalWidth > 0; }).length,
        details: document.querySelectorAll("details.claim-evidence").length,
        unfolded: document.querySelectorAll("details.claim-evidence[open]").length,
        errors: errors
      }));
    }, 0);
  });
})();</script>"""


def _chromium(*args: str, profile: Path) -> subprocess.CompletedProcess:
    cmd = [_browser(), "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
           "--no-default-browser-check", "--disable-extensions", "--hide-scrollbars",
           f"--user-data-dir={profile}", *args]
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=BROWSER_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        pytest.fail(f"the browser did not finish within {BROWSER_TIMEOUT_S} s: {' '.join(cmd)}")


def browser_checks(page: Path, work: Path) -> dict:
    """Open a probed copy of ``page`` in the headless browser; what the probe found."""
    text = page.read_text()
    head = text.index("<head>") + len("<head>")
    probed = work / f"probed-{page.name}"
    probed.write_text(text[:head] + PROBE + text[head:])
    proc = _chromium("--virtual-time-budget=10000", "--dump-dom", probed.as_uri(),
                     profile=work / "browser-profile")
    m = re.search(r'<body[^>]*\sdata-checks="([^"]*)"', proc.stdout)
    assert m, (f"the page's checks never ran (exit {proc.returncode}); stderr tail:\n"
               + proc.stderr[-2000:])
    return json.loads(html.unescape(m.group(1)))


def problems(checks: dict, ids: list[str], n_figures: int) -> list[str]:
    """What is wrong with a rendered report page; empty when nothing is."""
    out = [f"error in the page: {e}" for e in checks["errors"]]
    if checks["rows"] != ids:
        out.append(f"claim rows {checks['rows']} != the results' ids {ids}")
    if checks["images"] != n_figures:
        out.append(f"{checks['images']} images on the page, {n_figures} figures drawn")
    if checks["imagesLoaded"] != checks["images"]:
        out.append(f"only {checks['imagesLoaded']} of {checks['images']} images loaded")
    if checks["details"] != len(ids) or checks["unfolded"] != len(ids):
        out.append(f"{checks['unfolded']} of {checks['details']} claims unfolded, {len(ids)} claims")
    if not checks["title"].startswith("Claim report"):
        out.append(f"title {checks['title']!r}")
    return out


@needs_browser
def test_renders_in_a_headless_browser(report, tmp_path, request):
    folder, ids = report
    page = folder / "report.html"
    checks = browser_checks(page, tmp_path)
    n_figures = len(json.loads((folder / "report.json").read_text())["figures"])
    assert not problems(checks, ids, n_figures), problems(checks, ids, n_figures)

    shot = tmp_path / SCREENSHOT
    proc = _chromium(f"--screenshot={shot}", "--window-size=1280,2000", page.as_uri(),
                     profile=tmp_path / "browser-profile")
    assert shot.is_file() and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", proc.stderr[-2000:]
    assert shot.stat().st_size > 50_000  # a rendered page, not a blank one
    reports_dir = request.config.getoption("--reports-dir", default=None)
    if reports_dir:  # given --reports-dir: keep a copy
        Path(reports_dir).mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, Path(reports_dir) / SCREENSHOT)


@needs_browser
@pytest.mark.parametrize("breakage", ["missing image", "script error", "console.error"])
def test_browser_check_fails_on_a_broken_page(report, tmp_path, breakage):
    folder, ids = report
    page = (folder / "report.html").read_text()
    bad = {"missing image": '<img src="no-such-figure.png" alt="gone">',
           "script error": "<script>window.noSuchFunction();</script>",
           "console.error": '<script>console.error("boom");</script>'}[breakage]
    broken = tmp_path / "broken.html"
    broken.write_text(page.replace("</body>", bad + "</body>"))
    checks = browser_checks(broken, tmp_path)
    found = problems(checks, ids, len(json.loads((folder / "report.json").read_text())["figures"]))
    assert found, f"a page with a {breakage} passed the check"
    expected = {"missing image": "resource failed to load: <img>", "script error": "script error",
                "console.error": "console.error: boom"}[breakage]
    assert any(expected in p for p in found), found
    if breakage == "missing image":
        assert any("images loaded" in p for p in found), found
