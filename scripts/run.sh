#!/usr/bin/env bash
# Set up macrorig on a fresh machine and run the main job: the rig's daemon on the
# simulated bench (mock GPIO pins, a rendered camera).  Open the printed URL on a phone
# or a browser and log in with the printed token.  Ctrl-C stops it.
#   scripts/run.sh [extra macrorig serve options, e.g. --host 0.0.0.0 --port 8080]
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup-venv.sh
data=demo-data
mkdir -p "$data"
token=$(.venv/bin/python -c 'import sys; from pathlib import Path; from web.auth import load_or_create_token; print(load_or_create_token(Path(sys.argv[1])))' "$data")
echo "macrorig on the simulated bench — open the URL it prints below and log in with: $token"
exec .venv/bin/macrorig serve --sim --data "$data" "$@"
