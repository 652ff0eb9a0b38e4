"""The public API, the runtime's promises: misuse, tracing, recursion,
threads, signals, reference counts."""

import builtins
import os
import pickle
import signal
import subprocess
import sys
import textwrap
import threading
import traceback
import types
import warnings

import pytest

import psyco
from psyco import kinds
from psyco.runtime import jit
from tests.differential import calls_compiled, same


def add(a, b):
    return a + b


def spin(n):
    total = 0
    for i in range(n):
        total += i % 3
    return total


def countdown(n):
    if n == 0:
        return 0
    return countdown(n - 1) + 1


def gen(n):
    yield n


def test_bind_rejects_builtins_and_non_functions():
    with pytest.raises(TypeError, match="builtin"):
        psyco.bind(len)
    with pytest.raises(TypeError, match="expected a Python function"):
        psyco.bind(42)


def test_generator_function_warns_and_still_works():
    def local_gen(n):
        yield n * 2

    with pytest.warns(psyco.PsycoWarning, match="local_gen"):
        bound = psyco.bind(local_gen)
    assert list(bound(4)) == [8]


def test_bind_as_decorator_and_unbind():
    def twice(x):
        return 2 * x

    original = twice.__code__
    assert psyco.bind(twice) is twice
    assert twice.__code__ is not original
    assert twice(21) == 42 and calls_compiled(twice) > 0
    psyco.unbind(twice)
    assert twice.__code__ is original and twice(4) == 8


def test_proxy_leaves_the_original_untouched():
    original = spin.__code__
    p = psyco.proxy(spin)
    assert spin.__code__ is original
    assert p(1000) == spin(1000) and calls_compiled(p) > 0


def by_value_copy(f):
    """f rebuilt from a pickle of its code's constants, as a by-value pickle
    of a function (cloudpickle's, dill's) rebuilds it."""
    consts = pickle.loads(pickle.dumps(f.__code__.co_consts))
    return types.FunctionType(f.__code__.replace(co_consts=consts), f.__globals__, f.__name__, f.__defaults__)


def test_a_function_psyco_took_over_pickles_by_value():
    def summed(n):
        total = 0
        for i in range(n):
            total += i
        return total

    def negated(n):
        total = 0
        for i in range(n):
            total -= i
        return total

    # the dispatcher is pickled by its code's name: one object has
    negated.__code__ = negated.__code__.replace(co_name="__eq__")
    for f in (summed, negated):
        psyco.bind(f)
        copy = by_value_copy(f)  # its trampoline, before machine code
        assert f(1000) == copy(1000) != 0 and calls_compiled(f) > 0
        copy = by_value_copy(f)  # with its dispatcher
        assert copy(10) == f(10) and copy(2000) == f(2000)


def test_cannotcompile():
    def never(x):
        return x + 1

    psyco.cannotcompile(never)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", psyco.PsycoWarning)
        psyco.bind(never)
    assert never(1) == 2 and calls_compiled(never) == 0


def test_report_and_dump():
    p = psyco.proxy(spin)
    p(10)
    rows = [r for r in psyco.report() if r["function"] == "spin"]
    assert rows and rows[0]["versions"][0]["entry_kinds"] == ["Int"]
    assert "spin" in psyco.format_report()
    assert "function spin" in psyco.dump(p)


def test_a_version_for_direct_calls_is_finished_only_when_needed():
    """A version compiled for direct calls gets its reference counting and
    LLVM module when a caller or the dispatcher needs them (or dump() shows
    it): callers judged not worth compiling leave theirs unfinished."""
    def helper(n):
        return n * 3 + 1

    entry = jit.CodeEntry.for_code(helper.__code__)
    version = jit.compile_version(entry, (kinds.INT,), helper.__globals__, builtins.__dict__, direct=True)
    assert version is not None and version.ir_text == "" and not version.lowered
    assert "imul" in psyco.dump(helper) and version.ir_text and not version.lowered
    assert version.native_body() and version.lowered


def describe(items):
    return ", ".join(str(x) for x in items)


