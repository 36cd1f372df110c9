"""Tests of source_db."""
