#!/usr/bin/env python3
"""Writes fixtures/nn/ops.safetensors: for each op, a fixed input, weights, the output, and the
gradients of sum(y * dy) for a fixed upstream dy; plus one small full network and an Adam step.
Swift tests (Tests/NNTests/TorchParityTests.swift) mirror the case table below.

  tools/.venv/bin/python tools/make_nn_references.py      (torch CPU, safetensors)
"""
import os

import torch
import torch.nn as nn
import torch.nn.functional as F
from safetensors.torch import save_file

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "fixtures", "nn")
torch.manual_seed(0)
T = {}


def record(name, module, x, extra_params=()):
    x = x.clone().requires_grad_(True)
    y = module(x)
    dy = torch.randn_like(y)
    (y * dy).sum().backward()
    T[f"{name}.x"] = x.detach()
    T[f"{name}.y"] = y.detach()
    T[f"{name}.dy"] = dy
    T[f"{name}.dx"] = x.grad.detach()
    for pname, p in module.named_parameters():
        T[f"{name}.{pname}"] = p.detach().clone()
        T[f"{name}.d{pname}"] = p.grad.detach().clone()


def r(*shape):
    return torch.randn(*shape)


# name, module, input shape: mirrored in Swift.
record("conv3x3", nn.Conv2d(4, 6, 3, stride=1, padding=1), r(2, 4, 7, 9))
record("conv_s12", nn.Conv2d(3, 5, (3, 3), stride=(1, 2), padding=(1, 1)), r(2, 3, 8, 10))
record("conv_k31", nn.Conv2d(3, 4, (3, 1), stride=(3, 1), padding=(0, 0)), r(2, 3, 9, 5))
record("conv_7x7s2", nn.Conv2d(3, 8, 7, stride=2, padding=3), r(2, 3, 15, 17))
record("conv_groups", nn.Conv2d(4, 6, 3, stride=1, padding=1, groups=2), r(2, 4, 6, 6))
record("conv_dw", nn.Conv2d(6, 6, 5, stride=2, padding=2, groups=6), r(2, 6, 9, 11))
record("conv_1x1", nn.Conv2d(8, 5, 1), r(2, 8, 10, 10))
record("convt", nn.ConvTranspose2d(4, 3, 3, stride=2, padding=1, output_padding=1), r(2, 4, 5, 6))
record("linear", nn.Linear(12, 7), r(5, 12))
bn = nn.BatchNorm2d(5)
bn.train()
record("bn_train", bn, r(3, 5, 4, 4) * 2 + 1)
T["bn_train.running_mean"] = bn.running_mean.clone()
T["bn_train.running_var"] = bn.running_var.clone()
record("relu", nn.ReLU(), r(2, 3, 4, 4))
record("leaky", nn.LeakyReLU(0.2), r(2, 3, 4, 4))
record("prelu", nn.PReLU(3, init=0.25), r(2, 3, 4, 4))
record("sigmoid", nn.Sigmoid(), r(2, 3, 4, 4))
record("tanh", nn.Tanh(), r(2, 3, 4, 4))
record("maxpool", nn.MaxPool2d(3, stride=2, padding=1), r(2, 3, 9, 8))
record("avgpool", nn.AvgPool2d(2), r(2, 3, 8, 6))
record("upsample", nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False), r(2, 3, 4, 5))
class L2(nn.Module):
    def forward(self, x):
        return F.normalize(x, dim=1)


record("l2norm", L2(), r(4, 10))


class Small(nn.Module):
    """conv-bn-relu, residual 3x3 block, maxpool, linear: the shape of the sync towers."""

    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(3, 8, 3, padding=1)
        self.b1 = nn.BatchNorm2d(8)
        self.c2 = nn.Conv2d(8, 8, 3, padding=1)
        self.b2 = nn.BatchNorm2d(8)
        self.fc = nn.Linear(8 * 4 * 4, 6)

    def forward(self, x):
        h = F.relu(self.b1(self.c1(x)))
        h = F.relu(self.b2(self.c2(h)) + h)
        h = F.max_pool2d(h, 2)
        return self.fc(h.flatten(1))


net = Small()
x = r(4, 3, 8, 8)
target = torch.rand(4, 6)
y = net(x)
loss = F.binary_cross_entropy_with_logits(y, target)
loss.backward()
T["net.x"], T["net.target"], T["net.y"], T["net.loss"] = x, target, y.detach(), loss.detach().reshape(1)
for n, p in net.named_parameters():
    T[f"net.{n}"] = p.detach().clone()
    T[f"net.d{n}"] = p.grad.detach().clone()
opt = torch.optim.Adam(net.parameters(), lr=1e-2, weight_decay=1e-3)
opt.step()
for n, p in net.named_parameters():
    T[f"net.after_adam.{n}"] = p.detach().clone()

# Losses on fixed logits/probabilities.
z = r(16)
t = (torch.rand(16) > 0.5).float()
zz = z.clone().requires_grad_(True)
l = F.binary_cross_entropy_with_logits(zz, t)
l.backward()
T["bcelogits.z"], T["bcelogits.t"], T["bcelogits.loss"], T["bcelogits.dz"] = z, t, l.detach().reshape(1), zz.grad
pp = torch.sigmoid(z).clone().requires_grad_(True)
l = F.binary_cross_entropy(pp, t)
l.backward()
T["bce.p"], T["bce.loss"], T["bce.dp"] = pp.detach(), l.detach().reshape(1), pp.grad
a, b = r(5, 9), r(5, 9)
aa, bb = a.clone().requires_grad_(True), b.clone().requires_grad_(True)
c = F.cosine_similarity(aa, bb, dim=1)
g = torch.randn(5)
(c * g).sum().backward()
T["cos.a"], T["cos.b"], T["cos.y"], T["cos.dy"], T["cos.da"], T["cos.db"] = a, b, c.detach(), g, aa.grad, bb.grad

# The engine's direct 3x3 kernel (CKernels): batch 1 and 3, output channels past one block of 16
# and not a multiple of it, rows that end mid-vector, and a plane too narrow for it (im2col path).
# Appended last so that every case above keeps its random draws.
record("conv3x3_direct_b1", nn.Conv2d(5, 19, 3, stride=1, padding=1), r(1, 5, 6, 21))
record("conv3x3_direct_b3", nn.Conv2d(17, 33, 3, stride=1, padding=1), r(3, 17, 5, 16))
record("conv3x3_narrow", nn.Conv2d(3, 4, 3, stride=1, padding=1), r(2, 3, 9, 7))

os.makedirs(OUT, exist_ok=True)
save_file({k: v.contiguous().float() for k, v in T.items()}, os.path.join(OUT, "ops.safetensors"),
          metadata={"torch": torch.__version__})
print(len(T), "tensors,", os.path.getsize(os.path.join(OUT, "ops.safetensors")), "bytes")
