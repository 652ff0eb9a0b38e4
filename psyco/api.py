"""The public API: bind, unbind, proxy, cannotcompile, full, profile, report.

Binding swaps a function's `__code__` for its trampoline (see
`abi.make_trampoline`), so every existing reference to the function enters
compiled code; nothing else in the interpreter changes.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import os
import sys
import sysconfig
import types
import warnings
from collections import Counter
from collections.abc import Callable
from typing import Any, TypeVar

from psyco import PsycoWarning
from psyco.abi import current as abi
from psyco.own_builtins import BUILTINS
from psyco.runtime.jit import STATS, CodeEntry, final_ir

__builtins__ = BUILTINS  # psyco calls the builtins it was imported with (see own_builtins)

F = TypeVar("F", bound=Callable[..., Any])


_NEVER: set[types.CodeType] = set()  # code objects marked with cannotcompile()
# Function bodies psyco was given (by full(), bind(), proxy()) that it
# cannot compile (generators, coroutines), with why: the report lists them,
# though psyco does not see whether they run.
_LEFT_TO_INTERPRETER: dict[types.CodeType, str] = {}
_PROFILE_THRESHOLD = 20  # calls before profile() compiles a function


def _function_of(obj: object, action: str) -> types.FunctionType:
    """The plain Python function behind `obj`, or a TypeError saying why not."""
    target = obj.__func__ if isinstance(obj, types.MethodType) else obj
    if isinstance(target, types.FunctionType):
        return target
    if isinstance(target, (types.BuiltinFunctionType, types.BuiltinMethodType)):
        raise TypeError(f"psyco.{action}: {obj!r} is a builtin, which is already native code")
    raise TypeError(f"psyco.{action}: expected a Python function, got {type(obj).__name__} {obj!r}")


def _original_code(code: types.CodeType) -> types.CodeType:
    entry = CodeEntry.lookup(code)
    return entry.code if entry is not None else code


def _refusal(code: types.CodeType) -> str | None:
    """Why psyco does not compile the function body `code`, or None; a body
    it cannot compile (not one marked by cannotcompile()) is noted for
    the report."""
    if code in _NEVER:
        return "marked with psyco.cannotcompile()"
    why = abi.trampoline_supported(code)
    if why is not None:
        _LEFT_TO_INTERPRETER[code] = why
    return why


def _entry_for(func: types.FunctionType, action: str, quiet: bool = False) -> CodeEntry | None:
    code = _original_code(func.__code__)
    why = _refusal(code)
    if why is not None:
        if not quiet:
            warnings.warn(f"psyco.{action}: cannot compile {func.__qualname__}: {why}; it runs uncompiled",
                          PsycoWarning, stacklevel=3)
        return None
    return CodeEntry.for_code(code)


def bind(func: F) -> F:
    """Compile `func` when called; rebinds it in place (usable as a decorator)."""
    f = _function_of(func, "bind")
    entry = _entry_for(f, "bind")
    if entry is not None:
        f.__code__ = entry.trampoline
    return func


def unbind(func: F) -> F:
    """Undo bind(): `func` runs on the interpreter again."""
    f = _function_of(func, "unbind")
    f.__code__ = _original_code(f.__code__)
    return func


def proxy(func: F) -> F:
    """A compiled copy of `func`; `func` itself is left untouched."""
    f = _function_of(func, "proxy")
    entry = _entry_for(f, "proxy")
    code = entry.trampoline if entry is not None else _original_code(f.__code__)
    copy = types.FunctionType(code, f.__globals__, f.__name__, f.__defaults__, f.__closure__)
    copy.__kwdefaults__ = f.__kwdefaults__
    copy.__qualname__ = f.__qualname__
    copy.__dict__.update(f.__dict__)
    copy.__doc__ = f.__doc__
    copy.__module__ = f.__module__
    return copy  # type: ignore[return-value]


def cannotcompile(func: F) -> F:
    """Never compile `func` (and undo any binding)."""
    f = _function_of(func, "cannotcompile")
    code = _original_code(f.__code__)
    _NEVER.add(code)
    entry = CodeEntry.lookup(code)
    if entry is not None:
        entry.disable("marked with psyco.cannotcompile()")
    f.__code__ = code
    return func


# --- whole programs -------------------------------------------------------------------
# The standard library, site-packages and psyco itself, each spelt as given
# and resolved: most files are recognised by their name as given, without
# resolving links (realpath costs a system call per path component).
_NOT_USER_DIRS = {sysconfig.get_paths()[k] for k in ("stdlib", "platstdlib", "purelib", "platlib")}
_NOT_USER_DIRS.add(os.path.dirname(__file__))
_SKIP_PREFIXES = tuple({os.path.join(f(d), "") for d in _NOT_USER_DIRS for f in (os.path.abspath, os.path.realpath)})


def is_user_code(filename: str) -> bool:
    """Code full() takes over: not the standard library, site-packages or psyco."""
    if not filename or filename.startswith("<"):
        return filename in ("<string>", "<stdin>")
    return not filename.startswith(_SKIP_PREFIXES) and not os.path.realpath(filename).startswith(_SKIP_PREFIXES)


def transform_code(code: types.CodeType, threshold: int = 1) -> types.CodeType:
    """`code` with every nested function body replaced by its trampoline, so
    that functions created from it later are compiled when called."""
    consts = tuple(transform_code(c, threshold) if isinstance(c, types.CodeType) else c for c in code.co_consts)
    if consts != code.co_consts or any(a is not b for a, b in zip(consts, code.co_consts)):
        code = code.replace(co_consts=consts)
    is_function = code.co_flags & 0x02  # CO_NEWLOCALS: a function body
    if is_function and _refusal(code) is None:
        entry = CodeEntry.for_code(code)
        entry.compile_threshold = threshold
        entry.whole_program = True
        return entry.trampoline
    return code


def _bind_namespace(namespace: dict, threshold: int, seen: set[int]) -> None:
    for value in list(namespace.values()):
        if id(value) in seen:
            continue
        seen.add(id(value))
        if isinstance(value, types.FunctionType):
            code = _original_code(value.__code__)
            if is_user_code(code.co_filename) and CodeEntry.lookup(value.__code__) is None:
                entry = _entry_for(value, "full", quiet=True)
                if entry is not None:
                    entry.compile_threshold = threshold
                    entry.whole_program = True
                    value.__code__ = entry.trampoline
        elif isinstance(value, type) and value.__module__ == namespace.get("__name__"):
            _bind_namespace(dict(vars(value)), threshold, seen)


class _CompilingFinder(importlib.abc.MetaPathFinder):
    """Makes modules imported later load with their functions bound."""

    def __init__(self, threshold: int) -> None:
        self.threshold = threshold

    def find_spec(self, name: str, path: Any, target: Any = None) -> importlib.machinery.ModuleSpec | None:
        """The spec the finders after this one give, loading user code
        bound (those before it were asked already: a program's finder put
        first sees each import once)."""
        finders = list(sys.meta_path)
        after = next((i for i, finder in enumerate(finders) if finder is self), -1) + 1
        for finder in finders[after:]:
            if not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(name, path, target)
            if spec is None:
                continue
            loader = spec.loader
            if isinstance(loader, importlib.machinery.SourceFileLoader) and is_user_code(spec.origin or ""):
                spec.loader = _CompilingLoader(loader.name, loader.path, self.threshold)
            return spec
        return None


# The loader's get_code passes for a part of importlib (by its file name):
# when a module does not compile (a SyntaxError), CPython trims importlib's
# frames from the traceback as without psyco, which a frame of psyco's own
# file among them would stop (it trims runs of importlib frames only).
_GET_CODE_SOURCE = """
def get_code(self, fullname):
    code = SourceFileLoader.get_code(self, fullname)
    return transform_code(code, self.threshold) if code is not None else None
