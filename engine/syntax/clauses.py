"""The clause table: which clauses each kind of declaration takes, how often, which it needs, in which order
the formatter prints them, and how each is spelt. Both parsers, `assemble`, the checks and the formatter
read it; nothing else lists clauses.

A *block* is a top-level declaration (`BLOCKS`): the rule blocks `gateway`, `restriction` and `agreement`
and the `test` block hold their clauses between braces; `organisation`, `data` and `purpose` take theirs as
options on the declaration's line. A *clause* (`CLAUSES`) is one entry: the words that open it, the shape of
what follows, the blocks that take it (with whether each needs it), whether it may repeat, the model
field(s) it fills, and examples.

Adding a clause (e.g. `ceases on DATE` on organisations):

1. grammar.lark: its rule (`ceases: "ceases" "on" DATE`), added to the block's list of clauses (`_org_opt`);
   a value chosen from fixed words is a named terminal (`POWER: "express" | "implied"`).
2. model.py: the field on the block's dataclass, with a default meaning "absent" (`ceases: Optional[date] = None`).
3. here: one `Clause` entry, placed in `CLAUSES` where the formatter should print it among its block's clauses.

With a shape of `SHAPES` (names, name, string, strings, date, flag, choice) that is all: the Lark transformer,
the fast parser, `assemble` (placement, duplicates, model fields), the missing-clause check and the formatter
follow from the entry, and tests/test_clauses.py checks the grammar, the parsers, the checks and the
formatter against it (its samples must parse). A clause of a new shape also needs its reader in
fastparse.py (`_CUSTOM`), its method in parser.py's transformer (returning the same raw value), its
model value in assemble.py (`MAKE`, when the value carries its span) and its printer in review/fmt.py
(`PRINT`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from types import MappingProxyType
from typing import Any

from engine.base.diagnostics import CODES

# ---- what the table is made of -------------------------------------------------------------------------

# How a clause's value is written after its words (the raw value both parsers hand to `assemble`):
SHAPES = {
    "names": "NAME (\",\" NAME)*: a tuple of Name",
    "name": "NAME: a Name",
    "string": "STRING: the unquoted text",
    "strings": "STRING (\",\" STRING)*: a tuple of texts",
    "date": "DATE: a date",
    "flag": "nothing more: True",
    "choice": "one of the entry's `choices` (a named terminal in the grammar): the word",
    # shapes with their own reader in each parser (see the module docstring)
    "statute": "NAME STRING?: (Name, provision or None)",
    "parties": "parties -> parties: (sources, recipients, excluded sources, excluded recipients), each side a tuple "
               "of Name or `*`, each exclusion a tuple of Name (`A except B -> C`)",
    "onward": "none | to names (except names)? | only-for names | as-discloser | for names | as names | lawful: "
              "(kind, targets, excluded)",
    "validity": "DATE to DATE | from DATE | until DATE: (start, end)",
    "from": "from names (except names)? to names (except names)? | between NAME (except names)? and NAME "
            "(except names)?: (sources, recipients, both_ways, excluded sources, excluded recipients)",
    "exception": "(anonymised | to names (except names)? (for names)? | for names) (when names)? | when names: "
                 "(anonymised, to, purposes, when, excluded from to)",
    "plist": "names (except names)?: (a tuple of Name, the excluded Names)",
    "succeeds": "NAME on DATE: (Name, date)",
    "members": "NAME (from DATE)? (until DATE)? (\",\" …)*: a tuple of (Name, start or None, end or None)",
    "expect": "VERDICT NAME -> NAME NAME (for NAME)? (on DATE)? (assuming (NAME | STATUTE/PROVISION), …)? "
              "(given names)? (express-only)? (received-under NAME | own-data)? (held-for NAME)? (because names)?",
}
SIMPLE_SHAPES = frozenset(("names", "name", "string", "strings", "date", "flag", "choice"))

# How occurrences of a clause become its model field.
ONCE = "once"  # at most once in a block; the field holds its value
EACH = "each"  # repeatable; the field holds every value, in order
CONCAT = "concat"  # repeatable; the values (lists) are joined into one list: `one-way A` `one-way B`
SET = "set"  # repeatable; repeats are dropped, first order kept: data markers


@dataclass(frozen=True)
class Use:
    """How one kind of block uses a clause."""

    required: bool = False  # the block is incomplete without it (`missing-clause`)
    either: str = ""  # the block needs at least one of the clauses that share this text; it leads the help
    after: str = ""  # the formatter prints it after this clause in this block (else: `CLAUSES` order)
    field: str = ""  # the model field in this block, when not the entry's


@dataclass(frozen=True)
class Clause:
    name: str  # its name in diagnostics, `clause_spans` and the formatter
    words: tuple[str, ...]  # the keyword that opens it and any words that must follow (`requires agreement`)
    shape: str  # what follows the words (`SHAPES`)
    blocks: Mapping[str, Use]  # block kind -> how that block uses it
    field: str | tuple[str, ...]  # the model field; a tuple spreads the value over several fields
    collect: str  # ONCE, EACH, CONCAT or SET
    rules: tuple[str, ...]  # the grammar rules that write it
    doc: str  # one line: what it says
    samples: tuple[str, ...]  # how it is written, one per form (each parses; the formatter prints it so)
    opens: tuple[str, ...] = ()  # words that open its other forms (`between` for `from`)
    inner: tuple[str, ...] = ()  # other keywords inside it (`onward to`, `valid from`)
    choices: tuple[str, ...] = ()  # the words a `choice` takes
    forms: tuple[str, ...] = ()  # how messages show it (the first is its usual spelling); default: its words
    need: str = ""  # the help when a block lacks it: "NEED: `sample` or `sample`"

    @property
    def once(self) -> bool:
        return self.collect == ONCE

    @property
    def shown(self) -> str:
        """How misplaced- and duplicate-clause messages write it."""
        return " / ".join(self.spelling)

    @property
    def spelling(self) -> tuple[str, ...]:
        return self.forms or (" ".join(self.words) or self.name,)

    @property
    def openers(self) -> tuple[str, ...]:
        """The words a parser sees first: its first word and those of its other forms, or, when it has no
        words (a data marker), any of its choices."""
        return (self.words[:1] + self.opens) or self.choices

    def fields_in(self, kind: str) -> tuple[str, ...]:
        override = self.blocks[kind].field
        if override:
            return (override,)
        return self.field if isinstance(self.field, tuple) else (self.field,)


@dataclass(frozen=True)
class Block:
    kind: str  # its keyword
    model: str  # the model.py dataclass it builds
    rule: str  # its grammar rule
    clause_list: str  # the grammar rule listing the clauses it may hold (blocks sharing one share the syntax)
    braced: bool  # clauses between `{` and `}`, one a line; else options on the declaration's line
    named: bool  # `KIND ID "title"`; a test has only its title
    doc: str
    head: str = ""  # "names": `KIND NAME, …` and no title (a transfer: the names fill `sources`)


def _uses(**kinds: Use) -> Mapping[str, Use]:
    return MappingProxyType(kinds)


OPTIONAL = Use()
REQUIRED = Use(required=True)
_BARS = "say whose data it bars"

# ---- the table -----------------------------------------------------------------------------------------

BLOCKS: tuple[Block, ...] = (
    Block("organisation", "Organisation", "organisation", "_org_opt", False, True, "a body that may hold data"),
    Block("data", "DataCategory", "data_decl", "_data_opt", False, True, "a category of data"),
    Block("purpose", "Purpose", "purpose_decl", "_purpose_opt", False, True, "a purpose data may be shared for"),
    Block("gateway", "Gateway", "gateway", "_clause", True, True, "what a statute allows"),
    Block("restriction", "Restriction", "restriction", "_clause", True, True, "what a statute forbids"),
    Block("agreement", "Agreement", "agreement", "_clause", True, True, "what the partners signed"),
    Block("test", "PolicyTest", "test", "expect", True, False, "expected decisions, checked by `lawful test`"),
    Block("transfer", "Transfer", "transfer", "_transfer_opt", False, False, "functions passing to another body",
          head="names"),
    Block("class", "BodyClass", "class_decl", "_class_opt", False, True, "a class of bodies, named in party lists"),
    Block("condition", "ConditionDecl", "condition_decl", "_condition_opt", False, True,
          "a fact only a person can establish, asserted by a question with `given`"),
)

# In the formatter's order: a block prints its clauses in this order (a `Use.after` moves one in a block).
CLAUSES: tuple[Clause, ...] = (
    Clause("from", ("from",), "from", _uses(agreement=REQUIRED),
           ("sources", "recipients", "both_ways", "except_sources", "except_recipients"), ONCE,
           ("from_to", "between"), "the parties: one way, or both ways with `between`",
           ("from LSC to ALI", "between LSC and ALI"), opens=("between",), inner=("to", "and", "except"),
           forms=("from … to …", "between … and …"), need="name the parties"),
    Clause("statute", ("statute",), "statute", _uses(gateway=REQUIRED, restriction=OPTIONAL), "statute", ONCE,
           ("statute",), "the legal instrument (an id from gateways.yaml) and the provision",
           ('statute SSAA-1992 "section 122"',), need="cite the power (an id from gateways.yaml)"),
    Clause("allows", ("allows",), "parties", _uses(gateway=REQUIRED), "allows", EACH, ("allows",),
           "who may disclose to whom", ("allows DWP -> LEA",),
           inner=("except",), need="say who may disclose to whom"),
    Clause("one-way", ("one-way",), "plist", _uses(restriction=Use(either=_BARS)), ("one_way", "one_way_except"),
           CONCAT, ("one_way",), "bodies whose data may not leave them",
           ("one-way ORG",), inner=("except",)),
    Clause("forbids", ("forbids",), "parties", _uses(restriction=Use(either=_BARS)), "forbids", EACH, ("forbids",),
           "a barred direction; `*` is anyone", ("forbids A -> B",), inner=("except",)),
    Clause("data", ("data",), "names", _uses(gateway=REQUIRED, restriction=OPTIONAL, agreement=REQUIRED), "data",
           ONCE, ("data_clause",), "the data categories covered", ("data provider-data",),
           need="name the data categories it covers"),
    Clause("for", ("for",), "names", _uses(gateway=REQUIRED, restriction=OPTIONAL, agreement=REQUIRED), "purposes",
           ONCE, ("for_clause",), "the purposes covered", ("for inspection",), need="name the purposes it covers"),
    Clause("under", ("under",), "name",
           _uses(data=Use(field="parent"), purpose=Use(field="parent"), agreement=REQUIRED), "under", ONCE,
           ("under",), "the category or purpose it is part of; for an agreement, the gateway it relies on",
           ("under LSC-INSPECTION",), need="name the gateway the agreement relies on"),
    Clause("valid", ("valid",), "validity",
           _uses(gateway=OPTIONAL, restriction=OPTIONAL, agreement=Use(after="article-10")), "valid", ONCE,
           ("valid",), "the window it is in force (inclusive)",
           ("valid 2005-06-22 to 2008-06-21", "valid from 2005-06-22", "valid until 2008-06-21"),
           inner=("to", "from", "until")),
    Clause("except", ("except",), "exception", _uses(restriction=OPTIONAL), "exceptions", EACH, ("except_clause",),
           "flows outside the bar", ("except anonymised", "except to DWP for fraud-prevention", "except for audit",
                                     "except when court-order", "except to DWP for fraud-prevention when court-order",
                                     "except to local-authority except Leeds-CC for fraud-prevention"),
           inner=("anonymised", "to", "for", "when", "except")),
    Clause("overrides", ("overrides",), "names", _uses(gateway=OPTIONAL), "overrides", ONCE, ("overrides",),
           "restrictions this gateway is lawful authority despite", ("overrides SSAA-1992-s123",)),
    Clause("requires agreement", ("requires", "agreement"), "flag", _uses(gateway=OPTIONAL), "requires_agreement",
           ONCE, ("requires_agreement",), "flows need an agreement in force that relies on it",
           ("requires agreement",)),
    Clause("lawful-basis", ("lawful-basis",), "name", _uses(gateway=OPTIONAL, agreement=OPTIONAL), "lawful_basis",
           ONCE, ("lawful_basis",), "the UK GDPR Article 6 basis", ("lawful-basis public-task",)),
    Clause("article-9", ("article-9",), "string", _uses(gateway=OPTIONAL, agreement=OPTIONAL), "article9", ONCE,
           ("article9",), "the condition for special-category data", ('article-9 "DPA 2018 Sch 1 para 6"',)),
    Clause("article-10", ("article-10",), "string", _uses(gateway=OPTIONAL, agreement=OPTIONAL), "article10", ONCE,
           ("article10",), "the condition for criminal-offence data", ('article-10 "DPA 2018 Sch 1 Part 3"',)),
    Clause("review", ("review",), "date", _uses(agreement=OPTIONAL), "review", ONCE, ("review",),
           "when the agreement is next reviewed", ("review 2006-06-22",)),
    Clause("owner", ("owner",), "string", _uses(agreement=OPTIONAL), "owner", ONCE, ("owner",),
           "who answers for the agreement", ('owner "Data Sharing Lead"',)),
    Clause("onward", ("onward",), "onward", _uses(gateway=OPTIONAL, agreement=OPTIONAL), "onward", ONCE, ("onward",),
           "what the recipient may do with the data next",
           ("onward none", "onward to DWP", "onward only-for inspection", "onward as-discloser",
            "onward for crime-prevention", "onward as deidentified-microdata", "onward lawful",
            "onward to public-authority except HMRC"),
           inner=("none", "to", "only-for", "as-discloser", "for", "as", "lawful", "except")),
    Clause("requires", ("requires",), "string", _uses(agreement=OPTIONAL), "requires", EACH, ("requires",),
           "a condition the decision reports back", ('requires "pseudonymised before transfer"',)),
    Clause("note", ("note",), "string", _uses(gateway=OPTIONAL, restriction=OPTIONAL, agreement=OPTIONAL,
                                              condition=OPTIONAL), "notes",
           EACH, ("note",), "a remark for readers", ('note "see the 2005 review"',)),
    # options of declarations
    Clause("part-of", ("part-of",), "name", _uses(organisation=OPTIONAL), "parent", ONCE, ("part_of",),
           "the body it is part of (an executive agency's department)", ("part-of DWP",)),
    Clause("aka", ("aka",), "strings", _uses(organisation=OPTIONAL), "aliases", ONCE, ("aka",),
           "other names it is asked by", ('aka "Jobcentre Plus", "JobCentrePlus"',)),
    Clause("succeeds", ("succeeds",), "succeeds", _uses(organisation=OPTIONAL), ("succeeds", "succeeds_on"), ONCE,
           ("succeeds",), "the body it replaced, and from when", ("succeeds TTA on 2005-09-01",), inner=("on",)),
    Clause("marker", (), "choice", _uses(data=OPTIONAL), "markers", SET, ("marker",), "how sensitive the data is",
           ("personal", "special-category", "criminal-offence", "anonymised"),
           choices=("personal", "special-category", "criminal-offence", "anonymised")),
    # the content of a test block
    Clause("expect", ("expect",), "expect", _uses(test=OPTIONAL), "expectations", EACH, ("expect",),
           "an expected decision", ("expect allow JCP -> ALI provider-data for inspection on 2005-06-23",),
           inner=("allow", "deny", "for", "on", "assuming", "given", "express-only", "received-under", "own-data",
                  "held-for", "because")),
    # ---- continuity of bodies (issue 12) ----
    Clause("renames", ("renames",), "succeeds", _uses(organisation=OPTIONAL), ("renames", "renames_on"), ONCE,
           ("renames",), "the body's former name, and the day the new one took effect (one legal person)",
           ("renames TTA on 2005-09-01",), inner=("on",)),
    Clause("exists from", ("exists", "from"), "date", _uses(organisation=OPTIONAL), "exists_from", ONCE,
           ("exists_from",), "the day a new body came into existence", ("exists from 2007-06-28",)),
    Clause("ceases", ("ceases", "on"), "date", _uses(organisation=OPTIONAL), "ceases", ONCE, ("ceases",),
           "the day a body ceased to exist, with no successor", ("ceases on 2011-03-31",)),
    Clause("transfer-to", ("to",), "names", _uses(transfer=REQUIRED), "targets", ONCE, ("transfer_to",),
           "the bodies the functions pass to", ("to OfSTED-2007",), need="name the bodies the functions pass to"),
    Clause("transfer-on", ("on",), "date", _uses(transfer=REQUIRED), "on", ONCE, ("transfer_on",),
           "the day the functions pass", ("on 2007-04-01",), need="give the day the functions pass"),
    Clause("transfer-under", ("under",), "statute", _uses(transfer=OPTIONAL), "statute", ONCE, ("transfer_under",),
           "the enactment that transfers them", ('under EIA-2006 "section 157"',)),
    Clause("transfer-data", ("data",), "names", _uses(transfer=OPTIONAL), "data", ONCE, ("transfer_data",),
           "the data categories whose functions pass (all when absent)", ("data provider-data",)),
    Clause("transfer-for", ("for",), "names", _uses(transfer=OPTIONAL), "purposes", ONCE, ("transfer_for",),
           "the purposes whose functions pass (all when absent)", ("for inspection",)),
    # ---- classes of bodies (issue 12) ----
    Clause("is", ("is",), "members", _uses(organisation=OPTIONAL), "member_of", CONCAT, ("member_of",),
           "the classes it belongs to, each from and until a date when membership is dated",
           ("is local-authority from 2018-05-01, public-authority", "is dea-sch4 until 2019-03-31"),
           inner=("from", "until")),
    Clause("class-statute", ("statute",), "statute", _uses(**{"class": OPTIONAL}), "statute", ONCE,
           ("class_statute",), "the legal source of the class (a list of specified persons)",
           ('statute DEA-2017 "Schedule 4"',)),
    Clause("continues", ("continues",), "flag", _uses(transfer=OPTIONAL), "continues", ONCE, ("continues",),
           "the transferor keeps existing (it ceases otherwise)", ("continues",)),
    # issue 13: conditions and the strength of a power
    Clause("requires condition", ("requires",), "names",
           _uses(gateway=Use(after="requires agreement"), agreement=Use(after="requires")), "conditions", CONCAT,
           ("requires_condition",), "conditions (declared with `condition`) a flow needs the question to give",
           ("requires commissioners-authority",), forms=("requires CONDITION",)),
    Clause("power", ("power",), "choice", _uses(gateway=Use(after="statute")), "power", ONCE, ("power",),
           "how strong the power is: `express` (the default) or `implied` (incidental, or common law)",
           ("power express", "power implied"), choices=("express", "implied")),
    # issue 13: provenance
    Clause("functions", ("functions",), "names", _uses(organisation=OPTIONAL), "functions", ONCE, ("functions",),
           "the functions it holds data for (its parts inherit them)", ("functions social-security",)),
    Clause("data received-under", ("data", "received-under"), "names", _uses(restriction=Use(after="data")),
           "received_under", ONCE, ("data_received_under",),
           "binds only data the source received under these gateways", ("data received-under DEA-s48",)),
    Clause("data held-for", ("data", "held-for"), "names", _uses(restriction=Use(after="data received-under")),
           "held_for", ONCE, ("data_held_for",), "binds only data the source holds for these functions",
           ("data held-for social-security",)),
)

# ---- lookups --------------------------------------------------------------------------------------------

BLOCK: Mapping[str, Block] = MappingProxyType({b.kind: b for b in BLOCKS})
CLAUSE: Mapping[str, Clause] = MappingProxyType({c.name: c for c in CLAUSES})
DECLARATION_WORDS: tuple[str, ...] = tuple(b.kind for b in BLOCKS)


def _ordered(kind: str) -> tuple[Clause, ...]:
    order = [c for c in CLAUSES if kind in c.blocks]
    for c in [c for c in order if c.blocks[kind].after]:
        order.remove(c)
        order.insert(next(i for i, o in enumerate(order) if o.name == c.blocks[kind].after) + 1, c)
    return tuple(order)


ORDER: Mapping[str, tuple[Clause, ...]] = MappingProxyType({b.kind: _ordered(b.kind) for b in BLOCKS})
"""Block kind -> the clauses it takes, in the formatter's order."""


