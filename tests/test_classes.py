"""Instances of the program's classes: attribute reads and writes through
attribute caches, methods resolved when compiling, instances created
without going through type.__call__ -- each checked against CPython,
including after the class or the instance changes under compiled code."""

from __future__ import annotations

import ctypes
import gc
import sys

import pytest

import psyco
from psyco import backend
from psyco.abi import current as abi
from tests.differential import assert_no_leak, calls_compiled, defined, deopts, outcome, same, same_compiled


class Point:
    def __init__(self, x, y):
        self.x = x
        self.y = y

    def norm2(self):
        return self.x * self.x + self.y * self.y

    def moved(self, dx, dy):
        return Point(self.x + dx, self.y + dy)


class Other:
    def __init__(self, y, x):  # the same names, in the other order
        self.y = y
        self.x = x


class Slotted:
    __slots__ = ("x", "y")

    def __init__(self, x, y):
        self.x = x
        self.y = y


class WithClassDefault:
    x = 10.5
    y = 20


def read_attributes(p):
    return p.x, p.y


def write_attributes(p, v):
    p.x = v
    p.z = v
    p.x += 1
    return sorted(vars(p).items()) if hasattr(p, "__dict__") else (p.x, p.y)


@pytest.mark.parametrize("make", [lambda: Point(1.5, 2), lambda: Other(2, 1.5), lambda: Slotted(1.5, 2),
                                  WithClassDefault])
def test_attributes(make):
    same_compiled(read_attributes, make())
    same_compiled(write_attributes, make(), 4)


def insertion_order(p):
    p.b = 1
    p.a = 2
    return list(vars(p))


def test_first_assignments_keep_the_insertion_order():
    class Bag:
        pass
    Bag().a = 0  # the shared keys know "a" first
    compiled = psyco.proxy(insertion_order)
    for _ in range(3):
        same(insertion_order, Bag(), compiled=compiled)


def test_attribute_errors():
    same_compiled(read_attributes, object())
    same_compiled(write_attributes, object(), 1)
    same_compiled(read_attributes, Slotted.__new__(Slotted))


def total_x(points):
    t = 0.0
    for p in points:
        t += p.x
    return t


def test_one_site_many_classes():
    same_compiled(total_x, [Point(1.5, 0), Other(0, 2.5), Slotted(3.5, 0), WithClassDefault()] * 3)


def test_class_changed_after_compiling():
    class Box:
        def __init__(self, x):
            self.x = x
            self.y = 0

    compiled = psyco.proxy(read_attributes)
    box = Box(1)
    assert compiled(box) == read_attributes(box)
    Box.x = property(lambda self: "from the property")  # a data descriptor now wins
    same(read_attributes, box, compiled=compiled)


def add_property_x(cls):
    cls.x = property(lambda self: 100)


def sum_x_while_the_class_changes(box, n, change_at):
    total = 0
    for i in range(n):
        if i == change_at:
            add_property_x(type(box))
        total += box.x
        box.y = total
    return total, box.y


def test_attributes_at_known_places_until_the_class_changes():
    """With the class known when compiling, attributes are read and written
    at the values array's index for their name, behind a guard on the
    class's version: a property installed mid-loop is seen at once."""
    def box_class():
        class Box:
            def __init__(self):
                self.x, self.y = 1, 0
        return Box

    compiled = psyco.proxy(read_attributes)
    compiled(Point(1, 2))
    assert "load_attr %1 [name='x' index=0]" in psyco.dump(compiled)
    compiled = psyco.proxy(sum_x_while_the_class_changes)
    for change_at in (5, 0, 50):
        expected = sum_x_while_the_class_changes(box_class()(), 20, change_at)
        entered = calls_compiled(sum_x_while_the_class_changes)
        assert compiled(box_class()(), 20, change_at) == expected
        assert calls_compiled(sum_x_while_the_class_changes) == entered + 1


