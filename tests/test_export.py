"""`tune export` on a real tiny finished run: merged and GGUF (f16, q8_0) round trips, the
Ollama Modelfile, parity figures recomputed here, and broken exports failing parity."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml
from click.testing import CliRunner
from domaintune import Domain, hookimpl, plugins
from domaintune.cli import cli
from domaintune.cli.export import PARITY_FAILED_EXIT_CODE
from domaintune.deploy.export import export_run
from domaintune.deploy.export.gguf import write_gguf
from domaintune.deploy.export.parity import Parity, _compare_labels, _judge, check_parity, held_out_prompts, write_parity
from domaintune.deploy.runmodel import load_run_model
from domaintune.errors import ConfigError, ExportError, ParityError
from domaintune.progress import SilentReporter
from domaintune.testing import TINY_RUN, build_tiny_model

DOMAIN = "exporttest"
SYSTEM_PROMPT = "You answer yes or no."
ANIMALS = ["dog", "cat", "horse", "sheep", "fox", "owl", "duck", "goat", "deer", "wolf", "frog", "bee"]
THINGS = ["train", "lamp", "bridge", "clock", "bread", "phone", "road", "letter", "table", "chair", "coin", "book"]
END_OF_TURN = "<|im_end|>"  # the tiny model's ChatML template ends turns with it


class ExportTestPlugin:
    def __init__(self, data: Path) -> None:
        self.data = data

    @hookimpl
    def register_domains(self, register):  # noqa: ANN001, ANN201
        register(Domain(
            name=DOMAIN, description="Is it an animal?", task_type="classification",
            system_prompt=SYSTEM_PROMPT, train_data=self.data, labels=("yes", "no"), max_new_tokens=4,
        ))


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A real finished LoRA run (run_job) on a tiny model, trained long enough to answer
    yes/no and stop; its plugin stays registered for the module's tests."""
    from domaintune.config import build_config
    from domaintune.run import run_job

    folder = tmp_path_factory.mktemp("export")
    rows = [{"prompt": f"Is the {w} an animal?", "completion": "yes"} for w in ANIMALS]
    rows += [{"prompt": f"Is the {w} an animal?", "completion": "no"} for w in THINGS]
    rows = [row for pair in zip(rows[:12], rows[12:]) for row in pair]
    data = folder / "train.jsonl"
    data.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    model = build_tiny_model(folder / "tiny", [r["prompt"] for r in rows] + [SYSTEM_PROMPT, "system user assistant yes no"])
    plugins.load_plugins()
    plugin = ExportTestPlugin(data)
    plugins.pm.register(plugin, name="exporttest-plugin")
    try:
        settings = dict(TINY_RUN, max_train_rows=None, eval_rows=8, epochs=8.0, max_length=64)
        run_job(build_config(settings, {"domain": DOMAIN, "model": model, "output_dir": str(folder / "run")}))
        yield folder / "run"
    finally:
        plugins.pm.unregister(plugin)


@pytest.fixture(scope="module")
def reference(run_dir: Path) -> Any:
    return load_run_model(run_dir, merged=True)


def greedy(model: Any, tokenizer: Any, prompt: str, eos: int | None = None) -> list[int]:
    ids = tokenizer(prompt, add_special_tokens=False, return_tensors="pt").input_ids
    options = {"eos_token_id": eos} if eos is not None else {}
    with torch.inference_mode():
        output = model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=8, do_sample=False,
                                pad_token_id=tokenizer.pad_token_id, **options)
    return output[0, ids.shape[1]:].tolist()


def recomputed_agreement(reference: Any, model: Any, tokenizer: Any, run_dir: Path) -> float:
    """The share of held-out prompts the export answers as the tuned model, computed here."""
    eot = reference.tokenizer.convert_tokens_to_ids(END_OF_TURN)
    prompts = held_out_prompts(run_dir)
    same = [greedy(reference.model, reference.tokenizer, p, eot) == greedy(model, tokenizer, p) for p in prompts]
    return sum(same) / len(prompts)


def test_merged_export_loads_with_the_tuned_weights_and_stops_on_end_of_turn(run_dir: Path, reference: Any, tmp_path: Path) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer, GenerationConfig

    outcome = export_run(run_dir, "merged", tmp_path / "merged")
    folder = outcome.folder
    model = AutoModelForCausalLM.from_pretrained(folder)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    # The adapter is merged: the weights are the tuned model's, and no adapter file is left.
    tuned = reference.model.state_dict()
    assert all(torch.equal(tensor, tuned[name]) for name, tensor in model.state_dict().items())
    assert not (folder / "adapter_config.json").exists()
    assert tokenizer.chat_template == reference.tokenizer.chat_template
    eot = tokenizer.convert_tokens_to_ids(END_OF_TURN)
    assert GenerationConfig.from_pretrained(folder).eos_token_id == eot
    card = (folder / "README.md").read_text(encoding="utf-8")
    adapter_card = (run_dir / "adapter" / "README.md").read_text(encoding="utf-8")
    assert card.startswith(adapter_card.rstrip()) and "parity.json" in card

    parity = json.loads((folder / "parity.json").read_text(encoding="utf-8"))
    assert parity == outcome.parity.as_dict()
    assert parity["rows"] == len(held_out_prompts(run_dir))
    assert parity["agreement"] == recomputed_agreement(reference, model, tokenizer, run_dir)
    assert parity["passed"] and parity["ends_with_end_of_turn"] == 1.0 and parity["label_agreement"] == 1.0


