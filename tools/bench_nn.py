#!/usr/bin/env python3
"""Peer side of `lipsync-bench nn`: Wav2Lip's expert SyncNet (15x48x96 faces, 1x80x16 mel) and
generator (6x96x96 faces, 1x80x16 mel) in PyTorch on the CPU, 2 threads, and the same for LipSync's
own two models (the shipped sync model's architecture, Sources/Sync/SyncNet.swift, batch 64 pairs as
`train sync` uses it, and the mouth painter, Sources/Generate/MouthPainter.swift, batch 20 frames: 4
windows of 5, as `train generator` uses it). Prints JSON medians for forward (eval, no grad) and a
train step (forward + backward + Adam). The Wav2Lip layer lists are its models/syncnet.py and
models/wav2lip.py (96x96 version), written out here from their public definition.

  tools/.venv/bin/python tools/bench_nn.py [--runs N]
"""
import argparse
import json
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

torch.set_num_threads(2)


class Block(nn.Module):
    def __init__(self, cin, cout, k, s, p, residual=False, transpose=False, output_padding=0):
        super().__init__()
        conv = (nn.ConvTranspose2d(cin, cout, k, s, p, output_padding) if transpose else nn.Conv2d(cin, cout, k, s, p))
        self.conv_block = nn.Sequential(conv, nn.BatchNorm2d(cout))
        self.residual = residual

    def forward(self, x):
        out = self.conv_block(x)
        if self.residual:
            out = out + x
        return F.relu(out)


def B(cin, cout, k, s, p, r=False):
    return Block(cin, cout, k, s, p, r)


def T(cin, cout, k, s, p, op=0):
    return Block(cin, cout, k, s, p, transpose=True, output_padding=op)


def audio_tower(generator):
    layers = [B(1, 32, 3, 1, 1), B(32, 32, 3, 1, 1, True), B(32, 32, 3, 1, 1, True),
              B(32, 64, 3, (3, 1), 1), B(64, 64, 3, 1, 1, True), B(64, 64, 3, 1, 1, True),
              B(64, 128, 3, 3, 1), B(128, 128, 3, 1, 1, True), B(128, 128, 3, 1, 1, True),
              B(128, 256, 3, (3, 2), 1), B(256, 256, 3, 1, 1, True)]
    if not generator:
        layers.append(B(256, 256, 3, 1, 1, True))
    layers += [B(256, 512, 3, 1, 0), B(512, 512, 1, 1, 0)]
    return nn.Sequential(*layers)


class SyncNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.face_encoder = nn.Sequential(
            B(15, 32, 7, 1, 3), B(32, 64, 5, (1, 2), 1), B(64, 64, 3, 1, 1, True), B(64, 64, 3, 1, 1, True),
            B(64, 128, 3, 2, 1), B(128, 128, 3, 1, 1, True), B(128, 128, 3, 1, 1, True), B(128, 128, 3, 1, 1, True),
            B(128, 256, 3, 2, 1), B(256, 256, 3, 1, 1, True), B(256, 256, 3, 1, 1, True),
            B(256, 512, 3, 2, 1), B(512, 512, 3, 1, 1, True), B(512, 512, 3, 1, 1, True),
            B(512, 512, 3, 2, 1), B(512, 512, 3, 1, 0), B(512, 512, 1, 1, 0))
        self.audio_encoder = audio_tower(False)

    def forward(self, mel, face):
        a = F.normalize(self.audio_encoder(mel).flatten(1), dim=1)
        f = F.normalize(self.face_encoder(face).flatten(1), dim=1)
        return a, f


