"""One rule per opcode, and the semantics of each operator for each kind.

A rule reads like an entry of CPython's `bytecodes.c`: it pops its inputs,
states its guards, emits the fast path for the kinds it knows and the
generic C-API path otherwise, and pushes its outputs.  Operator semantics
per kind are tables (`INT_BINARY`, `FLOAT_BINARY`, `INLINE_CALLS`), written
once here.  Everything a rule needs from the specializer is `s.emit`,
`s.push`/`s.pop`, `s.jump`/`s.branch` and the exits.
"""

from __future__ import annotations

import builtins
import itertools
import math
import operator
import sys
import types
from collections.abc import Callable
from typing import TYPE_CHECKING

from psyco import inlining, ir, kinds
from psyco.abi import current as abi
from psyco.frontend.py311 import CMP_OPS, NB_OPS, Instruction
from psyco.kinds import BOOL, FLOAT, INT, OBJECT, Const, Kind
from psyco.own_builtins import BUILTINS
from psyco.specializer import (
    AV,
    NEW_VID,
    ReadsTheFrame,
    Specializer,
    State,
    fresh_number,
    split_items,
    split_tuple,
    virtual_ids,
)

__builtins__ = BUILTINS  # psyco calls the builtins it was imported with (see own_builtins)

if TYPE_CHECKING:
    from psyco.runtime.jit import Version

Rule = Callable[[Specializer, Instruction], None]
RULES: dict[str, Rule] = {}

TWO_53 = 2**53


def rule(*names: str) -> Callable[[Rule], Rule]:
    def register(fn: Rule) -> Rule:
        for name in names:
            RULES[name] = fn
        return fn

    return register


# --- numeric categories -------------------------------------------------------
def category(av: AV) -> str | None:
    """"int" or "float" when `av` can take the native numeric fast paths."""
    k = av.kind
    if k is INT or k is BOOL:
        return "int"
    if k is FLOAT:
        return "float"
    if isinstance(k, Const):
        if type(k.value) in (int, bool) and kinds.INT_MIN <= k.value <= kinds.INT_MAX:
            return "int"
        if type(k.value) is float:
            return "float"
    return None


def as_int(s: Specializer, av: AV) -> ir.Value:
    if isinstance(av.kind, Const):
        return s.const(int(av.kind.value))  # type: ignore[call-overload]
    if av.kind == BOOL:
        return s.emit("zext", [av.leaves[0]])  # type: ignore[return-value]
    return av.leaves[0]


def as_float(s: Specializer, av: AV) -> ir.Value:
    if isinstance(av.kind, Const):
        return s.const(float(av.kind.value))  # type: ignore[arg-type]
    if av.kind == FLOAT:
        return av.leaves[0]
    # int -> float rounds to nearest even, as PyLong_AsDouble does
    return s.emit("sitofp", [as_int(s, av)])  # type: ignore[return-value]


def as_bool(s: Specializer, av: AV) -> ir.Value:
    """The truth of `av` as an i1 (may call __bool__)."""
    k = av.kind
    if k == BOOL:
        return av.leaves[0]
    if k == INT:
        return s.emit("icmp", [av.leaves[0], s.const(0)], pred="!=")  # type: ignore[return-value]
    if k == FLOAT:
        return s.emit("fcmp", [av.leaves[0], s.const(0.0)], pred="!=")  # type: ignore[return-value]
    if isinstance(k, (kinds.Tuple, kinds.RangeIter)):
        return s.const(bool(len(k.items)) if isinstance(k, kinds.Tuple) else True)
    if isinstance(k, kinds.RangeKind):
        return _range_nonempty(s, av)
    obj = s.box(av)
    return s.emit("truth", [obj], "error")  # type: ignore[return-value]


def _range_nonempty(s: Specializer, av: AV) -> ir.Value:
    """start < stop for a positive step, start > stop for a negative one (never
    zero), as one comparison: x ^ -1 == ~x reverses the order of ints without
    overflowing, so both sides are flipped when the step's sign bit is set.
    In a loop with a variable step the flipped stop is invariant."""
    start, stop, step = av.leaves
    flip = s.emit("iashr", [step, s.const(63)])
    return s.emit("icmp", [s.emit("xor", [start, flip]), s.emit("xor", [stop, flip])],  # type: ignore[return-value]
                  pred="<")


def static_truth(av: AV) -> bool | None:
    k = av.kind
    if isinstance(k, Const) and type(k.value) in (int, float, bool, str, type(None), tuple):
        return bool(k.value)
    if isinstance(k, kinds.Tuple):
        return bool(k.items)
    return None


def raise_if(s: Specializer, cond: ir.Value, exc: type, message: str) -> None:
    if constant_value(cond) is not False and not _tested_before(s, cond):
        s.emit("raise_if", [cond], "error", exc=exc, message=message)


def _tested_before(s: Specializer, cond: ir.Value) -> bool:
    """Whether an earlier raise_if of the block raises on the same
    comparison of the same values (`-x / d`, `-y / d`: one zero check of
    d): past it, that comparison is false."""
    test = cond.op
    if test is None or test.name not in ("icmp", "fcmp"):
        return False
    assert s.block is not None
    for op in s.block.ops:
        earlier = op.args[0].op if op.name == "raise_if" else None
        if (earlier is not None and earlier.name == test.name and earlier.attrs.get("pred") == test.attrs.get("pred")
                and all(map(_same_value, earlier.args, test.args))):
            return True
    return False


def _same_value(a: ir.Value, b: ir.Value, depth: int = 3) -> bool:
    """The same IR value, native constants of the same value (0.0 and
    -0.0 differ), the same object constant, or results of the same pure
    native op on the same values (`r2 * r` written twice)."""
    if a is b:
        return True
    if a.op is None or b.op is None or a.op.name != b.op.name or depth == 0:
        return False
    if a.op.name == "const_obj":
        return a.op.attrs["value"] is b.op.attrs["value"]
    if a.op.name.startswith("const_"):
        return repr(a.op.attrs["value"]) == repr(b.op.attrs["value"])
    return (ir.on_native_values(a.op) and a.op.attrs == b.op.attrs and len(a.op.args) == len(b.op.args)
            and all(_same_value(x, y, depth - 1) for x, y in zip(a.op.args, b.op.args)))


def guard(s: Specializer, cond: ir.Value, reason: str) -> None:
    if constant_value(cond) is not True:
        s.emit("guard_true", [cond], "deopt", reason=reason)


def constant_value(v: ir.Value) -> int | bool | float | None:
    """The value of an i64, i1 or f64 constant, None for any other value:
    checks on constants (a literal divisor is not zero) are decided here,
    not left to machine code, which without IR passes keeps some."""
    op = v.op
    return op.attrs["value"] if op is not None and op.name in ("const_i64", "const_i1", "const_f64") else None  # type: ignore[return-value]


def _finite(s: Specializer, x: ir.Value) -> ir.Value:
    """Whether the double x is neither infinite nor nan."""
    return s.emit("fclass", [x], test="finite")  # type: ignore[return-value]


def _infinite(s: Specializer, x: ir.Value) -> ir.Value:
    """Whether the double x is +inf or -inf."""
    return s.emit("fclass", [x], test="infinite")  # type: ignore[return-value]


def push_int(s: Specializer, v: ir.Value | None) -> None:
    s.push(AV(INT, (v,)))  # type: ignore[arg-type]


def push_float(s: Specializer, v: ir.Value | None) -> None:
    s.push(AV(FLOAT, (v,)))  # type: ignore[arg-type]


def push_bool(s: Specializer, v: ir.Value | None) -> None:
    s.push(AV(BOOL, (v,)))  # type: ignore[arg-type]


# --- binary operators ------------------------------------------------------------
def _compare(s: Specializer, opname: str, a: ir.Value, pred: str, b: ir.Value) -> ir.Value:
    """`icmp` or `fcmp` of a and b, decided here when both are constants."""
    known_a, known_b = constant_value(a), constant_value(b)
    if known_a is not None and known_b is not None:
        return s.const(PY_COMPARE[pred](known_a, known_b))
    return s.emit(opname, [a, b], pred=pred)  # type: ignore[return-value]


def _icmp(s: Specializer, a: ir.Value, pred: str, b: int | ir.Value) -> ir.Value:
    return _compare(s, "icmp", a, pred, s.const(b) if isinstance(b, int) else b)


def _int_floordiv(s: Specializer, x: ir.Value, y: ir.Value) -> ir.Value:
    raise_if(s, _icmp(s, y, "==", 0), ZeroDivisionError, "integer division or modulo by zero")
    if constant_value(y) in (None, -1):  # only INT_MIN // -1 overflows
        overflow = s.emit("and", [_icmp(s, x, "==", kinds.INT_MIN), _icmp(s, y, "==", -1)])
        guard(s, s.emit("not", [overflow]), "overflow")  # type: ignore[list-item]
    return s.emit("ifloordiv", [x, y])  # type: ignore[return-value]


def _int_mod(s: Specializer, x: ir.Value, y: ir.Value) -> ir.Value:
    raise_if(s, _icmp(s, y, "==", 0), ZeroDivisionError, "integer modulo by zero")
    return s.emit("imod", [x, y])  # type: ignore[return-value]


def _int_truediv(s: Specializer, x: ir.Value, y: ir.Value) -> ir.Value:
    raise_if(s, _icmp(s, y, "==", 0), ZeroDivisionError, "division by zero")
    # Below 2**53 both convert exactly and one IEEE division rounds correctly,
    # as CPython's long_true_divide does.
    for v in (x, y):
        guard(s, _exact_in_double(s, v), "int too large for exact true division")
    return s.emit("fdiv", [s.emit("sitofp", [x]), s.emit("sitofp", [y])])  # type: ignore[return-value, list-item]


def _double_holds(value: int) -> bool:
    """Whether the int constant `value` converts to a double exactly."""
    return -TWO_53 <= value <= TWO_53 or (abs(value) < 2**1024 and int(float(value)) == value)


def _exact_in_double(s: Specializer, v: ir.Value) -> ir.Value:
    """Whether the int v converts to a double exactly: |v| <= 2**53."""
    known = constant_value(v)
    if known is not None:
        return s.const(-TWO_53 <= known <= TWO_53)
    return s.emit("and", [_icmp(s, v, "<=", TWO_53), _icmp(s, v, ">=", -TWO_53)])  # type: ignore[return-value]


def _int_lshift(s: Specializer, x: ir.Value, y: ir.Value) -> ir.Value:
    raise_if(s, _icmp(s, y, "<", 0), ValueError, "negative shift count")
    return s.emit("ishl_ovf", [x, y], "deopt", reason="overflow")  # type: ignore[return-value]


def _int_rshift(s: Specializer, x: ir.Value, y: ir.Value) -> ir.Value:
    raise_if(s, _icmp(s, y, "<", 0), ValueError, "negative shift count")
    return s.emit("iashr", [x, y])  # type: ignore[return-value]


def _int_pow_const(s: Specializer, x: ir.Value, n: int) -> ir.Value:
    """x ** n for a constant 0 <= n by repeated squaring, overflow-guarded."""
    result: ir.Value = s.const(1)
    base = x
    while n:
        if n & 1:
            result = s.emit("imul_ovf", [result, base], "deopt", reason="overflow")  # type: ignore[assignment]
        n >>= 1
        if n:
            base = s.emit("imul_ovf", [base, base], "deopt", reason="overflow")  # type: ignore[assignment]
    return result


def _ovf(name: str) -> Callable[[Specializer, ir.Value, ir.Value], ir.Value]:
    def emit(s: Specializer, x: ir.Value, y: ir.Value) -> ir.Value:
        return s.emit(name, [x, y], "deopt", reason="overflow")  # type: ignore[return-value]

    return emit


def _plain(name: str) -> Callable[[Specializer, ir.Value, ir.Value], ir.Value]:
    def emit(s: Specializer, x: ir.Value, y: ir.Value) -> ir.Value:
        return s.emit(name, [x, y])  # type: ignore[return-value]

    return emit


def _float_checked(name: str, message: str) -> Callable[[Specializer, ir.Value, ir.Value], ir.Value]:
    def emit(s: Specializer, x: ir.Value, y: ir.Value) -> ir.Value:
        raise_if(s, _compare(s, "fcmp", y, "==", s.const(0.0)), ZeroDivisionError, message)
        return s.emit(name, [x, y])  # type: ignore[return-value]

    return emit


# operator -> (emitter, result kind)
INT_BINARY = {
    "+": (_ovf("iadd_ovf"), INT), "-": (_ovf("isub_ovf"), INT), "*": (_ovf("imul_ovf"), INT),
    "//": (_int_floordiv, INT), "%": (_int_mod, INT), "/": (_int_truediv, FLOAT),
    "<<": (_int_lshift, INT), ">>": (_int_rshift, INT),
    "&": (_plain("and"), INT), "|": (_plain("or"), INT), "^": (_plain("xor"), INT),
}
FLOAT_BINARY = {
    "+": (_plain("fadd"), FLOAT), "-": (_plain("fsub"), FLOAT), "*": (_plain("fmul"), FLOAT),
    "/": (_float_checked("fdiv", "float division by zero"), FLOAT),
    "//": (_float_checked("ffloordiv", "float floor division by zero"), FLOAT),
    "%": (_float_checked("fmod", "float modulo"), FLOAT),
}
BOOL_BINARY = {"&": "and", "|": "or", "^": "xor"}

PY_BINARY = {
    "+": operator.add, "-": operator.sub, "*": operator.mul, "/": operator.truediv,
    "//": operator.floordiv, "%": operator.mod, "**": operator.pow, "<<": operator.lshift,
    ">>": operator.rshift, "&": operator.and_, "|": operator.or_, "^": operator.xor,
}


