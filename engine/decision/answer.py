"""The answers the engine gives, as plain data: a Decision and its parts. `to_dict()` is the stable JSON
shape (schemas/decision.schema.json); nothing here evaluates a rule.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import MISSING, field, fields
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Mapping, Optional

from engine.base.records import record
from engine.base.source import Span

if TYPE_CHECKING:  # the JSON shapes, for annotations only: not imported on the path of an answer
    from engine.decision.shapes import (BasisDict, BlockDict, ClassMatchDict, ConditionDict, ConditionUseDict,
                                        ConsiderationDict, DecisionDict, FixDict, HopDict, ProvisionDatesDict,
                                        RegimeConditionDict, RegimeDict, RuleDict, RouteDict, TransferDict, Verdict)

SCHEMA_VERSION = 1


def _once(part: Any) -> Any:
    """`part.to_dict()`, made once per object and kept on it: for `Decision.to_dict(shared=True)` only, whose
    result is serialised and never handed to a caller who might change it. The parts are immutable, and the
    engine gives the same object to every decision resting on the same rule (engine/eval/decide.py
    `ExplainCache`), so the dict is made once per rule rather than once per decision."""
    made = part.__dict__.get("_dict")
    if made is None:
        made = part.__dict__["_dict"] = part.to_dict()  # (a frozen dataclass: its __dict__ is still writable)
    return made


def _fresh(part: Any) -> Any:
    return part.to_dict()


def _block_shared(block: "Block") -> BlockDict:
    made = block.__dict__.get("_shared")  # (the engine gives one Block to every answer with the same bar)
    if made is None:
        made = block.__dict__["_shared"] = block.to_dict(shared=True)
    return made


def _block_fresh(block: "Block") -> BlockDict:
    return block.to_dict()


@record(frozen=True)
class RuleRef:
    kind: str
    id: str
    title: str
    span: Optional[Span]
    statute: Optional[str] = None
    statute_title: Optional[str] = None
    citation: Optional[str] = None
    provision: Optional[str] = None
    url: Optional[str] = None
    # the register's record of the cited provision, when it lists it with its own dates (issue 12)
    provision_dates: Optional[ProvisionDatesDict] = field(default=None, compare=False, hash=False)

    def to_dict(self) -> RuleDict:
        return {
            "kind": self.kind, "id": self.id, "title": self.title,
            "statute": None if not self.statute else {
                "id": self.statute, "title": self.statute_title, "citation": self.citation,
                "provision": self.provision, "url": self.url, "provision_dates": self.provision_dates},
            "span": self.span.to_dict() if self.span else None,
        }


@record(frozen=True)
class Block:
    restriction: RuleRef
    one_way: bool
    overridden_by: Optional[str] = None
    span: Optional[Span] = None  # the clause that caught the flow (`one-way …` / `forbids …`)
    # issue 13: for a bar that binds by provenance, the readings under which it binds: gateways the data may
    # have been received under, functions it may be held for
    received_under: tuple[str, ...] = ()
    held_for: tuple[str, ...] = ()

    def to_dict(self, shared: bool = False) -> BlockDict:
        return {"restriction": _once(self.restriction) if shared else self.restriction.to_dict(),
                "one_way": self.one_way, "overridden_by": self.overridden_by,
                "span": self.span.to_dict() if self.span else None,
                "provenance": {"received_under": list(self.received_under), "held_for": list(self.held_for)}
                if self.received_under or self.held_for else None}


def plain_value(value: Any) -> Any:
    """A reason's or fix's argument as JSON: dates as ISO strings, spans as `file:line:col`."""
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Span):
        return str(value)
    if isinstance(value, (list, tuple)):
        return [plain_value(v) for v in value]
    return value


@record(frozen=True)
class Consideration:
    """A candidate rule that did not apply: `code` (stable since schema 1), `why` (the finer reason code,
    engine.decision.reasons.Why) with its `args`, the reason in words, and the clause that decided."""

    kind: str
    id: str
    code: str
    reason: str
    span: Optional[Span]
    why: str = ""
    args: Mapping[str, Any] = field(default_factory=dict, compare=False, hash=False)

    @classmethod
    def made(cls, kind: str, id: str, code: str, reason: str, span: Optional[Span], why: str,
             args: Mapping[str, Any]) -> "Consideration":
        """`Consideration(kind, id, code, reason, span, why, args)`, the same object, without the frozen
        dataclass's `object.__setattr__` per field (several are made for most decisions)."""
        made = object.__new__(cls)
        made.__dict__.update(kind=kind, id=id, code=code, reason=reason, span=span, why=why, args=args)
        return made

    def to_dict(self) -> ConsiderationDict:
        return {"kind": self.kind, "id": self.id, "code": self.code, "reason": self.reason,
                "span": self.span.to_dict() if self.span else None, "why": self.why,
                "args": {k: plain_value(v) for k, v in self.args.items()}}


