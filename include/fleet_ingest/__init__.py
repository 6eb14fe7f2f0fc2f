"""Endpoint ingestion: the logic behind the ``dags/tracksolid_*.py`` DAGs (one per API endpoint).

- :mod:`fleet_ingest.windows`   — the run's data window (data interval, or ``start``/``end`` params)
- :mod:`fleet_ingest.planning`  — account targets → active IMEIs → ≤ ``batch_size`` batches
- :mod:`fleet_ingest.endpoints` — fetch one batch through the TracksolidHook and load it idempotently
- :mod:`fleet_ingest.tasks`     — the TaskFlow tasks the DAG files compose
- :mod:`fleet_ingest.assets`    — the Airflow Assets each DAG emits (one per table it fills)
- :mod:`fleet_ingest.summary`   — per-table counts and a fleet summary (``make demo``)

Nothing here touches a database or the API at import time.
"""
