"""Transparent inlining and virtual instances (inlining.py, kinds.Instance):
small callees specialized into their callers, instances of plain classes
made by them living as their attributes until something needs the object.
The same results, identities, attribute orders, exceptions and tracebacks
as CPython, whatever leaves the inlined code."""

from __future__ import annotations

import sys
import textwrap

import pytest

import psyco
from psyco.runtime.jit import CodeEntry

from .differential import assert_no_leak, calls_compiled, defined, deopts, outcome
from .test_inlining import _traceback

VECTORS = """
    class Vec:
        def __init__(self, x, y):
            self.x = x
            self.y = y

        def add(self, other):
            return Vec(self.x + other.x, self.y + other.y)

        def scale(self, k):
            return Vec(self.x * k, self.y * k)

        def dot(self, other):
            return self.x * other.x + self.y * other.y

        def inverse(self):
            return Vec(1 / self.x, 1 / self.y)

    def walk(n, step):
        position = Vec(0.0, 0.0)
        velocity = Vec(1.0, 0.5)
        total = 0.0
        for i in range(n):
            velocity = velocity.add(Vec(0.0, step)).scale(0.99)
            position = position.add(velocity)
            total += position.dot(velocity)
        return total, position.x, position.y

    def escapes(n):
        kept = []
        v = Vec(1.0, 2.0)
        for i in range(n):
            w = Vec(i, i + 1)
            kept.append(w)
            kept.append(w)
        kept.append(v)
        return kept[0] is kept[1], kept[-1] is v, len(kept), [vars(k) for k in kept[-3:]]

    def put_twice(n):
        same = 0
        for i in range(n):
            v = Vec(i, n)
            pair = [v, v]
            nested = ((v, v), {1: v, 2: v})
            same += (pair[0] is pair[1]) + (nested[0][0] is nested[1][2]) + (pair[1] is nested[0][1])
        return same

    def identities(n):
        a, b = Vec(n, n), Vec(n, n)
        c = a
        return a is b, a is c, c is a, b is not a, a == c

    def mutated(n):
        v = Vec(n, 2 * n)
        w = v
        for i in range(n):
            v.x = v.x + i
            v.z = i
        return w.x, w.z, list(vars(w)), type(w).__name__, isinstance(w, Vec)

    def returned(n):
        v = Vec(n, n + 1)
        for i in range(n):
            v = v.add(Vec(1, 1))
        v.extra = "last"
        return v

    def inverses(n, at):
        total = 0.0
        for i in range(n):
            total += Vec(i - at + 0.5, i + 1.0).inverse().dot(Vec(1.0, 1.0))
        return total

    def zero_inverse(x):
        t = 0.0
        for i in range(3):
            t += Vec(x, 1.0).inverse().x
        return t

    def kinds_change(n, switch):
        v = Vec(0.5, 0.5)
        for i in range(n):
            v = v.add(Vec(i if i >= switch else 1.0, 2.0))
        return v.x, v.y

    def aliased_at_exit(n, k):
        a = Vec(n, [n])
        b = a
        big = n * k  # past 2**63: the interpreter goes on, with one object in a and b
        a.y.append(big)
        return a is b, b.y, vars(a), big % 97

    def missing(n):
        t = 0
        for i in range(n):
            t += Vec(i, i).z
        return t

    class Logged(Vec):
        def __init__(self, x, y):
            if x < y:
                self.x, self.y = x, y
            else:
                self.x, self.y = y, x

        def record(self, log):  # makes self real, then is not transparent: not inlined after all
            log.append(self)
            return self.x

    def logged(n):
        log = []
        t = 0
        for i in range(n):
            v = Logged(i, n - i)
            t += v.record(log) + v.y
        return t, [vars(o) for o in log], log[-1] is v

    def given_a_property(n, now):
        v = Vec(n, n)
        if now:
            Vec.x = property(lambda self: 100)  # runs code: a virtual v must see the class as it is then
        return v.x, v.y

    def caught(n):
        out = []
        for i in range(n):
            v = Vec(i, 1.0)
            w = v
            try:
                out.append(10 // (i - 2))  # at i == 2 the handler gets v and w: one instance
            except ZeroDivisionError:
                w.x = -1
            out.append((v is w, v.x))
        return out

    def guarded(n):
        t = 0
        for i in range(n):
            v = Vec(i, 2)
            w = v
            try:
                t += w.inverse().x
            except ZeroDivisionError:
                t -= 1
            t += v is w
        return t

    class Looped:
        def __init__(self, x):
            self.x = x
            self.me = self
            self.pair = (self, x)

    def looped(n):
        out = []
        for i in range(n):
            out.append(Looped(i))
        return [(o.me is o, o.pair[0] is o, o.me.x, sorted(vars(o.me))) for o in out[-2:]]

    def looped_past_64_bits(n):
        total = 0
        for i in range(n):
            o = Looped(i)
            big = i * 2**61  # past 2**63 from i == 4: the interpreter takes over with o
            total += (o.me is o) + (o.pair[0] is o) + (big > 0)
        return total, o.me is o, o.pair[0] is o, sorted(vars(o))

    def listed(x):
        return [x]

    def shared_number(n):
        same = 0
        for i in range(n):
            x = i * 1000 + 0.5
            first = [x]
            same += first[0] is listed(x)[0]
        return same

    def set_and_raise(v):
        v.x = 0.5
        raise ValueError(v.x)

    def caught_changes(n):
        out = []
        for i in range(n):
            v = Vec(1.0, float(i))
            try:
                set_and_raise(v)  # not inlined (it raises): v is made for the call
            except ValueError as e:
                out.append((v.x, v.y, e.args))
        return out
"""


