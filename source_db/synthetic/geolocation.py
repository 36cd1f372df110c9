"""Geolocation rows: a few points around a city for every zip prefix the data uses first."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from source_db.synthetic.distributions import GEOGRAPHY
from source_db.synthetic.tables import Row
from source_db.synthetic.values import zip_prefixes


@dataclass
class ZipRegistry:
    """Zip prefixes that already have geolocation rows (a flag per prefix 00000-99999)."""

    known: np.ndarray = field(default_factory=lambda: np.zeros(100_000, dtype=bool))

    @classmethod
    def from_prefixes(cls, prefixes: Sequence[str]) -> ZipRegistry:
        registry = cls()
        if prefixes:
            registry.known[np.array([int(prefix) for prefix in prefixes], dtype=np.int64)] = True
        return registry

    def geolocation_rows(
        self, rng: np.random.Generator, prefixes: np.ndarray, cities: np.ndarray
    ) -> list[Row]:
        """Rows (without id) for the prefixes not seen yet; ``cities`` indexes GEOGRAPHY."""
        fresh = ~self.known[prefixes]
        new_prefixes, first_seen = np.unique(prefixes[fresh], return_index=True)
        if len(new_prefixes) == 0:
            return []
        self.known[new_prefixes] = True
        city = cities[fresh][first_seen]
        # Real prefixes carry dozens of points around one spot; a handful is enough here.
        per_prefix = 1 + np.minimum(rng.poisson(1.5, len(new_prefixes)), 5)
        centre_lat = GEOGRAPHY.latitude[city] + rng.normal(0.0, 0.04, len(new_prefixes))
        centre_lng = GEOGRAPHY.longitude[city] + rng.normal(0.0, 0.04, len(new_prefixes))
        owner = np.repeat(np.arange(len(new_prefixes)), per_prefix)
        total = len(owner)
        lat = np.round(centre_lat[owner] + rng.normal(0.0, 0.004, total), 6)
        lng = np.round(centre_lng[owner] + rng.normal(0.0, 0.004, total), 6)
        row_city = city[owner]
        return list(
            zip(
                zip_prefixes(new_prefixes[owner]),
                lat.tolist(),
                lng.tolist(),
                GEOGRAPHY.city_names[row_city].tolist(),
                GEOGRAPHY.state_codes[GEOGRAPHY.city_state[row_city]].tolist(),
                strict=True,
            )
        )
