#!/bin/sh
# Regenerates onnx/onnxpb from the ONNX schema Debian ships with python3-onnx.
# onnx-ml.proto and onnx-data.proto both declare proto package "onnx"; they are
# generated into one Go package because two Go packages registering the same
# proto names panic at start-up.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
schema=${ONNX_PROTO_DIR:-/usr/lib/python3/dist-packages}
gen=${PROTOC_GEN_GO:-/root/go/bin/protoc-gen-go}
pkg=github.com/onnxcompress/onnxcompress/onnx/onnxpb
out=$root/onnx/onnxpb
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
protoc \
	--plugin=protoc-gen-go="$gen" \
	--proto_path="$schema" \
	--go_out="$tmp" \
	--go_opt=paths=source_relative \
	--go_opt=Monnx/onnx-ml.proto="$pkg;onnxpb" \
	--go_opt=Monnx/onnx-data.proto="$pkg;onnxpb" \
	onnx/onnx-ml.proto onnx/onnx-data.proto
mkdir -p "$out"
cp "$tmp"/onnx/onnx-ml.pb.go "$out"/onnx_ml.pb.go
cp "$tmp"/onnx/onnx-data.pb.go "$out"/onnx_data.pb.go
gofmt -l "$out"