"""
_loader_functions: dict[str, Any] = {}
exec(compile(_GET_CODE_SOURCE, "<frozen importlib._bootstrap_external>", "exec"),
     {"__builtins__": BUILTINS, "SourceFileLoader": importlib.machinery.SourceFileLoader,
      "transform_code": transform_code}, _loader_functions)


class _CompilingLoader(importlib.machinery.SourceFileLoader):
    def __init__(self, fullname: str, path: str, threshold: int) -> None:
        super().__init__(fullname, path)
        self.threshold = threshold

    get_code = _loader_functions["get_code"]  # (self, fullname) -> the module's code, its functions bound


_finder: _CompilingFinder | None = None


def _take_over(threshold: int, caller: types.FrameType | None) -> None:
    """Bind the program's functions; `caller` is the frame that called
    full() or profile() (None from the command line)."""
    global _finder
    seen: set[int] = set()
    for module in list(sys.modules.values()):
        namespace = getattr(module, "__dict__", None)
        if isinstance(namespace, dict) and is_user_code(namespace.get("__file__") or ""):
            _bind_namespace(namespace, threshold, seen)
    if caller is not None:
        _bind_namespace(caller.f_globals, threshold, seen)
        if is_user_code(caller.f_code.co_filename):
            _patch_running_module(caller.f_code, threshold)
    if _finder is None:
        _finder = _CompilingFinder(threshold)
        sys.meta_path.insert(0, _finder)


def _patch_running_module(code: types.CodeType, threshold: int) -> None:
    """Functions the running module will define after full() returns are
    created from code objects in its co_consts: swap those in place."""
    for i, const in enumerate(code.co_consts):
        if isinstance(const, types.CodeType) and CodeEntry.lookup(const) is None:
            new = transform_code(const, threshold)
            if new is not const:
                abi.replace_tuple_item(code.co_consts, i, new)


# --- what was compiled ------------------------------------------------------------------
def report() -> list[dict]:
    """What psyco compiled and did not, one dict per code object it took
    over, and per function body it was given and left to the interpreter
    (a generator: "called" None, psyco does not see its calls)."""
    out = []
    seen: set[int] = set()
    for entry in CodeEntry.by_code.values():
        if id(entry) in seen:
            continue
        seen.add(id(entry))
        versions = [
            {
                "entry_kinds": [str(k) for k in v.entry_kinds],
                "return_kind": str(v.return_kind),
                "calls": v.calls.value,
                "compile_ms": round(v.compile_seconds * 1000, 2),
                "optimized": v.optimized,
                "machine_code": bool(v.entry_address),  # False: only its callers' copies of its body ran
                "lowered": v.lowered,  # False: specialized for direct calls from callers not compiled after all
                "inlined": list(v.inlined),
                "deopts": v.deopts(),
                "active": v.active,
            }
            for v in [*entry.versions, *entry.callers_only]
        ]
        out.append({
            "function": entry.code.co_qualname,
            "file": entry.code.co_filename,
            "line": entry.code.co_firstlineno,
            "versions": versions,
            "not_compiled": entry.reason or "; ".join(
                f"({', '.join(map(str, k))}): {why}"
                for k, why in [*entry.not_compiled.items(), *entry.awaiting.items()]),
            "refused_ms": round(entry.refused_seconds * 1000, 2),  # compiles that made no version
            "called": bool(versions) or entry.misses > 0,
        })
    for code, why in _LEFT_TO_INTERPRETER.items():
        out.append({"function": code.co_qualname, "file": code.co_filename, "line": code.co_firstlineno,
                    "versions": [], "not_compiled": why, "refused_ms": 0.0, "called": None})
    return out


def format_report(rows: list[dict] | None = None) -> str:
    """The report as the table `python -m psyco --report` prints (with
    the time LLVM took to load, for this process's own report)."""
    this_process = rows is None
    rows = report() if rows is None else rows
    lines = ["psyco report", "compiled:"]
    total = 0.0
    for r in rows:
        if not r["versions"]:
            continue
        lines.append(f"  {r['function']}  ({r['file']}:{r['line']})")
        for v in r["versions"]:
            total += v["compile_ms"]
            state = "" if v["active"] else "  [retired]"
            codegen = "" if v["optimized"] else " (quick codegen)"
            if not v["lowered"]:
                codegen = " (no code made: specialized for compiled callers, none of which needed it)"
            elif not v["machine_code"]:
                codegen = " (only copied into its callers: no machine code of its own)"
            lines.append(f"    ({', '.join(v['entry_kinds'])}) -> {v['return_kind']}: entered {v['calls']}x, "
                         f"compiled in {v['compile_ms']:.1f} ms{codegen}{state}")
            if v["inlined"]:
                counts = Counter(v["inlined"])
                lines.append("      inlined calls: " + ", ".join(
                    f"{name} x{n}" if n > 1 else name for name, n in counts.items()))
            for reason, n in sorted(v["deopts"].items()):
                lines.append(f"      deopt {n}x: {reason}")
    lines.append("not compiled:")
    for r in rows:
        total += r["refused_ms"]
        if r["not_compiled"] and r["called"] is not False:
            spent = f" [{r['refused_ms']:.1f} ms spent finding out]" if r["refused_ms"] else ""
            lines.append(f"  {r['function']}  ({r['file']}:{r['line']}): {r['not_compiled']}{spent}")
    if this_process and STATS["llvm_load_seconds"]:
        lines.append(f"LLVM loaded in {STATS['llvm_load_seconds'] * 1000:.1f} ms (once, with the first machine code)")
    lines.append(f"total compile time: {total / 1000:.3f} s")
    return "\n".join(lines)


def dump(func: Callable[..., Any]) -> str:
    """The IR of every compiled version of `func`."""
    f = _function_of(func, "dump")
    entry = CodeEntry.lookup(f.__code__)
    if entry is None or not entry.versions:
        return f"{f.__qualname__}: no compiled version"
    return "\n\n".join(final_ir(v) for v in entry.versions)
