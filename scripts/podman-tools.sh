#!/usr/bin/env bash
# What `make test-image` and `make test-compose` need from Debian's packages: podman, runc (the runtime that
# starts containers here: podman's default, crun, cannot) and mmdebstrap (it makes the Debian base image
# locally: no registry is reachable). Installs only what is missing and starts no daemon (scripts/apt-install.sh).
# Without root or sudo it installs nothing and says so: the tests then skip, naming what is missing.
set -euo pipefail

missing=()
command -v podman >/dev/null || missing+=(podman)
command -v runc >/dev/null || missing+=(runc)
command -v mmdebstrap >/dev/null || missing+=(mmdebstrap)
if [ ${#missing[@]} -eq 0 ]; then
  echo "podman-tools: ready"
  exit 0
fi
if [ "$(id -u)" != 0 ] && ! sudo -n true 2>/dev/null; then
  echo "podman-tools: ${missing[*]} missing, and this user cannot install Debian packages"
  exit 0
fi
"$(dirname "$0")/apt-install.sh" podman-tools "${missing[@]}"
echo "podman-tools: ready"
