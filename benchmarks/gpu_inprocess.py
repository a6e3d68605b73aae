"""The in-process part of the throughput suite on a GPU: the anchor and trustq's scoring of
resumes cut to 256 tokens (one window each), with no database and no broker.

    .venv/bin/python -m benchmarks.gpu_inprocess OUT.json [--seconds 210]
    benchmarks/gpu_inprocess.sh OUT.json          # the same, with the checks and a timeout

The serving model here is a randomly initialised TrustNet with a valid artifact: its
scores mean nothing, it only makes the network do the work a trained one does (same
shapes, same passes). Figures from this script are speeds, never model quality.

It refuses to run without CUDA. It stops starting new parts after ``--seconds`` and
writes what it measured so far (the JSON is rewritten after every part).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import multiprocessing as mp
import os
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks import common

TOKENS = 256
NOTE = (
    "Speed only: the model is a randomly initialised TrustNet with a valid artifact "
    "(meaningless scores, real work). Resumes cut to 256 tokens (one window each)."
)


DEVICE = {"encoder_device": "cuda", "encoder_precision": "fp16"}


def _settings(**update: Any) -> Any:
    from trustq.config import Settings

    return Settings(**{**DEVICE, **update})  # no database: nothing here reads one


def _records(n: int, seed: int, encoder: Any) -> list[dict[str, Any]]:
    records = common.profiles(n, seed=seed, words=(180, 260), tag="gpu")
    common.cut_to_tokens(records, encoder, TOKENS)
    return records


def _runtime(reasons: str, threads: int | None = None) -> Any:
    from trustq.scoring.encoders import make_encoder
    from trustq.scoring.runtime import Runtime

    settings = _settings(reason_sentences=reasons, torch_threads=threads)
    return Runtime(settings, scorer=common.random_scorer(make_encoder(settings)), cache=False)


def _child(
    rank: int, n: int, batch: int, reasons: str, device: dict, barrier: Any, queue: Any
) -> None:
    """One of P processes sharing the GPU, as a worker with P pool processes would."""
    import torch

    DEVICE.update(device)
    runtime = _runtime(reasons, threads=1)
    profiles = common.parsed(_records(n, seed=500 + rank, encoder=runtime.encoder))
    today = dt.date.today()
    runtime.score_batch(profiles[: min(batch, 64)], today)  # warm-up
    barrier.wait()
    started = time.perf_counter()
    for start in range(0, len(profiles), batch):
        runtime.score_batch(profiles[start : start + batch], today)
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    queue.put((rank, len(profiles), time.perf_counter() - started))


def processes(p: int, n_each: int, batch: int, reasons: str) -> dict[str, Any]:
    """P processes scoring at once; aggregate profiles per second over the slowest one."""
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(p)
    queue = ctx.Queue()
    os.environ["RAYON_NUM_THREADS"] = "1"  # each process tokenises on its own core
    procs = [
        ctx.Process(target=_child, args=(r, n_each, batch, reasons, DEVICE, barrier, queue))
        for r in range(p)
    ]
    for proc in procs:
        proc.start()
    results = [queue.get(timeout=300) for _ in procs]
    for proc in procs:
        proc.join(timeout=60)
    total = sum(n for _, n, _ in results)
    slowest = max(s for _, _, s in results)
    return {
        "processes": p,
        "profiles": total,
        "seconds": round(slowest, 3),
        "profiles_per_s": round(total / slowest, 1),
        "tokens_per_s": None,
        "reason_sentences": reasons,
        "batch": batch,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--seconds", type=float, default=210.0)
    parser.add_argument("--n", type=int, default=2048, help="profiles per in-process run")
    parser.add_argument(
        "--cpu-smoke",
        action="store_true",
        help="check this script's code path on a CPU, tiny sizes; its figures mean nothing",
    )
    args = parser.parse_args()
    started = time.monotonic()

    import torch

    available = torch.cuda.is_available()
    print(f"torch {torch.__version__}; torch.cuda.is_available() = {available}", flush=True)
    device = "cuda"
    if args.cpu_smoke:
        device = "cpu"
        DEVICE.update(encoder_device="cpu", encoder_precision="fp32")
        args.n = min(args.n, 24)
    elif not available:
        print("refusing to run: no CUDA device (this script measures the GPU)", file=sys.stderr)
        raise SystemExit(2)
    else:
        print(f"device: {torch.cuda.get_device_name(0)}", flush=True)

    result: dict[str, Any] = {
        "note": NOTE if not args.cpu_smoke else "CPU SMOKE RUN: checks the script only",
        "machine": common.machine(),
        "versions": common.versions(),
        "tokens_per_resume": TOKENS,
        "anchor": {},
        "trustq": {},
    }

    def save() -> None:
        result["seconds"] = round(time.monotonic() - started, 1)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2) + "\n")

    def time_left() -> float:
        return args.seconds - (time.monotonic() - started)

    from trustq.scoring.encoders import make_encoder

    reference = make_encoder(_settings())
    records = _records(args.n, seed=77, encoder=reference)
    profiles = common.parsed(records)
    texts = [p.text for p in profiles]
    save()

    for batch in (32, 256):
        result["anchor"][str(batch)] = common.anchor(
            reference, texts, batch_size=batch, device=device, half=device == "cuda", repeat=3
        )
        print(f"anchor batch {batch}: {result['anchor'][str(batch)]}", flush=True)
        save()

    for reasons, batches in (("non_low", (256, 1024)), ("never", (1024,))):
        if time_left() < 40:
            break
        runtime = _runtime(reasons)
        for batch in batches:
            figures = common.inprocess(runtime, profiles, budget=10**9, most=batch)
            figures["ratio_to_anchor_32"] = round(
                figures["profiles_per_s"] / result["anchor"]["32"]["profiles_per_s"], 3
            )
            result["trustq"][f"1 process, batch {batch}, reasons {reasons}"] = figures
            print(f"trustq batch {batch} reasons {reasons}: {figures}", flush=True)
            save()
        del runtime
        if device == "cuda":
            torch.cuda.empty_cache()

    cores = os.cpu_count() or 1
    for p in sorted({min(8, cores), min(16, cores)}):
        if p < 2 or time_left() < 75:
            continue
        n_each = max(8, args.n // 2) if not args.cpu_smoke else 8
        figures = processes(p, n_each=n_each, batch=512, reasons="non_low")
        result["trustq"][f"{p} processes, batch 512, reasons non_low"] = figures
        print(f"trustq {p} processes: {figures}", flush=True)
        save()
    save()
    print(f"wrote {args.out} in {result['seconds']} s", flush=True)


if __name__ == "__main__":
    main()
