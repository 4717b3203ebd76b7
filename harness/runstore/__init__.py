"""Runs at rest: the SQLite run store (``store``), the runs table from any source (``runs``),
its validation (``validate``), what makes an arm unjudgeable (``divergence``) and a sequential
session replayed from its runs.csv (``replay``). Torch-free: judging a source never imports
torch or ``harness.train``."""
