"""The words of a decision: reasons, headlines and fixes, made from the evaluator's codes and arguments.

The only place a decision's prose is written. The evaluator (engine/eval) returns `Why` codes with their
arguments; engine/policy/decide.py assembles the Decision and asks this module for its words.

The words are for a policy officer, not a developer, and the same words go to the terminal, the web page and
the JSON (`headline`, `considered[].reason`, `fixes[].description`): names are written bare (never in Markdown
backticks), a fix is an action a person can take (naming the owner of the agreement to change, where the
rules record one), and what cannot be done by a person (a statute that is only proposed) is said as a what-if.
Command-line options belong to the terminal alone (`fix_option`), never to these words. The glossary in
docs/user-guide.md explains every word used here.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Mapping, Optional, Sequence

from engine.decision.answer import Block, Consideration, Fix, RuleRef
from engine.decision.reasons import Why


def _d(value: Any) -> str:
    return value.isoformat() if isinstance(value, dt.date) else str(value)


def _in_force_words(kind: str, why: Why, args: Mapping[str, Any]) -> str:
    """Why a rule is not in force: its statute, or its own `valid` window (an agreement's window is when it
    is "in force"; a gateway's or restriction's when it is "valid")."""
    if why is Why.NO_STATUTE:
        return "it cites no statute"
    if why is Why.STATUTE_PROPOSED:
        return f"statute {args['statute']} is only proposed, not law"
    if why is Why.STATUTE_NOT_COMMENCED:
        return f"not in force until {_d(args['until'])}"
    if why is Why.STATUTE_REPEALED:
        return f"repealed on {_d(args['on'])}"
    if why is Why.NOT_YET_VALID:
        return f"not in force until {_d(args['until'])}"
    if why is Why.EXPIRED:
        return f"expired on {_d(args['on'])}"
    if why is Why.PROVISION_NOT_COMMENCED:
        return f"{args['provision']} has not been commenced"
    if why is Why.PROVISION_GAP:
        return f"not in force between {_d(args['ended'])} and {_d(args['resumes'])} (commenced in stages)"
    raise ValueError(f"not an in-force reason: {why}")


_FIXED = {
    Why.NO_AGREEMENT: "it needs an agreement, and no agreement in force covers this flow",
    Why.NO_LAWFUL_BASIS: "the data is personal and no lawful basis is recorded",
    Why.NO_ARTICLE_9: "the data is special-category and no article-9 condition is recorded",
    Why.NO_ARTICLE_10: "the data is criminal-offence data and no article-10 condition is recorded",
}


def reason(kind: str, why: Why, args: Mapping[str, Any]) -> str:
    """One candidate's reason in words (`considered[].reason`)."""
    if why is Why.ORG_SUCCEEDED:
        return (f"{args['organisation']} no longer exists on {_d(args['date'])}: {args['successor']} replaced it "
                f"on {_d(args['on'])}")
    if why is Why.ORG_NOT_YET:
        return f"{args['organisation']} does not exist until {_d(args['start'])}"
    if why is Why.ORG_CEASED:
        return f"{args['organisation']} no longer exists on {_d(args['date'])}: it ceased on {_d(args['on'])}"
    if why is Why.ORG_TRANSFERRED:
        return (f"{args['organisation']} no longer exists on {_d(args['date'])}: its functions passed to "
                f"{args['successor']} on {_d(args['on'])}")
    if why is Why.TRANSFER_NOT_YET:
        return (f"it names {args['organisation']}, whose functions pass to {args['to']} only from "
                f"{_d(args['on'])}")
    if why is Why.WITHIN_BODY:
        return (f"it bars disclosures between bodies, and {args['part']} is part of {args['body']}: this flow is "
                "not one (only a restriction naming both would bar it)")
    if why is Why.NOT_A_MEMBER:
        window = " and ".join(w for w in (f"from {_d(args['start'])}" if args.get("start") else "",
                                          f"until {_d(args['end'])}" if args.get("end") else "") if w)
        if args.get("excluded"):
            return f"it leaves out the class {args['class']}, and {args['organisation']} is in it {window}"
        if not args.get("class"):
            return f"it names {args['organisation']} only {window}"
        return f"{args['organisation']} is in the class {args['class']} only {window}"
    if why is Why.TRANSFER_OUT_OF_SCOPE:
        what = f"the data {args['data']}" if "data" in args else f"the purpose {args['purpose']}"
        return (f"it names {args['organisation']}, whose functions passed to {args['to']} on {_d(args['on'])}, "
                f"but not those for {what}")
    if why is Why.EXCEPTION:
        return f"the exception at {args['at']} covers this flow"
    if why is Why.DATA_NOT_COVERED:
        return f"it does not cover the data {args['data']}"
    if why is Why.PURPOSE_NOT_COVERED:
        return f"it does not cover the purpose {args['purpose']}"
    if why is Why.BLOCKED:
        return "blocked by " + ", ".join(args["restrictions"])
    if why is Why.CONDITION_NOT_GIVEN:
        return "it needs " + conditions_text(args) + ", which the question does not give"
    if why is Why.IMPLIED_POWER_EXCLUDED:
        return "it rests on an implied power, and the question asks for express powers only"
    if why is Why.RECEIVED_ONWARD:
        return received_onward_words(args)
    if why is Why.BASIS_WRONG_REGIME:
        now = f"the regime is {args['now']}" if args.get("now") else "no regime it belongs to is in force"
        return (f"the basis recorded, {args.get('basis')}, is a condition of {args.get('regime')}, and on this date "
                f"{now}, with no condition it matches")
    if why in _FIXED:
        return _FIXED[why]
    words = _in_force_words(kind, why, args)
    # unless its words already say "not in force until" (a statute not yet commenced, a provision's gap, a window)
    if kind == "restriction" and why not in (Why.STATUTE_NOT_COMMENCED, Why.PROVISION_GAP, Why.NOT_YET_VALID):
        return f"not in force: {words}"
    return words


