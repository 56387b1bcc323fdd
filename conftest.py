"""The only place plugins are listed: the harness plugins and the shared step libraries."""

pytest_plugins = ["harness.plugin", "harness.check_plugin", "harness.rerun", "harness.report.plugin",
                  "fault_injection.plugin",
                  "steps.common", "steps.provider", "steps.hub", "steps.gpu", "steps.faults", "harness.docker_sweep",
                  "harness.scheduling"]
