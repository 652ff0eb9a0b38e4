"""Reference counting: the one pass that inserts increments and decrements.

Every `obj` value is owned (it holds one reference: results of owning ops,
block parameters) or borrowed (constants, the caller's arguments).  Ops
borrow their operands.  From liveness alone this pass decides:

* after an op, release each owned operand or result that is dead after it,
  unless the op stores the operand into an object (`OpDef.steals_from`):
  the op then keeps that reference (attrs["stolen"]) instead of adding one;
* on an edge, give each block parameter its own reference (transfer the
  value's reference on its last use, add one otherwise) and release owned
  values that die on that edge;
* an item read from an exact list or tuple (`OpDef.borrowable`) stays
  borrowed, no reference added or dropped, when every op up to its last use
  in its block is `OpDef.pure` and drops only boxed numbers, and the
  container outlives that use (a deopt exit pins the objects it reads);
* at an error or deopt exit, record in `exit.release` the owned values live
  there; the back end drops them after handing new references to the
  interpreter frame being rebuilt;
* an error exit with an exception handler is an edge from the middle of a
  block: its fixups are computed like a terminator edge's, from the values
  live just before the failing op.
"""

from __future__ import annotations

from psyco import ir
from psyco.own_builtins import BUILTINS

__builtins__ = BUILTINS  # psyco calls the builtins it was imported with (see own_builtins)


def _owned(v: ir.Value) -> bool:
    return v.type == "obj" and v.owned


def _ref_op(name: str, v: ir.Value) -> ir.Op:
    return ir.Op(name, [v], {})


def _handler_live(exits: list[ir.Exit], live_in: dict[int, set[ir.Value]]) -> set[ir.Value]:
    live: set[ir.Value] = set()
    for e in exits:
        if e.handler is not None:
            live |= live_in[e.handler.target.id]
    return live


def _term_live(b: ir.Block, live_in: dict[int, set[ir.Value]]) -> set[ir.Value]:
    t = b.term
    assert t is not None
    live = {v for v in t.uses() if _owned(v)}
    for e in t.edges:
        live |= live_in[e.target.id]
    return live | _handler_live([t.exit] if t.exit else [], live_in)


def _leave(exit: ir.Exit, live: set[ir.Value], live_in: dict[int, set[ir.Value]]) -> None:
    """What leaving through `exit` with `live` owned values must release:
    all of them, or, for an exception handler, those its edge does not take."""
    if exit.handler is None:
        exit.release = sorted(live, key=lambda v: v.id)
    else:
        _fill_fixups(exit.handler, live, live_in)


def _fill_fixups(e: ir.Edge, live: set[ir.Value], live_in: dict[int, set[ir.Value]]) -> None:
    e.fixups = []
    for v in sorted(live, key=lambda v: v.id):
        delta = e.args.count(v) + (v in live_in[e.target.id]) - 1
        e.fixups += [_ref_op("incref", v)] * max(delta, 0) + [_ref_op("decref", v)] * (delta < 0)
    for v in e.args:
        if v.type == "obj" and not v.owned:
            e.fixups.append(_ref_op("incref", v))


def _live_before(op: ir.Op, after: set[ir.Value], live_in: dict[int, set[ir.Value]]) -> set[ir.Value]:
    """The owned values live just before `op`, from those live after it."""
    uses = {v for v in op.uses() if _owned(v)}
    return (after - {op.result}) | uses | _handler_live(op.exits(), live_in)


def _borrowable(op: ir.Op) -> bool:
    return ir.OPS[op.name].borrowable and op.attrs.get("cls", tuple) in (list, tuple)


def _harmless(op: ir.Op, after: set[ir.Value]) -> bool:
    """Whether `op` and the releases after it leave borrowed items valid:
    the values dying there are boxed numbers, whose release runs no code."""
    if not (ir.OPS[op.name].pure or _borrowable(op)):
        return False
    dying = [v for v in op.uses() + [op.result] if v is not None and _owned(v) and v not in after]
    return all(v.op is not None and v.op.name in ("box_int", "box_float", "argument_object") for v in dying)


def _borrow_items(b: ir.Block, live_out: set[ir.Value], live_in: dict[int, set[ir.Value]]) -> None:
    after: list[set[ir.Value]] = [set() for _ in b.ops]
    live = set(live_out)
    for k in range(len(b.ops) - 1, -1, -1):
        after[k] = set(live)
        live = _live_before(b.ops[k], live, live_in)
    for p, op in enumerate(b.ops):
        item = op.result
        if not _borrowable(op) or item is None or not _owned(item) or item in live_out:
            continue
        last = max((k for k in range(p + 1, len(b.ops)) if item in b.ops[k].uses()), default=p)
        container = op.args[0]
        if _owned(container):
            outlives = container in after[last]
        else:  # the caller's argument, a closure cell, a constant
            outlives = container.op is None or container.op.name == "const_obj"
        # what the last use drops comes after it
        if outlives and all(_harmless(b.ops[k], after[k]) for k in range(p + 1, last)) and (
                last == p or ir.OPS[b.ops[last].name].pure or _borrowable(b.ops[last])):
            item.owned = False
            op.attrs["borrowed"] = True


def _stealable(op: ir.Op) -> list[ir.Value]:
    first = ir.OPS[op.name].steals_from
    return [] if first is None else op.args[first:]


def _walk_ops(b: ir.Block, live: set[ir.Value], live_in: dict[int, set[ir.Value]], emit: bool) -> set[ir.Value]:
    for op in reversed(b.ops):
        after = set(live)
        before = _live_before(op, after, live_in)
        if emit:
            post = []
            if op.result is not None and _owned(op.result) and op.result not in after:
                post.append(_ref_op("decref", op.result))
            stolen = []
            for v in dict.fromkeys(v for v in op.uses() if _owned(v)):
                if v not in after:
                    if v in _stealable(op):
                        stolen.append(op.args.index(v, ir.OPS[op.name].steals_from))
                    else:
                        post.append(_ref_op("decref", v))
            if stolen:
                op.attrs["stolen"] = tuple(stolen)
            op.post = post
            for e in op.exits():
                _leave(e, before, live_in)
        live = before
    return live


def insert_refcounts(fn: ir.Function) -> None:
    live_in: dict[int, set[ir.Value]] = {b.id: set() for b in fn.blocks}
    changed = True
    while changed:
        changed = False
        for b in reversed(fn.blocks):
            live = _walk_ops(b, _term_live(b, live_in), live_in, emit=False) - set(b.params)
            if live != live_in[b.id]:
                live_in[b.id] = live
                changed = True
    for b in fn.blocks:
        _borrow_items(b, _term_live(b, live_in), live_in)
    for b in fn.blocks:
        t = b.term
        assert t is not None
        live = _term_live(b, live_in)
        for e in t.edges:
            _fill_fixups(e, live, live_in)
        if t.kind == "ret" and t.value is not None and t.value.type == "obj" and not t.value.owned:
            b.ops.append(_ref_op("incref", t.value))
        if t.exit is not None:
            _leave(t.exit, live, live_in)
        live = _walk_ops(b, live, live_in, emit=True)
        b.pre = [_ref_op("decref", p) for p in b.params if _owned(p) and p not in live]
