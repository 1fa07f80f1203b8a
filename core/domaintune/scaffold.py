"""`tune plugin new NAME`: write a ready domain-pack distribution from the bundled template.

The template (``domaintune/templates/plugin/``) is a complete small pack: a pyproject with
the entry point, a package with a sample, a prompt format, a metric and safety filters, a
README and tests. ``{{key}}`` placeholders in file contents are filled in, a ``.tmpl``
suffix is dropped, and the ``package`` folder is renamed to the package's name.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from importlib import resources
from importlib.abc import Traversable
from pathlib import Path

from domaintune import __version__
from domaintune.errors import ConfigError, DomaintuneError

NAME_PATTERN = re.compile(r"^[a-z][a-z0-9]*(?:[-_][a-z0-9]+)*$")
TEMPLATE_SLOT = re.compile(r"\{\{(\w+)\}\}")
MAX_NAME_LENGTH = 50
"""Longest domain name: it is also a package and folder name, and people type it."""
MAX_FILE_NAME = 255
"""Bytes in one file or folder name on common file systems (ext4, APFS, NTFS)."""


@dataclass(frozen=True)
class NewPlugin:
    """What ``new_plugin`` wrote."""

    name: str
    distribution: str
    package: str
    folder: Path
    files: list[Path]


def plugin_names(name: str) -> dict[str, str]:
    """The placeholders for domain ``name``: ``name``, ``package``, ``distribution``,
    ``domaintune_version``."""
    if len(name) > MAX_NAME_LENGTH:
        raise ConfigError(
            f"Plugin name {name[:40]!r}... is {len(name)} characters long; use at most "
            f"{MAX_NAME_LENGTH} (it names the domain, the package domaintune_NAME and its folder)."
        )
    if not NAME_PATTERN.match(name):
        raise ConfigError(
            f"Plugin name {name!r} is not valid: use lowercase letters and digits, starting "
            "with a letter, with single '-' or '_' between words (e.g. 'support-tickets')."
        )
    return {
        "name": name,
        "package": "domaintune_" + name.replace("-", "_"),
        "distribution": "domaintune-" + name.replace("_", "-"),
        "domaintune_version": ".".join(__version__.split(".")[:2]),
    }


def render(text: str, values: dict[str, str], where: str) -> str:
    def fill(match: re.Match[str]) -> str:
        if match.group(1) not in values:
            raise KeyError(f"template {where} uses unknown placeholder {match.group(0)}")
        return values[match.group(1)]

    return TEMPLATE_SLOT.sub(fill, text)


def _template_files(folder: Traversable, prefix: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], Traversable]]:
    found = []
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.startswith(".") or entry.name == "__pycache__":
            continue
        if entry.is_dir():
            found += _template_files(entry, (*prefix, entry.name))
        else:
            found.append(((*prefix, entry.name), entry))
    return found


def _taken_domain(name: str) -> str | None:
    """The plugin that already offers domain ``name``, if any (None when plugins fail to load:
    the new pack is still worth writing)."""
    from domaintune.plugins import registered_domains

    try:
        registered = registered_domains()
    except DomaintuneError:
        return None
    return registered[name].plugin if name in registered else None


def check_target(target: Path) -> None:
    """Refuse a folder that cannot be created, before anything is written: one that exists,
    lies under a file, has a name too long for the file system, or whose parent is read-only."""
    too_long = [part for part in target.parts if len(os.fsencode(part)) > MAX_FILE_NAME]
    if too_long:
        raise ConfigError(
            f"--dir {target}: the folder name {too_long[0][:40]!r}... is {len(os.fsencode(too_long[0]))} "
            f"bytes, more than the {MAX_FILE_NAME} a file system allows; choose a shorter one."
        )
    if target.exists() or target.is_symlink():
        raise ConfigError(
            f"{target} already exists; `tune plugin new` never overwrites. Choose another "
            "folder with --dir, or remove it."
        )
    ancestor = target.parent
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise ConfigError(
            f"--dir {target}: {ancestor} is a file, so no folder can be created under it; "
            "choose a folder whose parents are folders."
        )
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise ConfigError(
            f"--dir {target}: {ancestor} is not writable; choose a folder you can write to."
        )


def new_plugin(name: str, folder: Path | None = None) -> NewPlugin:
    """Write a new domain pack for domain ``name`` into ``folder`` (default
    ``./domaintune-NAME``), which must not exist yet.

    Everything is written into a temporary folder beside the target and renamed into place at
    the end, so an error leaves nothing behind and the target is never half written.
    """
    values = plugin_names(name)
    target = Path(folder) if folder is not None else Path(values["distribution"])
    check_target(target)
    owner = _taken_domain(name)
    if owner is not None:
        raise ConfigError(
            f"Domain {name!r} is already offered by plugin {owner!r}; two packs with the same "
            "domain cannot be installed together. Choose another name."
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp"))
    umask = os.umask(0)
    os.umask(umask)
    staging.chmod(0o777 & ~umask)  # mkdtemp's folder is private; the plugin's should not be
    written = []
    try:
        for parts, source in _template_files(resources.files("domaintune") / "templates" / "plugin"):
            relative = Path(*(values["package"] if part == "package" else part for part in parts))
            if relative.suffix == ".tmpl":
                relative = relative.with_suffix("")
            destination = staging / relative
            destination.parent.mkdir(parents=True, exist_ok=True)
            destination.write_text(
                render(source.read_text(encoding="utf-8"), values, "/".join(parts)), encoding="utf-8"
            )
            written.append(relative)
        # rename() would replace an empty folder created meanwhile; refuse that too.
        if target.exists():
            raise ConfigError(f"{target} appeared while the plugin was being written; nothing was changed.")
        os.rename(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return NewPlugin(
        name=name,
        distribution=values["distribution"],
        package=values["package"],
        folder=target,
        files=[target / path for path in written],
    )
