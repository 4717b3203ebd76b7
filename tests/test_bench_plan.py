"""benchmarks/bench_plan.py: the plan benchmark prints, beside each configuration's speed-up, the
ceiling no plan can beat (issue 22) and, for a large-batch CNN, the time inside its convolutions.
One tiny configuration end to end, and the convolutions' arithmetic on a network counted by hand."""
import importlib.util
import re
import sys
from pathlib import Path

import pytest

from harness.declare.spec import DataSpec, Protocol, RunSpec
from models import NetConfig

REPO = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("bench_plan", REPO / "benchmarks" / "bench_plan.py")
bench_plan = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench_plan)


def test_conv_flop_counts_forward_weight_and_input_gradients_but_the_stems_input_gradient():
    # depth 1, width 4, 8x8 digits, batch 2: the stem conv 1->4 and one block conv 4->4, both
    # 3x3 at 8x8 (padding 1), so 2*64 output pixels x 4 channels each.
    net = NetConfig(arch="cnn", width=4, depth=1, norm="batch", activation="relu", image_size=8,
                    in_channels=1)
    spec = RunSpec(net, DataSpec("digits"), Protocol(epochs=1, batch_size=2), 0)
    stem, block = 2 * 64 * 4 * 1 * 9, 2 * 64 * 4 * 4 * 9  # multiply-adds of each forward
    # forward + weight gradient for both; the input gradient for the block only
    assert bench_plan.conv_flop(spec) == 2 * (2 * stem + 3 * block)


def test_a_tiny_configuration_prints_its_ceiling_and_where_its_step_goes(capsys):
    bench_plan.main(["--profile", "tiny", "--only", "d4/batch/norm-act/relu/b64", "--steps", "1",
                     "--warmup", "1"])
    out = capsys.readouterr().out
    ceiling = out.split("The ceiling:")[1]
    for row in ("eager-stacked (the engine before plans)", "planned (today's table)",
                "bare forward + backward", "at the dense conv peak", "at the GEMM peak"):
        line = next(ln for ln in ceiling.splitlines() if row in ln)
        seconds, speedup = line.split("|")[2:4]
        assert float(seconds) >= 0 and float(speedup.strip().rstrip("x")) > 0
    conv = next(ln for ln in out.split("Where a large-batch")[1].splitlines()
                if ln.startswith("| cnn/w4/d4/batch/norm-act/relu/b64"))
    cells = [c.strip() for c in conv.split("|")[1:-1]]
    step_ms, in_conv_ms, share = float(cells[2]), float(cells[3]), cells[4]
    assert 0 < in_conv_ms < step_ms, "the convolutions are part of the step, not more"
    assert re.fullmatch(r"\d+%", share) and 0 < int(share[:-1]) < 100
    assert float(cells[5]) > 0 and re.fullmatch(r"\d+%", cells[6])


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))
