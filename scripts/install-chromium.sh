#!/bin/sh
# Installs Debian's Chromium for the UI's end-to-end tests (playwright-core drives /usr/bin/chromium).
# Idempotent: when Chromium already runs, it returns at once without touching apt.
set -eu

CHROMIUM="${CHROMIUM_PATH:-/usr/bin/chromium}"

if [ -x "$CHROMIUM" ] && "$CHROMIUM" --version >/dev/null 2>&1; then
  echo "install-chromium: $("$CHROMIUM" --version 2>/dev/null) already installed"
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  SUDO=sudo
else
  SUDO=
fi

export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null
echo "install-chromium: $("$CHROMIUM" --version 2>/dev/null) installed"
