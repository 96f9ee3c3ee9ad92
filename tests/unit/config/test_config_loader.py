from pathlib import Path

import pytest

from mlpilot.config import find_project_dir, load_settings
from mlpilot.errors import ConfigError, ProjectNotFoundError


def _write(d: Path, text: str) -> Path:
    (d / "mlpilot.toml").write_text(text)
    return d


BASE = """\
[project]
name = "p"

[data]
source = "sklearn:wine"
target = "target"

[train]
entrypoint = "pipeline.py:train"
seed = 1
"""


def test_defaults_and_file_values(tmp_path: Path) -> None:
    s = load_settings(_write(tmp_path, BASE), env={})
    assert s.project.name == "p"
    assert s.train.seed == 1
    assert s.train.test_size == 0.2
    assert s.metadata_url == f"sqlite:///{tmp_path.resolve() / '.mlpilot' / 'mlpilot.db'}"
    assert s.tracking_uri.endswith(".mlpilot/mlflow.db")


def test_precedence_file_env_overrides(tmp_path: Path) -> None:
    _write(tmp_path, BASE)
    env = {"MLPILOT_TRAIN__SEED": "2", "MLPILOT_TRAIN__TEST_SIZE": "0.3"}
    s = load_settings(tmp_path, env=env)
    assert (s.train.seed, s.train.test_size) == (2, 0.3)
    s = load_settings(tmp_path, env=env, overrides={"train.seed": 3})
    assert (s.train.seed, s.train.test_size) == (3, 0.3)


def test_unrelated_mlpilot_env_vars_are_ignored(tmp_path: Path) -> None:
    s = load_settings(_write(tmp_path, BASE), env={"MLPILOT_TEST_POSTGRES_URL": "x"})
    assert s.project.name == "p"


def test_unknown_key_names_key_file_and_line(tmp_path: Path) -> None:
    _write(tmp_path, BASE.replace("seed = 1", "seed = 1\nsede = 2"))
    with pytest.raises(ConfigError, match=r"mlpilot.toml:11: unknown setting 'train.sede'") as e:
        load_settings(tmp_path, env={})
    assert e.value.key == "train.sede"
    assert e.value.line == 11


def test_wrong_type_names_key(tmp_path: Path) -> None:
    _write(tmp_path, BASE.replace("seed = 1", 'seed = "abc"'))
    with pytest.raises(ConfigError, match=r":10: setting 'train.seed' is invalid"):
        load_settings(tmp_path, env={})


def test_missing_required_value(tmp_path: Path) -> None:
    _write(tmp_path, BASE.replace('target = "target"\n', ""))
    with pytest.raises(ConfigError, match=r"required setting 'data.target' is missing"):
        load_settings(tmp_path, env={})


def test_malformed_toml_gives_line(tmp_path: Path) -> None:
    _write(tmp_path, BASE + "\n[gate\n")
    with pytest.raises(ConfigError, match=r"not valid TOML") as e:
        load_settings(tmp_path, env={})
    assert e.value.line == 12


def test_bad_gate_rule(tmp_path: Path) -> None:
    _write(tmp_path, BASE + '\n[gate]\nmetrics = { roc_auc = "at least 0.9" }\n')
    with pytest.raises(ConfigError, match=r"write it as '>= 0.95'"):
        load_settings(tmp_path, env={})


def test_bad_env_value_is_config_error(tmp_path: Path) -> None:
    _write(tmp_path, BASE)
    with pytest.raises(ConfigError, match=r"train.test_size"):
        load_settings(tmp_path, env={"MLPILOT_TRAIN__TEST_SIZE": "2"})


def test_missing_project_file(tmp_path: Path) -> None:
    with pytest.raises(ProjectNotFoundError, match=r"mlpilot init"):
        load_settings(tmp_path, env={})
    with pytest.raises(ProjectNotFoundError, match=r"no mlpilot.toml"):
        find_project_dir(tmp_path)


def test_find_project_dir_walks_up(tmp_path: Path) -> None:
    _write(tmp_path, BASE)
    nested = tmp_path / "a" / "b"
    nested.mkdir(parents=True)
    assert find_project_dir(nested) == tmp_path.resolve()


def test_settings_are_frozen(tmp_path: Path) -> None:
    s = load_settings(_write(tmp_path, BASE), env={})
    with pytest.raises(ValueError, match="frozen"):
        s.train.seed = 5  # type: ignore[misc]
