"""`tune --nnodes 2 --node-rank R --master-addr --master-port`: two "nodes" on this machine
(one process each, separate folders, torchrun's static rendezvous on 127.0.0.1) train the same
run as one process, and only node 0 writes a run folder."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from domaintune.plugins import LOAD_PLUGINS_ENV

SETTINGS = "epochs: 1\nlogging_steps: 1\nlearning_rate: 0.005\ngradient_accumulation: 1\n"


def tune(tiny_model: str, *extra: str) -> list[str]:
    # The run of tests/test_distributed.py: a global batch of 8 rows, 6 steps.
    return [
        sys.executable, "-m", "domaintune", "run", "--domain", "legal", "--model", tiny_model,
        "--output-dir", "run", "--max-train-rows", "48", "--batch-size", "8", "--eval-rows", "12",
        "--precision", "fp32", "--seed", "5", "--config", "settings.yaml", *extra,
    ]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def loss_curve(run_dir: Path) -> dict[int, float]:
    summary = json.loads((run_dir / "metrics.json").read_text(encoding="utf-8"))
    return {entry["step"]: entry["loss"] for entry in summary["train"]["loss_history"]}


def node_folder(tmp_path: Path, name: str) -> Path:
    """A working folder of its own: nothing is shared through the filesystem."""
    folder = tmp_path / name
    folder.mkdir()
    (folder / "settings.yaml").write_text(SETTINGS, encoding="utf-8")
    return folder


def test_two_nodes_give_the_loss_curve_of_one_process(tmp_path: Path, tiny_model: str) -> None:
    env = {**os.environ, LOAD_PLUGINS_ENV: "legal"}
    single = node_folder(tmp_path, "single")
    subprocess.run(tune(tiny_model), cwd=single, env=env, check=True, capture_output=True, timeout=600)

    port = str(free_port())
    folders = [node_folder(tmp_path, f"node{rank}") for rank in range(2)]
    nodes = [
        subprocess.Popen(
            tune(tiny_model, "--nnodes", "2", "--node-rank", str(rank), "--master-addr", "127.0.0.1",
                 "--master-port", port),
            cwd=folder, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        for rank, folder in enumerate(folders)
    ]
    for rank, node in enumerate(nodes):
        _, stderr = node.communicate(timeout=600)
        assert node.returncode == 0, f"node {rank}:\n{stderr[-3000:]}"

    # Node 0 wrote the run folder (under its own working folder). Node 1 wrote only what
    # Trainer saves on every rank, its random state in each checkpoint (to resume exactly).
    assert (folders[0] / "run" / "metrics.json").is_file()
    written = [path.relative_to(folders[1]) for path in folders[1].rglob("*") if path.is_file()]
    assert {path.parts[:2] for path in written if path.name != "settings.yaml"} <= {("run", "checkpoints")}
    assert all(path.name == "rng_state_1.pth" for path in written if path.name != "settings.yaml")
    one, two = loss_curve(single / "run"), loss_curve(folders[0] / "run")
    assert sorted(one) == sorted(two) == list(range(1, 7))
    for step, loss in one.items():
        assert two[step] == pytest.approx(loss, rel=2e-3), f"step {step}"
    summary = json.loads((folders[0] / "run" / "metrics.json").read_text(encoding="utf-8"))
    assert summary["data"]["eval_rows"] == 12


def test_several_nodes_need_the_rendezvous_address(tmp_path: Path, tiny_model: str) -> None:
    folder = node_folder(tmp_path, "node")
    env = {**os.environ, LOAD_PLUGINS_ENV: "legal"}
    result = subprocess.run(
        tune(tiny_model, "--nnodes", "2", "--node-rank", "1"), cwd=folder, env=env,
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode != 0
    assert "--master-addr and --master-port" in result.stderr
    assert not (folder / "run").exists()


def test_several_nodes_use_the_static_rendezvous_not_standalone() -> None:
    from domaintune.errors import ConfigError
    from domaintune.training.launch import Nodes, torchrun_arguments

    arguments = torchrun_arguments(2, Nodes(3, 2, "10.0.0.1", 29500))
    assert arguments == [
        "--nnodes=3", "--node_rank=2", "--nproc_per_node=2", "--master_addr=10.0.0.1", "--master_port=29500",
    ]
    assert torchrun_arguments(2, Nodes()) == ["--standalone", "--nproc_per_node=2"]
    with pytest.raises(ConfigError, match="--node-rank 3: must be between 0 and 2"):
        torchrun_arguments(1, Nodes(3, 3, "10.0.0.1", 29500))
    with pytest.raises(ConfigError, match="--master-port"):
        torchrun_arguments(1, Nodes(2, 0, "10.0.0.1", None))


def test_nproc_auto_takes_a_process_per_gpu_or_per_eight_cores_while_memory_holds_them() -> None:
    from domaintune.training.launch import choose_processes

    gib = 2**30
    two_cores = choose_processes(2, 20 * gib, gpus=0)
    assert two_cores.count == 1 and "2 CPU cores" in two_cores.reason and "20 GiB available" in two_cores.reason
    assert choose_processes(32, 64 * gib, gpus=0).count == 4
    assert choose_processes(32, 9 * gib, gpus=0).count == 2  # the memory holds two
    assert choose_processes(32, 1 * gib, gpus=0).count == 1
    assert choose_processes(32, None, gpus=0).count == 4
    assert choose_processes(16, 1 * gib, gpus=4).count == 4


def test_nproc_refuses_what_is_neither_a_count_nor_auto() -> None:
    from click.testing import CliRunner
    from domaintune.cli import cli

    for value in ("0", "two"):
        result = CliRunner().invoke(cli, ["--domain", "legal", "--nproc", value])
        assert result.exit_code == 2 and "give a number of processes (1 or more) or auto" in result.output


@pytest.mark.skipif(not hasattr(os, "sched_getaffinity") or (os.cpu_count() or 1) < 2, reason="needs CPU affinity and 2 cores")
def test_cores_are_those_this_process_may_run_on_not_the_machines() -> None:
    """`--nproc auto`, the threads per launched process and the data workers all count these:
    pinned to one core (as a container's CPU limit does), a launch must not start a thread
    per core of the machine."""
    code = "from domaintune.machine import usable_cores; print(usable_cores())"
    pinned = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True,
        preexec_fn=lambda: os.sched_setaffinity(0, {min(os.sched_getaffinity(0))}),
    )
    assert pinned.stdout.strip() == "1"
