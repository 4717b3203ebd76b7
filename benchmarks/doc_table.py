"""What the table-writing benchmarks share: a table computed into a JSON file, rendered into a
markdown doc between two markers (``--render-only`` re-renders the JSON without simulating,
``--update-doc`` replaces the doc's section), so the docs quote a script's output, never typed
numbers."""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from pathlib import Path
from typing import Callable


def section(text: str, begin: str, end: str) -> str:
    """The part of ``text`` from ``begin`` through ``end`` (the markers included)."""
    return text[text.index(begin):text.index(end) + len(end)]


def parser(description: str) -> argparse.ArgumentParser:
    """The options every table script takes; a script adds its own (replicates, profile)."""
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--machine", default=f"{os.cpu_count()}-core {platform.machine()} CPU, no GPU")
    ap.add_argument("--render-only", action="store_true", help="render the JSON without simulating")
    ap.add_argument("--update-doc", action="store_true",
                    help="replace the section between the markers in the doc")
    return ap


def publish(args: argparse.Namespace, compute: Callable[[], dict], render: Callable[[dict], str],
            json_path: Path, doc_path: Path, doc_section: Callable[[str], str]) -> None:
    """Compute (or, with --render-only, read) the data, keep it as JSON, print the rendered
    section and, with --update-doc, write it into the doc."""
    if args.render_only:
        data = json.loads(json_path.read_text())
    else:
        data = compute()
        json_path.write_text(json.dumps(data, indent=1) + "\n")
    text = render(data)
    print(text)
    if args.update_doc:
        doc = doc_path.read_text()
        doc_path.write_text(doc.replace(doc_section(doc), text))
        print(f"\nupdated {doc_path.name}", file=sys.stderr)
