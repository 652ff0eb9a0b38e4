"""Differential tests of operators on ints, floats and bools."""

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import psyco
from tests.differential import calls_compiled, outcome, same, same_compiled

EDGE_INTS = [
    0, 1, -1, 2, -2, 7, -7,
    2**30 - 1, 2**30, -(2**30), 2**31, 2**53, 2**53 + 1, 2**60 - 1, -(2**60) + 1,  # two 30-bit digits
    2**31 - 1, 2**32 - 1, 2**32, 2**32 + 5, -(2**32) + 5,  # where // and % change dividers
    2**60, -(2**60), 2**62, 2**63 - 1, -(2**63), -(2**63) + 1, 2**63, 2**64,
]
EDGE_FLOATS = [0.0, -0.0, 1.5, -1.5, 1e308, -1e308, 5e-324, math.inf, -math.inf, math.nan, 3.0, -7.0]


def add(a, b):
    return a + b


def sub(a, b):
    return a - b


def mul(a, b):
    return a * b


def floordiv(a, b):
    return a // b


def mod(a, b):
    return a % b


def truediv(a, b):
    return a / b


def power(a, b):
    return a**b


def lshift(a, b):
    return a << b


def rshift(a, b):
    return a >> b


def bitand(a, b):
    return a & b


def bitor(a, b):
    return a | b


def bitxor(a, b):
    return a ^ b


def lt(a, b):
    return a < b


def le(a, b):
    return a <= b


def eq(a, b):
    return a == b


def ne(a, b):
    return a != b


def gt(a, b):
    return a > b


def ge(a, b):
    return a >= b


def neg(a):
    return -a


def pos(a):
    return +a


def inv(a):
    return ~a


def not_(a):
    return not a


BINARY = [add, sub, mul, floordiv, mod, truediv, power, lshift, rshift, bitand, bitor, bitxor, lt, le, eq, ne, gt, ge]
COMPILED = {f: psyco.proxy(f) for f in BINARY + [neg, pos, inv, not_]}


@pytest.mark.parametrize("op", BINARY, ids=lambda f: f.__name__)
def test_int_edges(op):
    for a in EDGE_INTS:
        for b in EDGE_INTS + [-3, 3, 63, 64, 65]:
            if op is power and abs(b) > 64:
                continue
            if op is lshift and a and 64 < b < 2**40:
                continue  # a result of hundreds of megabytes, slow to make twice
            same(op, a, b, compiled=COMPILED[op])


