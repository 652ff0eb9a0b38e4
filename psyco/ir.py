"""psyco's typed SSA IR: the instruction table, functions, printer, verifier.

Values have one of four native types: `i64`, `f64`, `i1`, `obj`
(PyObject*).  Every instruction is described once in `OPS`: its result
type, and flags saying whether it owns the object it returns, may raise
(an *error exit*) or is a guard (a *deopt exit*).  Block parameters replace
phi nodes.  Object values are owned or borrowed; `refcount.py` inserts the
increments and decrements from that ownership, nothing else does.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator

from psyco.own_builtins import BUILTINS
from psyco.records import field, record

__builtins__ = BUILTINS  # psyco calls the builtins it was imported with (see own_builtins)

TYPES = ("i64", "f64", "i1", "obj")


@record(frozen=True)
class OpDef:
    result: str | None  # IR type, "arg0" (same as first operand) or None
    owns: bool = False  # returns a new reference
    error: bool = False  # may raise: has an error exit
    guard: bool = False  # may fail its assumption: has a deopt exit
    only_memory_error: bool = False  # its error exit is MemoryError: it runs no Python code
    # A generic object operation through the C API, what the interpreter
    # does too: its weight when judging whether compiling pays.  Calls weigh
    # more: the interpreter inlines Python-to-Python calls, we cannot.
    generic: int = 0
    # An object operation done inline (what the interpreter's specialized
    # instructions do): counts as native work.
    native: bool = False
    # Operands from this index on are stored into an object: one that is
    # owned and dies at the op gives the op its reference instead of the
    # op adding one (refcount.py; attrs["stolen"]: their indices).
    steals_from: int | None = None
    # Runs no Python code, frees no object and changes none unless it leaves
    # through an exit: an item borrowed before it stays valid (refcount.py).
    pure: bool = False
    # Its result may stay a reference borrowed from operand 0 (an item of
    # an exact list or tuple, attrs cls, read inline): refcount.py decides.
    borrowable: bool = False


OPS: dict[str, OpDef] = {
    # constants; attrs["value"]
    "const_i64": OpDef("i64", pure=True), "const_f64": OpDef("f64", pure=True), "const_i1": OpDef("i1", pure=True),
    "const_obj": OpDef("obj", pure=True),
    # integer arithmetic; *_ovf deoptimize on signed overflow
    "iadd_ovf": OpDef("i64", guard=True, pure=True), "isub_ovf": OpDef("i64", guard=True, pure=True),
    "imul_ovf": OpDef("i64", guard=True, pure=True), "ishl_ovf": OpDef("i64", guard=True, pure=True),
    "iadd": OpDef("i64", pure=True), "isub": OpDef("i64", pure=True), "imul": OpDef("i64", pure=True),
    "ifloordiv": OpDef("i64", pure=True), "imod": OpDef("i64", pure=True), "iashr": OpDef("i64", pure=True),
    "and": OpDef("arg0", pure=True), "or": OpDef("arg0", pure=True), "xor": OpDef("arg0", pure=True),
    "icmp": OpDef("i1", pure=True),  # attrs["pred"]: < <= == != > >=
    "not": OpDef("i1", pure=True),
    "select": OpDef("arg1", pure=True),
    "zext": OpDef("i64", pure=True),  # bool -> int
    "sitofp": OpDef("f64", pure=True),
    "fptosi": OpDef("i64", pure=True),
    # float arithmetic
    "fadd": OpDef("f64", pure=True), "fsub": OpDef("f64", pure=True), "fmul": OpDef("f64", pure=True),
    "fdiv": OpDef("f64", pure=True),
    "fneg": OpDef("f64", pure=True), "ffloordiv": OpDef("f64", pure=True), "fmod": OpDef("f64", pure=True),
    "fcmp": OpDef("i1", pure=True),
    "fabs": OpDef("f64", pure=True),
    "fclass": OpDef("i1", pure=True),  # attrs["test"]: "finite" (not inf nor nan) or "infinite" (+-inf)
    "math": OpDef("f64", pure=True),  # attrs["name"]: a libm function or LLVM intrinsic
    "fround_even": OpDef("f64", pure=True),
    # boxing and unboxing
    "box_int": OpDef("obj", owns=True, error=True, only_memory_error=True, pure=True),
    "box_float": OpDef("obj", owns=True, error=True, only_memory_error=True, pure=True),
    "box_bool": OpDef("obj", pure=True),  # Py_True / Py_False: borrowed, immortal enough
    # the int or float argument args[0] as the object the caller passed: the
    # trampoline frame's slot attrs["slot"], or without a frame a new object
    "argument_object": OpDef("obj", owns=True, error=True, only_memory_error=True),
    "unbox_int": OpDef("i64", guard=True, pure=True),  # exact int that fits in 64 bits
    "unbox_float": OpDef("f64", guard=True, pure=True),  # exact float
    "unbox_bool": OpDef("i1", guard=True, pure=True),  # exact bool
    "guard_is": OpDef(None, guard=True, pure=True),  # operand is attrs["value"]
    # attrs: names, values (bound to each name), globals, builtins (or None)
    "guard_global": OpDef(None, guard=True),
    "guard_not_tracing": OpDef(None, guard=True, pure=True),  # sys.settrace and sys.setprofile are off
    # attrs levels more Python frames fit under the recursion limit (calls inlined)
    "guard_recursion": OpDef(None, guard=True, pure=True),
    # raising
    "raise_if": OpDef(None, error=True, pure=True),  # attrs: exc, message
    "c_call": OpDef("attr", error=True, generic=1),  # attrs: name (C_API), owns, fails ("null"/"neg")
    "truth": OpDef("i1", error=True, generic=1),
    # int(x) for one argument: a short decimal str read inline, anything else
    # through PyNumber_Long (attrs["generic"] 0 when x is known to be a str)
    "int_of": OpDef("obj", owns=True, error=True, generic=1),
    # run signal handlers and pending calls if the eval breaker is set; attrs
    # entry: at the function's start, kept only in a body calling compiled
    # bodies directly (the interpreter checked before any other call)
    "check_signals": OpDef(None, error=True),
    # direct call of a compiled version: attrs["version"]; attrs["init"]:
    # an __init__, whose result is checked to be None (no deopt exit)
    "call_direct": OpDef("attr", error=True, guard=True),
    "guard_true": OpDef(None, guard=True, pure=True),  # deoptimize unless operand is true
    # generic object operations
    "vectorcall": OpDef("obj", owns=True, error=True, generic=3),  # args[0](*args[1:]); attrs: kwnames
    "call_method": OpDef("obj", owns=True, error=True, generic=3),  # args[0].<attrs name>(*args[1:]); attrs: kwnames
    "build_tuple": OpDef("obj", owns=True, error=True, only_memory_error=True, steals_from=0),
    "build_list": OpDef("obj", owns=True, error=True, only_memory_error=True, steals_from=0),
    # container[index] for an i64 index: inline for exact lists and tuples
    # (attrs["cls"]: the container's type when known)
    "getitem_int": OpDef("obj", owns=True, error=True, generic=1, borrowable=True),
    "get_slice": OpDef("obj", owns=True, error=True, generic=1),  # args[0][start:stop], attrs: cls, has_start/stop
    "setitem_int": OpDef(None, error=True, generic=1, steals_from=2),  # args: container, index, value
    # exact list, index, i64 or f64: see backend.store_number
    "setitem_number": OpDef(None, error=True, native=True),
    # operand is an exact tuple or list of attrs["size"] items
    "guard_unpackable": OpDef(None, guard=True, pure=True),
    # operand's type is exactly attrs["cls"] (or, attrs nullable, it is NULL)
    "guard_type": OpDef(None, guard=True, pure=True),
    "guard_type_version": OpDef(None, guard=True, pure=True),  # attrs["cls"] still has version attrs["tag"]
    # the instance (of attrs cls) has no attribute attrs["name"] of its own
    # (attrs entries: how many shared keys were checked at compile time)
    "guard_not_shadowed": OpDef(None, guard=True, pure=True),
    # the item at an i64 index of an exact list or tuple (attrs cls), NULL past the end
    "seq_next": OpDef("obj", owns=True, native=True),
    "dict_get": OpDef("obj", owns=True, error=True, native=True),  # args: dict, key, default
    "dict_getitem": OpDef("obj", owns=True, error=True, native=True),  # args: exact dict, key (KeyError if missing)
    "new_instance": OpDef("obj", owns=True, error=True, native=True),  # object.__new__(attrs["cls"])
    # owner.<attrs name>: from the instance's values array at attrs["index"]
    # (its class guarded) or where an attribute cache says it is, else
    # generic (and fill the cache)
    "load_attr": OpDef("obj", owns=True, error=True, native=True),
    "store_attr": OpDef(None, error=True, native=True, steals_from=1),  # args: owner, value (maybe i64/f64)
    # stores an inlined body kept back, all or none (inlining.BufferedStores):
    # args owner, i64/f64 value pairs; attrs indices (in the values arrays), names
    "store_numbers": OpDef(None, guard=True, native=True),
    # the __slots__ entry at byte offset attrs["offset"] of the owner (its
    # class guarded); load: AttributeError, as the interpreter words it, when unset
    "load_slot": OpDef("obj", owns=True, error=True, native=True),
    # args: owner, value (an i64 or f64 is boxed, maybe into the old value: MemoryError)
    "store_slot": OpDef(None, error=True, only_memory_error=True, native=True, steals_from=1),
    "del_attr": OpDef(None, error=True, generic=1),  # del args[0].<attrs name>
    "lookup_attr": OpDef("obj", owns=True, error=True, generic=1),  # args[0].<attrs name>, NULL if no such attribute
    # PyDict_Update(args[0], args[1]), its AttributeError made the TypeError "... is not a mapping"
    "dict_update": OpDef(None, error=True, generic=1),
    "dict_merge": OpDef(None, error=True, generic=1),  # args: callable, keywords dict, dict merged in (DICT_MERGE)
    # item attrs["index"] of what guard_unpackable let through
    "unpacked_item": OpDef("obj", owns=True, pure=True, borrowable=True),
    "build_range": OpDef("obj", owns=True, error=True, only_memory_error=True),
    # len() of an exact builtin container: its field attrs["offset"]
    "container_len": OpDef("i64", native=True, pure=True),
    # two exact str objects are equal (a legacy string is made ready first: MemoryError)
    "str_eq": OpDef("i1", error=True, only_memory_error=True, native=True),
    # the first index from args[1] on whose character is (attrs space) or is
    # not whitespace as str.split() judges it, else the length of the exact
    # str args[0] (a legacy string is made ready first: MemoryError)
    "str_scan": OpDef("i64", error=True, only_memory_error=True, native=True),
    # a str method about characters (attrs method; bit in attrs table, per ASCII code) of an exact str
    "str_predicate": OpDef("i1", error=True, native=True),
    # pattern matching: a tuple of the values matched, or None
    "match_class": OpDef("obj", owns=True, error=True, generic=1),  # isinstance(args[0], cls), attrs names
    "match_keys": OpDef("obj", owns=True, error=True, generic=1),  # args[0].get(k) for each of attrs keys
    "type_flag": OpDef("i1", native=True, pure=True),  # type(args[0]) has the tp_flags bit attrs["flag"]
    # cells (variables shared with nested functions)
    "make_cell": OpDef("obj", owns=True, error=True, only_memory_error=True),  # a cell holding args[0] (or empty)
    "cell_get": OpDef("obj", owns=True, error=True),  # the content; empty: raise attrs exc(message), name
    "cell_set": OpDef(None, steals_from=1),  # args: cell, value (none: empty the cell)
    # exceptions (the exception being handled is tstate->exc_info's)
    "catch": OpDef("obj", owns=True),  # take the raised exception, normalized, with its traceback
    "push_exc_info": OpDef("obj", owns=True),  # make args[0] the handled exception; returns the previous (or None)
    "pop_except": OpDef(None),  # make args[0] the handled exception again
    "exc_match": OpDef("i1", error=True),  # does args[0] match the class or tuple args[1] (checked)?
    "restore_exception": OpDef(None),  # raise args[0] again, with its traceback
    "reraise_handled": OpDef("i1"),  # bare `raise`: restore the handled exception (true) or set RuntimeError
    "raise": OpDef(None),  # `raise args[0] [from args[1]]`: set the exception (or the TypeError); attrs: pc
    "lookup_special": OpDef("obj", owns=True, error=True),  # type(args[0]).<attrs name>, bound; attrs: message
    "iter_next": OpDef("obj", owns=True, error=True, generic=1),  # NULL when exhausted
    "is_null": OpDef("i1", pure=True),
    "load_global": OpDef("obj", owns=True, error=True, generic=1),  # attrs: name, globals, builtins
    # the objects the frame's variables held until here (a variable rebound or
    # deleted, the return): no code, a use that keeps them alive as long as
    # CPython's frame would (a finalizer must not run earlier)
    "keep": OpDef(None, pure=True),
    # reference counting, inserted by refcount.py only
    "incref": OpDef(None), "decref": OpDef(None),
}


@record(eq=False)
class Value:
    id: int
    type: str
    op: Op | None = None  # None for block parameters
    owned: bool = False

    def __str__(self) -> str:
        return f"%{self.id}"


@record(eq=False)
class Exit:
    """Where control goes when an op fails.

    `pc` is the code-unit index of the bytecode instruction: the traceback
    position for an error, the resume point for a deopt.  `state` lists the
    interpreter's locals then stack as materializers (see specializer), and
    `release` the owned values to drop, filled in by refcount.py.
    """

    pc: int
    state: list[Materializer] | None = None  # deopt only
    # error only: the exception handler (a landing block) this exit jumps
    # to instead of leaving; `traceback`: add this function's traceback
    # entry first (False when re-raising an exception as it is)
    handler: Edge | None = None
    traceback: bool = True
    release: list[Value] = field(default_factory=list)
    reason: str = ""
    id: int = -1
    site: int = -1  # index of the instruction whose guard this is
    # (address of an i64 counter, threshold, callback): set by the runtime to
    # count deopts through this exit and be told when it keeps failing
    counter: tuple[int, int, object] | None = None

    def values(self) -> list[Value]:
        out: list[Value] = list(self.handler.args) if self.handler is not None else []
        for m in self.state or ():
            out.extend(m.values())
        return out

    def describe(self) -> str:
        if self.state is not None:
            return f"deopt@{self.pc} {{" + ", ".join(map(str, self.state)) + "}"
        where = f"b{self.handler.target.id}(" + ", ".join(map(str, self.handler.args)) + ")" if self.handler else ""
        return f"error@{self.pc}" + ("" if self.traceback else " (reraise)") + (f" -> {where}" if where else "")


@record(eq=False)
class Materializer:
    """How to rebuild one interpreter stack or local slot from native values.

    how: "value" (box args[0] by its type; obj is used as is), "const"
    (the Python object `const`), "null" (no value), "tuple" (parts are the
    items; `const` its vid, or 0: slots of one vid get one tuple),
    "range_iter" (args: current, stop, step), "seq_iter" (args: an
    exact list or tuple, the next index), "split_iter" (args: an exact str,
    where the next word is looked for), "instance" (parts are the
    attributes; `const` (class, names, vid)), "slice" (args: the
    bounds present, `const` (has_start, has_stop)), "call_result" (the
    boxed object returned by a direct call that left its fast path).
    """

    how: str
    args: list[Value] = field(default_factory=list)
    parts: list[Materializer] = field(default_factory=list)
    const: object = None

    def values(self) -> list[Value]:
        out = list(self.args)
        for p in self.parts:
            out.extend(p.values())
        return out

    def __str__(self) -> str:
        if self.how == "const":
            return repr(self.const)
        if self.how == "tuple":
            return "(" + ", ".join(map(str, self.parts)) + ",)"
        if self.how == "value":
            return str(self.args[0])
        if self.how == "instance":
            cls, names, _ = self.const  # type: ignore[misc]
            return f"{cls.__name__}{{" + ", ".join(f"{n}={p}" for n, p in zip(names, self.parts)) + "}"
        return f"{self.how}(" + ", ".join(map(str, self.args)) + ")"


@record(eq=False)
class Op:
    name: str
    args: list[Value]
    attrs: dict
    result: Value | None = None
    exit: Exit | None = None
    # A second exit: call_direct's deopt (its callee left its fast path),
    # call_method's error exit for a failed lookup (raised by the LOAD_METHOD;
    # without one, its exit)
    second_exit: Exit | None = None
    post: list[Op] = field(default_factory=list)  # refcount ops after this one

    def uses(self) -> list[Value]:
        out = list(self.args)
        for e in (self.exit, self.second_exit):
            if e is not None:
                out.extend(e.values())
        return out

    def exits(self) -> list[Exit]:
        return [e for e in (self.exit, self.second_exit) if e is not None]

    def __str__(self) -> str:
        lhs = f"{self.result} = " if self.result is not None else ""
        attrs = " ".join(f"{k}={_short(v)}" for k, v in self.attrs.items())
        s = f"{lhs}{self.name} " + ", ".join(map(str, self.args)) + (f" [{attrs}]" if attrs else "")
        for e in self.exits():
            s += f"  -> {e.describe()}"
        return s


SAFE_REPR = (int, float, bool, str, bytes, type(None))


def _short(v: object) -> str:
    """A short description that never runs the program's own code (a
    tuple's items described the same way)."""
    if type(v) is int and v.bit_length() > 128:  # (the repr of a huge int may be refused)
        return f"<int of {v.bit_length()} bits>"
    if type(v) is tuple or type(v) in SAFE_REPR:
        text = f"({', '.join(map(_short, v))}{',' * (len(v) == 1)})" if type(v) is tuple else repr(v)
        return text if len(text) < 40 else text[:37] + "..."
    name = getattr(type(v), "__name__", "?")
    if type(v).__module__ in ("builtins", "psyco.runtime.jit") and hasattr(v, "__name__"):
        return str(v.__name__)
    return f"<{name}>"


