"""Database plumbing shared by the DAGs, the webhook service, the demo and the tests.

- :mod:`fleet_db.settings`   — where the SQL lives and how to reach each database
- :mod:`fleet_db.migrations` — the ordered, checksummed migration runner
- :mod:`fleet_db.admin`      — create databases, set role passwords from the environment
"""
