"""A site's provenance policy: which versions it accepts by where they came from.

The policy lives at the site (`fleetyard agent --site-policy FILE`), like the keys it
trusts: a site trusts its own rules, not the control plane's word. The file::

    provenance:
      required: true                 # refuse versions without provenance
      signers: [keys/release.pub]    # provenance signed by one of these (default: --trust-key keys)
      datasets:                      # trained only on these (name, name+version, name+digest, digest)
        - {name: support-tickets}
        - {name: faq, digest: "sha256:9f86d0…"}
      base_models: [llama-base]      # base model by name or NAME:VERSION (default: any)

Any `signers`, `datasets` or `base_models` rule implies `required`: a version with no
provenance cannot show that it meets them. Provenance that a version carries is
verified even without a policy file (against the --trust-key keys). Relative key paths are relative to the policy file.
`check` returns every reason a version is refused, so a refusal names all of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError, model_validator

from fleetyard.registry.errors import InvalidInputError, RegistryError
from fleetyard.registry.manifest import VersionManifest
from fleetyard.registry.provenance import Dataset, Provenance, ProvenanceError, parse_digest, verify_provenance

__all__ = ["DatasetRule", "ProvenancePolicy", "parse_policy"]

Text = Annotated[str, StringConstraints(min_length=1, max_length=256, pattern=r"^[^\x00]+$")]


@dataclass(frozen=True)
class DatasetRule:
    """An allowed dataset: every field given must match."""

    name: str | None = None
    version: str | None = None
    digest: str | None = None  # ALGO:HEX, lowercase

    def matches(self, d: Dataset) -> bool:
        return ((self.name is None or self.name == d.name) and (self.version is None or self.version == d.version)
                and (self.digest is None or self.digest == d.digest.lower()))


@dataclass(frozen=True)
class ProvenancePolicy:
    """What a site requires of a version's provenance (see the module docstring)."""

    required: bool = False
    signers: tuple[Path, ...] = ()
    datasets: tuple[DatasetRule, ...] | None = None  # None: any dataset
    base_models: tuple[str, ...] | None = None  # None: any base model

    @property
    def active(self) -> bool:
        """Whether the policy requires provenance at all."""
        return self.required or bool(self.signers) or self.datasets is not None or self.base_models is not None

    def check(self, manifest: VersionManifest, trusted: list[Path]) -> None:
        """ProvenanceError listing every reason the site refuses `manifest`; None if it accepts it.

        Provenance that is recorded is always verified (signers, else the `trusted` keys), with
        or without rules: a changed or misplaced statement is refused even where none is required."""
        if manifest.provenance is None:
            if self.active:
                raise ProvenanceError(f"{manifest.ref} has no provenance: this site's policy requires "
                                      "provenance (push it with --provenance or --dataset)")
            return
        try:
            prov, _key = verify_provenance(manifest, list(self.signers) or trusted)
        except RegistryError as exc:
            raise ProvenanceError(f"refused by site policy: {exc}") from None
        reasons = self._reasons(prov)
        if reasons:
            raise ProvenanceError(f"{manifest.ref} refused by site policy: " + "; ".join(reasons))

    def _reasons(self, prov: Provenance) -> list[str]:
        reasons = []
        if self.datasets is not None:
            for d in prov.datasets:
                if not any(rule.matches(d) for rule in self.datasets):
                    reasons.append(f"dataset {d.label} ({d.digest}) is not on the allowed list")
        if self.base_models is not None:
            b = prov.base_model
            if b is not None and b.ref not in self.base_models and b.ref.split(":")[0] not in self.base_models \
                    and b.ref.split("@")[0] not in self.base_models:
                reasons.append(f"base model {b.ref} is not on the allowed list ({', '.join(self.base_models)})")
        return reasons


class _Doc(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _DatasetDoc(_Doc):
    name: Text | None = None
    version: Text | None = None
    digest: Text | None = None

    @model_validator(mode="after")
    def _some(self) -> _DatasetDoc:
        if self.name is None and self.digest is None:
            raise ValueError("give a name, a digest or both")
        return self


class _ProvenanceDoc(_Doc):
    required: bool = False
    signers: list[Text] = Field(default_factory=list)
    datasets: list[_DatasetDoc] | None = None
    base_models: list[Text] | None = None


class _PolicyDoc(_Doc):
    provenance: _ProvenanceDoc = Field(default_factory=_ProvenanceDoc)


def parse_policy(doc: Any, where: Path) -> ProvenancePolicy:
    """The policy of a parsed YAML document from file `where`; InvalidInputError names the field."""
    try:
        d = _PolicyDoc.model_validate(doc if doc is not None else {}).provenance
    except ValidationError as exc:
        e = exc.errors(include_url=False)[0]
        loc = ".".join(str(p) for p in e["loc"]) or "document"
        got = "" if e["type"] in ("missing", "extra_forbidden") else f", got {e.get('input')!r}"
        raise InvalidInputError(f"{where}: {loc}: {str(e['msg']).removeprefix('Value error, ')}{got}") from None
    rules = None
    if d.datasets is not None:
        rules = []
        for i, r in enumerate(d.datasets):
            digest = None
            if r.digest is not None:
                algo, hexpart = parse_digest(r.digest, f"{where}: provenance.datasets[{i}].digest")
                digest = f"{algo}:{hexpart}"
            rules.append(DatasetRule(r.name, r.version, digest))
    signers = tuple(p if p.is_absolute() else where.parent / p for p in map(Path, d.signers))
    for p in signers:
        if not p.is_file():
            raise InvalidInputError(f"{where}: provenance.signers: {p} does not exist")
    return ProvenancePolicy(d.required, signers, None if rules is None else tuple(rules),
                            None if d.base_models is None else tuple(d.base_models))
