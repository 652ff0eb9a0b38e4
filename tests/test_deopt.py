"""Guards, deoptimization and tracebacks, compared with plain CPython."""

import gc
import math
import sys
import traceback

import psyco
from psyco.runtime.jit import CodeEntry
from tests.differential import calls_compiled, deopts, outcome, same

SCALE = 3


def overflow_loop(n):
    x = 1
    for i in range(1, n):
        x = x * i + 1  # passes 2**63 around i == 21
    return x


def overflow_negate(x):
    return -x


def deep_state(n):
    a, b, total = 0, 1, 0
    for i in range(n):
        a, b = b, a + b
        total += a % 7 + i
    return a, b, total


def scaled(x):
    return x * SCALE


def with_builtin(x):
    return abs(x) + 1


def failing_inner(x):
    return 10 // x


def failing_outer(x):
    y = x + 1
    return failing_inner(y - 1) + y


def math_domain(x):
    return math.sqrt(x - 2.0)


def tuple_in_a_local_and_on_the_stack(container_type):
    d = container_type()
    t = (d,)  # virtual, held by `t` and, below, on the stack
    d[1] = t  # compiled for the first type seen: a dict here leaves for the interpreter
    return d[1] is t


def test_overflow_mid_loop_is_exact():
    g = psyco.proxy(overflow_loop)
    for n in (5, 20, 21, 22, 60, 200):
        same(overflow_loop, n, compiled=g)
    assert calls_compiled(g) > 0


def test_int_min_negation():
    same(overflow_negate, -(2**63))
    same(overflow_negate, 5)


def test_deopt_carries_locals_and_tuples():
    for n in (10, 92, 93, 150):
        same(deep_state, n)


def test_a_tuple_held_twice_at_a_deopt_is_one_object():
    g = psyco.proxy(tuple_in_a_local_and_on_the_stack)
    same(tuple_in_a_local_and_on_the_stack, lambda: [None, None], compiled=g)
    assert same(tuple_in_a_local_and_on_the_stack, dict, compiled=g) == ("returns", bool, True)


def chained_sums(xs, ys, zs):
    t = 0.0
    for i in range(len(xs)):
        t = t + xs[i]
        t = t * ys[i]
        t = t - zs[i]
    return t, i


def test_guards_in_a_row_leave_each_with_its_own_values():
    # the three unboxing guards share one call of deopt_exit, phis picking
    # the sum so far and the item each passes
    floats = [0.5 * k for k in range(40)]
    for which in range(3):
        for at in (0, 17, 39):
            lists = [list(floats), [k + 0.25 for k in floats], [k - 1.5 for k in floats]]
            lists[which][at] = at  # an int: that list's unboxing guard fails there
            g = psyco.proxy(chained_sums)
            g(floats, floats, floats)
            same(chained_sums, *lists, compiled=g)
            assert deopts(g), (which, at)


def test_kinds_change_after_warm_up():
    g = psyco.proxy(deep_state)
    for _ in range(100):
        g(10)
    same(deep_state, 12, compiled=g)
    same(scaled, 2)
    h = psyco.proxy(scaled)
    for _ in range(50):
        h(2)
    for arg in (2.5, "ab", 2**80, True, None, [1]):
        same(scaled, arg, compiled=h)


def test_rebinding_a_global_is_honoured():
    global SCALE
    g = psyco.proxy(scaled)
    assert g(5) == 15
    SCALE = 10
    try:
        assert g(5) == 50
        assert g(5) == scaled(5)
    finally:
        SCALE = 3
    assert g(5) == 15


def step_and_swap(x):
    global STEP
    STEP = double  # rebinds the global the caller loaded twice
    return x + 1


def double(x):
    return x * 2


STEP = step_and_swap


def nested_steps(x):
    return STEP(STEP(x)) + STEP(x)  # both loads of the first STEP happen before the inner call


def test_a_global_loaded_twice_in_a_row_is_checked_once_and_still_honoured():
    global STEP
    g = psyco.proxy(nested_steps)
    try:
        for _ in range(3):
            STEP = step_and_swap
            expected = nested_steps(5)
            STEP = step_and_swap
            assert g(5) == expected
    finally:
        STEP = step_and_swap


OFFSET = 1


def scaled_and_offset(x):
    return SCALE * x + OFFSET + abs(x)  # one guard for both globals and the builtin


