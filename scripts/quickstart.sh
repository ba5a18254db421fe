#!/usr/bin/env bash
# Install streamsql into .venv and run the quickstart pipeline on the embedded log.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
. .venv/bin/activate
python -m pip install --quiet --upgrade pip
python -m pip install --quiet .
data_dir="${STREAMSQL_DATA_DIR:-$(mktemp -d)}"
streamsql --data-dir "$data_dir" --file examples/quickstart.sql
