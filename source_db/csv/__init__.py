"""Loading the Kaggle Olist CSV files at COPY speed (``olist load-csv``).

The entry point is :func:`source_db.csv.loader.load_csv_directory`. :mod:`~source_db.csv.tables`
describes the 9 files, :mod:`~source_db.csv.values` converts their fields,
:mod:`~source_db.csv.reader` parses and checks a file, :mod:`~source_db.csv.loader` writes it,
:mod:`~source_db.csv.report` tells what happened to every row and :mod:`~source_db.csv.errors`
lists what stops a load.
"""