@pytest.fixture()
def both():
    """The VECTORS namespace run by CPython and compiled."""
    return defined(textwrap.dedent(VECTORS), bind=False), defined(textwrap.dedent(VECTORS), bind=True)


def _same(both, name, *args):
    plain, compiled = both
    for _ in range(2):  # the first call may run interpreted while it compiles
        expected, got = outcome(plain[name], *args), outcome(compiled[name], *args)
        assert got == expected, f"{name}{args}: psyco {got} != CPython {expected}"
    if expected[0] == "raises":
        assert _traceback(compiled[name], args) == _traceback(plain[name], args)
    return compiled[name]


def _inlined(f) -> list[str]:
    entry = CodeEntry.lookup(f.__code__)
    return [name for v in entry.versions for name in v.inlined]


def test_a_loop_of_short_lived_instances_makes_none(both):
    walk = _same(both, "walk", 200, -0.01)
    assert "Vec.__init__" in _inlined(walk) and "Vec.dot" in _inlined(walk)
    assert "new_instance" not in psyco.dump(walk) and "call_direct" not in psyco.dump(walk)
    assert calls_compiled(walk) >= 1


def test_escaping_instances_are_made_once(both):
    _same(both, "escapes", 5)
    _same(both, "escapes", 0)
    _same(both, "identities", 3)
    _same(both, "put_twice", 4)  # one object for both items of one list display


def test_an_instance_holding_itself_is_one_object_with_all_its_attributes(both):
    assert "Looped.__init__" in _inlined(_same(both, "looped", 5))
    _same(both, "looped_past_64_bits", 3)
    _same(both, "looped_past_64_bits", 10)


def test_a_number_boxed_by_the_caller_is_the_object_an_inlined_callee_boxes(both):
    assert "listed" in _inlined(_same(both, "shared_number", 300))


def test_changes_after_construction_are_seen_through_every_name(both):
    _same(both, "mutated", 4)
    plain, compiled = both
    for _ in range(3):  # returned: made in its attributes' order
        got, expected = compiled["returned"](3), plain["returned"](3)
        assert list(vars(got).items()) == list(vars(expected).items()) and type(got) is compiled["Vec"]
    assert calls_compiled(compiled["returned"]) >= 1


def test_a_handler_sees_what_the_call_that_raised_did_to_an_instance_made_for_it(both):
    # the handler got the instance as it was before the call (virtual,
    # x = 1.0), not the object the call changed
    _same(both, "caught_changes", 5)


