#!/bin/sh
# Accuracy recovery by distillation, per method: the bundled LeNet compressed
# to at most 25% of its parameters, fine-tuned for at most 2 epochs of KD from
# the original, Fashion-MNIST test top-1 before and after.
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
	"$oc" compress "$orig" -o "$small" --method "$m" --ratio "$RATIO" --report "$bin/$m.json" --quiet
	share=$("$oc" inspect "$small" --json | awk -F'[:,]' '/"params"/ { p = $2 } END { print p }')
	before=$(acc "$small")
	start=$(date +%s)
	"$oc" finetune "$small" -o "$tuned" --teacher "$orig" --data "$DATA" $NORM \
		--epochs "$EPOCHS" --threads "$THREADS" --seed 1 ${EXTRA:-} >"$bin/$m.log"
	secs=$(( $(date +%s) - start ))
	after=$(acc "$tuned")
	printf '%-8s %8s %9s%% %9s%% %9s%% %8d\n' "$m" "$share" "$base" "$before" "$after" "$secs"
done
