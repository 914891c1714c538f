#!/bin/sh
# Accuracy recovery by distillation, per method: the bundled LeNet compressed
# to at most 25% of its parameters, fine-tuned for at most 2 epochs of KD from
# the original, Fashion-MNIST test top-1 before and after. Tucker only takes
# convolutions, which hold 4% of LeNet's weights, so its row compresses the
# convolutions by Tucker-2 (to half) and the fully connected layers by SVD
# (to RATIO less 3 points) to reach the same budget.
# Usage: bench/finetune/recover.sh [METHOD...]   (default: tucker svd debut)
# Env: EPOCHS (2), RATIO (0.25), THREADS (1), EXTRA (more finetune flags).
set -eu
cd "$(dirname "$0")/../.."
DATA=/usr/share/datasets/fashion-mnist
NORM="--mean 0.286 --std 0.353"
EPOCHS=${EPOCHS:-2}
RATIO=${RATIO:-0.25}
THREADS=${THREADS:-1}
[ $# -eq 0 ] && set -- tucker svd debut
bin=$(mktemp -d)
trap 'rm -rf "$bin"' EXIT
go build -o "$bin/onnxcompress" ./cmd/onnxcompress
oc="$bin/onnxcompress"
orig=testmodels/fmnist/lenet5.onnx
acc() { "$oc" eval "$1" --data "$DATA" $NORM --json | awk -F'[:,]' '/"accuracy"/ { printf "%.2f", 100 * $2 }'; }
base=$(acc "$orig")
printf '%-8s %8s %10s %10s %10s %8s\n' method params original before after seconds
for m in "$@"; do
	small="$bin/$m.onnx"
	tuned="$bin/$m.tuned.onnx"
	case $m in
	tucker)
		"$oc" compress "$orig" -o "$bin/$m.conv.onnx" --method tucker --ops Conv --ratio 0.5 --quiet
		"$oc" compress "$bin/$m.conv.onnx" -o "$small" --method svd --ops Gemm \
			--ratio "$(echo "$RATIO" | awk '{ print $1 - 0.03 }')" --quiet
		;;
	*)
		"$oc" compress "$orig" -o "$small" --method "$m" --ratio "$RATIO" --quiet
		;;
	esac
	share=$("$oc" inspect "$small" --json | awk -F'[:,]' '/"params"/ { p = $2 } END { print p }')
	before=$(acc "$small")
	start=$(date +%s)
	"$oc" finetune "$small" -o "$tuned" --teacher "$orig" --data "$DATA" $NORM \
		--epochs "$EPOCHS" --threads "$THREADS" --seed 1 ${EXTRA:-} >"$bin/$m.log"
	secs=$(( $(date +%s) - start ))
	after=$(acc "$tuned")
	printf '%-8s %8s %9s%% %9s%% %9s%% %8d\n' "$m" "$share" "$base" "$before" "$after" "$secs"
done
