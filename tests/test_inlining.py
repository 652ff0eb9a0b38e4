"""Small direct callees copied into their callers for LLVM to inline, and
recursion unrolled one level: the same behaviour as calls, to the last
traceback line, and the report says what was inlined."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import traceback

import psyco
from psyco import backend, inlining
from psyco.runtime.jit import CodeEntry

from .differential import defined, deopts, outcome
from .test_runtime import MODULE_DIR, SUBPROCESS_ENV


def _inlined(func) -> list[str]:
    entry = CodeEntry.lookup(func.__code__)
    return [name for v in entry.versions for name in v.inlined] if entry is not None else []


def _compare(source: str, main: str, calls: list[tuple]) -> dict:
    """Run `main` with each argument tuple under CPython and compiled (the
    compiled functions warmed up by the first call), compare the outcomes
    and tracebacks; the compiled namespace."""
    plain = defined(textwrap.dedent(source), bind=False)
    compiled = defined(textwrap.dedent(source), bind=True)
    for args in calls:
        expected, got = outcome(plain[main], *args), outcome(compiled[main], *args)
        assert got == expected, f"{main}{args}: psyco {got} != CPython {expected}"
        if expected[0] == "raises":
            assert _traceback(compiled[main], args) == _traceback(plain[main], args)
    return compiled


def _traceback(f, args) -> list:
    try:
        f(*args)
    except Exception as exc:  # noqa: BLE001 - the traceback is what is compared
        return [(fs.name, fs.lineno, fs.line) for fs in traceback.extract_tb(exc.__traceback__)][1:]
    raise AssertionError("no exception")


LOOP_CALLS = """
    def gcd(a, b):
        while b:
            a, b = b, a % b
        return a

    def total(n):
        t = 0
        for i in range(1, n):
            t += gcd(i, n)
        return t

    def once(n):
        return gcd(n, 12) + 1
"""


def test_a_small_callee_in_a_loop_is_inlined():
    compiled = _compare(LOOP_CALLS, "total", [(50,), (51,), (200,)])
    assert _inlined(compiled["total"]) == ["gcd"]
    assert CodeEntry.lookup(compiled["total"].__code__).versions[0].calls.value >= 2


def test_a_call_outside_loops_is_not_inlined():
    compiled = _compare(LOOP_CALLS, "once", [(30,), (31,), (32,)])
    versions = CodeEntry.lookup(compiled["gcd"].__code__).versions
    assert versions, "gcd was not compiled"
    assert _inlined(compiled["once"]) == []
    assert versions[0].entry_address, "once calls gcd's machine code: it must have been made"
    assert compiled["gcd"](12, 18) == 6
    assert versions[0].calls.value == 1, "the dispatcher did not enter the machine code made for once"


def test_machine_code_made_for_a_caller_is_entered_by_the_interpreter():
    compiled = _compare(LOOP_CALLS, "total", [(50,)])
    gcd = CodeEntry.lookup(compiled["gcd"].__code__).versions[0]
    assert gcd.deferred is not None
    assert gcd.native_body() == gcd.body_address != 0  # as when a caller calls it at its address
    assert compiled["gcd"](12, 18) == 6
    assert gcd.calls.value == 1, "the dispatcher did not enter the machine code made"


def _gcd_row() -> dict:
    """The report of the newest gcd's version (earlier tests compiled others)."""
    return [r for r in psyco.report() if r["function"] == "gcd"][-1]["versions"][0]


def test_making_a_deferred_callees_machine_code_is_a_compile(monkeypatch):
    """The program's functions it runs (llvmlite's import runs `re`'s, which
    may be compiled and deferred themselves) run interpreted: never back
    into psyco, whose LLVM lock it holds (a deadlock)."""
    from psyco.runtime import jit

    compiled = _compare(LOOP_CALLS, "total", [(50,), (51,)])
    seen = []
    emit = jit._emit
    monkeypatch.setattr(jit, "_emit", lambda version: seen.append(jit._COMPILING.active) or emit(version))
    assert compiled["gcd"](12, 18) == 6
    assert seen == [True] and not jit._COMPILING.active


