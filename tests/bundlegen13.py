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


@st.composite
def onward(draw, b: Bundle) -> str:
    kind = draw(st.sampled_from(["none", "to", "only-for", "as-discloser", "to", "only-for"]))
    if kind in ("none", "as-discloser"):
        return f"  onward {kind}\n"
    pool = b.orgs if kind == "to" else b.purposes
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
            items.append(
                f'gateway {ident} "chain" {{\n  statute LSA-2000 "s.{i + 5}"\n  allows O{i} -> O{i + 1}\n'
                f"  data {', '.join(b.data)}\n  for {', '.join(b.purposes)}\n  lawful-basis public-task\n"
                '  article-9 "DPA 2018 Sch 1 para 6"\n  article-10 "DPA 2018 Sch 1 para 10"\n'
                + (f"  onward to {', '.join(b.orgs)}\n" if draw(st.booleans()) else draw(onward(b))) + "}\n")
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