@record(eq=False)
class Edge:
    target: Block
    args: list[Value]
    fixups: list[Op] = field(default_factory=list)  # refcount ops on this edge


@record(eq=False)
class Terminator:
    """br (edges[0]), cbr (cond; edges[0] if true, edges[1] if false),
    ret (value), deopt (exit), error (exit: the exception is already set)."""

    kind: str
    cond: Value | None = None
    edges: list[Edge] = field(default_factory=list)
    value: Value | None = None
    exit: Exit | None = None

    def uses(self) -> list[Value]:
        out = [v for v in (self.cond, self.value) if v is not None]
        for e in self.edges:
            out.extend(e.args)
        if self.exit is not None:
            out.extend(self.exit.values())
        return out

    def __str__(self) -> str:
        def edge(e: Edge) -> str:
            return f"b{e.target.id}(" + ", ".join(map(str, e.args)) + ")"

        if self.kind == "br":
            return "br " + edge(self.edges[0])
        if self.kind == "cbr":
            return f"cbr {self.cond}, " + ", ".join(edge(e) for e in self.edges)
        if self.kind == "ret":
            return f"ret {self.value}"
        assert self.exit is not None
        return f"{self.exit.describe()}  ; {self.exit.reason}"


@record(eq=False)
class Block:
    id: int
    params: list[Value] = field(default_factory=list)
    ops: list[Op] = field(default_factory=list)
    term: Terminator | None = None
    pre: list[Op] = field(default_factory=list)  # refcount ops at entry
    note: str = ""

    def successors(self) -> list[Block]:
        return [e.target for e in self.term.edges] if self.term else []


