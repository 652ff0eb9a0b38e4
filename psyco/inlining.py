"""Transparent inlining: a small callee specialized into its caller's IR.

A callee is *transparent* when nothing it does can be seen before it
returns: it reads objects, computes, makes new objects and stores only into
those, and calls only callees inlined the same way -- no generic object
operation (which may run any code), no store into an object made before
the call, no loop, no exception handler.  Then every exit of its inlined
body, a failed guard or an exception, can leave for the interpreter *before
the call*: the interpreter makes the call again and does what it does
(raises the exception itself, with the callee's traceback line), and
nothing the inlined body did is lost or done twice.  So the body needs no
frame of its own, and its values are the caller's: constants propagate into
it, a float it returns is never boxed.

All the exits of an inlined body are the caller's one restart exit at the
call; one that keeps being taken generalizes the call site (`RESTART`) and
the next version calls the callee.  A method that stores numbers into its
object (`self.count += 1`) is transparent too: the stores are kept back
until the body returns (`BufferedStores`).
"""

from __future__ import annotations

import types

from psyco import ir, kinds
from psyco.abi import current as abi
from psyco.frontend import decode
from psyco.kinds import Kind
from psyco.own_builtins import BUILTINS
from psyco.specializer import AV, NEW_VID, CannotSpecialize, Request, Specializer, State, virtual_ids

__builtins__ = BUILTINS  # psyco calls the builtins it was imported with (see own_builtins)

RESTART = "inlined call left"
MAX_INSTRUCTIONS = 60  # bytecode instructions of a callee inlined
MAX_DEPTH = 3  # callees inlined into inlined callees, and so on
BUDGET = 1500  # bytecode instructions inlined into one function in all (bounds compile time)

# Ops an inlined body may contain besides pure ones: what they do cannot be
# seen (reading, making new objects) or they are checked in `_transparent`.
READING_OPS = {"guard_global", "str_eq", "get_slice", "build_tuple", "build_list"}
INLINE_READ_CLASSES = (list, tuple)  # getitem_int reads these inline; others call __getitem__


class NotTransparent(CannotSpecialize):
    """The callee does something that could be seen before it returns."""


class BufferedStores:
    """Stores of numbers into attributes of objects made before the call,
    kept back until the outermost inlined body returns, where one
    store_numbers op makes them all or, leaving by the restart exit, none
    (it checks everything and makes the objects it needs first).  A read
    of such an attribute in the body is the value kept.  Kept simple to be
    sound: the stores, the reads after them and the return are in one IR
    block (no path skips a store), and a name kept back on one object is
    neither stored nor read through another value, which might be the
    same object."""

    def __init__(self) -> None:
        self.block: ir.Block | None = None
        # (owner value id, name): (owner, index in its values array or None: cached, value)
        self.kept: dict[tuple[int, str], tuple[AV, int | None, AV]] = {}

    def wanted(self, s: InlinedBody, owner: AV, value: AV) -> bool:
        """Whether owner.<name> = value is to be kept back: a number stored
        into a real object the body did not make."""
        owner_id = _owner_id(owner)
        return owner_id is not None and owner_id not in s.made and _number_kind(value.kind) is not None

    def keep(self, s: InlinedBody, owner: AV, name: str, index: int | None, value: AV) -> None:
        key = self._key(s, owner, name)
        kind = _number_kind(value.kind)
        if isinstance(value.kind, kinds.Const):
            value = AV(kind, (s.const(value.kind.value),))  # type: ignore[arg-type]
        self.block = s.block
        self.kept[key] = (owner, index, value)

    def value(self, s: InlinedBody, owner: AV, name: str) -> AV | None:
        """What owner.<name> holds if a store of that name was kept back."""
        if all(n != name for _, n in self.kept):
            return None
        return self.kept[self._key(s, owner, name)][2]

    def _key(self, s: InlinedBody, owner: AV, name: str) -> tuple[int, str]:
        if self.block is not None and s.block is not self.block:
            raise NotTransparent("stores kept back on another path")
        owner_id = _owner_id(owner)
        if owner_id is None or any(n == name and i != owner_id for i, n in self.kept):
            raise NotTransparent(f"{name!r} kept back for another object, maybe the same")
        return owner_id, name

    def flush(self, s: InlinedBody) -> None:
        """Make the stores kept back, where the outermost body returns."""
        if self.block is not None and s.block is not self.block:
            raise NotTransparent("stores kept back on another path")
        if not self.kept:
            return
        args: list[ir.Value] = []
        for owner, _, value in self.kept.values():
            args += [owner.leaves[0], value.leaves[0]]
        Specializer.emit(s, "store_numbers", args, "deopt", reason=RESTART,
                         indices=tuple(index for _, index, _ in self.kept.values()),
                         names=tuple(name for _, name in self.kept))


