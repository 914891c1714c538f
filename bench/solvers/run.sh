#!/bin/sh
# Times onnxcompress's low-rank solvers against numpy float64 references on the
# same seeded matrices and prints a markdown table. Usage (from anywhere):
#   bench/solvers/run.sh [-dir SCRATCH]
# Needs /usr/bin/python3 with numpy; about 3 GB of memory and a few minutes.
set -eu
cd "$(dirname "$0")/../.."
exec go run ./bench/solvers "$@"
