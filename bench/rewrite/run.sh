#!/bin/sh
# What the rewrite passes cost and buy, in one go (~10-15 min on 2 cores):
#  1. time and peak RSS of `onnxcompress compress --method tucker --ratio 0.5`
#     on torchvision ResNet-18 (random weights), with the default --probe (1)
#     and --probe 0, largest peak RSS of 3 runs (cost.sh runs that part alone);
#  2. ONNX Runtime latency (1 intra-op thread, median) of the compressed vs
#     original model, per method, on ResNet-18 224×224 batch 1 and LeNet-5
#     batch 64, beside the MAC ratio from `onnxcompress inspect --json`.
#     ResNet-18 is also compressed at --macs-ratio 0.5 with svd, tucker, cp and
#     tt (debut prices no MACs for Conv layers), which tests the latency goal
#     more directly: at --ratio 0.5 the parameter budget goes mostly to the
#     512-channel layers, which hold the parameters but few of the MACs.
# Prints markdown tables with the date, CPU and load average.
#
# Usage: bench/rewrite/run.sh [ITERS] [RESNET_TIMEOUT] [ROUNDS]   (from anywhere; needs
# /usr/bin/python3 with torch+torchvision, GNU time, node and
# node_modules/onnxruntime-node)
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
iters=${1:-20}
resnet_timeout=${2:-200s}
rounds=${3:-3}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

[ -x /usr/bin/time ] || { echo "need GNU time: apt-get install time" >&2; exit 1; }
cd "$root"
go build -o "$tmp/onnxcompress" ./cmd/onnxcompress
go build -o "$tmp/rewrite-bench" ./bench/rewrite
/usr/bin/python3 internal/reference/export_torchvision.py resnet18 "$tmp/resnet18.onnx"

machine() {
	echo "$(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"\
		"(family $(grep -m1 'cpu family' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')),"\
		"load average $(cut -d' ' -f1-3 /proc/loadavg) (shared machine)"
}

echo "## Compression cost (ResNet-18)"
echo
machine
echo
"$tmp/rewrite-bench" -part cost -bin "$tmp/onnxcompress" -model "$tmp/resnet18.onnx" -label ResNet-18 \
	-shape 1,3,224,224 -probes default,0 -runs 3 -work "$tmp"
echo
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo

echo "## ONNX Runtime latency, compressed vs original"
echo
machine
echo
echo "ms: fastest of $rounds alternating ONNX Runtime medians ($iters runs each, 1 intra-op thread)."
echo
"$tmp/rewrite-bench" -part latency -bin "$tmp/onnxcompress" -model testmodels/fmnist/lenet5.onnx -label "LeNet-5 b64" \
	-shape 64,1,28,28 -iters "$iters" -rounds "$rounds" -work "$tmp"
"$tmp/rewrite-bench" -part latency -bin "$tmp/onnxcompress" -model "$tmp/resnet18.onnx" -label "ResNet-18 b1" \
	-shape 1,3,224,224 -iters "$iters" -rounds "$rounds" -timeout "$resnet_timeout" -work "$tmp" | tail -n +3
"$tmp/rewrite-bench" -part latency -bin "$tmp/onnxcompress" -model "$tmp/resnet18.onnx" -label "ResNet-18 b1" \
	-shape 1,3,224,224 -iters "$iters" -rounds "$rounds" -timeout "$resnet_timeout" -work "$tmp" -methods svd,tucker,cp,tt \
	-target "--macs-ratio 0.5" | tail -n +3
echo
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
