"""Exporting a finished run's tuned model, top to bottom: check the request, load the run,
write the export (merged folder, GGUF file, or GGUF + Ollama Modelfile), reload it through an
independent reader and run the parity check, whose figures go to parity.json beside it.

Modules: merged (safetensors folder), gguf (the llama GGUF writer), ollama (Modelfile),
turns (end-of-turn token and turn wrapping read from the chat template), parity (the check).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from domaintune.deploy.export.gguf import QUANTS
from domaintune.deploy.export.parity import Parity, check_parity, held_out_prompts, write_parity
from domaintune.errors import ExportError
from domaintune.progress import Reporter, SilentReporter, library_logs, quiet_libraries

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

FORMATS = ("merged", "gguf", "ollama")


@dataclass
class ExportOutcome:
    folder: Path
    """Where the export and its parity.json are."""
    files: list[Path]
    """What a user takes away: the merged folder, or the GGUF file (and the Modelfile)."""
    parity: Parity


def default_folder(run_dir: Path, to: str, quant: str | None) -> Path:
    """``RUN_DIR/export/merged``, ``RUN_DIR/export/gguf-f16``, ``RUN_DIR/export/ollama-q8_0``."""
    return run_dir / "export" / (to if to == "merged" else f"{to}-{quant}")


def _check_request(run_dir: Path, to: str, quant: str | None, folder: Path) -> str | None:
    """Every cheap check before a model is loaded; returns the quantization to use."""
    from domaintune.deploy.runmodel import run_config, tuned_model_dir

    if to not in FORMATS:
        raise ExportError(f"Unknown export format {to!r}; choose one of {', '.join(FORMATS)}.")
    if to == "merged" and quant is not None:
        raise ExportError(f"--quant {quant} applies to gguf and ollama exports; a merged export keeps the run's weights as they are.")
    if to != "merged":
        quant = quant or "f16"
        if quant not in QUANTS:
            raise ExportError(f"Unknown quantization {quant!r}; choose one of {', '.join(QUANTS)}.")
    tuned_model_dir(run_dir, run_config(run_dir))
    held_out_prompts(run_dir)
    if folder.is_file() or (folder.is_dir() and any(folder.iterdir()) and not (folder / "parity.json").is_file()):
        raise ExportError(
            f"{folder} already exists and is not an earlier export (no parity.json); pass --out "
            "with a new or empty folder, so that nothing of yours is overwritten."
        )
    return quant


def _labels(run_dir: Path) -> list[str]:
    metrics = run_dir / "metrics.json"
    if not metrics.is_file():
        return []
    return list(json.loads(metrics.read_text(encoding="utf-8")).get("labels") or [])


def _model_card(run_dir: Path, tuned_dir: Path, to: str) -> str:
    """The run's model card, plus how the export was made."""
    card = tuned_dir / "README.md"
    text = card.read_text(encoding="utf-8") if card.is_file() else f"# {run_dir.name}\n"
    merged = "the adapter is merged into the base weights; " if tuned_dir.name == "adapter" else ""
    return text.rstrip() + (
        f"\n\nExported with `tune export {run_dir.name} --to {to}`: {merged}the parity check's "
        "figures are in parity.json.\n"
    )


def _reload(to: str, folder: Path, gguf_name: str) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """The export read back by transformers' own loaders, as a user's runtime would read it."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    try:
        if to == "merged":
            return (
                AutoModelForCausalLM.from_pretrained(folder, trust_remote_code=False),
                AutoTokenizer.from_pretrained(folder, trust_remote_code=False),
            )
        return (
            AutoModelForCausalLM.from_pretrained(folder, gguf_file=gguf_name, trust_remote_code=False),
            AutoTokenizer.from_pretrained(folder, gguf_file=gguf_name, trust_remote_code=False),
        )
    except Exception as exc:  # any reader failure means the export is unusable
        raise ExportError(f"The {to} export in {folder} does not load back: {type(exc).__name__}: {exc}") from exc


def export_run(
    run_dir: Path | str,
    to: str,
    out: Path | str | None = None,
    quant: str | None = None,
    reporter: Reporter | None = None,
) -> ExportOutcome:
    """Export a finished run's tuned model and check it against the run's tuned model.

    Raises ParityError (after writing parity.json) when the export answers differently or
    does not stop on the end-of-turn token.
    """
    from domaintune.deploy.export.gguf import write_gguf
    from domaintune.deploy.export.merged import write_merged
    from domaintune.deploy.export.ollama import modelfile
    from domaintune.deploy.export.turns import end_of_turn_token
    from domaintune.deploy.runmodel import load_run_model, tuned_model_dir
    from domaintune.files import write_text_atomic

    reporter = reporter or SilentReporter()
    run_dir = Path(run_dir)
    folder = Path(out) if out is not None else default_folder(run_dir, to, quant or ("f16" if to != "merged" else None))
    quant = _check_request(run_dir, to, quant, folder)

    # Library warnings and progress bars (transformers' GGUF reader has one) go to the export's
    # export.log, as a run's go to its train.log; the reporter says what is happening.
    quiet_libraries()
    with library_logs() as write_log_to:
        reporter.step(f"Loading the tuned model of {run_dir}")
        run_model = load_run_model(run_dir, merged=True)
        end_of_turn = end_of_turn_token(run_model.tokenizer)
        gguf_name = f"{run_dir.resolve().name}-{quant}.gguf"
        reporter.step(f"Writing the {to} export to {folder}")
        if to == "merged":
            card = _model_card(run_dir, tuned_model_dir(run_dir, run_model.config), to)
            write_merged(run_model, folder, end_of_turn[1], card)
            files = [folder]
        else:
            # The Modelfile's checks (is the template rewritable?) come before the big write.
            text = modelfile(run_model, gguf_name, end_of_turn[0]) if to == "ollama" else None
            write_gguf(run_model.model, run_model.tokenizer, folder / gguf_name, str(quant), end_of_turn[1], run_dir.resolve().name)
            files = [folder / gguf_name]
            if text is not None:
                write_text_atomic(folder / "Modelfile", text)
                files.append(folder / "Modelfile")
        write_log_to(folder / "export.log")  # what was held so far, then each record as it comes

        reporter.step("Reloading the export and checking parity on the run's held-out prompts")
        export_model, export_tokenizer = _reload(to, folder, gguf_name)
        parity = check_parity(
            run_model, export_model, export_tokenizer, files[0], quant or "merged",
            _labels(run_dir), end_of_turn, reporter,
        )
        write_parity(parity, folder)
    return ExportOutcome(folder=folder, files=files, parity=parity)


def parity_summary(parity: dict[str, Any]) -> list[tuple[str, str]]:
    """(figure, value) rows for people, in parity.json's order."""
    rows = [
        ("rows", str(parity["rows"])),
        ("agreement", f"{parity['agreement']:.3f}"),
        ("max logit difference", f"{parity['max_logit_difference']:.3g}"),
        ("ends with end-of-turn", f"{parity['ends_with_end_of_turn']:.3f} ({parity['end_of_turn_token']})"),
    ]
    if parity.get("label_agreement") is not None:
        rows[2:2] = [
            ("label agreement", f"{parity['label_agreement']:.3f}"),
            ("label flips outside near ties", f"{parity['label_flips_outside_ties']} (margin > {parity['label_tie_margin']:.3g})"),
        ]
    return rows
