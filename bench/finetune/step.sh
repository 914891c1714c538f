#!/bin/sh
# Training-step time, ours vs PyTorch 1.13 on the CPU, one thread each, same
# model (weights from the ONNX file), batch, loss (cross-entropy) and
# optimizer (SGD, momentum 0.9). Usage: bench/finetune/step.sh [MODEL BATCH]...
# Defaults: the bundled LeNet at batch 64, and ResNet-20 at 64 when
# testmodels/fmnist/resnet20.onnx exists.
set -eu
cd "$(dirname "$0")/../.."
ITERS=${ITERS:-20}
ROUNDS=${ROUNDS:-3} # ours and torch alternate; each side reports its median round
# One thread each means one thread: OpenBLAS (ours with
# ONNXCOMPRESS_BLAS=openblas, PyTorch's GEMMs) otherwise starts a worker per
# core, whose spinning counts in the CPU time.
export OPENBLAS_NUM_THREADS=1
median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
if [ $# -eq 0 ]; then
	set -- testmodels/fmnist/lenet5.onnx 64
	[ -f testmodels/fmnist/resnet20.onnx ] && set -- "$@" testmodels/fmnist/resnet20.onnx 64
fi
# Wall time per step (ours: mean over ITERS steps; torch: median), then CPU
# time per step, steadier when other work shares the machine.
# The backends ($ONNXCOMPRESS_BLAS: go, the default where AVX-512 runs, or
# openblas; PyTorch's convolutions: oneDNN, or with TORCH_MKLDNN=0 im2col on
# its BLAS, Debian's OpenBLAS) and the load average, which the timings
# depend on.
torch_conv=oneDNN
[ "${TORCH_MKLDNN:-1}" = 0 ] && torch_conv="im2col + BLAS"
echo "# backend ${ONNXCOMPRESS_BLAS:-default}; PyTorch convolutions: $torch_conv; load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-36s %5s %9s %9s %6s %12s %12s %6s\n' model batch "ours ms" "torch ms" ratio "ours cpu-ms" "torch cpu-ms" ratio
while [ $# -ge 2 ]; do
	model=$1 batch=$2
	shift 2
	case $model in /*) abs=$model ;; *) abs=$PWD/$model ;; esac
	go test -c -o "${TMPDIR:-/tmp}/finetune.bench" ./finetune/
	ours_runs="" torch_runs="" ours_cpu="" torch_cpu=""
	for _ in $(seq "$ROUNDS"); do
		line=$(ONNXCOMPRESS_BENCH_MODEL="$abs" ONNXCOMPRESS_BENCH_BATCH=$batch GOMAXPROCS=1 \
			"${TMPDIR:-/tmp}/finetune.bench" -test.run '^$' -test.bench '^BenchmarkTrainingStep$' -test.benchtime "${ITERS}x" |
			grep '^BenchmarkTrainingStep')
		ours_runs="$ours_runs $(echo "$line" | awk '{ print $3 / 1e6 }')"
		ours_cpu="$ours_cpu $(echo "$line" | awk '{ for (i = 1; i < NF; i++) if ($(i + 1) == "cpu-ms/op") print $i }')"
		line=$(/usr/bin/python3 bench/finetune/torch_onnx.py bench "$model" "$batch" "$ITERS")
		torch_runs="$torch_runs $(echo "$line" | awk '{ print $1 * 1000 }')"
		torch_cpu="$torch_cpu $(echo "$line" | awk '{ print $2 * 1000 }')"
	done
	ours=$(echo $ours_runs | tr ' ' '\n' | median)
	torch=$(echo $torch_runs | tr ' ' '\n' | median)
	oc=$(echo $ours_cpu | tr ' ' '\n' | median)
	tc=$(echo $torch_cpu | tr ' ' '\n' | median)
	printf '%-36s %5d %9.2f %9.2f %6.2f %12.2f %12.2f %6.2f\n' "$model" "$batch" "$ours" "$torch" \
		"$(echo "$ours $torch" | awk '{ print $1 / $2 }')" "$oc" "$tc" "$(echo "$oc $tc" | awk '{ print $1 / $2 }')"
done
echo "# load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
