#!/usr/bin/python3
"""Train LeNet-5 on Fashion-MNIST and export it to ONNX (opset 13).

Produces, beside this script:
  lenet5.onnx  the trained model, input 'input' [N,1,28,28] float32 (normalised), output 'logits' [N,10]
  lenet5.json  test accuracy (all 10,000 test images, computed by the PyTorch model), the input
               normalisation, names/shapes, and the versions that made it.

Run with Debian's interpreter (the only one with torch):  /usr/bin/python3 train_lenet.py
(OUT_DIR=dir writes the two files there instead, e.g. to check the run reproduces them.)
Inputs are pixel/255, then (x - MEAN) / STD. Deterministic: fixed seeds, one thread.
"""
import gzip
import json
import os
import random
import struct
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

DATA = os.environ.get("FMNIST_DIR", "/usr/share/datasets/fashion-mnist")
HERE = os.path.dirname(os.path.abspath(__file__))
OUT_DIR = os.environ.get("OUT_DIR", HERE)
MEAN, STD = 0.2860, 0.3530
SEED = 20240601
EPOCHS = int(os.environ.get("EPOCHS", "15"))
BATCH = 64
MIN_ACCURACY = 0.89
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


class LeNet5(nn.Module):
    """LeNet-5 with ReLU and max-pooling: 28x28 padded by 2 as in the 32x32 original."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 6, 5, padding=2)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1 = nn.Linear(16 * 5 * 5, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = torch.flatten(x, 1)
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        return self.fc3(x)


def accuracy(model, x, y):
    model.eval()
    correct = 0
    with torch.no_grad():
        for i in range(0, len(x), 1000):
            correct += (model(x[i:i + 1000]).argmax(1) == y[i:i + 1000]).sum().item()
    return correct / len(x)


def main():
    torch.set_num_threads(1)
    random.seed(SEED)
    np.random.seed(SEED)
    torch.manual_seed(SEED)
    torch.use_deterministic_algorithms(True)

    xtr, ytr = load("train")
    xte, yte = load("t10k")
    model = LeNet5()
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=EPOCHS * ((len(xtr) + BATCH - 1) // BATCH))
    gen = torch.Generator().manual_seed(SEED)
    start = time.time()
    for epoch in range(EPOCHS):
        model.train()
        perm = torch.randperm(len(xtr), generator=gen)
        total = 0.0
        for i in range(0, len(xtr), BATCH):
            idx = perm[i:i + BATCH]
            loss = F.cross_entropy(model(xtr[idx]), ytr[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item() * len(idx)
        acc = accuracy(model, xte, yte)
        print(f"epoch {epoch + 1}/{EPOCHS} loss {total / len(xtr):.4f} test acc {acc:.4f} "
              f"({time.time() - start:.0f}s)", flush=True)

    acc = accuracy(model, xte, yte)
    if acc < MIN_ACCURACY:
        sys.exit(f"test accuracy {acc:.4f} below {MIN_ACCURACY}; not exporting")

    model.eval()
    onnx_path = os.path.join(OUT_DIR, "lenet5.onnx")
    torch.onnx.export(model, torch.zeros(1, 1, 28, 28), onnx_path, opset_version=13,
                      input_names=["input"], output_names=["logits"],
                      dynamic_axes={"input": {0: "N"}, "logits": {0: "N"}},
                      do_constant_folding=True)
    meta = {
        "model": "lenet5.onnx",
        "architecture": "LeNet-5 (conv5x5 6 pad2, maxpool2, conv5x5 16, maxpool2, fc 120, fc 84, fc 10; ReLU)",
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
        "epochs": EPOCHS,
        "batch_size": BATCH,
        "optimizer": "Adam lr 2e-3, cosine annealing per step",
        "seed": SEED,
        "torch_version": torch.__version__,
        "numpy_version": np.__version__,
        "script": "testmodels/fmnist/train_lenet.py",
    }
    with open(os.path.join(OUT_DIR, "lenet5.json"), "w") as f:
        json.dump(meta, f, indent=2)
        f.write("\n")
    print(f"wrote {onnx_path} (test accuracy {acc:.4f})")


if __name__ == "__main__":
    main()