def reason_without_place(c: Consideration) -> str:
    """The reason for a terminal line that prints the place itself (the exception's span) beside it."""
    if c.why == Why.EXCEPTION.value:
        return "the exception covers this flow"
    return c.reason


def short_provision(p: str) -> str:
    for long, short in (("section ", "s."), ("schedule ", "Sch "), ("paragraph ", "para "), ("clause ", "cl. ")):
        p = p.replace(long, short).replace(long.capitalize(), short)
    return p


def cites(ref: RuleRef) -> str:
    """`Social Security Administration Act 1992 s.123` style."""
    if not ref.statute_title:
        return ""
    return f"{ref.statute_title}{' ' + short_provision(ref.provision) if ref.provision else ''}"


def allowed_headline(gateway: RuleRef, agreement: Optional[str], lifted: Sequence[str],
                     power: Optional[str] = None) -> str:
    cite = f" ({cites(gateway)})" if cites(gateway) else ""
    under = f" and agreement {agreement}" if agreement else ""
    lift = f", lifting {', '.join(lifted)}" if lifted else ""
    implied = "on an implied power: take legal advice — " if power == "implied" else ""
    return f"ALLOWED — {implied}under gateway {gateway.id}{cite}{under}{lift}"


def denied_headline(on: dt.date, missing: Optional[tuple], blocks: Sequence[Block],
                    considered: Sequence[Consideration], any_candidate: bool, source: str = "",
                    stated: bool = True) -> str:
    """`missing`: (organisation, date, successor or "") of the first organisation that does not exist, and
    how it ended (`transfer`, `ceases`; a succession otherwise)."""
    if missing is not None:
        org, when, successor = missing[:3]
        how = missing[3] if len(missing) > 3 else ""
        if how == "ceases":
            return f"DENIED — {org} no longer exists on {on.isoformat()} (it ceased on {when.isoformat()})"
        if how == "transfer":
            return (f"DENIED — {org} no longer exists on {on.isoformat()} (its functions passed to {successor} on "
                    f"{when.isoformat()})")
        if successor:
            return (f"DENIED — {org} no longer exists on {on.isoformat()} (replaced by {successor} on "
                    f"{when.isoformat()})")
        return f"DENIED — {org} does not exist until {when.isoformat()}"
    if blocks:
        live = [b for b in blocks if b.overridden_by is None]
        # issue 13: a bar that binds by provenance comes after those that bind whatever it is, and when the
        # question did not say where the data came from the headline says under which reading it binds
        live.sort(key=lambda b: bool(b.received_under or b.held_for))
        one_way = [b for b in live if b.one_way]
        if one_way:
            r = one_way[0].restriction
            reading = _if_reading(one_way[0], source, stated)
            return f"DENIED — {reading}one-way legislative block: {cites(r) or r.title} ({r.id})"
        if live:
            r = live[0].restriction
            return f"DENIED — {_if_reading(live[0], source, stated)}legislative block: {cites(r) or r.title} ({r.id})"
    # what the rest of the headline looks at, in one pass over the candidates (every DENY without a bar)
    onward: Optional[Consideration] = None
    needing: Optional[Consideration] = None
    expired: Optional[Consideration] = None
    codes: set[str] = set()
    wrong_regime = no_basis = False
    for c in considered:
        why, code, kind = c.why, c.code, c.kind
        if why == _ONWARD and onward is None:
            onward = c
        if kind == "gateway":
            codes.add(code)
        elif kind == "agreement" and code == "expired" and expired is None:
            expired = c
        if why == _NOT_GIVEN and kind != "restriction" and needing is None:
            needing = c
        if code == "basis-wrong-regime":
            wrong_regime = True
        elif code in _NO_BASIS:
            no_basis = True
    if onward is not None:
        return f"DENIED — {received_onward_words(onward.args)}"
    if not any_candidate:
        return "DENIED — no legal gateway allows this flow"
    if needing is not None:  # issue 13: a fact only a person can establish
        return f"DENIED — lawful only if {established(needing.args)}"
    if codes == {"implied-power-excluded"}:
        return "DENIED — only an implied power would allow it, and the question asks for express powers only"
    if "no-agreement" in codes and expired is not None:
        return f"DENIED — agreement {expired.id} {expired.reason}; no other agreement in force covers it"
    if "no-agreement" in codes:
        return "DENIED — no agreement in force under the gateway that would allow it"
    if codes == {"proposed"}:
        return "DENIED — the only gateway is in a statute that is only proposed, not law"
    if codes & {"not-in-force", "repealed", "proposed"}:
        return "DENIED — no gateway in force on this date allows it"
    if wrong_regime and not no_basis:
        return "DENIED — the lawful basis recorded belongs to another data-protection regime than the date's"
    if no_basis:
        return "DENIED — no lawful basis recorded for this personal data"
    return "DENIED — no legal gateway and agreement together allow this flow"