@record(eq=False)
class Function:
    name: str
    params: list[Value]
    ret_type: str  # IR type of the unboxed result
    ret_kind: str  # kind name, for boxing at the entry
    blocks: list[Block] = field(default_factory=list)
    # the frame slot of each int or float parameter (by value id) whose
    # boxing gives back the object the caller passed (`box_as_passed`)
    argument_slots: dict[int, int] = field(default_factory=dict)
    _next_id: int = 0

    def new_value(self, type_: str, op: Op | None = None, owned: bool = False) -> Value:
        self._next_id += 1
        return Value(self._next_id, type_, op, owned)

    def new_block(self, note: str = "") -> Block:
        block = Block(len(self.blocks), note=note)
        self.blocks.append(block)
        return block


_NAME_NUMBERS = itertools.count(1)


def unique_name(stem: str) -> str:
    """A symbol name no other function of the process has: a version's
    body and entry are named when it is specialized, so that its callers
    can name them before the back end lowers it."""
    return f"psy{next(_NAME_NUMBERS)}_{stem}"


LOOP_WEIGHT = 10  # an op in a loop counts as this many outside one


def blocks_in_loops(fn: Function) -> set[int]:
    """Ids of the blocks that lie on a cycle of the control-flow graph: those
    of a strongly connected component of several blocks or with an edge to
    itself (Tarjan's algorithm, without recursion: linear in the graph)."""
    order: dict[int, int] = {}  # block id -> when the search reached it
    low: dict[int, int] = {}  # the earliest block reachable back from it
    stack: list[Block] = []
    on_stack: set[int] = set()
    looping: set[int] = set()
    path: list[tuple[Block, Iterator[Block]]] = []  # the search's blocks, each with its successors left

    def reach(block: Block) -> None:
        order[block.id] = low[block.id] = len(order)
        stack.append(block)
        on_stack.add(block.id)
        path.append((block, iter(block.successors())))

    for root in fn.blocks:
        if root.id in order:
            continue
        reach(root)
        while path:
            block, successors = path[-1]
            for successor in successors:
                if successor.id not in order:
                    reach(successor)
                    break
                if successor.id in on_stack:
                    low[block.id] = min(low[block.id], order[successor.id])
            else:
                path.pop()
                if path:
                    parent = path[-1][0]
                    low[parent.id] = min(low[parent.id], low[block.id])
                if low[block.id] == order[block.id]:
                    component = []
                    while not component or component[-1] is not block:
                        component.append(stack.pop())
                        on_stack.discard(component[-1].id)
                    if len(component) > 1 or any(s is block for s in block.successors()):
                        looping.update(b.id for b in component)
    return looping


