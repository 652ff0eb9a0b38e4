"""The specializer: an abstract interpreter from bytecode + entry kinds to IR.

It walks the decoded bytecode with the kinds of the actual arguments,
keeping for every local and stack slot an abstract value (a kind and the
IR values representing it), and asks `rules.RULES` -- one rule per opcode --
to emit IR for each instruction.  Where control flow meets, a bytecode
block gets one IR block per distinct incoming state ("versions", as in the
original Psyco), up to `MAX_BLOCK_VERSIONS`; past that the state is widened
to the join of the kinds.  Every assumption is a guard whose deopt exit
records how to rebuild the interpreter's frame at that instruction.
"""

from __future__ import annotations

import itertools
import types
from collections.abc import Mapping, Set
from typing import TYPE_CHECKING

from psyco import ir, kinds
from psyco.abi import current as abi
from psyco.frontend import decode
from psyco.frontend.py311 import DecodedCode, Handler, Instruction
from psyco.kinds import Kind
from psyco.own_builtins import BUILTINS
from psyco.records import field, record

__builtins__ = BUILTINS  # psyco calls the builtins it was imported with (see own_builtins)

if TYPE_CHECKING:
    from psyco.inlining import BufferedStores

MAX_BLOCK_VERSIONS = 4
# Guards that pure ops cannot make fail: emitted again with the same attrs
# (those named) after only pure ops, they are left out.
REPEATABLE_GUARDS = {"guard_type_version": ("cls", "tag"), "guard_not_tracing": (), "guard_recursion": ("levels",)}
NEW_VID = itertools.count(1)  # tells virtual instances apart (kinds.Instance)


class CannotSpecialize(Exception):
    """The function as a whole cannot be compiled (reason in the message)."""


class ReadsTheFrame(CannotSpecialize):
    """The function looks at its own frame (locals(), sys._getframe()...):
    never compiled, whatever its arguments."""


@record(frozen=True)
class AV:
    """An abstract value: a kind and the native values that represent it."""

    kind: Kind
    leaves: tuple[ir.Value, ...] = ()
    # A value this one had when compiling was asked for (an argument of
    # that call, or read from one without running code): a hint for
    # guesses, which guards check.
    sample: object = field(default=None, compare=False)

    def __str__(self) -> str:
        return f"{self.kind}" + (f"<{', '.join(map(str, self.leaves))}>" if self.leaves else "")


UNBOXING_OPS = {"unbox_int", "unbox_float", "unbox_bool"}


def fresh_number(value: AV) -> bool:
    """An unboxed int or float no object holds yet: stores into list items
    and attributes can write it into the old value's object when nothing
    else references that (backend.store_number)."""
    return (value.kind is kinds.INT or value.kind is kinds.FLOAT) and unboxed_from(value) is None


def _leaf_ids(av: AV) -> tuple[int, ...]:
    return tuple(v.id for v in av.leaves)


def unboxed_from(av: AV) -> ir.Value | None:
    """The object a number was unboxed from, if it was: boxing the number
    again gives back that object, so `is` and id() see what CPython sees."""
    if type(av.kind) is kinds.Scalar:
        op = av.leaves[0].op
        if op is not None and op.name in UNBOXING_OPS:
            return op.args[0]
    return None


@record
class State:
    locals: list[AV]
    stack: list[AV]

    def copy(self) -> State:
        return State(list(self.locals), list(self.stack))

    def kinds(self) -> tuple[Kind, ...]:
        return tuple(a.kind for a in self.locals + self.stack)

    def leaves(self) -> list[ir.Value]:
        return [v for a in self.locals + self.stack for v in a.leaves]


@record
class ReturnSite:
    """A return, kept until every return site is known: then its value is
    converted to the return kind, with exits of the return's own
    instruction and states (before it, and after the value was popped)."""

    block: ir.Block
    value: AV
    ins: Instruction
    before: State
    after: State


@record
class Request:
    """What to compile: a code object in its namespaces, for entry kinds,
    with what earlier versions learnt."""

    code: types.CodeType
    globals: dict
    builtins: dict
    entry_kinds: tuple[Kind, ...]
    generalized: frozenset[tuple[int, str]] = frozenset()  # guards that kept failing
    assumed_return: Kind | None = None  # for recursive calls to itself
    samples: tuple | None = None  # the arguments of the call that asked for it
    # Number kinds compiled code stored into attributes of instances of a
    # class, per class and name (hints for reading them; a guard checks).
    attribute_kinds: Mapping[type, Mapping[str, Kind]] = field(default_factory=dict)
    # Attributes, per class, whose guessed type kept failing in some
    # version: read as objects of any type everywhere.
    unpredictable_attributes: Mapping[type, Set[str]] = field(default_factory=dict)


