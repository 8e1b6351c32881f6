"""Print a ready-to-paste curl command that sends a body as a provider would, signed with throwaway test
credentials (demos only: they protect nothing).

    python scripts/sign.py revenue-monster body.json [--keys tests/fixtures/keys] [--url http://localhost:8000]
        [--account NAME]

The receiver must be configured with the same credentials: the settings are printed as comments. With
``--account`` the curl goes to the account's route, and the comment is the ``payhook accounts add`` command that
gives the account these credentials (written to a file beside the keys: a Revenue Monster account needs the
public key, which the keys folder holds only as its private half).
"""

from __future__ import annotations

import argparse
import os
import shlex
from pathlib import Path

from shared.accounts import keys
from shared.providers import Provider, all_providers


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("provider", choices=sorted(all_providers()))
    parser.add_argument("body", type=Path)
    parser.add_argument("--keys", type=Path, default=Path("tests/fixtures/keys"), help="throwaway credentials")
    parser.add_argument("--url", default="http://localhost:8000")
    parser.add_argument("--account", help="a merchant account: its route, and the command that adds it")
    args = parser.parse_args()
    provider = all_providers()[args.provider]
    signer = provider.test_signer(args.keys)
    body, headers = signer.sign(args.body.read_bytes())
    route = f"{args.url}/callbacks/{provider.name}"
    if args.account:
        route += f"/{args.account}"
        print(f"# the account needs: {_add_command(provider, args.account, args.keys, signer.secret)}")
    else:
        print(f"# the receiver needs {provider.credential} set to the credential in {args.keys}")
    parts = ["curl", "-s", route]
    for name, value in headers.items():
        parts += ["-H", f"{name}: {value}"]
    parts += ["--data-binary", body.decode()]
    print(shlex.join(parts))


def _add_command(provider: Provider, account: str, folder: Path, credential: str) -> str:
    """``payhook accounts add`` with the callback credential the signer's keys verify, kept in a file."""
    path = folder / f"{provider.name}-account-credential"
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as out:
        out.write(credential)
    name = next(key for key, variable in keys(provider).items() if variable == provider.credential)
    return shlex.join(["payhook", "accounts", "add", provider.name, account, f"{name}=@{path}"])


if __name__ == "__main__":
    main()