def test_a_callee_its_callers_copy_gets_machine_code_when_first_called_from_the_interpreter():
    compiled = _compare(LOOP_CALLS, "total", [(50,), (51,)])
    gcd = CodeEntry.lookup(compiled["gcd"].__code__).versions[0]
    assert gcd.entry_address == 0 and gcd.deferred is not None, "machine code made that nothing runs"
    assert _gcd_row()["machine_code"] is False
    assert "no machine code of its own" in psyco.format_report()
    assert [compiled["gcd"](a, b) for a, b in [(12, 18), (7, 0), (0, 7), (-4, 6)]] == [6, 7, 7, 2]
    assert gcd.entry_address and gcd.deferred is None
    assert _gcd_row()["machine_code"] is True
    assert gcd.calls.value == 4
    assert compiled["total"](52) == defined(textwrap.dedent(LOOP_CALLS), bind=False)["total"](52)


MID_SIZED_CALLEE = """
    class Vec:
        def __init__(self, x, y, z):
            self.x = x
            self.y = y
            self.z = z

        def scale(self, k):
            return Vec(self.x * k, self.y * k, self.z * k)

    def shrink(n):
        v = Vec(1.0, 2.0, 3.0)
        for i in range(n):
            v = v.scale(0.5)
        return v.x + v.y + v.z
"""


def test_a_callee_without_machine_code_is_copied_up_to_a_larger_size(monkeypatch):
    """Vec.scale is too large to copy once it has machine code of its own
    (INLINE_CALLEE_VALUES), not while it has none: its copy costs what its
    own module would.  (The specializer inlines nothing here: see
    test_virtual_instances.)"""
    monkeypatch.setattr(inlining, "MAX_DEPTH", 0)
    compiled = _compare(MID_SIZED_CALLEE, "shrink", [(3,), (40,)])
    scale = CodeEntry.lookup(compiled["Vec"].scale.__code__).versions[0]
    assert backend.INLINE_CALLEE_VALUES < scale.body_copy.body_values <= backend.INLINE_FRESH_CALLEE_VALUES
    assert "Vec.scale" in _inlined(compiled["shrink"])
    assert scale.entry_address == 0, "machine code made that nothing runs"


RECURSION = """
    def fib(n):
        if n < 2:
            return n
        return fib(n - 1) + fib(n - 2)

    def fibs(n):
        return [fib(i) for i in range(n)]

    def sum_fibs(n):
        t = 0
        for i in range(n):
            t += fib(i)
        return t
"""


def test_a_recursions_quick_return_runs_in_place_of_its_calls():
    """fib's base case only compares and returns: its calls of itself run
    that path in place (backend.quick_return_path), the others call the
    body, which is not unrolled."""
    compiled = _compare(RECURSION, "fib", [(15,), (20,), (2,), (0,), (25,)])
    assert _inlined(compiled["fib"]) == ["fib (quick return)", "fib (quick return)"]


def test_recursion_without_a_quick_return_is_unrolled_one_level(monkeypatch):
    monkeypatch.setattr(backend, "quick_return_path", lambda fn: None)
    compiled = _compare(RECURSION, "fib", [(15,), (20,), (2,), (0,), (25,)])
    assert _inlined(compiled["fib"]) == ["fib", "fib"]


TAK = """
    def tak(x, y, z):
        if y < x:
            return tak(tak(x - 1, y, z), tak(y - 1, z, x), tak(z - 1, x, y))
        return z
"""


def test_a_body_calling_itself_often_is_not_unrolled(monkeypatch):
    """Four copies of tak's body would make every call's frame (leaves
    included) four times larger: without its quick return, its calls go to
    the body itself."""
    compiled = _compare(TAK, "tak", [(12, 6, 2), (3, 2, 1), (1, 2, 3), (14, 8, 0)])
    assert _inlined(compiled["tak"]) == ["tak (quick return)"] * 4
    monkeypatch.setattr(backend, "quick_return_path", lambda fn: None)
    compiled = _compare(TAK, "tak", [(12, 6, 2), (3, 2, 1), (1, 2, 3), (14, 8, 0)])
    assert _inlined(compiled["tak"]) == []


