"""LLVM assembly written as text.

The back end builds each module through the small API below (the subset of
`llvmlite.ir` it needs, with the same names and meanings) and hands the
text to LLVM's parser.  Building text directly is several times cheaper
than llvmlite.ir's object graph, which made up most of the time psyco
spent in Python while compiling.  The IR is LLVM's typed-pointer syntax,
as llvmlite.ir prints it.
"""

from __future__ import annotations

import operator
import struct
from collections.abc import Callable, Iterable, Sequence

from psyco.own_builtins import BUILTINS

__builtins__ = BUILTINS  # psyco calls the builtins it was imported with (see own_builtins)


# --- types -------------------------------------------------------------------------------
class Type:
    """An LLVM type, equal to any other type with the same spelling."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Type) and other.text == self.text

    def __hash__(self) -> int:
        return hash(self.text)

    def as_pointer(self) -> PointerType:
        return PointerType(self)

    def __call__(self, value: object) -> Constant:
        return Constant(self, value)


class IntType(Type):
    __slots__ = ("width",)

    def __init__(self, width: int) -> None:
        super().__init__(f"i{width}")
        self.width = width


class DoubleType(Type):
    __slots__ = ()

    def __init__(self) -> None:
        super().__init__("double")


class VoidType(Type):
    __slots__ = ()

    def __init__(self) -> None:
        super().__init__("void")


class PointerType(Type):
    __slots__ = ("pointee",)

    def __init__(self, pointee: Type) -> None:
        super().__init__(f"{pointee.text}*")
        self.pointee = pointee


class LiteralStructType(Type):
    __slots__ = ("elements",)

    def __init__(self, elements: Sequence[Type]) -> None:
        super().__init__("{" + ", ".join(e.text for e in elements) + "}")
        self.elements = tuple(elements)


class FunctionType(Type):
    __slots__ = ("return_type", "args", "var_arg")

    def __init__(self, return_type: Type, args: Sequence[Type], var_arg: bool = False) -> None:
        params = [a.text for a in args] + (["..."] if var_arg else [])
        super().__init__(f"{return_type.text} ({', '.join(params)})")
        self.return_type, self.args, self.var_arg = return_type, tuple(args), var_arg


# --- values ------------------------------------------------------------------------------
class Value:
    """A typed operand: `ref` is how instructions name it."""

    __slots__ = ("type", "ref")

    def __init__(self, type_: Type, ref: str) -> None:
        self.type = type_
        self.ref = ref

    @property
    def typed(self) -> str:
        return f"{self.type.text} {self.ref}"


def _format_constant(type_: Type, value: object) -> str:
    if isinstance(type_, IntType):
        if isinstance(value, bool):
            return "true" if value else "false"
        return str(int(value or 0))  # type: ignore[call-overload]
    if isinstance(type_, DoubleType):
        bits = struct.unpack("<Q", struct.pack("<d", value))[0]
        return f"0x{bits:016x}"  # LLVM reads doubles exactly in hex
    if isinstance(type_, PointerType) and value is None:
        return "null"
    if isinstance(type_, LiteralStructType) and value is None:
        return "undef"
    raise TypeError(f"no constant of type {type_} from {value!r}")


class Constant(Value):
    __slots__ = ("value",)

    def __init__(self, type_: Type, value: object) -> None:
        super().__init__(type_, _format_constant(type_, value))
        self.value = value

    def inttoptr(self, type_: Type) -> Value:
        return Value(type_, f"inttoptr ({self.typed} to {type_.text})")


class Negation(Value):
    """The result of `not_` on an i1, knowing what it negates: a branch on
    it branches on that, with its targets swapped (the fast instruction
    selector would compute the negation, then test it)."""

    __slots__ = ("negated",)

    def __init__(self, type_: Type, ref: str, negated: Value) -> None:
        super().__init__(type_, ref)
        self.negated = negated


def _int_constant(value: Value) -> int | None:
    """The value of an integer constant, read as signed (true is -1 as an
    i1); None for any other value."""
    if isinstance(value, Constant) and isinstance(value.type, IntType) and isinstance(value.value, int):
        return _signed(value.value, value.type.width)
    return None


def _signed(value: int, width: int) -> int:
    value &= (1 << width) - 1
    return value - (1 << width) if value >> (width - 1) else value


def _int_result(type_: Type, value: int) -> Constant:
    """A folded result: wrapped to the type's width, as LLVM computes it."""
    width = type_.width  # type: ignore[attr-defined]
    value = _signed(value, width)
    return Constant(type_, bool(value) if width == 1 else value)


