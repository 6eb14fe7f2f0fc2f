"""Operations: fleet alerts, database backups, driver import and audit, Airflow metadata upkeep (SPEC §9)."""
