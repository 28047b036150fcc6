"""Print the path of the Airflow DAG module: ``cp $(python -m embedpipe.deploy) $AIRFLOW_HOME/dags/``."""

from embedpipe.deploy import AIRFLOW_DAG

print(AIRFLOW_DAG)