class Block:
    """A basic block: its label and its instructions (text, or phis,
    completed later and printed at the end)."""

    __slots__ = ("function", "name", "lines")

    def __init__(self, function: Function, name: str) -> None:
        self.function = function
        self.name = name
        self.lines: list[object] = []

    @property
    def ref(self) -> str:
        return f'%"{self.name}"'

    def __str__(self) -> str:
        return f'"{self.name}":\n' + "".join(f"  {line}\n" for line in self.lines)


class GlobalValue(Value):
    __slots__ = ("module", "name", "linkage")

    def __init__(self, module: Module, type_: Type, name: str) -> None:
        super().__init__(type_, f'@"{name}"')
        self.module, self.name, self.linkage = module, name, ""
        module.add_global(self)


class Function(GlobalValue):
    """A function: built block by block, or defined by the text of its
    blocks (`text`: a copy of another function's)."""

    __slots__ = ("ftype", "args", "blocks", "text", "attributes", "_block_names", "_values")

    def __init__(self, module: Module, ftype: FunctionType, name: str) -> None:
        super().__init__(module, ftype.as_pointer(), name)
        self.ftype = ftype
        self.args = tuple(Value(t, f"%a{i}") for i, t in enumerate(ftype.args))
        self.blocks: list[Block] = []
        self.text: str | None = None
        self.attributes: set[str] = set()
        self._block_names: dict[str, int] = {}
        self._values = 0

    @property
    def is_declaration(self) -> bool:
        return not self.blocks and self.text is None

    def blocks_text(self) -> str:
        """The function's blocks, as LLVM assembly."""
        return self.text if self.text is not None else "".join(str(b) for b in self.blocks)

    def append_basic_block(self, name: str = "") -> Block:
        seen = self._block_names.get(name)
        self._block_names[name] = 0 if seen is None else seen + 1
        block = Block(self, name if seen is None else f"{name}.{seen + 1}")
        self.blocks.append(block)
        return block

    @property
    def entry_basic_block(self) -> Block:
        return self.blocks[0]

    @property
    def value_count(self) -> int:
        """How many values the function's instructions define so far."""
        return self._values

    def new_value_ref(self, name: str = "") -> str:
        self._values += 1
        return f"%{name}.{self._values}" if name else f"%t{self._values}"

    def __str__(self) -> str:
        ret = self.ftype.return_type.text
        if self.is_declaration:
            params = [a.text for a in self.ftype.args] + (["..."] if self.ftype.var_arg else [])
            return f"declare {ret} {self.ref}({', '.join(params)})\n"
        params = ", ".join(a.typed for a in self.args)
        linkage = f"{self.linkage} " if self.linkage else ""
        attributes = "".join(f" {a}" for a in sorted(self.attributes))
        return f"define {linkage}{ret} {self.ref}({params}){attributes}\n{{\n{self.blocks_text()}}}\n"


class Module:
    def __init__(self, name: str = "") -> None:
        self.name = name
        self.triple = ""
        self.globals: dict[str, GlobalValue] = {}

    def add_global(self, value: GlobalValue) -> None:
        if value.name in self.globals:
            raise NameError(f"duplicate global {value.name!r} in module {self.name!r}")
        self.globals[value.name] = value

    def get_global(self, name: str) -> GlobalValue:
        return self.globals[name]

    def __str__(self) -> str:
        head = f'; ModuleID = "{self.name}"\ntarget triple = "{self.triple}"\n\n'
        return head + "\n".join(str(g) for g in self.globals.values()) + BRANCH_WEIGHTS


# The metadata `IRBuilder.cbranch` names: a branch taken 2000 times to 1, or 1 to 2000.
LIKELY, UNLIKELY = 0, 1
BRANCH_WEIGHTS = (f'\n!{LIKELY} = !{{!"branch_weights", i32 2000, i32 1}}\n'
                  f'!{UNLIKELY} = !{{!"branch_weights", i32 1, i32 2000}}\n')


