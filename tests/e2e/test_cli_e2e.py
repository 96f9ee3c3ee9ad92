"""The CLI as a user runs it: subprocesses in a fresh folder, embedded default, offline."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.slow

MLPILOT = str(Path(sys.executable).parent / "mlpilot")


def mlpilot(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLPILOT_")}
    env.update(MLFLOW_DISABLE_TELEMETRY="true", MLPILOT_ACTOR="e2e", COLUMNS="120")
    return subprocess.run(
        [MLPILOT, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )


def test_quickstart_runs_the_whole_loop_then_the_everyday_verbs(tmp_path: Path) -> None:
    demo = tmp_path / "demo"
    first = mlpilot("quickstart", str(demo), cwd=tmp_path)
    assert first.returncode == 0, first.stdout + first.stderr
    out = " ".join(first.stdout.split())
    assert "drift: the partner lab's new scanner" in out
    assert "promoted: version 2 is the champion" in out
    assert "rolled_back: all traffic back to champion 2; version 3 withdrawn" in out
    assert "requests sent / failed" in out
    assert "/ 0 │" in out  # no failed request through both releases
    assert "intact" in out
    assert "stopped cleanly on SIGTERM (both processes) │ yes" in out
    assert (demo / ".mlpilot" / "mlflow.db").is_file()
    assert not (demo / "mlruns").exists()

    releases = json.loads(mlpilot("releases", "--json", cwd=demo).stdout)
    assert [r["state"] for r in releases] == ["rolled_back", "promoted"]
    bad, good = releases
    assert good["trigger"].split(":")[0] in ("drift", "performance")
    assert good["decision"] == "promote"
    assert good["analysis"]["challenger"]["metric"] > good["analysis"]["champion"]["metric"]
    assert bad["model_version"] == 3
    assert "significantly worse" in bad["decision_reason"]

    models = {
        m["version"]: m["aliases"] for m in json.loads(mlpilot("models", "--json", cwd=demo).stdout)
    }
    assert models == {1: [], 2: ["champion"], 3: []}

    again = mlpilot("quickstart", str(demo), cwd=tmp_path)
    assert again.returncode == 2
    assert "pass --fresh" in again.stderr

    missing = mlpilot("promote", "9", "--reason", "typo", cwd=demo)
    assert missing.returncode == 1
    assert "Error: Model not found" in missing.stderr
    assert "Traceback" not in missing.stderr

    log = json.loads(mlpilot("audit", "--json", "--action", "release.", cwd=demo).stdout)
    assert {"release.promoted", "release.rolled_back", "release.decided"} <= {
        e["action"] for e in log
    }
    verify = mlpilot("audit", "verify", cwd=demo)
    assert verify.returncode == 0
    assert "audit chain intact" in verify.stdout

    # the example, after the loop, stands at the top of every model wherever evidence decides
    report = tmp_path / "maturity.html"
    assessed = mlpilot(
        "assess", str(demo), "--no-input", "--json", "--html", str(report), cwd=tmp_path
    )
    assert assessed.returncode == 0, assessed.stderr
    result = json.loads(assessed.stdout)
    assert result["live"] is True
    assert report.is_file()
    for model in result["models"]:
        top = model["levels"][-1]["number"]
        for dim in model["dimensions"]:
            where = (model["id"], dim["id"])
            if dim["level"] == top:
                continue
            # below the top only where a question nobody answered stands in the way
            assert dim["possible"] == top, (where, _unmet(dim))
            assert dim["needs_answers"], where
            assert {c["status"] for c in dim["criteria"]} <= {"met", "unknown"}, _unmet(dim)
        evidence_only = [d for d in model["dimensions"] if not d["needs_answers"]]
        assert evidence_only, model["id"]
    live = {key for key, fact in result["facts"].items() if key.startswith("live.") and fact["met"]}
    assert {
        "live.retrain_automatic",
        "live.rollbacks",
        "live.online_analysis",
        "live.audit",
    } <= live
    floor = mlpilot("assess", "--no-input", "--brief", "--min-level", "azure=4", cwd=demo)
    assert floor.returncode == 1  # the people's dimensions are unknown without answers
    assert "Below the required level" in floor.stderr


def _unmet(dimension: dict[str, Any]) -> list[str]:
    return [f"{c['id']}: {c['status']}" for c in dimension["criteria"] if c["status"] != "met"]


def test_run_twice_trains_once(tmp_path: Path) -> None:
    proj = tmp_path / "p"
    assert mlpilot("init", str(proj), cwd=tmp_path).returncode == 0
    first = mlpilot("run", "--json", cwd=proj)
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout)["status"] == "succeeded"
    again = mlpilot("run", "--json", cwd=proj)
    summary = json.loads(again.stdout)
    assert summary["status"] == "unchanged"
    assert summary["model_version"] == 1
    no_history = mlpilot("rollback", "--reason", "nothing to go back to", cwd=proj)
    assert no_history.returncode == 1
    assert "Traceback" not in no_history.stderr


def test_init_run_with_failing_gate_exits_1(tmp_path: Path) -> None:
    proj = tmp_path / "p"
    made = mlpilot("init", str(proj), "--name", "strict", cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    toml = proj / "mlpilot.toml"
    toml.write_text(toml.read_text().replace('roc_auc = ">= 0.95"', 'roc_auc = ">= 0.99999"'))
    run = mlpilot("run", cwd=proj)
    assert run.returncode == 1
    assert "run rejected" in run.stdout
    assert "roc_auc" in run.stdout
    models = mlpilot("models", "--json", cwd=proj)
    assert json.loads(models.stdout) == []


def test_malformed_project_file_exits_2_with_line(tmp_path: Path) -> None:
    (tmp_path / "mlpilot.toml").write_text('[project]\nname = "x"\n[data\n')
    out = mlpilot("run", cwd=tmp_path)
    assert out.returncode == 2
    assert "Error: Configuration error" in out.stderr
    assert "mlpilot.toml:3" in out.stderr
    assert "Traceback" not in out.stderr


def test_two_runs_at_once_one_waits_or_fails_and_the_store_stays_whole(tmp_path: Path) -> None:
    proj = tmp_path / "p"
    assert mlpilot("init", str(proj), cwd=tmp_path).returncode == 0
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLPILOT_")}
    env["MLFLOW_DISABLE_TELEMETRY"] = "true"
    procs = [
        subprocess.Popen(
            [MLPILOT, "run"],
            cwd=proj,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    results = []
    for p in procs:
        _, err = p.communicate(timeout=300)
        results.append((p.returncode, err))
    codes = sorted(code for code, _ in results)
    assert codes in ([0, 0], [0, 1])
    if codes == [0, 1]:
        err = next(e for c, e in results if c == 1)
        assert "Another mlpilot process is busy with this project" in err
    models = json.loads(mlpilot("models", "--json", cwd=proj).stdout)
    assert [m["version"] for m in models] == [1]
    assert mlpilot("audit", "verify", cwd=proj).returncode == 0