def by_constants(a):
    """// and % by constant divisors, which the back end strength-reduces
    (powers of two: shifts and masks) or leaves to LLVM."""
    return (a // 2, a % 2, a // 8, a % 8, a // 2**32, a % 2**32, a // 2**62, a % 2**62,
            a // 3, a % 3, a // -2, a % -2, a // -8, a % -8, a // 1, a % 1, a // -1, a % -1)


def by_zero(a, b):
    return (a // 2 if b else a // 0), (a % 3 if b else a % 0), (a / 4 if b else a / 0)


def true_division_by_constants(a):
    """Whether a constant converts to a double exactly is decided when
    compiling: 2**53 + 1 does not, and that division is left to CPython."""
    return a / 4, 4 / a, 2**53 / a, -(2**53) / a, (2**53 + 1) / a


def float_division_by_constants(x):
    """Divisions by powers of two are multiplications by their exact
    reciprocals; by other constants (3.0, 2**-1074, whose reciprocal
    overflows, 2**1023, whose reciprocal is subnormal) they stay divisions."""
    return x / 4.0, x / -0.5, x / 2.0**-1022, x / 2.0**1023, x / 3.0, x / 5e-324, x / 2.0**-1060


def shared_divisors(x, y, a, b, c):
    """The second zero check of a divisor already checked (written twice,
    `a * b`) is left out; of another divisor (`a * c`), it is kept."""
    first = -x / (a * b)
    second = -y / (a * b)
    third = y / (a * c)
    return first, second, third, x // b, x % b, y // c


def test_zero_checks_of_the_same_divisor():
    compiled = psyco.proxy(shared_divisors)
    for b, c in ((1.5, 2.0), (0.0, 2.0), (1.5, 0.0), (-0.0, 1.0)):
        same(shared_divisors, 1.0, 2.0, 3.0, b, c, compiled=compiled)
    for b, c in ((3, 2), (0, 2), (3, 0), (-3, -2)):
        same(shared_divisors, 7, -8, 5, b, c, compiled=compiled)
    assert calls_compiled(shared_divisors) > 0


def test_division_by_constants():
    compiled = psyco.proxy(by_constants)
    for a in EDGE_INTS + [-3, 3, -8, -9, 9, 2**32 - 8, -(2**62) - 1]:
        same(by_constants, a, compiled=compiled)
    assert calls_compiled(by_constants) > 0
    compiled = psyco.proxy(true_division_by_constants)
    for a in [v for v in EDGE_INTS if v] + [-3, 3]:
        same(true_division_by_constants, a, compiled=compiled)
    compiled = psyco.proxy(float_division_by_constants)
    for a in EDGE_FLOATS + [2.0**-1070, 3 * 2.0**-1074, 1.7976931348623157e308, 2.0**-1022]:
        same(float_division_by_constants, a, compiled=compiled)
    assert calls_compiled(float_division_by_constants) > 0
    compiled = psyco.proxy(by_zero)
    for a in (0, 7, -7, 2**62):
        for b in (True, False):
            same(by_zero, a, b, compiled=compiled)
    assert calls_compiled(by_zero) > 0


@pytest.mark.parametrize("op", BINARY, ids=lambda f: f.__name__)
def test_float_and_mixed_edges(op):
    values = EDGE_FLOATS + [0, 1, -1, 3, 2**53 + 1, True, False]
    for a in values:
        for b in values:
            if op is power and (abs(b) > 1e300 or isinstance(a, int) and isinstance(b, int) and abs(b) > 64):
                continue  # plain CPython would take forever
            same(op, a, b, compiled=COMPILED[op])


@pytest.mark.parametrize("op", [neg, pos, inv, not_], ids=lambda f: f.__name__)
def test_unary(op):
    for a in EDGE_INTS + EDGE_FLOATS + [True, False, None]:
        same(op, a, compiled=COMPILED[op])


def unary_of_constants(n):
    out = None
    for _ in range(n):
        smallest = -(2**63)
        out = (-smallest, max(smallest, -smallest), +smallest, ~smallest, -(2**63 - 1), -0, -0.0, -(2**64))
    return out


def test_unary_operators_on_constants_past_the_int64_edge():
    # -(-2**63) is an int object: it crashed as a 64-bit constant
    same_compiled(unary_of_constants, 3)


def bool_with_constants(a, b):
    return True ^ (a >= b), False | (a < b), True & (a == b), (a > b) ^ False


def test_bitwise_operators_between_a_bool_and_a_bool_constant_give_bools():
    for a, b in [(17, 0), (0, 17), (3, 3)]:
        same(bool_with_constants, a, b)
    assert "zext" not in psyco.dump(psyco.proxy(bool_with_constants))


def squares(x):
    out = []
    for k in range(3):
        out.append(x ** 2)
        out.append((x + k) ** 2.0)
    return tuple(out)


def test_a_float_squared_overflows_as_in_cpython():
    # x ** 2 is x * x, except where that overflows: pow() raises
    # OverflowError (errno, strerror); inf and nan square quietly.
    compiled = psyco.proxy(squares)
    for x in (1.5, -3.0, 1e200, -1e300, 1.3e154, math.inf, -math.inf, math.nan, 0.0, 1.5):
        same(squares, x, compiled=compiled)
        try:
            squares(x)
        except OverflowError as exc:
            with pytest.raises(OverflowError) as raised:
                compiled(x)
            assert raised.value.args == exc.args
    assert calls_compiled(compiled) > 0


def powers(x, y):
    return (x * 1.0) ** y, x ** (y * 1.0)


def test_float_powers_are_native_and_leave_for_the_interpreter_where_float_pow_is_special():
    # pow() itself where float_pow is pow(); zero and negative bases
    # (ZeroDivisionError, complex results), inf, nan, overflow, underflow to
    # zero and subnormal results as CPython has them.
    compiled = psyco.proxy(powers)
    values = [2.0, 0.5, 1.0, 1.0000001, 10.0, 1e300, 1e-300, 0.0, -0.0, -2.0, -8.0, math.inf, -math.inf, math.nan,
              0.5, -1.0, 3.0, -0.5, 1e10, -1e10, 1000.0, -1100.0, 1e-320, 1080.0, 2, 7]
    for x in values:
        for y in values:
            same(powers, x, y, compiled=compiled)
    assert "name='pow'" in psyco.dump(compiled)


@settings(max_examples=300, deadline=None)
@given(st.floats(min_value=0.0, allow_infinity=False), st.floats(min_value=-400.0, max_value=400.0))
def test_float_power_property(x, y):
    same(powers, x, y, compiled=COMPILED_POWERS)


COMPILED_POWERS = psyco.proxy(powers)


def test_fast_paths_really_compiled():
    for op in (add, floordiv, mod, lt):
        g = COMPILED[op]
        before = calls_compiled(g)
        assert outcome(g, 5, 3) == outcome(op, 5, 3)
        assert calls_compiled(g) > before, op.__name__


@settings(max_examples=300, deadline=None)
@given(st.integers(min_value=-(2**64), max_value=2**64), st.integers(min_value=-(2**64), max_value=2**64))
def test_int_ops_property(a, b):
    for op in (add, sub, mul, floordiv, mod, truediv, bitand, bitor, bitxor, lt, eq):
        same(op, a, b, compiled=COMPILED[op])
    same(lshift, a, b % 70, compiled=COMPILED[lshift])
    same(rshift, a, b % 70, compiled=COMPILED[rshift])


@settings(max_examples=300, deadline=None)
@given(st.floats(allow_nan=True, allow_infinity=True), st.one_of(st.floats(), st.integers(-(2**60), 2**60)))
def test_float_ops_property(a, b):
    for op in (add, sub, mul, floordiv, mod, truediv, lt, le, eq, ne):
        same(op, a, b, compiled=COMPILED[op])
        same(op, b, a, compiled=COMPILED[op])


def augmented(n, step):
    total = 0
    x = 1
    for i in range(n):
        total += i * step
        total -= 3
        x *= 3
        x %= 1000003
        total //= 2
        total ^= x
    return total, x


def test_augmented_assignment():
    for n, step in [(0, 1), (10, 3), (1000, -7), (50, 2**40)]:
        same(augmented, n, step)


def bitwise_in_place(x, y, which):
    if which == 0:
        x |= y
    elif which == 1:
        x &= y
    elif which == 2:
        x ^= y
    else:
        x <<= y
    return x


def test_augmented_bitwise_on_floats_raise_naming_the_augmented_operator():
    compiled = psyco.proxy(bitwise_in_place)
    for which in range(4):
        for x, y in [(6, 3), (1.5, 2), (2, 0.5)]:
            same(bitwise_in_place, x, y, which, compiled=compiled)  # "unsupported operand type(s) for |=: ..."


def count_of(items, x):
    """operator.countOf's loop: identity first (a nan is its own match)."""
    count = 0
    for item in items:
        if item is x or item == x:
            count += 1
    return count


def identical(a, b):
    return a is b, a is not b


def identity_after_a_loop(a, items):
    for _ in range(3):
        items = items + [a]
    return [i for i, item in enumerate(items) if item is a], id(items[-1]) == id(a)


NAN = float("nan")
BIG = 2**40


@pytest.mark.parametrize("f, args", [
    (count_of, ([NAN, NAN, 21.0], NAN)), (count_of, ([float("nan")], float("nan"))), (count_of, ([1.5, 2.5], 1.5)),
    (count_of, ([BIG, 7], BIG)), (identical, (NAN, NAN)), (identical, (BIG, BIG)), (identical, (BIG, BIG + 0)),
    (identical, (1.5, float("1.5"))), (identical, (7, 7)), (identity_after_a_loop, (2.5, [1.0])),
    (identity_after_a_loop, (BIG, [])),
])
def test_numbers_passed_in_keep_their_identity(f, args):
    """An unboxed int or float argument boxed again is the object passed."""
    same_compiled(f, *args)


def computed_twice_in_a_list(a):
    x = a * 1000
    items = [x, x]
    return items[0] is items[1], items.count(x), x in items


def nan_found_by_identity(a):
    x = a - a  # nan for an infinite a
    return x in [x], {x: "found"}.get(x, "missing"), [x] == [x], (x,) == (x,)


def listed_and_stored(a, holder):
    x = a * 2.5
    items = [x]
    holder.value = x  # (stored first, it would be a new object: see the README's limitations)
    return holder.value is items[0]


class Holder:
    pass


def range_twice_in_a_list(n):
    r = range(n)
    items = [r, r]
    return items[0] is items[1]


@pytest.mark.parametrize("f, args", [
    (computed_twice_in_a_list, (7,)), (computed_twice_in_a_list, (7.5,)), (computed_twice_in_a_list, (BIG,)),
    (nan_found_by_identity, (float("inf"),)), (nan_found_by_identity, (1.5,)), (listed_and_stored, (3, Holder())),
    (listed_and_stored, (3.5, Holder())), (range_twice_in_a_list, (3,)),
])
def test_a_number_computed_once_is_one_object_wherever_it_goes(f, args):
    """A value the compiled code boxes twice in a block is one object, as
    in CPython: a nan is found in a container by identity."""
    same_compiled(f, *args)


def compared_to_constants(x):
    return (x == 9007199254740993, x < 9007199254740993, x >= -9007199254740993, x != 2**60 + 1,
            x > 2**60, x == 2**53, 9007199254740993 > x)


def test_floats_compared_with_int_constants_a_double_cannot_hold():
    # the constant 2**53 + 1 was made the double 2**53 at compile time:
    # 9007199254740992.0 == 9007199254740993 was True
    for x in (9007199254740992.0, -9007199254740992.0, 2.0**60, 1.5, float("nan"), float("inf"), 3, 2**53 + 1):
        same(compared_to_constants, x)
    assert calls_compiled(compared_to_constants) > 0
