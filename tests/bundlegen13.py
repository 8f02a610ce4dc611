"""Issue 13 on top of tests/bundlegen.py: generated bundles that also declare conditions, gateways and
agreements that `requires` them, exceptions `when` they are given, and gateways on an implied power.

The base generator's declarations are kept; issue-13 clauses are written into its blocks (before the closing
brace), so every property of the base bundles still holds and the new ones can be tested over the same shapes.
"""

from __future__ import annotations

from dataclasses import replace

from hypothesis import strategies as st

from bundlegen import Bundle, bundles

CONDITIONS = ("C0", "C1", "C2")
FUNCTIONS = ("F0", "F1")


def _insert(block: str, line: str) -> str:
    """Put a clause line before the block's closing brace."""
    head, _, tail = block.rpartition("}")
    return head + line + "}" + tail


def _some(draw, pool: tuple[str, ...]) -> list[str]:
    """All of them, or (half the time) a few: chains that change data or purpose are needed only then."""
    if draw(st.booleans()):
        return list(pool)
    return draw(st.lists(st.sampled_from(pool), min_size=1, max_size=2, unique=True))


@st.composite
def onward(draw, b: Bundle) -> str:
    kind = draw(st.sampled_from(["none", "to", "only-for", "as-discloser", "to", "only-for", "for", "as", "lawful"]))
    if kind in ("none", "as-discloser", "lawful"):
        return f"  onward {kind}\n"
    pool = b.orgs if kind == "to" else b.data if kind == "as" else b.purposes
    return f"  onward {kind} {', '.join(draw(st.lists(st.sampled_from(pool), min_size=1, max_size=3, unique=True)))}\n"


@st.composite
def bundles13(draw) -> Bundle:
    b = draw(bundles())
    items = [f'condition {c} "condition {c}"' for c in CONDITIONS]
    gateways = [g["id"] for g in b.gateways]
    for text in b.items:
        kind = text.split(" ", 1)[0]
        if kind == "organisation" and draw(st.booleans()):
            text += " functions " + ", ".join(draw(st.lists(st.sampled_from(FUNCTIONS), min_size=1, unique=True)))
        if kind in ("gateway", "agreement") and draw(st.integers(0, 3)):
            text = _insert(text, draw(onward(b)))
        if kind in ("gateway", "agreement") and draw(st.integers(0, 2)) == 0:
            conds = draw(st.lists(st.sampled_from(CONDITIONS), min_size=1, max_size=2, unique=True))
            text = _insert(text, f"  requires {', '.join(conds)}\n")
        if kind == "gateway" and draw(st.integers(0, 2)) == 0:
            text = _insert(text, "  power implied\n")
        if kind == "restriction" and draw(st.booleans()):
            cond = draw(st.sampled_from(CONDITIONS))
            form = draw(st.sampled_from(["when", "to", "for"]))
            if form == "when":
                text = _insert(text, f"  except when {cond}\n")
            elif form == "to":
                text = _insert(text, f"  except to {draw(st.sampled_from(b.orgs))} when {cond}\n")
            else:
                text = _insert(text, f"  except for {draw(st.sampled_from(b.purposes))} when {cond}\n")
        items.append(text)
    # a chain of gateways O0 -> O1 -> … that let the data go on, so that routes exist to be checked
    if len(b.orgs) >= 3 and draw(st.integers(0, 3)):
        for i in range(min(len(b.orgs) - 1, 3)):
            ident = f"GC{i}"
            gateways.append(ident)
            wide = [f"  onward to {', '.join(b.orgs)}\n", f"  onward for {', '.join(b.purposes)}\n",
                    f"  onward as {', '.join(b.data)}\n", "  onward lawful\n"]
            clause = draw(st.sampled_from(wide)) if draw(st.integers(0, 2)) else draw(onward(b))
            items.append(
                f'gateway {ident} "chain" {{\n  statute LSA-2000 "s.{i + 5}"\n  allows O{i} -> O{i + 1}\n'
                f"  data {', '.join(_some(draw, b.data))}\n  for {', '.join(_some(draw, b.purposes))}\n"
                "  lawful-basis public-task\n"
                '  article-9 "DPA 2018 Sch 1 para 6"\n  article-10 "DPA 2018 Sch 1 para 10"\n'
                + clause + "}\n")
    # bars that bind by provenance (issue 13), each naming a gateway or a function of the bundle
    for i in range(draw(st.integers(0, 2))):
        text = f'restriction RP{i} "by provenance" {{\n  statute SSAA-1992 "s.9"\n'
        text += (f"  one-way {draw(st.sampled_from(b.orgs))}\n" if draw(st.booleans()) else
                 f"  forbids {draw(st.sampled_from(b.orgs + ('*',)))} -> *\n")
        binding = draw(st.sampled_from(["received", "held", "both"]))
        if binding in ("received", "both"):
            named = draw(st.lists(st.sampled_from(gateways), min_size=1, max_size=2, unique=True))
            text += f"  data received-under {', '.join(named)}\n"
        if binding in ("held", "both"):
            text += f"  data held-for {draw(st.sampled_from(FUNCTIONS))}\n"
        if draw(st.booleans()):
            text += f"  except for {draw(st.sampled_from(b.purposes))}\n"
        items.append(text + "}\n")
    declared = {f for t in items if t.startswith("organisation ") and " functions " in t
                for f in t.split(" functions ", 1)[1].split(", ")}
    if declared != set(FUNCTIONS):  # `held-for` names a function some body declares: the last body declares all
        last = max(i for i, t in enumerate(items) if t.startswith("organisation "))
        items[last] = items[last].split(" functions ", 1)[0] + " functions " + ", ".join(FUNCTIONS)
    return replace(b, items=tuple(items))


