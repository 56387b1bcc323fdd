"""Placeholders in target files: Jinja2 with strict undefined, so a typo is an error, not ''."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jinja2

from harness.errors import TargetFileError

_ENV = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True,
                          autoescape=False)


def render(text: str, values: Mapping[str, Any], *, path: Path, key: str) -> str:
    try:
        return _ENV.from_string(text).render(**values)
    except jinja2.UndefinedError as exc:
        raise TargetFileError(str(path), key, f"{exc.message}; placeholders available: "
                                              f"{', '.join(sorted(values))}") from None
    except jinja2.TemplateSyntaxError as exc:
        raise TargetFileError(str(path), key, f"template syntax error line {exc.lineno}: {exc.message}") from None
