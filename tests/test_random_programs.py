"""Randomly generated loop programs, run by CPython and by psyco.

The generator writes small functions mixing int/float/bool arithmetic,
comparisons, conditional expressions, builtins, loops with break/continue
and kind changes; each is compared with plain CPython on edge-case inputs.
"""

import copy
import random
from collections.abc import Callable

import pytest

import psyco
from tests.differential import assert_no_leak, calls_compiled, defined, outcome

OPERATORS = ["+", "-", "*", "//", "%", "/", "<<", ">>", "&", "|", "^", "**"]
COMPARISONS = ["<", "<=", "==", "!=", ">", ">="]
CONSTANTS = [0, 1, -1, 2, 3, 7, 8, -13, 2**31, 2**32, 2**62, -(2**63), 0.5, -0.0, 1e300, 3.25, True]
INPUTS = [0, 1, -1, 5, 17, -9, 2**32 + 3, 2**40, 2**63 - 1, 1.5, -2.25, 0.0, True]


def expression(rng: random.Random, depth: int, names: list[str]) -> str:
    if depth == 0 or rng.random() < 0.3:
        pick = rng.random()
        if pick < 0.5:
            return rng.choice(names)
        if pick < 0.75:
            return repr(rng.choice(CONSTANTS))
        a, b, c, d = (rng.choice(names) for _ in range(4))
        return f"({a} if {b} {rng.choice(COMPARISONS)} {c} else {d})"
    op = rng.choice(OPERATORS)
    left = expression(rng, depth - 1, names)
    right = str(rng.randint(0, 5)) if op in ("<<", "**") else expression(rng, depth - 1, names)
    form = rng.random()
    if form < 0.1:
        return f"abs({left})"
    if form < 0.15:
        return f"min({left}, {right})"
    if form < 0.2:
        return f"(-{left})"
    if form < 0.25:
        return f"({left} {rng.choice(COMPARISONS)} {right})"
    return f"({left} {op} {right})"


def program(rng: random.Random, name: str) -> str:
    names = ["a", "b", "c", "t"]
    count = rng.choice(["a % 50", "20", "c % 30", "3"])
    lines = [f"def {name}(a, b, c):", "    t = 0",
             f"    for i in range({count} if isinstance(a, int) and isinstance(c, int) else 5):"]
    for _ in range(rng.randint(1, 4)):
        lines.append(f"        {rng.choice(names)} = {expression(rng, 3, names + ['i'])}")
        if rng.random() < 0.3:
            lines.append(f"        if {rng.choice(names)} {rng.choice(COMPARISONS)} {rng.choice(names)}:")
            lines.append(f"            {rng.choice(['continue', 'break', 't += 1'])}")
    lines.append(f"    return {expression(rng, 2, names)}")
    return "\n".join(lines)


def check_generated(source: str, name: str, arguments: Callable[[], tuple]) -> None:
    """Compile the generated function `name` and call it, plain and
    compiled, on six argument tuples (each call gets its own copies)."""
    namespace: dict = {}
    exec(compile(source, f"<{name}>", "exec"), namespace)
    f = namespace[name]
    compiled = psyco.proxy(f)
    for _ in range(6):
        args = arguments()
        expected = outcome(f, *copy.deepcopy(args))
        got = outcome(compiled, *copy.deepcopy(args))
        assert got == expected, f"{args}\n{source}"
    assert calls_compiled(compiled) > 0, source
    assert_no_leak(f, compiled, args, source)


@pytest.mark.parametrize("seed", range(40))
def test_random_program(seed):
    rng = random.Random(seed)
    source = program(rng, f"generated_{seed}")
    check_generated(source, f"generated_{seed}", lambda: tuple(rng.choice(INPUTS) for _ in range(3)))


# Lists whose items are read, compared, changed and swapped: items are
# objects psyco guesses to be numbers (a guard checks each guess).  (`is`
# between large numbers is left out: psyco may box an unboxed number anew,
# see the README's limitations.)
LIST_STATEMENTS = [
    "k = xs[i % len(xs)]",
    "if k {cmp} {name}:\n            t += 1",
    "xs[(i * 3) % len(xs)] = {expr}",
    "xs[i % len(xs)], xs[0] = xs[0], xs[i % len(xs)]",
    "j = k\n        for _ in range(8):\n            if not j {cmp} {name}:\n                break\n"
    "            j = j - 1 if j > 0 else j + 1\n            t += 1",
    "{name} = k {op} {expr}",
]
LIST_ITEMS = [0, 1, -3, 7, 2**63 - 1, -(2**63), 2**64, 0.5, -2.5, True, False]


