"""`engine.eval.decide.question`, the evaluator's own constructor of a Question (its fields given whole as its
dict, without the frozen dataclass's `object.__setattr__` per field; issue 18, target 4), makes the very object
`Question(...)` makes: equal, the same hash, repr, fields and field order, and as frozen."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.eval.decide import Question, question

names = st.text(min_size=1, max_size=5)
maybe = st.none() | names
sets = st.frozensets(names, max_size=3)


@given(st.tuples(names, names, names, names, st.dates(), sets, sets, st.booleans(), maybe, st.booleans(), maybe,
                 maybe))
def test_question_is_the_dataclass_made_by_its_constructor(values):
    made, want = question(*values), Question(*values)
    assert made == want and hash(made) == hash(want) and repr(made) == repr(want)
    assert list(vars(made).items()) == list(vars(want).items())
    assert dataclasses.astuple(made) == dataclasses.astuple(want)
    # the same for the defaults, and for the questions the route search and the fixes derive
    assert question(*values[:5]) == Question(*values[:5])
    assert made.between("x", "y") == dataclasses.replace(want, source="x", recipient="y")
    assert made.about("d", "p") == dataclasses.replace(want, data="d", purpose="p")
    assert made.between_unstated("x", "y") == Question("x", "y", *values[2:8])


def test_every_field_is_given_and_the_question_stays_frozen():
    q = question("a", "b", "d", "p", dt.date(2005, 1, 1))
    assert set(vars(q)) == {f.name for f in dataclasses.fields(Question)}  # a new field must be added there too
    with pytest.raises(dataclasses.FrozenInstanceError):
        q.source = "x"  # type: ignore[misc]
