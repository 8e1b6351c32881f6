"""The tests' own harness: a process a test starts does not outlive the test process, however that ends."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.support.processes import ROOT, wait_for

# Starts a private redis-server (in a session of its own, as every test's server), says its pid, and dies the
# way a pytest killed by a CI timeout does: no finalizer, no fixture teardown.
_KILLED_WITH_A_SERVER = """
import os, signal, sys
from pathlib import Path
from tests.support.redis_server import PrivateRedis
server = PrivateRedis(Path(sys.argv[1])).start()
print(server.process.pid, flush=True)
os.kill(os.getpid(), signal.SIGKILL)
"""


def _running(pid: int) -> bool:
    """Alive and not a zombie (whoever inherits an orphan may reap it late)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


def test_a_private_server_stops_when_the_test_process_is_killed(tmp_path: Path) -> None:
    killed = subprocess.run(
        [sys.executable, "-c", _KILLED_WITH_A_SERVER, str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert killed.returncode == -9, killed.stderr
    server = int(killed.stdout)
    wait_for(lambda: not _running(server), 20, f"the private redis-server {server} to stop with its test process")
