#!/bin/sh
# Hinge, trained, on the bundled ResNet-20 (Fashion-MNIST): the proximal
# search, the threshold bisection to the FLOP ratio, the compression and the
# fine-tuning by distillation, timed (wall); then the result is checked
# independently: `inspect` MACs against the original's, the ONNX checker
# (python3-onnx), residual Add nodes kept, and top-1 on the 10,000 test
# images in ONNX Runtime (ort_eval.js) for both models.
# Usage: bench/hinge/run.sh   (env: RATIO 0.5, SEARCH_EPOCHS 1, EPOCHS 2,
# THREADS 2, DIR /tmp/hinge, EXTRA: more compress flags, OC: a built
# onnxcompress to use instead of building one)
set -eu
cd "$(dirname "$0")/../.."
DATA=/usr/share/datasets/fashion-mnist
RATIO=${RATIO:-0.5}
DIR=${DIR:-/tmp/hinge}
mkdir -p "$DIR"
oc=${OC:-$DIR/onnxcompress}
[ -n "${OC:-}" ] || go build -o "$oc" ./cmd/onnxcompress
orig=testmodels/fmnist/resnet20.onnx
small="$DIR/resnet20.hinge.onnx"
start=$(date +%s)
"$oc" compress "$orig" -o "$small" --method hinge --train-data "$DATA" --mean 0.286 --std 0.353 \
	--flops-ratio "$RATIO" --search-epochs "${SEARCH_EPOCHS:-1}" --epochs "${EPOCHS:-2}" \
	--threads "${THREADS:-2}" --seed 1 --report "$DIR/resnet20.hinge.json" ${EXTRA:-}
secs=$(( $(date +%s) - start ))
macs() { "$oc" inspect "$1" --json | awk -F'[:,]' '/"macs"/ { m = $2 } END { print m }'; }
adds() { /usr/bin/python3 -c "import onnx,sys; print(sum(n.op_type == 'Add' for n in onnx.load(sys.argv[1]).graph.node))" "$1"; }
/usr/bin/python3 -c "import onnx,sys; onnx.checker.check_model(onnx.load(sys.argv[1])); print('checker: ok')" "$small"
echo "wall seconds (search + threshold + compression + fine-tuning): $secs"
echo "MACs: $(macs "$orig") -> $(macs "$small") (ratio $(awk -v a="$(macs "$small")" -v b="$(macs "$orig")" 'BEGIN { printf "%.4f", a / b }'))"
echo "residual Add nodes: $(adds "$orig") -> $(adds "$small")"
echo "ONNX Runtime, test split:"
node bench/hinge/ort_eval.js "$orig" "$DATA"
node bench/hinge/ort_eval.js "$small" "$DATA"
