"""psyco: a specializing just-in-time compiler for CPython.

    import psyco
    psyco.full()          # compile every function of the program when called

or, without touching the source: ``python -m psyco script.py``.  On an
interpreter psyco does not support, every call here warns once and leaves
the program running uncompiled; ``psyco.supported()`` says which.
"""

import sys


def _launched() -> bool:
    """Whether `python -m psyco` is importing this package (to run
    psyco.__main__): sys.argv[0] is "-m" while it is located."""
    argv = getattr(sys, "orig_argv", [])
    return sys.argv[:1] == ["-m"] and ("-mpsyco" in argv or any(
        option == "-m" and module == "psyco" for option, module in zip(argv, argv[1:])))


# What the interpreter imported before psyco: psyco.__main__ hands the
# other standard modules back to the program's files shadowing them.
_STARTUP_MODULES = frozenset(sys.modules)
# As `python -m psyco` starts, the current directory comes first on
# sys.path: psyco.__main__ puts it back once psyco's own imports are done,
# so that they do not find the program's files named like standard modules
# (a __future__.py: this module has no `from __future__ import`).
_LAUNCH_PATH_ENTRY = sys.path.pop(0) if sys.path and not sys.flags.safe_path and _launched() else None

import warnings  # noqa: E402
from typing import Any, Callable, TypeVar  # noqa: E402, UP035 - this module imports on any Python 3

from psyco.own_builtins import BUILTINS, ORIGINAL_BUILTINS  # noqa: E402

__builtins__ = BUILTINS  # psyco calls the builtins it was imported with (see own_builtins)

__version__ = "0.1.0"
__all__ = [
    "supported", "full", "profile", "bind", "unbind", "proxy", "cannotcompile",
    "report", "format_report", "dump", "PsycoWarning", "__version__",
]

F = TypeVar("F", bound=Callable[..., Any])


class PsycoWarning(UserWarning):
    """psyco could not do what was asked; the program runs uncompiled."""


_support: "tuple[bool, str] | None" = None


def _check_support() -> "tuple[bool, str]":
    if sys.implementation.name != "cpython" or sys.version_info[:2] != (3, 11):
        return False, f"psyco supports CPython 3.11, not {sys.implementation.name} {sys.version.split()[0]}"
    if sys.maxsize != 2**63 - 1:
        return False, "psyco needs a 64-bit interpreter"
    import importlib.util

    # Found, not loaded: LLVM loads with the first machine code (backend.Engine).
    if importlib.util.find_spec("llvmlite") is None:
        return False, "psyco cannot find its back end, llvmlite"
    from psyco.abi import py311
    if not py311.layout_matches():
        return False, "this CPython build's object layout differs from what psyco knows"
    return True, ""


def supported() -> bool:
    """Can psyco compile on this interpreter?  If not, the API does nothing."""
    global _support
    if _support is None:
        with ORIGINAL_BUILTINS:  # (it imports psyco's ABI module)
            _support = _check_support()
        if not _support[0]:
            warnings.warn(f"{_support[1]}; programs run uncompiled", PsycoWarning, stacklevel=3)
    return _support[0]


def _api() -> Any:
    with ORIGINAL_BUILTINS:  # importing it runs modules of the standard library
        from psyco import api

    return api


def full() -> None:
    """Compile every function of the program when it is first called."""
    if supported():
        _api()._take_over(1, sys._getframe(1))


def profile() -> None:
    """Like full(), but compile only functions that are called often."""
    if supported():
        _api()._take_over(_api()._PROFILE_THRESHOLD, sys._getframe(1))


def bind(func: F) -> F:
    """Compile `func` when called, rebinding it in place; also a decorator."""
    return _api().bind(func) if supported() else func


def unbind(func: F) -> F:
    """Undo bind()."""
    return _api().unbind(func) if supported() else func


def proxy(func: F) -> F:
    """A compiled copy of `func`, leaving `func` itself untouched."""
    return _api().proxy(func) if supported() else func


def cannotcompile(func: F) -> F:
    """Never compile `func`."""
    return _api().cannotcompile(func) if supported() else func


def report() -> "list[dict]":
    """What was compiled (versions, entry kinds, calls, deopts) and what not."""
    return _api().report() if supported() else []


def format_report() -> str:
    """report() as a readable table."""
    return _api().format_report() if supported() else "psyco: not supported here"


def dump(func: Callable[..., Any]) -> str:
    """The IR of each compiled version of `func`."""
    return _api().dump(func) if supported() else "psyco: not supported here"