@record
class Result:
    fn: ir.Function
    return_kind: Kind
    keepalive: list[object] = field(default_factory=list)
    callees: list[object] = field(default_factory=list)
    exits: list[ir.Exit] = field(default_factory=list)
    return_site_kinds: list[Kind] = field(default_factory=list)
    # (class, attribute) -> kind of every value this version stores there
    # (None: values of several kinds, or not numbers)
    attribute_stores: dict[tuple[type, str], Kind | None] = field(default_factory=dict)
    # loop head (FOR_ITER's unit index) -> how many times a `for` runs in
    # the call compiled for: over a range of constant bounds, a constant
    # tuple or string, a comprehension's iterator of a builtin container
    # or range (its sample's length_hint); None: not known when compiling
    loop_trips: dict[int, int | None] = field(default_factory=dict)
    inlined: list[str] = field(default_factory=list)  # the callees specialized into it, by name
    # LOAD_ATTR unit index -> (class, attribute) whose type it guessed
    attribute_guesses: dict[int, tuple[type, str]] = field(default_factory=dict)


class Specializer:
    def __init__(self, request: Request, resolver: object) -> None:
        self.request = request
        self.code = request.code
        self.globals = request.globals
        self.builtins = request.builtins
        self.resolver = resolver  # runtime hook: compiled versions of callees
        self.decoded: DecodedCode = decode(self.code)
        self.fn = ir.Function(self.code.co_qualname, [], "i64", "")
        self.pending_kwnames: tuple | None = None
        self.versions: dict[int, list[tuple[tuple[Kind, ...], ir.Block]]] = {}
        self.worklist: list[tuple[int, ir.Block, State]] = []
        self.keepalive: list[object] = []
        self.callees: list[object] = []
        self.exits: list[ir.Exit] = []
        self.returns: list[ReturnSite] = []
        self.attribute_stores: dict[tuple[type, str], Kind | None] = {}
        self.loop_trips: dict[int, int | None] = {}
        self.attribute_guesses: dict[int, tuple[type, str]] = {}
        self.landings: dict[tuple[int, tuple[Kind, ...]], ir.Block] = {}
        self.inlined: list[str] = []  # the callees specialized into this function (inlining.py), by name
        self.inlined_size = 0  # their bytecode instructions
        # The objects made of values that have none yet: (block, object),
        # for a virtual by its vid, for a number or range by its leaves' ids.
        # `replace_virtual` changes the slots of the state; a rule holds the
        # values it popped (`[t, t]`), and a second one of the vid must get
        # the same object.  A number boxed twice in a block is one object,
        # as in CPython (`[x, x]`, `x in [x]` for a nan: containers compare
        # by identity first), in the bodies inlined into it too.
        self.made_real: dict[int | tuple[int, ...], tuple[ir.Block, ir.Value]] = {}
        # Stores into objects made before an inlined call, kept back until
        # it returns (inlining.BufferedStores); None outside inlined bodies.
        self.buffered_stores: BufferedStores | None = None
        self.block: ir.Block | None = None
        self.state = State([], [])
        self.before = State([], [])
        self.ins: Instruction | None = None

    # --- driver --------------------------------------------------------
    def run(self) -> Result:
        from psyco.rules import RULES

        code = self.code
        entry = self.fn.new_block("entry")
        params: list[AV] = []
        samples = self.request.samples or (None,) * len(self.request.entry_kinds)
        for slot, (kind, sample) in enumerate(zip(self.request.entry_kinds, samples)):
            leaves = tuple(self.fn.new_value(t, owned=False) for t in kind.leaves)
            self.fn.params.extend(leaves)
            params.append(AV(kind, leaves, sample if kind != kinds.MIXED else None))  # mixed: no hint
            if kind in (kinds.INT, kinds.FLOAT) and code.co_varnames[slot] not in code.co_cellvars:
                self.fn.argument_slots[leaves[0].id] = slot  # (not a cell's: MAKE_CELL changes the slot)
        # A closure's cells come after the arguments (the entry reads them
        # from the frame); COPY_FREE_VARS puts them in their slots.
        cell = kinds.ObjectKind(types.CellType)
        self.free_cells = [AV(cell, (self.fn.new_value("obj", owned=False),)) for _ in code.co_freevars]
        self.fn.params.extend(av.leaves[0] for av in self.free_cells)
        locals_ = params + [AV(kinds.UNBOUND)] * (abi.nlocalsplus(code) - len(params))
        self.block = entry
        first = self.decoded.instructions[0].index
        self.jump(first, State(locals_, []))
        while self.worklist:
            pc, block, state = self.worklist.pop()
            self.block, self.state = block, state
            self._specialize_block(pc, RULES)
        self._finish_returns()
        gone = {id(e) for e in ir.merge_namespace_guards(self.fn)}
        self.exits = [e for e in self.exits if id(e) not in gone]
        return Result(self.fn, self.return_kind, self.keepalive, self.callees, self.exits,
                      [site.value.kind for site in self.returns], self.attribute_stores, self.loop_trips,
                      self.inlined, self.attribute_guesses)

    def _specialize_block(self, pc: int, rules: dict) -> None:
        bc_block = self.decoded.blocks[pc]
        for ins in bc_block.instructions:
            self.ins = ins
            self.before = self.state.copy()
            rule = rules.get(ins.opname)
            if rule is None:
                self.deopt_here(f"opcode {ins.opname} not compiled")
                return
            rule(self, ins)
            if self.block is None:  # the rule ended the block
                return
        self.jump(bc_block.instructions[-1].next_index, self.state)

    # --- emitting --------------------------------------------------------
    def emit(self, opname: str, args: list[ir.Value], exit: str | None = None, *, error_at: int | None = None,
             **attrs: object) -> ir.Value | None:
        """Append an op; `exit` is "error", "deopt" or "deopt_after";
        `error_at`: the instruction an error is raised by, if not the
        current one."""
        definition = ir.OPS[opname]
        if definition.error and not definition.only_memory_error:
            self.force_methods()
        if opname in REPEATABLE_GUARDS and self._still_guarded(opname, attrs):
            return None
        op = ir.Op(opname, list(args), attrs)
        rtype = ir.result_type(op)
        if rtype is not None:
            owns = ir.OPS[opname].owns or bool(attrs.get("owns"))
            op.result = self.fn.new_value(rtype, op, owned=owns and rtype == "obj")
        if exit == "error":
            op.exit = self.error_exit(index=error_at)
        elif exit == "deopt":
            op.exit = self.deopt_exit(str(attrs.get("reason", opname)))
        elif exit == "deopt_after":
            # The instruction is done; its (boxed) result goes on the stack.
            after = self.state.copy()
            after.stack.append(AV(kinds.OBJECT, (args[0],)))
            assert self.ins is not None
            op.exit = self.deopt_exit(str(attrs.get("reason", opname)), after, self.ins.next_index)
        assert self.block is not None
        self.block.ops.append(op)
        return op.result

    def guard_class(self, cls: type, tag: int, reason: str) -> None:
        """Guard that `cls` still has version `tag` (kept alive meanwhile)."""
        self.keepalive.append(cls)
        self.emit("guard_type_version", [], "deopt", cls=cls, tag=tag, reason=reason)

    def _still_guarded(self, opname: str, attrs: dict) -> bool:
        """Whether the same guard is earlier in the block with only pure ops
        (or guards of namespaces, which read dicts) since: no code ran that
        could make it fail now (inlined calls guard the same class, tracing,
        recursion depth again and again; `math.sin(x) * math.exp(x)` the
        module's class)."""
        assert self.block is not None
        same = REPEATABLE_GUARDS[opname]
        for op in reversed(self.block.ops):
            if op.name == opname and all(op.attrs.get(a) is attrs.get(a) or op.attrs.get(a) == attrs.get(a)
                                         for a in same):
                return True
            if not ir.OPS[op.name].pure and op.name != "guard_global":
                return False
        return False

    def const(self, value: object) -> ir.Value:
        if type(value) is bool:
            return self.emit("const_i1", [], value=value)  # type: ignore[return-value]
        if type(value) is int:
            if not kinds.INT_MIN <= value <= kinds.INT_MAX:
                raise AssertionError(f"{value} is no i64 constant")
            return self.emit("const_i64", [], value=value)  # type: ignore[return-value]
        if type(value) is float:
            return self.emit("const_f64", [], value=value)  # type: ignore[return-value]
        self.keepalive.append(value)
        return self.emit("const_obj", [], value=value)  # type: ignore[return-value]

    def error_exit(self, traceback: bool = True, index: int | None = None) -> ir.Exit:
        """Where an exception raised by the current instruction (or by the
        one at `index`, earlier in the same expression) goes: out of the
        function, or to the handler of the try/with around it."""
        assert self.ins is not None
        raiser = self.ins.index if index is None else index
        exit = ir.Exit(raiser, traceback=traceback)
        handler = self.decoded.handler_for(raiser)
        if handler is not None:
            exit.handler = self._landing_edge(handler, raiser)
        return self._register(exit)

    def _landing_edge(self, handler: Handler, raiser: int) -> ir.Edge:
        """An edge to the landing block of `handler` for the state before
        the current instruction: the interpreter's unwinding (pop the stack
        to the handler's depth, push the index of the instruction that
        raised if asked, then the exception) as a block that catches the
        exception and jumps to the handler's bytecode."""
        state = State(list(self.before.locals), self.before.stack[:handler.depth])
        lasti = [self.const(raiser)] if handler.lasti else []
        key = (handler.target, state.kinds())
        block = self.landings.get(key)
        if block is None:
            block = self.landings[key] = self.fn.new_block(f"handler {handler.target}")
            landed = self._state_for(block, key[1], len(state.locals))
            _share_virtuals(state, landed)
            if handler.lasti:
                index = self.fn.new_value("i64")
                block.params.append(index)
                landed.stack.append(AV(kinds.INT, (index,)))
            saved = self.block, self.state, self.ins, self.before
            self.block = block
            landed.stack.append(AV(kinds.OBJECT, (self.emit("catch", []),)))  # type: ignore[arg-type]
            # virtual instances held twice are made real as the handler starts
            self.ins, self.before = self.decoded.by_index[handler.target], landed.copy()
            self.jump(handler.target, landed)
            self.block, self.state, self.ins, self.before = saved
        return ir.Edge(block, state.leaves() + lasti)

    def deopt_exit(self, reason: str, state: State | None = None, pc: int | None = None) -> ir.Exit:
        """An exit that resumes the interpreter before the current instruction
        (or at `pc` with `state`)."""
        assert self.ins is not None
        state = self.before if state is None else state
        methods = [i for i, av in enumerate(state.stack) if isinstance(av.kind, kinds.MethodRef)]
        if methods:
            # Resume at the LOAD_METHOD that left the first one virtual, with
            # its owner on the stack: nothing observable has happened since
            # (see force_methods), and the interpreter then raises a failed
            # lookup there, where the function's handlers see it.
            method = state.stack[methods[0]]
            state = State(list(state.locals), state.stack[:methods[0] - 1] + [AV(kinds.OBJECT, method.leaves)])
            pc = method.kind.index  # type: ignore[attr-defined]
        mats = [self.materializer(a) for a in state.locals + state.stack]
        return self._register(ir.Exit(self.ins.start if pc is None else self.resume_point(pc), mats, reason=reason))

    def resume_point(self, index: int) -> int:
        """Where the interpreter resumes to run the instruction at `index`:
        at its first EXTENDED_ARG prefix, if any."""
        ins = self.decoded.by_index.get(index)
        return ins.start if ins is not None else index

    def _register(self, exit: ir.Exit) -> ir.Exit:
        exit.id = len(self.exits)
        exit.site = self.ins.index if self.ins is not None else -1
        self.exits.append(exit)
        return exit

    def materializer(self, av: AV) -> ir.Materializer:
        k = av.kind
        if type(k) is kinds.Scalar or type(k) is kinds.ObjectKind:  # most slots
            origin = unboxed_from(av)
            return ir.Materializer("value", [origin] if origin is not None else list(av.leaves))
        if isinstance(k, kinds.Const):
            self.keepalive.append(k.value)
            return ir.Materializer("const", const=k.value)
        if k is kinds.UNBOUND or k is kinds.NULL:
            return ir.Materializer("null")
        if isinstance(k, kinds.Tuple):
            return ir.Materializer("tuple", parts=[self.materializer(a) for a in split_tuple(av)], const=k.vid)
        if isinstance(k, kinds.RangeIter):
            return ir.Materializer("range_iter", list(av.leaves))
        if isinstance(k, kinds.RangeKind):
            return ir.Materializer("range", list(av.leaves))
        if isinstance(k, kinds.SeqIter):
            return ir.Materializer("seq_iter", list(av.leaves))
        if isinstance(k, kinds.SplitIter):
            return ir.Materializer("split_iter", list(av.leaves))
        if isinstance(k, kinds.SliceKind):
            return ir.Materializer("slice", list(av.leaves), const=(k.has_start, k.has_stop))
        if isinstance(k, kinds.Instance):
            self.keepalive.append(k.cls)
            return ir.Materializer("instance", parts=[self.materializer(a) for a in split_items(av)],
                                   const=(k.cls, k.names, k.vid))
        origin = unboxed_from(av)
        return ir.Materializer("value", [origin] if origin is not None else list(av.leaves))

    def substitute(self, old: AV, new: AV) -> None:
        """A guard proved what the object of `old` is: every slot holding
        that same object now holds `new` (its unboxed form)."""
        for slots in (self.state.locals, self.state.stack):
            for i, av in enumerate(slots):
                if av.kind == old.kind and av.leaves == old.leaves:
                    slots[i] = new

    def deopt_here(self, reason: str) -> None:
        """End the block: the interpreter continues at this instruction."""
        self.terminate(ir.Terminator("deopt", exit=self.deopt_exit(reason)))

    def terminate(self, term: ir.Terminator) -> None:
        assert self.block is not None
        self.block.term = term
        self.block = None

    def generalized(self, reason: str) -> bool:
        """Has the guard for `reason` at this instruction kept failing?"""
        assert self.ins is not None
        return (self.ins.index, reason) in self.request.generalized

    def generalized_sites(self, *reasons: str) -> int:
        """At how many places of this code have guards for `reasons` kept failing?"""
        return sum(r in reasons for _, r in self.request.generalized)

    # --- stack ---------------------------------------------------------
    def push(self, av: AV) -> None:
        self.state.stack.append(av)

    def pop(self) -> AV:
        return self.state.stack.pop()

    def popn(self, n: int) -> list[AV]:
        if n == 0:
            return []
        out = self.state.stack[-n:]
        del self.state.stack[-n:]
        return out

    # --- control flow ----------------------------------------------------
    def jump(self, pc: int, state: State) -> None:
        self._unalias(state)
        self.terminate(ir.Terminator("br", edges=[self.edge(pc, state)]))

    def branch(self, cond: ir.Value, if_true: tuple[int, State], if_false: tuple[int, State]) -> None:
        self._unalias(if_true[1])
        self._unalias(if_false[1])
        edges = [self.edge(*if_true), self.edge(*if_false)]
        self.terminate(ir.Terminator("cbr", cond=cond, edges=edges))

    def _unalias(self, state: State) -> None:
        """A block's entry gives each virtual instance or tuple a vid of its
        own: one held in two slots (or inside another) is made real first,
        so both hold the same object."""
        seen: set[int] = set()
        for av in state.locals + state.stack:
            for vid, instance in _virtuals(av):
                if vid in seen:
                    self.box(instance, [state])
                seen.add(vid)

    def edge(self, pc: int, state: State) -> ir.Edge:
        """An edge to the version of bytecode block `pc` that fits `state`.

        A dead variable is forgotten, unless its object could tell (a
        finalizer) and the variable is bound on every path to `pc`: CPython's
        frame holds it until the variable is rebound or the function
        returns.  A variable first bound inside a loop, or in one branch of
        an `if`, is forgotten where dead: holding it would make states that
        differ in whether it is bound; and so is one whose state does not
        fit a version of `pc` otherwise.  Its object stays alive to the end
        of the block (`keep_variables`), not only to its last use."""
        live = self.decoded.live_locals[pc]
        bound = self.decoded.bound_locals[pc]
        self.keep_variables([a for i, a in enumerate(state.locals) if i not in live])
        forgotten = State([a if i in live else AV(kinds.UNBOUND) for i, a in enumerate(state.locals)], state.stack)
        held = State([a if i in live or (i in bound and not kinds.releasable_early(a.kind)) else AV(kinds.UNBOUND)
                      for i, a in enumerate(state.locals)], state.stack)
        versions = self.versions.setdefault(pc, [])
        for state in (held, forgotten):
            incoming = state.kinds()
            for want, block in versions:
                if incoming == want:
                    return ir.Edge(block, state.leaves())
            fitting = [(want, b) for want, b in versions if all(map(kinds.fits, incoming, want))]
            if fitting:
                want, block = fitting[-1]
                return ir.Edge(block, self.coerce(state, want))
        state, incoming = held, held.kinds()
        target = incoming
        if pc in self.decoded.loop_heads:
            target = tuple(k.general() for k in target)
        if len(versions) >= MAX_BLOCK_VERSIONS:
            target = tuple(_join_all([target] + [w for w, _ in versions], i) for i in range(len(target)))
        if any(k is None for k in target):
            return self._deopt_edge(pc, state)
        block = self.fn.new_block(f"bytecode {pc}")
        new_state = self._state_for(block, target, len(state.locals))
        new_state.locals = [AV(n.kind, n.leaves, a.sample) for n, a in zip(new_state.locals, state.locals)]
        new_state.stack = [AV(n.kind, n.leaves, a.sample) for n, a in zip(new_state.stack, state.stack)]
        versions.append((target, block))
        self.worklist.append((pc, block, new_state))
        return ir.Edge(block, self.coerce(state, target))

    def _deopt_edge(self, pc: int, state: State) -> ir.Edge:
        """Kinds that cannot be merged (an unbound local on one side):
        leave for the interpreter at `pc`."""
        block = self.fn.new_block(f"exit at {pc}")
        new_state = self._state_for(block, state.kinds(), len(state.locals))
        exit = self.deopt_exit("unmergeable kinds", new_state, pc)
        block.term = ir.Terminator("deopt", exit=exit)
        return ir.Edge(block, state.leaves())

    def _state_for(self, block: ir.Block, target: tuple[Kind, ...], nlocals: int) -> State:
        avs = []
        for kind in map(_renumbered, target):
            leaves = tuple(self.fn.new_value(t, owned=(t == "obj")) for t in kind.leaves)
            block.params.extend(leaves)
            avs.append(AV(kind, leaves))
        return State(avs[:nlocals], avs[nlocals:])

    def coerce(self, state: State, target: tuple[Kind, ...]) -> list[ir.Value]:
        """Leaves of `state` converted to the representation of `target`."""
        out: list[ir.Value] = []
        for av, want in zip(state.locals + state.stack, target):
            out.extend(self.convert(av, want).leaves)
        return out

    def convert(self, av: AV, want: Kind) -> AV:
        if av.kind == want:
            return av
        if isinstance(want, (kinds.Tuple, kinds.Instance)) and type(av.kind) is type(want):
            items = [self.convert(a, w) for a, w in zip(split_items(av), want.items)]
            return AV(want, tuple(v for a in items for v in a.leaves))
        if want.is_object():
            return AV(want, (self.box(av),))
        assert isinstance(av.kind, kinds.Const), (av, want)
        return AV(want, (self.const(av.kind.value),))

    def refine(self, av: AV, kind: Kind) -> None:
        """A guard established that `av` is of `kind`: so are the locals and
        stack entries holding the same value."""
        for slots in (self.state.locals, self.state.stack):
            for i, other in enumerate(slots):
                if other.leaves == av.leaves and other.kind == av.kind:
                    slots[i] = AV(kind, av.leaves, av.sample)

    def force_methods(self) -> None:
        """Look up the methods LOAD_METHOD left virtual on the stack, before
        anything that may run code or raise: the interpreter looked them
        up first.  (A deopt exit in between resumes at the LOAD_METHOD:
        nothing observable has happened since; stores to variables force
        them, see `rules.store_fast`.)  A failed lookup is raised by the
        LOAD_METHOD, as in the interpreter."""
        stack = self.state.stack
        for i, av in enumerate(stack):
            if isinstance(av.kind, kinds.MethodRef):
                stack[i] = AV(kinds.OBJECT, av.leaves)  # no longer virtual while we look it up
                stack[i] = AV(kinds.OBJECT, (self._bound_attribute(av),))

    def _bound_attribute(self, method: AV) -> ir.Value:
        name = self.const(method.kind.name)  # type: ignore[attr-defined]
        return self.emit("c_call", [method.leaves[0], name], "error", name="PyObject_GetAttr",  # type: ignore[return-value]
                         type="obj", owns=True, error_at=method.kind.index)  # type: ignore[attr-defined]

    # --- virtual instances ---------------------------------------------------
    def states(self) -> list[State]:
        """The states holding this function's values: its own (and, for an
        inlined body, its callers')."""
        return [self.state]

    def replace_virtual(self, vid: int, new: AV, states: list[State] | None = None) -> None:
        """Every slot holding the virtual instance `vid` (or a virtual
        holding it) now holds `new`: the instance made real, or changed."""
        for state in self.states() + (states or []):
            for slots in (state.locals, state.stack):
                for i, av in enumerate(slots):
                    if any(v == vid for v, _ in _virtuals(av)):
                        slots[i] = _replaced(av, vid, new)

    def _now_real(self, vid: int, cls: type, made: ir.Value, states: list[State] | None) -> None:
        """The virtual `vid` is the object `made` from now on: in every slot
        holding it, and for the values of it a rule popped (`made_real`).
        In the state before the instruction too: an exception the
        instruction raises from now on (its call, which may change the
        object) lands in a handler that sees the object, not the virtual."""
        self.made_real[vid] = (self.block, made)  # type: ignore[assignment]
        self.replace_virtual(vid, AV(kinds.ObjectKind(cls), (made,)), (states or []) + [self.before])

    def materialize(self, av: AV) -> ir.Value:
        """A new object for the virtual instance `av`: object.__new__ and
        its attributes set in order (its class guarded: it may have changed
        since; the interpreter then makes it from the frame state)."""
        k = av.kind
        assert isinstance(k, kinds.Instance)
        tag = abi.virtual_class(k.cls)
        assert tag is not None  # it was when the instance was made, in this compile
        self.guard_class(k.cls, tag, "class changed")
        instance = self.emit("new_instance", [], "error", cls=k.cls)
        for name, item in zip(k.names, split_items(av)):
            self.keepalive.append(name)
            self.emit("store_attr", [instance, self.stored(item)], "error", name=name, index=None, cls=k.cls)  # type: ignore[list-item]
        return instance  # type: ignore[return-value]

    def stored(self, value: AV) -> ir.Value:
        """What a store into an object takes: a fresh number as it is (if
        the block has not boxed it already), else an object."""
        if fresh_number(value) and self._boxed_here(value) is None:
            return value.leaves[0]
        return self.box(value)

    def _boxed_here(self, av: AV) -> ir.Value | None:
        made = self.made_real.get(_leaf_ids(av))
        return made[1] if made is not None and made[0] is self.block else None

    def _box_once(self, opname: str, av: AV) -> ir.Value:
        """`opname` of `av`'s leaves, or the object the block made of them already."""
        made = self._boxed_here(av)
        if made is None:
            made = self.emit(opname, list(av.leaves), "error")
            self.made_real[_leaf_ids(av)] = (self.block, made)  # type: ignore[assignment]
        return made  # type: ignore[return-value]

    # --- boxing ----------------------------------------------------------
    def box(self, av: AV, states: list[State] | None = None) -> ir.Value:
        """An obj value for `av` (owned or borrowed, refcount.py tracks it).
        A virtual instance made real is real from then on, in every slot
        holding it (and in `states`)."""
        k = av.kind
        made = self.made_real.get(getattr(k, "vid", 0))
        if made is not None and made[0] is self.block:  # (in an earlier block it would not dominate)
            return made[1]
        if isinstance(k, kinds.Instance):
            instance = self.materialize(av)
            self._now_real(k.vid, k.cls, instance, states)
            return instance
        if isinstance(k, kinds.Const):
            return self.const(k.value) if not isinstance(k.value, (bool, int, float)) else self._const_obj(k.value)
        origin = unboxed_from(av)
        if origin is not None:
            return origin
        if k is kinds.INT:
            return self._box_once("box_int", av)
        if k is kinds.FLOAT:
            return self._box_once("box_float", av)
        if k is kinds.BOOL:
            return self.emit("box_bool", list(av.leaves))  # type: ignore[return-value]
        if isinstance(k, kinds.ObjectKind):
            return av.leaves[0]
        if isinstance(k, kinds.Tuple):
            items = [self.box(a) for a in split_tuple(av)]
            made_tuple = self.emit("build_tuple", items, "error")
            if k.vid:
                self._now_real(k.vid, tuple, made_tuple, states)  # type: ignore[arg-type]
            return made_tuple  # type: ignore[return-value]
        if isinstance(k, kinds.RangeKind):
            return self._box_once("build_range", av)
        if isinstance(k, kinds.RangeIter):  # passed on (a comprehension's argument): made real
            rng = self.emit("build_range", list(av.leaves), "error")
            return self.emit("c_call", [rng], "error", name="PyObject_GetIter", type="obj", owns=True)  # type: ignore[list-item,return-value]
        if isinstance(k, kinds.MethodRef):
            return self._bound_attribute(av)
        if isinstance(k, kinds.SliceKind):
            bounds = iter(av.leaves)
            args = [self.box(AV(kinds.INT, (next(bounds),))) if present else self.const(None)
                    for present in (k.has_start, k.has_stop)]
            return self.emit("c_call", args + [self.const(None)], "error", name="PySlice_New",  # type: ignore[return-value]
                             type="obj", owns=True)
        if isinstance(k, kinds.SeqIter):  # made real: an iterator at the same index
            it = self.emit("c_call", [av.leaves[0]], "error", name="PyObject_GetIter", type="obj", owns=True)
            index = self.box(AV(kinds.INT, (av.leaves[1],)))
            self.emit("call_method", [it, index], "error", name="__setstate__", kwnames=None)  # type: ignore[list-item]
            return it  # type: ignore[return-value]
        raise CannotSpecialize(f"cannot box {k}")

    def _const_obj(self, value: object) -> ir.Value:
        self.keepalive.append(value)
        return self.emit("const_obj", [], value=value)  # type: ignore[return-value]

    # --- returns ---------------------------------------------------------
    def keep_variables(self, values: list[AV]) -> None:
        """The variables holding `values` let go of them here: until here
        their objects stay alive, as in CPython's frame."""
        objects = [leaf for av in values for leaf in av.leaves if leaf.type == "obj" and leaf.owned]
        if objects:
            self.emit("keep", objects)

    def ret(self, av: AV) -> None:
        assert self.block is not None
        self.keep_variables(self.state.locals)
        assert self.ins is not None
        self.returns.append(ReturnSite(self.block, av, self.ins, self.before, self.state.copy()))
        self.block = None

    def _finish_returns(self) -> None:
        """All return sites are known: pick the return kind and emit `ret`s."""
        ret_kinds = [site.value.kind for site in self.returns]
        kind: Kind | None = ret_kinds[0] if ret_kinds else kinds.OBJECT
        for k in ret_kinds[1:]:
            kind = kinds.join(kind, k)  # type: ignore[arg-type]
        if isinstance(kind, kinds.Tuple):
            kind = kinds.ObjectKind(tuple)
        if isinstance(kind, kinds.Instance):
            kind = kinds.ObjectKind(kind.cls)
        if kind is None or isinstance(kind, (kinds.RangeKind, kinds.RangeIter)):
            kind = kinds.OBJECT
        if isinstance(kind, kinds.Const) and not isinstance(kind.value, (type(None), bool)):
            kind = kind.general()
        self.return_kind = kind
        self.fn.ret_kind = str(kind)
        self.fn.ret_type = kind.leaves[0] if kind.leaves else "i64"
        for site in self.returns:
            self.block, self.ins, self.before, self.state = site.block, site.ins, site.before, site.after
            value = self.convert(site.value, kind) if kind != site.value.kind else site.value
            leaf = value.leaves[0] if value.leaves else self.const(0)
            self.terminate(ir.Terminator("ret", value=leaf))


