"""Differential tests of control flow, loops, tuples and calls."""

import builtins
import math
import os
import tempfile
import types
import weakref

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import psyco
from psyco.kinds import INT
from psyco.runtime.jit import CodeEntry
from tests.differential import calls_compiled, deopts, same, same_compiled

LIMIT = 100


def branches(x):
    if x > 10 and x < 20 or x == -5:
        return 1
    elif not x:
        return 2
    elif x % 2 == 0 or x is None:
        return 3
    return 4


def while_loop(n):
    i, total = 0, 0
    while i < n:
        i += 1
        if i % 3 == 0:
            continue
        if total > 10**6:
            break
        total += i
    return total


def ranges(a, b, c):
    total = 0
    for i in range(a):
        total += i
    for i in range(a, b):
        total -= i
    for i in range(b, a, c):
        total += i * 3
    for i in range(a, b, -c if c else 1):
        total += i % 5
    return total


def nested(n):
    count = 0
    for i in range(n):
        for j in range(i):
            if (i + j) % 7 == 0:
                count += 1
    return count


def fib_pair(n):
    a, b = 0, 1
    for _ in range(n):
        a, b = b, a + b
    return a


def swap3(a, b, c):
    a, b, c = c, a, b
    return a - b * c


def uses_global(x):
    return x * LIMIT + len(str(x))


def builtins_inline(x, y):
    return abs(x) + min(x, y) - max(x, y) + int(x) + float(y) + bool(x) + round(x * 1.5)


def divmods(a, b):
    q, r = divmod(a, b)
    return q * 1000 + r


def maths(x):
    return (math.sqrt(abs(x)) + math.sin(x) + math.cos(x) + math.exp(x / 100) + math.log(abs(x) + 1)
            + math.floor(x) + math.ceil(x) + math.fabs(x) + math.atan2(x, 3.0) + math.tan(x) + math.log10(abs(x) + 1)
            + math.pow(abs(x), 0.5) + math.hypot(x, 4.0) + math.isnan(x) + math.isinf(x) + math.isfinite(x))


def float_classes(x):
    """isinf/isfinite, and the tests of a double's class behind int(x),
    x ** 2, math.exp and pow: each raises or leaves for the interpreter at
    inf and nan as CPython does."""
    classes = (math.isinf(x), math.isfinite(x), math.isinf(-x), math.isfinite(x * 0.5))
    try:
        whole = int(x)
    except (OverflowError, ValueError) as exc:
        whole = type(exc).__name__ + str(exc)
    try:
        grown = math.exp(x) + x ** 2 + abs(x) ** 0.5
    except (OverflowError, ValueError) as exc:
        grown = type(exc).__name__ + str(exc)
    return classes, whole, grown


def math_errors(x):
    return math.sqrt(x) + math.log(x)


def square(x):
    return x * x


def calls_other(n):
    total = 0
    for i in range(n):
        total += square(i)
    return total


def recursive(n):
    if n < 2:
        return n
    return recursive(n - 1) + recursive(n - 2)


def generic_calls(n):
    return len(str(n)) + sum([n, 1]) + max(n, 2, 3) + int("12") + round(n / 3, 2)


def keyword_call(x):
    return sorted([x, 3, 1], reverse=True)[0] + int("11", base=2)


def none_result(x):
    if x > 0:
        return None
    return x


def float_accumulate(n):
    s = 0
    for i in range(n):
        s += i * 0.5
    return s


