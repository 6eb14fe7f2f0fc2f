#!/usr/bin/env bash
# One-shot initialisation of the fleet databases and object store, run by the `fleet-init` compose service
# (and safe to re-run: every step is idempotent).
#   1. create tracksolid_db and tracksolid_dwh when missing
#   2. apply the numbered migrations of both (they create the roles, without passwords)
#   3. set the roles' passwords from TRACKSOLID_OWNER_PASSWORD, DWH_OWNER_PASSWORD, GRAFANA_RO_PASSWORD
#   4. create the S3 buckets (warehouse extracts, backups) when missing
# The superuser connects with FLEET_PG_ADMIN_DSN + PGPASSWORD: no password is ever printed.
set -euo pipefail
cd /opt/airflow/project

: "${FLEET_PG_ADMIN_DSN:?FLEET_PG_ADMIN_DSN is not set}"
: "${PGPASSWORD:?PGPASSWORD (the TimescaleDB superuser password) is not set}"

echo "fleet-init: databases"
python -m fleet_db.admin create-databases --admin-dsn "$FLEET_PG_ADMIN_DSN"

echo "fleet-init: migrations"
python -m fleet_db.migrations

echo "fleet-init: role passwords"
python -m fleet_db.admin set-passwords --admin-dsn "$FLEET_PG_ADMIN_DSN"

echo "fleet-init: buckets"
python - <<'PY'
import os

import boto3
from botocore.exceptions import ClientError

s3 = boto3.client(
    "s3",
    endpoint_url=os.environ["S3_ENDPOINT_URL"],
    aws_access_key_id=os.environ["S3_ACCESS_KEY"],
    aws_secret_access_key=os.environ["S3_SECRET_KEY"],
    region_name=os.environ.get("S3_REGION", "us-east-1"),
)
for bucket in {os.environ["FLEET_S3_BUCKET"], os.environ["FLEET_BACKUP_BUCKET"]}:
    try:
        s3.head_bucket(Bucket=bucket)
        print(f"{bucket}: exists")
    except ClientError:
        s3.create_bucket(Bucket=bucket)
        print(f"{bucket}: created")
PY
echo "fleet-init: done"