def _fold(op: str, a: AV, b: AV) -> AV | None:
    """Both operands known: compute now, if that is cheap and cannot fail."""
    if not (isinstance(a.kind, Const) and isinstance(b.kind, Const)):
        return None
    x, y = a.kind.value, b.kind.value
    if category(a) is None or category(b) is None or op not in PY_BINARY:
        return None
    if op in ("**", "<<") and (type(y) is not int or not 0 <= y <= 64):
        return None
    try:
        value = PY_BINARY[op](x, y)
    except (ArithmeticError, ValueError, TypeError):
        return None  # raised at run time, by the generic path
    return AV(Const(value))


# Operators that between two objects are most often arithmetic (+ and %
# are often string operations: only guessed beside a number).
ARITHMETIC_BETWEEN_OBJECTS = {"-", "*", "/", "//"}


# The guard that unboxes an object to each native kind.
UNBOX = {INT: "unbox_int", FLOAT: "unbox_float", BOOL: "unbox_bool"}


def speculate_numbers(s: Specializer, op: str, a: AV, b: AV) -> tuple[AV, AV]:
    """Objects in arithmetic with numbers (or with each other: items read
    from lists, attributes) are most often numbers: guess float, or int
    beside an int or when their samples are ints, unboxed behind a guard
    (no guess when a sample is not a number).  A guess that keeps failing
    makes the next version use the generic path (and see
    `_guessing_numbers`)."""
    ca, cb = category(a), category(b)
    numeric_or_object = all(category(x) or x.kind == OBJECT for x in (a, b))
    if (ca and cb) or not numeric_or_object or s.generalized("operand kind"):
        return a, b
    objects = [x for x in (a, b) if x.kind == OBJECT]
    samples = [type(x.sample) for x in objects if x.sample is not None]
    if any(t not in (int, float) for t in samples):
        return a, b  # sampled values that are not numbers: no guess
    all_sampled = bool(samples) and len(samples) == len(objects)
    if not (ca or cb) and op not in ARITHMETIC_BETWEEN_OBJECTS and not all_sampled:
        return a, b
    if float in samples:
        ints = False
    else:
        ints = "int" in (ca, cb) or all_sampled
    kind = INT if ints else FLOAT
    if not _guessing_numbers(s, kind):
        return a, b
    want = UNBOX[kind]

    def unboxed(x: AV) -> AV:
        if category(x):
            return x
        number = AV(kind, (s.emit(want, [x.leaves[0]], "deopt", reason="operand kind"),))  # type: ignore[arg-type]
        s.substitute(x, number)  # a local holding it is that number too
        return number
    return unboxed(a), unboxed(b)


def binary(s: Specializer, op: str, a: AV, b: AV, inplace: bool = False) -> None:
    """Push a `op` b; `op` is the operator symbol without '='.  `inplace`:
    of a `op`= b on numbers (the same result; a TypeError names `op`=)."""
    if op in FLOAT_BINARY or op in INT_BINARY:
        a, b = speculate_numbers(s, op, a, b)
    folded = _fold(op, a, b)
    if folded is not None and category(folded) is not None:
        s.push(folded)
        return
    ca, cb = category(a), category(b)
    if ca == "int" and cb == "int" and not s.generalized("overflow"):
        if _is_bool(a) and _is_bool(b) and op in BOOL_BINARY:  # True ^ flag is a bool too
            bits = [s.const(x.kind.value) if isinstance(x.kind, Const) else x.leaves[0] for x in (a, b)]
            push_bool(s, s.emit(BOOL_BINARY[op], bits))
            return
        if op == "**" and isinstance(b.kind, Const) and 0 <= b.kind.value <= 64:  # type: ignore[operator]
            push_int(s, _int_pow_const(s, as_int(s, a), b.kind.value))  # type: ignore[arg-type]
            return
        if op in INT_BINARY and not (op == "/" and s.generalized("int too large for exact true division")):
            emit, kind = INT_BINARY[op]
            s.push(AV(kind, (emit(s, as_int(s, a), as_int(s, b)),)))
            return
    if ca and cb and "float" in (ca, cb) and op in FLOAT_BINARY:
        emit, kind = FLOAT_BINARY[op]
        push_float(s, emit(s, as_float(s, a), as_float(s, b)))
        return
    if ca and cb and op == "**" and "float" in (ca, cb) and isinstance(b.kind, Const) and b.kind.value == 2 \
            and not s.generalized("overflow"):
        x = as_float(s, a)
        square = s.emit("fmul", [x, x])
        # Where x * x overflows to inf, pow() sets ERANGE and the interpreter
        # raises OverflowError (errno, strerror): it does so after the exit.
        overflowed = s.emit("and", [_infinite(s, square), _finite(s, x)])
        guard(s, s.emit("not", [overflowed]), "overflow")  # type: ignore[list-item]
        push_float(s, square)
        return
    if ca and cb and op == "**" and "float" in (ca, cb) and not s.generalized("float power"):
        push_float(s, _float_pow(s, as_float(s, a), as_float(s, b)))
        return
    result = generic_binary(s, op, a, b, inplace)
    # Numeric ** is float or int depending on values: speculate on the
    # operands' category and fall back to the interpreter when wrong.
    if ca and cb and op == "**" and not s.generalized("result kind"):
        negative = isinstance(b.kind, Const) and b.kind.value < 0  # type: ignore[operator]
        kind = FLOAT if "float" in (ca, cb) or negative else INT
        s.push(AV(kind, (s.emit(UNBOX[kind], [result], "deopt_after", reason="result kind"),)))  # type: ignore[arg-type]
        return
    push_object(s, result, _sequence_result(op, a, b))


def _float_pow(s: Specializer, x: ir.Value, y: ir.Value) -> ir.Value:
    """x ** y where CPython's float_pow comes down to pow(x, y): a positive
    finite base, a finite exponent and a result that is zero, normal or
    finite (pow's errno then says nothing float_pow would raise about).
    Zero and negative bases (ZeroDivisionError, complex results), inf, nan,
    overflow and subnormal results leave for the interpreter, which
    computes them as float_pow does."""
    operands_ok = s.emit("and", [s.emit("fcmp", [x, s.const(0.0)], pred=">"),
                                 s.emit("and", [_finite(s, x), _finite(s, y)])])
    guard(s, operands_ok, "float power")  # type: ignore[arg-type]
    result = s.emit("math", [x, y], name="pow")
    magnitude = s.emit("fabs", [result])
    normal = s.emit("and", [s.emit("fcmp", [magnitude, s.const(sys.float_info.min)], pred=">="),
                            _finite(s, result)])
    zero = s.emit("fcmp", [magnitude, s.const(0.0)], pred="==")
    guard(s, s.emit("or", [normal, zero]), "float power")  # type: ignore[arg-type]
    return result  # type: ignore[return-value]


# Sequence operators between exact builtin types: the result's exact type.
SEQUENCE_RESULTS = {
    ("+", str, str): str, ("+", list, list): list, ("+", tuple, tuple): tuple, ("+", bytes, bytes): bytes,
    ("*", str, int): str, ("*", list, int): list, ("*", tuple, int): tuple, ("*", bytes, int): bytes,
    ("*", int, str): str, ("*", int, list): list, ("*", int, tuple): tuple, ("*", int, bytes): bytes,
}


def _exact_type(av: AV) -> type | None:
    if isinstance(av.kind, kinds.ObjectKind):
        return av.kind.cls
    if isinstance(av.kind, Const):
        return type(av.kind.value)
    if isinstance(av.kind, kinds.SliceKind):
        return slice
    return {INT: int, FLOAT: float, BOOL: bool}.get(av.kind)


def _sequence_result(op: str, a: AV, b: AV) -> type | None:
    return SEQUENCE_RESULTS.get((op, _exact_type(a), _exact_type(b)))


def generic_binary(s: Specializer, op: str, a: AV, b: AV, inplace: bool = False) -> ir.Value:
    x, y = s.box(a), s.box(b)
    if op == "**":
        none = s.const(None)
        name = "PyNumber_InPlacePower" if inplace else "PyNumber_Power"
        return s.emit("c_call", [x, y, none], "error", name=name, type="obj", owns=True)  # type: ignore[return-value]
    name = abi.NUMBER_BINARY[op + "=" if inplace else op]
    return s.emit("c_call", [x, y], "error", name=name, type="obj", owns=True)  # type: ignore[return-value]


@rule("BINARY_OP")
def binary_op(s: Specializer, ins: Instruction) -> None:
    symbol = NB_OPS[ins.arg]  # type: ignore[index]
    b, a = s.pop(), s.pop()
    inplace = symbol.endswith("=")
    op = symbol.rstrip("=")
    if inplace and (op in FLOAT_BINARY or op in INT_BINARY):
        a, b = speculate_numbers(s, op, a, b)  # numbers are immutable: += is +
    if inplace and (category(a) is None or category(b) is None):
        push_object(s, generic_binary(s, op, a, b, inplace=True), _sequence_result(op, a, b))
        return
    binary(s, op, a, b, inplace)


# --- comparisons -------------------------------------------------------------------
PY_COMPARE = {
    "<": operator.lt, "<=": operator.le, "==": operator.eq,
    "!=": operator.ne, ">": operator.gt, ">=": operator.ge,
}


@rule("COMPARE_OP")
def compare_op(s: Specializer, ins: Instruction) -> None:
    pred = CMP_OPS[ins.arg]  # type: ignore[index]
    b, a = s.pop(), s.pop()
    if pred not in ("==", "!="):  # objects ordered against numbers are most often numbers
        a, b = speculate_numbers(s, pred, a, b)
    ca, cb = category(a), category(b)
    if isinstance(a.kind, Const) and isinstance(b.kind, Const) and ca and cb:
        s.push(AV(Const(PY_COMPARE[pred](a.kind.value, b.kind.value))))
    elif ca == "int" and cb == "int":
        push_bool(s, s.emit("icmp", [as_int(s, a), as_int(s, b)], pred=pred))
    elif ca and cb and not s.generalized("int too large to compare exactly") and all(
            _double_holds(av.kind.value) for av, cat in ((a, ca), (b, cb))
            if cat == "int" and isinstance(av.kind, Const)):
        # int vs float compares exactly in Python: convert only ints that
        # a double holds exactly (a constant is known now; another is guarded).
        for av, cat in ((a, ca), (b, cb)):
            if cat == "int" and not isinstance(av.kind, Const):
                guard(s, _exact_in_double(s, as_int(s, av)), "int too large to compare exactly")
        push_bool(s, s.emit("fcmp", [as_float(s, a), as_float(s, b)], pred=pred))
    elif pred in ("==", "!=") and _exact_type(a) is str and _exact_type(b) is str:
        equal = s.emit("str_eq", [s.box(a), s.box(b)], "error")
        push_bool(s, equal if pred == "==" else s.emit("not", [equal]))  # type: ignore[list-item]
    else:
        x, y = s.box(a), s.box(b)
        op = abi.RICH_COMPARE[pred]
        result = s.emit("c_call", [x, y, s.const(op)], "error", name="PyObject_RichCompare", type="obj", owns=True)
        s.push(AV(OBJECT, (result,)))  # type: ignore[arg-type]


@rule("IS_OP")
def is_op(s: Specializer, ins: Instruction) -> None:
    b, a = s.pop(), s.pop()
    negate = bool(ins.arg)
    ka, kb = a.kind, b.kind
    if isinstance(ka, Const) and isinstance(kb, Const) and (ka.value is None or kb.value is None):
        s.push(AV(Const((ka.value is kb.value) != negate)))
        return
    numeric = category(a) and not isinstance(ka, Const)
    if numeric and _is_none(b):
        s.push(AV(Const(negate)))  # a number is never None
        return
    if a is b or (numeric and a.kind == b.kind and a.leaves == b.leaves):
        s.push(AV(Const(not negate)))  # one value (virtual or unboxed) in two places: one object in CPython
        return
    x, y = s.box(a), s.box(b)
    same = s.emit("icmp", [x, y], pred="!=" if negate else "==")
    push_bool(s, same)


# `in` on exact containers whose sq_contains is a C-API function, called
# without the indirection through the type.  Not PySet_Contains: a set's
# sq_contains also looks a set up as a frozenset.
CONTAINS_OF_EXACT = {dict: "PyDict_Contains"}


@rule("CONTAINS_OP")
def contains_op(s: Specializer, ins: Instruction) -> None:
    container, item = s.pop(), s.pop()
    # In a set or dict the C work is the interpreter's too: it weighs
    # nothing either way when judging whether compiling pays.
    exact = _exact_type(container)
    neutral = {"generic": 0} if exact in (set, frozenset, dict) else {}
    found = s.emit("c_call", [s.box(container), s.box(item)], "error", type="i32",
                   name=CONTAINS_OF_EXACT.get(exact, "PySequence_Contains"), **neutral)  # type: ignore[arg-type]
    truth = s.emit("icmp", [found, s.const(0)], pred="==" if ins.arg else "!=")  # type: ignore[list-item]
    push_bool(s, truth)


# --- unary operators -----------------------------------------------------------------
@rule("UNARY_NEGATIVE")
def unary_negative(s: Specializer, ins: Instruction) -> None:
    a = s.pop()
    cat = category(a)
    if isinstance(a.kind, Const) and cat:
        s.push(AV(Const(-a.kind.value)))  # -(-2**63) is an int object: a constant of no native kind
    elif cat == "int" and not s.generalized("overflow"):
        push_int(s, s.emit("isub_ovf", [s.const(0), as_int(s, a)], "deopt", reason="overflow"))
    elif cat == "float":
        push_float(s, s.emit("fneg", [a.leaves[0]]))
    else:
        s.push(AV(OBJECT, (s.emit("c_call", [s.box(a)], "error", name="PyNumber_Negative", type="obj", owns=True),)))


@rule("UNARY_POSITIVE")
def unary_positive(s: Specializer, ins: Instruction) -> None:
    a = s.pop()
    cat = category(a)
    if cat == "int":
        s.push(AV(Const(+a.kind.value)) if isinstance(a.kind, Const) else AV(INT, (as_int(s, a),)))
    elif cat == "float":
        s.push(a)
    else:
        s.push(AV(OBJECT, (s.emit("c_call", [s.box(a)], "error", name="PyNumber_Positive", type="obj", owns=True),)))


