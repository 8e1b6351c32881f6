#!/usr/bin/env bash
# Debian packages the test stage needs beyond PostgreSQL and Redis: kubectl renders the Kubernetes manifests
# (`kubectl kustomize`); promtool (Debian's `prometheus` package) checks and unit-tests deploy/prometheus/;
# chromium is the browser the console's end-to-end test drives (Playwright, with Debian's binary).
# Installs only what is missing, and starts no daemon (scripts/apt-install.sh).
set -euo pipefail

missing=()
command -v kubectl >/dev/null || missing+=(kubernetes-client)
command -v promtool >/dev/null || missing+=(prometheus)
command -v chromium >/dev/null || missing+=(chromium)
if [ ${#missing[@]} -gt 0 ]; then
  "$(dirname "$0")/apt-install.sh" test-tools "${missing[@]}"
fi
echo "test-tools: ready"
