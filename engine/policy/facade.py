"""`Policy`: the compiled policy with the questions a caller asks of it. A thin facade: the data is the
`CompiledPolicy` it extends (engine/compile), the rules are in engine/eval, the words in engine/render.

Immutable once built, so one instance may serve many threads; the memo of verdicts is bounded and
lock-protected.
"""

from __future__ import annotations

import datetime as dt
import threading
from typing import Any, Iterable, Optional, Sequence

from engine.compile.compiled import CompiledPolicy
from engine.decision.answer import Decision
from engine.eval import decide as evaluation  # by module: one evaluator, patched in one place
from engine.eval.decide import normalise
from engine.decision.answer import Route
from engine.policy.decide import decide_question

MEMO_LIMIT = 1_000_000


class Policy(CompiledPolicy):
    """A compiled bundle you can ask questions of.

    `decide(...)` gives a full Decision with reasons, `allowed(...)` the verdict alone (memoised; always the
    verdict `decide` gives: both run engine.eval.decide.evaluate), `decide_all_purposes(...)` one decision per
    declared purpose, `routes(...)` lawful indirect routes.
    """

    _TRANSIENT = CompiledPolicy._TRANSIENT + ("_memo", "_raw_memo", "_memo_lock")

    @classmethod
    def of(cls, compiled: CompiledPolicy) -> "Policy":
        """The facade over a compiled policy (shares its data; nothing is copied deeply)."""
        policy = cls.__new__(cls)
        policy.__dict__.update(compiled.__dict__)
        policy._reset_transient()
        return policy

    def _reset_transient(self) -> None:
        super()._reset_transient()
        # Memoised verdicts: keyed by the arguments as given (the cheapest look-up) and by the normalised
        # question (so spellings and aliases share one evaluation). Bounded; cleared whole when full.
        self._memo: dict[tuple[Any, ...], bool] = {}
        self._raw_memo: dict[tuple[Any, ...], bool] = {}
        self._memo_lock = threading.Lock()
        self.memo_limit = MEMO_LIMIT

    # ---- questions ----------------------------------------------------------------------------------

    def decide(self, source: str, recipient: str, data: str, purpose: str, on: Optional[dt.date] = None,
               assume: Iterable[str] = (), *, fixes: bool = True, routes: bool = True, given: Iterable[str] = (),
               express_only: bool = False, received_under: Optional[str] = None, own_data: bool = False,
               held_for: Optional[str] = None) -> Decision:
        """Decide one flow, with the reasons, conditions, verified fixes and (on a DENY) lawful routes.

        `given`: declared conditions the question asserts (facts only a person can establish); `express_only`:
        treat gateways resting on an implied power as absent. Provenance: `received_under` (the gateway the
        source received the data under) or `own_data` (its own), and `held_for` (the function it holds it for);
        without them every provenance the source could hold the data under is considered."""
        q = normalise(self, source, recipient, data, purpose, on, assume, given, express_only, received_under,
                      own_data, held_for)
        return decide_question(self, q, fixes=fixes, routes=routes)

    def decide_all_purposes(self, source: str, recipient: str, data: str, on: Optional[dt.date] = None,
                            assume: Iterable[str] = (), **kwargs: Any) -> list[Decision]:
        """One decision per declared purpose, in declaration-name order."""
        return [self.decide(source, recipient, data, self.purposes[p].id.text, on=on, assume=assume, **kwargs)
                for p in sorted(self.purposes)]

    def allowed(self, source: str, recipient: str, data: str, purpose: str, on: Optional[dt.date] = None,
                assume: Iterable[str] = (), *, given: Iterable[str] = (), express_only: bool = False,
                received_under: Optional[str] = None, own_data: bool = False, held_for: Optional[str] = None) -> bool:
        """The verdict alone, memoised per question."""
        if on is None:
            on = dt.date.today()
        raw: tuple[Any, ...] = (source, recipient, data, purpose, on, assume if type(assume) is tuple else
                                tuple(assume) if not isinstance(assume, str) else assume)  # normalise refuses a str
        extra = bool(given) or express_only or received_under is not None or own_data or held_for is not None
        if extra:  # issue 13: keyed only when asked, so the common question's key stays as cheap as before
            raw += (tuple(given) if not isinstance(given, str) else given, bool(express_only), received_under,
                    bool(own_data), held_for)
        hit = self._raw_memo.get(raw)
        if hit is not None:
            return hit
        q = normalise(self, source, recipient, data, purpose, on, raw[5], raw[6] if extra else (), express_only,
                      received_under, own_data, held_for)
        key: tuple[Any, ...] = (q.source, q.recipient, q.data, q.purpose, q.on, q.assume)
        if extra:
            key += (q.given, q.express_only, q.received_under, q.own_data, q.held_for)
        verdict = self._memo.get(key)
        if verdict is None:
            verdict = evaluation.allowed(self, q)
        with self._memo_lock:
            if len(self._memo) >= self.memo_limit or len(self._raw_memo) >= self.memo_limit:
                self._memo.clear()
                self._raw_memo.clear()
            self._memo[key] = verdict
            self._raw_memo[raw] = verdict
        return verdict

    def allowed_many(self, questions: Iterable[Sequence[Any]]) -> list[bool]:
        """`allowed` for many questions, each a tuple (source, recipient, data, purpose[, on[, assume]])."""
        allowed = self.allowed
        return [allowed(*q) for q in questions]

    def allowed_uncached(self, source: str, recipient: str, data: str, purpose: str, on: Optional[dt.date] = None,
                         assume: Iterable[str] = (), *, given: Iterable[str] = (), express_only: bool = False,
                         received_under: Optional[str] = None, own_data: bool = False,
                         held_for: Optional[str] = None) -> bool:
        """`allowed` without the memo: resolve the names and evaluate every time."""
        return evaluation.allowed(self, normalise(self, source, recipient, data, purpose, on, assume, given,
                                                  express_only, received_under, own_data, held_for))

    def routes(self, source: str, recipient: str, data: str, purpose: str, on: Optional[dt.date] = None,
               assume: Iterable[str] = (), max_hops: int = 4, *, given: Iterable[str] = (),
               express_only: bool = False, received_under: Optional[str] = None, own_data: bool = False,
               held_for: Optional[str] = None) -> list[Route]:
        """Lawful indirect routes (two hops or more), shortest first, each hop with its own basis and the
        provenance it carries to the next."""
        from engine.eval.routes import routes

        return routes(self, source, recipient, data, purpose, on=on, assume=assume, max_hops=max_hops, given=given,
                      express_only=express_only, received_under=received_under, own_data=own_data,
                      held_for=held_for)
