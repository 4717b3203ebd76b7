"""What is asked, as data: the questions (``questions``), the profiles that size them
(``profiles``), their grids of runs (``grids``) and what one run is (``spec``: the RunSpec, its
store key and the code fingerprint in it). Torch-free: nothing here imports torch or
``harness.train``. (This ``__init__`` runs with the trainer,
which imports ``spec``: it is fingerprinted, and imports nothing.)"""
