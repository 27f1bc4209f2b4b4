"""Model names, versions, aliases and the references that combine them.

A reference is `name:version` (one immutable version) or `name@alias` (a movable
pointer, resolved at the time of use). The same spelling is used by workloads in
fleet specs (`model: support-llm:3`), so the rules are strict and the error says
exactly which part is wrong.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from fleetyard.registry.errors import InvalidNameError

__all__ = ["Ref", "check_alias", "check_name", "check_version", "parse_ref"]

_NAME = re.compile(r"[a-z0-9](?:[a-z0-9._-]{0,126}[a-z0-9])?")
_VERSION = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._+-]{0,62})?")
_ALIAS = re.compile(r"[a-z](?:[a-z0-9_-]{0,61}[a-z0-9])?")

NAME_RULE = "lowercase letters, digits, '.', '_', '-'; starts and ends alphanumeric; <= 128 chars"
VERSION_RULE = "letters, digits, '.', '_', '+', '-'; starts alphanumeric; <= 63 chars"
ALIAS_RULE = "lowercase letters, digits, '_', '-'; starts with a letter; <= 63 chars"


def _check(kind: str, value: str, pattern: re.Pattern[str], rule: str) -> str:
    if not pattern.fullmatch(value) or ".." in value:
        raise InvalidNameError(f"invalid {kind} {value!r}: expected {rule}")
    return value


def check_name(name: str) -> str:
    """Return `name` if it is a valid model name, else raise InvalidNameError."""
    return _check("model name", name, _NAME, NAME_RULE)


def check_version(version: str) -> str:
    """Return `version` if it is a valid version label, else raise InvalidNameError."""
    return _check("version", version, _VERSION, VERSION_RULE)


def check_alias(alias: str) -> str:
    """Return `alias` if it is a valid alias name, else raise InvalidNameError."""
    return _check("alias", alias, _ALIAS, ALIAS_RULE)


@dataclass(frozen=True)
class Ref:
    """A parsed reference: exactly one of `version` and `alias` is set."""

    name: str
    version: str | None = None
    alias: str | None = None

    def __str__(self) -> str:
        if self.version is not None:
            return f"{self.name}:{self.version}"
        return f"{self.name}@{self.alias}"


def parse_ref(text: str, *, allow_alias: bool = True) -> Ref:
    """Parse `name:version` or (if allowed) `name@alias` into a Ref."""
    expected = "NAME:VERSION or NAME@ALIAS" if allow_alias else "NAME:VERSION"
    if ":" in text and "@" not in text:
        name, _, version = text.partition(":")
        return Ref(check_name(name), version=check_version(version))
    if "@" in text and ":" not in text and allow_alias:
        name, _, alias = text.partition("@")
        return Ref(check_name(name), alias=check_alias(alias))
    raise InvalidNameError(f"invalid reference {text!r}: expected {expected}")