QUICK_RETURNS = """
    def down(n):
        if n <= 0:
            return 0
        return down(n - 1) + 1 if n % 2 else down(n - 1) + 2

    def split(n):
        if n - 1 < 10:
            return n
        return split(n // 2) + split(n // 3)
"""


def test_a_quick_return_counts_against_the_recursion_limit_as_the_body_does(monkeypatch):
    """The quick entry counts its call as the body does: at the recursion
    limit the deepest call, a quick return, raises RecursionError where
    the body alone would."""
    quick = defined(textwrap.dedent(QUICK_RETURNS), bind=True)["down"]
    assert quick(50) == 75
    monkeypatch.setattr(backend, "quick_return_path", lambda fn: None)
    body = defined(textwrap.dedent(QUICK_RETURNS), bind=True)["down"]
    assert body(50) == 75
    assert (_inlined(quick), _inlined(body)) == (["down (quick return)"] * 2, ["down"] * 2)
    for f in (quick, body):
        outcome(f, 10**5)  # the interpreter's call sites on a RecursionError's way warm (they count C levels)
    assert _deepest(quick) == _deepest(body) < sys.getrecursionlimit()


def _deepest(f) -> int:
    """The largest n for which f(n) returns, called here (the C functions
    below this frame count too: found by trying)."""
    n = sys.getrecursionlimit()
    while outcome(f, n)[0] == "raises":
        n -= 1
    assert outcome(f, n + 1)[:2] == ("raises", RecursionError)
    return n


def test_a_failed_guard_on_the_quick_path_leaves_through_the_body():
    """split(-2**63): n - 1 overflows on the quick path; the body, entered
    instead, leaves to the interpreter there, which finishes the call."""
    compiled = _compare(QUICK_RETURNS, "split", [(100,), (-2**63,), (5,), (10**6,), (-2**63,)])
    assert _inlined(compiled["split"]) == ["split (quick return)"] * 2
    assert deopts(compiled["split"]) == {"overflow @3": 2}


CONDITIONAL_RECURSION = """
    def fib(n):
        return n if n < 2 else fib(n - 1) + fib(n - 2)

    def parts(x):
        return x if x < 1.0 else parts(x / 2) + parts(x / 3)

    def chain(n):
        return [n] if n < 1 else chain(n - 1) + [n]
"""


def test_a_recursive_conditional_expression_returns_a_native_number():
    """The one return of `a if c else f(...)` joins its branches, the
    recursive calls' unknown result among them: the kind of the numeric
    argument is tried as the recursive calls' result, kept when the
    function then returns it (not for chain, which returns lists)."""
    for name, calls, kind in [("fib", [(15,), (0,), (20,)], "Int"), ("parts", [(100.0,), (0.5,), (1e5,)], "Float"),
                              ("chain", [(5,), (0,)], "Object")]:
        compiled = _compare(CONDITIONAL_RECURSION, name, calls)
        assert [str(v.return_kind) for v in CodeEntry.lookup(compiled[name].__code__).versions] == [kind], name
        assert _inlined(compiled[name]) == ([f"{name} (quick return)"] * 2 if kind != "Object" else []), name


def test_a_recursive_callee_is_not_copied_into_its_callers():
    compiled = _compare(RECURSION, "sum_fibs", [(10,), (18,)])
    assert _inlined(compiled["sum_fibs"]) == []


RAISES = """
    def div(a, b):
        return a // b + 1

    def divs(n, d):
        t = 0
        for i in range(n):
            t += div(i, d - i)
        return t
"""


def test_an_exception_in_an_inlined_callee_has_the_callees_traceback_entry():
    compiled = _compare(RAISES, "divs", [(5, 100), (5, 100), (10, 6), (10, 3)])
    assert _inlined(compiled["divs"]) == ["div"]


DEOPTS = """
    LIMIT = 10

    def grow(x):
        return x * x + LIMIT

    def grows(n, start):
        t = 0
        for i in range(n):
            t += grow(start + i)
        return t

    def rebinds(n):
        global LIMIT
        t = 0
        for i in range(n):
            if i == n // 2:
                LIMIT = 1000
            t += grow(i)
        LIMIT = 10
        return t
"""


