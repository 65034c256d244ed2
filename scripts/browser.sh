#!/usr/bin/env bash
# Debian's Chromium for the browser tests (tests/ui/test_browser.py): install it when missing, or fail.
# Nothing downloads a browser of its own: apt's chromium only.
set -euo pipefail
if command -v chromium >/dev/null 2>&1; then
    exit 0
fi
if [ "$(id -u)" != 0 ]; then
    echo "chromium is missing and installing it needs root: sudo apt-get install -y chromium" >&2
    exit 1
fi
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
command -v chromium >/dev/null
