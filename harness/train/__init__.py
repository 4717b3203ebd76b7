"""The torch side: datasets as tensors (``data``), the one trainer (``stacked``, and
``concurrent`` for several configurations at once), how a configuration's seeds are computed
(``plan``, ``threads``), where it trains (``executors``), the engine between the store and the
trainer (``engine``) and what produced a run (``provenance``). Inside ``harness`` only
``harness.pytest_plugin`` imports it. This ``__init__`` imports nothing: it runs with the
trainer, so it is part of the code fingerprint (``harness.declare.spec``)."""
