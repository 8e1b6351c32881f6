#!/usr/bin/env sh
# The production install, one way for the container image and for the test that proves it works: build
# payhook's wheel (no extras), install it into a fresh virtual environment. Run from the project root.
#   deploy/install.sh VENV [WHEEL_DIR]
set -eu
venv=$1
wheels=${2:-dist}
python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --no-cache-dir --upgrade pip
if [ ! -d "$wheels" ] || ! ls "$wheels"/payhook-*.whl >/dev/null 2>&1; then
  "$venv/bin/pip" wheel --quiet --no-cache-dir --no-deps --wheel-dir "$wheels" .
fi
"$venv/bin/pip" install --quiet --no-cache-dir "$wheels"/payhook-*.whl
