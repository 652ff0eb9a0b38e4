"""The LLVM assembly the back end writes as text: what LLVM parses from it
and what the machine code then does."""

from __future__ import annotations

import ctypes
import math
import struct

import pytest

from psyco import backend, ir
from psyco import llvm_text as L

I8, I32, I64, F64 = L.IntType(8), L.IntType(32), L.IntType(64), L.DoubleType()
PTR = I8.as_pointer()


def compiled(module: L.Module, name: str, ctype: type) -> object:
    engine = backend.Engine.get()
    engine.compile(module, optimize=False)
    return ctype(engine.address(name))


@pytest.mark.parametrize("value", [0.0, -0.0, 1.5, 0.1, math.inf, -math.inf, math.nan, 5e-324, 1.7976931348623157e308])
def test_double_constants_are_exact(value):
    name = ir.unique_name("double")
    m = L.Module(name)
    f = L.Function(m, L.FunctionType(F64, []), name)
    L.IRBuilder(f.append_basic_block("start")).ret(F64(value))
    got = compiled(m, name, ctypes.CFUNCTYPE(ctypes.c_double))()
    assert struct.pack("<d", got) == struct.pack("<d", value)


def test_phis_and_calls_at_addresses():
    """What the back end writes for C functions and data: calls through
    constant addresses (a variadic one too) and pointers to memory it owns."""
    name = ir.unique_name("pick")
    m = L.Module(name)
    texts = [ctypes.create_string_buffer(data) for data in (b"plain", b'quote " and \\ backslash', bytes(range(1, 40)))]
    fmt = ctypes.create_string_buffer(b"<%s>")
    libc = ctypes.CDLL(None)
    snprintf = I64(ctypes.cast(libc.snprintf, ctypes.c_void_p).value).inttoptr(
        L.FunctionType(I32, [PTR, I64, PTR], var_arg=True).as_pointer())
    f = L.Function(m, L.FunctionType(PTR, [I32, PTR]), name)
    which, out = f.args
    b = L.IRBuilder(f.append_basic_block("start"))
    cases = [f.append_basic_block("case") for _ in texts]
    done = f.append_basic_block("done")
    for i, block in enumerate(cases[:-1]):
        other = f.append_basic_block("other")
        b.cbranch(b.icmp_signed("==", which, I32(i)), block, other)
        b.position_at_end(other)
    b.branch(cases[-1])
    b.position_at_end(done)
    chosen = b.phi(PTR, name="chosen")
    for block, text in zip(cases, texts):
        b.position_at_end(block)
        chosen.add_incoming(I64(ctypes.addressof(text)).inttoptr(PTR), block)
        b.branch(done)
    b.position_at_end(done)
    b.call(snprintf, [out, I64(100), I64(ctypes.addressof(fmt)).inttoptr(PTR), chosen])
    b.ret(chosen)
    run = compiled(m, name, ctypes.CFUNCTYPE(ctypes.c_void_p, ctypes.c_int32, ctypes.c_char_p))
    for i, text in enumerate(texts):
        buffer = ctypes.create_string_buffer(100)
        assert run(i, buffer) == ctypes.addressof(text)
        assert buffer.value == b"<" + text.value + b">"


def test_duplicate_globals_are_refused():
    m = L.Module("dup")
    L.Function(m, L.FunctionType(I64, []), "f")
    with pytest.raises(NameError):
        L.Function(m, L.FunctionType(I64, []), "f")


def test_struct_values_built_and_taken_apart():
    """Bodies return {status, result}: insertvalue into undef, extractvalue."""
    name = ir.unique_name("pair")
    m = L.Module(name)
    pair_type = L.LiteralStructType([I32, F64])
    make = L.Function(m, L.FunctionType(pair_type, [I32, F64]), f"{name}_make")
    make.linkage = "internal"
    b = L.IRBuilder(make.append_basic_block("start"))
    pair = b.insert_value(L.Constant(pair_type, None), make.args[0], 0)
    b.ret(b.insert_value(pair, make.args[1], 1))
    f = L.Function(m, L.FunctionType(F64, [I32, F64]), name)
    b = L.IRBuilder(f.append_basic_block("start"))
    pair = b.call(make, list(f.args))
    status = b.sitofp(b.extract_value(pair, 0), F64)
    b.ret(b.fadd(status, b.extract_value(pair, 1)))
    add = compiled(m, name, ctypes.CFUNCTYPE(ctypes.c_double, ctypes.c_int32, ctypes.c_double))
    assert add(3, 0.25) == 3.25 and add(-2, 1.5) == -0.5