def _owner_id(owner: AV) -> int | None:
    """The id of the IR value of a real object, the key of stores into it."""
    return owner.leaves[0].id if isinstance(owner.kind, kinds.ObjectKind) and len(owner.leaves) == 1 else None


def _number_kind(kind: Kind) -> Kind | None:
    """INT or FLOAT if a value of `kind` is one, unboxed or constant."""
    if kind in (kinds.INT, kinds.FLOAT):
        return kind
    if isinstance(kind, kinds.Const) and type(kind.value) is float:
        return kinds.FLOAT
    if isinstance(kind, kinds.Const) and type(kind.value) is int and -2**63 <= kind.value < 2**63:
        return kinds.INT
    return None


class _InlineOnly:
    """The resolver of an inlined body: a callee it calls must be inlined
    too; a call of compiled code would not be transparent."""

    def __init__(self, resolver: object) -> None:
        self.compiled_code = resolver.compiled_code  # type: ignore[attr-defined]

    def version_for_call(self, s: Specializer, target: object, args: list[AV]) -> None:
        if isinstance(target, types.FunctionType):
            raise NotTransparent("calls compiled code")
        return None  # not a function (a class: see rules._construct)


class InlinedBody(Specializer):
    """The specializer of a callee's body inside its caller's IR function:
    its exits are the outermost caller's restart exit."""

    def __init__(self, caller: Specializer, function: types.FunctionType, code: types.CodeType) -> None:
        request = Request(code, function.__globals__, function.__builtins__, (),
                          attribute_kinds=caller.request.attribute_kinds,
                          unpredictable_attributes=caller.request.unpredictable_attributes)
        super().__init__(request, _InlineOnly(caller.resolver))
        self.caller = caller
        self.root: Specializer = caller.root if isinstance(caller, InlinedBody) else caller
        self.depth = caller.depth + 1 if isinstance(caller, InlinedBody) else 1
        self.fn = caller.fn
        self.keepalive = caller.keepalive
        self.attribute_stores = caller.attribute_stores
        self.made_real = caller.made_real
        self.made: set[int] = set()  # ids of the instances this body made (it may store into them)
        self.buffered_stores = caller.buffered_stores if isinstance(caller, InlinedBody) else BufferedStores()

    def states(self) -> list[State]:
        return [self.state] + self.caller.states()

    def edge(self, pc: int, state: State) -> ir.Edge:
        """The callers' states are not merged where the body's paths meet:
        a virtual instance they hold, renumbered in the body's new block
        (`Specializer._state_for`), would not be theirs any more there, and
        its changes would be lost for them.  Such a body is not inlined."""
        if virtual_ids([state]) & virtual_ids(self.caller.states()):
            raise NotTransparent("branches holding a virtual instance of its caller")
        return super().edge(pc, state)

    def inlines(self, code: types.CodeType) -> bool:
        body: Specializer = self
        while isinstance(body, InlinedBody):
            if body.code is code:
                return True
            body = body.caller
        return body.code is code

    # --- exits: all restart the outermost call ---------------------------
    def error_exit(self, traceback: bool = True, index: int | None = None) -> ir.Exit:
        return self.root.deopt_exit(RESTART)

    def deopt_exit(self, reason: str, state: State | None = None, pc: int | None = None) -> ir.Exit:
        return self.root.deopt_exit(RESTART)

    def deopt_here(self, reason: str) -> None:
        raise NotTransparent(reason)

    def generalized(self, reason: str) -> bool:
        return False

    def emit(self, opname: str, args: list[ir.Value], exit: str | None = None, *, error_at: int | None = None,
             **attrs: object) -> ir.Value | None:
        if not self._transparent(opname, args, attrs):
            raise NotTransparent(f"{opname} {attrs.get('name', '')} may be seen before the call returns")
        result = super().emit(opname, args, exit, error_at=error_at, **attrs)
        if opname == "new_instance":
            self.made.add(result.id)  # type: ignore[union-attr]
        return result

    def _transparent(self, opname: str, args: list[ir.Value], attrs: dict) -> bool:
        if ir.OPS[opname].pure or opname in READING_OPS:
            return True
        if opname == "getitem_int":
            return attrs.get("cls") in INLINE_READ_CLASSES
        if opname in ("load_attr", "store_attr"):  # the instance's own attribute; stored: of an instance made here
            return (opname == "load_attr" or args[0].id in self.made) and self.plain_attribute(attrs)
        if opname == "new_instance":  # nobody sees it before the call returns, unless a finalizer runs
            return not hasattr(attrs["cls"], "__del__")
        return False

    def plain_attribute(self, attrs: dict) -> bool:
        """Whether the attribute is the instance's own, reached without
        running the program's code: at the index found when compiling
        (guarded), else for a class whose attribute access is generic
        (`abi.plain_attribute`; its version guarded now)."""
        if attrs.get("index") is not None:
            return True
        cls = attrs.get("cls")
        tag = abi.plain_attribute(cls, attrs["name"]) if cls is not None else None
        if tag is None:
            return False
        self.guard_class(cls, tag, RESTART)
        return True

    # --- the body --------------------------------------------------------
    def specialize(self, arguments: list[AV], with_self: bool = False) -> tuple[list[AV], ir.Block]:
        """Specialize the body from the current block with `arguments` in
        its first locals; returns the returned value (and, `with_self`, the
        first argument as it is then: an instance an __init__ made) and the
        block where the caller goes on: the one return's, or a block where
        every return jumps."""
        from psyco.rules import RULES

        locals_ = list(arguments) + [AV(kinds.UNBOUND)] * (abi.nlocalsplus(self.code) - len(arguments))
        # The first bytecode block continues the current IR block (nothing
        # jumps back to it without loops): the arguments keep their values,
        # an instance made by `_inline` among them.
        self.state = State(locals_, [])
        self._specialize_block(self.decoded.instructions[0].index, RULES)
        while self.worklist:
            pc, block, state = self.worklist.pop()
            self.block, self.state = block, state
            self._specialize_block(pc, RULES)
        if not self.returns:
            raise NotTransparent("never returns")
        returned = [[site.value] + ([site.after.locals[0]] if with_self else []) for site in self.returns]
        if len(self.returns) == 1:  # the caller goes on in the block that returns
            return returned[0], self.returns[0].block
        wanted: list[Kind] = []
        for i in range(len(returned[0])):
            kind: Kind | None = returned[0][i].kind
            for values in returned[1:]:
                kind = kinds.join(kind, values[i].kind)  # type: ignore[arg-type]
            if kind is None:
                raise NotTransparent("returns values that cannot be merged")
            wanted.append(kind)
        after = self.fn.new_block(f"after inlined {self.code.co_qualname}")
        out = []
        for kind in wanted:
            leaves = tuple(self.fn.new_value(t, owned=(t == "obj")) for t in kind.leaves)
            after.params.extend(leaves)
            out.append(AV(kind, leaves))
        for site, values in zip(self.returns, returned):
            self.block, self.ins, self.before, self.state = site.block, site.ins, site.before, site.after
            leaves = [v for value, kind in zip(values, wanted) for v in self.convert(value, kind).leaves]
            self.terminate(ir.Terminator("br", edges=[ir.Edge(after, leaves)]))
        return out, after


