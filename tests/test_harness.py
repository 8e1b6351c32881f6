"""The tests' own harness: a process a test starts does not outlive the test process, however that ends."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

from tests.support.processes import ROOT, Stack, running, wait_for

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


# A leader that exits at once on SIGTERM, and its child (a pool process, say) that takes half a second to
# finish: argv[1] is the child's code, argv[2] the file it writes when it has finished.
_LEADER = """
import signal, subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c", sys.argv[1], sys.argv[2]], stdout=subprocess.PIPE)
child.stdout.readline()
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
print("ready", flush=True)
while True:
    time.sleep(1)
"""
_SLOW_CHILD = """
import signal, sys, time
from pathlib import Path
def finish(*_):
    time.sleep(0.5)
    Path(sys.argv[1]).write_text("finished")
    sys.exit(0)
signal.signal(signal.SIGTERM, finish)
print("ready", flush=True)
while True:
    time.sleep(1)
"""

_STUBBORN = """
import signal, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
print("ready", flush=True)
time.sleep(60)
"""


def test_a_private_server_stops_when_the_test_process_is_killed(tmp_path: Path) -> None:
    killed = subprocess.run(
        [sys.executable, "-c", _KILLED_WITH_A_SERVER, str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert killed.returncode == -9, killed.stderr
    server = int(killed.stdout)
    wait_for(lambda: not running(server), 20, f"the private redis-server {server} to stop with its test process")


def test_a_child_still_finishing_when_its_leader_exits_is_not_cut_short(tmp_path: Path) -> None:
    """A Celery worker's pool process leaves the consumer group after the main process may have exited: the
    harness's stop gives it its grace instead of killing the group the moment the leader is gone."""
    finished = tmp_path / "finished"
    leader = subprocess.Popen(
        [sys.executable, "-c", _LEADER, _SLOW_CHILD, str(finished)], stdout=subprocess.PIPE, start_new_session=True
    )
    assert leader.stdout is not None and leader.stdout.readline().strip() == b"ready"
    Stack.kill(leader, signal.SIGTERM)
    assert finished.exists(), "the child was killed before it finished"


def test_a_process_that_ignores_sigterm_is_killed_when_its_grace_is_over() -> None:
    stubborn = subprocess.Popen(
        [sys.executable, "-c", _STUBBORN], stdout=subprocess.PIPE, start_new_session=True
    )  # fmt: skip
    assert stubborn.stdout is not None and stubborn.stdout.readline().strip() == b"ready"
    Stack.kill(stubborn, signal.SIGTERM, grace=0.5)
    assert stubborn.returncode == -signal.SIGKILL
