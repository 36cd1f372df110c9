"""Health checks of the running pipeline: one function per component, plain Python.

``health.run.run_checks`` runs them all (``olist health``); the Airflow DAG
``airflow/dags/pipeline_health.py`` runs one component per task. Each check measures one thing
and returns :class:`health.result.CheckResult`: ok / warn / fail, the value, the threshold and a
one-line message naming the component. Thresholds come from :class:`health.settings.HealthSettings`.
"""
