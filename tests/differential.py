"""Run a function under plain CPython and under psyco, compare everything."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import psyco
from psyco.runtime.jit import CodeEntry


def outcome(f: Callable[..., Any], *args: Any) -> tuple:
    """What a call did, in a form that tells -0.0 from 0.0 and nan from nan."""
    try:
        value = f(*args)
    except Exception as exc:  # noqa: BLE001 - the exception is the outcome
        return ("raises", type(exc), str(exc))
    return ("returns", type(value), _exact(value))


def _exact(value: Any) -> Any:
    if isinstance(value, float):
        return repr(value) if not math.isnan(value) else "nan"
    if isinstance(value, tuple):
        return tuple(_exact(v) for v in value)
    return value


def calls_compiled(f: Callable[..., Any]) -> int:
    """How many times compiled versions of f's code were entered."""
    entry = CodeEntry.lookup(f.__code__)
    return 0 if entry is None else sum(v.calls.value for v in entry.versions)


def same(f: Callable[..., Any], *args: Any, compiled: Callable[..., Any] | None = None) -> tuple:
    """Assert f(*args) behaves identically compiled; return the outcome."""
    expected = outcome(f, *args)
    g = compiled if compiled is not None else psyco.proxy(f)
    got = outcome(g, *args)
    assert got == expected, f"{f.__name__}{args}: psyco {got} != CPython {expected}"
    return got
