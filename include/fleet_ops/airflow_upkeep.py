"""Keep Airflow's own metadata database and task logs bounded.

The endpoint DAGs create ≈ 2,000 DAG runs and > 10,000 task instances a day (live positions every minute);
:func:`db_clean` runs ``airflow db clean`` (Airflow's supported purge) for rows older than a cut-off, and
:func:`clean_logs` deletes task log files older than a cut-off under the log folder, then empty folders.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
from datetime import datetime
from pathlib import Path

log = logging.getLogger(__name__)

#: Metadata tables purged by age (``airflow db clean --tables``). The newest run of every DAG is kept by
#: Airflow itself (the scheduler needs it).
DEFAULT_TABLES = ("dag_run", "task_instance", "task_instance_history", "task_reschedule", "xcom", "log", "job",
                  "callback", "deadline", "trigger", "celery_taskmeta", "celery_tasksetmeta")


def airflow_executable() -> str:
    beside = Path(sys.executable).with_name("airflow")
    return str(beside) if beside.exists() else (shutil.which("airflow") or "airflow")


def db_clean_command(cutoff: datetime, tables=DEFAULT_TABLES, dry_run: bool = False) -> list[str]:
    if cutoff.tzinfo is None:
        raise ValueError("the cut-off needs a time zone")
    cmd = [airflow_executable(), "db", "clean", "--clean-before-timestamp", cutoff.isoformat(),
           "--tables", ",".join(tables), "--skip-archive", "--yes"]
    return [*cmd, "--dry-run"] if dry_run else cmd


def db_clean(cutoff: datetime, tables=DEFAULT_TABLES, dry_run: bool = False, timeout_s: int = 3600) -> str:
    """Run ``airflow db clean`` (needs the metadata database's connection in the environment, as every
    Airflow component has). Returns its output; raises with the output when it fails."""
    cmd = db_clean_command(cutoff, tables, dry_run)
    log.info("running %s", " ".join(cmd))
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s, env=os.environ.copy())
    output = (result.stdout + result.stderr).strip()
    for line in output.splitlines()[-60:]:
        log.info("db clean: %s", line)
    if result.returncode != 0:
        raise RuntimeError(f"airflow db clean exited {result.returncode}: {output[-2000:]}")
    return output


def clean_logs(folder: str | Path, cutoff: datetime, dry_run: bool = False) -> dict:
    """Delete regular files under ``folder`` last modified before ``cutoff``, then empty folders not touched
    since ``cutoff`` (never ``folder`` itself, never through a symlink)."""
    base = Path(folder)
    if not base.is_dir():
        log.info("log folder %s does not exist: nothing to clean", base)
        return {"files": 0, "bytes": 0, "folders": 0, "dry_run": dry_run}
    limit = cutoff.timestamp()
    files = size = folders = 0
    # Folder times before anything is deleted (deleting inside a folder touches it).
    touched = {root: Path(root).lstat().st_mtime for root, _dirs, _names in os.walk(base)}
    for root, _dirs, names in os.walk(base, topdown=False):
        for name in names:
            path = Path(root, name)
            try:
                st = path.lstat()
            except FileNotFoundError:
                continue
            if path.is_symlink() or not path.is_file() or st.st_mtime >= limit:
                continue
            files += 1
            size += st.st_size
            if not dry_run:
                path.unlink(missing_ok=True)
        if Path(root) != base and not dry_run and touched.get(root, limit) < limit:
            try:
                os.rmdir(root)  # only succeeds when empty; a folder touched since the cut-off stays
                folders += 1
            except OSError:
                pass
    log.info("logs under %s older than %s: %s files, %s bytes%s, %s empty folders removed", base,
             cutoff.isoformat(), files, size, " (dry run: kept)" if dry_run else " deleted", folders)
    return {"files": files, "bytes": size, "folders": folders, "dry_run": dry_run}
