"""Reference counting: the one pass that inserts increments and decrements.

Every `obj` value is owned (it holds one reference: results of owning ops,
block parameters) or borrowed (constants, the caller's arguments).  Ops
borrow their operands.  From liveness alone this pass decides:

* after an op, release each owned operand or result that is dead after it;
* on an edge, give each block parameter its own reference (transfer the
  value's reference on its last use, add one otherwise) and release owned
  values that die on that edge;
* at an error or deopt exit, record in `exit.release` the owned values live
  there; the back end drops them after handing new references to the
  interpreter frame being rebuilt.
"""

from __future__ import annotations

from psyco import ir


def _owned(v: ir.Value) -> bool:
    return v.type == "obj" and v.owned


def _ref_op(name: str, v: ir.Value) -> ir.Op:
    return ir.Op(name, [v], {})


def _term_live(b: ir.Block, live_in: dict[int, set[ir.Value]]) -> set[ir.Value]:
    t = b.term
    assert t is not None
    live = {v for v in t.uses() if _owned(v)}
    for e in t.edges:
        live |= live_in[e.target.id]
    return live


def _walk_ops(b: ir.Block, live: set[ir.Value], emit: bool) -> set[ir.Value]:
    for op in reversed(b.ops):
        after = set(live)
        uses = [v for v in op.uses() if _owned(v)]
        before = (after - {op.result}) | set(uses)
        if emit:
            post = []
            if op.result is not None and _owned(op.result) and op.result not in after:
                post.append(_ref_op("decref", op.result))
            for v in dict.fromkeys(uses):
                if v not in after:
                    post.append(_ref_op("decref", v))
            op.post = post
            for e in op.exits():
                e.release = sorted(before, key=lambda v: v.id)
        live = before
    return live


def insert_refcounts(fn: ir.Function) -> None:
    live_in: dict[int, set[ir.Value]] = {b.id: set() for b in fn.blocks}
    changed = True
    while changed:
        changed = False
        for b in reversed(fn.blocks):
            live = _walk_ops(b, _term_live(b, live_in), emit=False) - set(b.params)
            if live != live_in[b.id]:
                live_in[b.id] = live
                changed = True
    for b in fn.blocks:
        t = b.term
        assert t is not None
        live = _term_live(b, live_in)
        for e in t.edges:
            e.fixups = []
            for v in sorted(live, key=lambda v: v.id):
                delta = e.args.count(v) + (v in live_in[e.target.id]) - 1
                e.fixups += [_ref_op("incref", v)] * max(delta, 0) + [_ref_op("decref", v)] * (delta < 0)
            for v in e.args:
                if v.type == "obj" and not v.owned:
                    e.fixups.append(_ref_op("incref", v))
        if t.kind == "ret" and t.value is not None and t.value.type == "obj" and not t.value.owned:
            b.ops.append(_ref_op("incref", t.value))
        if t.exit is not None:
            t.exit.release = sorted(live, key=lambda v: v.id)
        live = _walk_ops(b, live, emit=True)
        b.pre = [_ref_op("decref", p) for p in b.params if _owned(p) and p not in live]
