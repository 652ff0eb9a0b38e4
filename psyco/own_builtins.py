"""The builtins psyco's own code calls: a copy made when psyco is imported.

A program may replace a builtin (`builtins.len = ...`, as test suites do)
while psyco runs: psyco's functions must not call the replacement, which
may be the program's compiled code calling back into psyco.  Each module of
psyco binds its `__builtins__` to this copy before it defines a function:
CPython gives a function the builtins of its module's `__builtins__` when
it makes the function.  (The program keeps its own: `psyco.__main__` runs
it with the `builtins` module.)
"""

import builtins

BUILTINS = dict(vars(builtins))
