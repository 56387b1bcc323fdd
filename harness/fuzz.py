"""Random request bodies for robustness checks: repeatable (seeded), varied, mostly invalid."""

from __future__ import annotations

import json
import random
from typing import Any

HOSTILE = ["", "\u0000", "\u202e", "'; DROP TABLE x; --", "$(reboot)", "../../etc/passwd", "%s%n", "\r\n",
           "\udcff".encode("utf-8", "surrogatepass").decode("utf-8", "replace"), "A" * 5000, "{{7*7}}"]
KEYS = ["model", "messages", "stream", "max_tokens", "temperature", "tools", "role", "content", "x"]


def _value(rng: random.Random, depth: int) -> Any:
    choice = rng.randrange(8 if depth < 3 else 5)
    if choice == 0:
        return rng.choice(HOSTILE)
    if choice == 1:
        return rng.randint(-2**63, 2**63)
    if choice == 2:
        return rng.choice([True, False, None, 1e308, -0.0])
    if choice == 3:
        return rng.random() * 10
    if choice == 4:
        return "".join(chr(rng.randrange(1, 0x2FFF)) for _ in range(rng.randrange(0, 40)))
    if choice in (5, 6):
        return {rng.choice(KEYS): _value(rng, depth + 1) for _ in range(rng.randrange(0, 5))}
    return [_value(rng, depth + 1) for _ in range(rng.randrange(0, 4))]


def random_bodies(count: int, seed: int) -> list[bytes]:
    """`count` bodies: broken JSON, raw bytes, and JSON of every shape with hostile strings."""
    rng = random.Random(seed)
    bodies = []
    for _ in range(count):
        kind = rng.randrange(4)
        if kind == 0:
            bodies.append(bytes(rng.randrange(256) for _ in range(rng.randrange(0, 200))))
        elif kind == 1:
            bodies.append(json.dumps(_value(rng, 0))[: rng.randrange(1, 60)].encode())
        else:
            bodies.append(json.dumps(_value(rng, 0)).encode())
    return bodies


def random_field_bodies(count: int, seed: int, fields: tuple[str, ...]) -> list[bytes]:
    """`count` bodies aimed at one route: mostly JSON objects whose keys are the route's own
    `fields` (each present or not, plus now and then a stray key) holding values of every shape,
    and some broken JSON; repeatable (seeded)."""
    rng = random.Random(seed)
    bodies = []
    for _ in range(count):
        body = {name: _value(rng, 1) for name in fields if rng.random() < 0.8}
        if rng.random() < 0.2:
            body[rng.choice(KEYS)] = _value(rng, 1)
        text = json.dumps(body)
        bodies.append((text[: rng.randrange(1, len(text))] if rng.random() < 0.1 and len(text) > 1 else text).encode())
    return bodies
