"""How often each rule flag fires on honest and on risky profiles, and how often it is right.

    python benchmarks/flag_rates.py --size 6000 --seed 7 \
        [--real .trustq/real/resumes.jsonl] [--out flag_rates.json]

On held-out synthetic profiles (a seed the model is not trained on): each flag's firing
rate among trustworthy and among risky profiles, and its precision (the share of risky
profiles among those it fires on) at the generator's risky share and at a 3% base rate.
With ``--real``, the firing rate on real resumes (resume-only profiles from
``benchmarks/real_resumes.py prepare``), all taken as honest: real people's CVs. A flag
that claims risk should fire on at most 5% of honest profiles in both.

Flags are pure functions of the profile, so no database, broker or model is needed.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from trustq.data.synthetic import REFERENCE_DATE, generate  # noqa: E402
from trustq.rules.checks import evaluate_flags  # noqa: E402
from trustq.rules.flags import FLAG_CODES, NEAR_DUPLICATE_CODE  # noqa: E402
from trustq.schemas import Profile  # noqa: E402

HONEST_CEILING = 0.05
BASE_RATE = 0.03
PUBLIC = set(Profile.model_fields)


def _codes(profile: Profile) -> set[str]:
    return {f.code for f in evaluate_flags(profile, REFERENCE_DATE)}


def synthetic_rates(size: int, seed: int) -> dict[str, Any]:
    records = generate(size, seed)
    fired: list[set[str]] = []
    labels = []
    for record in records:
        profile = Profile.model_validate({k: v for k, v in record.items() if k in PUBLIC})
        fired.append(_codes(profile))
        labels.append(record["label"])
    n_risky = sum(labels)
    n_honest = len(labels) - n_risky
    share = n_risky / len(labels)
    rows = {}
    for code in FLAG_CODES:
        on_risky = sum(1 for f, y in zip(fired, labels, strict=True) if y and code in f)
        on_honest = sum(1 for f, y in zip(fired, labels, strict=True) if not y and code in f)
        r1, r0 = on_risky / n_risky, on_honest / n_honest
        rows[code] = {
            "honest_rate": r0,
            "risky_rate": r1,
            "precision": on_risky / (on_risky + on_honest) if on_risky + on_honest else None,
            "precision_at_base_rate": (
                r1 * BASE_RATE / (r1 * BASE_RATE + r0 * (1 - BASE_RATE)) if r1 + r0 else None
            ),
        }
    any_honest = sum(1 for f, y in zip(fired, labels, strict=True) if not y and f) / n_honest
    return {
        "n": len(labels),
        "risky_share": share,
        "seed": seed,
        "flags": rows,
        "honest_with_any_flag": any_honest,
    }


def real_rates(path: Path) -> dict[str, Any]:
    profiles = [
        Profile.model_validate(json.loads(line))
        for line in path.read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]
    fired = [_codes(p) for p in profiles]
    rows = {code: sum(code in f for f in fired) / len(fired) for code in FLAG_CODES}
    return {
        "n": len(profiles),
        "source": str(path),
        "flags": rows,
        "with_any_flag": sum(1 for f in fired if f) / len(fired),
    }


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def markdown(result: dict[str, Any]) -> str:
    synth = result["synthetic"]
    real = result.get("real")
    head = (
        "| Flag | honest (synthetic) | risky (synthetic) | precision at "
        f"{synth['risky_share']:.0%} | precision at {BASE_RATE:.0%} |"
    )
    rule = "| --- | --- | --- | --- | --- |"
    if real:
        head += " real resumes |"
        rule += " --- |"
    lines = [head, rule]
    for code in FLAG_CODES:
        row = synth["flags"][code]
        if code == NEAR_DUPLICATE_CODE:
            continue  # needs the database of other resumes; measured in the real-resume run
        over = row["honest_rate"] > HONEST_CEILING or (
            real is not None and real["flags"][code] > HONEST_CEILING
        )
        name = f"`{code}`" + (" **over 5%**" if over else "")
        line = (
            f"| {name} | {_pct(row['honest_rate'])} | {_pct(row['risky_rate'])} | "
            f"{_pct(row['precision'])} | {_pct(row['precision_at_base_rate'])} |"
        )
        if real:
            line += f" {_pct(real['flags'][code])} |"
        lines.append(line)
    lines.append("")
    lines.append(
        f"Honest synthetic profiles with any flag: {_pct(synth['honest_with_any_flag'])} "
        f"of {synth['n'] - round(synth['n'] * synth['risky_share'])}."
        + (
            f" Real resumes with any flag: {_pct(real['with_any_flag'])} of {real['n']}."
            if real
            else ""
        )
    )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=6000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--real", type=Path, help="JSONL of resume-only real profiles")
    parser.add_argument("--out", type=Path, help="write the figures here as JSON")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    result: dict[str, Any] = {"synthetic": synthetic_rates(args.size, args.seed)}
    if args.real:
        result["real"] = real_rates(args.real)
    result["seconds"] = round(time.perf_counter() - started, 1)
    print(markdown(result))
    if args.out:
        args.out.write_text(json.dumps(result, indent=2), encoding="utf-8")
    return result


if __name__ == "__main__":
    main()
