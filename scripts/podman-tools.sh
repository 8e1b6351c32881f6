#!/usr/bin/env bash
# What `make test-image` and `make test-compose` need from Debian's packages: podman, runc (the runtime that
# starts containers here: podman's default, crun, cannot) and mmdebstrap (it makes the Debian base image
# locally: no registry is reachable). Installs only what is missing and starts no daemon (the policy-rc.d of
# test-tools.sh).
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
if [ "$(id -u)" = 0 ]; then
  as_root() { "$@"; }
elif sudo -n true 2>/dev/null; then
  as_root() { sudo "$@"; }
else
  echo "podman-tools: ${missing[*]} missing, and this user cannot install Debian packages"
  exit 0
fi
echo "podman-tools: installing ${missing[*]} from Debian's packages"
policy=/usr/sbin/policy-rc.d
saved=""
if [ -e "$policy" ]; then saved=$(mktemp); as_root cp -p "$policy" "$saved"; fi
restore_policy() {
  if [ -n "$saved" ]; then as_root cp -p "$saved" "$policy"; as_root rm -f "$saved"; else as_root rm -f "$policy"; fi
}
trap restore_policy EXIT
printf '#!/bin/sh\n# podman-tools.sh: no service starts while it installs\nexit 101\n' | as_root tee "$policy" >/dev/null
as_root chmod 755 "$policy"
as_root apt-get update -qq
# Without recommends (buildah, slirp4netns, fuse-overlayfs, catatonit, dbus-user-session): nothing here uses them.
as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "podman-tools: ready"
