"""Which modules of 80+ lines have a test file mirroring them (issue 17): ``pkg/sub/mod.py`` is mirrored by
``tests/pkg/sub/test_mod.py``. A leading underscore is dropped from every part (``shared/providers/_standin/core.py``
-> ``tests/shared/providers/standin/test_core.py``); a package's ``__init__.py`` is mirrored by
``test_<package>.py`` in its parent's mirror (``shared/providers/__init__.py`` -> ``tests/shared/test_providers.py``).
Migrations are left out. Prints one line per module and the share; ``--missing`` prints only those without."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("ingest", "workers", "shared")
MIN_LINES = 80


def mirror_of(module: Path) -> Path:
    """The test file that mirrors ``module`` (a path relative to the repository's root)."""
    parts = [part.lstrip("_") for part in module.with_suffix("").parts]
    if module.name == "__init__.py":
        parts = parts[:-1]
    return Path("tests", *parts[:-1], f"test_{parts[-1]}.py")


def modules() -> list[Path]:
    """The modules of ``MIN_LINES`` lines or more, migrations left out."""
    found = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            relative = path.relative_to(ROOT)
            if "migrations" in relative.parts:
                continue
            if len(path.read_text().splitlines()) >= MIN_LINES:
                found.append(relative)
    return found


def main() -> None:
    only_missing = "--missing" in sys.argv[1:]
    found = modules()
    mirrored = 0
    for module in found:
        test = mirror_of(module)
        has = (ROOT / test).is_file()
        mirrored += has
        if not (only_missing and has):
            print(f"{'yes' if has else 'no ':3}  {module}  ->  {test}")
    print(f"{mirrored}/{len(found)} modules of {MIN_LINES}+ lines mirrored ({100 * mirrored / len(found):.0f}%)")


if __name__ == "__main__":
    main()
