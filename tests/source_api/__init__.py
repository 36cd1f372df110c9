"""Tests of source_api."""
