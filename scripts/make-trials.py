#!/usr/bin/env python3
"""Build reproducible speaker-verification trial lists from ../shared/data.

Writes (default under ./eval/, git-ignored):

  eval/audiomnist-az-16k/trials.tsv              all speakers x all test segments
  eval/audiomnist-az-16k/trials-same-gender.tsv  targets + same-gender non-targets only
  eval/audiomnist-az-16k/audio/*.wav             concatenated enrollment / test segments
  eval/audiomnist-az-16k/trials-telephone.tsv     the same trials, every file as 8 kHz G.711 mu-law
  eval/audiomnist-az-16k/trials-cross.tsv         16 kHz enrollments, 8 kHz mu-law tests
  eval/fsdd-8k/trials.tsv, eval/fsdd-8k/audio/*.wav
  eval/librispeech-5s/trials.tsv                  read English speech: enroll on the start of a
                                                  speaker's utterance, test on its last 5 s
  eval/librispeech-5s/cohort.txt                  the other LibriSpeech files (impostor cohort,
                                                  disjoint from the trial speakers)

Call conditions (the fusion's net-speech and SNR weights, docs/CALIBRATION.md): the same
enrollments against tests that differ from the lists above in one measured condition:

  eval/audiomnist-az-16k/trials-short.tsv         the first ~1.5 s of each test (1-2 s net)
  eval/audiomnist-az-16k/trials-long.tsv          one test per speaker: its four tests joined (~15 s)
  eval/audiomnist-az-16k/trials-noisy.tsv         each test mixed with babble (4 LibriSpeech cohort
                                                  talkers) or pink noise at 0-20 dB
  eval/audiomnist-az-16k/trials-short-telephone.tsv, trials-noisy-telephone.tsv   both sides mu-law
  eval/librispeech-5s/trials-2s.tsv               the last 2 s of each test
  eval/librispeech-5s/trials-noisy.tsv            each test with babble or pink noise at 0-20 dB

The digit sets hold ~0.4-1.3 s takes, so segments are made by concatenating takes with
sox (Voice ID enrolls on ~30 s of net speech and verifies on 5-10 s):
  * enrollment: two files of concatenated takes, listed with ',' in the trial list
    (exercises multi-recording enrollment), together ~10-30 s of net speech;
  * test: segments of consecutive other takes, ~3-5 s of net speech each.
Every non-target pairs an enrollment with another speaker's test segment.

The 8 kHz mu-law condition is written as real 8 kHz mu-law WAV files (sox), so the
decoder, resampler and bandwidth measurement see what a telephone call delivers;
`voiceprint eval --channel telephone` still simulates the same channel in memory.

Reproducible: fixed seed, sorted inputs, sox output is deterministic. Needs python3 + sox.
Usage: scripts/make-trials.py [--data ../shared/data] [--out eval] [--seed 2024]
"""

import argparse
import csv
import os
import random
import subprocess
import sys
from pathlib import Path


def sox_concat(inputs, out):
    """Concatenate audio files (same rate) into one 16-bit PCM WAV."""
    if out.exists():
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp.wav")
    subprocess.run(["sox", *map(str, inputs), "-b", "16", "-e", "signed-integer", str(tmp)], check=True)
    os.replace(tmp, out)


def sox_telephone(src, out):
    """16 kHz file -> 8 kHz G.711 mu-law WAV (the telephone channel)."""
    if out.exists():
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp.wav")
    subprocess.run(["sox", str(src), "-r", "8000", "-e", "u-law", str(tmp)], check=True)
    os.replace(tmp, out)


def telephone_lists(out_dir, rows):
    """Writes trials-telephone.tsv (both sides mu-law) and trials-cross.tsv (wideband
    enrollment, mu-law test) next to the wideband list."""
    def phone(rel):
        tel = "audio-mulaw/" + Path(rel).name
        sox_telephone(out_dir / rel, out_dir / tel)
        return tel
    write_list(out_dir / "trials-telephone.tsv", [([phone(e) for e in enr], phone(t), lab) for enr, t, lab in rows])
    write_list(out_dir / "trials-cross.tsv", [(enr, phone(t), lab) for enr, t, lab in rows])