def split_tuple(av: AV) -> list[AV]:
    assert isinstance(av.kind, kinds.Tuple)
    return split_items(av)


def split_items(av: AV) -> list[AV]:
    """The items of a virtual tuple or the attributes of a virtual instance."""
    out, i = [], 0
    for k in av.kind.items:  # type: ignore[attr-defined]
        n = len(k.leaves)
        out.append(AV(k, av.leaves[i:i + n]))
        i += n
    return out


def virtual_ids(states: list[State]) -> set[int]:
    """The vids of the virtual instances and tuples the slots of `states` hold."""
    return {vid for state in states for av in state.locals + state.stack for vid, _ in _virtuals(av)}


def _virtuals(av: AV) -> list[tuple[int, AV]]:
    """(vid, abstract value) of the virtual instances and tuples `av` is or holds."""
    k = av.kind
    if not isinstance(k, (kinds.Instance, kinds.Tuple)):
        return []
    inner = [found for item in split_items(av) for found in _virtuals(item)]
    return ([(k.vid, av)] if k.vid else []) + inner


def _virtual_instances(av: AV) -> list[tuple[int, AV]]:
    return [(vid, v) for vid, v in _virtuals(av) if isinstance(v.kind, kinds.Instance)]


def _replaced(av: AV, vid: int, new: AV) -> AV:
    """`av` with the virtual instance `vid` in it replaced by `new`."""
    k = av.kind
    if not isinstance(k, (kinds.Instance, kinds.Tuple)):
        return av
    if k.vid == vid:
        return new
    items = [_replaced(item, vid, new) for item in split_items(av)]
    leaves = tuple(v for item in items for v in item.leaves)
    kinds_ = tuple(item.kind for item in items)
    if isinstance(k, kinds.Tuple):
        return AV(kinds.Tuple(kinds_, k.vid), leaves, av.sample)
    return AV(kinds.Instance(k.cls, k.vid, k.names, kinds_), leaves, av.sample)  # type: ignore[attr-defined]