@rule("UNARY_INVERT")
def unary_invert(s: Specializer, ins: Instruction) -> None:
    a = s.pop()
    if category(a) == "int":
        push_int(s, s.emit("xor", [as_int(s, a), s.const(-1)]))
    else:
        s.push(AV(OBJECT, (s.emit("c_call", [s.box(a)], "error", name="PyNumber_Invert", type="obj", owns=True),)))


@rule("UNARY_NOT")
def unary_not(s: Specializer, ins: Instruction) -> None:
    a = s.pop()
    known = static_truth(a)
    if known is not None:
        s.push(AV(Const(not known)))
    else:
        push_bool(s, s.emit("not", [as_bool(s, a)]))


# --- locals, constants, stack ---------------------------------------------------------
@rule("NOP", "PRECALL", "CACHE", "EXTENDED_ARG")
def nop(s: Specializer, ins: Instruction) -> None:
    pass


@rule("RESUME")
def resume(s: Specializer, ins: Instruction) -> None:
    # Entered with sys.settrace or sys.setprofile on (a direct call from
    # compiled code): the interpreter runs the call and reports it.
    s.emit("guard_not_tracing", [], "deopt", reason="tracing")
    if ins.arg == 0 and not isinstance(s, inlining.InlinedBody):
        # The interpreter looks at the eval breaker as a function starts: a
        # recursion through direct calls, which passes no loop and no
        # interpreted frame, stays interruptible (Ctrl-C, a timeout's signal).
        s.emit("check_signals", [], "error", entry=True)


@rule("LOAD_FAST")
def load_fast(s: Specializer, ins: Instruction) -> None:
    value = s.state.locals[ins.arg]  # type: ignore[index]
    if value.kind is kinds.UNBOUND:
        s.deopt_here("unbound local")  # the interpreter raises UnboundLocalError
        return
    s.push(value)


@rule("STORE_FAST")
def store_fast(s: Specializer, ins: Instruction) -> None:
    # `t.m((x := v), ...)`: a handler of the lookup's error sees x unbound
    s.force_methods()
    value = s.pop()
    s.keep_variables([s.state.locals[ins.arg]])  # type: ignore[index]
    s.state.locals[ins.arg] = value  # type: ignore[index]


@rule("DELETE_FAST")
def delete_fast(s: Specializer, ins: Instruction) -> None:
    if s.state.locals[ins.arg].kind == kinds.UNBOUND:  # type: ignore[index]
        s.deopt_here("unbound local")
        return
    s.keep_variables([s.state.locals[ins.arg]])  # type: ignore[index]
    s.state.locals[ins.arg] = AV(kinds.UNBOUND)  # type: ignore[index]


# --- cells: variables shared with nested functions -------------------------
UNBOUND = "where it is not associated with a value"  # the interpreter's messages
@rule("MAKE_CELL")
def make_cell(s: Specializer, ins: Instruction) -> None:
    value = s.state.locals[ins.arg]  # type: ignore[index]
    content = [] if value.kind == kinds.UNBOUND else [s.box(value)]
    cell = s.emit("make_cell", content, "error", slot=ins.arg)
    s.state.locals[ins.arg] = AV(kinds.ObjectKind(types.CellType), (cell,))  # type: ignore[index,arg-type]


@rule("COPY_FREE_VARS")
def copy_free_vars(s: Specializer, ins: Instruction) -> None:
    first = len(s.state.locals) - ins.arg  # type: ignore[operator]
    s.state.locals[first:] = s.free_cells


@rule("LOAD_CLOSURE")
def load_closure(s: Specializer, ins: Instruction) -> None:
    s.push(s.state.locals[ins.arg])  # type: ignore[index]


@rule("LOAD_DEREF")
def load_deref(s: Specializer, ins: Instruction) -> None:
    """The cell's content; empty, the interpreter's error for a local of
    this function or a free variable."""
    cell = s.state.locals[ins.arg].leaves[0]  # type: ignore[index]
    if ins.arg < len(s.state.locals) - len(s.code.co_freevars):  # type: ignore[operator]
        exc, message = UnboundLocalError, f"cannot access local variable '{ins.argval}' {UNBOUND}"
    else:
        exc, message = NameError, f"cannot access free variable '{ins.argval}' {UNBOUND} in enclosing scope"
    push_object(s, s.emit("cell_get", [cell], "error", exc=exc, message=message, name=ins.argval))  # type: ignore[arg-type]


@rule("DELETE_DEREF")
def delete_deref(s: Specializer, ins: Instruction) -> None:
    load_deref(s, ins)  # the interpreter's error when the cell is empty
    s.pop()
    s.emit("cell_set", [s.state.locals[ins.arg].leaves[0]])  # type: ignore[index]


@rule("STORE_DEREF")
def store_deref(s: Specializer, ins: Instruction) -> None:
    s.force_methods()  # as store_fast
    cell = s.state.locals[ins.arg].leaves[0]  # type: ignore[index]
    s.emit("cell_set", [cell, s.box(s.pop())])


@rule("LOAD_CONST")
def load_const(s: Specializer, ins: Instruction) -> None:
    s.push(AV(Const(ins.argval)))


@rule("POP_TOP")
def pop_top(s: Specializer, ins: Instruction) -> None:
    s.pop()


@rule("PUSH_NULL")
def push_null(s: Specializer, ins: Instruction) -> None:
    s.push(AV(kinds.NULL))


@rule("SWAP")
def swap(s: Specializer, ins: Instruction) -> None:
    st = s.state.stack
    st[-1], st[-ins.arg] = st[-ins.arg], st[-1]  # type: ignore[operator]


@rule("COPY")
def copy(s: Specializer, ins: Instruction) -> None:
    s.push(s.state.stack[-ins.arg])  # type: ignore[operator]


@rule("BUILD_TUPLE")
def build_tuple(s: Specializer, ins: Instruction) -> None:
    items = s.popn(ins.arg)  # type: ignore[arg-type]
    s.push(AV(kinds.Tuple(tuple(a.kind for a in items), next(NEW_VID)), tuple(v for a in items for v in a.leaves)))


@rule("UNPACK_SEQUENCE")
def unpack_sequence(s: Specializer, ins: Instruction) -> None:
    seq = s.pop()
    if isinstance(seq.kind, kinds.Tuple) and len(seq.kind.items) == ins.arg:
        for item in reversed(split_tuple(seq)):
            s.push(item)
    elif isinstance(seq.kind, Const) and type(seq.kind.value) is tuple and len(seq.kind.value) == ins.arg:
        for item in reversed(seq.kind.value):
            s.push(AV(Const(item)))
    elif _exact_type(seq) is list:
        items = s.box(seq)  # (a constant: a global list)
        size = capi(s, "PyObject_Size", [items], "i64")
        guard(s, _icmp(s, size, "==", ins.arg), "unpacking a list of another size")  # type: ignore[arg-type]
        for i in reversed(range(ins.arg)):  # type: ignore[arg-type]
            s.push(AV(OBJECT, (s.emit("getitem_int", [items, s.const(i)], "error", cls=list, generic=0),)))  # type: ignore[arg-type]
    elif seq.kind.is_object():
        t = seq.leaves[0]
        s.emit("guard_unpackable", [t], "deopt", size=ins.arg, reason="unpacking another iterable")
        for i in reversed(range(ins.arg)):  # type: ignore[arg-type]
            s.push(AV(OBJECT, (s.emit("unpacked_item", [t], index=i),)))  # type: ignore[arg-type]
    else:
        s.state = s.before
        s.deopt_here("unpacking another iterable")


@rule("UNPACK_EX")
def unpack_ex(s: Specializer, ins: Instruction) -> None:
    """`a, *rest, z = seq` for a list or a tuple (other iterables and too
    short sequences: the interpreter, with its error messages)."""
    before, after = ins.arg & 0xFF, ins.arg >> 8  # type: ignore[operator]
    seq = s.state.stack[-1]
    cls = _exact_type(seq)
    if cls not in (list, tuple):
        s.deopt_here("unpacking a star target of another type")
        return
    s.pop()
    container = s.box(seq)  # a constant tuple has no leaves
    size = capi(s, "PyObject_Size", [container], "i64")
    guard(s, _icmp(s, size, ">=", before + after), "unpacking too few values")
    head = [s.emit("getitem_int", [container, s.const(i)], "error", cls=cls, generic=0) for i in range(before)]
    tail = [s.emit("getitem_int", [container, s.emit("isub", [size, s.const(after - j)])], "error", cls=cls, generic=0)
            for j in range(after)]
    end = s.emit("isub", [size, s.const(after)])
    middle = capi(s, "PySequence_GetSlice", [container, s.const(before), end])  # type: ignore[list-item]
    rest = middle if cls is list else capi(s, "PySequence_List", [middle])
    for item in reversed(head + [rest] + tail):
        s.push(AV(kinds.ObjectKind(list) if item is rest else OBJECT, (item,)))  # type: ignore[arg-type]


@rule("RETURN_VALUE")
def return_value(s: Specializer, ins: Instruction) -> None:
    s.ret(s.pop())


# --- globals and attributes -------------------------------------------------------------
def _lookup_global(s: Specializer, name: str) -> tuple[bool, object]:
    globals_ = s.globals
    if name in globals_:
        return True, globals_[name]
    builtins = s.builtins
    if name in builtins:
        return True, builtins[name]
    return False, None


@rule("LOAD_GLOBAL")
def load_global(s: Specializer, ins: Instruction) -> None:
    name = ins.argval if isinstance(ins.argval, str) else s.code.co_names[ins.arg >> 1]  # type: ignore[operator]
    if ins.arg & 1:  # type: ignore[operator]
        s.push(AV(kinds.NULL))
    found, value = _lookup_global(s, name)
    globals_, builtins = s.globals, s.builtins
    if not found and not s.generalized("undefined global"):
        s.state = s.before
        s.deopt_here("undefined global")  # the interpreter raises NameError
        return
    s.keepalive.extend((name, globals_, builtins))
    if not found or s.generalized("global rebound"):
        v = s.emit("load_global", [], "error", name=name, globals=globals_, builtins=builtins)
        s.push(AV(OBJECT, (v,)))  # type: ignore[arg-type]
        return
    guard_binding(s, name, value, globals_, builtins)
    s.push(AV(Const(value)))


def guard_binding(s: Specializer, name: str, value: object, namespace: dict, builtins: dict | None) -> None:
    """Guard that `name` is still bound to `value` in `namespace` (else in
    `builtins`, if given).  Several in a row on one namespace become one
    (`ir.merge_namespace_guards`)."""
    s.keepalive.extend((name, value, namespace, builtins))
    s.emit("guard_global", [], "deopt", names=(name,), values=[value], globals=namespace, builtins=builtins,
           reason="global rebound")


@rule("IMPORT_NAME")
def import_name(s: Specializer, ins: Instruction) -> None:
    """`import name` as the interpreter does it when builtins' __import__
    is the original: PyImport_ImportModuleLevelObject (a replaced
    __import__, or a global of that name, is left to the interpreter)."""
    fromlist, level = s.pop(), s.pop()
    original = builtins.__import__
    found, value = _lookup_global(s, "__import__")
    if not (found and value is original and "__import__" not in s.globals) or not isinstance(level.kind, Const):
        s.deopt_here("import with a replaced __import__")
        return
    s.keepalive.append(ins.argval)
    guard_binding(s, "__import__", original, s.globals, s.builtins)
    args = [s.const(ins.argval), s.const(s.globals), s.const(None), s.box(fromlist), s.const(level.kind.value)]
    push_object(s, capi(s, "PyImport_ImportModuleLevelObject", args))


@rule("IMPORT_FROM")
def import_from(s: Specializer, ins: Instruction) -> None:
    """`from module import name`: the attribute; when it is missing the
    interpreter takes over (it looks in sys.modules, then makes its
    ImportError)."""
    module = s.state.stack[-1]
    s.keepalive.append(ins.argval)
    value = s.emit("lookup_attr", [s.box(module)], "error", name=ins.argval)
    s.emit("guard_true", [s.emit("not", [s.emit("is_null", [value])])], "deopt", reason="import from")  # type: ignore[list-item]
    push_object(s, value)  # type: ignore[arg-type]


@rule("DELETE_GLOBAL")
def delete_global(s: Specializer, ins: Instruction) -> None:
    """`del name` of a global that exists (else the interpreter's NameError)."""
    s.keepalive.append(ins.argval)
    globals_, name = s.const(s.globals), s.const(ins.argval)
    present = capi(s, "PyDict_Contains", [globals_, name], "i32")
    guard(s, s.emit("icmp", [present, s.const(0)], pred="!="), "undefined global")  # type: ignore[arg-type]
    capi(s, "PyDict_DelItem", [globals_, name], "i32")


@rule("LOAD_BUILD_CLASS")
def load_build_class(s: Specializer, ins: Instruction) -> None:
    """builtins.__build_class__, guarded like a global (a global of that
    name, or none in builtins: the interpreter)."""
    found = "__build_class__" in s.builtins and "__build_class__" not in s.globals
    if not found:
        s.deopt_here("__build_class__ replaced")
        return
    value = s.builtins["__build_class__"]
    guard_binding(s, "__build_class__", value, s.globals, s.builtins)
    s.push(AV(Const(value)))


@rule("STORE_GLOBAL")
def store_global(s: Specializer, ins: Instruction) -> None:
    value = s.box(s.pop())
    s.keepalive.append(ins.argval)
    args = [s.const(s.globals), s.const(ins.argval), value]
    s.emit("c_call", args, "error", name="PyDict_SetItem", type="i32")


