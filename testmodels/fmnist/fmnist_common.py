"""What the Fashion-MNIST training scripts share: data, seeds, the training loop, and the export
with its metadata file. Run the scripts with /usr/bin/python3 (the interpreter with torch)."""
import gzip
import json
import os
import random
import struct
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

DATA = os.environ.get("FMNIST_DIR", "/usr/share/datasets/fashion-mnist")
HERE = os.path.dirname(os.path.abspath(__file__))
OUT_DIR = os.environ.get("OUT_DIR", HERE)
MEAN, STD = 0.2860, 0.3530
SEED = 20240601
CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
           "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]


def read_idx(path, magic):
    with gzip.open(path, "rb") as f:
        data = f.read()
    got, = struct.unpack(">I", data[:4])
    if got != magic:
        sys.exit(f"{path}: IDX magic {got:#x}, want {magic:#x}")
    ndim = magic & 0xFF
    dims = struct.unpack(">" + "I" * ndim, data[4:4 + 4 * ndim])
    arr = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    if arr.size != int(np.prod(dims)):
        sys.exit(f"{path}: {arr.size} bytes for dims {dims}")
    return arr.reshape(dims)


def load(split):
    images = read_idx(os.path.join(DATA, f"{split}-images-idx3-ubyte.gz"), 0x803)
    labels = read_idx(os.path.join(DATA, f"{split}-labels-idx1-ubyte.gz"), 0x801)
    x = (images.astype(np.float32) / 255.0 - MEAN) / STD
    return torch.from_numpy(x[:, None, :, :].copy()), torch.from_numpy(labels.astype(np.int64))


def seed_everything():
    torch.set_num_threads(1)
    random.seed(SEED)
    np.random.seed(SEED)
    torch.manual_seed(SEED)
    torch.use_deterministic_algorithms(True)


def accuracy(model, x, y):
    model.eval()
    correct = 0
    with torch.no_grad():
        for i in range(0, len(x), 1000):
            correct += (model(x[i:i + 1000]).argmax(1) == y[i:i + 1000]).sum().item()
    return correct / len(x)


def train(model, opt, sched, xtr, ytr, xte, yte, epochs, batch, augment=None):
    """Plain cross-entropy training with a per-step schedule; prints test accuracy per epoch."""
    gen = torch.Generator().manual_seed(SEED)
    start = time.time()
    for epoch in range(epochs):
        model.train()
        perm = torch.randperm(len(xtr), generator=gen)
        total = 0.0
        for i in range(0, len(xtr), batch):
            idx = perm[i:i + batch]
            x = xtr[idx] if augment is None else augment(xtr[idx], gen)
            loss = F.cross_entropy(model(x), ytr[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item() * len(idx)
        acc = accuracy(model, xte, yte)
        print(f"epoch {epoch + 1}/{epochs} loss {total / len(xtr):.4f} test acc {acc:.4f} "
              f"({time.time() - start:.0f}s)", flush=True)


def export(model, xte, yte, min_accuracy, name, extra):
    """Export NAME.onnx (opset 13, dynamic batch) and NAME.json beside it, if accurate enough."""
    acc = accuracy(model, xte, yte)
    if acc < min_accuracy:
        sys.exit(f"test accuracy {acc:.4f} below {min_accuracy}; not exporting")
    model.eval()
    onnx_path = os.path.join(OUT_DIR, name + ".onnx")
    torch.onnx.export(model, torch.zeros(1, 1, 28, 28), onnx_path, opset_version=13,
                      input_names=["input"], output_names=["logits"],
                      dynamic_axes={"input": {0: "N"}, "logits": {0: "N"}},
                      do_constant_folding=True)
    meta = {
        "model": name + ".onnx",
        "architecture": extra.pop("architecture"),
        "dataset": "Fashion-MNIST (" + DATA + ")",
        "classes": CLASSES,
        "test_accuracy": acc,
        "test_images": len(xte),
        "accuracy_computed_by": "PyTorch model before export",
        "normalization": {"scale": 1.0 / 255.0, "mean": MEAN, "std": STD,
                          "formula": "(pixel * scale - mean) / std"},
        "input": {"name": "input", "shape": ["N", 1, 28, 28], "dtype": "float32"},
        "output": {"name": "logits", "shape": ["N", 10], "dtype": "float32"},
        "opset": 13,
        **{k: v for k, v in extra.items() if k != "script"},
        "seed": SEED,
        "torch_version": torch.__version__,
        "numpy_version": np.__version__,
        "script": extra["script"],
    }
    with open(os.path.join(OUT_DIR, name + ".json"), "w") as f:
        json.dump(meta, f, indent=2)
        f.write("\n")
    print(f"wrote {onnx_path} (test accuracy {acc:.4f})")
