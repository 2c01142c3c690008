#!/usr/bin/env bash
# Install (if needed), then run the test suite (CPU, a few minutes).
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/install.sh
python3 -m pytest -q -p no:cacheprovider tests "$@"
