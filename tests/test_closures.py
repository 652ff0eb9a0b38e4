"""Cells and closures compiled: functions whose variables nested functions
share (MAKE_CELL, LOAD_DEREF, STORE_DEREF), closures themselves
(COPY_FREE_VARS), comprehensions reading the enclosing function's locals,
lambdas -- each checked against CPython, error messages included."""

from __future__ import annotations

import gc
import sys

import psyco
from tests.differential import calls_compiled, deopts, same, same_compiled


def scale_all(xs, k):
    return [x * k for x in xs if x > k]


def weighted(n):
    weight = 3

    def term(x):
        return x * weight

    total = 0
    for i in range(n):
        total += term(i)
    weight = 5  # the cell changes: the closure sees it
    return total + term(1)


def argument_in_a_cell(a, b):
    def both():
        return a + b

    a += 1
    return both()


def make_counter(start):
    count = start

    def bump(by):
        nonlocal count
        count += by
        return count

    return bump


def sort_by_distance(points, origin):
    return sorted(points, key=lambda p: abs(p - origin))


def free_variable_unbound():
    def read():
        return later

    try:
        read()
    except NameError as e:
        result = (type(e).__name__, str(e), e.name)
    later = 1
    return result, later


def cell_unbound_local():
    def read():
        return value

    try:
        return value  # noqa: F821 - read before assignment is the point
    except UnboundLocalError as e:
        message = str(e)
    value = read
    return message


def overflow_with_cells(n):
    big = 2**62

    def grow(x):
        return x + big

    x = n + 2**62
    x = x + x  # overflow: the rest runs in the interpreter, cells and all
    return grow(x)


def test_differential():
    for f, args_list in (
        (scale_all, [([1, 5, 9], 4), ([], 0)]),
        (weighted, [(0,), (50,)]),
        (argument_in_a_cell, [(1, 2), (-5, 7)]),
        (sort_by_distance, [([5, -3, 10, 1], 2)]),
        (free_variable_unbound, [()]),
        (cell_unbound_local, [()]),
    ):
        for args in args_list:
            same_compiled(f, *args)


def test_compiled_closure_shares_its_cell():
    plain, compiled = make_counter(10), psyco.proxy(make_counter(10))
    assert [compiled(i) for i in range(5)] == [plain(i) for i in range(5)]
    assert compiled.__closure__[0].cell_contents == plain.__closure__[0].cell_contents == 20
    assert calls_compiled(compiled) > 0 and not deopts(compiled)


def test_closures_made_by_compiled_code():
    make = psyco.proxy(make_counter)
    bump = make(0)
    assert [bump(2) for _ in range(3)] == [2, 4, 6]
    assert calls_compiled(make) > 0


def test_deopt_keeps_the_cells():
    assert same(overflow_with_cells, 1)[0] == "returns"
    compiled = psyco.proxy(overflow_with_cells)
    assert compiled(1) == overflow_with_cells(1)
    assert any(reason.startswith("overflow") for reason in deopts(compiled))


def test_no_leaks_from_cells():
    compiled = psyco.proxy(weighted)
    compiled(10)
    gc.collect()
    before = len(gc.get_objects())
    for _ in range(20_000):
        compiled(3)
    gc.collect()
    assert len(gc.get_objects()) - before < 100


def delete_shared(x):
    def read():
        return x  # noqa: F821 - deleted below: the point

    first = read()
    del x
    try:
        read()
    except NameError as e:
        return first, type(e).__name__, str(e)


def test_delete_a_shared_variable():
    same_compiled(delete_shared, 3)


class Base:
    def items(self, *extra):
        return ["base", *extra]


class CapturesSelf(Base):
    def items(self, section=None):
        if section is None:
            return super().items()  # reads `self` through the frame, a cell here
        read = lambda: self  # noqa: E731 - `self` in a cell is the point
        return [read() is self, super().items(section)]


def caller_variables():
    """The numbers among the caller's variables, as its frame shows them."""
    return {k: v for k, v in sys._getframe(1).f_locals.items() if isinstance(v, int)}


def locals_of_cell_arguments(a, b):
    def both():
        return a + b

    before = caller_variables()
    a = 10  # through the cell: the frame shows it
    return before, caller_variables(), both()


def test_super_without_arguments_where_self_is_a_cell():
    compiled = CapturesSelf()
    method = CapturesSelf.items
    try:
        psyco.bind(method)
        assert [compiled.items() for _ in range(3)] == [["base"]] * 3
        assert compiled.items("s") == [True, ["base", "s"]]
        assert calls_compiled(method) > 0 and not deopts(method)
    finally:
        psyco.unbind(method)


class RebindsSelf(Base):
    def items(self, how):
        if how == "rebound":
            self = 5  # super() then sees 5, as in CPython
        elif how == "deleted":
            del self
        return super().items()


def test_super_without_arguments_after_rebinding_self_is_left_to_the_interpreter():
    compiled = psyco.proxy(RebindsSelf.items)
    for how in ("kept", "rebound", "deleted"):
        same(RebindsSelf.items, RebindsSelf(), how, compiled=compiled)  # TypeError, RuntimeError as in CPython
    refusals = psyco.runtime.jit.CodeEntry.lookup(compiled.__code__).not_compiled.values()
    assert any("super() after rebinding" in reason for reason in refusals), refusals


def test_frame_shows_cells_of_arguments():
    same_compiled(locals_of_cell_arguments, 1, 2)
    same_compiled(argument_in_a_cell, 3, 4)


def keeps(obj):
    read = lambda: obj  # noqa: E731 - `obj` in a cell is the point
    return read() is obj


def test_no_leaks_from_argument_cells():
    compiled, value = psyco.proxy(keeps), object()
    assert compiled(value)
    before = sys.getrefcount(value)
    gc.collect()
    objects = len(gc.get_objects())
    for _ in range(20_000):
        compiled(value)
        CapturesSelf().items("x")
    gc.collect()
    assert len(gc.get_objects()) - objects < 100
    assert sys.getrefcount(value) == before
    assert calls_compiled(compiled) > 20_000
