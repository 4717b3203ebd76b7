"""Root conftest: the claims plugin serves `pytest claims` and `pytest tests` alike.

Installed (`pip install -e .`), pytest loads the plugin through the pytest11 entry point
``seed_claims`` (pyproject.toml) before this file, as it does in any project; a checkout that
is not installed registers it here. Never both: pluggy refuses a module registered twice.
"""
import harness.pytest_plugin.plugin


def pytest_addoption(parser, pluginmanager):
    if not pluginmanager.is_registered(harness.pytest_plugin.plugin):
        pluginmanager.register(harness.pytest_plugin.plugin, "harness.pytest_plugin.plugin")
