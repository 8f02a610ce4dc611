"""Shell completion of names from the bundle (`lawful --install-completion`, then TAB): organisations, data
categories, purposes, statutes, or every name (`lawful show`). An id (or another name without spaces) is offered
when it starts with what is typed, in any case, with its title as the help where the shell shows one (zsh, fish).

Each completion loads the bundle named by `--bundle` if it was typed before the word (else the usual one),
through the compiled-bundle cache; anything that goes wrong completes nothing — never a traceback in the shell.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable, Optional

MAX_COMPLETIONS = 200


def _policy(ctx: Any) -> Any:
    from engine.policy.load import load

    bundle: Optional[Path] = None
    params = getattr(ctx, "params", None) or {}
    if params.get("bundle"):
        bundle = Path(params["bundle"])
    return load(bundle)


def _offer(entries: Iterable[Any], incomplete: str) -> list[tuple[str, str]]:
    """(word, help) for each id — or other name without spaces — that starts with what is typed, in any case.
    The shell keeps only words that start with the typed text exactly, and names are case-insensitive, so the
    typed letters are kept as typed and the rest completed ("jc" -> "jcP")."""
    typed = incomplete.casefold()
    out = []
    for e in entries:
        for word in [e.id, *(a for a in e.aliases if " " not in a)]:
            if word.casefold().startswith(typed):
                out.append((incomplete + word[len(incomplete):], e.title))
                break
    return out[:MAX_COMPLETIONS]


def _complete(ctx: Any, incomplete: str, kinds: tuple[str, ...]) -> list[tuple[str, str]]:
    try:
        from engine.eval.catalogue import entries

        policy = _policy(ctx)
        found: list[tuple[str, str]] = []
        for kind in kinds:
            found += _offer(entries(policy, kind), incomplete)
        return found[:MAX_COMPLETIONS]
    except Exception:  # noqa: BLE001 — a broken bundle completes nothing; the command itself will say why
        return []


def organisations(ctx: Any, incomplete: str) -> list[tuple[str, str]]:
    return _complete(ctx, incomplete, ("organisation",))


def data(ctx: Any, incomplete: str) -> list[tuple[str, str]]:
    return _complete(ctx, incomplete, ("data",))


def purposes(ctx: Any, incomplete: str) -> list[tuple[str, str]]:
    return _complete(ctx, incomplete, ("purpose",))


def statutes(ctx: Any, incomplete: str) -> list[tuple[str, str]]:
    return _complete(ctx, incomplete, ("statute",))


def any_name(ctx: Any, incomplete: str) -> list[tuple[str, str]]:
    return _complete(ctx, incomplete, ("organisation", "data", "purpose", "gateway", "restriction", "agreement",
                                       "statute"))
