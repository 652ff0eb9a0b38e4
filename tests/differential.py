"""Run a function under plain CPython and under psyco, compare everything."""

from __future__ import annotations

import copy
import math
import sys
import types
from collections.abc import Callable
from typing import Any

import psyco
from psyco.runtime.jit import STATS, CodeEntry


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


def defined(source: str, bind: bool) -> dict:
    """A fresh namespace holding what `source` defines; with `bind`, its
    functions and its classes' methods bound (calls between them are then
    direct, the small ones inlined)."""
    namespace: dict = {}
    exec(compile(source, "<generated>", "exec"), namespace)
    if bind:
        for value in list(namespace.values()):
            for function in vars(value).values() if isinstance(value, type) else [value]:
                if isinstance(function, types.FunctionType):
                    psyco.bind(function)
    return namespace


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


def assert_no_leak(f: Callable[..., Any], compiled: Callable[..., Any], args: tuple, label: str = "") -> None:
    """Nothing a compiled call allocates outlives it (strings and ints
    included: allocated blocks, not only objects the collector tracks).

    First the calls settle (guards that keep failing lead to their last
    version, compiled once); then rounds of calls, each compared with as
    many by CPython: freelists (2000 tuples of each size...) fill up over
    thousands of calls under CPython too.  A leak grows every round."""
    quiet = calls = 0
    while quiet < 60:
        versions = STATS["versions"]
        outcome(compiled, *copy.deepcopy(args))
        quiet = quiet + 1 if STATS["versions"] == versions else 0
        calls += 1
        assert calls < 3000, f"still compiling after {calls} calls: {label}{args}"
    growth: dict[str, list[int]] = {"plain": [], "compiled": []}
    for _ in range(3):
        for name, function in (("plain", f), ("compiled", compiled)):
            before = sys.getallocatedblocks()
            for _ in range(200):
                outcome(function, *copy.deepcopy(args))
            growth[name].append(sys.getallocatedblocks() - before)
    excess = [c - p for c, p in zip(growth["compiled"], growth["plain"])]
    assert min(excess) < 100, f"leak {growth}: {label}{args}"
    entry = CodeEntry.lookup(compiled.__code__)
    assert entry is not None and any(v.active for v in entry.versions), f"not running compiled: {label}{args}"
