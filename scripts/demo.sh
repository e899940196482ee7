#!/usr/bin/env bash
# The README's demo command runs this: set up everything, then the demo.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
node bin/connaudit.js demo "$@"
