"""Synthetic Olist data: the generator (``olist generate``), the simulator (``olist simulate``)."""
