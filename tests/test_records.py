"""engine/base/records.py: a `record` behaves as the `dataclass` it stands for, whose methods it generates late."""

from __future__ import annotations

import copy
import dataclasses
import inspect
import pickle
from dataclasses import field
from typing import Optional

import pytest

from engine.base.records import record
from engine.compile import compiled


def _pair(frozen: bool, eq: bool):
    """The same class declared as a record and as a dataclass."""
    def body():
        class Thing:
            """A thing."""
            name: str
            count: int = 0
            tags: tuple = ()
            extra: list = field(default_factory=list, compare=False, repr=False)
            note: Optional[str] = field(default=None, hash=False)

            def __post_init__(self):
                if self.count < 0:
                    raise ValueError("negative")

            @property
            def shout(self) -> str:
                return self.name.upper()
        return Thing
    return record(frozen=frozen, eq=eq)(body()), dataclasses.dataclass(frozen=frozen, eq=eq)(body())


@pytest.mark.parametrize("frozen,eq", [(True, True), (True, False), (False, True), (False, False)])
def test_a_record_behaves_as_its_dataclass(frozen, eq):
    R, D = _pair(frozen, eq)
    assert "__record_realised__" not in R.__dict__  # nothing generated yet
    assert [f.name for f in dataclasses.fields(R)] == [f.name for f in dataclasses.fields(D)]
    assert dataclasses.is_dataclass(R) and R.__match_args__ == D.__match_args__
    r, d = R("a", 2, ("x",)), D("a", 2, ("x",))
    assert R.__dict__["__record_realised__"]
    assert str(inspect.signature(R)) == str(inspect.signature(D))
    assert repr(r).replace("Thing", "") == repr(d).replace("Thing", "")
    assert vars(r) == vars(d) and r.shout == "A"
    twin = R("a", 2, ("x",), extra=[1])
    assert (r == twin) is (d == D("a", 2, ("x",), extra=[1]))
    assert (r == R("b")) is False and (r != R("b")) is True
    if eq and frozen:
        assert hash(r) == hash(twin) == hash(d)
    elif eq:
        with pytest.raises(TypeError):
            hash(r)
        with pytest.raises(TypeError):
            hash(d)
    else:
        assert hash(r) != hash(twin)  # identity, as the dataclass
    if frozen:
        for obj in (r, d):
            with pytest.raises(dataclasses.FrozenInstanceError, match="cannot assign to field 'name'"):
                obj.name = "b"
            with pytest.raises(dataclasses.FrozenInstanceError):
                del obj.count
    else:
        r.name = "b"
        assert r.name == "b"
    with pytest.raises(ValueError, match="negative"):
        R("a", -1)
    with pytest.raises(TypeError):
        R()
    changed = dataclasses.replace(r, count=5)
    assert type(changed) is R and changed.count == 5 and changed.tags == ("x",)
    assert dataclasses.asdict(r) == dataclasses.asdict(dataclasses.replace(d, name=r.name))
    back = copy.deepcopy(r)  # (a local class cannot be pickled: the compiled classes' test pickles)
    assert vars(back) == vars(r) and (back == r) is eq


def test_each_method_alone_realises_the_class():
    for use in (repr, hash, lambda x: x == x):
        R, _D = _pair(True, True)
        obj = R.__new__(R)
        object.__setattr__(obj, "__dict__", {"name": "n", "count": 1, "tags": (), "extra": [], "note": None})
        use(obj)
        assert R.__dict__.get("__record_realised__"), use


def test_what_a_record_refuses():
    @dataclasses.dataclass
    class Base:
        x: int

    with pytest.raises(TypeError, match="bases may not be dataclasses"):
        @record
        class Child(Base):
            y: int

    with pytest.raises(TypeError, match="defines __repr__"):
        @record
        class Own:
            x: int

            def __repr__(self) -> str:
                return "own"


def test_the_compiled_policy_classes_are_records_that_pickle_and_compare_as_before():
    assert all(dataclasses.is_dataclass(c) for c in (compiled.CGateway, compiled.CRestriction, compiled.CAgreement,
                                                     compiled.Window, compiled.CTransfer, compiled.Inherit))
    w = compiled.Window(statute_key="dpa", proposed=False)
    assert w == compiled.Window(statute_key="dpa") and hash(w) == hash(compiled.Window(statute_key="dpa"))
    assert w != compiled.Window(statute_key="other")
    assert pickle.loads(pickle.dumps(w)) == w
    with pytest.raises(dataclasses.FrozenInstanceError):
        w.proposed = True  # type: ignore[misc]


def test_an_undocumented_record_is_documented_as_its_dataclass_would_be():
    def body():
        class Bare:
            key: str
            size: Optional[int] = None
            items: list = field(default_factory=list)
        return Bare

    assert record(frozen=True)(body()).__doc__ == dataclasses.dataclass(frozen=True)(body()).__doc__
    assert compiled.CGateway.__doc__.startswith("CGateway(key: 'str', model: 'm.Gateway'")
