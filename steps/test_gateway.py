"""Gateway profile scenarios (features/gateway) and their gateway-only phrases."""

from __future__ import annotations

from pytest_bdd import scenarios

scenarios("gateway")
