"""The run folder: unique default names, one job at a time (a lock naming its pid), stale locks
taken over, unusable folders refused before any work (#15)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from domaintune import Domain
from domaintune.cli import cli
from domaintune.config import build_config
from domaintune.errors import ConfigError
from domaintune.rundir import LOCK_FILE, check_output_dir, open_run_dir
from domaintune.settings import default_run_dir, resolve_settings


def squash(text: str) -> str:
    return "".join(text.split())


def config_for(run_dir: Path, **values: object):  # noqa: ANN201
    return build_config({"domain": "testdomain", "output_dir": str(run_dir), **values})


def test_two_jobs_started_in_the_same_second_get_two_folders(monkeypatch: pytest.MonkeyPatch) -> None:
    names = []
    for pid in (4101, 4102):
        monkeypatch.setattr(os, "getpid", lambda pid=pid: pid)
        names.append(default_run_dir("legal"))
    assert names[0] != names[1]
    assert all(name.parent == Path("runs") and name.name.startswith("legal-") for name in names)


def test_the_resolved_config_names_its_folder(test_domain: Domain, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """config.yaml records the folder, so that running the command again on it resumes."""
    monkeypatch.chdir(tmp_path)
    settings = resolve_settings({"domain": "testdomain"})
    chosen = Path(settings.config.output_dir or "")
    assert chosen.parent == Path("runs") and chosen.name.startswith("testdomain-")
    assert chosen.name.endswith(f"-{os.getpid()}")
    assert not (tmp_path / "runs").exists()  # named, not created: nothing is written yet


def test_a_second_job_on_a_held_folder_is_refused_naming_the_holder(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    config = config_for(run_dir)
    with open_run_dir(config, resume=False) as folder:
        assert folder.state == "new" and (run_dir / LOCK_FILE).is_file()
        with pytest.raises(ConfigError) as refused:
            with open_run_dir(config, resume=False):
                pass
        assert f"in use by another job (pid {os.getpid()}" in str(refused.value)
        assert (run_dir / LOCK_FILE).is_file()  # the refused job left the holder's lock alone
    assert not run_dir.exists()  # released; the empty folder it created is gone


def test_a_stale_lock_is_taken_over_with_a_message(tmp_path: Path) -> None:
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(gone.stdout)
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    import socket

    (run_dir / LOCK_FILE).write_text(f"{dead_pid} {socket.gethostname()}\n", encoding="utf-8")
    with open_run_dir(config_for(run_dir), resume=False) as folder:
        assert folder.state == "new"
        assert any(f"job {dead_pid}, which is gone" in notice for notice in folder.notices)
        assert (run_dir / LOCK_FILE).read_text(encoding="utf-8").split()[0] == str(os.getpid())
    assert not (run_dir / LOCK_FILE).exists()


def test_an_interrupted_run_with_other_settings_is_refused(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "config.yaml").write_text(yaml.safe_dump(config_for(run_dir, seed=1).to_dict()), encoding="utf-8")
    with pytest.raises(ConfigError, match="seed: 1 -> 0"):
        with open_run_dir(config_for(run_dir), resume=False):
            pass
    with open_run_dir(config_for(run_dir, seed=1), resume=False) as folder:
        assert folder.state == "resume"


@pytest.mark.parametrize("where", ["file", "under a file"])
def test_an_output_dir_that_cannot_be_a_folder_is_refused_before_any_work(
    tmp_path: Path, test_domain: Domain, where: str
) -> None:
    blocker = tmp_path / "taken"
    blocker.write_text("not a folder", encoding="utf-8")
    output_dir = blocker if where == "file" else blocker / "run"
    with pytest.raises(ConfigError, match="is a file"):
        check_output_dir(output_dir)
    # The CLI stops at the settings: before the data is read or a model is looked for.
    result = CliRunner().invoke(
        cli, ["--domain", "testdomain", "--model", str(tmp_path / "no-model"), "--output-dir", str(output_dir)]
    )
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    assert squash("is a file") in squash(result.stderr)
    assert blocker.read_text(encoding="utf-8") == "not a folder"


def test_a_missing_model_folder_says_so_and_writes_nothing(tmp_path: Path, test_domain: Domain) -> None:
    run_dir = tmp_path / "run"
    result = CliRunner().invoke(
        cli, ["--domain", "testdomain", "--model", "./models/not-here", "--output-dir", str(run_dir)]
    )
    assert result.exit_code == 1, result.output
    assert squash("model: './models/not-here': no such folder") in squash(result.stderr)
    assert "Repo id" not in result.output
    assert not run_dir.exists()
