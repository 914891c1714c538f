#!/bin/sh
# Accuracy recovery by distillation, per method, on the bundled models:
#   lenet:    LeNet-5 compressed to at most 25% of its parameters (tucker, svd,
#             debut): fc1 and fc2 (94% of the weights) each keep FC (0.2) of
#             their parameters (--allocation uniform; the global budget,
#             which spends by weight or output error, starved fc1 and
#             recovered 0.2-1.8 points less on the hold-out split). Tucker
#             only takes convolutions, which hold 4% of LeNet's weights, so
#             its row compresses them by Tucker (to 0.75) and fc1/fc2 by SVD
#             (FC + 0.01) to reach the same budget.
#   resnet20: ResNet-20 at no more than 50% of its multiply-adds: tucker
#             and data-free hinge --macs-ratio 0.5. Hinge's budget prices
#             both its forms per layer, pruning (where no residual Add needs
#             the channels; it also narrows the layer reading them) and
#             decomposition, and checks the written model's MACs.
# Each is fine-tuned for EPOCHS epochs of KD from the original with the
# finetune command's defaults (plus EXTRA), then scored on the Fashion-MNIST
# test split by `eval` and, on the written file, by ONNX Runtime.
# Usage: bench/finetune/recover.sh [lenet|resnet20] [METHOD...]
# Env: EPOCHS (2), FC (0.2), THREADS (1), EXTRA (more finetune flags),
#      KEEP (a folder to keep the models and logs in).
set -eu
cd "$(dirname "$0")/../.."
DATA=/usr/share/datasets/fashion-mnist
NORM="--mean 0.286 --std 0.353"
EPOCHS=${EPOCHS:-2}
FC=${FC:-0.2}
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
total() { "$oc" inspect "$1" --json | awk -F'[:,]' -v k="\"$2\"" '$1 ~ k { v = $2 } END { print v }'; }
base=$(acc "$orig")
p0=$(total "$orig" params) m0=$(total "$orig" macs)
printf '%-9s %-8s %7s %7s %9s %8s %8s %8s %8s\n' model method params MACs original before after "after-ORT" seconds
for m in "$@"; do
	small="$bin/$model.$m.onnx"
	tuned="$bin/$model.$m.tuned.onnx"
	case $model.$m in
	lenet.tucker)
		"$oc" compress "$orig" -o "$bin/$m.conv.onnx" --method tucker --ops Conv --ratio 0.75 --quiet
		"$oc" compress "$bin/$m.conv.onnx" -o "$small" --method svd $FCS \
			--ratio "$(echo "$FC" | awk '{ print $1 + 0.01 }')" --quiet
		;;
	lenet.*) "$oc" compress "$orig" -o "$small" --method "$m" $FCS --ratio "$FC" --quiet ;;
	resnet20.*) "$oc" compress "$orig" -o "$small" --method "$m" --macs-ratio 0.5 --quiet ;;
	esac
	p=$(total "$small" params) mac=$(total "$small" macs)
	before=$(acc "$small")
	start=$(date +%s)
	"$oc" finetune "$small" -o "$tuned" --teacher "$orig" --data "$DATA" $NORM \
		--epochs "$EPOCHS" --threads "$THREADS" --seed 1 ${EXTRA:-} >"$bin/$model.$m.log" 2>&1
	secs=$(($(date +%s) - start))
	printf '%-9s %-8s %6.1f%% %6.1f%% %8s%% %7s%% %7s%% %7s%% %8d\n' "$model" "$m" \
		"$(echo "$p $p0" | awk '{ print 100 * $1 / $2 }')" "$(echo "$mac $m0" | awk '{ print 100 * $1 / $2 }')" \
		"$base" "$before" "$(acc "$tuned")" "$(ort "$tuned")" "$secs"
done
