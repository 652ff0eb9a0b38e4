"""The runtime: per-code-object version tables, compiling, rebinding.

A `CodeEntry` exists for every code object psyco has taken over.  It owns
the trampoline (the code object functions run instead of the original),
the dispatcher builtin the trampoline calls once there is machine code,
and the compiled versions.  Compilation is triggered from the trampoline,
or the dispatcher, when no version accepts the arguments' kinds
(`CodeEntry.on_miss`), runs under one lock, and is the pipeline:
specialize -> refcount -> verify -> backend.
"""

from __future__ import annotations

import _signal  # the signal module's C functions: no enum conversions (an exception for each handler)
import _thread
import atexit
import contextlib
import ctypes
import functools
import itertools
import math
import operator
import os
import sys
import threading
import time
import types
import weakref
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, TypeVar

from psyco import ir, kinds, resume
from psyco.abi import current as abi
from psyco.frontend import decode, has_loops, is_comprehension
from psyco.kinds import Kind
from psyco.own_builtins import BUILTINS, ORIGINAL_BUILTINS
from psyco.own_imports import STDLIB_IMPORTS
from psyco.records import field, record
from psyco.runtime.native import COMPILE_HEADROOM, MAX_VERSIONS, DispatchTable, make_dispatcher, watch_class_assignments
from psyco.specializer import AV, CannotSpecialize, ReadsTheFrame, Request, Result, Specializer

__builtins__ = BUILTINS  # psyco calls the builtins it was imported with (see own_builtins)

# The stages that make machine code (refcount, backend, llvm_text) are
# imported by the functions that run them, with the first version: a
# program psyco compiles nothing for, or only judges, never pays their import.
if TYPE_CHECKING:
    from psyco import backend, llvm_text


class _Answer:
    """What on_miss and the dispatcher answer a trampoline.  A by-value
    pickle of a function (cloudpickle's, dill's) carries its trampoline's
    constants: these pickle by name, the others as stand-ins that run
    every call interpreted (`_Asking`, native._TableAddress)."""

    def __init__(self, name: str, text: str) -> None:
        self.name, self.text = name, text

    def __repr__(self) -> str:
        return self.text

    def __reduce__(self) -> str:
        return self.name


SENTINEL = _Answer("SENTINEL", "<psyco: run interpreted>")
RETRY = _Answer("RETRY", "<psyco: retry>")


def interpret(*args: object) -> object:
    """What a trampoline unpickled from a by-value pickle of a function asks
    and dispatches to: the call runs interpreted."""
    return SENTINEL


def interpret_stand_in() -> Callable[..., object]:
    """What a trampoline's `ask` unpickles as."""
    return interpret


class _Asking(functools.partial):
    """A trampoline's `ask`: partial(CodeEntry.on_miss, entry), called
    without a frame of its own (on_miss takes its caller's frame for the
    trampoline's), unpickled as `interpret` (the entry does not pickle)."""

    __slots__ = ()

    def __reduce__(self) -> tuple:
        return interpret_stand_in, ()


class AnyAttributeInterprets:
    """What a dispatcher's `self` unpickles as: the dispatcher is pickled as
    getattr(self, its name), which must give `interpret` whatever the name
    (`__eq__` included)."""

    def __getattribute__(self, name: str) -> Callable[..., object]:
        return interpret


MAX_COMPILED_VERSIONS = 4  # per code object; past it, the interpreter
HOT_EXIT_THRESHOLD = 50  # deopts of one exit before a more general version
# The same for an exit inside a loop: each use runs the rest of the loop
# interpreted (run_batch in benchmarks/apps left its loop at the first
# record of each of its 40 calls).
HOT_LOOP_EXIT_THRESHOLD = 4
GIVE_BACK_AFTER = 8  # calls in a row not worth compiling before full() gives a function back
# Under full(), a function without loops is compiled once called this many
# times: compiling takes 5-50 ms, which a small function's calls win back
# only if there are thousands of them (functions with loops are compiled
# at their first call: without on-stack replacement, a long-running first
# call would otherwise stay interpreted; unless that call's loops are known
# to run briefly: `_awaiting_brief_payback`, `_runs_briefly`).
LOOP_FREE_CALLS = 10_000
# ... and only once its calls so far, times its native operations beyond
# what entering costs (LOOP_FREE_ENTRY_NATIVE), reach this
# (`calls_to_pay_back`): a native operation saves about 10 ns per call over
# the interpreter's boxed arithmetic, so a million of them win back a
# typical 3-15 ms compile of a small function.  A function called as often
# again is the bet, as for LOOP_FREE_CALLS.
LOOP_FREE_PAYBACK = 1_000_000
# full()'s compile-time budget: the first FREE_COMPILES outermost compiles
# (with the callees compiled inside them), then COMPILE_SHARE of the time
# since psyco started.  Past it, a function due for compiling waits until
# it has been called as many times again (and so on, doubling).  A program
# made of many functions that each run briefly (a test suite) stays near
# its interpreted speed; a program whose work is in a few hot functions
# compiles them all at once, on a slow machine too.
FREE_COMPILES = 8
COMPILE_SHARE = 0.1
# Calls run interpreted, without asking on_miss, after a call on_miss could
# not compile for (kinds refused, versions capped): doubled at each such
# call up to this, so the cost of asking stays a small share of such calls.
MAX_MISS_BACKOFF = 64
MAX_SKIP = 1 << 40  # the doubling past the compile budget stops here (the table holds an int64)
COMPILE_LOCK = threading.RLock()
# os.fork() waits for a compile under way on another thread (as it waits for
# an import): the child would find the lock held for good, and LLVM half way.
os.register_at_fork(before=COMPILE_LOCK.acquire, after_in_parent=COMPILE_LOCK.release,
                    after_in_child=COMPILE_LOCK.release)
COMPILE_WAIT_SECONDS = 2.0  # far longer than a compile takes


@contextlib.contextmanager
def _unless_busy() -> Iterator[bool]:
    """COMPILE_LOCK, unless another thread holds it for more than
    COMPILE_WAIT_SECONDS (then False): a call that finds another thread
    compiling waits for its machine code, but not for good (the compiling
    thread may be importing a module this thread is importing: each
    waits for the other); it then runs interpreted, and a later call
    compiles."""
    free = COMPILE_LOCK.acquire(timeout=COMPILE_WAIT_SECONDS)
    try:
        yield free
    finally:
        if free:
            COMPILE_LOCK.release()


# Trampoline skip gates (`abi.make_trampoline`): an exhausted one lets the
# call on, one that never ends runs every call interpreted.
_OPEN_GATE = iter(())
_CLOSED_GATE = itertools.repeat(None)
# No compiling once the program has ended (set under COMPILE_LOCK by
# `_let_go_at_exit`): a flag, not a threading.Event, whose set() calls the
# builtins the program may have replaced or deleted by then.
_PROGRAM_ENDED = types.SimpleNamespace(ended=False)
# Exits counted for the report but never retiring their version: tracing
# turned on (sys.settrace) is the program's doing, and it is turned off again.
NEVER_HOT = {"tracing"}
# Guards whose site the specializer can compile without the assumption.
GENERALIZABLE = {
    "overflow", "global rebound", "undefined global", "result kind", "callee result kind",
    "int too large for exact true division", "int too large to compare exactly", "operand kind",
    "method lookup", "result type", "class changed", "container kind", "attribute type", "item type",
    "attribute lookup", "float power",
}


@record(eq=False)
class DeferredCode:
    """What a version's machine code is made from: its IR function, its
    lowering to LLVM and, once written (`_write_module`), its LLVM module.
    The lowering is set up when first needed: a program whose versions are
    all judged not worth compiling never imports the back end."""

    fn: ir.Function
    make_codegen: Callable[[], backend.VersionCodegen]
    entry_name: str
    owner: CodeEntry  # whose dispatcher enters the version once it is made
    module: llvm_text.Module | None = None
    lowering: backend.VersionCodegen | None = None

    @property
    def codegen(self) -> backend.VersionCodegen:
        if self.lowering is None:
            self.lowering = self.make_codegen()
        return self.lowering


