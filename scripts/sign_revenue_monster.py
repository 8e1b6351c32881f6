"""Print the headers Revenue Monster would send with a body, one per line, signed with the throwaway test
key in tests/fixtures/keys (demos only: it protects nothing). curl reads them with ``-H @file``:

    curl localhost:8000/callbacks/revenue-monster -H @<(python scripts/sign_revenue_monster.py body.json) \
        --data-binary @body.json
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.support import fixture_private_key, rm_headers


def main() -> None:
    body = Path(sys.argv[1]).read_bytes()
    headers = rm_headers(body, fixture_private_key())
    for name, value in headers.items():
        print(f"{name}: {value}")


if __name__ == "__main__":
    main()