def _module_attribute(s: Specializer, owner: AV, name: str) -> AV | None:
    """`module.name` as a guarded constant (math.pi, math.sqrt)."""
    if not (isinstance(owner.kind, Const) and type(owner.kind.value).__name__ == "module"):
        return None
    namespace = owner.kind.value.__dict__
    if name not in namespace or s.generalized("global rebound"):
        return None
    module_class = type(owner.kind.value)
    tag = abi.version_tag(module_class)
    if not tag:
        return None
    # (`module.__class__ = Lazy`, a subclass whose descriptors take the read,
    # changes the version of the class it was: see native.watch_class_assignments)
    s.guard_class(module_class, tag, "class changed")
    value = namespace[name]
    guard_binding(s, name, value, namespace, None)
    return AV(Const(value))


@rule("LOAD_ATTR")
def load_attr(s: Specializer, ins: Instruction) -> None:
    owner = s.pop()
    if isinstance(owner.kind, kinds.Instance) and _virtual_load(s, owner, ins.argval):  # type: ignore[arg-type]
        return
    kept = s.buffered_stores.value(s, owner, ins.argval) if s.buffered_stores is not None else None  # type: ignore[arg-type]
    if kept is not None:
        s.push(kept)
        return
    attr = _module_attribute(s, owner, ins.argval)  # type: ignore[arg-type]
    if attr is None:
        s.keepalive.append(ins.argval)
        offset = _guarded_place(s, owner, ins.argval, abi.slot_attribute)  # type: ignore[arg-type]
        if offset is not None:
            value = s.emit("load_slot", [s.box(owner)], "error", name=ins.argval, offset=offset)
        else:
            value = s.emit("load_attr", [s.box(owner)], "error", name=ins.argval,
                           **_values_place(s, owner, ins.argval))  # type: ignore[arg-type]
        attr = _guessed_attribute(s, owner, ins.argval, value)  # type: ignore[arg-type]
    s.push(attr)


def _guessed_attribute(s: Specializer, owner: AV, name: str, value: ir.Value) -> AV:
    """`owner.name`, just loaded as `value`, of the type its sample has or
    the number kind compiled code stores there (guarded); of any type if
    that guess kept failing for the owner's known class, here or in
    another version (`Request.unpredictable_attributes`)."""
    cls = _object_class(owner)
    sample = abi.peek_attribute(owner.sample, name) if owner.sample is not None else None
    if cls is not None:
        if name in s.request.unpredictable_attributes.get(cls, ()):
            return AV(OBJECT, (value,), sample)
        s.attribute_guesses[s.ins.index] = (cls, name)  # type: ignore[union-attr]
    hint = _attribute_hint(s, owner, name) if sample is None else None
    if hint is not None:
        return unboxed_guess(s, value, hint, "attribute type")
    return typed_by_sample(s, value, sample, "attribute type")


def _virtual_load(s: Specializer, owner: AV, name: str) -> bool:
    """owner.name of a virtual instance, one of its own attributes: the
    item, its class guarded (a descriptor given to the class since would
    take the read)."""
    k = owner.kind
    assert isinstance(k, kinds.Instance)
    tag = abi.plain_attribute(k.cls, name) if name in k.names else None
    if tag is None:
        return False
    s.guard_class(k.cls, tag, "class changed")
    s.push(split_items(owner)[k.names.index(name)])
    return True


def _values_place(s: Specializer, owner: AV, name: str) -> dict:
    """The attrs of load_attr and store_attr: `index`, the place in the
    values array found when compiling (guarded), else None; and then the
    owner's exact class when known (`cls`, see inlining.py)."""
    index = _guarded_place(s, owner, name, abi.value_attribute)
    cls = _object_class(owner)
    return {"index": index} if index is not None or cls is None else {"index": None, "cls": cls}


def _object_class(av: AV) -> type | None:
    """The exact class of a real object, when known."""
    return av.kind.cls if isinstance(av.kind, kinds.ObjectKind) else None


def _guarded_place(s: Specializer, owner: AV, name: str,
                   find: Callable[[type, str], tuple[int, int] | None]) -> int | None:
    """Where instances of `owner`'s exact class keep attribute `name`, when
    that class is known and `find` (abi.slot_attribute: a __slots__ entry's
    offset; abi.value_attribute: an index in the values array) gives a
    (type version tag, place): guarded, the class may change.  None: the
    attribute ops find it at run time."""
    cls = _object_class(owner)
    found = find(cls, name) if cls is not None and not s.generalized("attribute lookup") else None
    if found is None:
        return None
    tag, place = found
    s.guard_class(cls, tag, "attribute lookup")
    return place


# Types a sample may suggest for a value (checked by a guard): builtin
# containers and the program's own classes.
SAMPLED_TYPES = (list, dict, tuple, str, set)


NUMBER_KINDS = {int: INT, float: FLOAT}


def _suggested_type(sample: object) -> type | None:
    cls = type(sample)
    return cls if cls in SAMPLED_TYPES or (cls.__flags__ & abi.HEAPTYPE and type(cls) is type) else None


NUMBER_GUESSES = ("operand kind", "item type", "attribute type")  # reasons of guards on guessed values


def _guessing_numbers(s: Specializer, kind: Kind) -> bool:
    """Whether to guess an object is a number of `kind`.  Values that proved
    unpredictable are not guessed about again anywhere in the code, each
    failing guess costing a version: after an int overflowed, no int
    guesses (the big values reach other operations), and after guesses
    kept failing at two places, none."""
    if s.generalized_sites(*NUMBER_GUESSES) >= 2:
        return False
    return kind != INT or not s.generalized_sites("overflow")


def unboxed_guess(s: Specializer, value: ir.Value, kind: Kind, reason: str) -> AV:
    """`value`, just produced by the current instruction, unboxed as a
    number of `kind` behind a guard (resuming after the instruction when it
    fails), unless the guess kept failing here (or see `_guessing_numbers`)."""
    if s.generalized(reason) or not _guessing_numbers(s, kind):
        return AV(OBJECT, (value,))
    return AV(kind, (s.emit(UNBOX[kind], [value], "deopt_after", reason=reason),))  # type: ignore[arg-type]


def _attribute_hint(s: Specializer, owner: AV, name: str) -> Kind | None:
    """The number kind compiled code stored into `name` of instances of
    `owner`'s class, when it always stored that kind: earlier versions, or
    this one so far (an __init__ inlined into it)."""
    cls = _object_class(owner)
    if cls is None:
        return None
    learned = s.request.attribute_kinds.get(cls, {}).get(name)
    return learned if learned is not None else s.attribute_stores.get((cls, name))


def stored_attribute(s: Specializer, owner: AV, name: str, value: AV) -> None:
    """Remember the kind stored into `name` of an instance of a known class
    (see Request.attribute_kinds)."""
    cls = owner.kind.cls if isinstance(owner.kind, kinds.Instance) else _object_class(owner)
    if cls is None:
        return
    kind = value.kind.general() if isinstance(value.kind, Const) else value.kind
    number = kind if kind in (INT, FLOAT) else None
    key = (cls, name)
    if key not in s.attribute_stores:
        s.attribute_stores[key] = number
    elif s.attribute_stores[key] != number:
        s.attribute_stores[key] = None


def typed_by_sample(s: Specializer, value: ir.Value, sample: object, reason: str, nullable: bool = False) -> AV:
    """`value`, just produced by the current instruction, as an object of
    its sample's type behind a guard (resuming after the instruction when
    it fails), unless the guess kept failing here."""
    if s.generalized(reason) or sample is None:
        return AV(OBJECT, (value,), sample)
    number = NUMBER_KINDS.get(type(sample))
    if number is not None and not nullable and (number != INT or -2**63 <= sample < 2**63):  # type: ignore[operator]
        return unboxed_guess(s, value, number, reason)
    cls = _suggested_type(sample)
    if cls is None:
        return AV(OBJECT, (value,), sample)
    s.keepalive.append(cls)
    s.emit("guard_type", [value], "deopt" if nullable else "deopt_after", cls=cls, reason=reason, nullable=nullable)
    return AV(kinds.ObjectKind(cls), (value,), sample)


# Builtin types whose methods are resolved when compiling: their instances
# have no attributes of their own and the types cannot be changed.
BUILTIN_METHOD_TYPES = (list, dict, str, set, frozenset, tuple, bytes, int, float)
# A method call by one of these names on an object of unknown type is taken
# for a call of a builtin method, which does not look at its caller's frame
# (see ir.calls_unknown_code).
BUILTIN_METHOD_NAMES = frozenset(n for t in BUILTIN_METHOD_TYPES for n in dir(t) if not n.startswith("_"))


def _builtin_method(cls: type, name: str) -> object:
    for klass in cls.__mro__:
        if name in klass.__dict__:
            found = klass.__dict__[name]
            return found if type(found) is types.MethodDescriptorType else None
    return None


def _class_method(s: Specializer, owner: AV, name: str) -> AV | None:
    """`owner.name` resolved now, when `owner` is an instance of a known
    class and `name` a function of the class (guarded: the class may
    change) or a method of a builtin type."""
    cls = _object_class(owner)
    if isinstance(owner.kind, Const) and type(owner.kind.value) in BUILTIN_METHOD_TYPES:
        cls = type(owner.kind.value)
    if isinstance(owner.kind, kinds.Instance):
        return _virtual_method(s, owner, name)
    if cls in BUILTIN_METHOD_TYPES:
        method = _builtin_method(cls, name)  # type: ignore[arg-type]
        return AV(Const(method)) if method is not None else None
    slot = abi.method_slot(cls, name) if cls is not None and not s.generalized("method lookup") else None
    if slot is None:
        return None
    tag, function, entries = slot
    s.keepalive.extend((function, name))
    s.guard_class(cls, tag, "method lookup")
    if entries is not None:
        s.emit("guard_not_shadowed", [owner.leaves[0]], "deopt", cls=cls, name=name, entries=entries,
               reason="method lookup")
    return AV(Const(function))


def _virtual_method(s: Specializer, owner: AV, name: str) -> AV | None:
    """`owner.name` for a virtual instance: a function of its class (the
    class guarded) when the instance has no attribute of that name."""
    k = owner.kind
    assert isinstance(k, kinds.Instance)
    slot = abi.method_slot(k.cls, name) if name not in k.names and not s.generalized("method lookup") else None
    if slot is None:
        return None
    tag, function, _ = slot
    s.keepalive.extend((function, name))
    s.guard_class(k.cls, tag, "method lookup")
    return AV(Const(function))


@rule("LOAD_METHOD")
def load_method(s: Specializer, ins: Instruction) -> None:
    owner = s.state.stack[-1]
    method = _class_method(s, owner, ins.argval)  # type: ignore[arg-type]
    s.pop()
    if method is not None:  # as the interpreter's stack: the function, then self
        s.push(method)
        s.push(owner)
        return
    attr = _module_attribute(s, owner, ins.argval)  # type: ignore[arg-type]
    s.push(AV(kinds.NULL))
    if attr is not None:
        s.push(attr)
        return
    s.keepalive.append(ins.argval)
    s.push(AV(kinds.MethodRef(ins.argval, ins.index), (s.box(owner),)))  # type: ignore[arg-type]


# --- containers, strings and attributes: the C-API calls the interpreter makes ----------
def capi(s: Specializer, name: str, args: list[ir.Value], type_: str = "obj", **attrs: object) -> ir.Value:
    """Call C-API function `name`; an object result is a new reference, and
    NULL (or a negative number) means it raised."""
    return s.emit("c_call", args, "error", name=name, type=type_, owns=type_ == "obj", **attrs)  # type: ignore[return-value]


def push_object(s: Specializer, v: ir.Value, cls: type | None = None, sample: object = None) -> None:
    """Push a new object; `cls`: its exact type, when the operation fixes
    it; `sample`: a value like it (see AV.sample)."""
    s.push(AV(kinds.ObjectKind(cls), (v,), sample))


def _const_index(key: AV, size: int) -> int | None:
    """The constant int `key` as an index into `size` items, if in range."""
    if isinstance(key.kind, Const) and type(key.kind.value) is int and -size <= key.kind.value < size:
        return key.kind.value % size
    return None


@rule("BINARY_SUBSCR")
def binary_subscr(s: Specializer, ins: Instruction) -> None:
    key, container = s.pop(), s.pop()
    if isinstance(key.kind, kinds.SliceKind) and _exact_type(container) in (str, list, tuple):
        cls = _exact_type(container)
        push_object(s, s.emit("get_slice", [s.box(container), *key.leaves], "error", cls=cls,  # type: ignore[arg-type]
                              has_start=key.kind.has_start, has_stop=key.kind.has_stop), cls)
        return
    if isinstance(container.kind, kinds.Tuple):
        index = _const_index(key, len(container.kind.items))
        if index is not None:
            s.push(split_tuple(container)[index])
            return
    if category(key) == "int" and not _is_bool(key):
        cls = str if _exact_type(container) is str else _sequence_type(s, container)
        item = s.emit("getitem_int", [s.box(container), as_int(s, key)], "error", cls=cls,
                      **({"generic": 0} if cls else {}))
        if _exact_type(container) is str:
            push_object(s, item, str)  # type: ignore[arg-type]
        else:
            s.push(typed_by_sample(s, item, _item_sample(container.sample), "item type"))  # type: ignore[arg-type]
        return
    if _exact_type(container) is dict:
        item = s.emit("dict_getitem", [s.box(container), s.box(key)], "error")  # (a constant dict too)
        s.push(typed_by_sample(s, item, _value_sample(container.sample), "item type"))  # type: ignore[arg-type]
        return
    sliced = _exact_type(container) if _exact_type(key) is slice else None  # a slice keeps its sequence's type
    push_object(s, capi(s, "PyObject_GetItem", [s.box(container), s.box(key)]),
                sliced if sliced in (str, list, tuple, bytes) else None)


