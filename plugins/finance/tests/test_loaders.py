"""The finance readers on small inputs in the original release formats."""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import pytest
from domaintune.kit import ConfigError, DataError
from domaintune.testing import get_domain, heavy_imports, load_source, prepare_data
from domaintune_finance import loaders, plugin

FIXTURES = Path(__file__).parent / "fixtures"
SHARED = Path(os.environ.get("DOMAINTUNE_SHARED_DATA", Path(__file__).parents[4] / "shared" / "data"))
PHRASEBANK = FIXTURES / "Sentences_50Agree.txt"
FOMC_CSV = FIXTURES / "lab-manual-combine-test-5768.csv"


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").split("\n") if line.strip()]


# Financial PhraseBank ------------------------------------------------------------------------


def test_phrasebank_release_file_is_read_as_latin1_with_crlf() -> None:
    dataset = load_source(get_domain("finance-sentiment"), PHRASEBANK)
    assert dataset.column_names == ["prompt", "completion", "task"]
    assert dataset["completion"] == ["positive", "negative", "neutral", "negative", "neutral"]
    assert dataset[0]["prompt"] == (
        "Classify the sentiment of this financial news sentence from an investor's point of view. "
        "Answer with one word: positive, negative, or neutral.\n\nSentence: Operating profit rose to "
        "EUR 13.1 mn from EUR 8.7 mn in the corresponding period in 2007 .\nSentiment:"
    )
    assert "in Lännen ," in dataset[1]["prompt"]  # byte E4 in ISO-8859-1
    assert "Sentence: Orders can be sent to sales@example.fi or by fax .\n" in dataset[2]["prompt"]
    assert not any("\r" in prompt for prompt in dataset["prompt"])


def test_phrasebank_copy_resaved_as_utf8_reads_the_same(tmp_path: Path) -> None:
    copy = tmp_path / "Sentences_AllAgree.txt"
    copy.write_bytes(PHRASEBANK.read_bytes().decode("latin-1").replace("\r\n", "\n").encode("utf-8"))
    assert loaders.read_phrasebank(copy)["prompt"] == loaders.read_phrasebank(PHRASEBANK)["prompt"]


def test_phrasebank_errors_name_file_line_and_field(tmp_path: Path) -> None:
    path = tmp_path / "Sentences_75Agree.txt"
    path.write_bytes(b"Sales rose .@positive\r\nNo label here\r\nProfit fell .@bad\r\n@neutral\r\n")
    with pytest.raises(DataError) as info:
        loaders.read_phrasebank(path)
    message = str(info.value)
    assert "3 problem(s)" in message
    assert f"{path}:2: has no '@'" in message
    assert f"{path}:3: field 'label' is 'bad'" in message
    assert f"{path}:4: field 'sentence' is empty" in message


def test_phrasebank_folder_asks_for_one_file(tmp_path: Path) -> None:
    (tmp_path / "Sentences_66Agree.txt").write_bytes(PHRASEBANK.read_bytes())
    with pytest.raises(DataError, match="Sentences_66Agree.txt"):
        load_source(get_domain("finance-sentiment"), tmp_path)


def test_sentiment_domain_ships_no_data_and_asks_for_it() -> None:
    domain = get_domain("finance-sentiment")
    assert domain.train_data is None and domain.eval_data is None
    assert domain.labels == ("positive", "negative", "neutral")
    with pytest.raises(ConfigError, match="pass --data"):
        prepare_data(domain)


def test_sentiment_domain_prepares_a_run_from_the_release_file() -> None:
    domain = get_domain("finance-sentiment")
    train, held_out, info = prepare_data(domain, data=str(PHRASEBANK), eval_rows=2)
    assert (len(train), len(held_out)) == (3, 2)
    assert info["attribution"] == ""


# FOMC ----------------------------------------------------------------------------------------


def fomc_records() -> list[list[str]]:
    with FOMC_CSV.open(encoding="utf-8", newline="") as handle:
        return list(csv.reader(handle))


