"""The compiled decision index: what lets `Policy.allowed` answer in about a microsecond warm and a few
microseconds cold, and `evaluate` touch only the rules that can apply to a question.

- Keys: organisations, categories and purposes are their lower-cased ids, resolved once per question
  (`decide.normalise`); the index's own tables intern them (`sys.intern`), so a key met again compares by
  identity, and every str caches its hash, so each look-up after the first costs one probe.
- Ancestor/descendant sets come precomputed from the trees (`hierarchy.Tree`); scopes are the expanded
  frozensets `compile` builds.
- Candidate rules bucketed by (source, recipient): for a pair, the restrictions whose parties can reach it
  and the gateways whose `allows` pairs match it, each gateway with the agreements under it that cover that
  direction. Buckets are built on first use from the per-source indexes and kept in a bounded table
  (2,000 organisations make 4 million pairs; only the pairs asked about are ever built).
- Each rule's "in force on a date" is reduced to a date window (statute commencement/repeal intersected with
  the rule's own `valid` window), plus the proposed statute an assumption can switch on.
- `verdict(q)` is the non-explaining evaluation: the same rules as `decide.evaluate`, in the same order of
  precedence, returning only the boolean. A property test checks it against `evaluate` on random questions
  over generated bundles; `evaluate` stays the single source of the explained decision.
"""

from __future__ import annotations

import sys
import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from engine.compile.compiled import Policy
    from engine.eval.decide import Question

PAIR_LIMIT = 200_000  # (source, recipient) buckets kept before the table is cleared

_NEVER = object()  # a window that never opens (a rule whose statute is missing)


def _statute_window(statute) -> tuple:
    """(start, end_exclusive, proposed_key) for a statute; (_NEVER,) when there is none."""
    if statute is None:
        return (_NEVER,)
    key = sys.intern(statute.id.lower())
    if statute.status == "proposed":
        return (None, None, key, True)
    return (statute.commenced, statute.repealed, key, False)


class _Rule:
    """The in-force test of one gateway or restriction, flattened for speed."""

    __slots__ = ("s_start", "s_end", "s_key", "proposed", "never", "v_start", "v_end")

    def __init__(self, statute, valid, statute_required: bool):
        w = _statute_window(statute)
        self.never = False
        if w[0] is _NEVER:
            # A gateway citing no statute never gives a power; a restriction without one always binds.
            self.never = statute_required
            self.s_start = self.s_end = self.s_key = None
            self.proposed = False
        else:
            self.s_start, self.s_end, self.s_key, self.proposed = w
        self.v_start = valid.start if valid is not None else None
        self.v_end = valid.end if valid is not None else None

    def in_force(self, on, assume) -> bool:
        if self.never:
            return False
        if self.s_key is not None and self.s_key not in assume:
            if self.proposed:
                return False
            if self.s_start is not None and on < self.s_start:
                return False
            if self.s_end is not None and on >= self.s_end:
                return False
        if self.v_start is not None and on < self.v_start:
            return False
        if self.v_end is not None and on > self.v_end:
            return False
        return True


class _Pair:
    """Candidates for one (source, recipient): restrictions reaching it, gateways allowing it (with their
    agreements covering that direction). Orders are those of `evaluate`, so explanations are unchanged."""

    __slots__ = ("restrictions", "gateways", "fast")

    def __init__(self, restrictions: list, gateways: list, fast: tuple):
        self.restrictions = restrictions  # [CRestriction]
        self.gateways = gateways  # [(CGateway, [CAgreement])]
        self.fast = fast  # the same, flattened for `verdict`


