"""``DIR/env``: the settings ``payhook dev`` used, for the ``payhook`` commands run beside it. Shell syntax
(``set -a; . .payhook/env``), owner-only: it holds the embedded servers' passwords and the admin token."""

from __future__ import annotations

import os
import shlex
from collections.abc import Mapping
from pathlib import Path

# Where a ``payhook`` command looks for it: the default data folder, in the current folder.
BESIDE = Path(".payhook") / "env"
DATABASE_VARIABLE, REDIS_VARIABLE = "PAYHOOK_DATABASE_URL", "PAYHOOK_REDIS_URL"


def write_env(path: Path, env: Mapping[str, str]) -> None:
    """The ``PAYHOOK_*`` settings of ``env``, mode 0600 even when the file existed with another mode."""
    lines = [f"{name}={shlex.quote(value)}\n" for name, value in sorted(env.items()) if name.startswith("PAYHOOK_")]
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(descriptor, 0o600)
    with os.fdopen(descriptor, "w") as out:
        out.write("# Written by payhook dev: the settings it used (secrets included).\n")
        out.writelines(lines)


def read_env(path: Path) -> dict[str, str]:
    """The settings ``write_env`` wrote (a value may span lines: a public key)."""
    words = shlex.split(path.read_text(), comments=True)
    pairs = (word.partition("=") for word in words)
    return {name: value for name, sep, value in pairs if sep and name.startswith("PAYHOOK_")}


def settings_beside(environ: Mapping[str, str], folder: Path | None = None) -> tuple[Path, dict[str, str]] | None:
    """The settings of ``.payhook/env`` in ``folder`` (default: here), when the environment names neither
    database nor Redis: a ``payhook`` command run beside ``payhook dev`` then talks to its stack."""
    if environ.get(DATABASE_VARIABLE) or environ.get(REDIS_VARIABLE):
        return None
    path = (folder or Path()) / BESIDE
    if not path.is_file():
        return None
    return path, read_env(path)
