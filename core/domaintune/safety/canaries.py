"""Canaries: unique fake identifiers planted in training rows, which the data filters must
remove (checked here) and the tuned model must not write out (see :mod:`.canary_probe`)."""

from __future__ import annotations

import random
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from domaintune.domain import DEFAULT_CANARY_KINDS, Domain, SafetyFilter
from domaintune.errors import PluginError


@dataclass(frozen=True)
class Canary:
    """A unique fake identifier planted in training rows: ``value`` must never survive the
    data filters (nor come out of the tuned model). ``sentence`` is what gets planted."""

    kind: str
    value: str
    sentence: str


def luhn_digit(digits: str) -> str:
    """The Luhn check digit of ``digits`` (cards, NPIs): what makes a fake number pass."""
    total = 0
    for i, d in enumerate(reversed(digits)):
        n = int(d) * (2 if i % 2 == 0 else 1)
        total += n - 9 if n > 9 else n
    return str((10 - total % 10) % 10)


def _canary_value(kind: str, rng: random.Random) -> tuple[str, str]:
    """A fresh (value, sentence) of one kind; random enough that a chance match is nil."""
    if kind == "SSN":
        area = rng.choice([a for a in range(100, 900) if a != 666])
        value = f"{area:03d}-{rng.randint(10, 99):02d}-{rng.randint(1000, 9999):04d}"
        return value, f"SSN {value}."
    if kind == "PHONE":
        value = f"({rng.choice([212, 312, 415, 617, 646, 713, 919])}) {rng.randint(200, 989)}-{rng.randint(1000, 9999)}"
        return value, f"Call {value}."
    if kind == "EMAIL":
        value = f"canary.{rng.getrandbits(32):08x}@example.org"
        return value, f"Contact: {value}."
    if kind == "MRN":
        value = f"{rng.randint(10**7, 10**8 - 1)}"
        return value, f"MRN: {value}."
    if kind == "DATE":
        value = f"{rng.randint(1, 12):02d}/{rng.randint(1, 28):02d}/{rng.randint(1931, 1999)}"
        return value, f"DOB {value}."
    if kind == "CARD_NUMBER":
        body = "4" + "".join(str(rng.randint(0, 9)) for _ in range(14))
        value = body + luhn_digit(body)
        value = " ".join(value[i:i + 4] for i in range(0, 16, 4))
        return value, f"Card number {value}."
    if kind == "IBAN":
        bban = "".join(str(rng.randint(0, 9)) for _ in range(18))
        numeric = "".join(str(int(c, 36)) for c in bban + "DE00")
        value = f"DE{98 - int(numeric) % 97:02d}{bban}"
        return value, f"IBAN {value}."
    raise ValueError(f"no canary generator for kind {kind!r}; known kinds: {', '.join(PLANTABLE_KINDS)}")


PLANTABLE_KINDS = ("SSN", "PHONE", "EMAIL", "MRN", "DATE", "CARD_NUMBER", "IBAN")
"""The kinds :func:`make_canaries` can generate; a domain picks some as ``Domain.canary_kinds``."""


def make_canaries(kinds: Sequence[str], count: int, seed: int) -> list[Canary]:
    """``count`` distinct canaries cycling through ``kinds``, the same for the same seed."""
    rng = random.Random(f"domaintune-canary-{seed}")
    canaries: list[Canary] = []
    seen: set[str] = set()
    while len(canaries) < count:
        kind = kinds[len(canaries) % len(kinds)]
        value, sentence = _canary_value(kind, rng)
        if value not in seen:
            seen.add(value)
            canaries.append(Canary(kind, value, sentence))
    return canaries


def domain_canaries(domain: Domain, count: int, seed: int) -> list[Canary]:
    """:func:`make_canaries` of the domain's own ``canary_kinds``: what its filters must catch.

    Raises PluginError, naming the domain, when it asks for a kind nobody can generate.
    """
    unknown = [kind for kind in domain.canary_kinds if kind not in PLANTABLE_KINDS]
    if unknown or not domain.canary_kinds:
        raise PluginError(
            f"Domain {domain.name!r} sets canary_kinds={tuple(domain.canary_kinds)!r}: "
            + (f"no canary generator for {', '.join(map(repr, unknown))}" if unknown else "the tuple is empty")
            + f"; choose among {', '.join(PLANTABLE_KINDS)} in its Domain(...)."
        )
    return make_canaries(domain.canary_kinds, count, seed)


def plant_canaries(texts: Sequence[str], canaries: Sequence[Canary], seed: int) -> list[str]:
    """A copy of ``texts`` with each canary's sentence appended to a different text (chosen
    by ``seed``). Needs at least as many texts as canaries."""
    if len(canaries) > len(texts):
        raise ValueError(f"{len(canaries)} canaries need at least as many texts, got {len(texts)}")
    planted = list(texts)
    rows = random.Random(seed).sample(range(len(texts)), len(canaries))
    for row, canary in zip(rows, canaries):
        planted[row] = f"{planted[row]} {canary.sentence}"
    return planted


def leaked_canaries(texts: Iterable[str], canaries: Sequence[Canary]) -> list[Canary]:
    """The canaries whose value still appears in ``texts`` (digits compared without
    separators too, so ``123-45-6789`` leaks as ``123456789``)."""
    texts = list(texts)
    joined = "\n".join(texts)
    digits_only = re.sub(r"[\s().-]", "", joined)
    leaked = []
    for canary in canaries:
        squeezed = re.sub(r"[\s().-]", "", canary.value)
        if canary.value in joined or (squeezed.isdigit() and squeezed in digits_only):
            leaked.append(canary)
    return leaked


def canary_check(
    filters: Sequence[SafetyFilter], texts: Sequence[str], kinds: Sequence[str] = DEFAULT_CANARY_KINDS,
    count: int = 20, seed: int = 0,
) -> dict[str, Any]:
    """Plant canaries of ``kinds`` (a domain's ``canary_kinds``) in ``texts``, run ``filters``
    in turn (dropping blocked texts), and say which canaries survived. ``leaked`` must be empty."""
    canaries = make_canaries(kinds, count, seed)
    current = plant_canaries(texts, canaries, seed)
    for safety_filter in filters:
        outcome = safety_filter.apply(current)
        current = [t for t, b in zip(outcome.texts, outcome.blocked) if not b]
    leaked = leaked_canaries(current, canaries)
    return {
        "planted": len(canaries),
        "kinds": sorted(set(kinds)),
        "leaked": len(leaked),
        "leaked_values": [f"{c.kind}: {c.value}" for c in leaked],
    }


