"""`can-share`: one question, or one per declared purpose, answered ALLOW or DENY with the reasons."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Optional, Sequence

from engine.commands.result import EXIT_DENY, EXIT_OK, Result, command, load, parse_date, styler
from engine.errors import RequestError

if TYPE_CHECKING:  # pragma: no cover
    from engine.policy.facade import Policy
    from engine.decision.answer import Decision


@command
def can_share(source: str, recipient: str, data: str, purpose: Optional[str] = None, on: Optional[str] = None,
              assume: Sequence[str] = (), bundle: Optional[Path] = None, fmt: str = "text", verbose: bool = False,
              audit_log: Optional[Path] = None, colour: bool = False, audit_key: Optional[Path] = None,
              given: Sequence[str] = (), express_only: bool = False, received_under: Optional[str] = None,
              own_data: bool = False, held_for: Optional[str] = None) -> Result:
    """Exit 0 when every answer is allow, 1 when any is deny, 2 on error. `fmt`: text or json."""
    from engine.render.explain import explain, explain_grouped

    day = parse_date(on)
    policy = load(bundle)
    assume = list(assume)
    if purpose is not None:
        decisions = [policy.decide(source, recipient, data, purpose, on=day, assume=assume, given=list(given),
                                   express_only=express_only, received_under=received_under, own_data=own_data,
                                   held_for=held_for)]
    else:
        decisions = policy.decide_all_purposes(source, recipient, data, on=day, assume=assume, given=list(given),
                                               express_only=express_only, received_under=received_under,
                                               own_data=own_data, held_for=held_for)
    record(audit_log, policy, decisions, audit_key)
    res = Result(EXIT_OK if decisions and all(d.allowed for d in decisions) else EXIT_DENY)
    style = styler(colour)
    if fmt == "json":
        import json  # only for --format json: a fresh process's start-up counts (issue 18)

        res.out(json.dumps({"decisions": [d.to_dict() for d in decisions]}, indent=2, ensure_ascii=False))
    elif len(decisions) == 1:
        res.out(explain(decisions[0], style, verbose=verbose or not decisions[0].allowed))
    else:
        res.out(explain_grouped(decisions, style, verbose=verbose))
    return res


def record(path: Optional[Path], policy: "Policy", decisions: Sequence["Decision"], key: Optional[Path] = None) -> None:
    """Append the decisions to the log at `path` (when given) before any answer is shown: a decision that
    cannot be recorded is not given (exit 2)."""
    if path is None:
        return
    from engine.bundle.hashing import policy_hash
    from engine.errors import AuditLogError
    from engine.ops.decision_log import AuditLog

    try:
        AuditLog(path, key_path=key).record_all(decisions, policy_hash(policy))
    except AuditLogError as exc:
        raise RequestError("audit-log", str(exc),
                           "no decision was given; fix the log, or choose another --audit-log file") from None