def work_profile(fn: Function, callee_work: Callable[[Op], tuple[int, int]] | None = None) -> tuple[int, int]:
    """(native, generic): weighted counts of the ops that compute on native
    values (i64, f64, i1; unboxing is not computing) and of the generic
    object operations through the C API; ops in loops weigh LOOP_WEIGHT.
    `callee_work`: the profile of a `call_direct`'s callee, counted as if
    its ops were at the call (the work of the whole call tree)."""
    native = generic = 0
    looping = blocks_in_loops(fn)
    for block in fn.blocks:
        weight = LOOP_WEIGHT if block.id in looping else 1
        for op in block.ops:
            if callee_work is not None and op.name == "call_direct":
                callee_native, callee_generic = callee_work(op)
                native += weight * callee_native
                generic += weight * callee_generic
            # attrs["generic"] overrides the op's weight: 0 for an inline path
            # chosen by type, 1 for a call of a C function (nothing to inline)
            op_weight = op.attrs.get("generic", OPS[op.name].generic)
            if op_weight:
                generic += weight * op_weight
            elif OPS[op.name].generic or OPS[op.name].native or (
                    op.result is not None and op.result.type != "obj" and not op.name.startswith(("const_", "unbox_"))):
                native += weight
    return native, generic


# Calls of code psyco knows nothing of (CALL_FUNCTION_EX is a c_call of one
# of CALLING_C_FUNCTIONS).
CALLING_C_FUNCTIONS = {"PyObject_Call", "PyObject_CallObject"}


