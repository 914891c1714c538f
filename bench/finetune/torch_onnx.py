"""Run an ONNX CNN/MLP in PyTorch 1.13 with its initializers as trainable
parameters: the reference the Go trainer is checked and benchmarked against.

  torch_onnx.py grads MODEL X.npy Y.npy TEACHER.npy T ALPHA OUT.npz
      one forward/backward on the batch: writes ce_loss and ce_grad/<init>
      (cross-entropy with Y), kd_loss and kd_grad/<init> (distillation from
      the TEACHER logits at temperature T, weight ALPHA).
  torch_onnx.py weighted JOBS.json
      for each job {"model", "x", "r", "out", "bn_training"}: loss =
      sum(model(x) * r), one backward, writes loss, grad/<init> and (BN in
      training mode) the updated running statistics stat/<init> to out (.npz).
  torch_onnx.py fd64
      reads one JSON job a line from stdin, {"model", "inputs": {name:
      {"shape", "data"}}, "weights": {output: {"shape", "data"}}, "perturb":
      [names of inputs or initializers], "bn_training", "h"}, evaluates the
      model in float64 and answers one JSON line: the outputs and the central
      differences (step h, default 1e-6) of L = sum(output * weight) with
      respect to every element of the perturbed tensors, or {"error"}.
  torch_onnx.py bench MODEL BATCH ITERS
      median wall seconds and mean CPU seconds of a training step (forward,
      CE, backward, SGD update) on random data, one thread.
"""
import os, sys, time

# One thread means one thread: torch.set_num_threads does not reach the
# BLAS's own pool (Debian's OpenBLAS starts one per core), which otherwise
# runs PyTorch's GEMMs on both cores.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
import numpy as np
import onnx
from onnx import numpy_helper
import torch
import torch.nn.functional as F

torch.set_num_threads(1)
# PyTorch runs float32 CPU convolutions on oneDNN's JIT kernels (AVX-512
# here, whatever OPENBLAS_CORETYPE says); TORCH_MKLDNN=0 sends them through
# im2col and the BLAS (Debian's OpenBLAS) instead, for a comparison in which
# both sides multiply with OpenBLAS.
if os.environ.get("TORCH_MKLDNN") == "0":
    torch.backends.mkldnn.enabled = False


def attrs(node):
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def text(v):
    return v.decode() if isinstance(v, bytes) else v


def ints(t):
    return [int(v) for v in t.reshape(-1)]


