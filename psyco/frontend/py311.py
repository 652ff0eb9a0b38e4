"""Front end for CPython 3.11 bytecode.

Decodes a code object into instructions (with their code-unit index, the
index of their first EXTENDED_ARG prefix, jump targets and source line), the
exception table and the basic blocks of the control-flow graph.  Nothing
else in psyco reads raw bytecode.
"""

from __future__ import annotations

import opcode
import types
import weakref
from collections.abc import Iterator

from psyco.own_builtins import BUILTINS
from psyco.records import field, record

__builtins__ = BUILTINS  # psyco calls the builtins it was imported with (see own_builtins)

NB_OPS = [symbol for _, symbol in opcode._nb_ops]
CMP_OPS = list(opcode.cmp_op)
CACHES = opcode._inline_cache_entries

JUMPS_UNCONDITIONAL = {"JUMP_FORWARD", "JUMP_BACKWARD", "JUMP_BACKWARD_NO_INTERRUPT"}
BLOCK_ENDS = JUMPS_UNCONDITIONAL | {"RETURN_VALUE", "RAISE_VARARGS", "RERAISE"}


@record(frozen=True)
class Instruction:
    index: int  # code-unit index of the opcode itself
    start: int  # code-unit index of its first EXTENDED_ARG prefix (resume point)
    opname: str
    arg: int | None
    argval: object
    target: int | None  # code-unit index of the jump target, if a jump
    line: int | None
    next_index: int  # code-unit index of the following instruction (its opcode, past EXTENDED_ARG)

    def __str__(self) -> str:
        arg = "" if self.arg is None else f" {self.arg}"
        tgt = "" if self.target is None else f" -> {self.target}"
        return f"{self.index:4d} {self.opname}{arg}{tgt}"


@record(frozen=True)
class Handler:
    """One exception-table entry: units [start, end) jump to target."""

    start: int
    end: int
    target: int
    depth: int
    lasti: bool


@record
class Block:
    start: int  # code-unit index of its first instruction
    instructions: list[Instruction] = field(default_factory=list)
    successors: list[int] = field(default_factory=list)