def calls_unknown_code(fn: Function) -> bool:
    """Whether `fn` calls functions psyco knows nothing of, which may look
    at the frame they are called from (warnings, logging, sys._getframe).
    A method call by the name of a builtin type's method (attrs
    "builtin_name") is taken for one."""
    return any(op.name == "vectorcall" or (op.name == "call_method" and not op.attrs.get("builtin_name"))
               or (op.name == "c_call" and op.attrs["name"] in CALLING_C_FUNCTIONS)
               for block in fn.blocks for op in block.ops)


# Ops whose obj result may be NULL with no error (end of iteration, no such
# attribute); the results of other ops, once their error exit is passed, are
# real objects.
MAY_BE_NULL = {"seq_next", "lookup_attr", "iter_next"}


def may_be_null(value: Value) -> bool:
    """Whether an obj value can be NULL (block parameters: not known)."""
    return value.op is None or value.op.name in MAY_BE_NULL


def result_type(op: Op) -> str | None:
    spec = OPS[op.name].result
    if spec == "arg0":
        return op.args[0].type
    if spec == "arg1":
        return op.args[1].type
    if spec == "attr":
        return op.attrs["type"]
    return spec


def format_function(fn: Function) -> str:
    """The readable dump shown by psyco.dump()."""
    params = ", ".join(f"{p}:{p.type}" for p in fn.params)
    lines = [f"function {fn.name}({params}) -> {fn.ret_kind}"]
    for b in fn.blocks:
        bparams = ", ".join(f"{p}:{p.type}" for p in b.params)
        note = f"    ; {b.note}" if b.note else ""
        lines.append(f"  b{b.id}({bparams}):{note}")
        for op in b.pre:
            lines.append(f"    {op}")
        for op in b.ops:
            lines.append(f"    {op}")
            for post in op.post:
                lines.append(f"    {post}")
        if b.term is not None:
            for e in b.term.edges:
                for fix in e.fixups:
                    lines.append(f"    {fix}    ; on edge to b{e.target.id}")
            lines.append(f"    {b.term}")
    return "\n".join(lines)