def test_each_name_a_joined_guard_covers_is_honoured_when_rebound():
    global SCALE, OFFSET
    g = psyco.proxy(scaled_and_offset)
    assert g(-5) == scaled_and_offset(-5) == -9
    assert _guard_names(psyco.dump(g)) == ["('SCALE', 'OFFSET', 'abs')"]
    try:
        OFFSET = 100
        assert g(-5) == scaled_and_offset(-5) == 90
        SCALE = 7
        assert g(-5) == scaled_and_offset(-5) == 70
        globals()["abs"] = lambda x: 1000  # a global now hides the builtin
        assert g(-5) == scaled_and_offset(-5) == 1065
    finally:
        SCALE, OFFSET = 3, 1
        globals().pop("abs", None)
    assert g(-5) == scaled_and_offset(-5) == -9


def _guard_names(dumped):
    return [line.split("names=")[1].split(" values=")[0] for line in dumped.splitlines() if "guard_global" in line]


def math_mix(x):
    return math.sin(x) * math.exp(-x / 4.0) + math.sqrt(x + 1.0)


def math_with_a_call_between(x):
    return math.sin(x) + step_and_swap_math(x) + math.cos(x)  # the call rebinds `math`


class FakeMath:
    @staticmethod
    def cos(x):
        return 1000.0


def step_and_swap_math(x):
    global math
    math = FakeMath
    return x


def test_a_global_checked_once_across_native_operations():
    global math
    g = psyco.proxy(math_mix)
    assert outcome(g, 1.5) == outcome(math_mix, 1.5)
    # sin, exp and sqrt are native calls: nothing can rebind a name between
    # them, one test of each namespace covers its names
    assert _guard_names(psyco.dump(g)) == ["('math',)", "('sin', 'exp', 'sqrt')"]
    h = psyco.proxy(math_with_a_call_between)
    real = math
    try:
        for _ in range(3):
            math = real
            expected = outcome(math_with_a_call_between, 0.5)
            math = real
            assert outcome(h, 0.5) == expected == outcome(lambda: real.sin(0.5) + 0.5 + 1000.0)
    finally:
        math = real


def test_shadowing_a_builtin_is_honoured():
    g = psyco.proxy(with_builtin)
    assert g(-4) == 5
    globals()["abs"] = lambda x: 100
    try:
        assert g(-4) == 101 == with_builtin(-4)
    finally:
        del globals()["abs"]
    assert g(-4) == 5


def test_guard_that_keeps_failing_leads_to_a_general_version():
    g = psyco.proxy(overflow_loop)
    for _ in range(200):
        assert g(40) == overflow_loop(40)
    rows = [r for r in psyco.report() if r["function"] == "overflow_loop"]
    versions = [v for r in rows for v in r["versions"]]
    assert any(not v["active"] for v in versions), versions  # retired after too many deopts
    assert any(v["active"] for v in versions)


def count_below(xs, limit):
    n = 0
    for x in xs:
        if x < limit:  # an int against a float: exact only up to 2**53
            n += 1
    return n


def test_comparing_huge_ints_with_floats_settles_on_a_general_version():
    """Each guard that keeps failing is generalized once; a version that
    keeps failing anyway goes back to the interpreter, never a compile per
    fifty calls."""
    g = psyco.proxy(count_below)
    xs = [1, 2**60, -(2**62), 3]
    for _ in range(500):
        assert g(xs, 1e18) == count_below(xs, 1e18)
    rows = [r for r in psyco.report() if r["function"] == "count_below"]
    versions = [v for r in rows for v in r["versions"]]
    assert 2 <= len(versions) <= 3, versions
    assert any(v["active"] and not v["deopts"] for v in versions), versions


def power_sum(x, p, n):
    total = 0.0
    for _ in range(n):
        total += x ** p  # a negative base: left for the interpreter by the float path
    return total


def test_a_float_power_guard_that_keeps_failing_settles_on_a_general_version():
    """`x ** p` on floats is computed natively behind a guard (a positive
    base, a finite real result); a guard that keeps failing gets a version
    with the generic power, not the function sent back to the interpreter."""
    g = psyco.proxy(power_sum)
    assert g(1.5, 0.5, 10) == power_sum(1.5, 0.5, 10)
    for _ in range(100):
        assert g(-1.5, 2.0, 10) == power_sum(-1.5, 2.0, 10)
    rows = [r for r in psyco.report() if r["function"] == "power_sum"]
    assert not any(r["not_compiled"] for r in rows), rows
    versions = [v for r in rows for v in r["versions"]]
    assert versions[-1]["active"] and not versions[-1]["deopts"], versions


def lucas(n, m):
    a, b = 2, 1
    for _ in range(n):
        a, b = b, a + b  # past 2**63 after 90 steps
    return a % m


