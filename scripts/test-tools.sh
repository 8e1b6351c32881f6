#!/usr/bin/env bash
# Debian packages the test stage needs beyond PostgreSQL and Redis: kubectl renders the Kubernetes manifests
# (`kubectl kustomize`). Installs only what is missing.
set -euo pipefail

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

missing=()
command -v kubectl >/dev/null || missing+=(kubernetes-client)
if [ ${#missing[@]} -gt 0 ]; then
  echo "test-tools: installing ${missing[*]} from Debian's packages"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
echo "test-tools: ready"
