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
  torch_onnx.py bench MODEL BATCH ITERS
      median wall seconds and mean CPU seconds of a training step (forward,
      CE, backward, SGD update) on random data, one thread.
"""
import sys, time
import numpy as np
import onnx
from onnx import numpy_helper
import torch
import torch.nn.functional as F

torch.set_num_threads(1)


def attrs(node):
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


class OnnxModule(torch.nn.Module):
    def __init__(self, model, bn_training=False):
        super().__init__()
        self.graph = model.graph
        self.bn_training = bn_training
        self.stats = {}
        self.params = torch.nn.ParameterDict()
        self.consts = {}
        self.names = {}
        for i, init in enumerate(model.graph.initializer):
            arr = numpy_helper.to_array(init)
            if arr.dtype == np.float32:
                key = "p%d" % i
                self.names[init.name] = key
                self.params[key] = torch.nn.Parameter(torch.from_numpy(arr.copy()))
            else:
                self.consts[init.name] = torch.from_numpy(arr.copy())

    def value(self, env, name):
        if name in env:
            return env[name]
        if name in self.names:
            return self.params[self.names[name]]
        return self.consts[name]

    def forward(self, x):
        env = {self.graph.input[0].name: x}
        for n in self.graph.node:
            ins = [self.value(env, i) if i else None for i in n.input]
            a = attrs(n)
            op = n.op_type
            if op == "Conv":
                w = ins[1]
                half = w.dim() - 2
                strides = a.get("strides", [1] * half)
                dil = a.get("dilations", [1] * half)
                pads = list(a.get("pads", [0] * (2 * half)))
                auto = a.get("auto_pad", b"NOTSET").decode()
                if auto in ("SAME_UPPER", "SAME_LOWER"):
                    for k in range(half):
                        size = ins[0].shape[2 + k]
                        out = -(-size // strides[k])
                        total = max(0, (out - 1) * strides[k] + (w.shape[2 + k] - 1) * dil[k] + 1 - size)
                        small, big = total // 2, total - total // 2
                        pads[k], pads[half + k] = (small, big) if auto == "SAME_UPPER" else (big, small)
                elif auto == "VALID":
                    pads = [0] * (2 * half)
                # F.pad lists the last axis first, begin then end.
                xin = F.pad(ins[0], sum(([pads[k], pads[half + k]] for k in reversed(range(half))), []))
                conv = F.conv2d if half == 2 else F.conv1d
                y = conv(xin, w, ins[2] if len(ins) > 2 else None, stride=tuple(strides),
                         dilation=tuple(dil), groups=a.get("group", 1))
            elif op == "Gemm":
                A = ins[0].t() if a.get("transA", 0) else ins[0]
                B = ins[1].t() if a.get("transB", 0) else ins[1]
                y = a.get("alpha", 1.0) * (A @ B)
                if len(ins) > 2 and ins[2] is not None:
                    y = y + a.get("beta", 1.0) * ins[2]
            elif op == "MatMul":
                y = ins[0] @ ins[1]
            elif op == "Relu":
                y = F.relu(ins[0])
            elif op == "Clip":
                lo = ins[1].item() if len(ins) > 1 and ins[1] is not None else a.get("min", None)
                hi = ins[2].item() if len(ins) > 2 and ins[2] is not None else a.get("max", None)
                y = torch.clamp(ins[0], lo, hi)
            elif op == "MaxPool":
                p = a.get("pads", [0, 0, 0, 0])
                y = F.max_pool2d(ins[0], a["kernel_shape"], a.get("strides", a["kernel_shape"]), (p[0], p[1]),
                                 ceil_mode=bool(a.get("ceil_mode", 0)))
            elif op == "AveragePool":
                p = a.get("pads", [0, 0, 0, 0])
                y = F.avg_pool2d(ins[0], a["kernel_shape"], a.get("strides", a["kernel_shape"]), (p[0], p[1]),
                                 ceil_mode=bool(a.get("ceil_mode", 0)),
                                 count_include_pad=bool(a.get("count_include_pad", 0)))
            elif op == "GlobalAveragePool":
                y = ins[0].mean(dim=(2, 3), keepdim=True)
            elif op == "Flatten":
                ax = a.get("axis", 1)
                y = ins[0].reshape(int(np.prod(ins[0].shape[:ax])), -1)
            elif op == "Reshape":
                shape = [int(s) for s in ins[1]]
                shape = [ins[0].shape[k] if s == 0 else s for k, s in enumerate(shape)]
                y = ins[0].reshape(shape)
            elif op == "Transpose":
                y = ins[0].permute(*a["perm"])
            elif op == "Add":
                y = ins[0] + ins[1]
            elif op == "Mul":
                y = ins[0] * ins[1]
            elif op == "BatchNormalization":
                if self.bn_training:
                    # ONNX momentum m keeps m of the running value; PyTorch's keeps 1 − m.
                    mean, var = ins[3].detach().clone(), ins[4].detach().clone()
                    y = F.batch_norm(ins[0], mean, var, ins[1], ins[2], True, 1 - a.get("momentum", 0.9),
                                     a.get("epsilon", 1e-5))
                    self.stats[n.input[3]], self.stats[n.input[4]] = mean, var
                else:
                    y = F.batch_norm(ins[0], ins[3].detach(), ins[4].detach(), ins[1], ins[2], False, 0.0,
                                     a.get("epsilon", 1e-5))
            elif op == "Identity":
                y = ins[0]
            elif op == "Constant":
                y = torch.from_numpy(numpy_helper.to_array(a["value"]).copy())
            elif op == "Sub":
                y = ins[0] - ins[1]
            elif op == "Div":
                y = ins[0] / ins[1]
            elif op == "Pow":
                y = torch.pow(ins[0], ins[1])
            elif op == "Sqrt":
                y = torch.sqrt(ins[0])
            elif op == "ReduceMean":
                axes = a.get("axes", None)
                if axes is None and len(ins) > 1 and ins[1] is not None:
                    axes = [int(v) for v in ins[1]]
                keep = bool(a.get("keepdims", 1))
                y = ins[0].mean(dim=tuple(axes), keepdim=keep) if axes else ins[0].mean()
            elif op == "Softmax":
                y = F.softmax(ins[0], dim=a.get("axis", -1))
            elif op == "Einsum":
                y = torch.einsum(a["equation"].decode(), *ins)
            else:
                raise SystemExit("torch_onnx.py: op %s not supported" % op)
            env[n.output[0]] = y
        return env[self.graph.output[0].name]


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


if __name__ == "__main__":
    if sys.argv[1] == "grads":
        grads(sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5], float(sys.argv[6]), float(sys.argv[7]), sys.argv[8])
    elif sys.argv[1] == "weighted":
        weighted(sys.argv[2])
    elif sys.argv[1] == "bench":
        bench(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
    else:
        raise SystemExit(__doc__)
