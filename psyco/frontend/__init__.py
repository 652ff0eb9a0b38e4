"""Bytecode front end, selected by CPython version."""

from psyco.frontend.py311 import DecodedCode, Instruction, decode

__all__ = ["DecodedCode", "Instruction", "decode"]
