"""Kinds: what the compiler knows about a value at compile time.

A kind is more than a type: `Const(3)` is known exactly, `Int` is any
`int` that fits in 64 bits (an `i64` in native code), `Tuple` and
`RangeIter` are *virtual* objects that exist only as their parts.  Each kind
says which native values ("leaves") represent it; the specializer moves
kinds and leaves together as an abstract value.
"""

from __future__ import annotations

from typing import ClassVar

from psyco.own_builtins import BUILTINS
from psyco.records import field, record

__builtins__ = BUILTINS  # psyco calls the builtins it was imported with (see own_builtins)

INT_MIN = -(2**63)
INT_MAX = 2**63 - 1


class Kind:
    """Base class; kinds are immutable and compared by value."""

    leaves: tuple[str, ...] = ()  # IR types of the native values representing it

    def general(self) -> Kind:
        """The kind to widen to at a loop head (forget constant values)."""
        return self

    def is_object(self) -> bool:
        return False


@record(frozen=True)
class Const(Kind):
    value: object

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Const) and type(other.value) is type(self.value) and (
            other.value is self.value or _same_number(other.value, self.value)
        )

    def __hash__(self) -> int:
        return hash((type(self.value).__name__, id(self.value) if not _is_number(self.value) else self.value))

    def general(self) -> Kind:
        return kind_of_type(type(self.value), self.value)

    def __str__(self) -> str:
        return f"Const({self.value!r})"


def _is_number(v: object) -> bool:
    return type(v) in (int, float, bool)


def _same_number(a: object, b: object) -> bool:
    if type(a) is float:
        return repr(a) == repr(b)  # tells -0.0 from 0.0, nan from nan
    return _is_number(a) and a == b


# INT, FLOAT and BOOL alone: compared by identity, which the specializer's
# hot paths spell `k is INT` (a `k in (INT, FLOAT)` calls a record's __eq__
# in Python for each kind of another class).
@record(frozen=True, eq=False)
class Scalar(Kind):
    name: str
    leaves: tuple[str, ...]

    def __str__(self) -> str:
        return self.name


INT = Scalar("Int", ("i64",))
FLOAT = Scalar("Float", ("f64",))
BOOL = Scalar("Bool", ("i1",))


@record(frozen=True)
class ObjectKind(Kind):
    """A real object; `cls` is its exact type when known (an argument's
    type, a list display's result), which lets rules take fast paths.
    `mixed`: an argument already seen with several types, whose type rules
    should not guess."""

    cls: type | None = None
    mixed: bool = False
    leaves: ClassVar[tuple[str, ...]] = ("obj",)

    def is_object(self) -> bool:
        return True

    def __str__(self) -> str:
        if self.mixed:
            return "Object(mixed)"
        return "Object" if self.cls is None else f"Object({self.cls.__qualname__})"


OBJECT = ObjectKind()
MIXED = ObjectKind(mixed=True)


def releasable_early(kind: Kind) -> bool:
    """Whether a value of `kind` may be forgotten as soon as it is dead,
    before the variable holding it would let go of it in CPython: native
    values, which no finalizer watches.  (A constant costs nothing to hold;
    a virtual instance is kept: an inlined __init__'s `self` is its result.)"""
    return bool(kind.leaves) and "obj" not in kind.leaves and not isinstance(kind, Instance)


@record(frozen=True, eq=False)  # UNBOUND and NULL alone, as Scalar's
class Marker(Kind):
    """Stack or local entries with no value: an unbound local, a NULL."""

    name: str

    def __str__(self) -> str:
        return self.name


UNBOUND = Marker("Unbound")
NULL = Marker("Null")


@record(frozen=True)
class Tuple(Kind):
    """A virtual tuple: its items, and no object until something needs one
    (`Specializer.box`).  `vid`, as an Instance's, tells which slots hold
    the same tuple, which is made once: an object has one identity.  Not
    compared: two tuples of the same items are of the same kind."""

    items: tuple[Kind, ...]
    vid: int = field(default=0, compare=False)

    @property
    def leaves(self) -> tuple[str, ...]:  # type: ignore[override]
        return tuple(t for k in self.items for t in k.leaves)

    def general(self) -> Kind:
        return Tuple(tuple(k.general() for k in self.items), self.vid)

    def __str__(self) -> str:
        return "Tuple(" + ", ".join(map(str, self.items)) + ")"


@record(frozen=True)
class RangeIter(Kind):
    """A virtual `iter(range(...))`: current value, stop and step."""

    leaves: tuple[str, ...] = ("i64", "i64", "i64")

    def __str__(self) -> str:
        return "RangeIter"


RANGE_ITER = RangeIter()
# Builtin containers whose len() runs no code of the program.
SIZED_TYPES = (list, tuple, str, bytes, dict, set, frozenset)
# Iterators whose length_hint() is their items left, computed by no code of the program.
COUNTED_ITERATORS = frozenset(type(iter(empty)) for empty in ([], (), "", b"", {}, set(), {}.values(), {}.items(),
                                                             range(0)))


@record(frozen=True)
class RangeKind(Kind):
    """A virtual `range(start, stop, step)` object."""

    leaves: tuple[str, ...] = ("i64", "i64", "i64")

    def __str__(self) -> str:
        return "Range"


RANGE = RangeKind()


