"""The ``olist`` command line: one entry point gathering every stage's commands."""
