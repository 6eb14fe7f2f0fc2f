# Airflow 3.3.2 + this repository's pinned requirements + the repo itself (editable), for every Python
# service of docker-compose.yaml (Airflow, webhook, simulator, fleet-init). The compose file mounts the repo
# at /opt/airflow/project, so code changes need no rebuild; requirement changes do.
FROM apache/airflow:3.3.2

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
