# Airflow 3.3.2 + this repository's pinned requirements + the repo itself (editable), for every Python
# service of docker-compose.yaml (Airflow, webhook, simulator, fleet-init). The compose file mounts the repo
# at /opt/airflow/project, so code changes need no rebuild; requirement changes do.
FROM apache/airflow:3.3.2

# pg_dump / pg_restore for the db_backup DAG: the client must be at least the server's major version
# (timescaledb-ha:pg16), and Debian 12 ships only 15 — so the PostgreSQL 16 client comes from the PGDG apt
# repository. FLEET_PG_BIN_DIR points the backup code at it.
USER root
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl gnupg \
 && install -d /usr/share/postgresql-common/pgdg \
 && curl -fsSL -o /usr/share/postgresql-common/pgdg/apt.postgresql.org.asc https://www.postgresql.org/media/keys/ACCC4CF8.asc \
 && echo "deb [signed-by=/usr/share/postgresql-common/pgdg/apt.postgresql.org.asc] https://apt.postgresql.org/pub/repos/apt bookworm-pgdg main" \
      > /etc/apt/sources.list.d/pgdg.list \
 && apt-get update \
 && apt-get install -y --no-install-recommends postgresql-client-16 \
 && apt-get clean && rm -rf /var/lib/apt/lists/*
ENV FLEET_PG_BIN_DIR=/usr/lib/postgresql/16/bin

# The project folder belongs to the airflow user: `pip install -e` writes its build metadata there.
USER root
RUN install -d -o airflow -g root -m 0775 /opt/airflow/project
USER airflow

ENV FLEET_PROJECT_DIR=/opt/airflow/project
WORKDIR /opt/airflow/project

# Pin Airflow itself alongside the requirements so pip never up- or downgrades it (official guidance).
COPY --chown=airflow:root requirements.txt ./requirements.txt
RUN pip install --no-cache-dir "apache-airflow==3.3.2" -r requirements.txt

COPY --chown=airflow:root . .
RUN pip install --no-cache-dir --no-deps -e .