# (an enum member's `.value` is a property: looked up once here, not per decision)
_ONWARD = Why.RECEIVED_ONWARD.value
_NOT_GIVEN = Why.CONDITION_NOT_GIVEN.value
_NO_BASIS = frozenset(("no-lawful-basis", "no-article-9", "no-article-10"))


# ---- continuity (issue 12) ---------------------------------------------------------------------------------

def transfer(t: Mapping[str, Any]) -> str:
    """One transfer of functions relied on: `ALI's functions passed to OfSTED-2007 on 2007-04-01 under
    Education and Inspections Act 2006 s.157` (with its scope, when it has one)."""
    who = " and ".join(f"{n}'s" for n in t["from"])
    scope = []
    if t.get("data"):
        scope.append("for data " + ", ".join(t["data"]))
    if t.get("purposes"):
        scope.append("for " + ", ".join(t["purposes"]))
    under = ""
    if t.get("statute"):
        s = t["statute"]
        under = f" under {s['title']}" + (f" {short_provision(s['provision'])}" if s.get("provision") else "")
    return (f"{who} functions{' ' + ' '.join(scope) if scope else ''} passed to {', '.join(t['to'])} on "
            f"{_d(t['on'])}{under}")


def same_body_headline(chain: Sequence[str]) -> str:
    """`ALLOWED — same body: JCP is part of DWP (not a disclosure between bodies)`."""
    return f"ALLOWED — same body: {same_body(chain)} (not a disclosure between bodies)"


def same_body(chain: Sequence[str]) -> str:
    """`JCP is part of DWP`, through the bodies between when there are some."""
    through = f" (through {', '.join(chain[1:-1])})" if len(chain) > 2 else ""
    return f"{chain[0]} is part of {chain[-1]}{through}"


def renamed(name: str, formerly: Sequence[str]) -> str:
    """`TDA (formerly TTA)`."""
    return f"{name} (formerly {', '.join(formerly)})" if formerly else name


# ---- fixes -------------------------------------------------------------------------------------------------

def _sensitive_words(sensitivity: Sequence[str]) -> str:
    extra = []
    if "personal" in sensitivity:
        extra.append("a lawful basis")
    if "special-category" in sensitivity:
        extra.append("an article 9 condition")
    if "criminal-offence" in sensitivity:
        extra.append("an article 10 condition")
    return f", recording {' and '.join(extra)}" if extra else ""


def _agreement_words(a: Mapping[str, Any]) -> str:
    """`a data-sharing agreement under gateway G for DfES to give provider-data to ALI for inspection`."""
    return (f"a data-sharing agreement under gateway {a['gateway']} for {a['source']} to give {a['data']} to "
            f"{a['recipient']} for {a['purpose']}{_sensitive_words(a['sensitivity'])}")


def _ask_owner(agreement: str, owner: Optional[str], action: str, fallback: str) -> str:
    """`Ask the owner of agreement X (Data Sharing Lead, LSC) to renew it …`, or the action itself when the
    rules record no owner."""
    if owner:
        return f"Ask the owner of agreement {agreement} ({owner}) to {action}"
    return fallback


