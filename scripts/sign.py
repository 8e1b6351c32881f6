"""Print a ready-to-paste curl command that sends a body as a provider would, signed with throwaway test
credentials (demos only: they protect nothing).

    python scripts/sign.py revenue-monster body.json [--keys tests/fixtures/keys] [--url http://localhost:8000]

The receiver must be configured with the same credentials: the settings are printed as comments.
"""

from __future__ import annotations

import argparse
import shlex
from pathlib import Path

from shared.providers import all_providers


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("provider", choices=sorted(all_providers()))
    parser.add_argument("body", type=Path)
    parser.add_argument("--keys", type=Path, default=Path("tests/fixtures/keys"), help="throwaway credentials")
    parser.add_argument("--url", default="http://localhost:8000")
    args = parser.parse_args()
    provider = all_providers()[args.provider]
    signer = provider.test_signer(args.keys)
    body, headers = signer.sign(args.body.read_bytes())
    print(f"# the receiver needs {provider.credential} set to the credential in {args.keys}")
    parts = ["curl", "-s", f"{args.url}/callbacks/{provider.name}"]
    for name, value in headers.items():
        parts += ["-H", f"{name}: {value}"]
    parts += ["--data-binary", body.decode()]
    print(shlex.join(parts))


if __name__ == "__main__":
    main()
