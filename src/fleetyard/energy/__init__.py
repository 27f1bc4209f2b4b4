"""Energy, carbon and money over time (issue 11): the engines behind `schedule`, `plan --at`,
`cost` and `tco`. Pure logic over a loaded fleet and its traces (spec/trace.py); no web,
database or CLI code here.

    timeline   a site's price, carbon intensity and PUE over time slots; `fleet_at(fleet, t)`
    tco        what a year and a delivered GPU-hour of the planned load cost owned, in colocation,
               at the edge or rented; break-even utilizations (`compare`, `report`)
    tco_load   the planned load that tco prices, from a plan and the fleet's CostModel
    usage      usage records (`Usage`), their columnar form (`UsageTable`), `plan_usage`
    pricing    every usage record priced at its hour (the planner's formula, traced values)
    allocation showback: `allocate(fleet, usage, by)` -> spec.allocation.Allocation
    focus      the FinOps FOCUS 1.0 dataset of priced usage
    dayrange   a plan's assignments priced at each hour of a day (`Plan.over_day`)
    schedule   deferrable jobs placed in time slots (`schedule_fleet`): see its module
"""