def accumulate(target, steps, scale):
    """Numbers computed unboxed and stored into attributes again and again:
    after the first store, the objects the attributes hold are the previous
    store's (written in place when nothing else holds them)."""
    kept = []
    for i in range(steps):
        target.x = target.x * scale + i
        target.y = target.y - 1.5 * i
        if i == 2:
            kept.append(target.x)
            kept.append(target.y)
    target.x = i - i + 7
    return target.x, target.y, target.x is SEVEN, kept


SEVEN = 7


def test_numbers_stored_into_attributes():
    for make in (Point, Slotted):
        compiled = psyco.proxy(accumulate)
        for x, scale in ((1000, 3), (-7, -2), (2**29, 1), (3.5, 0.5), (True, 2)):
            for steps in (6, 40):  # 40: ints outgrow 64 bits
                expected = outcome(accumulate, make(x, 2.5), steps, scale)
                assert outcome(compiled, make(x, 2.5), steps, scale) == expected, (make, x, scale, steps)
        fresh = psyco.proxy(accumulate)
        fresh(make(1000, 0.25), 6, 3)
        assert " box_int " not in psyco.dump(fresh) and " box_float " not in psyco.dump(fresh)
        assert_no_leak(accumulate, compiled, (make(1000, 2.5), 6, 3), make.__name__)
    made = [Point(1, 2.0), Point(1, 2.0)]
    for p in made:
        p.__dict__["z"] = 0  # attributes in a real dict: the generic path
    assert outcome(compiled, made[0], 6, 3) == outcome(accumulate, made[1], 6, 3)


def test_instance_whose_dict_was_made():
    p = Point(1, 2)
    vars(p)["y"] = 5  # the instance now keeps its attributes in a real dict
    same_compiled(read_attributes, p)
    same_compiled(write_attributes, p, 3)


def call_methods(p, n):
    total = 0.0
    for i in range(n):
        total += p.norm2()
        p = p.moved(1.0, i)
    return total, p.x, p.y


def test_methods_and_instances_created_in_compiled_code():
    same_compiled(call_methods, Point(0.5, 0.25), 20)


def test_method_hidden_by_an_instance_attribute_after_compiling():
    compiled = psyco.proxy(call_methods)
    p = Point(0.5, 0.25)
    same(call_methods, p, 3, compiled=compiled)
    q = Point(0.5, 0.25)
    q.norm2 = lambda: 100.0
    same(call_methods, q, 3, compiled=compiled)
    same(call_methods, Point(1.0, 2.0), 3, compiled=compiled)


def test_method_replaced_on_the_class_after_compiling():
    class Local(Point):
        pass

    compiled = psyco.proxy(call_methods)
    same(call_methods, Local(1.0, 2.0), 3, compiled=compiled)
    Local.norm2 = lambda self: -1.0
    same(call_methods, Local(1.0, 2.0), 3, compiled=compiled)


class Failing:
    def __init__(self, x):
        self.x = 1 // x


def make_failing(x):
    return vars(Failing(x))


def test_errors_in_init_and_init_replaced():
    same_compiled(make_failing, 1)
    compiled = psyco.proxy(make_failing)
    same(make_failing, 0, compiled=compiled)
    original = Failing.__init__
    try:
        Failing.__init__ = lambda self, x: None
        same(make_failing, 1, compiled=compiled)
        Failing.__init__ = lambda self, x: 5
        same(make_failing, 1, compiled=compiled)
    finally:
        Failing.__init__ = original


class WithNew:
    def __new__(cls, x):
        self = super().__new__(cls)
        self.made_by_new = True
        return self

    def __init__(self, x):
        self.x = x


def make_with_new(x):
    return sorted(vars(WithNew(x)).items())


def test_class_with_its_own_new():
    same_compiled(make_with_new, 3)


def make_points(n):
    last = None
    for i in range(n):
        last = Point(i, i).moved(1, 1)
    return last.x


def test_no_leaks_from_created_instances_and_returned_objects():
    compiled = psyco.proxy(make_points)
    compiled(10)
    gc.collect()
    before = len(gc.get_objects())
    assert compiled(100_000) == make_points(100_000)
    gc.collect()
    assert len(gc.get_objects()) - before < 100
    assert calls_compiled(compiled) > 0 and not deopts(compiled)