@record(eq=False)
class Version:
    """One compiled version of a code object, for one tuple of entry kinds."""

    entry_kinds: tuple[Kind, ...]
    return_kind: Kind
    param_types: tuple[str, ...]
    body_name: str
    globals: dict  # the namespace its global reads and writes were compiled for
    entry_address: int = 0  # once its machine code is made: the dispatcher calls it there
    body_address: int = 0  # ... and direct calls from later versions go there
    body_copy: backend.InlinableBody | None = None  # once its module is written: see `inlinable`
    compile_seconds: float = 0.0
    ir_text: str = ""
    function: str = ""  # the qualified name of its code
    inlined: tuple[str, ...] = ()  # the callees whose bodies LLVM inlined into it, once per call site
    keepalive: list[object] = field(default_factory=list)
    exit_reasons: list[str] = field(default_factory=list)
    exit_counts: ctypes.Array | None = None
    calls: ctypes.c_int64 = field(default_factory=ctypes.c_int64)
    active: bool = True
    optimized: bool = True  # machine code from optimized (not quick) codegen
    # Called natively by compiled callers, it runs in their frame: not when it
    # calls unknown code, which may look at its frame (warnings, logging).
    direct_callable: bool = True
    # Compiled for direct calls, its machine code (and maybe its LLVM
    # module) not made yet: LLVM is most of a compile, a small version
    # called from optimized callers that copy its body may never run its
    # own (see `native_body`), and one compiled along with a caller that
    # turns out not worth compiling is not needed at all.
    deferred: DeferredCode | None = None
    stats_slot: int = -1  # its entry in STATS["compile_times"]
    generalized: frozenset[tuple[int, str]] = frozenset()  # the guard sites compiled without their assumption
    work: tuple[int, int] = (0, 0)  # (native, generic) of its call tree: `call_tree_work`
    recursive: bool = False  # it calls itself
    attribute_guesses: dict[int, tuple[type, str]] = field(default_factory=dict)  # see Result

    @property
    def compiled(self) -> bool:
        """Finished compiling (not the stand-in of a version being compiled
        that its recursive calls get), its machine code made or deferred."""
        return bool(self.entry_address) or self.deferred is not None

    @property
    def lowered(self) -> bool:
        """Whether its LLVM module was written: for its machine code, or
        for optimized callers to copy its body."""
        return self.deferred is None or self.deferred.module is not None

    def native_body(self) -> int:
        """The address of its body's machine code, made now if deferred."""
        if self.deferred is not None:
            _finish_deferred(self, machine_code=True)
        return self.body_address

    @property
    def inlinable(self) -> backend.InlinableBody | None:
        """Its body as optimized callers copy it, if small enough (its
        module written now if deferred)."""
        if self.deferred is not None and self.deferred.module is None:
            _finish_deferred(self, machine_code=False)
        return self.body_copy

    def serves(self, entry_kinds: tuple[Kind, ...], globals_: dict) -> bool:
        """Whether a call with these entry kinds, of a function with these
        globals, can run this version."""
        return self.active and self.entry_kinds == entry_kinds and self.globals is globals_

    def __repr__(self) -> str:
        return f"<version {self.body_name} ({', '.join(map(str, self.entry_kinds))}) -> {self.return_kind}>"

    def deopts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        if self.exit_counts is not None:
            for reason, n in zip(self.exit_reasons, self.exit_counts):
                if n:
                    out[reason] = out.get(reason, 0) + n
        return out