def sox_rms(path):
    """RMS amplitude of a file (sox stat)."""
    out = subprocess.run(["sox", str(path), "-n", "stat"], check=True, capture_output=True, text=True).stderr
    for line in out.splitlines():
        if line.startswith("RMS     amplitude"):
            return float(line.split(":")[1])
    raise RuntimeError(f"no RMS for {path}")


def sox_trim(src, out, *trim):
    if out.exists():
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp.wav")
    subprocess.run(["sox", str(src), "-b", "16", str(tmp), "trim", *trim], check=True)
    os.replace(tmp, out)


NOISE_SNRS_DB = [0, 5, 10, 15, 20]


def sox_noisy(src, out, snr_db, kind, babble_files, rng):
    """`src` plus babble (four of `babble_files` talking at once) or pink noise, at
    `snr_db` relative to the whole file's RMS (pauses included, so the speech itself sits
    a few dB higher: the fusion uses the SNR the server measures, not this number)."""
    if out.exists():
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    seconds = duration(src)
    noise = out.with_suffix(".noise.wav")
    if kind == "babble":
        long_enough = [f for f, d in babble_files if d >= seconds]
        talkers = rng.sample(long_enough, 4)
        subprocess.run(["sox", "-m", *map(str, talkers), "-r", "16000", "-c", "1", "-b", "16",
                        str(noise), "trim", "0", f"{seconds}"], check=True)
    else:
        subprocess.run(["sox", "-n", "-r", "16000", "-c", "1", "-b", "16", str(noise),
                        "synth", f"{seconds}", "pinknoise"], check=True)
    gain = sox_rms(src) / (sox_rms(noise) * 10 ** (snr_db / 20))
    tmp = out.with_suffix(".tmp.wav")
    subprocess.run(["sox", "-G", "-m", "-v", "1", str(src), "-v", f"{gain:.6f}", str(noise),
                    "-b", "16", str(tmp)], check=True)
    noise.unlink()
    os.replace(tmp, out)


