"""gridoracle: what will each topology action do, and what is the best thing to have done.

Fast, cross-checked answers about topology actions on grid2op power grids.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