def syntax_of(kind: str) -> tuple[Clause, ...]:
    """The clauses the grammar lets stand in a block of this kind: every clause of the blocks that share its
    list (a `valid` in a restriction parses; `assemble` then says whether it means anything there)."""
    shared = BLOCK[kind].clause_list
    return tuple(c for c in CLAUSES if any(BLOCK[k].clause_list == shared for k in c.blocks))


@lru_cache(maxsize=None)
def required(kind: str) -> tuple[tuple[Clause, ...], ...]:
    """What a block of this kind needs: groups of clauses, at least one of each group present."""
    groups: list[tuple[Clause, ...]] = []
    seen: set[str] = set()
    for c in ORDER[kind]:
        use = c.blocks[kind]
        if use.required:
            groups.append((c,))
        elif use.either and use.either not in seen:
            seen.add(use.either)
            groups.append(tuple(o for o in ORDER[kind] if o.blocks[kind].either == use.either))
    return tuple(groups)


def help_for(kind: str, group: tuple[Clause, ...]) -> str:
    """The help of a missing-clause diagnostic: what to write, with the clauses' samples."""
    lead = group[0].blocks[kind].either or group[0].need
    return f"{lead}: " + " or ".join(f"`{s}`" for c in group for s in c.samples)


# ---- reading a model through the table -----------------------------------------------------------------


