"""Generate realistic policy bundles for the benchmarks: real folders (`gateways.yaml` + `policies/*.policy`)
that `lawful check` accepts.

    python benchmarks/generate.py --size large --out /tmp/bundle-large
    python benchmarks/generate.py --orgs 300 --agreements 3000 --out /tmp/b

Shape (scaled by the number of organisations N and agreements M, seeded, deterministic):
- organisations in 2–3 level hierarchies: departments, agencies `part-of` a department, units `part-of` an
  agency, plus stand-alone bodies; ~1% of organisations succeed another on a date;
- a data-category tree (personal / special-category / criminal-offence / anonymised markers) and a
  purpose tree;
- a statute register with in-force, repealed and proposed statutes (commencement and repeal dates);
- gateways (~N/4) between organisations or groups, most requiring an agreement, some with validity windows,
  lawful bases, article-9/10 conditions and `overrides`; a few open to any source (`allows * -> X`);
- restrictions (~N/100): one-way bodies and directional `forbids A -> B` / `A -> *`, optionally narrowed by
  data and purpose, with `except anonymised`, `except to X`, `except for P` clauses;
- M agreements, each supported by its gateway (parties inside the gateway's parties, data and purposes
  inside its scopes), with validity windows, review dates, owners, conditions; some `between A and B`.

The generator imports nothing from the engine: the bundles it writes are plain text, checked by the engine
only when loaded.
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

# name -> (organisations, agreements). "large" is the 2,000 organisations / 20,000 agreements.
SIZES: dict[str, tuple[int, int]] = {
    "small": (25, 25),
    "medium": (200, 2_000),
    "large": (2_000, 20_000),
    "large-2x": (4_000, 40_000),
    "large-4x": (8_000, 80_000),
    "large-3x": (6_000, 60_000),  # issue 18, target 5: 3x and 10x the large bundle
    "large-10x": (20_000, 200_000),
}

AGREEMENTS_PER_FILE = 2_000
GATEWAYS_PER_FILE = 500

LAWFUL_BASES = ("public-task", "legal-obligation", "consent", "contract", "legitimate-interests")

# A data tree shaped like the sector's: (id, parent, markers). Repeated with numbered copies as N grows.
DATA_CORE = [
    ("personal", None, "personal"),
    ("learner-record", "personal", ""),
    ("learner-contact", "learner-record", ""),
    ("learner-achievement", "learner-record", ""),
    ("learner-funding", "learner-record", ""),
    ("learner-health", "learner-record", "special-category"),
    ("learner-offences", "learner-record", "criminal-offence"),
    ("claimant-record", "personal", ""),
    ("claimant-benefits", "claimant-record", ""),
    ("claimant-health", "claimant-record", "special-category"),
    ("staff-record", "personal", ""),
    ("staff-vetting", "staff-record", "criminal-offence"),
    ("provider-data", None, ""),
    ("provider-contact", "provider-data", ""),
    ("provider-performance", "provider-data", ""),
    ("provider-finance", "provider-data", ""),
    ("statistics", None, "anonymised"),
    ("learner-statistics", "statistics", "anonymised"),
    ("funding-statistics", "statistics", "anonymised"),
    ("employer-data", None, ""),
    ("employer-contact", "employer-data", ""),
]
PURPOSE_CORE = [
    ("inspection", None), ("inspection.work-based", "inspection"), ("inspection.schools", "inspection"),
    ("funding", None), ("funding.allocation", "funding"), ("funding.audit", "funding"),
    ("research", None), ("statistics", None), ("fraud-prevention", None), ("benefit-administration", None),
    ("careers-guidance", None), ("safeguarding", None),
]


@dataclass
class Org:
    id: str
    parent: Optional[str]
    succeeds: Optional[str] = None
    succeeds_on: Optional[dt.date] = None
    children: list[str] = field(default_factory=list)


@dataclass
class GatewaySpec:
    id: str
    statute: str
    pairs: list[tuple[list[str], list[str]]]  # ([] = `*`) sources, recipients
    data: list[str]
    purposes: list[str]
    requires_agreement: bool
    lawful_basis: Optional[str]
    article9: bool
    article10: bool
    valid: Optional[tuple[Optional[dt.date], Optional[dt.date]]]
    overrides: list[str] = field(default_factory=list)
    onward: str = "none"


def _date(rnd: random.Random, lo: int = 1998, hi: int = 2012) -> dt.date:
    start = dt.date(lo, 1, 1).toordinal()
    return dt.date.fromordinal(rnd.randint(start, dt.date(hi, 12, 31).toordinal()))


class Generator:
    def __init__(self, n_orgs: int, n_agreements: int, seed: int = 2024):
        self.rnd = random.Random(seed)
        self.n_orgs = max(8, n_orgs)
        self.n_agreements = n_agreements
        self.orgs: dict[str, Org] = {}
        self.data: list[tuple[str, Optional[str], str]] = []
        self.purposes: list[tuple[str, Optional[str]]] = []
        self.statutes: dict[str, dict] = {}
        self.gateways: list[GatewaySpec] = []
        self.restrictions: list[str] = []  # rendered blocks
        self.restriction_ids: list[str] = []

    # ---- vocabulary ---------------------------------------------------------------------------------

    def make_orgs(self) -> None:
        rnd = self.rnd
        n = self.n_orgs
        n_depts = max(2, n // 25)
        depts = [f"Dept{i:03d}" for i in range(n_depts)]
        for d in depts:
            self.orgs[d] = Org(d, None)
        agencies: list[str] = []
        i = 0
        while len(self.orgs) < n:
            u = rnd.random()
            if u < 0.15:  # stand-alone body
                oid = f"Body{i:05d}"
                self.orgs[oid] = Org(oid, None)
            elif u < 0.65 or not agencies:  # agency inside a department
                parent = rnd.choice(depts)
                oid = f"{parent}-A{i:05d}"
                self.orgs[oid] = Org(oid, parent)
                agencies.append(oid)
            else:  # unit inside an agency: a third level
                parent = rnd.choice(agencies)
                oid = f"{parent.split('-')[0]}-U{i:05d}"
                self.orgs[oid] = Org(oid, parent)
            i += 1
        for o in self.orgs.values():
            if o.parent:
                self.orgs[o.parent].children.append(o.id)
        # ~1% of bodies are successors of another (a reorganisation on a date).
        leaves = [o for o in self.orgs.values() if not o.children and o.parent]
        rnd.shuffle(leaves)
        for k in range(max(1, n // 100)):
            if 2 * k + 1 >= len(leaves):
                break
            succ, pred = leaves[2 * k], leaves[2 * k + 1]
            if pred.succeeds is not None or succ.succeeds is not None:
                continue
            succ.succeeds, succ.succeeds_on = pred.id, _date(rnd, 2003, 2010)

    def make_vocab(self) -> None:
        copies = max(1, self.n_orgs // 700)  # the data tree grows slowly with the sector
        for c in range(copies):
            sfx = "" if c == 0 else f"-{c}"
            for did, parent, marker in DATA_CORE:
                if c and parent is None and did == "personal":
                    # one `personal` root; numbered copies hang their records under it
                    continue
                p = None if parent is None else (parent if (c and parent == "personal") else parent + sfx)
                self.data.append((did + sfx, p, marker))
        self.purposes = list(PURPOSE_CORE)
        for c in range(1, max(1, self.n_orgs // 400)):
            self.purposes.append((f"research.study-{c}", "research"))
            self.purposes.append((f"funding.programme-{c}", "funding"))

    def make_statutes(self) -> None:
        rnd = self.rnd
        for i in range(max(6, self.n_orgs // 20)):
            sid = f"ACT-{1980 + i % 35}-{i:04d}"
            u = rnd.random()
            commenced = _date(rnd, 1985, 2006)
            entry = {"title": f"Generated Act {i}", "citation": f"{1980 + i % 35} c. {i % 90 + 1}",
                     "url": f"https://www.legislation.gov.uk/ukpga/{1980 + i % 35}/{i % 90 + 1}"}
            if u < 0.07:
                entry["status"] = "proposed"
            elif u < 0.15:
                entry.update(status="repealed", commenced=commenced,
                             repealed=commenced + dt.timedelta(days=rnd.randint(365, 365 * 12)))
            else:
                entry.update(status="in-force", commenced=commenced)
            self.statutes[sid] = entry

    # ---- rules --------------------------------------------------------------------------------------

    def descendants(self, oid: str) -> list[str]:
        out, stack = [], [oid]
        while stack:
            o = stack.pop()
            out.append(o)
            stack.extend(self.orgs[o].children)
        return out

    def _party(self) -> str:
        """An organisation to name in a rule: a department or an agency more often than a unit."""
        rnd = self.rnd
        u = rnd.random()
        pool = self._tops if u < 0.25 else self._agencies if u < 0.75 else self._all
        return rnd.choice(pool)

    def make_gateways(self) -> None:
        rnd = self.rnd
        self._all = sorted(self.orgs)
        self._tops = [o for o in self._all if self.orgs[o].parent is None]
        self._agencies = [o for o in self._all if self.orgs[o].children and self.orgs[o].parent] or self._all
        data_ids = [d for d, _, _ in self.data]
        purpose_ids = [p for p, _ in self.purposes]
        statutes = sorted(self.statutes)
        for i in range(max(5, self.n_orgs // 4)):
            pairs = []
            mutual = rnd.random() < 0.1
            if rnd.random() < 0.03:
                pairs.append(([], [self._party()]))  # anyone may give it to this body (e.g. a regulator)
            elif mutual:
                both = sorted({self._party() for _ in range(2)})
                pairs.append((both, both))
            else:
                for _ in range(1 + (rnd.random() < 0.2)):
                    pairs.append((sorted({self._party() for _ in range(rnd.randint(1, 3))}),
                                  sorted({self._party() for _ in range(rnd.randint(1, 2))})))
            valid = None
            if rnd.random() < 0.3:
                start = _date(rnd, 1999, 2008)
                end = start + dt.timedelta(days=rnd.randint(365, 365 * 8)) if rnd.random() < 0.7 else None
                valid = (start, end)
            self.gateways.append(GatewaySpec(
                id=f"GW-{i:05d}", statute=rnd.choice(statutes), pairs=pairs,
                data=sorted({rnd.choice(data_ids) for _ in range(rnd.randint(1, 3))}),
                purposes=sorted({rnd.choice(purpose_ids) for _ in range(rnd.randint(1, 2))}),
                requires_agreement=rnd.random() < 0.85,
                lawful_basis=rnd.choice(LAWFUL_BASES) if rnd.random() < 0.8 else None,
                article9=rnd.random() < 0.3, article10=rnd.random() < 0.1, valid=valid,
                onward=rnd.choice(["none", "none", "as-discloser", f"to {self._party()}"])))

    def make_restrictions(self) -> None:
        rnd = self.rnd
        data_ids = [d for d, _, _ in self.data]
        purpose_ids = [p for p, _ in self.purposes]
        statutes = [s for s, e in sorted(self.statutes.items()) if e["status"] != "proposed"]
        for i in range(max(2, self.n_orgs // 100)):
            rid = f"BAR-{i:04d}"
            lines = [f'restriction {rid} "Generated statutory bar {i}" {{',
                     f'  statute {rnd.choice(statutes)} "section {i + 1}"']
            u = rnd.random()
            if u < 0.5:
                lines.append(f"  one-way {self._party()}")
            elif u < 0.7:
                lines.append(f"  forbids {self._party()} -> *")
            else:
                lines.append(f"  forbids {self._party()} -> {', '.join(sorted({self._party() for _ in range(2)}))}")
            if rnd.random() < 0.5:
                lines.append(f"  data {', '.join(sorted({rnd.choice(data_ids) for _ in range(rnd.randint(1, 2))}))}")
            if rnd.random() < 0.3:
                lines.append(f"  for {rnd.choice(purpose_ids)}")
            if rnd.random() < 0.3:
                lines.append("  except anonymised")
            if rnd.random() < 0.3:
                lines.append(f"  except to {self._party()}")
            if rnd.random() < 0.2:
                lines.append(f"  except to {self._party()} for {rnd.choice(purpose_ids)}")
            if rnd.random() < 0.15:
                lines.append(f"  except for {rnd.choice(purpose_ids)}")
            lines.append("}")
            self.restrictions.append("\n".join(lines))
            self.restriction_ids.append(rid)
        # About one gateway in ten is an enactment that lifts one of the bars.
        for g in self.gateways:
            if rnd.random() < 0.1:
                g.overrides = sorted({rnd.choice(self.restriction_ids) for _ in range(rnd.randint(1, 2))})

    # ---- agreements ---------------------------------------------------------------------------------

    def _within(self, names: list[str], tree_children: dict[str, list[str]]) -> str:
        root = self.rnd.choice(names)
        out, stack = [], [root]
        while stack:
            n = stack.pop()
            out.append(n)
            stack.extend(tree_children.get(n, []))
        return self.rnd.choice(out)

    def _covers(self, names: list[str], org: str) -> bool:
        cur: Optional[str] = org
        while cur is not None:
            if cur in names:
                return True
            cur = self.orgs[cur].parent
        return False

    def render_agreements(self) -> list[str]:
        rnd = self.rnd
        data_children: dict[str, list[str]] = {}
        for d, p, _ in self.data:
            if p:
                data_children.setdefault(p, []).append(d)
        purpose_children: dict[str, list[str]] = {}
        for p, parent in self.purposes:
            if parent:
                purpose_children.setdefault(parent, []).append(p)
        org_children = {o.id: o.children for o in self.orgs.values()}
        weights = [5 if g.requires_agreement else 1 for g in self.gateways]
        blocks = []
        for i in range(self.n_agreements):
            g = rnd.choices(self.gateways, weights)[0]
            srcs, dsts = rnd.choice(g.pairs)
            src = self._within(srcs, org_children) if srcs else rnd.choice(self._all)
            dst = self._within(dsts, org_children)
            if src == dst:
                dst = rnd.choice(dsts)
            between = src != dst and any(
                (not s or self._covers(s, dst)) and self._covers(d, src) for s, d in g.pairs) and rnd.random() < 0.5
            data = sorted({self._within(g.data, data_children) for _ in range(rnd.randint(1, 2))})
            purposes = sorted({self._within(g.purposes, purpose_children) for _ in range(rnd.randint(1, 2))})
            start = _date(rnd, 2000, 2010)
            end = start + dt.timedelta(days=rnd.randint(180, 365 * 5))
            lines = [f'agreement AG-{i:06d} "Generated agreement {i}" {{',
                     f"  between {src} and {dst}" if between else f"  from {src} to {dst}",
                     f"  data {', '.join(data)}", f"  for {', '.join(purposes)}", f"  under {g.id}"]
            if g.lawful_basis is None or rnd.random() < 0.2:
                lines.append(f"  lawful-basis {rnd.choice(LAWFUL_BASES)}")
            if rnd.random() < 0.2:
                lines.append('  article-9 "DPA 2018 Sch 1 para 6 (statutory purposes)"')
            lines.append(f"  valid {start.isoformat()} to {end.isoformat()}")
            lines.append(f"  review {(start + (end - start) / 2).isoformat()}")
            if rnd.random() < 0.95:
                lines.append(f'  owner "Data Sharing Lead, {src}"')
            lines.append(f"  onward {rnd.choice(['none', 'none', 'as-discloser'])}")
            if rnd.random() < 0.3:
                lines.append('  requires "pseudonymised before transfer"')
            lines.append("}")
            blocks.append("\n".join(lines))
        return blocks

    # ---- rendering ----------------------------------------------------------------------------------

    def render_gateway(self, g: GatewaySpec) -> str:
        lines = [f'gateway {g.id} "Generated gateway {g.id}" {{',
                 f'  statute {g.statute} "section {int(g.id[3:]) % 200 + 1}"']
        for srcs, dsts in g.pairs:
            lines.append(f"  allows {', '.join(srcs) if srcs else '*'} -> {', '.join(dsts)}")
        lines.append(f"  data {', '.join(g.data)}")
        lines.append(f"  for {', '.join(g.purposes)}")
        if g.requires_agreement:
            lines.append("  requires agreement")
        if g.lawful_basis:
            lines.append(f"  lawful-basis {g.lawful_basis}")
        if g.article9:
            lines.append('  article-9 "DPA 2018 Sch 1 para 6"')
        if g.article10:
            lines.append('  article-10 "DPA 2018 Sch 1 para 10"')
        if g.overrides:
            lines.append(f"  overrides {', '.join(g.overrides)}")
        if g.valid:
            start, end = g.valid
            lines.append(f"  valid {start.isoformat()} to {end.isoformat()}" if end
                         else f"  valid from {start.isoformat()}")
        lines.append(f"  onward {g.onward}")
        lines.append("}")
        return "\n".join(lines)

    def render(self) -> dict[str, str]:
        """Every file of the bundle: {relative path: text}."""
        self.make_orgs()
        self.make_vocab()
        self.make_statutes()
        self.make_gateways()
        self.make_restrictions()
        files: dict[str, str] = {}
        org_lines = ["# Generated organisations: departments, agencies (part-of), units (part-of an agency)."]
        for o in self.orgs.values():
            line = f'organisation {o.id} "{o.id.replace("-", " ")}"'
            if o.parent:
                line += f" part-of {o.parent}"
            if o.succeeds:
                line += f" succeeds {o.succeeds} on {o.succeeds_on.isoformat()}"
            org_lines.append(line)
        files["policies/organisations.policy"] = "\n".join(org_lines) + "\n"
        data_lines = ["# Generated data categories."]
        for d, p, marker in self.data:
            data_lines.append(f'data {d} "{d}"' + (f" under {p}" if p else "") + (f" {marker}" if marker else ""))
        files["policies/data.policy"] = "\n".join(data_lines) + "\n"
        files["policies/purposes.policy"] = "\n".join(
            ["# Generated purposes."] + [f'purpose {p} "{p}"' + (f" under {parent}" if parent else "")
                                         for p, parent in self.purposes]) + "\n"
        for k in range(0, len(self.gateways), GATEWAYS_PER_FILE):
            chunk = self.gateways[k:k + GATEWAYS_PER_FILE]
            files[f"policies/gateways-{k // GATEWAYS_PER_FILE:03d}.policy"] = "\n\n".join(
                self.render_gateway(g) for g in chunk) + "\n"
        files["policies/restrictions.policy"] = "\n\n".join(self.restrictions) + "\n"
        agreements = self.render_agreements()
        for k in range(0, len(agreements), AGREEMENTS_PER_FILE):
            files[f"policies/agreements-{k // AGREEMENTS_PER_FILE:03d}.policy"] = "\n\n".join(
                agreements[k:k + AGREEMENTS_PER_FILE]) + "\n"
        reg = ["# Generated statute register.", "statutes:"]
        for sid, e in self.statutes.items():
            reg.append(f"  {sid}:")
            for key in ("title", "citation", "url", "status", "commenced", "repealed"):
                if key in e:
                    v = e[key]
                    reg.append(f"    {key}: {v.isoformat() if isinstance(v, dt.date) else v}")
        files["gateways.yaml"] = "\n".join(reg) + "\n"
        return files


def generate(n_orgs: int, n_agreements: int, seed: int = 2024) -> dict[str, str]:
    """The bundle's files as {relative path: text}; same arguments, same bytes."""
    return Generator(n_orgs, n_agreements, seed).render()


def write_bundle(out: Path, files: dict[str, str]) -> Path:
    """Write the files under `out` (replacing earlier generated policies there)."""
    out = Path(out)
    (out / "policies").mkdir(parents=True, exist_ok=True)
    for old in (out / "policies").glob("*.policy"):
        old.unlink()
    for rel, text in files.items():
        (out / rel).write_text(text, encoding="utf-8")
    return out


def main(argv: Optional[list[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", choices=sorted(SIZES),
                    help="a preset: " + ", ".join(f"{k}={v[0]}/{v[1]}" for k, v in SIZES.items()))
    ap.add_argument("--orgs", type=int, help="number of organisations")
    ap.add_argument("--agreements", type=int, help="number of agreements")
    ap.add_argument("--seed", type=int, default=2024)
    ap.add_argument("--out", type=Path, required=True, help="bundle folder to write")
    a = ap.parse_args(argv)
    n_orgs, n_agr = SIZES[a.size] if a.size else (a.orgs or 25, a.agreements or 25)
    files = generate(n_orgs, n_agr, a.seed)
    write_bundle(a.out, files)
    print(f"wrote {a.out}: {n_orgs} organisations, {n_agr} agreements, {len(files)} files", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
