"""The JSON shape of a decision as TypedDicts: what `Decision.to_dict()` returns, key for key the same as
schemas/decision.schema.json (a test compares the two). Services can type what they read with these."""

from __future__ import annotations

from typing import Any, Literal, Optional, TypedDict

from engine.base.source import SpanDict

Verdict = Literal["allow", "deny"]


class ProvisionWindowDict(TypedDict):
    commenced: str
    repealed: Optional[str]
    commenced_by: Optional[str]
    extent: Optional[str]


class ProvisionDatesDict(TypedDict):
    """The register's record of a cited provision with its own dates (issue 12)."""

    provision: str
    status: str
    commenced: Optional[str]
    repealed: Optional[str]
    commenced_by: Optional[str]
    url: Optional[str]
    windows: list[ProvisionWindowDict]


class StatuteRefDict(TypedDict):
    id: str
    title: Optional[str]
    citation: Optional[str]
    provision: Optional[str]
    url: Optional[str]
    provision_dates: Optional[ProvisionDatesDict]


class RuleDict(TypedDict):
    kind: str
    id: str
    title: str
    statute: Optional[StatuteRefDict]
    span: Optional[SpanDict]


class QuestionDict(TypedDict):
    source: str
    recipient: str
    data: str
    purpose: str
    on: str
    assume: list[str]
    given: list[str]
    express_only: bool
    received_under: Optional[str]
    own_data: bool
    held_for: Optional[str]


class BasisDict(TypedDict):
    gateway: RuleDict
    agreement: Optional[RuleDict]
    lawful_basis: Optional[str]
    article_9: Optional[str]
    article_10: Optional[str]
    onward: str


class ReadingsDict(TypedDict):
    received_under: list[str]
    held_for: list[str]


class BlockDict(TypedDict):
    restriction: RuleDict
    one_way: bool
    overridden_by: Optional[str]
    span: Optional[SpanDict]
    provenance: Optional[ReadingsDict]


class RegimeConditionDict(TypedDict):
    recorded: str
    id: Optional[str]
    title: Optional[str]


class RegimeDict(TypedDict):
    id: str
    title: str
    lawful_basis: Optional[RegimeConditionDict]
    special_category: Optional[RegimeConditionDict]


class ProvenanceDict(TypedDict):
    stated: bool
    assumed: str


class ConsiderationDict(TypedDict):
    kind: str
    id: str
    code: str
    reason: str
    span: Optional[SpanDict]
    why: str
    args: dict[str, Any]


class ConditionDict(TypedDict):
    text: str
    agreement: str
    span: Optional[SpanDict]


class ConditionUseDict(TypedDict):
    id: str
    title: str
    kind: str
    rule: str
    span: Optional[SpanDict]


class FixDict(TypedDict):
    kind: str
    description: str
    statute: Optional[str]
    gateway: Optional[str]
    agreement: Optional[str]
    purpose: Optional[str]
    data: Optional[str]
    organisation: Optional[str]
    on: Optional[str]
    verified: bool
    args: dict[str, Any]


class HopDict(TypedDict):
    source: str
    recipient: str
    gateway: str
    agreement: Optional[str]
    onward: str
    carried: str
    statute: Optional[str]
    gateway_at: Optional[str]
    agreement_at: Optional[str]
    data: Optional[str]
    purpose: Optional[str]
    changed_by: Optional[str]
    received_under: Optional[str]
    power: Optional[str]
    same_body: "Optional[SameBodyDict]"


class RouteDict(TypedDict):
    path: list[str]
    hops: list[HopDict]
    variants: list["RouteDict"]


class TransferStatuteDict(TypedDict):
    id: str
    title: Optional[str]
    provision: Optional[str]


# A transfer of functions relied on (issue 12); `from` is a Python keyword, hence the functional form.
TransferDict = TypedDict("TransferDict", {
    "from": list[str], "to": list[str], "on": str, "statute": Optional[TransferStatuteDict], "data": list[str],
    "purposes": list[str], "continues": bool, "text": str, "span": Optional[SpanDict]})


# A class through which a party matched (issue 12); `class` is a Python keyword, hence the functional form.
ClassMatchDict = TypedDict("ClassMatchDict", {"kind": str, "rule": str, "side": str, "organisation": str,
                                              "class": str})


class SameBodyDict(TypedDict):
    """A flow within one legal person (issue 12): the part, the body, and the `part-of` chain between."""

    part: str
    body: str
    chain: list[str]


class RenamedDict(TypedDict):
    organisation: str
    formerly: list[str]


class DecisionDict(TypedDict):
    schema_version: int
    verdict: Verdict
    headline: str
    question: QuestionDict
    sensitivity: list[str]
    basis: Optional[BasisDict]
    blocks: list[BlockDict]
    considered: list[ConsiderationDict]
    conditions: list[ConditionDict]
    fixes: list[FixDict]
    routes: list[RouteDict]
    transfers: list[TransferDict]
    renamed: list[RenamedDict]
    classes: list[ClassMatchDict]
    same_body: Optional[SameBodyDict]
    conditions_relied_on: list[ConditionUseDict]
    conditions_missing: list[ConditionUseDict]
    power: Optional[str]
    provenance: ProvenanceDict
    regime: Optional[RegimeDict]
