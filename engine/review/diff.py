"""Semantic diff: which flows a change to a bundle makes lawful or unlawful, and which rule change did it.

Two compiled policies (OLD and NEW, from bundle folders or git revisions) are compared rule by rule: added,
removed or changed gateways, restrictions and agreements, statutes whose register entry changed, and
organisations, data categories and purposes whose place in a hierarchy (or sensitivity, or succession)
changed. Each change has a *scope*: boxes of (sources, recipients, data, purposes) outside which it cannot
alter a verdict. A question can only change verdict if it is allowed on one side, so it must lie inside some
gateway's scope on that side; the diff evaluates exactly the questions in (change scopes) ∩ (gateway scopes)
on both sides — fast on large bundles — and `brute_force` (used by the property test) checks every question.

A question that names something one side does not declare is denied on that side (fail closed).
"""

from __future__ import annotations

import datetime as dt
import itertools
import os
import re
import subprocess
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Iterable, Optional

from engine.syntax import model as m
from engine.policy.facade import Policy
from engine.eval.decide import Question, allowed
from engine.policy.decide import decide_question
from engine.decision.answer import Decision
from engine.decision.review import DiffResult, FlowChange, RuleChange
from engine.base.diagnostics import error
from engine.errors import DiagnosticsError
from engine.render import words
from engine.base.filenames import file_name_problem

RULE_KINDS = ("gateway", "restriction", "agreement")

Box = tuple[Optional[frozenset], Optional[frozenset], Optional[frozenset], Optional[frozenset]]
QKey = tuple[str, str, str, str]


# ---- which rules changed -----------------------------------------------------------------------------


def _differing_fields(a, b, skip: Iterable[str] = ("span", "clause_spans")) -> tuple[str, ...]:
    out = []
    for f in fields(a):
        if f.name in skip:
            continue
        if getattr(a, f.name) != getattr(b, f.name):
            out.append(f.name.replace("_", "-"))
    return tuple(out)


def _statute_cite(policy: Policy, rule) -> tuple[Optional[str], Optional[str]]:
    s = getattr(rule, "statute", None)
    if s is None:
        return None, None
    prov = getattr(rule, "provision", None)
    return f"{s.title}{' ' + prov if prov else ''}", m.provision_url(s.url, prov)


def rule_changes(old: Policy, new: Policy) -> list[RuleChange]:
    """Every rule, statute and hierarchy node that differs, in a stable order."""
    out: list[RuleChange] = []
    for kind, table_of in (("gateway", lambda p: p.gateways), ("restriction", lambda p: p.restrictions),
                           ("agreement", lambda p: p.agreements)):
        o, n = table_of(old), table_of(new)
        for k in sorted(set(o) | set(n)):
            a, b = o.get(k), n.get(k)
            if a is not None and b is not None and a.model == b.model:
                continue
            rule = b or a
            cite, url = _statute_cite(new if b else old, rule)
            action = "added" if a is None else "removed" if b is None else "changed"
            details = _differing_fields(a.model, b.model) if a is not None and b is not None else ()
            out.append(RuleChange(kind, action, rule.id, rule.model.title, a.model.span if a else None,
                                  b.model.span if b else None, details, cite, url))
    for k in sorted(set(old.statutes) | set(new.statutes)):
        a, b = old.statutes.get(k), new.statutes.get(k)
        if a is not None and b is not None and _statute_effect(a) == _statute_effect(b):
            continue
        s = b or a
        action = "added" if a is None else "removed" if b is None else "changed"
        details = ()
        if a is not None and b is not None:
            details = tuple(f"{name}: {x or '—'} → {y or '—'}" for name, x, y in
                            zip(("status", "commenced", "repealed"), _statute_effect(a), _statute_effect(b)) if x != y)
        out.append(RuleChange("statute", action, s.id, s.title, a.span if a else None, b.span if b else None,
                              details, s.citation, s.url))
    out += _regime_changes(old, new)
    for kind, table_of in (("organisation", lambda p: p.orgs), ("data", lambda p: p.data),
                           ("purpose", lambda p: p.purposes)):
        o, n = table_of(old), table_of(new)
        for k in sorted(set(o) | set(n)):
            a, b = o.get(k), n.get(k)
            if a is not None and b is not None and _structure(a) == _structure(b):
                continue
            item = b or a
            action = "added" if a is None else "removed" if b is None else "changed"
            details = _differing_fields(a, b, ("span", "title", "aliases", "id")) if a is not None and b is not None else ()
            out.append(RuleChange(kind, action, item.id.text, item.title, a.span if a else None, b.span if b else None,
                                  details))
    return out