def inlinable_code(s: Specializer, function: object, nargs: int) -> types.CodeType | None:
    """The code to inline for calling `function` with `nargs` positional
    arguments from `s`, if it may be: a small function psyco compiles,
    without loops, exception handlers, defaults left to fill, cells or a
    closure, not being inlined already."""
    if not isinstance(function, types.FunctionType) or function.__closure__ or function.__kwdefaults__:
        return None
    code = s.resolver.compiled_code(function)  # type: ignore[attr-defined]
    if code is None or (code.co_argcount != nargs or code.co_flags & 0x2C or code.co_kwonlyargcount
                        or code.co_cellvars or code.co_freevars):  # 0x2C: *args, **kwargs, a generator
        return None
    depth, root = (s.depth, s.root) if isinstance(s, InlinedBody) else (0, s)
    if s.generalized(RESTART) or depth >= MAX_DEPTH or isinstance(s, InlinedBody) and s.inlines(code):
        return None
    if root.resolver.cold_call(root):  # type: ignore[attr-defined]
        return None
    decoded = decode(code)
    size = len(decoded.instructions)
    if decoded.loop_heads or decoded.handlers or size > MAX_INSTRUCTIONS or root.inlined_size + size > BUDGET:
        return None
    return code


def _inline(s: Specializer, function: types.FunctionType, arguments: list[AV],
            cls: type | None = None, tag: int = 0) -> tuple[AV, AV | None] | None:
    """Specialize `function(*arguments)` into `s`'s IR, if transparent:
    (the value it returns, the instance made first if `cls`); None, nothing
    emitted, if not.  With `cls` (of version `tag`): object.__new__(cls)
    first, the instance passed before `arguments`."""
    code = inlinable_code(s, function, len(arguments) + (cls is not None))
    if code is None:
        return None
    body = InlinedBody(s, function, code)
    # The body starts in the caller's block (guards it repeats are left
    # out); if it is not inlined after all, what it emitted goes, and what
    # it did to its callers' states is undone (virtual instances made real).
    assert s.block is not None
    body.block = s.block
    ops, blocks, exits = len(s.block.ops), len(s.fn.blocks), len(body.root.exits)
    states = [(state, state.copy()) for state in s.states()]
    made_real = dict(s.made_real)
    stores = body.buffered_stores
    kept, kept_block = dict(stores.kept), stores.block
    try:
        body.emit("guard_recursion", [], "deopt", levels=body.depth)
        instance = None
        if cls is not None:
            body.guard_class(cls, tag, RESTART)
            if abi.virtual_class(cls) is not None and not rebinds_first_local(code):
                instance = AV(kinds.Instance(cls, next(NEW_VID), (), ()))
            else:
                instance = AV(kinds.ObjectKind(cls), (body.emit("new_instance", [], "error", cls=cls),))  # type: ignore[arg-type]
            arguments = [instance] + arguments
        values, after = body.specialize(arguments, with_self=cls is not None)
        if cls is not None:
            if values[0].kind != kinds.Const(None):
                raise NotTransparent("__init__ may return something else than None")
            instance = values[1]
        if not isinstance(s, InlinedBody):
            body.block = after
            stores.flush(body)
    except CannotSpecialize:
        del s.block.ops[ops:]
        s.block.term = None  # the body may have branched
        del s.fn.blocks[blocks:]
        del body.root.exits[exits:]
        for state, saved in states:
            state.locals[:], state.stack[:] = saved.locals, saved.stack
        s.made_real.clear()
        s.made_real.update(made_real)
        stores.kept, stores.block = kept, kept_block
        return None
    s.keepalive.append(function)
    s.inlined.extend([code.co_qualname] + body.inlined)
    body.root.inlined_size += len(decode(code).instructions)
    s.block = after
    return values[0], instance


def rebinds_first_local(code: types.CodeType) -> bool:
    """Whether the code stores into or deletes its first local (`self`):
    then what it holds when __init__ returns may not be the instance, and
    zero-argument super() reads it from the frame."""
    return any(ins.opname in ("STORE_FAST", "DELETE_FAST") and ins.arg == 0 for ins in decode(code).instructions)


def inline_call(s: Specializer, function: types.FunctionType, arguments: list[AV]) -> AV | None:
    """`function(*arguments)` inlined: the value it returns, or None."""
    inlined = _inline(s, function, arguments)
    return inlined[0] if inlined is not None else None


def inline_construct(s: Specializer, cls: type, tag: int, init: types.FunctionType,
                     arguments: list[AV]) -> AV | None:
    """`cls(*arguments)` of a plain class: object.__new__ and the inlined
    `__init__` (which returns None, or it is not inlined); the instance, or
    None."""
    inlined = _inline(s, init, arguments, cls, tag)
    return inlined[1] if inlined is not None else None
