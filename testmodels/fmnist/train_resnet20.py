#!/usr/bin/python3
"""Train a ResNet-20 (CIFAR-style, 1 input channel) on Fashion-MNIST and export it to ONNX (opset 13).

Produces, beside this script:
  resnet20.onnx  the trained model, input 'input' [N,1,28,28] float32 (normalised), output 'logits' [N,10]
  resnet20.json  test accuracy (all 10,000 test images, computed by the PyTorch model), the input
                 normalisation, names/shapes, and the versions that made it.

Run with Debian's interpreter (the only one with torch):  /usr/bin/python3 train_resnet20.py
(OUT_DIR=dir writes the two files there instead; EPOCHS=n changes the schedule.)
Same data loading, normalisation and export conventions as train_lenet.py (shared in fmnist_common.py).
The shortcut of a block that changes shape is a 1x1 strided conv with BatchNorm (He et al. option B),
so every residual Add in the exported graph joins two conv branches.
"""
import os

import torch
import torch.nn as nn
import torch.nn.functional as F

import fmnist_common as common

EPOCHS = int(os.environ.get("EPOCHS", "3"))
BATCH = 128
MIN_ACCURACY = 0.90


class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut = nn.Sequential()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class ResNet20(nn.Module):
    def __init__(self, classes=10):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        layers, cin = [], 16
        for cout, stride in [(16, 1), (32, 2), (64, 2)]:
            blocks = []
            for i in range(3):
                blocks.append(BasicBlock(cin, cout, stride if i == 0 else 1))
                cin = cout
            layers.append(nn.Sequential(*blocks))
        self.layer1, self.layer2, self.layer3 = layers
        self.fc = nn.Linear(64, classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        x = torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)
        return self.fc(x)


def augment(x, gen):
    """Random horizontal flip and a random crop of the 2-pixel zero-padded image."""
    flip = torch.rand(len(x), generator=gen) < 0.5
    x = torch.where(flip[:, None, None, None], x.flip(3), x)
    padded = F.pad(x, (2, 2, 2, 2), value=float(-common.MEAN / common.STD))
    dy, dx = torch.randint(0, 5, (2,), generator=gen).tolist()
    return padded[:, :, dy:dy + 28, dx:dx + 28]


def main():
    common.seed_everything()
    xtr, ytr = common.load("train")
    xte, yte = common.load("t10k")
    model = ResNet20()
    steps = EPOCHS * ((len(xtr) + BATCH - 1) // BATCH)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4, nesterov=True)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.1, total_steps=steps, pct_start=0.15)
    common.train(model, opt, sched, xtr, ytr, xte, yte, EPOCHS, BATCH, augment)
    common.export(model, xte, yte, MIN_ACCURACY, "resnet20", {
        "architecture": "ResNet-20 (CIFAR-style: conv3x3 16, 3 stages x 3 basic blocks of 16/32/64 channels, "
                        "1x1 conv+BN projection shortcuts, global average pool, fc 10; 1 input channel)",
        "epochs": EPOCHS,
        "batch_size": BATCH,
        "optimizer": "SGD Nesterov momentum 0.9, weight decay 5e-4, one-cycle lr max 0.1 per step",
        "augmentation": "random horizontal flip, random crop of the 2-pixel padded image",
        "script": "testmodels/fmnist/train_resnet20.py",
    })


if __name__ == "__main__":
    main()