def _regime_changes(old: Policy, new: Policy) -> list[RuleChange]:
    """Issue 13: data-protection regimes of the register whose dates or conditions differ (they decide which
    lawful bases hold on which dates)."""
    def effect(r: m.Regime) -> tuple:
        return (r.start, r.until, tuple((c.id.lower(), c.equivalent) for c in r.lawful_bases),
                tuple(c.id.lower() for c in r.special))

    o = {r.id.lower(): r for r in old.regimes}
    n = {r.id.lower(): r for r in new.regimes}
    out = []
    for k in sorted(set(o) | set(n)):
        a, b = o.get(k), n.get(k)
        if a is not None and b is not None and effect(a) == effect(b):
            continue
        r = b if b is not None else a
        assert r is not None
        action = "added" if a is None else "removed" if b is None else "changed"
        details: tuple[str, ...] = ()
        if a is not None and b is not None:
            details = tuple(name for name, x, y in zip(("from", "until", "lawful-bases", "special-category"),
                                                       effect(a), effect(b)) if x != y)
        out.append(RuleChange("regime", action, r.id, r.title, a.span if a else None, b.span if b else None,
                              details, r.citation, r.url))
    return out


def _statute_effect(s: m.Statute) -> tuple:
    return (s.status, s.commenced.isoformat() if s.commenced else None, s.repealed.isoformat() if s.repealed else None)


def _structure(item) -> tuple:
    """What of a vocabulary item can change a verdict (not its title or aliases)."""
    key = lambda n: n.key if n is not None else None  # noqa: E731
    if isinstance(item, m.Organisation):  # its functions decide which `held-for` bars bind its data (issue 13)
        return (key(item.parent), key(item.succeeds), item.succeeds_on, tuple(sorted(f.key for f in item.functions)))
    if isinstance(item, m.DataCategory):
        return (key(item.parent), tuple(sorted(item.markers)))
    return (key(item.parent),)


# ---- scopes ------------------------------------------------------------------------------------------


def _rule_boxes(policy: Policy, kind: str, key: str) -> list[Box]:
    if kind == "gateway":
        g = policy.gateways.get(key)
        return [(s, r, g.data, g.purposes) for s, r in g.pairs] if g else []
    if kind == "agreement":
        a = policy.agreements.get(key)
        return [(s, r, a.data, a.purposes) for s, r in a.directions] if a else []
    r = policy.restrictions.get(key)
    if r is None:
        return []
    boxes: list[Box] = []
    if r.one_way:
        boxes.append((r.one_way, None, r.data, r.purposes))
    boxes += [(s, d, r.data, r.purposes) for s, d in r.forbids]
    return boxes


def _tree_reach(policies: tuple[Policy, Policy], tree: str, key: str, up: bool) -> frozenset:
    out = {key}
    for p in policies:
        t = getattr(p, tree)
        out |= t.descendants.get(key, frozenset())
        if up:
            out |= t.ancestors.get(key, frozenset())
    return frozenset(out)


