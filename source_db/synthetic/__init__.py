"""Synthetic Olist data: the generator (``olist generate``), the simulator (``olist simulate``).

:func:`generate_dataset` writes N realistic orders, deterministic per seed
(:mod:`~source_db.synthetic.generator`); :func:`simulate` keeps inserting new orders at a set
rate and moves them through their life cycle (:mod:`~source_db.synthetic.simulator`,
:mod:`~source_db.synthetic.lifecycle`, :mod:`~source_db.synthetic.progress`). Both build rows
with numpy from the facts of the real dataset
(:mod:`~source_db.synthetic.reference_data`, :mod:`~source_db.synthetic.distributions`)
in the row builders (:mod:`~source_db.synthetic.catalogue`, :mod:`~source_db.synthetic.geolocation`,
:mod:`~source_db.synthetic.customers`, :mod:`~source_db.synthetic.orders`) and write them by
binary COPY (:mod:`~source_db.synthetic.writer`).
"""

from source_db.synthetic.errors import GeneratorError, InvalidGenerationRequest, SchemaMissingError
from source_db.synthetic.generator import GenerationProgress, GenerationReport, generate_dataset
from source_db.synthetic.simulator import (
    InvalidSimulationRequest,
    SimulationReport,
    SimulatorError,
    insert_random_orders,
    simulate,
)

__all__ = [
    "GenerationProgress",
    "GenerationReport",
    "GeneratorError",
    "InvalidGenerationRequest",
    "InvalidSimulationRequest",
    "SchemaMissingError",
    "SimulationReport",
    "SimulatorError",
    "generate_dataset",
    "insert_random_orders",
    "simulate",
]
