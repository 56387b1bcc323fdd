"""Reading a Prometheus text page: one sample by name and labels."""

from __future__ import annotations

from collections.abc import Mapping

from prometheus_client.parser import text_string_to_metric_families


def sample_value(page: str, name: str, labels: Mapping[str, str] | None = None) -> float | None:
    """The value of sample `name` whose labels include `labels`; None when there is none."""
    wanted = dict(labels or {})
    for family in text_string_to_metric_families(page):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in wanted.items()):
                return float(sample.value)
    return None


def metric_names(page: str) -> set[str]:
    names = set()
    for family in text_string_to_metric_families(page):
        names.add(family.name)
        names.update(sample.name for sample in family.samples)
    return names


def sample_sum(page: str, name: str) -> float:
    """The sum of every sample called `name`, whatever its labels."""
    return sum(float(sample.value) for family in text_string_to_metric_families(page)
               for sample in family.samples if sample.name == name)