def test_shared_key_scans_agree():
    """The compiler (abi.instance_attribute_index, in Python) and compiled
    code (the support function shared_key_index) find an attribute among a
    class's shared keys independently: they must agree."""
    address = backend.Engine.get().support_address("shared_key_index")
    native = ctypes.CFUNCTYPE(ctypes.c_int64, ctypes.py_object, ctypes.py_object)(address)

    class Many:
        def __init__(self):
            for i in range(40):
                setattr(self, f"a{i}", i)

    for cls, make in ((Point, lambda: Point(1, 2)), (Other, lambda: Other(1, 2)), (Many, Many)):
        make()
        names = list(vars(make())) + ["missing", "x_"]
        for name in names:
            index = abi.instance_attribute_index(cls, name)
            assert native(cls, name) == (-1 if index is None else index), (cls, name)
        assert any(abi.instance_attribute_index(cls, n) is not None for n in names)


class Job:
    def __init__(self, size):
        self.size = size
        self.done = 0

    def work(self, amount):
        step = amount if amount < self.size - self.done else self.size - self.done
        self.done += step
        return step


class Pool:
    def __init__(self, jobs, amount):
        self.jobs = jobs
        self.amount = amount

    def run(self):
        total = 0
        for job in self.jobs:
            total += job.work(self.amount)
        return total


def test_samples_of_the_first_call_type_attributes_and_items():
    """The arguments of the call that asked for a version are samples: its
    attributes and a list's items have types, checked by guards, so the
    methods they call are native: Job.work inlined (its stores kept back
    until it returns)."""
    expected = Pool.run(Pool([Job(i % 7 + 1) for i in range(50)], 3))
    psyco.bind(Job.work)
    try:
        compiled = psyco.proxy(Pool.run)
        assert compiled(Pool([Job(i % 7 + 1) for i in range(50)], 3)) == expected
        assert calls_compiled(compiled) > 0 and not deopts(compiled)
        assert "store_numbers" in psyco.dump(compiled) and "item type" in psyco.dump(compiled)
    finally:
        psyco.unbind(Job.work)


def test_wrong_samples_only_cost_a_deopt():
    compiled = psyco.proxy(Pool.run)
    ints = Pool([Job(5) for _ in range(10)], 2)
    assert compiled(ints) == 20
    others = Pool([Job(5), Job(2.5), Point(1, 2)], 2)  # not Jobs past the first: the guesses fail
    try:
        expected = Pool.run(Pool([Job(5), Job(2.5), Point(1, 2)], 2))
    except AttributeError as e:
        expected = str(e)
    try:
        got = compiled(others)
    except AttributeError as e:
        got = str(e)
    assert got == expected
    for _ in range(60):
        assert compiled(Pool([Job(1), Job(1.5)], 1)) == Pool.run(Pool([Job(1), Job(1.5)], 1))


class Trap:
    """Counts every use the program could observe."""

    touched = 0

    def __bool__(self):
        Trap.touched += 1
        return True

    def __len__(self):
        Trap.touched += 1
        return 1

    def __eq__(self, other):
        Trap.touched += 1
        return False

    __hash__ = object.__hash__


def add_one(trap, x):
    return x + 1


def sum_with(trap, n):
    total = 0
    for i in range(n):
        total += add_one(trap, i)
    return total


def test_samples_never_run_the_programs_code():
    psyco.bind(add_one)
    try:
        compiled = psyco.proxy(sum_with)
        assert compiled(Trap(), 10) == sum_with(Trap(), 10)
        assert calls_compiled(compiled) > 0 and Trap.touched == 0
    finally:
        psyco.unbind(add_one)


class Base:
    def __init__(self, x):
        self.x = x

    def value(self):
        return self.x


class Derived(Base):
    def __init__(self, x, y):
        super().__init__(x)
        self.y = y

    def value(self):
        return super().value() * 10 + self.y


def kinds_of(x):
    return isinstance(x, Base), isinstance(x, (int, float)), isinstance(x, Derived), isinstance(x, bool)


def is_base(x):
    return isinstance(x, Base)


