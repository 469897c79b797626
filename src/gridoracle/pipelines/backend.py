"""Where a pipeline's work units run: :class:`~gridoracle.parallel.Backend`, for the front ends.

The CLI imports pipelines only; it builds one backend per command with
``Backend.from_options(workers=..., scheduler=..., dask_workers=...)`` (which checks the options
and raises :class:`~gridoracle.errors.InvalidOption` naming the parameter) and hands it to the
pipeline.
"""

from gridoracle.parallel import SERIAL, Backend

__all__ = ["SERIAL", "Backend"]
