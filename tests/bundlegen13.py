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


def _insert(block: str, line: str) -> str:
    """Put a clause line before the block's closing brace."""
    head, _, tail = block.rpartition("}")
    return head + line + "}" + tail


@st.composite
def bundles13(draw) -> Bundle:
    b = draw(bundles())
    items = [f'condition {c} "condition {c}"' for c in CONDITIONS]
    for text in b.items:
        kind = text.split(" ", 1)[0]
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
    return replace(b, items=tuple(items))