def change_boxes(old: Policy, new: Policy, c: RuleChange) -> list[Box]:
    """Where a change can alter a verdict, as (sources, recipients, data, purposes) boxes; None = anything."""
    key = c.id.lower()
    both = (old, new)
    if c.kind in RULE_KINDS:
        return _rule_boxes(old, c.kind, key) + _rule_boxes(new, c.kind, key)
    if c.kind == "statute":
        boxes: list[Box] = []
        for p in both:
            for g in p.gateways.values():
                if g.statute is not None and g.statute.id.lower() == key:
                    boxes += _rule_boxes(p, "gateway", g.key)
            for r in p.restrictions.values():
                if r.statute is not None and r.statute.id.lower() == key:
                    boxes += _rule_boxes(p, "restriction", r.key)
        return boxes
    if c.kind == "regime":  # a regime's dates or conditions reach every flow of personal data
        personal = frozenset(k for p in both for k, s in p.sensitivity.items() if "personal" in s)
        return [(None, None, personal, None)]
    if c.kind == "organisation":
        reach = set(_tree_reach(both, "org_tree", key, up=False))
        for p in both:  # succession moves the end of the predecessor's existence too
            o = p.orgs.get(key)
            if o is not None and o.succeeds is not None:
                reach.add(o.succeeds.key if o.succeeds.key in p.orgs else p.org_alias.get(o.succeeds.key, o.succeeds.key))
        reach_f = frozenset(reach)
        return [(reach_f, None, None, None), (None, reach_f, None, None)]
    if c.kind == "data":
        # Sensitivity is inherited downward and a category counts as personal when a part is: both ways.
        return [(None, None, _tree_reach(both, "data_tree", key, up=True), None)]
    return [(None, None, None, _tree_reach(both, "purpose_tree", key, up=True))]


def _meet(a: Optional[frozenset], b: Optional[frozenset]) -> Optional[frozenset]:
    if a is None:
        return b
    if b is None:
        return a
    return a & b


def candidate_questions(old: Policy, new: Policy, changes: list[RuleChange]) -> dict[QKey, set[str]]:
    """Every question inside some change's scope and some gateway's scope (either side), with the keys of the
    changes whose scope holds it."""
    out: dict[QKey, set[str]] = {}
    gateway_boxes: list[tuple[Policy, Box]] = []
    for p in (old, new):
        for g in p.gateways.values():
            gateway_boxes += [(p, b) for b in _rule_boxes(p, "gateway", g.key)]
    for c in changes:
        for cb in change_boxes(old, new, c):
            for p, gb in gateway_boxes:
                box = [_meet(x, y) for x, y in zip(cb, gb)]
                universe = (p.orgs, p.orgs, p.data, p.purposes)
                dims = [sorted(u if b is None else b) for b, u in zip(box, universe)]
                if not all(dims):
                    continue
                for q in itertools.product(*dims):
                    out.setdefault(q, set()).add(c.key)
    return out


# ---- evaluating ----------------------------------------------------------------------------------------


def verdict(policy: Policy, q: QKey, on: dt.date) -> bool:
    """Allowed on this side? A name the side does not declare is a deny (fail closed)."""
    s, r, d, p = q
    if s not in policy.orgs or r not in policy.orgs or d not in policy.data or p not in policy.purposes:
        return False
    return allowed(policy, Question(s, r, d, p, on))


def _decision(policy: Policy, q: QKey, on: dt.date) -> Optional[Decision]:
    s, r, d, p = q
    if s not in policy.orgs or r not in policy.orgs or d not in policy.data or p not in policy.purposes:
        return None
    return decide_question(policy, Question(s, r, d, p, on), fixes=False, routes=False)


def _missing(policy: Policy, q: QKey) -> str:
    s, r, d, p = q
    for k, table, word in ((s, policy.orgs, "organisation"), (r, policy.orgs, "organisation"), (d, policy.data, "data category"),
                           (p, policy.purposes, "purpose")):
        if k not in table:
            return f"DENIED — {word} `{k}` is not declared"
    return "DENIED"


def _name(old: Policy, new: Policy, kind: str, key: str) -> str:
    for p in (new, old):
        table = {"org": p.orgs, "data": p.data, "purpose": p.purposes}[kind]
        if key in table:
            return table[key].id.text
    return key


