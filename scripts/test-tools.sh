#!/usr/bin/env bash
# Debian packages the test stage needs beyond PostgreSQL and Redis: kubectl renders the Kubernetes manifests
# (`kubectl kustomize`); promtool (Debian's `prometheus` package) checks and unit-tests deploy/prometheus/;
# chromium is the browser the console's end-to-end test drives (Playwright, with Debian's binary).
# Installs only what is missing, and starts no daemon: the prometheus package's postinst would start one.
set -euo pipefail

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

missing=()
command -v kubectl >/dev/null || missing+=(kubernetes-client)
command -v promtool >/dev/null || missing+=(prometheus)
command -v chromium >/dev/null || missing+=(chromium)
if [ ${#missing[@]} -gt 0 ]; then
  echo "test-tools: installing ${missing[*]} from Debian's packages"
  # While apt runs, invoke-rc.d (and deb-systemd-invoke) may start no service: a policy-rc.d that answers 101.
  # Any policy-rc.d already there (a container's) is put back afterwards.
  policy=/usr/sbin/policy-rc.d
  saved=""
  if [ -e "$policy" ]; then saved=$(mktemp); as_root cp -p "$policy" "$saved"; fi
  restore_policy() {
    if [ -n "$saved" ]; then as_root cp -p "$saved" "$policy"; as_root rm -f "$saved"; else as_root rm -f "$policy"; fi
  }
  trap restore_policy EXIT
  printf '#!/bin/sh\n# test-tools.sh: no service starts while it installs\nexit 101\n' | as_root tee "$policy" >/dev/null
  as_root chmod 755 "$policy"
  as_root apt-get update -qq
  # Without recommends: those bring prometheus-node-exporter and smartmontools, more daemons the tests never use.
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  restore_policy
  trap - EXIT
fi
echo "test-tools: ready"