def test_an_inlined_callee_leaving_its_fast_path():
    # ints that overflow 64 bits inside the callee, a float where it was
    # compiled for ints, a global the callee reads rebound by the caller.
    compiled = _compare(DEOPTS, "grows", [(20, 3), (20, 3), (20, 2**31), (20, 3.5), (5, 2**62)])
    assert "grow" in _inlined(compiled["grows"])
    _compare(DEOPTS, "rebinds", [(20,), (20,), (21,)])


NESTED = """
    def a(i, j):
        return 1.0 / ((i + j) * (i + j + 1) // 2 + i + 1)

    def row(i, n, scale):
        s = 0.0
        for j in range(n):
            s += a(i, j) * scale
        return s

    def table(n, first):
        total = 0.0
        for i in range(first, n):
            total += row(i, n, 1.5)
        return total
"""


def test_a_copy_brings_the_copies_it_inlines(monkeypatch):
    # table's copy of row keeps a inlined (else its inner loop would call a);
    # a raises inside both copies when i + 1 == 0 and j == 0.  (Not the
    # specializer: a has no loop, row would specialize it into itself.)
    monkeypatch.setattr(inlining, "MAX_DEPTH", 0)
    compiled = _compare(NESTED, "table", [(30, 0), (30, 0), (5, -1), (40, 3)])
    assert _inlined(compiled["table"]) == ["row"]
    row = CodeEntry.lookup(compiled["row"].__code__).versions[0]
    assert row.inlined == ("a",)
    a = CodeEntry.lookup(compiled["a"].__code__).versions[0]
    assert [name for name, _, _ in row.inlinable.copies] == [a.body_name + ".inline"]


INSTANCES = """
    class Point:
        def __init__(self, x):
            self.x = x

    def points(n, k):
        out = []
        for i in range(n):
            out.append(Point(i * k).x)
        return out
"""


def test_an_inlined_init_and_its_arguments_changing_kind():
    compiled = _compare(INSTANCES, "points", [(10, 2), (10, 2), (5, 2**62), (4, 1.5), (3, "a")])
    assert "Point.__init__" in _inlined(compiled["points"])


# A recursive function calling inlined helpers has a larger native frame:
# the C-stack limit of its recursion must count the copies.
DEEP_WITH_HELPERS = textwrap.dedent("""
    import sys, psyco
    helper = "def h(x):\\n" + "".join(f"    x = x * 0.5 + {i}.25\\n" for i in range(30)) + "    return x\\n"
    deep = ("def deep(n, x):\\n    if n == 0:\\n        return 0.0\\n"
            "    return deep(n - 1, x) + h(x) + h(x + 1.0) + h(x + 2.0) + h(x + 3.0)\\n")
    namespace = {}
    exec(helper + deep, namespace)
    if sys.argv[1] == "psyco":
        psyco.bind(namespace["h"])
        psyco.bind(namespace["deep"])
    deep = namespace["deep"]
    for _ in range(3):
        deep(3, 1.0)
    sys.setrecursionlimit(1_000_000)
    try:
        print(deep(60_000, 1.0))
    except RecursionError:
        print("RecursionError")
    if sys.argv[1] == "psyco":
        print([name for r in psyco.report() if r["function"] == "deep" for v in r["versions"] for name in v["inlined"]])
""")


def test_deep_recursion_through_inlined_helpers_does_not_crash():
    runs = {mode: subprocess.run([sys.executable, "-c", DEEP_WITH_HELPERS, mode], capture_output=True, text=True,
                                 timeout=120, cwd=str(MODULE_DIR), env=SUBPROCESS_ENV) for mode in ("plain", "psyco")}
    assert runs["plain"].returncode == 0, runs["plain"].stderr
    assert runs["psyco"].returncode == 0, f"psyco run died with {runs['psyco'].returncode}: {runs['psyco'].stderr}"
    result, inlined = runs["psyco"].stdout.splitlines()
    assert result in (runs["plain"].stdout.strip(), "RecursionError")
    assert "h" in inlined, inlined
