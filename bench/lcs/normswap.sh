#!/bin/sh
# Norm swap with retraining: train a small CNN whose BatchNorms survive the
# ONNX export (bn_cnn.py, PyTorch, one epoch), then LCS with --norm group:
# BatchNormalization → GroupNorm (4 groups) and LCS+P unstructured training,
# distilled from the BN model; curve on the 10k test images, every member
# checked against ONNX Runtime.
#
#   nice bench/lcs/normswap.sh > /tmp/lcs/normswap.log 2>&1 &
set -eu
cd "$(dirname "$0")/../.."
OUT=${OUT:-/tmp/lcs}
DATA=/usr/share/datasets/fashion-mnist
mkdir -p "$OUT"
/usr/bin/python3 bench/lcs/bn_cnn.py "$OUT/bncnn.onnx" 1
go build -o "$OUT/onnxcompress" ./cmd/onnxcompress
"$OUT/onnxcompress" eval "$OUT/bncnn.onnx" --data "$DATA" --mean 0.286 --std 0.353
start=$(date +%s)
"$OUT/onnxcompress" compress "$OUT/bncnn.onnx" -o "$OUT/bncnn.gn.unstructured.point.onnx" --method lcs \
	--mode unstructured --subspace point --norm group --groups 4 --data "$DATA" --mean 0.286 --std 0.353 \
	--epochs 2 --warmup-fraction 0.2 --threads 2 --seed 1 --report "$OUT/bncnn.gn.unstructured.point.json"
echo "train + curve wall: $(( $(date +%s) - start )) s"
LCS_SUBSPACE="$OUT/bncnn.gn.unstructured.point.onnx" go test -count=1 -run TestLCSTrainedFamilyInORT -v . | grep -E 'level|PASS|FAIL|ok'