class VerifyError(Exception):
    pass


def verify(fn: Function) -> None:
    """Check SSA form and types; raises VerifyError naming the fault."""
    defined: set[int] = {p.id for p in fn.params}
    for b in fn.blocks:
        defined.update(p.id for p in b.params)
        for op in b.ops:
            if op.name not in OPS:
                raise VerifyError(f"b{b.id}: unknown op {op.name}")
            if op.result is not None:
                if op.result.id in defined:
                    raise VerifyError(f"b{b.id}: {op.result} defined twice")
                defined.add(op.result.id)
            spec = OPS[op.name]
            if (spec.error or spec.guard) and op.exit is None:
                raise VerifyError(f"b{b.id}: {op} needs an exit")
        if b.term is None:
            raise VerifyError(f"b{b.id} has no terminator")
        exits = [x for op in b.ops for x in op.exits()] + ([b.term.exit] if b.term.exit else [])
        for e in b.term.edges + [x.handler for x in exits if x.handler is not None]:
            if len(e.args) != len(e.target.params):
                raise VerifyError(f"b{b.id} -> b{e.target.id}: {len(e.args)} args for {len(e.target.params)} params")
            for a, p in zip(e.args, e.target.params):
                if a.type != p.type:
                    raise VerifyError(f"b{b.id} -> b{e.target.id}: {a}:{a.type} passed as {p}:{p.type}")
    used: list[tuple[Block, Value]] = []
    for b in fn.blocks:
        for op in b.ops:
            used.extend((b, v) for v in op.uses())
        used.extend((b, v) for v in b.term.uses())  # type: ignore[union-attr]
    for b, v in used:
        if v.id not in defined:
            raise VerifyError(f"b{b.id}: {v} used but never defined")



