"""The builtins psyco's own code calls: a copy made when psyco is imported.

A program may replace a builtin (`builtins.len = ...`, as test suites do)
while psyco runs: psyco's functions must not call the replacement, which
may be the program's compiled code calling back into psyco.  Each module of
psyco binds its `__builtins__` to this copy before it defines a function:
CPython gives a function the builtins of its module's `__builtins__` when
it makes the function.  (The program keeps its own: `psyco.__main__` runs
it with the `builtins` module.)  Code that is not psyco's, which a compile
runs (llvmlite, modules imported on the way), looks in the `builtins`
module: `ORIGINAL_BUILTINS` puts the copy's values back there for the
length of a compile (llvmlite sized an object file with the program's
`len`: LLVM crashed).  Another thread of the program that runs while LLVM
works sees them too, and so does the specializer: code it specializes for
an original builtin the program replaced is guarded like any global, and
leaves for the interpreter when it meets the program's.  A program that
replaces no builtin pays nothing: nothing is swapped.
"""

import builtins
import contextlib
import itertools
import operator

BUILTINS = dict(vars(builtins))
_MISSING = object()
_NAMES, _VALUES = list(BUILTINS), list(BUILTINS.values())


class _OriginalBuiltins(contextlib.ContextDecorator):
    """While entered (nested entries count), the `builtins` module holds
    the values of BUILTINS; the program's are put back on leaving."""

    def __init__(self) -> None:
        self.depth = 0
        self.programs: dict[str, object] = {}

    def __enter__(self) -> None:
        current = vars(builtins)
        # (compared in C, without a loop of bytecodes: every compile asks)
        now = map(current.get, _NAMES, itertools.repeat(_MISSING))
        if self.depth == 0 and not all(map(operator.is_, now, _VALUES)):
            self.programs = {name: current.get(name, _MISSING) for name, value in BUILTINS.items()
                             if current.get(name, _MISSING) is not value}
            current.update((name, BUILTINS[name]) for name in self.programs)
        self.depth += 1

    def __exit__(self, *exc: object) -> None:
        self.depth -= 1
        if self.depth == 0:
            current = vars(builtins)
            for name, value in self.programs.items():
                if value is _MISSING:
                    current.pop(name, None)
                else:
                    current[name] = value
            self.programs = {}


ORIGINAL_BUILTINS = _OriginalBuiltins()  # entered under the compile lock
