"""Run a function under plain CPython and under psyco, compare everything."""

from __future__ import annotations

import copy
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


def deopts(f: Callable[..., Any]) -> dict[str, int]:
    """The deoptimization exits f's compiled versions took, by reason."""
    entry = CodeEntry.lookup(f.__code__)
    taken: dict[str, int] = {}
    for v in entry.versions if entry is not None else ():
        for reason, count in zip(v.exit_reasons, v.exit_counts):
            if count:
                taken[reason] = taken.get(reason, 0) + count
    return taken


def same_compiled(f: Callable[..., Any], *args: Any) -> tuple:
    """Like `same` (each run gets its own copy of the arguments, which f may
    mutate), and the call ran compiled to the end: no exit to the interpreter."""
    g = psyco.proxy(f)
    before, deopts_before = calls_compiled(g), deopts(g)
    expected = outcome(f, *copy.deepcopy(args))
    got = outcome(g, *copy.deepcopy(args))
    assert got == expected, f"{f.__name__}{args}: psyco {got} != CPython {expected}"
    assert calls_compiled(g) > before, f"{f.__name__} did not run compiled"
    assert deopts(g) == deopts_before, f"{f.__name__}{args} left compiled code: {deopts(g)}"
    return got
