"""Secrets for workloads (issue 14, item 2; docs/secrets.md): the `Secret` resource, the
Workload's `secret_env` references to it, and the rules that relate the two.

    kind: Secret                    like Kubernetes' `stringData`: values as plain text
    metadata: {name: openai}
    spec: {data: {token: sk-...}}
    ---
    kind: Workload
    spec:
      secret_env: {OPENAI_API_KEY: {secret: openai, key: token}}

A Workload never holds a secret value: `secret_env` names a Secret and one of its keys,
and only the server (which stores values encrypted) and the agents of the sites that run
the workload see the value. `env` stays a map of strings in clear, so a value there that
looks like a credential draws a warning pointing at `secret_env` (`env_warnings`).

Offline (`fleetyard validate`) a reference is checked against the Secrets in the files
given: a missing key is an error, a Secret not among the files a warning (Secrets are
usually applied apart from the fleet, from a file kept out of git). The server loads
every stored Secret with the files, so there a missing Secret is an error too.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from collections.abc import Set as AbstractSet
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

__all__ = ["ENCRYPTED_PREFIX", "MAX_SECRET_VALUE_BYTES", "EnvName", "SecretKey", "SecretKeyRef", "SecretSpec",
           "env_warnings", "reference_problems", "value_problems"]

# Kubernetes' rule for the keys of a Secret's data, so a key is also a valid file name.
SecretKey = Annotated[str, StringConstraints(pattern=r"^[-._a-zA-Z0-9]+$", max_length=253)]
EnvName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", max_length=253)]
SecretValue = Annotated[str, StringConstraints(max_length=65_536)]

# A value as the server stores it (services/secret_box.py); a stored Secret is loaded with these.
ENCRYPTED_PREFIX = "fyenc:"
# Plain text per value: its ciphertext, base64 in the stored document, stays inside the
# loader's 65,536-character string limit (spec/limits.py). Keys and certificates fit.
MAX_SECRET_VALUE_BYTES = 32 * 1024
RESERVED_PREFIX = "FLEETYARD_"  # the agent sets these itself (agent/runtime/process.py)


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class SecretSpec(_Frozen):
    data: dict[SecretKey, SecretValue] = Field(min_length=1)


class SecretKeyRef(_Frozen):
    """One value of one Secret: what `secret_env` maps an environment variable to."""

    secret: Annotated[str, StringConstraints(pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", max_length=63)]
    key: SecretKey


Loc = tuple[str | int, ...]


def value_problems(spec: SecretSpec) -> Iterator[tuple[Loc, str]]:
    """Plain-text values too large to store (values the server stored encrypted are skipped)."""
    for key, value in spec.data.items():
        if value.startswith(ENCRYPTED_PREFIX):
            continue
        size = len(value.encode("utf-8", "surrogatepass"))
        if size > MAX_SECRET_VALUE_BYTES:
            yield (("spec", "data", key),
                   f"must be at most {MAX_SECRET_VALUE_BYTES:,} bytes, got {size:,} bytes "
                   "(the value itself is not shown)")


def reference_problems(secret_env: Mapping[str, SecretKeyRef], env: Mapping[str, str],
                       secrets: Mapping[str, SecretSpec], *, all_secrets: bool,
                       failed: AbstractSet[str] = frozenset()) -> Iterator[tuple[Loc, str, str]]:
    """What is wrong with a Workload's `secret_env`: a Secret or key that is not there, a
    name also in `env`, a FLEETYARD_* name. `all_secrets`: `secrets` is every Secret there
    is (the server), so a missing one is an error; else (files only) a warning.
    `failed`: names of Secret documents that failed their own checks (not unknown; "" when a
    document failed before its name could be read, and then any unknown name may be it)."""
    for var, ref in secret_env.items():
        loc: Loc = ("spec", "secret_env", var)
        if var in env:
            yield loc, f"{var} is also in spec.env; give each variable once", "error"
        if var.startswith(RESERVED_PREFIX):
            yield loc, f"names starting with {RESERVED_PREFIX} are set by the agent, got {var}", "error"
        spec = secrets.get(ref.secret)
        if spec is None:
            if ref.secret in failed or "" in failed:
                continue
            known = f"; Secrets: {', '.join(sorted(secrets))}" if secrets else ""
            if all_secrets:
                yield (*loc, "secret"), f"unknown Secret '{ref.secret}'{known}; apply it first", "error"
            else:
                yield ((*loc, "secret"), f"Secret '{ref.secret}' is not in the files given; the server "
                       "checks the reference against its stored Secrets when this is applied", "warning")
        elif ref.key not in spec.data:
            yield ((*loc, "key"), f"Secret '{ref.secret}' has no key '{ref.key}'; its keys: "
                   f"{', '.join(sorted(spec.data))}", "error")


# Environment variables that look like credentials. Names are split at '_' (and '-', '.')
# so that TOKENIZERS_PARALLELISM is not a token and HF_TOKEN is.
_NAME_WORDS = frozenset({"PASSWORD", "PASSWD", "PASS", "SECRET", "TOKEN", "APIKEY", "CREDENTIAL", "CREDENTIALS",
                         "PRIVATEKEY"})
_PREFIXES = ("sk-", "ghp_", "gho_", "github_pat_", "glpat-", "hf_", "AKIA", "ASIA", "xoxb-", "xoxp-", "-----BEGIN")
_TRIVIAL = frozenset({"true", "false", "yes", "no", "none", "null", "changeme", "placeholder", "example"})
MIN_SECRET_LENGTH = 8  # shorter values are settings, not credentials
MIN_PREFIXED_LENGTH = 16  # a value with a token prefix: long enough to be a real token


def _name_looks_secret(name: str) -> str | None:
    words = [w for w in re.split(r"[_.\-]", name.upper()) if w]
    for i, word in enumerate(words):
        if word in _NAME_WORDS or word.endswith(("PASSWORD", "SECRET", "TOKEN", "APIKEY")):
            return word
        if word == "API" and i + 1 < len(words) and words[i + 1] == "KEY":
            return "API_KEY"
    if len(words) > 1 and words[-1] == "KEY":
        return "_KEY"
    return None


def _trivial(value: str) -> bool:
    v = value.strip()
    return (len(v) < MIN_SECRET_LENGTH or v.lower() in _TRIVIAL or v.startswith(("/", "./", "${", "$(", "http://",
                                                                                   "https://"))
            or len(set(v)) <= 2)


def env_warnings(env: Mapping[str, str]) -> Iterator[tuple[Loc, str]]:
    """A warning per `env` entry that looks like a credential (by its name, or by a well-known
    token prefix of its value); the value itself is never quoted."""
    for name, value in env.items():
        prefix = next((p for p in _PREFIXES if value.startswith(p)), None)
        if prefix is not None and (len(value) >= MIN_PREFIXED_LENGTH or prefix == "-----BEGIN"):
            why = f"its value starts with '{prefix}', like a credential"
        elif (word := _name_looks_secret(name)) is not None and not _trivial(value):
            why = f"its name has {word}"
        else:
            continue
        yield (("spec", "env", name),
               f"{name} looks like a secret ({why}); env values are stored and shown in clear: put it in a "
               f"Secret and use spec.secret_env: {{{name}: {{secret: NAME, key: KEY}}}}")
