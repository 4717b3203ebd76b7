"""Numbers in, verdicts out: the decision rules (``stats``), their vectorised forms and
calibration (``simulate``, ``calibration``, ``aa_calibration``), multiplicity, sequential seeds
and the diagnostics around a verdict (``convergence``, ``seeds_needed``, ``epoch_check``), and
numbers as text (``formatting``). Torch-free: numpy and scipy only, never ``harness.train``."""
