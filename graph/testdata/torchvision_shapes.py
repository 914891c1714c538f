"""Export torchvision models and record onnx's inferred shape of every value.

Usage: /usr/bin/python3 torchvision_shapes.py OUTDIR MODEL [MODEL...]
Writes OUTDIR/MODEL.onnx (opset 13, batch 1, random weights) and
OUTDIR/MODEL.json mapping value names to dimension lists, from
onnx.shape_inference.infer_shapes, for graph/conformance_test.go.
"""
import json
import os
import sys

import onnx
import torch
import torchvision


def main():
    torch.set_num_threads(1)
    torch.manual_seed(0)
    out_dir = sys.argv[1]
    for name in sys.argv[2:]:
        kwargs = {"aux_logits": False, "init_weights": False} if name in ("googlenet", "inception_v3") else {}
        model = getattr(torchvision.models, name)(**kwargs).eval()
        size = 299 if name == "inception_v3" else 224
        path = os.path.join(out_dir, name + ".onnx")
        torch.onnx.export(model, torch.randn(1, 3, size, size), path, opset_version=13,
                          input_names=["input"], output_names=["output"])
        inferred = onnx.shape_inference.infer_shapes(onnx.load(path), strict_mode=True)
        shapes = {}
        for vi in list(inferred.graph.value_info) + list(inferred.graph.output):
            tt = vi.type.tensor_type
            if not tt.HasField("shape"):
                continue
            shapes[vi.name] = [d.dim_value if d.HasField("dim_value") else None for d in tt.shape.dim]
        with open(os.path.join(out_dir, name + ".json"), "w") as f:
            json.dump(shapes, f)


if __name__ == "__main__":
    main()
