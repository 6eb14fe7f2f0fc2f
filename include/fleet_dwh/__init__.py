"""The warehouse (SPEC §3, §6): bronze extract → object store → load, silver segments, gold daily facts.

- :mod:`fleet_dwh.tables`      — the bronze tables, their keys and extract modes
- :mod:`fleet_dwh.bronze`      — extract / load / move, high-water mark, run bookkeeping
- :mod:`fleet_dwh.objectstore` — the S3 layer (``S3Hook``)
- :mod:`fleet_dwh.silver_gold` — per-day silver rebuild + gold refresh, stale-day detection
- ``python -m fleet_dwh``      — the same steps from the command line (demo, operators)
"""
