"""Compiled code frees what it allocates: functions of the other test
modules (containers, strings, objects, calls, closures, patterns,
exceptions), on paths that return and paths that raise, called until
memory would show a leak (`assert_no_leak`)."""

import types

import pytest

import psyco
from tests import (
    test_classes,
    test_closures,
    test_containers,
    test_control,
    test_exceptions,
    test_objects,
    test_patterns,
)
from tests.differential import assert_no_leak

CASES = [
    (test_containers.index, ([1, 2, 3], 5)),  # IndexError
    (test_containers.index, ({"k": 1}, "missing")),  # KeyError
    (test_containers.store, ([1, 2, 3], -3, 9)),
    (test_containers.store_in_other, ({}, [], 2)),  # unhashable key
    (test_containers.displays, (5,)),
    (test_containers.comprehensions, (6,)),
    (test_containers.formatting, (3, "é")),
    (test_containers.formatting, ([1], {"a": 2})),
    (test_containers.slicing, ([1, 2, 3, 4, 5, 6, 7], 2, 5)),
    (test_containers.make_adders, (10,)),
    (test_containers.known_container_methods, (["a", "b", "a"], {"b": 5})),
    (test_containers.merged, ({"x": 1, "k": 5}, {"y": 2})),
    (test_containers.merged, ({"x": 1}, [1, 2])),  # not a mapping: TypeError
    (test_containers.reverse_prefix, ([5, 1, 2, 3, 4, 0, 9],)),
    (test_containers.store_keys, ({}, ["a", 1, 2.5, "a", (1, 2), None])),
    (test_containers.store_keys, ({}, ["a", [1]])),  # unhashable: TypeError
    (test_objects.method_calls, (test_objects.Counter(), 10)),
    (test_objects.builtin_methods, ([1], {"k": 3}, "a,b,c", 12)),
    (test_objects.method_errors, ([1, 2],)),
    (test_objects.add_items, (["a", 3], 0, 1)),  # TypeError
    (test_objects.store_fresh_values, (20,)),
    (test_control.unpack_list, ([1, 2, 3],)),
    (test_containers.unpack_any, ([1, "b"],)),
    (test_containers.unpack_rows, ([("ab", 2), ["c", 3]],)),
    (test_containers.fields_of, ("1;x;3", ";")),
    (test_control.star_targets, ([1, 2, 3, 4],)),
    (test_classes.call_methods, (test_classes.Point(0.5, 0.25), 20)),
    (test_classes.make_failing, (1,)),
    (test_classes.star_calls, (3,)),
    (test_classes.make_points, (50,)),
    (test_closures.make_counter, (5,)),
    (test_patterns.classify, (test_patterns.Point(1, 2),)),
    (test_patterns.classify, ("s",)),
    (test_patterns.mapping, ({"kind": "square", "side": 2},)),
    (test_patterns.mapping, ({"kind": "tri", "a": 1},)),
    (test_exceptions.count_failures, (50,)),
    (test_exceptions.with_statement, (True, 0)),
    (test_exceptions.with_statement, (False, 0)),
]


@pytest.mark.parametrize("f, args", CASES, ids=lambda case: getattr(case, "__name__", ""))
def test_compiled_calls_free_what_they_allocate(f, args):
    # A copy with its own code object: what psyco learns here (versions,
    # generalized guards) stays out of the tests the function comes from.
    own = types.FunctionType(f.__code__.replace(), f.__globals__, f.__name__, f.__defaults__, f.__closure__)
    assert_no_leak(own, psyco.proxy(own), args, f.__name__)