class CodeEntry:
    """Everything psyco holds for one code object."""

    # id of the original code object and of the trampoline -> entry (which
    # keeps both alive).  By identity: equal code objects (the same source
    # compiled twice, in two modules or two files) are different functions.
    by_code: dict[int, CodeEntry] = {}

    def __init__(self, code: types.CodeType) -> None:
        self.code = code
        self.versions: list[Version] = []
        # Versions made for compiled callers (which copy or call them) that
        # the interpreter's calls would not pay for: out of `versions`,
        # never entered by the dispatcher, kept for the report.
        self.callers_only: list[Version] = []
        self.not_compiled: dict[tuple[Kind, ...], str] = {}
        self.not_worth: set[tuple[Kind, ...]] = set()  # entry kinds for which compiling would not pay
        self.awaiting: dict[tuple[Kind, ...], str] = {}  # entry kinds whose compile pays after more calls, why
        self.refused_seconds = 0.0  # spent on compiles that made no version
        self.sampled: set[tuple[Kind, ...]] = set()  # entry kinds compiled with sample arguments
        self.refused_in_a_row = 0
        # Refused for good: it looks at its own frame, or compiling it failed
        # (a bug in psyco): under full(), its code goes back at once.
        self.refused_for_good = False
        self.reason: str | None = None  # why no version can ever be compiled
        self.generalized: set[tuple[int, str]] = set()
        self.seen_types: dict[int, object] = {}  # per argument: its one kind so far (general), None once several
        self.misses = 0  # calls that found no version, skipped ones included
        self.compile_threshold = 1
        self.miss_backoff = 1
        # Waiting to be compiled because its loops ran briefly: how many
        # items the containers passed to that call held (`_items_passed`).
        # A call passing over twice as many is judged at once (its loops
        # may run long), and the calls skipped without asking are few
        # (`_skip_waiting`).
        self.brief_items: int | None = None
        # Taken over by full()/profile() rather than asked for with bind():
        # psyco may then decide interpreted callers are better off without it.
        self.whole_program = False
        self._on_miss_method = self.on_miss  # the dispatcher holds its address
        self.table = DispatchTable()
        self.table.on_miss = id(self._on_miss_method)
        self.table.sentinel = id(SENTINEL)
        self.table.retry = id(RETRY)
        # The native dispatcher, made with the first machine code: until
        # then the trampoline's skip gate counts the calls to skip and it
        # asks on_miss itself, so that a program nothing is compiled for
        # never loads LLVM.
        self.dispatcher: object | None = None
        self._method_def: object | None = None
        self.trampoline = abi.make_trampoline(code, {
            "native": False, "skip_gate": _OPEN_GATE, "ask": _Asking(CodeEntry.on_miss, self),
            "dispatcher": None, "sentinel": SENTINEL, "retry": RETRY,
        })
        CodeEntry.by_code[id(code)] = self
        CodeEntry.by_code[id(self.trampoline)] = self

    @classmethod
    def lookup(cls, code: types.CodeType) -> CodeEntry | None:
        return cls.by_code.get(id(code))

    @classmethod
    def for_code(cls, code: types.CodeType) -> CodeEntry:
        entry = cls.by_code.get(id(code))
        return entry if entry is not None else cls(code)

    def entry_kinds_for(self, arg_kinds: Iterable[Kind], record: bool = True) -> tuple[Kind, ...]:
        """The entry kinds to compile for: an object argument's exact type
        specializes a version while that argument keeps one type; once it
        has been seen with several, versions take any object there (and
        do not guess its type).  `record`: count these kinds as seen (an
        object of unknown type, which a compiled caller passes, is no
        evidence of another type)."""
        out = []
        for i, k in enumerate(arg_kinds):
            general = k.general()
            seen = self.seen_types.get(i, general)
            if record and not (isinstance(k, kinds.ObjectKind) and k.cls is None):
                self.seen_types[i] = seen = seen if seen == general else None
            if isinstance(k, kinds.ObjectKind) and (seen is None or seen != general):
                k = kinds.MIXED
            out.append(k)
        return tuple(out)

    @property
    def label(self) -> str:
        return f"{self.code.co_qualname} ({self.code.co_filename}:{self.code.co_firstlineno})"

    def disable(self, reason: str) -> None:
        self.reason = reason
        self.table.disabled = 1
        if self.dispatcher is None:
            abi.set_trampoline_const(self.trampoline, "skip_gate", _CLOSED_GATE)

    def let_go(self) -> None:
        """Drop the versions and what was learned of the arguments (kinds
        hold the program's classes, versions its namespaces): for a disabled
        entry, whose machine code nothing enters any more."""
        self.versions = []
        self.callers_only = []
        self.seen_types.clear()
        self.not_compiled.clear()
        self.not_worth.clear()
        self.awaiting.clear()
        self.sampled.clear()

    # -- called by the dispatcher when no version fits -----------------------
    def on_miss(self, *args: object) -> object:
        if _ANSWERING.depth:  # (an attribute, not .active: no frame, this may be the last the limit allows)
            return SENTINEL  # called by what psyco's own work ran (an audit hook, a finalizer): interpreted
        try:
            try:
                if abi.recursion_headroom() < COMPILE_HEADROOM:
                    return SENTINEL  # compiling would raise the program a RecursionError of its own
            except (RecursionError, ctypes.ArgumentError):  # at the limit (ctypes wraps the RecursionError)
                return SENTINEL
            with SIGNALS_DEFERRED, _ANSWERING:
                return self._answer(args, abi.calling_frame())
        except BaseException as exc:  # a signal handler's (the only ones _answer lets out), raised at the call
            exc.with_traceback(_without_own_frames(exc.__traceback__))
            raise

    def _answer(self, args: tuple, frame: types.FrameType) -> object:
        try:
            answer = self._on_miss(args, frame)
        except RecursionError:  # called deep in the program's recursion: later
            return SENTINEL
        except Exception as exc:
            self.disable(f"internal error: {type(exc).__name__}: {exc}")  # never let a compiler bug reach the program
            return SENTINEL
        # "Retry" sends the trampoline to the dispatcher, made with the first
        # machine code: a version another thread made meanwhile for direct
        # calls only has none yet.
        return answer if answer is not RETRY or self.dispatcher is not None else SENTINEL

    def _on_miss(self, args: tuple, frame: types.FrameType) -> object:
        """`frame` is the trampoline's: it has the function's namespaces."""
        if sys.gettrace() is not None or sys.getprofile() is not None or _COMPILING.active:
            return SENTINEL  # traced, or called by code the compiler ran (a library it imports)
        deferred = self._deferred_version(args, frame.f_globals)
        if deferred is not None:
            with _unless_busy() as free:
                if not free or _PROGRAM_ENDED.ended:
                    return SENTINEL
                deferred.native_body()
            return RETRY
        self.misses += 1
        threshold = self.compile_threshold
        loops = has_loops(self.code)
        if loops and self.brief_items is not None and _items_passed(args) > 2 * self.brief_items:
            # Over twice the items of the brief call: judged now (a list
            # growing between calls is judged at most at each doubling).
            threshold, self.brief_items = self.misses, None
        elif loops and self.whole_program and _runs_briefly(self.code, args):
            self.brief_items, loops = max(self.brief_items or 0, _items_passed(args)), False
        if self.whole_program and not loops:
            threshold = max(threshold, LOOP_FREE_CALLS)
        if self.misses < threshold:
            self._skip_waiting(threshold - self.misses - 1)
            return SENTINEL
        # Past full()'s budget a function waits to be compiled.  A hot one
        # without loops is specialized anyway (LLVM, most of a compile,
        # waits): one not worth compiling goes back to the interpreter now
        # rather than after many more calls through the dispatcher.
        over_budget = self.whole_program and not COMPILE_CLOCK.within_budget()
        if over_budget and loops:
            self._skip(self.misses)
            return SENTINEL
        entry_kinds = self.entry_kinds_for(kinds.entry_kind(a) for a in args)
        # Refused as not worth it when compiled for a direct call (without
        # sample arguments)?  Samples may make the difference: try once more.
        if entry_kinds in self.not_compiled and (entry_kinds in self.sampled or entry_kinds not in self.not_worth):
            self._note_refusal(entry_kinds, frame)
            return SENTINEL
        self.sampled.add(entry_kinds)
        if sum(v.active for v in self.versions) >= MAX_COMPILED_VERSIONS:
            self._back_off()
            return SENTINEL
        with _unless_busy() as free:
            if not free or _PROGRAM_ENDED.ended:
                return SENTINEL
            if any(v.serves(entry_kinds, frame.f_globals) for v in self.versions):
                return RETRY  # another thread compiled it meanwhile
            version = compile_version(self, entry_kinds, frame.f_globals, frame.f_builtins, args,
                                      called_once=_called_once(self.code, frame.f_back), judge_only=over_budget,
                                      calls=self.misses)
        if version is None and entry_kinds in self.awaiting and self.compile_threshold > self.misses:
            self._skip_waiting(self.compile_threshold - self.misses)
            return SENTINEL
        if version is None and over_budget and entry_kinds not in self.not_compiled:
            self._skip(self.misses)  # worth compiling, once within the budget
            return SENTINEL
        if version is None:
            self._note_refusal(entry_kinds, frame)
        else:
            self.miss_backoff = 1
        return RETRY if version is not None else SENTINEL

    def _deferred_version(self, args: tuple, globals_: dict) -> Version | None:
        """A version that serves this call, compiled for direct calls only:
        its machine code is not made yet (its call tree's worth is known,
        only LLVM remains: made at the first such call).  Under full(),
        none if the interpreter's calls would not be worth compiling for
        (`not_worth_for_interpreter`: compiled without samples, for
        callers that turned out not worth compiling, say): that version
        leaves `versions` for `callers_only`, and this call goes the way of
        any call that finds no version (compiled with samples after the
        thresholds, or refused: at once if its entry kinds are these and
        all native or of types whose samples tell nothing, which samples
        would not specialize differently: `_samples_may_tell`);
        none either before enough calls win back its LLVM
        (`calls_to_pay_back`): the calls until then run interpreted."""
        if all(v.deferred is None for v in self.versions):
            return None
        entry_kinds = self.entry_kinds_for((kinds.entry_kind(a) for a in args), record=False)
        with _unless_busy() as free:
            for v in self.versions if free else ():
                if v.deferred is not None and v.serves(entry_kinds, globals_):
                    reason = not_worth_for_interpreter(v.work, self.code, v.recursive)
                    if self.whole_program and reason is not None:
                        self.versions.remove(v)
                        self.callers_only.append(v)
                        if v.entry_kinds == entry_kinds and not any(map(_samples_may_tell, entry_kinds)):
                            self.not_compiled[entry_kinds] = reason
                            self.not_worth.add(entry_kinds)
                            self.sampled.add(entry_kinds)
                        return None
                    waiting = awaiting_payback(v.work, self.code, v.recursive, self.misses)
                    if self.whole_program and waiting is not None:
                        self.wait(entry_kinds, waiting)
                        return None
                    self.awaiting.pop(entry_kinds, None)
                    return v
        return None

    def wait(self, entry_kinds: tuple[Kind, ...], waiting: NotYetWorthCompiling) -> None:
        """Calls with these kinds run interpreted until compiling pays."""
        self.awaiting[entry_kinds] = str(waiting)
        self.compile_threshold = max(self.compile_threshold, waiting.calls)
        if waiting.brief_items is not None:
            self.brief_items = max(self.brief_items or 0, waiting.brief_items)

    def _skip_waiting(self, calls: int) -> None:
        """Skip the calls until one is due for compiling; while its loops
        ran briefly, fewer: one less than `miss_backoff`, which doubles up
        to MAX_MISS_BACKOFF (none after the first such call, as it starts
        at 1), so that one passing more items is soon judged again."""
        if self.brief_items is None:
            self._skip(calls)
            return
        self._skip(min(calls, self.miss_backoff - 1))
        self.miss_backoff = min(2 * self.miss_backoff, MAX_MISS_BACKOFF)

    def _skip(self, calls: int) -> None:
        """Let the trampoline (the dispatcher, once there is one) run the
        next `calls` calls that find no version interpreted without calling
        on_miss (counted as misses)."""
        calls = max(0, min(calls, MAX_SKIP))
        self._set_skip(calls)
        self.misses += calls

    def _set_skip(self, calls: int) -> None:
        if self.dispatcher is None:
            gate = itertools.repeat(None, calls) if calls else _OPEN_GATE
            abi.set_trampoline_const(self.trampoline, "skip_gate", gate)
        else:
            self.table.skip = calls

    def _skips_left(self) -> int:
        if self.dispatcher is None:
            return operator.length_hint(abi.trampoline_const(self.trampoline, "skip_gate"))
        return self.table.skip

    def _back_off(self) -> None:
        """A call on_miss could not compile for: skip the next few such
        calls, more after each."""
        self._skip(self.miss_backoff)
        self.miss_backoff = min(2 * self.miss_backoff, MAX_MISS_BACKOFF)

    def _note_refusal(self, entry_kinds: tuple[Kind, ...], frame: types.FrameType) -> None:
        """Under full(), a function that keeps being called with kinds for
        which compiling would not pay, that reads its own frame or whose
        compile failed, goes back to the interpreter for good, its own code
        object restored: each such call costs a trip through the dispatcher
        and this method (fewer of them go to this method as they keep
        coming: _back_off)."""
        self._back_off()
        reason = self.not_compiled[entry_kinds]
        self.refused_in_a_row = self.refused_in_a_row + 1 if entry_kinds in self.not_worth else 0
        entered = any(v.active and v.entry_address for v in self.versions)  # others serve compiled callers only
        if self.whole_program and not entered and (self.refused_for_good or self.refused_in_a_row >= GIVE_BACK_AFTER):
            self.disable(reason)
            abi.function_of_frame(frame).__code__ = self.code

    def install(self, version: Version) -> None:
        self.versions.append(version)
        # Calls it does not serve may find another version to make or
        # compile: skipping stops, and the skipped calls still to come were
        # not made.
        self.misses -= self._skips_left()
        self._set_skip(0)
        self.refresh_table()

    def refresh_table(self) -> None:
        """The dispatcher's table: the active versions whose machine code is
        made (a call that finds none makes a deferred one's, see _on_miss)."""
        ready = [v for v in self.versions if v.active and v.entry_address][:MAX_VERSIONS]
        if ready and self.dispatcher is None:
            self._use_native_dispatcher()
        for i, v in enumerate(ready):
            self.table.entries[i] = v.entry_address
        self.table.count = len(ready)

    def _use_native_dispatcher(self) -> None:
        """From the first machine code on, every call goes to the native
        dispatcher, which enters versions and counts the calls to skip."""
        skips = self._skips_left()
        self.dispatcher, self._method_def = make_dispatcher(self.table, self.code.co_name)
        self.table.skip = skips
        abi.set_trampoline_const(self.trampoline, "dispatcher", self.dispatcher)
        abi.set_trampoline_const(self.trampoline, "native", True)

    def hot_exit(self, version: Version, site: tuple[int, str]) -> None:
        """A guard of `version` keeps failing: retire the version so the next
        call compiles a more general one.  Exits that no version can avoid
        (an opcode not compiled yet) send the code back to the interpreter."""
        version.active = False
        guessed = version.attribute_guesses.get(site[0]) if site[1] == "attribute type" else None
        if guessed is not None:
            UNPREDICTABLE_ATTRIBUTES.setdefault(guessed[0], set()).add(guessed[1])
        if site[1] in GENERALIZABLE and site not in version.generalized:
            self.generalized.add(site)  # (a version compiled before another one's exit got hot may be here too)
        elif site[1] in GENERALIZABLE:  # the general version kept the guard: do not compile it again and again
            self.disable(f"still leaves compiled code when generalized: {site[1]} at instruction {site[0]}")
        else:
            self.disable(f"leaves compiled code too often: {site[1]} at instruction {site[0]}")
        self.refresh_table()


