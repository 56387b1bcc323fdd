"""The only place plugins are listed: the harness plugin and the shared step libraries."""

pytest_plugins = ["harness.plugin", "steps.common"]
