"""Each pipeline stage on its own: front end, kinds, IR verifier, refcount,
the back end's instruction selection."""

import ctypes
import dis
import json
import pathlib
import re
import subprocess
import sys
import textwrap
import types

import pytest

from psyco import inlining, ir, kinds, refcount, resume, rules, specializer
from psyco.abi import py311 as abi
from psyco.frontend import py311 as frontend
from psyco.specializer import Request, Specializer


def sample(a, b):
    total = 0
    for i in range(a):
        try:
            total += i // b
        except ZeroDivisionError:
            total = -1
    while total > 100:
        total //= 2
    return total


def all_code_objects(code):
    yield code
    for c in code.co_consts:
        if isinstance(c, types.CodeType):
            yield from all_code_objects(c)


def test_decodes_every_instruction_of_the_standard_library():
    for module in (json, dis, types):
        for code in all_code_objects(compile(open(module.__file__).read(), module.__file__, "exec")):
            decoded = frontend.decode(code)
            expected = [i for i in dis.get_instructions(code) if i.opname != "EXTENDED_ARG"]
            assert [i.opname for i in decoded.instructions] == [i.opname for i in expected]
            for ins in decoded.instructions:
                if ins.target is not None:
                    assert ins.target in decoded.by_index, (code.co_name, ins)


def test_has_loops_agrees_with_the_decoded_control_flow():
    import argparse
    import asyncio.tasks

    codes = [c for m in (json.decoder, dis, argparse, asyncio.tasks)
             for c in all_code_objects(compile(open(m.__file__).read(), m.__file__, "exec"))]
    assert any(frontend.has_loops(c) for c in codes) and not all(frontend.has_loops(c) for c in codes)
    for code in codes:
        assert frontend.has_loops(code) == bool(frontend.decode(code).loop_heads), code


def test_exception_table_round_trip():
    for code in all_code_objects(compile(open(json.__file__).read(), "x", "exec")):
        handlers = frontend.parse_exception_table(code.co_exceptiontable)
        assert frontend.encode_exception_table(handlers) == code.co_exceptiontable
    handlers = frontend.parse_exception_table(sample.__code__.co_exceptiontable)
    assert handlers and all(h.start < h.end for h in handlers)


def test_cfg_and_loops():
    decoded = frontend.decode(sample.__code__)
    assert len(decoded.loop_heads) == 2  # the for loop and the while loop
    for start, block in decoded.blocks.items():
        assert block.instructions[0].index == start
        for succ in block.successors:
            assert succ in decoded.blocks
    lines = {i.line for i in decoded.instructions if i.line}
    assert min(lines) == sample.__code__.co_firstlineno and max(lines) == sample.__code__.co_firstlineno + 9


def _code_objects(code):
    yield code
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            yield from _code_objects(const)