def _because(d: Optional[Decision], other: Optional[Decision]) -> str:
    """The citation behind the new verdict: the basis (allowed), the block, or the basis that was lost."""
    def ref(r) -> str:
        cite = f" ({words.cites(r)})" if words.cites(r) else ""
        return f"{r.kind} `{r.id}`{cite}" + (f" [{r.span}]" if r.span else "")

    if d is None:
        return "not declared on this side"
    if d.allowed and d.basis:
        s = "under " + ref(d.basis.gateway)
        if d.basis.agreement:
            s += " and " + ref(d.basis.agreement)
        lifted = [b for b in d.blocks if b.overridden_by is not None]
        if lifted:  # a reviewer must see that the flow now passes a statutory bar
            s += ", lifting " + ", ".join(ref(b.restriction) for b in lifted)
        return s
    live = [b for b in d.blocks if b.overridden_by is None]
    if live:
        return "blocked by " + ", ".join(ref(b.restriction) for b in live)
    if other is not None and other.allowed and other.basis:
        lost = "no longer under " + ref(other.basis.gateway)
        if other.basis.agreement:
            lost += " and " + ref(other.basis.agreement)
        return f"{lost}: {d.headline.removeprefix('DENIED — ')}"
    return d.headline


def _refine(causes: set[str], old_d: Optional[Decision], new_d: Optional[Decision]) -> tuple[str, ...]:
    """Of the changes whose scope holds the question, those among either decision's reasons (rules), plus
    statute and hierarchy changes; all of them when none is among the reasons."""
    reasons: set[str] = set()
    for d in (old_d, new_d):
        if d is not None:
            reasons |= d.reason_ids()
    named = {c for c in causes if c.split(":", 1)[0] in RULE_KINDS and c.split(":", 1)[1] in reasons}
    other = {c for c in causes if c.split(":", 1)[0] not in RULE_KINDS}
    kept = named | other
    return tuple(sorted(kept or causes))


def diff_policies(old: Policy, new: Policy, on: Optional[dt.date] = None, old_label: str = "OLD",
                  new_label: str = "NEW") -> DiffResult:
    """The semantic diff of two compiled policies on a date (default today)."""
    day = on or dt.date.today()
    result = DiffResult(old_label, new_label, day)
    result.changes = rule_changes(old, new)
    candidates = candidate_questions(old, new, result.changes)
    result.evaluated = len(candidates)
    flows = []
    for q, causes in candidates.items():
        a, b = verdict(old, q, day), verdict(new, q, day)
        if a == b:
            continue
        od, nd = _decision(old, q, day), _decision(new, q, day)
        sens = (nd if b else od)
        s, r, d, p = q
        flows.append(FlowChange(
            source=_name(old, new, "org", s), recipient=_name(old, new, "org", r), data=_name(old, new, "data", d),
            purpose=_name(old, new, "purpose", p), old="allow" if a else "deny", new="allow" if b else "deny",
            old_headline=od.headline if od else _missing(old, q), new_headline=nd.headline if nd else _missing(new, q),
            causes=_refine(causes, od, nd), sensitivity=tuple(sens.sensitivity) if sens else (),
            because=_because(nd, od)))
    rank = {"special-category": 0, "criminal-offence": 0, "personal": 1, "": 2}
    flows.sort(key=lambda f: (not f.newly_allowed, rank[f.flag], f.source.lower(), f.recipient.lower(), f.data.lower(),
                              f.purpose.lower()))
    result.flows = flows
    return result


def brute_force(old: Policy, new: Policy, on: dt.date) -> set[QKey]:
    """Every question (over both sides' names) whose verdict differs — the reference the diff must match."""
    orgs = sorted(set(old.orgs) | set(new.orgs))
    data = sorted(set(old.data) | set(new.data))
    purposes = sorted(set(old.purposes) | set(new.purposes))
    return {q for q in itertools.product(orgs, orgs, data, purposes) if verdict(old, q, on) != verdict(new, q, on)}


# ---- reading the two sides ---------------------------------------------------------------------------


def _fail(message: str, help_: Optional[str] = None) -> DiagnosticsError:
    return DiagnosticsError([error("bad-revision", message, None, help_)])


def _git(args: list[str], cwd: Path, input_: Optional[bytes] = None) -> bytes:
    try:
        proc = subprocess.run(["git", *args], cwd=cwd, input=input_, capture_output=True, check=False, timeout=120)
    except FileNotFoundError:
        raise _fail("git is not installed, so revisions cannot be read", "pass two bundle folders instead")
    except subprocess.TimeoutExpired:
        raise _fail(f"`git {' '.join(args)}` took too long")
    if proc.returncode != 0:
        msg = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        raise _fail(f"`git {' '.join(args)}` failed: {msg[-1] if msg else proc.returncode}")
    return proc.stdout


