"""The manifest of a dataset: its name, the checksum of its own content, a line describing it.

A manifest records the SHA-256 of its content (every field but ``manifest_sha256`` itself, as
canonical JSON) in ``manifest_sha256``. A manifest whose content does not match it (an action
list cut by hand, a field lost) is refused: the reader raises, the generator regenerates it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from gridoracle.dataset.split import format_chronics
from gridoracle.io import canonical_json

__all__ = [
    "CHECKSUM_FIELD",
    "FORMAT",
    "MANIFEST_NAME",
    "checksum_problem",
    "describe",
    "manifest_checksum",
    "signed",
]

FORMAT = "gridoracle-dataset/1"
"""Value of the ``format`` field of every manifest written by this package."""

MANIFEST_NAME = "manifest.json"
CHECKSUM_FIELD = "manifest_sha256"
"""The field holding the SHA-256 of the rest of the manifest."""


def manifest_checksum(manifest: Mapping[str, Any]) -> str:
    """SHA-256 hex digest of the canonical JSON of ``manifest`` without its checksum field.

    Examples
    --------
    >>> manifest_checksum({"a": 1}) == manifest_checksum({"a": 1, "manifest_sha256": "x"})
    True
    """
    body = {k: v for k, v in manifest.items() if k != CHECKSUM_FIELD}
    return hashlib.sha256(canonical_json(body)).hexdigest()


def signed(manifest: dict[str, Any]) -> dict[str, Any]:
    """``manifest`` with its checksum field set to the checksum of its content (in place)."""
    manifest[CHECKSUM_FIELD] = manifest_checksum(manifest)
    return manifest


def checksum_problem(manifest: Mapping[str, Any]) -> str | None:
    """Why ``manifest`` does not match its checksum field, or None when it does."""
    recorded = manifest.get(CHECKSUM_FIELD)
    if recorded is None:
        return "it records no checksum of itself"
    if recorded != manifest_checksum(manifest):
        return "its content does not match its checksum (edited or damaged)"
    return None


def describe(folder: Path, manifest: Mapping[str, Any] | None) -> str:
    """A few words on the dataset in ``folder``: name, environment, horizon, hash, chronics.

    Examples
    --------
    >>> describe(Path("data/case-h0-0123456789ab"), {"config_hash": "0123456789abcdef",
    ...          "config": {"env": "/envs/case14", "horizon": 0, "chronics": [0, 1, 2, 5]}})
    'case-h0-0123456789ab (env case14, horizon 0, config hash 0123456789ab, chronics 0-2, 5)'
    """
    if not isinstance(manifest, Mapping) or not isinstance(manifest.get("config"), Mapping):
        return f"{folder.name} (unreadable manifest)"
    config = manifest["config"]
    env = Path(str(config.get("env", "?"))).name
    try:
        chronics = format_chronics(config.get("chronics") or [])
    except (TypeError, ValueError):
        chronics = "?"
    return (
        f"{folder.name} (env {env}, horizon {config.get('horizon', '?')}, config hash "
        f"{str(manifest.get('config_hash', '?'))[:12]}, chronics {chronics})"
    )
