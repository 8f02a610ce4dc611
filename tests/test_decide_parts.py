"""What an explained decision remembers per compiled policy or works out faster than by the rule's letter
(issue 18, target 4): each must give what the plain computation gives. No timing is asserted here."""

from __future__ import annotations

import datetime as dt
import pickle

from hypothesis import given, settings
from hypothesis import strategies as st

import engine
from engine.syntax import model as m

DAYS = st.dates(dt.date(1980, 1, 1), dt.date(2040, 12, 31))


@st.composite
def regimes(draw) -> tuple[m.Regime, ...]:
    out = []
    for i in range(draw(st.integers(0, 4))):
        start = draw(DAYS)
        until = draw(st.one_of(st.none(), st.dates(start, dt.date(2041, 1, 1))))
        out.append(m.Regime(id=draw(st.sampled_from([f"R{i}", f"r{i}", "Same"])), title=f"regime {i}", start=start,
                            until=until))
    return tuple(out)


@settings(max_examples=200, deadline=None)
@given(regimes(), st.lists(DAYS, min_size=1, max_size=30))
def test_the_regime_of_a_day_by_bisection_is_the_regime_by_the_rule(default_policy, rs, days):
    policy = engine.Policy.of(default_policy)
    policy.regimes = rs  # (a fresh facade: its bisection table is made from these on first use)
    edges = [d + dt.timedelta(days=k) for r in rs for d in (r.start, r.until) if d is not None for k in (-1, 0, 1)
             if dt.date.min + dt.timedelta(days=2) < d < dt.date.max - dt.timedelta(days=2)]
    for day in days + edges + [dt.date.min, dt.date.max]:
        assert policy.regime_on(day) is m.regime_on(rs, day), (rs, day)


def test_the_regime_table_is_not_pickled_with_the_policy(default_policy):
    default_policy.regime_on(dt.date(2005, 6, 23))
    again = pickle.loads(pickle.dumps(default_policy))
    assert again._regime_cuts is None
    for day in (dt.date(1990, 1, 1), dt.date(2005, 6, 23), dt.date(2018, 5, 25), dt.date(2030, 1, 1)):
        assert again.regime_on(day) is not None or m.regime_on(again.regimes, day) is None
        assert getattr(again.regime_on(day), "id", None) == getattr(m.regime_on(again.regimes, day), "id", None)


def test_an_evaluation_starts_from_the_outcome_the_dataclass_makes():
    from engine.eval.decide import Outcome, _start

    a, b = _start(), Outcome(False)
    assert a == b and a is not b
    assert all(getattr(a, f) is not getattr(_start(), f) for f in ("firing", "considered", "via", "readings"))
