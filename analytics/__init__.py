"""Analytics on what the pipeline loaded: dimension tables, SQL views and a dashboard.

- :mod:`analytics.export_dimensions`: ``olist export-dimensions`` (PostgreSQL -> Parquet in
  Cloud Storage -> BigQuery ``dim_*`` tables);
- :mod:`analytics.views`: ``olist views`` (the SQL files of ``analytics/views/`` as BigQuery views);
- :mod:`analytics.dashboard`: ``olist dashboard`` (a self-contained HTML page built from the views);
- :mod:`analytics.formatting`: numbers for people (BRL, thousands separators, percentages).
"""