def test_fomc_csv_maps_label_codes_to_stances() -> None:
    dataset = load_source(get_domain("finance-fomc"), FOMC_CSV)
    assert dataset["completion"] == ["dovish", "hawkish", "neutral", "dovish"]
    assert dataset[3]["prompt"] == (
        "Classify the monetary policy stance of this sentence from a U.S. Federal Reserve (FOMC) "
        "document. Answer with one word: hawkish, dovish, or neutral.\n\nSentence: Several "
        'participants noted that, "on balance," risks to growth had shifted to the downside.\nStance:'
    )


def test_fomc_xlsx_and_jsonl_give_the_same_rows(tmp_path: Path) -> None:
    import openpyxl

    header, *body = fomc_records()
    xlsx = tmp_path / "lab-manual-combine-test-5768.xlsx"
    workbook = openpyxl.Workbook()
    workbook.active.append(header)
    for row in body:  # the workbook holds numbers, not text
        workbook.active.append([int(row[0]), row[1], int(row[2]), int(row[3])])
    workbook.save(xlsx)
    jsonl = tmp_path / "fomc.jsonl"
    jsonl.write_text("".join(json.dumps({"sentence": r[1], "label": int(r[3])}) + "\n" for r in body), encoding="utf-8")

    domain = get_domain("finance-fomc")
    want = load_source(domain, FOMC_CSV).to_list()
    assert load_source(domain, xlsx).to_list() == want
    assert load_source(domain, jsonl).to_list() == want


def test_fomc_errors_name_file_line_and_field(tmp_path: Path) -> None:
    path = tmp_path / "fomc.csv"
    path.write_text('index,sentence,year,label\n0,"Rates\nrose.",2001,1\n1,Rates fell.,2002,7\n2,,2003,0\n', encoding="utf-8")
    with pytest.raises(DataError) as info:
        loaders.read_fomc(path)
    message = str(info.value)
    assert f"{path}:4: field 'label' is '7'; expected 0 (dovish), 1 (hawkish) or 2 (neutral)" in message
    assert f"{path}:5: field 'sentence' is missing or empty" in message

    xlsx = tmp_path / "fomc.xlsx"
    import openpyxl

    workbook = openpyxl.Workbook()
    workbook.active.append(["index", "sentence", "year"])
    workbook.save(xlsx)
    with pytest.raises(DataError, match=r"header has no column\(s\) \['label'\]"):
        loaders.read_fomc(xlsx)


# TAT-QA --------------------------------------------------------------------------------------


def test_tatqa_jsonl_keeps_answer_type_and_scale() -> None:
    domain = get_domain("finance")
    dataset = load_source(domain, domain.eval_data)
    assert dataset.column_names == ["prompt", "completion", "task", "answer_type", "scale"]
    rows = read_jsonl(domain.eval_data)
    assert dataset["prompt"] == [row["prompt"] for row in rows]
    assert dataset["answer_type"] == [row["meta"]["answer_type"] for row in rows]
    assert dataset["scale"] == [row["meta"]["scale"] for row in rows]
    assert {"span", "arithmetic"} <= set(dataset["answer_type"]) <= {"span", "multi-span", "arithmetic", "count"}


def test_tatqa_bad_row_is_reported_as_the_core_does(tmp_path: Path) -> None:
    path = tmp_path / "tatqa.jsonl"
    good = {"prompt": "Q?", "completion": "1", "meta": {"answer_type": "count", "scale": ""}}
    path.write_text(json.dumps(good) + "\n" + json.dumps({**good, "completion": 3}) + "\n", encoding="utf-8")
    with pytest.raises(DataError, match=rf"{path}:2: field 'completion'"):
        load_source(get_domain("finance"), path)


TATQA_RELEASE = FIXTURES / "tatqa_dataset_test_gold.json"
"""The first three items of TAT-QA's dataset_raw/tatqa_dataset_test_gold.json, as released."""


