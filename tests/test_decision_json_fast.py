"""The service writes a decision from `Decision.to_dict_with` (a copy of every key at its empty value, tuples
where `to_dict()` has lists, the date as it is: issue 18, target 4) and orjson: the bytes must be those of
`to_dict()` written by json, for a decision that has something in every field as much as for the engine's
own. No timing is asserted here."""

from __future__ import annotations

import datetime as dt

from engine.base.source import Span
from engine.decision.answer import (_JSON_EMPTY, Basis, Block, ClassMatch, Condition, ConditionUse, Consideration,
                                    Decision, Fix, Hop, RegimeView, Route, RuleRef, TransferRef)
from engine.ops.service import _json, decision_json

SPAN = Span("policies/main.policy", 3, 5, 3, 9)


def everything(on: dt.date) -> Decision:
    """A decision with a value in every field (none of them the default), parts made as the engine makes them."""
    gateway = RuleRef("gateway", "G", "a gateway — “quoted”", SPAN, statute="LSA-2000", statute_title="Act",
                      citation="2000 c. 21", provision="s.5", url="https://example.org/s5",
                      provision_dates={"provision": "s.5", "status": "in-force", "commenced": "2001-01-01",
                                       "repealed": None, "commenced_by": None, "url": None, "windows": []})
    agreement = RuleRef("agreement", "A-1", "an agreement", SPAN)
    restriction = RuleRef("restriction", "R", "a bar", None)
    hop = Hop("S", "M", "G", "A-1", "none", "none", "LSA-2000", str(SPAN), None, "d", "p", None, None, "express")
    part_of = Hop("M", "M-unit", "same-body", None, "any", "any", power=None, same_body=("M-unit", "M"))
    return Decision.made(
        verdict="allow", headline="ALLOWED — under G\n\t(tab) ünïcode", source="S", recipient="R", data="d",
        purpose="p", on=on, assume=("ESA-2008/section-15", "LSA-2000"),
        basis=Basis(gateway, agreement, "public-task", "substantial-public-interest", "crime", "onward to X"),
        blocks=(Block(restriction, True, "G", SPAN, ("G",), ("function-x",)), Block(restriction, False)),
        considered=(Consideration.made("gateway", "H", "data-not-covered", "data not covered: d", SPAN,
                                       "data-not-covered", {"data": "d", "on": dt.date(2005, 1, 2),
                                                            "at": SPAN, "ids": ["a", "b"]}),),
        conditions=(Condition("keep it safe", "A-1", SPAN),),
        fixes=(Fix("later-date", "Lawful from 2006-01-01", on=dt.date(2006, 1, 1),
                   args={"events": ["x"], "when": dt.date(2006, 1, 1)}),
               Fix("assume-statute", "Assume it", statute="ESA-2008", gateway="G")),
        routes=(Route((hop, part_of), variants=(Route((hop,)),)),),
        sensitivity=("personal", "special-category"),
        transfers=(TransferRef("t1", ("Old",), ("New",), dt.date(2004, 4, 1), "LSA-2000", "Act", "s.9", ("d",),
                               ("p",), True, SPAN, "functions moved"),),
        renamed=(("R", ("R-old", "R-older")), ("S", ("S-old",))),
        classes=(ClassMatch("gateway", "G", "recipient", "R", "local-authority"),),
        same_body=("R-unit", "R-mid", "R"),
        given=("consent",), express_only=True,
        conditions_relied_on=(ConditionUse("consent", "Consent given", "gateway", "G", SPAN),),
        conditions_missing=(ConditionUse("dpia", "A DPIA", "agreement", "A-1", None),),
        power="implied", received_under="G", own_data=True, held_for="education",
        provenance="received under G", regime=RegimeView("uk-gdpr", "UK GDPR", ("public-task", "6-1-e", "Task"),
                                                         None))


def test_every_field_is_written_as_to_dict_writes_it():
    for on in (dt.date(2005, 6, 23), dt.date(1, 1, 1), dt.datetime(2005, 6, 23, 12, 30)):
        d = everything(on)
        want = _json(d.to_dict())
        assert decision_json(d) == want, on
        assert decision_json(d) == want, on  # (again: the shared parts' text now kept on them)
        assert _json(d.to_dict(shared=True)) == want


def test_the_keys_are_to_dicts_in_its_order_and_the_empty_values_cannot_be_added_to(default_policy):
    from engine.ops.service import _part_json

    d = default_policy.decide("LSC", "ALI", "provider-data", "inspection", on=dt.date(2005, 6, 23))
    for decision in (d, everything(dt.date(2005, 6, 23))):
        assert list(decision.to_dict_with(_part_json, _part_json)) == list(decision.to_dict()) == list(_JSON_EMPTY)
    assert all(v is None or type(v) in (int, tuple) for v in _JSON_EMPTY.values())
    # a decision with nothing in its lists: the same bytes, and the template is left as it was
    plain = Decision.made(verdict="deny", headline="h", source="S", recipient="R", data="d", purpose="p",
                          on=dt.date(2005, 6, 23), assume=(), basis=None, blocks=(), considered=(), conditions=(),
                          fixes=())
    before = dict(_JSON_EMPTY)
    assert decision_json(plain) == _json(plain.to_dict())
    assert _JSON_EMPTY == before


def test_adopt_fields_takes_only_every_field():
    import pytest

    from engine.decision.answer import FIELD_DEFAULTS, NOT_SET

    values = FIELD_DEFAULTS.copy()
    values.update(verdict="deny", headline="h", source="S", recipient="R", data="d", purpose="p",
                  on=dt.date(2005, 6, 23), assume=(), basis=None, blocks=(), considered=(), conditions=(), fixes=())
    assert NOT_SET not in values.values()
    made = Decision.adopt_fields(dict(values))
    assert made == Decision.made(**values) and vars(made) == values
    with pytest.raises(TypeError, match="no field 'verdikt'"):
        Decision.adopt_fields({**values, "verdikt": "allow"})  # a name that is no field: longer, so looked for
    with pytest.raises(TypeError, match="needs"):
        Decision.adopt_fields({k: v for k, v in values.items() if k != "verdict"})
    with pytest.raises(TypeError):
        FIELD_DEFAULTS["verdict"] = "allow"  # type: ignore[index]  # (read-only: every answer copies it)
