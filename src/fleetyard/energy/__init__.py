"""Energy, carbon and money over time (issue 11): the engines behind `schedule`, `plan --at`,
`cost` and `tco`. Pure logic over a loaded fleet and its traces (spec/trace.py); no web,
database or CLI code here.

    timeline   a site's price, carbon intensity and PUE over time slots; `fleet_at(fleet, t)`
    tco        what a year and a delivered GPU-hour of the planned load cost owned, in colocation,
               at the edge or rented; break-even utilizations (`compare`, `report`)
    tco_load   the planned load that tco prices, from a plan and the fleet's CostModel
    ...        (schedule, allocation: see each module)
"""
