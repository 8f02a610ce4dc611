"""Benchmark: `lawful diff` (scoped to the changed rules) against brute force over every question.

    python benchmarks/bench_diff.py [--orgs 120] [--agreements 1500] [--seed 1]

Generates a bundle, changes one agreement and one restriction, and times the scoped diff and the brute force
on the same pair of compiled policies (loading is not timed), checking that both find the same flows. Not
part of the test suite: timings are never asserted in tests.
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import engine  # noqa: E402
from engine.review.diff import brute_force, diff_policies  # noqa: E402

REGISTER = """\
statutes:
  LSA-2000:
    title: Learning and Skills Act 2000
    status: in-force
    commenced: 2000-07-28
  SSAA-1992:
    title: Social Security Administration Act 1992
    status: in-force
    commenced: 1992-07-01
"""


def generate(orgs: int, gateways: int, agreements: int, seed: int) -> tuple[dict[str, str], dict[str, str]]:
    rnd = random.Random(seed)
    names = [f"O{i}" for i in range(orgs)]
    vocab = []
    for i, o in enumerate(names):
        parent = f" part-of O{rnd.randrange(i)}" if i > 10 and rnd.random() < 0.3 else ""
        vocab.append(f'organisation {o} "organisation {i}"{parent}')
    data = [f"d{i}" for i in range(20)]
    for i, d in enumerate(data):
        vocab.append(f'data {d} "d"' + (f" under d{rnd.randrange(i)}" if i > 3 else "")
                     + (" personal" if i % 5 == 0 else ""))
    purposes = [f"p{i}" for i in range(10)]
    for i, p in enumerate(purposes):
        vocab.append(f'purpose {p} "p"' + (f" under p{rnd.randrange(i)}" if i > 2 else ""))
    rules, shapes = [], []
    for g in range(gateways):
        s, r, d, p = rnd.sample(names, 3), rnd.sample(names, 3), rnd.sample(data, 2), rnd.sample(purposes, 2)
        shapes.append((s, r, d, p))
        rules.append(f'gateway G{g} "g" {{\n  statute LSA-2000 "s.{g}"\n  allows {", ".join(s)} -> {", ".join(r)}\n'
                     f'  data {", ".join(d)}\n  for {", ".join(p)}\n'
                     '  requires agreement\n  lawful-basis public-task\n}\n')
    for i in range(10):
        rules.append(f'restriction R{i} "r" {{\n  statute SSAA-1992 "s"\n  one-way {rnd.choice(names)}\n'
                     '  except anonymised\n}\n')
    agreed = []
    for a in range(agreements):
        g = rnd.randrange(gateways)
        s, r, d, p = shapes[g]
        agreed.append(f'agreement A{a} "a" {{\n  from {rnd.choice(s)} to {rnd.choice(r)}\n  data {rnd.choice(d)}\n'
                      f'  for {rnd.choice(p)}\n  under G{g}\n  valid 2005-01-01 to 2030-01-01\n'
                      '  review 2026-01-01\n  owner "x"\n}\n')
    old = {"policies/vocab.policy": "\n".join(vocab) + "\n", "policies/rules.policy": "\n".join(rules),
           "policies/agreements.policy": "\n".join(agreed)}
    new = dict(old)
    new["policies/agreements.policy"] = "\n".join(agreed[1:])  # one agreement removed
    # one tightened
    new["policies/rules.policy"] = old["policies/rules.policy"].replace("  one-way ", "  one-way O1, ", 1)
    return old, new


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--orgs", type=int, default=120)
    ap.add_argument("--gateways", type=int, default=60)
    ap.add_argument("--agreements", type=int, default=1500)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    old_texts, new_texts = generate(args.orgs, args.gateways, args.agreements, args.seed)
    old, new = engine.load_texts(old_texts, REGISTER), engine.load_texts(new_texts, REGISTER)
    on = dt.date(2010, 1, 1)
    t = time.perf_counter()
    result = diff_policies(old, new, on)
    scoped = time.perf_counter() - t
    t = time.perf_counter()
    brute = brute_force(old, new, on)
    full = time.perf_counter() - t
    got = {(f.source.lower(), f.recipient.lower(), f.data.lower(), f.purpose.lower()) for f in result.flows}
    questions = len(old.orgs) ** 2 * len(old.data) * len(old.purposes)
    print(f"bundle: {len(old.orgs)} organisations, {len(old.gateways)} gateways, {len(old.agreements)} agreements")
    print(f"scoped diff: {scoped:.3f}s, {result.evaluated} questions evaluated, {len(result.flows)} flows changed")
    print(f"brute force: {full:.3f}s, {questions} questions evaluated, {len(brute)} flows changed")
    print(f"agree: {got == brute}; speed-up {full / scoped:.0f}x")
    sys.exit(0 if got == brute else 1)


if __name__ == "__main__":
    main()
