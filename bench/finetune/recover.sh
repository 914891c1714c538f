#!/bin/sh
# Accuracy recovery by distillation, per method, on the bundled models:
#   lenet:    LeNet-5 compressed to at most 25% of its parameters (tucker, svd,
#             debut): fc1 and fc2 (94% of the weights) each keep FC (0.2) of
#             their parameters (--allocation uniform; the global budget,
#             which spends by weight or output error, starved fc1 and
#             recovered 0.2-1.8 points less on the hold-out split). Tucker
#             only takes convolutions, which hold 4% of LeNet's weights, so
#             its row compresses them by Tucker (CONV, 0.9: conv2's inputs
#             to rank 5 of 6; 0.75 gives rank 4 and ended 0.2 points lower
#             on the hold-out split, mean of 4 seeds) and fc1/fc2 by SVD
#             (FC + 0.01) to reach the same budget.
#   resnet20: ResNet-20 at no more than 50% of its multiply-adds: tucker
#             and data-free hinge --macs-ratio 0.5. Hinge's budget prices
#             both its forms per layer, pruning (where no residual Add needs
#             the channels; it also narrows the layer reading them) and
#             decomposition, and checks the written model's MACs.
# Each is fine-tuned for EPOCHS epochs of KD from the original with the
# finetune command's defaults (plus EXTRA), once per seed in SEEDS (the
# hold-out split and the batch order; single runs move by ±0.15 points),
# then scored on the Fashion-MNIST test split by `eval` and, on the written
# file, by ONNX Runtime; with several seeds a "mean" row follows.
# Usage: bench/finetune/recover.sh [lenet|resnet20] [METHOD...]
# Env: EPOCHS (2), FC (0.2), CONV (0.9), SEEDS ("1"), THREADS (1),
#      EXTRA (more finetune flags),
#      KEEP (a folder to keep the models and logs in).
set -eu
cd "$(dirname "$0")/../.."
DATA=/usr/share/datasets/fashion-mnist
NORM="--mean 0.286 --std 0.353"
EPOCHS=${EPOCHS:-2}
FC=${FC:-0.2}
CONV=${CONV:-0.9}
SEEDS=${SEEDS:-1}
FCS="--allocation uniform --ops Gemm --min-params 5000" # fc1 and fc2, not fc3
THREADS=${THREADS:-1}
model=${1:-lenet}
[ $# -gt 0 ] && shift
case $model in
lenet) orig=testmodels/fmnist/lenet5.onnx; [ $# -eq 0 ] && set -- tucker svd debut ;;
resnet20) orig=testmodels/fmnist/resnet20.onnx; [ $# -eq 0 ] && set -- tucker hinge ;;
*) echo "unknown model $model (want lenet or resnet20)" >&2; exit 2 ;;
esac
bin=${KEEP:-$(mktemp -d)}
mkdir -p "$bin"
[ -z "${KEEP:-}" ] && trap 'rm -rf "$bin"' EXIT
go build -o "$bin/onnxcompress" ./cmd/onnxcompress
oc="$bin/onnxcompress"
acc() { "$oc" eval "$1" --data "$DATA" $NORM --json | awk -F'[:,]' '/"accuracy"/ { printf "%.2f", 100 * $2 }'; }
ort() { node bench/finetune/ort_eval.js "$1" "$DATA" 0.286 0.353 | awk -F'[:,}]' '{ printf "%.2f", 100 * $6 }'; }
share() { echo "$1 $2" | awk '{ print 100 * $1 / $2 }'; }
total() { "$oc" inspect "$1" --json | awk -F'[:,]' -v k="\"$2\"" '$1 ~ k { v = $2 } END { print v }'; }
base=$(acc "$orig")
p0=$(total "$orig" params) m0=$(total "$orig" macs)
printf '%-9s %-8s %4s %7s %7s %9s %8s %8s %8s %8s\n' model method seed params MACs original before after "after-ORT" seconds
for m in "$@"; do
	small="$bin/$model.$m.onnx"
	case $model.$m in
	lenet.tucker)
		"$oc" compress "$orig" -o "$bin/$m.conv.onnx" --method tucker --ops Conv --ratio "$CONV" --quiet
		"$oc" compress "$bin/$m.conv.onnx" -o "$small" --method svd $FCS \
			--ratio "$(echo "$FC" | awk '{ print $1 + 0.01 }')" --quiet
		;;
	lenet.*) "$oc" compress "$orig" -o "$small" --method "$m" $FCS --ratio "$FC" --quiet ;;
	resnet20.*) "$oc" compress "$orig" -o "$small" --method "$m" --macs-ratio 0.5 --quiet ;;
	esac
	p=$(total "$small" params) mac=$(total "$small" macs)
	before=$(acc "$small")
	sum=0 sumort=0 n=0
	for seed in $SEEDS; do
		tuned="$bin/$model.$m.s$seed.tuned.onnx"
		start=$(date +%s)
		"$oc" finetune "$small" -o "$tuned" --teacher "$orig" --data "$DATA" $NORM \
			--epochs "$EPOCHS" --threads "$THREADS" --seed "$seed" ${EXTRA:-} >"$bin/$model.$m.s$seed.log" 2>&1
		secs=$(($(date +%s) - start))
		after=$(acc "$tuned") afterort=$(ort "$tuned")
		sum=$(echo "$sum $after" | awk '{ print $1 + $2 }') sumort=$(echo "$sumort $afterort" | awk '{ print $1 + $2 }') n=$((n + 1))
		printf '%-9s %-8s %4s %6.1f%% %6.1f%% %8s%% %7s%% %7s%% %7s%% %8d\n' "$model" "$m" "$seed" \
			"$(share "$p" "$p0")" "$(share "$mac" "$m0")" "$base" "$before" "$after" "$afterort" "$secs"
	done
	if [ "$n" -gt 1 ]; then
		printf '%-9s %-8s %4s %6.1f%% %6.1f%% %8s%% %7s%% %7.2f%% %7.2f%%\n' "$model" "$m" mean \
			"$(share "$p" "$p0")" "$(share "$mac" "$m0")" "$base" "$before" \
			"$(echo "$sum $n" | awk '{ print $1 / $2 }')" "$(echo "$sumort $n" | awk '{ print $1 / $2 }')"
	fi
done