def bundled_tatqa_rows() -> dict[str, dict]:
    domain = get_domain("finance")
    return {row["meta"]["id"]: row for path in (domain.train_data, domain.eval_data) for row in read_jsonl(path)}


def release_question_uids(path: Path) -> list[str]:
    return [question["uid"] for item in json.loads(path.read_text(encoding="utf-8")) for question in item["questions"]]


def as_jsonl_row(dataset, index: int) -> tuple[str, str, str, str]:  # noqa: ANN001
    row = dataset[index]
    return row["prompt"], row["completion"], row["answer_type"], row["scale"]


def jsonl_row(row: dict) -> tuple[str, str, str, str]:
    return row["prompt"], row["completion"], row["meta"]["answer_type"], row["meta"]["scale"]


def test_tatqa_release_file_gives_the_bundled_jsonl_rows() -> None:
    dataset = load_source(get_domain("finance"), TATQA_RELEASE)
    assert dataset.column_names == ["prompt", "completion", "task", "answer_type", "scale"]
    uids = release_question_uids(TATQA_RELEASE)
    assert len(dataset) == len(uids) == 18 and set(dataset["task"]) == {""}
    bundled = bundled_tatqa_rows()
    compared = {i: bundled[uid] for i, uid in enumerate(uids) if uid in bundled}
    # The bundled sample holds 6 of these questions, one or more of every answer type.
    assert {row["meta"]["answer_type"] for row in compared.values()} == {"span", "multi-span", "arithmetic", "count"}
    for i, row in compared.items():
        assert as_jsonl_row(dataset, i) == jsonl_row(row)
    # What the rendering comes to: a multi-span answer, a percent, a count, a number.
    completions = dict(zip(uids, dataset["completion"]))
    assert completions["7c510956809977a550837006a464fd91"] == "1,568.6; 690.5"
    assert completions["218914f020d11b337a73438eac532cd0"] == "-0.2%"
    assert completions["414b4ef29d5fb8114a86f0d8a33ddace"] == "6,577 million"
    assert completions["41cad27df8a55d8e3200e8238bf41641"] == "1"
    assert completions["91add58b02eb761d380b13df7a61401a"] == "995684.5"
    assert dataset[0]["prompt"].startswith(
        "Answer the question using the table and text from a company's financial report. Give only "
        "the final answer.\n\nTable:\nCurrent assets | As Reported | Adjustments | Balances without "
        "Adoption of Topic 606\nReceivables, less allowance for doubtful accounts | $831.7 | $8.7 | $840.4\n"
    )
    assert dataset[0]["prompt"].endswith(
        "(columnar dollars in millions except per share amounts)\n\nQuestion: What method did the "
        "company use when Topic 606 in fiscal 2019 was adopted?\nAnswer:"
    )


def test_tatqa_release_paragraphs_follow_their_order_and_cells_keep_their_spaces(tmp_path: Path) -> None:
    path = tmp_path / "tatqa_dataset_dev.json"
    item = {
        "table": {"uid": "t", "table": [["", "2019 ", "2018"], ["Sales\n(net)", "$  1,452.4", "7"]]},
        "paragraphs": [{"uid": "b", "order": 2, "text": "Second."}, {"uid": "a", "order": 1, "text": "First."}],
        "questions": [
            {"uid": "q", "order": 1, "question": "Which? ", "answer": ["A", "B"], "derivation": "",
             "answer_type": "multi-span", "answer_from": "text", "rel_paragraphs": ["1"],
             "req_comparison": False, "scale": "thousand"},
        ],
    }
    path.write_text(json.dumps([item]), encoding="utf-8")
    row = loaders.read_tatqa_release(path)[0]
    assert row["prompt"].split("\n\nTable:\n", 1)[1] == (
        " | 2019  | 2018\nSales\n(net) | $  1,452.4 | 7\n\nText:\nFirst.\nSecond.\n\nQuestion: Which? \nAnswer:"
    )
    assert (row["completion"], row["answer_type"], row["scale"]) == ("A; B thousand", "multi-span", "thousand")


