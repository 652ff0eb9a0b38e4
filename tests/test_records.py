"""psyco.records.record: the data classes of the compiler behave as
dataclasses would."""

import pytest

from psyco.records import field, record


@record(frozen=True)
class Point:
    x: int
    y: int = 0
    tag: object = field(default=None, compare=False)


@record
class Bag:
    name: str
    items: list = field(default_factory=list)


@record(eq=False)
class Node:
    value: int


def test_init_defaults_and_repr() -> None:
    assert (Point(1).x, Point(1).y, Point(1, 2).y) == (1, 0, 2)
    assert repr(Point(1, y=2, tag="t")) == "Point(x=1, y=2, tag='t')"
    with pytest.raises(TypeError):
        Point()


def test_frozen_records_compare_and_hash_by_value() -> None:
    assert Point(1, 2, tag="a") == Point(1, 2, tag="b")  # tag is not compared
    assert Point(1, 2) != Point(2, 1)
    assert len({Point(1, 2), Point(1, 2, tag=3), Point(0, 0)}) == 2
    with pytest.raises(AttributeError, match="cannot assign to field 'x' of Point"):
        Point(1).x = 2


def test_records_without_fields_are_all_equal() -> None:
    @record(frozen=True)
    class Marker:
        pass

    @record(frozen=True)
    class Other:
        pass

    assert Marker() == Marker() and hash(Marker()) == hash(Marker())
    assert Marker() != Other()


def test_factories_make_a_fresh_default_per_instance() -> None:
    a, b = Bag("a"), Bag("b")
    a.items.append(1)
    assert (a.items, b.items) == ([1], [])
    assert Bag("a", [1]) == Bag("a", [1])
    with pytest.raises(TypeError):
        hash(Bag("a"))  # mutable and equal by value


def test_eq_false_keeps_identity() -> None:
    a = Node(1)
    assert a != Node(1) and a == a
    assert len({a, Node(1)}) == 2


def test_methods_a_class_defines_are_kept() -> None:
    @record(frozen=True)
    class Loose:
        value: float

        def __eq__(self, other: object) -> bool:
            return isinstance(other, Loose) and abs(self.value - other.value) < 1

        def __hash__(self) -> int:
            return 0

    assert Loose(1.0) == Loose(1.5)
    assert hash(Loose(3.0)) == 0


def test_a_frozen_record_defining_only_eq_is_hashed_by_value():
    @record(frozen=True)
    class Near:
        value: int

        def __eq__(self, other: object) -> bool:
            return isinstance(other, Near) and self.value == other.value

    assert hash(Near(3)) == hash(Near(3)) and len({Near(3), Near(3)}) == 1
