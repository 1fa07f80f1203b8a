"""Domain-scoped hook implementations: ``@for_domains(...)`` instead of a name guard.

Every hook that takes a ``domain`` is called for the domain of the run, whichever plugin
offers it; an implementation answers ``None`` for a domain that is not its own. Instead of
opening each hook with ``if domain.name != ...: return None``::

    @hookimpl
    @for_domains(CLAIMS, "claims-letters")
    def make_data_filters(domain: Domain) -> list[SafetyFilter]:
        return [claims_pii_filter()]

The decorated hook keeps its signature (pluggy reads its argument names through the
wrapper), works on module functions and on methods, and the two decorators may come in
either order.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any, TypeVar

from domaintune.domain import Domain

F = TypeVar("F", bound=Callable[..., Any])
SCOPE_ATTRIBUTE = "domaintune_domains"
"""Set on a scoped hook: the names of the domains it answers for."""


def for_domains(*domains: Domain | str) -> Callable[[F], F]:
    """Run the decorated hook only for these domains (``Domain`` objects or names); for any
    other domain it returns ``None`` without running."""
    names = frozenset(domain.name if isinstance(domain, Domain) else domain for domain in domains)
    if not names or not all(isinstance(name, str) and name for name in names):
        raise TypeError(f"for_domains() takes one or more domains or domain names, got {domains!r}")

    def decorate(hook: F) -> F:
        signature = inspect.signature(hook)
        if "domain" not in signature.parameters:
            raise TypeError(
                f"@for_domains on {hook.__qualname__}: the hook takes no 'domain' argument; "
                "only hooks called for a domain can be scoped to domains."
            )

        @functools.wraps(hook)
        def scoped(*args: Any, **kwargs: Any) -> Any:
            domain = signature.bind(*args, **kwargs).arguments["domain"]
            if domain.name not in names:
                return None
            return hook(*args, **kwargs)

        setattr(scoped, SCOPE_ATTRIBUTE, names)
        return scoped  # type: ignore[return-value]

    return decorate
