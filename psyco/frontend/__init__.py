"""Bytecode front end, selected by CPython version."""

from psyco.frontend.py311 import DecodedCode, Instruction, decode, has_loops, is_comprehension

__all__ = ["DecodedCode", "Instruction", "decode", "has_loops", "is_comprehension"]
