#!/usr/bin/env bash
# System packages the tests use, from Debian: Chromium for the browser tests (Playwright
# drives it; its own browser download does not work offline), systemd-analyze for the
# unit file, shellcheck for the scripts, and the stacking anchor the fusion tests and
# scripts/bench_stack.py --anchors compare against (align_image_stack from hugin-tools,
# enfuse).  Installs only what is missing.
set -euo pipefail

missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v systemd-analyze >/dev/null 2>&1 || missing+=(systemd)
command -v shellcheck >/dev/null 2>&1 || missing+=(shellcheck)
command -v enfuse >/dev/null 2>&1 || missing+=(enfuse)
command -v align_image_stack >/dev/null 2>&1 || missing+=(hugin-tools)
[ ${#missing[@]} -eq 0 ] && exit 0

sudo=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        sudo="sudo"
    else
        echo "need root (or sudo) to apt-get install: ${missing[*]}" >&2
        exit 2
    fi
fi
echo "installing test dependencies: ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
