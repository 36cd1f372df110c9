"""Run ``pipeline_health`` once with ``dag.test()`` and print what happened, as one JSON line.

Runs in the Airflow virtualenv (``bash scripts/airflow_env.sh`` prints its python), with
``AIRFLOW_HOME`` and ``AIRFLOW__CORE__DAGS_FOLDER`` set and the metadata database migrated
(``airflow db migrate``); tests/health/test_dag.py drives it. An operator can run it the same
way to try a configuration before deploying it. Printed: the import errors, the DAG's
schedule, flags and task ids, and with ``--run`` the run's state and each task's state.
"""

from __future__ import annotations

import json
import os
import sys


def main() -> int:
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=os.environ["AIRFLOW__CORE__DAGS_FOLDER"])
    report: dict[str, object] = {"import_errors": {k: str(v) for k, v in bag.import_errors.items()}}
    dag = bag.get_dag("pipeline_health")
    if dag is not None:
        report.update(
            schedule=str(dag.schedule),
            catchup=dag.catchup,
            max_active_runs=dag.max_active_runs,
            tasks={
                t.task_id: {
                    "retries": t.retries,
                    "execution_timeout": t.execution_timeout.total_seconds()
                    if t.execution_timeout
                    else None,
                    "has_failure_callback": bool(t.on_failure_callback),
                }
                for t in dag.tasks
            },
        )
        if "--run" in sys.argv:
            run = dag.test()
            report["run_state"] = str(run.state)
            report["task_states"] = {ti.task_id: str(ti.state) for ti in run.get_task_instances()}
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