@record
class DecodedCode:
    code: types.CodeType
    instructions: list[Instruction]
    by_index: dict[int, Instruction]
    handlers: list[Handler]
    blocks: dict[int, Block]
    loop_heads: set[int]
    live_locals: dict[int, frozenset[int]]  # block start -> locals read before written
    bound_locals: dict[int, frozenset[int]]  # block start -> locals bound on every path to it

    def straight_leaf(self) -> bool:
        """No loops and no calls: cheap enough that entering compiled code
        from the interpreter costs more than it saves."""
        return not self.loop_heads and not any(i.opname == "CALL" for i in self.instructions)

    def in_loop(self, index: int) -> bool:
        """Whether unit `index` lies between a loop's head and a jump back to it."""
        return bool(self.loops_around(index))

    def loops_around(self, index: int) -> set[int]:
        """The heads of the loops unit `index` lies in."""
        return {head for head, last in self.loop_spans() if head <= index <= last}

    def loop_spans(self) -> list[tuple[int, int]]:
        """Each loop as (its head, its last jump back to it): the units
        between (a `continue` jumps back too: one span per head)."""
        last: dict[int, int] = {}
        for block in self.blocks.values():
            jump = block.instructions[-1]
            if jump.target is not None and jump.target <= jump.index:
                last[jump.target] = max(last.get(jump.target, jump.index), jump.index)
        return list(last.items())

    def frame_in_loop(self, frame_lasti: int) -> bool:
        """Whether the instruction a frame of this code is at (`f_lasti`, a
        byte offset) lies in a loop."""
        return self.in_loop(frame_lasti // 2)

    def handler_for(self, index: int) -> Handler | None:
        """The handler an exception raised at unit `index` unwinds to (the
        3.11 table is flat: at most one entry covers an instruction)."""
        for h in self.handlers:
            if h.start <= index < h.end:
                return h
        return None


def parse_exception_table(table: bytes) -> list[Handler]:
    """Decode co_exceptiontable (Objects/exception_handling_notes.txt)."""
    out: list[Handler] = []
    pos = 0

    def varint() -> int:
        nonlocal pos
        byte = table[pos]
        pos += 1
        value = byte & 63
        while byte & 64:
            byte = table[pos]
            pos += 1
            value = (value << 6) | (byte & 63)
        return value

    while pos < len(table):
        start = varint()
        length = varint()
        target = varint()
        depth_lasti = varint()
        out.append(Handler(start, start + length, target, depth_lasti >> 1, bool(depth_lasti & 1)))
    return out


def encode_exception_table(handlers: list[Handler]) -> bytes:
    out = bytearray()

    def varint(value: int, first: bool) -> None:
        chunks = [value & 63]
        value >>= 6
        while value:
            chunks.append(value & 63)
            value >>= 6
        chunks.reverse()
        for i, chunk in enumerate(chunks):
            if i < len(chunks) - 1:
                chunk |= 64
            if first and i == 0:
                chunk |= 128
            out.append(chunk)

    for h in handlers:
        varint(h.start, True)
        varint(h.end - h.start, False)
        varint(h.target, False)
        varint((h.depth << 1) | int(h.lasti), False)
    return bytes(out)


# In 3.11 only these jump backwards, and only to the head of a loop.
_BACKWARD_JUMPS = frozenset(op for name, op in opcode.opmap.items() if "JUMP_BACKWARD" in name)


def has_loops(code: types.CodeType) -> bool:
    """Whether `code` has a loop (decode(code).loop_heads is not empty),
    from its opcodes alone: the runtime asks this of every function called,
    most of which it never decodes."""
    return not _BACKWARD_JUMPS.isdisjoint(code.co_code[::2])


def is_comprehension(code: types.CodeType) -> bool:
    """Whether `code` is a comprehension's (a function of its own in 3.11,
    whose one parameter, `.0`, is the iterator its maker passes)."""
    return code.co_argcount == 1 and code.co_varnames[0] == ".0"


_DECODED: dict[int, tuple[weakref.ref, DecodedCode]] = {}  # id(code) -> (the code, its decoding)


def decode(code: types.CodeType) -> DecodedCode:
    """The decoded form of `code`, made once per code object (the runtime
    and each compile ask again)."""
    known = _DECODED.get(id(code))
    if known is not None and known[0]() is code:
        return known[1]
    decoded = _decode(code)
    key = id(code)
    # (the dict is bound now: at interpreter exit module globals are gone)
    _DECODED[key] = (weakref.ref(code, lambda _, decoded_by_id=_DECODED: decoded_by_id.pop(key, None)), decoded)
    return decoded


_HAS_CONST = frozenset(opcode.hasconst)
_HAS_NAME = frozenset(opcode.hasname)
_HAS_JUMP = frozenset(opcode.hasjrel)  # 3.11 has relative jumps only
_HAS_LOCAL = frozenset(opcode.haslocal + opcode.hasfree)
_HAS_COMPARE = frozenset(opcode.hascompare)
_EXTENDED_ARG = opcode.opmap["EXTENDED_ARG"]
_LOAD_GLOBAL = opcode.opmap["LOAD_GLOBAL"]
_FORMAT_VALUE = opcode.opmap["FORMAT_VALUE"]
_FORMAT_CONVERSIONS = (None, str, repr, ascii)


def _raw_instructions(code: types.CodeType) -> Iterator[tuple[int, int, int | None, object]]:
    """(code-unit index, opcode, arg, argval) of each instruction,
    EXTENDED_ARG prefixes included, with dis.get_instructions' argval
    (a jump's is its target's byte offset): without the text dis also
    makes, most of its time, which every compile paid."""
    raw = code.co_code
    units = len(raw) // 2
    index = extended = 0
    while index < units:
        op = raw[2 * index]
        arg: int | None = None
        argval: object = None
        if op >= opcode.HAVE_ARGUMENT:
            argval = arg = raw[2 * index + 1] | extended
            if op in _HAS_CONST:
                argval = code.co_consts[arg]
            elif op in _HAS_NAME:
                argval = code.co_names[arg >> 1 if op == _LOAD_GLOBAL else arg]
            elif op in _HAS_JUMP:
                argval = 2 * (index + 1 + (-arg if op in _BACKWARD_JUMPS else arg))
            elif op in _HAS_LOCAL:
                argval = code._varname_from_oparg(arg)  # type: ignore[attr-defined]
            elif op in _HAS_COMPARE:
                argval = opcode.cmp_op[arg]
            elif op == _FORMAT_VALUE:
                argval = (_FORMAT_CONVERSIONS[arg & 3], bool(arg & 4))
        extended = arg << 8 if op == _EXTENDED_ARG else 0  # type: ignore[operator]
        yield index, op, arg, argval
        index += 1 + CACHES[op]


def _decode(code: types.CodeType) -> DecodedCode:
    positions = list(code.co_positions())
    opcodes: list[tuple[int, int, int, int | None, object]] = []  # index, start, opcode, arg, argval
    prefix_start: int | None = None
    for index, op, arg, argval in _raw_instructions(code):
        if op == _EXTENDED_ARG:
            prefix_start = index if prefix_start is None else prefix_start
            continue
        opcodes.append((index, index if prefix_start is None else prefix_start, op, arg, argval))
        prefix_start = None
    # Jump targets and the following instruction may name an EXTENDED_ARG
    # prefix; resolve them to the opcode (resume points use `start`).
    by_start = {start: index for index, start, _, _, _ in opcodes}
    instructions: list[Instruction] = []
    for index, start, op, arg, argval in opcodes:
        target = by_start.get(argval // 2, argval // 2) if op in _HAS_JUMP else None  # type: ignore[operator]
        following = index + 1 + CACHES[op]
        line = positions[index][0] if index < len(positions) else None
        instructions.append(Instruction(index, start, opcode.opname[op], arg, argval, target, line,
                                        by_start.get(following, following)))
    by_index = {i.index: i for i in instructions}
    handlers = parse_exception_table(code.co_exceptiontable)
    blocks, loop_heads = _build_cfg(instructions, handlers, by_start)
    handler_of = _handler_blocks(handlers, by_start)
    live = _live_locals(code, blocks, handler_of)
    bound = _bound_locals(code, blocks, handler_of)
    return DecodedCode(code, instructions, by_index, handlers, blocks, loop_heads, live, bound)


READS = {"LOAD_FAST", "DELETE_FAST", "LOAD_CLOSURE", "LOAD_DEREF", "DELETE_DEREF"}


def _handler_blocks(handlers: list[Handler], by_start: dict[int, int]) -> dict[int, int]:
    """For each instruction inside a try or with, the block of the handler
    an exception it raises goes to (the 3.11 table is flat)."""
    return {index: by_start.get(h.target, h.target) for h in handlers for index in range(h.start, h.end)}


def _raises_to(blocks: dict[int, Block], handler_of: dict[int, int]) -> dict[int, set[int]]:
    """For each block, the handler blocks an exception inside it goes to."""
    return {start: {handler_of[ins.index] for ins in block.instructions if ins.index in handler_of}
            for start, block in blocks.items()}


def argument_count(code: types.CodeType) -> int:
    """Local slots that hold arguments: positional, keyword-only, *args, **kwargs."""
    n = code.co_argcount + code.co_kwonlyargcount
    return n + bool(code.co_flags & 0x04) + bool(code.co_flags & 0x08)


def _live_locals(code: types.CodeType, blocks: dict[int, Block],
                 handler_of: dict[int, int]) -> dict[int, frozenset[int]]:
    """For each block, the locals whose current value may still be read.

    A dead local's value can be forgotten at a block boundary: the
    specializer then merges states that differ only in dead locals (a
    variable bound in a `try` body but not in its handler, say).  A handler
    may run from any instruction of its range, before the block's own
    assignments: what it reads is live throughout the blocks it covers.
    """
    everything = frozenset(range(code.co_nlocals + len(code.co_cellvars) + len(code.co_freevars)))
    if code.co_flags & 0x08 or code.co_cellvars or code.co_freevars:
        return {start: everything for start in blocks}
    gen: dict[int, set[int]] = {}
    kill: dict[int, set[int]] = {}
    raises_to = _raises_to(blocks, handler_of)
    for start, block in blocks.items():
        g, k = set(), set()
        for ins in block.instructions:
            if ins.opname in READS and ins.arg not in k:
                g.add(ins.arg)  # type: ignore[arg-type]
            elif ins.opname == "STORE_FAST":
                k.add(ins.arg)  # type: ignore[arg-type]
        gen[start], kill[start] = g, k
    live: dict[int, set[int]] = {start: set() for start in blocks}
    changed = True
    while changed:
        changed = False
        for start in reversed(list(blocks)):
            out: set[int] = set()
            for succ in blocks[start].successors:
                out |= live.get(succ, set())
            new = gen[start] | (out - kill[start])
            for handler in raises_to[start]:
                new |= live.get(handler, set())
            if new != live[start]:
                live[start], changed = new, True
    return {start: frozenset(v) for start, v in live.items()}


# Instructions that never raise (a decref's finalizer cannot: its errors
# are unraisable): inside a try or with they lead to no handler.  `with x
# as c` stores c inside the with's range: c is bound on every path past it.
_CANNOT_RAISE = frozenset({"STORE_FAST", "LOAD_CONST", "NOP", "POP_TOP", "PUSH_NULL", "COPY", "SWAP"})


def _bound_locals(code: types.CodeType, blocks: dict[int, Block],
                  handler_of: dict[int, int]) -> dict[int, frozenset[int]]:
    """For each block, the locals bound on every path to it (arguments,
    then stores not undone by a `del`): the specializer holds their values
    while dead, as CPython's frame does, without making states that differ
    in whether a variable is bound."""
    if code.co_cellvars or code.co_freevars:
        return {start: frozenset() for start in blocks}
    everything = frozenset(range(code.co_nlocals))
    bound_in = {start: everything for start in blocks}
    bound_in[min(blocks)] = frozenset(range(argument_count(code)))
    changed = True
    while changed:
        changed = False
        for start, block in blocks.items():
            bound = set(bound_in[start])
            # An exception goes to the handler with the locals bound before
            # the instruction that raised it: a store earlier in the block
            # (before a `with`) holds on the handler's paths too.
            at_handler: dict[int, frozenset[int]] = {}
            for ins in block.instructions:
                target = handler_of.get(ins.index)
                if target is not None and ins.opname not in _CANNOT_RAISE:
                    at_handler[target] = at_handler.get(target, frozenset(bound)) & bound
                if ins.opname == "STORE_FAST":
                    bound.add(ins.arg)  # type: ignore[arg-type]
                elif ins.opname == "DELETE_FAST":
                    bound.discard(ins.arg)  # type: ignore[arg-type]
            targets = [(succ, frozenset(bound)) for succ in block.successors] + list(at_handler.items())
            for succ, out in targets:
                if succ in bound_in and not bound_in[succ] <= out:
                    bound_in[succ] &= out
                    changed = True
    return bound_in


def _build_cfg(
    instructions: list[Instruction], handlers: list[Handler], by_start: dict[int, int]
) -> tuple[dict[int, Block], set[int]]:
    leaders = {instructions[0].index} if instructions else set()
    for h in handlers:
        leaders.add(by_start.get(h.target, h.target))
    for ins in instructions:
        if ins.target is not None:
            leaders.add(ins.target)
            leaders.add(ins.next_index)
        elif ins.opname in BLOCK_ENDS:
            leaders.add(ins.next_index)
    blocks: dict[int, Block] = {}
    current: Block | None = None
    for ins in instructions:
        if ins.index in leaders or current is None:
            current = blocks.setdefault(ins.index, Block(ins.index))
        current.instructions.append(ins)
    loop_heads: set[int] = set()
    for block in blocks.values():
        last = block.instructions[-1]
        if last.target is not None:
            block.successors.append(last.target)
            if last.target <= last.index:
                loop_heads.add(last.target)
        if last.opname not in BLOCK_ENDS and last.next_index in blocks:
            block.successors.append(last.next_index)
    return blocks, loop_heads
