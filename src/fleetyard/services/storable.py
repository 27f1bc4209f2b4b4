"""Text a database can store, the same on SQLite and PostgreSQL.

PostgreSQL refuses the NUL character in `text` and in `jsonb`, and no database can
encode a lone surrogate (U+D800..U+DFFF) as UTF-8; SQLite stores both. So the server
refuses them everywhere, before any work, with a 422 naming the field:

* request bodies: the wire models' string type carries `NUL_FREE` (a JSON parser
  already refuses a lone surrogate escape as invalid JSON);
* path and query parameters: the routes' parameter types carry `NUL_FREE`;
* applied YAML (whose escapes can make both, e.g. `"\\0"`): `find_unstorable` on every
  document before it is stored.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

__all__ = ["NUL_FREE", "NUL_MESSAGE", "Loc", "dotted", "find_unstorable", "unstorable"]

Loc = tuple[str | int, ...]

NUL_FREE = r"^[^\x00]*$"
NUL_MESSAGE = "must not contain the NUL character (\\u0000): the database cannot store it"
SURROGATE_MESSAGE = "must not contain a lone surrogate (\\ud800-\\udfff): it is not valid UTF-8"


def unstorable(text: str) -> str | None:
    """Why `text` cannot be stored, or None."""
    if "\x00" in text:
        return NUL_MESSAGE
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return SURROGATE_MESSAGE
    return None


def dotted(loc: Loc) -> str:
    """`("spec", "gpus", 0, "sku")` -> `spec.gpus[0].sku`."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def find_unstorable(value: object, loc: Loc = ()) -> tuple[Loc, str] | None:
    """The first string in a JSON-like value (mapping keys included) that cannot be
    stored: where it is and why; None if every one can."""
    if isinstance(value, str):
        why = unstorable(value)
        return (loc, why) if why else None
    if isinstance(value, Mapping):
        for key, item in value.items():
            if isinstance(key, str) and (why := unstorable(key)):
                return (loc, f"key {key!r} {why}")
            if (found := find_unstorable(item, (*loc, str(key)))) is not None:
                return found
        return None
    if isinstance(value, Sequence) and not isinstance(value, bytes | bytearray):
        for i, item in enumerate(value):
            if (found := find_unstorable(item, (*loc, i))) is not None:
                return found
    return None