@pytest.mark.parametrize("quant", ["f16", "q8_0"])
def test_gguf_export_round_trip(run_dir: Path, reference: Any, tmp_path: Path, quant: str) -> None:
    from gguf import GGUFReader
    from transformers import AutoModelForCausalLM, AutoTokenizer

    outcome = export_run(run_dir, "gguf", tmp_path, quant)
    (gguf_file,) = outcome.files
    reader = GGUFReader(gguf_file)
    fields = {name: field.contents() for name, field in reader.fields.items() if not name.startswith("tokenizer.ggml.")}
    config = reference.model.config
    assert fields["general.architecture"] == "llama"
    assert fields["llama.block_count"] == config.num_hidden_layers
    assert fields["llama.attention.head_count_kv"] == config.num_key_value_heads
    assert fields["tokenizer.chat_template"] == reference.tokenizer.chat_template
    eot = reference.tokenizer.convert_tokens_to_ids(END_OF_TURN)
    assert reader.fields["tokenizer.ggml.eos_token_id"].contents() == eot
    assert reader.fields["tokenizer.ggml.model"].contents() == "gpt2"
    types = {tensor.name: tensor.tensor_type.name for tensor in reader.tensors}
    assert types["blk.0.attn_norm.weight"] == "F32"
    assert types["blk.0.attn_q.weight"] == quant.upper()

    model = AutoModelForCausalLM.from_pretrained(tmp_path, gguf_file=gguf_file.name)
    tokenizer = AutoTokenizer.from_pretrained(tmp_path, gguf_file=gguf_file.name)
    # The loader un-permutes q/k: every tensor comes back where it was, within the rounding.
    for name, tensor in model.state_dict().items():
        original = reference.model.state_dict()[name]
        bound = 1e-3 * original.abs().max() if quant == "f16" else original.abs().max() / 100
        assert (tensor - original).abs().max() <= bound, name
    prompts = held_out_prompts(run_dir)
    assert tokenizer(prompts, add_special_tokens=False).input_ids == reference.tokenizer(prompts, add_special_tokens=False).input_ids

    parity = outcome.parity
    assert parity.passed and parity.ends_with_end_of_turn == 1.0
    assert parity.agreement == recomputed_agreement(reference, model, tokenizer, run_dir)
    eot_ids = tokenizer(prompts[0], add_special_tokens=False, return_tensors="pt").input_ids
    with torch.inference_mode():
        first = (reference.model(eot_ids).logits[0, -1] - model(eot_ids).logits[0, -1]).abs().max()
    # The check scored its rows batched; alone, a row's logits round differently in fp32's last
    # bits (8e-8 apart on a 1e-4 difference here), so the bound allows fp32 rounding of a logit.
    assert 0 < parity.max_logit_difference and first <= parity.max_logit_difference + 1e-6
    if quant == "f16":
        assert parity.agreement >= 0.99 and parity.label_agreement == 1.0


def chat_template_of_modelfile(text: str) -> dict[str, tuple[str, str]]:
    """role -> (text before, text after) the content, from the Modelfile's Go TEMPLATE."""
    template = re.search(r'TEMPLATE """(.*?)"""', text, re.S).group(1)
    branches = re.findall(r'{{ (?:else )?if eq \.Role "(\w+)" }}(.*?){{ \.Content }}(.*?)(?={{)', template, re.S)
    return {role: (before, after) for role, before, after in branches}


def test_ollama_export_writes_a_modelfile_matching_the_chat_template(run_dir: Path, reference: Any, tmp_path: Path) -> None:
    outcome = export_run(run_dir, "ollama", tmp_path, "q8_0")
    gguf_file, modelfile = outcome.files
    text = modelfile.read_text(encoding="utf-8")
    assert re.search(r"^FROM \./(\S+)$", text, re.M).group(1) == gguf_file.name and gguf_file.is_file()
    assert re.search(r'^SYSTEM """(.*?)"""$', text, re.M | re.S).group(1) == SYSTEM_PROMPT
    assert set(re.findall(r'^PARAMETER stop "(.*)"$', text, re.M)) == {END_OF_TURN, "<|im_start|>"}
    wrapping = chat_template_of_modelfile(text)
    generation_prompt = re.search(r'{{ end }}{{ end }}(.*?)"""', text, re.S).group(1)
    conversation = [
        {"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": "Is the cat an animal?"},
        {"role": "assistant", "content": "yes"}, {"role": "user", "content": "And the lamp?"},
    ]
    rendered = "".join(wrapping[m["role"]][0] + m["content"] + wrapping[m["role"]][1] for m in conversation)
    expected = reference.tokenizer.apply_chat_template(conversation, tokenize=False, add_generation_prompt=True)
    assert rendered + generation_prompt == expected
    assert outcome.parity.passed and (tmp_path / "parity.json").is_file()


