#!/usr/bin/python3
"""Train LeNet-5 on Fashion-MNIST and export it to ONNX (opset 13).

Produces, beside this script:
  lenet5.onnx  the trained model, input 'input' [N,1,28,28] float32 (normalised), output 'logits' [N,10]
  lenet5.json  test accuracy (all 10,000 test images, computed by the PyTorch model), the input
               normalisation, names/shapes, and the versions that made it.

Run with Debian's interpreter (the only one with torch):  /usr/bin/python3 train_lenet.py
(OUT_DIR=dir writes the two files there instead, e.g. to check the run reproduces them.)
Inputs are pixel/255, then (x - MEAN) / STD. Deterministic: fixed seeds, one thread.
Data, seeds, the loop and the export are shared with train_resnet20.py in fmnist_common.py.
"""
import os

import torch
import torch.nn as nn
import torch.nn.functional as F

import fmnist_common as common

EPOCHS = int(os.environ.get("EPOCHS", "15"))
BATCH = 64
MIN_ACCURACY = 0.89


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


def main():
    common.seed_everything()
    xtr, ytr = common.load("train")
    xte, yte = common.load("t10k")
    model = LeNet5()
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=EPOCHS * ((len(xtr) + BATCH - 1) // BATCH))
    common.train(model, opt, sched, xtr, ytr, xte, yte, EPOCHS, BATCH)
    common.export(model, xte, yte, MIN_ACCURACY, "lenet5", {
        "architecture": "LeNet-5 (conv5x5 6 pad2, maxpool2, conv5x5 16, maxpool2, fc 120, fc 84, fc 10; ReLU)",
        "epochs": EPOCHS,
        "batch_size": BATCH,
        "optimizer": "Adam lr 2e-3, cosine annealing per step",
        "script": "testmodels/fmnist/train_lenet.py",
    })


if __name__ == "__main__":
    main()
