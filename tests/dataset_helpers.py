"""Helpers shared by the dataset tests: the generate pipeline with a backend of options, and the
bytes of a dataset folder (the byte-identity promise covers every file but the run log)."""

from __future__ import annotations

from pathlib import Path

from gridoracle.parallel import Backend
from gridoracle.pipelines.generate import GenerateReport, GenerateRequest
from gridoracle.pipelines.generate import generate as run_generate


def generate(env, *, workers=None, scheduler=None, dask_workers=None, **options) -> GenerateReport:
    """The generate pipeline with the backend of ``workers``/``scheduler``/``dask_workers``."""
    backend = Backend.from_options(workers=workers, scheduler=scheduler, dask_workers=dask_workers)
    return run_generate(GenerateRequest(env, **options), backend)


def dataset_files(folder: Path) -> dict[str, bytes]:
    """Every file of a dataset folder but the run log, by relative (POSIX) path."""
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name != "runs.jsonl"
    }
