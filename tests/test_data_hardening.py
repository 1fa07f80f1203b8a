"""Hardening of the data stage (issue #15): the private data cache, label white space, NUL
bytes, paths that are no regular file, and an eval file that overlaps the training data."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from domaintune import Domain
from domaintune.config import build_config
from domaintune.data.cache import KEEP_ENV, clear_data_cache, data_cache_dir, kept_cache_dir
from domaintune.data.loading import read_data
from domaintune.data.prepare import prepare_data
from domaintune.data.source_files import require_file
from domaintune.errors import DataError

SSN = "078-05-1120"
PHI_ROWS = [
    {"prompt": f"Patient SSN {SSN}, seen for chest pain. Admit?", "completion": "yes"},
    {"prompt": "Patient seen for a cold. Admit?", "completion": "no"},
]


def write_jsonl(path: Path, rows: list[dict[str, str]]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def files_holding(root: Path, needle: bytes) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and needle in p.read_bytes()]


@pytest.fixture
def private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A cache root of this test's own; the kept cache (when asked for) lives under it."""
    root = tmp_path / "cache-root"
    monkeypatch.setenv("DOMAINTUNE_CACHE", str(root))
    monkeypatch.delenv(KEEP_ENV, raising=False)
    yield root


# 1. The data cache -----------------------------------------------------------------------


def test_data_check_leaves_no_raw_rows_behind(tmp_path: Path) -> None:
    """`tune data check` on a PHI file: once the command ends, no file anywhere under the
    cache root or the temporary folder holds the raw SSN."""
    data = write_jsonl(tmp_path / "phi.jsonl", PHI_ROWS * 3)
    cache_root, temp = tmp_path / "cache-root", tmp_path / "tmp"
    temp.mkdir()
    env = {**os.environ, "DOMAINTUNE_CACHE": str(cache_root), "TMPDIR": str(temp), "HF_HUB_OFFLINE": "1"}
    env.pop(KEEP_ENV, None)
    tune = Path(sys.executable).with_name("tune")
    # A model that does not exist: the check reports it and reads the data all the same.
    result = subprocess.run(
        [str(tune), "data", "check", str(data), "--model", str(tmp_path / "no-model"), "--json"],
        env=env, capture_output=True, text=True, timeout=300,
    )
    report = json.loads(result.stdout)
    assert report["sources"][0]["rows"] == 6  # the file was read
    assert not cache_root.exists() or files_holding(cache_root, SSN.encode()) == []
    assert files_holding(temp, SSN.encode()) == []


def test_a_folder_of_data_files_leaves_no_raw_rows_in_the_datasets_cache(tmp_path: Path) -> None:
    """datasets.load_dataset on a local folder writes an Arrow copy of its rows: that copy goes
    to the private data cache, not to the shared datasets cache."""
    folder = tmp_path / "phi-folder"
    folder.mkdir()
    write_jsonl(folder / "train.jsonl", PHI_ROWS)
    hf_cache, temp = tmp_path / "hf-cache", tmp_path / "tmp"
    temp.mkdir()
    env = {**os.environ, "HF_DATASETS_CACHE": str(hf_cache), "TMPDIR": str(temp), "HF_HUB_OFFLINE": "1",
           "DOMAINTUNE_CACHE": str(tmp_path / "cache-root")}
    env.pop(KEEP_ENV, None)
    code = f"from domaintune.data.loading import read_data; print(len(read_data({str(folder)!r})))"
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert result.stdout.strip() == "2", result.stderr
    for root in (hf_cache, temp, tmp_path / "cache-root"):
        assert not root.exists() or files_holding(root, SSN.encode()) == [], root


def test_the_default_cache_is_a_private_folder_of_this_process(private_cache: Path) -> None:
    folder = data_cache_dir()
    assert private_cache not in folder.parents
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert str(os.getpid()) in folder.name
    dataset = read_data(write_jsonl(private_cache.parent / "rows.jsonl", PHI_ROWS))
    cached = Path(dataset.cache_files[0]["filename"])
    assert cached.parent == folder and stat.S_IMODE(cached.stat().st_mode) == 0o600


def test_a_kept_cache_is_private_and_clear_data_cache_empties_it(
    private_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(KEEP_ENV, "1")
    old = private_cache / "data"
    old.mkdir(parents=True, mode=0o755)
    old.chmod(0o755)  # as an older version left it
    dataset = read_data(write_jsonl(private_cache.parent / "rows.jsonl", PHI_ROWS))
    folder = kept_cache_dir()
    assert folder == old and stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert Path(dataset.cache_files[0]["filename"]).parent == folder
    entries = sorted(p for p in folder.iterdir() if p.is_file())
    assert {p.suffix for p in entries} == {".arrow", ".json"}
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in entries)
    size = sum(p.stat().st_size for p in entries)
    cleared = clear_data_cache()
    assert (cleared.files, cleared.bytes) == (len(entries), size)
    assert not folder.exists() and files_holding(private_cache, SSN.encode()) == []


