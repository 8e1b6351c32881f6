#!/usr/bin/env bash
# Debian packages for scripts/test-tools.sh and scripts/podman-tools.sh: `apt-install.sh WHO PACKAGE...`, as root
# or through sudo. Starts no daemon: while apt runs, invoke-rc.d (and deb-systemd-invoke) may start no service,
# by a policy-rc.d that answers 101 (the prometheus package's postinst would start one). Any policy-rc.d already
# there (a container's) is put back afterwards.
set -euo pipefail

who=$1
shift
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

echo "$who: installing $* from Debian's packages"
policy=/usr/sbin/policy-rc.d
saved=""
if [ -e "$policy" ]; then saved=$(mktemp); as_root cp -p "$policy" "$saved"; fi
restore_policy() {
  if [ -n "$saved" ]; then as_root cp -p "$saved" "$policy"; as_root rm -f "$saved"; else as_root rm -f "$policy"; fi
}
trap restore_policy EXIT
printf '#!/bin/sh\n# %s.sh: no service starts while it installs\nexit 101\n' "$who" | as_root tee "$policy" >/dev/null
as_root chmod 755 "$policy"
as_root apt-get update -qq
# Without recommends: they bring more daemons and tools than anything here uses (prometheus-node-exporter and
# smartmontools; buildah, slirp4netns, fuse-overlayfs, catatonit, dbus-user-session).
as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
