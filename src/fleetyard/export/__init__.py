"""Export a plan to the engines teams already run: per-site Kubernetes manifests, or Karmada.

Pure mapping from (plan, workload specs) to plain dicts and then to deterministic YAML
bytes; no CLI, HTTP or database. docs/export.md holds the mapping tables.
"""

from __future__ import annotations

from fleetyard.export.karmada import karmada_files
from fleetyard.export.manifests import (
    GPU_PRODUCT_LABELS,
    PORT,
    dns_name,
    gpu_selector,
    kubernetes_files,
    to_yaml,
)

__all__ = ["GPU_PRODUCT_LABELS", "PORT", "dns_name", "gpu_selector", "karmada_files", "kubernetes_files", "to_yaml"]