class Generator(nn.Module):
    def __init__(self):
        super().__init__()
        self.face_encoder_blocks = nn.ModuleList([
            nn.Sequential(B(6, 16, 7, 1, 3)),
            nn.Sequential(B(16, 32, 3, 2, 1), B(32, 32, 3, 1, 1, True), B(32, 32, 3, 1, 1, True)),
            nn.Sequential(B(32, 64, 3, 2, 1), B(64, 64, 3, 1, 1, True), B(64, 64, 3, 1, 1, True), B(64, 64, 3, 1, 1, True)),
            nn.Sequential(B(64, 128, 3, 2, 1), B(128, 128, 3, 1, 1, True), B(128, 128, 3, 1, 1, True)),
            nn.Sequential(B(128, 256, 3, 2, 1), B(256, 256, 3, 1, 1, True), B(256, 256, 3, 1, 1, True)),
            nn.Sequential(B(256, 512, 3, 2, 1), B(512, 512, 3, 1, 1, True)),
            nn.Sequential(B(512, 512, 3, 1, 0), B(512, 512, 1, 1, 0))])
        self.audio_encoder = audio_tower(True)
        self.face_decoder_blocks = nn.ModuleList([
            nn.Sequential(B(512, 512, 1, 1, 0)),
            nn.Sequential(T(1024, 512, 3, 1, 0), B(512, 512, 3, 1, 1, True)),
            nn.Sequential(T(1024, 512, 3, 2, 1, 1), B(512, 512, 3, 1, 1, True), B(512, 512, 3, 1, 1, True)),
            nn.Sequential(T(768, 384, 3, 2, 1, 1), B(384, 384, 3, 1, 1, True), B(384, 384, 3, 1, 1, True)),
            nn.Sequential(T(512, 256, 3, 2, 1, 1), B(256, 256, 3, 1, 1, True), B(256, 256, 3, 1, 1, True)),
            nn.Sequential(T(320, 128, 3, 2, 1, 1), B(128, 128, 3, 1, 1, True), B(128, 128, 3, 1, 1, True)),
            nn.Sequential(T(160, 64, 3, 2, 1, 1), B(64, 64, 3, 1, 1, True), B(64, 64, 3, 1, 1, True))])
        self.output_block = nn.Sequential(B(80, 32, 3, 1, 1), nn.Conv2d(32, 3, 1, 1, 0), nn.Sigmoid())

    def forward(self, mel, face):
        feats = []
        x = face
        for f in self.face_encoder_blocks:
            x = f(x)
            feats.append(x)
        x = self.audio_encoder(mel)
        for f in self.face_decoder_blocks:
            x = torch.cat((f(x), feats.pop()), dim=1)
        return self.output_block(x)


class LipSyncSyncNet(nn.Module):
    """Sources/Sync/SyncNet.swift with lip geometry, no mesh branch (the shipped model's inputs)."""

    def __init__(self):
        super().__init__()
        self.crop = nn.Sequential(B(5, 32, 3, 2, 1), B(32, 64, 3, 2, 1), B(64, 64, 3, 1, 1, True), B(64, 128, 3, 2, 1),
                                  B(128, 128, 3, 1, 1, True), B(128, 128, 3, 2, 1))
        self.lips = nn.Sequential(nn.Linear(400, 256), nn.ReLU(), nn.Linear(256, 128), nn.ReLU())
        self.fuse = nn.Sequential(nn.Linear(1024 + 128, 256), nn.ReLU(), nn.Linear(256, 64))
        self.audio = nn.Sequential(B(1, 32, 3, (2, 1), 1), B(32, 64, 3, 2, 1), B(64, 128, 3, 2, 1), B(128, 128, 3, 1, 1, True),
                                   B(128, 128, 3, 2, 1), nn.Flatten(), nn.Linear(1280, 256), nn.ReLU(), nn.Linear(256, 64))

    def forward(self, mel, crops, geometry):
        v = self.fuse(torch.cat((self.crop(crops).flatten(1), self.lips(geometry)), dim=1))
        return self.audio(mel), v