@pytest.mark.parametrize("module", ["argparse", "dataclasses", "json.decoder", "tokenize", "asyncio.base_events"])
def test_the_decoder_reads_instructions_as_dis_does(module):
    """The front end's own bytecode walk gives dis.get_instructions' opcodes,
    arguments and argvals (EXTENDED_ARG, jumps both ways, names, locals,
    cells, comparisons, f-string conversions), the names of KW_NAMES
    besides, whose argval dis does not fill in."""
    import importlib

    source = importlib.import_module(module).__file__
    with open(source, encoding="utf-8") as f:
        top = compile(f.read(), source, "exec")
    seen = set()
    for code in _code_objects(top):
        expected = [(i.offset // 2, i.opcode, i.arg, i.argval) for i in dis.get_instructions(code)]
        got = list(frontend._raw_instructions(code))
        assert [g[:3] for g in got] == [e[:3] for e in expected], code.co_qualname
        for (index, op, arg, argval), e in zip(got, expected):
            seen.add(dis.opname[op])
            if dis.opname[op] == "KW_NAMES":
                assert argval == code.co_consts[arg]
            else:
                assert type(argval) is type(e[3]) and argval == e[3], (code.co_qualname, index, dis.opname[op])
    assert {"JUMP_BACKWARD", "POP_JUMP_FORWARD_IF_FALSE", "LOAD_GLOBAL", "LOAD_FAST", "COMPARE_OP"} <= seen


def test_trampoline_keeps_the_original_code():
    code = sample.__code__
    consts = {"native": False, "skip_gate": iter(()), "ask": print, "dispatcher": print,
              "sentinel": None, "retry": None}
    t = abi.make_trampoline(code, consts)
    shift = abi.trampoline_shift(code)
    assert t.co_code[shift * 2:] == code.co_code
    assert list(t.co_positions())[shift:] == list(code.co_positions())
    table = frontend.parse_exception_table(t.co_exceptiontable)
    stub = [h for h in table if h.start < shift]
    assert stub and all(h.end <= shift and h.target < shift for h in stub)  # the stub's own RecursionError handler
    shifted = table[len(stub):]
    original = frontend.parse_exception_table(code.co_exceptiontable)
    assert [(h.start - shift, h.target - shift) for h in shifted] == [(h.start, h.target) for h in original]


def test_kinds_fit_and_join():
    assert kinds.fits(kinds.Const(3), kinds.INT)
    assert not kinds.fits(kinds.INT, kinds.FLOAT)
    assert kinds.join(kinds.INT, kinds.FLOAT) == kinds.OBJECT
    assert kinds.join(kinds.Const(1), kinds.Const(2)) == kinds.INT
    assert kinds.join(kinds.UNBOUND, kinds.INT) is None
    assert kinds.Const(0.0) != kinds.Const(-0.0)
    assert kinds.entry_kind(2**63) == kinds.ObjectKind(int)
    assert kinds.entry_kind([]) == kinds.ObjectKind(list)
    assert kinds.fits(kinds.ObjectKind(list), kinds.OBJECT)
    assert not kinds.fits(kinds.OBJECT, kinds.ObjectKind(list))
    assert kinds.fits(kinds.Const("s"), kinds.ObjectKind(str))
    assert kinds.fits(kinds.Tuple((kinds.INT,)), kinds.ObjectKind(tuple))
    assert kinds.join(kinds.ObjectKind(list), kinds.ObjectKind(dict)) == kinds.OBJECT
    assert kinds.entry_kind(True) == kinds.BOOL


def test_verifier_rejects_bad_ir():
    fn = ir.Function("bad", [], "i64", "Int")
    b = fn.new_block()
    v = fn.new_value("i64")
    b.ops.append(ir.Op("iadd", [v, v], {}, fn.new_value("i64")))
    b.term = ir.Terminator("ret", value=v)
    with pytest.raises(ir.VerifyError, match="never defined"):
        ir.verify(fn)
    b.ops[0] = ir.Op("iadd_ovf", [], {}, fn.new_value("i64"))
    with pytest.raises(ir.VerifyError, match="needs an exit"):
        ir.verify(fn)


def _specialized(f, entry_kinds):
    request = Request(f.__code__, f.__globals__, f.__builtins__, entry_kinds)
    result = Specializer(request, None).run()
    ir.remove_redundant_params(result.fn)
    refcount.insert_refcounts(result.fn)
    ir.verify(result.fn)
    return result


def generic(a, b):
    c = a + b
    if c:
        return c
    return a


def test_refcount_balances_owned_values():
    result = _specialized(generic, (kinds.OBJECT, kinds.OBJECT))
    text = ir.format_function(result.fn)
    # the sum is owned: released where it dies, transferred where returned
    assert "c_call" in text and "decref" in text
    assert "incref" in text  # returning the borrowed argument `a`


def test_specializer_types_scalar_code():
    result = _specialized(sample, (kinds.INT, kinds.INT))
    text = ir.format_function(result.fn)
    assert "-> b" in text and "catch" in text  # the try body raises into its compiled handler
    assert "ifloordiv" in text  # the while loop's //= is compiled
    result = _specialized(generic, (kinds.INT, kinds.INT))
    assert result.return_kind == kinds.INT
    assert "iadd_ovf" in ir.format_function(result.fn)


class Shy:
    def __repr__(self):
        raise AssertionError("the compiler ran the program's __repr__")


SHOWN = (Shy(), (10**2000,))


def compares_to_a_global_tuple(n):
    equal = 0
    for i in range(n):
        equal += SHOWN == (SHOWN[0], i)
    return equal


def test_the_ir_text_describes_constants_without_running_program_code():
    text = ir.format_function(_specialized(compares_to_a_global_tuple, (kinds.INT,)).fn)
    assert "(<Shy>, (<int of 6644 bits>,))" in text


def invariant_in_loop(n, step, scale):
    total = 0
    for i in range(n):
        total += i * step
    return total * scale


def test_loop_invariant_values_are_not_block_parameters():
    result = _specialized(invariant_in_loop, (kinds.INT, kinds.INT, kinds.INT))
    n, step, scale = result.fn.params
    ops = [op for b in result.fn.blocks for op in b.ops]
    # `step` and `scale` reach their uses in and after the loop unchanged
    assert any(op.name == "imul_ovf" and step in op.args for op in ops)
    assert any(op.name == "imul_ovf" and scale in op.args for op in ops)
    looped = [b for b in result.fn.blocks if len(b.params) > 0]
    assert looped and all(len(b.params) <= 3 for b in looped)  # total, i and the range's position


def test_decoding_is_made_once_per_code_object():
    first = frontend.decode(invariant_in_loop.__code__)
    assert frontend.decode(invariant_in_loop.__code__) is first
    twin = invariant_in_loop.__code__.replace()  # equal, but another object
    assert frontend.decode(twin) is not first and frontend.decode(twin).code is twin


def test_quick_codegen_keeps_to_the_fast_instruction_selector():
    """Quick codegen relies on LLVM's fast instruction selector, which (in
    the JIT's code model) hands a block to the slow one when it calls a
    function by name, uses a global variable, switches, returns a pair or
    selects between booleans: a version calls C functions, support
    functions, stubs and compiled callees at their addresses, keeps its data
    in memory psyco owns and leaves its body through one block."""
    program = textwrap.dedent("""
        import llvmlite.binding as llvm
        llvm.set_option("", "-pass-remarks-missed=sdagisel")
        import psyco

        def label(table, keys, step):
            found = []
            for k in keys:
                try:
                    found.append(str(table[k]) + "!" + repr(k).upper())
                except KeyError:
                    found.append(None)
            for i in range(0, len(keys), step):
                found.append(str(keys[i]) + str(i) + "?")
            return found

        psyco.bind(label)
        print(label({1: "a"}, [1, 2], 1))
        print([v["optimized"] for r in psyco.report() for v in r["versions"]])
    """)
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=120)
    assert done.stdout.splitlines() == ["['a!1', None, '10?', '21?']", "[False]"], done.stderr
    missed = [line for line in done.stderr.splitlines() if "FastISel missed" in line and "_body)" in line]
    returns = [line for line in missed if "missed terminator:   ret" in line]
    assert len(returns) == 1 and missed == returns, missed


NUMERIC = """
import math

def fib(n):
    if n < 2:
        return n
    return fib(n - 1) + fib(n - 2)

def waves(n):
    total = 0.0
    for i in range(n):
        x = i / 7.0
        total += math.sin(x) * math.exp(-x / 50) + math.cos(x) + math.log(x + 1.0)
        total += math.isinf(x) + math.isfinite(total)
    return total
"""


def test_optimized_codegen_keeps_to_the_fast_instruction_selector_but_for_returning_pairs():
    """Optimized bodies call themselves through a word holding their
    address, libm at its address, and test a double's class on its bits:
    LLVM's fast instruction selector handles all that, so only the blocks
    that return a (status, result) pair go to the slow one (a body's
    return, the inlined copies' results)."""
    program = NUMERIC + textwrap.dedent("""
        import llvmlite.binding as llvm
        llvm.set_option("", "-pass-remarks-missed=sdagisel")
        import psyco

        psyco.bind(fib)
        psyco.bind(waves)
        print(fib(20), round(waves(1000), 6))
        print([v["optimized"] for r in psyco.report() for v in r["versions"]])
    """)
    plain: dict = {}
    exec(NUMERIC, plain)
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=120)
    expected = f"{plain['fib'](20)} {round(plain['waves'](1000), 6)}"
    assert done.stdout.splitlines() == [expected, "[True, True]"], done.stderr
    missed = [line for line in done.stderr.splitlines() if "FastISel missed" in line and "_body)" in line]
    pairs = [line for line in missed if "missed terminator:   ret {" in line or "= insertvalue {" in line]
    assert missed and missed == pairs, missed