def test_clear_data_cache_removes_the_folder_of_a_killed_process(
    tmp_path: Path, private_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    stale = tmp_path / f"domaintune-data-{gone.pid}-abc123"
    stale.mkdir()
    (stale / "rows.arrow").write_bytes(SSN.encode())
    alive = tmp_path / f"domaintune-data-{os.getpid()}-def456"
    alive.mkdir()
    # Named after a process that is gone, but its lock is held: another PID namespace's.
    locked = tmp_path / f"domaintune-data-{gone.pid}-ghi789"
    locked.mkdir()
    (locked / "rows.arrow").write_bytes(SSN.encode())
    holder = subprocess.Popen(
        [sys.executable, "-c", "import fcntl, sys, time; f = open(sys.argv[1], 'w'); "
         "fcntl.flock(f, fcntl.LOCK_EX); print('locked', flush=True); time.sleep(60)", str(locked / ".lock")],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        cleared = clear_data_cache()
        assert (cleared.files, cleared.bytes) == (1, len(SSN))
        assert not stale.exists() and alive.exists() and locked.exists()
    finally:
        holder.kill()
        holder.wait()
    assert clear_data_cache().files == 2  # the lock file and the rows, once nobody holds it
    assert not locked.exists()


def test_a_source_read_twice_in_one_process_is_parsed_once(private_cache: Path) -> None:
    """What the cache is for within a process: the same Arrow file serves the second read."""
    path = write_jsonl(private_cache.parent / "rows.jsonl", PHI_ROWS)
    assert read_data(path).cache_files == read_data(path).cache_files


# 2. White space in labels ----------------------------------------------------------------


def test_label_white_space_is_normalised_once_and_counted(tmp_path: Path, test_domain: Domain) -> None:
    rows = [{"prompt": f"Does sentence {i} mention an animal?", "completion": "yes" if i % 2 else "no"} for i in range(20)]
    rows[0]["completion"], rows[1]["completion"], rows[2]["completion"] = "no ", " yes", "no\t"
    eval_rows = [{"prompt": "Is a cow an animal here?", "completion": "yes\n"}, {"prompt": "A chair?", "completion": "no"}]
    config = build_config(
        {"domain": test_domain.name, "data": str(write_jsonl(tmp_path / "train.jsonl", rows)),
         "eval_data": str(write_jsonl(tmp_path / "eval.jsonl", eval_rows))}
    )
    train, eval_set, info = prepare_data(test_domain, config)
    assert set(train["completion"]) == {"yes", "no"}
    assert sorted(eval_set["completion"]) == ["no", "yes"]
    assert info["labels_normalised"] == 4


def test_chat_labels_are_normalised_in_the_messages_too(tmp_path: Path, test_domain: Domain) -> None:
    rows = [
        {"messages": [{"role": "user", "content": f"Sentence {i}: animal?"}, {"role": "assistant", "content": label}]}
        for i, label in enumerate(["yes ", "no", " no", "yes"] * 5)
    ]
    config = build_config(
        {"domain": test_domain.name, "data": str(write_jsonl(tmp_path / "chat.jsonl", rows)), "eval_rows": 4}
    )
    train, eval_set, info = prepare_data(test_domain, config)
    for dataset in (train, eval_set):
        assert set(dataset["completion"]) == {"yes", "no"}
        assert {conversation[-1]["content"] for conversation in dataset["messages"]} == {"yes", "no"}
    assert info["labels_normalised"] == 10


# 3. NUL bytes ----------------------------------------------------------------------------


def test_a_nul_byte_in_jsonl_names_its_line_and_offset(tmp_path: Path) -> None:
    path = tmp_path / "rows.jsonl"
    first = json.dumps(PHI_ROWS[1]).encode() + b"\n"
    path.write_bytes(first + b'{"prompt": "A\x00B", "completion": "no"}\n' + first)
    with pytest.raises(DataError) as info:
        read_data(path)
    message = str(info.value)
    assert f"{path}:2: byte 14 of the line (offset {len(first) + 13} in the file) is a NUL byte" in message
    assert "tr -d '\\000'" in message and "binary" not in message


def test_a_nul_byte_in_csv_and_json_arrays_names_its_line(tmp_path: Path) -> None:
    csv_path = tmp_path / "rows.csv"
    csv_path.write_bytes(b"prompt,completion\nfirst,yes\nsec\x00ond,no\n")
    with pytest.raises(DataError, match=rf"{csv_path}:3: byte 4 of the line \(offset 31 in the file\) is a NUL byte"):
        read_data(csv_path)
    array = tmp_path / "rows.json"
    array.write_bytes(b'[\n{"prompt": "a", "completion": "yes"},\n{"prompt": "b\x00", "completion": "no"}\n]\n')
    with pytest.raises(DataError, match=rf"{array}:3: byte 14 of the line \(offset 53 in the file\) is a NUL byte"):
        read_data(array)


def test_a_nul_byte_in_a_packs_release_file_names_its_line(tmp_path: Path) -> None:
    from domaintune.data.source_files import read_utf8

    path = tmp_path / "release.json"
    path.write_bytes(b'{\n  "rows": [\n    "a\x00b"\n  ]\n}\n')
    with pytest.raises(DataError, match=rf"{path}:3: byte 7 of the line \(offset 20 in the file\) is a NUL byte"):
        read_utf8(path)


def test_a_binary_file_and_utf16_without_a_mark_are_still_named_so(tmp_path: Path) -> None:
    binary = tmp_path / "weights.jsonl"
    binary.write_bytes(bytes(range(256)) * 8)
    with pytest.raises(DataError, match="looks like a binary file"):
        read_data(binary)
    utf16 = tmp_path / "rows.jsonl"
    utf16.write_bytes(json.dumps(PHI_ROWS[1]).encode("utf-16-le"))
    with pytest.raises(DataError, match=r"looks like UTF-16 text; re-save it as UTF-8"):
        read_data(utf16)


# 4. Paths that are no regular file -------------------------------------------------------


def test_a_symlink_loop_a_fifo_and_a_device_each_say_what_they_are(tmp_path: Path) -> None:
    loop = tmp_path / "loop.jsonl"
    loop.symlink_to(loop)
    fifo = tmp_path / "rows.jsonl"
    os.mkfifo(fifo)
    dangling = tmp_path / "gone.jsonl"
    dangling.symlink_to(tmp_path / "moved.jsonl")
    cases = {
        loop: "is a symbolic link loop",
        fifo: "is a named pipe (FIFO), not a regular file",
        Path("/dev/zero"): "is a character device, not a regular file",
        dangling: f"is a symbolic link to {tmp_path / 'moved.jsonl'}, which does not exist",
    }
    for path, expected in cases.items():
        for read in (read_data, require_file):
            with pytest.raises(DataError) as info:
                read(path)
            assert expected in str(info.value), (path, read)
            assert "the file does not exist" not in str(info.value)
            assert f"{path} does not exist" not in str(info.value)
    with pytest.raises(DataError, match="does not exist"):
        read_data(tmp_path / "missing.jsonl")


# 5. An eval file that overlaps the training data -----------------------------------------


def animal_rows(start: int, stop: int) -> list[dict[str, str]]:
    return [{"prompt": f"Does sentence {i} mention a dog?", "completion": "yes" if i % 2 else "no"} for i in range(start, stop)]


def test_eval_data_equal_to_the_training_data_is_refused(tmp_path: Path, test_domain: Domain) -> None:
    path = write_jsonl(tmp_path / "train.jsonl", animal_rows(0, 20))
    config = build_config({"domain": test_domain.name, "data": str(path), "eval_data": str(path)})
    with pytest.raises(DataError) as info:
        prepare_data(test_domain, config)
    message = str(info.value)
    assert f"all 20 rows of the eval data {path} are in the training data {path}" in message
    assert "leave out --eval-data" in message


def test_eval_rows_inside_the_training_data_are_refused(tmp_path: Path, test_domain: Domain) -> None:
    train = write_jsonl(tmp_path / "train.jsonl", animal_rows(0, 20))
    subset = animal_rows(5, 10)
    subset[0]["prompt"] = subset[0]["prompt"].upper() + "  "  # case and spaces do not make it new
    eval_path = write_jsonl(tmp_path / "eval.jsonl", subset)
    config = build_config({"domain": test_domain.name, "data": str(train), "eval_data": str(eval_path)})
    with pytest.raises(DataError, match="all 5 rows of the eval data"):
        prepare_data(test_domain, config)


def test_overlapping_training_rows_are_dropped_and_counted(tmp_path: Path, test_domain: Domain) -> None:
    train = write_jsonl(tmp_path / "train.jsonl", animal_rows(0, 20))
    eval_path = write_jsonl(tmp_path / "eval.jsonl", animal_rows(16, 26))  # 4 shared, 6 new
    config = build_config({"domain": test_domain.name, "data": str(train), "eval_data": str(eval_path)})
    train_set, eval_set, info = prepare_data(test_domain, config)
    assert info["eval_overlap_dropped"] == 4
    assert len(train_set) == 16 and len(eval_set) == 10
    assert not set(train_set["prompt"]) & set(eval_set["prompt"])
