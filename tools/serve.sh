#!/usr/bin/env bash
# The main job: installs wsframe (see venv.sh), then starts `python -m wsframe`, the echo server with its
# demo page on http://127.0.0.1:8765/. Extra arguments go to it, e.g. `--host 0.0.0.0 --port 9000`.
set -euo pipefail
source "$(dirname "$0")/venv.sh" test

exec "$python" -m wsframe "$@"
