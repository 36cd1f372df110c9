"""The Olist source database: its DDL, the event feed it serves, and the tools that fill it.

- :mod:`source_db.ddl` creates the tables, the ``order_events`` view and the pre-rendered feed
  (``sql/schema.sql``, idempotent): ``olist db init``.
- :mod:`source_db.feed` renders committed order items into the feed (the SQL the API's
  refresher calls too).
- :mod:`source_db.connection` is what every user of the database shares: the
  :class:`~source_db.connection.DatabaseUnavailable` error and the DSN redactor.
- :mod:`source_db.settings` says where the database is (``OLIST_DATABASE_URL``).
- :mod:`source_db.csv` loads the Kaggle CSV files: ``olist load-csv``.
- :mod:`source_db.synthetic` generates realistic data (``olist generate``) and keeps inserting
  new orders (``olist simulate``).
- :mod:`source_db.cli` holds those ``olist`` commands.

Import direction: ``source_db`` imports only ``schemas`` and itself. ``source_api`` imports
``source_db`` (the database contract it serves: connection errors, feed SQL, settings), never
the reverse; no other package of the pipeline is imported here. :mod:`source_db.synthetic`
needs numpy: nothing outside it imports it at module level (the CLI imports it inside its
commands), so ``import source_api.app`` does not load numpy.
"""
