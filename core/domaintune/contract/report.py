"""The contract check's report: one line per check, pass, fail or warn."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Status = Literal["pass", "fail", "warn"]


@dataclass
class Check:
    status: Status
    title: str
    detail: str = ""


@dataclass
class ContractReport:
    plugin: str
    distribution: str | None
    checks: list[Check] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not any(check.status == "fail" for check in self.checks)

    def add(self, status: Status, title: str, detail: str = "") -> None:
        self.checks.append(Check(status, title, detail))

    def count(self, status: Status) -> int:
        return sum(check.status == status for check in self.checks)

    def render(self) -> str:
        marks = {"pass": "PASS", "fail": "FAIL", "warn": "WARN"}
        lines = [f"Contract check of plugin {self.plugin!r} ({self.distribution or 'not from an installed distribution'})"]
        for check in self.checks:
            lines.append(f"  {marks[check.status]}  {check.title}")
            lines.extend(f"          {line}" for line in check.detail.splitlines() if line.strip())
        verdict = "meets the contract" if self.ok else "does NOT meet the contract"
        lines.append(
            f"{self.count('pass')} passed, {self.count('fail')} failed, {self.count('warn')} "
            f"warning(s): plugin {self.plugin!r} {verdict}."
        )
        return "\n".join(lines)

    def as_dict(self) -> dict[str, Any]:
        return {
            "plugin": self.plugin,
            "distribution": self.distribution,
            "ok": self.ok,
            "checks": [asdict(check) for check in self.checks],
        }


def error_text(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"