CASES = [
    (branches, [(15,), (-5,), (0,), (4,), (7,), (25,), (0.0,), (True,)]),
    (while_loop, [(0,), (10,), (5000,)]),
    (ranges, [(5, 10, 2), (10, 5, -1), (0, 0, 1), (-3, 7, 3), (3, 100, 7)]),
    (nested, [(0,), (50,)]),
    (fib_pair, [(0,), (10,), (90,), (100,), (300,)]),
    (swap3, [(1, 2, 3), (1.5, 2, 3)]),
    (uses_global, [(3,), (-7,)]),
    (builtins_inline, [(3, 4), (-7, 2), (2.5, -1.5), (-2**62, 5)]),
    (divmods, [(17, 5), (-17, 5), (17, -5), (0, 3), (5, 0), (7.5, 2), (-7.5, 2.0), (1, 0.0)]),
    (maths, [(1.0,), (0.5,), (-3.0,), (10,), (0,), (710.0 * 100,)]),
    (math_errors, [(4.0,), (-1.0,), (0.0,), (math.inf,), (math.nan,)]),
    (float_classes, [(1.5,), (-0.0,), (1e308,), (-1e308,), (5e-324,), (709.0,), (710.0,), (math.inf,),
                      (-math.inf,), (math.nan,), (-math.nan,)]),
    (calls_other, [(10,), (1000,)]),
    (recursive, [(0,), (1,), (15,)]),
    (generic_calls, [(5,), (2**70,)]),
    (keyword_call, [(5,), (1,)]),
    (none_result, [(1,), (-1,)]),
    (float_accumulate, [(0,), (10,), (1000,)]),
]


@pytest.mark.parametrize("f,args_list", CASES, ids=[c[0].__name__ for c in CASES])
def test_differential(f, args_list):
    g = psyco.proxy(f)
    for args in args_list:
        same(f, *args, compiled=g)
    assert calls_compiled(g) > 0, f"{f.__name__} never ran compiled"


def range_walk(start, stop, step):
    """At most 40 steps of a range whose step's sign is known only at run time."""
    seen = 0
    mixed = 0
    for i in range(start, stop, step):
        mixed = (mixed * 31 + i) % 1000003
        seen += 1
        if seen == 40:
            break
    return seen, mixed


RANGE_WALK = psyco.proxy(range_walk)  # native ranges: every argument fits 64 bits
RANGE_WALK_BIG = psyco.proxy(range_walk)
I64_EDGES = st.one_of(st.integers(-50, 50), st.integers(2**63 - 60, 2**63 - 1), st.integers(-(2**63), -(2**63) + 60))
I64_STEPS = st.one_of(st.integers(-7, 7), st.integers(2**62, 2**63 - 1), st.integers(-(2**63), -(2**62)))


@settings(max_examples=300, deadline=None)
@given(I64_EDGES, I64_EDGES, I64_STEPS.filter(lambda step: step != 0))
def test_range_loops_with_a_variable_step_property(start, stop, step):
    same(range_walk, start, stop, step, compiled=RANGE_WALK)
    same(range_walk, start + 2**63, stop + 2**63, step, compiled=RANGE_WALK_BIG)
    native = CodeEntry.lookup(RANGE_WALK.__code__).versions[0]
    assert all(kind == INT for kind in native.entry_kinds), native


def constant_zero_step():
    caught = None
    try:
        for _ in range(1, 10, 0):
            pass
    except ValueError as exc:
        caught = str(exc)
    total = 0
    for i in range(100):
        total += i
    return caught, total


def test_a_constant_zero_step_compiles_and_raises_as_cpython():
    compiled = psyco.proxy(constant_zero_step)
    same(constant_zero_step, compiled=compiled)
    entry = CodeEntry.lookup(compiled.__code__)
    assert entry.versions and not entry.not_compiled, entry.not_compiled


def test_recursion_is_a_direct_native_call():
    g = psyco.proxy(recursive)
    assert g(20) == recursive(20)
    ir_text = psyco.dump(g)
    assert "call_direct" in ir_text
    assert "-> Int" in ir_text


def test_inline_math_has_no_generic_call():
    g = psyco.proxy(maths)
    g(1.0)
    text = psyco.dump(g)
    assert "math" in text and "name='sqrt'" in text


def keywords_of(*args, **kwargs):
    return len(args), sorted(kwargs.items())


def forward_keywords(*args, **kwargs):
    out = [keywords_of(*args, **kwargs), keywords_of(x=1, **kwargs), keywords_of(1, *args)]
    try:
        keywords_of(y=1, **kwargs)
    except TypeError as e:
        out.append(str(e))
    return out