def sum_derived(n):
    total = 0
    for i in range(n):
        total += Derived(i, 1).value()
    return total


def star_calls(*args, **kwargs):
    return kinds_of(*args), len(args), max(*args) if args else None


def test_isinstance_known_when_compiling():
    for value in (Base(1), Derived(1, 2), 3, 2.5, True, "s", [1]):
        same_compiled(kinds_of, value)
    compiled = psyco.proxy(is_base)
    assert compiled(Derived(1, 2)) is True
    assert "vectorcall" not in psyco.dump(compiled) and "guard_type_version" in psyco.dump(compiled)


class PosingAsAnInt:
    @property
    def __class__(self):
        return int


class Posing(Base):
    __class__ = float  # a plain class attribute: isinstance asks it too


def test_isinstance_asks_the_class_attribute_where_the_type_says_no():
    # As CPython's object_isinstance: a False answer from the type is asked
    # again of x.__class__ (unittest.mock's Mock(spec=...) relies on it).
    import weakref
    from unittest import mock
    source = "def kinds(x):\n    return isinstance(x, Base), isinstance(x, (int, float)), isinstance(x, Derived)\n"
    referent = Derived(1, 2)
    for value in (PosingAsAnInt(), Posing(1), mock.Mock(spec=int), mock.Mock(spec=Base), weakref.proxy(referent)):
        kinds = defined(source, bind=False)["kinds"]  # its own code: compiled for this value's type
        kinds.__globals__.update(Base=Base, Derived=Derived)
        compiled = psyco.proxy(kinds)
        for _ in range(3):
            same(kinds, value, compiled=compiled)
        assert calls_compiled(compiled) > 0


CLASS_ASSIGNMENTS = """
class Closed:
    def step(self):
        self.__class__ = Open  # in a method compiled code inlines
        return "opening"


class Open:
    def step(self):
        self.__class__ = Closed
        return "closing"


def run(door, n):
    log = []
    for i in range(n):
        log.append((door.step(), isinstance(door, Open)))
    return log


def switch(o, n):
    out = []
    for i in range(n):
        out.append((o.step(), type(o).__name__))
        if i == 1:
            setattr(o, "__class__", Closed if isinstance(o, Open) else Open)
    return out
"""


def test_assigning_an_objects_class_under_compiled_code():
    """`obj.__class__ = C` changes the class compiled code relied on (its
    methods, its isinstance answers): object's __class__ setter marks the
    old class modified, which fails the guards of its version."""
    plain = defined(CLASS_ASSIGNMENTS, bind=False)
    for bind in (False, True):  # (bound: methods inlined)
        space = defined(CLASS_ASSIGNMENTS, bind=bind)
        for name in ("run", "switch"):
            compiled = space[name] if bind else psyco.proxy(space[name])
            for _ in range(30):  # compiled, with the first class seen
                compiled(space["Closed"](), 1)
            for cls in ("Closed", "Open", "Closed"):
                expected = outcome(plain[name], plain[cls](), 5)
                assert outcome(compiled, space[cls](), 5) == expected, (name, bind)
            assert calls_compiled(compiled) > 0


MODULE_CLASS_ASSIGNMENT = """
import sys, types

lazy = types.ModuleType("lazy_config")
lazy.x = 1
sys.modules["lazy_config"] = lazy
import lazy_config


class Lazy(types.ModuleType):
    @property
    def x(self):
        return 100


def read(n):
    total = 0
    for i in range(n):
        total += lazy_config.x
    return total, isinstance(lazy_config, Lazy)
"""


def test_assigning_a_modules_class_under_compiled_code():
    """ModuleType is the one immutable class whose instances can get
    another class (lazy modules do): what compiled code read of a module
    is guarded by ModuleType's version too."""
    plain = defined(MODULE_CLASS_ASSIGNMENT, bind=False)
    expected = [plain["read"](5)]
    plain["lazy"].__class__ = plain["Lazy"]
    expected.append(plain["read"](5))
    space = defined(MODULE_CLASS_ASSIGNMENT, bind=True)
    got = [space["read"](5)]
    space["lazy"].__class__ = space["Lazy"]
    got.append(space["read"](5))
    assert got == expected == [(5, False), (500, True)]
    assert calls_compiled(space["read"]) > 0


