"""Files for deploying embedpipe that live outside Spark: the Airflow DAG module.

``python -m embedpipe.deploy`` prints the path of ``airflow_dag.py`` so it can
be copied into an Airflow ``dags/`` folder from an installed wheel.
"""

from pathlib import Path

AIRFLOW_DAG = Path(__file__).with_name("airflow_dag.py")
