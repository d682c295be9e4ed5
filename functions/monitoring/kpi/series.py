"""The label sets each metric has, shared by every instance, so the cardinality cap holds.

A recorder refuses a new label set past ``kpi.max_series_per_metric`` at once, but only for
its own process: every cold start would allow that many more, and a client sending fresh
label values would grow the rollups without bound. So ``fw_series/<metric>`` lists the
hashes of the label sets the deployment has stored, and each flush checks the sets its
process has not confirmed yet inside the flush's own transaction (one more document in the
same read, no extra round trip): a set the list does not hold is added while there is room
and dropped, not stored, once the list is full. Two instances cannot both take the last
place, and confirmed sets are never read again by that process.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field

from monitoring.kpi.rollup import LabelKey

__all__ = ["SeriesCap", "label_set_hash"]


def label_set_hash(labels: LabelKey) -> str:
    return hashlib.sha256(json.dumps([list(pair) for pair in labels]).encode()).hexdigest()[:16]


@dataclass
class SeriesCap:
    """What one process knows of ``fw_series``: the sets confirmed stored, per metric."""

    cap: int
    confirmed: dict[str, set[str]] = field(default_factory=dict)
    refused: int = 0  # rollups dropped because their metric had no place left

    def unconfirmed(self, metric: str, labels: LabelKey) -> bool:
        return label_set_hash(labels) not in self.confirmed.get(metric, set())

    def admit(self, metric: str, labels: LabelKey, stored: set[str], added: set[str]) -> bool:
        """Return True when the set is stored already or fits; note a new one in ``added``."""
        digest = label_set_hash(labels)
        if digest in stored or digest in added:
            return True
        if len(stored) + len(added) >= self.cap:
            return False
        added.add(digest)
        return True
