"""Why a candidate rule did not apply, as data: a `Why` code and its arguments. The evaluator produces these;
render/words.py alone turns them into words. Nothing reads a reason's text back.

`Why` is fine-grained (which clause failed and how). The stable `code` of the decision JSON (`considered[].code`,
unchanged since schema version 1) is derived from it by `json_code`, per kind of rule.
"""

from __future__ import annotations

from enum import Enum


class Why(str, Enum):
    """Each way a candidate can fail; the value is the stable name shown as `considered[].why`."""

    # organisations
    ORG_SUCCEEDED = "org-succeeded"  # args: organisation, successor, on (the succession date)
    ORG_NOT_YET = "org-not-yet"  # args: organisation, start
    # restrictions that did not fire
    EXCEPTION = "exception"  # args: at (the span of the `except` clause)
    # in force (statutes and `valid` windows)
    NO_STATUTE = "no-statute"
    STATUTE_PROPOSED = "statute-proposed"  # args: statute
    STATUTE_NOT_COMMENCED = "statute-not-commenced"  # args: until
    STATUTE_REPEALED = "statute-repealed"  # args: on
    NOT_YET_VALID = "not-yet-valid"  # args: until
    EXPIRED = "expired"  # args: on
    # scopes and conditions of a gateway or agreement
    DATA_NOT_COVERED = "data-not-covered"  # args: data
    PURPOSE_NOT_COVERED = "purpose-not-covered"  # args: purpose
    NO_AGREEMENT = "no-agreement"
    NO_LAWFUL_BASIS = "no-lawful-basis"
    NO_ARTICLE_9 = "no-article-9"
    NO_ARTICLE_10 = "no-article-10"
    BLOCKED = "blocked"  # args: restrictions (ids)
    # issue 13
    CONDITION_NOT_GIVEN = "condition-not-given"  # args: conditions (ids), titles
    IMPLIED_POWER_EXCLUDED = "implied-power-excluded"  # the question asked for express powers only
    BASIS_WRONG_REGIME = "basis-wrong-regime"  # args: basis, regime (recorded), now (the regime of the date)
    RECEIVED_ONWARD = "received-onward"  # args: gateway, onward, test (closed | to | only-for | purpose | data |
    #                                      recipient | as-discloser), discloser


STATUTE_REASONS = frozenset({Why.NO_STATUTE, Why.STATUTE_PROPOSED, Why.STATUTE_NOT_COMMENCED, Why.STATUTE_REPEALED})
WINDOW_REASONS = frozenset({Why.NOT_YET_VALID, Why.EXPIRED})
SENSITIVITY_REASONS = frozenset({Why.NO_LAWFUL_BASIS, Why.NO_ARTICLE_9, Why.NO_ARTICLE_10, Why.BASIS_WRONG_REGIME})


def json_code(kind: str, why: Why) -> str:
    """The stable `code` of `considered[]` for a rule of `kind` that failed for `why`."""
    if why is Why.ORG_SUCCEEDED:
        return "succeeded"
    if why is Why.ORG_NOT_YET:
        return "not-yet-existing"
    if kind == "restriction":
        return "exception" if why is Why.EXCEPTION else "not-in-force"
    if why is Why.STATUTE_PROPOSED:
        return "proposed"
    if why is Why.STATUTE_REPEALED:
        return "repealed"
    if why in (Why.NO_STATUTE, Why.STATUTE_NOT_COMMENCED, Why.NOT_YET_VALID):
        return "not-in-force"
    if why is Why.EXPIRED:
        return "expired" if kind == "agreement" else "not-in-force"
    return why.value