def test_codegen_effort_follows_the_native_work():
    """Loops and recursion on native values get optimized machine code;
    code that mostly calls the C API gets quick codegen (same results)."""
    def versions(f):
        return [v for r in psyco.report() if r["function"] == f.__name__ for v in r["versions"]]

    for f, args, optimized in ((spin, (100,), True), (countdown, (20,), True), (describe, ([1, "a"],), False)):
        assert same(f, *args)[0] == "returns"
        got = [v["optimized"] for v in versions(f)]
        assert got and all(o == optimized for o in got), (f.__name__, got)
    assert "(quick codegen)" in psyco.format_report()


def test_tracing_runs_interpreted():
    p = psyco.proxy(spin)
    p(5)
    lines = []

    def tracer(frame, event, arg):
        if frame.f_code.co_name == "spin" and event == "line":
            lines.append(frame.f_lineno)
        return tracer

    calls_before = calls_compiled(p)
    sys.settrace(tracer)
    try:
        result = p(3)
    finally:
        sys.settrace(None)
    assert result == spin(3)
    assert len(lines) > 3  # the tracer saw the body, line by line
    assert calls_compiled(p) == calls_before


def test_recursion_limit_is_honoured():
    p = psyco.proxy(countdown)
    assert p(50) == 50
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(400)
    try:
        with pytest.raises(RecursionError):
            p(10_000)
        assert p(100) == 100
    finally:
        sys.setrecursionlimit(limit)


def test_threads_share_compiled_code():
    p = psyco.proxy(spin)
    results = {}

    def work(k):
        results[k] = p(20000 + k)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == {k: spin(20000 + k) for k in range(4)}


