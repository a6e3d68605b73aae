"""Cost of reasons per profile: project occlusion alone, and with resume sentences.

    python benchmarks/reasons_cost.py [--n 30]

Uses the serving model of the configured database (run `trustq train` first).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import time

from trustq.config import get_settings
from trustq.data.synthetic import generate, public_fields
from trustq.models.reasons import explain, split_sentences
from trustq.schemas import Profile
from trustq.scoring.runtime import Runtime


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=30)
    args = parser.parse_args()
    runtime = Runtime(get_settings())
    scorer = runtime.scorer()
    profiles = [Profile.model_validate(public_fields(r)) for r in generate(args.n, seed=777)]
    today = dt.date.today()

    started = time.perf_counter()
    embeddings = runtime.encoder.encode([p.text for p in profiles])
    scores = [scorer.score([p], embeddings[i : i + 1], today)[0] for i, p in enumerate(profiles)]
    scoring = (time.perf_counter() - started) / args.n

    started = time.perf_counter()
    for i, p in enumerate(profiles):
        explain(p, scores[i].p_risk, scorer, None, embeddings[i], today)
    projects = (time.perf_counter() - started) / args.n

    started = time.perf_counter()
    for i, p in enumerate(profiles):
        explain(p, scores[i].p_risk, scorer, runtime.encoder, embeddings[i], today)
    with_sentences = (time.perf_counter() - started) / args.n

    print(
        json.dumps(
            {
                "profiles": args.n,
                "mean_projects": round(sum(len(p.projects) for p in profiles) / args.n, 1),
                "mean_sentences": round(
                    sum(len(split_sentences(p.text)) for p in profiles) / args.n, 1
                ),
                "scoring_ms_per_profile": round(scoring * 1000, 1),
                "reasons_projects_ms": round(projects * 1000, 1),
                "reasons_projects_and_sentences_ms": round(with_sentences * 1000, 1),
                "torch_threads": runtime.settings.resolved_torch_threads,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
