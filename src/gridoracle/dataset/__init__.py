"""Datasets mapping a grid state to max rho after each candidate action.

Public API: :func:`load` a generated dataset folder into a :class:`Dataset`, and :func:`split` it by
chronic. :class:`DatasetStore` is the on-disk store the generator writes through.

``gridoracle.dataset.split`` names the function; reach the module's helpers with
``from gridoracle.dataset.split import format_chronics`` (a from-import finds the module).
"""

from __future__ import annotations

from gridoracle.dataset.reader import Dataset, load
from gridoracle.dataset.split import split
from gridoracle.dataset.store import ChunkInfo, DatasetStore

__all__ = ["ChunkInfo", "Dataset", "DatasetStore", "load", "split"]
