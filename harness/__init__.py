"""The claims harness, in layers; imports run down, and torch stays on one side.

Torch-free (importing them, or anything they import, never loads torch; tests/test_structure.py
holds it):

* ``harness.declare``    - what is asked: the questions, the profiles, the grids, the RunSpec;
* ``harness.statistics`` - numbers in, verdicts out (numpy and scipy only);
* ``harness.runstore``   - runs at rest: the store, the runs table from any source, its checks;
* ``harness.report``     - claim results and runs in, report files out.

The torch side:

* ``harness.train``      - datasets as tensors, the trainer, the execution plans, the engine.

On top, ``harness.pytest_plugin``: the plugin pytest loads (the ``seed_claims`` entry point)
and the session it runs, which loads torch only when it resolves its device or trains.
"""
