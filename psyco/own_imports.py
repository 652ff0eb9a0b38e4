"""The standard library modules psyco's later stages import.

psyco imports its compiler's stages and llvmlite when it first compiles,
while the program runs.  An import of a standard library module there
would find a module of the program's of the same name: one already
imported under that name, or a file beside the script (`platform.py`,
`resource.py`, `string.py`: `sys.path[0]` comes first), and the compile
failed.  While `STDLIB_IMPORTS` is entered (every compile enters it), a
top-level name of the standard library imports the standard library's
module, and the program's module of that name is out of `sys.modules`
(not one another thread is still importing: the compile then gets it, or
waits for it); on leaving it is put back, and a standard library module
imported meanwhile that a file of the program's shadows is taken out, so
that the program's own `import` finds its file, as it would without psyco
(the module psyco imported stays with the module that imported it).
Until psyco's stages and llvmlite are loaded, entering takes about 20 µs
(judging functions not worth compiling loads neither); then two lookups.
(Another thread of the program importing such a name during that first
compile gets the standard library's module.)
"""

import contextlib
import importlib.machinery
import os
import sys
import sysconfig
import types
import weakref
from collections.abc import Callable, Iterable

from psyco.own_builtins import BUILTINS

__builtins__ = BUILTINS  # psyco calls the builtins it was imported with (see own_builtins)

# Loaded when a compile has nothing left to import.
LAZY_MODULES = ("psyco.backend", "llvmlite.binding")


_PATHS = sysconfig.get_paths()
_STDLIB_PATH = [_PATHS["stdlib"], _PATHS["platstdlib"], os.path.join(_PATHS["platstdlib"], "lib-dynload")]
_STDLIB_PREFIXES = tuple(d + os.sep for d in _STDLIB_PATH)
_SITE_PREFIXES = tuple(_PATHS[key] + os.sep for key in ("purelib", "platlib"))  # inside the standard library's


def _stdlib_file(path: str | None) -> bool:
    """Whether `path` (a module's file; None: namespace package) is the standard library's."""
    return path is not None and path.startswith(_STDLIB_PREFIXES) and not path.startswith(_SITE_PREFIXES)


class _StdlibFinder:
    """Finds top-level standard library names in the standard library's
    directories only (builtin modules are left to the finders after it)."""

    @staticmethod
    def find_spec(name: str, path: object = None, target: object = None) -> importlib.machinery.ModuleSpec | None:
        if path is not None or name not in sys.stdlib_module_names:
            return None
        return importlib.machinery.PathFinder.find_spec(name, _STDLIB_PATH)


class _StdlibImports(contextlib.ContextDecorator):
    """While entered (nested entries count), top-level standard library
    names import the standard library's modules."""

    def __init__(self) -> None:
        self.depth = 0
        self.programs: dict[str, types.ModuleType] = {}
        self.before: set[str] = set()
        # The modules under standard library names found to be the
        # standard library's: not looked at again (entering then takes
        # 20 microseconds rather than 0.1 ms).  Weakly: a module the
        # program drops from sys.modules dies as without psyco.
        self.standard: dict[str, weakref.ref[types.ModuleType]] = {}

    def __enter__(self) -> None:
        if self.depth == 0 and not all(name in sys.modules for name in LAZY_MODULES):
            self._set_aside()
        self.depth += 1

    def _set_aside(self) -> None:
        modules = sys.modules.copy()  # (no Python code runs: a finalizer importing cannot change it meanwhile)
        standard = self.standard
        aside = set()
        for name, module in modules.items():
            known = standard.get(name)
            if (known is None or known() is not module) and name in sys.stdlib_module_names:
                if _programs(module):
                    aside.add(name)
                elif not _initializing(module):
                    standard[name] = weakref.ref(module)
        if aside:
            within = tuple(name + "." for name in aside)
            self.programs = {name: module for name, module in modules.items()
                             if name in aside or name.startswith(within)}
        for name in self.programs:
            sys.modules.pop(name, None)
        self.before = set(sys.modules)
        sys.meta_path.insert(0, _StdlibFinder)  # type: ignore[arg-type]

    def __exit__(self, *exc: object) -> None:
        self.depth -= 1
        if self.depth or _StdlibFinder not in sys.meta_path:
            return
        sys.meta_path.remove(_StdlibFinder)  # type: ignore[arg-type]
        programs = self.programs
        _leave_to_files(set(sys.modules) - self.before, lambda top: top in programs or _programs_own(top))
        sys.modules.update(self.programs)
        self.programs, self.before = {}, set()


def _programs(module: object) -> bool:
    """Whether `module` (under a standard library name) is the program's
    own: not from the standard library's files nor built in, and imported
    (one another thread is still importing stays: taken away, its import
    would fail; psyco's import then waits for it or gets it)."""
    if _initializing(module):
        return False
    spec = getattr(module, "__spec__", None)
    origin = getattr(module, "__file__", None) or getattr(spec, "origin", None)
    return origin not in ("built-in", "frozen") and (origin is None or not _stdlib_file(origin))


def _initializing(module: object) -> bool:
    """Whether another thread is still importing `module`."""
    return getattr(getattr(module, "__spec__", None), "_initializing", False)


def _programs_own(name: str, path: list[str] | None = None) -> bool:
    """Whether the program's `import name` finds a file of its own (in
    `path`, or along sys.path)."""
    spec = importlib.machinery.PathFinder.find_spec(name, path)
    return spec is not None and spec.origin is not None and not _stdlib_file(spec.origin)


def _leave_to_files(names: Iterable[str], shadowed: Callable[[str], bool]) -> None:
    """The modules among `names` (of sys.modules) under a top-level
    standard library name the program has a file for (`shadowed(top)`)
    leave sys.modules: the program's imports then find its file."""
    verdicts: dict[str, bool] = {}
    for name in names:
        top = name.partition(".")[0]
        if top in sys.stdlib_module_names:
            if top not in verdicts:
                verdicts[top] = shadowed(top)
            if verdicts[top]:
                sys.modules.pop(name, None)


STDLIB_IMPORTS = _StdlibImports()  # entered under the compile lock


def leave_to_program(imported: set[str], directory: str) -> None:
    """Standard modules psyco imported as it started (`imported`, names
    of sys.modules) that files of the program's directory shadow (a
    `ctypes.py` beside the script) leave sys.modules, so that the
    program's imports find its files as without psyco (psyco keeps its
    own)."""
    _leave_to_files(imported, lambda top: _programs_own(top, [directory]))
