"""``DIR/env``, the settings ``payhook dev`` used: owner-only, read back as written (a public key spans
lines), and used by a ``payhook`` command beside it only when no database or Redis is named."""

from __future__ import annotations

import os
from pathlib import Path

from shared.ops.dev.envfile import BESIDE, read_env, settings_beside, write_env

SETTINGS = {
    "PAYHOOK_DATABASE_URL": "postgresql+psycopg://postgres:s3cret@127.0.0.1:55432/payhook",
    "PAYHOOK_REVENUE_MONSTER_PUBLIC_KEY": "-----BEGIN PUBLIC KEY-----\nMIIB'quoted'\n-----END PUBLIC KEY-----\n",
    "PAYHOOK_ADMIN_TOKEN": "a b;$(not run)",
}


def test_the_env_file_is_the_owners_alone_and_reads_back_as_written(tmp_path: Path) -> None:
    path = tmp_path / "env"
    path.write_text("stale")
    path.chmod(0o644)

    write_env(path, {**SETTINGS, "PATH": "/usr/bin"})

    assert path.stat().st_mode & 0o777 == 0o600
    assert read_env(path) == SETTINGS


def test_a_command_beside_payhook_dev_uses_its_settings_unless_a_service_is_named(tmp_path: Path) -> None:
    assert settings_beside({}, tmp_path) is None
    (tmp_path / BESIDE).parent.mkdir()
    write_env(tmp_path / BESIDE, SETTINGS)

    found = settings_beside({}, tmp_path)

    assert found is not None and found[1] == SETTINGS
    assert settings_beside({"PAYHOOK_REDIS_URL": "redis://127.0.0.1:6379/0"}, tmp_path) is None
    assert settings_beside({"PAYHOOK_DATABASE_URL": SETTINGS["PAYHOOK_DATABASE_URL"]}, tmp_path) is None
    assert os.environ.get("PAYHOOK_ADMIN_TOKEN") != SETTINGS["PAYHOOK_ADMIN_TOKEN"], "nothing set by reading"