# --- compiling -------------------------------------------------------------------
class Resolver:
    """Lets the specializer turn calls of Python functions into direct calls."""

    def __init__(self, entry: CodeEntry, request: Request, self_version: Version | None = None,
                 called_once: bool = False) -> None:
        self.entry = entry
        self.request = request
        self.self_version = self_version  # stands for the version being compiled
        self.called_once = called_once  # see _called_once
        self.saw_self_call = False

    @staticmethod
    def compiled_code(function: types.FunctionType) -> types.CodeType | None:
        """The code of `function` if psyco compiles it (its own code, not
        the trampoline in its place): what an inlined call specializes."""
        entry = CodeEntry.lookup(function.__code__)
        return entry.code if entry is not None and entry.reason is None else None

    def version_for_call(self, s: Specializer, target: object, args: list[AV]) -> Version | None:
        if not isinstance(target, types.FunctionType) or target.__kwdefaults__ or target.__closure__:
            return None
        code = target.__code__
        entry = CodeEntry.lookup(code)
        if entry is None or entry.reason is not None:
            return None
        if len(args) != entry.code.co_argcount or entry.code.co_flags & 0x0C or entry.code.co_kwonlyargcount:
            return None
        passable = [_passable(a.kind) for a in args]
        samples = tuple(a.sample for a in args)  # never tested for truth: that could run the program's code
        known = any(sample is not None for sample in samples)
        if entry is not self.entry and not known and self._waits_for_samples(entry, passable, target.__globals__):
            return None
        want = entry.entry_kinds_for(passable)
        if entry is self.entry and want == self.request.entry_kinds and target.__globals__ is s.globals:
            self.saw_self_call = True
            return self.self_version  # recursion: assumed return kind
        for v in entry.versions:
            if v.serves(want, target.__globals__) and v.compiled:
                return v if v.direct_callable else None
        if entry in _IN_PROGRESS or want in entry.not_compiled:
            return None
        if self.cold_call(s) and not self._may_recurse(entry):
            return None
        if sum(v.active for v in entry.versions) >= MAX_COMPILED_VERSIONS:
            return None
        if entry.whole_program and not COMPILE_CLOCK.within_budget():
            return None  # a generic call: compiling the callee too would overrun full()'s budget
        version = compile_version(entry, want, target.__globals__, target.__builtins__, samples if known else None,
                                  direct=True)
        return version if version is not None and version.direct_callable else None

    def cold_call(self, s: Specializer) -> bool:
        """Whether the call being specialized is at a cold site of a function
        called once (`_cold_site`): not worth compiling (nor inlining) its
        callee for."""
        return self.called_once and self._cold_site(s)

    @staticmethod
    def _cold_site(s: Specializer) -> bool:
        """Whether the call being specialized, in a function called once,
        runs at most COLD_SITE_CALLS times: the product of the constant
        trip counts of the loops around it (main() calling its setup
        functions).  Its callee is not compiled for it but called
        generically: the dispatcher compiles a callee with loops at its
        first call anyway, and one without loops or calls does little
        work in so few calls."""
        assert s.ins is not None
        total = 1
        for head in s.decoded.loops_around(s.ins.index):
            trips = s.loop_trips.get(head)
            if trips is None:
                return False
            total *= trips
        return total <= COLD_SITE_CALLS

    @staticmethod
    def _may_recurse(entry: CodeEntry) -> bool:
        """A callee without loops that calls: maybe recursive (tak), which
        the dispatcher would leave interpreted for LOOP_FREE_CALLS calls."""
        callee = decode(entry.code)
        return not callee.loop_heads and not callee.straight_leaf()

    @staticmethod
    def _waits_for_samples(entry: CodeEntry, passable: list[Kind], globals_: dict) -> bool:
        """A callee with loops over objects we have no samples of: rather
        than compile it without guesses, call it generically; its first
        call compiles it with the real arguments as samples (a function
        with loops can afford the generic call)."""
        if not decode(entry.code).loop_heads or not any(k.is_object() for k in passable):
            return False
        want = entry.entry_kinds_for(passable, record=False)
        return not any(v.serves(want, globals_) for v in entry.versions)


def _passable(kind: Kind) -> Kind:
    """The entry kind a callee is compiled for, given an argument's kind."""
    k = kind.general()
    if k in (kinds.INT, kinds.FLOAT, kinds.BOOL) or k.is_object() or k == kinds.Const(None):
        return k
    if isinstance(k, kinds.Instance):  # passed as the object it is made into
        return kinds.ObjectKind(k.cls)
    return kinds.OBJECT


# Objects whose samples tell the specializer nothing its kind does not:
# no items, no instance attributes to peek at.
ATOMIC_TYPES = frozenset({str, bytes, int, float, bool, complex, type(None)})


def _samples_may_tell(kind: Kind) -> bool:
    """Whether compiling with a sample argument of this kind (`Request.samples`)
    may specialize differently than compiling without one."""
    return kind.is_object() and getattr(kind, "cls", None) not in ATOMIC_TYPES


_IN_PROGRESS: set[CodeEntry] = set()


def _runs_managed_code(frame: types.FrameType | None) -> bool:
    """Whether a frame of code psyco took over is on this stack."""
    while frame is not None:
        if id(frame.f_code) in CodeEntry.by_code:
            return True
        frame = frame.f_back
    return False


