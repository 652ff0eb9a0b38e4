"""Native pieces of the runtime: the dispatcher and builtin-function objects.

Every code object with machine code gets one *dispatcher*: a real builtin
function (`PyCFunction` with METH_FASTCALL) whose C entry point is a shared
native function and whose `self` is a bytes object holding the address of
that code object's `DispatchTable`.  The trampoline's stub calls it with the
arguments; it tries each compiled version's entry in turn and, when none
accepts the arguments' kinds, asks the Python-level `on_miss` to compile one.
"""

from __future__ import annotations

import ctypes
import sys
import types

from psyco.abi import current as abi
from psyco.own_builtins import BUILTINS

__builtins__ = BUILTINS  # psyco calls the builtins it was imported with (see own_builtins)

MAX_VERSIONS = 8
COMPILE_HEADROOM = 250  # frames left before the recursion limit below which nothing is compiled


class DispatchTable(ctypes.Structure):
    _fields_ = [
        ("count", ctypes.c_int64),
        ("disabled", ctypes.c_int64),
        # Misses to answer "run interpreted" without asking on_miss: set by
        # on_miss, so calls it would not compile for cost no Python call.
        ("skip", ctypes.c_int64),
        ("on_miss", ctypes.c_void_p),
        ("sentinel", ctypes.c_void_p),
        ("retry", ctypes.c_void_p),
        ("entries", ctypes.c_void_p * MAX_VERSIONS),
    ]


class PyMethodDef(ctypes.Structure):
    _fields_ = [
        ("ml_name", ctypes.c_char_p),
        ("ml_meth", ctypes.c_void_p),
        ("ml_flags", ctypes.c_int),
        ("ml_doc", ctypes.c_char_p),
    ]


_new_cfunction = ctypes.pythonapi.PyCFunction_NewEx
_new_cfunction.restype = ctypes.py_object
_new_cfunction.argtypes = [ctypes.c_void_p, ctypes.py_object, ctypes.c_void_p]

_dispatch_address: int | None = None
_class_setter: int | None = None  # object's own __class__ setter, once watch_class_assignments replaced it


def _field(name: str) -> int:
    return getattr(DispatchTable, name).offset


def _build_dispatcher() -> int:
    """PyObject* dispatch(PyObject* self, PyObject** args, i64 nargs)."""
    # Imported with the first machine code, as the runtime imports the back end.
    from psyco import llvm_text as L
    from psyco.backend import (
        I8,
        I32,
        I64,
        NO_MATCH,
        OBJ,
        PTR,
        Engine,
        ModuleBuilder,
        field_ptr,
        incref,
        is_null,
        load_field,
    )
    from psyco.ir import unique_name

    engine = Engine.get()
    name = unique_name("dispatch")
    mb = ModuleBuilder(name)
    fnty = L.FunctionType(OBJ, [OBJ, OBJ.as_pointer(), I64])
    f = mb.declare(name, fnty)
    self_, args, nargs = f.args
    entry_ty = L.FunctionType(OBJ, [OBJ.as_pointer(), I64, OBJ, PTR]).as_pointer()
    b = L.IRBuilder(f.append_basic_block("start"))
    table = load_field(b, self_, abi.BYTES_DATA, PTR)  # self: bytes holding the table's address
    sentinel = load_field(b, table, _field("sentinel"), OBJ)
    give_up = f.append_basic_block("give_up")
    check_tracing = f.append_basic_block("tracing")
    b.cbranch(b.icmp_signed("!=", load_field(b, table, _field("disabled"), I64), I64(0)), give_up, check_tracing)
    b.position_at_end(check_tracing)
    # A tracer or profiler must see the program: run it interpreted.
    tstate = b.call(mb.c_function("PyThreadState_Get"), [])
    cframe = load_field(b, tstate, abi.TSTATE_CFRAME, PTR)
    tracing = b.icmp_unsigned("!=", load_field(b, cframe, abi.CFRAME_USE_TRACING, I8), I8(0))
    frame = load_field(b, cframe, abi.CFRAME_CURRENT_FRAME, PTR)
    globals_ = load_field(b, frame, abi.IFRAME_GLOBALS, OBJ)
    head = f.append_basic_block("round")
    b.cbranch(tracing, give_up, head)
    # Two rounds over the versions: before and after on_miss compiled one.
    b.position_at_end(head)
    attempt = b.phi(I64)
    attempt.add_incoming(I64(0), check_tracing)
    loop = f.append_basic_block("loop")
    b.branch(loop)
    b.position_at_end(loop)
    i = b.phi(I64)
    i.add_incoming(I64(0), head)
    count = load_field(b, table, _field("count"), I64)
    body = f.append_basic_block("try")
    exhausted = f.append_basic_block("miss")
    b.cbranch(b.icmp_signed("<", i, count), body, exhausted)
    b.position_at_end(body)
    slot = field_ptr(b, table, _field("entries"), PTR)
    entry = b.bitcast(b.load(b.gep(slot, [i])), entry_ty)
    result = b.call(entry, [args, nargs, globals_, tstate])
    found = f.append_basic_block("found")
    nxt = f.append_basic_block("next")
    b.cbranch(b.icmp_unsigned("!=", result, b.inttoptr(I64(NO_MATCH), OBJ)), found, nxt)
    b.position_at_end(found)
    b.ret(result)
    b.position_at_end(nxt)
    i.add_incoming(b.add(i, I64(1)), nxt)
    b.branch(loop)
    b.position_at_end(exhausted)
    ask = f.append_basic_block("ask")
    b.cbranch(b.icmp_signed("!=", attempt, I64(0)), give_up, ask)
    b.position_at_end(ask)
    skip = field_ptr(b, table, _field("skip"), I64)
    skipping, check_headroom = f.append_basic_block("skip"), f.append_basic_block("headroom")
    b.cbranch(b.icmp_signed(">", b.load(skip), I64(0)), skipping, check_headroom)
    b.position_at_end(skipping)
    b.store(b.sub(b.load(skip), I64(1)), skip)
    b.branch(give_up)
    b.position_at_end(check_headroom)
    # Compiling runs Python code, many frames deep: not near the recursion
    # limit, where it would raise the program a RecursionError of its own.
    headroom = load_field(b, tstate, abi.TSTATE_RECURSION_REMAINING, I32)
    compile_now = f.append_basic_block("compile")
    b.cbranch(b.icmp_signed("<", headroom, I32(COMPILE_HEADROOM)), give_up, compile_now)
    b.position_at_end(compile_now)
    on_miss = load_field(b, table, _field("on_miss"), OBJ)
    answer = b.call(mb.c_function("PyObject_Vectorcall"), [on_miss, b.bitcast(args, PTR), nargs, L.Constant(OBJ, None)])
    failed = f.append_basic_block("failed")
    answered = f.append_basic_block("answered")
    b.cbranch(is_null(b, answer), failed, answered)
    b.position_at_end(failed)
    b.ret(answer)
    b.position_at_end(answered)
    # on_miss returns borrowed-immortal markers (sentinel or retry) it keeps alive
    refcnt = field_ptr(b, answer, abi.OB_REFCNT, I64)
    b.store(b.sub(b.load(refcnt), I64(1)), refcnt)
    retry = b.icmp_unsigned("==", answer, load_field(b, table, _field("retry"), OBJ))
    attempt.add_incoming(I64(1), answered)
    b.cbranch(retry, head, give_up)
    b.position_at_end(give_up)
    incref(mb, b, sentinel)
    b.ret(sentinel)
    # Quick codegen: as fast here (a loop over a few entries, then a call)
    # and several times cheaper to make, at every start-up.
    engine.compile(mb.module, optimize=False, label="dispatcher")
    return engine.address(name)


