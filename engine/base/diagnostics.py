"""Diagnostics: every problem the engine finds in its input, with a stable code, a span and a hint.

Messages are one lowercase line with user input in backticks; advice goes in `help`. Problems are
collected (never stopped at the first), sorted by location and rendered as
`policies/x.policy:12:3: error[unknown-name]: …` followed by the source line and a caret.
"""

from __future__ import annotations

from engine.base.records import record
from enum import Enum
from typing import Iterable

from engine.base.source import Span

# Every stable code with a one-paragraph explanation (`lawful check --explain CODE`).
CODES: dict[str, str] = {
    "parse-error": "The policy text does not follow the grammar of the language. The message says what was "
    "expected at that point; compare the line with the language reference in docs/language.md.",
    "bad-date": "A date is not a real calendar date in the form YYYY-MM-DD (for example 2005-02-30).",
    "bad-encoding": "A policy file or gateways.yaml is not valid UTF-8. Save it as UTF-8.",
    "file-too-large": "An input file is larger than the engine accepts (5 MB). Split the policy into files.",
    "too-many-files": "The bundle holds more policy files than the engine accepts.",
    "limit-exceeded": "The input exceeds one of the engine's limits (identifiers in a list, nesting depth, "
    "number of rules, hierarchy depth). The limits keep a hostile or broken file from exhausting memory.",
    "empty-bundle": "The bundle's policies/ folder holds no *.policy file, so nothing could ever be allowed.",
    "missing-register": "The bundle has no gateways.yaml, the register of legal instruments that gateways cite.",
    "missing-policies": "The bundle has no policies/ folder.",
    "bad-bundle": "The bundle folder does not exist or cannot be read.",
    "bad-yaml": "gateways.yaml is not well-formed YAML.",
    "yaml-duplicate-key": "A key appears twice in the same YAML mapping; the second would silently replace the "
    "first, so the engine refuses it.",
    "yaml-alias": "YAML anchors and aliases are refused in gateways.yaml: they are not needed for a register "
    "and are the vehicle of 'billion laughs' documents.",
    "schema": "gateways.yaml does not match the register's JSON Schema (engine/schemas/gateways.schema.json).",
    "unsafe-path": "A file or symbolic link points outside the bundle folder; the engine reads only the bundle.",
    "bad-file-name": "A bundle file's name (a policy file, in a folder or at a git revision) holds a control "
    "character, a line or paragraph separator, a bidirectional mark, or bytes that are not UTF-8. Such a name "
    "could shift a line protocol (`git cat-file --batch`) or rewrite a terminal's output, so the file is refused.",
    "unreadable-path": "A file or folder of the bundle (or a test file) cannot be read, listed or examined: no "
    "permission, removed while it was read, or a symbolic link that leads nowhere. The load stops (fail closed): "
    "a bundle read without it could allow what it restricts.",
    "not-a-file": "A policy file, gateways.yaml, a test file or a log is a FIFO (named pipe), a device or a socket. "
    "Only regular files are read: reading the others could wait for ever or never end.",
    "control-character": "A policy file or gateways.yaml holds a control character (C0 other than tab and line "
    "end, DEL, C1), a Unicode line separator or a bidirectional mark, override or isolate (U+202A–U+202E, "
    "U+2066–U+2069) — in a name, title, alias, string or comment, written raw or as a YAML escape. On a terminal "
    "they can move the cursor and overwrite an answer, or reorder what is shown, so the bundle is refused.",
    "confusable-name": "An organisation's id or alias can be mistaken for another's: they look the same once "
    "confusable characters (by Unicode's confusables table, UTS #39), case, zero-width characters and spaces "
    "are set aside, or one mixes scripts (Latin with Cyrillic or Greek). A reader could take one for the "
    "other; rename one.",
    "duplicate-id": "Two declarations of the same kind share an identifier (identifiers are case-insensitive).",
    "duplicate-clause": "A clause that may appear once in a block appears twice.",
    "misplaced-clause": "A clause appears in a kind of block where it has no meaning (for example `allows` in "
    "an agreement).",
    # `engine.syntax.clauses.explain` adds what each kind of block needs, from the clause table.
    "missing-clause": "A block lacks a clause it needs.",
    "unknown-name": "A name refers to no declared organisation, data category, purpose, gateway, restriction, "
    "condition or statute. Names are case-insensitive and organisations may be named by an alias.",
    "wrong-kind": "A name refers to a declaration of another kind than the clause needs (for example a "
    "purpose where an organisation is expected).",
    "unknown-statute": "A `statute` clause names an id that gateways.yaml does not register.",
    "cycle": "The `part-of` or `under` relations form a loop, so no hierarchy can be built.",
    "bad-validity": "A `valid FROM to UNTIL` window ends before it starts.",
    "conflicting-succession": "Two organisations succeed the same body on different dates. A body ceases once, "
    "so its end date would depend on which declaration was read last. Give every successor the same date if the "
    "body was split, or chain the successions (`S2 succeeds S1 on …`) if one successor later replaced the other. "
    "(Should such a bundle be compiled anyway, the earliest succession ends the body.)",
    "successor-part-of-predecessor": "An organisation succeeds a body it is declared part of (directly or through "
    "other bodies). Succession does not pass agreements or other rules on, but `part-of` would carry everything "
    "naming the predecessor to its successor; and the predecessor no longer exists once the successor does. "
    "Declare the successor part of the body it belongs to now, or of none, and agree its flows afresh. (The "
    "engine never lets a succeeded body's scope reach its successor.)",
    "statute-status-mismatch": "A statute's `status` in gateways.yaml disagrees with its dates on the evaluation "
    "date (or today, if that is earlier: the status records the register's present). The engine follows the "
    "dates, and gives a `proposed` statute no power unless assumed. An error when the status is `repealed` but the "
    "repeal takes effect later (the engine would allow what the register says is gone: keep `in-force` until a "
    "scheduled repeal takes effect); a warning when the status claims a power the dates do not give (`in-force` "
    "but repealed or not yet commenced, `proposed` but commenced or repealed), which the engine already denies.",
    "bad-lawful-basis": "The lawful basis is not one of UK GDPR Article 6(1): consent, contract, "
    "legal-obligation, vital-interests, public-task, legitimate-interests; nor a lawful-basis condition id of a "
    "data-protection regime in gateways.yaml (`regimes:`).",
    "unsupported-agreement": "An agreement relies (`under`) on a gateway that does not cover its parties, data "
    "or purposes: the agreement claims more than its legal power supports.",
    "no-lawful-basis": "Personal data flows under an agreement or gateway that records no UK GDPR Article 6 "
    "lawful basis.",
    "no-article-9": "Special-category data flows without an Article 9 condition (`article-9 \"…\"`).",
    "no-article-10": "Criminal-offence data flows without an Article 10 condition (`article-10 \"…\"`).",
    "agreement-expired": "The agreement's validity ended before the date checked: flows under it are no "
    "longer covered. Renew it or remove it.",
    "agreement-expiring": "The agreement's validity ends soon after the date checked (within "
    "`--expiring-within DAYS` of `--on`, 90 days unless told). From its end date the flows it covers are denied; "
    "renew it in time or plan for the sharing to stop.",
    "review-overdue": "The agreement's review date has passed.",
    "no-review-date": "The agreement names no review date; the ICO Data Sharing Code expects one.",
    "no-owner": "The agreement names no owner. Agreements without an owner are how sharing gets silently "
    "'severed' when staff move on (the 2005 MIAP finding).",
    "statute-proposed": "A gateway or agreement relies on a statute whose status is `proposed`: it gives no "
    "power until enacted (queries may assume it with --assume).",
    "statute-repealed": "A gateway or agreement relies on a statute that has been repealed.",
    "succeeded-organisation": "An agreement names an organisation that a reorganisation replaced (`succeeds`); "
    "from that date flows under the agreement are not covered for the successor.",
    "dead-agreement": "Every flow the agreement covers is blocked by a restriction that its gateway does not "
    "lift (`overrides`), so it can never be used; the message names the restriction. The flows are judged on the "
    "check date moved into the agreement's validity window. Rely on a gateway that is lawful authority "
    "notwithstanding the bar, or remove the agreement.",
    "overlapping-agreements": "Two agreements under the same gateway cover some of the same flows (source, "
    "recipient, data, purpose) while both are in force. Which one governs a flow, its conditions and its owner, "
    "is then unclear; merge them or narrow one.",
    "unusable-exception": "A restriction's `except` clause covers no flow that any gateway allows (the restricted "
    "party, the exception's recipients, purposes or anonymised data, and the restriction's data and purposes "
    "together), so it can never take effect. Check its scope, or add the gateway it anticipates.",
    "isolated-organisation": "(info) An organisation has no lawful flow in or out: no gateway names it on either "
    "side, or every such gateway requires an agreement and none covers it. Expected for a body declared only so "
    "that tests can show a denial; otherwise a gateway or agreement is missing.",
    "declaration-in-test-file": "A test file outside the bundle declares something other than a `test` block. "
    "Tests check the bundle as it is; declarations belong in the bundle's policies/ folder.",
    "bad-revision": "A side of `lawful diff` is neither a bundle folder nor a git revision of the current repository "
    "holding the bundle (or git could not read it).",
    "unknown-code": "The code asked for is not one of the engine's diagnostic codes.",
    "missing-option": "The command needs another option for what was asked (for example `graph --highlight` "
    "needs `--data` and `--purpose`, a PNG needs `--output` on a terminal).",
    "bad-output": "The output file could not be written (missing folder, no permission).",
    "graphviz-missing": "SVG and PNG pictures are drawn by Graphviz's `dot` program, which is not installed. Install "
    "the `graphviz` package, or ask for `--format dot` or `--format mermaid`.",
    "graphviz-failed": "Graphviz's `dot` program failed to render the picture; `--format dot` shows its input.",
    "audit-log": "The decision log (--audit-log) could not be written, or its last record is not valid, or its key "
    "is missing or unsafe (not a 0600 regular file of this user), so no decision was given: a decision that cannot "
    "be recorded is not made. `lawful log verify FILE` finds the line. (`lawful log verify` reports a log or key it "
    "cannot read, and an --accept-torn it cannot apply, with this code too.)",
    "bad-log": "A transfer log given to `lawful audit` cannot be read: the file is missing, its format is "
    "unknown, a mapped column is absent, or it is not well-formed at the line given.",
    "audit-log-broken": "`lawful log verify` found a line of the decision log that does not verify: edited (its "
    "bytes are not the canonical record, or its MAC under the log's key does not match), forged (another key), out "
    "of order (its `prev` or `seq` does not follow), a torn write (a record cut short, by a crash or by hand) that "
    "no operator has accepted yet, or an --anchor head that is no longer in the chain. Investigate; restore the log "
    "from a copy you trust, or accept a torn write with --accept-torn LINE.",
    "bad-usage": "The command line is not one the command accepts: a missing argument, an unknown option or "
    "command, or a value outside the option's choices or range. `lawful COMMAND --help` lists what it takes.",
    "missing-extra": "The command needs an optional part of lawful that is not installed (for example `lawful "
    "serve` needs pip install 'lawful[serve]').",
    "dask-unavailable": "The Dask engine of `lawful audit` could not run: dask and distributed are not "
    "installed (pip install 'lawful[dask]'), or the scheduler given with --scheduler cannot be reached.",
    "unlisted-provision": "A gateway or restriction cites a provision of a statute whose register entry lists "
    "provisions with their own dates, but not this one (or cites no provision). The rule then takes the Act's "
    "dates, which is probably an oversight: a section may have commenced later than its Act, or never. List the "
    "provision under the statute's `provisions:` in gateways.yaml, or cite a listed one.",
    "bad-rename": "A `renames` that cannot hold: a body renaming itself, one former name renamed twice (a split is "
    "a transfer of functions), a former name already used by another organisation, renames that loop, a rename "
    "before the body exists, or a renamed body that also ceases (a renamed body goes on existing under its new "
    "name; write a transfer or `succeeds` if it did not).",
    "bad-transfer": "A transfer of functions that cannot hold: a body transferring to itself, or a transferor or "
    "transferee that does not exist on the transfer's date (it comes into existence later, or has already ceased). "
    "Give the new body `exists from` on or before the date.",
    "dead-rule": "A gateway or agreement can no longer apply: every body it names as sender (or every body it "
    "names as recipient) has ceased or been succeeded by the check date, and no transfer of functions passed its "
    "functions on (succession passes no rule on). Remove it, record the transfer, or name the successor.",
    "re-sign-agreement": "(info) An agreement names a body whose functions passed to another by a transfer, or a "
    "body by a former name: it still covers the flows, through the transfer or the rename, but the partners should "
    "re-sign it under the name in use.",
    "internal-error": "The engine failed unexpectedly. It fails closed: no ALLOW is given. Please report it.",
    # issue 13
    "implied-power": "(info) Flows that a gateway resting on an implied power (`power implied`: reasonably "
    "incidental to a body's functions, or a common-law power) allows, and no express gateway does: each such ALLOW "
    "says so in its headline. A lawyer reads an implied power very differently from an express one; take advice, "
    "or cite the express power if there is one. `can-share --express-only` answers as if implied powers were absent.",
    "unbound-provenance": "A restriction binds by provenance (`data received-under G` or `data held-for F`), but no "
    "body it bars could hold such data: gateway G delivers to none of them, or none of them declares function F "
    "(`functions …`, inherited by parts). The bar can never take effect; check the names, or declare the function.",
    "wrong-regime": "A lawful basis (or article-9 condition) is a condition id of one data-protection regime in "
    "gateways.yaml (a DPA 1998 Schedule 2 condition, say), but the rule citing it is in force on dates another "
    "regime governs (after 25 May 2018, UK GDPR). On those dates the engine shows the basis in the regime of the "
    "date through its `equivalent`, and denies for want of a lawful basis where there is none. Cite the "
    "regime-neutral word (`public-task`), or a condition of each regime in rules whose windows fall inside it.",
    "unusable-onward": "An `onward for P` (or `onward as C`) clause lets the data received change to a purpose (a "
    "data category) for which no gateway lets its recipients disclose it, so the change can never be used in a "
    "route. Add the gateway it anticipates, or correct the clause.",
    "bad-config": "The review configuration (`lawful.toml`, or `[tool.lawful]` in pyproject.toml, at the bundle "
    "root) is not valid TOML, names a setting or a diagnostic code lawful does not know, gives a value it does not "
    "accept, or tries to ignore or re-level an error (only warnings and notes can be configured). The command does "
    "not run (exit 2) until it is fixed: a configuration that is not read as written could hide findings.",
    "bad-ignore": "An inline `# lawful: ignore[CODE] reason` comment names no diagnostic code, names an error (errors "
    "cannot be silenced), or gives no reason. Write the code of a warning or note and, after the brackets, why the "
    "finding does not apply: a reviewer will ask.",
    "unused-ignore": "(note) An inline `# lawful: ignore[CODE]` comment silences nothing: no diagnostic with that "
    "code is reported on its line or in its block. Remove it, or move it to the finding it is about.",
}

