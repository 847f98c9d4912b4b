"""Builds the spoofing development set: bona fide speech from shared/data and
spoofs made here, each at 16 kHz and through an 8 kHz G.711 μ-law channel.

Spoof kinds (all reproducible from registry packages):
  espeak      espeak-ng formant synthesis (Debian), several voices and speeds
  festival    Festival diphone voice kal_diphone (Debian festvox-kallpc16k)
  hts         Festival HTS statistical-parametric voice cmu_us_slt_arctic_hts
  world       WORLD vocoder copy-synthesis of a real LibriSpeech utterance (pyworld)
  world_vc    WORLD with F0 × 1.25 and a 8 % spectral-envelope warp: a crude voice conversion
  griffinlim  Griffin-Lim phase reconstruction of a real utterance's STFT magnitude (librosa)
Bona fide kinds: librispeech (16 kHz read speech), fsdd (8 kHz digits, 6 takes
concatenated), audiomnist (16 kHz Azerbaijani digits, 6 takes concatenated).

Every item gets a split (fit / test, alternating) so calibration is fitted on
one half and the EER reported on the other.

Usage: .venv-spoof/bin/python scripts/spoof/generate.py OUT_DIR [--shared DIR] [--per-kind N]
Writes OUT_DIR/{16k,8k}/*.wav and OUT_DIR/manifest.tsv (file, label, kind, channel, split).
"""

import argparse
import os
import random
import subprocess
import sys

import numpy as np
import soundfile as sf

SR = 16000
MAX_SECONDS = 12.0  # longer real utterances are cropped: 3 windows are plenty

SENTENCES = [
    "Hello, I would like to check the balance on my savings account.",
    "My voice is my password, please verify me.",
    "I am calling about a payment that did not go through yesterday.",
    "Could you please transfer five hundred dollars to my checking account?",
    "The weather today is cloudy with a chance of rain in the afternoon.",
    "I lost my card and I need a replacement sent to my home address.",
    "Please update the phone number on my profile to the new one.",
    "She sells sea shells by the sea shore every summer morning.",
    "We will meet at the station at half past seven tomorrow evening.",
    "The quick brown fox jumps over the lazy dog near the river bank.",
    "I would like to speak with someone about my mortgage application.",
    "Yes, that is correct, my date of birth is the fourth of July.",
    "Can you tell me when my next statement will be available online?",
    "Thank you very much, that was all I needed for today.",
    "There seems to be a charge on my account that I do not recognise.",
    "Please read back the last four digits of the card for me.",
    "It has been a long week and I am looking forward to the weekend.",
    "The meeting has been moved to Thursday because of the holiday.",
    "I need to reset my online banking password as soon as possible.",
    "Our flight leaves at nine, so we should be at the airport by seven.",
    "Every evening the children play football in the park next door.",
    "Please confirm the address where the new card should be delivered.",
    "I am travelling abroad next month and want to use my card there.",
    "The library closes early on Sundays, so I return my books on Saturday.",
]
ESPEAK_VOICES = ["en-us", "en-gb", "en-us+f3", "en-us+m3", "en-gb-x-rp", "en-us+f2", "en-029", "en-gb-scotland"]


def run(cmd):
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def write16k(path, x):
    peak = np.max(np.abs(x)) if len(x) else 0
    if peak > 0.99:
        x = x * (0.99 / peak)
    sf.write(path, x.astype(np.float32), SR, subtype="PCM_16")


def load16k(path):
    x, sr = sf.read(path, dtype="float32", always_2d=True)
    x = x[:, 0]
    if sr != SR:
        import librosa

        x = librosa.resample(x, orig_sr=sr, target_sr=SR)
    return x[: int(MAX_SECONDS * SR)]


def world_copy(x, f0_scale=1.0, warp=1.0):
    import pyworld

    xd = x.astype(np.float64)
    f0, t = pyworld.harvest(xd, SR)
    sp = pyworld.cheaptrick(xd, f0, t, SR)
    ap = pyworld.d4c(xd, f0, t, SR)
    if warp != 1.0:
        bins = np.arange(sp.shape[1])
        src = np.clip(bins / warp, 0, sp.shape[1] - 1)
        sp = np.stack([np.interp(src, bins, row) for row in sp])
    y = pyworld.synthesize(f0 * f0_scale, sp, ap, SR)
    return y.astype(np.float32)


