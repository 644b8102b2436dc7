"""Plot a `lipsync train generator` JSON-lines log: every named training loss (averaged over
100-step bins) and the held-out L1 and lower-half PSNR, against steps. Only for the docs.

    tools/.venv/bin/pip install matplotlib
    tools/.venv/bin/python tools/plot_generator_training.py runs/gen/generator.log.jsonl docs/generator_training.png
"""
import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

LOSSES = ["l1", "perceptual", "adversarial", "critic", "sync"]


def main(log_path: str, out_path: str) -> None:
    train, held = [], []
    for line in open(log_path):
        r = json.loads(line)
        (held if "heldout_l1" in r else train).append(r)
    bins = {}
    for r in train:
        bins.setdefault(int(r["step"] - 1) // 100, []).append(r)
    fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    for name in LOSSES:
        pts = [(max(x["step"] for x in b), sum(x[name] for x in b if name in x) / max(1, sum(1 for x in b if name in x)))
               for b in bins.values() if any(name in x for x in b)]
        if not pts:
            continue
        ax = axes[0] if name in ("l1", "perceptual") else axes[1]
        ax.plot([p[0] for p in pts], [p[1] for p in pts], label=name)
    axes[0].set_title("reconstruction and perceptual (training)")
    axes[1].set_title("adversarial, critic and sync BCE (training)")
    for ax in axes[:2]:
        ax.set_xlabel("optimiser step")
        ax.grid(alpha=0.3)
        ax.legend()
    a = axes[2]
    a.plot([h["step"] for h in held], [h["heldout_psnr_lower"] for h in held], "o-", label="held-out PSNR, lower half (dB)")
    a.set_xlabel("step")
    a.grid(alpha=0.3)
    a2 = a.twinx()
    a2.plot([h["step"] for h in held], [h["heldout_l1"] for h in held], "s--", color="C1", label="held-out L1")
    a.legend(loc="upper left")
    a2.legend(loc="lower right")
    a.set_title("held out (GRID s1 held-out split, own audio)")
    fig.suptitle("lipsync train generator — GRID s1 train split")
    fig.tight_layout()
    fig.savefig(out_path, dpi=90)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
