"""Hive profile scenarios (features/hive) and their hive-only phrases."""

from __future__ import annotations

from pytest_bdd import scenarios

scenarios("hive")
