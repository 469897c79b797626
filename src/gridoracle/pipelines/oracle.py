"""The Oracle pipeline (being moved here from gridoracle.oracle.pipeline)."""

from gridoracle.oracle.config import read_config
from gridoracle.oracle.pipeline import OracleReport, run_oracle

__all__ = ["OracleReport", "read_config", "run_oracle"]