def read_revision(rev: str, bundle_dir: Path, cwd: Optional[Path] = None) -> tuple[dict[str, str], str]:
    """The bundle at `bundle_dir` (a folder of the current repository) as it was at git revision `rev`:
    ({"policies/x.policy": text}, gateways.yaml text). Reads objects with git; never touches the work tree.

    No file name ever enters a line protocol: the tree is listed NUL-separated (`git ls-tree -z`), and blobs
    are fetched by object id (`git cat-file --batch` keyed by 40-hex ids, each response checked against the id
    asked for). A file name holding a control character is refused (`bad-file-name`) before anything is read."""
    from engine.bundle.read import DEFAULT_LIMITS, POLICIES_DIR, REGISTER_NAME

    cwd = cwd or Path.cwd()
    if rev.startswith("-"):
        raise _fail(f"`{rev}` is not a revision")
    neither = f"`{rev}` is neither a bundle folder nor a git revision"
    hint = "give a folder holding gateways.yaml and policies/, or a revision such as main, HEAD~1 or a commit SHA"
    try:
        top = Path(_git(["rev-parse", "--show-toplevel"], cwd).decode().strip())
    except DiagnosticsError:
        raise _fail(f"{neither} (`{cwd}` is not in a git repository)", hint)
    try:
        prefix = bundle_dir.resolve().relative_to(top.resolve()).as_posix()
    except ValueError:
        raise _fail(f"the bundle `{bundle_dir}` is not inside the git repository at `{top}`",
                    "run the command inside the repository, or pass --bundle with a folder in it")
    prefix = "" if prefix == "." else prefix + "/"
    try:
        commit = _git(["rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}"], top).decode().strip()
    except DiagnosticsError:
        raise _fail(f"{neither} of the repository at `{top}`", hint)
    register_path = f"{prefix}{REGISTER_NAME}"
    # --literal-pathspecs: the bundle folder's own name is a path, never a glob or a pathspec magic.
    listing = _git(["--literal-pathspecs", "ls-tree", "-r", "-l", "-z", "--full-tree", commit, "--",
                    register_path, f"{prefix}{POLICIES_DIR}/"], top)
    entries = _tree_entries(listing, rev)
    where = f"at revision `{rev}`"
    policy_entries = sorted((e for e in entries if e.path.startswith(f"{prefix}{POLICIES_DIR}/")
                             and e.path.endswith(".policy")), key=lambda e: e.path)
    register_entry = next((e for e in entries if e.path == register_path), None)
    # The bundle's files (as the folder loader picks them) must have safe names; other files are never read.
    bad = [d for d in (file_name_problem(e.path[len(prefix):], where) for e in policy_entries) if d is not None]
    if bad:
        raise DiagnosticsError(bad)
    if register_entry is None:
        raise _fail(f"revision `{rev}` has no `{register_path}`")
    if len(policy_entries) > DEFAULT_LIMITS.max_files:
        raise _fail(f"revision `{rev}` has {len(policy_entries):,} policy files, over the limit of "
                    f"{DEFAULT_LIMITS.max_files:,}")
    wanted = [register_entry] + policy_entries
    for e in wanted:
        if e.mode not in ("100644", "100755") or e.kind != "blob":
            what = "a symbolic link" if e.mode == "120000" else f"not a regular file (mode {e.mode}, {e.kind})"
            raise DiagnosticsError([error("unsafe-path", f"`{e.path[len(prefix):]}` {where} is {what}; it is not "
                                          "read", None, "commit the file itself")])
        if e.size > DEFAULT_LIMITS.max_file_bytes:
            raise _fail(f"`{e.path}` at `{commit[:12]}` is over the limit of {DEFAULT_LIMITS.max_file_bytes:,} bytes")
    if sum(e.size for e in wanted) > DEFAULT_LIMITS.max_total_bytes:
        raise _fail(f"the bundle at revision `{rev}` is over the limit of {DEFAULT_LIMITS.max_total_bytes:,} bytes")
    blobs = _cat_blobs([e.oid for e in wanted], top)
    texts = {e.path: _decode(blobs[e.oid], e.path, commit) for e in wanted}
    policies = {e.path[len(prefix):]: texts[e.path] for e in policy_entries}
    return policies, texts[register_path]


