#!/usr/bin/env python3
"""Writes fixtures/audio/*.npy: input signals and their reference features.

Mel: Wav2Lip's audio.melspectrogram (hparams: n_fft 800, hop 200, win 800, 80 mels, fmin 55,
fmax 7600, preemphasis 0.97, ref 20 dB, min -100 dB, symmetric x4), with both padding modes:
  reflect  - librosa 0.7, which Wav2Lip pinned: np.pad(y, n_fft//2, 'reflect') then a plain STFT;
  constant - librosa >= 0.9: stft(center=True, pad_mode='constant').
MFCC: python_speech_features.mfcc defaults on int16-scaled samples (syncnet_python).

Run with tools/.venv (pip install numpy librosa python_speech_features):
  tools/.venv/bin/python tools/make_audio_references.py
"""
import os
import subprocess
import sys

import librosa
import numpy as np
import python_speech_features as psf
from scipy import signal

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "fixtures", "audio")
SHARED = os.environ.get("SHARED_DATA", os.path.join(ROOT, "..", "shared", "data"))
SR = 16000


def wav2lip_mel(wav, pad_mode):
    y = signal.lfilter([1, -0.97], [1], wav)
    if pad_mode == "reflect":
        yp = np.pad(y, 400, mode="reflect")
        D = librosa.stft(y=yp, n_fft=800, hop_length=200, win_length=800, center=False)
    else:
        D = librosa.stft(y=y, n_fft=800, hop_length=200, win_length=800, center=True, pad_mode="constant")
    basis = librosa.filters.mel(sr=SR, n_fft=800, n_mels=80, fmin=55, fmax=7600)
    S = np.dot(basis, np.abs(D))
    S = 20 * np.log10(np.maximum(1e-5, S)) - 20
    return np.clip((2 * 4.0) * ((S + 100) / 100) - 4.0, -4.0, 4.0)


def decode(cmd):
    raw = subprocess.run(cmd, check=True, capture_output=True).stdout
    return np.frombuffer(raw, dtype="<f4").astype(np.float32)


def ffmpeg_16k(path):
    return decode(["ffmpeg", "-v", "error", "-i", path, "-ac", "1", "-ar", str(SR), "-f", "f32le", "-"])


def main():
    os.makedirs(OUT, exist_ok=True)
    rng = np.random.default_rng(1234)
    t = np.arange(SR) / SR
    inputs = {
        "grid_speech": ffmpeg_16k(os.path.join(SHARED, "grid", "s1", "bbaf2n.mpg")),
        "silence": np.zeros(SR, dtype=np.float32),
        "sine_full_scale": np.sin(2 * np.pi * 440 * t).astype(np.float32),
        "white_noise": (0.3 * rng.standard_normal(SR)).astype(np.float32),
    }
    wav = "/tmp/lipsync_espeak.wav"
    subprocess.run(["espeak-ng", "-w", wav, "Bin blue at L six now. Don't forget a jacket."], check=True)
    inputs["espeak_speech"] = ffmpeg_16k(wav)
    for n in (1, 199, 200, 201, 16001):
        inputs[f"len{n}"] = (0.2 * rng.standard_normal(n)).astype(np.float32)

    for name, x in inputs.items():
        np.save(os.path.join(OUT, f"{name}.input.npy"), x.astype("<f4"))
        for mode in ("reflect", "constant"):
            m = wav2lip_mel(x.astype(np.float32), mode).astype("<f4")
            np.save(os.path.join(OUT, f"{name}.mel_{mode}.npy"), m)
        # syncnet_python reads int16 WAVs; the same samples scaled by 32768.
        mf = psf.mfcc(x.astype(np.float64) * 32768.0, SR)
        np.save(os.path.join(OUT, f"{name}.mfcc.npy"), mf.astype("<f8"))
        print(f"{name}: {len(x)} samples, mel {m.shape}, mfcc {mf.shape}", file=sys.stderr)
    basis = librosa.filters.mel(sr=SR, n_fft=800, n_mels=80, fmin=55, fmax=7600).astype("<f4")
    np.save(os.path.join(OUT, "mel_basis.npy"), basis)
    with open(os.path.join(OUT, "VERSIONS.txt"), "w") as f:
        f.write(f"librosa {librosa.__version__}\nnumpy {np.__version__}\npython_speech_features 0.6\n")


if __name__ == "__main__":
    main()