_STARTS = {"statute": "{} comes into force", "gateway": "gateway {} comes into force",
           "agreement": "agreement {} begins"}


def _when(events: Sequence[tuple[dt.date, str, str]]) -> str:
    """What starts on each date up to the one offered: `ESA-2008 comes into force (2009-01-01) and …`."""
    said = [(d, _STARTS[what].format(ident)) for d, what, ident in events]
    if len(said) == 1:
        return said[0][1]
    return " and ".join(f"{w} ({d.isoformat()})" for d, w in said)


def fix(f: Fix) -> str:
    """What would make the flow lawful, as an action a person can take (`fixes[].description`)."""
    a = f.args
    if f.kind == "renew-agreement":
        owner = a.get("owner")
        if a["expired"]:
            return _ask_owner(f.agreement or "", owner,
                              f"renew it to cover {_d(a['date'])} (it expired on {_d(a['end'])})",
                              f"Renew agreement {f.agreement} to cover {_d(a['date'])} (it expired on {_d(a['end'])})")
        return _ask_owner(f.agreement or "", owner,
                          f"bring its start forward to {_d(a['date'])} (it starts on {_d(a['start'])})",
                          f"Bring the start of agreement {f.agreement} forward to {_d(a['date'])} (it starts on "
                          f"{_d(a['start'])})")
    if f.kind == "extend-agreement":
        what = " and ".join(w for w in (f"the data {a['add_data']}" if a.get("add_data") else "",
                                        f"the purpose {a['add_purpose']}" if a.get("add_purpose") else "") if w)
        return _ask_owner(f.agreement or "", a.get("owner"), f"add {what} to it",
                          f"Add {what} to agreement {f.agreement}")
    if f.kind == "new-agreement":
        return f"Make {_agreement_words(a)}"
    if f.kind == "assume-statute":
        title = f" ({a['statute_title']})" if a.get("statute_title") else ""
        if a.get("not_commenced"):
            state, then = f"{f.statute}{title} has not been commenced", "once it is"
        else:
            state, then = f"The statute {f.statute}{title} is only proposed, not law", "if it were enacted"
        allow = f"gateway {f.gateway} would allow this flow"
        if a.get("with_agreement"):
            allow += f" with {_agreement_words(a)}"
        return f"{state}: {then}, {allow}"
    if f.kind == "later-date":
        words = f"Lawful from {_d(f.on)}, when {_when(a['events'])}"
        if a.get("with_agreement"):
            words += f", with {_agreement_words(a)}"
        return words
    if f.kind == "successor":
        return f"Ask about {f.organisation} instead: it replaced {a['replaced']}"
    if f.kind == "narrower-data":
        return f"Share only {f.data}, a part of {a['inside']}: that is lawful"
    if f.kind == "other-purpose":
        return f"If the purpose is really another one: the same sharing is lawful for {', '.join(a['purposes'])}"
    if f.kind == "state-provenance":
        return "Say where the data came from: it is lawful if " + _provenance_fix(a)
    if f.kind == "given-conditions":
        return "Lawful once " + established(a)
    raise ValueError(f"unknown fix kind {f.kind!r}")


def fix_option(f: Fix) -> Optional[str]:
    """For the terminal only: the options that ask the question again as the fix supposes
    (`--assume DCA-GATEWAY-2006`), for a fix that is a what-if or a fact the asker can state."""
    a = f.args
    if f.kind == "assume-statute" and f.statute:
        return f"--assume {f.statute}"
    if f.kind == "given-conditions":
        return " ".join(f"--given {c}" for c in a["conditions"])
    if f.kind == "state-provenance":
        opts = [f"--received-under {a['received_under']}"] if a.get("received_under") else []
        opts += ["--own-data"] if a.get("own_data") else []
        opts += [f"--held-for {a['held_for']}"] if a.get("held_for") else []
        return " ".join(opts) or None
    return None


# ---- what the recipient may do with the data next (onward) ---------------------------------------------------