def test_tatqa_release_errors_name_file_item_field_and_fix(tmp_path: Path) -> None:
    good = json.loads(TATQA_RELEASE.read_text(encoding="utf-8"))[2]
    broken = json.loads(json.dumps(good))
    broken["table"]["table"][3][1] = 161119
    broken["paragraphs"][1].pop("text")
    broken["questions"][0]["answer"] = None
    broken["questions"][1]["answer_type"] = "table"
    broken["questions"][2]["scale"] = "thousands"
    no_paragraphs = {key: value for key, value in good.items() if key != "paragraphs"}
    path = tmp_path / "tatqa_dataset_dev.json"
    path.write_text(json.dumps([good, broken, "not an item", no_paragraphs], indent=2), encoding="utf-8")
    with pytest.raises(DataError) as info:
        load_source(get_domain("finance"), path)
    message = str(info.value)
    at = f"{path}: item [1] (table uid b3d63fb06110ad7e91c9e765227c1d27)"
    assert message.startswith(f"7 problem(s) in {path}:")
    assert f"{at}: field 'table.table' row [3] cell [1] is a number (161119), expected a string; write it in quotes" in message
    assert f"{at}, paragraphs[1] (uid cf54c193cfcc67095600328f9111a031): field 'text' is missing" in message
    assert (
        f"{at}, questions[0] (uid d88745f6bcf2e7ab5335def3a0f0df44): field 'answer' is null; expected an "
        "array of strings (span, multi-span), a number (arithmetic) or a string (count)"
    ) in message
    assert f"{at}, questions[1] (uid 107efaa11617ac41f5f9b3b5adf1e98c): field 'answer_type' is 'table'; expected one of span, multi-span, arithmetic, count" in message
    assert f"{at}, questions[2] (uid 607dd25b10e5d14396ef2abda187330d): field 'scale' is 'thousands'; expected one of '', 'thousand'" in message
    assert f"{path}: item [2]: is a string, expected an object with fields table, paragraphs, questions" in message
    assert f"{path}: item [3] (table uid b3d63fb06110ad7e91c9e765227c1d27): field(s) 'paragraphs' missing" in message
    assert "item [0]" not in message


def test_tatqa_release_fields_that_must_be_arrays_are_named_with_what_they_hold(tmp_path: Path) -> None:
    good = json.loads(TATQA_RELEASE.read_text(encoding="utf-8"))[2]
    rows_not_array = {**good, "table": {**good["table"], "table": "Sales | 1,452"}}
    paragraphs_not_array = {**good, "paragraphs": None}
    questions_not_array = {**good, "questions": {"question": "Which?"}}
    path = tmp_path / "tatqa_dataset_dev.json"
    path.write_text(json.dumps([rows_not_array, paragraphs_not_array, questions_not_array]), encoding="utf-8")
    with pytest.raises(DataError) as info:
        loaders.read_tatqa_release(path)
    message = str(info.value)
    uid = f"(table uid {good['table']['uid']})"
    assert message.startswith(f"3 problem(s) in {path}:")
    assert (
        f"{path}: item [0] {uid}: field 'table.table' is a string; it must be an array of rows, each an array of "
        "cell strings." in message
    )
    assert (
        f"{path}: item [1] {uid}: field 'paragraphs' is null; it must be an array of "
        '{"uid", "order", "text"} objects (an empty array if the table has no text).' in message
    )
    assert f"{path}: item [2] {uid}: field 'questions' is an object; it must be an array of question objects." in message