@atexit.register
def _let_go_at_exit() -> None:
    """The program has ended (this runs after its own exit handlers): from
    now on everything runs interpreted, and what compiled code kept alive
    (namespaces, classes, constants) is let go, so that python finalizes
    the program's modules at exit as it does without psyco (their objects'
    __del__ run while the module's names are intact).  Not while another
    thread runs, nor when called from code psyco took over (the handlers
    run by hand): compiled code could be running.  Compiling stops either
    way, once a compile under way on another thread is done: LLVM running
    on a daemon thread while python finalizes crashes the process."""
    with COMPILE_LOCK:
        _PROGRAM_ENDED.ended = True
    stacks = sys._current_frames()
    busy = len(stacks) > 1 or _runs_managed_code(stacks[threading.get_ident()])
    del stacks  # it holds this very frame: a cycle that would keep the frames below alive
    if busy:
        return
    with COMPILE_LOCK:
        for entry in {id(e): e for e in CodeEntry.by_code.values()}.values():
            entry.disable("the program has ended")  # the dispatcher no longer enters any version
            entry.let_go()


class _Busy(threading.local, contextlib.ContextDecorator):
    """Whether this thread is within the context (nested ones too)."""

    depth = 0

    @property
    def active(self) -> bool:
        return self.depth > 0

    def __enter__(self) -> None:
        self.depth += 1

    def __exit__(self, *_: object) -> None:
        self.depth -= 1


class _Compiling(_Busy):
    """Whether this thread compiles (within `a_compile`, nested compiles
    too): the program's functions it runs meanwhile (those of the libraries
    psyco imports, loading LLVM: `re`'s) run interpreted, never back into
    psyco, whose locks the compile holds."""

    judging = False  # specializing only, to judge whether compiling pays: no budget


class _SignalsDeferred(contextlib.ContextDecorator):
    """The program's signal handlers run between its own bytecodes, never
    inside psyco's Python code (answering a call, compiling): there an
    exception they raise (a timeout from SIGALRM's, Ctrl-C's
    KeyboardInterrupt) would be taken for a failed compile, caught by code
    psyco calls (llvmlite turns an OSError into another), or dropped as
    unraisable inside a finalizer.  While the main thread (the only one
    python runs handlers on) is in there, the Python handlers are replaced
    by one noting the signal; when it leaves they run, in order, with the
    program's frame, and what they raise is raised at the call.  Other
    threads pass through: only the main thread counts its depth."""

    def __init__(self) -> None:
        self.depth = 0
        self.handlers: dict[int, Callable] = {}
        self.pending: list[int] = []

    def __enter__(self) -> None:
        if _thread.get_ident() != threading.main_thread().ident:
            return
        self.depth += 1
        if self.depth > 1:
            return
        try:
            for signum in _SIGNALS:
                handler = _signal.getsignal(signum)
                if callable(handler):
                    self.handlers[signum] = handler
                    _signal.signal(signum, self._note)
        except BaseException:  # a handler ran (and raised) before its signal was deferred
            self._restore()
            raise

    def _note(self, signum: int, _frame: object) -> None:
        self.pending.append(signum)

    def _restore(self) -> dict[int, Callable]:
        self.depth -= 1
        handlers, self.handlers = self.handlers, {}
        for signum, handler in handlers.items():
            _signal.signal(signum, handler)
        return handlers

    def __exit__(self, *_: object) -> None:
        if _thread.get_ident() != threading.main_thread().ident:
            return
        if self.depth > 1:
            self.depth -= 1
            return
        handlers = self._restore()
        pending, self.pending = self.pending, []
        if pending:
            frame = _program_frame(abi.calling_frame())
            for signum in pending:  # the first to raise ends them, as in the interpreter's run of them
                handlers[signum](signum, frame)


def _runs_own_code(frame: types.FrameType) -> bool:
    """Whether `frame` runs psyco or the context managers it compiles within."""
    return frame.f_code.co_filename.startswith(_OWN_FILES)


def _program_frame(frame: types.FrameType | None) -> types.FrameType | None:
    """The innermost frame of `frame`'s stack that runs the program's code."""
    while frame is not None and _runs_own_code(frame):
        frame = frame.f_back
    return frame


def _without_own_frames(tb: types.TracebackType | None) -> types.TracebackType | None:
    """The entries of `tb` from the first that runs the program's code."""
    while tb is not None and _runs_own_code(tb.tb_frame):
        tb = tb.tb_next
    return tb


_SIGNALS = tuple(sorted(_signal.valid_signals()))
_OWN_FILES = (os.path.dirname(os.path.dirname(__file__)) + os.sep, contextlib.__file__)


_COMPILING = _Compiling()
SIGNALS_DEFERRED = _SignalsDeferred()
_ANSWERING = _Busy()  # in on_miss: calls psyco's work makes of the program's code run interpreted
_NESTED_SECONDS = [0.0]  # total time of compiles, to subtract nested ones
# What compiled versions stored into attributes of instances of each class:
# name -> the number kind always stored, or None once stores disagreed.
ATTRIBUTE_KINDS: weakref.WeakKeyDictionary[type, dict[str, Kind | None]] = weakref.WeakKeyDictionary()
# Attributes whose guessed type kept failing (a hot "attribute type" exit):
# no version guesses their type again (a token's value, a node's `next`
# that is None at the end: each function reading it would retire a version).
UNPREDICTABLE_ATTRIBUTES: weakref.WeakKeyDictionary[type, set[str]] = weakref.WeakKeyDictionary()
STATS = {"compile_seconds": 0.0, "versions": 0, "compile_times": [], "llvm_load_seconds": 0.0}


class _CompileClock(contextlib.ContextDecorator):
    """The time spent compiling, for full()'s budget: that of outermost
    compiles, refused ones included, and of the one under way."""

    def __init__(self) -> None:
        self.started = time.perf_counter()
        self.spent = 0.0
        self.finished = 0  # outermost compiles
        self.since: float | None = None  # when the outermost compile under way started
        self.depth = 0

    def __enter__(self) -> None:
        if self.depth == 0:
            self.since = time.perf_counter()
        self.depth += 1

    def __exit__(self, *_: object) -> None:
        self.depth -= 1
        if self.depth == 0:
            assert self.since is not None
            self.spent += time.perf_counter() - self.since
            self.since = None
            self.finished += 1

    def discount(self, seconds: float) -> None:
        """Leave `seconds` of the compile under way out of the time spent."""
        if self.since is not None:
            self.since += seconds

    def within_budget(self) -> bool:
        if self.finished < FREE_COMPILES or _COMPILING.judging:
            return True
        now = time.perf_counter()
        spent = self.spent + (0.0 if self.since is None else now - self.since)
        return spent < COMPILE_SHARE * (now - self.started)


COMPILE_CLOCK = _CompileClock()  # entered under COMPILE_LOCK


T = TypeVar("T")


def a_compile(function: Callable[..., T]) -> Callable[..., T]:
    """What every compile runs within, nested ones too: signal handlers
    deferred to the end (SIGNALS_DEFERRED), the builtins psyco was imported
    with (ORIGINAL_BUILTINS), the standard library's modules for the
    imports of psyco's later stages and llvmlite (STDLIB_IMPORTS), its
    time counted (COMPILE_CLOCK), the thread marked as compiling
    (_COMPILING), python's exit by SIGINT kept (_sigint_exit_kept)."""
    return SIGNALS_DEFERRED(ORIGINAL_BUILTINS(STDLIB_IMPORTS(COMPILE_CLOCK(_COMPILING(_sigint_exit_kept()(function))))))


@contextlib.contextmanager
def _sigint_exit_kept() -> Iterator[None]:
    """After an uncaught KeyboardInterrupt python finalizes, then dies of
    SIGINT, unless code run meanwhile cleared its flag (exec of a string
    does): a compile that another thread makes then, whose imports exec
    strings, leaves the flag as it found it."""
    dies = abi.dies_of_sigint_after_finalizing()
    try:
        yield
    finally:
        if dies:
            abi.die_of_sigint_after_finalizing()


def _specialize(entry: CodeEntry, request: Request, called_once: bool) -> tuple[Result, Resolver]:
    """Specialize; for a self-recursive function, iterate on the assumed
    return kind of its recursive calls until it is the kind it returns."""
    resolver = Resolver(entry, request, called_once=called_once)
    result = Specializer(request, resolver).run()
    if not resolver.saw_self_call:
        return result, resolver
    guess = _guess_return(result) or _numeric_argument_kind(request)
    for _ in range(3):
        if guess is None:
            break
        candidate = Resolver(entry, request, _pending_version(request, guess), called_once)
        attempt = Specializer(request, candidate).run()
        if attempt.return_kind == guess:
            if ir.calls_unknown_code(attempt.fn):
                break  # its recursive calls would run in their caller's frame
            return attempt, candidate
        guess = _guess_return(attempt)
    return result, resolver  # recursive calls stay generic calls


