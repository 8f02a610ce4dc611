"""The three trees of a bundle (organisations by `part-of`, data categories and purposes by `under`).

Each is a networkx DiGraph from parent to child, with ancestor and descendant sets precomputed once, so
"is X inside the scope of Y" is a set look-up. Keys are lower-cased identifiers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterable, Mapping, Optional

if TYPE_CHECKING:  # pragma: no cover
    import networkx as nx

MAX_DEPTH = 64


class Tree:
    def __init__(self, kind: str, parents: Mapping[str, Optional[str]]):
        """`parents` maps every node to its parent (or None). The caller has already refused cycles."""
        self.kind = kind
        self._graph: Optional["nx.DiGraph"] = None
        self._parent = {k: (p if p in parents else None) for k, p in parents.items()}
        anc: dict[str, frozenset[str]] = {}
        for node in parents:
            chain: list[str] = []
            cur: Optional[str] = node
            while cur is not None and cur not in anc and len(chain) <= MAX_DEPTH + 1:
                chain.append(cur)
                cur = self._parent.get(cur)
            base = anc[cur] if cur is not None and cur in anc else frozenset()
            for n in reversed(chain):
                base = base | {n}
                anc[n] = base
        self.ancestors: dict[str, frozenset[str]] = anc  # each node's ancestors, itself included
        desc: dict[str, set[str]] = {n: set() for n in parents}
        for n, ups in anc.items():
            for a in ups:
                desc[a].add(n)
        self.descendants: dict[str, frozenset[str]] = {n: frozenset(s) for n, s in desc.items()}

    @property
    def graph(self) -> "nx.DiGraph":
        """The tree as a networkx DiGraph (parent -> child), built on first use: answering a question needs
        only the precomputed sets, and importing networkx is a large share of a fresh process's start-up."""
        if self._graph is None:
            import networkx as nx

            g: nx.DiGraph[str] = nx.DiGraph()
            g.add_nodes_from(self._parent)
            g.add_edges_from((p, c) for c, p in self._parent.items() if p is not None)
            self._graph = g
        return self._graph

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_graph"] = None  # rebuilt on demand after unpickling (compiled-bundle cache)
        return state

    def __contains__(self, key: str) -> bool:
        return key in self._parent

    def parent(self, key: str) -> Optional[str]:
        return self._parent.get(key)

    def depth(self, key: str) -> int:
        return len(self.ancestors.get(key, ())) - 1

    def within(self, key: str, scope: Iterable[str]) -> bool:
        """`key` is one of `scope` or lies below one of them."""
        ups = self.ancestors.get(key, frozenset((key,)))
        return not ups.isdisjoint(scope)

    def overlaps(self, key: str, scope: Iterable[str]) -> bool:
        """`key` is inside one of `scope` or contains one of them (used for restrictions)."""
        scope = frozenset(scope)
        return self.within(key, scope) or not self.descendants.get(key, frozenset((key,))).isdisjoint(scope)

    def expand(self, scope: Iterable[str]) -> frozenset[str]:
        """Every node inside any of `scope`."""
        out: set[str] = set()
        for s in scope:
            out |= self.descendants.get(s, frozenset((s,)))
        return frozenset(out)


def find_cycles(parents: Mapping[str, Optional[str]]) -> list[list[str]]:
    """Every loop in the parent relation, each as its nodes in order (each node has one parent, so the
    loops are disjoint and simple_cycles stays linear)."""
    if not _has_loop(parents):  # the usual case: every load checks, and importing networkx is ~70 ms
        return []
    import networkx as nx

    g: nx.DiGraph[str] = nx.DiGraph()
    g.add_nodes_from(parents)
    g.add_edges_from((c, p) for c, p in parents.items() if p is not None and p in parents)
    cycles = [sorted_cycle(c) for c in nx.simple_cycles(g)]
    return sorted(cycles)


def _has_loop(parents: Mapping[str, Optional[str]]) -> bool:
    """Whether following parents from some node comes back to a node on the same walk. Only says whether
    to ask networkx for the loops (it finds and reports them); each node has one parent, so one pass."""
    done: set[str] = set()
    for start in parents:
        walk: set[str] = set()
        node: Optional[str] = start
        while node is not None and node in parents and node not in done:
            if node in walk:
                return True
            walk.add(node)
            node = parents[node]
        done |= walk
    return False


def sorted_cycle(cycle: list[str]) -> list[str]:
    """Rotate a cycle to start at its smallest node, so reports do not depend on traversal order."""
    i = cycle.index(min(cycle))
    return cycle[i:] + cycle[:i]