@record(frozen=True)
class Condition:
    text: str
    agreement: str
    span: Optional[Span]

    def to_dict(self) -> ConditionDict:
        return {"text": self.text, "agreement": self.agreement, "span": self.span.to_dict() if self.span else None}


@record(frozen=True)
class ConditionUse:
    """A declared condition (`condition ID "title"`) a rule needs: relied on by an ALLOW (the question gave it),
    or missing on a DENY. `kind` and `rule` say which rule needs it (a gateway's or agreement's `requires`, a
    restriction's `except … when`)."""

    id: str
    title: str
    kind: str  # gateway | agreement | restriction
    rule: str
    span: Optional[Span]

    def to_dict(self) -> ConditionUseDict:
        return {"id": self.id, "title": self.title, "kind": self.kind, "rule": self.rule,
                "span": self.span.to_dict() if self.span else None}


@record(frozen=True)
class RegimeView:
    """The data-protection regime of a question's date and the basis relied on shown in it (issue 13).
    `lawful_basis` / `special_category`: (as recorded, the regime's condition id or None, its title or None)."""

    id: str
    title: str
    lawful_basis: Optional[tuple[str, Optional[str], Optional[str]]] = None
    special_category: Optional[tuple[str, Optional[str], Optional[str]]] = None

    def to_dict(self) -> RegimeDict:
        def cond(c: Optional[tuple[str, Optional[str], Optional[str]]]) -> Optional[RegimeConditionDict]:
            return None if c is None else {"recorded": c[0], "id": c[1], "title": c[2]}

        return {"id": self.id, "title": self.title, "lawful_basis": cond(self.lawful_basis),
                "special_category": cond(self.special_category)}


@record(frozen=True)
class Fix:
    kind: str  # renew-agreement | extend-agreement | new-agreement | assume-statute | later-date | successor
    #           | narrower-data | other-purpose | given-conditions, state-provenance (issue 13)
    description: str
    statute: Optional[str] = None
    gateway: Optional[str] = None
    agreement: Optional[str] = None
    purpose: Optional[str] = None
    data: Optional[str] = None
    organisation: Optional[str] = None
    on: Optional[dt.date] = None  # for `later-date`: the first date on which the flow is lawful
    args: Mapping[str, Any] = field(default_factory=dict, compare=False, hash=False)  # what the words need

    def to_dict(self) -> FixDict:
        return {"kind": self.kind, "description": self.description, "statute": self.statute, "gateway": self.gateway,
                "agreement": self.agreement, "purpose": self.purpose, "data": self.data,
                "organisation": self.organisation, "on": self.on.isoformat() if self.on else None, "verified": True,
                "args": {k: plain_value(v) for k, v in self.args.items()}}


@record(frozen=True)
class Basis:
    gateway: RuleRef
    agreement: Optional[RuleRef]
    lawful_basis: Optional[str]
    article_9: Optional[str]
    article_10: Optional[str]
    onward: str

    def to_dict(self) -> BasisDict:
        return {"gateway": self.gateway.to_dict(), "agreement": self.agreement.to_dict() if self.agreement else None,
                "lawful_basis": self.lawful_basis, "article_9": self.article_9, "article_10": self.article_10,
                "onward": self.onward}