def _learn_attribute_kinds(result: Result) -> None:
    """Hints for later compiles: what this version stores into attributes."""
    for (cls, name), kind in result.attribute_stores.items():
        known = ATTRIBUTE_KINDS.setdefault(cls, {})
        known[name] = kind if known.get(name, kind) == kind else None


def _guess_return(result: Result) -> Kind | None:
    precise = [k for k in result.return_site_kinds if not k.is_object()]
    if not precise:
        return None
    guess: Kind | None = precise[0]
    for k in precise[1:]:
        guess = kinds.join(guess, k)  # type: ignore[arg-type]
    if isinstance(guess, kinds.Const) and guess.value is not None:
        guess = guess.general()
    return guess if guess in (kinds.INT, kinds.FLOAT, kinds.BOOL) else None


def _numeric_argument_kind(request: Request) -> Kind | None:
    """A guess at what a recursive function returns when its first
    specialization could not tell: one return of a conditional expression
    (`n if n < 2 else fib(n - 1) + fib(n - 2)`) joins the kinds of its
    branches, the recursive calls' unknown result among them.  Such a
    function most often returns the kind of its numeric arguments; the
    guess is kept only if the function then returns it."""
    return next((k for k in request.entry_kinds if k in (kinds.INT, kinds.FLOAT)), None)


def _pending_version(request: Request, return_kind: Kind) -> Version:
    param_types = tuple(t for k in request.entry_kinds for t in k.leaves)
    return Version(request.entry_kinds, return_kind, param_types, ir.unique_name("body"), request.globals,
                   function=request.code.co_qualname)


@a_compile
def compile_version(entry: CodeEntry, entry_kinds: tuple[Kind, ...], globals_: dict, builtins: dict,
                    samples: tuple | None = None, direct: bool = False, called_once: bool = False,
                    judge_only: bool = False, calls: int = 0) -> Version | None:
    """Compile and install a version; None (and the reason recorded) if
    not.  `samples`: the arguments of the call that asked for it.  `direct`:
    for a direct call from compiled code, which pays even for mostly generic
    code: the alternative is a call through the trampoline and the
    dispatcher, or into the interpreter.  `judge_only`: stop once it is
    known whether compiling pays (None either way, the reason recorded if
    it does not): the specialization of its call tree, whose versions for
    direct calls are made, their LLVM deferred as always.  `calls`: how
    many times the interpreter has called it (`calls_to_pay_back`)."""
    started = time.perf_counter()
    nested_before = _NESTED_SECONDS[0]
    version: Version | None = None
    request = Request(entry.code, globals_, builtins, entry_kinds, frozenset(entry.generalized), samples=samples,
                      attribute_kinds=ATTRIBUTE_KINDS, unpredictable_attributes=UNPREDICTABLE_ATTRIBUTES)
    _IN_PROGRESS.add(entry)
    _COMPILING.judging |= judge_only
    try:
        result, resolver = _specialize(entry, request, called_once)
        work = call_tree_work(result.fn)
        if entry.whole_program and not direct:  # bind() and proxy() compile what they are asked to
            _check_worth_compiling(result, work, entry.code, called_once, resolver.saw_self_call)
            waiting = awaiting_payback(work, entry.code, resolver.saw_self_call, calls) or _awaiting_brief_payback(
                result, entry.code, resolver.saw_self_call, calls, samples)
            if waiting is not None:
                raise waiting
            entry.awaiting.pop(entry_kinds, None)  # it pays now (past the budget, it waits for that)
        if judge_only:
            return None
        version = _generate(entry, request, result, resolver, defer=direct, called_once=called_once)
        version.work, version.recursive = work, resolver.saw_self_call
        _learn_attribute_kinds(result)
    except NotYetWorthCompiling as exc:
        exc.__traceback__ = None  # it is this frame's `waiting` too: no cycle keeping the call's arguments alive
        entry.wait(entry_kinds, exc)
        return None
    except CannotSpecialize as exc:
        entry.not_compiled[entry_kinds] = str(exc)
        entry.awaiting.pop(entry_kinds, None)
        if isinstance(exc, NotWorthCompiling):
            entry.not_worth.add(entry_kinds)
        entry.refused_for_good |= isinstance(exc, ReadsTheFrame)
        return None
    except Exception as exc:
        entry.not_compiled[entry_kinds] = f"internal error: {type(exc).__name__}: {exc}"
        entry.refused_for_good = True
        return None
    finally:
        _IN_PROGRESS.discard(entry)
        _COMPILING.judging &= not judge_only
        own_seconds = _own_seconds(started, nested_before)
        STATS["compile_seconds"] += own_seconds  # type: ignore[operator]
        if version is None:
            entry.refused_seconds += own_seconds
    version.compile_seconds = own_seconds
    STATS["versions"] += 1  # type: ignore[operator]
    version.stats_slot = len(STATS["compile_times"])  # type: ignore[arg-type]
    STATS["compile_times"].append(version.compile_seconds)  # type: ignore[attr-defined]
    entry.not_compiled.pop(entry_kinds, None)  # refused earlier without samples
    entry.not_worth.discard(entry_kinds)
    entry.awaiting.pop(entry_kinds, None)
    entry.install(version)
    return version


class NotWorthCompiling(CannotSpecialize):
    """Compiling would not make the function faster."""


class NotYetWorthCompiling(CannotSpecialize):
    """Compiling pays once the function has been called `calls` times
    (`brief_items`: because its loops ran briefly over that many items)."""

    def __init__(self, message: str, calls: int, brief_items: int | None = None) -> None:
        super().__init__(message)
        self.calls = calls
        self.brief_items = brief_items


def call_tree_work(fn: ir.Function) -> tuple[int, int]:
    """The work profile (`ir.work_profile`) of `fn` with that of the
    versions it calls directly, at their call sites: whether compiling pays
    is a question about the whole call tree, compiled along with it."""
    return ir.work_profile(fn, lambda op: op.attrs["version"].work)


def not_worth_for_interpreter(work: tuple[int, int], code: types.CodeType, recursive: bool) -> str | None:
    """Why machine code with this work profile (`call_tree_work`), entered
    by the interpreter, would not pay; None if it would.  `recursive`: it
    calls itself (directly, from then on)."""
    native, generic = work
    if generic > native:
        return (f"mostly generic object operations (weights: {generic} generic, {native} native):"
                " the interpreter runs them as fast")
    if has_loops(code):
        return None
    if native < LOOP_FREE_NATIVE_SHARE * generic:
        return (f"no loops, and its calls mostly call the C API (weights: {generic} generic, {native} native):"
                " each would save about what entering machine code costs")
    if native <= LOOP_FREE_ENTRY_NATIVE and not recursive:
        return (f"no loops and little native work ({native}): each call would save less than entering"
                " machine code costs")
    return None


# A function without loops called by the interpreter is compiled only if
# its native work is at least this many times its generic work: its
# generic operations run no faster compiled than the interpreter's
# specialized instructions, and order_report's parse_int, valid_product and
# order_total, compiled, ran about 300 instructions a call more than
# interpreted (a function refused is given its code back).
LOOP_FREE_NATIVE_SHARE = 4
# Entering machine code from the interpreter (trampoline, dispatcher,
# entry) costs what about this many native operations save: a call of a
# function of native work W (`ir.work_profile`, no generic work) saves
# 10.5 ns x (W - 2.4) over the interpreted call (measured for W = 2, 5,
# 11, 23, 47: -5, 29, 103, 212, 499 ns).
LOOP_FREE_ENTRY_NATIVE = 2


def _check_worth_compiling(result: Result, work: tuple[int, int], code: types.CodeType, called_once: bool,
                           recursive: bool) -> None:
    """Machine code that mostly calls the C API for generic object
    operations is no faster than CPython's specializing interpreter, often
    slower: leave such functions to the interpreter.  So is a function
    without loops with little native work beside its generic work
    (LOOP_FREE_NATIVE_SHARE) or little at all (LOOP_FREE_ENTRY_NATIVE),
    and a function called once whose loops run
    few iterations: compiling it costs more than interpreting them
    (`_interpreted_seconds`; the functions it calls are compiled when they
    are called)."""
    reason = not_worth_for_interpreter(work, code, recursive)
    if reason is not None:
        raise NotWorthCompiling(reason)
    interpreted = _interpreted_seconds(code, result) if called_once else None
    compiling = _compile_seconds(result)
    if interpreted is not None and interpreted < compiling:
        raise NotWorthCompiling(f"called once, its loops would run in about {interpreted * 1000:.1f} ms interpreted,"
                                f" sooner than they would be compiled (about {compiling * 1000:.0f} ms)")


