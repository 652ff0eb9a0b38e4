"""`record`: the class decorator of psyco's plain data classes.

It gives a class what `dataclasses.dataclass` would (`__init__` from the
annotated fields and their defaults, `__repr__`, `__eq__`, `__hash__`, with
the same rules for `eq` and `frozen`) for a fraction of the cost: importing
`dataclasses` (and `inspect`) and processing psyco's classes took about 50
ms of every psyco start-up, half of its budget.  Only `__init__` is compiled
per class; the other methods are shared.  Methods a class defines itself
are kept.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any

from psyco.own_builtins import BUILTINS

__builtins__ = BUILTINS  # psyco calls the builtins it was imported with (see own_builtins)

_MISSING: Any = object()


class Field:
    """A field's default when a plain class attribute cannot say it: made
    afresh per instance (`default_factory`), or left out of comparisons."""

    def __init__(self, default: object, default_factory: Callable[[], object] | None, compare: bool) -> None:
        self.default = default
        self.default_factory = default_factory
        self.compare = compare


def field(*, default: object = _MISSING, default_factory: Callable[[], object] | None = None,
          compare: bool = True) -> Any:
    return Field(default, default_factory, compare)


def record(cls: type | None = None, /, *, eq: bool = True, frozen: bool = False) -> Any:
    """Make `cls` a data class; `@record` or `@record(eq=..., frozen=...)`.
    `frozen` records are immutable and hashed by value; with `eq=False`
    instances compare (and hash) by identity."""

    def wrap(cls: type) -> type:
        _complete(cls, eq, frozen)
        return cls

    return wrap if cls is None else wrap(cls)


def _complete(cls: type, eq: bool, frozen: bool) -> None:
    annotations = cls.__dict__.get("__annotations__", {})
    names = [n for n, a in annotations.items() if not str(a).startswith(("ClassVar", "typing.ClassVar"))]
    namespace: dict[str, object] = {"_MISSING": _MISSING}
    params, assignments, compared = [], [], []
    for name in names:
        declared = cls.__dict__.get(name, _MISSING)
        spec = declared if isinstance(declared, Field) else Field(declared, None, True)
        if spec.compare:
            compared.append(name)
        if spec.default_factory is not None:
            namespace[f"_make_{name}"] = spec.default_factory
            params.append(f"{name}=_MISSING")
            assignments.append(f"_make_{name}() if {name} is _MISSING else {name}")
        else:
            if spec.default is not _MISSING:
                namespace[f"_default_{name}"] = spec.default
                params.append(f"{name}=_default_{name}")
            else:
                params.append(name)
            assignments.append(name)
        if isinstance(declared, Field):
            if spec.default is _MISSING:
                delattr(cls, name)
            else:
                setattr(cls, name, spec.default)
    if frozen:  # their __setattr__ refuses: fill __dict__ directly
        body = f"self.__dict__.update({{{', '.join(f'{n!r}: {a}' for n, a in zip(names, assignments))}}})"
    else:
        body = "; ".join(f"self.{n} = {a}" for n, a in zip(names, assignments)) or "pass"
    # Only __init__ is compiled (compiling source is what costs); the other
    # methods are shared and read the fields through these two attributes.
    exec(f"def __init__(self, {', '.join(params)}):\n    {body}", namespace)
    cls._record_fields = tuple(names)  # type: ignore[attr-defined]
    # (a plain function would be bound to the instance it is read from)
    cls._record_key = operator.attrgetter(*compared) if compared else staticmethod(_no_fields)  # type: ignore[attr-defined]
    methods = {"__init__": namespace["__init__"], "__repr__": _repr}
    # Python sets __hash__ to None in a class that defines __eq__ alone: not a choice of the class.
    explicit_hash = "__hash__" in cls.__dict__ and not (cls.__hash__ is None and "__eq__" in cls.__dict__)
    if eq:
        methods["__eq__"] = _eq
        if not explicit_hash:  # frozen: hashed by value; mutable and equal by value: unhashable
            cls.__hash__ = _hash if frozen else None  # type: ignore[assignment]
    if frozen:
        methods["__setattr__"] = _refuse_assignment
    for name, method in methods.items():
        if name not in cls.__dict__:
            setattr(cls, name, method)


def _no_fields(record: object) -> tuple:
    return ()


def _repr(self: Any) -> str:
    fields = ", ".join(f"{n}={getattr(self, n)!r}" for n in self._record_fields)
    return f"{type(self).__qualname__}({fields})"


def _eq(self: Any, other: object) -> bool:
    if other.__class__ is not self.__class__:
        # not NotImplemented: Python would call the other's __eq__ too
        # (kinds of different classes meet in every `kind in (INT, FLOAT)`)
        return other is self
    return self._record_key(self) == self._record_key(other)


def _hash(self: Any) -> int:
    return hash(self._record_key(self))


def _refuse_assignment(self: object, name: str, value: object) -> None:
    raise AttributeError(f"cannot assign to field {name!r} of {type(self).__name__}")