def test_star_and_double_star_calls():
    compiled = psyco.proxy(forward_keywords)
    for args, kwargs in (((1, 2), {}), ((), {"y": 3}), ((1,), {"z": 2, "y": 3})):
        assert compiled(*args, **kwargs) == forward_keywords(*args, **kwargs)
    assert calls_compiled(compiled) > 0 and not deopts(compiled)


def star_of(c):
    return keywords_of(1, *c), [0, *c], {0, *c}


@pytest.mark.parametrize("c", [(2, 3), [2], "ab", None, 5])
def test_star_unpacking_of_any_value(c):
    # the interpreter's message for a non-iterable: "Value after * must be an
    # iterable, not NoneType".  A fresh code object: compiled first for c.
    fresh = types.FunctionType(star_of.__code__.replace(), globals())
    same(fresh, c)


def imports_inside(x):
    import math
    import os.path
    from json import dumps
    return math.sqrt(x), os.path.basename("/a/b"), dumps([x])


def import_missing_module():
    import psyco_no_such_module  # noqa: F401


def import_missing_name():
    from json import psyco_no_such_name  # noqa: F401


def test_imports_inside_functions():
    same_compiled(imports_inside, 4.0)
    same_compiled(import_missing_module)
    same(import_missing_name)
    compiled = psyco.proxy(imports_inside)
    original = builtins.__import__
    seen = []

    def tracing_import(name, *args):
        seen.append(name)
        return original(name, *args)

    builtins.__import__ = tracing_import
    try:
        assert compiled(9.0) == imports_inside(9.0)
    finally:
        builtins.__import__ = original
    assert seen.count("math") == 2  # the replaced __import__ was called by compiled code's fallback too


def star_targets(seq):
    a, *rest = seq
    *init, z = seq
    p, *mid, q = seq
    return a, rest, init, z, p, mid, q


def test_star_targets():
    for seq in ([1, 2, 3, 4], [7, 8]):
        same_compiled(star_targets, seq)
    for seq in ((5, 6), ("x", "y", "z"), [1], (), "ab", iter([1, 2])):  # tuples after lists: mixed kinds
        same(star_targets, seq)  # too short, or not a list or tuple: the interpreter


COUNTER_GLOBAL = 0


def class_in_a_function(n):
    class Local:
        scale = n

        def value(self):
            return self.scale * 2

    return Local().value(), Local.__qualname__


def delete_global_twice():
    global COUNTER_GLOBAL
    COUNTER_GLOBAL = 1
    del COUNTER_GLOBAL
    try:
        del COUNTER_GLOBAL
    except NameError as e:
        return str(e)


def test_class_statements_and_global_deletion():
    same_compiled(class_in_a_function, 4)
    same(delete_global_twice)
    assert "COUNTER_GLOBAL" not in globals()


def shape(p):
    match p:
        case []:
            return "empty"
        case [x]:
            return ("one", x)
        case [x, y, *rest]:
            return ("many", x, y, len(rest))
        case {"k": v}:
            return ("map", v)
        case _:
            return "other"


def unpack_list(items):
    a, b, c = items
    return c, b, a


def test_pattern_matching_and_list_unpacking():
    for value in ([], [1], [1, 2, 3]):
        same_compiled(shape, value)
    for value in ({"k": 5}, {"j": 1}, "abc", 3.5):
        same_compiled(shape, value)
    for value in ((), (1, 2)):
        same(shape, value)
    same_compiled(unpack_list, [1, 2, 3])
    same(unpack_list, [1, 2])


class Finalized:
    """Logs its name when released."""

    def __init__(self, log, name):
        self.log, self.name = log, name

    def __del__(self):
        self.log.append(self.name)


def variables_hold_objects(log, n):
    first = Finalized(log, "first")
    name = first.name  # the variable's last read: it holds the object on
    log.append("first still held")
    second = Finalized(log, "second")  # noqa: F841 (held, never read: the point)
    second = Finalized(log, "third")  # releases "second"
    log.append("rebound")
    del second  # releases "third"
    log.append("deleted")
    item = None  # (psyco forgets a variable first bound in a loop where it is dead)
    for i in range(n):
        item = Finalized(log, f"item {i}")  # noqa: F841 (held, never read: the point) releases the previous item
    log.append("looped")
    return name  # releases "first" and the last item


