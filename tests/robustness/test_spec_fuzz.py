"""The standing spec fuzzer: 1,500 seeded hostile fleets, each loaded in-process.

Every case (see `mutator.py`: the example fleets and the server tests' fleet, mutated)
must end as a valid fleet or as the documented `SpecError` - never another exception -
within the per-case time limit, and the process's peak RSS may not grow by more than
the memory limit over the run (the peak of any one case is below the peak of the run).
`benchmarks/fuzz_specs.py` runs the same cases by the ten thousand in fresh processes,
with hangs cut off and RSS per case; docs/reliability.md has its figures.
"""

from __future__ import annotations

import resource
import time
from collections import Counter

import pytest

from tests.robustness.mutator import WEIGHTS, make_case, run_case

SEED = 2024
CASES = 1_500
CASE_SECONDS = 10.0  # the hang bound, in CPU seconds of this process (the slowest case, many documents: ~2.5 s)
GROWTH_MB = 300.0


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@pytest.mark.timeout(600)
def test_fuzzed_specs_end_as_a_fleet_or_a_spec_error_in_time_and_memory():
    baseline = peak_rss_mb()
    outcomes: Counter[str] = Counter()
    kinds: Counter[str] = Counter()
    failures: list[str] = []
    slowest = (0.0, -1)
    for i in range(CASES):
        case = make_case(SEED, i)
        began = time.process_time()  # CPU, not wall: other work on a shared machine must not fail the case
        outcome, detail = run_case(case)
        seconds = time.process_time() - began
        outcomes[outcome] += 1
        kinds.update(m.split(":", 1)[1] for m in case.mutations)
        slowest = max(slowest, (seconds, i))
        if outcome == "crash":
            failures.append(f"case {i} ({', '.join(case.mutations)}):\n{detail}")
        if seconds > CASE_SECONDS:
            failures.append(f"case {i} took {seconds:.1f} CPU s ({', '.join(case.mutations)})")
        growth = peak_rss_mb() - baseline
        if growth > GROWTH_MB:
            failures.append(f"case {i}: peak RSS grew by {growth:.0f} MB ({', '.join(case.mutations)})")
            break
    assert not failures, "\n\n".join(failures[:5])
    # the run really covered what it is meant to: many invalid cases, some valid, every mutation
    assert outcomes["invalid"] > CASES // 2 and outcomes["valid"] > 10, outcomes
    assert set(kinds) == set(WEIGHTS), kinds
    print(f"{CASES} cases: {dict(outcomes)}; slowest {slowest[0]:.2f} s (case {slowest[1]})")


def test_a_case_is_reproduced_from_its_seed_and_number():
    a, b = make_case(SEED, 77), make_case(SEED, 77)
    assert a == b and a != make_case(SEED, 78)
