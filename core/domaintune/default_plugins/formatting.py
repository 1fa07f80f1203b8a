"""Default formatter: the domain's system prompt, the row's prompt, the row's completion."""

from __future__ import annotations

from domaintune import Domain, Message, hookimpl
from domaintune.domain import Batch, Formatter


@hookimpl(trylast=True)
def make_formatter(domain: Domain) -> Formatter:
    def format_batch(batch: Batch) -> list[list[Message]]:
        # The system prompt is always explicit: SmolLM2's template otherwise inserts its own,
        # and training and scoring must see the same one.
        return [
            [
                {"role": "system", "content": domain.system_prompt},
                {"role": "user", "content": prompt},
                {"role": "assistant", "content": completion},
            ]
            for prompt, completion in zip(batch["prompt"], batch["completion"])
        ]

    return format_batch