def test_an_export_with_a_wrong_eos_fails_parity(run_dir: Path, reference: Any, tmp_path: Path) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    wrong = reference.tokenizer.convert_tokens_to_ids("<|im_start|>")
    end_of_turn = (END_OF_TURN, reference.tokenizer.convert_tokens_to_ids(END_OF_TURN))
    gguf_file = tmp_path / "broken.gguf"
    write_gguf(reference.model, reference.tokenizer, gguf_file, "f16", wrong, "broken")
    model = AutoModelForCausalLM.from_pretrained(tmp_path, gguf_file=gguf_file.name)
    tokenizer = AutoTokenizer.from_pretrained(tmp_path, gguf_file=gguf_file.name)
    labels = ["yes", "no"]
    parity = check_parity(reference, model, tokenizer, gguf_file, "f16", labels, end_of_turn, SilentReporter())
    assert not parity.passed
    assert parity.ends_with_end_of_turn < 1.0 and parity.reference_ends_with_end_of_turn == 1.0
    assert any("end-of-turn token" in failure for failure in parity.failures)
    with pytest.raises(ParityError) as raised:
        write_parity(parity, tmp_path)
    assert raised.value.parity["passed"] is False
    assert json.loads((tmp_path / "parity.json").read_text(encoding="utf-8")) == raised.value.parity


def never_stopping_run(run_dir: Path, folder: Path) -> Path:
    """A copy of the run whose model is the untrained tiny model (a full fine-tune that never
    learned anything): it answers with noise and does not stop."""
    copy = folder / "untrained-run"
    copy.mkdir()
    for name in ("predictions.jsonl", "metrics.json"):
        shutil.copy(run_dir / name, copy / name)
    config = yaml.safe_load((run_dir / "config.yaml").read_text(encoding="utf-8"))
    (copy / "config.yaml").write_text(yaml.safe_dump({**config, "method": "full"}), encoding="utf-8")
    shutil.copytree(config["model"], copy / "model")
    return copy


def test_cli_export_shows_parity_and_exits_with_its_own_code_when_it_fails(run_dir: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    passed = runner.invoke(cli, ["export", str(run_dir), "--to", "merged", "--out", str(tmp_path / "ok")])
    assert passed.exit_code == 0, passed.output
    assert "agreement" in passed.output and str(tmp_path / "ok") in passed.output

    untrained = never_stopping_run(run_dir, tmp_path)
    failed = runner.invoke(cli, ["export", str(untrained), "--to", "gguf", "--out", str(tmp_path / "bad")])
    assert failed.exit_code == PARITY_FAILED_EXIT_CODE, failed.output
    assert "Parity check failed" in failed.output
    assert json.loads((tmp_path / "bad" / "parity.json").read_text(encoding="utf-8"))["passed"] is False


def test_bad_requests_fail_before_any_model_loads(run_dir: Path, tmp_path: Path) -> None:
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me", encoding="utf-8")
    with pytest.raises(ExportError, match="not an earlier export"):
        export_run(run_dir, "gguf", tmp_path / "mine")
    assert (tmp_path / "mine" / "notes.txt").read_text(encoding="utf-8") == "keep me"
    with pytest.raises(ExportError, match="--quant q8_0 applies to gguf and ollama"):
        export_run(run_dir, "merged", tmp_path / "m", "q8_0")
    with pytest.raises(ConfigError, match="no config.yaml"):
        export_run(tmp_path, "merged")
    result = CliRunner().invoke(cli, ["export", str(run_dir), "--to", "merged", "--quant", "q8_0"])
    assert result.exit_code == 1 and "applies to gguf and ollama" in result.output


def _parity_with_logit_difference(difference: float) -> Parity:
    return Parity(
        export="x.gguf", kind="f16", rows=3, agreement=1.0, max_logit_difference=difference,
        ends_with_end_of_turn=1.0, reference_ends_with_end_of_turn=1.0, end_of_turn_token=END_OF_TURN, max_new_tokens=4,
    )


def test_a_label_flip_on_a_near_tie_is_reported_and_one_beyond_rounding_fails() -> None:
    reference = [[-0.10, -0.12], [-0.5, -2.0], [-1.0, -0.2]]
    near_tie_flipped = [[-0.13, -0.11], [-0.5, -2.0], [-1.0, -0.2]]  # margin 0.02 < 2 x 0.03
    parity = _parity_with_logit_difference(0.03)
    _compare_labels(parity, reference, near_tie_flipped)
    _judge(parity)
    assert parity.label_agreement == pytest.approx(2 / 3) and parity.label_flips_outside_ties == 0 and parity.passed

    clear_flip = [[-0.10, -0.12], [-2.0, -0.5], [-1.0, -0.2]]  # margin 1.5
    parity = _parity_with_logit_difference(0.03)
    _compare_labels(parity, reference, clear_flip)
    _judge(parity)
    assert parity.label_flips_outside_ties == 1 and not parity.passed
    assert "1 of 3 rows" in parity.failures[0]