def on_native_values(op: Op) -> bool:
    """A pure op with no object operand or result: it runs no code, and no
    reference is dropped after it (refcount.py releases objects after their
    last use)."""
    return (OPS[op.name].pure and all(v.type != "obj" for v in op.args)
            and (op.result is None or op.result.type != "obj"))


def merge_namespace_guards(fn: Function) -> list[Exit]:
    """A `guard_global` on a namespace the block checked with nothing since
    that could run code or drop a reference (constants, other namespaces'
    guards, class version guards, pure ops on native values) joins that earlier guard: one test
    of the namespace's version for `f(x)` calling `math.sin(x) *
    math.exp(x)`, none for `f(f(x))`.  A rebinding of a joined name then
    leaves at the earlier instruction, which the interpreter runs again.
    Returns the exits of the guards that went."""
    gone: list[Exit] = []
    for block in fn.blocks:
        if sum(op.name == "guard_global" for op in block.ops) < 2:
            continue
        guarding: dict[tuple[int, int], Op] = {}  # by (globals, builtins): the guard testing them
        ops = []
        for op in block.ops:
            if op.name == "guard_global":
                first = guarding.setdefault((id(op.attrs["globals"]), id(op.attrs["builtins"])), op)
                if first is not op and _join_guard(first, op):
                    gone.append(op.exit)  # type: ignore[arg-type]
                    continue
            elif not (op.name.startswith("const_") or on_native_values(op) or op.name == "guard_type_version"):
                guarding.clear()
            ops.append(op)
        block.ops = ops
    return gone