def noisy_tests(out_dir, tests, babble_files, seed):
    """{test: noisy copy}: SNRs cycle through NOISE_SNRS_DB, babble and pink alternate."""
    rng = random.Random(seed)
    noisy = {}
    for i, rel in enumerate(sorted(tests)):
        snr = NOISE_SNRS_DB[i % len(NOISE_SNRS_DB)]
        kind = "babble" if (i // len(NOISE_SNRS_DB)) % 2 == 0 else "pink"
        noisy[rel] = f"audio-noisy/{Path(rel).stem}_{kind}{snr}.wav"
        sox_noisy(out_dir / rel, out_dir / noisy[rel], snr, kind, babble_files, rng)
    return noisy


def babble_sources(data, exclude=()):
    """LibriSpeech files (with durations) to make babble from: other talkers than any
    trial speaker's."""
    files = sorted((data / "librispeech-251spk").glob("*.flac"))
    return [(f, duration(f)) for f in files if f not in exclude]


def with_tests(rows, mapping):
    return [(enr, mapping[t], lab) for enr, t, lab in rows]


def write_list(path, rows):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as f:
        for enroll, test, label in rows:
            f.write(f"{','.join(enroll)}\t{test}\t{label}\n")
    print(f"wrote {path}: {len(rows)} trials "
          f"({sum(r[2] == 'target' for r in rows)} target, {sum(r[2] == 'nontarget' for r in rows)} nontarget)")


def build(speakers, out_dir, rng, enroll_takes, test_takes, max_tests, enrollments_per_speaker=1):
    """speakers: {id: [files]} -> (rows, segment map). Takes are shuffled per speaker with
    `rng`; each enrollment and each test segment uses disjoint takes of its speaker."""
    audio = out_dir / "audio"
    enrolls = []  # (speaker, [relative paths])
    tests = []  # (speaker, relative path)
    for spk in sorted(speakers):
        files = sorted(speakers[spk])
        rng.shuffle(files)
        n_enroll = enroll_takes(len(files))
        need = enrollments_per_speaker * n_enroll + test_takes
        if len(files) < need:
            print(f"  skipping speaker {spk}: {len(files)} takes < {need}", file=sys.stderr)
            continue
        pos = 0
        for e in range(enrollments_per_speaker):
            takes = files[pos:pos + n_enroll]
            pos += n_enroll
            half = len(takes) // 2
            parts = []
            for k, chunk in enumerate((takes[:half], takes[half:])):
                rel = f"audio/enroll_{spk}_{e}{'ab'[k]}.wav"
                sox_concat(chunk, out_dir / rel)
                parts.append(rel)
            enrolls.append((spk, parts))
        for t in range(max_tests):
            takes = files[pos:pos + test_takes]
            if len(takes) < test_takes:
                break
            pos += test_takes
            rel = f"audio/test_{spk}_{t}.wav"
            sox_concat(takes, out_dir / rel)
            tests.append((spk, rel))
    rows = []
    for spk, parts in enrolls:
        for tspk, rel in tests:
            rows.append((parts, rel, "target" if tspk == spk else "nontarget"))
    return rows


def audiomnist(data, out, seed):
    root = data / "audiomnist-az-16k"
    gender = {}
    with open(root / "metadata.txt") as f:
        for row in csv.reader(f):
            if row and row[0].strip().isdigit():
                gender[int(row[0])] = row[-1].strip()
    speakers = {}
    for d in sorted(p for p in root.iterdir() if p.is_dir()):
        files = sorted(d.glob("*.flac"))
        if files:
            speakers[d.name] = files
    out_dir = out / "audiomnist-az-16k"
    # ~1.3 s takes with ~0.6 s of speech: 12-24 takes enroll (~8-15 s net, up to ~30 s
    # gross), 6 takes per test (~3-5 s net).
    rows = build(
        speakers, out_dir, random.Random(seed),
        enroll_takes=lambda n: max(12, min(24, n // 2)), test_takes=6, max_tests=4,
    )
    write_list(out_dir / "trials.tsv", rows)

    def spk_of(rel):
        return int(Path(rel).stem.split("_")[1])

    same = [r for r in rows
            if r[2] == "target" or gender.get(spk_of(r[0][0])) == gender.get(spk_of(r[1]))]
    write_list(out_dir / "trials-same-gender.tsv", same)
    telephone_lists(out_dir, rows)
    audiomnist_conditions(data, out_dir, rows, seed)


def audiomnist_conditions(data, out_dir, rows, seed):
    """Tests that differ in net speech or noise, against the same enrollments."""
    tests = sorted({t for _, t, _ in rows})
    short = {t: f"audio-short/{Path(t).name}" for t in tests}
    for t in tests:
        # Six ~1.3 s takes per test: the first 1.5 s hold one or two digits.
        sox_trim(out_dir / t, out_dir / short[t], "0", "1.5")
    write_list(out_dir / "trials-short.tsv", with_tests(rows, short))
    noisy = noisy_tests(out_dir, tests, babble_sources(data), seed + 3)
    noisy_rows = with_tests(rows, noisy)
    write_list(out_dir / "trials-noisy.tsv", noisy_rows)
    # Long tests: a speaker's tests joined, one per speaker.
    by_speaker = {}
    for t in tests:
        by_speaker.setdefault(Path(t).stem.split("_")[1], []).append(t)
    long = {spk: f"audio-long/test_{spk}.wav" for spk in by_speaker}
    for spk, ts in by_speaker.items():
        sox_concat([out_dir / t for t in ts], out_dir / long[spk])
    enrolls = sorted({tuple(enr) for enr, _, _ in rows})
    spk_of = lambda rel: Path(rel).stem.split("_")[1]
    long_rows = [(list(enr), long[spk], "target" if spk_of(enr[0]) == spk else "nontarget")
                 for enr in enrolls for spk in sorted(long)]
    write_list(out_dir / "trials-long.tsv", long_rows)

    def phone(rel):
        tel = "audio-mulaw/" + Path(rel).parent.name + "-" + Path(rel).name
        sox_telephone(out_dir / rel, out_dir / tel)
        return tel
    for name, list_rows in (("short", with_tests(rows, short)), ("noisy", noisy_rows)):
        write_list(out_dir / f"trials-{name}-telephone.tsv",
                   [([phone(e) for e in enr], phone(t), lab) for enr, t, lab in list_rows])


def fsdd(data, out, seed):
    root = data / "fsdd-8k"
    speakers = {}
    for f in sorted(root.glob("*.wav")):
        speakers.setdefault(f.stem.split("_")[1], []).append(f)
    out_dir = out / "fsdd-8k"
    # ~0.45 s takes, nearly all speech: 3 disjoint enrollments of 40 takes (~15 s net)
    # per speaker and 20 tests of 10 takes (~4 s) each.
    rows = build(
        speakers, out_dir, random.Random(seed + 1),
        enroll_takes=lambda n: 40, test_takes=10, max_tests=20, enrollments_per_speaker=3,
    )
    write_list(out_dir / "trials.tsv", rows)


def duration(path):
    return float(subprocess.run(["soxi", "-D", str(path)], check=True, capture_output=True, text=True).stdout)


def librispeech(data, out, seed, test_seconds=5.0, min_seconds=12.0, trial_speakers=100):
    """One utterance per speaker: speakers with >= min_seconds of audio (shuffled, first
    `trial_speakers`) give an enrollment (all but the last `test_seconds`) and a test (the
    last `test_seconds`); every other file is the impostor cohort (cohort.txt)."""
    root = data / "librispeech-251spk"
    files = sorted(root.glob("*.flac"))
    long = [f for f in files if duration(f) >= min_seconds]
    random.Random(seed + 2).shuffle(long)
    chosen = sorted(long[:trial_speakers])
    out_dir = out / "librispeech-5s"
    enrolls, tests = [], []
    for f in chosen:
        spk = f.name.split("-")[0]
        e_rel, t_rel = f"audio/enroll_{spk}.wav", f"audio/test_{spk}.wav"
        for rel, trim in ((e_rel, ["trim", "0", f"-{test_seconds}"]), (t_rel, ["trim", f"-{test_seconds}"])):
            if not (out_dir / rel).exists():
                (out_dir / rel).parent.mkdir(parents=True, exist_ok=True)
                tmp = (out_dir / rel).with_suffix(".tmp.wav")
                subprocess.run(["sox", str(f), "-b", "16", str(tmp), *trim], check=True)
                os.replace(tmp, out_dir / rel)
        enrolls.append((spk, e_rel))
        tests.append((spk, t_rel))
    rows = [([e], t, "target" if es == ts else "nontarget") for es, e in enrolls for ts, t in tests]
    write_list(out_dir / "trials.tsv", rows)
    telephone_lists(out_dir, rows)
    # Call conditions: 2 s tests, and noisy tests (babble from the cohort's talkers).
    two = {t: f"audio-2s/{Path(t).name}" for _, t in tests}
    for _, t in tests:
        sox_trim(out_dir / t, out_dir / two[t], "-2")
    write_list(out_dir / "trials-2s.tsv", with_tests(rows, two))
    noisy = noisy_tests(out_dir, [t for _, t in tests], babble_sources(data, chosen), seed + 4)
    write_list(out_dir / "trials-noisy.tsv", with_tests(rows, noisy))
    cohort = [str(f) for f in files if f not in chosen]
    (out_dir / "cohort.txt").write_text("\n".join(cohort) + "\n")
    print(f"wrote {out_dir / 'cohort.txt'}: {len(cohort)} files")


def main():
    here = Path(__file__).resolve().parent.parent
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=here.parent / "shared" / "data")
    ap.add_argument("--out", type=Path, default=here / "eval")
    ap.add_argument("--seed", type=int, default=2024)
    args = ap.parse_args()
    if not args.data.is_dir():
        sys.exit(f"data folder {args.data} not found (expected ../shared/data)")
    audiomnist(args.data, args.out, args.seed)
    fsdd(args.data, args.out, args.seed)
    librispeech(args.data, args.out, args.seed)


if __name__ == "__main__":
    main()