def _item_sample(sample: object) -> object:
    """A sample of a list's or tuple's items: its first one, if a few items
    spread over it all have its type (a mixed container suggests nothing)."""
    if type(sample) not in (list, tuple) or not sample:
        return None
    n = len(sample)  # type: ignore[arg-type]
    return _uniform_first([sample[i * (n - 1) // 4] for i in range(5)])  # type: ignore[index]


def _value_sample(sample: object) -> object:
    """A sample of a dict's values: the first, if the first few share its type."""
    if type(sample) is not dict or not sample:
        return None
    return _uniform_first(list(itertools.islice(sample.values(), 5)))  # type: ignore[attr-defined]


def _uniform_first(values: list) -> object:
    """values[0] when all of `values` are of its exact type, else None."""
    return values[0] if {type(v) for v in values} == {type(values[0])} else None


def _sequence_type(s: Specializer, container: AV) -> type | None:
    """The exact type of a container indexed by an int, when known: or
    guessed to be a list (guarded; refined in the locals holding it) until
    the guess keeps failing at this instruction."""
    kind = container.kind
    if kind in (kinds.ObjectKind(list), kinds.ObjectKind(tuple)):
        return kind.cls  # type: ignore[attr-defined]
    if kind != OBJECT or s.generalized("container kind"):
        return None
    guess = tuple if type(container.sample) is tuple else list
    s.emit("guard_type", [container.leaves[0]], "deopt", cls=guess, reason="container kind")
    s.refine(container, kinds.ObjectKind(guess))
    return guess


@rule("STORE_SUBSCR")
def store_subscr(s: Specializer, ins: Instruction) -> None:
    key, container, value = s.pop(), s.pop(), s.pop()
    if _exact_type(container) is dict:  # what dict's own subscript assignment calls (weighs nothing either way)
        capi(s, "PyDict_SetItem", [s.box(container), s.box(key), s.box(value)], "i32", generic=0)
        return
    if category(key) == "int" and not _is_bool(key):
        cls = _sequence_type(s, container)
        if cls is list and fresh_number(value):
            s.emit("setitem_number", [s.box(container), as_int(s, key), value.leaves[0]], "error")
            return
        s.emit("setitem_int", [s.box(container), as_int(s, key), s.box(value)], "error", cls=cls,
               **({"generic": 0} if cls is list else {}))
        return
    capi(s, "PyObject_SetItem", [s.box(container), s.box(key), s.box(value)], "i32")


@rule("DELETE_SUBSCR")
def delete_subscr(s: Specializer, ins: Instruction) -> None:
    key, container = s.pop(), s.pop()
    capi(s, "PyObject_DelItem", [s.box(container), s.box(key)], "i32")


@rule("DELETE_ATTR")
def delete_attr(s: Specializer, ins: Instruction) -> None:
    s.keepalive.append(ins.argval)
    s.emit("del_attr", [s.box(s.pop())], "error", name=ins.argval)


@rule("STORE_ATTR")
def store_attr(s: Specializer, ins: Instruction) -> None:
    owner, value = s.pop(), s.pop()
    s.keepalive.append(ins.argval)
    if isinstance(owner.kind, kinds.Instance) and _virtual_store(s, owner, ins.argval, value):  # type: ignore[arg-type]
        return
    if s.buffered_stores is not None and _kept_back(s, owner, ins.argval, value):  # type: ignore[arg-type]
        return
    stored_attribute(s, owner, ins.argval, value)  # type: ignore[arg-type]
    offset = _guarded_place(s, owner, ins.argval, abi.slot_attribute)  # type: ignore[arg-type]
    if offset is not None:
        s.emit("store_slot", [s.box(owner), s.stored(value)], "error", offset=offset)  # type: ignore[arg-type]
    else:
        s.emit("store_attr", [s.box(owner), s.stored(value)], "error", name=ins.argval,  # type: ignore[arg-type]
               **_values_place(s, owner, ins.argval))  # type: ignore[arg-type]


def _kept_back(s: Specializer, owner: AV, name: str, value: AV) -> bool:
    """owner.name = value in an inlined body, kept back until the body
    returns (inlining.BufferedStores): a number stored into the values
    array of an object made before the call."""
    stores = s.buffered_stores
    assert stores is not None
    if not stores.wanted(s, owner, value):  # type: ignore[arg-type]
        return False
    place = _values_place(s, owner, name)  # no index: the attribute cache finds it, if the attribute is plain
    if not s.plain_attribute(dict(place, name=name)):  # type: ignore[attr-defined]
        return False
    stored_attribute(s, owner, name, value)
    stores.keep(s, owner, name, place["index"], value)  # type: ignore[arg-type]
    return True


def _virtual_store(s: Specializer, owner: AV, name: str, value: AV) -> bool:
    """owner.name = value on a virtual instance: the instance changes, in
    every slot holding it; a new name comes last, as in the object's dict.
    The class is guarded (a descriptor given to it since would take the
    store).  A virtual method reference or slice is made real first."""
    k = owner.kind
    assert isinstance(k, kinds.Instance)
    tag = abi.plain_attribute(k.cls, name)
    if tag is None or k.vid in virtual_ids([State([value], [])]):
        return False  # (holding itself, `self.pair = (self, x)`, it is made real: a virtual cannot hold itself)
    s.guard_class(k.cls, tag, "class changed")
    if isinstance(value.kind, kinds.VIRTUAL_REFS):
        value = AV(OBJECT, (s.box(value),))
    stored_attribute(s, owner, name, value)
    items = split_items(owner)
    if name in k.names:
        items[k.names.index(name)] = value
        names = k.names
    else:
        items.append(value)
        names = k.names + (name,)
    changed = AV(kinds.Instance(k.cls, k.vid, names, tuple(a.kind for a in items)),
                 tuple(v for a in items for v in a.leaves))
    s.replace_virtual(k.vid, changed)
    return True


@rule("BUILD_LIST")
def build_list(s: Specializer, ins: Instruction) -> None:
    items = s.popn(ins.arg)  # type: ignore[arg-type]
    push_object(s, s.emit("build_list", [s.box(a) for a in items], "error"), list)  # type: ignore[arg-type]


@rule("BUILD_SET")
def build_set(s: Specializer, ins: Instruction) -> None:
    items = s.popn(ins.arg)  # type: ignore[arg-type]
    new = capi(s, "PySet_New", [s.const(())])
    for item in items:
        capi(s, "PySet_Add", [new, s.box(item)], "i32")
    push_object(s, new, set)


def _dict_of(s: Specializer, pairs: list[tuple[ir.Value, ir.Value]]) -> ir.Value:
    new = capi(s, "PyDict_New", [])
    for key, value in pairs:
        capi(s, "PyDict_SetItem", [new, key, value], "i32")
    return new


@rule("BUILD_MAP")
def build_map(s: Specializer, ins: Instruction) -> None:
    flat = [s.box(a) for a in s.popn(2 * ins.arg)]  # type: ignore[operator]
    push_object(s, _dict_of(s, list(zip(flat[::2], flat[1::2]))), dict)


@rule("BUILD_CONST_KEY_MAP")
def build_const_key_map(s: Specializer, ins: Instruction) -> None:
    keys = s.pop().kind.value  # type: ignore[attr-defined]
    values = [s.box(a) for a in s.popn(ins.arg)]  # type: ignore[arg-type]
    push_object(s, _dict_of(s, [(s.box(AV(Const(k))), v) for k, v in zip(keys, values)]), dict)


@rule("LIST_APPEND", "SET_ADD")
def list_append(s: Specializer, ins: Instruction) -> None:
    item = s.pop()
    target = s.state.stack[-ins.arg]  # type: ignore[operator]
    name = "PyList_Append" if ins.opname == "LIST_APPEND" else "PySet_Add"
    capi(s, name, [target.leaves[0], s.box(item)], "i32")


@rule("MAP_ADD")
def map_add(s: Specializer, ins: Instruction) -> None:
    value, key = s.pop(), s.pop()
    target = s.state.stack[-ins.arg]  # type: ignore[operator]
    capi(s, "PyDict_SetItem", [target.leaves[0], s.box(key), s.box(value)], "i32")


BUILTIN_ITERABLES = (list, tuple, set, frozenset, dict, str, bytes)


@rule("LIST_EXTEND", "SET_UPDATE")
def list_extend(s: Specializer, ins: Instruction) -> None:
    # Iterables of builtin types, constant ones too (list and set displays):
    # for others (None included) the interpreter rewrites the error message
    # of a non-iterable.
    iterable = s.state.stack[-1]
    if not (isinstance(iterable.kind, kinds.Tuple) or _exact_type(iterable) in BUILTIN_ITERABLES):
        s.deopt_here("unpacking into a display")
        return
    iterable = s.box(s.pop())
    target = s.state.stack[-ins.arg].leaves[0]  # type: ignore[operator]
    if ins.opname == "LIST_EXTEND":
        capi(s, "_PyList_Extend", [target, iterable])
    else:
        capi(s, "_PySet_Update", [target, iterable], "i32")


@rule("DICT_UPDATE")
def dict_update(s: Specializer, ins: Instruction) -> None:
    """{**a, ...} (also a mapping pattern's **rest)."""
    update = s.box(s.pop())
    s.emit("dict_update", [s.box(s.state.stack[-ins.arg]), update], "error")  # type: ignore[operator]


@rule("DICT_MERGE")
def dict_merge(s: Specializer, ins: Instruction) -> None:
    """f(**a): merge the dict `a` into the call's keywords (anything else:
    the interpreter, for its error message)."""
    update = s.state.stack[-1]
    if _exact_type(update) is not dict:
        s.deopt_here("keywords of another type")
        return
    s.pop()
    func, keywords = s.state.stack[-2 - ins.arg], s.state.stack[-ins.arg]  # type: ignore[operator]
    s.emit("dict_merge", [s.box(func), s.box(keywords), s.box(update)], "error")


@rule("LIST_TO_TUPLE")
def list_to_tuple(s: Specializer, ins: Instruction) -> None:
    push_object(s, capi(s, "PyList_AsTuple", [s.pop().leaves[0]]), tuple)


CONVERSIONS = {1: "PyObject_Str", 2: "PyObject_Repr", 3: "PyObject_ASCII"}


@rule("FORMAT_VALUE")
def format_value(s: Specializer, ins: Instruction) -> None:
    flags: int = ins.arg  # type: ignore[assignment]
    spec = s.box(s.pop()) if flags & 4 else s.const("")
    value = s.box(s.pop())
    if flags & 3:
        value = capi(s, CONVERSIONS[flags & 3], [value])
    push_object(s, capi(s, "PyObject_Format", [value, spec]))  # __format__ may return a str subclass


@rule("BUILD_STRING")
def build_string(s: Specializer, ins: Instruction) -> None:
    parts = s.emit("build_tuple", [s.box(a) for a in s.popn(ins.arg)], "error")  # type: ignore[arg-type]
    push_object(s, capi(s, "PyUnicode_Join", [s.const(""), parts]), str)  # type: ignore[list-item]


@rule("BUILD_SLICE")
def build_slice(s: Specializer, ins: Instruction) -> None:
    """`start:stop` of ints or None is a virtual slice (see SliceKind)."""
    bounds = s.popn(ins.arg)  # type: ignore[arg-type]
    if len(bounds) == 2 and all(_is_none(b) or (category(b) == "int" and not _is_bool(b)) for b in bounds):
        present = [b for b in bounds if not _is_none(b)]
        s.push(AV(kinds.SliceKind(*(not _is_none(b) for b in bounds)), tuple(as_int(s, b) for b in present)))
        return
    boxed = [s.box(a) for a in bounds]
    push_object(s, capi(s, "PySlice_New", boxed + [s.const(None)] * (3 - len(boxed))), slice)


@rule("MAKE_FUNCTION")
def make_function(s: Specializer, ins: Instruction) -> None:
    flags: int = ins.arg  # type: ignore[assignment]
    if flags & 0x04:  # annotations: not yet
        s.deopt_here("annotations")
        return
    code = s.box(s.pop())
    closure = s.box(s.pop()) if flags & 0x08 else None
    kwdefaults = s.box(s.pop()) if flags & 0x02 else None
    defaults = s.box(s.pop()) if flags & 0x01 else None
    func = capi(s, "PyFunction_New", [code, s.const(s.globals)])
    if closure is not None:
        capi(s, "PyFunction_SetClosure", [func, closure], "i32")
    if kwdefaults is not None:
        capi(s, "PyFunction_SetKwDefaults", [func, kwdefaults], "i32")
    if defaults is not None:
        capi(s, "PyFunction_SetDefaults", [func, defaults], "i32")
    push_object(s, func)


@rule("LOAD_ASSERTION_ERROR")
def load_assertion_error(s: Specializer, ins: Instruction) -> None:
    s.push(AV(Const(AssertionError)))


@rule("MATCH_SEQUENCE", "MATCH_MAPPING")
def match_kind(s: Specializer, ins: Instruction) -> None:
    """Is the subject a sequence (mapping) for pattern matching: its type's flag."""
    flag = abi.TPFLAGS_SEQUENCE if ins.opname == "MATCH_SEQUENCE" else abi.TPFLAGS_MAPPING
    subject = s.state.stack[-1]
    cls = _exact_type(subject)
    if cls is not None:
        s.push(AV(Const(bool(cls.__flags__ & flag))))
    else:
        push_bool(s, s.emit("type_flag", [s.box(subject)], flag=flag))


def _class_pattern(cls: object, keywords: tuple, nargs: int) -> tuple[int, tuple[str, ...], bool] | None:
    """What MATCH_CLASS reads for `case cls(<nargs>, **keywords)`, decided
    when compiling: (cls's version tag, the attribute names in order,
    whether the subject itself is the one positional value), or None when
    the interpreter should decide (another metaclass, a TypeError to
    raise, no version tag)."""
    if type(cls) is not type or not abi.version_tag(cls):  # type: ignore[arg-type]
        return None
    names: tuple = ()
    match_self = False
    if nargs:
        found = [k.__dict__["__match_args__"] for k in cls.__mro__ if "__match_args__" in k.__dict__]  # type: ignore[attr-defined]
        if found and type(found[0]) is not tuple:
            return None
        match_self = not found and bool(cls.__flags__ & abi.TPFLAGS_MATCH_SELF)  # type: ignore[attr-defined]
        allowed = 1 if match_self else len(found[0]) if found else 0
        if allowed < nargs:
            return None
        names = () if match_self else found[0][:nargs]
    names += keywords
    if any(type(n) is not str for n in names) or len(set(names)) != len(names):
        return None
    return abi.version_tag(cls), names, match_self  # type: ignore[arg-type]


@rule("MATCH_CLASS")
def match_class(s: Specializer, ins: Instruction) -> None:
    """`case cls(...)`: isinstance, then the attributes as a tuple (None
    when one is missing), for a class known when compiling (guarded)."""
    cls, keywords = s.state.stack[-2].kind, s.state.stack[-1].kind
    plan = (_class_pattern(cls.value, keywords.value, ins.arg)  # type: ignore[arg-type]
            if isinstance(cls, Const) and isinstance(keywords, Const) else None)
    if plan is None or s.generalized("class changed"):
        s.deopt_here("class pattern")
        return
    tag, names, match_self = plan
    s.popn(2)
    subject = s.box(s.pop())
    s.keepalive.append(names)
    s.guard_class(cls.value, tag, "class changed")  # type: ignore[attr-defined]
    push_object(s, s.emit("match_class", [subject], "error", cls=cls.value,  # type: ignore[arg-type,attr-defined]
                          names=names, match_self=match_self))


# Keys whose hash and equality run no code of the program: duplicates
# among them are found when compiling.
PLAIN_KEY_TYPES = (str, int, bool, bytes, type(None))


@rule("MATCH_KEYS")
def match_keys(s: Specializer, ins: Instruction) -> None:
    """`case {k: ...}` with constant keys: their values as a tuple, or None
    when one is missing (looked up with the subject's get(), inline for
    exact dicts)."""
    keys = s.state.stack[-1].kind
    plain = (isinstance(keys, Const) and all(type(k) in PLAIN_KEY_TYPES for k in keys.value)  # type: ignore[attr-defined]
             and len(set(keys.value)) == len(keys.value))  # type: ignore[attr-defined]
    if not plain:
        s.deopt_here("mapping pattern")
        return
    s.keepalive.append(keys.value)  # type: ignore[attr-defined]
    subject = s.box(s.state.stack[-2])
    push_object(s, s.emit("match_keys", [subject], "error", keys=keys.value))  # type: ignore[arg-type,attr-defined]


@rule("GET_LEN")
def get_len(s: Specializer, ins: Instruction) -> None:
    push_int(s, _length(s, s.state.stack[-1]))


# --- exceptions ---------------------------------------------------------------------------
# An exception raised inside a try/with goes through the op's error exit to
# a landing block (Specializer.error_exit) that pushes it as the
# interpreter's unwinding does; these rules are the handlers' bytecode.
@rule("PUSH_EXC_INFO")
def push_exc_info(s: Specializer, ins: Instruction) -> None:
    exc = s.box(s.pop())
    push_object(s, s.emit("push_exc_info", [exc]))  # type: ignore[arg-type]
    push_object(s, exc)


@rule("POP_EXCEPT")
def pop_except(s: Specializer, ins: Instruction) -> None:
    s.emit("pop_except", [s.box(s.pop())])


@rule("CHECK_EXC_MATCH")
def check_exc_match(s: Specializer, ins: Instruction) -> None:
    cls = s.box(s.pop())
    push_bool(s, s.emit("exc_match", [s.box(s.state.stack[-1]), cls], "error"))


@rule("RERAISE")
def reraise(s: Specializer, ins: Instruction) -> None:
    """Raise the popped exception again, as it is (its traceback has this
    function's entry when it was raised here; the index below it, oparg,
    only moves the interpreter's frame back to that instruction)."""
    s.emit("restore_exception", [s.box(s.pop())])
    s.keep_variables(s.state.locals)  # held to the raise, as by a return
    s.terminate(ir.Terminator("error", exit=s.error_exit(traceback=False)))


@rule("RAISE_VARARGS")
def raise_varargs(s: Specializer, ins: Instruction) -> None:
    # The variables hold their objects up to the raise, as up to a return
    # (not only to their last reads).
    s.keep_variables(s.state.locals)
    if ins.arg:
        s.emit("raise", [s.box(a) for a in s.popn(ins.arg)], pc=ins.index)  # type: ignore[arg-type]
        s.terminate(ir.Terminator("error", exit=s.error_exit()))
        return
    # A bare `raise` re-raises the handled exception as it is (no new
    # traceback entry); without one, the RuntimeError gets an entry.
    active = s.emit("reraise_handled", [])
    reraised, no_active = s.fn.new_block("reraise"), s.fn.new_block("no active exception")
    s.terminate(ir.Terminator("cbr", cond=active, edges=[ir.Edge(reraised, []), ir.Edge(no_active, [])]))
    for block, traceback in ((reraised, False), (no_active, True)):
        s.block = block
        s.terminate(ir.Terminator("error", exit=s.error_exit(traceback=traceback)))


@rule("BEFORE_WITH")
def before_with(s: Specializer, ins: Instruction) -> None:
    """Look up __enter__ and __exit__ on the manager's type, push the bound
    __exit__, call __enter__.  A function of the manager's known class
    (guarded) is `__enter__` without a bound method: called directly or
    inlined, its result's kind known (`return self` keeps the class)."""
    manager = s.pop()
    function = _class_method(s, manager, "__enter__") if _object_class(manager) is not None else None
    boxed = s.box(manager)
    protocol = "'%.200s' object does not support the context manager protocol"
    enter = None if function is not None else s.emit(
        "lookup_special", [boxed], "error", name="__enter__", message=protocol)
    exit_ = s.emit("lookup_special", [boxed], "error", name="__exit__",
                   message=protocol + " (missed __exit__ method)")
    push_object(s, exit_)  # type: ignore[arg-type]
    if enter is not None:
        push_object(s, s.emit("vectorcall", [enter], "error", kwnames=None))  # type: ignore[arg-type]
    elif not (s.resolver is not None and not s.generalized("callee result kind")
              and _direct_call(s, function.kind.value, [manager])):  # type: ignore[union-attr]
        push_object(s, s.emit("vectorcall", [s.box(function), boxed], "error", kwnames=None))  # type: ignore[arg-type]


@rule("WITH_EXCEPT_START")
def with_except_start(s: Specializer, ins: Instruction) -> None:
    """Call __exit__(type(exc), exc, exc.__traceback__); the stack holds
    __exit__, the failing instruction's index, the previous exception and exc."""
    exit_, exc = s.box(s.state.stack[-4]), s.box(s.state.stack[-1])
    exc_type = capi(s, "PyObject_Type", [exc])
    traceback = capi(s, "PyObject_GetAttr", [exc, s.const("__traceback__")])
    push_object(s, s.emit("vectorcall", [exit_, exc_type, exc, traceback], "error", kwnames=None))  # type: ignore[arg-type]


# --- control flow -------------------------------------------------------------------------
def _back_edge(s: Specializer, ins: Instruction) -> None:
    """Loops stay interruptible: Ctrl-C and thread switches."""
    if "BACKWARD" in ins.opname and ins.opname != "JUMP_BACKWARD_NO_INTERRUPT":
        s.emit("check_signals", [], "error")


@rule("JUMP_FORWARD", "JUMP_BACKWARD", "JUMP_BACKWARD_NO_INTERRUPT")
def jump(s: Specializer, ins: Instruction) -> None:
    _back_edge(s, ins)
    s.jump(ins.target, s.state)  # type: ignore[arg-type]


@rule("POP_JUMP_FORWARD_IF_FALSE", "POP_JUMP_BACKWARD_IF_FALSE",
      "POP_JUMP_FORWARD_IF_TRUE", "POP_JUMP_BACKWARD_IF_TRUE")
def pop_jump_if(s: Specializer, ins: Instruction) -> None:
    value = s.pop()
    jump_when = ins.opname.endswith("TRUE")
    _back_edge(s, ins)
    _conditional(s, ins, value, jump_when, s.state, s.state)


def _conditional(
    s: Specializer, ins: Instruction, value: AV, jump_when: bool, taken: State, fallthrough: State
) -> None:
    known = static_truth(value)
    if known is not None:
        s.jump(ins.target if known == jump_when else ins.next_index, taken if known == jump_when else fallthrough)  # type: ignore[arg-type]
        return
    cond = as_bool(s, value)
    jump_edge = (ins.target, taken)
    next_edge = (ins.next_index, fallthrough)
    if jump_when:
        s.branch(cond, jump_edge, next_edge)  # type: ignore[arg-type]
    else:
        s.branch(cond, next_edge, jump_edge)  # type: ignore[arg-type]


@rule("JUMP_IF_FALSE_OR_POP", "JUMP_IF_TRUE_OR_POP")
def jump_if_or_pop(s: Specializer, ins: Instruction) -> None:
    value = s.state.stack[-1]
    taken = s.state.copy()
    fallthrough = s.state.copy()
    fallthrough.stack.pop()
    _conditional(s, ins, value, ins.opname == "JUMP_IF_TRUE_OR_POP", taken, fallthrough)


@rule("POP_JUMP_FORWARD_IF_NONE", "POP_JUMP_BACKWARD_IF_NONE",
      "POP_JUMP_FORWARD_IF_NOT_NONE", "POP_JUMP_BACKWARD_IF_NOT_NONE")
def pop_jump_if_none(s: Specializer, ins: Instruction) -> None:
    value = s.pop()
    jump_when_none = "NOT_NONE" not in ins.opname
    _back_edge(s, ins)
    k = value.kind
    if isinstance(k, Const) or not k.is_object():
        s.jump(ins.target if _is_none(value) == jump_when_none else ins.next_index, s.state)  # type: ignore[arg-type]
        return
    cond = s.emit("icmp", [value.leaves[0], s.const(None)], pred="==" if jump_when_none else "!=")
    s.branch(cond, (ins.target, s.state), (ins.next_index, s.state))  # type: ignore[arg-type]


# --- iteration ------------------------------------------------------------------------------
# Containers whose length no code can change.
IMMUTABLE_SIZED_TYPES = (tuple, str, bytes, frozenset)


def _record_trips(s: Specializer, loop: int, trips: int | None) -> None:
    """How many times the `for` at `loop` runs this call (`Result.loop_trips`):
    the most any path says, None if one does not know."""
    head = s.decoded.by_index.get(loop)
    if head is None or head.opname != "FOR_ITER":  # an iterator made for a call (a comprehension's)
        return
    known = s.loop_trips.get(loop, 0)
    s.loop_trips[loop] = None if trips is None or known is None else max(known, trips)


def _fixed_length(value: AV) -> int | None:
    """The length of `value` when it is an immutable constant: no call can
    change it.  Not a sample's: an item's or an attribute's says nothing
    of the others, and a list, dict or set may grow in the loop."""
    fixed = value.kind.value if isinstance(value.kind, Const) else None
    return len(fixed) if type(fixed) in IMMUTABLE_SIZED_TYPES else None  # type: ignore[arg-type]


@rule("GET_ITER")
def get_iter(s: Specializer, ins: Instruction) -> None:
    value = s.pop()
    loop = ins.next_index  # the FOR_ITER this iterator feeds
    if isinstance(value.kind, kinds.RangeKind):
        bounds = [v.op.attrs["value"] if v.op is not None and v.op.name == "const_i64" else None
                  for v in value.leaves]  # type: ignore[union-attr]
        # a zero step never loops: the range call raises ValueError (rules._range)
        _record_trips(s, loop, len(range(*bounds)) if None not in bounds and bounds[2] != 0 else None)  # type: ignore[arg-type]
        s.push(AV(kinds.RANGE_ITER, value.leaves))
        return
    _record_trips(s, loop, _fixed_length(value))
    if value.kind == kinds.SPLIT_ITER:  # iter() of an iterator is itself
        s.push(value)
        return
    if value.kind in (kinds.ObjectKind(list), kinds.ObjectKind(tuple)):
        s.push(AV(kinds.SeqIter(value.kind.cls), (value.leaves[0], s.const(0)), value.sample))  # type: ignore[attr-defined]
        return
    it = s.emit("c_call", [s.box(value)], "error", name="PyObject_GetIter", type="obj", owns=True)
    s.push(AV(OBJECT, (it,)))  # type: ignore[arg-type]


@rule("FOR_ITER")
def for_iter(s: Specializer, ins: Instruction) -> None:
    it = s.state.stack[-1]
    if ins.index not in s.loop_trips and type(it.sample) in kinds.COUNTED_ITERATORS:  # a comprehension's argument
        s.loop_trips[ins.index] = operator.length_hint(it.sample)
    exhausted = s.state.copy()
    exhausted.stack.pop()
    if isinstance(it.kind, kinds.RangeIter):
        cur, stop, step = it.leaves
        has_next = _range_nonempty(s, it)
        advanced = s.state.copy()
        nxt = s.emit("iadd_ovf", [cur, step], "deopt", reason="range overflow")
        advanced.stack[-1] = AV(kinds.RANGE_ITER, (nxt, stop, step))  # type: ignore[arg-type]
        advanced.stack.append(AV(INT, (cur,)))
        s.branch(has_next, (ins.next_index, advanced), (ins.target, exhausted))  # type: ignore[arg-type]
        return
    running = s.state.copy()
    if it.kind == kinds.SPLIT_ITER:
        text, position = it.leaves
        start = s.emit("str_scan", [text, position], "error", space=False)
        end = s.emit("str_scan", [text, start], "error", space=True)
        # past the last word start == end == the length: an empty word, dropped
        word = s.emit("get_slice", [text, start, end], "error", cls=str, has_start=True, has_stop=True)
        running.stack[-1] = AV(kinds.SPLIT_ITER, (text, end))  # type: ignore[arg-type]
        running.stack.append(AV(kinds.ObjectKind(str), (word,)))  # type: ignore[arg-type]
        length = s.emit("container_len", [text], offset=abi.UNICODE_LENGTH)
        more = s.emit("icmp", [start, length], pred="<")  # type: ignore[list-item]
        s.branch(more, (ins.next_index, running), (ins.target, exhausted))  # type: ignore[arg-type]
        return
    if isinstance(it.kind, kinds.SeqIter):
        seq, index = it.leaves
        item = s.emit("seq_next", [seq, index], cls=it.kind.cls)
        running.stack[-1] = AV(it.kind, (seq, s.emit("iadd", [index, s.const(1)])), it.sample)  # type: ignore[arg-type]
        # Reading the item changed nothing: a failed guess resumes at FOR_ITER.
        running.stack.append(typed_by_sample(s, item, _item_sample(it.sample), "item type", nullable=True))  # type: ignore[arg-type]
    elif it.kind.is_object():
        item = s.emit("iter_next", [it.leaves[0]], "error")
        running.stack.append(AV(OBJECT, (item,)))  # type: ignore[arg-type]
    else:
        s.deopt_here("iterating a virtual object")
        return
    done = s.emit("is_null", [item])  # type: ignore[list-item]
    # On the exhausted edge `item` is NULL; releasing NULL is a no-op.
    s.branch(done, (ins.target, exhausted), (ins.next_index, running))  # type: ignore[arg-type]


# --- calls ---------------------------------------------------------------------------------------
@rule("KW_NAMES")
def kw_names(s: Specializer, ins: Instruction) -> None:
    s.pending_kwnames = s.code.co_consts[ins.arg]  # type: ignore[index]


@rule("CALL")
def call(s: Specializer, ins: Instruction) -> None:
    nargs: int = ins.arg  # type: ignore[assignment]
    kwnames, s.pending_kwnames = s.pending_kwnames, None
    args = s.popn(nargs)
    second, first = s.pop(), s.pop()
    if first.kind == kinds.NULL:
        callable_ = second
    else:
        callable_, args = first, [second] + args
    if kwnames is not None:
        s.keepalive.append(kwnames)
    if isinstance(callable_.kind, kinds.MethodRef):
        boxed = [callable_.leaves[0]] + [s.box(a) for a in args]
        name = callable_.kind.name
        if name in DEBUGGER_STOPS:  # (pdb.Pdb().set_trace(): a debugger stopping in this function)
            raise ReadsTheFrame(f"calls a {name}() method, a debugger's, which traces the calling frame")
        # (made first: what its handler edge passes is defined before the op)
        lookup_failed = s.error_exit(index=callable_.kind.index)
        result = s.emit("call_method", boxed, "error", name=name, kwnames=kwnames,
                        builtin_name=name in BUILTIN_METHOD_NAMES)
        result.op.second_exit = lookup_failed  # type: ignore[union-attr]
        push_object(s, result)  # type: ignore[arg-type]
        return
    target = callable_.kind.value if isinstance(callable_.kind, Const) else None
    if len(args) < FRAME_READERS.get(_key(target), 0) or _python_frame_reader(target):
        raise ReadsTheFrame(f"calls {target.__name__}(), which reads the frame")  # type: ignore[union-attr]
    if target is super and not args and inlining.rebinds_first_local(s.code):
        # (compiled stores leave the frame's slot as it was; a cell's would do)
        raise ReadsTheFrame("calls super() after rebinding its first argument, which super() reads from the frame")
    if kwnames is None and target is not None:
        inline = INLINE_CALLS.get(_key(target))
        if inline is not None and inline(s, args):
            return
        if s.resolver is not None and not s.generalized("callee result kind") and _direct_call(s, target, args):
            return
        if s.resolver is not None and not s.generalized("class changed") and _construct(s, target, args):
            return
    boxed = [s.box(callable_)] + [s.box(a) for a in args]
    result = s.emit("vectorcall", boxed, "error", kwnames=kwnames, **({"generic": 1} if _key(target) else {}))
    known = RESULT_KINDS.get(_key(target)) if target is not None else None
    if known is not None and not s.generalized("result kind"):
        s.push(AV(known, (s.emit(UNBOX[known], [result], "deopt_after", reason="result kind"),)))  # type: ignore[arg-type]
        return
    sample = _result_sample(target, args) if kwnames is None else None
    cls = _result_type(target)
    if cls is not None and not s.generalized("result type"):
        s.keepalive.append(cls)
        s.emit("guard_type", [result], "deopt_after", cls=cls, reason="result type")  # type: ignore[list-item]
        push_object(s, result, cls, sample)  # type: ignore[arg-type]
        return
    if type(sample) in (int, float):
        s.push(typed_by_sample(s, result, sample, "result kind"))  # type: ignore[arg-type]
        return
    s.push(AV(OBJECT, (result,)))  # type: ignore[arg-type]


@rule("CALL_FUNCTION_EX")
def call_function_ex(s: Specializer, ins: Instruction) -> None:
    """f(*args) and f(*args, **kwargs) when args is a tuple and kwargs a
    dict (the interpreter's conversions, with their error messages, are
    left to it)."""
    kwargs = s.pop() if ins.arg & 0x01 else None  # type: ignore[operator]
    callargs, func = s.pop(), s.pop()
    s.pop()  # the NULL the compiler pushed below the callable
    if not (_exact_type(callargs) is tuple or isinstance(callargs.kind, kinds.Tuple)) or (
            kwargs is not None and _exact_type(kwargs) is not dict):
        s.deopt_here("star arguments of other types")
        return
    if kwargs is None:
        push_object(s, capi(s, "PyObject_CallObject", [s.box(func), s.box(callargs)]))
    else:
        push_object(s, capi(s, "PyObject_Call", [s.box(func), s.box(callargs), s.box(kwargs)]))


# Builtins that read the calling frame (its variables, its namespaces, the
# frame object itself) when called with fewer arguments than given here.
# Compiled code keeps its variables out of the frame (and drops dead ones),
# and a function called directly runs in its caller's frame: functions
# making these calls are left to the interpreter.
FRAME_READERS: dict[object, int] = {
    locals: 1, vars: 1, dir: 1, globals: 1, eval: 2, exec: 2, breakpoint: sys.maxsize, sys._getframe: sys.maxsize,
}


# Python functions of the standard library that work on their caller's
# frame: a debugger stopping there must see the function's lines.
PYTHON_FRAME_READERS = {("pdb", "set_trace"), ("inspect", "currentframe")}
# ... and a debugger's function or method of one of these names (bdb's,
# ipdb's, pudb's...) anywhere: it sets the calling frame's tracer.
DEBUGGER_STOPS = frozenset({"set_trace"})


def _python_frame_reader(target: object) -> bool:
    return type(target) is types.FunctionType and (
        (target.__module__, target.__qualname__) in PYTHON_FRAME_READERS or target.__name__ in DEBUGGER_STOPS)


# Builtins whose result is always of one exact type.
EXACT_RESULT_TYPES: dict[object, type] = {
    list: list, dict: dict, set: set, frozenset: frozenset, tuple: tuple, sorted: list,
    str.split: list, str.rsplit: list, str.splitlines: list, str.join: str, str.strip: str, str.lower: str,
    str.upper: str, str.replace: str, str.format: str, bytes.split: list, dict.copy: dict, list.copy: list,
    set.copy: set, set.union: set, set.intersection: set, set.difference: set,
}


# Builtins whose one argument's items suggest their result: an item (sum,
# min, max of numbers) or a list of the same items (sorted).
ITEM_RESULTS = {sum: "item", min: "item", max: "item", sorted: "items"}


def _result_sample(target: object, args: list[AV]) -> object:
    """A sample of what a builtin of ITEM_RESULTS returns, from its
    argument's sample (never computed: a guess behind a guard, like any
    sample)."""
    if len(args) != 1 or type(target) is not types.BuiltinFunctionType:
        return None
    how = ITEM_RESULTS.get(target)
    if how == "items":
        return args[0].sample if type(args[0].sample) is list else None
    return _item_sample(args[0].sample) if how == "item" else None


def _result_type(target: object) -> type | None:
    """The exact type a call of `target` returns, when it is known or a
    safe guess (instantiating a class of the program); checked after the
    call."""
    known = EXACT_RESULT_TYPES.get(_key(target))
    if known is not None:
        return known
    if type(target) is type and target.__flags__ & abi.HEAPTYPE:  # type: ignore[attr-defined]
        return target  # type: ignore[return-value]
    return None


# Builtins called through the C API whose result kind is known in advance.
RESULT_KINDS: dict[object, kinds.Kind] = {
    getattr(math, name): FLOAT
    for name in ("hypot", "atan", "asin", "acos", "sinh", "cosh", "tanh", "asinh", "acosh", "atanh", "log2",
                 "log1p", "expm1", "degrees", "radians", "copysign", "fmod", "erf", "erfc", "gamma", "lgamma")
}
RESULT_KINDS.update({len: INT, ord: INT})
RESULT_KINDS.update({getattr(str, name): BOOL for name in (
    "isspace", "isdigit", "isalpha", "isalnum", "isupper", "islower", "isdecimal", "isnumeric", "isidentifier",
    "isascii", "isprintable", "istitle", "startswith", "endswith")})


def _construct(s: Specializer, cls: object, args: list[AV]) -> bool:
    """`cls(*args)` for a class of the program with a compiled __init__:
    object.__new__ and a direct call, as type.__call__ would do them."""
    plain = abi.plain_class(cls)
    if plain is None:
        return False
    tag, init = plain
    inlined = inlining.inline_construct(s, cls, tag, init, args)  # type: ignore[arg-type]
    if inlined is not None:  # (its class guarded, so kept alive, by the inlined body)
        s.push(inlined)
        return True
    instance_kind = kinds.ObjectKind(cls)  # type: ignore[arg-type]
    version = s.resolver.version_for_call(s, init, [AV(instance_kind, ())] + args)  # type: ignore[attr-defined]
    if version is None or version.return_kind != Const(None):
        return False
    s.keepalive.append(init)
    s.guard_class(cls, tag, "class changed")  # type: ignore[arg-type]
    instance = AV(instance_kind, (s.emit("new_instance", [], "error", cls=cls),))  # type: ignore[arg-type]
    _call_version(s, version, [instance] + args, init=True)
    s.push(instance)
    return True


def _direct_call(s: Specializer, target: object, args: list[AV]) -> bool:
    """A call of a Python function psyco compiles: inlined if transparent,
    else a direct native call."""
    inlined = inlining.inline_call(s, target, args)  # type: ignore[arg-type]
    if inlined is not None:
        s.push(inlined)
        return True
    version = s.resolver.version_for_call(s, target, args)  # type: ignore[attr-defined]
    if version is None:
        return False
    value = _call_version(s, version, args)
    ret = version.return_kind
    s.push(AV(ret, (value,)) if ret.leaves else AV(ret))  # type: ignore[arg-type]
    return True


def _call_version(s: Specializer, version: Version, args: list[AV], init: bool = False) -> ir.Value:
    leaves = []
    for a, want in zip(args, version.entry_kinds):
        leaves.extend(s.convert(a, want).leaves)
    ret = version.return_kind
    rtype = ret.leaves[0] if ret.leaves else "i64"
    s.callees.append(version)
    value = s.emit("call_direct", leaves, "error", version=version, type=rtype, owns=rtype == "obj", init=init,
                   in_loop=s.decoded.in_loop(s.ins.index))  # type: ignore[union-attr]
    if init:
        return value  # type: ignore[return-value]
    # A callee that left its fast path returns a boxed object: continue in
    # the interpreter after the call with that object on the stack.
    state = [s.materializer(a) for a in s.state.locals + s.state.stack] + [ir.Materializer("call_result")]
    deopt = ir.Exit(s.resume_point(s.ins.next_index), state, reason="callee result kind")  # type: ignore[union-attr]
    value.op.second_exit = s._register(deopt)  # type: ignore[union-attr]
    return value  # type: ignore[return-value]


def _key(obj: object) -> object:
    """`obj` as a key of the builtin tables, looked up without running any
    user-defined __hash__ or __eq__."""
    return obj if type(obj) in (types.BuiltinFunctionType, type, types.MethodDescriptorType) else None


# --- inlined builtins and math functions -------------------------------------------------------
Inline = Callable[[Specializer, list[AV]], bool]
INLINE_CALLS: dict[object, Inline] = {}


def inline(*targets: object) -> Callable[[Inline], Inline]:
    def register(fn: Inline) -> Inline:
        for t in targets:
            INLINE_CALLS[t] = fn
        return fn

    return register


def _is_none(av: AV) -> bool:
    return isinstance(av.kind, Const) and av.kind.value is None


def _is_bool(av: AV) -> bool:
    return av.kind == BOOL or isinstance(av.kind, Const) and type(av.kind.value) is bool


def _all_numeric(args: list[AV], n: int) -> bool:
    return len(args) == n and all(category(a) for a in args)


@inline(len)
def _len(s: Specializer, args: list[AV]) -> bool:
    if len(args) == 1 and isinstance(args[0].kind, Const) and type(args[0].kind.value) in IMMUTABLE_SIZED:
        s.push(AV(Const(len(args[0].kind.value))))  # type: ignore[arg-type]
        return True
    # (a constant container too: a global list, whose length a store changes)
    if len(args) != 1 or not (args[0].kind.is_object() or _exact_type(args[0]) in abi.LEN_FIELD):
        return False
    push_int(s, _length(s, args[0]))
    return True


IMMUTABLE_SIZED = (str, bytes, tuple, frozenset)


def _length(s: Specializer, container: AV) -> ir.Value:
    """len(container): read from an exact builtin container, else the C API."""
    offset = abi.LEN_FIELD.get(_exact_type(container))  # type: ignore[arg-type]
    if offset is not None:
        return s.emit("container_len", [s.box(container)], offset=offset)  # type: ignore[return-value]
    return capi(s, "PyObject_Size", [s.box(container)], "i64")


@inline(isinstance)
def _isinstance(s: Specializer, args: list[AV]) -> bool:
    """isinstance(x, C) when x's exact type is known and C is a class (or a
    tuple of classes) whose checks the metaclass does not override: the
    answer is known when compiling (x's class can change, as can its
    bases: either changes the version tag of the class it was, guarded;
    see native.watch_class_assignments), unless it is no and
    `x.__class__` may say otherwise."""
    if len(args) != 2 or not isinstance(args[1].kind, Const):
        return False
    cls = _exact_type(args[0]) if not isinstance(args[0].kind, kinds.Tuple) else tuple
    classes = args[1].kind.value
    classes = classes if type(classes) is tuple else (classes,)
    if cls is None or not all(type(c) is type for c in classes):
        return False
    answer = issubclass(cls, classes)
    if not answer and not abi.reports_its_type(cls):
        return False  # isinstance also asks x.__class__: the call decides
    if abi.class_assignable(cls):
        tag = abi.version_tag(cls)
        if not tag:
            return False
        s.guard_class(cls, tag, "class changed")
    s.push(AV(Const(answer)))
    return True


def _adder(cls: type, function: str) -> Inline:
    """`xs.append(x)` on an exact list, `xs.add(x)` on an exact set: the C
    function the method calls."""

    def rule(s: Specializer, args: list[AV]) -> bool:
        if len(args) != 2 or _exact_type(args[0]) is not cls:  # (a constant one too: a global)
            return False
        capi(s, function, [s.box(args[0]), s.box(args[1])], "i32")
        s.push(AV(Const(None)))
        return True
    return rule


inline(list.append)(_adder(list, "PyList_Append"))
inline(set.add)(_adder(set, "PySet_Add"))


# str methods asking about characters, and for each ASCII code a bit per
# method: what the methods themselves answer for that one-character string.
CHAR_PREDICATES = ("isspace", "isdigit", "isalpha", "isalnum", "isupper", "islower", "isdecimal", "isnumeric")
ASCII_PREDICATE_BITS = bytes(sum(1 << bit for bit, name in enumerate(CHAR_PREDICATES) if getattr(chr(code), name)())
                             for code in range(128))


def _char_predicate(bit: int) -> Inline:
    method = getattr(str, CHAR_PREDICATES[bit])

    def rule(s: Specializer, args: list[AV]) -> bool:
        """`text.isdigit()` (...) on an exact str: a table lookup for one
        ASCII character, the method otherwise."""
        if len(args) != 1 or _exact_type(args[0]) is not str:
            return False
        push_bool(s, s.emit("str_predicate", [s.box(args[0])], "error", bit=bit, method=method,
                            table=ASCII_PREDICATE_BITS))
        return True
    return rule


for _bit, _name in enumerate(CHAR_PREDICATES):
    inline(getattr(str, _name))(_char_predicate(_bit))


@inline(str.split)
def _split_for_loop(s: Specializer, args: list[AV]) -> bool:
    """`for word in text.split():` on an exact str: the list split() would
    make is only iterated, so it is not made; the loop makes each word when
    it reaches it (`SplitIter`), as split() makes them (the same objects:
    one-character strings are the shared ones, a text that is one word is
    itself).  Words the loop never reaches are never made."""
    if len(args) != 1 or _exact_type(args[0]) is not str:
        return False
    assert s.ins is not None
    get_iter = s.decoded.by_index.get(s.ins.next_index)
    if get_iter is None or get_iter.opname != "GET_ITER" or (
            s.decoded.by_index[get_iter.next_index].opname != "FOR_ITER"):
        return False
    s.push(AV(kinds.SPLIT_ITER, (s.box(args[0]), s.const(0))))
    return True


@inline(dict.get)
def _dict_get(s: Specializer, args: list[AV]) -> bool:
    if len(args) not in (2, 3) or _exact_type(args[0]) is not dict:  # (a constant one too: a global)
        return False
    default = s.box(args[2]) if len(args) == 3 else s.const(None)
    push_object(s, s.emit("dict_get", [s.box(args[0]), s.box(args[1]), default], "error"))  # type: ignore[arg-type]
    return True


@inline(abs)
def _abs(s: Specializer, args: list[AV]) -> bool:
    if not _all_numeric(args, 1) or s.generalized("overflow"):
        return False
    a = args[0]
    if category(a) == "float":
        push_float(s, s.emit("fabs", [as_float(s, a)]))
        return True
    x = as_int(s, a)
    negated = s.emit("isub_ovf", [s.const(0), x], "deopt", reason="overflow")
    push_int(s, s.emit("select", [_icmp(s, x, "<", 0), negated, x]))  # type: ignore[list-item]
    return True


def _min_max(pick_second: str) -> Inline:
    def emit(s: Specializer, args: list[AV]) -> bool:
        if not _all_numeric(args, 2) or category(args[0]) != category(args[1]) or any(map(_is_bool, args)):
            return False  # the result's type would depend on which is picked
        a, b = args
        if category(a) == "int":
            x, y = as_int(s, a), as_int(s, b)
            # min(a, b) keeps a unless b < a (and max unless b > a)
            push_int(s, s.emit("select", [_icmp(s, y, pick_second, x), y, x]))
        else:
            x, y = as_float(s, a), as_float(s, b)
            push_float(s, s.emit("select", [s.emit("fcmp", [y, x], pred=pick_second), y, x]))
        return True

    return emit


inline(min)(_min_max("<"))
inline(max)(_min_max(">"))


def _float_to_int(s: Specializer, x: ir.Value) -> ir.Value:
    """int(x) for a float x: CPython's errors, 64-bit results only."""
    raise_if(s, s.emit("fcmp", [x, x], pred="!="), ValueError, "cannot convert float NaN to integer")  # type: ignore[arg-type]
    raise_if(s, _infinite(s, x), OverflowError, "cannot convert float infinity to integer")  # type: ignore[arg-type]
    fits = s.emit("and", [s.emit("fcmp", [x, s.const(-(2.0**63))], pred=">="),
                          s.emit("fcmp", [x, s.const(2.0**63)], pred="<")])
    guard(s, fits, "int result too large")  # type: ignore[arg-type]
    return s.emit("fptosi", [x])  # type: ignore[return-value]


@inline(int)
def _int(s: Specializer, args: list[AV]) -> bool:
    """int(x): native for a number; for anything else what int's own call
    does with one argument (op int_of: a short decimal str read inline, else
    PyNumber_Long, which makes an exact int)."""
    if len(args) == 1 and category(args[0]) is None:
        text = _exact_type(args[0]) is str
        push_object(s, s.emit("int_of", [s.box(args[0])], "error", generic=int(not text)), int)  # type: ignore[arg-type]
        return True
    if not _all_numeric(args, 1):
        return False
    a = args[0]
    if category(a) == "int":
        push_int(s, as_int(s, a))
    else:
        push_int(s, _float_to_int(s, as_float(s, a)))
    return True


@inline(float)
def _float(s: Specializer, args: list[AV]) -> bool:
    """float(x): native for a number; for anything else what float's own
    call does with one argument, PyNumber_Float (an exact float)."""
    if len(args) == 1 and category(args[0]) is None:
        push_object(s, capi(s, "PyNumber_Float", [s.box(args[0])]), float)
        return True
    if not _all_numeric(args, 1):
        return False
    push_float(s, as_float(s, args[0]))
    return True


@inline(str)
def _str(s: Specializer, args: list[AV]) -> bool:
    """str(x) with one argument is PyObject_Str(x), as str's own call: a
    str, or an instance of a subclass that x's __str__ returned."""
    if len(args) != 1:
        return False
    exact = _exact_type(args[0]) in (int, float, bool, str, type(None))  # their __str__ makes an exact str
    push_object(s, capi(s, "PyObject_Str", [s.box(args[0])]), str if exact else None)
    return True


@inline(repr)
def _repr(s: Specializer, args: list[AV]) -> bool:
    """repr(x) is PyObject_Repr(x), as the builtin."""
    if len(args) != 1:
        return False
    push_object(s, capi(s, "PyObject_Repr", [s.box(args[0])]))
    return True


@inline(bool)
def _bool(s: Specializer, args: list[AV]) -> bool:
    if len(args) != 1 or (category(args[0]) is None and static_truth(args[0]) is None):
        return False
    known = static_truth(args[0])
    s.push(AV(Const(known)) if known is not None else AV(BOOL, (as_bool(s, args[0]),)))
    return True


@inline(divmod)
def _divmod(s: Specializer, args: list[AV]) -> bool:
    if not _all_numeric(args, 2) or s.generalized("overflow"):
        return False
    a, b = args
    if category(a) == "int" and category(b) == "int":
        x, y = as_int(s, a), as_int(s, b)
        q = _int_floordiv(s, x, y)
        r = s.emit("imod", [x, y])
        s.push(AV(kinds.Tuple((INT, INT)), (q, r)))  # type: ignore[arg-type]
        return True
    x, y = as_float(s, a), as_float(s, b)
    raise_if(s, s.emit("fcmp", [y, s.const(0.0)], pred="=="), ZeroDivisionError, "float divmod()")  # type: ignore[arg-type]
    q, r = s.emit("ffloordiv", [x, y]), s.emit("fmod", [x, y])
    s.push(AV(kinds.Tuple((FLOAT, FLOAT)), (q, r)))  # type: ignore[arg-type]
    return True


@inline(round)
def _round(s: Specializer, args: list[AV]) -> bool:
    if not _all_numeric(args, 1):
        return False
    a = args[0]
    if category(a) == "int":
        push_int(s, as_int(s, a))
    else:
        push_int(s, _float_to_int(s, s.emit("fround_even", [as_float(s, a)])))  # type: ignore[arg-type]
    return True


@inline(range)
def _range(s: Specializer, args: list[AV]) -> bool:
    if not 1 <= len(args) <= 3 or not all(category(a) == "int" for a in args):
        return False
    ints = [as_int(s, a) for a in args]
    start, stop, step = (
        (s.const(0), ints[0], s.const(1)) if len(ints) == 1
        else (ints[0], ints[1], s.const(1)) if len(ints) == 2 else tuple(ints)
    )
    if len(ints) == 3:
        raise_if(s, _icmp(s, step, "==", 0), ValueError, "range() arg 3 must not be zero")
    s.push(AV(kinds.RANGE, (start, stop, step)))
    return True


def _math1(name: str, domain: str | None = None, result: str = "float") -> Inline:
    """A one-argument math function; `domain` names the error check."""

    def emit(s: Specializer, args: list[AV]) -> bool:
        if not _all_numeric(args, 1):
            return False
        a = args[0]
        if result == "int" and category(a) == "int":
            push_int(s, as_int(s, a))
            return True
        x = as_float(s, a)
        if domain == "negative":
            bad = s.emit("fcmp", [x, s.const(0.0)], pred="<")
        elif domain == "nonpositive":
            bad = s.emit("fcmp", [x, s.const(0.0)], pred="<=")
        elif domain == "infinite":
            bad = _infinite(s, x)
        else:
            bad = None
        if bad is not None:
            raise_if(s, bad, ValueError, "math domain error")  # type: ignore[arg-type]
        r = s.emit("math", [x], name=name)
        if name == "exp":  # overflow of a finite argument
            raise_if(s, s.emit("and", [_infinite(s, r), _finite(s, x)]), OverflowError, "math range error")  # type: ignore[arg-type, list-item]
        if result == "int":
            push_int(s, _float_to_int(s, r))  # type: ignore[arg-type]
        elif result == "bool":
            push_bool(s, r)
        else:
            push_float(s, r)
        return True

    return emit


def _isx(test: str) -> Inline:
    def emit(s: Specializer, args: list[AV]) -> bool:
        if not _all_numeric(args, 1):
            return False
        x = as_float(s, args[0])
        if test == "nan":
            push_bool(s, s.emit("fcmp", [x, x], pred="!="))
        else:
            is_inf = _infinite(s, x)
            if test == "inf":
                push_bool(s, is_inf)
            else:
                push_bool(s, s.emit("and", [s.emit("not", [is_inf]), s.emit("fcmp", [x, x], pred="==")]))
        return True

    return emit


def _math2(name: str) -> Inline:
    def emit(s: Specializer, args: list[AV]) -> bool:
        if not _all_numeric(args, 2):
            return False
        x, y = as_float(s, args[0]), as_float(s, args[1])
        r = s.emit("math", [x, y], name=name)
        if name == "pow":
            finite = s.emit("and", [_finite(s, x), _finite(s, y)])
            nan = s.emit("fcmp", [r, r], pred="!=")
            inf = _infinite(s, r)
            zero = s.emit("fcmp", [x, s.const(0.0)], pred="==")
            domain = s.emit("or", [nan, s.emit("and", [inf, zero])])
            raise_if(s, s.emit("and", [finite, domain]), ValueError, "math domain error")  # type: ignore[arg-type, list-item]
            raise_if(s, s.emit("and", [finite, inf]), OverflowError, "math range error")  # type: ignore[arg-type, list-item]
        push_float(s, r)
        return True

    return emit


inline(math.sqrt)(_math1("sqrt", "negative"))
inline(math.sin)(_math1("sin", "infinite"))
inline(math.cos)(_math1("cos", "infinite"))
inline(math.tan)(_math1("tan", "infinite"))
inline(math.exp)(_math1("exp"))
inline(math.log)(_math1("log", "nonpositive"))
inline(math.log10)(_math1("log10", "nonpositive"))
inline(math.fabs)(_math1("fabs"))
inline(math.floor)(_math1("floor", result="int"))
inline(math.ceil)(_math1("ceil", result="int"))
inline(math.isnan)(_isx("nan"))
inline(math.isinf)(_isx("inf"))
inline(math.isfinite)(_isx("finite"))
inline(math.atan2)(_math2("atan2"))
inline(math.pow)(_math2("pow"))
