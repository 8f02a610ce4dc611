"""`record`: `@dataclass`, with its generated methods compiled when first used rather than when the class is made.

Python (3.10–3.13) compiles each dataclass's `__init__`, `__repr__`, `__eq__`, `__hash__` and, for a frozen one,
`__setattr__` and `__delattr__` with `exec` as the class is created: the engine's ~60 dataclasses spent about a
third of a warm `can-share` doing so (issue 18, benchmarks/NOTES.md), though an answer from the compiled-bundle
cache calls none of them (unpickling does not call `__init__`). A `record` class is a real dataclass at once —
`dataclasses.fields`, `replace`, `is_dataclass`, `__match_args__` and pickling work as usual — made with nothing
generated; the first call of one of those methods has `dataclasses.dataclass` generate them all, on a twin class
with the same fields, and puts them on the class. So their code is the standard library's, not a copy of it.

Supported: `frozen` and `eq` (the engine uses nothing else), fields with defaults, `field(...)` options and
`__post_init__`, on a class whose bases are not dataclasses. A frozen record's `__setattr__`/`__delattr__` are
written here (no `exec`): they refuse every assignment, as a frozen dataclass does on its own instances.
"""

from __future__ import annotations

import dataclasses
import threading
from typing import TYPE_CHECKING, Any, Callable, Optional, TypeVar, overload

if TYPE_CHECKING:  # pragma: no cover — type checkers see a dataclass (PEP 681); at run time nothing is imported
    from typing_extensions import dataclass_transform
else:
    def dataclass_transform(**_kwargs: Any) -> Callable[[Any], Any]:
        return lambda f: f

T = TypeVar("T", bound=type)

_GENERATED = ("__init__", "__repr__", "__eq__", "__hash__")
_lock = threading.Lock()


@overload
def record(cls: T, /) -> T: ...
@overload
def record(cls: None = None, /, *, frozen: bool = False, eq: bool = True) -> Callable[[T], T]: ...


@dataclass_transform(field_specifiers=(dataclasses.field, dataclasses.Field))
def record(cls: Optional[T] = None, /, *, frozen: bool = False, eq: bool = True) -> Any:
    """`@record` or `@record(frozen=True, eq=False)`: as `@dataclass(...)` with the same arguments."""

    def wrap(c: T) -> T:
        return _record(c, frozen, eq)

    return wrap if cls is None else wrap(cls)


def _record(cls: Any, frozen: bool, eq: bool) -> Any:
    if any(dataclasses.is_dataclass(base) for base in cls.__mro__[1:]):
        raise TypeError(f"{cls.__qualname__}: a record's bases may not be dataclasses")
    own = [name for name in _GENERATED if name in cls.__dict__ and not (name == "__hash__" and cls.__dict__[name]
                                                                        is None)]
    if own:
        raise TypeError(f"{cls.__qualname__} defines {', '.join(own)}: use @dataclass")
    template = {k: v for k, v in cls.__dict__.items() if k not in ("__dict__", "__weakref__")}
    undocumented = not cls.__doc__
    if undocumented:
        # dataclass would document the class with `inspect.signature` of its __init__, which without a generated
        # one is object's: parsing that text compiles tokenize's patterns (~3 ms). Written from the fields here.
        cls.__doc__ = cls.__name__
    cls = dataclasses.dataclass(init=False, repr=False, eq=False)(cls)
    if undocumented:
        cls.__doc__ = f"{cls.__name__}({', '.join(_describe(f) for f in dataclasses.fields(cls) if f.init)})"

    def realise() -> None:
        with _lock:
            if cls.__dict__.get("__record_realised__"):
                return
            twin: Any = dataclasses.dataclass(frozen=frozen, eq=eq)(type(cls.__name__, cls.__bases__, dict(template)))
            for name in _GENERATED:
                if name in twin.__dict__:
                    setattr(cls, name, twin.__dict__[name])
            cls.__record_realised__ = True

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        realise()
        cls.__init__(self, *args, **kwargs)

    def __repr__(self: Any) -> str:
        realise()
        return cls.__repr__(self)

    cls.__init__ = __init__
    cls.__repr__ = __repr__
    if eq:
        def __eq__(self: Any, other: Any) -> Any:
            realise()
            return cls.__eq__(self, other)

        cls.__eq__ = __eq__
        if frozen:
            def __hash__(self: Any) -> int:
                realise()
                return cls.__hash__(self)

            cls.__hash__ = __hash__
        else:
            cls.__hash__ = None  # as dataclass: eq without frozen is unhashable
    if frozen:
        def __setattr__(self: Any, name: str, value: Any) -> None:
            raise dataclasses.FrozenInstanceError(f"cannot assign to field {name!r}")

        def __delattr__(self: Any, name: str) -> None:
            raise dataclasses.FrozenInstanceError(f"cannot delete field {name!r}")

        cls.__setattr__ = __setattr__
        cls.__delattr__ = __delattr__
    return cls



def _describe(f: dataclasses.Field) -> str:
    """A parameter as `inspect.signature` shows it in a dataclass's generated docstring."""
    import inspect  # (dataclasses has imported it already)

    text = f"{f.name}: {inspect.formatannotation(f.type)}"
    if f.default is not dataclasses.MISSING:
        return f"{text} = {f.default!r}"
    return text if f.default_factory is dataclasses.MISSING else f"{text} = <factory>"