def watch_class_assignments() -> None:
    """Make `obj.__class__ = C` first mark obj's class modified
    (PyType_Modified: the class gets another version tag) if it is one
    whose instances can change class (abi.class_assignable).  Compiled code
    relies on a real object's exact class, which an assignment changes,
    only behind a guard of that class's version tag, made again after
    anything that could run such an assignment: that guard then fails.
    Once per process: object's `__class__` setter, which every class
    inherits, is replaced by a native function calling it after."""
    global _class_setter
    if _class_setter is not None:
        return
    from psyco import llvm_text as L
    from psyco.backend import I32, I64, OBJ, PTR, Engine, ModuleBuilder, load_field, obj_const
    from psyco.ir import unique_name

    slot = abi.memory(abi.class_setter_slot())
    setter_type = L.FunctionType(I32, [OBJ, OBJ, PTR])
    engine = Engine.get()
    name = unique_name("set_class")
    mb = ModuleBuilder(name)
    f = mb.declare(name, setter_type)
    obj, value, closure = f.args
    b = L.IRBuilder(f.append_basic_block("start"))
    cls = load_field(b, obj, abi.OB_TYPE, OBJ)
    mutable = b.icmp_unsigned("==", b.and_(load_field(b, cls, abi.TYPE_FLAGS, I64), I64(abi.TPFLAGS_IMMUTABLETYPE)),
                              I64(0))
    module = b.icmp_unsigned("==", cls, obj_const(b, types.ModuleType))  # (see abi.class_assignable)
    modify, assign = f.append_basic_block("modify"), f.append_basic_block("assign")
    b.cbranch(b.or_(mutable, module), modify, assign)
    b.position_at_end(modify)
    b.call(mb.c_function("PyType_Modified"), [cls])
    b.branch(assign)
    b.position_at_end(assign)
    original = b.inttoptr(I64(slot[0]), setter_type.as_pointer())
    b.ret(b.call(original, [obj, value, closure]))
    engine.compile(mb.module, optimize=False, label="class setter")
    _class_setter = slot[0]
    slot[0] = engine.address(name)


class _TableAddress(bytes):
    """A dispatcher's `self`: the address of its table, which its machine
    code reads.  A by-value pickle of a function (cloudpickle's) pickles the
    dispatcher in its trampoline's constants as getattr(self, name): this
    unpickles as a stand-in whose every attribute runs calls interpreted
    (jit.AnyAttributeInterprets)."""

    __slots__ = ()

    def __reduce__(self) -> tuple:
        from psyco.runtime.jit import AnyAttributeInterprets

        return AnyAttributeInterprets, ()


def make_dispatcher(table: DispatchTable, name: str) -> tuple[object, PyMethodDef]:
    """A builtin function object running the dispatcher over `table`.

    The returned PyMethodDef must be kept alive as long as the function.
    """
    global _dispatch_address
    if _dispatch_address is None:
        _dispatch_address = _build_dispatcher()
    method = PyMethodDef(name.encode(), _dispatch_address, abi.METH_FASTCALL, None)
    address = _TableAddress(ctypes.addressof(table).to_bytes(abi.POINTER_SIZE, sys.byteorder))
    func = _new_cfunction(ctypes.addressof(method), address, None)
    return func, method