@st.composite
def chain_bundles(draw) -> Bundle:
    """Small bundles of gateways between a few bodies whose onward clauses let the data go on, change purpose
    (`for`, `lawful`) or data (`as`), with bars that bind by provenance: routes with changes are common."""
    orgs = tuple(f"O{i}" for i in range(draw(st.integers(3, 5))))
    data = ("D0", "D1", "D2")
    purposes = ("P0", "P1", "P2")
    items = [f'organisation {o} "body {o}"' + (f" functions {draw(st.sampled_from(FUNCTIONS))}" if i else
                                               " functions " + ", ".join(FUNCTIONS)) for i, o in enumerate(orgs)]
    items += [f'data {d} "data {d}"' for d in data] + [f'purpose {p} "purpose {p}"' for p in purposes]
    b = Bundle(orgs, data, purposes, tuple(items))
    gateways = []
    for i in range(draw(st.integers(2, 6))):
        s, r = draw(st.lists(st.sampled_from(orgs), min_size=2, max_size=2, unique=True))
        kinds = draw(st.sampled_from(["for", "as", "lawful", "to", "only-for", "as-discloser", "none"]))
        clause = {"lawful": "  onward lawful\n", "as-discloser": "  onward as-discloser\n", "none": "  onward none\n",
                  "for": f"  onward for {', '.join(_some(draw, purposes))}\n",
                  "as": f"  onward as {', '.join(_some(draw, data))}\n",
                  "to": f"  onward to {', '.join(_some(draw, orgs))}\n",
                  "only-for": f"  onward only-for {', '.join(_some(draw, purposes))}\n"}[kinds]
        gateways.append(f"GW{i}")
        one_data = [draw(st.sampled_from(data))] if draw(st.integers(0, 2)) else _some(draw, data)
        one_purpose = [draw(st.sampled_from(purposes))] if draw(st.integers(0, 2)) else _some(draw, purposes)
        items.append(f'gateway GW{i} "gateway {i}" {{\n  statute LSA-2000 "s.{i + 1}"\n  allows {s} -> {r}\n'
                     f"  data {', '.join(one_data)}\n  for {', '.join(one_purpose)}\n"
                     + clause + "}\n")
    for i in range(draw(st.integers(0, 2))):
        text = f'restriction RB{i} "by provenance" {{\n  statute SSAA-1992 "s.9"\n  forbids * -> *\n'
        if draw(st.booleans()):
            text += f"  data received-under {draw(st.sampled_from(gateways))}\n"
        else:
            text += f"  data held-for {draw(st.sampled_from(FUNCTIONS))}\n"
        if draw(st.booleans()):
            text += f"  except for {draw(st.sampled_from(purposes))}\n"
        items.append(text + "}\n")
    return replace(b, items=tuple(items))