class OnnxModule(torch.nn.Module):
    """Interprets an ONNX graph with torch ops; float initializers become
    parameters of dtype (float32 for the training references, float64 for the
    finite-difference reference)."""

    def __init__(self, model, bn_training=False, dtype=torch.float32):
        super().__init__()
        self.graph = model.graph
        self.opset = max([o.version for o in model.opset_import if o.domain in ("", "ai.onnx")] or [1])
        self.bn_training = bn_training
        self.dtype = dtype
        self.stats = {}
        self.params = torch.nn.ParameterDict()
        self.consts = {}
        self.names = {}
        for i, init in enumerate(model.graph.initializer):
            arr = numpy_helper.to_array(init)
            if arr.dtype == np.float32:
                key = "p%d" % i
                self.names[init.name] = key
                self.params[key] = torch.nn.Parameter(torch.from_numpy(arr.astype(np.float64) if dtype == torch.float64 else arr.copy()))
            else:
                self.consts[init.name] = torch.from_numpy(arr.copy())

    def value(self, env, name):
        if name in env:
            return env[name]
        if name in self.names:
            return self.params[self.names[name]]
        return self.consts[name]

    def forward(self, x):
        return self.run({self.graph.input[0].name: x})[self.graph.output[0].name]

    def run(self, feeds):
        """Evaluates the graph on feeds (graph input name → tensor) and
        returns every value by name."""
        env = dict(feeds)
        for n in self.graph.node:
            ins = [self.value(env, i) if i else None for i in n.input]
            outs = self.apply(n, ins, attrs(n))
            for name, y in zip(n.output, outs):
                if name:
                    env[name] = y
        return env

    def apply(self, n, ins, a):
        op = n.op_type
        x = ins[0] if ins else None
        opt = lambda i: ins[i] if len(ins) > i and ins[i] is not None else None
        if op == "Conv":
            w = ins[1]
            half = w.dim() - 2
            strides = a.get("strides", [1] * half)
            dil = a.get("dilations", [1] * half)
            pads = list(a.get("pads", [0] * (2 * half)))
            auto = text(a.get("auto_pad", "NOTSET"))
            if auto in ("SAME_UPPER", "SAME_LOWER"):
                for k in range(half):
                    size = x.shape[2 + k]
                    out = -(-size // strides[k])
                    total = max(0, (out - 1) * strides[k] + (w.shape[2 + k] - 1) * dil[k] + 1 - size)
                    small, big = total // 2, total - total // 2
                    pads[k], pads[half + k] = (small, big) if auto == "SAME_UPPER" else (big, small)
            elif auto == "VALID":
                pads = [0] * (2 * half)
            # F.pad lists the last axis first, begin then end.
            xin = F.pad(x, sum(([pads[k], pads[half + k]] for k in reversed(range(half))), []))
            conv = F.conv2d if half == 2 else F.conv1d
            return [conv(xin, w, opt(2), stride=tuple(strides), dilation=tuple(dil), groups=a.get("group", 1))]
        if op == "Gemm":
            A = x.t() if a.get("transA", 0) else x
            B = ins[1].t() if a.get("transB", 0) else ins[1]
            y = a.get("alpha", 1.0) * (A @ B)
            if opt(2) is not None:
                y = y + a.get("beta", 1.0) * ins[2]
            return [y]
        if op == "MatMul":
            return [x @ ins[1]]
        if op in ("MaxPool", "AveragePool"):
            return [self.pool(x, a, op == "MaxPool")]
        if op == "GlobalAveragePool":
            return [x.mean(dim=tuple(range(2, x.dim())), keepdim=True)]
        if op == "BatchNormalization":
            if self.bn_training:
                # ONNX momentum m keeps m of the running value; PyTorch's keeps 1 − m.
                mean, var = ins[3].detach().clone(), ins[4].detach().clone()
                y = F.batch_norm(x, mean, var, ins[1], ins[2], True, 1 - a.get("momentum", 0.9), a.get("epsilon", 1e-5))
                self.stats[n.input[3]], self.stats[n.input[4]] = mean, var
                return [y]
            return [F.batch_norm(x, ins[3].detach(), ins[4].detach(), ins[1], ins[2], False, 0.0, a.get("epsilon", 1e-5))]
        if op == "InstanceNormalization":
            return [F.instance_norm(x, weight=ins[1], bias=ins[2], eps=a.get("epsilon", 1e-5))]
        if op == "Dropout":
            return [x]
        if op == "Constant":
            return [torch.from_numpy(numpy_helper.to_array(a["value"]).copy())]
        if op in BINARY:
            return [BINARY[op](x, ins[1])]
        if op in UNARY:
            return [UNARY[op](x, a)]
        if op == "Clip":
            lo = ins[1].item() if opt(1) is not None else a.get("min", None)
            hi = ins[2].item() if opt(2) is not None else a.get("max", None)
            return [torch.clamp(x, lo, hi)]
        if op in ("Softmax", "LogSoftmax"):
            f = F.softmax if op == "Softmax" else F.log_softmax
            if self.opset >= 13:
                return [f(x, dim=a.get("axis", -1))]
            # Before opset 13 the input is flattened to 2-D at axis.
            ax = a.get("axis", 1) % max(1, x.dim())
            return [f(x.reshape(int(np.prod(x.shape[:ax])), -1), dim=1).reshape(x.shape)]
        if op == "Flatten":
            ax = a.get("axis", 1) % (x.dim() + 1)
            return [x.reshape(int(np.prod(x.shape[:ax])), -1)]
        if op == "Reshape":
            shape = ints(ins[1])
            shape = [x.shape[k] if s == 0 and not a.get("allowzero", 0) else s for k, s in enumerate(shape)]
            return [x.reshape(shape)]
        if op == "Transpose":
            return [x.permute(*a.get("perm", list(reversed(range(x.dim())))))]
        if op == "Concat":
            return [torch.cat([v for v in ins if v is not None], dim=a["axis"])]
        if op == "Split":
            ax = a.get("axis", 0) % x.dim()
            sizes = ints(ins[1]) if opt(1) is not None else a.get("split", None)
            if sizes is None:
                sizes = [x.shape[ax] // len(n.output)] * len(n.output)
            return list(torch.split(x, sizes, dim=ax))
        if op == "Slice":
            starts, ends = ints(ins[1]), ints(ins[2])
            axes = ints(ins[3]) if opt(3) is not None else list(range(len(starts)))
            steps = ints(ins[4]) if opt(4) is not None else [1] * len(starts)
            for s, e, ax, st in zip(starts, ends, axes, steps):
                ax %= x.dim()
                idx = list(range(*slice(s, e, st).indices(x.shape[ax])))
                x = x.index_select(ax, torch.tensor(idx, dtype=torch.long))
            return [x]
        if op == "Pad":
            return [self.pad(x, ins, a)]
        if op == "Expand":
            return [torch.broadcast_to(x, torch.broadcast_shapes(x.shape, tuple(ints(ins[1]))))]
        if op in ("Squeeze", "Unsqueeze"):
            axes = ints(ins[1]) if opt(1) is not None else a.get("axes", None)
            if op == "Squeeze":
                axes = [d for d in range(x.dim()) if x.shape[d] == 1] if axes is None else axes
                return [x.reshape([d for k, d in enumerate(x.shape) if k not in [v % x.dim() for v in axes]])]
            out = x.dim() + len(axes)
            shape, it = [], iter(x.shape)
            for k in range(out):
                shape.append(1 if k in [v % out for v in axes] else next(it))
            return [x.reshape(shape)]
        if op in ("ReduceMean", "ReduceSum"):
            axes = a.get("axes", None)
            if axes is None and opt(1) is not None:
                axes = ints(ins[1])
            if not axes:
                if a.get("noop_with_empty_axes", 0):
                    return [x]
                axes = list(range(x.dim()))
            keep = bool(a.get("keepdims", 1))
            f = torch.mean if op == "ReduceMean" else torch.sum
            return [f(x, dim=tuple(axes), keepdim=keep)]
        if op == "Einsum":
            return [torch.einsum(text(a["equation"]), *ins)]
        if op in ("QuantizeLinear", "DequantizeLinear"):
            return [self.quant(op == "QuantizeLinear", x, ins[1], opt(2), a)]
        raise SystemExit("torch_onnx.py: op %s not supported" % op)

    def quant(self, quantize, x, scale, zero, a):
        """Quantize/DequantizeLinear per tensor or per axis; codes are held
        as floats of the module's dtype (their values are the integers)."""
        if scale.numel() > 1:
            axis = a.get("axis", 1) % x.dim()
            shape = [1] * x.dim()
            shape[axis] = scale.numel()
            scale = scale.reshape(shape)
            zero = zero.reshape(shape) if zero is not None else None
        z = zero.to(scale.dtype) if zero is not None else torch.zeros((), dtype=scale.dtype)
        if not quantize:
            return (x.to(scale.dtype) - z) * scale
        lo, hi = (-128, 127) if zero is not None and zero.dtype == torch.int8 else (0, 255)
        # torch.round rounds half to even, as QuantizeLinear does.
        return torch.clamp(torch.round(x / scale) + z, lo, hi)

    def pad(self, x, ins, a):
        if self.opset >= 11:
            pads = ints(ins[1])
            value = ins[2].item() if len(ins) > 2 and ins[2] is not None else 0.0
        else:
            pads, value = a["pads"], a.get("value", 0.0)
        mode = text(a.get("mode", "constant"))
        r = x.dim()
        if mode == "constant":
            return F.pad(x, sum(([pads[k], pads[r + k]] for k in reversed(range(r))), []), value=value)
        for ax in range(r):
            size, before, after = x.shape[ax], pads[ax], pads[r + ax]
            idx = []
            for i in range(-before, size + after):
                if mode == "edge":
                    idx.append(min(max(i, 0), size - 1))
                else:  # reflect: mirror about the first and last element
                    j = i
                    while j < 0 or j >= size:
                        j = -j if j < 0 else 2 * (size - 1) - j
                    idx.append(j)
            x = x.index_select(ax, torch.tensor(idx, dtype=torch.long))
        return x

    def pool(self, x, a, is_max):
        kernel = a["kernel_shape"]
        nd = len(kernel)
        strides = a.get("strides", [1] * nd)
        dil = a.get("dilations", [1] * nd)
        pads = list(a.get("pads", [0] * (2 * nd)))
        ceil = a.get("ceil_mode", 0)
        include = a.get("count_include_pad", 0)
        auto = text(a.get("auto_pad", "NOTSET"))
        if auto in ("SAME_UPPER", "SAME_LOWER"):
            for k in range(nd):
                size = x.shape[2 + k]
                total = max(0, (-(-size // strides[k]) - 1) * strides[k] + (kernel[k] - 1) * dil[k] + 1 - size)
                small, big = total // 2, total - total // 2
                pads[k], pads[nd + k] = (small, big) if auto == "SAME_UPPER" else (big, small)
        elif auto == "VALID":
            pads = [0] * (2 * nd)
        if nd == 2 and pads[:2] == pads[2:] and dil == [1, 1] and not ceil:
            # PyTorch's own kernels (what the step benchmark should time).
            if is_max:
                return F.max_pool2d(x, kernel, strides, (pads[0], pads[1]))
            return F.avg_pool2d(x, kernel, strides, (pads[0], pads[1]), count_include_pad=bool(include))
        # Any rank, asymmetric pads, dilation, ceil mode: gather the windows.
        outs = []
        for k in range(nd):
            span = x.shape[2 + k] + pads[k] + pads[nd + k] - (kernel[k] - 1) * dil[k] - 1
            o = (-(-span // strides[k]) if ceil else span // strides[k]) + 1
            if ceil and (o - 1) * strides[k] >= x.shape[2 + k] + pads[k]:
                o -= 1  # the last window would start in the end padding
            outs.append(o)
        fill = float("-inf") if is_max else 0.0
        real = torch.ones((1, 1) + tuple(x.shape[2:]), dtype=x.dtype)
        extra = [max(0, (outs[k] - 1) * strides[k] + (kernel[k] - 1) * dil[k] + 1 - (x.shape[2 + k] + pads[k] + pads[nd + k])) for k in range(nd)]
        spec = lambda e: sum(([pads[k], pads[nd + k] + e[k]] for k in reversed(range(nd))), [])
        xp = F.pad(x, spec(extra), value=fill)
        realp = F.pad(real, spec(extra), value=0.0)
        inside = F.pad(F.pad(real, spec([0] * nd), value=1.0), spec_extra(nd, extra), value=0.0)
        for k in range(nd):
            idx = (torch.arange(outs[k]) * strides[k])[:, None] + (torch.arange(kernel[k]) * dil[k])[None, :]
            ax = 2 + 2 * k
            xp, realp, inside = [t.index_select(ax, idx.reshape(-1)).unflatten(ax, (outs[k], kernel[k])) for t in (xp, realp, inside)]
        order = [0, 1] + [2 + 2 * k for k in range(nd)] + [3 + 2 * k for k in range(nd)]
        xp, realp, inside = [t.permute(*order).flatten(2 + nd) for t in (xp, realp, inside)]
        if is_max:
            return xp.amax(dim=-1)
        count = (inside if include else realp).sum(dim=-1)
        return xp.sum(dim=-1) / count


def spec_extra(nd, extra):
    return sum(([0, extra[k]] for k in reversed(range(nd))), [])


BINARY = {
    "Add": lambda a, b: a + b,
    "Sub": lambda a, b: a - b,
    "Mul": lambda a, b: a * b,
    "Div": lambda a, b: a / b,
    "Pow": torch.pow,
}

UNARY = {
    "Relu": lambda x, a: F.relu(x),
    "Identity": lambda x, a: x,
    "Sigmoid": lambda x, a: torch.sigmoid(x),
    "Tanh": lambda x, a: torch.tanh(x),
    "Sqrt": lambda x, a: torch.sqrt(x),
    "LeakyRelu": lambda x, a: F.leaky_relu(x, a.get("alpha", 0.01)),
    "HardSigmoid": lambda x, a: torch.clamp(a.get("alpha", 0.2) * x + a.get("beta", 0.5), 0, 1),
    "HardSwish": lambda x, a: x * torch.clamp(x / 6 + 0.5, 0, 1),
}


def grads(model_path, x_path, y_path, t_path, T, alpha, out_path):
    net = OnnxModule(onnx.load(model_path))
    x = torch.from_numpy(np.load(x_path))
    y = torch.from_numpy(np.load(y_path)).long()
    teacher = torch.from_numpy(np.load(t_path))
    out = {}
    for kind in ("ce", "kd"):
        net.zero_grad()
        logits = net(x)
        if kind == "ce":
            loss = F.cross_entropy(logits, y)
        else:
            kl = F.kl_div(F.log_softmax(logits / T, dim=1), F.softmax(teacher / T, dim=1), reduction="batchmean")
            loss = alpha * T * T * kl + (1 - alpha) * F.cross_entropy(logits, y)
        loss.backward()
        out[kind + "_loss"] = np.array(loss.item(), dtype=np.float64)
        for name, key in net.names.items():
            g = net.params[key].grad
            out[kind + "_grad/" + name] = (g if g is not None else torch.zeros_like(net.params[key])).detach().clone().numpy()
    np.savez(out_path, **out)


def weighted(jobs_path):
    import json
    for job in json.load(open(jobs_path)):
        print(job["model"], file=sys.stderr)
        net = OnnxModule(onnx.load(job["model"]), job.get("bn_training", False))
        out = net(torch.from_numpy(np.load(job["x"])))
        loss = (out * torch.from_numpy(np.load(job["r"]))).sum()
        loss.backward()
        res = {"loss": np.array(loss.item(), dtype=np.float64)}
        for name, key in net.names.items():
            g = net.params[key].grad
            res["grad/" + name] = (g if g is not None else torch.zeros_like(net.params[key])).detach().clone().numpy()
        for name, v in net.stats.items():
            res["stat/" + name] = v.numpy()
        np.savez(job["out"], **res)


def bench(model_path, batch, iters):
    model = onnx.load(model_path)
    net = OnnxModule(model)
    dims = [d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim][1:]
    x = torch.randn(batch, *dims)
    with torch.no_grad():
        classes = net(x).shape[1]
    y = torch.randint(0, classes, (batch,))
    opt = torch.optim.SGD(net.parameters(), lr=1e-3, momentum=0.9)
    times, cpu = [], []
    for i in range(iters + 3):
        t0, c0 = time.perf_counter(), time.process_time()
        opt.zero_grad()
        F.cross_entropy(net(x), y).backward()
        opt.step()
        if i >= 3:
            times.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
    # Median wall seconds, then mean CPU seconds per step.
    print("%.6f %.6f" % (sorted(times)[len(times) // 2], sum(cpu) / len(cpu)))



def fd64(job):
    """Central differences in float64 of L = sum over outputs of sum(y * r)
    with respect to every element of the named inputs or initializers."""
    net = OnnxModule(onnx.load(job["model"]), job.get("bn_training", False), torch.float64)
    as64 = lambda t: torch.tensor(t["data"], dtype=torch.float64).reshape(tuple(t["shape"] or ()))
    feeds = {name: as64(t) for name, t in job["inputs"].items()}
    weights = {name: as64(t) for name, t in job["weights"].items()}
    h = job.get("h", 1e-6)
    with torch.no_grad():
        loss = lambda: sum(float((env[name] * r).sum()) for env in [net.run(feeds)] for name, r in weights.items())
        env = net.run(feeds)
        reply = {"outputs": {name: env[name].reshape(-1).tolist() for name in weights}, "grads": {}}
        for name in job["perturb"]:
            x = feeds[name] if name in feeds else net.params[net.names[name]].data
            flat, g = x.view(-1), []
            for i in range(flat.numel()):
                orig = flat[i].item()
                flat[i] = orig + h
                up = loss()
                flat[i] = orig - h
                down = loss()
                flat[i] = orig
                g.append((up - down) / (2 * h))
            reply["grads"][name] = g
    return reply


def fd64_serve():
    import json
    for line in sys.stdin:
        try:
            reply = fd64(json.loads(line))
        except BaseException as e:  # SystemExit from an unsupported op included
            reply = {"error": "%s: %s" % (type(e).__name__, e)}
        print(json.dumps(reply), flush=True)


if __name__ == "__main__":
    if sys.argv[1] == "grads":
        grads(sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5], float(sys.argv[6]), float(sys.argv[7]), sys.argv[8])
    elif sys.argv[1] == "weighted":
        weighted(sys.argv[2])
    elif sys.argv[1] == "fd64":
        fd64_serve()
    elif sys.argv[1] == "bench":
        bench(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
    else:
        raise SystemExit(__doc__)