def list_program(rng: random.Random, name: str) -> str:
    names = ["a", "b", "k", "t"]
    lines = [f"def {name}(xs, a, b):", "    t = 0", "    k = a", f"    for i in range({rng.randint(3, 12)}):"]
    for _ in range(rng.randint(2, 5)):
        template = rng.choice(LIST_STATEMENTS)
        lines.append("        " + template.format(
            cmp=rng.choice(COMPARISONS[:2] + COMPARISONS[4:]), name=rng.choice(names),
            op=rng.choice(["+", "-", "*", "//", "%"]), expr=expression(rng, 2, names + ["i"])))
    lines.append("    return t, k, xs")
    return "\n".join(lines)


@pytest.mark.parametrize("seed", range(40))
def test_random_list_program(seed):
    rng = random.Random(1000 + seed)
    source = list_program(rng, f"listy_{seed}")

    def arguments() -> tuple:
        items = [rng.choice(LIST_ITEMS) for _ in range(rng.randint(1, 6))]
        return items, rng.choice(INPUTS), rng.choice(INPUTS)
    check_generated(source, f"listy_{seed}", arguments)


# Programs over objects, containers, strings and exceptions: classes with
# properties, __slots__, super() and __getattr__, a dataclass, dicts, sets,
# string methods and formatting, try/except/finally, raise from, with,
# closures, generators (send() too), globals rebound by callees, a walrus
# inside a method call's arguments.
OBJECT_PRELUDE = '''
from dataclasses import dataclass

COUNTER = 0


def bump(n):
    global COUNTER
    COUNTER += n
    return COUNTER


class Failure(Exception):
    pass


class Point:
    def __init__(self, x, y=2):
        self.x = x
        self.y = y

    def total(self):
        return self.x + self.y

    @property
    def double(self):
        return self.x * 2


class Point3(Point):
    def __init__(self, x, y=2, z=3):
        super().__init__(x, y)
        self.z = z

    def total(self):
        return super().total() + self.z


class Pair:
    __slots__ = ("first", "second")

    def __init__(self, first, second):
        self.first = first
        self.second = second


class Log:
    def __init__(self, out, swallow):
        self.out, self.swallow = out, swallow

    def __enter__(self):
        self.out.append("enter")
        return self

    def __exit__(self, kind, value, tb):
        self.out.append(("exit", kind and kind.__name__))
        return self.swallow


class Lazy:
    def __getattr__(self, name):
        if name.startswith("no"):
            raise AttributeError(f"no {name}")
        return len(name)

    @property
    def broken(self):
        raise ValueError("broken property")


@dataclass
class Item:
    name: str
    count: int = 0


def echo():
    received = []
    while True:
        value = yield len(received)
        if value is None:
            return received
        received.append(value)


def evens(n):
    for i in range(n):
        if i % 2 == 0:
            yield i
    raise Failure(f"evens({n}) done")
'''
OBJECT_STATEMENTS = [
    "p = {cls}({v}, {v})\n    out.append((p.total(), p.double, type(p).__name__))",
    "q = Pair({v}, {v})\n    q.first, q.second = q.second, q.first\n    out.append((q.first, q.second))",
    "d[{k}] = d.get({k}, 0) + 1 if isinstance(d.get({k}, 0), int) else {v}",
    "out.append(sorted((repr(key), repr(value)) for key, value in d.items()))",
    "out.append(({k} in d, {k} in seen, len(d)))",
    "seen.add({k})\n    out.append(sorted(map(repr, seen)))",
    "out.append(d.pop({k}, 'absent'))",
    "out.append(d[{k}])",
    'out.append(f"{{{v}!r}}|{{b}}" + str(len(b)))',  # values quote with '
    "out.append(str(b).upper().split(',')[:{small}])",
    "out.append('%s-%r' % ({v}, {k}))",
    "out.append(int(str({v})))",
    "out.append(str(b)[{small}:{small} + 2] * 2)",
    "out.append([x * 2 for x in {seq}])",
    "out.append({{str(x): x for x in {seq}}})",
    "out.append(bump({small}) - COUNTER)",
    "with Log(out, {flag}):\n        out.append({v} + {v})",
    "try:\n        out.append(sum(evens({small})))\n    except Failure as e:\n        out.append(str(e))",
    "try:\n        out.append(str({v}).replace((w := 'x'), str(len(out))))\n    except AttributeError as e:\n"
    "        out.append(str(e))\n    finally:\n        out.append('finally')",
    "total = 0\n\n    def add(n):\n        nonlocal total\n        total += n\n        return total\n"
    "    out.append([add(x) for x in {seq}])",
    "out.append(sorted({seq}, key=lambda x: -x if isinstance(x, int) else 0))",
    "first, *rest = {seq} or [0]\n    out.append((first, rest))",
    "try:\n        raise Failure({v}) from ValueError({k})\n    except Failure as e:\n"
    "        out.append((str(e), type(e.__cause__).__name__))",
    "lazy = Lazy()\n    out.append((lazy.size, getattr(lazy, 'nothing', {v}), hasattr(lazy, 'no_{small}')))",
    "out.append(Lazy().broken)",
    "item = Item(str({k}), {small})\n    item.count += 1\n    out.append((item, item == Item(str({k}), {small} + 1)))",
    "pipe = echo()\n    next(pipe)\n    out.append([pipe.send(x) for x in {seq}])\n    try:\n        pipe.send(None)\n"
    "    except StopIteration as stop:\n        out.append(stop.value)",
]
OBJECT_VALUES = ["a", "1", "-7", "2.5", "len(out)", "i", "a * 2", "'s'"]
OBJECT_KEYS = ["a", "'k'", "i % 3", "str(a)", "(a, 1)", "b[:1]"]
OBJECT_SEQUENCES = ["[a, i, 3]", "list(range(i))", "(1, 2, 3)", "list(seen)[:2]", "[]"]
OBJECT_INPUTS = [0, 1, -5, 2**63 - 1, 2**64, 2.5, -0.0, "7", "ab", None, True]


