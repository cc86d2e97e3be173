#!/bin/sh
# Installs Debian's redis-server for the Redis queue tests (they start their own on a free port).
# Idempotent: when redis-server is there, it returns at once without touching apt.
set -eu

REDIS="${REDIS_SERVER:-/usr/bin/redis-server}"

if [ -x "$REDIS" ]; then
  echo "install-redis: $("$REDIS" --version) already installed"
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  SUDO=sudo
else
  SUDO=
fi

export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends redis-server >/dev/null
# The tests start their own servers; the packaged service is not needed.
$SUDO systemctl disable --now redis-server >/dev/null 2>&1 || true
echo "install-redis: $("$REDIS" --version) installed"
