"""``olist dashboard``: one self-contained HTML page built from the analytics views.

:mod:`~analytics.dashboard.data` queries the views, :mod:`~analytics.dashboard.render` writes
the page (ECharts inlined from ``assets/``, so it opens offline), :mod:`~analytics.dashboard.build`
does both, :mod:`~analytics.dashboard.serve` serves the page and rebuilds it on an interval.
"""