def object_program(rng: random.Random, name: str) -> str:
    lines = [f"def {name}(a, b):", "    global COUNTER", "    COUNTER = 0", "    out, d, seen = [], {'k': 1}, {1, 'k'}",
             f"    for i in range({rng.randint(1, 4)}):"]
    for _ in range(rng.randint(2, 6)):
        statement = rng.choice(OBJECT_STATEMENTS).format(
            cls=rng.choice(["Point", "Point3"]), v=rng.choice(OBJECT_VALUES), k=rng.choice(OBJECT_KEYS),
            seq=rng.choice(OBJECT_SEQUENCES), small=rng.randint(0, 4), flag=rng.choice(["True", "False"]))
        wrapped = "try:\n    " + statement + "\nexcept (TypeError, ValueError, KeyError, AttributeError) as e:\n" \
            "    out.append((type(e).__name__, str(e)))"
        lines.extend("        " + line for line in wrapped.split("\n"))
    lines.append("    return out, COUNTER")
    return OBJECT_PRELUDE + "\n\n" + "\n".join(lines)


@pytest.mark.parametrize("seed", range(30))
def test_random_object_program(seed):
    rng = random.Random(2000 + seed)
    source = object_program(rng, f"objecty_{seed}")
    check_generated(source, f"objecty_{seed}", lambda: (rng.choice(OBJECT_INPUTS), rng.choice(["x,y", "", "a,b,c"])))


# Helpers called in loops and through recursion: small compiled callees are
# inlined into their callers and recursion is unrolled, with the callees'
# own guards, overflows and exceptions inside the caller's machine code.
def call_program(rng: random.Random, name: str) -> str:
    helpers = [f"{name}_h{k}" for k in range(rng.randint(1, 2))]
    lines = []
    for helper in helpers:
        lines += [f"def {helper}(x, y):", f"    return {expression(rng, 2, ['x', 'y'])}", ""]
    step = expression(rng, 1, ["n", "x"])
    lines += [f"def {name}_r(n, x):", "    if n <= 0:", "        return x",
              f"    return {name}_r(n - 1, {step}) {rng.choice(['+', '-', '*'])} {rng.choice(['1', 'x', 'n'])}", ""]
    lines += [f"def {name}(a, b, c):", "    t = 0", "    for i in range(12):"]
    for _ in range(rng.randint(1, 3)):
        call = f"{rng.choice(helpers)}({expression(rng, 1, ['a', 'b', 't', 'i'])}, {rng.choice(['a', 'b', 'c', 'i'])})"
        lines.append(f"        {rng.choice(['a', 'b', 't'])} = {call}")
    lines += [f"        t = t + {name}_r(i % 4, {rng.choice(['a', 'c', 't'])})",
              f"    return (t, a, b, {name}_r(3, c))"]
    return "\n".join(lines)


@pytest.mark.parametrize("seed", range(40))
def test_random_call_program(seed):
    rng = random.Random(7000 + seed)
    name = f"calls_{seed}"
    source = call_program(rng, name)
    plain_namespace, namespace = defined(source, bind=False), defined(source, bind=True)
    plain, compiled = plain_namespace[name], namespace[name]
    for _ in range(6):
        args = tuple(rng.choice(INPUTS) for _ in range(3))
        assert outcome(compiled, *args) == outcome(plain, *args), f"{args}\n{source}"
    assert calls_compiled(compiled) > 0, source
    # Helpers compiled for the loop's direct calls, now called by the
    # interpreter (their machine code made then if only copies ran so far).
    for helper in [key for key in namespace if key.startswith(f"{name}_h")]:
        for _ in range(3):
            args = tuple(rng.choice(INPUTS) for _ in range(2))
            assert outcome(namespace[helper], *args) == outcome(plain_namespace[helper], *args), \
                f"{helper}{args}\n{source}"