def is_set(value: Any) -> bool:
    """Whether a model field holds a clause: its default (None, an empty tuple, False) means absent."""
    if value is None or value is False:
        return False
    return value.__class__ is not tuple or len(value) > 0


def occurrences(item: Any, kind: str, clause: Clause) -> list[Any]:
    """The clause's values in a model object of this kind, one per clause to print (none when absent); a
    spread clause gives the tuple of its fields."""
    names = clause.fields_in(kind)
    if len(names) > 1:
        values = tuple(getattr(item, n) for n in names)
        return [values] if is_set(values[0]) else []
    value = getattr(item, names[0])
    if clause.collect in (EACH, SET):
        return list(value)
    return [value] if is_set(value) else []


def present(item: Any, kind: str, clause: Clause) -> bool:
    """Whether a model object of this kind holds the clause (its first field is set)."""
    return is_set(getattr(item, clause.fields_in(kind)[0]))


# ---- explanations ---------------------------------------------------------------------------------------


def _article(word: str) -> str:
    return ("an " if word[0] in "aeiou" else "a ") + word


def _join(words: list[str], conj: str) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + f" {conj} " + words[-1]


def needs_text() -> str:
    """What each kind of block needs, from the table: `a gateway needs `statute`, … and `for`; …`."""
    parts = []
    for b in BLOCKS:
        groups = required(b.kind)
        if groups:
            needs = [_join([f"`{c.spelling[0]}`" for c in g], "or") for g in groups]
            parts.append(f"{_article(b.kind)} needs {_join(needs, 'and')}")
    return "; ".join(parts)