def test_tatqa_release_file_level_errors(tmp_path: Path) -> None:
    domain = get_domain("finance")
    truncated = tmp_path / "tatqa_dataset_train.json"
    truncated.write_text(TATQA_RELEASE.read_text(encoding="utf-8")[:5000], encoding="utf-8")
    with pytest.raises(DataError, match=rf"{truncated}:\d+: invalid JSON at column \d+"):
        load_source(domain, truncated)

    unlabelled = tmp_path / "tatqa_dataset_test.json"
    items = json.loads(TATQA_RELEASE.read_text(encoding="utf-8"))
    for item in items:
        item["questions"] = [{key: q[key] for key in ("uid", "order", "question")} for q in item["questions"]]
    unlabelled.write_text(json.dumps(items), encoding="utf-8")
    with pytest.raises(DataError, match="no answers: it is TAT-QA's unlabelled test set.*tatqa_dataset_test_gold.json"):
        load_source(domain, unlabelled)

    with pytest.raises(DataError, match="drop --map and --shape"):
        loaders.read_tatqa_release(TATQA_RELEASE, {"prompt": "question"})


def test_tatqa_release_is_checked_by_tune_data_check(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # `tune data check` reading the pack's format: a test of the core's checker itself.
    from domaintune.config import build_config
    from domaintune.data import check as datacheck

    monkeypatch.setattr(datacheck, "_tokenizer", lambda model, report: None)  # token lengths are not the point
    domain = get_domain("finance")
    config = build_config({"domain": domain.name}, dict(domain.defaults), {"eval_rows": 3})
    report = datacheck.check_data(config, domain, str(TATQA_RELEASE), None)
    source = report.sources[0]
    assert (source.rows, source.problems, source.format) == (18, [], "read by a plugin")
    assert report.usable

    bad = tmp_path / "tatqa_dataset_dev.json"
    answered = {"question": "Q?", "answer": "2", "answer_type": "count", "scale": ""}
    bad.write_text(json.dumps([{"table": {"uid": "t", "table": [["a"]]}, "paragraphs": [], "questions": [
        answered, {key: value for key, value in answered.items() if key != "answer"}]}]), encoding="utf-8")
    source = datacheck.check_data(config, domain, str(bad), None).sources[0]
    assert source.problem_count == 1 and f"{bad}: item [0] (table uid t), questions[1]: field 'answer' is missing" in source.problems[0]


# Hook contract -------------------------------------------------------------------------------


def test_load_data_leaves_other_domains_and_formats_alone(tmp_path: Path) -> None:
    def load(domain_name: str, source: Path) -> object:
        return plugin.load_data(domain=get_domain(domain_name), source=str(source), column_map={}, shape="auto")

    prompt_completion = tmp_path / "rows.jsonl"
    prompt_completion.write_text(json.dumps({"prompt": "Q", "completion": "neutral"}) + "\n", encoding="utf-8")
    other_csv = tmp_path / "rows.csv"
    other_csv.write_text("text,label\nRates rose.,hawkish\n", encoding="utf-8")
    saved = tmp_path / "saved"  # e.g. a folder saved with datasets: the core reads those
    saved.mkdir()
    for name in ("legal", "healthcare", "finance", "finance-fomc"):
        assert load(name, PHRASEBANK) is None
    for name in ("legal", "finance", "finance-sentiment"):
        assert load(name, FOMC_CSV) is None
    for name in ("finance", "finance-sentiment", "finance-fomc"):
        assert load(name, prompt_completion) is None
    assert load("finance-fomc", other_csv) is None
    other_json = tmp_path / "rows.json"  # a JSON array of rows, not a TAT-QA release
    other_json.write_text(json.dumps([{"prompt": "Q", "completion": "A", "table": "t", "questions": []}]), encoding="utf-8")
    assert load("finance", other_json) is None
    for name in ("legal", "finance-sentiment", "finance-fomc"):
        assert load(name, TATQA_RELEASE) is None
    assert load("finance-sentiment", saved) is None
    assert load("legal", get_domain("finance").eval_data) is None


def test_plugin_import_stays_light() -> None:
    heavy = {"torch", "transformers", "datasets", "openpyxl", "sklearn", "stdnum"}
    assert heavy_imports("domaintune_finance.plugin", heavy) == []


# The whole shared sets, where this checkout has them -----------------------------------------


@pytest.mark.skipif(not (SHARED / "finance").is_dir(), reason="shared data not present")
def test_shared_phrasebank_rows_come_back_from_the_release_format(tmp_path: Path) -> None:
    rows = read_jsonl(SHARED / "finance" / "financial_phrasebank.train.jsonl")
    path = tmp_path / "Sentences_50Agree.txt"
    lines = [f"{row['meta']['sentence']}@{row['completion']}" for row in rows]
    path.write_bytes("\r\n".join(lines).encode("latin-1"))
    dataset = loaders.read_phrasebank(path)
    assert list(zip(dataset["prompt"], dataset["completion"])) == [(r["prompt"], r["completion"]) for r in rows]


@pytest.mark.skipif(not (SHARED / "finance").is_dir(), reason="shared data not present")
def test_shared_fomc_rows_come_back_from_the_release_format(tmp_path: Path) -> None:
    rows = read_jsonl(SHARED / "finance" / "fomc_hawkish_dovish.train.jsonl")
    path = tmp_path / "lab-manual-combine-train-5768.csv"
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["index", "sentence", "year", "label"])
        for i, row in enumerate(rows):
            sentence = row["prompt"].split("\n\nSentence: ", 1)[1].removesuffix("\nStance:")
            writer.writerow([i, sentence, row["meta"]["year"], row["meta"]["orig_label"]])
    dataset = loaders.read_fomc(path)
    assert list(zip(dataset["prompt"], dataset["completion"])) == [(r["prompt"], r["completion"]) for r in rows]


