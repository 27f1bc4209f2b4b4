"""`fleetyard cost --format focus` passes the real FinOps `focus-validator` (FOCUS 1.0).

The validator lives in its own virtualenv (it pins numpy<2): `$FLEETYARD_FOCUS_VALIDATOR`,
else `.venv-focus/bin/focus-validator` under the repository root; the test skips only when
neither exists. It exits 0 even when validation fails, so its output is read. It also reads
its currency list from a path relative to the working directory
(`focus_validator/utils/currency_codes.csv`), so it runs from its own site-packages.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
from pathlib import Path

import pytest

from fleetyard.spec.allocation import Allocation
from tests.energy.test_allocation_cli import EXAMPLES, ROOT, fleetyard

# FOCUS 1.0 (GA) columns; all of them are present in the dataset
FOCUS_1_0 = ("AvailabilityZone BilledCost BillingAccountId BillingAccountName BillingCurrency BillingPeriodEnd "
             "BillingPeriodStart ChargeCategory ChargeClass ChargeDescription ChargeFrequency ChargePeriodEnd "
             "ChargePeriodStart CommitmentDiscountCategory CommitmentDiscountId CommitmentDiscountName "
             "CommitmentDiscountStatus CommitmentDiscountType ConsumedQuantity ConsumedUnit ContractedCost "
             "ContractedUnitPrice EffectiveCost InvoiceIssuerName ListCost ListUnitPrice PricingCategory "
             "PricingQuantity PricingUnit ProviderName PublisherName RegionId RegionName ResourceId ResourceName "
             "ResourceType ServiceCategory ServiceName SkuId SkuPriceId SubAccountId SubAccountName Tags").split()
ARGS = ("--period", "3d", "--start", "2020-06-01T06:00:00Z")  # a day cut by the start, then two whole


def _validator() -> Path:
    env = os.environ.get("FLEETYARD_FOCUS_VALIDATOR")
    for candidate in ([Path(env)] if env else []) + [ROOT / ".venv-focus" / "bin" / "focus-validator"]:
        if candidate.exists():
            return candidate
    pytest.skip("focus-validator not installed (set FLEETYARD_FOCUS_VALIDATOR or make .venv-focus)")


def _validate(validator: Path, data: Path) -> str:
    python = validator.parent / "python"
    site = subprocess.run([str(python), "-c", "import focus_validator, os; "
                           "print(os.path.dirname(os.path.dirname(focus_validator.__file__)))"],
                          capture_output=True, text=True, check=True, timeout=60).stdout.strip()
    proc = subprocess.run([str(validator), "--data-file", str(data.resolve()), "--validate-version", "1.0"],
                          capture_output=True, text=True, cwd=site, timeout=300, check=False)
    return proc.stdout + proc.stderr


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("focus") / "focus.csv"
    run = fleetyard("cost", EXAMPLES, *ARGS, "--format", "focus", "--output", out)
    assert run.code == 0, run.stderr
    return out


def test_the_examples_pass_focus_validator_1_0(dataset: Path) -> None:
    said = _validate(_validator(), dataset)
    assert "Validation succeeded." in said and "Validation failed!" not in said, said


def test_the_validator_does_reject_a_broken_dataset(dataset: Path, tmp_path: Path) -> None:
    """The check above can fail: one bad enum value is caught."""
    rows = list(csv.DictReader(dataset.open()))
    rows[0]["ChargeFrequency"] = "Sometimes"
    bad = tmp_path / "bad.csv"
    with bad.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    said = _validate(_validator(), bad)
    assert "Validation failed!" in said and "ChargeFrequency" in said


def test_charges_add_up_to_the_allocation(dataset: Path) -> None:
    rows = list(csv.DictReader(dataset.open()))
    assert set(FOCUS_1_0) <= set(rows[0])
    a = Allocation.model_validate_json(fleetyard("cost", EXAMPLES, *ARGS, "--format", "json").stdout)
    assert sum(float(r["BilledCost"]) for r in rows) == pytest.approx(a.totals.cost, rel=1e-9)
    by = {s: sum(float(r["BilledCost"]) for r in rows if r["ServiceName"] == s) for s in
          ("GPU compute", "Facility energy", "Carbon (internal price)", "Data transfer")}
    assert by["GPU compute"] == pytest.approx(a.totals.gpu_rent, rel=1e-9)
    assert by["Facility energy"] == pytest.approx(a.totals.energy_cost, rel=1e-9)
    assert by["Data transfer"] == pytest.approx(a.totals.egress_cost, rel=1e-9)
    first = [r for r in rows if r["ChargePeriodStart"] == "2020-06-01T06:00:00Z"]
    assert first and all(r["ChargePeriodEnd"] == "2020-06-02T00:00:00Z" for r in first)
    assert {r["BillingPeriodStart"] for r in rows} == {"2020-06-01T06:00:00Z"}
    assert {r["ChargePeriodStart"][:10] for r in rows} == {"2020-06-01", "2020-06-02", "2020-06-03", "2020-06-04"}
    tags = json.loads(next(r["Tags"] for r in rows if r["ResourceName"] == "support-chat-eu"))
    assert tags["team"] == "support" and tags["residency"] == "eu"
    traced = {r["PricingCategory"] for r in rows
              if r["RegionId"] == "fra-1" and r["ServiceName"] == "Carbon (internal price)"}
    assert traced == {"Dynamic"}  # fra-1's carbon comes from its trace
