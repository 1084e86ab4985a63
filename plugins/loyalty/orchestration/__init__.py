"""The only part of the package that imports Airflow: it turns specs into DAGs."""
