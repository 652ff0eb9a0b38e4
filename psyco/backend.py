"""Back end: psyco IR to LLVM IR to machine code, through llvmlite.

Each compiled version becomes one LLVM module with two functions:

* the *body*, `{i32 status, result} body(tstate, frame, leaves...,
  PyObject** boxed)` (see `body_signature`): status 0 the unboxed result
  came back with it, 1 a boxed result is in `boxed` (the interpreter
  finished the call after a deopt), 2 an exception is set and this
  function's traceback entry is on top of the traceback, 3 an exception
  without such an entry;
* the *entry*, `PyObject* entry(args, nargs, globals, tstate)`, called by the
  dispatcher: it checks the arguments' kinds (returning NO_MATCH when they
  differ), unboxes them, calls the body and boxes its result.

Lowering of each IR op is one function in `LOWER`.  CPython's ABI comes
from `psyco.abi` only.  A version's module names by symbol only its own
functions and callees still being compiled (recursion): C functions,
support functions and compiled callees are called at their
addresses and its data lives in ctypes memory (`ModuleBuilder`), which
keeps quick codegen on LLVM's fast instruction selector.  Small callees
are the exception: optimized modules get a copy of their body, which LLVM
inlines (`InlinableBody`).
"""

from __future__ import annotations

import ctypes
import functools
import math
import os
import re
import resource
import struct
import threading
import types
from collections.abc import Callable, Iterable, Sequence

from psyco import ir, kinds, resume
from psyco import llvm_text as L
from psyco.abi import current as abi
from psyco.own_builtins import BUILTINS
from psyco.records import record

__builtins__ = BUILTINS  # psyco calls the builtins it was imported with (see own_builtins)

I1, I8, I32, I64, F64 = L.IntType(1), L.IntType(8), L.IntType(32), L.IntType(64), L.DoubleType()
PTR = I8.as_pointer()
OBJ = PTR
VOID = L.VoidType()
LTYPE = {"i64": I64, "f64": F64, "i1": I1, "obj": OBJ, "ptr": PTR, "i32": I32, "i8": I8, "void": VOID}
NO_MATCH = 1  # entry's "arguments are of other kinds" (never a valid PyObject*)

STATUS_OK, STATUS_BOXED, STATUS_ERROR = 0, 1, 2
STATUS_NO_ENTRY = 3  # an exception without a traceback entry of this function

ICMP = {"<": "<", "<=": "<=", "==": "==", "!=": "!=", ">": ">", ">=": ">="}
FCMP_ORDERED = {"<": "<", "<=": "<=", "==": "==", ">": ">", ">=": ">="}
INFINITY_BITS = 0x7FF0000000000000  # +inf as an IEEE double; with any larger magnitude a nan

# Math functions LLVM makes an instruction of; the others are libm calls
# at their addresses (an intrinsic that becomes a call, like llvm.sin, is a
# call by name, which hands its block to LLVM's slow instruction selector).
INTRINSICS = {"sqrt", "floor", "ceil", "fabs"}

# A direct call of a small compiled body costs about as much as the body
# (prologue, recursion count, argument and status passing): optimized
# callers get a copy of such bodies, which LLVM inlines, and a recursive
# body calls a copy of itself (one level of recursion unrolled).  Sizes are
# LLVM values (`Function.value_count`), which codegen time follows: about
# 250k instructions of optimized codegen per value, the cost of ~5000
# calls, so only small bodies are worth copying into a loop whose trip
# count is unknown.  A callee with no machine code of its own yet is
# copied up to a larger size: its copy costs about the LLVM time its own
# module would (vector_class: Vec.scale and Vec.dot copied into the loop of
# trace, the same compile time, 0.6% fewer instructions run).
INLINE_CALLEE_VALUES = 160  # the largest body copied into its callers
INLINE_FRESH_CALLEE_VALUES = 400  # ... if it has no machine code yet
INLINE_BUDGET_VALUES = 800  # the most one body takes in copies
# Unrolling recursion pays while the copies stay small: whole programs,
# fibonacci (2 self-calls of 99 values) 25% faster, hanoi (2 x 132) 15%,
# ackermann (3 x 124) 5%, tribonacci (3 x 135) even; tak (4 x 158) ran 15%
# slower with 20 ms more codegen, though 20% fewer instructions: a frame four
# times the size for every call, leaves included.
UNROLL_BUDGET_VALUES = 400  # the most the copies of an unrolled body take
INLINE_SUFFIX = ".inline"  # a body's copy in a caller's module
FULL_SUFFIX = ".full"  # the body behind a quick entry (`quick_return_path`)


@record
class QuickPath:
    """The blocks of a body that can return without calling anything, the
    entry first, and the edges between them (`quick_return_path`)."""

    blocks: tuple[ir.Block, ...]
    edges: frozenset[tuple[int, int]]  # (from block id, to block id)


# What a quick path may do: straight-line code without calls, stores or
# references taken (loads, arithmetic, compares, guards); these pure ops
# call C functions.  (And the eval breaker's test at the function's
# start, which only the body makes.)
QUICK_OPS = frozenset(name for name, d in ir.OPS.items() if d.pure and not d.owns) - {
    "math", "fmod", "ffloordiv", "fround_even", "guard_not_shadowed"}


def _is_quick_op(op: ir.Op) -> bool:
    return (op.name in QUICK_OPS or op.name == "check_signals" and bool(op.attrs.get("entry"))) and not op.post


def quick_return_path(fn: ir.Function) -> QuickPath | None:
    """The blocks from the entry made of QUICK_OPS, joined by forward edges
    that adjust no references, when they return a native
    value on some path and reach a block that is not quick on another (a
    recursion's base case beside its calls); None otherwise."""
    quick: dict[int, ir.Block] = {}
    edges: set[tuple[int, int]] = set()
    returns = hands_over = False
    on_path: set[int] = set()

    def is_quick(blk: ir.Block) -> bool:
        term = blk.term
        assert term is not None
        if blk.pre or not all(map(_is_quick_op, blk.ops)):
            return False
        if term.kind == "ret":
            return term.value is not None and term.value.type != "obj"
        return term.kind in ("br", "cbr") and not any(e.fixups for e in term.edges)

    def visit(blk: ir.Block) -> None:
        nonlocal returns, hands_over
        on_path.add(blk.id)
        quick[blk.id] = blk
        returns |= blk.term.kind == "ret"  # type: ignore[union-attr]
        for succ in blk.successors():
            if succ.id in on_path or not is_quick(succ):
                hands_over = True  # a loop or a block that calls: the full body's
                continue
            edges.add((blk.id, succ.id))
            if succ.id not in quick:
                visit(succ)
        on_path.discard(blk.id)

    entry = fn.blocks[0]
    if not is_quick(entry):
        return None
    visit(entry)
    if not (returns and hands_over):
        return None
    return QuickPath(tuple(quick.values()), frozenset(edges))  # the entry first, as LLVM wants


@record
class InlinableBody:
    """A compiled body small enough to be copied into its callers: the text
    of its blocks, calling compiled callees at their addresses and the
    copies it inlines by name (they come along)."""

    text: str
    body_values: int  # its own size
    values: int  # its size, with the copies it inlines
    declarations: tuple[tuple[str, L.FunctionType], ...]  # the intrinsics it calls
    copies: tuple[tuple[str, L.FunctionType, InlinableBody], ...]  # the bodies it inlines, by name


class Engine:
    """The process-wide LLVM JIT: target machine, symbols, code memory."""

    _instance: Engine | None = None
    _lock = threading.Lock()

    def __init__(self) -> None:
        # Loaded with the first machine code (llvmlite here, nowhere else):
        # a program psyco compiles nothing for never pays its ~25 ms.
        import llvmlite.binding as llvm

        # The fast instruction selector at every level: LLVM's instruction
        # selection took half of a compile; with the other code generation
        # passes kept (register allocation above all) numeric loops run as
        # fast as with the selection DAG, loops over objects about 6%
        # slower (benchmarks/: compile time -30%, every program faster as
        # a whole).  The option is process-wide in LLVM; it changes how
        # fast code is made, never what it does.
        llvm.set_option("", "-fast-isel")
        # Scalar evolution follows phis that evolve by constants 32 levels
        # deep; code generation's CanonicalizeFreezeInLoops asks it of every
        # loop phi: 15 s for one loop with 120 calls inlined, 0.5 s at depth
        # 1, the same machine code (and on benchmarks/' modules).
        llvm.set_option("", "-scalar-evolution-max-constant-evolving-depth=1")
        llvm.initialize_native_target()
        llvm.initialize_native_asmprinter()
        target = llvm.Target.from_default_triple()
        self.target_machine = target.create_target_machine(opt=2, reloc="static", codemodel="jitdefault")
        # Fast instruction selection and register allocation: about 3x less
        # compile time, numeric loops 2-3x slower.
        self.quick_machine = target.create_target_machine(opt=0, reloc="static", codemodel="jitdefault")
        self.engine = llvm.create_mcjit_compiler(llvm.parse_assembly(""), self.target_machine)
        self.triple = llvm.get_process_triple()
        self.inliner: tuple[object, object] | None = None  # the always-inliner's pass manager and builder
        # PSYCO_PERF_MAP=1: each function made is listed in /tmp/perf-<pid>.map, for perf.
        self.perf_map = bool(os.environ.get("PSYCO_PERF_MAP"))
        self.support: set[str] = set()  # support functions compiled so far
        self.support_data: list[object] = []  # the data support functions address, as long as they live

    @classmethod
    def loaded(cls) -> bool:
        return cls._instance is not None

    @classmethod
    def get(cls) -> Engine:
        with cls._lock:
            if cls._instance is None:
                cls._instance = Engine()
            return cls._instance

    def compile(self, module: L.Module, optimize: bool = True, inline: bool = False, label: str = "") -> None:
        """Machine code for `module`.  No IR pass pipeline: the specializer
        already removed what is known, and measured on our loops the O2
        pipeline doubled compile time for no run-time gain; instruction
        selection and register allocation run at O2 if `optimize`, else at
        O0.  `inline`: first inline the module's `alwaysinline` functions.
        `label`: what the module is, for the perf map."""
        self._emit(module, optimize, inline, label)

    def _compile_support_functions(self, names: Iterable[str]) -> None:
        wanted = [n for n in names if n not in self.support]
        if not wanted:
            return
        while True:
            codegen = SupportCodegen(ir.unique_name("support"))
            support = codegen.build(wanted)
            missing = [n for n in SUPPORT_SIGNATURES if n not in self.support and n not in wanted
                       and SUPPORT_PREFIX + n in support.globals]
            if not missing:
                break
            wanted += missing
        self.support.update(wanted)
        self.support_data.extend(codegen.mb.keep)
        self._emit(support, optimize=False, label="support")

    def _emit(self, module: L.Module, optimize: bool, inline: bool = False, label: str = "") -> None:
        import llvmlite.binding as llvm

        module.triple = self.triple
        mod = llvm.parse_assembly(str(module))
        mod.verify()
        if inline:
            if self.inliner is None:
                passes = llvm.create_new_module_pass_manager()
                passes.add_always_inliner_pass()
                options = llvm.create_pipeline_tuning_options(speed_level=2)
                self.inliner = passes, llvm.create_pass_builder(self.target_machine, options)
            self.inliner[0].run(mod, self.inliner[1])  # type: ignore[attr-defined]
        code = (self.target_machine if optimize else self.quick_machine).emit_object(mod)
        self.engine.add_object_file(llvm.ObjectFileRef.from_data(code))
        self.engine.finalize_object()
        if self.perf_map:
            self._map_functions(code, label)

    def _map_functions(self, code: bytes, label: str) -> None:
        """A line per function of the object `code` in perf's map of code
        made at run time: perf then names the functions psyco compiled."""
        addresses = [(self.engine.get_function_address(name), size, name) for name, size in elf_functions(code)]
        lines = [f"{address:x} {size:x} psyco:{label} {name}\n" for address, size, name in addresses if address]
        with open(f"/tmp/perf-{os.getpid()}.map", "a") as perf_map:  # (reopened: a forked child has its own)
            perf_map.writelines(lines)

    def address(self, name: str) -> int:
        address = self.engine.get_function_address(name)
        if not address:
            raise LookupError(f"no compiled function named {name!r}")
        return address

    def support_address(self, name: str) -> int:
        """The support function `name`, compiled now (with those it calls
        that no earlier module defined) if no module needed it yet.  Made on
        first use (cold paths: quick codegen), a program compiles the few
        its versions need: the whole set takes a small program's compile
        time.  Those every compiled program needs (COMMON_SUPPORT) come in
        the first module: one module, not one each, saves LLVM's cost per
        module."""
        self._compile_support_functions([name, *COMMON_SUPPORT])
        return self.address(SUPPORT_PREFIX + name)


def elf_functions(code: bytes) -> list[tuple[str, int]]:
    """The functions an ELF-64 little-endian object defines: name and size
    (from its symbol table)."""
    section_offset, = struct.unpack_from("<Q", code, 0x28)
    entry_size, count = struct.unpack_from("<HH", code, 0x3A)
    sections = [struct.unpack_from("<IIQQQQIIQQ", code, section_offset + i * entry_size) for i in range(count)]
    functions = []
    for _, kind, _, _, offset, size, link, _, _, symbol_size in sections:
        if kind != 2:  # SHT_SYMTAB
            continue
        names = sections[link][4]
        for at in range(offset, offset + size, symbol_size):
            name, info, _, index, _, length = struct.unpack_from("<IBBHQQ", code, at)
            if info & 0xF == 2 and index != 0:  # STT_FUNC, defined here
                functions.append((code[names + name:code.index(b"\0", names + name)].decode(), length))
    return functions