def griffin_lim(x):
    import librosa

    mag = np.abs(librosa.stft(x, n_fft=512, hop_length=128))
    return librosa.griffinlim(mag, n_iter=32, hop_length=128, n_fft=512, random_state=0).astype(np.float32)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--shared", default=os.environ.get("VOICEPRINT_SHARED", os.path.join(os.path.dirname(__file__), "../../../shared")))
    ap.add_argument("--per-kind", type=int, default=24)
    args = ap.parse_args()
    data = os.path.join(args.shared, "data")
    out16, out8 = os.path.join(args.out, "16k"), os.path.join(args.out, "8k")
    os.makedirs(out16, exist_ok=True)
    os.makedirs(out8, exist_ok=True)
    tmp = os.path.join(args.out, "tmp")
    os.makedirs(tmp, exist_ok=True)
    rng = random.Random(7)
    n = args.per_kind
    items = []  # (name, label, kind)

    libri = sorted(f for f in os.listdir(os.path.join(data, "librispeech-251spk")) if f.endswith(".flac"))
    rng.shuffle(libri)
    bona_libri, copy_src = libri[: 2 * n], libri[2 * n : 4 * n]

    def add(name, label, kind, x):
        write16k(os.path.join(out16, name + ".wav"), x)
        items.append((name, label, kind))

    for i, f in enumerate(bona_libri):
        add(f"bona_librispeech_{i:03d}", "bonafide", "librispeech", load16k(os.path.join(data, "librispeech-251spk", f)))
        print("librispeech", i, file=sys.stderr)
    speakers = ["george", "jackson", "lucas", "nicolas", "theo", "yweweler"]
    for i in range(n):
        spk, take = speakers[i % 6], i // 6
        parts = [load16k(os.path.join(data, "fsdd-8k", f"{d}_{spk}_{take}.wav")) for d in range(10) if os.path.exists(os.path.join(data, "fsdd-8k", f"{d}_{spk}_{take}.wav"))][:6]
        add(f"bona_fsdd_{i:03d}", "bonafide", "fsdd", np.concatenate(parts))
    az = sorted(os.listdir(os.path.join(data, "audiomnist-az-16k")))
    for i in range(n):
        d = os.path.join(data, "audiomnist-az-16k", az[i % len(az)])
        if not os.path.isdir(d):
            continue
        files = sorted(f for f in os.listdir(d) if f.endswith(".flac"))
        rng.shuffle(files)
        x = np.concatenate([load16k(os.path.join(d, f)) for f in files[:6]])
        add(f"bona_audiomnist_{i:03d}", "bonafide", "audiomnist", x - np.mean(x))
    print("bona fide done", file=sys.stderr)

    for i in range(n):
        text = SENTENCES[i % len(SENTENCES)] + " " + SENTENCES[(i + 5) % len(SENTENCES)]
        w = os.path.join(tmp, "e.wav")
        run(["espeak-ng", "-v", ESPEAK_VOICES[i % len(ESPEAK_VOICES)], "-s", str(130 + 10 * (i % 5)), "-w", w, text])
        add(f"spoof_espeak_{i:03d}", "spoof", "espeak", load16k(w))
        for kind, voice in (("festival", "kal_diphone"), ("hts", "cmu_us_slt_arctic_hts")):
            t = os.path.join(tmp, "t.txt")
            with open(t, "w") as fh:
                fh.write(text)
            run(["text2wave", "-eval", f"(voice_{voice})", "-o", w, t])
            add(f"spoof_{kind}_{i:03d}", "spoof", kind, load16k(w))
        print("tts", i, file=sys.stderr)
    for i, f in enumerate(copy_src):
        x = load16k(os.path.join(data, "librispeech-251spk", f))
        kind = ("world", "griffinlim", "world_vc")[i % 3]
        y = world_copy(x) if kind == "world" else griffin_lim(x) if kind == "griffinlim" else world_copy(x, 1.25, 1.08)
        add(f"spoof_{kind}_{i:03d}", "spoof", kind, y)
        print("copy", kind, i, file=sys.stderr)

    with open(os.path.join(args.out, "manifest.tsv"), "w") as m:
        m.write("file\tlabel\tkind\tchannel\tsplit\n")
        for j, (name, label, kind) in enumerate(items):
            split = "fit" if j % 2 == 0 else "test"
            src = os.path.join(out16, name + ".wav")
            dst = os.path.join(out8, name + ".wav")
            run(["sox", src, "-r", "8000", "-e", "u-law", "-c", "1", dst])
            m.write(f"16k/{name}.wav\t{label}\t{kind}\t16k\t{split}\n")
            m.write(f"8k/{name}.wav\t{label}\t{kind}\t8k-ulaw\t{split}\n")
    print(f"{len(items)} items in {args.out}/manifest.tsv", file=sys.stderr)


if __name__ == "__main__":
    main()