@record(frozen=True)
class SeqIter(Kind):
    """A virtual iterator over an exact list or tuple: the sequence and the
    index of the next item."""

    cls: type
    leaves: ClassVar[tuple[str, ...]] = ("obj", "i64")

    def __str__(self) -> str:
        return f"SeqIter({self.cls.__name__})"


@record(frozen=True)
class Instance(Kind):
    """A virtual instance of a plain class (made by an inlined constructor,
    inlining.py): its attributes, in the order they were first set, and
    no object until something needs one (`Specializer.box`).  `vid` tells
    apart two virtual instances with the same attribute values: slots with
    the same vid hold the same object.  Kinds are compared without it when
    merging (`fits`, `join`): a block's entry gives its instances new vids."""

    cls: type
    vid: int
    names: tuple[str, ...]
    items: tuple[Kind, ...]

    @property
    def leaves(self) -> tuple[str, ...]:  # type: ignore[override]
        return tuple(t for k in self.items for t in k.leaves)

    def general(self) -> Kind:
        return Instance(self.cls, self.vid, self.names, tuple(k.general() for k in self.items))

    def shaped_like(self, other: Kind) -> bool:
        return isinstance(other, Instance) and other.cls is self.cls and other.names == self.names

    def __str__(self) -> str:
        fields = ", ".join(f"{n}={k}" for n, k in zip(self.names, self.items))
        return f"Instance({self.cls.__qualname__}: {fields})"


@record(frozen=True)
class SplitIter(Kind):
    """A virtual iterator over the words of `text.split()` (an exact str,
    split at whitespace): the text and where the search for the next word
    starts.  A for loop over it never makes split()'s list; each word is
    made when the loop reaches it."""

    leaves: ClassVar[tuple[str, ...]] = ("obj", "i64")

    def __str__(self) -> str:
        return "SplitIter"


SPLIT_ITER = SplitIter()


@record(frozen=True)
class MethodRef(Kind):
    """A virtual `owner.name` pushed by LOAD_METHOD: only the owner exists.
    The call looks the method up and calls it in one step, without a bound
    method object; anything else looks it up first (`Specializer.force_methods`)."""

    name: str
    index: int  # of the LOAD_METHOD, which raises when the lookup fails
    leaves: tuple[str, ...] = ("obj",)

    def __str__(self) -> str:
        return f"Method({self.name})"


@record(frozen=True)
class SliceKind(Kind):
    """A virtual `slice(start, stop)` of ints or None, pushed by BUILD_SLICE:
    slicing an exact str, list or tuple with it makes no slice object (nor
    int objects for its bounds); anything else makes it real.  Its leaves
    are the bounds present."""

    has_start: bool
    has_stop: bool

    @property
    def leaves(self) -> tuple[str, ...]:  # type: ignore[override]
        return ("i64",) * (self.has_start + self.has_stop)

    def __str__(self) -> str:
        return f"Slice({'start' if self.has_start else 'None'}, {'stop' if self.has_stop else 'None'})"


VIRTUAL_REFS = (MethodRef, SliceKind)  # live only between two instructions: never merged with objects


def kind_of_type(tp: type, value: object = None) -> Kind:
    if tp is bool:
        return BOOL
    if tp is int:
        return INT if value is None or INT_MIN <= value <= INT_MAX else ObjectKind(int)
    if tp is float:
        return FLOAT
    if tp is type(None):
        return Const(None)
    return ObjectKind(tp)


def entry_kind(value: object) -> Kind:
    """The kind a compiled version assumes for an argument value."""
    return kind_of_type(type(value), value)


def fits(narrow: Kind, wide: Kind) -> bool:
    """Can a value of kind `narrow` be passed where `wide` is expected?"""
    if narrow == wide or wide == OBJECT and narrow not in (UNBOUND, NULL) and not isinstance(narrow, VIRTUAL_REFS):
        return True
    if isinstance(narrow, Const):
        return narrow.general() == wide
    if isinstance(narrow, Tuple) and isinstance(wide, Tuple) and len(narrow.items) == len(wide.items):
        return all(fits(a, b) for a, b in zip(narrow.items, wide.items))
    if isinstance(narrow, Tuple):
        return wide == ObjectKind(tuple)
    if isinstance(narrow, Instance):
        if narrow.shaped_like(wide):
            return all(fits(a, b) for a, b in zip(narrow.items, wide.items))  # type: ignore[attr-defined]
        return wide == ObjectKind(narrow.cls)
    return False


def join(a: Kind, b: Kind) -> Kind:
    """The most precise kind both `a` and `b` fit (None: no such kind)."""
    if fits(a, b):
        return b
    if fits(b, a):
        return a
    ga, gb = a.general(), b.general()
    if ga == gb:
        return ga
    if isinstance(ga, Tuple) and isinstance(gb, Tuple) and len(ga.items) == len(gb.items):
        items = tuple(join(x, y) for x, y in zip(ga.items, gb.items))
        return None if None in items else Tuple(items)  # type: ignore[return-value]
    if isinstance(ga, Instance) and ga.shaped_like(gb):
        items = tuple(join(x, y) for x, y in zip(ga.items, gb.items))  # type: ignore[attr-defined]
        return Instance(ga.cls, ga.vid, ga.names, items) if None not in items else ObjectKind(ga.cls)  # type: ignore[arg-type]
    if UNBOUND in (a, b) or NULL in (a, b) or isinstance(a, VIRTUAL_REFS) or isinstance(b, VIRTUAL_REFS):
        return None  # type: ignore[return-value]
    return OBJECT
