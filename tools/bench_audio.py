#!/usr/bin/env python3
"""Peer side of `lipsync-bench mel`: times Wav2Lip's librosa mel and python_speech_features' MFCC
on the same samples (an .npy of 16 kHz float32), feature computation only. Prints JSON medians."""
import json
import sys
import time

import librosa
import numpy as np
import python_speech_features as psf
from scipy import signal


def wav2lip_mel(wav):
    y = signal.lfilter([1, -0.97], [1], wav)
    D = librosa.stft(y=y, n_fft=800, hop_length=200, win_length=800, pad_mode="reflect")
    S = np.dot(BASIS, np.abs(D))
    S = 20 * np.log10(np.maximum(1e-5, S)) - 20
    return np.clip(8 * ((S + 100) / 100) - 4, -4, 4)


BASIS = librosa.filters.mel(sr=16000, n_fft=800, n_mels=80, fmin=55, fmax=7600)


def median_time(fn, runs):
    fn()  # warm-up
    ts = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return float(np.median(ts))


def main():
    wav = np.load(sys.argv[1])
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 20
    pcm = wav.astype(np.float64) * 32768
    print(json.dumps({
        "librosa_mel_s": median_time(lambda: wav2lip_mel(wav), runs),
        "psf_mfcc_s": median_time(lambda: psf.mfcc(pcm, 16000), runs),
        "librosa": librosa.__version__,
    }))


if __name__ == "__main__":
    main()