class MouthPainter(nn.Module):
    """Sources/Generate/MouthPainter.swift: the encoder sees the whole 128x128 face, the decoder paints
    the lower half from the bottleneck's lower half and the encoder's lower-half skips."""

    def __init__(self):
        super().__init__()
        self.encoders = nn.ModuleList([nn.Sequential(B(6, 16, 3, 1, 1)), nn.Sequential(B(16, 32, 3, 2, 1)),
                                       nn.Sequential(B(32, 64, 3, 2, 1)), nn.Sequential(B(64, 128, 3, 2, 1)),
                                       nn.Sequential(B(128, 192, 3, 2, 1), B(192, 192, 3, 1, 1, True))])
        self.audio = nn.Sequential(B(1, 32, 3, (2, 1), 1), B(32, 64, 3, 2, 1), B(64, 128, 3, 2, 1), B(128, 128, 3, 1, 1, True),
                                   B(128, 192, 3, 2, 1), nn.Flatten(), nn.Linear(192 * 5 * 2, 192), nn.ReLU())
        self.bottleneck = nn.Sequential(B(384, 192, 3, 1, 1), B(192, 192, 3, 1, 1, True))
        self.decoders = nn.ModuleList([B(192 + 128, 128, 3, 1, 1), B(128 + 64, 48, 3, 1, 1), B(48 + 32, 24, 3, 1, 1),
                                       B(24 + 16, 16, 3, 1, 1)])
        self.output = nn.Conv2d(16, 3, 3, 1, 1)

    def forward(self, mel, face):
        feats = []
        x = face
        for e in self.encoders:
            x = e(x)
            feats.append(x)
        a = self.audio(mel)
        tiled = a[:, :, None, None].expand(-1, -1, x.shape[2], x.shape[3])
        d = self.bottleneck(torch.cat((x, tiled), dim=1))
        y = d[:, :, d.shape[2] // 2:, :]
        for level, dec in enumerate(self.decoders):
            skip = feats[3 - level]
            up = F.interpolate(y, scale_factor=2, mode="bilinear", align_corners=False)
            y = dec(torch.cat((up, skip[:, :, skip.shape[2] // 2:, :]), dim=1))
        return torch.sigmoid(self.output(y))


def timed(fn, runs):
    """Median, fastest and slowest of `runs` timed calls after one untimed."""
    fn()
    ts = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    ts.sort()
    return ts[len(ts) // 2], ts[0], ts[-1]


def bench(name, net, batch, face_shape, runs, forward_only=False, extra_shape=None):
    torch.manual_seed(0)
    inputs = [torch.randn(batch, 1, 80, 16), torch.randn(batch, *face_shape)]
    if extra_shape:
        inputs.append(torch.randn(batch, *extra_shape))
    params = sum(p.numel() for p in net.parameters())
    net.eval()

    def fwd():
        with torch.no_grad():
            net(*inputs)

    forward, flo, fhi = timed(fwd, runs)
    if forward_only:
        return {"name": name, "batch": batch, "params": params, "forward_s": forward, "forward_range_s": [flo, fhi],
                "train_step_s": None}
    net.train()
    opt = torch.optim.Adam(net.parameters(), lr=1e-4)

    def step():
        opt.zero_grad()
        out = net(*inputs)
        loss = (out[0] * out[1]).sum() if isinstance(out, tuple) else out.mean()
        loss.backward()
        opt.step()

    train, tlo, thi = timed(step, runs)
    return {"name": name, "batch": batch, "params": params, "forward_s": forward, "forward_range_s": [flo, fhi],
            "train_step_s": train, "train_step_range_s": [tlo, thi]}


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--only", default="")
    ap.add_argument("--forward-only", action="store_true", help="skip the train step (lipsync-bench generate)")
    a = ap.parse_args()
    out = {"torch": torch.__version__, "threads": torch.get_num_threads(), "results": []}
    if a.only in ("", "syncnet"):
        out["results"].append(bench("syncnet", SyncNet(), 64, (15, 48, 96), a.runs, a.forward_only))
    if a.only in ("", "generator"):
        out["results"].append(bench("generator", Generator(), 16, (6, 96, 96), a.runs, a.forward_only))
    if a.only in ("", "sync-model"):
        out["results"].append(bench("sync-model", LipSyncSyncNet(), 64, (5, 32, 64), a.runs, a.forward_only, extra_shape=(400,)))
    if a.only in ("", "painter"):
        out["results"].append(bench("painter", MouthPainter(), 20, (6, 128, 128), a.runs, a.forward_only))
    print(json.dumps(out))
