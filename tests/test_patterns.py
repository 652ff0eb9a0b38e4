"""Class and mapping patterns (MATCH_CLASS, MATCH_KEYS) compiled, checked
against CPython: matches, misses, attributes that raise, get() methods of
other mappings, and the TypeErrors the interpreter raises."""

from __future__ import annotations

import copy
from collections import OrderedDict, UserDict, defaultdict
from dataclasses import dataclass

import psyco
from tests.differential import deopts, same, same_compiled


@dataclass
class Point:
    x: object
    y: object


class Circle:
    __match_args__ = ("r",)

    def __init__(self, r):
        self.r = r


# The first copy.deepcopy of an instance stores `__slotnames__` on its class,
# which changes the class (its version tag): compiled code guarding the class
# then leaves once, whichever test copied first.  Copy one of each now.
copy.deepcopy((Point(0, 0), Circle(1)))


class Flaky:
    """Attributes that raise: AttributeError means no match, others propagate."""

    @property
    def x(self):
        raise AttributeError("no x today")

    @property
    def y(self):
        raise ValueError("y is broken")


def classify(item):
    match item:
        case Point(0, 0):
            return "origin"
        case Point(x=0, y=y):
            return ("on the y axis", y)
        case Point(x, y):
            return ("point", x, y)
        case Circle(r):
            return ("circle", r)
        case int(n) if n > 3:
            return ("big int", n)
        case bool() | float():
            return "bool or float"
        case str(s):
            return ("str", s)
        case _:
            return "other"


def test_class_patterns():
    for item in (Point(0, 0), Point(0, 5), Point(1, 2), Circle(3), 7, 2, "s"):
        same_compiled(classify, item)
    for item in (True, 1.5, None, [1]):  # `n > 3` guessed n an int: a guess that fails here
        same(classify, item)


def keyword_x(item):
    match item:
        case Flaky(x=1):
            return "x is 1"
        case Flaky(y=1):
            return "y is 1"
    return "no match"


def test_attribute_errors_mean_no_match_and_other_errors_propagate():
    same_compiled(keyword_x, Flaky())  # ValueError from y, after x's AttributeError
    same_compiled(keyword_x, 5)


class TooFew:
    __match_args__ = ("a",)


class NotATuple:
    __match_args__ = ["a"]


def two_positional(item):
    match item:
        case TooFew(a, b):
            return a, b
        case NotATuple(a):
            return a
    return "no match"


def test_pattern_type_errors_are_the_interpreters():
    for item in (TooFew(), NotATuple(), 3):
        same(two_positional, item)
    assert "class pattern @" in " ".join(deopts(two_positional))


def test_class_changed_after_compiling():
    class Pair:
        __match_args__ = ("a", "b")

        def __init__(self):
            self.a, self.b = 1, 2

    def first(item):
        match item:
            case Pair(a):
                return a
        return None

    compiled = psyco.proxy(first)
    assert compiled(Pair()) == 1
    Pair.__match_args__ = ("b",)
    same(first, Pair(), compiled=compiled)


def mapping(item):
    match item:
        case {"kind": "square", "side": side}:
            return ("square", side)
        case {"kind": kind, 1: one}:
            return ("with one", kind, one)
        case {"kind": kind, **rest}:
            return ("other", kind, sorted(rest))
        case {}:
            return "empty pattern"
    return "not a mapping"


class GetLogger(dict):
    def get(self, key, default=None):
        self.setdefault("asked", []).append(key)
        return super().get(key, default)


class RaisingGet(dict):
    def get(self, key, default=None):
        raise LookupError(key)


def test_mapping_patterns():
    items = ({"kind": "square", "side": 2}, {"kind": "tri", 1: "x"}, {"kind": "tri", "a": 1}, {}, {"side": 1},
             OrderedDict(kind="od"), UserDict(kind="user"), GetLogger(kind="logged"), RaisingGet(kind=1), [1], 5)
    for item in items:
        same_compiled(mapping, item)


class EqualityRaises:
    """A key of the same hash as "kind" whose comparison with it raises."""

    def __hash__(self):
        return hash("kind")

    def __eq__(self, other):
        raise ArithmeticError("compared")


def test_an_error_while_looking_up_a_key_propagates():
    same_compiled(mapping, {"kind": "square", "side": 2})
    same_compiled(mapping, {EqualityRaises(): 1})


def test_mapping_patterns_do_not_create_keys():
    counts = defaultdict(int)
    assert psyco.proxy(mapping)(counts) == "empty pattern"
    assert counts == {}


RED = "red"


class Colors:
    RED = "red"


def non_constant_keys(item):
    match item:
        case {Colors.RED: value}:
            return value
    return None


def test_non_constant_keys_are_the_interpreters():
    same(non_constant_keys, {"red": 1})
    same(non_constant_keys, {"blue": 1})
