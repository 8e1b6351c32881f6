"""``scripts/sign.py --account NAME``: the printed ``payhook accounts add`` gives the account the credentials the
printed curl is signed with, for every provider (a Revenue Monster account needs the public key, which the keys
folder holds only as its private half), and the curl reaches the account's route."""

from __future__ import annotations

import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from starlette.testclient import TestClient

from ingest.server import create_app
from shared.ops.cli import main
from shared.providers import all_providers
from shared.settings import Settings
from tests.conftest import env_for

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("provider", sorted(all_providers()))
def test_the_printed_account_takes_the_printed_callback(settings: Settings, tmp_path: Path, provider: str) -> None:
    chosen = all_providers()[provider]
    body = tmp_path / "body.json"
    body.write_bytes(chosen.samples()[chosen.example])
    keys = str(tmp_path / "keys")
    printed = subprocess.run(
        [sys.executable, "scripts/sign.py", provider, str(body), "--keys", keys, "--account", "shop-9"],
        cwd=ROOT, capture_output=True, text=True, check=True, timeout=60,
    ).stdout  # fmt: skip
    comment, curl = printed.split("\n", 1)
    add = shlex.split(comment.removeprefix("# the account needs: "))
    assert add[:5] == ["payhook", "accounts", "add", provider, "shop-9"], comment
    added = CliRunner().invoke(main, add[1:], env=env_for(settings.queue_prefix))
    assert added.exit_code == 0, added.output
    words = shlex.split(curl)
    url, data = words[2], words[words.index("--data-binary") + 1]
    headers = dict(words[i + 1].split(": ", 1) for i, word in enumerate(words) if word == "-H")
    assert url.endswith(f"/callbacks/{provider}/shop-9")
    with TestClient(create_app(settings, ring=False)) as web:
        answer = web.post(f"/callbacks/{provider}/shop-9", content=data.encode(), headers=headers)
    assert answer.status_code == 200, answer.text
