#!/usr/bin/python3
"""Export a randomly initialised torchvision classifier to ONNX (opset 13).

Usage: /usr/bin/python3 export_torchvision.py ARCH OUT.onnx [SEED]
ARCH: resnet18 | mobilenet_v2 | squeezenet1_0. Weights are torchvision's own
random initialisation under torch.manual_seed(SEED) (default 0), eval mode.
Input 'input' [N,3,224,224] float32, output 'output' [N,1000]; N is dynamic.
"""
import sys

import torch
import torchvision

ARCHS = {
    "resnet18": torchvision.models.resnet18,
    "mobilenet_v2": torchvision.models.mobilenet_v2,
    "squeezenet1_0": torchvision.models.squeezenet1_0,
}


def main():
    if len(sys.argv) not in (3, 4) or sys.argv[1] not in ARCHS:
        sys.exit(f"usage: export_torchvision.py {{{'|'.join(ARCHS)}}} OUT.onnx [SEED]")
    arch, out = sys.argv[1], sys.argv[2]
    seed = int(sys.argv[3]) if len(sys.argv) == 4 else 0
    torch.set_num_threads(1)
    torch.manual_seed(seed)
    model = ARCHS[arch](weights=None).eval()
    with torch.no_grad():
        torch.onnx.export(model, torch.zeros(1, 3, 224, 224), out, opset_version=13,
                          input_names=["input"], output_names=["output"],
                          dynamic_axes={"input": {0: "N"}, "output": {0: "N"}},
                          do_constant_folding=True)


if __name__ == "__main__":
    main()