def test_resume_recipes_rebuild_virtual_values():
    """What a deopt exit's recipe makes of the words it stored: virtual
    tuples, ranges and slices become the interpreter's objects."""
    words = (ctypes.c_int64 * 4)(2, -3, 7, 1)
    recipes = [("slice", 0, None), ("slice", None, 1), ("slice", 1, 2), ("tuple", (("int", 0), ("bool", 3)), 0),
               ("range", 0, 2, 3), ("null",), ("tuple", (("int", 1),), 9), ("tuple", (("int", 1),), 9)]
    got = resume.Resume(recipes, 4).values(ctypes.addressof(words))
    assert got[:5] == (slice(2, None), slice(None, -3), slice(-3, 7), (2, True), range(2, 7))
    assert got[5] is resume.NO_VALUE
    assert got[6] == (-3,) and got[6] is got[7]  # one virtual tuple (vid 9) in two slots: one object


def test_every_guard_the_specializer_can_compile_without_is_generalizable():
    """A guard site the rules compile differently once it is generalized
    (`Specializer.generalized(reason)`) must have its reason in
    jit.GENERALIZABLE: otherwise its exit getting hot sends the whole
    function back to the interpreter ("attribute lookup" and "float power"
    were missing)."""
    from psyco.runtime import jit

    source = "".join(pathlib.Path(m.__file__).read_text() for m in (rules, specializer, inlining))
    asked = set(re.findall(r'generalized\("([^"]+)"\)', source)) | set(rules.NUMBER_GUESSES)
    asked |= set(re.findall(r'(?:typed_by_sample|unboxed_guess)\(.*"([a-z ]+)"', source))  # they ask for their reason
    assert "attribute lookup" in asked and "float power" in asked
    assert asked <= jit.GENERALIZABLE, asked - jit.GENERALIZABLE
