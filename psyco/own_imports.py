"""The standard library modules psyco's later stages import.

psyco imports its compiler's stages and llvmlite when it first compiles,
while the program runs.  An import of a standard library module there
would find a module of the program's of the same name: one already
imported under that name, or a file beside the script (`platform.py`,
`resource.py`, `string.py`: `sys.path[0]` comes first), and the compile
failed.  While `STDLIB_IMPORTS` is entered (every compile enters it), a
top-level name of the standard library imports the standard library's
module, and the program's module of that name (or a standard one still
being imported: llvmlite calls `platform.machine()`) is out of
`sys.modules`; on leaving it is put back, and a standard library module
imported meanwhile that a file of the program's shadows is taken out, so
that the program's own `import` finds its file, as it would without psyco
(the module psyco imported stays with the module that imported it).
Until psyco's stages and llvmlite are loaded, entering takes about 0.1 ms
(judging functions not worth compiling loads no LLVM); then two lookups.  (Another thread of
the program importing such a name during that first compile gets the
standard library's module.)
"""

import contextlib
import importlib.machinery
import os
import sys
import sysconfig
import types

from psyco.own_builtins import BUILTINS

__builtins__ = BUILTINS  # psyco calls the builtins it was imported with (see own_builtins)

# Loaded when a compile has nothing left to import.
LAZY_MODULES = ("psyco.backend", "llvmlite.binding")


_PATHS = sysconfig.get_paths()
_STDLIB_PATH = [_PATHS["stdlib"], _PATHS["platstdlib"], os.path.join(_PATHS["platstdlib"], "lib-dynload")]
_STDLIB_PREFIXES = tuple(d + os.sep for d in _STDLIB_PATH)
_SITE_PREFIXES = tuple(_PATHS[key] + os.sep for key in ("purelib", "platlib"))  # inside the standard library's


def _stdlib_file(path: str | None) -> bool:
    """Whether `path` (a module's file; None: builtin) is the standard library's."""
    return path is None or path.startswith(_STDLIB_PREFIXES) and not path.startswith(_SITE_PREFIXES)


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

    def __enter__(self) -> None:
        self.depth += 1
        if self.depth > 1 or all(name in sys.modules for name in LAZY_MODULES):
            return
        aside = {name for name in sys.modules.keys() & sys.stdlib_module_names if _set_aside(sys.modules.get(name))}
        if aside:
            within = tuple(name + "." for name in aside)
            self.programs = {name: module for name, module in list(sys.modules.items())
                             if name in aside or name.startswith(within)}
        for name in self.programs:
            del sys.modules[name]
        self.before = set(sys.modules)
        sys.meta_path.insert(0, _StdlibFinder)  # type: ignore[arg-type]

    def __exit__(self, *exc: object) -> None:
        self.depth -= 1
        if self.depth or _StdlibFinder not in sys.meta_path:
            return
        sys.meta_path.remove(_StdlibFinder)  # type: ignore[arg-type]
        shadowed: dict[str, bool] = {}
        for name in set(sys.modules) - self.before:
            top = name.partition(".")[0]
            if top not in sys.stdlib_module_names:
                continue
            if top not in shadowed:
                shadowed[top] = top in self.programs or _programs_own(top)
            if shadowed[top]:
                del sys.modules[name]
        sys.modules.update(self.programs)
        self.programs, self.before = {}, set()


def _set_aside(module: types.ModuleType | None) -> bool:
    """Whether psyco imports a module of its own in place of `module`: one
    of the program's, or a standard one still being imported (a compile
    made by an import hook of the program while `platform` is imported)."""
    spec = getattr(module, "__spec__", None)
    return not _stdlib_file(getattr(module, "__file__", None)) or bool(getattr(spec, "_initializing", False))


def _programs_own(name: str) -> bool:
    """Whether the program's `import name` finds a file of its own."""
    spec = importlib.machinery.PathFinder.find_spec(name)
    return spec is not None and not _stdlib_file(spec.origin)


STDLIB_IMPORTS = _StdlibImports()  # entered under the compile lock
