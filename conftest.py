"""Root conftest: the claims plugin serves `pytest claims` and `pytest tests` alike."""
pytest_plugins = ["harness.plugin"]
