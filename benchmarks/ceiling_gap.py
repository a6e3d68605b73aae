"""The served recipe against the ceiling and the trees, measured so that a difference means
something: a large test set generated apart from the training set, several training seeds,
paired bootstrap intervals on every comparison and every slice, and the ECE beside its
noise floor.

    TRUSTQ_DATA_DIR=/tmp/gap .venv/bin/python benchmarks/ceiling_gap.py \\
        --train-size 6000 --test-size 20000 --seeds 0 1 2 --out /tmp/gap/ceiling_gap.json

The resumes' embeddings are cached in the configured database, so a second run (another
recipe, more seeds) costs only the training. ``--perfect-reader`` hands the network the
evidence the ceiling reads (the generator's hidden record of each rendered fact, as
columns beside the profile vector): what the recipe reaches when reading is not the
problem, so the gap splits into reading and learning. It is an analysis, never a model
to serve. The first run encodes every resume: about
0.2 s each on a 2-core CPU, so 20,000 test profiles want a GPU or an overnight run; a
smaller ``--test-size`` resolves less (the intervals say how much).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# The slices every comparison is repeated on: the history groups and the hidden takeover.
SLICES = ("all", "history none", "history short", "history full", "takeover", "early bumps")


def _evidence_columns(traits: Sequence[Any], train_rows: np.ndarray) -> np.ndarray:
    """The ceiling's evidence as network inputs: standardised on the training rows, a
    missing value as 0 plus a flag."""
    from trustq.models.difficulty import evidence_matrix

    columns, _ = evidence_matrix(traits)
    missing = np.isnan(columns)
    mean = np.nanmean(columns[train_rows], axis=0)
    spread = np.nanstd(columns[train_rows], axis=0) + 1e-6
    z = np.where(missing, 0.0, (columns - mean) / spread)
    return np.hstack([z, missing[:, missing.any(axis=0)]]).astype(np.float32)


def _profiles(size: int, seed: int) -> tuple[list[Any], list[Any]]:
    from trustq.data.synthetic import generate_with_traits
    from trustq.schemas import LabelledProfile

    records, traits = generate_with_traits(size, seed)
    return [LabelledProfile.model_validate(r) for r in records], traits


def _masks(traits: Sequence[Any]) -> dict[str, np.ndarray]:
    out = {"all": np.ones(len(traits), dtype=bool)}
    for history in ("none", "short", "full"):
        out[f"history {history}"] = np.array([t.history == history for t in traits])
    out["takeover"] = np.array([t.takeover for t in traits])
    out["early bumps"] = np.array([t.early_bumps for t in traits])
    return out


def _interval(labels: np.ndarray, a: np.ndarray, b: np.ndarray) -> dict[str, float]:
    from sklearn.metrics import roc_auc_score

    from trustq.models.report import bootstrap_roc_auc_difference

    low, high = bootstrap_roc_auc_difference(labels, a, b)
    diff = roc_auc_score(labels, a) - roc_auc_score(labels, b)
    return {"difference": round(diff, 4), "low": round(low, 4), "high": round(high, 4)}


def run(args: argparse.Namespace) -> dict[str, Any]:
    from sklearn.metrics import roc_auc_score

    from trustq.config import get_settings
    from trustq.data.synthetic import REFERENCE_DATE
    from trustq.db import migrate
    from trustq.models import baselines, training
    from trustq.models.report import ece_noise_floor
    from trustq.scoring.embeddings import embed_with_cache
    from trustq.scoring.encoders import make_encoder

    migrate.upgrade()  # the embedding cache's table
    train_profiles, train_traits = _profiles(args.train_size, args.train_seed)
    test_profiles, test_traits = _profiles(args.test_size, args.test_seed)
    profiles = train_profiles + test_profiles
    started = time.perf_counter()
    embeddings = embed_with_cache(make_encoder(get_settings()), [p.resume_text for p in profiles])
    encoder_seconds = time.perf_counter() - started
    labels = np.array([p.label for p in profiles], dtype=np.int64)
    ds = training.build_dataset(profiles, labels, embeddings, REFERENCE_DATE)
    n_train = len(train_profiles)
    train_idx, val_idx, _ = training.stratified_split(labels[:n_train], 0, (0.85, 0.15, 0.0))
    test_idx = np.arange(n_train, len(profiles))
    if args.perfect_reader:
        extra = _evidence_columns([*train_traits, *test_traits], train_idx)
        ds.indicators = np.hstack([ds.indicators, extra])
    y = labels[test_idx]
    ceiling = np.array([p.p_ceiling for p in test_profiles])
    latent = np.array([p.p_true for p in test_profiles])
    masks = _masks(test_traits)

    started = time.perf_counter()
    trees = baselines.gbt_history(profiles, ds, train_idx, val_idx, test_idx)
    trees_seconds = time.perf_counter() - started
    out: dict[str, Any] = {
        "train": {"size": args.train_size, "seed": args.train_seed},
        "perfect_reader": args.perfect_reader,
        "test": {"size": args.test_size, "seed": args.test_seed, "risky_share": float(y.mean())},
        "encoder_seconds": round(encoder_seconds, 1),
        "trees_seconds": round(trees_seconds, 1),
        "ceiling_roc_auc": {k: round(roc_auc_score(y[m], ceiling[m]), 4) for k, m in masks.items()},
        "latent_roc_auc": {k: round(roc_auc_score(y[m], latent[m]), 4) for k, m in masks.items()},
        "trees_roc_auc": {k: round(roc_auc_score(y[m], trees[m]), 4) for k, m in masks.items()},
        "slice_sizes": {k: int(m.sum()) for k, m in masks.items()},
        "seeds": {},
    }
    for seed in args.seeds:
        config = training.TrainConfig(seed=seed, progress=False, threads=args.threads)
        result = training.train(ds, train_idx, val_idx, config)
        probs = training.predict_proba(result.model, result.calibration, ds, test_idx)
        model = {
            "network_seconds": round(result.seconds, 1),
            "best_epoch": result.best_epoch,
            "roc_auc": {k: round(roc_auc_score(y[m], probs[m]), 4) for k, m in masks.items()},
            "minus_trees": {k: _interval(y[m], probs[m], trees[m]) for k, m in masks.items()},
            "minus_ceiling": {k: _interval(y[m], probs[m], ceiling[m]) for k, m in masks.items()},
            "ece": round(training.metrics(y, probs)["ece"], 4),
            "ece_noise_floor": round(ece_noise_floor(probs), 4),
        }
        out["seeds"][str(seed)] = model
        print(
            f"seed {seed}: ROC-AUC {model['roc_auc']['all']:.4f} "
            f"(trees {out['trees_roc_auc']['all']:.4f}, "
            f"ceiling {out['ceiling_roc_auc']['all']:.4f}), "
            f"ECE {model['ece']:.4f} (floor {model['ece_noise_floor']:.4f}), "
            f"{model['network_seconds']:.0f} s",
            flush=True,
        )
    return out


def table(result: dict[str, Any]) -> str:
    """Markdown: one row per slice, the ceiling, the trees and each seed's difference to
    both with its 95% interval."""
    seeds = list(result["seeds"])
    head = "| slice | n | ceiling | trees | " + " | ".join(
        f"seed {s}: model, − trees, − ceiling" for s in seeds
    )
    lines = [head + " |", "| --- " * (4 + len(seeds)) + "|"]
    for name in SLICES:
        cells = [
            name,
            str(result["slice_sizes"][name]),
            f"{result['ceiling_roc_auc'][name]:.3f}",
            f"{result['trees_roc_auc'][name]:.3f}",
        ]
        for s in seeds:
            m = result["seeds"][s]
            t, c = m["minus_trees"][name], m["minus_ceiling"][name]
            cells.append(
                f"{m['roc_auc'][name]:.3f}, {t['difference']:+.3f} [{t['low']:+.3f}, "
                f"{t['high']:+.3f}], {c['difference']:+.3f} [{c['low']:+.3f}, {c['high']:+.3f}]"
            )
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--train-size", type=int, default=6000)
    parser.add_argument("--train-seed", type=int, default=0)
    parser.add_argument("--test-size", type=int, default=20000)
    parser.add_argument("--test-seed", type=int, default=100)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default 1)")
    parser.add_argument(
        "--perfect-reader",
        action="store_true",
        help="add the ceiling's evidence to the network's inputs (analysis only)",
    )
    parser.add_argument("--out", type=Path, help="write the figures here as JSON")
    args = parser.parse_args(argv)
    if args.train_seed == args.test_seed:
        parser.error("the test set must come from another seed than the training set")
    result = run(args)
    print(table(result))
    if args.out:
        args.out.write_text(json.dumps(result, indent=2), encoding="utf-8")
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
