"""Method calls and objects: compiled calls look methods up and call them in
one step (no bound-method object), in the interpreter's order."""

from __future__ import annotations

import weakref

import pytest

import psyco
from tests.differential import calls_compiled, outcome, same, same_compiled


class Counter:
    def __init__(self):
        self.count = 0

    def add(self, n, times=1):
        self.count += n * times
        return self.count

    @property
    def double(self):
        return self.count * 2


def method_calls(c, n):
    for i in range(n):
        c.add(i)
    c.add(1, times=3)
    c.add(n=2, times=2)
    return c.count, c.double


def test_method_calls_on_user_objects():
    same_compiled(method_calls, Counter(), 10)


def builtin_methods(xs, d, text, n):
    xs.append(n)
    xs.extend([n, n + 1])
    last = xs.pop()
    words = text.split(",", maxsplit=1)
    return xs, last, d.get("k", 0), sorted(d.keys()), words, "-".join(words).upper(), n.bit_length(), (2.5).hex()


def test_builtin_methods():
    same_compiled(builtin_methods, [1], {"k": 3}, "a,b,c", 12)


def lookup_before_arguments(o, x):
    return o.missing(1 // x)


@pytest.mark.parametrize("x", [0, 1])
def test_method_is_looked_up_before_arguments_are_evaluated(x):
    # AttributeError, not ZeroDivisionError: the interpreter looks up first
    same(lookup_before_arguments, Counter(), x)


def deopt_between_lookup_and_call(c, i):
    return c.add(i + 1)


def test_deopt_between_lookup_and_call():
    # i + 1 overflows 64 bits between LOAD_METHOD and CALL: the interpreter
    # continues with the method looked up, and the call happens once
    compiled = psyco.proxy(deopt_between_lookup_and_call)
    plain_counter, compiled_counter = Counter(), Counter()
    expected = outcome(deopt_between_lookup_and_call, plain_counter, 2**63 - 1)
    assert outcome(compiled, compiled_counter, 2**63 - 1) == expected
    assert compiled_counter.count == plain_counter.count
    assert calls_compiled(compiled) > 0
    same_compiled(deopt_between_lookup_and_call, Counter(), 5)


class Node:
    pass


class Pair:
    __slots__ = ("first", "second")


class Guarded:
    def __setattr__(self, name, value):  # stored through the generic path
        object.__setattr__(self, name, value)


def store_fresh_values(n):
    """Objects made and stored at once (the container takes the reference
    the code had): alive while stored, freed once replaced."""
    slots, node, pair, guarded = [None], Node(), Pair(), Guarded()
    cell = None

    def current():
        return cell

    seen = []
    refs = []
    for i in range(n):
        slots[0] = Node()
        node.child = Node()
        pair.first = Node()
        guarded.child = Node()
        cell = Node()
        made = (Node(), [Node(), i])
        refs = [weakref.ref(o) for o in (slots[0], node.child, pair.first, guarded.child, current(),
                                         made[0], made[1][0])]
        seen.append([r() is not None for r in refs])
    slots[0] = node.child = pair.first = guarded.child = cell = made = None
    seen.append([r() is not None for r in refs])
    return seen


def test_stored_values_live_as_long_as_their_container():
    same_compiled(store_fresh_values, 3)


def rebinding_in_arguments(c):
    return c.add(rebind(c))


def rebind(c):
    c.add = lambda n: "instance attribute"
    return 1


def test_argument_evaluation_that_rebinds_the_method():
    same_compiled(rebinding_in_arguments, Counter())


def method_in_conditional(xs, flag):
    return xs.index(1 if flag else 2)


@pytest.mark.parametrize("flag", [True, False])
def test_method_across_blocks(flag):
    same_compiled(method_in_conditional, [1, 2], flag)


def method_errors(xs):
    return xs.index(99)


def test_method_errors():
    same_compiled(method_errors, [1, 2])
    same_compiled(method_errors, "abc")


def add_items(xs, i, j):
    return xs[i] * xs[j]


def test_numbers_read_from_containers_are_speculated_then_generalized():
    # Objects in arithmetic are guessed to be floats and unboxed behind a
    # guard; ints and strings make the guess fail until the next version
    # uses the generic path, and every call gives CPython's result.
    compiled = psyco.proxy(add_items)
    same_compiled(add_items, [0.5, 2.25], 0, 1)
    for xs in ([1, 2], ["a", 3], [1.5, 2**70], [[1], 2], [1, 2.5]) * 30:
        same(add_items, xs, 0, 1, compiled=compiled)
    assert calls_compiled(compiled) > 0
    same_compiled(add_items, ["a", 3], 0, 1)