def test_exceptions_in_inlined_code_are_the_interpreters(both):
    _same(both, "inverses", 6, 100)
    _same(both, "inverses", 6, 2.5)  # 1 / 0.0 inside the inlined inverse: ZeroDivisionError
    _same(both, "zero_inverse", 0.0)
    _same(both, "missing", 3)  # AttributeError raised by the interpreter, its message and line


def test_a_guess_failing_in_inlined_code_restarts_the_call(both):
    f = _same(both, "kinds_change", 6, 100)
    _same(both, "kinds_change", 6, 3)  # ints from the fourth call on: the inlined add leaves
    assert callable(f)


def test_a_callee_found_not_transparent_leaves_the_callers_instances_as_they_were(both):
    f = _same(both, "logged", 5)
    assert "Logged.__init__" in _inlined(f) and "Logged.record" not in _inlined(f)


def test_instances_where_an_exception_may_be_caught(both):
    _same(both, "guarded", 4)
    f = _same(both, "caught", 4)
    assert "Vec.__init__" in _inlined(f)


def test_a_virtual_instance_held_twice_is_one_object_in_the_interpreter(both):
    _same(both, "aliased_at_exit", 3, 5)
    f = _same(both, "aliased_at_exit", 3, 2**62)
    assert [reason.split()[0] for reason in deopts(f)] == ["overflow"] and sum(deopts(f).values()) == 2
    assert "Vec{x=%" in psyco.dump(f)  # the exit's state holds the virtual instance


def test_a_class_changed_after_compiling(both):
    plain, compiled = both
    _same(both, "walk", 20, 0.5)
    for namespace in (plain, compiled):
        namespace["Vec"].dot = lambda self, other: 1.0  # every version of Vec's methods changes
    _same(both, "walk", 20, 0.5)


def test_a_class_given_a_property_after_compiling(both):
    """A data descriptor takes reads and writes of instances' attributes of
    its name, virtual instances' too."""
    plain, compiled = both
    _same(both, "mutated", 3)
    _same(both, "given_a_property", 3, False)
    assert outcome(compiled["given_a_property"], 4, True) == outcome(plain["given_a_property"], 4, True)
    for namespace in (plain, compiled):
        namespace["Vec"].x = property(lambda self: 100, lambda self, value: None)
    _same(both, "mutated", 3)
    _same(both, "walk", 5, 0.5)


def test_no_leak_with_instances_that_escape_or_not(both):
    _, compiled = both
    assert_no_leak(compiled["walk"], compiled["walk"], (50, -0.01))
    assert_no_leak(compiled["escapes"], compiled["escapes"], (4,))


CLASSES = """
    class Finalized:
        def __init__(self, n):
            self.n = n

        def __del__(self):
            print("freed", self.n)

    class Slotted:
        __slots__ = ("n",)

        def __init__(self, n):
            self.n = n

    class Watched:
        def __init__(self, n):
            self.n = n

        def __setattr__(self, name, value):
            print("set", name)
            object.__setattr__(self, name, value)

    def finalized(k):
        total = 0
        for i in range(k):
            total += Finalized(i).n
        return total

    def others(k):
        total = 0
        for i in range(k):
            total += Slotted(i).n + Watched(i).n
        return total
"""


def test_classes_that_could_tell_are_made_as_objects(capsys):
    """A finalizer, __slots__, __setattr__: the instance is a real object."""
    plain = defined(textwrap.dedent(CLASSES), bind=False)
    compiled = defined(textwrap.dedent(CLASSES), bind=True)
    for name in ("finalized", "others"):
        for _ in range(2):
            expected = outcome(plain[name], 4)
            plain_output = capsys.readouterr().out
            assert outcome(compiled[name], 4) == expected
            assert capsys.readouterr().out == plain_output


