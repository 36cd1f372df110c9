"""Errors of the synthetic data generator (the simulator adds its own, see
:mod:`source_db.synthetic.simulator`).

::

    GeneratorError
    ├── SchemaMissingError          the target database has no Olist tables (run ``olist db init``)
    └── InvalidGenerationRequest    an argument is out of range

A database that cannot be reached raises :class:`source_db.connection.DatabaseUnavailable`.
"""

from __future__ import annotations


class GeneratorError(Exception):
    """Base class of the synthetic data generator's errors."""


class SchemaMissingError(GeneratorError):
    """The target database has no Olist schema."""


class InvalidGenerationRequest(GeneratorError):
    """An argument of the generator is out of range."""
