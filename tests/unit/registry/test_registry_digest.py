"""digest_dir: sha256 over sorted relative paths and bytes (no MLflow involved)."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlpilot.registry import digest_dir
from mlpilot.registry._digest import first_difference, manifest_of


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "model"
    (root / "sub").mkdir(parents=True)
    (root / "MLmodel").write_text("flavors: {}\n")
    (root / "model.skops").write_bytes(bytes(range(256)) * 10)
    (root / "sub" / "profile.json").write_text("{}")
    return root


def test_digest_is_stable_and_hex(tree: Path) -> None:
    d = digest_dir(tree)
    assert len(d) == 64
    assert int(d, 16) >= 0
    assert digest_dir(tree) == d


def test_digest_does_not_depend_on_location(tree: Path, tmp_path: Path) -> None:
    import shutil

    copy = shutil.copytree(tree, tmp_path / "elsewhere")
    assert digest_dir(copy) == digest_dir(tree)


@pytest.mark.parametrize(
    "change",
    [
        lambda r: (r / "model.skops").write_bytes(b"\x01" + (r / "model.skops").read_bytes()[1:]),
        lambda r: (r / "extra").write_text(""),
        lambda r: (r / "sub" / "profile.json").unlink(),
        lambda r: (r / "MLmodel").rename(r / "MLmodel2"),
        lambda r: (r / "sub" / "profile.json").rename(r / "profile.json"),
        lambda r: (r / "sub" / "registered_model_meta").write_text("x"),
    ],
    ids=["byte", "added-empty-file", "removed", "renamed", "moved", "nested-meta"],
)
def test_any_change_changes_the_digest(tree: Path, change: object) -> None:
    before = digest_dir(tree)
    change(tree)  # type: ignore[operator]
    assert digest_dir(tree) != before


def test_mlflow_breadcrumb_at_the_root_is_ignored(tree: Path) -> None:
    before = digest_dir(tree)
    (tree / "registered_model_meta").write_text("model_name: x\nmodel_version: '1'\n")
    assert digest_dir(tree) == before


def test_symlinked_directory_is_recorded(tree: Path, tmp_path: Path) -> None:
    before = digest_dir(tree)
    (tree / "link").symlink_to(tmp_path, target_is_directory=True)
    assert digest_dir(tree) != before


def test_first_difference(tree: Path) -> None:
    expected = manifest_of(tree)
    assert first_difference(expected, expected) is None
    (tree / "model.skops").write_bytes(b"changed")
    (tree / "zz").write_text("")
    assert first_difference(expected, manifest_of(tree)) == "model.skops (changed)"
    assert first_difference(expected, {}) == "MLmodel (missing)"


def test_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        digest_dir(tmp_path / "absent")
