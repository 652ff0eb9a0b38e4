"""try/except/else/finally, raise, with and assert compiled: handlers are
code of the version, not exits to the interpreter.  Each case is checked
against CPython: results, exception types and messages, chaining
(__cause__, __context__), the exception being handled, and tracebacks."""

from __future__ import annotations

import gc
import sys
import traceback

import pytest

import psyco
from tests.asserting import assert_positive
from tests.differential import calls_compiled, defined, deopts, outcome, same, same_compiled


def divide_or_default(x, y):
    try:
        q = x // y
    except ZeroDivisionError:
        q = -1
    return q


def count_failures(n):
    failures = 0
    total = 0
    for i in range(n):
        try:
            total += 100 // (i % 4)
        except ZeroDivisionError:
            failures += 1
        else:
            total += 1
        finally:
            total += 2
    return total, failures


def match_tuple(items, i):
    try:
        return items[i]
    except (KeyError, IndexError) as e:
        return type(e).__name__ + ": " + str(e)


def nested(x):
    log = []
    try:
        try:
            log.append(1 // x)
        except TypeError:
            log.append("inner")
        finally:
            log.append("inner finally")
    except ZeroDivisionError as e:
        log.append(str(e))
    return log


def finally_return(x):
    try:
        if x:
            return 1 // x
    finally:
        x = -x
    return x


def handled_inside_handler(x):
    try:
        1 // x
    except ZeroDivisionError:
        try:
            {}[x]
        except KeyError as inner:
            return repr(inner.__context__), repr(sys.exception())
    return None


def reraise_bare(x):
    try:
        return 10 // x
    except ZeroDivisionError:
        raise


def reraise_bare_named(x):
    try:
        return 10 // x
    except ZeroDivisionError as e:
        if str(e):
            raise
    return 0


def reraise_bare_in_finally(x):
    try:
        return 10 // x
    finally:
        if x == 0:
            raise


def raise_from(x):
    try:
        return {}[x]
    except KeyError as e:
        raise ValueError(f"no {x}") from e


def raise_from_none(x):
    try:
        return {}[x]
    except KeyError:
        raise ValueError("hidden") from None


def raise_in_handler(x):
    try:
        return {}[x]
    except KeyError:
        raise RuntimeError("while handling")  # noqa: B904 - the implicit context is the point


def raise_class(x):
    if x > 0:
        raise ValueError
    raise KeyError(x)


def raise_not_an_exception(x):
    raise x


def raise_bad_cause(x):
    raise ValueError("v") from x


class NotAnInstance(Exception):
    def __new__(cls):
        return 42


def raise_class_returning_other():
    raise NotAnInstance


def bare_raise_without_exception():
    raise


def catch_non_class(x):
    try:
        return 1 // x
    except x:
        return "caught"


def catch_bad_tuple(x):
    try:
        return 1 // x
    except (ZeroDivisionError, 3):  # noqa: B030 - the TypeError is the point
        return "caught"


class Recorder:
    def __init__(self, suppress):
        self.suppress = suppress
        self.log = []

    def __enter__(self):
        self.log.append("enter")
        return self

    def __exit__(self, exc_type, exc, tb):
        self.log.append(("exit", exc_type, str(exc) if exc is not None else None, tb is not None))
        return self.suppress


def with_statement(suppress, x):
    recorder = Recorder(suppress)
    with recorder as r:
        r.log.append(10 // x)
    return r.log


def with_not_a_manager(x):
    with x:
        return 1


class EnterOnly:
    def __enter__(self):
        return self


def with_missing_exit():
    with EnterOnly():
        return 1


class Counted:
    def __init__(self):
        self.entered = 0
        self.total = 0

    def __enter__(self):
        self.entered += 1
        return self

    def __exit__(self, exc_type, exc, tb):
        return exc_type is ZeroDivisionError

    def add(self, x):
        self.total += 10 // x


def with_in_loop(manager, n):
    for i in range(n):
        with manager as inside:
            inside.add(i % 4 + 1)
    return manager.entered, manager.total


class RaisingEnter(Counted):
    def __enter__(self):
        raise ValueError("no entry")


class StaticEnter(Counted):
    @staticmethod
    def __enter__():
        return "static"


def enter_result(manager):
    with manager as inside:
        return inside


def test_enter_of_a_known_class_is_called_without_a_bound_method():
    """BEFORE_WITH on an instance of a known class calls the class's
    __enter__ function directly (or inlined): the result's kind is known.
    An instance attribute named __enter__ does not count (special methods
    are looked up on the type), a class's __enter__ replaced later is
    honoured, errors and static methods behave as in CPython."""
    for method in (Counted.__enter__, Counted.__exit__, Counted.add):
        psyco.bind(method)
    g = psyco.proxy(with_in_loop)
    assert g(Counted(), 30) == with_in_loop(Counted(), 30)
    assert calls_compiled(g) == 1 and not deopts(g)
    dumped = psyco.dump(g)
    assert "lookup_special" in dumped and "[name='__enter__' message" not in dumped
    assert "value=<function Counted.__enter__" not in dumped  # inlined or called directly, not through the C API
    shadowed = [Counted(), Counted()]
    for manager in shadowed:
        manager.__enter__ = lambda: "instance attribute"
    assert g(shadowed[0], 6) == with_in_loop(shadowed[1], 6)
    for manager in (RaisingEnter(), StaticEnter(), Counted()):
        same(enter_result, manager)
    assert _chain(enter_result, RaisingEnter()) == _chain(psyco.proxy(enter_result), RaisingEnter())

    class Replaced(Counted):
        pass
    h = psyco.proxy(with_in_loop)
    assert h(Replaced(), 4) == with_in_loop(Replaced(), 4)
    Replaced.__enter__ = lambda self: Counted.__enter__(self) and self
    assert h(Replaced(), 4) == with_in_loop(Replaced(), 4)
    Replaced.__enter__ = lambda self: "other"
    assert outcome(h, Replaced(), 2) == outcome(with_in_loop, Replaced(), 2)


@pytest.mark.parametrize("f, args_list", [
    (divide_or_default, [(7, 2), (7, 0), (-7, 2)]),
    (count_failures, [(0,), (1,), (50,)]),
    (match_tuple, [([1, 2], 1), ([1, 2], 5), ({"a": 1}, "b"), ({"a": 1}, "a")]),
    (nested, [(1,), (0,), ("s",)]),
    (finally_return, [(0,), (2,)]),
    (handled_inside_handler, [(0,), (1,)]),
    (reraise_bare, [(0,), (5,)]),
    (reraise_bare_named, [(0,), (5,)]),
    (reraise_bare_in_finally, [(0,)]),
    (raise_from, [("k",)]),
    (raise_from_none, [("k",)]),
    (raise_in_handler, [("k",)]),
    (raise_class, [(1,), (-1,)]),
    (raise_not_an_exception, [(1,), ("text",), (ValueError("ok"),), (int,)]),
    (raise_bad_cause, [(3,), (None,), (KeyError,), (KeyError("k"),)]),
    (raise_class_returning_other, [()]),
    (catch_non_class, [(0,), (1,)]),
    (catch_bad_tuple, [(0,), (1,)]),
    (assert_positive, [(1,), (-1,)]),
    (with_statement, [(False, 1), (False, 0), (True, 0)]),
    (with_not_a_manager, [(3,)]),
    (with_missing_exit, [()]),
])
def test_differential(f, args_list):
    for args in args_list:
        same_compiled(f, *args)


def _chain(f, *args):
    """The exception f raises, with its causes and contexts, as comparable data."""
    try:
        f(*args)
    except Exception as exc:  # noqa: BLE001 - the exception is the outcome
        out = []
        seen: BaseException | None = exc
        while seen is not None:
            out.append((type(seen), str(seen), seen.__suppress_context__,
                        [(fs.name, fs.lineno, fs.line) for fs in traceback.extract_tb(seen.__traceback__)][1:]))
            seen = seen.__cause__ or seen.__context__
        return out
    raise AssertionError(f"{f.__name__}{args} did not raise")


@pytest.mark.parametrize("f, args", [
    (reraise_bare, (0,)), (reraise_bare_named, (0,)), (raise_from, ("k",)), (raise_from_none, ("k",)),
    (raise_in_handler, ("k",)), (raise_class, (1,)), (catch_non_class, (0,)), (with_statement, (False, 0)),
    (with_not_a_manager, (3,)),
])
def test_chaining_and_tracebacks(f, args):
    def call(g):
        return g(*args)

    compiled = psyco.proxy(f)
    assert _chain(call, compiled) == _chain(call, f)
    assert calls_compiled(compiled) > 0


CAUGHT_TRACEBACKS = """
import traceback


def caught(n):
    for i in range(n):
        pass
    try:
        raise ValueError(n)
    except ValueError as exc:
        return exc.__traceback__


def calling(n):
    for i in range(n):
        pass
    return caught(n)


def stack_of(tb):
    return [entry.name for entry in traceback.extract_stack(tb.tb_frame)][-3:]


def closing(a, b):
    def caught_inside(n):
        for i in range(n):
            pass
        try:
            raise ValueError(a + b)
        except ValueError as exc:
            return exc.__traceback__
    return caught_inside
"""


def test_the_frame_of_a_caught_exceptions_traceback_has_its_caller():
    """A stand-in traceback frame has the function's caller as `f_back`
    (traceback.extract_stack, sys._current_exceptions walk it): the frame
    running machine code, or that frame's caller when it is the
    function's own."""
    plain = defined(CAUGHT_TRACEBACKS, bind=False)
    expected = [plain["stack_of"](plain[name](3)) for name in ("caught", "calling")]
    space = defined(CAUGHT_TRACEBACKS, bind=False)
    for name in ("caught", "calling"):
        psyco.bind(space[name])
    for _ in range(3):
        assert [space["stack_of"](space[name](3)) for name in ("caught", "calling")] == expected
    assert calls_compiled(space["caught"]) > 0 and calls_compiled(space["calling"]) > 0


def test_the_variables_of_a_closures_traceback_frame():
    """A stand-in traceback frame shows no variables (see the README), and
    reading them does not take a closure's unset free variables for cells
    (which crashed)."""
    plain = defined(CAUGHT_TRACEBACKS, bind=False)["closing"](1, 2)
    compiled = psyco.proxy(defined(CAUGHT_TRACEBACKS, bind=False)["closing"](1, 2))
    expected = plain(3).tb_frame.f_locals
    for _ in range(3):
        shown = compiled(3).tb_frame.f_locals
        assert shown.items() <= expected.items()
    assert calls_compiled(compiled) > 0


def test_handlers_are_compiled_code():
    compiled = psyco.proxy(count_failures)
    assert compiled(1000) == count_failures(1000)
    assert calls_compiled(compiled) > 0 and not deopts(compiled)
    text = psyco.dump(compiled)
    assert "catch" in text and "push_exc_info" in text and "exc_match" in text


def test_handled_exception_is_restored_after_the_handler():
    def probe(x):
        try:
            1 // x
        except ZeroDivisionError:
            inside = sys.exc_info()[0]
        return inside, sys.exc_info()[0]

    compiled = psyco.proxy(probe)
    try:
        raise KeyError("outer")
    except KeyError:
        assert same(probe, 0) == ("returns", tuple, (ZeroDivisionError, KeyError))
        assert compiled(0) == (ZeroDivisionError, KeyError)
    assert compiled(0) == (ZeroDivisionError, None)


def _reraised_trace(fn, *args):
    """The traceback of a fresh exception `fn` re-raises from inside its handler."""
    try:
        raise KeyError("outer")
    except KeyError:
        try:
            fn(*args)
        except KeyError as e:
            return [(fs.name, fs.line) for fs in traceback.extract_tb(e.__traceback__)]
    raise AssertionError("not re-raised")


def bare_raise_through_finally(log):
    try:
        raise
    finally:
        log.append("cleaned up")


def test_bare_raise_of_a_callers_exception():
    """It re-raises another frame's exception without a traceback entry for
    this function, also through its own finally: the traceback is CPython's."""
    for f, args in ((bare_raise_without_exception, ()), (bare_raise_through_finally, ([],))):
        compiled = psyco.proxy(f)
        same(f, *args)
        try:
            raise KeyError("outer")
        except KeyError as outer:
            with pytest.raises(KeyError) as info:
                compiled(*args)
            assert info.value is outer
        assert _reraised_trace(compiled, *args) == _reraised_trace(f, *args)
        assert calls_compiled(compiled) > 0 and not deopts(compiled)


def test_exceptions_caught_in_loops_do_not_leak():
    compiled = psyco.proxy(count_failures)
    compiled(100)
    gc.collect()
    before = len(gc.get_objects())
    refs_before = sys.getrefcount(ZeroDivisionError)
    assert compiled(200_000) == count_failures(200_000)
    gc.collect()
    assert len(gc.get_objects()) - before < 100
    assert sys.getrefcount(ZeroDivisionError) == refs_before
    assert not deopts(compiled)


def divide_without_handler(x, y):
    return x // y


def _innermost_traceback(f, *args):
    try:
        f(*args)
    except ZeroDivisionError as exc:
        tb = exc.__traceback__
    while tb.tb_next is not None:
        tb = tb.tb_next
    return tb


def _frame_refcount(tb):
    frame = tb.tb_frame
    return sys.getrefcount(frame)


def test_a_raise_in_a_body_without_handlers_leaves_one_traceback_frame_and_no_leak():
    # Such a body keeps no frame slot: the raise's frame is made and
    # handed to the traceback, which alone holds it.
    compiled = psyco.proxy(divide_without_handler)
    assert compiled(7, 2) == 3
    plain, first, second = (_innermost_traceback(f, 7, 0) for f in (divide_without_handler, compiled, compiled))
    assert first.tb_frame is not second.tb_frame
    for tb in (first, second):
        assert (tb.tb_frame.f_code.co_name, tb.tb_lineno) == (plain.tb_frame.f_code.co_name, plain.tb_lineno)
        assert _frame_refcount(tb) == _frame_refcount(plain)
    del plain, first, second, tb
    gc.collect()
    before = len(gc.get_objects())
    for _ in range(20_000):
        try:
            compiled(1, 0)
        except ZeroDivisionError:
            pass
    gc.collect()
    assert len(gc.get_objects()) - before < 100
    assert calls_compiled(compiled) > 0 and not deopts(compiled)


def missing_method(b, a):
    return b.append(a)


def missing_method_caught(b, a):
    try:
        return b.nope(a, 2)
    except AttributeError as exc:
        return exc


def _failed_lookup(f, *args):
    try:
        result = f(*args)
    except AttributeError as exc:
        result = exc
    return traceback.format_exception(result)[-2:]  # the function's entry (with its carets) and the error


def test_a_failed_lookup_of_a_method_called_at_once_is_raised_by_its_load_method():
    # The lookup and the call are one op (call_method) when nothing runs
    # between them; its failed lookup still leaves by the LOAD_METHOD: the
    # traceback's position (its carets under `b.append`) is that one's.
    for f in (missing_method, missing_method_caught):
        compiled = psyco.proxy(f)
        for args in ((2, 1), ("s", 1), (None, 1)):
            assert _failed_lookup(compiled, *args) == _failed_lookup(f, *args)
        assert calls_compiled(compiled) > 0 and not deopts(compiled)


class Holder:
    def __init__(self, fallback):
        self.fallback = fallback


def method_call_in_a_handler(holder, key):
    try:
        return {}[key]
    except KeyError:
        if holder.fallback is not None:
            return holder.fallback.upper()
        return key


def failed_lookup_in_a_handler(obj):
    try:
        try:
            return {}[1]
        except KeyError:
            return obj.nope()
    except AttributeError as exc:
        return str(exc)


def test_a_method_called_in_a_handler_on_an_object_of_unknown_type():
    # Its lookup's error exit goes to the outer handler with the index of
    # the instruction that raised: that constant is defined before the call.
    for fallback in ("x", None):
        same_compiled(method_call_in_a_handler, Holder(fallback), 3)
    for obj in (3, "s", Holder(1)):
        same_compiled(failed_lookup_in_a_handler, obj)


def test_with_statement_releases_its_manager():
    compiled = psyco.proxy(with_statement)
    compiled(True, 0)
    gc.collect()
    before = len(gc.get_objects())
    for _ in range(20_000):
        compiled(True, 0)
        compiled(False, 1)
    gc.collect()
    assert len(gc.get_objects()) - before < 100


class Ledger:
    def __init__(self, totals):
        self.totals = totals
        self.rejected = 0


def post(ledger, line):  # as benchmarks/objects/ledger.py, where a leak was seen
    account, _, amount = line.partition(":")
    try:
        value = int(amount)
    except ValueError:
        ledger.rejected += 1
        return 0
    try:
        ledger.totals[account] += value
    except KeyError:
        ledger.rejected += 1
        return 0
    return value


def test_values_live_across_handlers_are_released():
    """Every object allocated in a call is freed (allocated blocks, not
    only objects the collector tracks: strings and ints too), on the path
    that raises nothing as on those that catch."""
    compiled = psyco.proxy(post)
    lines = ["a:7000", "a:n/a", "b:3", "a:-12345"]
    for line in lines:
        assert compiled(Ledger({"a": 0}), line) == post(Ledger({"a": 0}), line)
    ledger = Ledger({"a": 0})
    for line in lines * 10:
        compiled(ledger, line)
    before = sys.getallocatedblocks()
    for _ in range(5_000):
        for line in lines:
            compiled(ledger, line)
    assert sys.getallocatedblocks() - before < 500
    assert ledger.rejected == 2 * 5_010 and ledger.totals["a"] == (7000 - 12345) * 5_010
    assert calls_compiled(compiled) > 0 and not deopts(compiled)


def bound_in_try(items):
    bad = 0
    last = None
    for s in items:
        try:
            v = int(s)  # `v` is bound on one path to the loop head only: dead there
            last = v
        except ValueError:
            bad += 1
    return bad, last


def handler_reads_the_value_before(xs):
    seen = []
    for x in xs:
        y = -1
        try:
            y = 10 // x  # when x == 0 the handler must see y == -1
            y = y + 1
        except ZeroDivisionError:
            seen.append(y)
        seen.append(y)
    return seen


def maybe_unbound(items):
    for s in items:
        try:
            v = int(s)
        except ValueError:
            pass
    return v  # noqa: F821 - unbound when no item parses, as in CPython


def test_locals_bound_on_some_paths_through_handlers():
    same_compiled(bound_in_try, ["1", "x", "3", "y"])
    same_compiled(bound_in_try, ["x", "x"])
    same_compiled(handler_reads_the_value_before, [5, 0, 2, 0])
    for items in (["1", "x"], ["x", "2"], ["x"], []):
        same(maybe_unbound, items)


def method_of_the_wrong_type(t, a):
    t.replace("l", repr(a))
    for _ in range(2):
        pass


def test_a_failed_method_lookup_is_raised_by_its_load_method():
    # Compiled code looks the method up when it must (before repr runs);
    # the traceback's instruction (its caret) is still the lookup's.
    compiled = psyco.proxy(method_of_the_wrong_type)
    compiled("x", 1)
    positions = []
    for f in (method_of_the_wrong_type, compiled):
        with pytest.raises(AttributeError) as raised:
            f(3, 1)
        last = traceback.extract_tb(raised.value.__traceback__)[-1]
        positions.append((last.lineno, last.colno, last.end_colno))
    assert positions[0] == positions[1]
    assert calls_compiled(compiled) > 1


def walrus_in_arguments(t):
    x = 0
    try:
        t.replace((x := 5), len(str(t)))
    except AttributeError:
        return x
    return -1


@pytest.mark.parametrize("t", [3, "abc"])
def test_a_failed_method_lookup_precedes_a_walrus_in_its_arguments(t):
    same_compiled(walrus_in_arguments, t)


RETURNED = 0


def returns_a_tuple_after_handlers(b):
    global RETURNED
    RETURNED = 0
    out = []
    for _ in range(4):
        try:
            try:
                out.append(str(2.5).replace("x", str(len(out))))
            except AttributeError:
                out.append("handled")
            out.append(str(b).upper().split(",")[:3])
        except (TypeError, ValueError) as e:
            out.append((type(e).__name__, str(e)))
    return out, RETURNED


def test_the_returned_value_is_made_where_the_function_returns():
    # The tuple returned is built once every return site is known, after the
    # handlers were compiled: its error exit belongs to the return, not to
    # the last instruction compiled (which made invalid code).
    same_compiled(returns_a_tuple_after_handlers, "x,y")


def caught_and_returned(x):
    try:
        return 1 / x
    except ZeroDivisionError as e:
        return e


def test_each_call_has_its_own_traceback_frame():
    # The frame a traceback entry of compiled code holds was one per
    # version: an older traceback's frame showed the latest raise.
    for f in (caught_and_returned, psyco.proxy(caught_and_returned)):
        first, second = f(0), f(0)
        assert first.__traceback__.tb_frame is not second.__traceback__.tb_frame
        assert first.__traceback__.tb_frame.f_code.co_name == "caught_and_returned"
    assert calls_compiled(f) > 0
