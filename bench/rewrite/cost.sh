#!/bin/sh
# Time and peak RSS of `onnxcompress compress --method tucker --ratio 0.5` on
# torchvision ResNet-18 (random weights, 44.6 MiB), with compress's default
# --probe and with --probe 0, against the goals 10 s and 4x the model file.
# Each command runs RUNS times; the table keeps the median times and the
# largest peak RSS. With BASELINE (a git revision, or a folder holding a
# source tree), that is built too and its runs alternate with the working
# tree's, so both meet the same machine load.
#
# Usage: bench/rewrite/cost.sh [RUNS] [BASELINE]   (from anywhere; needs
# /usr/bin/python3 with torch+torchvision and GNU time)
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
runs=${1:-3}
baseline=${2:-}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

[ -x /usr/bin/time ] || { echo "need GNU time: apt-get install time" >&2; exit 1; }
cd "$root"
go build -o "$tmp/onnxcompress" ./cmd/onnxcompress
go build -o "$tmp/rewrite-bench" ./bench/rewrite
base=""
if [ -n "$baseline" ]; then
	if [ -d "$baseline" ]; then
		(cd "$baseline" && go build -o "$tmp/onnxcompress-base" ./cmd/onnxcompress)
		echo "before: the tree in $baseline; after: working tree at $(git log -1 --format=%h)"
	else
		mkdir "$tmp/base"
		git archive "$baseline" | tar -x -C "$tmp/base"
		(cd "$tmp/base" && go build -o "$tmp/onnxcompress-base" ./cmd/onnxcompress)
		echo "before: $(git log -1 --format=%h "$baseline"); after: working tree at $(git log -1 --format=%h)"
	fi
	echo
	base="-baseline $tmp/onnxcompress-base"
fi
/usr/bin/python3 internal/reference/export_torchvision.py resnet18 "$tmp/resnet18.onnx"

echo "$(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'),"\
	"load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo
# shellcheck disable=SC2086 # $base is empty or two words
"$tmp/rewrite-bench" -part cost -bin "$tmp/onnxcompress" $base -model "$tmp/resnet18.onnx" -label ResNet-18 \
	-shape 1,3,224,224 -probes default,0 -runs "$runs" -work "$tmp"
echo
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
