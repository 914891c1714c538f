#!/bin/sh
# Training-step time, ours vs PyTorch 1.13 on the CPU, one thread each, same
# model (weights from the ONNX file), batch, loss (cross-entropy) and
# optimizer (SGD, momentum 0.9). Usage: bench/finetune/step.sh [MODEL BATCH]...
# Defaults: the bundled LeNet at batch 64, and ResNet-20 at 64 when
# testmodels/fmnist/resnet20.onnx exists.
set -eu
cd "$(dirname "$0")/../.."
ITERS=${ITERS:-20}
if [ $# -eq 0 ]; then
	set -- testmodels/fmnist/lenet5.onnx 64
	[ -f testmodels/fmnist/resnet20.onnx ] && set -- "$@" testmodels/fmnist/resnet20.onnx 64
fi
printf '%-36s %5s %12s %12s %7s\n' model batch "ours ms" "torch ms" ratio
while [ $# -ge 2 ]; do
	model=$1 batch=$2
	shift 2
	ours=$(ONNXCOMPRESS_BENCH_MODEL="$PWD/$model" ONNXCOMPRESS_BENCH_BATCH=$batch GOMAXPROCS=1 \
		go test -run '^$' -bench '^BenchmarkTrainingStep$' -benchtime "${ITERS}x" -count 3 ./finetune/ |
		awk '/^BenchmarkTrainingStep/ { print $3 / 1e6 }' | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }')
	torch=$(/usr/bin/python3 bench/finetune/torch_onnx.py bench "$model" "$batch" "$ITERS" | awk '{ print $1 * 1000 }')
	printf '%-36s %5d %12.2f %12.2f %7.2f\n' "$model" "$batch" "$ours" "$torch" "$(echo "$ours $torch" | awk '{ print $1 / $2 }')"
done
