"""Central telemetry (issue 12): the history of every site's samples, in the server's database.

* `store.ingest` - raw samples from a heartbeat, packed per row (one layout of keys, shared);
* `rollup.RollupJob` - 60 s buckets from raw, 3600 s buckets from minutes, recomputed
  whenever a late sample lands in one;
* `retention.RetentionJob` - old rows deleted, only once rolled up;
* `query.history` / `query.latest` - charts for the API and the dashboard, the newest
  values for `/metrics`.

docs/telemetry.md draws the storage design.
"""
