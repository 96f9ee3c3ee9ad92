import subprocess
import sys
from pathlib import Path

import pandas as pd

from mlpilot.config import DataSettings
from mlpilot.data import source_fingerprint


def _fp(tmp_path: Path, source: str, **kw: object) -> str | None:
    return source_fingerprint(DataSettings(source=source, target="y", **kw), tmp_path)  # type: ignore[arg-type]


def test_bundled_data_set_fingerprint_is_stable_and_needs_no_sklearn_import() -> None:
    code = (
        "import sys; from pathlib import Path\n"
        "from mlpilot.config import DataSettings\n"
        "from mlpilot.data import source_fingerprint\n"
        "fp = source_fingerprint(DataSettings(source='sklearn:wine', target='target'), Path('.'))\n"
        "assert 'sklearn' not in sys.modules, 'sklearn was imported'\n"
        "print(fp)\n"
    )
    out = [
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True) for _ in "ab"
    ]
    assert all(o.returncode == 0 for o in out), out[0].stderr
    assert out[0].stdout == out[1].stdout
    assert len(out[0].stdout.strip()) == 64


def test_file_fingerprint_follows_the_bytes(tmp_path: Path) -> None:
    pd.DataFrame({"a": [1, 2], "y": [0, 1]}).to_csv(tmp_path / "d.csv", index=False)
    first = _fp(tmp_path, "d.csv")
    assert first is not None
    assert _fp(tmp_path, "d.csv") == first
    pd.DataFrame({"a": [1, 3], "y": [0, 1]}).to_csv(tmp_path / "d.csv", index=False)
    assert _fp(tmp_path, "d.csv") != first


def test_glob_fingerprint_covers_every_file(tmp_path: Path) -> None:
    for i in range(2):
        pd.DataFrame({"a": [i], "y": [i]}).to_parquet(tmp_path / f"p{i}.parquet")
    first = _fp(tmp_path, "*.parquet")
    pd.DataFrame({"a": [9], "y": [1]}).to_parquet(tmp_path / "p2.parquet")
    assert _fp(tmp_path, "*.parquet") != first


def test_settings_that_change_the_frame_change_the_fingerprint(tmp_path: Path) -> None:
    pd.DataFrame({"a": [1], "b": [2], "y": [0]}).to_csv(tmp_path / "d.csv", index=False)
    assert _fp(tmp_path, "d.csv") != _fp(tmp_path, "d.csv", drop=("b",))


def test_sources_without_a_cheap_fingerprint(tmp_path: Path) -> None:
    assert _fp(tmp_path, "missing.csv") is None
    assert _fp(tmp_path, "nothing-*.csv") is None
    assert _fp(tmp_path, "sqlite:///x.db", query="select 1") is None
    assert _fp(tmp_path, "loader.py:load") is None
    assert _fp(tmp_path, "s3://bucket/data.parquet") is None
