"""Field-level diffs of stored resources (`kubectl diff` for `fleetyard apply`).

Pure: two documents in, the changed leaves out, each with its path in the words of the
validator (`spec.replicas.max`, `spec.env[0].value`, `metadata.labels.team`) and both
values shortened for a terminal. Values of secret-looking environment variables (names
with TOKEN, SECRET, PASSWORD, KEY, ...) are masked, so an apply's answer, which every
operator sees, never carries them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from typing import Any

from fleetyard.services.wire_diff import FieldChange, ResourceDiff

__all__ = ["MASK", "MAX_VALUE", "diff_documents", "resource_diff", "shorten"]

MAX_VALUE = 60  # characters of a value shown; longer ones end in "..."
MASK = "***"
_SECRET = re.compile(r"pass(word|wd)?|secret|token|api[_-]?key|private[_-]?key|credential|auth|(^|[_-])key($|[_-])",
                     re.IGNORECASE)
_MISSING = object()


def shorten(value: Any, limit: int = MAX_VALUE) -> str:
    """A value as one line: scalars as JSON would print them, lists and maps compactly."""
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, separators=(",", ":"),
                                                              default=str)
    text = text.replace("\n", "\\n")
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _is_secret(name: object) -> bool:
    return isinstance(name, str) and bool(_SECRET.search(name))


def _key(path: str, key: object) -> str:
    text = str(key)
    plain = re.fullmatch(r"[A-Za-z_][A-Za-z0-9_-]*", text) is not None
    return (f"{path}.{text}" if path else text) if plain else f"{path}[{json.dumps(text)}]"


def _walk(path: str, old: Any, new: Any, secret: bool, in_env: bool) -> Iterator[tuple[str, Any, Any, bool]]:
    """(path, old, new, masked) per changed leaf; _MISSING where a side lacks it."""
    if old == new:
        return
    if isinstance(old, Mapping) and isinstance(new, Mapping):
        # an env entry {name: X, value: Y}: its value is secret when X looks like one
        pair_secret = in_env and (_is_secret(old.get("name")) or _is_secret(new.get("name")))
        # the new document's order (as applied; PostgreSQL's JSONB does not keep the stored one's)
        for k in list(new) + [k for k in old if k not in new]:
            leaf_secret = secret or (in_env and _is_secret(k)) or (pair_secret and k == "value")
            yield from _walk(_key(path, k), old.get(k, _MISSING), new.get(k, _MISSING), leaf_secret,
                             in_env or k == "env")
        return
    if isinstance(old, list) and isinstance(new, list):
        for i in range(max(len(old), len(new))):
            yield from _walk(f"{path}[{i}]", old[i] if i < len(old) else _MISSING,
                             new[i] if i < len(new) else _MISSING, secret, in_env)
        return
    yield path, old, new, secret or (in_env and _contains_secret(old, new))


def _contains_secret(*values: Any) -> bool:
    """A whole env map or entry added or removed at once: mask it if any name in it looks secret."""
    for v in values:
        if isinstance(v, Mapping) and (any(_is_secret(k) for k in v) or _is_secret(v.get("name"))):
            return True
        if isinstance(v, list) and any(_contains_secret(x) for x in v):
            return True
    return False


def _shown(value: Any, masked: bool) -> str | None:
    if value is _MISSING:
        return None
    return MASK if masked else shorten(value)


def diff_documents(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[FieldChange]:
    """Every leaf that differs between two documents, in the new one's order (then removed keys)."""
    return [FieldChange(path=p, before=_shown(a, m), after=_shown(b, m)) for p, a, b, m in
            _walk("", old, new, False, False)]


def resource_diff(kind: str, name: str, old: Mapping[str, Any] | None,
                  new: Mapping[str, Any] | None) -> ResourceDiff | None:
    """How a resource changes: created (no `old`), deleted (no `new`), updated with its
    changed fields, or None when it does not change."""
    if old is None and new is None:
        return None
    if old is None:
        return ResourceDiff(kind=kind, name=name, action="created")
    if new is None:
        return ResourceDiff(kind=kind, name=name, action="deleted")
    fields = diff_documents(old, new)
    return ResourceDiff(kind=kind, name=name, action="updated", fields=fields) if fields else None