def test_ctrl_c_interrupts_a_compiled_loop():
    script = textwrap.dedent("""
        import _thread, signal, threading, psyco
        # as python sets it up, even when started with SIGINT ignored (in
        # the background of a shell without job control)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        def forever():
            i = 0
            while True:
                i = (i + 1) % 1000
        threading.Timer(0.5, _thread.interrupt_main).start()
        try:
            psyco.proxy(forever)()
        except KeyboardInterrupt:
            print("interrupted")
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "interrupted", out.stderr


def _compile_dropping(monkeypatch: pytest.MonkeyPatch, exc_type: type) -> None:
    """Make every compile drop an object whose finalizer raises `exc_type`
    (a compile drops many LLVM objects, whose finalizers run Python code)."""
    class RaisesWhenFinalized:
        def __del__(self):
            raise exc_type("raised in a finalizer")

    generate = jit._generate

    def generate_dropping(*args, **kwargs):
        RaisesWhenFinalized()
        return generate(*args, **kwargs)

    monkeypatch.setattr(jit, "_generate", generate_dropping)


def _compile_signalling(monkeypatch: pytest.MonkeyPatch, signum: int) -> None:
    """Make every compile receive the signal `signum` half way."""
    generate = jit._generate

    def generate_signalled(*args, **kwargs):
        signal.raise_signal(signum)
        return generate(*args, **kwargs)

    monkeypatch.setattr(jit, "_generate", generate_signalled)


def _fresh_loop():
    """A function no compile has seen yet (a code object of its own)."""
    namespace = {}
    exec("def loop(n):\n    return sum(i % 3 for i in range(n)) + n", namespace)
    return namespace["loop"]


@pytest.mark.parametrize("signum, raising, expected", [
    (signal.SIGALRM, TimeoutError("took too long"), TimeoutError),  # a handler's timeout (an OSError)
    (signal.SIGINT, None, KeyboardInterrupt),  # Ctrl-C, python's own handler
])
def test_a_signal_during_a_compile_raises_at_the_call(monkeypatch, signum, raising, expected):
    """The handler runs once the compile is over (not inside psyco, whose
    code or llvmlite's would take its exception for a failure of their
    own), with the program's frame; what it raises is raised at the call."""
    frames = []

    def handler(signum, frame):
        frames.append(frame)
        raise raising

    previous = signal.signal(signum, handler) if raising is not None else signal.getsignal(signum)
    loop = _fresh_loop()
    try:
        _compile_signalling(monkeypatch, signum)
        with pytest.raises(expected) as raised:
            psyco.proxy(loop)(10)
    finally:
        signal.signal(signum, previous)
    own = os.path.dirname(psyco.__file__)
    assert [f.name for f in traceback.extract_tb(raised.tb) if f.filename.startswith(own)] == []
    assert [f.lineno for f in traceback.extract_tb(raised.tb) if f.name == "loop"] == [1]  # its `def` line
    assert all(f is not None and not f.f_code.co_filename.startswith(own) for f in frames)
    assert len(frames) == (raising is not None)
    monkeypatch.undo()
    assert psyco.proxy(loop)(10) == loop(10) and jit.CodeEntry.lookup(loop.__code__).versions  # compiled later


def test_a_signal_handler_that_returns_runs_once_after_the_compile(monkeypatch):
    seen = []
    previous = signal.signal(signal.SIGALRM, lambda signum, frame: seen.append(jit._COMPILING.active))
    loop = _fresh_loop()
    try:
        _compile_signalling(monkeypatch, signal.SIGALRM)
        assert psyco.proxy(loop)(10) == loop(10)
    finally:
        signal.signal(signal.SIGALRM, previous)
    assert seen == [False]
    assert signal.getsignal(signal.SIGALRM) is previous


def test_other_finalizer_errors_during_a_compile_are_reported_as_usual(monkeypatch):
    def loop(n):
        return sum(i % 3 for i in range(n)) - n

    reported = []
    monkeypatch.setattr(sys, "unraisablehook", reported.append)
    _compile_dropping(monkeypatch, ValueError)
    assert psyco.proxy(loop)(10) == loop(10)
    assert [type(u.exc_value) for u in reported] == [ValueError]
    assert sys.unraisablehook == reported.append


def test_reference_counts_balance():
    values = [[1, 2], 2.5, 2**70, "text", None]
    p = psyco.proxy(add)
    for v in values:
        other = v if not isinstance(v, list) else [3]
        if v is None:
            continue
        before = sys.getrefcount(v)
        for _ in range(200_000):
            p(v, other)
        assert sys.getrefcount(v) == before, type(v)


def test_memory_stays_flat_over_a_million_calls():
    def statm():
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * 4096

    p = psyco.proxy(add)
    p(1.5, 2.5)
    start = statm()
    for i in range(1_000_000):
        p(1.5, i)
    assert statm() - start < 8 * 2**20


def test_differential_after_warm_up_on_other_kinds():
    p = psyco.proxy(add)
    for _ in range(100):
        p(1, 2)
    for a, b in [(1.5, 2), ("a", "b"), (2**63, 1), ([1], [2]), (True, True)]:
        same(add, a, b, compiled=p)


NAMESPACE_SOURCE = '''
G = "unset"


def rebind(v):
    global G
    G = v


def f(v):
    rebind(v)
    return G + "!"


def fails(n):
    total = 0
    for i in range(n):
        total += 10 // (n - i - 1)
    return total
'''


def test_equal_code_objects_in_two_namespaces_are_two_functions():
    # The same source compiled twice (a script also imported as a module,
    # two files with the same function at the same line) makes code
    # objects that compare equal: compiled code of one must not run for
    # the other, whose globals (and file) differ.
    first, second = {}, {}
    exec(compile(NAMESPACE_SOURCE, "first.py", "exec"), first)
    exec(compile(NAMESPACE_SOURCE, "second.py", "exec"), second)
    assert first["f"].__code__ == second["f"].__code__
    psyco.bind(first["rebind"])
    for _ in range(3):
        first["rebind"]("first")
    compiled = psyco.proxy(second["f"])
    assert [compiled("a"), compiled("b")] == ["a!", "b!"]
    assert first["G"] == "first"
    for namespace, filename in ((first, "first.py"), (second, "second.py")):
        psyco.bind(namespace["fails"])
        with pytest.raises(ZeroDivisionError) as raised:
            namespace["fails"](3)
        tb = raised.value.__traceback__
        while tb.tb_next is not None:
            tb = tb.tb_next
        assert tb.tb_frame.f_code.co_filename == filename


def test_a_handler_raising_as_signals_are_being_deferred_leaves_none_deferred(monkeypatch):
    """A signal handler can run (and raise) while the deferral replaces the
    handlers: the deferral is then undone, not left half in place (later
    compiles ran handlers inside the compiler, and handlers replaced by the
    deferral's were never put back)."""
    previous = {s: signal.getsignal(s) for s in (signal.SIGALRM, signal.SIGUSR1)}
    signal.signal(signal.SIGALRM, lambda signum, frame: None)
    signal.signal(signal.SIGUSR1, lambda signum, frame: None)
    installed = {s: signal.getsignal(s) for s in previous}
    real = jit._signal

    class Interrupting:
        def getsignal(self, signum):
            if signum == signal.SIGUSR1:
                raise KeyboardInterrupt  # as SIGINT's handler would, arriving here
            return real.getsignal(signum)

        def signal(self, signum, handler):
            return real.signal(signum, handler)

    monkeypatch.setattr(jit, "_signal", Interrupting())
    try:
        with pytest.raises(KeyboardInterrupt):
            with jit.SIGNALS_DEFERRED:
                pass
        monkeypatch.setattr(jit, "_signal", real)
        assert jit.SIGNALS_DEFERRED.depth == 0
        assert {s: signal.getsignal(s) for s in previous} == installed
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


class _Timeout(Exception):
    pass


def _fresh_sums_or_timeouts():
    """A function no compile has seen yet: `v + 1` for each value, or
    "timeout" where _Timeout was raised."""
    namespace = {"_Timeout": _Timeout}
    exec(textwrap.dedent("""
        def sums_or_timeouts(values):
            out = []
            for v in values:
                try:
                    out.append(v + 1)
                except _Timeout:
                    out.append("timeout")
            return out
    """), namespace)
    return namespace["sums_or_timeouts"]


def test_a_signal_while_a_version_is_retired_raises_in_the_function(monkeypatch):
    """A handler that raises while psyco retires a version whose guard got
    hot (its Python callback, called by the deopt) raised a SystemError
    ("returned a result with an exception set"), the version half retired;
    now its exception is raised in the resumed frame, inside the function's
    own try."""
    retire = jit.CodeEntry.hot_exit

    def hot_exit_signalled(self, version, site):
        signal.raise_signal(signal.SIGALRM)  # arrives while psyco works
        retire(self, version, site)

    def on_alarm(signum, frame):
        raise _Timeout

    previous = signal.signal(signal.SIGALRM, on_alarm)
    try:
        compiled = psyco.proxy(_fresh_sums_or_timeouts())
        assert compiled(list(range(50))) == list(range(1, 51))
        monkeypatch.setattr(jit.CodeEntry, "hot_exit", hot_exit_signalled)
        floats = [i + 0.5 for i in range(50)]
        runs = [compiled(floats) for _ in range(jit.HOT_LOOP_EXIT_THRESHOLD + 2)]  # one deopt each
    finally:
        signal.signal(signal.SIGALRM, previous)
    expected = [x + 1 for x in floats]
    timed_out = [run for run in runs if run != expected]
    assert len(timed_out) == 1
    assert timed_out[0][0] == "timeout" and timed_out[0][1:] == expected[1:]  # at the first item, caught


def test_a_signal_while_a_deopt_rebuilds_the_frame_raises_in_the_function(monkeypatch):
    """The same for a handler raising while the deopt's recipe (Python)
    makes the frame's values: it raised from the exit, past the function's
    own try."""
    from psyco import resume

    build_object = resume._BUILD["obj"]

    def build_object_signalled(words, i):
        signal.raise_signal(signal.SIGALRM)  # arrives while psyco works
        return build_object(words, i)

    def on_alarm(signum, frame):
        raise _Timeout

    compiled = psyco.proxy(_fresh_sums_or_timeouts())
    assert compiled(list(range(50))) == list(range(1, 51))
    previous = signal.signal(signal.SIGALRM, on_alarm)
    monkeypatch.setitem(resume._BUILD, "obj", build_object_signalled)
    try:
        got = compiled([i + 0.5 for i in range(50)])
    finally:
        monkeypatch.setitem(resume._BUILD, "obj", build_object)
        signal.signal(signal.SIGALRM, previous)
    assert got == ["timeout"] + [i + 1.5 for i in range(1, 50)]