def onward_words(onward: str, holder: str = "", discloser: str = "") -> str:
    """What the recipient may do with the data next, in words, from the onward permission as the engine states
    it (JSON `basis.onward`, `hops[].onward`: `none`, or limits joined with ` and `, each a clause keyword and
    its names — `to ALI, OfSTED and only-for funding, inspection`). `holder` is who has the data now,
    `discloser` who gave it to them."""
    if onward == "none":
        return f"not pass it on (it may not leave {holder})" if holder else "not pass it on"
    if onward == "unrestricted":
        return "pass it on without limit"
    parts = []
    for part in onward.split(" and "):  # names never hold spaces, so " and " only joins limits
        word, _, names = part.partition(" ")
        if word == "to":
            parts.append(f"only to {names}")
        elif word == "only-for":
            parts.append(f"only for {names}")
        elif word == "as-discloser":
            who = discloser or "the body that disclosed it"
            parts.append(f"only where {who} could itself lawfully share it directly")
        elif word == "lawful":
            parts.append("in any other lawful sharing, for any purpose")
        elif word == "for":
            parts.append(f"also for {names}")
        elif word == "as":
            parts.append(f"as {names}")
        else:
            parts.append(part)
    return "pass it on " + ", and ".join(parts)


# ---- issue 13: conditions -----------------------------------------------------------------------------------

def conditions_text(args: Mapping[str, Any]) -> str:
    """`Authority of the Commissioners of HMRC (commissioners-authority)`, joined with `and`."""
    return " and ".join(f"{t} ({i})" for t, i in zip(args["titles"], args["conditions"]))


def established(args: Mapping[str, Any]) -> str:
    """`this is established: An order of the court (court-order)` (`these are …` for several)."""
    one = len(args["conditions"]) == 1
    return f"{'this is' if one else 'these are'} established: {conditions_text(args)}"


# ---- issue 13: provenance -----------------------------------------------------------------------------------

def provenance_assumed(source: str, received_under: Optional[str], own_data: bool, held_for: Optional[str]) -> str:
    """The provenance a decision assumed, in words."""
    held = f", held for {held_for}" if held_for else ""
    if received_under:
        return f"received by {source} under gateway {received_under}{held}"
    if own_data:
        return f"{source}'s own data (received under no gateway){held}"
    return f"not said, so every way {source} could have come to hold the data counts{held}"


def reading_words(b: Block, source: str) -> str:
    """`if JCP received it under DEA-s48` (a reading the question left open: conditional) / `as JCP holds it for
    social-security` (the functions it holds data for are declared: a fact, not a condition)."""
    who = source or "the source"
    if not b.received_under:
        return f"as {who} holds it for {' or '.join(b.held_for)}"
    parts = [f"received it under {' or '.join(b.received_under)}"]
    parts += [f"holds it for {' or '.join(b.held_for)}"] if b.held_for else []
    return f"if {who} " + " and ".join(parts)


def _if_reading(b: Block, source: str, stated: bool) -> str:
    if stated and not b.held_for or not (b.received_under or b.held_for):
        return ""
    return reading_words(b, source) + ": "


def received_onward_words(a: Mapping[str, Any]) -> str:
    g, test = f"gateway {a['gateway']}", a["test"]
    if test == "recipient":
        return f"{a['holder']} is not among the recipients of {g}: the data cannot have been received under it"
    if test == "data":
        return f"{g} does not deliver {a['data']}: the data cannot have been received under it"
    if test == "closed":
        return f"data received under {g} may not be passed on"
    if test in ("to", "only-for"):
        return (f"data received under {g} may be passed on only as that gateway allows: "
                f"{onward_words(a['onward'])}")
    if test == "purpose":
        return (f"data received under {g} was received for that gateway's purposes, and it allows no change to "
                f"{a['purpose']}")
    who = a["discloser"] if a.get("discloser") else "the body that disclosed it (not known)"
    return f"data received under {g} may be passed on only where {who} could itself share it directly"


def _provenance_fix(a: Mapping[str, Any]) -> str:
    held = f", held for {a['held_for']}" if a.get("held_for") else ""
    if a.get("received_under"):
        return f"{a['source']} received it under gateway {a['received_under']}{held}"
    if a.get("own_data"):
        return f"it is {a['source']}'s own data{held}"
    return f"{a['source']} holds it for {a['held_for']}"


# ---- why no one may receive (or send) the data ----------------------------------------------------------------

def bound_one_way(organisation: str, restriction: str, rule_id: str) -> str:
    """A one-way restriction that stops every disclosure by the organisation, whoever the recipient."""
    return (f"{organisation} is bound by a one-way restriction, {restriction} ({rule_id}): it may not disclose this "
            "data to anyone, unless a gateway lifts it")


def no_gateway(organisation: str, kind: str, data: str, purpose: Optional[str] = None) -> str:
    """No gateway names the organisation on the side asked about (`kind`: recipients or sources)."""
    side = "disclose" if kind == "recipients" else "receive"
    return f"no gateway lets {organisation} {side} {data}" + (f" for {purpose}" if purpose else "")