@record(frozen=True)
class Hop:
    """One lawful direct disclosure of a route, with its own basis and what the recipient may do next."""

    source: str
    recipient: str
    gateway: str
    agreement: Optional[str]
    onward: str  # this hop's own onward permission (gateway ∩ agreement)
    carried: str = "none"  # every limit the data carries after this hop (this hop's and all earlier ones)
    statute: Optional[str] = None
    gateway_at: Optional[str] = None  # file:line:col
    agreement_at: Optional[str] = None
    # issue 13: what this hop carries (a chain may change them), the clauses that allowed a change from the
    # previous hop, and the gateway the source received the data under (None for the first hop: the question's)
    data: Optional[str] = None
    purpose: Optional[str] = None
    changed_by: Optional[str] = None
    received_under: Optional[str] = None
    power: Optional[str] = "express"  # the strength of the hop's gateway: "implied" for `power implied`; None
    #                                   for a hop within one legal person (no gateway)
    # issue 12: a hop between a body and its part (`gateway` is "same-body"): the part-of chain, part first
    same_body: tuple[str, ...] = ()

    def to_dict(self) -> HopDict:
        return {"source": self.source, "recipient": self.recipient, "gateway": self.gateway,
                "agreement": self.agreement, "onward": self.onward, "carried": self.carried,
                "statute": self.statute, "gateway_at": self.gateway_at, "agreement_at": self.agreement_at,
                "data": self.data, "purpose": self.purpose, "changed_by": self.changed_by,
                "received_under": self.received_under, "power": self.power,
                "same_body": None if not self.same_body else {"part": self.same_body[0], "body": self.same_body[-1],
                                                              "chain": list(self.same_body)}}


@record(frozen=True)
class Route:
    hops: tuple[Hop, ...]
    variants: tuple["Route", ...] = ()  # the same route through parts of its intermediaries (grouped here)

    @property
    def path(self) -> tuple[str, ...]:
        return (self.hops[0].source,) + tuple(h.recipient for h in self.hops)

    def __str__(self) -> str:
        return " → ".join(self.path)

    def to_dict(self) -> RouteDict:
        return {"path": list(self.path), "hops": [h.to_dict() for h in self.hops],
                "variants": [v.to_dict() for v in self.variants]}


@record(frozen=True)
class TransferRef:
    """A transfer of functions an answer relied on (issue 12): a rule naming the transferor covered the
    transferee."""

    key: str
    sources: tuple[str, ...]
    targets: tuple[str, ...]
    on: dt.date
    statute: Optional[str] = None
    statute_title: Optional[str] = None
    provision: Optional[str] = None
    data: tuple[str, ...] = ()
    purposes: tuple[str, ...] = ()
    continues: bool = False
    span: Optional[Span] = None
    text: str = ""  # in words (engine/render/words.py `transfer`)

    def to_dict(self) -> TransferDict:
        return {"from": list(self.sources), "to": list(self.targets), "on": self.on.isoformat(),
                "statute": None if not self.statute else {"id": self.statute, "title": self.statute_title,
                                                          "provision": self.provision},
                "data": list(self.data), "purposes": list(self.purposes), "continues": self.continues,
                "text": self.text, "span": self.span.to_dict() if self.span else None}


@record(frozen=True)
class ClassMatch:
    """A party of the question inside a rule's party list through a class (issue 12): `Leeds-CC` is a
    `local-authority`, the recipients of gateway `G`."""

    kind: str  # gateway | agreement | restriction
    rule: str
    side: str  # source | recipient
    organisation: str
    class_: str

    def to_dict(self) -> ClassMatchDict:
        return {"kind": self.kind, "rule": self.rule, "side": self.side, "organisation": self.organisation,
                "class": self.class_}


