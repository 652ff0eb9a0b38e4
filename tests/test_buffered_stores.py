"""Methods that store numbers into their object, inlined (inlining.py,
BufferedStores): the stores are kept back until the inlined body returns,
then made all at once (store_numbers) or, leaving for the interpreter
before the call, not at all.  Each store happens once, as in CPython,
whatever leaves the inlined code: a failed guard, an exception, an object
that is the same under two names, an old value whose release runs code."""

from __future__ import annotations

import textwrap

import pytest

import psyco

from .differential import assert_no_leak, calls_compiled, defined
from .test_virtual_instances import _inlined, _same

COUNTERS = """
    class Counter:
        def __init__(self):
            self.count = 0
            self.total = 0.0
            self.label = "c"

        def hit(self, x):
            self.count += 1
            self.total += x * 0.5
            return self.count

        def hit_then_divide(self, d):
            self.count += 1
            return 100 // d

        def set_both(self, other, v):
            self.count = v
            other.count = v + 1  # maybe the same object: never kept back
            return self.count

        def reset(self, v):
            self.count = v
            return v

        def relabel(self, v):
            self.label = v  # not a number: not inlined
            return v

        def top(self, x):
            if x > self.total:  # a store on one path only: not inlined
                self.total = x
            return self.total

    class Noisy:
        def __init__(self, log):
            self.log = log

        def __del__(self):
            self.log.append("freed")

    def counted(n):
        c = Counter()
        held = [c]  # a real object, not a virtual instance
        s = 0
        for i in range(n):
            s += c.hit(i)
        return s, c.count, c.total, list(vars(c)), held[0] is c

    def divided(n, at):
        c = Counter()
        out = [c]
        for i in range(n):
            try:
                out.append(c.hit_then_divide(i - at))
            except ZeroDivisionError:
                out.append(None)
        return out[1:], c.count

    def aliased(n, same):
        a = Counter()
        b = a if same else Counter()
        held = [a, b]
        t = 0
        for i in range(n):
            t += a.set_both(b, i)
        return t, a.count, b.count, held[0] is held[1]

    def resets(n, first):
        c = Counter()
        log = []
        c.count = Noisy(log) if first == "noisy" else first
        t = 0
        for i in range(n):
            t += c.reset(i)
            log.append(i)
        return t, c.count, log

    def with_a_dict(n):
        c = Counter()
        d = c.__dict__  # the attributes now live in a dict
        s = 0
        for i in range(n):
            s += c.hit(i)
        return s, d["count"], d["total"]

    def growing(n):
        c = Counter()
        s = 0
        for i in range(n):
            s += c.hit(2 ** 61)  # the total overflows no int: floats; the count stays small
            c.count += 2 ** 62  # past 2**63 at the second round: the inlined hit leaves
        return s, c.count, c.total

    def others(n):
        c = Counter()  # virtual: top's branches would lose its store (fixed)
        t = 0.0
        for i in range(n):
            t += c.top(i * 0.5)
            c.relabel(str(i))
        return t, c.label, c.total
"""


@pytest.fixture()
def both():
    """The COUNTERS namespace run by CPython and compiled."""
    return defined(textwrap.dedent(COUNTERS), bind=False), defined(textwrap.dedent(COUNTERS), bind=True)


def test_a_method_storing_numbers_is_inlined(both):
    f = _same(both, "counted", 50)
    assert "Counter.hit" in _inlined(f) and "store_numbers" in psyco.dump(f)
    assert "call_direct" not in psyco.dump(f) and calls_compiled(f) >= 1


def test_a_call_that_raises_after_its_stores_makes_them_once(both):
    f = _same(both, "divided", 6, 100)
    _same(both, "divided", 6, 3)  # the interpreter makes the call again: one increment
    assert "Counter.hit_then_divide" in _inlined(f)


def test_one_object_under_two_names_is_never_kept_back(both):
    _same(both, "aliased", 5, True)  # one value in a and b: kept back as one
    f = _same(both, "aliased", 5, False)
    assert "call_direct" in psyco.dump(f)


@pytest.mark.parametrize("first", [7, 2.5, None, True, "text", "noisy"])
def test_an_old_value_whose_release_could_run_code_leaves_first(both, first):
    """A Noisy old value's finalizer runs at the store, when CPython runs it."""
    _same(both, "resets", 4, first)


def test_attributes_kept_in_a_dict_and_ints_past_64_bits(both):
    _same(both, "with_a_dict", 5)
    _same(both, "growing", 3)


def test_stores_on_one_path_or_of_objects_are_not_kept_back(both):
    """Nor is a callee that branches while it holds a virtual instance of
    its caller (its store to c.total was lost: a wrong total)."""
    f = _same(both, "others", 6)
    assert "store_numbers" not in psyco.dump(f) and "call_direct" in psyco.dump(f)


def test_no_leak_when_kept_back_stores_are_made_or_not(both):
    plain, compiled = both
    assert_no_leak(plain["counted"], compiled["counted"], (30,))
    assert_no_leak(plain["divided"], compiled["divided"], (6, 100))
