"""Temporary folders for the embedded PostgreSQL.

Run as root, ``payhook dev`` runs PostgreSQL as ``nobody``, which must reach its data folder through every
parent. pytest's own temporary root (``/tmp/pytest-of-USER``) is the user's alone, and every pytest session
that starts (another run on the same machine) takes back any permission added to it: a server already
running under it then loses its files mid-test. These folders live beside it instead."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def reachable_folder() -> Iterator[Path]:
    folder = Path(tempfile.mkdtemp(prefix="payhook-test-"))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)
