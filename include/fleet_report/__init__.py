"""The daily fleet report (SPEC §9, issue 10): one page per city and a fleet summary.

- :mod:`fleet_report.data`    — the day's rows from the warehouse (``include/sql/report/*.sql``), the report day
- :mod:`fleet_report.figures` — track maps (no tile server) and charts with matplotlib
- :mod:`fleet_report.render`  — HTML (self-contained), one PNG per page, a PDF of the pages
- :mod:`fleet_report.deliver` — ``reports/{local_day}/`` in the object store, mail through an SMTP connection
- ``python -m fleet_report --day D --out DIR`` — render a day from a warehouse DSN (operators, docs sample)
"""
