"""Resume recipes: the interpreter's values at a deoptimization exit.

A deopt exit in machine code only passes its native values (64-bit ints,
doubles, i1 flags, object pointers) to a stub that stores them into a buffer
of 64-bit words and calls its recipe with the buffer's address.  The recipe, built by the back
end when it lowered the exit, says how each frame slot is rebuilt from
those words: boxed, a constant, a tuple of other slots (made once, as an
instance, however many slots hold it), a range, a range
iterator, a list or tuple iterator, an iterator over the words of a str,
a slice, an instance (made once however many slots hold it), or no value.  Keeping this out of the
generated code makes every exit one call, which is what
keeps compile times low; an exit is rare by design, so building the values
in Python costs nothing that matters.
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable, Sequence

from psyco.abi import current as abi
from psyco.own_builtins import BUILTINS

__builtins__ = BUILTINS  # psyco calls the builtins it was imported with (see own_builtins)

# A recipe is a tuple: (tag, *operands); operands are word indices, a
# constant, or the recipes of a tuple's items.
Recipe = tuple

NO_VALUE = object()
"""Stands for an empty frame slot (NULL) in the tuple a recipe returns."""


def _word(words: ctypes._Pointer, i: int) -> int:
    return words[i]


def _double(words: ctypes._Pointer, i: int) -> float:
    return ctypes.cast(words, ctypes.POINTER(ctypes.c_double))[i]


def _object(words: ctypes._Pointer, i: int) -> object:
    return ctypes.cast(ctypes.c_void_p(words[i]), ctypes.py_object).value


_BUILD: dict[str, Callable[..., object]] = {
    "null": lambda words: NO_VALUE,
    "const": lambda words, value: value,
    "int": _word,
    "float": _double,
    "bool": lambda words, i: bool(words[i]),
    "obj": _object,
    "range": lambda words, *ix: range(*(words[i] for i in ix)),
    "range_iter": lambda words, *ix: iter(range(*(words[i] for i in ix))),
    "slice": lambda words, start, stop: slice(*(None if i is None else words[i] for i in (start, stop))),
    "seq_iter": lambda words, seq, index: _sequence_iterator(_object(words, seq), words[index]),
    # the words not yet reached: whitespace ends a word, so the rest of the
    # text splits into them
    "split_iter": lambda words, text, start: iter(_object(words, text)[words[start]:].split()),
}


def _sequence_iterator(sequence: object, index: int) -> object:
    it = iter(sequence)  # type: ignore[call-overload]
    it.__setstate__(index)
    return it


def _build(words: ctypes._Pointer, recipe: Recipe, made: dict[int, object]) -> object:
    """The object `recipe` makes; `made`: the instances and tuples made so
    far, by vid (slots holding the same virtual get the same object)."""
    tag = recipe[0]
    if tag == "tuple":
        items, vid = recipe[1:]
        if vid not in made:
            made_tuple = tuple(_build(words, item, made) for item in items)
            if not vid:  # a tuple of no vid (a constant's parts) is its own
                return made_tuple
            made[vid] = made_tuple
        return made[vid]
    if tag == "instance":
        cls, names, vid, items = recipe[1:]
        if vid not in made:
            instance = made[vid] = object.__new__(cls)
            # its dict, not setattr: a descriptor the class gained since runs no code now
            vars(instance).update(zip(names, (_build(words, item, made) for item in items)))
        return made[vid]
    return _BUILD[tag](words, *recipe[1:])


class Raised(tuple):
    """The last item of a recipe's values when a signal handler, run once
    they were made, raised (its one item): the deopt support raises it in
    the resumed frame, where the function's own handlers see it."""


def _run_plainly(build: Callable[[], tuple]) -> tuple:
    return build()


class Resume:
    """The recipes of one exit's frame slots (locals, then stack)."""

    # How values are made: the runtime (jit) sets what defers signal
    # handlers to the end and returns what they raise as a Raised item.
    run: Callable[[Callable[[], tuple]], tuple] = staticmethod(_run_plainly)

    def __init__(self, slots: Sequence[Recipe], n_words: int) -> None:
        self.slots = tuple(slots)
        self.n_words = n_words

    def values(self, address: int) -> tuple:
        """New objects for the frame slots, from the words at `address`;
        NO_VALUE for an empty slot.  Objects in the words are borrowed."""
        return self.run(lambda: self._made(address))

    def _made(self, address: int) -> tuple:
        words = abi.memory(address, ctypes.c_int64)
        made: dict[int, object] = {}
        return tuple(_build(words, slot, made) for slot in self.slots)
