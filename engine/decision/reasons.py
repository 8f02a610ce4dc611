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
    # issue 12: provisions with their own dates
    PROVISION_NOT_COMMENCED = "provision-not-commenced"  # args: statute, provision (`ESA-2008/section-15`)
    PROVISION_GAP = "provision-gap"  # args: ended, resumes (between two windows of partial commencement)
    # issue 12: continuity of bodies
    ORG_CEASED = "org-ceased"  # args: organisation, on, date
    ORG_TRANSFERRED = "org-transferred"  # args: organisation, successor, on, date (its functions passed)
    TRANSFER_NOT_YET = "transfer-not-yet"  # args: organisation (transferor), to, on
    TRANSFER_OUT_OF_SCOPE = "transfer-out-of-scope"  # args: organisation, to, on, and data or purpose
    # issue 12: classes of bodies
    NOT_A_MEMBER = "not-a-member"  # args: organisation, class, start, end (the membership's window)
    # issue 12: within one legal person
    WITHIN_BODY = "within-body"  # args: part, body (a restriction that bars disclosures between bodies only)
    # issue 13
    CONDITION_NOT_GIVEN = "condition-not-given"  # args: conditions (ids), titles
    IMPLIED_POWER_EXCLUDED = "implied-power-excluded"  # the question asked for express powers only
    BASIS_WRONG_REGIME = "basis-wrong-regime"  # args: basis, regime (recorded), now (the regime of the date)
    RECEIVED_ONWARD = "received-onward"  # args: gateway, onward, test (closed | to | only-for | purpose | data |
    #                                      recipient | as-discloser), discloser


STATUTE_REASONS = frozenset({Why.NO_STATUTE, Why.STATUTE_PROPOSED, Why.STATUTE_NOT_COMMENCED, Why.STATUTE_REPEALED,
                             Why.PROVISION_NOT_COMMENCED, Why.PROVISION_GAP})


def json_code(kind: str, why: Why) -> str:
    """The stable `code` of `considered[]` for a rule of `kind` that failed for `why`."""
    if why is Why.ORG_SUCCEEDED:
        return "succeeded"
    if why is Why.ORG_NOT_YET:
        return "not-yet-existing"
    if why is Why.ORG_CEASED:
        return "ceased"
    if why is Why.ORG_TRANSFERRED:
        return "transferred"
    if why in (Why.TRANSFER_NOT_YET, Why.TRANSFER_OUT_OF_SCOPE):
        return "not-covered-by-transfer"
    if why is Why.NOT_A_MEMBER:
        return "not-a-member"
    if why is Why.WITHIN_BODY:
        return "within-body"
    if kind == "restriction":
        return "exception" if why is Why.EXCEPTION else "not-in-force"
    if why is Why.STATUTE_PROPOSED:
        return "proposed"
    if why is Why.STATUTE_REPEALED:
        return "repealed"
    if why in (Why.NO_STATUTE, Why.STATUTE_NOT_COMMENCED, Why.NOT_YET_VALID, Why.PROVISION_NOT_COMMENCED,
               Why.PROVISION_GAP):
        return "not-in-force"
    if why is Why.EXPIRED:
        return "expired" if kind == "agreement" else "not-in-force"
    return why.value