@pytest.mark.skipif(not (SHARED / "finance").is_dir(), reason="shared data not present")
def test_shared_tatqa_rows_of_the_release_fixture() -> None:
    rows = {row["meta"]["id"]: row for row in read_jsonl(SHARED / "finance" / "tatqa.train.jsonl")}
    dataset = load_source(get_domain("finance"), TATQA_RELEASE)
    uids = release_question_uids(TATQA_RELEASE)
    assert [as_jsonl_row(dataset, i) for i in range(len(dataset))] == [jsonl_row(rows[uid]) for uid in uids]


@pytest.mark.skipif(not (SHARED / "finance").is_dir(), reason="shared data not present")
def test_shared_tatqa_rows_come_back_from_the_release_format(tmp_path: Path) -> None:
    """Every shared row, as an item of the release format: the table kept as one cell and the
    text as one paragraph (the meta has neither), the answer, type and scale from the meta."""
    rows = read_jsonl(SHARED / "finance" / "tatqa.train.jsonl")
    items: dict[str, dict] = {}
    for row in rows:
        context, question = row["prompt"].removesuffix("\nAnswer:").rsplit("\n\nQuestion: ", 1)
        table, text = context.split("\n\nTable:\n", 1)[1].split("\n\nText:\n", 1)
        item = items.setdefault(row["meta"]["table_uid"], {
            "table": {"uid": row["meta"]["table_uid"], "table": [[table]]},
            "paragraphs": [{"uid": "p", "order": 1, "text": text}],
            "questions": [],
        })
        meta = row["meta"]
        item["questions"].append({
            "uid": meta["id"], "order": len(item["questions"]) + 1, "question": question,
            "answer": meta["answer"], "derivation": meta["derivation"], "answer_type": meta["answer_type"],
            "answer_from": meta["answer_from"], "rel_paragraphs": [], "req_comparison": False, "scale": meta["scale"],
        })
    path = tmp_path / "tatqa_dataset_dev.json"
    path.write_text(json.dumps(list(items.values()), indent=2, ensure_ascii=False), encoding="utf-8")
    dataset = loaders.read_tatqa_release(path)
    assert [as_jsonl_row(dataset, i) for i in range(len(dataset))] == [jsonl_row(row) for row in rows]