def same_log(f, n):
    """f(log, n) logs the same, its objects released at the same points,
    compiled (which it is) as under CPython."""
    expected, got = [], []
    compiled = psyco.proxy(f)
    assert f(expected, n) == compiled(got, n)
    assert got == expected
    assert calls_compiled(compiled) > 0


@pytest.mark.parametrize("n", [0, 3])
def test_variables_hold_their_objects_until_rebound_or_return(n):
    # As in CPython's frame, where finalizers (weakref.finalize, __del__:
    # a TemporaryDirectory removing itself) depend on it.
    same_log(variables_hold_objects, n)


class Quiet:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def held_past_a_with_and_a_try(log, n):
    first = Finalized(log, "first")
    with Quiet():
        log.append("in with")
    log.append("after with")  # `first` is still held: the frame holds it to the return
    second = Finalized(log, "second")  # noqa: F841 (held, never read: the point)
    try:
        log.append(str(10 // n))
    except ZeroDivisionError:
        log.append("caught")
    log.append("after try")
    return first.name if n > 5 else None


@pytest.mark.parametrize("n", [0, 2, 10])
def test_a_variable_bound_before_a_with_or_a_try_holds_its_object_past_it(n):
    # The handlers' paths were taken for ones where the variable might be
    # unbound (the store is in the block the handler covers): compiled code
    # let go of it where the paths meet, before the return.
    same_log(held_past_a_with_and_a_try, n)


class Managed(Finalized):
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return self.name == "suppressing"


def with_target_held_past_the_with(log, n):
    with Managed(log, "target") as target:  # noqa: F841 (held, never read: the point)
        log.append("in with")
    with Managed(log, "suppressing") as other:  # noqa: F841
        log.append(str(10 // n))
    log.append("after with")  # both targets are still held: the frame holds them to the return
    return n


@pytest.mark.parametrize("n", [0, 2])
def test_the_target_of_a_with_holds_its_object_past_it(n):
    # `as target` stores inside the range the with's handler covers; the
    # store cannot raise, so no path to the handler leaves it unbound.
    same_log(with_target_held_past_the_with, n)


def held_up_to_a_raise(log, error):
    kept = Finalized(log, "kept")
    alive = weakref.ref(kept)  # the variable's last read
    log.append(f"alive before the raise: {alive() is not None}")
    raise error  # not a constant: the block ends in an error exit


def test_a_variable_holds_its_object_up_to_a_raise():
    # Compiled code let go of it at its last read, as if dead; it is let go
    # at the raise (the traceback's frame does not hold variables: README).
    for f in (held_up_to_a_raise, psyco.proxy(held_up_to_a_raise)):
        log = []
        with pytest.raises(KeyError):
            f(log, KeyError)
        assert log[0] == "alive before the raise: True", log
    assert calls_compiled(f) > 0


def held_through_the_iteration(log, n):
    for i in range(n):
        item = Finalized(log, f"item {i}")
        log.append(f"read {item.name}")  # its last read: the loop's body still holds it
        log.append(f"end of iteration {i}")


def test_a_variable_bound_in_a_loop_holds_its_object_to_the_end_of_the_iteration():
    # Compiled code let go of the object at the variable's last read, before
    # the rest of the iteration (psyco forgets such a variable at the end of
    # the iteration, CPython when it is bound again or at the return: the
    # same order here).
    same_log(held_through_the_iteration, 3)


def files_in_temporary_directory(n):
    directory = tempfile.TemporaryDirectory()
    path = directory.name
    for i in range(n):
        open(os.path.join(path, str(i)), "w").close()
    return sorted(os.listdir(path))


def test_a_temporary_directory_lives_while_a_variable_holds_it():
    # It removes itself when released: compiled code released it after the
    # variable's last read, and the loop's open() failed.
    same_compiled(files_in_temporary_directory, 3)