_SAME_BODY = (
    "`part-of` declares that an organisation is part of another legal person: an executive agency and its "
    "department (JCP and DWP), a regional office and its council. Passing data between a body and its parts is not a "
    "disclosure between bodies: the decision is ALLOW with basis `same-body` (no gateway needed), unless a restriction "
    "names that flow explicitly with a `forbids` naming both (`forbids JCP -> DWP`); `one-way` and `*` bar disclosures "
    "between bodies only. Two parts of one body are not treated as the same body. A sponsored body (a "
    "non-departmental public body and its sponsoring department, such as the LSC and DfES) is a separate legal "
    "person: it is NOT part-of its sponsor (declaring it so would let its flows escape every gateway); name such "
    "bodies together with a class (`class dfes-sponsored \"…\"`) instead.")

# Language topics `lawful check --explain` also explains (issue 12): what a construct means, beside the codes.
TOPICS: Mapping[str, str] = MappingProxyType({
    "part-of": _SAME_BODY, "same-body": _SAME_BODY, "within-body": _SAME_BODY,
})


def explain(code: str) -> str | None:
    """`lawful check --explain CODE`: the code's paragraph, with what the table says added for the codes it
    governs (so the explanation cannot drift from the checks); or a language topic (`part-of`)."""
    text = CODES.get(code) or TOPICS.get(code)
    if text is not None and code == "missing-clause":
        text = f"{text.rstrip('.')}: {needs_text()}."
    return text


__all__ = ["BLOCK", "BLOCKS", "CLAUSE", "CLAUSES", "CONCAT", "DECLARATION_WORDS", "EACH", "ONCE", "ORDER",
           "SET", "SHAPES", "SIMPLE_SHAPES", "Block", "Clause", "Use", "explain", "help_for", "is_set", "needs_text",
           "occurrences", "present", "required", "syntax_of"]
