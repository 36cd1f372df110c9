"""Tests of olist_cli: the command line, its settings reference and its logging."""
