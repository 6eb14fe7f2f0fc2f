"""The object store of the warehouse extract: a thin layer over the Amazon provider's ``S3Hook``.

Only the S3 API is assumed (production: an S3-compatible server; tests and the benchmark: moto server).
The bucket comes from the ``bucket`` argument, else ``FLEET_S3_BUCKET``, else ``fleet-dwh``; the
connection id from ``FLEET_S3_CONN_ID``, else ``fleet_s3`` (an ``aws`` connection with ``endpoint_url``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the hook is imported lazily: Airflow is heavy and only needed when a store is used
    from airflow.providers.amazon.aws.hooks.s3 import S3Hook

DEFAULT_BUCKET = "fleet-dwh"
DEFAULT_CONN_ID = "fleet_s3"
EXPORTS_PREFIX = "dwh/exports/"
PROCESSED_PREFIX = "dwh/processed/"
#: Objects whose rows were never loaded (failed / superseded runs) are parked here, not deleted.
UNLOADED_PREFIX = "dwh/unloaded/"


def default_bucket() -> str:
    return os.environ.get("FLEET_S3_BUCKET") or DEFAULT_BUCKET


def export_key(table: str, stamp: str) -> str:
    """``dwh/exports/{table}/{YYYYMMDD_HHMM}.csv.gz`` (SPEC §6)."""
    return f"{EXPORTS_PREFIX}{table}/{stamp}.csv.gz"


def processed_key(key: str, prefix: str = PROCESSED_PREFIX) -> str:
    """Where an export goes after its load: same path under ``dwh/processed/`` (or ``prefix``)."""
    if not key.startswith(EXPORTS_PREFIX):
        raise ValueError(f"not an export key: {key!r}")
    return prefix + key[len(EXPORTS_PREFIX):]


@dataclass
class ObjectStore:
    """One bucket reached through an ``S3Hook``."""

    hook: S3Hook
    bucket: str

    @classmethod
    def from_connection(cls, conn_id: str | None = None, bucket: str | None = None) -> ObjectStore:
        from airflow.providers.amazon.aws.hooks.s3 import S3Hook

        return cls(S3Hook(aws_conn_id=conn_id or os.environ.get("FLEET_S3_CONN_ID") or DEFAULT_CONN_ID),
                   bucket or default_bucket())

    def upload(self, local_path: str, key: str) -> None:
        # replace=True: a retried extract of the same run rewrites its own key (keys are unique per run row).
        self.hook.load_file(filename=local_path, key=key, bucket_name=self.bucket, replace=True)

    def download(self, key: str, local_dir: str) -> str:
        return self.hook.download_file(key=key, bucket_name=self.bucket, local_path=local_dir)

    def exists(self, key: str) -> bool:
        return self.hook.check_for_key(key, bucket_name=self.bucket)

    def list(self, prefix: str) -> list[str]:
        return list(self.hook.list_keys(bucket_name=self.bucket, prefix=prefix) or [])

    def move(self, src: str, dst: str) -> None:
        """Copy then delete the source: the object always exists under at least one of the two keys."""
        self.hook.copy_object(source_bucket_key=src, dest_bucket_key=dst,
                              source_bucket_name=self.bucket, dest_bucket_name=self.bucket)
        self.hook.delete_objects(bucket=self.bucket, keys=[src])


def start_local_moto(bucket: str, *, key: str = "local"):
    """Dev / demo / benchmark only: an in-process moto S3 server on a free loopback port, the ``fleet_s3``
    connection (``AIRFLOW_CONN_FLEET_S3``) pointing at it and ``bucket`` created. Returns the server
    (call ``.stop()``; ``.get_host_and_port()`` tells where it listens). moto accepts any credentials: ``key``
    is a throw-away value, not a secret."""
    import json

    import boto3
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)  # port 0: the OS picks a free one
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    os.environ["AIRFLOW_CONN_FLEET_S3"] = json.dumps({
        "conn_type": "aws", "login": key, "password": key,
        "extra": {"endpoint_url": endpoint, "region_name": "us-east-1"}})
    boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id=key,
                 aws_secret_access_key=key).create_bucket(Bucket=bucket)
    return server
