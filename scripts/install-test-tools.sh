#!/bin/sh
# Installs the Debian packages the tests drive: Chromium for the UI's end-to-end tests (playwright-core
# drives /usr/bin/chromium) and redis-server for the Redis queue tests (they start their own servers on
# free ports). Idempotent: what is there is left alone, and apt is not touched when nothing is missing.
set -eu

CHROMIUM="${CHROMIUM_PATH:-/usr/bin/chromium}"
REDIS="${REDIS_SERVER:-/usr/bin/redis-server}"
missing=

if [ -x "$CHROMIUM" ] && "$CHROMIUM" --version >/dev/null 2>&1; then
  echo "install-test-tools: $("$CHROMIUM" --version 2>/dev/null) already installed"
else
  missing="$missing chromium fonts-dejavu-core"
fi
if [ -x "$REDIS" ]; then
  echo "install-test-tools: $("$REDIS" --version) already installed"
else
  missing="$missing redis-server"
fi
if [ -z "$missing" ]; then
  exit 0
fi

SUDO=
if [ "$(id -u)" -ne 0 ]; then
  SUDO=sudo
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# $missing is a list of package names: split on purpose.
$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
case "$missing" in
  *redis-server*)
    # The tests start their own servers; the packaged service is not needed.
    $SUDO systemctl disable --now redis-server >/dev/null 2>&1 || true
    ;;
esac
echo "install-test-tools: installed$missing"