# The codes reported as findings (warnings, and notes such as `isolated-organisation`), with the level they have
# unless the configuration says otherwise. Only these can be ignored or re-levelled (lawful.toml, inline
# `# lawful: ignore[…]`): every other code is an error, and no setting hides an error.
ADJUSTABLE: dict[str, str] = {
    "no-lawful-basis": "warning", "no-article-9": "warning", "no-article-10": "warning",
    "agreement-expired": "warning", "agreement-expiring": "warning", "review-overdue": "warning",
    "no-review-date": "warning", "no-owner": "warning", "statute-proposed": "warning", "statute-repealed": "warning",
    "succeeded-organisation": "warning", "dead-agreement": "warning", "overlapping-agreements": "warning",
    "unusable-exception": "warning", "isolated-organisation": "info", "bad-ignore": "warning",
    "unused-ignore": "info", "confusable-name": "warning",
    # a warning when a statute's status claims a power its dates do not give; the error (a repeal still to
    # come) is never adjustable: `apply` leaves every error as it is
    "statute-status-mismatch": "warning",
    # continuity and provisions (issue 12)
    "unlisted-provision": "warning", "dead-rule": "warning", "re-sign-agreement": "info",
    # provenance, power and regimes (issue 13)
    "implied-power": "info", "unbound-provenance": "warning", "wrong-regime": "warning", "unusable-onward": "warning",
}