def calls_to_pay_back(work: tuple[int, int], code: types.CodeType, recursive: bool) -> int:
    """How many calls from the interpreter a version with this work
    profile (`call_tree_work`) needs to win back its compile
    (LOOP_FREE_PAYBACK); 0 if it has loops or calls itself: what one call
    does is unbounded."""
    if recursive or has_loops(code):
        return 0
    return -(-LOOP_FREE_PAYBACK // max(work[0] - LOOP_FREE_ENTRY_NATIVE, 1))


def awaiting_payback(work: tuple[int, int], code: types.CodeType, recursive: bool,
                     calls: int) -> NotYetWorthCompiling | None:
    """Why a version with this work profile, called `calls` times by the
    interpreter, is not worth compiling yet; None if it is."""
    needed = calls_to_pay_back(work, code, recursive)
    if calls >= needed:
        return None
    return NotYetWorthCompiling(f"called {calls} times, no loops: its native work ({work[0]}) wins back"
                                f" compiling after about {needed} calls", needed)


def _awaiting_brief_payback(result: Result, code: types.CodeType, recursive: bool, calls: int,
                            samples: tuple | None) -> NotYetWorthCompiling | None:
    """Why a function with loops, called `calls` times by the interpreter,
    is not worth compiling yet: the trips of its loops are known for this
    call (`Result.loop_trips`: constant bounds, a comprehension's
    iterator) and so
    brief that calls like it, interpreted until then, take less than
    BRIEF_PAYBACK_SHARE of its compile time (`_interpreted_seconds`,
    `_compile_seconds`).  None if it is, or if a loop may run long (a
    `while`, a `for` over a list it may grow) or it recurses: then
    its first call is compiled, which may run long."""
    if recursive or not has_loops(code):
        return None
    seconds = _interpreted_seconds(code, result)
    if seconds is None:
        return None
    needed = math.ceil(BRIEF_PAYBACK_SHARE * _compile_seconds(result) / max(seconds, 1e-9))
    if calls >= needed:
        return None
    return NotYetWorthCompiling(f"called {calls} times, its loops run briefly (about {seconds * 1e6:.0f} us a call):"
                                f" compiling pays after about {needed} calls", needed, _items_passed(samples or ()))


def _generate(entry: CodeEntry, request: Request, result: Result, resolver: Resolver, defer: bool,
              called_once: bool) -> Version:
    """Prepare the lowering of the specialized function to LLVM, and
    lower it and make its machine code unless `defer` (compiled for a
    direct call): then when first needed (`Version.native_body`,
    `Version.inlinable`).
    `called_once`: for a call that module code makes once."""
    pending = resolver.self_version
    body_name = pending.body_name if pending is not None else ir.unique_name("body")
    version = Version(
        request.entry_kinds, result.return_kind, tuple(p.type for p in result.fn.params), body_name, request.globals,
        keepalive=result.keepalive, function=entry.code.co_qualname,
        generalized=request.generalized, inlined=tuple(result.inlined), attribute_guesses=result.attribute_guesses,
    )
    deopt_exits = [e for e in result.exits if e.state is not None]
    version.exit_reasons = [f"{e.reason} @{e.pc}" for e in deopt_exits]
    version.exit_counts = (ctypes.c_int64 * max(len(deopt_exits), 1))()
    base = ctypes.addressof(version.exit_counts)
    decoded = decode(entry.code)
    for i, e in enumerate(deopt_exits):
        site = (e.site, e.reason)
        callback = _hot_exit_callback(entry, version, site)
        version.keepalive.append(callback)
        threshold = HOT_LOOP_EXIT_THRESHOLD if decoded.in_loop(e.pc) else HOT_EXIT_THRESHOLD
        e.counter = (base + 8 * i, 0 if e.reason in NEVER_HOT else threshold, callback)
    callee_names = {id(v): v.body_name for v in result.callees}
    entry_name = ir.unique_name("entry")
    version.optimized = _worth_optimizing(result.fn, resolver) and not _runs_once_within(
        entry.code, result, called_once, ONCE_OPTIMIZE_ITERATIONS)
    version.direct_callable = not ir.calls_unknown_code(result.fn)

    globals_, entry_kinds = request.globals, request.entry_kinds  # not the request: its samples are the program's

    def make_codegen() -> backend.VersionCodegen:
        from psyco import backend

        return backend.VersionCodegen(
            result.fn, entry.code, globals_, entry_kinds, result.return_kind,
            (body_name, entry_name), callee_names, ctypes.addressof(version.calls), entry.trampoline,
            optimize=version.optimized,
        )

    version.keepalive.extend([entry.code, request.globals, request.builtins])
    version.deferred = DeferredCode(result.fn, make_codegen, entry_name, entry)
    if not defer:
        _emit(version)
    return version


def final_ir(version: Version) -> str:
    """The version's IR as it is lowered, its reference counting inserted
    now if not yet: a version compiled for direct calls may never be
    lowered (its callers turned out not worth compiling, or copy another
    version); these passes took a quarter of the time order_report spent
    judging callers with their callees."""
    from psyco import refcount

    with COMPILE_LOCK:
        if not version.ir_text:
            assert version.deferred is not None
            fn = version.deferred.fn
            ir.remove_redundant_params(fn)
            ir.box_as_passed(fn)
            refcount.insert_refcounts(fn)
            ir.verify(fn)
            version.ir_text = ir.format_function(fn)
        return version.ir_text


def _load_llvm() -> None:
    """Load LLVM if not yet (about 25 ms, once): psyco's start-up, made
    when the first machine code is, rather than a part of the compile that
    needs it (its time is left out of that compile's, of the total and of
    full()'s compile budget: `STATS["llvm_load_seconds"]`)."""
    from psyco import backend

    if backend.Engine.loaded():
        return
    started = time.perf_counter()
    backend.Engine.get()
    watch_class_assignments()
    elapsed = time.perf_counter() - started
    STATS["llvm_load_seconds"] = elapsed
    _NESTED_SECONDS[0] += elapsed  # as a nested compile's: not the own time of the compiles under way
    COMPILE_CLOCK.discount(elapsed)


def _write_module(version: Version) -> llvm_text.Module:
    """The version's LLVM module, written now if not yet."""
    deferred = version.deferred
    assert deferred is not None
    if deferred.module is None:
        _load_llvm()  # its support functions are compiled as it is written
        codegen = deferred.codegen
        final_ir(version)
        deferred.module = codegen.build()
        version.keepalive.extend(codegen.keep)
        version.keepalive.extend(codegen.inlined)  # their data, which the copies address
        version.inlined += tuple(v.function for v in codegen.inlined) + tuple(
            version.function + copy for copy in codegen.inlined_self_calls)
        version.body_copy = codegen.inlinable()
    return deferred.module


def _emit(version: Version) -> DeferredCode:
    """LLVM codegen of the version's module: its machine code.  Returns
    what it was made from."""
    from psyco import backend

    module = _write_module(version)
    deferred, version.deferred = version.deferred, None
    assert deferred is not None
    engine = backend.Engine.get()
    engine.compile(module, optimize=version.optimized, inline=deferred.codegen.inlines,
                   label=f"{version.function}({', '.join(map(str, version.entry_kinds))})")
    version.entry_address = engine.address(deferred.entry_name)
    version.body_address = deferred.codegen.body_slot.value = engine.address(version.body_name)
    return deferred


def _own_seconds(started: float, nested_before: float) -> float:
    """The time since `started` less that of the compiles nested in it
    (callees compiled on the way, deferred modules they finish, LLVM's
    load), which are counted as theirs; all of it counts as nested in the
    compile around this one (`_NESTED_SECONDS` was `nested_before` at
    `started`)."""
    elapsed = time.perf_counter() - started
    own = elapsed - (_NESTED_SECONDS[0] - nested_before)
    _NESTED_SECONDS[0] = nested_before + elapsed
    return own


@a_compile
def _finish_deferred(version: Version, machine_code: bool) -> None:
    """What a compile for direct calls deferred: the version's LLVM module
    and, if `machine_code`, its machine code, which the dispatcher enters
    from now on (an installed version: not one `_generate` is making).
    Counted in the version's compile time, not in that of a version being
    compiled that needs it."""
    started, nested_before = time.perf_counter(), _NESTED_SECONDS[0]
    if machine_code:
        _emit(version).owner.refresh_table()
    else:
        _write_module(version)
    elapsed = _own_seconds(started, nested_before)
    version.compile_seconds += elapsed
    STATS["compile_seconds"] += elapsed  # type: ignore[operator]
    STATS["compile_times"][version.stats_slot] = version.compile_seconds  # type: ignore[index]


OPTIMIZE_NATIVE_WEIGHT = 20  # native work (ir.work_profile) from which optimized codegen pays


# A function module code calls once (`main()`) whose loops' trip counts
# are known is left to the interpreter under full() if they run sooner
# interpreted than they would be compiled (`_interpreted_seconds`): an
# instruction takes the interpreter 8 ns (`total += i % 5`) to 50 ns
# (making objects), a call of a small function about 80 ns with its body;
# quick codegen takes 0.3-0.4 ms per IR op of a large function (a main()
# of 3000 ops, its callees inlined: 0.9 s; of 300: 0.12 s), and 5-15 ms
# for one of 6-14 ops.  The estimates lean towards compiling.
INTERPRETED_INSTRUCTION_SECONDS = 20e-9
INTERPRETED_CALL_SECONDS = 100e-9
COMPILE_SECONDS = 5e-3
QUICK_COMPILE_SECONDS_PER_OP = 0.25e-3
# A function whose loops run briefly in the call that would compile it
# (`_awaiting_brief_payback`) waits until its calls would have taken this
# share of its compile time: a program that calls it rarely never pays for
# it, one that calls it often loses at most this share of it.
BRIEF_PAYBACK_SHARE = 0.25
# A function called once whose loops run at most this many iterations in
# all gets quick codegen: optimized codegen costs
# 20-60 ms more, and saves a few nanoseconds per iteration of a numeric
# loop, less of one calling the C API or compiled callees (a `main()`
# running 1000 x 1000 iterations of `total += (i * j) % 7`: 0.096 s quick,
# 0.100 s optimized, as whole processes; scheduler's main, 12 x 20 000
# iterations making and queuing objects: 0.330 s and 0.344 s).
ONCE_OPTIMIZE_ITERATIONS = 1_000_000
# A comprehension over at most this many items waits to be compiled as a
# function without loops does (`_runs_briefly`).
BRIEF_ITEMS = 64
# A call site a function called once runs at most this many times does not
# compile its callee: a callee's compile (10-20 ms) takes as long as
# thousands of interpreted calls.
COLD_SITE_CALLS = 1_000


def _called_once(code: types.CodeType, caller: types.FrameType | None) -> bool:
    """Whether this call of `code` by the interpreter in `caller` runs
    once: module code (which runs once) calls it outside its loops.  Only
    for functions without parameters, and comprehensions (whose one, `.0`,
    is the iterator the module code made for the call): a function that
    takes arguments may be called many times by a builtin the module calls
    once (`map(f, data)`), which leaves no frame of its own."""
    if code.co_argcount and not is_comprehension(code):
        return False
    if code.co_kwonlyargcount or code.co_flags & 0x0C:  # CO_VARARGS, CO_VARKEYWORDS
        return False
    if caller is None or caller.f_code.co_name != "<module>":
        return False
    return not decode(caller.f_code).frame_in_loop(caller.f_lasti)


def _items_passed(args: tuple) -> int:
    """How many items the containers and counted iterators among `args` hold."""
    return sum(len(a) if type(a) in kinds.SIZED_TYPES else operator.length_hint(a)
               for a in args if type(a) in kinds.SIZED_TYPES or type(a) in kinds.COUNTED_ITERATORS)


def _runs_briefly(code: types.CodeType, args: tuple) -> bool:
    """Whether this call is of a comprehension with one loop over at most
    BRIEF_ITEMS items (its iterator's length_hint): it runs briefly
    whatever its body, like a function without loops; compiled at its
    first call, a comprehension over a few items, in a function called a
    few times, costs more to compile than all its calls take."""
    if not is_comprehension(code) or len(decode(code).loop_heads) != 1 or type(args[0]) not in kinds.COUNTED_ITERATORS:
        return False
    return operator.length_hint(args[0]) <= BRIEF_ITEMS


def _runs_once_within(code: types.CodeType, result: Result, called_once: bool, iterations: int) -> bool:
    """Whether this call, which module code makes once, runs at most
    `iterations` iterations of the function's loops: each loop's trip
    count times those of the loops around it, summed (none if a loop's
    trip count is unknown: `Result.loop_trips`)."""
    trips = _known_trips(code, result) if called_once else None
    if trips is None:
        return False
    spans = decode(code).loop_spans()
    return sum(_times_run(head, spans, trips) for head in trips) <= iterations


def _compile_seconds(result: Result) -> float:
    """About how long compiling the specialized function takes (quick codegen)."""
    return COMPILE_SECONDS + sum(len(block.ops) for block in result.fn.blocks) * QUICK_COMPILE_SECONDS_PER_OP


def _interpreted_seconds(code: types.CodeType, result: Result) -> float | None:
    """About how long the call `result` was specialized for runs
    interpreted: each instruction as many times as the trip counts of the
    loops around it multiply (`Result.loop_trips`), calls weighing more
    (their callees are compiled when called, if worth it); None if a
    loop's trip count is unknown."""
    trips = _known_trips(code, result)
    if trips is None:
        return None
    decoded = decode(code)
    spans = decoded.loop_spans()
    return sum(_times_run(ins.index, spans, trips)
               * (INTERPRETED_CALL_SECONDS if ins.opname == "CALL" else INTERPRETED_INSTRUCTION_SECONDS)
               for ins in decoded.instructions)


def _known_trips(code: types.CodeType, result: Result) -> dict[int, int] | None:
    """Each loop head's trip count in the call specialized for; None if one is unknown."""
    trips = {head: result.loop_trips.get(head) for head in decode(code).loop_heads}
    return None if None in trips.values() else trips  # type: ignore[return-value]


def _times_run(index: int, spans: list[tuple[int, int]], trips: dict[int, int]) -> int:
    """How many times unit `index` runs: the trips of the loops around it
    (`DecodedCode.loop_spans`) multiplied."""
    return math.prod(max(trips[head], 1) for head, last in spans if head <= index <= last)


def _worth_optimizing(fn: ir.Function, resolver: Resolver) -> bool:
    """Optimized instruction selection and register allocation cost about 3x
    the compile time of the quick ones and make numeric loops 2-3x faster
    (mandelbrot, nbody_lists): worth it for loops and recursion that compute
    on native values and for small all-native functions (methods called
    from loops), not for code that mostly calls the C API."""
    native, generic = ir.work_profile(fn)
    if generic == 0:
        return native > 0
    return native >= 2 * generic and (native >= OPTIMIZE_NATIVE_WEIGHT or resolver.saw_self_call)


def _run_recipe(build: Callable[[], tuple]) -> tuple:
    """A deopt's frame values (`resume.Resume.values`), made with signal
    handlers deferred: they run once the values are made, and what they
    raise comes back as a last `resume.Raised` item, which the deopt
    support raises in the resumed frame."""
    made = None
    try:
        with SIGNALS_DEFERRED:
            made = build()
    except BaseException as exc:
        if made is None:
            raise
        return (*made, resume.Raised((exc.with_traceback(_without_own_frames(exc.__traceback__)),)))
    return made


resume.Resume.run = staticmethod(_run_recipe)


def _hot_exit_callback(entry: CodeEntry, version: Version, site: tuple[int, str]) -> object:
    """What the deopt support calls when the exit gets hot, with the
    resumed frame built: signal handlers run once the version is retired
    (not half way), and what they raise is raised in that frame."""
    def callback() -> None:
        try:
            with SIGNALS_DEFERRED:
                entry.hot_exit(version, site)
        except BaseException as exc:
            exc.with_traceback(_without_own_frames(exc.__traceback__))
            raise
    return callback