def test_super_and_star_arguments():
    same_compiled(sum_derived, 50)
    same_compiled(star_calls, 3)
    same_compiled(star_calls, 4.5)


def delete_then_read(p):
    before = p.x
    del p.x
    try:
        return before, p.x
    except AttributeError as e:
        return before, str(e)


def test_delete_attribute():
    for _ in range(3):  # the attribute caches are warm after the first call
        same_compiled(delete_then_read, Point(1, 2))
    same_compiled(delete_then_read, Slotted(1, 2))


def total_sizes(jobs):
    total = 0
    for job in jobs:
        total += job.size
    return total


def make_and_total(n):
    jobs = [Job(i + 1) for i in range(n)]
    return total_sizes(jobs)


def test_a_callee_with_loops_waits_for_real_arguments():
    """Compiled code calling a function with loops on objects it made (no
    samples) calls it generically: the callee is compiled at that call,
    with the real arguments as samples."""
    psyco.bind(total_sizes)
    try:
        compiled = psyco.proxy(make_and_total)
        assert compiled(30) == make_and_total(30)
        assert "item type" in psyco.dump(total_sizes)
    finally:
        psyco.unbind(total_sizes)


class SlottedChild(Slotted):
    __slots__ = ("z",)


class SlottedWithDict:
    __slots__ = ("x", "y", "__dict__")


def shift_slots(p, n):
    for i in range(n):
        p.x = p.x + i
        p.y = p.x
    return p.x, p.y


def replace_slot(p, value):
    p.x = value


@pytest.mark.parametrize("cls", [Slotted, SlottedChild, SlottedWithDict])
def test_slots_read_and_written_in_place(cls):
    p = cls.__new__(cls)
    p.x, p.y = 1, 2
    assert same_compiled(shift_slots, p, 10)[0] == "returns"
    assert "load_slot" in psyco.dump(shift_slots) and "store_slot" in psyco.dump(shift_slots)


def test_slot_unset_or_replaced_on_the_class_after_compiling():
    class Pair:
        __slots__ = ("x", "y")

    compiled = psyco.proxy(read_attributes)
    p = Pair()
    p.x, p.y = 1, 2
    assert compiled(p) == (1, 2)
    del p.y
    same(read_attributes, p, compiled=compiled)  # the member descriptor's AttributeError
    p.y = 3
    Pair.x = property(lambda self: "from the property")
    same(read_attributes, p, compiled=compiled)


def test_slot_stores_release_the_old_value():
    p, old = Slotted(0, 0), object()
    p.x = old
    before = sys.getrefcount(old)
    psyco.proxy(replace_slot)(p, 1)
    assert p.x == 1 and sys.getrefcount(old) == before - 1


class Particle:
    def __init__(self, x, v):
        self.x = x
        self.v = v

    def step(self, dt):
        return Particle(self.x + self.v * dt, self.v)


def drift(n):
    p = Particle(0.0, 1.5)
    for _ in range(n):
        p = p.step(0.25)
    return p.x


def relabel(p):
    p.x = "moved"
    return p.step(2).x


def step_values(p, dt):
    q = p.step(dt)
    return q.x, q.v


def test_attribute_kinds_stored_by_compiled_code_are_guessed():
    """Particle.step is compiled (for drift) with no sample, but the
    compiled __init__ stored floats: its reads are unboxed floats."""
    psyco.bind(Particle.step)
    try:
        same_compiled(drift, 40)
        assert "unbox_float" in psyco.dump(Particle.step)
        same(relabel, Particle(1.0, 2.0))  # another kind stored later: the guards catch it
        same(step_values, Particle("a", "b"), 2)
    finally:
        psyco.unbind(Particle.step)


class Counter:
    __slots__ = ("n",)

    def __init__(self):
        self.n = 0

    def bump(self, by):
        self.n += by
        return self.n


