"""`tune export` of a real run on the default model (SmolLM2-135M-Instruct): GGUF in f16 and
q8_0, with the parity figures printed (`-m slow -s`)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from domaintune.config import build_config
from domaintune.deploy.export import export_run
from domaintune.plugins import get_domain
from domaintune.run import run_job


@pytest.mark.slow
def test_the_readme_jobs_run_exports_to_gguf_f16_and_q8_0_with_parity(tmp_path: Path) -> None:
    run_dir = tmp_path / "legal"
    run_job(build_config(dict(get_domain("legal").defaults), {"domain": "legal", "output_dir": str(run_dir)}))
    figures = {}
    for quant in ("f16", "q8_0"):
        outcome = export_run(run_dir, "gguf", tmp_path / f"gguf-{quant}", quant)
        parity = outcome.parity
        figures[quant] = {key: parity.as_dict()[key] for key in (
            "rows", "agreement", "label_agreement", "label_flips_outside_ties", "max_logit_difference", "ends_with_end_of_turn", "passed",
        )}
        assert parity.passed and parity.ends_with_end_of_turn == 1.0
        if quant == "f16":
            assert parity.agreement >= 0.99 and parity.label_flips_outside_ties == 0
    print("PARITY", json.dumps(figures))
