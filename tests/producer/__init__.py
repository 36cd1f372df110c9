"""Tests of producer."""
