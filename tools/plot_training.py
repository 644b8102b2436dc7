"""Plot a `lipsync train sync` JSON-lines log: training loss and accuracy, held-out pair accuracy and
offset accuracy, against steps. Only for the docs; the product never runs Python.

    tools/.venv/bin/pip install matplotlib
    tools/.venv/bin/python tools/plot_training.py runs/sync.log.jsonl docs/sync_training.png
"""
import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def main(log_path: str, out_path: str) -> None:
    train, held = [], []
    for line in open(log_path):
        r = json.loads(line)
        (held if "heldout_pair_loss" in r else train).append(r)
    # Average training points over 200-step bins: single 25-step points are noisy.
    bins = {}
    for r in train:
        bins.setdefault(int(r["step"] - 1) // 200, []).append(r)
    steps = [max(x["step"] for x in b) for b in bins.values()]
    loss = [sum(x["loss"] for x in b) / len(b) for b in bins.values()]
    acc = [sum(x["accuracy"] for x in b) / len(b) for b in bins.values()]

    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4))
    a.plot(steps, loss, label="training BCE (augmented)")
    a.plot([h["step"] for h in held], [h["heldout_pair_loss"] for h in held], "o-", label="held-out BCE")
    a.set_xlabel("step (64 pairs)")
    a.set_ylabel("loss")
    a.grid(alpha=0.3)
    a.legend()
    b.plot(steps, acc, label="training pair accuracy")
    b.plot([h["step"] for h in held], [h["heldout_pair_accuracy"] for h in held], "o-", label="held-out pair accuracy")
    b.plot([h["step"] for h in held], [h["heldout_offset_exact"] for h in held], "s-", label="held-out offset, exact frame")
    b.plot([h["step"] for h in held], [h["heldout_offset_within_one"] for h in held], "^-", label="held-out offset, within ±1")
    b.set_xlabel("step (64 pairs)")
    b.set_ylim(0.4, 1.01)
    b.grid(alpha=0.3)
    b.legend(loc="lower right")
    fig.suptitle("lipsync train sync — GRID s1 train split; held out: GRID s1 held-out split")
    fig.tight_layout()
    fig.savefig(out_path, dpi=90)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
