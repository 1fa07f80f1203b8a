"""--report-to tensorboard and mlflow (#20): the real libraries, Trainer's curves and the run's
results in stores inside the run folder, and no network connection attempted (an audit hook
in the run's process fails any connection or name lookup that leaves the machine)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from domaintune.plugins import LOAD_PLUGINS_ENV
from domaintune.training.tracking import result_values

NETWORK_GUARD = '''
import socket, sys

LOG = {log!r}
LOCAL = ("127.", "::1", "localhost", "0.0.0.0")

def guard(event, args):
    if event == "socket.connect":
        sock, address = args[0], args[1]
        if sock.family in (socket.AF_INET, socket.AF_INET6) and not str(address[0]).startswith(LOCAL):
            blocked(event, address)
    elif event == "socket.getaddrinfo" and args[0] and not str(args[0]).startswith(LOCAL):
        blocked(event, args[0])

def blocked(event, address):
    with open(LOG, "a", encoding="utf-8") as log:
        log.write(f"{{event}} {{address}}\\n")
    raise OSError(f"the test blocks {{event}} to {{address}}")

sys.addaudithook(guard)
'''


@pytest.fixture
def guarded_env(tmp_path: Path) -> tuple[dict[str, str], Path]:
    """An environment whose Python processes record and refuse any non-loopback connection."""
    folder = tmp_path / "guard"
    folder.mkdir()
    log = tmp_path / "connections.log"
    (folder / "sitecustomize.py").write_text(NETWORK_GUARD.format(log=str(log)), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    env.update({LOAD_PLUGINS_ENV: "legal", "PYTHONPATH": str(folder)})
    # The guard works: a connection out is refused and recorded.
    probe = subprocess.run(
        [sys.executable, "-c", "import socket; socket.create_connection(('10.255.255.1', 9), timeout=1)"],
        env=env, capture_output=True, text=True, timeout=60,
    )
    assert probe.returncode != 0 and "the test blocks socket." in probe.stderr
    assert "10.255.255.1" in log.read_text(encoding="utf-8")
    log.unlink()
    return env, log


def tracked_run(tmp_path: Path, tiny_model: str, env: dict[str, str], tracker: str) -> Path:
    run_dir = tmp_path / "run"
    settings = tmp_path / "settings.yaml"
    settings.write_text("save_steps: 2\nlogging_steps: 1\ngradient_accumulation: 1\n", encoding="utf-8")
    elsewhere = tmp_path / "cwd"  # nothing may be written where tune was started
    elsewhere.mkdir()
    command = [
        sys.executable, "-m", "domaintune", "run", "--domain", "legal", "--model", tiny_model,
        "--output-dir", str(run_dir), "--max-train-rows", "48", "--epochs", "1", "--batch-size", "4",
        "--eval-rows", "8", "--precision", "fp32", "--early-stopping-patience", "20",
        "--config", str(settings), "--report-to", tracker,
    ]
    result = subprocess.run(command, env=env, cwd=elsewhere, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    assert list(elsewhere.iterdir()) == []
    return run_dir


def test_tensorboard_gets_the_curves_and_results_locally(tmp_path: Path, tiny_model: str, guarded_env) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    env, connections = guarded_env
    run_dir = tracked_run(tmp_path, tiny_model, env, "tensorboard")
    assert not connections.exists(), connections.read_text(encoding="utf-8")

    events = EventAccumulator(str(run_dir / "tensorboard"))
    events.Reload()
    scalars = set(events.Tags()["scalars"])
    summary = json.loads((run_dir / "metrics.json").read_text(encoding="utf-8"))
    steps = summary["train"]["steps"]
    assert [event.step for event in events.Scalars("train/loss")] == list(range(1, steps + 1))
    assert events.Scalars("eval/loss")
    results = result_values(summary)
    assert "results/tuned_minus_base/accuracy/low" in results
    assert "safety/eval_filter/rows_in" in results
    assert set(results) <= scalars
    for name, value in results.items():
        (logged,) = events.Scalars(name)
        assert (logged.step, logged.value) == (steps, pytest.approx(value, abs=1e-6))


def test_mlflow_gets_the_curves_and_results_in_the_run_folder(tmp_path: Path, tiny_model: str, guarded_env) -> None:
    # mlflow is in the tracking extra, not the test extra (its client pulls in databricks-sdk,
    # opentelemetry and gitpython): this test runs where it is installed.
    mlflow = pytest.importorskip("mlflow", reason="mlflow (the tracking extra) is not installed")

    env, connections = guarded_env
    run_dir = tracked_run(tmp_path, tiny_model, env, "mlflow")
    assert not connections.exists(), connections.read_text(encoding="utf-8")

    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{run_dir / 'mlflow.db'}")
    (experiment,) = [e for e in client.search_experiments() if e.name == "domaintune"]
    assert experiment.artifact_location.startswith((run_dir / "mlflow-artifacts").as_uri())
    (run,) = client.search_runs([experiment.experiment_id])
    summary = json.loads((run_dir / "metrics.json").read_text(encoding="utf-8"))
    steps = summary["train"]["steps"]
    assert [m.step for m in client.get_metric_history(run.info.run_id, "loss")] == list(range(1, steps + 1))
    assert client.get_metric_history(run.info.run_id, "eval_loss")
    for name, value in result_values(summary).items():
        assert run.data.metrics[name.replace("/", "_")] == pytest.approx(value, abs=1e-6)
    assert run.info.status == "FINISHED"
