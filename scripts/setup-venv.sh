#!/usr/bin/env bash
# Create .venv with Python >= 3.11 and install macrorig (editable) with the given extras.
#   scripts/setup-venv.sh            # the package
#   scripts/setup-venv.sh test       # plus what the tests need
set -euo pipefail
cd "$(dirname "$0")/.."

python=""
for candidate in python3.13 python3.12 python3.11 python3; do
    if command -v "$candidate" >/dev/null 2>&1 &&
        "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
        python="$candidate"
        break
    fi
done
if [ -z "$python" ]; then
    echo "macrorig needs Python 3.11 or newer; install it (e.g. apt install python3.11 python3.11-venv)" >&2
    exit 2
fi

if [ ! -x .venv/bin/python ]; then
    "$python" -m venv .venv
fi
spec="."
if [ $# -gt 0 ]; then
    spec=".[$(IFS=,; echo "$*")]"
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e "$spec"
