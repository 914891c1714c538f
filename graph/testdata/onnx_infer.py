"""Reference shape inference for graph/infer_test.go.

Reads a JSON list of single-node cases on stdin, builds each as an ONNX model
with onnx.helper, runs onnx.shape_inference.infer_shapes (strict mode) and
prints, per case, the inferred output types or the error it raised.
Run with /usr/bin/python3 (the interpreter that has python3-onnx).
"""
import json
import sys

import numpy as np
import onnx
from onnx import helper, numpy_helper, shape_inference


def dim_list(shape):
    return [d if isinstance(d, (int, str)) else None for d in shape]


def make_attr(a):
    kind = a["kind"]
    if kind == "int":
        return helper.make_attribute(a["name"], int(a["i"]))
    if kind == "ints":
        return helper.make_attribute(a["name"], [int(v) for v in a["ints"]])
    if kind == "float":
        return helper.make_attribute(a["name"], float(a["f"]))
    if kind == "floats":
        return helper.make_attribute(a["name"], [float(v) for v in a["floats"]])
    if kind == "string":
        return helper.make_attribute(a["name"], a["s"])
    raise ValueError("attribute kind " + kind)


def build(case):
    inputs, inits, names = [], [], []
    for i, inp in enumerate(case["inputs"]):
        if inp is None:
            names.append("")
            continue
        name = "in%d" % i
        names.append(name)
        dtype = inp["dtype"]
        if inp.get("ints") is not None or inp.get("floats") is not None:
            np_type = onnx.mapping.TENSOR_TYPE_TO_NP_TYPE[dtype]
            data = inp["ints"] if inp.get("ints") is not None else inp["floats"]
            arr = np.array(data, dtype=np_type).reshape(inp["shape"])
            inits.append(numpy_helper.from_array(arr, name))
        else:
            inputs.append(helper.make_tensor_value_info(name, dtype, dim_list(inp["shape"])))
    outs = ["out%d" % i for i in range(case["outputs"])]
    node = helper.make_node(case["op"], names, outs)
    node.attribute.extend(make_attr(a) for a in case.get("attrs") or [])
    graph = helper.make_graph([node], case["name"], inputs, [onnx.ValueInfoProto(name=o) for o in outs], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", case["opset"])])
    model.ir_version = 8
    return model


def describe(vi):
    if not vi.HasField("type") or not vi.type.HasField("tensor_type"):
        return None
    tt = vi.type.tensor_type
    out = {"elem": tt.elem_type, "dims": None}
    if tt.HasField("shape"):
        dims = []
        for d in tt.shape.dim:
            if d.HasField("dim_value"):
                dims.append(d.dim_value)
            elif d.HasField("dim_param"):
                dims.append(d.dim_param)
            else:
                dims.append(None)
        out["dims"] = dims
    return out


def main():
    results = []
    for case in json.load(sys.stdin):
        try:
            model = shape_inference.infer_shapes(build(case), strict_mode=True)
            results.append({"name": case["name"], "outputs": [describe(o) for o in model.graph.output]})
        except Exception as e:  # noqa: BLE001 - the error text is the result
            results.append({"name": case["name"], "error": str(e)})
    json.dump(results, sys.stdout)


if __name__ == "__main__":
    main()
