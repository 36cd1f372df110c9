"""Tests of emulators."""
