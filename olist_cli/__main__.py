"""``python -m olist_cli`` runs the ``olist`` command."""

from olist_cli.main import app

app()
