"""Energy, carbon and money over time (issue 11): the engines behind `schedule`, `plan --at`,
`cost` and `tco`. Pure logic over a loaded fleet and its traces (spec/trace.py); no web,
database or CLI code here.

    timeline   a site's price, carbon intensity and PUE over time slots; `fleet_at(fleet, t)`
    ...        (schedule, allocation, tco: see each module)
"""
