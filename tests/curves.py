"""Comparing the loss curves of two runs of the same job: the multi-process tests (torchrun,
accelerate) check that two processes train the run of one."""

from __future__ import annotations

from typing import Any

import pytest


def assert_same_loss_curve(one: dict[str, Any], two: dict[str, Any], steps: int) -> None:
    """Both runs' ``metrics.json`` log a loss at steps 1..``steps``, equal within 0.2%, and
    count the same tokens."""
    curve_one = {e["step"]: e["loss"] for e in one["train"]["loss_history"]}
    curve_two = {e["step"]: e["loss"] for e in two["train"]["loss_history"]}
    assert sorted(curve_one) == sorted(curve_two) == list(range(1, steps + 1))
    for step, loss in curve_one.items():
        assert curve_two[step] == pytest.approx(loss, rel=2e-3), f"step {step}"
    assert two["train"]["tokens"] == one["train"]["tokens"]
