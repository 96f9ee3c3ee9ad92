"""Digests of artifact directories: sha256 over a manifest of every file's path and bytes."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path

DIGEST_SCHEME = "mlpilot-digest-v1"

IGNORED_FILES = frozenset({"registered_model_meta"})
"""Root-level files left out of a digest.

MLflow writes ``registered_model_meta`` into a model's artifact directory whenever anyone
downloads it through a ``models:/`` URI; for a local artifact store it writes it *in place*,
with content that depends on the URI used (name and version, or nulls). Nothing reads it when
loading. Hashing it would make every ``mlflow models serve -m models:/...`` look like
tampering, so it is left out.
"""

_CHUNK = 1 << 20


def manifest_of(path: Path) -> dict[str, str]:
    """``{relative posix path: sha256 of its bytes}`` for every file under ``path``.

    Symbolic links to files are hashed by content; a symbolic link to a directory is not
    followed and is recorded by its target instead, so adding one changes the digest.
    Raises ``FileNotFoundError`` when ``path`` is not a directory.
    """
    if not path.is_dir():
        raise FileNotFoundError(f"{path} is not a directory")
    manifest: dict[str, str] = {}
    for root, dirs, files in os.walk(path, followlinks=False):
        here = Path(root)
        for name in dirs:
            sub = here / name
            if sub.is_symlink():
                rel = sub.relative_to(path).as_posix()
                manifest[rel] = hashlib.sha256(f"symlink:{sub.readlink()}".encode()).hexdigest()
        for name in files:
            file = here / name
            rel = file.relative_to(path).as_posix()
            if rel in IGNORED_FILES:
                continue
            manifest[rel] = _file_sha256(file)
    return dict(sorted(manifest.items()))


def digest_of(manifest: Mapping[str, str]) -> str:
    """The digest of a manifest: sha256 over its sorted ``(path, sha256)`` pairs.

    Because paths are hashed with the contents, an added, removed or renamed file changes
    the digest as surely as a changed byte does.
    """
    body = json.dumps(
        [DIGEST_SCHEME, sorted(manifest.items())], separators=(",", ":"), ensure_ascii=True
    )
    return hashlib.sha256(body.encode()).hexdigest()


def digest_dir(path: Path) -> str:
    """The sha256 digest of every file under ``path`` (sorted relative paths + bytes).

    ``registered_model_meta`` at the top level is skipped (see :data:`IGNORED_FILES`).
    """
    return digest_of(manifest_of(path))


def first_difference(expected: Mapping[str, str], found: Mapping[str, str]) -> str | None:
    """The first path (in sorted order) where two manifests differ, and how; else ``None``."""
    for rel in sorted(set(expected) | set(found)):
        if rel not in found:
            return f"{rel} (missing)"
        if rel not in expected:
            return f"{rel} (added)"
        if expected[rel] != found[rel]:
            return f"{rel} (changed)"
    return None


def _file_sha256(file: Path) -> str:
    h = hashlib.sha256()
    with file.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()