def test_after_an_overflow_one_general_version_follows():
    """The overflowed values reach other operations (the next `+` of the
    loop, the `%`): their int guesses are not made again, so one general
    version follows instead of a version per operation."""
    g = psyco.proxy(lucas)
    for n in range(150, 450):
        assert g(n, 1_000_000_007) == lucas(n, 1_000_000_007)
    rows = [r for r in psyco.report() if r["function"] == "lucas"]
    versions = [v for r in rows for v in r["versions"]]
    assert len(versions) == 2, versions
    assert versions[-1]["active"] and not versions[-1]["deopts"], versions


def three_sums(rows):
    t = 0
    for row in rows:
        t = t + row[0] * 2
        t = t - row[1]
        t = t + row[2]
    return t


def test_guesses_failing_at_two_places_are_not_made_again():
    """Items guessed to be ints at three places, and big ints there: after
    two of the guesses kept failing, the third is not tried (a version
    saved), and the last version runs without leaving."""
    g = psyco.proxy(three_sums)
    rows = [(1, 2, 3), (2**70, 5, 2**65), (4, 2**80, 6)]
    for _ in range(400):
        assert g(rows) == three_sums(rows)
    rows_of = [r for r in psyco.report() if r["function"] == "three_sums"]
    versions = [v for r in rows_of for v in r["versions"]]
    assert len(versions) <= 3, versions
    assert versions[-1]["active"] and not versions[-1]["deopts"], versions


class Token:
    def __init__(self, value):
        self.value = value  # a word or a number: no one type


def count_plus(tokens):
    n = 0
    for t in tokens:
        if t.value == "+":
            n += 1
    return n


def count_ones(tokens):
    n = 0
    for t in tokens:
        if t.value == 1:
            n += 1
    return n


def test_an_attribute_whose_type_guess_kept_failing_is_not_guessed_in_other_functions():
    """Once a version retires because an attribute's guessed type kept
    failing, no other version guesses it: a second function reading it,
    compiled when only words have been seen, keeps its one version."""
    words = [Token("+"), Token("x")] * 3
    mixed = words + [Token(1), Token(2.5)]
    first, second = psyco.proxy(count_plus), psyco.proxy(count_ones)
    assert first(words) == count_plus(words)
    for _ in range(20):
        assert first(mixed) == count_plus(mixed)
    assert not [v for r in psyco.report() if r["function"] == "count_plus" for v in r["versions"]][0]["active"]
    assert second(words) == count_ones(words)
    for _ in range(20):
        assert second(mixed) == count_ones(mixed)
    versions = [v for r in psyco.report() if r["function"] == "count_ones" for v in r["versions"]]
    assert len(versions) == 1 and versions[0]["active"] and not versions[0]["deopts"], versions


def _traceback_text(f, *args):
    try:
        f(*args)
    except Exception as exc:  # noqa: BLE001
        return "".join(traceback.format_exception(exc)[1:])
    raise AssertionError("no exception")


def test_traceback_identical_to_cpython():
    expected = _traceback_text(failing_outer, 0)
    g = psyco.proxy(failing_outer)
    got = _traceback_text(g, 0)
    assert got == expected
    assert "10 // x" in got and "failing_inner(y - 1)" in got
    assert calls_compiled(g) > 0


def test_math_domain_error_traceback():
    expected = _traceback_text(math_domain, 1.0)
    assert _traceback_text(psyco.proxy(math_domain), 1.0) == expected


def test_traceback_after_deopt():
    def boom(n):
        x = 2**62
        x = x + x  # overflow: the interpreter continues
        return x // (n - n)

    assert _traceback_text(psyco.proxy(boom), 3) == _traceback_text(boom, 3)


def overflow_then_fail(n):
    x = 2**62
    x = x + x  # overflow: the interpreter continues in a frame of its own
    return x // (n - n)


def calls_overflow_then_fail(n):
    return overflow_then_fail(n) + 1


def test_traceback_through_a_direct_callee_that_deopts():
    """The callee's resumed frame stays in the traceback: it must be a
    frame object that lives as long as the traceback."""
    expected = _traceback_text(calls_overflow_then_fail, 3)
    g = psyco.proxy(calls_overflow_then_fail)
    psyco.bind(overflow_then_fail)
    try:
        for _ in range(3):
            got = _traceback_text(g, 3)
            gc.collect()
            assert got == expected
    finally:
        psyco.unbind(overflow_then_fail)


COUNTER = 0


def bump(n):
    global COUNTER
    for i in range(n):
        COUNTER += i
    return COUNTER


def test_store_global():
    global COUNTER
    expected = bump(100)
    COUNTER = 0
    assert psyco.proxy(bump)(100) == expected == COUNTER
    assert "PyDict_SetItem" in psyco.dump(psyco.proxy(bump))


def reads_late_global(x):
    return x + LATE  # noqa: F821 - defined by the test below