# --- instructions that are completed after they are made ---------------------------------------
class Phi(Value):
    __slots__ = ("incoming",)

    def __init__(self, type_: Type, ref: str) -> None:
        super().__init__(type_, ref)
        self.incoming: list[tuple[Value, Block]] = []

    def add_incoming(self, value: Value, block: Block) -> None:
        self.incoming.append((value, block))

    def __str__(self) -> str:
        pairs = ", ".join(f"[{v.ref}, {b.ref}]" for v, b in self.incoming)
        return f"{self.ref} = phi {self.type.text} {pairs}"


ICMP_PREDICATES = {"==": "eq", "!=": "ne"}
SIGNED = {"<": "slt", "<=": "sle", ">": "sgt", ">=": "sge"}
SIGNED_FOLDS: dict[str, Callable[[int, int], bool]] = {
    "==": operator.eq, "!=": operator.ne, "<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}
UNSIGNED = {"<": "ult", "<=": "ule", ">": "ugt", ">=": "uge"}
FCMP_ORDERED = {"<": "olt", "<=": "ole", "==": "oeq", "!=": "one", ">": "ogt", ">=": "oge", "ord": "ord",
                "uno": "uno"}
FCMP_UNORDERED = {"<": "ult", "<=": "ule", "==": "ueq", "!=": "une", ">": "ugt", ">=": "uge", "ord": "ord",
                  "uno": "uno"}


class IRBuilder:
    """Appends instructions to a block (or, after `position_at_start`,
    inserts them at its beginning, in order).  Like LLVM's own IRBuilder,
    it folds the integer arithmetic, bitwise operations, signed
    comparisons, zero extensions and selects whose operands are constants:
    the fast instruction selector would compute them at run time."""

    def __init__(self, block: Block | None = None) -> None:
        self.block: Block = block  # type: ignore[assignment]
        self._at: int | None = None

    @property
    def function(self) -> Function:
        return self.block.function

    @property
    def module(self) -> Module:
        return self.block.function.module

    def append_basic_block(self, name: str = "") -> Block:
        return self.block.function.append_basic_block(name)

    def position_at_end(self, block: Block) -> None:
        self.block, self._at = block, None

    def position_at_start(self, block: Block) -> None:
        self.block, self._at = block, 0

    def split_after_phis(self, block: Block, name: str) -> Block:
        """A new block holding the instructions of the finished `block` that
        follow its phis, taken out of it; the builder at the end of
        `block`, to end it anew."""
        phis = next((i for i, line in enumerate(block.lines) if not isinstance(line, Phi)), len(block.lines))
        tail = block.function.append_basic_block(name)
        tail.lines, block.lines = block.lines[phis:], block.lines[:phis]
        self.position_at_end(block)
        return tail

    def _emit(self, line: object) -> None:
        if self._at is None:
            self.block.lines.append(line)
        else:
            self.block.lines.insert(self._at, line)
            self._at += 1

    def _value(self, type_: Type, text: str, name: str = "") -> Value:
        value = Value(type_, self.block.function.new_value_ref(name))
        self._emit(f"{value.ref} = {text}")
        return value

    # terminators
    def branch(self, target: Block) -> None:
        self._emit(f"br label {target.ref}")

    def cbranch(self, cond: Value, then: Block, otherwise: Block, likely: bool | None = None) -> None:
        """`likely`: whether `then` is the usual way (branch weights, which
        code layout and register allocation follow), if known."""
        if isinstance(cond, Negation):
            cond, then, otherwise = cond.negated, otherwise, then
            likely = None if likely is None else not likely
        weights = "" if likely is None else f", !prof !{LIKELY if likely else UNLIKELY}"
        self._emit(f"br i1 {cond.ref}, label {then.ref}, label {otherwise.ref}{weights}")

    def ret(self, value: Value) -> None:
        self._emit(f"ret {value.typed}")

    def ret_void(self) -> None:
        self._emit("ret void")

    # memory
    def alloca(self, type_: Type, count: int | None = None) -> Value:
        size = f", i32 {count}" if count is not None else ""
        return self._value(type_.as_pointer(), f"alloca {type_.text}{size}")

    def load(self, ptr: Value) -> Value:
        pointee = ptr.type.pointee  # type: ignore[attr-defined]
        return self._value(pointee, f"load {pointee.text}, {ptr.typed}")

    def load_atomic(self, ptr: Value, ordering: str, align: int) -> Value:
        pointee = ptr.type.pointee  # type: ignore[attr-defined]
        return self._value(pointee, f"load atomic {pointee.text}, {ptr.typed} {ordering}, align {align}")

    def store(self, value: Value, ptr: Value) -> None:
        self._emit(f"store {value.typed}, {ptr.typed}")

    def gep(self, ptr: Value, indices: Sequence[Value]) -> Value:
        pointee = ptr.type.pointee  # type: ignore[attr-defined]
        (index,) = indices
        return self._value(ptr.type, f"getelementptr {pointee.text}, {ptr.typed}, {index.typed}")

    # arithmetic and logic
    def _binary(self, op: str, a: Value, b: Value) -> Value:
        return self._value(a.type, f"{op} {a.typed}, {b.ref}")

    def add(self, a: Value, b: Value) -> Value:
        return self._folding("add", a, b, lambda x, y: x + y)

    def sub(self, a: Value, b: Value) -> Value:
        return self._folding("sub", a, b, lambda x, y: x - y)

    def mul(self, a: Value, b: Value) -> Value:
        return self._folding("mul", a, b, lambda x, y: x * y)

    def _folding(self, op: str, a: Value, b: Value, fold: Callable[[int, int], int]) -> Value:
        """A two-operand integer instruction without flags (arithmetic
        wraps), folded when both operands are constants."""
        x, y = _int_constant(a), _int_constant(b)
        if x is not None and y is not None:
            return _int_result(a.type, fold(x, y))
        return self._binary(op, a, b)

    def sdiv(self, a: Value, b: Value) -> Value:
        return self._binary("sdiv", a, b)

    def srem(self, a: Value, b: Value) -> Value:
        return self._binary("srem", a, b)

    def udiv(self, a: Value, b: Value) -> Value:
        return self._binary("udiv", a, b)

    def urem(self, a: Value, b: Value) -> Value:
        return self._binary("urem", a, b)

    def shl(self, a: Value, b: Value) -> Value:
        return self._binary("shl", a, b)

    def lshr(self, a: Value, b: Value) -> Value:
        return self._binary("lshr", a, b)

    def ashr(self, a: Value, b: Value) -> Value:
        x, y = _int_constant(a), _int_constant(b)
        if x is not None and y is not None and 0 <= y < a.type.width:  # type: ignore[attr-defined]
            return _int_result(a.type, x >> y)
        return self._binary("ashr", a, b)

    def and_(self, a: Value, b: Value) -> Value:
        return self._folding("and", a, b, lambda x, y: x & y)

    def or_(self, a: Value, b: Value) -> Value:
        return self._bitwise_or("or", a, b, lambda x, y: x | y)

    def xor(self, a: Value, b: Value) -> Value:
        return self._bitwise_or("xor", a, b, lambda x, y: x ^ y)

    def _bitwise_or(self, op: str, a: Value, b: Value, fold: Callable[[int, int], int]) -> Value:
        """`or` or `xor`: the other operand when one is zero."""
        if _int_constant(b) == 0:
            return a
        if _int_constant(a) == 0:
            return b
        return self._folding(op, a, b, fold)

    def fadd(self, a: Value, b: Value) -> Value:
        return self._binary("fadd", a, b)

    def fsub(self, a: Value, b: Value) -> Value:
        return self._binary("fsub", a, b)

    def fmul(self, a: Value, b: Value) -> Value:
        return self._binary("fmul", a, b)

    def fdiv(self, a: Value, b: Value) -> Value:
        return self._binary("fdiv", a, b)

    def frem(self, a: Value, b: Value) -> Value:
        return self._binary("frem", a, b)

    def neg(self, a: Value) -> Value:
        return self._value(a.type, f"sub {a.type.text} 0, {a.ref}")

    def fneg(self, a: Value) -> Value:
        return self._value(a.type, f"fneg {a.typed}")

    def not_(self, a: Value) -> Value:
        x = _int_constant(a)
        if x is not None:
            return _int_result(a.type, ~x)
        if a.type != I1:
            return self._value(a.type, f"xor {a.typed}, -1")
        negation = Negation(a.type, self.block.function.new_value_ref(), a)
        self._emit(f"{negation.ref} = xor {a.typed}, -1")
        return negation

    def icmp_signed(self, op: str, a: Value, b: Value) -> Value:
        x, y = _int_constant(a), _int_constant(b)
        if x is not None and y is not None and op in SIGNED_FOLDS:
            return Constant(I1, SIGNED_FOLDS[op](x, y))
        return self._value(I1, f"icmp {ICMP_PREDICATES.get(op) or SIGNED[op]} {a.typed}, {b.ref}")

    def icmp_unsigned(self, op: str, a: Value, b: Value) -> Value:
        return self._value(I1, f"icmp {ICMP_PREDICATES.get(op) or UNSIGNED[op]} {a.typed}, {b.ref}")

    def fcmp_ordered(self, op: str, a: Value, b: Value) -> Value:
        return self._value(I1, f"fcmp {FCMP_ORDERED[op]} {a.typed}, {b.ref}")

    def fcmp_unordered(self, op: str, a: Value, b: Value) -> Value:
        return self._value(I1, f"fcmp {FCMP_UNORDERED[op]} {a.typed}, {b.ref}")

    def select(self, cond: Value, a: Value, b: Value) -> Value:
        known = _int_constant(cond)
        if known is not None:
            return a if known else b
        return self._value(a.type, f"select {cond.typed}, {a.typed}, {b.typed}")

    # conversions
    def _cast(self, op: str, value: Value, type_: Type) -> Value:
        return self._value(type_, f"{op} {value.typed} to {type_.text}")

    def bitcast(self, value: Value, type_: Type) -> Value:
        """`value` as `type_`: itself when it has that type already."""
        return value if value.type == type_ else self._cast("bitcast", value, type_)

    def inttoptr(self, value: Value, type_: Type) -> Value:
        return self._cast("inttoptr", value, type_)

    def ptrtoint(self, value: Value, type_: Type) -> Value:
        return self._cast("ptrtoint", value, type_)

    def zext(self, value: Value, type_: Type) -> Value:
        x = _int_constant(value)
        if x is not None:
            return Constant(type_, x % (1 << value.type.width))  # type: ignore[attr-defined]
        return self._cast("zext", value, type_)

    def sext(self, value: Value, type_: Type) -> Value:
        return self._cast("sext", value, type_)

    def trunc(self, value: Value, type_: Type) -> Value:
        return self._cast("trunc", value, type_)

    def sitofp(self, value: Value, type_: Type) -> Value:
        return self._cast("sitofp", value, type_)

    def fptosi(self, value: Value, type_: Type) -> Value:
        return self._cast("fptosi", value, type_)

    # aggregates, phis, calls
    def extract_value(self, aggregate: Value, index: int) -> Value:
        element = aggregate.type.elements[index]  # type: ignore[attr-defined]
        return self._value(element, f"extractvalue {aggregate.typed}, {index}")

    def insert_value(self, aggregate: Value, value: Value, index: int) -> Value:
        return self._value(aggregate.type, f"insertvalue {aggregate.typed}, {value.typed}, {index}")

    def phi(self, type_: Type, name: str = "") -> Phi:
        phi = Phi(type_, self.block.function.new_value_ref(name))
        self._emit(phi)
        return phi

    def call(self, callee: Value, args: Iterable[Value], musttail: bool = False) -> Value:
        """callee(*args); `musttail`: a tail call that reuses the caller's
        frame (same signature, its result returned at once)."""
        ftype = callee.ftype if isinstance(callee, Function) else callee.type.pointee  # type: ignore[attr-defined]
        shown = ftype.text if ftype.var_arg else ftype.return_type.text
        text = f"{'musttail ' if musttail else ''}call {shown} {callee.ref}({', '.join(a.typed for a in args)})"
        if isinstance(ftype.return_type, VoidType):
            self._emit(text)
            return Value(ftype.return_type, "")
        return self._value(ftype.return_type, text)


I1 = IntType(1)
