"""Airflow DAGs for loyalty: the load, warehouse and metrics DAGs, and one DAG per spec in workflows/.

All logic lives in loyalty.orchestration.factory; a broken spec becomes its own failing
`<name>__invalid_spec` DAG that shows the error, and never hides the other workflows.
"""

from loyalty.orchestration.factory import all_dags

globals().update(all_dags())