@record(frozen=True)
class Decision:
    """The answer to one question, as plain data. `to_dict()` is the stable JSON shape
    (schema: schemas/decision.schema.json)."""

    verdict: Verdict  # "allow" | "deny"
    headline: str
    source: str
    recipient: str
    data: str
    purpose: str
    on: dt.date
    assume: tuple[str, ...]
    basis: Optional[Basis]
    blocks: tuple[Block, ...]
    considered: tuple[Consideration, ...]
    conditions: tuple[Condition, ...]
    fixes: tuple[Fix, ...]
    routes: tuple[Route, ...] = ()
    sensitivity: tuple[str, ...] = ()
    # issue 12: the transfers of functions relied on; renamed bodies as (name in use, former names)
    transfers: tuple[TransferRef, ...] = ()
    renamed: tuple[tuple[str, tuple[str, ...]], ...] = ()
    classes: tuple[ClassMatch, ...] = ()  # the classes through which the basis's or a block's parties matched
    # allowed within one legal person: the `part-of` chain from the part up to the body (no gateway needed)
    same_body: tuple[str, ...] = ()
    # issue 13
    given: tuple[str, ...] = ()  # conditions the question asserted
    express_only: bool = False  # the question treated implied powers as absent
    conditions_relied_on: tuple[ConditionUse, ...] = ()  # on an ALLOW: every given condition it rests on
    conditions_missing: tuple[ConditionUse, ...] = ()  # on a DENY: conditions candidates needed, not given
    power: Optional[str] = None  # on an ALLOW: "express", or "implied" when it rests only on implied powers
    received_under: Optional[str] = None  # the provenance the question stated: a gateway, …
    own_data: bool = False  # … or the source's own data
    held_for: Optional[str] = None  # the function the source holds it for
    provenance: str = ""  # the provenance the decision assumed, in words
    regime: Optional[RegimeView] = None  # the data-protection regime of the date, the basis shown in it

    @property
    def allowed(self) -> bool:
        return self.verdict == "allow"

    def reason_ids(self) -> set[str]:
        """Ids of every rule among the reasons (what `expect … because ID` checks), lower-cased."""
        ids = {b.restriction.id.lower() for b in self.blocks}
        if self.basis:
            ids.add(self.basis.gateway.id.lower())
            if self.basis.agreement:
                ids.add(self.basis.agreement.id.lower())
        if not self.allowed:
            ids |= {c.id.lower() for c in self.considered if c.kind != "organisation"}
        return ids

    def to_dict(self, shared: bool = False) -> DecisionDict:
        """The stable JSON shape. `shared`: for serialising at once (the service) — parts that are the same for
        every decision on the same rules (rule references, the basis, conditions, the regime, the candidates
        considered, the transfers relied on, the classes matched) are dicts made once and shared, so the result
        must not be changed."""
        return self._to_dict(_once, _block_shared) if shared else self._to_dict(_fresh, _block_fresh)

    def to_dict_with(self, part: Any, block: Any) -> DecisionDict:
        """`to_dict()` for orjson (engine/ops/service.py `decision_json`): each part that the engine shares between
        decisions (see `to_dict(shared=True)`) shown as `part(p)`, and each block as `block(b)`, for a serialiser
        that writes such a part once and reuses its text; tuples where `to_dict()` has lists and the date as it
        is, which orjson writes as those lists and that ISO text: the same JSON (tests/test_service_fast.py). A
        copy of every key at its empty value, then what this decision has (a copy and a few stores cost less
        than a display of all 20 keys, which Python builds key by key). Not for a caller who would change it."""
        d = _JSON_EMPTY.copy()
        on = self.on
        d["verdict"] = self.verdict
        d["headline"] = self.headline
        d["question"] = {"source": self.source, "recipient": self.recipient, "data": self.data,
                         "purpose": self.purpose, "on": on if type(on) is dt.date else on.isoformat(),
                         "assume": self.assume, "given": self.given, "express_only": self.express_only,
                         "received_under": self.received_under, "own_data": self.own_data, "held_for": self.held_for}
        d["sensitivity"] = self.sensitivity
        if self.basis:
            d["basis"] = part(self.basis)
        if self.blocks:
            d["blocks"] = list(map(block, self.blocks))
        if self.considered:
            d["considered"] = list(map(part, self.considered))
        if self.conditions:
            d["conditions"] = list(map(part, self.conditions))
        if self.fixes:
            d["fixes"] = [f.to_dict() for f in self.fixes]
        if self.routes:
            d["routes"] = [r.to_dict() for r in self.routes]
        if self.transfers:
            d["transfers"] = list(map(part, self.transfers))
        if self.renamed:
            d["renamed"] = [{"organisation": name, "formerly": formerly} for name, formerly in self.renamed]
        if self.classes:
            d["classes"] = list(map(part, self.classes))
        if self.same_body:
            d["same_body"] = {"part": self.same_body[0], "body": self.same_body[-1], "chain": self.same_body}
        if self.conditions_relied_on:
            d["conditions_relied_on"] = list(map(part, self.conditions_relied_on))
        if self.conditions_missing:
            d["conditions_missing"] = [c.to_dict() for c in self.conditions_missing]
        d["power"] = self.power
        d["provenance"] = {"stated": self.received_under is not None or self.own_data, "assumed": self.provenance}
        if self.regime:
            d["regime"] = part(self.regime)
        return d  # type: ignore[return-value]  # (tuples for lists: what orjson writes alike)

    def _to_dict(self, part: Any, block: Any) -> DecisionDict:
        """`to_dict_with` (the one place the shape is written), made plain data: lists for its tuples, the date
        as ISO text."""
        d: dict[str, Any] = self.to_dict_with(part, block)  # type: ignore[assignment]
        for k in _JSON_LISTS:
            if type(d[k]) is tuple:
                d[k] = list(d[k])
        q = d["question"]
        q["on"], q["assume"], q["given"] = self.on.isoformat(), list(self.assume), list(self.given)
        if self.renamed:
            d["renamed"] = [{"organisation": name, "formerly": list(formerly)} for name, formerly in self.renamed]
        if self.same_body:
            d["same_body"]["chain"] = list(self.same_body)
        return d  # type: ignore[return-value]

    @classmethod
    def made(cls, **values: Any) -> "Decision":
        """`Decision(**values)`, the same object, without the frozen dataclass's `object.__setattr__` per field
        (3 µs of every decision): the engine's own constructor (engine/policy/decide.py)."""
        made = object.__new__(cls)
        made.__dict__.update(values)
        if made.__dict__.keys() != _DECISION_FIELDS:  # some left to their defaults, or a name that is no field
            unknown = values.keys() - _DECISION_FIELDS
            if unknown:
                raise TypeError(f"Decision has no field {sorted(unknown)[0]!r}")
            made.__dict__.update({k: v for k, v in _DECISION_DEFAULTS.items() if k not in values})
            if made.__dict__.keys() != _DECISION_FIELDS:
                raise TypeError(f"Decision needs {sorted(_DECISION_FIELDS - made.__dict__.keys())}")
        return made

    @classmethod
    def adopt_fields(cls, values: dict[str, Any]) -> "Decision":
        """`adopt` for a copy of `FIELD_DEFAULTS` with the answer's fields stored in it (engine/policy/decide.py):
        it holds every field already, so only a name that is no field (which makes it longer) is looked for. A
        field without a default is `NOT_SET` there until stored: no JSON can be written of it."""
        if len(values) != _FIELD_COUNT:
            return cls.adopt(values)  # (which says what is wrong)
        made = object.__new__(cls)
        object.__setattr__(made, "__dict__", values)
        return made

    @classmethod
    def adopt(cls, values: dict[str, Any]) -> "Decision":
        """The Decision whose fields are `values`, every one of them: the dict itself becomes the object's (not
        copied, so the caller must not keep or change it), without the keyword call of `made` (a dict literal
        in engine/policy/decide.py costs half as much). A missing or unknown field raises TypeError."""
        if values.keys() != _DECISION_FIELDS:
            unknown = values.keys() - _DECISION_FIELDS
            if unknown:
                raise TypeError(f"Decision has no field {sorted(unknown)[0]!r}")
            raise TypeError(f"Decision needs {sorted(_DECISION_FIELDS - values.keys())}")
        made = object.__new__(cls)
        object.__setattr__(made, "__dict__", values)
        return made


