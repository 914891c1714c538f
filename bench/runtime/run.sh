#!/bin/sh
# Latency of the onnxcompress runtime vs ONNX Runtime (onnxruntime-node), one
# intra-op thread each, on LeNet-5 (Fashion-MNIST, batch 64) and ResNet-18
# (torchvision, random weights, 224×224, batch 1), with the OpenBLAS and the
# pure-Go GEMM; then conv and sgemm GFLOP/s. Prints wall and CPU-time medians
# and ratios ours/ORT; on a shared machine the CPU-time ratio is the fair one.
#
# Usage: bench/runtime/run.sh [ITERS]   (from anywhere; needs /usr/bin/python3
# with torch+torchvision, node, and node_modules/onnxruntime-node)
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
iters=${1:-20}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

cd "$root"
go build -o "$tmp/runtime-bench" ./bench/runtime
/usr/bin/python3 internal/reference/export_torchvision.py resnet18 "$tmp/resnet18.onnx" 0

for backend in openblas go; do
	echo "## backend $backend"
	"$tmp/runtime-bench" -backend "$backend" -threads 1 -iters "$iters" -ort \
		-model testmodels/fmnist/lenet5.onnx -shape 64,1,28,28
	"$tmp/runtime-bench" -backend "$backend" -threads 1 -iters "$((iters / 2 + 1))" -ort \
		-model "$tmp/resnet18.onnx" -shape 1,3,224,224
	"$tmp/runtime-bench" -backend "$backend" -threads 1 -iters 5 -kernels
done
