"""Grafana dashboards as code: builders for the provisioned dashboard JSON and Grafana's SQL interpolation.

* ``fleet_grafana.panels`` — small builders for panels, targets, variables and links;
* one module per dashboard (``noc``, ``daily_ops``, ``vehicle_day``, ``trends``, ``pipeline``);
* ``fleet_grafana.build`` — ``python -m fleet_grafana.build [--check]`` writes (or checks) grafana/dashboards/;
* ``fleet_grafana.macros`` — expands Grafana's PostgreSQL macros and template variables the way Grafana does,
  so tests and the dashboard benchmark run exactly the SQL Grafana would send.
"""
