#!/usr/bin/env sh
# The production install, one way for the container image and for the test that proves it works: the
# run-time dependencies exactly as deploy/requirements.lock pins them, every file checked against its hash,
# then payhook's wheel (no extras) without dependencies, into a virtual environment. Run from the project root.
#   deploy/install.sh VENV [WHEEL_DIR]
#   deploy/install.sh --dependencies-only VENV    the locked dependencies alone (the image's cached layer)
set -eu
only_dependencies=
if [ "$1" = --dependencies-only ]; then only_dependencies=1; shift; fi
venv=$1
wheels=${2:-dist}
python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --no-cache-dir --require-hashes -r deploy/requirements.lock
[ -z "$only_dependencies" ] || exit 0
if [ ! -d "$wheels" ] || ! ls "$wheels"/payhook-*.whl >/dev/null 2>&1; then
  "$venv/bin/pip" wheel --quiet --no-cache-dir --no-deps --wheel-dir "$wheels" .
fi
"$venv/bin/pip" install --quiet --no-cache-dir --no-deps "$wheels"/payhook-*.whl
# A dependency the lock lacks, or pins outside pyproject.toml's range, stops the install here.
"$venv/bin/pip" check >/dev/null
