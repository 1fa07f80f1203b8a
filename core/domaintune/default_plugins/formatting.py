"""Default formatter: the domain's system prompt, the row's prompt, the row's completion.

Chat rows (a ``messages`` column) keep their own turns; the domain's system prompt goes first
unless the conversation has a system message. Plain-text rows (empty prompt) become the system
prompt and the text as the assistant's turn, so the loss covers the whole text.
"""

from __future__ import annotations

from domaintune import Domain, Message, hookimpl
from domaintune.domain import Batch, Formatter


@hookimpl(trylast=True)
def make_formatter(domain: Domain) -> Formatter:
    def format_batch(batch: Batch) -> list[list[Message]]:
        # The system prompt is always explicit: SmolLM2's template otherwise inserts its own,
        # and training and scoring must see the same one.
        def system() -> Message:
            return {"role": "system", "content": domain.system_prompt}

        messages = batch.get("messages") or [None] * len(batch["prompt"])
        conversations = []
        for prompt, completion, turns in zip(batch["prompt"], batch["completion"], messages):
            if turns:
                turns = [{"role": m["role"], "content": m["content"]} for m in turns]
                conversations.append(turns if turns[0]["role"] == "system" else [system(), *turns])
            elif prompt:
                conversations.append(
                    [system(), {"role": "user", "content": prompt}, {"role": "assistant", "content": completion}]
                )
            else:
                conversations.append([system(), {"role": "assistant", "content": completion}])
        return conversations

    return format_batch