# --- module-level helpers --------------------------------------------------------
class ModuleBuilder:
    """One LLVM module, with declarations made on first use.
    `inline_refcounts`: reference counts dropped inline (fast code) or by
    calls (fewer blocks to generate: for quick codegen); taken inline always.

    C functions are called at their addresses and the module's data (caches,
    strings, scratch space) lives in memory psyco owns (`keep`), named by
    address too: the module then refers to no symbol and no data section.
    LLVM's fast instruction selector (quick codegen) handles neither calls
    to symbols nor global variables in the JIT's code model and would hand
    every block using one to the slow selector."""

    def __init__(self, name: str, inline_refcounts: bool = True) -> None:
        self.module = L.Module(name=name)
        self.inline_refcounts = inline_refcounts
        self.functions: dict[str, L.Value] = {}
        self.keep: list[object] = []  # the data the module's code addresses

    def c_function(self, name: str) -> L.Value:
        if name not in self.functions:
            ret, args = abi.C_API[name] if name in abi.C_API else abi.LIBM[name]
            varargs = name == "PyErr_Format"
            argt = [LTYPE[a] for a in args[:-1]] if varargs else [LTYPE[a] for a in args]
            self.function_at(name, lambda: c_address(name), L.FunctionType(LTYPE[ret], argt, var_arg=varargs))
        return self.functions[name]

    def function_at(self, key: str, address: Callable[[], int], fnty: L.FunctionType) -> L.Value:
        """The function of type `fnty` at `address()`, asked once per module."""
        if key not in self.functions:
            self.functions[key] = at_address(address(), fnty.as_pointer())
        return self.functions[key]

    def intrinsic(self, name: str) -> L.Function:
        """The LLVM intrinsic `name` of one double (sqrt, floor, ...)."""
        return self.declare(f"llvm.{name}.f64", L.FunctionType(F64, [F64]))

    def declare(self, name: str, fnty: L.FunctionType) -> L.Function:
        if name not in self.functions:
            self.functions[name] = L.Function(self.module, fnty, name=name)
        return self.functions[name]  # type: ignore[return-value]

    def inline_copy(self, name: str, fnty: L.FunctionType, body: InlinableBody) -> L.Function:
        """The function `name`: a copy of `body` for LLVM to inline, with
        the copies it inlines itself."""
        if name not in self.functions:
            for declared, declared_type in body.declarations:
                self.declare(declared, declared_type)
            for copy_name, copy_type, copy in body.copies:
                self.inline_copy(copy_name, copy_type, copy)
            make_inline_copy(self.declare(name, fnty), body.text)
        return self.functions[name]  # type: ignore[return-value]

    def global_i64(self, initial: int) -> L.Value:
        """A pointer to a fresh 64-bit word holding `initial`."""
        return self._data(ctypes.c_int64(initial), I64)

    def cells(self, count: int) -> L.Value:
        """A pointer to `count` fresh 64-bit words holding 0."""
        return self._data((ctypes.c_int64 * count)(), I64)

    def record(self, words: Sequence[int]) -> int:
        """The address of fresh 64-bit words holding `words`: data the code
        hands to a support function by address."""
        cell = (ctypes.c_int64 * len(words))(*words)
        self.keep.append(cell)
        return ctypes.addressof(cell)

    def scratch(self, size: int) -> L.Value:
        """An i8* to `size` fresh zeroed bytes, aligned for any field."""
        return self._data((ctypes.c_int64 * ((size + 7) // 8))(), I8)

    def cstring(self, text: str) -> L.Value:
        """An i8* to `text`, NUL-terminated UTF-8."""
        return at_address(self.cstring_address(text), PTR)

    def cstring_address(self, text: str) -> int:
        cell = ctypes.create_string_buffer(text.encode())
        self.keep.append(cell)
        return ctypes.addressof(cell)

    def _data(self, cell: ctypes._CData, ty: L.Type) -> L.Value:  # type: ignore[name-defined]
        self.keep.append(cell)
        return at_address(ctypes.addressof(cell), ty.as_pointer())


@functools.cache
def c_address(name: str) -> int:
    """The address of the C function `name` (looked up once)."""
    return abi.symbol_address(name)


def zero(ty: L.Type) -> L.Value:
    """0, 0.0, false or NULL."""
    return L.Constant(ty, None if ty == OBJ else 0)


def make_inline_copy(function: L.Function, text: str) -> None:
    """Define `function` by the blocks `text`, for LLVM to inline at its
    calls (and drop)."""
    function.text, function.linkage = text, "internal"
    function.attributes.add("alwaysinline")


def at_address(address: int, ty: L.Type) -> L.Value:
    """The constant pointer of type `ty` to `address`."""
    return I64(address).inttoptr(ty)


def obj_const(b: L.IRBuilder, obj: object) -> L.Value:
    """A PyObject* constant (a constant expression, not an instruction);
    the caller keeps `obj` alive."""
    return I64(abi.address_of(obj)).inttoptr(OBJ)


WORD_TAG = {I64: "int", F64: "float", I1: "bool", OBJ: "obj"}
"""How a resume recipe reads a native value stored as a 64-bit word."""
CONSTANT_TYPE = {I64: int, F64: float, I1: bool}


def native_constant(v: L.Value) -> object | None:
    """The Python value of the native constant `v` (an int, float or bool),
    else None: a resume recipe then needs no word for it."""
    if isinstance(v, L.Constant) and v.type in CONSTANT_TYPE and isinstance(v.value, (int, float)):
        return CONSTANT_TYPE[v.type](v.value)
    return None


def exit_words_bound(fn: ir.Function) -> int:
    """At least the words any exit of `fn` passes: its state's native values
    and the references it owns (and a callee's boxed result)."""
    exits = [e for blk in fn.blocks for op in blk.ops for e in op.exits()]
    exits += [blk.term.exit for blk in fn.blocks if blk.term is not None and blk.term.exit is not None]
    return max((len(e.values()) + len(e.release) + 1 for e in exits), default=0)


def word_index(words: list[L.Value], v: L.Value) -> int:
    """Where `v` is in `words`, appended if not yet there."""
    for i, w in enumerate(words):
        if w is v:
            return i
    words.append(v)
    return len(words) - 1


def as_word(b: L.IRBuilder, v: L.Value) -> L.Value:
    """`v` as the 64-bit word a resume recipe reads."""
    if v.type == F64:
        return b.bitcast(v, I64)
    if v.type == I1:
        return b.zext(v, I64)
    if v.type == OBJ:
        return b.ptrtoint(v, I64)
    return v


def field_ptr(b: L.IRBuilder, base: L.Value, offset: int, ty: L.Type) -> L.Value:
    raw = b.bitcast(base, PTR)
    return b.bitcast(b.gep(raw, [I64(offset)]) if offset else raw, ty.as_pointer())


def frame_slot(b: L.IRBuilder, iframe: L.Value, index: int) -> L.Value:
    """The address of slot `index` of an interpreter frame's locals, cells
    and free variables."""
    return field_ptr(b, iframe, abi.IFRAME_LOCALSPLUS + abi.POINTER_SIZE * index, OBJ)


def load_field(b: L.IRBuilder, base: L.Value, offset: int, ty: L.Type) -> L.Value:
    return b.load(field_ptr(b, base, offset, ty))


def store_field(b: L.IRBuilder, base: L.Value, offset: int, value: L.Value) -> None:
    b.store(value, field_ptr(b, base, offset, value.type))


def incref(mb: ModuleBuilder, b: L.IRBuilder, o: L.Value) -> None:
    """Py_INCREF: inline (no branch, as cheap to generate as a call)."""
    p = field_ptr(b, o, abi.OB_REFCNT, I64)
    b.store(b.add(b.load(p), I64(1)), p)


def decref(mb: ModuleBuilder, b: L.IRBuilder, o: L.Value, nullable: bool = True) -> None:
    """Py_XDECREF: inline (_Py_Dealloc when the count reaches zero), or a
    call in modules made for quick codegen."""
    if not mb.inline_refcounts:
        b.call(mb.c_function("Py_DecRef"), [o])
        return
    done = b.append_basic_block("decref.done")
    if nullable:
        live = b.append_basic_block("decref.live")
        b.cbranch(b.icmp_unsigned("==", o, L.Constant(OBJ, None)), done, live)
        b.position_at_end(live)
    p = field_ptr(b, o, abi.OB_REFCNT, I64)
    count = b.sub(b.load(p), I64(1))
    b.store(count, p)
    dealloc = b.append_basic_block("decref.dealloc")
    b.cbranch(b.icmp_signed("==", count, I64(0)), dealloc, done)
    b.position_at_end(dealloc)
    b.call(mb.c_function("_Py_Dealloc"), [o])
    b.branch(done)
    b.position_at_end(done)


def branch_on(b: L.IRBuilder, status: L.Value, targets: dict[int, L.Block], otherwise: L.Block) -> None:
    """Go to targets[status], else to `otherwise`: a chain of compares, not
    a switch, which LLVM's fast instruction selector does not handle; the
    usual status, STATUS_OK, is the likely one."""
    for value, target in targets.items():
        next_test = b.append_basic_block("status.other")
        b.cbranch(b.icmp_signed("==", status, I32(value)), target, next_test, likely=value == STATUS_OK)
        b.position_at_end(next_test)
    b.branch(otherwise)


def emit_loop(b: L.IRBuilder, n: L.Value, body: Callable[[L.Value], object]) -> None:
    """for (i = 0; i < n; i++) body(i); the builder ends after the loop."""
    start = b.block
    head = b.append_basic_block("loop")
    step = b.append_basic_block("loop.body")
    done = b.append_basic_block("loop.done")
    b.branch(head)
    b.position_at_end(head)
    i = b.phi(I64)
    i.add_incoming(I64(0), start)
    b.cbranch(b.icmp_signed("<", i, n), step, done)
    b.position_at_end(step)
    body(i)
    i.add_incoming(b.add(i, I64(1)), b.block)
    b.branch(head)
    b.position_at_end(done)


def _shape(m: ir.Materializer) -> tuple:
    """What a materializer rebuilds, comparable: its values and parts, and
    its constant by identity."""
    const = id(m.const) if m.how == "const" else m.const
    return (m.how, tuple(v.id for v in m.args), tuple(map(_shape, m.parts)), const)


def scan(b: L.IRBuilder, start: L.Value, end: L.Value, stops: Callable[[L.Value], L.Value]) -> L.Value:
    """The first index i from `start` (at most `end`) below `end` for which
    stops(i) (made in the loop's body), else `end`; the builder ends after
    the loop."""
    entry = b.block
    head, body, done = (b.append_basic_block(n) for n in ("scan", "scan.char", "scan.done"))
    b.branch(head)
    b.position_at_end(head)
    index = b.phi(I64)
    index.add_incoming(start, entry)
    b.cbranch(b.icmp_signed("<", index, end), body, done)
    b.position_at_end(body)
    stop = stops(index)
    index.add_incoming(b.add(index, I64(1)), b.block)
    b.cbranch(stop, done, head)
    b.position_at_end(done)
    return index


def joined(b: L.IRBuilder, *incoming: tuple[L.Value, L.Block]) -> L.Value:
    """Where paths meet: the value each (value, block it comes from) brings."""
    phi = b.phi(incoming[0][0].type)
    for value, block in incoming:
        phi.add_incoming(value, block)
    return phi


def is_null(b: L.IRBuilder, v: L.Value) -> L.Value:
    return b.icmp_unsigned("==", v, L.Constant(v.type, None))


def null_with_error(b: L.IRBuilder, mb: ModuleBuilder, v: L.Value) -> L.Value:
    """Whether `v`, the result of a call that returns NULL with or without
    an exception set (PyDict_GetItemWithError, PyIter_Next), is NULL with an
    exception: PyErr_Occurred is asked only when `v` is NULL."""
    ask, done = b.append_basic_block("null.ask"), b.append_basic_block("null.done")
    came = b.block
    b.cbranch(is_null(b, v), ask, done)
    b.position_at_end(ask)
    raised = b.icmp_unsigned("!=", b.call(mb.c_function("PyErr_Occurred"), []), L.Constant(OBJ, None))
    b.branch(done)
    b.position_at_end(done)
    return joined(b, (I1(0), came), (raised, ask))


# --- support functions shared by every version -------------------------------------
SUPPORT_PREFIX = "psyco_support_"
# The support functions of every body: its exits, its entry's stack check,
# the lookup of a rebound global, its traceback entry.
COMMON_SUPPORT = ("deopt_exit", "fail_exit", "enter_slow", "global_lookup", "move_traceback_entry")
# The static records of exits (64-bit words; objects by address), one per
# exit, that its single call of deopt_exit or fail_exit passes.
DEOPT_EXIT = ("recipe", "pinned", "pinned_count", "owned", "owned_count", "code", "globals", "pc", "counter",
              "threshold", "callback")
FAIL_EXIT = ("code", "globals", "pc", "exception", "message")  # raise exception(message) first unless 0
SUPPORT_SIGNATURES = {
    "traceback_here": L.FunctionType(VOID, [PTR, OBJ, OBJ, I64, OBJ.as_pointer()]),
    "error": L.FunctionType(I32, [PTR, OBJ, OBJ, I64, OBJ.as_pointer()]),
    "catch": L.FunctionType(OBJ, []),
    "exc_match": L.FunctionType(I32, [OBJ, OBJ]),
    "raise": L.FunctionType(VOID, [OBJ, OBJ]),
    "reraise_handled": L.FunctionType(I1, [PTR]),
    "move_traceback_entry": L.FunctionType(VOID, [PTR, I64]),
    "dict_merge": L.FunctionType(I32, [OBJ, OBJ, OBJ]),
    "raised_status": L.FunctionType(I32, [OBJ]),
    "run_pending_calls": L.FunctionType(I32, [PTR]),
    "materialize": L.FunctionType(OBJ, [OBJ, PTR]),
    "deopt": L.FunctionType(I32, [PTR, PTR, OBJ, OBJ, OBJ, I64, I64, I64, OBJ, OBJ.as_pointer()]),
    "shared_key_index": L.FunctionType(I64, [OBJ, OBJ]),
    "fill_attr_cache": L.FunctionType(VOID, [OBJ, OBJ, I64.as_pointer()]),
    "fill_method_cache": L.FunctionType(VOID, [OBJ, OBJ, I64.as_pointer()]),
    "instance_has": L.FunctionType(I1, [OBJ, OBJ, OBJ]),
    "str_predicate": L.FunctionType(I32, [OBJ, OBJ]),
    "str_scan": L.FunctionType(I64, [OBJ, I64, I1]),
    "int_of": L.FunctionType(OBJ, [OBJ]),
    "global_lookup": L.FunctionType(OBJ, [OBJ, OBJ, OBJ]),
    "enter_slow": L.FunctionType(I32, [PTR, I32, I64]),
    "deopt_exit": L.FunctionType(I32, [PTR, PTR, OBJ.as_pointer(), I64.as_pointer(), I64.as_pointer()]),
    "release": L.FunctionType(VOID, [OBJ.as_pointer(), I64]),
    "fail_exit": L.FunctionType(I32, [PTR, OBJ.as_pointer(), I64.as_pointer(), OBJ.as_pointer(), I64]),
}
# int_of reads this many decimal digits itself: 10**18 - 1 fits in 63 bits.
INT_OF_DIGITS = 18
# An attribute cache (an i64 per instruction) holds a type version tag in
# its high half and an index in the values arrays of that type's instances
# in its low half; 0 when empty.
CACHE_TAG_SHIFT = 32


def has_flag(b: L.IRBuilder, type_: L.Value, flag: int) -> L.Value:
    flags = load_field(b, type_, abi.TYPE_FLAGS, I64)
    return b.icmp_unsigned("!=", b.and_(flags, I64(flag)), I64(0))


def is_exception_instance(b: L.IRBuilder, o: L.Value) -> L.Value:
    return has_flag(b, load_field(b, o, abi.OB_TYPE, OBJ), abi.TPFLAGS_BASE_EXC_SUBCLASS)


def is_exception_class(b: L.IRBuilder, o: L.Value) -> L.Value:
    """PyExceptionClass_Check: a type (only then are its flags read) that
    derives from BaseException."""
    start = b.block
    check, done = b.append_basic_block("exc_class"), b.append_basic_block("exc_class.done")
    b.cbranch(has_flag(b, load_field(b, o, abi.OB_TYPE, OBJ), abi.TPFLAGS_TYPE_SUBCLASS), check, done)
    b.position_at_end(check)
    derives = has_flag(b, o, abi.TPFLAGS_BASE_EXC_SUBCLASS)
    b.branch(done)
    b.position_at_end(done)
    return joined(b, (I1(0), start), (derives, check))


def restore_exception(mb: ModuleBuilder, b: L.IRBuilder, value: L.Value) -> None:
    """Raise the exception instance `value` again, with its traceback."""
    exc_type = load_field(b, value, abi.OB_TYPE, OBJ)
    incref(mb, b, exc_type)
    incref(mb, b, value)
    traceback = b.call(mb.c_function("PyException_GetTraceback"), [value])
    b.call(mb.c_function("PyErr_Restore"), [exc_type, value, traceback])


def handled_exception_slot(b: L.IRBuilder, tstate: L.Value) -> L.Value:
    """Where the thread keeps the exception being handled (exc_info)."""
    return field_ptr(b, load_field(b, tstate, abi.TSTATE_EXC_INFO, PTR), abi.EXC_INFO_VALUE, OBJ)


def leave_frame(b: L.IRBuilder, tstate: L.Value) -> None:
    """Give back the recursion depth a body took when it started."""
    rem_ptr = field_ptr(b, tstate, abi.TSTATE_RECURSION_REMAINING, I32)
    b.store(b.add(b.load(rem_ptr), I32(1)), rem_ptr)


class SupportCodegen:
    """The cold paths of every exit, each compiled once per process when a
    version first calls it (`Engine.support_address`): raising (traceback
    entry) and deoptimizing (rebuilding the interpreter frame)."""

    def __init__(self, name: str) -> None:
        self.mb = ModuleBuilder(name, inline_refcounts=False)

    def build(self, names: Iterable[str]) -> L.Module:
        for name in names:
            getattr(self, f"_define_{name}")()
        return self.mb.module

    def _define_release(self) -> L.Function:
        """void release(objects, n): drop a reference to each of the `n`
        objects at `objects`."""
        f, b = self._cold_function("release")
        objects, n = f.args
        emit_loop(b, n, lambda i: b.call(self.mb.c_function("Py_DecRef"), [b.load(b.gep(objects, [i]))]))
        b.ret_void()
        return f

    def _define_deopt_exit(self) -> L.Function:
        """i32 deopt_exit(tstate, trampoline_frame, out, record, words): the
        deopt exit of a DEOPT_EXIT record with its native values at `words`:
        materialize the frame values, drop the references of the words the
        exit owns, deopt."""
        f, b = self._cold_function("deopt_exit")
        tstate, trampoline_frame, out, record, words = f.args
        field = {name: b.load(b.gep(record, [I64(i)])) for i, name in enumerate(DEOPT_EXIT)}

        def each_object(indices: str, function: str) -> None:
            """function(word) for the object words at the record's `indices`."""
            at = b.inttoptr(field[indices], I64.as_pointer())
            emit_loop(b, field[f"{indices}_count"], lambda i: b.call(self.mb.c_function(function), [
                b.inttoptr(b.load(b.gep(words, [b.load(b.gep(at, [i]))])), OBJ)]))
        # The recipe runs Python code: the objects it reads, items borrowed
        # from containers among them, must outlive anything that code does.
        each_object("pinned", "Py_IncRef")
        values = b.call(self._support("materialize"), [b.inttoptr(field["recipe"], OBJ), b.bitcast(words, PTR)])
        each_object("pinned", "Py_DecRef")
        each_object("owned", "Py_DecRef")
        b.ret(b.call(self._support("deopt"), [
            tstate, trampoline_frame, b.inttoptr(field["code"], OBJ), b.inttoptr(field["globals"], OBJ), values,
            field["pc"], field["counter"], field["threshold"], b.inttoptr(field["callback"], OBJ), out]))
        return f

    def _define_fail_exit(self) -> L.Function:
        """i32 fail_exit(tstate, frame_slot, record, owned, n): the error exit
        of a FAIL_EXIT record: raise its exception if it has one, drop the
        `n` references at `owned`, add the traceback entry (its frame kept
        in `frame_slot`: see traceback_here), return STATUS_ERROR."""
        f, b = self._cold_function("fail_exit")
        tstate, frame_slot, record, owned, n = f.args
        field = {name: b.load(b.gep(record, [I64(i)])) for i, name in enumerate(FAIL_EXIT)}
        raising, raised = b.append_basic_block("raising"), b.append_basic_block("raised")
        b.cbranch(b.icmp_unsigned("!=", field["exception"], I64(0)), raising, raised)
        b.position_at_end(raising)
        b.call(self.mb.c_function("PyErr_SetString"), [b.inttoptr(field["exception"], OBJ),
                                                       b.inttoptr(field["message"], PTR)])
        b.branch(raised)
        b.position_at_end(raised)
        b.call(self._support("release"), [owned, n])
        b.ret(b.call(self._support("error"), [
            tstate, b.inttoptr(field["code"], OBJ), b.inttoptr(field["globals"], OBJ), field["pc"], frame_slot]))
        return f

    def _support(self, name: str) -> L.Function:
        """Another support function: defined in this module if it is built
        here too, else by an earlier module."""
        return self.mb.declare(SUPPORT_PREFIX + name, SUPPORT_SIGNATURES[name])

    def _cold_function(self, name: str) -> tuple[L.Function, L.IRBuilder]:
        f = self._support(name)
        f.attributes.add("noinline")
        f.attributes.add("cold")
        return f, L.IRBuilder(f.append_basic_block("start"))

    def _frame_at(self, b: L.IRBuilder, tstate: L.Value, code: L.Value, globals_: L.Value,
                  pc: L.Value) -> tuple[L.Value, L.Value, L.Block]:
        """A new frame of `code` with prev_instr at unit `pc`;
        returns (frame, its _PyInterpreterFrame, block taken if NULL)."""
        frame = b.call(self.mb.c_function("PyFrame_New"), [tstate, code, globals_, L.Constant(OBJ, None)])
        fail = b.append_basic_block("no_frame")
        ok = b.append_basic_block("frame")
        b.cbranch(is_null(b, frame), fail, ok)
        b.position_at_end(ok)
        iframe = load_field(b, frame, abi.FRAME_F_FRAME, PTR)
        self._point_at(b, iframe, code, pc)
        return frame, iframe, fail

    @staticmethod
    def _point_at(b: L.IRBuilder, iframe: L.Value, code: L.Value, pc: L.Value) -> None:
        """Set the frame's prev_instr to unit `pc` of `code`."""
        address = b.add(b.ptrtoint(code, I64), b.add(I64(abi.CODE_ADAPTIVE), b.mul(pc, I64(abi.CODE_UNIT))))
        store_field(b, iframe, abi.IFRAME_PREV_INSTR, b.inttoptr(address, PTR))

    def _define_move_traceback_entry(self) -> L.Function:
        """void move_traceback_entry(tstate, shift): the body's traceback
        entry is on top; the trampoline frame that called the entry adds its
        own when the entry returns NULL.  Drop ours and point the trampoline
        frame at the same instruction (`shift`: the bytes from the
        trampoline code object to its copy of the original unit 0), so the
        traceback is the interpreter's exactly."""
        f, b = self._cold_function("move_traceback_entry")
        tstate, shift = f.args
        slots = [b.alloca(OBJ) for _ in range(3)]
        b.call(self.mb.c_function("PyErr_Fetch"), [b.bitcast(s, PTR) for s in slots])
        exc_type, exc_value, tb = (b.load(s) for s in slots)
        have = b.append_basic_block("tb.have")
        done = b.append_basic_block("tb.restore")
        start = b.block
        b.cbranch(is_null(b, tb), done, have)
        b.position_at_end(have)
        lasti = b.sext(load_field(b, tb, abi.TB_LASTI, I32), I64)
        rest = load_field(b, tb, abi.TB_NEXT, OBJ)
        non_null = b.append_basic_block("tb.rest")
        after = b.append_basic_block("tb.moved")
        b.cbranch(is_null(b, rest), after, non_null)
        b.position_at_end(non_null)
        incref(self.mb, b, rest)
        b.branch(after)
        b.position_at_end(after)
        decref(self.mb, b, tb, nullable=False)
        cframe = load_field(b, tstate, abi.TSTATE_CFRAME, PTR)
        frame = load_field(b, cframe, abi.CFRAME_CURRENT_FRAME, PTR)
        code = load_field(b, frame, abi.IFRAME_CODE, PTR)
        instr = b.gep(code, [b.add(lasti, shift)])
        store_field(b, frame, abi.IFRAME_PREV_INSTR, instr)
        moved_from = b.block
        b.branch(done)
        b.position_at_end(done)
        new_tb = joined(b, (L.Constant(OBJ, None), start), (rest, moved_from))
        b.call(self.mb.c_function("PyErr_Restore"), [exc_type, exc_value, new_tb])
        b.ret_void()
        return f

    def _define_enter_slow(self) -> L.Function:
        """i32 enter_slow(tstate, limit, frame_bytes): a body's entry found
        the recursion count exhausted or the depth past `limit`, what the C
        stack surely holds of frames of `frame_bytes` (the count already
        taken): as the interpreter, _Py_CheckRecursiveCall (which may raise
        RecursionError); then, past `limit`, RecursionError, unless the
        thread's stack (`_stack_bounds`) has room for two more such frames
        and STACK_MARGIN: the depth counts interpreted frames too, which
        take little C stack.  1 when the call must not go on (the error
        set), else 0."""
        f = self._support("enter_slow")
        f.attributes.add("noinline")
        b = L.IRBuilder(f.append_basic_block("start"))
        tstate, limit, frame_bytes = f.args
        here = b.ptrtoint(b.alloca(I8), I64)  # an address in this frame: where the stack is
        rem_ptr = field_ptr(b, tstate, abi.TSTATE_RECURSION_REMAINING, I32)
        check, checked, refuse = (b.append_basic_block(n) for n in ("check", "checked", "refuse"))
        b.cbranch(b.icmp_signed("<", b.load(rem_ptr), I32(0)), check, checked)
        b.position_at_end(check)
        failed = b.call(self.mb.c_function("_Py_CheckRecursiveCall"), [tstate, self.mb.cstring("")])
        b.cbranch(b.icmp_signed("!=", failed, I32(0)), refuse, checked)
        b.position_at_end(refuse)
        b.ret(I32(1))
        b.position_at_end(checked)
        # reloaded: _Py_CheckRecursiveCall may have raised the limit
        depth = b.sub(load_field(b, tstate, abi.TSTATE_RECURSION_LIMIT, I32), b.load(rem_ptr))
        past_limit, too_deep, fine = (b.append_basic_block(n) for n in ("past_limit", "too_deep", "fine"))
        b.cbranch(b.icmp_signed(">", depth, limit), past_limit, fine)
        b.position_at_end(fine)
        b.ret(I32(0))
        b.position_at_end(past_limit)
        bounds = self._stack_bounds(b, tstate, too_deep)
        if bounds is None:
            b.branch(too_deep)
        else:
            lowest, highest = bounds
            quarter = b.lshr(b.sub(highest, lowest), I64(2))
            margin = b.select(b.icmp_unsigned("<", quarter, I64(STACK_MARGIN)), quarter, I64(STACK_MARGIN))
            needed = b.add(lowest, b.add(b.mul(frame_bytes, I64(2)), margin))
            room = b.and_(b.icmp_unsigned(">", here, needed), b.icmp_unsigned("<", here, highest))
            b.cbranch(room, fine, too_deep)
        b.position_at_end(too_deep)
        b.store(b.add(b.load(rem_ptr), I32(1)), rem_ptr)
        b.call(self.mb.c_function("PyErr_SetString"), [obj_const(b, RecursionError),
                                                       self.mb.cstring("maximum recursion depth exceeded")])
        b.ret(I32(1))
        return f

    def _stack_bounds(self, b: L.IRBuilder, tstate: L.Value,
                      unknown: L.Block) -> tuple[L.Value, L.Value] | None:
        """(lowest, highest) address of the current thread's C stack: the
        main thread's from `main_stack`, another's from glibc
        (pthread_getattr_np, which for the main thread would read
        /proc/self/maps at each call); `unknown` is taken if glibc cannot
        tell.  None if neither is available."""
        stack, thread_stack = main_stack(), thread_stack_functions()
        if stack is None and thread_stack is None:
            return None
        start = b.block
        other, known = b.append_basic_block("other_thread"), b.append_basic_block("stack_known")
        if stack is None:
            b.branch(other)
        else:
            main_tstate, main_lowest, main_highest = stack
            b.cbranch(b.icmp_unsigned("==", b.ptrtoint(tstate, I64), I64(main_tstate)), known, other)
        b.position_at_end(other)
        if thread_stack is None:
            b.branch(unknown)
            b.position_at_end(known)
            return I64(main_lowest), I64(main_highest)
        this_thread, get_attributes, get_stack, destroy = thread_stack
        attributes_ptr = b.bitcast(b.alloca(I64, PTHREAD_ATTR_BYTES // 8), PTR)  # 8-byte aligned
        address, size = b.alloca(PTR), b.alloca(I64)
        thread = b.call(at_address(this_thread, L.FunctionType(I64, []).as_pointer()), [])
        get_attributes_type = L.FunctionType(I32, [I64, PTR]).as_pointer()
        failed = b.call(at_address(get_attributes, get_attributes_type), [thread, attributes_ptr])
        read = b.append_basic_block("stack_read")
        b.cbranch(b.icmp_signed("!=", failed, I32(0)), unknown, read)
        b.position_at_end(read)
        b.call(at_address(get_stack, L.FunctionType(I32, [PTR, PTR.as_pointer(), I64.as_pointer()]).as_pointer()),
               [attributes_ptr, address, size])
        b.call(at_address(destroy, L.FunctionType(I32, [PTR]).as_pointer()), [attributes_ptr])
        lowest = b.ptrtoint(b.load(address), I64)
        highest = b.add(lowest, b.load(size))
        b.branch(known)
        b.position_at_end(known)
        if stack is None:
            return joined(b, (lowest, read)), joined(b, (highest, read))
        return (joined(b, (I64(main_lowest), start), (lowest, read)),
                joined(b, (I64(main_highest), start), (highest, read)))

    def _define_global_lookup(self) -> L.Function:
        """obj global_lookup(globals, builtins, name): the value of `name`
        in the globals, else in the builtins (unless NULL), borrowed; NULL if
        absent (or an error is set)."""
        f = self._support("global_lookup")
        f.attributes.add("noinline")
        b = L.IRBuilder(f.append_basic_block("start"))
        globals_, builtins, name = f.args
        get = self.mb.c_function("PyDict_GetItemWithError")
        found = b.call(get, [globals_, name])
        look, done = b.append_basic_block("builtins"), b.append_basic_block("done")
        b.cbranch(b.and_(is_null(b, found), b.icmp_unsigned("!=", builtins, L.Constant(OBJ, None))), look, done)
        b.position_at_end(done)
        b.ret(found)
        b.position_at_end(look)
        b.ret(b.call(get, [builtins, name]))
        return f

    def _define_str_predicate(self) -> L.Function:
        """i32 str_predicate(method, text): method(text) as 1 or 0 (a str
        predicate answers a bool), -1 if it raised."""
        f, b = self._cold_function("str_predicate")
        method, text = f.args
        arg = b.alloca(OBJ)
        b.store(text, arg)
        answer = b.call(self.mb.c_function("PyObject_Vectorcall"), [method, b.bitcast(arg, PTR), I64(1),
                                                                     L.Constant(OBJ, None)])
        failed, answered = b.append_basic_block("failed"), b.append_basic_block("answered")
        b.cbranch(is_null(b, answer), failed, answered)
        b.position_at_end(failed)
        b.ret(I32(-1))
        b.position_at_end(answered)
        true = b.icmp_unsigned("==", answer, obj_const(b, True))
        decref(self.mb, b, answer, nullable=False)
        b.ret(b.zext(true, I32))
        return f

    def _define_str_scan(self) -> L.Function:
        """i64 str_scan(text, start, space): the str_scan op for any exact
        str (characters of 1, 2 or 4 bytes; past ASCII, whitespace as
        _PyUnicode_IsWhitespace says); a legacy string is made ready first,
        -1 if that raised.  Not cold: a loop over words of such text calls
        it for each."""
        f = self._support("str_scan")
        b = L.IRBuilder(f.append_basic_block("start"))
        text, start, space = f.args
        state_ptr = field_ptr(b, text, abi.UNICODE_STATE, I32)
        unready, failed, ready = (b.append_basic_block(n) for n in ("unready", "failed", "ready"))
        b.cbranch(b.icmp_unsigned("==", b.and_(b.load(state_ptr), I32(abi.UNICODE_READY)), I32(0)), unready, ready)
        b.position_at_end(unready)
        made = b.call(self.mb.c_function("_PyUnicode_Ready"), [text])
        b.cbranch(b.icmp_signed("<", made, I32(0)), failed, ready)
        b.position_at_end(failed)
        b.ret(I64(-1))
        b.position_at_end(ready)
        state = b.load(state_ptr)

        def has(bit: int) -> L.Value:
            return b.icmp_unsigned("!=", b.and_(state, I32(bit)), I32(0))
        inline_data = b.gep(b.bitcast(text, PTR), [b.select(has(abi.UNICODE_ASCII), I64(abi.UNICODE_ASCII_DATA),
                                                            I64(abi.UNICODE_COMPACT_DATA))])
        data = b.select(has(abi.UNICODE_COMPACT), inline_data, load_field(b, text, abi.UNICODE_DATA_POINTER, PTR))
        length = load_field(b, text, abi.UNICODE_LENGTH, I64)
        kind = b.and_(b.lshr(state, I32(abi.UNICODE_KIND_SHIFT)), I32(abi.UNICODE_KIND_MASK))
        table = field_ptr(b, obj_const(b, ASCII_WHITESPACE), abi.BYTES_DATA, I8)

        def stops(chars: L.Value, i: L.Value) -> L.Value:
            """Whether character `i` of `chars` is (`space`) or is not whitespace."""
            code = b.zext(b.load(b.gep(chars, [i])), I64)
            ascii_, wide, judged = (b.append_basic_block(n) for n in ("ascii", "wide", "judged"))
            b.cbranch(b.icmp_unsigned("<", code, I64(128)), ascii_, wide)
            b.position_at_end(ascii_)
            in_table = b.icmp_unsigned("!=", b.load(b.gep(table, [code])), I8(0))
            b.branch(judged)
            b.position_at_end(wide)
            asked = b.call(self.mb.c_function("_PyUnicode_IsWhitespace"), [b.trunc(code, I32)])
            in_unicode = b.icmp_signed("!=", asked, I32(0))
            b.branch(judged)
            b.position_at_end(judged)
            return b.icmp_unsigned("==", joined(b, (in_table, ascii_), (in_unicode, wide)), space)
        for width in (1, 2, 4):
            this, other = b.append_basic_block(f"kind{width}"), b.append_basic_block(f"not_kind{width}")
            b.cbranch(b.icmp_unsigned("==", kind, I32(width)), this, other)
            b.position_at_end(this)
            chars = b.bitcast(data, L.IntType(8 * width).as_pointer())
            b.ret(scan(b, start, length, functools.partial(stops, chars)))
            b.position_at_end(other)
        b.ret(length)  # no other kind is ready
        return f

    def _define_int_of(self) -> L.Function:
        """obj int_of(o): int(o) for one argument.  An exact str of at most
        INT_OF_DIGITS ASCII digits after an optional sign is read here (what
        int() makes of it: leading zeros allowed, "-0" is 0); anything else
        goes to PyNumber_Long, as int's own call does (spaces, underscores,
        other digits, longer numbers, errors).  NULL if it raised.  Not
        cold: a loop over records calls it for each field."""
        f = self._support("int_of")
        f.attributes.add("noinline")
        b = L.IRBuilder(f.append_basic_block("start"))
        (o,) = f.args
        text, slow = b.append_basic_block("text"), b.append_basic_block("slow")
        b.cbranch(b.icmp_unsigned("==", load_field(b, o, abi.OB_TYPE, OBJ), obj_const(b, str)), text, slow)
        b.position_at_end(text)
        mask = I32(abi.UNICODE_COMPACT_ASCII)
        ascii_ = b.icmp_unsigned("==", b.and_(load_field(b, o, abi.UNICODE_STATE, I32), mask), mask)
        length = load_field(b, o, abi.UNICODE_LENGTH, I64)
        short = b.icmp_unsigned("<=", b.sub(length, I64(1)), I64(INT_OF_DIGITS))  # 1 .. digits + a sign
        first, read = b.append_basic_block("first"), b.append_basic_block("read")
        b.cbranch(b.and_(ascii_, short), first, slow)
        b.position_at_end(first)
        chars = field_ptr(b, o, abi.UNICODE_ASCII_DATA, I8)
        lead = b.load(chars)
        minus = b.icmp_unsigned("==", lead, I8(ord("-")))
        start = b.zext(b.or_(minus, b.icmp_unsigned("==", lead, I8(ord("+")))), I64)
        digits = b.sub(length, start)
        fits = b.and_(b.icmp_signed(">", digits, I64(0)), b.icmp_signed("<=", digits, I64(INT_OF_DIGITS)))
        b.cbranch(fits, read, slow)
        b.position_at_end(read)

        def digit(i: L.Value) -> L.Value:
            return b.zext(b.sub(b.load(b.gep(chars, [i])), I8(ord("0"))), I64)
        stop = scan(b, start, length, lambda i: b.icmp_unsigned(">", digit(i), I64(9)))
        all_digits, parsed = b.append_basic_block("digits"), b.append_basic_block("parsed")
        b.cbranch(b.icmp_unsigned("==", stop, length), all_digits, slow)
        b.position_at_end(all_digits)
        entry = b.block
        head, step = b.append_basic_block("accumulate"), b.append_basic_block("accumulate.digit")
        b.branch(head)
        b.position_at_end(head)
        i, total = b.phi(I64), b.phi(I64)
        i.add_incoming(start, entry)
        total.add_incoming(I64(0), entry)
        b.cbranch(b.icmp_signed("<", i, length), step, parsed)
        b.position_at_end(step)
        i.add_incoming(b.add(i, I64(1)), step)
        total.add_incoming(b.add(b.mul(total, I64(10)), digit(i)), step)
        b.branch(head)
        b.position_at_end(parsed)
        value = b.select(minus, b.sub(I64(0), total), total)
        b.ret(b.call(self.mb.c_function("PyLong_FromLongLong"), [value]))
        b.position_at_end(slow)
        b.ret(b.call(self.mb.c_function("PyNumber_Long"), [o]))
        return f

    def _define_run_pending_calls(self) -> L.Function:
        """i32 run_pending_calls(interp): what the interpreter does when the
        eval breaker is set: hand the GIL over if another thread asked for
        it, then run signal handlers and pending calls; negative if they
        raised."""
        f, b = self._cold_function("run_pending_calls")
        drop = b.load_atomic(field_ptr(b, f.args[0], abi.INTERP_GIL_DROP_REQUEST, I32), "monotonic", 4)
        switch, calls = b.append_basic_block("gil_switch"), b.append_basic_block("pending_calls")
        b.cbranch(b.icmp_signed("!=", drop, I32(0)), switch, calls)
        b.position_at_end(switch)
        state = b.call(self.mb.c_function("PyEval_SaveThread"), [])
        b.call(self.mb.c_function("PyEval_RestoreThread"), [state])
        b.branch(calls)
        b.position_at_end(calls)
        b.ret(b.call(self.mb.c_function("Py_MakePendingCalls"), []))
        return f

    def _define_raised_status(self) -> L.Function:
        """i32 raised_status(code): the status of an exception re-raised as
        it was (RERAISE, a bare `raise`): STATUS_ERROR when the entry on top
        of its traceback is one of `code`'s, STATUS_NO_ENTRY when it is
        another frame's exception."""
        f, b = self._cold_function("raised_status")
        slots = [b.alloca(OBJ) for _ in range(3)]
        b.call(self.mb.c_function("PyErr_Fetch"), [b.bitcast(p, PTR) for p in slots])
        tb = b.load(slots[2])
        no_tb, check = b.append_basic_block("no_tb"), b.append_basic_block("tb")
        b.cbranch(is_null(b, tb), no_tb, check)
        b.position_at_end(check)
        entry_frame = load_field(b, load_field(b, tb, abi.TB_FRAME, OBJ), abi.FRAME_F_FRAME, PTR)
        own = b.icmp_unsigned("==", load_field(b, entry_frame, abi.IFRAME_CODE, OBJ), f.args[0])
        b.call(self.mb.c_function("PyErr_Restore"), [b.load(p) for p in slots])
        b.ret(b.select(own, I32(STATUS_ERROR), I32(STATUS_NO_ENTRY)))
        b.position_at_end(no_tb)
        b.call(self.mb.c_function("PyErr_Restore"), [b.load(p) for p in slots])
        b.ret(I32(STATUS_NO_ENTRY))
        return f

    def _define_dict_merge(self) -> L.Function:
        """i32 dict_merge(func, dict, update): DICT_MERGE for a call of
        `func` with **update (a dict): merge, a repeated keyword being the
        interpreter's TypeError; -1 on error."""
        f, b = self._cold_function("dict_merge")
        func, dict_, update = f.args
        r = b.call(self.mb.c_function("_PyDict_MergeEx"), [dict_, update, I32(2)])
        failed, merged = b.append_basic_block("failed"), b.append_basic_block("merged")
        b.cbranch(b.icmp_signed("<", r, I32(0)), failed, merged)
        b.position_at_end(merged)
        b.ret(I32(0))
        b.position_at_end(failed)
        repeated, other = b.append_basic_block("repeated"), b.append_basic_block("other")
        key_error = b.call(self.mb.c_function("PyErr_ExceptionMatches"), [obj_const(b, KeyError)])
        b.cbranch(b.icmp_signed("!=", key_error, I32(0)), repeated, other)
        b.position_at_end(other)
        b.ret(I32(-1))
        b.position_at_end(repeated)
        # The KeyError's value is still the tuple (key,) it was raised with.
        slots = [b.alloca(OBJ) for _ in range(3)]
        b.call(self.mb.c_function("PyErr_Fetch"), [b.bitcast(p, PTR) for p in slots])
        value = b.load(slots[1])
        have, restore = b.append_basic_block("have_value"), b.append_basic_block("restore")
        b.cbranch(is_null(b, value), restore, have)
        b.position_at_end(have)
        one_key, format_ = b.append_basic_block("one_key"), b.append_basic_block("format")
        b.cbranch(b.icmp_unsigned("==", load_field(b, value, abi.OB_TYPE, OBJ), obj_const(b, tuple)), one_key, restore)
        b.position_at_end(one_key)
        b.cbranch(b.icmp_signed("==", load_field(b, value, abi.OB_SIZE, I64), I64(1)), format_, restore)
        b.position_at_end(format_)
        name = b.call(self.mb.c_function("_PyObject_FunctionStr"), [func])
        named, done = b.append_basic_block("named"), b.append_basic_block("done")
        b.cbranch(is_null(b, name), done, named)
        b.position_at_end(named)
        key = load_field(b, value, abi.TUPLE_ITEMS, OBJ)
        self._type_error(b, "%U got multiple values for keyword argument '%S'", name, key)
        decref(self.mb, b, name, nullable=False)
        b.branch(done)
        b.position_at_end(done)
        for p in slots:
            decref(self.mb, b, b.load(p))
        b.ret(I32(-1))
        b.position_at_end(restore)
        b.call(self.mb.c_function("PyErr_Restore"), [b.load(p) for p in slots])
        b.ret(I32(-1))
        return f

    def _define_shared_key_index(self) -> L.Function:
        """i64 shared_key_index(type, name): where `name` is among the keys
        shared by the instances of heap type `type`, -1 if it is not."""
        f, b = self._cold_function("shared_key_index")
        tp, name = f.args
        keys = load_field(b, tp, abi.HEAPTYPE_CACHED_KEYS, PTR)
        none, scan, found = (b.append_basic_block(n) for n in ("none", "scan", "found"))
        b.cbranch(is_null(b, keys), none, scan)
        b.position_at_end(scan)
        log2_index_bytes = b.zext(load_field(b, keys, abi.DICTKEYS_LOG2_INDEX_BYTES, I8), I64)
        entries = b.gep(keys, [b.add(I64(abi.DICTKEYS_INDICES), b.shl(I64(1), log2_index_bytes))])
        index = b.alloca(I64)
        b.store(I64(-1), index)

        def compare(i: L.Value) -> None:
            key = b.load(b.bitcast(b.gep(entries, [b.mul(i, I64(abi.DICTKEYS_ENTRY_SIZE))]), OBJ.as_pointer()))
            same, differ, hit, next_ = (b.append_basic_block(n) for n in ("same", "differ", "hit", "next"))
            b.cbranch(b.icmp_unsigned("==", key, name), hit, differ)
            b.position_at_end(differ)
            b.cbranch(is_null(b, key), next_, same)
            b.position_at_end(same)  # an equal string that is not the same object
            equal = b.icmp_signed("==", b.call(self.mb.c_function("PyUnicode_Compare"), [key, name]), I32(0))
            b.cbranch(equal, hit, next_)
            b.position_at_end(hit)
            b.store(i, index)
            b.branch(found)
            b.position_at_end(next_)
        emit_loop(b, load_field(b, keys, abi.DICTKEYS_NENTRIES, I64), compare)
        b.branch(found)
        b.position_at_end(found)
        b.ret(b.load(index))
        b.position_at_end(none)
        b.ret(I64(-1))
        return f

    def _define_instance_has(self) -> L.Function:
        """i1 instance_has(owner, cls, name): may the instance (of exactly
        `cls`, a class with a managed dict) have an attribute `name` of its
        own?  Either among its class's shared keys or in its real dict."""
        f, b = self._cold_function("instance_has")
        owner, cls, name = f.args
        with_values, with_dict, dict_lookup = (b.append_basic_block(n) for n in ("values", "dict", "lookup"))
        values = load_field(b, owner, abi.OBJECT_VALUES, PTR)
        b.cbranch(is_null(b, values), with_dict, with_values)
        b.position_at_end(with_values)
        index = b.call(self._support("shared_key_index"), [cls, name])
        b.ret(b.icmp_signed(">=", index, I64(0)))
        b.position_at_end(with_dict)
        dict_ = load_field(b, owner, abi.OBJECT_MANAGED_DICT, OBJ)
        no_dict = b.append_basic_block("no_dict")
        b.cbranch(is_null(b, dict_), no_dict, dict_lookup)
        b.position_at_end(no_dict)
        b.ret(I1(0))
        b.position_at_end(dict_lookup)
        found = b.call(self.mb.c_function("PyDict_GetItemWithError"), [dict_, name])
        failed = b.icmp_unsigned("!=", b.call(self.mb.c_function("PyErr_Occurred"), []), L.Constant(OBJ, None))
        b.ret(b.or_(b.not_(is_null(b, found)), failed))  # an error: let the interpreter look again
        return f

    def _define_fill_attr_cache(self) -> L.Function:
        """void fill_attr_cache(owner, name, cache): after a generic access
        of `owner.name`, remember where instances of owner's type keep
        `name`, when the interpreter's LOAD_ATTR_INSTANCE_VALUE would: a
        class with a managed dict, generic attribute access, no class
        attribute `name` (so no descriptor), a valid version tag, and the
        name among the shared keys."""
        f, b, tp, require = self._cache_filler("fill_attr_cache")
        _, name, cache = f.args
        flags = load_field(b, tp, abi.TYPE_FLAGS, I64)
        require(b.icmp_unsigned("!=", b.and_(flags, I64(abi.TPFLAGS_MANAGED_DICT)), I64(0)))
        for offset, generic in ((abi.TYPE_GETATTRO, "PyObject_GenericGetAttr"),
                                (abi.TYPE_SETATTRO, "PyObject_GenericSetAttr")):
            slot = load_field(b, tp, offset, PTR)
            require(b.icmp_unsigned("==", slot, b.bitcast(self.mb.c_function(generic), PTR)))
        require(is_null(b, b.call(self.mb.c_function("_PyType_Lookup"), [tp, name])))
        tag = b.zext(load_field(b, tp, abi.TYPE_VERSION_TAG, I32), I64)
        require(b.icmp_unsigned("!=", tag, I64(0)))
        index = b.call(self._support("shared_key_index"), [tp, name])
        require(b.icmp_signed(">=", index, I64(0)))
        b.store(b.or_(b.shl(tag, I64(CACHE_TAG_SHIFT)), index), cache)
        b.ret_void()
        return f

    def _cache_filler(self, name: str) -> tuple[L.Function, L.IRBuilder, L.Value, Callable[[L.Value], None]]:
        """The support function `name`(owner, name, cache) that fills a
        cache only when conditions hold: (the function, its builder, the
        owner's type, `require`, which returns unless its condition holds)."""
        f, b = self._cold_function(name)
        give_up, start = b.append_basic_block("give_up"), b.block
        b.position_at_end(give_up)
        b.ret_void()
        b.position_at_end(start)

        def require(cond: L.Value) -> None:
            ok = b.append_basic_block("ok")
            b.cbranch(cond, ok, give_up)
            b.position_at_end(ok)

        return f, b, load_field(b, f.args[0], abi.OB_TYPE, PTR), require

    def _define_fill_method_cache(self) -> L.Function:
        """void fill_method_cache(owner, name, cache): remember in
        cache[0..1] (type version tag, method) the method descriptor
        `owner.name` finds on owner's type, when the interpreter's
        LOAD_METHOD_NO_DICT would: generic attribute access, instances
        without a __dict__ (nothing can shadow the method), a descriptor
        called with self and a valid version tag (the descriptor lives in
        the type's dict as long as the tag is unchanged)."""
        f, b, tp, require = self._cache_filler("fill_method_cache")
        _, name, cache = f.args
        slot = load_field(b, tp, abi.TYPE_GETATTRO, PTR)
        require(b.icmp_unsigned("==", slot, b.bitcast(self.mb.c_function("PyObject_GenericGetAttr"), PTR)))
        require(b.icmp_signed("==", load_field(b, tp, abi.TYPE_DICTOFFSET, I64), I64(0)))
        method = b.call(self.mb.c_function("_PyType_Lookup"), [tp, name])
        require(b.not_(is_null(b, method)))
        flags = load_field(b, load_field(b, method, abi.OB_TYPE, PTR), abi.TYPE_FLAGS, I64)
        require(b.icmp_unsigned("!=", b.and_(flags, I64(abi.TPFLAGS_METHOD_DESCRIPTOR)), I64(0)))
        tag = b.zext(load_field(b, tp, abi.TYPE_VERSION_TAG, I32), I64)
        require(b.icmp_unsigned("!=", tag, I64(0)))
        b.store(b.ptrtoint(method, I64), b.gep(cache, [I64(1)]))
        b.store(tag, cache)
        b.ret_void()
        return f

    def _define_traceback_here(self) -> L.Function:
        """void traceback_here(tstate, code, globals, pc, slot): add the
        traceback entry the interpreter would have made: a frame of `code`
        at `pc`, passed to PyTraceBack_Here.  The entry records the
        instruction itself, so one frame serves all the entries of a call,
        as the interpreter's frame does: made at the first and kept in
        `slot`, the body's, which drops it when the call returns.  A NULL
        `slot` (a body without exception handlers makes one entry at most
        per call): the frame is dropped here, the traceback keeps it."""
        f, b = self._cold_function("traceback_here")
        tstate, code, globals_, pc, body_slot = f.args
        own_slot = b.alloca(OBJ)
        b.store(L.Constant(OBJ, None), own_slot)
        slot = b.select(is_null(b, body_slot), own_slot, body_slot)
        start = b.block
        make, ready = b.append_basic_block("make_frame"), b.append_basic_block("ready")
        kept = b.load(slot)
        b.cbranch(is_null(b, kept), make, ready)
        b.position_at_end(make)
        made = b.call(self.mb.c_function("PyFrame_New"), [tstate, code, globals_, L.Constant(OBJ, None)])
        b.store(made, slot)
        no_frame, link = b.append_basic_block("no_frame"), b.append_basic_block("link")
        b.cbranch(is_null(b, made), no_frame, link)
        b.position_at_end(no_frame)
        b.ret_void()
        b.position_at_end(link)
        # Its variables are all unset: an empty stack, or reading f_locals
        # would take them for set (a closure's free variables as cells: a crash).
        store_field(b, load_field(b, made, abi.FRAME_F_FRAME, PTR), abi.IFRAME_STACKTOP, I32(0))
        self._link_caller(b, made, code)
        linked = b.block
        b.branch(ready)
        b.position_at_end(ready)
        frame = joined(b, (kept, start), (made, linked))
        self._point_at(b, load_field(b, frame, abi.FRAME_F_FRAME, PTR), code, pc)
        b.call(self.mb.c_function("PyTraceBack_Here"), [frame])
        drop, done = b.append_basic_block("drop_frame"), b.append_basic_block("done")
        b.cbranch(is_null(b, body_slot), drop, done)
        b.position_at_end(drop)
        b.call(self.mb.c_function("Py_DecRef"), [frame])
        b.branch(done)
        b.position_at_end(done)
        b.ret_void()
        return f

    def _link_caller(self, b: L.IRBuilder, frame: L.Value, code: L.Value) -> None:
        """Give a stand-in frame of `code` its caller (`f_back`): the frame
        running machine code, that of the outermost compiled function of
        the direct calls under way, or, when that is the function's own
        frame (of a code of the same file and qualified name: its
        trampoline), the caller of that frame."""
        current = b.call(self.mb.c_function("PyEval_GetFrame"), [])  # borrowed
        have, done = b.append_basic_block("caller"), b.append_basic_block("caller.done")
        b.cbranch(is_null(b, current), done, have)
        b.position_at_end(have)
        running = load_field(b, load_field(b, current, abi.FRAME_F_FRAME, PTR), abi.IFRAME_CODE, OBJ)
        same = [b.icmp_unsigned("==", load_field(b, running, offset, PTR), load_field(b, code, offset, PTR))
                for offset in (abi.CODE_FILENAME, abi.CODE_QUALNAME)]
        own, other, store = (b.append_basic_block(name) for name in ("caller.own", "caller.other", "caller.store"))
        b.cbranch(b.and_(*same), own, other)
        b.position_at_end(own)
        back = b.call(self.mb.c_function("PyFrame_GetBack"), [current])  # a new reference, or NULL
        b.branch(store)
        b.position_at_end(other)
        b.call(self.mb.c_function("Py_IncRef"), [current])
        b.branch(store)
        b.position_at_end(store)
        store_field(b, frame, abi.FRAME_F_BACK, joined(b, (back, own), (current, other)))
        b.branch(done)
        b.position_at_end(done)

    def _define_error(self) -> L.Function:
        """i32 error(tstate, code, globals, pc, slot): traceback_here, then
        leave the recursion count and return STATUS_ERROR."""
        f, b = self._cold_function("error")
        b.call(self._support("traceback_here"), list(f.args))
        leave_frame(b, f.args[0])
        b.ret(I32(STATUS_ERROR))
        return f

    def _define_catch(self) -> L.Function:
        """obj catch(): take the raised exception as the interpreter's
        unwinding does: normalized, its traceback stored in it."""
        f, b = self._cold_function("catch")
        slots = [b.alloca(OBJ) for _ in range(3)]
        pointers = [b.bitcast(p, PTR) for p in slots]
        b.call(self.mb.c_function("PyErr_Fetch"), pointers)
        b.call(self.mb.c_function("PyErr_NormalizeException"), pointers)
        exc_type, value, traceback = (b.load(p) for p in slots)
        tb_or_none = b.select(is_null(b, traceback), obj_const(b, None), traceback)
        b.call(self.mb.c_function("PyException_SetTraceback"), [value, tb_or_none])
        decref(self.mb, b, traceback)
        decref(self.mb, b, exc_type)
        b.ret(value)
        return f

    def _define_exc_match(self) -> L.Function:
        """i32 exc_match(exc, cls): CHECK_EXC_MATCH: -1 (TypeError) unless
        `cls` is an exception class or a tuple of them, else whether `exc`
        matches it."""
        f, b = self._cold_function("exc_match")
        exc, cls = f.args
        matches, bad, single, several = (b.append_basic_block(n) for n in ("matches", "bad", "single", "tuple"))
        b.cbranch(has_flag(b, load_field(b, cls, abi.OB_TYPE, OBJ), abi.TPFLAGS_TUPLE_SUBCLASS), several, single)
        b.position_at_end(single)
        b.cbranch(is_exception_class(b, cls), matches, bad)
        b.position_at_end(several)
        all_valid = b.alloca(I1)
        b.store(I1(1), all_valid)
        items = b.bitcast(field_ptr(b, cls, abi.TUPLE_ITEMS, OBJ), OBJ.as_pointer())
        emit_loop(b, load_field(b, cls, abi.OB_SIZE, I64), lambda i: b.store(
            b.and_(b.load(all_valid), is_exception_class(b, b.load(b.gep(items, [i])))), all_valid))
        b.cbranch(b.load(all_valid), matches, bad)
        b.position_at_end(matches)
        b.ret(b.call(self.mb.c_function("PyErr_GivenExceptionMatches"), [exc, cls]))
        b.position_at_end(bad)
        self._type_error(b, "catching classes that do not inherit from BaseException is not allowed")
        b.ret(I32(-1))
        return f

    def _type_error(self, b: L.IRBuilder, message: str, *format_args: L.Value) -> None:
        text = self.mb.cstring(message)
        if format_args:
            b.call(self.mb.c_function("PyErr_Format"), [obj_const(b, TypeError), text, *format_args])
        else:
            b.call(self.mb.c_function("PyErr_SetString"), [obj_const(b, TypeError), text])

    def _define_raise(self) -> L.Function:
        """void raise(exc, cause): `raise exc [from cause]` (cause NULL when
        there is no `from`) as CPython's do_raise: a class is called, the
        cause is set, and the exception (or the TypeError saying why not)
        is set."""
        f, b = self._cold_function("raise")
        exc, cause = f.args
        value_slot = b.alloca(OBJ)
        have_value = b.append_basic_block("have_value")
        failed = self._instantiate(b, exc, value_slot, have_value, "exceptions must derive from BaseException")
        b.position_at_end(failed)
        b.ret_void()
        b.position_at_end(have_value)
        value = b.load(value_slot)
        exc_type = b.select(is_exception_class(b, exc), exc, load_field(b, value, abi.OB_TYPE, OBJ))
        set_cause, no_cause, set_it = (b.append_basic_block(n) for n in ("set_cause", "cause_none", "set"))
        given = b.append_basic_block("cause_given")
        b.cbranch(is_null(b, cause), set_it, given)
        b.position_at_end(given)
        fixed_slot = b.alloca(OBJ)
        is_none = b.icmp_unsigned("==", cause, obj_const(b, None))
        instantiate = b.append_basic_block("cause")
        b.cbranch(is_none, no_cause, instantiate)
        b.position_at_end(no_cause)
        b.store(L.Constant(OBJ, None), fixed_slot)
        b.branch(set_cause)
        b.position_at_end(instantiate)
        failed = self._instantiate(b, cause, fixed_slot, set_cause, "exception causes must derive from BaseException")
        b.position_at_end(failed)
        decref(self.mb, b, value, nullable=False)
        b.ret_void()
        b.position_at_end(set_cause)
        b.call(self.mb.c_function("PyException_SetCause"), [value, b.load(fixed_slot)])
        b.branch(set_it)
        b.position_at_end(set_it)
        b.call(self.mb.c_function("PyErr_SetObject"), [exc_type, value])
        decref(self.mb, b, value, nullable=False)
        b.ret_void()
        return f

    def _instantiate(self, b: L.IRBuilder, exc: L.Value, slot: L.Value, done: L.Block, message: str) -> L.Block:
        """do_raise's handling of `exc` (or of a cause): an exception class is
        called, an instance taken as is (a new reference into `slot`, then
        to `done`), anything else is a TypeError with `message`.  Returns the
        block reached with the error set, for the caller to fill."""
        failed = b.append_basic_block("failed")
        call, not_class, instance, bad = (b.append_basic_block(n) for n in ("call", "not_class", "instance", "bad"))
        b.cbranch(is_exception_class(b, exc), call, not_class)
        b.position_at_end(call)
        made = b.call(self.mb.c_function("PyObject_CallNoArgs"), [exc])
        called = b.append_basic_block("called")
        b.cbranch(is_null(b, made), failed, called)
        b.position_at_end(called)
        wrong = b.append_basic_block("not_an_instance")
        b.store(made, slot)
        b.cbranch(is_exception_instance(b, made), done, wrong)
        b.position_at_end(wrong)
        self._type_error(b, "calling %R should have returned an instance of BaseException, not %R",
                         exc, load_field(b, made, abi.OB_TYPE, OBJ))
        decref(self.mb, b, made, nullable=False)
        b.branch(failed)
        b.position_at_end(not_class)
        b.cbranch(is_exception_instance(b, exc), instance, bad)
        b.position_at_end(instance)
        incref(self.mb, b, exc)
        b.store(exc, slot)
        b.branch(done)
        b.position_at_end(bad)
        self._type_error(b, message)
        b.branch(failed)
        return failed

    def _define_reraise_handled(self) -> L.Function:
        """i1 reraise_handled(tstate): a bare `raise`: restore the exception
        being handled (true), or, as do_raise, set RuntimeError if there is
        none (false)."""
        f, b = self._cold_function("reraise_handled")
        start = b.block
        first = load_field(b, f.args[0], abi.TSTATE_EXC_INFO, PTR)
        head, older, found = (b.append_basic_block(n) for n in ("head", "older", "found"))
        b.branch(head)
        b.position_at_end(head)
        item = b.phi(PTR)
        item.add_incoming(first, start)
        value = load_field(b, item, abi.EXC_INFO_VALUE, OBJ)
        previous = load_field(b, item, abi.EXC_INFO_PREVIOUS, PTR)
        empty = b.or_(is_null(b, value), b.icmp_unsigned("==", value, obj_const(b, None)))
        b.cbranch(b.and_(empty, b.not_(is_null(b, previous))), older, found)
        b.position_at_end(older)
        item.add_incoming(previous, older)
        b.branch(head)
        b.position_at_end(found)
        active, none = b.append_basic_block("active"), b.append_basic_block("none")
        b.cbranch(empty, none, active)
        b.position_at_end(none)
        text = self.mb.cstring("No active exception to reraise")
        b.call(self.mb.c_function("PyErr_SetString"), [obj_const(b, RuntimeError), text])
        b.ret(I1(0))
        b.position_at_end(active)
        restore_exception(self.mb, b, value)
        b.ret(I1(1))
        return f

    def _define_materialize(self) -> L.Function:
        """obj materialize(recipe, words): the frame values an exit's resume
        recipe builds from the native values at `words` (NULL on error)."""
        f, b = self._cold_function("materialize")
        recipe, words = f.args
        address = b.call(self.mb.c_function("PyLong_FromVoidPtr"), [words])
        failed = b.append_basic_block("failed")
        call = b.append_basic_block("call")
        b.cbranch(is_null(b, address), failed, call)
        b.position_at_end(failed)
        b.ret(L.Constant(OBJ, None))
        b.position_at_end(call)
        args = b.alloca(OBJ)
        b.store(address, args)
        # psyco's own Python code: not for sys.settrace and sys.setprofile
        tstate = b.call(self.mb.c_function("PyThreadState_Get"), [])
        b.call(self.mb.c_function("PyThreadState_EnterTracing"), [tstate])
        values = b.call(self.mb.c_function("PyObject_Vectorcall"), [
            recipe, b.bitcast(args, PTR), I64(1), L.Constant(OBJ, None)])
        b.call(self.mb.c_function("PyThreadState_LeaveTracing"), [tstate])
        decref(self.mb, b, address, nullable=False)
        b.ret(values)
        return f

    def _define_deopt(self) -> L.Function:
        """i32 deopt(tstate, trampoline_frame, code, globals, values, pc,
        counter, threshold, callback, out): build a frame of `code` from the
        tuple `values` (locals, then stack; resume.NO_VALUE for an empty
        slot; NULL if building them failed), resume it at unit `pc` and
        return its result as STATUS_BOXED in *out, or STATUS_ERROR.  Counts
        the exit and calls `callback` when the count reaches `threshold`.
        `trampoline_frame`: the frame of the trampoline that entered the
        version (NULL in a direct call): the resumed frame takes its place
        as its caller's callee (`sys._getframe(1)` from the rest of the call
        sees the function's caller, not a second frame of the function)."""
        f, b = self._cold_function("deopt")
        tstate, trampoline_frame, code, globals_, values, pc, counter, threshold, callback, out = f.args
        no_values = b.append_basic_block("no_values")
        have_values = b.append_basic_block("have_values")
        b.cbranch(is_null(b, values), no_values, have_values)
        b.position_at_end(no_values)
        leave_frame(b, tstate)
        b.ret(I32(STATUS_ERROR))
        b.position_at_end(have_values)
        frame, iframe, fail = self._frame_at(b, tstate, code, globals_, b.sub(pc, I64(1)))
        localsplus = b.bitcast(field_ptr(b, iframe, abi.IFRAME_LOCALSPLUS, OBJ), OBJ.as_pointer())
        items = b.bitcast(field_ptr(b, values, abi.TUPLE_ITEMS, OBJ), OBJ.as_pointer())
        size = load_field(b, values, abi.OB_SIZE, I64)
        # A signal handler that raised once the recipe had made the values
        # left its exception in a last item (resume.Raised): kept, raised
        # in the resumed frame (below); the item is not a slot.
        check, take, checked = (b.append_basic_block(f"raised.{step}") for step in ("check", "take", "checked"))
        sized = b.block
        b.cbranch(b.icmp_signed(">", size, I64(0)), check, checked)
        b.position_at_end(check)
        last = b.load(b.gep(items, [b.sub(size, I64(1))]))
        b.cbranch(b.icmp_unsigned("==", load_field(b, last, abi.OB_TYPE, PTR), obj_const(b, resume.Raised)),
                  take, checked)
        b.position_at_end(take)  # (only then read as a tuple: another last item may be smaller)
        raised_item = load_field(b, last, abi.TUPLE_ITEMS, OBJ)
        b.branch(checked)
        b.position_at_end(checked)
        recipe_raised = joined(b, (I1(0), sized), (I1(0), check), (I1(1), take))
        pending = joined(b, (L.Constant(OBJ, None), sized), (L.Constant(OBJ, None), check), (raised_item, take))
        n = b.sub(size, b.zext(recipe_raised, I64))
        b.call(self.mb.c_function("Py_IncRef"), [pending])  # (NULL: nothing) the tuple, which holds it, goes first
        empty_slot = obj_const(b, resume.NO_VALUE)
        null = L.Constant(OBJ, None)

        def move(i: L.Value) -> None:
            # The frame takes the tuple's reference; NO_VALUE stays for the tuple to drop.
            item = b.load(b.gep(items, [i]))
            empty = b.icmp_unsigned("==", item, empty_slot)
            b.store(b.select(empty, null, item), b.gep(localsplus, [i]))
            b.store(b.select(empty, item, null), b.gep(items, [i]))
        emit_loop(b, n, move)
        decref(self.mb, b, values, nullable=False)
        store_field(b, iframe, abi.IFRAME_STACKTOP, b.trunc(n, I32))
        # count the exit; at the threshold tell the runtime once
        counted = b.append_basic_block("counted")
        count = b.append_basic_block("count")
        uncounted = b.block
        b.cbranch(b.icmp_unsigned("==", counter, I64(0)), counted, count)
        b.position_at_end(count)
        slot = b.inttoptr(counter, I64.as_pointer())
        times = b.add(b.load(slot), I64(1))
        b.store(times, slot)
        notify = b.append_basic_block("notify")
        b.cbranch(b.icmp_signed("==", times, threshold), notify, counted)
        b.position_at_end(notify)
        r = b.call(self.mb.c_function("PyObject_Vectorcall"), [
            callback, L.Constant(PTR, None), I64(0), L.Constant(OBJ, None)])
        # what a signal handler raised once the callback was done (it runs
        # them then): raised in the resumed frame, as between two bytecodes
        raised = b.zext(is_null(b, r), I32)
        decref(self.mb, b, r)
        notified = b.block
        b.branch(counted)
        b.position_at_end(counted)
        callback_raised = joined(b, (I32(0), uncounted), (I32(0), count), (raised, notified))
        # the recipe's handler exception, unless the callback's is set already
        set_pending, pending_done = b.append_basic_block("raised.set"), b.append_basic_block("raised.done")
        b.cbranch(b.and_(recipe_raised, b.icmp_unsigned("==", callback_raised, I32(0))), set_pending, pending_done)
        b.position_at_end(set_pending)
        b.call(self.mb.c_function("PyErr_SetObject"), [load_field(b, pending, abi.OB_TYPE, OBJ), pending])
        b.branch(pending_done)
        b.position_at_end(pending_done)
        decref(self.mb, b, pending, nullable=True)
        throw = b.or_(callback_raised, b.zext(recipe_raised, I32))
        # PyFrame_New leaves the frame's link to its object unset: while it
        # runs, the interpreter would make a second frame object pointing
        # into this one's data (and outliving it) for tracebacks and
        # sys._getframe().  The link is a counted reference, undone after.
        incref(self.mb, b, frame)
        store_field(b, iframe, abi.IFRAME_FRAME_OBJ, frame)
        cframe = load_field(b, tstate, abi.TSTATE_CFRAME, PTR)
        current = load_field(b, cframe, abi.CFRAME_CURRENT_FRAME, PTR)
        replaced = b.icmp_unsigned("==", current, trampoline_frame)
        parent = b.select(replaced, load_field(b, current, abi.IFRAME_PREVIOUS, PTR), current)
        store_field(b, cframe, abi.CFRAME_CURRENT_FRAME, parent)  # the resumed frame's `previous`
        result = b.call(self.mb.c_function("PyEval_EvalFrameEx"), [frame, throw])
        store_field(b, cframe, abi.CFRAME_CURRENT_FRAME, current)
        store_field(b, iframe, abi.IFRAME_FRAME_OBJ, L.Constant(OBJ, None))
        store_field(b, iframe, abi.IFRAME_PREVIOUS, L.Constant(PTR, None))  # as a finished frame's (f_back)
        decref(self.mb, b, frame, nullable=False)
        decref(self.mb, b, frame, nullable=False)
        leave_frame(b, tstate)
        failed = b.append_basic_block("resumed.failed")
        finished = b.append_basic_block("resumed")
        b.cbranch(is_null(b, result), failed, finished)
        b.position_at_end(failed)
        # Usually the resumed frame added its own entry; not when it
        # re-raised another frame's exception (a bare `raise`).
        b.ret(b.call(self._support("raised_status"), [code]))
        b.position_at_end(finished)
        b.store(result, out)
        b.ret(I32(STATUS_BOXED))
        # no frame: drop the values
        b.position_at_end(fail)
        decref(self.mb, b, values, nullable=False)
        leave_frame(b, tstate)
        b.ret(I32(STATUS_ERROR))
        return f


# --- a version: body + entry ------------------------------------------------------------
# Exits sharing the code that calls deopt_exit or fail_exit may pass this
# many words that differ (each a phi in the shared block).
SHARED_EXIT_PHIS = 2
# The groups of exits of one shape an exit may join: the latest few (guards
# in a row are next to each other).
SHARED_EXIT_CANDIDATES = 4


@record(eq=False)
class PendingExit:
    """An exit whose call `VersionCodegen._emit_exit_tails` makes."""

    helper: str  # deopt_exit or fail_exit
    block: L.Block  # where the exit is, left open
    record: L.Value  # the exit's static record
    words: list[L.Value]  # what it passes in the exit buffer
    arguments: Callable[[L.Value, list[L.Value]], list[L.Value]]  # of the call, from the record and words

    def shape(self) -> tuple:
        """What exits sharing a call have in common."""
        return self.helper, id(self.block.function), tuple(w.type.text for w in self.words)


class VersionCodegen:
    """Lowers one IR function (a version of a Python function) to LLVM."""

    def __init__(self, fn: ir.Function, code: types.CodeType, globals_: dict, entry_kinds: tuple,
                 return_kind: kinds.Kind, names: tuple[str, str], callee_names: dict[int, str],
                 calls_address: int, trampoline: types.CodeType, optimize: bool = True) -> None:
        self.calls_address = calls_address
        self.trampoline = trampoline
        self.fn = fn
        self.code = code
        self.globals = globals_
        self.entry_kinds = entry_kinds
        self.return_kind = return_kind
        self.body_name, self.entry_name = names
        self.callee_names = callee_names
        self.optimize = optimize
        self.mb = ModuleBuilder(self.body_name, inline_refcounts=optimize)
        self.values: dict[int, L.Value] = {}
        self.blocks: dict[int, L.Block] = {}
        self.keep = self.mb.keep  # objects whose addresses the code embeds
        self.exit_blocks: dict[int, L.Block] = {}
        self.alike_exits: dict[tuple, int] = {}  # deopt exits by what they do: the first one's key
        self.pending_exits: list[PendingExit] = []  # see _leave_through
        self.unwind_blocks: dict[int, L.Block] = {}
        self.raise_blocks: dict[tuple[int, type, str], L.Block] = {}
        self.frame_slot: L.Value | None = None
        self.catches = any(ir.handler_edges(fn))  # an exception may be caught and the call go on
        self.exit_buffer: L.Value | None = None  # where exits put the values they pass
        self.scratch: L.Value | None = None  # see op_scratch
        self.scratch_size = 0
        self.leave: L.Block | None = None  # the body's return block, and its phis
        self.leave_phis: tuple[L.Phi, L.Phi]
        self.ret_type = LTYPE[fn.ret_type]
        self.inlined: list[object] = []  # the versions whose bodies this module copies
        self.inlined_values = 0  # their size
        self.self_calls = 0  # calls of this body by itself
        self.self_call_sites = sum(op.name == "call_direct" and not op.attrs["version"].compiled
                                   and callee_names[id(op.attrs["version"])] == self.body_name
                                   for blk in fn.blocks for op in blk.ops)
        self.recursive = self.self_call_sites > 0
        self.calls_directly = any(op.name == "call_direct" for blk in fn.blocks for op in blk.ops)
        self.unrolled = False  # ... which call a copy of the body
        self.quick_path: QuickPath | None = None  # see `build`
        self.to_full: L.Block | None = None  # while the quick entry is made: where its exits go
        # Where the body's own address is stored once its machine code is
        # made: the calls of an optimized body by itself (or by its copy)
        # load it, see `_via_slot`.
        self.body_slot = ctypes.c_void_p(0)
        self.keep.append(self.body_slot)

    # -- signatures
    def body_type(self) -> L.FunctionType:
        return body_signature([v.type for v in self.fn.params], self.fn.ret_type)

    def build(self) -> L.Module:
        """The module, from the function's final IR (reference counting
        inserted).  A body calling itself at two places or more, a tree of
        calls whose leaves are at least half of them, that can return
        without calling anything is entered through a function of its own
        (`_build_quick_entry`); a linear recursion (one leaf) is unrolled."""
        if self.self_call_sites >= 2 and self.optimize:
            self.quick_path = quick_return_path(self.fn)
        full_name = self.body_name + FULL_SUFFIX if self.quick_path else self.body_name
        self.body = self.mb.declare(full_name, self.body_type())
        self._build_body()
        self.entered = self._build_quick_entry() if self.quick_path else self.body
        self._finish_recursion()
        self._build_entry()
        assert not self.pending_exits
        return self.mb.module

    @property
    def inlines(self) -> bool:
        """Whether the module has copies of bodies for LLVM to inline."""
        return bool(self.inlined) or bool(self.self_calls)

    @property
    def inlined_self_calls(self) -> tuple[str, ...]:
        """What LLVM inlines at the body's calls of itself, once per call,
        as a suffix of the function's name: "" for the body (`unrolled`),
        " (quick return)" for its quick return path."""
        if self.quick_path:
            return (" (quick return)",) * self.self_calls
        return ("",) * self.self_calls if self.unrolled else ()

    # -- direct calls and inlining
    def direct_callee(self, version: object, signature: L.FunctionType, in_loop: bool) -> L.Value:
        """What a direct call of `version` calls: a copy of its body if small
        enough (larger if it has no machine code yet) and the call is in a
        loop or a recursive body (LLVM inlines it; elsewhere a call runs too
        few times to pay for the compile time), else its compiled body at
        its address; while it is being
        compiled, its body by name (a recursive call goes to a copy of this
        body, see `_finish_recursion`)."""
        if not version.compiled:  # type: ignore[attr-defined]
            name = self.callee_names[id(version)]
            if name == self.body_name and self.optimize:
                self.self_calls += 1
                name += INLINE_SUFFIX
            return self.mb.declare(name, signature)
        inlinable: InlinableBody | None = version.inlinable  # type: ignore[attr-defined]
        largest = INLINE_CALLEE_VALUES if version.body_address else INLINE_FRESH_CALLEE_VALUES  # type: ignore[attr-defined]
        if self.optimize and inlinable is not None and (in_loop or self.recursive) \
                and inlinable.body_values <= largest and self.inlined_values + inlinable.values <= INLINE_BUDGET_VALUES:
            self.inlined.append(version)
            self.inlined_values += inlinable.values
            return self.mb.inline_copy(version.body_name + INLINE_SUFFIX, signature, inlinable)  # type: ignore[attr-defined]
        return at_address(version.native_body(), signature.as_pointer())  # type: ignore[attr-defined]

    def _frame_values(self) -> int:
        """The values of the body's native frame: its own and its copies'."""
        values = self.body.value_count + self.inlined_values
        return values * (1 + self.self_calls) if self.unrolled else values

    def _finish_recursion(self) -> None:
        """The body's calls of itself went to a copy: of its quick entry if
        it has one (the quick path runs in place of the call, the other
        calls go to the body); else one that calls the body, for LLVM to
        inline (one level of recursion unrolled: half the calls, whose
        leaves pay no prologue), when the copies fit the budget; else the
        calls go to the body."""
        if not self.self_calls:
            return
        copy = self.mb.functions[self.body_name + INLINE_SUFFIX]
        if self.quick_path:
            make_inline_copy(copy, self.entered.blocks_text())  # type: ignore[arg-type]
            return
        text = self.body.blocks_text().replace(copy.ref, self._via_slot().ref)
        if self.unrolled:
            make_inline_copy(copy, text)  # type: ignore[arg-type]
        else:
            self.body.text = text
            del self.mb.module.globals[copy.name]  # type: ignore[attr-defined]

    def _via_slot(self) -> L.Function:
        """A function for LLVM to inline that calls the body at the address
        in `body_slot`: a call by name would hand its block to LLVM's slow
        instruction selector (in the JIT's code model), a tenth of a
        recursive body's codegen time."""
        fnty = self.body_type()
        forward = self.mb.declare(self.body_name + ".via_slot", fnty)
        b = L.IRBuilder(forward.append_basic_block("start"))
        target = b.load(at_address(ctypes.addressof(self.body_slot), fnty.as_pointer().as_pointer()))
        b.ret(b.call(target, list(forward.args)))
        forward.linkage = "internal"
        forward.attributes.add("alwaysinline")
        return forward

    def inlinable(self) -> InlinableBody | None:
        """The compiled body as its callers copy it, if small enough and not
        recursive (its callers call it much less than it calls itself)."""
        if not self.optimize or self.recursive or self.body.value_count > INLINE_FRESH_CALLEE_VALUES:
            return None
        copies = {version.body_name + INLINE_SUFFIX: version.inlinable for version in self.inlined}  # type: ignore[attr-defined]
        text = self.body.blocks_text()
        if any(not (name.startswith("llvm.") or name in copies) for name in re.findall(r'@"([^"]*)"', text)):
            return None  # it calls a callee still being compiled
        declarations = tuple((f.name, f.ftype) for f in self.mb.module.globals.values()
                             if isinstance(f, L.Function) and f.is_declaration and f.name.startswith("llvm."))
        return InlinableBody(text, self.body.value_count, self.body.value_count + self.inlined_values, declarations,
                             tuple((name, self.mb.functions[name].ftype, body) for name, body in copies.items()))

    # -- the body
    def _build_body(self) -> None:
        f = self.body
        self.tstate, self.frame = f.args[0], f.args[1]
        self._interp: L.Value | None = None
        self.boxed_slot = f.args[-1]
        for v, a in zip(self.fn.params, f.args[2:-1]):
            self.values[v.id] = a
        start = f.append_basic_block("start")
        for blk in self.fn.blocks:
            self.blocks[blk.id] = f.append_basic_block(f"b{blk.id}")
        b = L.IRBuilder(start)
        self.b = b
        # Where sync_frame writes: the trampoline frame, or, in a direct call
        # (no frame), a scratch area nobody reads; one store, no branch.
        self.sync_target = b.select(is_null(b, self.frame), self.mb.scratch(abi.IFRAME_LOCALSPLUS), self.frame)
        # Phi nodes for block parameters.
        self.phis: dict[int, list[L.Instruction]] = {}
        for blk in self.fn.blocks:
            b.position_at_end(self.blocks[blk.id])
            phis = []
            for p in blk.params:
                phi = b.phi(LTYPE[p.type], name=f"v{p.id}")
                self.values[p.id] = phi
                phis.append(phi)
            self.phis[blk.id] = phis
        for blk in self.fn.blocks:
            b.position_at_end(self.blocks[blk.id])
            for op in blk.pre:
                self._lower(op)
            for op in blk.ops:
                self._lower(op)
                for post in op.post:
                    self._lower(post)
            self._terminate(blk)
        self._emit_exit_tails()
        b.position_at_end(start)
        self._enter()
        self._release_frame()

    def _enter(self) -> None:
        """The body's entry, made last: its C-stack depth limit depends on
        the size of the body's frame, estimated from the code made.  A body
        behind a quick entry starts at its first block: the entry counted
        the call."""
        copies = self.self_calls * (self.body.value_count + self.inlined_values)
        self.unrolled = not self.quick_path and 0 < copies <= UNROLL_BUDGET_VALUES \
            and copies + self.inlined_values <= INLINE_BUDGET_VALUES
        go = self.blocks[self.fn.blocks[0].id]
        if self.quick_path:
            self.b.branch(go)
        else:
            self._count_call(go, go, counted=True)

    def _count_call(self, go: L.Block, slow_go: L.Block, counted: bool) -> tuple[L.Value, L.Value]:
        """Take the call from the thread's recursion count, as the
        interpreter counts Python frames, and go to `go`; the C stack, which
        compiled calls use and interpreted ones do not, is checked too: a
        count exhausted or a depth past what the stack surely holds goes to
        support function enter_slow, then to `slow_go` or returns
        STATUS_NO_ENTRY (as the interpreter: no entry for a frame that
        never ran).  Unless `counted`, the new count is stored only on the
        way to enter_slow; returns it and where it goes."""
        b = self.b
        rem_ptr = field_ptr(b, self.tstate, abi.TSTATE_RECURSION_REMAINING, I32)
        rem = b.sub(b.load(rem_ptr), I32(1))
        if counted:
            b.store(rem, rem_ptr)
        depth = b.sub(load_field(b, self.tstate, abi.TSTATE_RECURSION_LIMIT, I32), rem)
        slow = b.append_basic_block("enter_slow")
        frame_bytes = frame_bytes_estimate(self._frame_values(), self.optimize)
        limit = I32(c_stack_depth(frame_bytes))
        b.cbranch(b.or_(b.icmp_signed("<", rem, I32(0)), b.icmp_signed(">", depth, limit)), slow, go, likely=False)
        b.position_at_end(slow)
        if not counted:
            b.store(rem, rem_ptr)
        refused = b.append_basic_block("no_entry")
        entered = b.call(self._helper("enter_slow"), [self.tstate, limit, I64(frame_bytes)])
        b.cbranch(b.icmp_signed("!=", entered, I32(0)), refused, slow_go)
        b.position_at_end(refused)
        self._return(I32(STATUS_NO_ENTRY))
        return rem, rem_ptr

    def _build_quick_entry(self) -> L.Function:
        """The function callers call when the body has a quick return path:
        it runs the path's blocks again, which only compute and guard, and
        returns, or, at a block that is not quick or a failed guard, hands
        the call to the body (a tail call, which starts over from the
        body's first block).  The calls that return quickly (a recursion's
        leaves) pay no prologue, stack frame or recursion count: tak's calls
        are three quarters leaves (whole process 0.39 -> 0.27 s), fib's
        half (0.34 -> 0.33 s, against one level unrolled)."""
        path = self.quick_path
        assert path is not None
        saved = self.b, self.values, self.tstate, self.leave, self.leave_phis
        entry = self.mb.declare(self.body_name, self.body_type())
        self.tstate, self.leave = entry.args[0], None
        self.values = {v.id: a for v, a in zip(self.fn.params, entry.args[2:-1])}
        self.b = b = L.IRBuilder(entry.append_basic_block("start"))
        blocks = {blk.id: entry.append_basic_block(f"b{blk.id}") for blk in path.blocks}
        phis: dict[int, list[L.Phi]] = {}
        for blk in path.blocks:
            b.position_at_end(blocks[blk.id])
            phis[blk.id] = [b.phi(LTYPE[p.type]) for p in blk.params]
            self.values.update((p.id, phi) for p, phi in zip(blk.params, phis[blk.id]))
        b.position_at_end(entry.entry_basic_block)
        self.to_full = entry.append_basic_block("full")
        counted = entry.append_basic_block("full.counted")
        rem, rem_ptr = self._count_call(blocks[path.blocks[0].id], counted, counted=False)
        for blk in path.blocks:
            b.position_at_end(blocks[blk.id])
            for op in blk.ops:
                self._lower(op)
            term = blk.term
            assert term is not None
            if term.kind == "ret":
                self._return(I32(STATUS_OK), self.v(term.value))  # type: ignore[arg-type]
                continue
            targets = []
            for e in term.edges:
                if (blk.id, e.target.id) not in path.edges:
                    targets.append(self.to_full)
                    continue
                targets.append(blocks[e.target.id])
                for phi, arg in zip(phis[e.target.id], e.args):
                    phi.add_incoming(self.v(arg), b.block)
            if term.kind == "br":
                b.branch(targets[0])
            else:
                b.cbranch(self.v(term.cond), targets[0], targets[1])  # type: ignore[arg-type]
        b.position_at_end(self.to_full)
        b.store(rem, rem_ptr)
        b.branch(counted)
        b.position_at_end(counted)
        b.ret(b.call(self.body, list(entry.args), musttail=True))
        self.body.linkage = "internal"
        self.body.attributes.add("noinline")
        self.to_full = None
        self.b, self.values, self.tstate, self.leave, self.leave_phis = saved
        return entry

    def sync_frame(self, pc: int) -> None:
        """Before running code that may look at frames (calls, __bool__,
        signal handlers): point the trampoline frame, if we have one, at
        instruction `pc`, so f_lineno, warnings and tracebacks taken from
        callees see the current line."""
        shift = abi.trampoline_shift(self.code)
        address = abi.address_of(self.trampoline) + abi.CODE_ADAPTIVE + abi.CODE_UNIT * (shift + pc)
        store_field(self.b, self.sync_target, abi.IFRAME_PREV_INSTR, I64(address).inttoptr(PTR))

    def alloca(self, ty: L.Type, count: int = 1) -> L.Value:
        """Stack memory in the function's first block (allocas elsewhere
        would grow the stack on every loop iteration)."""
        b = L.IRBuilder()
        b.position_at_start(self.b.function.entry_basic_block)
        return b.alloca(ty, count) if count > 1 else b.alloca(ty)

    def interp(self) -> L.Value:
        """tstate->interp, loaded in the function's first block on first
        use: a thread's interpreter never changes, and a load in a loop
        would stay there (no IR passes hoist it)."""
        if self._interp is None:
            b = L.IRBuilder()
            b.position_at_start(self.b.function.entry_basic_block)
            self._interp = load_field(b, self.tstate, abi.TSTATE_INTERP, PTR)
        return self._interp

    def v(self, value: ir.Value) -> L.Value:
        return self.values[value.id]

    def _lower(self, op: ir.Op) -> None:
        result = LOWER[op.name](self, op)
        if op.result is not None:
            self.values[op.result.id] = result

    def _leave(self) -> None:
        leave_frame(self.b, self.tstate)

    def _return(self, status: L.Value, value: L.Value | None = None) -> None:
        """Leave the body with `status` (and, for STATUS_OK, the result),
        through the one block that returns (LLVM's fast instruction
        selector cannot return a pair: each `ret` would be a block for the
        slow one)."""
        if self.leave is None:
            here = self.b.block
            self.leave = self.b.append_basic_block("leave")
            self.b.position_at_end(self.leave)
            self.leave_phis = (self.b.phi(I32, "status"), self.b.phi(self.ret_type, "result"))
            pair = self.b.insert_value(L.Constant(body_result(self.fn.ret_type), None), self.leave_phis[0], 0)
            self.b.ret(self.b.insert_value(pair, self.leave_phis[1], 1))
            self.b.position_at_end(here)
        self.leave_phis[0].add_incoming(status, self.b.block)
        self.leave_phis[1].add_incoming(value if value is not None else zero(self.ret_type), self.b.block)
        self.b.branch(self.leave)

    def _terminate(self, blk: ir.Block) -> None:
        t = blk.term
        b = self.b
        assert t is not None
        if t.kind in ("br", "cbr"):
            targets = [self._edge(f"edge{blk.id}_{e.target.id}", e) for e in t.edges]
            if t.kind == "br":
                b.branch(targets[0])
            else:
                b.cbranch(self.v(t.cond), targets[0], targets[1])  # type: ignore[arg-type]
        elif t.kind == "ret":
            value = self.v(t.value)  # type: ignore[arg-type]
            if value.type != self.ret_type:
                value = zero(self.ret_type)
            self._leave()
            self._return(I32(STATUS_OK), value)
        elif t.kind == "deopt":
            self._deopt(t.exit)  # type: ignore[arg-type]
        else:
            self._error(t.exit)  # type: ignore[arg-type]

    def _edge(self, name: str, e: ir.Edge) -> L.Block:
        """An LLVM block that runs the edge's fixups and jumps to its target."""
        b = self.b
        here = b.block
        if e.fixups:
            edge_block = b.append_basic_block(name)
            b.position_at_end(edge_block)
            for op in e.fixups:
                self._lower(op)
            from_block = b.block
            b.branch(self.blocks[e.target.id])
            b.position_at_end(here)
            result = edge_block
        else:
            from_block = here
            result = self.blocks[e.target.id]
        for phi, arg in zip(self.phis[e.target.id], e.args):
            phi.add_incoming(self.v(arg), from_block)
        return result

    # -- exits
    def checked_call(self, op: ir.Op, function: L.Function, args: list[L.Value]) -> L.Value:
        """function(*args): an int, negative when it raised; then leave
        through `op`'s error exit."""
        status = self.b.call(function, args)
        self.fail_branch(self.b.icmp_signed("<", status, I32(0)), op.exit, deopt=False)  # type: ignore[arg-type]
        return status

    def fail_branch(self, cond: L.Value, exit: ir.Exit, deopt: bool) -> None:
        """If `cond`, leave through `exit`; continue otherwise."""
        b = self.b
        ok = b.append_basic_block("cont")
        b.cbranch(cond, self.exit_block(exit, deopt), ok, likely=False)
        b.position_at_end(ok)

    def exit_block(self, exit: ir.Exit, deopt: bool) -> L.Block:
        """The code leaving through `exit`, made once however many places
        of its op branch to it, and once for the deopt exits alike in all
        (an inlined call's restarts: the same state, the same values to
        release)."""
        if self.to_full is not None:
            return self.to_full
        key = id(exit)
        if exit.state is not None:
            key = self.alike_exits.setdefault((deopt, exit.pc, exit.reason, tuple(map(_shape, exit.state)),
                                               tuple(v.id for v in exit.release)), key)
        block = self.exit_blocks.get(key)
        if block is None:
            here = self.b.block
            block = self.b.append_basic_block("exit")
            self.b.position_at_end(block)
            if deopt:
                self._deopt(exit)
            else:
                self._error(exit)
            self.b.position_at_end(here)
            self.exit_blocks[key] = block
        return block

    def _owned(self, exit: ir.Exit) -> list[L.Value]:
        return [self.v(v) for v in exit.release]

    def op_scratch(self, count: int) -> L.Value:
        """`count` object slots for one op's lowering (an argument array, a
        callee's boxed result): one stack area per body, shared by its ops,
        keeps the frame small (deep recursion uses the C stack)."""
        if self.scratch is None:
            bound = max((len(op.args) for blk in self.fn.blocks for op in blk.ops), default=0) + 2
            self.scratch = self.alloca(OBJ, bound)
            self.scratch_size = bound
        assert count <= self.scratch_size, (count, self.scratch_size)
        return self.scratch

    def _exit_words(self, values: list[L.Value]) -> L.Value:
        """`values` as 64-bit words in the body's exit buffer (one buffer,
        as large as the largest exit needs, made on first use)."""
        b = self.b
        if self.exit_buffer is None:
            self.exit_buffer = self.alloca(I64, max(exit_words_bound(self.fn), 1))
        for i, v in enumerate(values):
            b.store(as_word(b, v), b.gep(self.exit_buffer, [I64(i)]))
        return self.exit_buffer

    def _error(self, exit: ir.Exit) -> None:
        """An exception is set: add our traceback entry (unless re-raising),
        then go to the exception handler, or release and return 2.  An
        exit with a frame state restarts an inlined call (inlining.py): the
        exception is dropped, the interpreter makes the call and raises it."""
        b = self.b
        if exit.state is not None:
            b.call(self.mb.c_function("PyErr_Clear"), [])
            self._deopt(exit)
            return
        if exit.handler is not None:
            b.branch(self._unwind_block(exit))
            return
        if exit.traceback:
            self._fail(exit, None)
            return
        owned = self._owned(exit)
        # re-raised: with our entry on top, or another frame's exception
        if len(owned) == 1:
            b.call(self.mb.c_function("Py_DecRef"), owned)
        elif owned:
            words = b.bitcast(self._exit_words(owned), OBJ.as_pointer())
            b.call(self._helper("release"), [words, I64(len(owned))])
        self._leave()
        self._return(b.call(self._helper("raised_status"), [obj_const(b, self.code)]))

    def _fail(self, exit: ir.Exit, raising: tuple[type, str] | None) -> None:
        """Raise `raising` (an exception class and message) if given, add our
        traceback entry, release what `exit` owns, return 2: one call of
        fail_exit."""
        owned = self._owned(exit)
        exception, message = (0, 0) if raising is None else (abi.address_of(raising[0]),
                                                             self.mb.cstring_address(raising[1]))
        fields = {"code": abi.address_of(self.code), "globals": abi.address_of(self.globals), "pc": exit.pc,
                  "exception": exception, "message": message}
        record = self.mb.record([fields[name] for name in FAIL_EXIT])
        self._leave_through("fail_exit", at_address(record, I64.as_pointer()), owned, lambda records, passed: [
            self.tstate, self._frame_slot(), records,
            self.b.bitcast(self._exit_words(passed), OBJ.as_pointer()), I64(len(passed))])

    def raising_exit(self, exit: ir.Exit, exception: type, message: str) -> L.Block:
        """A block raising exception(message) and leaving through `exit`,
        made once per exit and exception."""
        if self.to_full is not None:
            return self.to_full
        key = (id(exit), exception, message)
        block = self.raise_blocks.get(key)
        if block is None:
            b = self.b
            here = b.block
            block = b.append_basic_block("raise")
            b.position_at_end(block)
            if exit.state is not None:  # restarts an inlined call: the interpreter raises
                self._deopt(exit)
            elif exit.handler is None and exit.traceback:
                self._fail(exit, (exception, message))
            else:
                b.call(self.mb.c_function("PyErr_SetString"), [obj_const(b, exception), self.mb.cstring(message)])
                b.branch(self.exit_block(exit, deopt=False))
            b.position_at_end(here)
            self.raise_blocks[key] = block
        return block

    def _frame_slot(self) -> L.Value:
        """The call's slot for the frame its traceback entries are made with
        (traceback_here), NULL until the first; the body drops it as it
        returns (`_release_frame`).  A body without exception handlers
        leaves at its first error: no slot (a NULL pointer), nothing for
        its returns to test."""
        if not self.catches:
            return L.Constant(OBJ.as_pointer(), None)
        if self.frame_slot is None:
            assert self.b.function is self.body
            b = L.IRBuilder()
            b.position_at_start(self.body.entry_basic_block)
            self.frame_slot = b.alloca(OBJ)
            b.store(L.Constant(OBJ, None), self.frame_slot)
        return self.frame_slot

    def _release_frame(self) -> None:
        """The return drops the call's traceback frame, if it made one (the
        tracebacks holding it keep it)."""
        if self.frame_slot is None or self.leave is None:
            return
        b = L.IRBuilder()
        done = b.split_after_phis(self.leave, "leave.done")
        frame = b.load(self.frame_slot)
        release = b.append_basic_block("leave.release")
        b.cbranch(is_null(b, frame), done, release, likely=True)
        b.position_at_end(release)
        decref(self.mb, b, frame, nullable=False)
        b.branch(done)

    def _traceback_args(self, exit: ir.Exit) -> list[L.Value]:
        b = self.b
        return [self.tstate, obj_const(b, self.code), obj_const(b, self.globals), I64(exit.pc), self._frame_slot()]

    def _unwind_block(self, exit: ir.Exit) -> L.Block:
        """The way from `exit` to its handler's landing block, made once."""
        block = self.unwind_blocks.get(id(exit))
        if block is None:
            b = self.b
            here = b.block
            block = b.append_basic_block("unwind")
            b.position_at_end(block)
            if exit.traceback:
                b.call(self._helper("traceback_here"), self._traceback_args(exit))
            b.branch(self._edge("unwind.fixups", exit.handler))  # type: ignore[arg-type]
            b.position_at_end(here)
            self.unwind_blocks[id(exit)] = block
        return block

    def _deopt(self, exit: ir.Exit, call_result: L.Value | None = None) -> None:
        """Rebuild the interpreter frame at exit.pc and let CPython finish:
        pass the native values, let the exit's resume recipe box them, drop
        the references the exit owns: one call of deopt_exit."""
        words: list[L.Value] = []
        slots = [self._recipe(m, words, call_result) for m in exit.state or ()]
        assert len(slots) >= self.code.co_nlocals
        recipe = resume.Resume(slots, len(words)).values
        owned = self._owned(exit) + ([] if call_result is None else [call_result])
        address, threshold, callback = exit.counter if exit.counter is not None else (0, 0, None)
        self.keep += [recipe, callback]
        pinned = [i for i, w in enumerate(words) if w.type == OBJ]
        owned_words = [word_index(words, v) for v in owned]
        fields = {"recipe": abi.address_of(recipe), "code": abi.address_of(self.code),
                  "pinned": self.mb.record(pinned or [0]), "pinned_count": len(pinned),
                  "owned": self.mb.record(owned_words or [0]), "owned_count": len(owned_words),
                  "globals": abi.address_of(self.globals), "pc": exit.pc, "counter": address,
                  "threshold": threshold, "callback": abi.address_of(callback)}
        record = self.mb.record([fields[name] for name in DEOPT_EXIT])
        self._leave_through("deopt_exit", at_address(record, I64.as_pointer()), words, lambda records, passed: [
            self.tstate, self.frame, self.boxed_slot, records, self._exit_words(passed)])

    def _leave_through(self, helper: str, record: L.Value, words: list[L.Value],
                       arguments: Callable[[L.Value, list[L.Value]], list[L.Value]]) -> None:
        """End the current block: return what the support function `helper`
        returns, called with `arguments(record, words)` (which pass the
        words in the exit buffer).  Made once the body is lowered
        (`_emit_exit_tails`), in code that exits share."""
        self.pending_exits.append(PendingExit(helper, self.b.block, record, words, arguments))

    def _emit_exit_tails(self) -> None:
        """The calls of the pending exits.  Exits that pass the same kinds
        of words, all but at most SHARED_EXIT_PHIS of them the same values
        (guards in a row: nothing computed between them, or one more value
        each), share one block making the call, phis picking their records
        and the words that differ: fewer blocks and calls for LLVM to
        compile (each other word dominates the shared block, as it
        dominates each exit).  An exit joins one of the last
        SHARED_EXIT_CANDIDATES groups of its shape, if any: linear in the
        number of exits (a body of a thousand exits took 0.7 s comparing
        each with every group)."""
        b = self.b
        shared: list[tuple[PendingExit, set[int], list[PendingExit]]] = []
        by_shape: dict[tuple, list[tuple[PendingExit, set[int], list[PendingExit]]]] = {}
        for exit in self.pending_exits:
            groups = by_shape.setdefault(exit.shape(), [])
            for first, differing, members in reversed(groups[-SHARED_EXIT_CANDIDATES:]):
                also = differing | {i for i, (w, x) in enumerate(zip(first.words, exit.words)) if w.typed != x.typed}
                if len(also) <= SHARED_EXIT_PHIS:
                    differing |= also
                    members.append(exit)
                    break
            else:
                groups.append((exit, set(), [exit]))
                shared.append(groups[-1])
        self.pending_exits = []
        for first, differing, members in shared:
            b.position_at_end(first.block)
            tail = b.append_basic_block(first.helper)
            b.position_at_end(tail)
            records = b.phi(I64.as_pointer(), "record")
            phis = {i: b.phi(first.words[i].type) for i in sorted(differing)}
            words = [phis.get(i, w) for i, w in enumerate(first.words)]
            self._return(b.call(self._helper(first.helper), first.arguments(records, words)))
            for exit in members:
                records.add_incoming(exit.record, exit.block)
                for i, phi in phis.items():
                    phi.add_incoming(exit.words[i], exit.block)
                b.position_at_end(exit.block)
                b.branch(tail)

    def _recipe(self, m: ir.Materializer, words: list[L.Value], call_result: L.Value | None) -> resume.Recipe:
        """How the frame slot `m` is rebuilt; appends the native values it
        reads to `words` (once each)."""
        def word(v: L.Value) -> int:
            return word_index(words, v)
        if m.how == "null":
            return ("null",)
        if m.how == "const":
            return ("const", m.const)
        if m.how == "call_result":
            assert call_result is not None
            return ("obj", word(call_result))
        if m.how == "tuple":
            return ("tuple", tuple(self._recipe(p, words, call_result) for p in m.parts), m.const)
        if m.how == "instance":
            return ("instance", *m.const, tuple(self._recipe(p, words, call_result) for p in m.parts))  # type: ignore[misc]
        values = [self.v(a) for a in m.args]
        if m.how == "value":
            known = native_constant(values[0])
            return ("const", known) if known is not None else (WORD_TAG[values[0].type], word(values[0]))
        if m.how == "slice":
            present = iter(values)
            return ("slice", *(word(next(present)) if has else None for has in m.const))  # type: ignore[attr-defined]
        assert m.how in ("range", "range_iter", "seq_iter", "split_iter"), m.how
        return (m.how, *[word(v) for v in values])

    def keep_reference(self, op: ir.Op, index: int, value: L.Value) -> None:
        """Operand `index` of `op`, `value`, is being stored into an object:
        give it a reference, unless the op has the operand's own
        (refcount.py: attrs["stolen"])."""
        if index not in op.attrs.get("stolen", ()):
            incref(self.mb, self.b, value)

    def drop_stolen(self, op: ir.Op, index: int, value: L.Value) -> None:
        """A C function stored operand `index` of `op` with its own
        reference: drop the one the op has if it was stolen."""
        if index in op.attrs.get("stolen", ()):
            decref(self.mb, self.b, value, nullable=False)

    def _helper(self, name: str) -> L.Value:
        """The support function `name`, by address (compiled now if no
        earlier module needed it)."""
        return self.mb.function_at(SUPPORT_PREFIX + name, lambda: Engine.get().support_address(name),
                                   SUPPORT_SIGNATURES[name])

    def _box_new(self, value: L.Value) -> L.Value:
        b = self.b
        if value.type == I64:
            return b.call(self.mb.c_function("PyLong_FromLongLong"), [value])
        if value.type == F64:
            return b.call(self.mb.c_function("PyFloat_FromDouble"), [value])
        if value.type == I1:
            o = b.select(value, obj_const(b, True), obj_const(b, False))
        else:
            o = value
        incref(self.mb, b, o)
        return o

    def _tuple_of(self, items: list[L.Value]) -> L.Value:
        """A tuple stealing `items` (NULL if allocation failed)."""
        b = self.b
        t = b.call(self.mb.c_function("PyTuple_New"), [I64(len(items))])
        ok = b.append_basic_block("tuple.ok")
        done = b.append_basic_block("tuple.done")
        b.cbranch(is_null(b, t), done, ok)
        b.position_at_end(ok)
        for i, item in enumerate(items):
            store_field(b, t, abi.TUPLE_ITEMS + abi.POINTER_SIZE * i, item)
        b.branch(done)
        b.position_at_end(done)
        return t

    def _range(self, start: L.Value, stop: L.Value, step: L.Value) -> L.Value:
        b = self.b
        args = [b.call(self.mb.c_function("PyLong_FromLongLong"), [x]) for x in (start, stop, step)]
        array = self.alloca(OBJ, 3)
        for i, a in enumerate(args):
            b.store(a, b.gep(array, [I64(i)]))
        r = b.call(self.mb.c_function("PyObject_Vectorcall"), [
            obj_const(b, range), b.bitcast(array, PTR), I64(3), L.Constant(OBJ, None)])
        for a in args:
            decref(self.mb, b, a)
        return r

    # -- the boxed entry
    def _build_entry(self) -> None:
        fnty = L.FunctionType(OBJ, [OBJ.as_pointer(), I64, OBJ, PTR])
        f = self.mb.declare(self.entry_name, fnty)
        args, nargs, globals_, tstate = f.args
        b = L.IRBuilder(f.append_basic_block("start"))
        self.b = b
        mismatch = f.append_basic_block("no_match")
        ok = b.append_basic_block("check")
        b.cbranch(b.and_(b.icmp_signed("==", nargs, I64(len(self.entry_kinds))),
                         b.icmp_unsigned("==", globals_, obj_const(b, self.globals))), ok, mismatch)
        b.position_at_end(ok)
        leaves: list[L.Value] = []
        for i, kind in enumerate(self.entry_kinds):
            arg = b.load(b.gep(args, [I64(i)]))
            leaves.extend(self._unbox_entry(arg, kind, mismatch))
        calls = I64(self.calls_address).inttoptr(I64.as_pointer())
        b.store(b.add(b.load(calls), I64(1)), calls)
        boxed_slot = self.alloca(OBJ)
        # The trampoline's frame already counted this call's recursion depth.
        rem_ptr = field_ptr(b, tstate, abi.TSTATE_RECURSION_REMAINING, I32)
        b.store(b.add(b.load(rem_ptr), I32(1)), rem_ptr)
        cframe = load_field(b, tstate, abi.TSTATE_CFRAME, PTR)
        trampoline_frame = load_field(b, cframe, abi.CFRAME_CURRENT_FRAME, PTR)
        # A closure's cells: the trampoline's stub copied them into its frame.
        first_free = abi.nlocalsplus(self.code) - len(self.code.co_freevars)
        for i in range(len(self.code.co_freevars)):
            leaves.append(b.load(frame_slot(b, trampoline_frame, first_free + i)))
        pair = b.call(self.entered, [tstate, trampoline_frame] + leaves + [boxed_slot])
        status = b.extract_value(pair, 0)
        b.store(b.sub(b.load(rem_ptr), I32(1)), rem_ptr)
        on_ok = b.append_basic_block("ok")
        on_boxed = b.append_basic_block("boxed")
        on_error = b.append_basic_block("error")
        on_bare_error = b.append_basic_block("bare_error")
        branch_on(b, status, {STATUS_OK: on_ok, STATUS_BOXED: on_boxed, STATUS_ERROR: on_error}, on_bare_error)
        b.position_at_end(on_ok)
        b.ret(self._box_return(b.extract_value(pair, 1)))
        b.position_at_end(on_boxed)
        b.ret(b.load(boxed_slot))
        b.position_at_end(on_error)
        shift = abi.CODE_ADAPTIVE + abi.trampoline_shift(self.code) * abi.CODE_UNIT
        b.call(self._helper("move_traceback_entry"), [tstate, I64(shift)])
        b.ret(L.Constant(OBJ, None))
        b.position_at_end(on_bare_error)
        # No entry of ours: the trampoline frame must not add one either.
        # Pointed before its first instruction it is "incomplete", which the
        # interpreter leaves out of tracebacks (as a frame that failed to start).
        code = load_field(b, trampoline_frame, abi.IFRAME_CODE, PTR)
        store_field(b, trampoline_frame, abi.IFRAME_PREV_INSTR, b.gep(code, [I64(abi.CODE_ADAPTIVE - abi.CODE_UNIT)]))
        b.ret(L.Constant(OBJ, None))
        b.position_at_end(mismatch)
        b.ret(I64(NO_MATCH).inttoptr(OBJ))

    def _unbox_entry(self, arg: L.Value, kind: kinds.Kind, mismatch: L.Block) -> list[L.Value]:
        b = self.b
        if isinstance(kind, kinds.ObjectKind):
            if kind.cls is not None:
                self._check(self._type_is(arg, kind.cls), mismatch)
            return [arg]
        if isinstance(kind, kinds.Const):
            self._check(b.icmp_unsigned("==", arg, obj_const(b, kind.value)), mismatch)
            return []
        if kind == kinds.BOOL:
            is_true = b.icmp_unsigned("==", arg, obj_const(b, True))
            self._check(b.or_(is_true, b.icmp_unsigned("==", arg, obj_const(b, False))), mismatch)
            return [is_true]
        if kind == kinds.FLOAT:
            self._check(self._type_is(arg, float), mismatch)
            return [load_field(b, arg, abi.FLOAT_FVAL, F64)]
        if kind == kinds.INT:
            value, fits = self._unbox_int(arg)
            self._check(fits, mismatch)
            return [value]
        raise AssertionError(kind)

    def _check(self, cond: L.Value, otherwise: L.Block) -> None:
        b = self.b
        ok = b.append_basic_block("ok")
        b.cbranch(cond, ok, otherwise)
        b.position_at_end(ok)

    def _type_is(self, o: L.Value, tp: type) -> L.Value:
        b = self.b
        return b.icmp_unsigned("==", load_field(b, o, abi.OB_TYPE, PTR), obj_const(b, tp))

    def _unbox_int(self, o: L.Value) -> tuple[L.Value, L.Value]:
        """(value, ok): an exact int that fits in 64 bits.  Ints of one or
        two digits (below 2**60) are read inline, larger ones by the C API."""
        b = self.b
        start = b.block
        is_int = self._type_is(o, int)
        small = b.append_basic_block("int.small")
        two_digits = b.append_basic_block("int.two")
        big = b.append_basic_block("int.big")
        done = b.append_basic_block("int.done")
        check_size = b.append_basic_block("int.size")
        check_two = b.append_basic_block("int.size2")
        b.cbranch(is_int, check_size, done)
        b.position_at_end(check_size)
        size = load_field(b, o, abi.OB_SIZE, I64)
        b.cbranch(b.icmp_unsigned("<=", b.add(size, I64(1)), I64(2)), small, check_two)
        b.position_at_end(small)
        low = b.zext(load_field(b, o, abi.LONG_DIGITS, I32), I64)
        small_value = b.mul(low, size)  # size is -1, 0 or 1
        b.branch(done)
        b.position_at_end(check_two)
        b.cbranch(b.icmp_unsigned("<=", b.add(size, I64(2)), I64(4)), two_digits, big)
        b.position_at_end(two_digits)
        high = b.zext(load_field(b, o, abi.LONG_DIGITS + abi.LONG_DIGIT_SIZE, I32), I64)
        magnitude = b.or_(b.zext(load_field(b, o, abi.LONG_DIGITS, I32), I64), b.shl(high, I64(abi.LONG_DIGIT_BITS)))
        two_value = b.select(b.icmp_signed("<", size, I64(0)), b.neg(magnitude), magnitude)
        b.branch(done)
        b.position_at_end(big)
        overflow = self.alloca(I32)
        big_value = b.call(self.mb.c_function("PyLong_AsLongLongAndOverflow"), [o, b.bitcast(overflow, PTR)])
        big_ok = b.icmp_signed("==", b.load(overflow), I32(0))
        b.branch(done)
        b.position_at_end(done)
        value = joined(b, (I64(0), start), (small_value, small), (two_value, two_digits), (big_value, big))
        ok = joined(b, (I1(0), start), (I1(1), small), (I1(1), two_digits), (big_ok, big))
        return value, ok

    def _box_return(self, value: L.Value) -> L.Value:
        kind = self.return_kind
        b = self.b
        if isinstance(kind, kinds.Const):
            o = obj_const(b, kind.value)
            incref(self.mb, b, o)
            return o
        if kind.is_object():
            return value
        return self._box_new(value)



def _stack_limit() -> int | None:
    """The soft limit of the main thread's stack size, if finite."""
    soft, _ = resource.getrlimit(resource.RLIMIT_STACK)
    return soft if 0 < soft < 2**40 else None


def c_stack_depth(frame_bytes: int) -> int:
    """How many nested calls of a body whose frame takes about
    `frame_bytes` the C stack surely holds, with a kilobyte more each for
    what runs between them (an interpreted frame entered from C, the
    dispatcher)."""
    size = _stack_limit() or 8 * 2**20
    size = min(size, threading.stack_size() or size)  # new threads' stacks, when the program made them smaller
    return max(min(100, size // 4096), size // (1024 + frame_bytes))


# What a body's entry leaves free on its thread's stack beyond two of its
# frames, when the recursion depth is past what `c_stack_depth` allows: for
# the C functions called until the next compiled entry checks again (a
# quarter of the stack if that is less).
STACK_MARGIN = 512 * 1024


@functools.cache
def main_stack() -> tuple[int, int, int] | None:
    """(the main thread's PyThreadState address, the lowest and the highest
    address of its C stack) when psyco's support code is made on the main
    thread of a Linux process whose stack size limit is finite; None
    otherwise (then only `c_stack_depth` bounds compiled recursion)."""
    soft = _stack_limit()
    if threading.current_thread() is not threading.main_thread() or soft is None:
        return None
    try:
        with open("/proc/self/maps") as maps:
            tops = [int(line.split("-")[1].split()[0], 16) for line in maps if line.rstrip().endswith("[stack]")]
    except (OSError, ValueError, IndexError):
        return None
    if len(tops) != 1:
        return None
    get_state = ctypes.pythonapi.PyThreadState_Get
    get_state.restype = ctypes.c_void_p
    return get_state(), tops[0] - soft, tops[0]


@functools.cache
def thread_stack_functions() -> tuple[int, int, int, int] | None:
    """The addresses of glibc's pthread_self, pthread_getattr_np,
    pthread_attr_getstack and pthread_attr_destroy, which tell a thread's
    stack bounds; None where the C library has not all of them."""
    try:
        libc = ctypes.CDLL(None)
        found = [ctypes.cast(getattr(libc, name), ctypes.c_void_p).value for name in (
            "pthread_self", "pthread_getattr_np", "pthread_attr_getstack", "pthread_attr_destroy")]
    except (OSError, AttributeError):
        return None
    return tuple(found) if all(found) else None  # type: ignore[return-value]


PTHREAD_ATTR_BYTES = 128  # at least sizeof(pthread_attr_t): 56 on x86-64, 64 on aarch64


def frame_bytes_estimate(values: int, optimized: bool) -> int:
    """About the most stack a body's frame of `values` LLVM values takes:
    quick codegen gives every value a stack slot; optimized codegen spills a
    fraction of them."""
    return values * (4 if optimized else 8)


def body_signature(param_types: list[str], ret_type: str) -> L.FunctionType:
    """{i32 status, result} body(tstate, frame, leaves..., boxed*): `frame` is
    the trampoline's interpreter frame when called from it, NULL when called
    directly by another compiled body.  The status and the unboxed result
    come back in registers (the result is undefined unless STATUS_OK); a
    boxed result (STATUS_BOXED, after a deopt) is stored in *boxed."""
    params = [PTR, PTR] + [LTYPE[t] for t in param_types] + [OBJ.as_pointer()]
    return L.FunctionType(body_result(ret_type), params)


def body_result(ret_type: str) -> L.LiteralStructType:
    return L.LiteralStructType([I32, LTYPE[ret_type]])


# --- op lowering: one function per IR op ---------------------------------------------------
Lowering = Callable[[VersionCodegen, ir.Op], L.Value | None]
LOWER: dict[str, Lowering] = {}


def lower(*names: str) -> Callable[[Lowering], Lowering]:
    def register(fn: Lowering) -> Lowering:
        for n in names:
            LOWER[n] = fn
        return fn

    return register


@lower("const_i64")
def _const_i64(g: VersionCodegen, op: ir.Op) -> L.Value:
    return I64(op.attrs["value"])


@lower("const_f64")
def _const_f64(g: VersionCodegen, op: ir.Op) -> L.Value:
    return F64(op.attrs["value"])


@lower("const_i1")
def _const_i1(g: VersionCodegen, op: ir.Op) -> L.Value:
    return I1(int(op.attrs["value"]))


@lower("const_obj")
def _const_obj(g: VersionCodegen, op: ir.Op) -> L.Value:
    return obj_const(g.b, op.attrs["value"])


def _overflowing(intrinsic: str) -> Lowering:
    def emit(g: VersionCodegen, op: ir.Op) -> L.Value:
        b = g.b
        name = f"llvm.{intrinsic}.with.overflow.i64"
        fn = g.mb.declare(name, L.FunctionType(L.LiteralStructType([I64, I1]), [I64, I64]))
        pair = b.call(fn, [g.v(op.args[0]), g.v(op.args[1])])
        g.fail_branch(b.extract_value(pair, 1), op.exit, deopt=True)  # type: ignore[arg-type]
        return b.extract_value(pair, 0)

    return emit


lower("iadd_ovf")(_overflowing("sadd"))
lower("isub_ovf")(_overflowing("ssub"))
lower("imul_ovf")(_overflowing("smul"))


@lower("ishl_ovf")
def _ishl_ovf(g: VersionCodegen, op: ir.Op) -> L.Value:
    b = g.b
    x, y = g.v(op.args[0]), g.v(op.args[1])
    in_range = b.icmp_signed("<", y, I64(64))
    shift = b.select(in_range, y, I64(0))
    r = b.shl(x, shift)
    lost = b.icmp_signed("!=", b.ashr(r, shift), x)
    too_far = b.and_(b.not_(in_range), b.icmp_signed("!=", x, I64(0)))
    g.fail_branch(b.or_(lost, too_far), op.exit, deopt=True)  # type: ignore[arg-type]
    return b.select(in_range, r, I64(0))


def _binop(method: str) -> Lowering:
    def emit(g: VersionCodegen, op: ir.Op) -> L.Value:
        return getattr(g.b, method)(g.v(op.args[0]), g.v(op.args[1]))

    return emit


for _name, _method in {"iadd": "add", "isub": "sub", "imul": "mul", "and": "and_", "or": "or_", "xor": "xor",
                       "fadd": "fadd", "fsub": "fsub", "fmul": "fmul"}.items():
    lower(_name)(_binop(_method))


@lower("fdiv")
def _fdiv(g: VersionCodegen, op: ir.Op) -> L.Value:
    """x / 2**k as x * 2**-k: the same correctly rounded value, and a
    multiplication takes a third of a division's time."""
    x, y = g.v(op.args[0]), g.v(op.args[1])
    if isinstance(y, L.Constant) and isinstance(y.value, float) and y.value != 0.0:
        mantissa, exponent = math.frexp(y.value)
        if abs(mantissa) == 0.5 and -1021 <= exponent <= 1022:  # 1 / y is exact and normal
            return g.b.fmul(x, F64(1.0 / y.value))
    return g.b.fdiv(x, y)


def _dividing(g: VersionCodegen, op: ir.Op, small: Callable[[L.Value, L.Value], L.Value],
              general: Callable[[L.Value, L.Value], L.Value]) -> L.Value:
    """`general(x, y)`, the division of two i64 (y != 0: the specializer
    guarded it), or `small(x, y)`, unsigned on the low 32 bits, when both
    are in [0, 2**32): most ints are, both quotient and remainder are
    then the same floored or truncated, and the 32-bit divider takes 10%
    less time on a chain of divisions (gcd_pairs, primes) than the 64-bit
    one.  A constant divisor needs neither: LLVM multiplies instead."""
    b = g.b
    x, y = g.v(op.args[0]), g.v(op.args[1])
    if isinstance(y, L.Constant):
        return general(x, y)
    fast, slow, done = (b.append_basic_block(f"divide.{name}") for name in ("small", "general", "done"))
    b.cbranch(b.icmp_unsigned("<", b.or_(x, y), I64(1 << 32)), fast, slow, likely=True)
    b.position_at_end(fast)
    quick = b.zext(small(b.trunc(x, I32), b.trunc(y, I32)), I64)
    b.branch(done)
    b.position_at_end(slow)
    slow_value = general(x, y)
    slow_end = b.block
    b.branch(done)
    b.position_at_end(done)
    return joined(b, (quick, fast), (slow_value, slow_end))


def _power_of_two(value: L.Value) -> int | None:
    """k when `value` is the constant 2**k (k >= 1), else None."""
    if not isinstance(value, L.Constant) or not isinstance(value.value, int) or value.value < 2:
        return None
    return value.value.bit_length() - 1 if value.value & (value.value - 1) == 0 else None


def _floor_adjusts(b: L.IRBuilder, r: L.Value, y: L.Value) -> L.Value:
    """Whether C's truncated remainder `r` of a division by `y` needs
    Python's floor adjustment: it is not zero and its sign differs from y's."""
    return b.and_(b.icmp_signed("!=", r, I64(0)), b.icmp_signed("<", b.xor(r, y), I64(0)))


@lower("ifloordiv")
def _ifloordiv(g: VersionCodegen, op: ir.Op) -> L.Value:
    shift = _power_of_two(g.v(op.args[1]))
    if shift is not None:  # floored, like Python's //, for either sign of x
        return g.b.ashr(g.v(op.args[0]), I64(shift))

    def general(x: L.Value, y: L.Value) -> L.Value:
        q, r = g.b.sdiv(x, y), g.b.srem(x, y)
        return g.b.sub(q, g.b.zext(_floor_adjusts(g.b, r, y), I64))
    return _dividing(g, op, g.b.udiv, general)


@lower("imod")
def _imod(g: VersionCodegen, op: ir.Op) -> L.Value:
    shift = _power_of_two(g.v(op.args[1]))
    if shift is not None:  # x % 2**k has the divisor's sign, like the low bits of x
        return g.b.and_(g.v(op.args[0]), I64((1 << shift) - 1))

    def general(x: L.Value, y: L.Value) -> L.Value:
        minus_one = g.b.icmp_signed("==", y, I64(-1))
        r = g.b.srem(x, g.b.select(minus_one, I64(1), y))  # x % -1 == 0; avoids INT_MIN % -1
        return g.b.select(_floor_adjusts(g.b, r, y), g.b.add(r, y), r)
    return _dividing(g, op, g.b.urem, general)


@lower("iashr")
def _iashr(g: VersionCodegen, op: ir.Op) -> L.Value:
    b = g.b
    y = g.v(op.args[1])
    return b.ashr(g.v(op.args[0]), b.select(b.icmp_signed(">", y, I64(63)), I64(63), y))


@lower("icmp")
def _icmp(g: VersionCodegen, op: ir.Op) -> L.Value:
    a, c = g.v(op.args[0]), g.v(op.args[1])
    if a.type == OBJ:
        return g.b.icmp_unsigned(ICMP[op.attrs["pred"]], a, c)
    return g.b.icmp_signed(ICMP[op.attrs["pred"]], a, c)


@lower("fcmp")
def _fcmp(g: VersionCodegen, op: ir.Op) -> L.Value:
    pred = op.attrs["pred"]
    a, c = g.v(op.args[0]), g.v(op.args[1])
    if pred == "!=":
        return g.b.fcmp_unordered("!=", a, c)  # nan != nan is True
    return g.b.fcmp_ordered(FCMP_ORDERED[pred], a, c)


@lower("not")
def _not(g: VersionCodegen, op: ir.Op) -> L.Value:
    return g.b.not_(g.v(op.args[0]))


@lower("select")
def _select(g: VersionCodegen, op: ir.Op) -> L.Value:
    b = g.b
    cond, then, otherwise = (g.v(a) for a in op.args)
    if then.type == I1:  # as logic: the fast instruction selector has no select of booleans
        return b.or_(b.and_(cond, then), b.and_(b.not_(cond), otherwise))
    return b.select(cond, then, otherwise)


@lower("zext")
def _zext(g: VersionCodegen, op: ir.Op) -> L.Value:
    return g.b.zext(g.v(op.args[0]), I64)


@lower("sitofp")
def _sitofp(g: VersionCodegen, op: ir.Op) -> L.Value:
    return g.b.sitofp(g.v(op.args[0]), F64)


@lower("fptosi")
def _fptosi(g: VersionCodegen, op: ir.Op) -> L.Value:
    return g.b.fptosi(g.v(op.args[0]), I64)


@lower("fclass")
def _fclass(g: VersionCodegen, op: ir.Op) -> L.Value:
    """Tests of a double's bits: LLVM would turn `fabs(x) < inf` into
    llvm.is.fpclass, which the fast instruction selector does not handle."""
    b = g.b
    magnitude = b.and_(b.bitcast(g.v(op.args[0]), I64), I64(2**63 - 1))
    return b.icmp_unsigned("<" if op.attrs["test"] == "finite" else "==", magnitude, I64(INFINITY_BITS))


@lower("fneg")
def _fneg(g: VersionCodegen, op: ir.Op) -> L.Value:
    return g.b.fneg(g.v(op.args[0]))


def _call_math(g: VersionCodegen, name: str, args: list[L.Value]) -> L.Value:
    if name in INTRINSICS:
        return g.b.call(g.mb.intrinsic(name), args)
    return g.b.call(g.mb.c_function(name), args)


@lower("fabs")
def _fabs(g: VersionCodegen, op: ir.Op) -> L.Value:
    return _call_math(g, "fabs", [g.v(op.args[0])])


@lower("math")
def _math(g: VersionCodegen, op: ir.Op) -> L.Value:
    return _call_math(g, op.attrs["name"], [g.v(a) for a in op.args])


@lower("fround_even")
def _fround_even(g: VersionCodegen, op: ir.Op) -> L.Value:
    return g.b.call(g.mb.intrinsic("roundeven"), [g.v(op.args[0])])


def _copysign(g: VersionCodegen, magnitude: L.Value, sign: L.Value) -> L.Value:
    copysign = g.mb.declare("llvm.copysign.f64", L.FunctionType(F64, [F64, F64]))
    return g.b.call(copysign, [magnitude, sign])


def _python_fmod(g: VersionCodegen, x: L.Value, y: L.Value) -> L.Value:
    """x % y for floats, as CPython's float_rem."""
    b = g.b
    mod = b.frem(x, y)
    nonzero = b.fcmp_unordered("!=", mod, F64(0.0))
    signs_differ = b.xor(b.fcmp_ordered("<", y, F64(0.0)), b.fcmp_ordered("<", mod, F64(0.0)))
    adjusted = b.select(signs_differ, b.fadd(mod, y), mod)
    return b.select(nonzero, adjusted, _copysign(g, F64(0.0), y))


@lower("fmod")
def _fmod(g: VersionCodegen, op: ir.Op) -> L.Value:
    return _python_fmod(g, g.v(op.args[0]), g.v(op.args[1]))


@lower("ffloordiv")
def _ffloordiv(g: VersionCodegen, op: ir.Op) -> L.Value:
    """x // y for floats, as CPython's _float_div_mod."""
    b = g.b
    x, y = g.v(op.args[0]), g.v(op.args[1])
    mod = b.frem(x, y)
    div = b.fdiv(b.fsub(x, mod), y)
    nonzero_mod = b.fcmp_unordered("!=", mod, F64(0.0))
    signs_differ = b.xor(b.fcmp_ordered("<", y, F64(0.0)), b.fcmp_ordered("<", mod, F64(0.0)))
    div = b.select(b.and_(nonzero_mod, signs_differ), b.fsub(div, F64(1.0)), div)
    floor = _call_math(g, "floor", [div])
    rounded = b.select(b.fcmp_ordered(">", b.fsub(div, floor), F64(0.5)), b.fadd(floor, F64(1.0)), floor)
    zero = _copysign(g, F64(0.0), b.fdiv(x, y))
    return b.select(b.fcmp_unordered("!=", div, F64(0.0)), rounded, zero)


@lower("box_int", "box_float")
def _box(g: VersionCodegen, op: ir.Op) -> L.Value:
    return box_number(g, op, g.v(op.args[0]))


@lower("argument_object")
def _argument_object(g: VersionCodegen, op: ir.Op) -> L.Value:
    b = g.b
    passed, made = b.append_basic_block("argument.passed"), b.append_basic_block("argument.made")
    done = b.append_basic_block("argument.done")
    b.cbranch(is_null(b, g.frame), made, passed)
    b.position_at_end(passed)
    argument = b.load(frame_slot(b, g.frame, op.attrs["slot"]))
    incref(g.mb, b, argument)
    b.branch(done)
    b.position_at_end(made)
    boxed = box_number(g, op, g.v(op.args[0]))
    made_at = b.block
    b.branch(done)
    b.position_at_end(done)
    return joined(b, (argument, passed), (boxed, made_at))


def _small_int(b: L.IRBuilder, value: L.Value) -> tuple[L.Value, L.Value]:
    """(whether the i64 `value` is one of CPython's preallocated ints, its
    position among them)."""
    offset = b.sub(value, I64(abi.SMALL_INT_MIN))
    return b.icmp_unsigned("<=", offset, I64(abi.SMALL_INT_MAX - abi.SMALL_INT_MIN)), offset


def box_number(g: VersionCodegen, op: ir.Op, value: L.Value, cold: bool = False) -> L.Value:
    """A new reference to the float or int `value` (f64 or i64), MemoryError
    through `op`'s error exit.  A small int is CPython's preallocated object
    (as from PyLong_FromLongLong), found without a call unless `cold`."""
    made = new_number(g, value, cold)
    g.fail_branch(is_null(g.b, made), op.exit, deopt=False)  # type: ignore[arg-type]
    return made


def new_number(g: VersionCodegen, value: L.Value, cold: bool = False) -> L.Value:
    """`box_number`'s object, NULL with MemoryError set if it cannot be made."""
    b = g.b
    if value.type == F64 or cold:
        return b.call(g.mb.c_function("PyFloat_FromDouble" if value.type == F64 else "PyLong_FromLongLong"), [value])
    preallocated, offset = _small_int(b, value)
    small, large = b.append_basic_block("box.small"), b.append_basic_block("box.large")
    done = b.append_basic_block("box.done")
    b.cbranch(preallocated, small, large)
    b.position_at_end(small)
    cached = b.inttoptr(b.add(I64(abi.SMALL_INTS), b.mul(offset, I64(abi.SMALL_INT_SIZE))), OBJ)
    incref(g.mb, b, cached)
    b.branch(done)
    b.position_at_end(large)
    made = b.call(g.mb.c_function("PyLong_FromLongLong"), [value])
    b.branch(done)
    b.position_at_end(done)
    return joined(b, (cached, small), (made, large))


def store_number(g: VersionCodegen, op: ir.Op, slot: L.Value, old: L.Value, value: L.Value,
                 on_first: Callable[[], None] | None = None) -> None:
    """*slot, a reference the slot owns to `old`, becomes the float or int
    `value`: `old` takes the new value in place when it may
    (`reusable_number`), else a new object, made in one place, replaces it,
    or fills the slot if `old` is NULL (an unset attribute: then `on_first`
    runs; without it `old` is never NULL)."""
    b = g.b
    reuse, fresh, done = (b.append_basic_block(f"number.{n}") for n in ("reuse", "fresh", "done"))
    if on_first is not None:
        test = b.append_basic_block("number.test")
        b.cbranch(is_null(b, old), fresh, test)
        b.position_at_end(test)
    b.cbranch(reusable_number(g, old, value), reuse, fresh)
    b.position_at_end(reuse)
    overwrite_number(b, old, value)
    b.branch(done)
    b.position_at_end(fresh)
    b.store(box_number(g, op, value), slot)
    if on_first is None:
        decref(g.mb, b, old, nullable=False)
        b.branch(done)
    else:
        _first_or_release(g, old, on_first, done)
    b.position_at_end(done)


def reusable_number(g: VersionCodegen, old: L.Value, value: L.Value) -> L.Value:
    """Whether the object `old` may take the float or int `value` in place:
    `old` is an exact float, or an exact one-digit int and `value` a
    one-digit int CPython does not preallocate, and nothing else references
    it -- no object made or freed, and nothing anyone could tell apart (such
    objects have no weak references; only the id of a dead object would
    differ)."""
    b = g.b
    sole = b.icmp_signed("==", load_field(b, old, abi.OB_REFCNT, I64), I64(1))
    if value.type == F64:
        return b.and_(g._type_is(old, float), sole)
    magnitude = b.select(b.icmp_signed("<", value, I64(0)), b.neg(value), value)
    one_digit = b.icmp_unsigned("<", magnitude, I64(1 << abi.LONG_DIGIT_BITS))
    preallocated, _ = _small_int(b, value)
    old_size = load_field(b, old, abi.OB_SIZE, I64)  # digits, negated for a negative int
    old_one_digit = b.or_(b.icmp_signed("==", old_size, I64(1)), b.icmp_signed("==", old_size, I64(-1)))
    fits = b.and_(b.and_(one_digit, b.not_(preallocated)), old_one_digit)
    return b.and_(b.and_(g._type_is(old, int), sole), fits)


def overwrite_number(b: L.IRBuilder, old: L.Value, value: L.Value) -> None:
    """`old` takes the value `value` (`reusable_number` said it may)."""
    if value.type == F64:
        store_field(b, old, abi.FLOAT_FVAL, value)
        return
    negative = b.icmp_signed("<", value, I64(0))
    store_field(b, old, abi.OB_SIZE, b.select(negative, I64(-1), I64(1)))
    store_field(b, old, abi.LONG_DIGITS, b.trunc(b.select(negative, b.neg(value), value), I32))


def _first_or_release(g: VersionCodegen, old: L.Value, on_first: Callable[[], None], done: L.Block) -> None:
    """After a store into a slot that held `old`: `on_first()` if it was
    empty (NULL), else release `old`; then on to `done`."""
    b = g.b
    first, release = b.append_basic_block("store.first"), b.append_basic_block("store.release")
    b.cbranch(is_null(b, old), first, release)
    b.position_at_end(first)
    on_first()
    b.branch(done)
    b.position_at_end(release)
    decref(g.mb, b, old, nullable=False)
    b.branch(done)


@lower("box_bool")
def _box_bool(g: VersionCodegen, op: ir.Op) -> L.Value:
    b = g.b
    return b.select(g.v(op.args[0]), obj_const(b, True), obj_const(b, False))


@lower("unbox_int")
def _unbox_int(g: VersionCodegen, op: ir.Op) -> L.Value:
    value, ok = g._unbox_int(g.v(op.args[0]))
    g.fail_branch(g.b.not_(ok), op.exit, deopt=True)  # type: ignore[arg-type]
    return value


@lower("unbox_float")
def _unbox_float(g: VersionCodegen, op: ir.Op) -> L.Value:
    o = g.v(op.args[0])
    g.fail_branch(g.b.not_(g._type_is(o, float)), op.exit, deopt=True)  # type: ignore[arg-type]
    return load_field(g.b, o, abi.FLOAT_FVAL, F64)


@lower("unbox_bool")
def _unbox_bool(g: VersionCodegen, op: ir.Op) -> L.Value:
    b = g.b
    o = g.v(op.args[0])
    is_true = b.icmp_unsigned("==", o, obj_const(b, True))
    is_bool = b.or_(is_true, b.icmp_unsigned("==", o, obj_const(b, False)))
    g.fail_branch(b.not_(is_bool), op.exit, deopt=True)  # type: ignore[arg-type]
    return is_true


@lower("guard_is")
def _guard_is(g: VersionCodegen, op: ir.Op) -> None:
    b = g.b
    same = b.icmp_unsigned("==", g.v(op.args[0]), obj_const(b, op.attrs["value"]))
    g.fail_branch(b.not_(same), op.exit, deopt=True)  # type: ignore[arg-type]


@lower("guard_true")
def _guard_true(g: VersionCodegen, op: ir.Op) -> None:
    g.fail_branch(g.b.not_(g.v(op.args[0])), op.exit, deopt=True)  # type: ignore[arg-type]


def _dict_lookup(g: VersionCodegen, globals_: dict, builtins: dict | None, name: str) -> L.Value:
    """Borrowed value of `name` in globals, else builtins (NULL if absent)."""
    b = g.b
    in_builtins = L.Constant(OBJ, None) if builtins is None else obj_const(b, builtins)
    return b.call(g._helper("global_lookup"), [obj_const(b, globals_), in_builtins, obj_const(b, name)])


@lower("guard_not_tracing")
def _guard_not_tracing(g: VersionCodegen, op: ir.Op) -> None:
    b = g.b
    cframe = load_field(b, g.tstate, abi.TSTATE_CFRAME, PTR)
    tracing = b.icmp_unsigned("!=", load_field(b, cframe, abi.CFRAME_USE_TRACING, I8), I8(0))
    g.fail_branch(tracing, op.exit, deopt=True)  # type: ignore[arg-type]


@lower("guard_global")
def _guard_global(g: VersionCodegen, op: ir.Op) -> None:
    """The globals (or builtins, or module attributes) are still the
    constants.

    Fast path: neither namespace changed since the last check (dict version
    tags).  Otherwise look the names up again and compare identities.
    """
    b = g.b
    globals_, builtins = op.attrs["globals"], op.attrs["builtins"]
    # A name found in the globals hides the builtins: only the globals matter.
    in_builtins = builtins is not None and not all(name in globals_ for name in op.attrs["names"])
    namespaces = [globals_, builtins] if in_builtins else [globals_]
    cached = [g.mb.global_i64(0) for _ in namespaces]
    tags = [load_field(b, obj_const(b, d), abi.DICT_VERSION_TAG, I64) for d in namespaces]
    unchanged = [b.icmp_unsigned("==", tag, b.load(cache)) for tag, cache in zip(tags, cached)]
    same = unchanged[0]
    for also in unchanged[1:]:
        same = b.and_(same, also)
    slow = b.append_basic_block("global.changed")
    done = b.append_basic_block("global.ok")
    b.cbranch(same, done, slow, likely=True)
    b.position_at_end(slow)
    for name, value in zip(op.attrs["names"], op.attrs["values"]):
        current = _dict_lookup(g, globals_, builtins, name)
        g.fail_branch(b.icmp_unsigned("!=", current, obj_const(b, value)), op.exit, deopt=True)  # type: ignore[arg-type]
    for tag, cache in zip(tags, cached):
        b.store(tag, cache)
    b.branch(done)
    b.position_at_end(done)


@lower("load_global")
def _load_global(g: VersionCodegen, op: ir.Op) -> L.Value:
    b = g.b
    name = op.attrs["name"]
    value = _dict_lookup(g, op.attrs["globals"], op.attrs["builtins"], name)
    missing = b.append_basic_block("global.missing")
    found = b.append_basic_block("global.found")
    b.cbranch(is_null(b, value), missing, found)
    b.position_at_end(missing)
    error_set = b.icmp_unsigned("!=", b.call(g.mb.c_function("PyErr_Occurred"), []), L.Constant(OBJ, None))
    raise_ = b.append_basic_block("global.raise")
    fail = b.append_basic_block("global.fail")
    b.cbranch(error_set, fail, raise_)
    b.position_at_end(raise_)
    fmt = g.mb.cstring("name '%U' is not defined")
    b.call(g.mb.c_function("PyErr_Format"), [obj_const(b, NameError), fmt, obj_const(b, name)])
    b.branch(fail)
    b.position_at_end(fail)
    g._error(op.exit)  # type: ignore[arg-type]
    b.position_at_end(found)
    incref(g.mb, b, value)
    return value


@lower("raise_if")
def _raise_if(g: VersionCodegen, op: ir.Op) -> None:
    b = g.b
    ok = b.append_basic_block("cont")
    b.cbranch(g.v(op.args[0]), g.raising_exit(op.exit, op.attrs["exc"], op.attrs["message"]), ok)  # type: ignore[arg-type]
    b.position_at_end(ok)


@lower("c_call")
def _c_call(g: VersionCodegen, op: ir.Op) -> L.Value:
    b = g.b
    g.sync_frame(op.exit.pc)  # type: ignore[union-attr]
    fn = g.mb.c_function(op.attrs["name"])
    args = [g.v(a) for a in op.args]
    # int constants are i64 in the IR; C parameters may be narrower
    params = fn.type.pointee.args  # type: ignore[attr-defined]
    args = [b.trunc(a, t) if a.type != t and isinstance(t, L.IntType) else a for a, t in zip(args, params)]
    r = b.call(fn, args)
    failed = is_null(b, r) if op.attrs["type"] == "obj" else b.icmp_signed("<", r, L.Constant(r.type, 0))
    g.fail_branch(failed, op.exit, deopt=False)  # type: ignore[arg-type]
    return r


@lower("truth")
def _truth(g: VersionCodegen, op: ir.Op) -> L.Value:
    """As the interpreter's conditional jumps: True and False without a
    call, and exact ints too (zero has no digits: long_bool), such as a
    list's items (`while perm[0]:`); anything else through PyObject_IsTrue."""
    b = g.b
    value = g.v(op.args[0])
    is_true = b.icmp_unsigned("==", value, obj_const(b, True))
    is_bool = b.or_(is_true, b.icmp_unsigned("==", value, obj_const(b, False)))
    start, check_int = b.block, b.append_basic_block("truth.int")
    ask, done = b.append_basic_block("truth.ask"), b.append_basic_block("truth.done")
    b.cbranch(is_bool, done, check_int)
    b.position_at_end(check_int)
    is_int = b.icmp_unsigned("==", load_field(b, value, abi.OB_TYPE, PTR), obj_const(b, int))
    nonzero = b.icmp_signed("!=", load_field(b, value, abi.OB_SIZE, I64), I64(0))
    b.cbranch(is_int, done, ask)
    b.position_at_end(ask)
    g.sync_frame(op.exit.pc)  # type: ignore[union-attr]
    r = g.checked_call(op, g.mb.c_function("PyObject_IsTrue"), [value])
    answered = b.icmp_signed("!=", r, I32(0))
    ask_end = b.block
    b.branch(done)
    b.position_at_end(done)
    return joined(b, (is_true, start), (nonzero, check_int), (answered, ask_end))


def _call_with_array(g: VersionCodegen, op: ir.Op, function: str, first: L.Value, args: list[L.Value]) -> L.Value:
    """function(first, args array, number of positional args, kwnames)."""
    array, nargs, names = _arg_array(g, op, args)
    r = g.b.call(g.mb.c_function(function), [first, array, nargs, names])
    g.fail_branch(is_null(g.b, r), op.exit, deopt=False)  # type: ignore[arg-type]
    _signals_after_call(g, op, r)
    return r


def _arg_array(g: VersionCodegen, op: ir.Op, args: list[L.Value]) -> tuple[L.Value, L.Value, L.Value]:
    """(args as a vectorcall array, number of positional args, kwnames),
    after pointing the frame at the call (the callee may look at it)."""
    b = g.b
    g.sync_frame(op.exit.pc)  # type: ignore[union-attr]
    array = g.op_scratch(len(args))
    for i, a in enumerate(args):
        b.store(a, b.gep(array, [I64(i)]))
    kwnames = op.attrs.get("kwnames")
    nargs = len(args) - (len(kwnames) if kwnames else 0)
    names = obj_const(b, kwnames) if kwnames else L.Constant(OBJ, None)
    return b.bitcast(array, PTR), I64(nargs), names


@lower("vectorcall")
def _vectorcall(g: VersionCodegen, op: ir.Op) -> L.Value:
    return _call_with_array(g, op, "PyObject_Vectorcall", g.v(op.args[0]), [g.v(a) for a in op.args[1:]])


@lower("call_method")
def _call_method(g: VersionCodegen, op: ir.Op) -> L.Value:
    """The method is looked up on args[0] and called with it as self, with
    no bound-method object in between (LOAD_METHOD + CALL).  As the
    interpreter's LOAD_METHOD_NO_DICT, a cache of the call site keeps the
    method descriptor last found on the owner's type, called directly while
    the type keeps the cached version tag (`fill_method_cache`)."""
    b = g.b
    args = [g.v(a) for a in op.args]
    array, nargs, names = _arg_array(g, op, args)
    cache = g.mb.cells(2)  # type version tag, method
    tag = b.zext(load_field(b, load_field(b, args[0], abi.OB_TYPE, PTR), abi.TYPE_VERSION_TAG, I32), I64)
    hit = b.and_(b.icmp_unsigned("==", b.load(cache), tag), b.icmp_unsigned("!=", tag, I64(0)))
    cached, lookup, done = (b.append_basic_block(n) for n in ("method.cached", "method.lookup", "method.done"))
    b.cbranch(hit, cached, lookup, likely=True)
    b.position_at_end(cached)
    method = b.inttoptr(b.load(b.gep(cache, [I64(1)])), OBJ)
    incref(g.mb, b, method)  # as the interpreter holds it: the call may take it off its type
    from_cache = b.call(g.mb.c_function("PyObject_Vectorcall"), [method, array, nargs, names])
    decref(g.mb, b, method, nullable=False)
    cached = b.block
    b.branch(done)
    b.position_at_end(lookup)
    name = obj_const(b, op.attrs["name"])
    b.call(g._helper("fill_method_cache"), [args[0], name, cache])
    # As LOAD_METHOD: a method descriptor of the type (1) is called with
    # the owner as self, anything else (0) is the attribute; a failed
    # lookup is the LOAD_METHOD's error (`second_exit`), not the call's.
    found = b.gep(g.op_scratch(len(args) + 1), [I64(len(args))])
    b.store(L.Constant(OBJ, None), found)  # (a failed lookup does not set it)
    unbound = b.icmp_signed("!=", b.call(g.mb.c_function("_PyObject_GetMethod"), [args[0], name, found]), I32(0))
    method = b.load(found)
    g.fail_branch(is_null(b, method), op.second_exit or op.exit, deopt=False)  # type: ignore[arg-type]
    objects = b.bitcast(array, OBJ.as_pointer())
    after_self = b.bitcast(b.gep(objects, [I64(1)]), PTR)
    offset = b.or_(b.sub(nargs, I64(1)), I64(abi.VECTORCALL_ARGUMENTS_OFFSET))
    looked_up = b.call(g.mb.c_function("PyObject_Vectorcall"), [
        method, b.select(unbound, array, after_self), b.select(unbound, nargs, offset), names])
    decref(g.mb, b, method, nullable=False)
    lookup = b.block
    b.branch(done)
    b.position_at_end(done)
    r = joined(b, (from_cache, cached), (looked_up, lookup))
    g.fail_branch(is_null(b, r), op.exit, deopt=False)  # type: ignore[arg-type]
    _signals_after_call(g, op, r)
    return r


@lower("build_tuple")
def _build_tuple(g: VersionCodegen, op: ir.Op) -> L.Value:
    items = [g.v(a) for a in op.args]
    t = g._tuple_of(items)
    g.fail_branch(is_null(g.b, t), op.exit, deopt=False)  # type: ignore[arg-type]
    for i, item in enumerate(items):
        g.keep_reference(op, i, item)
    return t


@lower("build_list")
def _build_list(g: VersionCodegen, op: ir.Op) -> L.Value:
    b = g.b
    lst = b.call(g.mb.c_function("PyList_New"), [I64(len(op.args))])
    g.fail_branch(is_null(b, lst), op.exit, deopt=False)  # type: ignore[arg-type]
    items = b.bitcast(load_field(b, lst, abi.LIST_ITEMS, PTR), OBJ.as_pointer())
    for i, a in enumerate(op.args):
        item = g.v(a)
        g.keep_reference(op, i, item)
        b.store(item, b.gep(items, [I64(i)]))
    return lst


def _sequence_slot(g: VersionCodegen, seq: L.Value, index: L.Value, tp: type, exit: ir.Exit,
                   message: str) -> L.Value:
    """The address of seq[index] in an exact list or tuple, negative
    indices counted from the end; IndexError(message) when out of range."""
    b = g.b
    size = load_field(b, seq, abi.OB_SIZE, I64)
    index = b.select(b.icmp_signed("<", index, I64(0)), b.add(index, size), index)
    ok = b.append_basic_block("in_range")
    b.cbranch(b.icmp_unsigned(">=", index, size), g.raising_exit(exit, IndexError, message), ok)
    b.position_at_end(ok)
    if tp is list:
        items = b.bitcast(load_field(b, seq, abi.LIST_ITEMS, PTR), OBJ.as_pointer())
    else:
        items = b.bitcast(field_ptr(b, seq, abi.TUPLE_ITEMS, OBJ), OBJ.as_pointer())
    return b.gep(items, [index])


def _by_sequence_type(g: VersionCodegen, seq: L.Value, paths: dict[type | None, Callable[[], L.Value | None]]
                      ) -> L.Value | None:
    """Branch on the exact type of `seq`: run paths[list], paths[tuple]...
    or paths[None] for any other type; merge their results."""
    b = g.b
    done = b.append_basic_block("seq.done")
    results = []
    for tp, path in paths.items():
        if tp is not None:
            here = b.append_basic_block(f"seq.{tp.__name__}")
            other = b.append_basic_block("seq.other")
            b.cbranch(g._type_is(seq, tp), here, other)
            b.position_at_end(here)
        result = path()
        results.append((result, b.block))
        b.branch(done)
        if tp is not None:
            b.position_at_end(other)
    b.position_at_end(done)
    if results[0][0] is None:
        return None
    return joined(b, *results)


@lower("getitem_int")
def _getitem_int(g: VersionCodegen, op: ir.Op) -> L.Value:
    b = g.b
    seq, index = g.v(op.args[0]), g.v(op.args[1])

    def item(tp: type) -> Callable[[], L.Value]:
        def load() -> L.Value:
            slot = _sequence_slot(g, seq, index, tp, op.exit, f"{tp.__name__} index out of range")  # type: ignore[arg-type]
            value = b.load(slot)
            if not op.attrs.get("borrowed"):
                incref(g.mb, b, value)
            return value
        return load

    def generic() -> L.Value:
        g.sync_frame(op.exit.pc)  # type: ignore[union-attr]
        key = b.call(g.mb.c_function("PyLong_FromLongLong"), [index])
        g.fail_branch(is_null(b, key), op.exit, deopt=False)  # type: ignore[arg-type]
        value = b.call(g.mb.c_function("PyObject_GetItem"), [seq, key])
        decref(g.mb, b, key, nullable=False)
        g.fail_branch(is_null(b, value), op.exit, deopt=False)  # type: ignore[arg-type]
        return value
    def character() -> L.Value:
        """A compact ASCII string's character: one of the interpreter's
        one-character strings (made once each); other strings: generic."""
        state = load_field(b, seq, abi.UNICODE_STATE, I32)
        mask = I32(abi.UNICODE_COMPACT_ASCII)
        fast, slow, done = (b.append_basic_block(n) for n in ("str.ascii", "str.other", "str.done"))
        b.cbranch(b.icmp_unsigned("==", b.and_(state, mask), mask), fast, slow)
        b.position_at_end(fast)
        size = load_field(b, seq, abi.UNICODE_LENGTH, I64)
        at = b.select(b.icmp_signed("<", index, I64(0)), b.add(index, size), index)
        ok = b.append_basic_block("str.in_range")
        bad = g.raising_exit(op.exit, IndexError, "string index out of range")  # type: ignore[arg-type]
        b.cbranch(b.icmp_unsigned(">=", at, size), bad, ok)
        b.position_at_end(ok)
        code = b.zext(b.load(b.gep(field_ptr(b, seq, abi.UNICODE_ASCII_DATA, I8), [at])), I64)
        table = b.bitcast(field_ptr(b, obj_const(b, ASCII_CHARACTERS), abi.TUPLE_ITEMS, OBJ), OBJ.as_pointer())
        char = b.load(b.gep(table, [code]))
        incref(g.mb, b, char)
        from_fast = b.block
        b.branch(done)
        b.position_at_end(slow)
        other = generic()
        from_slow = b.block
        b.branch(done)
        b.position_at_end(done)
        return joined(b, (char, from_fast), (other, from_slow))

    paths = {list: item(list), tuple: item(tuple), str: character, None: generic}
    known = op.attrs.get("cls")
    if known is not None:
        return paths[known]()
    del paths[str]
    return _by_sequence_type(g, seq, paths)  # type: ignore[return-value]


# The interpreter's one-character strings (chr() returns them for code points < 256).
ASCII_CHARACTERS = tuple(chr(i) for i in range(128))


@lower("setitem_int")
def _setitem_int(g: VersionCodegen, op: ir.Op) -> None:
    b = g.b
    seq, index, value = (g.v(a) for a in op.args)

    def store() -> None:
        slot = _sequence_slot(g, seq, index, list, op.exit, "list assignment index out of range")  # type: ignore[arg-type]
        old = b.load(slot)
        g.keep_reference(op, 2, value)
        b.store(value, slot)
        decref(g.mb, b, old, nullable=False)

    def generic() -> None:
        g.sync_frame(op.exit.pc)  # type: ignore[union-attr]
        key = b.call(g.mb.c_function("PyLong_FromLongLong"), [index])
        g.fail_branch(is_null(b, key), op.exit, deopt=False)  # type: ignore[arg-type]
        status = b.call(g.mb.c_function("PyObject_SetItem"), [seq, key, value])
        decref(g.mb, b, key, nullable=False)
        g.fail_branch(b.icmp_signed("<", status, I32(0)), op.exit, deopt=False)  # type: ignore[arg-type]
        g.drop_stolen(op, 2, value)
    if op.attrs.get("cls") is list:
        store()
    else:
        _by_sequence_type(g, seq, {list: store, None: generic})


@lower("setitem_number")
def _setitem_number(g: VersionCodegen, op: ir.Op) -> None:
    seq, index, value = (g.v(a) for a in op.args)
    slot = _sequence_slot(g, seq, index, list, op.exit, "list assignment index out of range")  # type: ignore[arg-type]
    store_number(g, op, slot, g.b.load(slot), value)


@lower("guard_unpackable")
def _guard_unpackable(g: VersionCodegen, op: ir.Op) -> None:
    """As UNPACK_SEQUENCE's fast paths: an exact tuple or list (both keep
    their length in ob_size) of the expected size."""
    b = g.b
    t = g.v(op.args[0])
    size_ok = b.icmp_signed("==", load_field(b, t, abi.OB_SIZE, I64), I64(op.attrs["size"]))
    exact = b.or_(g._type_is(t, tuple), g._type_is(t, list))
    g.fail_branch(b.not_(b.and_(exact, size_ok)), op.exit, deopt=True)  # type: ignore[arg-type]


@lower("guard_type")
def _guard_type(g: VersionCodegen, op: ir.Op) -> None:
    b = g.b
    value = g.v(op.args[0])
    if not op.attrs.get("nullable"):
        g.fail_branch(b.not_(g._type_is(value, op.attrs["cls"])), op.exit, deopt=True)  # type: ignore[arg-type]
        return
    check, done = b.append_basic_block("guard.value"), b.append_basic_block("guard.done")
    b.cbranch(is_null(b, value), done, check)
    b.position_at_end(check)
    g.fail_branch(b.not_(g._type_is(value, op.attrs["cls"])), op.exit, deopt=True)  # type: ignore[arg-type]
    b.branch(done)
    b.position_at_end(done)


@lower("guard_recursion")
def _guard_recursion(g: VersionCodegen, op: ir.Op) -> None:
    """As many frames as inlined calls (attrs levels) fit under the
    recursion limit: the interpreter's calls would each take one."""
    b = g.b
    remaining = load_field(b, g.tstate, abi.TSTATE_RECURSION_REMAINING, I32)
    g.fail_branch(b.icmp_signed("<", remaining, I32(op.attrs["levels"])), op.exit, deopt=True)  # type: ignore[arg-type]


@lower("guard_type_version")
def _guard_type_version(g: VersionCodegen, op: ir.Op) -> None:
    b = g.b
    tag = b.load(b.inttoptr(I64(id(op.attrs["cls"]) + abi.TYPE_VERSION_TAG), I32.as_pointer()))
    g.fail_branch(b.icmp_unsigned("!=", tag, I32(op.attrs["tag"])), op.exit, deopt=True)  # type: ignore[arg-type]


@lower("guard_not_shadowed")
def _guard_not_shadowed(g: VersionCodegen, op: ir.Op) -> None:
    """The instance keeps its attributes in a values array and the name is
    not among the shared keys: checked when the keys had as many entries
    as now (cached); when they have more, or the instance has a real dict,
    look again."""
    b = g.b
    cls = op.attrs["cls"]
    owner = g.v(op.args[0])
    keys = b.load(b.inttoptr(I64(id(cls) + abi.HEAPTYPE_CACHED_KEYS), PTR.as_pointer()))
    entries = load_field(b, keys, abi.DICTKEYS_NENTRIES, I64)
    checked = g.mb.global_i64(op.attrs["entries"])
    have_values = b.not_(is_null(b, load_field(b, owner, abi.OBJECT_VALUES, PTR)))
    recheck, done = b.append_basic_block("method.recheck"), b.append_basic_block("method.ok")
    b.cbranch(b.and_(have_values, b.icmp_signed("==", entries, b.load(checked))), done, recheck)
    b.position_at_end(recheck)
    hidden = b.call(g._helper("instance_has"), [owner, obj_const(b, cls), obj_const(b, op.attrs["name"])])
    g.fail_branch(hidden, op.exit, deopt=True)  # type: ignore[arg-type]
    b.store(b.select(have_values, entries, b.load(checked)), checked)
    b.branch(done)
    b.position_at_end(done)


def _values_slot(g: VersionCodegen, index: int | None, owner: L.Value, slow: L.Block,
                 cache: L.Value | None = None) -> tuple[L.Value, L.Value, L.Value, L.Value | None]:
    """(slot, values array, index, attribute cache or None): where the
    owner keeps the attribute: at the `index` the specializer found (the
    class guarded), or where the attribute cache (`cache`, else a new one)
    says; branches to `slow` unless the cache holds the version tag of the
    owner's type, and unless the owner still keeps its attributes in the
    array."""
    b = g.b
    if index is None:
        cache = g.mb.global_i64(0) if cache is None else cache
        cached = b.load(cache)
        tag = b.zext(load_field(b, load_field(b, owner, abi.OB_TYPE, PTR), abi.TYPE_VERSION_TAG, I32), I64)
        hit = b.and_(b.icmp_unsigned("==", b.lshr(cached, I64(CACHE_TAG_SHIFT)), tag),
                     b.icmp_unsigned("!=", cached, I64(0)))
        have_tag = b.append_basic_block("attr.cached")
        b.cbranch(hit, have_tag, slow, likely=True)
        b.position_at_end(have_tag)
        place = b.and_(cached, I64((1 << CACHE_TAG_SHIFT) - 1))
    else:
        place = I64(index)
    values = load_field(b, owner, abi.OBJECT_VALUES, PTR)
    fast = b.append_basic_block("attr.values")
    b.cbranch(is_null(b, values), slow, fast, likely=False)
    b.position_at_end(fast)
    slot = b.bitcast(b.gep(values, [b.mul(place, I64(abi.POINTER_SIZE))]), OBJ.as_pointer())
    return slot, values, place, cache


@lower("seq_next")
def _seq_next(g: VersionCodegen, op: ir.Op) -> L.Value:
    b = g.b
    seq, index = g.v(op.args[0]), g.v(op.args[1])
    start = b.block
    load, done = b.append_basic_block("next.item"), b.append_basic_block("next.done")
    b.cbranch(b.icmp_signed("<", index, load_field(b, seq, abi.OB_SIZE, I64)), load, done)
    b.position_at_end(load)
    if op.attrs["cls"] is list:
        items = b.bitcast(load_field(b, seq, abi.LIST_ITEMS, PTR), OBJ.as_pointer())
    else:
        items = b.bitcast(field_ptr(b, seq, abi.TUPLE_ITEMS, OBJ), OBJ.as_pointer())
    item = b.load(b.gep(items, [index]))
    incref(g.mb, b, item)
    b.branch(done)
    b.position_at_end(done)
    return joined(b, (L.Constant(OBJ, None), start), (item, load))


SLICE_FUNCTIONS = {str: "PyUnicode_Substring", list: "PyList_GetSlice", tuple: "PyTuple_GetSlice"}


@lower("get_slice")
def _get_slice(g: VersionCodegen, op: ir.Op) -> L.Value:
    """seq[start:stop] of an exact str, list or tuple, as the type's own
    subscript with a slice: the bounds adjusted as PySlice_AdjustIndices
    does (a negative one counts from the end; then clamped to 0..length; a
    missing start is 0, a missing stop the length), then the type's slice
    function (which returns the sequence itself for a whole str or tuple)."""
    b = g.b
    cls = op.attrs["cls"]
    seq = g.v(op.args[0])
    bounds = iter(g.v(a) for a in op.args[1:])
    if cls is str:
        made_ready(g, op, seq)
    length = load_field(b, seq, abi.UNICODE_LENGTH if cls is str else abi.OB_SIZE, I64)

    def adjusted(bound: L.Value) -> L.Value:
        from_end = b.add(bound, length)
        from_end = b.select(b.icmp_signed("<", from_end, I64(0)), I64(0), from_end)
        within = b.select(b.icmp_signed(">", bound, length), length, bound)
        return b.select(b.icmp_signed("<", bound, I64(0)), from_end, within)

    start = adjusted(next(bounds)) if op.attrs["has_start"] else I64(0)
    stop = adjusted(next(bounds)) if op.attrs["has_stop"] else length
    stop = b.select(b.icmp_signed("<", stop, start), start, stop)
    g.sync_frame(op.exit.pc)  # type: ignore[union-attr]  # allocating may collect garbage: finalizers run
    r = b.call(g.mb.c_function(SLICE_FUNCTIONS[cls]), [seq, start, stop])
    g.fail_branch(is_null(b, r), op.exit, deopt=False)  # type: ignore[arg-type]
    return r


@lower("dict_get")
def _dict_get(g: VersionCodegen, op: ir.Op) -> L.Value:
    b = g.b
    d, key, default = (g.v(a) for a in op.args)
    g.sync_frame(op.exit.pc)  # type: ignore[union-attr]  # the key's __hash__ and __eq__ may run
    found = b.call(g.mb.c_function("PyDict_GetItemWithError"), [d, key])
    g.fail_branch(null_with_error(b, g.mb, found), op.exit, deopt=False)  # type: ignore[arg-type]
    value = b.select(is_null(b, found), default, found)
    incref(g.mb, b, value)
    return value


@lower("dict_getitem")
def _dict_getitem(g: VersionCodegen, op: ir.Op) -> L.Value:
    """d[key] for an exact dict, as dict_subscript: KeyError((key,)) when
    missing (exact dicts have no __missing__)."""
    b = g.b
    d, key = (g.v(a) for a in op.args)
    g.sync_frame(op.exit.pc)  # type: ignore[union-attr]  # the key's __hash__ and __eq__ may run
    found = b.call(g.mb.c_function("PyDict_GetItemWithError"), [d, key])
    missing, ok = b.append_basic_block("dict.missing"), b.append_basic_block("dict.found")
    b.cbranch(is_null(b, found), missing, ok)
    b.position_at_end(missing)
    raise_key_error = b.append_basic_block("dict.key_error")
    raised = b.icmp_unsigned("!=", b.call(g.mb.c_function("PyErr_Occurred"), []), L.Constant(OBJ, None))
    b.cbranch(raised, g.exit_block(op.exit, deopt=False), raise_key_error)  # type: ignore[arg-type]
    b.position_at_end(raise_key_error)
    array = g.op_scratch(1)
    b.store(key, array)
    args = b.call(g.mb.c_function("PyTuple_New"), [I64(1)])
    made = b.append_basic_block("dict.args")
    b.cbranch(is_null(b, args), g.exit_block(op.exit, deopt=False), made)  # type: ignore[arg-type]
    b.position_at_end(made)
    incref(g.mb, b, key)
    store_field(b, args, abi.TUPLE_ITEMS, key)
    b.call(g.mb.c_function("PyErr_SetObject"), [obj_const(b, KeyError), args])
    decref(g.mb, b, args, nullable=False)
    b.branch(g.exit_block(op.exit, deopt=False))  # type: ignore[arg-type]
    b.position_at_end(ok)
    incref(g.mb, b, found)
    return found


@lower("new_instance")
def _new_instance(g: VersionCodegen, op: ir.Op) -> L.Value:
    """object.__new__(cls) through the type slot, as type.__call__ does."""
    b = g.b
    newfunc = L.FunctionType(OBJ, [OBJ, OBJ, OBJ]).as_pointer()
    new = b.load(b.inttoptr(I64(id(object) + abi.TYPE_NEW), newfunc.as_pointer()))
    instance = b.call(new, [obj_const(b, op.attrs["cls"]), obj_const(b, ()), L.Constant(OBJ, None)])
    g.fail_branch(is_null(b, instance), op.exit, deopt=False)  # type: ignore[arg-type]
    return instance


@lower("load_attr")
def _load_attr(g: VersionCodegen, op: ir.Op) -> L.Value:
    owner, slow = g.v(op.args[0]), g.b.append_basic_block("attr.slow")
    slot, _, _, cache = _values_slot(g, op.attrs.get("index"), owner, slow)
    return _present_or_looked_up(g, op, owner, g.b.load(slot), slow, cache)


def _present_or_looked_up(g: VersionCodegen, op: ir.Op, owner: L.Value, value: L.Value, slow: L.Block,
                          cache: L.Value | None = None) -> L.Value:
    """`value`, read inline from where instances keep the attribute, as a
    new reference; when it is NULL (and from `slow`'s other predecessors)
    owner.<attrs name> through the generic lookup, which raises the
    interpreter's AttributeError, then refills the attribute cache if any."""
    b = g.b
    present, done = b.append_basic_block("attr.present"), b.append_basic_block("attr.done")
    b.cbranch(is_null(b, value), slow, present, likely=False)
    b.position_at_end(present)
    incref(g.mb, b, value)
    b.branch(done)
    b.position_at_end(slow)
    g.sync_frame(op.exit.pc)  # type: ignore[union-attr]
    name = obj_const(b, op.attrs["name"])
    looked_up = b.call(g.mb.c_function("PyObject_GetAttr"), [owner, name])
    g.fail_branch(is_null(b, looked_up), op.exit, deopt=False)  # type: ignore[arg-type]
    if cache is not None:
        b.call(g._helper("fill_attr_cache"), [owner, name, cache])
    b.branch(done)
    slow_end = b.block
    b.position_at_end(done)
    return joined(b, (value, present), (looked_up, slow_end))


@lower("store_attr")
def _store_attr(g: VersionCodegen, op: ir.Op) -> None:
    """As STORE_ATTR_INSTANCE_VALUE: a first assignment also appends the
    index to the array's insertion order, so vars() keeps its order."""
    b = g.b
    owner, value, name = g.v(op.args[0]), g.v(op.args[1]), obj_const(g.b, op.attrs["name"])
    slow, done = b.append_basic_block("attr.slow"), b.append_basic_block("attr.done")
    slot, values, index, cache = _values_slot(g, op.attrs.get("index"), owner, slow)
    old = b.load(slot)
    number = value.type != OBJ

    def first_assignment() -> None:
        count_ptr = b.gep(values, [I64(abi.VALUES_COUNT)])
        count = b.add(b.load(count_ptr), I8(1))
        b.store(count, count_ptr)
        b.store(b.trunc(index, I8), b.gep(count_ptr, [b.neg(b.zext(count, I64))]))
    if number:
        store_number(g, op, slot, old, value, on_first=first_assignment)
        b.branch(done)
    else:
        g.keep_reference(op, 1, value)
        b.store(value, slot)
        _first_or_release(g, old, first_assignment, done)
    b.position_at_end(slow)
    g.sync_frame(op.exit.pc)  # type: ignore[union-attr]
    boxed = box_number(g, op, value, cold=True) if number else value
    g.checked_call(op, g.mb.c_function("PyObject_SetAttr"), [owner, name, boxed])
    if number:
        decref(g.mb, b, boxed, nullable=False)
    g.drop_stolen(op, 1, value)
    if cache is not None:
        b.call(g._helper("fill_attr_cache"), [owner, name, cache])
    b.branch(done)
    b.position_at_end(done)


RELEASE_RUNS_NO_CODE = (int, float, bool, type(None))  # exact types whose objects free nothing else


@lower("store_numbers")
def _store_numbers(g: VersionCodegen, op: ir.Op) -> None:
    """The stores an inlined body kept back (inlining.BufferedStores), all
    or none.  First each owner must still keep its attributes in its values
    array (at the index found when compiling, else where the attribute
    cache says) and the old value be an object whose release runs no code
    (RELEASE_RUNS_NO_CODE), and an object is made for each value that
    cannot take its old one's place (`reusable_number`): if any of that
    fails, the op leaves by its exit (the call's restart) having stored
    nothing.  Then the slots change, which cannot fail."""
    b = g.b
    exit = g.exit_block(op.exit, deopt=True)  # type: ignore[arg-type]
    targets = []
    for k, (index, name) in enumerate(zip(op.attrs["indices"], op.attrs["names"])):
        owner, value = g.v(op.args[2 * k]), g.v(op.args[2 * k + 1])
        slow = b.append_basic_block("buffered.slow")
        slot, _, _, cache = _values_slot(g, index, owner, slow)
        found = b.block
        b.position_at_end(slow)
        if cache is None:
            b.branch(exit)
            b.position_at_end(found)
        else:  # the cache is filled, and asked again
            b.call(g._helper("fill_attr_cache"), [owner, obj_const(b, name), cache])
            slot_filled, _, _, _ = _values_slot(g, index, owner, exit, cache)
            filled, join = b.block, b.append_basic_block("buffered.slot")
            b.branch(join)
            b.position_at_end(found)
            b.branch(join)
            b.position_at_end(join)
            slot = joined(b, (slot, found), (slot_filled, filled))
        old = b.load(slot)
        g.fail_branch(is_null(b, old), op.exit, deopt=True)  # type: ignore[arg-type]
        harmless = functools.reduce(b.or_, (g._type_is(old, tp) for tp in RELEASE_RUNS_NO_CODE))
        g.fail_branch(b.not_(harmless), op.exit, deopt=True)  # type: ignore[arg-type]
        targets.append((slot, old, value))
    made: list[L.Value] = []
    for _, old, value in targets:
        skip, make, failed, ok, join = (b.append_basic_block(f"buffered.{n}")
                                        for n in ("reuse", "make", "failed", "made", "join"))
        b.cbranch(reusable_number(g, old, value), skip, make)
        b.position_at_end(skip)
        b.branch(join)
        b.position_at_end(make)
        new = new_number(g, value)
        b.cbranch(is_null(b, new), failed, ok, likely=False)
        b.position_at_end(failed)
        for earlier in made:
            decref(g.mb, b, earlier, nullable=True)
        b.call(g.mb.c_function("PyErr_Clear"), [])
        b.branch(exit)
        b.position_at_end(ok)
        b.branch(join)
        b.position_at_end(join)
        made.append(joined(b, (L.Constant(OBJ, None), skip), (new, ok)))
    for (slot, old, value), new in zip(targets, made):
        overwrite, replace, done = (b.append_basic_block(f"buffered.{n}") for n in ("overwrite", "replace", "done"))
        b.cbranch(is_null(b, new), overwrite, replace)
        b.position_at_end(overwrite)
        overwrite_number(b, old, value)
        b.branch(done)
        b.position_at_end(replace)
        b.store(new, slot)
        decref(g.mb, b, old, nullable=False)
        b.branch(done)
        b.position_at_end(done)


@lower("load_slot")
def _load_slot(g: VersionCodegen, op: ir.Op) -> L.Value:
    """As LOAD_ATTR_SLOT; an unset entry takes the generic path, which
    raises the member descriptor's AttributeError."""
    owner = g.v(op.args[0])
    value = load_field(g.b, owner, op.attrs["offset"], OBJ)
    return _present_or_looked_up(g, op, owner, value, g.b.append_basic_block("slot.unset"))


@lower("store_slot")
def _store_slot(g: VersionCodegen, op: ir.Op) -> None:
    """As STORE_ATTR_SLOT: the old value, if any, is released after (a
    number may go into it: `store_number`)."""
    b = g.b
    owner, value = g.v(op.args[0]), g.v(op.args[1])
    slot = field_ptr(b, owner, op.attrs["offset"], OBJ)
    old = b.load(slot)
    if value.type == OBJ:
        g.keep_reference(op, 1, value)
        b.store(value, slot)
        decref(g.mb, b, old, nullable=True)
        return
    store_number(g, op, slot, old, value, on_first=lambda: None)


@lower("unpacked_item")
def _unpacked_item(g: VersionCodegen, op: ir.Op) -> L.Value:
    """An item of a tuple (kept inline) or of a list (kept in ob_item)."""
    b = g.b
    seq = g.v(op.args[0])
    in_list = b.bitcast(load_field(b, seq, abi.LIST_ITEMS, PTR), OBJ.as_pointer())
    items = b.select(g._type_is(seq, list), in_list, field_ptr(b, seq, abi.TUPLE_ITEMS, OBJ))
    item = b.load(b.gep(items, [I64(op.attrs["index"])]))
    if not op.attrs.get("borrowed"):
        incref(g.mb, b, item)
    return item


@lower("build_range")
def _build_range(g: VersionCodegen, op: ir.Op) -> L.Value:
    r = g._range(*[g.v(a) for a in op.args])
    g.fail_branch(is_null(g.b, r), op.exit, deopt=False)  # type: ignore[arg-type]
    return r


@lower("iter_next")
def _iter_next(g: VersionCodegen, op: ir.Op) -> L.Value:
    b = g.b
    g.sync_frame(op.exit.pc)  # type: ignore[union-attr]
    item = b.call(g.mb.c_function("PyIter_Next"), [g.v(op.args[0])])
    g.fail_branch(null_with_error(b, g.mb, item), op.exit, deopt=False)  # type: ignore[arg-type]
    return item


@lower("is_null")
def _is_null(g: VersionCodegen, op: ir.Op) -> L.Value:
    return is_null(g.b, g.v(op.args[0]))


@lower("check_signals")
def _check_signals(g: VersionCodegen, op: ir.Op) -> None:
    """What the interpreter does on a backward jump and as a function
    starts: when the eval breaker is set, hand the GIL over if another
    thread asked for it, then run signal handlers and pending calls
    (Ctrl-C raises KeyboardInterrupt).  At the start of a body that calls
    no compiled body directly, nothing: every other call passes through
    the interpreter, which checks.  Nor in a quick entry: the calls that
    return there call nothing, the others enter the body, which checks
    (tak spent 13% more time checking at every call)."""
    if op.attrs.get("entry") and (not g.calls_directly or g.to_full is not None):
        return
    _eval_breaker(g, op.exit)  # type: ignore[arg-type]


def _eval_breaker(g: VersionCodegen, exit: ir.Exit, result: L.Value | None = None) -> None:
    """If the eval breaker is set: hand the GIL over if another thread
    asked for it, run signal handlers and pending calls (the support
    function run_pending_calls: one call in each loop, not three), and
    leave through `exit` if they raised (dropping `result`, the object a
    call just returned)."""
    b = g.b
    interp = g.interp()
    breaker = b.load_atomic(field_ptr(b, interp, abi.INTERP_EVAL_BREAKER, I32), "monotonic", 4)
    slow = b.append_basic_block("eval_breaker")
    done = b.append_basic_block("eval_breaker.done")
    b.cbranch(b.icmp_signed("!=", breaker, I32(0)), slow, done, likely=False)
    b.position_at_end(slow)
    g.sync_frame(exit.pc)
    failed = b.icmp_signed("<", b.call(g._helper("run_pending_calls"), [interp]), I32(0))
    if result is None:
        g.fail_branch(failed, exit, deopt=False)
    else:
        raised, handled = b.append_basic_block("pending_calls.raised"), b.append_basic_block("pending_calls.done")
        b.cbranch(failed, raised, handled, likely=False)
        b.position_at_end(raised)
        decref(g.mb, b, result, nullable=False)
        b.branch(g.exit_block(exit, deopt=False))
        b.position_at_end(handled)
    b.branch(done)
    b.position_at_end(done)


def _signals_after_call(g: VersionCodegen, op: ir.Op, result: L.Value) -> None:
    """As the interpreter after every call: a signal that arrived during
    the call (a long C function: a SIGALRM timeout, Ctrl-C) has its
    handler run now, and what it raises is raised at the call, inside the
    call's `try`, rather than at the next loop iteration, maybe outside
    it.  (An exit restarting an inlined call would make the call again.)"""
    exit = op.exit
    assert exit is not None
    if exit.state is None:
        _eval_breaker(g, exit, result)


@lower("call_direct")
def _call_direct(g: VersionCodegen, op: ir.Op) -> L.Value:
    b = g.b
    version = op.attrs["version"]
    rtype = op.attrs["type"]
    callee = g.direct_callee(version, body_signature(list(version.param_types), rtype), op.attrs["in_loop"])
    boxed_slot = g.op_scratch(1)
    pair = b.call(callee, [g.tstate, L.Constant(PTR, None)] + [g.v(a) for a in op.args] + [boxed_slot])
    status, returned = b.extract_value(pair, 0), b.extract_value(pair, 1)
    boxed = b.append_basic_block("call.boxed")
    error = b.append_basic_block("call.error")
    ok = b.append_basic_block("call.ok")
    branch_on(b, status, {STATUS_OK: ok, STATUS_BOXED: boxed}, error)
    b.position_at_end(boxed)
    if op.attrs.get("init"):  # __init__ finished in the interpreter: it must have returned None
        result = b.load(boxed_slot)
        is_none = b.icmp_unsigned("==", result, obj_const(b, None))
        returned_none, raising = b.append_basic_block("init.none"), b.append_basic_block("init.raise")
        b.cbranch(is_none, returned_none, raising)
        b.position_at_end(returned_none)
        decref(g.mb, b, result, nullable=False)
        b.branch(ok)
        b.position_at_end(raising)
        message = g.mb.cstring("__init__() should return None, not '%.200s'")
        type_name = load_field(b, load_field(b, result, abi.OB_TYPE, PTR), abi.TYPE_NAME, PTR)
        b.call(g.mb.c_function("PyErr_Format"), [obj_const(b, TypeError), message, type_name])
        decref(g.mb, b, result, nullable=False)
        b.branch(error)
    else:
        g._deopt(op.second_exit, call_result=b.load(boxed_slot))  # type: ignore[arg-type]
    b.position_at_end(error)
    g._error(op.exit)  # type: ignore[arg-type]
    b.position_at_end(ok)
    return returned


NAME_KEYWORD = ("name",)


@lower("lookup_attr")
def _lookup_attr(g: VersionCodegen, op: ir.Op) -> L.Value:
    b = g.b
    g.sync_frame(op.exit.pc)  # type: ignore[union-attr]
    slot = g.op_scratch(1)
    name = obj_const(b, op.attrs["name"])
    g.checked_call(op, g.mb.c_function("_PyObject_LookupAttr"), [g.v(op.args[0]), name, b.bitcast(slot, PTR)])
    return b.load(slot)


def _drop_and_branch(g: VersionCodegen, cond: L.Value, owned: list[L.Value], target: L.Block) -> None:
    """If `cond`, release `owned` and go to `target`; continue otherwise."""
    b = g.b
    leave, stay = b.append_basic_block("drop"), b.append_basic_block("cont")
    b.cbranch(cond, leave, stay)
    b.position_at_end(leave)
    for o in owned:
        decref(g.mb, b, o, nullable=False)
    b.branch(target)
    b.position_at_end(stay)


def _matched_or_none(g: VersionCodegen, build: Callable[[L.Block], L.Value]) -> L.Value:
    """The phi of a pattern's tuple of values, built by `build` (which
    branches to the block it is given when something is missing), and None."""
    b = g.b
    no_match, done = b.append_basic_block("match.none"), b.append_basic_block("match.done")
    values = build(no_match)
    matched = b.block
    b.branch(done)
    b.position_at_end(no_match)
    none = obj_const(b, None)
    incref(g.mb, b, none)
    b.branch(done)
    b.position_at_end(done)
    return joined(b, (values, matched), (none, no_match))


@lower("match_class")
def _match_class(g: VersionCodegen, op: ir.Op) -> L.Value:
    """As the interpreter's match_class once the class's __match_args__ is
    known: isinstance, then each attribute, a missing one (AttributeError)
    meaning no match."""
    b = g.b
    subject, error = g.v(op.args[0]), g.exit_block(op.exit, deopt=False)  # type: ignore[arg-type]
    names, match_self = op.attrs["names"], op.attrs["match_self"]
    g.sync_frame(op.exit.pc)  # type: ignore[union-attr]

    def build(no_match: L.Block) -> L.Value:
        cls = obj_const(b, op.attrs["cls"])
        is_instance = g.checked_call(op, g.mb.c_function("PyObject_IsInstance"), [subject, cls])
        _drop_and_branch(g, b.icmp_signed("==", is_instance, I32(0)), [], no_match)
        values = b.call(g.mb.c_function("PyTuple_New"), [I64(len(names) + match_self)])
        g.fail_branch(is_null(b, values), op.exit, deopt=False)  # type: ignore[arg-type]
        if match_self:
            incref(g.mb, b, subject)
            store_field(b, values, abi.TUPLE_ITEMS, subject)
        slot = g.op_scratch(1)
        for i, name in enumerate(names, match_self):
            found = b.call(g.mb.c_function("_PyObject_LookupAttr"), [subject, obj_const(b, name), b.bitcast(slot, PTR)])
            _drop_and_branch(g, b.icmp_signed("<", found, I32(0)), [values], error)
            _drop_and_branch(g, b.icmp_signed("==", found, I32(0)), [values], no_match)
            store_field(b, values, abi.TUPLE_ITEMS + abi.POINTER_SIZE * i, b.load(slot))
        return values

    return _matched_or_none(g, build)


@lower("match_keys")
def _match_keys(g: VersionCodegen, op: ir.Op) -> L.Value:
    """As the interpreter's match_keys: each key's value from the
    subject's get(key, marker), a fresh marker object meaning missing;
    for an exact dict, the lookup dict.get makes."""
    b = g.b
    subject, error = g.v(op.args[0]), g.exit_block(op.exit, deopt=False)  # type: ignore[arg-type]
    keys = op.attrs["keys"]
    g.sync_frame(op.exit.pc)  # type: ignore[union-attr]

    def exact_dict(no_match: L.Block) -> L.Value:
        values = b.call(g.mb.c_function("PyTuple_New"), [I64(len(keys))])
        g.fail_branch(is_null(b, values), op.exit, deopt=False)  # type: ignore[arg-type]
        for i, key in enumerate(keys):
            value = b.call(g.mb.c_function("PyDict_GetItemWithError"), [subject, obj_const(b, key)])
            _drop_and_branch(g, null_with_error(b, g.mb, value), [values], error)
            _drop_and_branch(g, is_null(b, value), [values], no_match)
            incref(g.mb, b, value)
            store_field(b, values, abi.TUPLE_ITEMS + abi.POINTER_SIZE * i, value)
        return values

    def with_get(no_match: L.Block) -> L.Value:
        get = b.call(g.mb.c_function("PyObject_GetAttr"), [subject, obj_const(b, "get")])
        g.fail_branch(is_null(b, get), op.exit, deopt=False)  # type: ignore[arg-type]
        marker = b.call(g.mb.c_function("PyObject_CallNoArgs"), [obj_const(b, object)])
        _drop_and_branch(g, is_null(b, marker), [get], error)
        values = b.call(g.mb.c_function("PyTuple_New"), [I64(len(keys))])
        _drop_and_branch(g, is_null(b, values), [get, marker], error)
        args = g.op_scratch(2)
        b.store(marker, b.gep(args, [I64(1)]))
        missing = b.append_basic_block("keys.missing")
        for i, key in enumerate(keys):
            b.store(obj_const(b, key), args)
            value = b.call(g.mb.c_function("PyObject_Vectorcall"), [get, b.bitcast(args, PTR), I64(2),
                                                                      L.Constant(PTR, None)])
            _drop_and_branch(g, is_null(b, value), [get, marker, values], error)
            _drop_and_branch(g, b.icmp_unsigned("==", value, marker), [value], missing)
            store_field(b, values, abi.TUPLE_ITEMS + abi.POINTER_SIZE * i, value)
        for o in (get, marker):
            decref(g.mb, b, o, nullable=False)
        found = b.block
        b.position_at_end(missing)
        for o in (get, marker, values):
            decref(g.mb, b, o, nullable=False)
        b.branch(no_match)
        b.position_at_end(found)
        return values

    dict_path, other_path, done = (b.append_basic_block(n) for n in ("keys.dict", "keys.other", "keys.done"))
    b.cbranch(g._type_is(subject, dict), dict_path, other_path)
    results = []
    for block, build in ((dict_path, exact_dict), (other_path, with_get)):
        b.position_at_end(block)
        results.append((_matched_or_none(g, build), b.block))
        b.branch(done)
    b.position_at_end(done)
    return joined(b, *results)


@lower("del_attr")
def _del_attr(g: VersionCodegen, op: ir.Op) -> None:
    b = g.b
    g.sync_frame(op.exit.pc)  # type: ignore[union-attr]
    name = obj_const(b, op.attrs["name"])
    g.checked_call(op, g.mb.c_function("PyObject_SetAttr"), [g.v(op.args[0]), name, L.Constant(OBJ, None)])


@lower("dict_update")
def _dict_update(g: VersionCodegen, op: ir.Op) -> None:
    """As DICT_UPDATE: an AttributeError (no keys()) becomes its TypeError."""
    b = g.b
    dict_, update = (g.v(a) for a in op.args)
    g.sync_frame(op.exit.pc)  # type: ignore[union-attr]
    failed, not_mapping = b.append_basic_block("update.failed"), b.append_basic_block("update.not_mapping")
    done = b.append_basic_block("update.done")
    r = b.call(g.mb.c_function("PyDict_Update"), [dict_, update])
    b.cbranch(b.icmp_signed("<", r, I32(0)), failed, done)
    b.position_at_end(failed)
    attribute_error = b.call(g.mb.c_function("PyErr_ExceptionMatches"), [obj_const(b, AttributeError)])
    b.cbranch(b.icmp_signed("!=", attribute_error, I32(0)), not_mapping, g.exit_block(op.exit, deopt=False))  # type: ignore[arg-type]
    b.position_at_end(not_mapping)
    message = g.mb.cstring("'%.200s' object is not a mapping")
    type_name = load_field(b, load_field(b, update, abi.OB_TYPE, PTR), abi.TYPE_NAME, PTR)
    b.call(g.mb.c_function("PyErr_Format"), [obj_const(b, TypeError), message, type_name])
    b.branch(g.exit_block(op.exit, deopt=False))  # type: ignore[arg-type]
    b.position_at_end(done)


@lower("dict_merge")
def _dict_merge(g: VersionCodegen, op: ir.Op) -> None:
    g.sync_frame(op.exit.pc)  # type: ignore[union-attr]
    g.checked_call(op, g._helper("dict_merge"), [g.v(a) for a in op.args])


@lower("type_flag")
def _type_flag(g: VersionCodegen, op: ir.Op) -> L.Value:
    return has_flag(g.b, load_field(g.b, g.v(op.args[0]), abi.OB_TYPE, OBJ), op.attrs["flag"])


@lower("container_len")
def _container_len(g: VersionCodegen, op: ir.Op) -> L.Value:
    return load_field(g.b, g.v(op.args[0]), op.attrs["offset"], I64)


@lower("str_predicate")
def _str_predicate(g: VersionCodegen, op: ir.Op) -> L.Value:
    """For a one-character ASCII string, the answer's bit in the table
    (made from the method's own answers); any other string: the method."""
    b = g.b
    text = g.v(op.args[0])
    mask = I32(abi.UNICODE_COMPACT_ASCII)
    ascii_ = b.icmp_unsigned("==", b.and_(load_field(b, text, abi.UNICODE_STATE, I32), mask), mask)
    one = b.icmp_signed("==", load_field(b, text, abi.UNICODE_LENGTH, I64), I64(1))
    fast, slow, done = (b.append_basic_block(n) for n in ("char.table", "char.method", "char.done"))
    b.cbranch(b.and_(ascii_, one), fast, slow)
    b.position_at_end(fast)
    code = b.zext(load_field(b, text, abi.UNICODE_ASCII_DATA, I8), I64)
    table = field_ptr(b, obj_const(b, op.attrs["table"]), abi.BYTES_DATA, I8)
    bits = b.zext(b.load(b.gep(table, [code])), I64)
    from_table = b.trunc(b.lshr(bits, I64(op.attrs["bit"])), I1)
    b.branch(done)
    b.position_at_end(slow)
    g.sync_frame(op.exit.pc)  # type: ignore[union-attr]
    answer = g.checked_call(op, g._helper("str_predicate"), [obj_const(b, op.attrs["method"]), text])
    from_method = b.icmp_signed("!=", answer, I32(0))
    slow_end = b.block
    b.branch(done)
    b.position_at_end(done)
    return joined(b, (from_table, fast), (from_method, slow_end))


# Whether each ASCII character is whitespace, as str.split() and
# str.isspace() say (Py_UNICODE_ISSPACE).
ASCII_WHITESPACE = bytes(chr(code).isspace() for code in range(128))


@lower("int_of")
def _int_of(g: VersionCodegen, op: ir.Op) -> L.Value:
    g.sync_frame(op.exit.pc)  # type: ignore[union-attr]  # PyNumber_Long may run __int__, __index__ or __trunc__
    r = g.b.call(g._helper("int_of"), [g.v(op.args[0])])
    g.fail_branch(is_null(g.b, r), op.exit, deopt=False)  # type: ignore[arg-type]
    return r


@lower("str_scan")
def _str_scan(g: VersionCodegen, op: ir.Op) -> L.Value:
    """A compact ASCII string is scanned here, with a table; any other by
    the support function."""
    b = g.b
    text, start = g.v(op.args[0]), g.v(op.args[1])
    space = I1(int(op.attrs["space"]))
    mask = I32(abi.UNICODE_COMPACT_ASCII)
    ascii_ = b.icmp_unsigned("==", b.and_(load_field(b, text, abi.UNICODE_STATE, I32), mask), mask)
    here, elsewhere, done = (b.append_basic_block(n) for n in ("scan.ascii", "scan.other", "scan.found"))
    b.cbranch(ascii_, here, elsewhere, likely=True)
    b.position_at_end(here)
    chars = field_ptr(b, text, abi.UNICODE_ASCII_DATA, I8)
    table = field_ptr(b, obj_const(b, ASCII_WHITESPACE), abi.BYTES_DATA, I8)

    def stops(i: L.Value) -> L.Value:
        white = b.icmp_unsigned("!=", b.load(b.gep(table, [b.zext(b.load(b.gep(chars, [i])), I64)])), I8(0))
        return b.icmp_unsigned("==", white, space)
    found = scan(b, start, load_field(b, text, abi.UNICODE_LENGTH, I64), stops)
    here_end = b.block
    b.branch(done)
    b.position_at_end(elsewhere)
    g.sync_frame(op.exit.pc)  # type: ignore[union-attr]  # making a legacy string ready allocates
    index = b.call(g._helper("str_scan"), [text, start, space])
    g.fail_branch(b.icmp_signed("<", index, I64(0)), op.exit, deopt=False)  # type: ignore[arg-type]
    elsewhere_end = b.block
    b.branch(done)
    b.position_at_end(done)
    return joined(b, (found, here_end), (index, elsewhere_end))


def made_ready(g: VersionCodegen, op: ir.Op, text: L.Value) -> None:
    """A legacy string (made by the deprecated C API) has neither its
    length nor its characters in the PEP 393 form until made ready, which
    str operations do first (MemoryError: `op`'s error exit)."""
    b = g.b
    unready, ready = b.append_basic_block("str.unready"), b.append_basic_block("str.ready")
    state = load_field(b, text, abi.UNICODE_STATE, I32)
    b.cbranch(b.icmp_unsigned("==", b.and_(state, I32(abi.UNICODE_READY)), I32(0)), unready, ready, likely=False)
    b.position_at_end(unready)
    g.sync_frame(op.exit.pc)  # type: ignore[union-attr]
    made = b.call(g.mb.c_function("_PyUnicode_Ready"), [text])
    g.fail_branch(b.icmp_signed("<", made, I32(0)), op.exit, deopt=False)  # type: ignore[arg-type]
    b.branch(ready)
    b.position_at_end(ready)


@lower("str_eq")
def _str_eq(g: VersionCodegen, op: ir.Op) -> L.Value:
    """Two exact strings are equal: the same object, or _PyUnicode_EQ of
    the two made ready."""
    b = g.b
    a, c = (g.v(x) for x in op.args)
    start = b.block
    compare, done = b.append_basic_block("str.compare"), b.append_basic_block("str.compared")
    b.cbranch(b.icmp_unsigned("==", a, c), done, compare)
    b.position_at_end(compare)
    made_ready(g, op, a)
    made_ready(g, op, c)
    equal = b.icmp_signed("!=", b.call(g.mb.c_function("_PyUnicode_EQ"), [a, c]), I32(0))
    compared = b.block
    b.branch(done)
    b.position_at_end(done)
    return joined(b, (I1(1), start), (equal, compared))


@lower("make_cell")
def _make_cell(g: VersionCodegen, op: ir.Op) -> L.Value:
    content = g.v(op.args[0]) if op.args else L.Constant(OBJ, None)
    b = g.b
    cell = b.call(g.mb.c_function("PyCell_New"), [content])
    g.fail_branch(is_null(b, cell), op.exit, deopt=False)  # type: ignore[arg-type]
    # The trampoline frame's slot takes the cell, as after the interpreter's
    # MAKE_CELL: zero-argument super() reads `self` through it and
    # frame.f_locals shows the cell's content.  The argument it held stays
    # alive: the trampoline's call passed it from its stack.
    in_frame, done = b.append_basic_block("cell.frame"), b.append_basic_block("cell.done")
    b.cbranch(is_null(b, g.frame), done, in_frame)
    b.position_at_end(in_frame)
    slot = frame_slot(b, g.frame, op.attrs["slot"])
    old = b.load(slot)
    incref(g.mb, b, cell)
    b.store(cell, slot)
    decref(g.mb, b, old)
    b.branch(done)
    b.position_at_end(done)
    return cell


@lower("cell_get")
def _cell_get(g: VersionCodegen, op: ir.Op) -> L.Value:
    b = g.b
    content = load_field(b, g.v(op.args[0]), abi.CELL_REF, OBJ)
    empty, ok = b.append_basic_block("cell.empty"), b.append_basic_block("cell.full")
    b.cbranch(is_null(b, content), empty, ok)
    b.position_at_end(empty)
    exc, name = op.attrs["exc"], op.attrs["name"]
    if exc is NameError:  # like the interpreter's, it knows the name (for suggestions)
        args = (op.attrs["message"], name)
        g.keep.append(args)
        array = g.op_scratch(2)
        for i, a in enumerate(args):
            b.store(obj_const(b, a), b.gep(array, [I64(i)]))
        error = b.call(g.mb.c_function("PyObject_Vectorcall"), [
            obj_const(b, exc), b.bitcast(array, PTR), I64(1), obj_const(b, NAME_KEYWORD)])
        made = b.append_basic_block("cell.error")
        b.cbranch(is_null(b, error), g.exit_block(op.exit, deopt=False), made)  # type: ignore[arg-type]
        b.position_at_end(made)
        b.call(g.mb.c_function("PyErr_SetObject"), [obj_const(b, exc), error])
        decref(g.mb, b, error, nullable=False)
    else:
        message = g.mb.cstring(op.attrs["message"])
        b.call(g.mb.c_function("PyErr_SetString"), [obj_const(b, exc), message])
    b.branch(g.exit_block(op.exit, deopt=False))  # type: ignore[arg-type]
    b.position_at_end(ok)
    incref(g.mb, b, content)
    return content


@lower("cell_set")
def _cell_set(g: VersionCodegen, op: ir.Op) -> None:
    b = g.b
    slot = field_ptr(b, g.v(op.args[0]), abi.CELL_REF, OBJ)
    replaced = b.load(slot)
    if len(op.args) > 1:
        value = g.v(op.args[1])
        g.keep_reference(op, 1, value)
    else:  # emptied (del)
        value = L.Constant(OBJ, None)
    b.store(value, slot)
    decref(g.mb, b, replaced)


@lower("catch")
def _catch(g: VersionCodegen, op: ir.Op) -> L.Value:
    return g.b.call(g._helper("catch"), [])


@lower("push_exc_info")
def _push_exc_info(g: VersionCodegen, op: ir.Op) -> L.Value:
    b = g.b
    slot = handled_exception_slot(b, g.tstate)
    previous = b.load(slot)
    result = b.select(is_null(b, previous), obj_const(b, None), previous)
    incref(g.mb, b, result)
    decref(g.mb, b, previous)  # the stack now holds it, as `result`
    value = g.v(op.args[0])
    incref(g.mb, b, value)
    b.store(value, slot)
    return result


@lower("pop_except")
def _pop_except(g: VersionCodegen, op: ir.Op) -> None:
    b = g.b
    slot = handled_exception_slot(b, g.tstate)
    replaced = b.load(slot)
    value = g.v(op.args[0])
    incref(g.mb, b, value)
    b.store(value, slot)
    decref(g.mb, b, replaced)


@lower("exc_match")
def _exc_match(g: VersionCodegen, op: ir.Op) -> L.Value:
    b = g.b
    r = g.checked_call(op, g._helper("exc_match"), [g.v(a) for a in op.args])
    return b.icmp_signed("!=", r, I32(0))


@lower("restore_exception")
def _restore_exception(g: VersionCodegen, op: ir.Op) -> None:
    restore_exception(g.mb, g.b, g.v(op.args[0]))


@lower("reraise_handled")
def _reraise_handled(g: VersionCodegen, op: ir.Op) -> L.Value:
    return g.b.call(g._helper("reraise_handled"), [g.tstate])


@lower("raise")
def _raise(g: VersionCodegen, op: ir.Op) -> None:
    g.sync_frame(op.attrs["pc"])  # calling an exception class runs code
    args = [g.v(a) for a in op.args]
    cause = args[1] if len(args) > 1 else L.Constant(OBJ, None)
    g.b.call(g._helper("raise"), [args[0], cause])


@lower("lookup_special")
def _lookup_special(g: VersionCodegen, op: ir.Op) -> L.Value:
    b = g.b
    g.sync_frame(op.exit.pc)  # type: ignore[union-attr]
    owner = g.v(op.args[0])
    found = b.call(g.mb.c_function("_PyObject_LookupSpecial"), [owner, obj_const(b, op.attrs["name"])])
    missing, ok = b.append_basic_block("special.missing"), b.append_basic_block("special.found")
    b.cbranch(is_null(b, found), missing, ok)
    b.position_at_end(missing)
    not_raised = b.append_basic_block("special.absent")
    nothing_raised = is_null(b, b.call(g.mb.c_function("PyErr_Occurred"), []))
    b.cbranch(nothing_raised, not_raised, g.exit_block(op.exit, deopt=False))  # type: ignore[arg-type]
    b.position_at_end(not_raised)
    type_name = load_field(b, load_field(b, owner, abi.OB_TYPE, PTR), abi.TYPE_NAME, PTR)
    b.call(g.mb.c_function("PyErr_Format"), [obj_const(b, TypeError), g.mb.cstring(op.attrs["message"]),
                                             type_name])
    b.branch(g.exit_block(op.exit, deopt=False))  # type: ignore[arg-type]
    b.position_at_end(ok)
    return found


@lower("keep")
def _keep(g: VersionCodegen, op: ir.Op) -> None:
    """No code: the op only extends its operands' lifetime (refcount.py)."""


@lower("incref")
def _incref(g: VersionCodegen, op: ir.Op) -> None:
    incref(g.mb, g.b, g.v(op.args[0]))


@lower("decref")
def _decref(g: VersionCodegen, op: ir.Op) -> None:
    decref(g.mb, g.b, g.v(op.args[0]), nullable=ir.may_be_null(op.args[0]))


assert set(LOWER) == set(ir.OPS), set(ir.OPS) ^ set(LOWER)