# A decision's JSON with every list empty and every other value null, in the order of its keys: what
# `Decision.to_dict_with` starts from (tuples, which orjson writes as lists, so no one can add to them)
_JSON_EMPTY: dict[str, Any] = {
    "schema_version": SCHEMA_VERSION, "verdict": None, "headline": None, "question": None, "sensitivity": (),
    "basis": None, "blocks": (), "considered": (), "conditions": (), "fixes": (), "routes": (), "transfers": (),
    "renamed": (), "classes": (), "same_body": None, "conditions_relied_on": (), "conditions_missing": (),
    "power": None, "provenance": None, "regime": None}
_JSON_LISTS = tuple(k for k, v in _JSON_EMPTY.items() if v == ())  # the keys `to_dict()` gives as lists
_DECISION_FIELDS = frozenset(f.name for f in fields(Decision))
_FIELD_COUNT = len(_DECISION_FIELDS)
NOT_SET: Any = object()  # a field without a default in FIELD_DEFAULTS, which every answer stores (JSON cannot write it)
# every field of a Decision at its default, for `Decision.adopt_fields` (a copy of it: it is read-only)
FIELD_DEFAULTS: "MappingProxyType[str, Any]" = MappingProxyType(
    {f.name: f.default if f.default is not MISSING else NOT_SET for f in fields(Decision)})
_DECISION_DEFAULTS = {f.name: f.default for f in fields(Decision) if f.default is not MISSING}
