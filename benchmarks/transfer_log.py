"""Generate a transfer log with planted unlawful and unreadable rows, for `lawful audit` tests and benchmarks.

The background is drawn from a pool of lawful flows (candidate flows suggested by the bundle's gateways and
agreements, kept only when the engine allows them), written with the spellings a real log has (declared id,
lower or upper case, an alias). At known rows it plants:
- unlawful transfers: the seed question (JCP → ALI provider-data for inspection, 2005-06-23: a one-way
  block), lawful flows moved to a date outside their agreement or gateway, and random flows the engine denies;
- rows the audit must reject: a misspelt organisation or data category, impossible or foreign dates, an
  empty cell, and (JSON Lines) a line that is not JSON.
The plan records every planted row, so a test can check that the audit reports exactly those rows.

    python benchmarks/transfer_log.py OUT.csv --rows 1000000 [--format csv|jsonl|parquet] [--seed 1]
writes the log and OUT.csv.plan.json.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import random
import sys
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import engine  # noqa: E402

SEED_QUESTION = ("JCP", "ALI", "provider-data", "inspection", "2005-06-23")
FIRST_DAY, LAST_DAY = dt.date(2004, 1, 1), dt.date(2009, 12, 31)
COLUMNS = ("source", "recipient", "data", "purpose", "date")


@dataclass
class Plan:
    rows: int
    unlawful: dict[int, tuple] = field(default_factory=dict)  # row -> (source, recipient, data, purpose, date)
    rejected: dict[int, str] = field(default_factory=dict)  # row -> expected rejection code

    def to_dict(self) -> dict:
        return {"rows": self.rows, "unlawful": {str(k): list(v) for k, v in self.unlawful.items()},
                "rejected": {str(k): v for k, v in self.rejected.items()}}


def _day(rng: random.Random) -> dt.date:
    return FIRST_DAY + dt.timedelta(days=rng.randrange((LAST_DAY - FIRST_DAY).days + 1))


def _pools(policy: engine.Policy, rng: random.Random, lawful_size: int = 1500, unlawful_size: int = 400):
    """(lawful questions, unlawful questions) as tuples of declared names and an ISO date, decided here."""
    orgs = sorted(policy.orgs)
    data = sorted(policy.data)
    purposes = sorted(policy.purposes)
    lawful: dict[tuple, None] = {}
    unlawful: dict[tuple, None] = {}

    def name(kind: str, key: str) -> str:
        return {"org": policy.org_name, "data": policy.data_name, "purpose": policy.purpose_name}[kind](key)

    def ask(s, r, d, p, day) -> bool:
        return policy.allowed(s, r, d, p, on=day)

    # Candidates from the rules that allow flows: a party in each scope, data and purpose inside the rule's.
    rules = []
    for a in policy.agreements.values():
        for src, dst in a.directions:
            rules.append((sorted(src), sorted(dst), sorted(a.data), sorted(a.purposes), a.valid))
    for g in policy.gateways.values():
        if not g.requires_agreement:
            for src, dst in g.pairs:
                rules.append((sorted(src) if src else orgs, sorted(dst) if dst else orgs, sorted(g.data),
                              sorted(g.purposes), g.valid))
    attempts = 0
    while len(lawful) < lawful_size and attempts < lawful_size * 40 and rules:
        attempts += 1
        src, dst, ds, ps, valid = rng.choice(rules)
        s, r, d, p = rng.choice(src), rng.choice(dst), rng.choice(ds), rng.choice(ps)
        if s == r:
            continue
        day = _day(rng)
        q = (name("org", s), name("org", r), name("data", d), name("purpose", p), day)
        if ask(*q):
            lawful[q] = None
            # The same flow moved outside its window: usually unlawful (an expired agreement, say).
            moved = (q[0], q[1], q[2], q[3], day - dt.timedelta(days=6 * 365))
            if len(unlawful) < unlawful_size // 2 and not ask(*moved):
                unlawful[moved] = None
    attempts = 0
    while len(unlawful) < unlawful_size and attempts < unlawful_size * 40:
        attempts += 1
        q = (name("org", rng.choice(orgs)), name("org", rng.choice(orgs)), name("data", rng.choice(data)),
             name("purpose", rng.choice(purposes)), _day(rng))
        if q[0] != q[1] and not ask(*q):
            unlawful[q] = None
    as_text = lambda qs: [(*q[:4], q[4].isoformat()) for q in qs]  # noqa: E731
    return as_text(lawful), [SEED_QUESTION] + as_text(unlawful)


def _spellings(policy: engine.Policy) -> dict[str, list[str]]:
    """Ways a log may spell each organisation: the id, lower and upper case, and its aliases."""
    out = {}
    for o in policy.orgs.values():
        out[o.id.text] = [o.id.text, o.id.text.lower(), o.id.text.upper(), *o.aliases]
    return out


def _rejects(rng: random.Random, lawful: list[tuple], jsonl: bool) -> tuple[str, object]:
    """One unreadable row: (expected code, the row's cells — or a raw line for JSON Lines)."""
    s, r, d, p, day = rng.choice(lawful)
    kind = rng.randrange(6 if jsonl else 5)
    if kind == 0:
        return "unknown-name", (s + "X", r, d, p, day)
    if kind == 1:
        return "unknown-name", (s, r, d.replace("-", "_") + "s", p, day)
    if kind == 2:
        return "bad-date", (s, r, d, p, day[:8] + "30" if day[5:7] == "02" else day[:5] + "02-30")
    if kind == 3:
        return "bad-date", (s, r, d, p, f"{day[8:10]}/{day[5:7]}/{day[:4]}")
    if kind == 4:
        return "missing-value", (s, r, d, "", day)
    return "malformed-row", '{"source": "' + s + '", "recipient": '


def generate(policy: engine.Policy, path: Path, rows: int, fmt: str = "csv", seed: int = 1,
             unlawful_rate: float = 0.005, rejected_rate: float = 0.001) -> Plan:
    """Write a log of `rows` transfers to `path` and return the plan of planted rows."""
    rng = random.Random(seed)
    lawful, unlawful = _pools(policy, rng)
    spell = _spellings(policy)
    plan = Plan(rows)
    jsonl = fmt == "jsonl"
    records: list = []
    for row in range(1, rows + 1):
        x = rng.random()
        if row == 1 or x < unlawful_rate:
            q = SEED_QUESTION if row == 1 else rng.choice(unlawful)
            plan.unlawful[row] = q
            records.append(q)
        elif x < unlawful_rate + rejected_rate:
            code, rec = _rejects(rng, lawful, jsonl)
            plan.rejected[row] = code
            records.append(rec)
        else:
            s, r, d, p, day = rng.choice(lawful)
            records.append((rng.choice(spell[s]), rng.choice(spell[r]), d, p, day))
    path.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "csv":
        with open(path, "w", newline="", encoding="utf-8") as f:
            w = csv.writer(f, lineterminator="\n")
            w.writerow(COLUMNS)
            w.writerows(records)
    elif fmt == "jsonl":
        with open(path, "w", encoding="utf-8") as f:
            for rec in records:
                f.write((rec if isinstance(rec, str) else json.dumps(dict(zip(COLUMNS, rec)))) + "\n")
    elif fmt == "parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        cols = list(zip(*records))
        table = pa.table({c: [v if v != "" else None for v in col] for c, col in zip(COLUMNS, cols)})
        pq.write_table(table, path, row_group_size=100_000)
    else:
        raise ValueError(f"unknown format {fmt}")
    return plan


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--format", choices=("csv", "jsonl", "parquet"), default="csv")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--bundle", default=None)
    args = ap.parse_args(argv)
    plan = generate(engine.load(args.bundle), args.out, args.rows, args.format, args.seed)
    Path(str(args.out) + ".plan.json").write_text(json.dumps(plan.to_dict()), encoding="utf-8")
    print(f"wrote {args.rows:,} rows to {args.out}: {len(plan.unlawful):,} planted unlawful, "
          f"{len(plan.rejected):,} planted rejected")
    return 0


if __name__ == "__main__":
    sys.exit(main())