class Severity(str, Enum):
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


@record(frozen=True)
class Diagnostic:
    code: str
    message: str
    span: Span | None = None
    severity: Severity = Severity.ERROR
    help: str | None = None
    related: tuple[tuple[str, Span], ...] = ()  # other places that explain this one ("the gateway is here")

    def sort_key(self) -> tuple:
        s = self.span
        return (s.file, s.line, s.column, self.code, self.message) if s else ("", 0, 0, self.code, self.message)

    def headline(self) -> str:
        where = f"{self.span}: " if self.span else ""
        return f"{where}{self.severity.value}[{self.code}]: {self.message}"

    def to_dict(self) -> dict:
        return {
            "code": self.code,
            "severity": self.severity.value,
            "message": self.message,
            "span": self.span.to_dict() if self.span else None,
            "help": self.help,
            "related": [{"message": m, "span": s.to_dict()} for m, s in self.related],
        }


def error(code: str, message: str, span: Span | None = None, help: str | None = None, related=()) -> Diagnostic:
    return Diagnostic(code, message, span, Severity.ERROR, help, tuple(related))


def warning(code: str, message: str, span: Span | None = None, help: str | None = None, related=()) -> Diagnostic:
    return Diagnostic(code, message, span, Severity.WARNING, help, tuple(related))


def did_you_mean(name: str, candidates: Iterable[str], n: int = 3) -> list[str]:
    """Close spellings of `name` among `candidates`, compared case-insensitively, returned as declared."""
    by_lower: dict[str, str] = {}
    for c in candidates:
        by_lower.setdefault(c.lower(), c)
    import difflib  # only when a name is unknown: not on the path of an answer

    matches = difflib.get_close_matches(name.lower(), list(by_lower), n=n, cutoff=0.6)
    return [by_lower[m] for m in matches]
