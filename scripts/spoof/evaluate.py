"""Fits the fusion/calibration of the two countermeasure models and reports
bona fide vs spoof EER, per model and fused, at 16 kHz and through 8 kHz μ-law.

Input: the development set's manifest.tsv (scripts/spoof/generate.py) and the
JSON lines that `score_files` (crate antispoof, example) or `voiceprint spoof`
printed for its files. The calibration is fitted on the `fit` half (both
channels pooled, so one calibration serves wideband and telephone audio) and
every number in the tables is measured on the `test` half.

Usage: python3 scripts/spoof/evaluate.py DEVSET_DIR SCORES.jsonl OUT_DIR
Writes OUT_DIR/results.md (tables) and OUT_DIR/calibration.json; prints both.
"""

import json
import os
import sys

import numpy as np


def eer(bona, spoof):
    """EER with scores where higher = more bona fide. Returns (eer, threshold)."""
    bona, spoof = np.asarray(bona, float), np.asarray(spoof, float)
    thresholds = np.sort(np.concatenate([bona, spoof]))
    best = (2.0, 0.0)
    for t in thresholds:
        frr = np.mean(bona < t)  # bona fide rejected
        far = np.mean(spoof >= t)  # spoof accepted
        gap = abs(frr - far)
        if gap < best[0]:
            best = (gap, t, (frr + far) / 2)
    return best[2], best[1]


def fit_logistic(x, y, ridge=0.1, iters=100):
    """logit P(spoof) = b + w·x by Newton's method; ridge on w only."""
    X = np.hstack([np.ones((len(x), 1)), x.reshape(len(x), -1)])
    beta = np.zeros(X.shape[1])
    reg = np.diag([0.0] + [ridge] * (X.shape[1] - 1))
    for _ in range(iters):
        p = 1 / (1 + np.exp(-X @ beta))
        g = X.T @ (p - y) + reg @ beta
        H = X.T @ (X * (p * (1 - p))[:, None]) + reg
        step = np.linalg.solve(H, g)
        beta -= step
        if np.max(np.abs(step)) < 1e-9:
            break
    return beta


def main():
    devset, scores_path, out = sys.argv[1:4]
    rows = {}
    with open(os.path.join(devset, "manifest.tsv")) as f:
        next(f)
        for line in f:
            file, label, kind, channel, split = line.rstrip("\n").split("\t")
            rows[os.path.abspath(os.path.join(devset, file))] = dict(label=label, kind=kind, channel=channel, split=split)
    items, cpu, audio = [], 0.0, 0.0
    with open(scores_path) as f:
        for line in f:
            s = json.loads(line)
            key = os.path.abspath(s["file"])
            if key not in rows:
                continue
            if "error" in s:
                print("skipped", key, s["error"], file=sys.stderr)
                continue
            r = dict(rows[key], s19=s["score_2019"], s5=s["score_asvspoof5"])
            if "cpu_seconds" in s:
                cpu += s["cpu_seconds"]
                audio += s["windows"] * 64600 / 16000
            items.append(r)
    fit = [r for r in items if r["split"] == "fit"]
    x = np.array([[r["s19"], r["s5"]] for r in fit])
    y = np.array([1.0 if r["label"] == "spoof" else 0.0 for r in fit])
    # A model's bona fide evidence must never raise the risk: a weight that fits
    # positive (the ASVspoof 5 model on old-style TTS, which it scores as very
    # genuine) is fixed at 0 and the rest refitted.
    keep = [0, 1]
    while True:
        beta = fit_logistic(x[:, keep], y)
        if all(w <= 0 for w in beta[1:]):
            break
        keep = [k for k, w in zip(keep, beta[1:]) if w <= 0]
    weights = dict(zip(keep, beta[1:]))
    b, w19, w5 = beta[0], weights.get(0, 0.0), weights.get(1, 0.0)
    calib = {"bias": b, "weight_2019": w19, "weight_asvspoof5": w5, "fitted_on": len(fit)}
    fused = lambda r: -(b + w19 * r["s19"] + w5 * r["s5"])  # higher = more bona fide
    risk = lambda r: round(100 / (1 + np.exp(-(b + w19 * r["s19"] + w5 * r["s5"]))))

    test = [r for r in items if r["split"] == "test"]
    lines = ["# Spoofing countermeasure: development-set results", ""]
    lines.append(f"Fitted on the `fit` half ({len(fit)} files); measured on the `test` half ({len(test)} files). "
                 f"Calibration: logit P(spoof) = {b:.4f} + ({w19:.4f})·s_2019 + ({w5:.4f})·s_asvspoof5.")
    lines.append("")
    lines.append("## EER, bona fide vs all spoofs (test half)")
    lines.append("")
    lines.append("| channel | bona fide | spoof | AASIST (2019 LA) | AASIST (ASVspoof 5) | fused |")
    lines.append("|---|---|---|---|---|---|")
    for ch in ("16k", "8k-ulaw", "both"):
        sub = [r for r in test if ch == "both" or r["channel"] == ch]
        bona = [r for r in sub if r["label"] == "bonafide"]
        spoof = [r for r in sub if r["label"] == "spoof"]
        e = [eer([r[k] for r in bona], [r[k] for r in spoof])[0] for k in ("s19", "s5")]
        ef = eer([fused(r) for r in bona], [fused(r) for r in spoof])[0]
        lines.append(f"| {ch} | {len(bona)} | {len(spoof)} | {100*e[0]:.1f} % | {100*e[1]:.1f} % | {100*ef:.1f} % |")
    lines.append("")
    lines.append("## Per kind: share flagged (RiskScore ≥ 50 / ≥ 90), test half")
    lines.append("")
    lines.append("| kind | label | channel | n | flagged ≥ 50 | flagged ≥ 90 | 2019 model says spoof (s<0) | ASVspoof 5 model says spoof (s<0) |")
    lines.append("|---|---|---|---|---|---|---|---|")
    kinds = sorted({(r["label"], r["kind"]) for r in test})
    for label, kind in kinds:
        for ch in ("16k", "8k-ulaw"):
            sub = [r for r in test if r["kind"] == kind and r["channel"] == ch]
            if not sub:
                continue
            f50 = np.mean([risk(r) >= 50 for r in sub])
            f90 = np.mean([risk(r) >= 90 for r in sub])
            n19 = np.mean([r["s19"] < 0 for r in sub])
            n5 = np.mean([r["s5"] < 0 for r in sub])
            lines.append(f"| {kind} | {label} | {ch} | {len(sub)} | {100*f50:.0f} % | {100*f90:.0f} % | {100*n19:.0f} % | {100*n5:.0f} % |")
    if audio:
        lines.append("")
        lines.append(f"Cost while scoring: {cpu:.1f} CPU s for {audio:.1f} s of windowed audio through both models "
                     f"= {100*cpu/audio:.1f} % of one core per second of audio scored.")
    text = "\n".join(lines) + "\n"
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "results.md"), "w") as f:
        f.write(text)
    with open(os.path.join(out, "calibration.json"), "w") as f:
        json.dump(calib, f, indent=1)
    print(text)
    print(json.dumps(calib))


if __name__ == "__main__":
    main()