def _share_virtuals(incoming: State, landed: State) -> None:
    """Slots of `incoming` holding the same virtual instance or tuple, or
    tuples holding it, hold the same one in `landed` (whose kinds got new
    vids, one per occurrence)."""
    slots = incoming.locals + incoming.stack
    top = {av.kind.vid for av in slots if isinstance(av.kind, kinds.Instance)}
    inner = [vid for av in slots if isinstance(av.kind, (kinds.Instance, kinds.Tuple))
             for item in split_items(av) for vid, _ in _virtual_instances(item)]
    if top & set(inner) or len(inner) != len(set(inner)):
        raise CannotSpecialize("a virtual instance held inside another and elsewhere where an exception is caught")
    first: dict[int, AV] = {}
    for slots_in, slots_out in ((incoming.locals, landed.locals), (incoming.stack, landed.stack)):
        for i, av in enumerate(slots_in):
            for vid, new in _renumbered_pairs(av, slots_out[i]):
                if vid in first:
                    slots_out[i] = _replaced(slots_out[i], new.kind.vid, first[vid])  # type: ignore[attr-defined]
                elif vid:
                    first[vid] = new


def _renumbered_pairs(av: AV, renumbered: AV) -> list[tuple[int, AV]]:
    """(vid in `av`, the same virtual in `renumbered`) for the virtual
    instances and tuples `av` is or holds, outer ones first."""
    if not isinstance(av.kind, (kinds.Instance, kinds.Tuple)):
        return []
    pairs = [(av.kind.vid, renumbered)]
    for item, new in zip(split_items(av), split_items(renumbered)):
        pairs += _renumbered_pairs(item, new)
    return pairs


def _renumbered(kind: Kind) -> Kind:
    """`kind` with new vids for the virtual instances and tuples in it (a block's entry)."""
    if isinstance(kind, kinds.Instance):
        return kinds.Instance(kind.cls, next(NEW_VID), kind.names, tuple(map(_renumbered, kind.items)))
    if isinstance(kind, kinds.Tuple):
        return kinds.Tuple(tuple(map(_renumbered, kind.items)), next(NEW_VID))
    return kind


def _join_all(rows: list[tuple[Kind, ...]], i: int) -> Kind | None:
    kind: Kind | None = rows[0][i]
    for row in rows[1:]:
        if kind is None:
            return None
        kind = kinds.join(kind, row[i])
    return kind


def specialize(request: Request, resolver: object) -> Result:
    return Specializer(request, resolver).run()