def test_global_defined_after_compilation():
    g = psyco.proxy(reads_late_global)
    for _ in range(60):  # past the hot-exit threshold
        assert _traceback_text(g, 1) == _traceback_text(reads_late_global, 1)
    globals()["LATE"] = 5
    try:
        assert [g(1) for _ in range(5)] == [6] * 5
    finally:
        del globals()["LATE"]


def test_long_loop_whose_jumps_need_extended_arg():
    # FOR_ITER's target is past 255 code units: the instruction is preceded
    # by EXTENDED_ARG, and the loop still compiles and resumes correctly.
    body = "".join(f"        t += i * {k} + x\n" for k in range(60))
    namespace: dict = {}
    exec("def long_loop(n, x):\n    t = 0\n    for i in range(n):\n" + body + "    return t\n", namespace)
    long_loop = namespace["long_loop"]
    compiled = psyco.proxy(long_loop)
    for x in (1, 2**62, 1.5):
        same(long_loop, 10, x, compiled=compiled)
    assert calls_compiled(compiled) > 0


def caller_frame():
    return sys._getframe(1)  # a function calling sys._getframe() is not compiled


def collect_after_overflow(n):
    items = [n, str(n)]
    x = 2**62
    x = x + x  # overflow: the rest runs in a frame psyco built
    gc.collect()
    frame = caller_frame()
    return items, x, frame.f_code.co_name, frame.f_lineno


def test_frame_built_for_a_deopt_survives_gc_and_introspection():
    """The frame psyco hands to the interpreter is linked to its frame
    object by a counted reference while it runs: the garbage collector
    must not see it as garbage, sys._getframe() must return it."""
    g = psyco.proxy(collect_after_overflow)
    for n in range(3):
        assert g(n) == collect_after_overflow(n)
    assert calls_compiled(g) > 0


def who_called_my_caller():
    frame = sys._getframe(2)
    return frame.f_code.co_name, frame.f_lineno


def overflows_then_asks(n):
    x = n * n  # leaves compiled code for n past 2**32
    return x, who_called_my_caller()


def asks_through(f, n):
    return f(n)  # the line a callee two frames down must see


def test_after_a_deopt_the_rest_of_the_call_has_the_functions_caller_as_parent():
    # The resumed frame was stacked on the trampoline's: two frames up, a
    # callee (warnings.warn(stacklevel=3), logging) found the function
    # again, at no line, instead of its caller.
    g = psyco.proxy(overflows_then_asks)
    expected = ("asks_through", asks_through.__code__.co_firstlineno + 1)
    assert asks_through(g, 3)[1] == asks_through(g, 2**40)[1] == expected
    assert calls_compiled(g) > 0 and any(v.deopts() for v in CodeEntry.lookup(g.__code__).versions)


def loop_sum(xs):
    total = 0
    for x in xs:
        total += x  # an int guessed from the first items, then a float
    return total


def test_an_exit_inside_a_loop_gets_a_general_version_after_a_few_calls():
    """Each use of a deopt exit inside a loop runs the rest of the loop
    interpreted: a version is retired after fewer of them than elsewhere."""
    from psyco.runtime.jit import HOT_EXIT_THRESHOLD, HOT_LOOP_EXIT_THRESHOLD, CodeEntry

    assert HOT_LOOP_EXIT_THRESHOLD < HOT_EXIT_THRESHOLD
    p = psyco.proxy(loop_sum)
    for _ in range(HOT_LOOP_EXIT_THRESHOLD + 3):
        same(loop_sum, [1, 2, 2.5], compiled=p)
    first, *later = CodeEntry.lookup(p.__code__).versions
    assert not first.active and sum(first.exit_counts) == HOT_LOOP_EXIT_THRESHOLD
    assert later and later[-1].active and sum(later[-1].exit_counts) == 0


def appends_while_short(seq, probe):
    out = []
    try:
        copy = seq[:]
        for x in copy:
            if len(copy) < 5:
                copy.append(x + 1)
    except AttributeError as e:
        out.append(type(e).__name__)
    out.append(probe in seq)
    return out


def test_a_failing_method_lookup_left_by_a_deopt_is_raised_where_the_handler_sees_it():
    # `copy.append` on a str, then `x + 1` guessed to be ints: the deopt
    # rebuilt the bound method in the resume recipe, which raised the
    # AttributeError from the exit, past the function's own `except`
    compiled = psyco.proxy(appends_while_short)
    for n in range(300):
        same(appends_while_short, [1, 2, 3], n % 4, compiled=compiled)
    same(appends_while_short, "abc", "b", compiled=compiled)
    same(appends_while_short, "abc", 2.5, compiled=compiled)
    assert calls_compiled(compiled) > 0
