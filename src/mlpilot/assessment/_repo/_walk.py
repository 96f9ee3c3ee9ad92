"""The bounded walk of a folder, and what each file found is: its scopes, its text to match."""

from __future__ import annotations

import os
import re
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
    "CI",
    "CODE",
    "CONF",
    "JSON",
    "MAX_BYTES",
    "OPS",
    "PYSRC",
    "TEST",
    "YAML",
    "YAMLS",
    "File",
    "Tree",
    "is_text",
    "prepare",
    "read_bytes",
    "scopes_of",
    "tokens",
    "walk",
]

MAX_BYTES = 2 * 1024 * 1024

# Folders that are not the project's own (or too large to matter) are not walked.
_SKIP_DIRS = frozenset(
    {
        ".git",
        ".hg",
        ".svn",
        ".venv",
        "venv",
        "node_modules",
        "__pycache__",
        ".mlpilot",
        "site-packages",
        "build",
        "dist",
        "_build",
        ".tox",
        ".nox",
        ".mypy_cache",
        ".ruff_cache",
        ".pytest_cache",
        ".hypothesis",
        ".ipynb_checkpoints",
        ".eggs",
        ".terraform",
        ".serverless",
        ".cache",
        "htmlcov",
    }
)
# Folders whose presence is evidence, but whose (large, generated) content is not walked.
_MARKER_DIRS = frozenset({".dvc", "mlruns"})

_TEXT_SUFFIXES = frozenset(
    {
        ".py",
        ".ipynb",
        ".yml",
        ".yaml",
        ".toml",
        ".cfg",
        ".ini",
        ".json",
        ".sh",
        ".bash",
        ".groovy",
        ".properties",
        ".mk",
    }
)
_TEXT_NAMES = frozenset({"Makefile", "makefile", "GNUmakefile", "Procfile", "Containerfile"})
YAML = (".yml", ".yaml")

# Scopes: which probes read a file.
CODE = "code"  # the project's own Python modules and notebooks
PYSRC = "pysrc"  # the project's own Python modules (not notebooks)
TEST = "test"  # Python test files
CI = "ci"  # CI configuration and scripts
YAMLS = "yaml"
JSON = "json"
CONF = "conf"  # TOML, INI, CFG
OPS = "ops"  # commands and manifests: shell, Dockerfiles, Makefiles, YAML, CI files

# A comment line (from its newline, a literal for a fast scan); the first line is done apart.
_HASH_COMMENT = re.compile(r"\n[ \t]*#[^\n]*")
_SLASH_COMMENT = re.compile(r"\n[ \t]*//[^\n]*")
_INSTALL_LINE = re.compile(
    r"^[^\n]*(?:\b(?:pip3?|uv|poetry|conda|mamba|micromamba|pipx|pdm|apt-get|apt|apk|dnf|yum|"
    r"npm|yarn|brew)\b(?:[ \t]+pip)?[ \t]+(?:install|add|sync)\b|^[ \t]*-?[ \t]*name:[ \t]*"
    r"[\"']?install\b)[^\n]*",
    re.M | re.I,
)
_TOKEN_SPLIT = re.compile(r"[^a-z0-9]+")


@dataclass(frozen=True)
class File:
    """One file found by the walk."""

    rel: str  # posix, relative to the root
    path: Path
    name: str
    suffix: str  # lower-case
    dirs: tuple[str, ...]  # the folders above it, lower-case


@dataclass
class Tree:
    files: list[File] = field(default_factory=list)
    dirs: list[str] = field(default_factory=list)
    markers: dict[str, str] = field(default_factory=dict)  # marker folder name -> first rel
    truncated: bool = False
    unreadable_dirs: list[str] = field(default_factory=list)


def walk(root: Path, max_files: int) -> Tree:
    """Every file under ``root`` (breadth first, sorted), minus skipped folders; at most
    ``max_files`` of them."""
    tree = Tree()
    queue: deque[tuple[Path, str]] = deque([(root, "")])
    while queue:
        folder, rel = queue.popleft()
        try:
            with os.scandir(folder) as listing:
                entries = sorted(listing, key=lambda entry: entry.name)
        except OSError:
            tree.unreadable_dirs.append(rel or ".")
            continue
        if rel and any(entry.name == "pyvenv.cfg" for entry in entries):
            continue  # a virtualenv, whatever its name
        subdirs: list[tuple[Path, str]] = []
        for entry in entries:
            child = f"{rel}/{entry.name}" if rel else entry.name
            try:
                if entry.is_symlink():
                    if not entry.is_file():  # a symlinked folder, a dangling or looping link
                        continue
                    is_dir = False
                else:
                    is_dir = entry.is_dir(follow_symlinks=False)
                    if not is_dir and not entry.is_file(follow_symlinks=False):
                        continue  # sockets, FIFOs, devices
            except OSError:
                continue
            if is_dir:
                if entry.name in _MARKER_DIRS:
                    tree.markers.setdefault(entry.name, child)
                elif entry.name not in _SKIP_DIRS and not entry.name.endswith(".egg-info"):
                    tree.dirs.append(child)
                    subdirs.append((Path(entry.path), child))
                continue
            if len(tree.files) >= max_files:
                tree.truncated = True
                return tree
            dot = entry.name.rfind(".")
            suffix = entry.name[dot:].lower() if dot > 0 else ""
            parents = tuple(part.lower() for part in rel.split("/")) if rel else ()
            tree.files.append(File(child, Path(entry.path), entry.name, suffix, parents))
        queue.extend(subdirs)
    return tree


def read_bytes(path: Path) -> bytes:
    """At most ``MAX_BYTES + 1`` bytes of ``path``."""
    with path.open("rb") as handle:
        return handle.read(MAX_BYTES + 1)


def is_text(file: File, ci_kind: str | None) -> bool:
    """Whether ``file`` is one of the text files read (a CI file always is)."""
    name = file.name
    return (
        ci_kind is not None
        or file.suffix in _TEXT_SUFFIXES
        or name in _TEXT_NAMES
        or name.startswith("Dockerfile")
        or file.suffix == ".dockerfile"
    )


def scopes_of(file: File, ci_kind: str | None, test: bool) -> frozenset[str]:
    """The scopes of the probes that read ``file``."""
    scopes: set[str] = set()
    if file.suffix == ".py":
        scopes.update((TEST,) if test else (CODE, PYSRC))
    elif file.suffix == ".ipynb":
        scopes.add(CODE)
    elif file.suffix == ".json":
        scopes.add(JSON)
    elif file.suffix in (".toml", ".cfg", ".ini"):
        scopes.add(CONF)
    else:
        scopes.add(OPS)
        if file.suffix in YAML:
            scopes.add(YAMLS)
    if ci_kind is not None:
        scopes.add(CI)
    return frozenset(scopes)


def prepare(raw: bytes, file: File, scopes: frozenset[str], ci_kind: str | None) -> str:
    """The text to match: decoded, comment lines and package installs blanked."""
    text = raw.decode("utf-8", errors="replace")
    if text.startswith("\ufeff"):
        text = text[1:]
    if ci_kind == "jenkins" or file.suffix == ".groovy":
        text = _SLASH_COMMENT.sub("\n", "\n" + text)[1:]
    elif file.suffix not in (".json", ".ipynb"):
        text = _HASH_COMMENT.sub("\n", "\n" + text)[1:]
    if OPS in scopes or CI in scopes:
        text = _INSTALL_LINE.sub("", text)
    return text


def tokens(name: str) -> list[str]:
    """The lower-case words of a file or folder name."""
    return [token for token in _TOKEN_SPLIT.split(name.lower()) if token]