@dataclass(frozen=True)
class _TreeEntry:
    mode: str
    kind: str
    oid: str
    size: int  # 0 when git gives none (a submodule)
    path: str


_OID = re.compile(r"[0-9a-f]{40}(?:[0-9a-f]{24})?")  # SHA-1 or SHA-256 repositories


def _tree_entries(listing: bytes, rev: str) -> list[_TreeEntry]:
    """Parse `git ls-tree -r -l -z` output (`MODE TYPE OID SIZE<TAB>PATH<NUL>`…, SIZE `-` for a submodule),
    failing closed on anything unexpected. Paths are taken verbatim: -z never quotes or escapes them."""
    out = []
    for item in listing.split(b"\0"):
        if not item:
            continue
        head, tab, raw_path = item.partition(b"\t")
        f = head.decode("ascii", "replace").split()
        if not tab or len(f) != 4 or not _OID.fullmatch(f[2]) or not (f[3].isdigit() or f[3] == "-"):
            raise _fail(f"unexpected output from `git ls-tree` for revision `{rev}`")
        try:
            path = raw_path.decode("utf-8")
        except UnicodeDecodeError:
            # Not UTF-8: kept as escaped bytes (lone surrogates), which file_name_problem refuses.
            path = raw_path.decode("utf-8", "surrogateescape")
        out.append(_TreeEntry(f[0], f[1], f[2], int(f[3]) if f[3].isdigit() else 0, path))
    return out


def _decode(raw: bytes, path: str, commit: str) -> str:
    try:
        return raw.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError:
        raise _fail(f"`{path}` at `{commit[:12]}` is not valid UTF-8")


def _cat_blobs(oids: list[str], cwd: Path) -> dict[str, bytes]:
    """Read blobs by object id in one `git cat-file --batch` call. Every request line is a bare object id,
    so nothing a user named can break the protocol; every response header must name the id asked for."""
    unique = list(dict.fromkeys(oids))
    raw = _git(["cat-file", "--batch"], cwd, "".join(f"{o}\n" for o in unique).encode("ascii"))
    out: dict[str, bytes] = {}
    pos = 0
    for oid in unique:
        nl = raw.find(b"\n", pos)
        header = raw[pos:nl].decode("ascii", "replace").split() if nl >= 0 else []
        if len(header) != 3 or header[0] != oid or header[1] != "blob" or not header[2].isdigit():
            raise _fail(f"unexpected answer from `git cat-file` for object `{oid[:12]}`")
        size = int(header[2])
        body = raw[nl + 1:nl + 1 + size]
        if len(body) != size or raw[nl + 1 + size:nl + 2 + size] != b"\n":
            raise _fail(f"unexpected answer from `git cat-file` for object `{oid[:12]}`")
        out[oid] = body
        pos = nl + 2 + size
    if pos != len(raw):
        raise _fail("unexpected answer from `git cat-file`: more than was asked for")
    return out


def load_side(spec: str, bundle_dir: Path, cwd: Optional[Path] = None) -> Policy:
    """A bundle folder when `spec` names a folder, else a git revision of the current repository."""
    from engine.policy.load import load, load_texts

    cwd = cwd or Path.cwd()
    folder = Path(spec) if os.path.isabs(spec) else cwd / spec
    if folder.is_dir():
        return load(folder)
    policies, register = read_revision(spec, bundle_dir, cwd)
    return load_texts(policies, register)


def diff(old: str, new: str, on: Optional[dt.date] = None, bundle_dir: Optional[Path] = None,
         cwd: Optional[Path] = None) -> DiffResult:
    """`lawful diff OLD NEW`: each side a bundle folder or a git revision of the bundle at `bundle_dir`."""
    from engine.bundle.read import resolve_bundle

    bdir = Path(bundle_dir) if bundle_dir else resolve_bundle(None, cwd)
    return diff_policies(load_side(old, bdir, cwd), load_side(new, bdir, cwd), on, old, new)
