"""How the CLI shows hardware attestation (issue 14; docs/attestation.md): the GPUs a site's
agent found against those its Site declares, and the capacity a plan left out for it."""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text

from fleetyard.services.wire import InventoryStatus
from fleetyard.spec.plan import AttestedCapacity

__all__ = ["attested_text", "found_text", "inventory_lines"]


def found_text(inv: InventoryStatus | None) -> Text:
    """One cell: "-" (never reported), "as declared", the drift, or why it could not be checked."""
    if inv is None:
        return Text("-", style="dim")
    if inv.error is not None:
        return Text(inv.summary, style="red")
    if inv.drift:
        return Text(inv.summary, style="yellow")
    return Text("as declared", style="green")


def inventory_lines(inv: InventoryStatus | None) -> list[Text]:
    """`describe site`: what was found, by whom, when, and each GPU."""
    if inv is None:
        return [Text("  Hardware: not reported (an agent older than attestation, or no nvidia-smi/rocm-smi)",
                     style="dim")]
    when = inv.probed_at.strftime("%Y-%m-%d %H:%M:%S")
    out = [Text.assemble("  Hardware: ", found_text(inv), f" ({inv.source}, probed {when} UTC)")]
    if inv.error is None:
        found = ", ".join(f"{sku} x{n}" for sku, n in inv.found.items()) or "no GPUs"
        declared = ", ".join(f"{sku} x{n}" for sku, n in inv.declared.items()) or "none"
        out.append(Text(f"  Found: {found}; declared: {declared}"))
        for g in inv.gpus:
            mem = f", {g.memory_mib / 1024:.0f} GiB" if g.memory_mib else ""
            out.append(Text(f"    {g.uuid}: {g.name}{mem} -> {g.sku or 'no SKU'}", style="dim"))
    return out


def attested_text(rows: Sequence[AttestedCapacity]) -> Text | None:
    """`get plan`: capacity planned below the declared one, because the agents found less."""
    if not rows:
        return None
    parts = [f"{r.site} {r.gpu_sku} {r.planned} of {r.declared} declared (found {r.found})" for r in rows]
    return Text("attested capacity: " + "; ".join(parts), style="yellow")
