"""``payhook dev``'s banner: every command it prints works pasted as it is, in the folder it ran in, with
nothing exported, whether its data folder is the default ``.payhook`` or another (``--data-dir``)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from shared.ops.dev import session
from shared.ops.dev.envfile import write_env
from shared.ops.dev.stack import DevStack, Ports


def _shows(data: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    # The line's payhook command stands in for one that prints the settings it was given.
    monkeypatch.setattr(session, "payhook_command", lambda: "printenv PAYHOOK_DATABASE_URL; :")
    data.mkdir(parents=True, exist_ok=True)
    (data / "keys").mkdir(exist_ok=True)
    write_env(data / "env", {"PAYHOOK_DATABASE_URL": "postgresql+psycopg://postgres:pw@127.0.0.1:1/payhook"})
    stack = DevStack(data.resolve(), Ports(web=1, postgres=2, redis=3, metrics=4, simulate=5))
    env = {"PAYHOOK_DATABASE_URL": "postgresql+psycopg://postgres:pw@127.0.0.1:1/payhook"}
    return [line.strip() for line in session.banner(stack, env) if " payments show " in line]


def _pasted(line: str, folder: Path) -> str:
    bare = {k: v for k, v in os.environ.items() if not k.startswith("PAYHOOK_")}
    done = subprocess.run(["bash", "-c", line], cwd=folder, env=bare, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_with_another_data_folder_the_printed_payments_show_loads_its_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    shows = _shows(tmp_path / "elsewhere" / "data dir", monkeypatch)
    assert shows
    for line in shows:
        assert _pasted(line, tmp_path) == "postgresql+psycopg://postgres:pw@127.0.0.1:1/payhook", line


def test_beside_the_default_data_folder_the_printed_payments_show_is_the_bare_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    shows = _shows(tmp_path / ".payhook", monkeypatch)
    assert shows and all(line.startswith("printenv PAYHOOK_DATABASE_URL; : payments show ") for line in shows)