class Text(str):
    """A str whose instances have a __dict__: a method may be shadowed."""


def call_each(items, name_of_method):
    """A method of objects of unknown types, called at one call site."""
    out = []
    for item in items:
        if name_of_method == "upper":
            out.append(item.upper())
        else:
            out.append(item.bump(2))
    return out


def test_method_cache_of_a_call_site_follows_types_and_classes():
    """call_method caches the method descriptor found on the owner's type
    (as LOAD_METHOD_NO_DICT): other types, an instance attribute shadowing
    the method, and a method replaced on the class after the cache was
    filled must all be seen, as the interpreter sees them."""
    shadowed = Text("sh")
    shadowed.upper = lambda: "instance attribute"
    p = psyco.proxy(call_each)
    assert p(["ab", "cd", b"ef", Text("gh"), shadowed, "ij"], "upper") == ["AB", "CD", b"EF", "GH",
                                                                          "instance attribute", "IJ"]
    assert p([Counter(), Counter()], "bump") == [2, 2]
    counter = Counter()
    assert p([counter], "bump") == [2]
    original = Counter.bump
    Counter.bump = lambda self, by: ("replaced", by)
    try:
        assert p([counter, Counter()], "bump") == [("replaced", 2)] * 2
    finally:
        Counter.bump = original
    assert p([counter], "bump") == [4]
    assert calls_compiled(p) >= 5
    same(call_each, ["x", None], "upper")  # AttributeError, as CPython words it
    assert_no_leak(call_each, psyco.proxy(call_each), (["ab", Text("cd"), b"ef"], "upper"))



def vanishing_class() -> type:
    calls = []

    class Vanishing:
        __slots__ = ()

        def bump(self, by):
            calls.append(by)
            if len(calls) == 2:
                del Vanishing.bump  # taken off its class while it runs (from the site's cache)
            return by

    return Vanishing


def test_method_cache_and_a_method_leaving_its_class():
    """The second call at the site comes from the cache and deletes the
    method; the third finds none, as in CPython."""
    p = psyco.proxy(call_each)
    got = [outcome(run, [cls(), cls(), cls()], "bump") for run, cls in ((call_each, vanishing_class()),
                                                                        (p, vanishing_class()))]
    assert got[0] == got[1] and got[0][0] == "raises"


class SlotOwner:
    __slots__ = ("slot",)


class Borrower:
    """Has another class's slot descriptor as a class attribute: using it on
    a Borrower raises TypeError, never touches the Borrower's own slot."""

    __slots__ = ("own",)
    borrowed = SlotOwner.slot


def read_borrowed(o):
    return o.borrowed


def write_borrowed(o, value):
    o.borrowed = value
    return o.own


@pytest.mark.parametrize("f, args", [(read_borrowed, ()), (write_borrowed, ([1, 2],))])
def test_a_slot_descriptor_of_another_class_raises(f, args):
    o = Borrower()
    o.own = "own"
    for _ in range(3):
        same_compiled(f, o, *args)
    gc.collect()
    assert o.own == "own"


class Tally:
    def __init__(self):
        self.count = 0


def bump_all(tallies):
    for t in tallies:
        t.count += 1
    return len(tallies)


def test_a_class_changed_after_compiling_gets_a_version_that_finds_attributes_at_run_time():
    """Attributes are read and written where the class's instances kept
    them when compiling, behind a guard on the class's version; a class
    changed since (pickle caches `__slotnames__` on it) fails that guard
    at every call: the next version finds them at run time, rather than
    the function going back to the interpreter for good."""
    tallies = [Tally() for _ in range(3)]
    compiled = psyco.proxy(bump_all)
    compiled(tallies)
    Tally.note = "changed"  # a new version of the class
    for _ in range(100):
        assert compiled(tallies) == 3
    assert [t.count for t in tallies] == [101] * 3
    rows = [r for r in psyco.report() if r["function"] == "bump_all"]
    assert not any(r["not_compiled"] for r in rows), rows
    versions = [v for r in rows for v in r["versions"]]
    assert versions[-1]["active"] and not versions[-1]["deopts"], versions
