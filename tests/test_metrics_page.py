"""Reading a Prometheus page: a counter is exposed as <name>_total from the moment it is
registered, before its first sample (a labelled counter has none until it is first incremented)."""

from __future__ import annotations

from harness.metrics import metric_names, sample_sum, sample_value

REGISTERED_ONLY = "# HELP fallbacks_total Fallbacks taken\n# TYPE fallbacks_total counter\n"
COUNTED = '# HELP retries Retries\n# TYPE retries counter\nretries_total{provider="primary"} 2.0\n'


def test_a_counter_without_samples_is_exposed_under_its_total_name() -> None:
    assert "fallbacks_total" in metric_names(REGISTERED_ONLY)
    assert sample_sum(REGISTERED_ONLY, "fallbacks_total") == 0


def test_a_counted_sample_is_read_by_name_and_label() -> None:
    assert {"retries", "retries_total"} <= metric_names(COUNTED)
    assert sample_value(COUNTED, "retries_total", {"provider": "primary"}) == 2.0