ESCAPES = """
    import copy
    import weakref
    from dataclasses import dataclass

    class P:
        kind = "p"

        def __init__(self, x, y):
            self.x = x
            self.y = y

        @property
        def both(self):
            return self.x + self.y

    class Default:
        x = 0

        def __init__(self, v):
            self.x = v

    @dataclass
    class Data:
        a: int
        b: float = 1.5

    def uses(n):
        out = []
        for i in range(n):
            p = P(i, 2)
            del p.y
            out.append((hasattr(p, "y"), sorted(p.__dict__), p.kind))
            q = P(i, i)
            out.append((q.both, Default(i).x, Data(i).b, Data(i, 2.5) == Data(i, 2.5), repr(Data(i))))
            r = P(1, 2)
            ref = weakref.ref(r)
            out.append((ref() is r, copy.copy(r).x, type(r).__name__, f"{r.x!r}", isinstance(r, P)))
            s = P(i, 3)
            s.__dict__["z"] = 9
            out.append((s.z, list(vars(s))))
        return out
"""


def test_every_other_use_makes_the_instance_real():
    """del, __dict__, properties, class attributes of the same name,
    weak references, copies, formatting: the object, as CPython has it."""
    plain = defined(textwrap.dedent(ESCAPES), bind=False)
    compiled = defined(textwrap.dedent(ESCAPES), bind=True)
    for n in (1, 3, 3):
        assert outcome(compiled["uses"], n) == outcome(plain["uses"], n)
    assert "P.__init__" in _inlined(compiled["uses"])


BRANCHING = """
    class V:
        def __init__(self, x):
            self.x = x

        def pick(self, log, k):
            if k > 2:  # a branch, then what is not transparent: the inlining is undone
                log.append(k)
                return self.x
            return -self.x

    def picks(n):
        log = []
        t = 0
        for i in range(n):
            t += V(i).pick(log, i)
        return t, log
"""


def test_a_callee_refused_after_branching():
    plain = defined(textwrap.dedent(BRANCHING), bind=False)
    compiled = defined(textwrap.dedent(BRANCHING), bind=True)
    for n in (5, 6, 6):
        assert outcome(compiled["picks"], n) == outcome(plain["picks"], n)
    assert _inlined(compiled["picks"]) == ["V.__init__"]


def test_inlining_stops_at_its_budget():
    """A function calling many small functions inlines them up to
    inlining.BUDGET instructions."""
    from psyco import inlining
    from psyco.frontend import decode

    helper = "def h(x):\n    return x * 3 + 1 - (x >> 1) + (x & 3) * 2 - (x ^ 5)\n"
    calls = "".join(f"        t += h(i + {k})\n" for k in range(100))
    source = helper + "def many(n):\n    t = 0\n    for i in range(n):\n" + calls + "    return t\n"
    plain, compiled = defined(source, bind=False), defined(source, bind=True)
    assert outcome(compiled["many"], 7) == outcome(plain["many"], 7)
    size = len(decode(CodeEntry.lookup(compiled["h"].__code__).code).instructions)
    calls_made = psyco.dump(compiled["many"]).count("= call_direct")  # the others were specialized into many
    assert calls_made == 100 - inlining.BUDGET // size > 0


RECURSIVE = """
    class Box:
        def __init__(self, v):
            self.v = v

        def get(self):
            return self.v

    def deep(n):
        if n == 0:
            return Box(7).get()
        return deep(n - 1) + 1
"""


def test_inlined_calls_count_against_the_recursion_limit():
    """Each inlined call is a frame the interpreter would have made: at the
    recursion limit the call restarts there and raises RecursionError."""
    plain = defined(textwrap.dedent(RECURSIVE), bind=False)
    compiled = defined(textwrap.dedent(RECURSIVE), bind=True)
    limit = sys.getrecursionlimit()
    try:
        sys.setrecursionlimit(120)
        depth = sys._getframe().f_back is not None and len(_stack())
        for n in range(100 - depth, 120 - depth):
            assert outcome(compiled["deep"], n) == outcome(plain["deep"], n), n
    finally:
        sys.setrecursionlimit(limit)


def _stack() -> list:
    frame, out = sys._getframe(), []
    while frame is not None:
        out.append(frame)
        frame = frame.f_back
    return out