@pytest.mark.parametrize("likely", [True, False, None])
def test_branch_weights_leave_the_meaning_alone(likely):
    """Branches marked likely or unlikely (metadata LLVM lays code out and
    allocates registers by) still go where their condition says."""
    name = ir.unique_name("weighted")
    m = L.Module(name)
    f = L.Function(m, L.FunctionType(I64, [I64]), name)
    b = L.IRBuilder(f.append_basic_block("start"))
    small, big = f.append_basic_block("small"), f.append_basic_block("big")
    b.cbranch(b.icmp_signed("<", f.args[0], I64(10)), small, big, likely=likely)
    b.position_at_end(small)
    b.ret(b.add(f.args[0], I64(100)))
    b.position_at_end(big)
    b.ret(b.sub(f.args[0], I64(100)))
    assert ("!prof" in str(m)) == (likely is not None)
    run = compiled(m, name, ctypes.CFUNCTYPE(ctypes.c_int64, ctypes.c_int64))
    assert [run(x) for x in (-5, 9, 10, 500)] == [95, 109, -90, 400]


@pytest.mark.parametrize("x", [0, 1, -1, 5, -(2**63), 2**63 - 1, 2**64 - 5])
@pytest.mark.parametrize("y", [0, 1, 3, 63])
def test_operations_on_constants_are_folded(x, y):
    """Wrapping arithmetic, shifts, bitwise operations, signed comparisons
    and selects of constants give constants, with the value LLVM computes
    from the same instructions on variables."""
    folds = {
        "ashr": lambda b, p, q: b.ashr(p, q),
        "add": lambda b, p, q: b.add(p, q),
        "sub": lambda b, p, q: b.sub(p, q),
        "mul": lambda b, p, q: b.mul(p, q),
        "and": lambda b, p, q: b.and_(p, q),
        "or": lambda b, p, q: b.or_(p, q),
        "xor": lambda b, p, q: b.xor(p, q),
        "lt": lambda b, p, q: b.zext(b.icmp_signed("<", p, q), I64),
        "ge": lambda b, p, q: b.zext(b.icmp_signed(">=", p, q), I64),
        "ne": lambda b, p, q: b.zext(b.icmp_signed("!=", p, q), I64),
        "select": lambda b, p, q: b.select(b.icmp_signed("==", q, I64(0)), p, q),
    }
    for what, build in folds.items():
        name = ir.unique_name(what)
        m = L.Module(name)
        f = L.Function(m, L.FunctionType(I64, [I64, I64]), name)
        b = L.IRBuilder(f.append_basic_block("start"))
        variable = build(b, *f.args)
        folded = build(b, I64(x), I64(y))
        assert isinstance(folded, L.Constant), what
        b.ret(b.sub(variable, folded))
        run = compiled(m, name, ctypes.CFUNCTYPE(ctypes.c_int64, ctypes.c_int64, ctypes.c_int64))
        assert run(x, y) == 0, what


@pytest.mark.parametrize("x", [False, True])
@pytest.mark.parametrize("y", [False, True])
def test_operations_on_boolean_constants_are_folded(x, y):
    """i1 constants read as LLVM reads them: true is -1 to signed compares."""
    i1 = L.IntType(1)
    folds = {
        "and": lambda b, p, q: b.and_(p, q),
        "xor": lambda b, p, q: b.xor(p, q),
        "lt": lambda b, p, q: b.icmp_signed("<", p, q),
        "select": lambda b, p, q: b.select(p, q, b.not_(q)),
    }
    for what, build in folds.items():
        name = ir.unique_name(what)
        m = L.Module(name)
        f = L.Function(m, L.FunctionType(I64, [i1, i1]), name)
        b = L.IRBuilder(f.append_basic_block("start"))
        variable = b.zext(build(b, *f.args), I64)
        folded = build(b, i1(x), i1(y))
        assert isinstance(folded, L.Constant), what
        b.ret(b.sub(variable, b.zext(folded, I64)))
        run = compiled(m, name, ctypes.CFUNCTYPE(ctypes.c_int64, ctypes.c_bool, ctypes.c_bool))
        assert run(x, y) == 0, what


def test_zero_operands_of_or_and_xor_are_left_out():
    f = L.Function(L.Module("zero"), L.FunctionType(I64, [I64]), "f")
    b = L.IRBuilder(f.append_basic_block("start"))
    (x,) = f.args
    assert b.xor(x, I64(0)) is x and b.or_(I64(0), x) is x
    assert b.xor(x, I64(1)) is not x


@pytest.mark.parametrize("a, b", [(1, 2), (2, 1), (3, 3)])
def test_a_branch_on_a_negation_branches_on_what_it_negates(a, b):
    name = ir.unique_name("negated")
    m = L.Module(name)
    f = L.Function(m, L.FunctionType(I64, [I64, I64]), name)
    b_ = L.IRBuilder(f.append_basic_block("start"))
    less = b_.icmp_signed("<", *f.args)
    negation = b_.not_(less)
    yes, no = f.append_basic_block("yes"), f.append_basic_block("no")
    b_.cbranch(negation, yes, no, likely=True)
    assert f'br i1 {less.ref}, label {no.ref}, label {yes.ref}, !prof !{L.UNLIKELY}' in f.blocks_text()
    b_.position_at_end(yes)
    b_.ret(I64(1))
    b_.position_at_end(no)
    b_.ret(I64(0))
    run = compiled(m, name, ctypes.CFUNCTYPE(ctypes.c_int64, ctypes.c_int64, ctypes.c_int64))
    assert run(a, b) == int(not a < b)
