#!/bin/sh
# LCS on the bundled LeNet-5 (Fashion-MNIST, 91.22% recorded): train a
# subspace with compress --method lcs, score the static model of every grid
# level on the 10k test images (report JSON + SVG), export the family with
# lcs-export (plus the adaptive graph), re-score each exported file with
# eval, and check every member against ONNX Runtime on 512 test images.
#
#   bench/lcs/run.sh                 LCS+P unstructured (the headline run)
#   bench/lcs/run.sh MODE SUBSPACE   any regime: unstructured|structured|quantized, point|line
#
# Output goes to $OUT (default /tmp/lcs). CPU-heavy: run it niced in the
# background, e.g. `nice bench/lcs/run.sh > /tmp/lcs/run.log 2>&1 &`.
set -eu
cd "$(dirname "$0")/../.."
MODE=${1:-unstructured}
SUB=${2:-point}
OUT=${OUT:-/tmp/lcs}
EPOCHS=${EPOCHS:-5}
WARMUP=${WARMUP:-0.2}
THREADS=${THREADS:-2}
DATA=/usr/share/datasets/fashion-mnist
NAME=lenet5.$MODE.$SUB
mkdir -p "$OUT"
go build -o "$OUT/onnxcompress" ./cmd/onnxcompress
BIN="$OUT/onnxcompress"

echo "== train: $MODE LCS+$SUB, $EPOCHS epochs, LCS warm-up $WARMUP of the steps"
start=$(date +%s)
"$BIN" compress testmodels/fmnist/lenet5.onnx -o "$OUT/$NAME.onnx" --method lcs --mode "$MODE" --subspace "$SUB" \
	--data "$DATA" --mean 0.286 --std 0.353 --epochs "$EPOCHS" --warmup-fraction "$WARMUP" --lr 1e-3 \
	--seed 1 --threads "$THREADS" --report "$OUT/$NAME.json"
echo "train + curve wall: $(( $(date +%s) - start )) s"

echo "== export the family and the adaptive graph"
"$BIN" lcs-export "$OUT/$NAME.onnx" -o "$OUT/$NAME.family" --adaptive "$OUT/$NAME.adaptive.onnx"

echo "== re-score each exported file (eval, 10k test images)"
for f in "$OUT/$NAME.family"/*.onnx; do
	printf '%s ' "$(basename "$f")"
	"$BIN" eval "$f" --data "$DATA" --mean 0.286 --std 0.353 --json 2>/dev/null | grep '"accuracy"'
done

echo "== every member in ONNX Runtime vs this runtime"
LCS_SUBSPACE="$OUT/$NAME.onnx" go test -count=1 -run TestLCSTrainedFamilyInORT -v . | grep -E 'level|PASS|FAIL|ok'