class DecisionIndex:
    """Built once per Policy (lazily, on the first question); read-only afterwards except for the bounded,
    lock-protected pair table."""

    def __init__(self, policy: "Policy"):
        self.policy = policy
        self._lock = threading.Lock()
        self._pairs: dict[tuple[str, str], _Pair] = {}
        self.pair_limit = PAIR_LIMIT
        self.org_start = {sys.intern(k): v for k, v in policy.org_start.items()}
        self.org_end = {sys.intern(k): v[0] for k, v in policy.org_end.items()}
        self.sens_flags: dict[str, tuple[bool, bool, bool, bool]] = {
            sys.intern(k): ("personal" in s, "special-category" in s, "criminal-offence" in s, "anonymised" in s)
            for k, s in policy.sensitivity.items()}
        self.gw_rule = {k: _Rule(g.statute, g.valid, True) for k, g in policy.gateways.items()}
        self.rs_rule = {k: _Rule(r.statute, r.valid, False) for k, r in policy.restrictions.items()}

    # ---- buckets -----------------------------------------------------------------------------------

    def pair(self, source: str, recipient: str) -> _Pair:
        """The candidate rules for a (source, recipient) pair, built on first use."""
        key = (source, recipient)
        hit = self._pairs.get(key)
        if hit is not None:
            return hit
        built = self._build_pair(source, recipient)
        with self._lock:
            if len(self._pairs) >= self.pair_limit:
                self._pairs.clear()
            self._pairs[key] = built
        return built

    def _build_pair(self, s: str, d: str) -> _Pair:
        p = self.policy
        restrictions = [r for r in p.restrictions_by_source.get(s, []) + p.restrictions_any_source
                        if s in r.one_way or any((rs is None or s in rs) and (rd is None or d in rd) for rs, rd in r.forbids)]
        gateways = []
        for g in p.gateways_by_source.get(s, []) + p.gateways_any_source:
            if not any((gs is None or s in gs) and (gd is None or d in gd) for gs, gd in g.pairs):
                continue
            agreements = [a for a in p.agreements_by_gateway.get(g.key, [])
                          if any(s in as_ and d in ad for as_, ad in a.directions)]
            gateways.append((g, agreements))
        fast_r = tuple(
            (r.data, r.purposes, self.rs_rule[r.key], r.exceptions, r.key) for r in restrictions)
        fast_g = []
        for g, agreements in gateways:
            gm = g.model
            fast_g.append((
                g.data, g.purposes, self.gw_rule[g.key], g.requires_agreement, g.overrides,
                (bool(gm.lawful_basis), bool(gm.article9), bool(gm.article10)),
                tuple((a.data, a.purposes, a.valid.start if a.valid else None, a.valid.end if a.valid else None,
                       (bool(a.model.lawful_basis), bool(a.model.article9), bool(a.model.article10)))
                      for a in agreements)))
        return _Pair(restrictions, gateways, (fast_r, tuple(fast_g)))

    # ---- the non-explaining evaluation ---------------------------------------------------------------

    def verdict(self, q: "Question") -> bool:
        """The verdict of `decide.evaluate(policy, q).allowed`, without building any explanation."""
        on = q.on
        source, recipient, data, purpose, assume = q.source, q.recipient, q.data, q.purpose, q.assume
        # 0. both organisations exist on the date
        for k in (source, recipient):
            start = self.org_start.get(k)
            if start is not None and on < start:
                return False
            end = self.org_end.get(k)
            if end is not None and on >= end:
                return False
        fast_r, fast_g = self.pair(source, recipient).fast
        personal, special, criminal, anonymised = self.sens_flags[data]
        # 1. restrictions that fire (deny overrides, unless the gateway relied on lifts them)
        firing = None
        for r_data, r_purposes, rule, exceptions, key in fast_r:
            if r_data is not None and data not in r_data:
                continue
            if r_purposes is not None and purpose not in r_purposes:
                continue
            if not rule.in_force(on, assume):
                continue
            excepted = False
            for anon, to, purposes, _exc in exceptions:
                if anon and not anonymised:
                    continue
                if to is not None and recipient not in to:
                    continue
                if purposes is not None and purpose not in purposes:
                    continue
                excepted = True
                break
            if excepted:
                continue
            if firing is None:
                firing = {key}
            else:
                firing.add(key)
        # 2–4. a gateway in force, its agreement, the lawful basis
        for g_data, g_purposes, rule, requires, overrides, g_flags, agreements in fast_g:
            if data not in g_data or purpose not in g_purposes:
                continue
            if not rule.in_force(on, assume):
                continue
            if firing is not None and not firing <= overrides:
                continue
            in_force = [a_flags for a_data, a_purposes, start, end, a_flags in agreements
                        if data in a_data and purpose in a_purposes
                        and (start is None or start <= on) and (end is None or on <= end)]
            if requires and not in_force:
                continue
            for a_flags in (in_force or ((False, False, False),)):
                if personal and not (a_flags[0] or g_flags[0]):
                    continue
                if special and not (a_flags[1] or g_flags[1]):
                    continue
                if criminal and not (a_flags[2] or g_flags[2]):
                    continue
                return True
        return False
