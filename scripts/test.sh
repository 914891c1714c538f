#!/usr/bin/env bash
# The project's test command: set-up, static checks, the whole test suite, and
# a bounded fuzz run of the model reader.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
echo "== gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go'))
if [ -n "$unformatted" ]; then echo "gofmt would change:"; echo "$unformatted"; exit 1; fi
echo "== go vet"
go vet ./...
echo "== go test"
go test -count=1 -timeout 40m ./...
echo "== fuzz (bounded)"
# Bounded by executions, not by time: Go 1.26's fuzz coordinator can report a
# bare "context deadline exceeded" when a -fuzztime duration expires while a
# worker is mid-call (go.dev/issue/75804, fixed in 1.27); 300000 executions take
# 10–20 s here.
go test -count=1 -run '^$' -fuzz '^FuzzDecode$' -fuzztime "${FUZZTIME:-300000x}" ./onnx
