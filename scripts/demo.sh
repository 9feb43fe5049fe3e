#!/usr/bin/env bash
# Quick start: install what is missing (nats-server, npm packages), bring up a local swarm
# (NATS, a tracker, three peers) and download a sample file from peer1 to peer2.
# Stays up afterwards so you can try more; Ctrl-C stops everything. Pass --exit to stop at once.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v nats-server >/dev/null 2>&1 && [ ! -x /usr/sbin/nats-server ]; then
  echo "installing nats-server (Debian package)…"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq nats-server
fi
if [ ! -d node_modules ] || [ ! -f dist/src/cli/main.js ]; then
  npm ci --no-audit --no-fund
fi
exec node dist/src/cli/main.js up --peers 3 --dir swarm --demo "$@"