def _join_guard(first: Op, later: Op) -> bool:
    """Add `later`'s bindings to `first`'s; False (nothing changed) if a
    name is bound to another value in each."""
    bound = dict(zip(first.attrs["names"], first.attrs["values"]))
    added = [(n, v) for n, v in zip(later.attrs["names"], later.attrs["values"]) if n not in bound]
    if any(bound[n] is not v for n, v in zip(later.attrs["names"], later.attrs["values"]) if n in bound):
        return False
    first.attrs["names"] += tuple(n for n, _ in added)
    first.attrs["values"] = first.attrs["values"] + [v for _, v in added]
    return True


def box_as_passed(fn: Function) -> None:
    """Boxing an int or float parameter gives back the object the caller
    passed, as boxing a number unboxed in the body does
    (`specializer.unboxed_from`): `is` and id() see CPython's objects.  Run
    after `remove_redundant_params`, which shows which values, passed
    around loops, are parameters."""
    for block in fn.blocks:
        for op in block.ops:
            if op.name in ("box_int", "box_float") and op.args[0].id in fn.argument_slots:
                op.name = "argument_object"
                op.attrs["slot"] = fn.argument_slots[op.args[0].id]


def remove_redundant_params(fn: Function) -> None:
    """A block parameter that receives the same value on every incoming
    edge (or that value and itself, around a loop) is that value: its uses
    become uses of the value and the parameter goes.  Blocks with one
    incoming edge lose them all; loop-invariant locals stop being phis.
    Without this LLVM makes a phi and a copy on every edge of each.

    Landing blocks keep theirs: a handler edge leaves from the middle of a
    block, and `refcount` knows what crosses it only by its arguments."""
    incoming: dict[int, list[Edge]] = {b.id: [] for b in fn.blocks}
    for e in _jump_edges(fn):
        incoming[e.target.id].append(e)
    landing = {e.target.id for e in handler_edges(fn)}
    replace: dict[int, Value] = {}

    def resolve(v: Value) -> Value:
        while v.id in replace:
            v = replace[v.id]
        return v

    changed = True
    while changed:  # a parameter found redundant can make others so
        changed = False
        for b in fn.blocks[1:]:
            if b.id in landing:
                continue
            edges = incoming[b.id]
            kept = []
            for i, p in enumerate(b.params):
                values = {resolve(e.args[i]).id: resolve(e.args[i]) for e in edges}
                values.pop(p.id, None)
                if len(values) == 1:
                    replace[p.id] = next(iter(values.values()))
                    changed = True
                else:
                    kept.append(i)
            if len(kept) < len(b.params):
                b.params = [b.params[i] for i in kept]
                for e in edges:
                    e.args = [e.args[i] for i in kept]

    def resolve_exit(e: Exit | None) -> None:
        if e is not None and e.state is not None:
            for m in e.state:
                _resolve_materializer(m, resolve)
        if e is not None and e.handler is not None:
            e.handler.args = [resolve(v) for v in e.handler.args]

    for b in fn.blocks:
        for op in b.ops:
            op.args = [resolve(v) for v in op.args]
            resolve_exit(op.exit)
            resolve_exit(op.second_exit)
        t = b.term
        if t is not None:
            t.cond = resolve(t.cond) if t.cond is not None else None
            t.value = resolve(t.value) if t.value is not None else None
            for e in t.edges:
                e.args = [resolve(v) for v in e.args]
            resolve_exit(t.exit)


def _jump_edges(fn: Function) -> Iterator[Edge]:
    for b in fn.blocks:
        yield from b.term.edges if b.term else ()


def handler_edges(fn: Function) -> Iterator[Edge]:
    """The edges from exits to exception handlers' landing blocks."""
    for b in fn.blocks:
        for exit in [e for op in b.ops for e in op.exits()] + [b.term.exit if b.term else None]:
            if exit is not None and exit.handler is not None:
                yield exit.handler


def _resolve_materializer(m: Materializer, resolve: Callable[[Value], Value]) -> None:
    m.args = [resolve(v) for v in m.args]
    for p in m.parts:
        _resolve_materializer(p, resolve)
