"""Render the tables of docs/reliability.md from the counts a run of the trials wrote.

    TRUSTQ_TEST_RELIABILITY_DIR=.trustq/reliability pytest tests/faults tests/hostile
    python benchmarks/load.py --out .trustq/reliability/load.json
    python benchmarks/reliability_table.py .trustq/reliability --update docs/reliability.md

Without --update the tables are printed. With it, the text between the
``<!-- reliability:begin -->`` and ``<!-- reliability:end -->`` markers is replaced.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

BEGIN, END = "<!-- reliability:begin -->", "<!-- reliability:end -->"
TRIAL_ORDER = [
    "worker_sigkill",
    "redis_wiped",
    "postgres_restarted",
    "beat_killed",
    "two_workers_race",
    "enqueue_redis_down",
    "enqueue_postgres_down",
]


def _load(folder: Path) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]]:
    trials: dict[str, dict[str, Any]] = {}
    hostile: dict[str, dict[str, Any]] = {}
    for path in sorted(folder.glob("*.json")):
        entry = json.loads(path.read_text())
        if entry.get("kind") == "trial":
            trials[entry["name"]] = entry
        elif entry.get("kind") == "hostile":
            hostile[entry["name"]] = entry
    return trials, hostile


def _row(cells: list[object]) -> str:
    return "| " + " | ".join(str(c) for c in cells) + " |"


def _extra(entry: dict[str, Any], known: set[str]) -> str:
    rest = {k: v for k, v in entry.items() if k not in known}
    return ", ".join(f"{k.replace('_', ' ')}: {v}" for k, v in rest.items()) or ""


def trials_table(trials: dict[str, dict[str, Any]]) -> list[str]:
    known = {
        "kind", "name", "fault", "runs", "in_flight", "invalid", "lost", "duplicated",
        "failed_with_reason", "failed_without_reason", "seconds", "recorded_at",
    }  # fmt: skip
    lines = [
        _row(["trial", "fault", "runs", "in flight (invalid)", "lost", "duplicated",
              "failed with reason", "failed without", "seconds", "also"]),
        _row(["---"] * 10),
    ]  # fmt: skip
    names = [n for n in TRIAL_ORDER if n in trials] + sorted(set(trials) - set(TRIAL_ORDER))
    for name in names:
        t = trials[name]
        lines.append(
            _row(
                [
                    f"`{name}`",
                    t["fault"],
                    t["runs"],
                    f"{t['in_flight']} ({t.get('invalid', 0)})",
                    t["lost"],
                    t["duplicated"],
                    t["failed_with_reason"],
                    t["failed_without_reason"],
                    t["seconds"],
                    _extra(t, known),
                ]
            )
        )
    return lines


def hostile_table(hostile: dict[str, dict[str, Any]]) -> list[str]:
    lines = []
    if "profiles" in hostile or "limits" in hostile:
        lines += [
            _row(["input", "generated", "refused at enqueue", "accepted", "scored",
                  "failed (with reason)", "lost", "duplicated"]),
            _row(["---"] * 8),
        ]  # fmt: skip
        labels = {
            "profiles": "hostile profiles (hypothesis)",
            "limits": "profiles at every limit (hypothesis)",
        }
        for name in ("profiles", "limits"):
            if name in hostile:
                h = hostile[name]
                lines.append(
                    _row(
                        [
                            labels[name],
                            h["examples"],
                            h["refused_at_enqueue"],
                            h["accepted"],
                            h["scored"],
                            h["failed_with_reason"],
                            h["lost"],
                            h["duplicated"],
                        ]
                    )
                )
        refused = hostile.get("profiles", {}).get("refused_by_field")
        if refused:
            lines += ["", "Refused, by the first field named in the error: " + ", ".join(
                f"{field} {n}" for field, n in refused.items()
            ) + "."]  # fmt: skip
        same_key = hostile.get("profiles", {}).get("idempotency_key_seen_before")
        if same_key:
            lines.append(
                f"Accepted includes {same_key} repeat(s) of an idempotency key (no new row)."
            )
    if "files" in hostile:
        f = hostile["files"]
        lines += [
            "",
            _row(["hostile resume file", "bytes", "refused at intake", "seconds",
                  "in the worker", "attempts", "reason"]),
            _row(["---"] * 7),
        ]  # fmt: skip
        for name, one in f["files"].items():
            lines.append(
                _row(
                    [
                        f"`{name}`",
                        f"{one['bytes']:,}",
                        "yes" if one["refused_at_intake"] else "no",
                        one["seconds"],
                        one["status"],
                        one["attempts"],
                        one["reason"].replace("|", "/"),
                    ]
                )
            )
        lines += [
            "",
            f"Good profiles in the same burst: {f['good_scored']} of {f['good']} scored, "
            f"{f['good_first_attempt']} on their first attempt; the worker's pool process peak "
            f"resident memory {f['worker_peak_rss_before_mib']} MiB before the burst, "
            f"{f['worker_peak_rss_after_mib']} MiB after ({f['seconds']} s in all). Seconds: "
            "intake's check and the bounded read, one file alone.",
        ]
    if "messages" in hostile:
        m = hostile["messages"]
        lines += [
            "",
            _row(["malformed messages", "kinds", "good ones in between", "good scored",
                  "poison failed (with reason)", "left in queue", "left unacked"]),
            _row(["---"] * 7),
            _row(["put straight on the queue", m["kinds"], m["good_in_between"],
                  m["good_scored"], m["poison_failed_with_reason"], m["left_in_queue"],
                  m["left_unacked"]]),
        ]  # fmt: skip
    return lines


def load_table(load: dict[str, Any]) -> list[str]:
    sub, secs = load["submissions"], load["seconds"]
    redis, rss = load["redis_used_bytes"], load["worker_rss_bytes"]
    marks = [k for k in rss if k.startswith("after_")]
    curve = rss.get("every_1000_verdicts") or {}

    def mib(n: int | None) -> str:
        return "–" if n is None else f"{n / 2**20:.1f} MiB"

    return [
        _row(["figure", "value"]),
        _row(["---", "---"]),
        _row(["submissions enqueued in one burst", sub["enqueued"]]),
        _row(["scored / failed / lost / duplicated verdicts",
              f"{sub['scored']} / {sub['failed']} / {sub['lost']} / "
              f"{sub['duplicated_verdicts']}"]),
        _row(["claimed more than once (redelivered or swept)", sub["claimed_more_than_once"]]),
        _row(["enqueue time", f"{secs['enqueue']} s"]),
        _row(["time to the last verdict", f"{secs['until_last_verdict']} s "
              f"({secs['profiles_per_second']} profiles/s, {load['worker_processes']} "
              f"worker process(es), {load['cores']} cores: {load['cpu']})"]),
        _row(["Redis used memory before / peak / after",
              f"{mib(redis['before'])} / {mib(redis['peak'])} / {mib(redis['after'])}"]),
        _row(["Redis bytes per queued message at the peak",
              f"{redis['peak_per_queued_message']} (queue peaked at "
              f"{redis['peak_queue_length']})"]),
        *(_row([f"worker resident memory {k.replace('_', ' ')}", mib(rss[k])]) for k in marks),
        # A run of 1,000 or fewer has one mark: no growth to measure, so no ratio to show.
        *([_row(["ratio (target: within 10%)",
                 f"{rss['ratio']} ({'within' if rss['within_10_percent'] else 'NOT within'} 10%)"])]
          if len(marks) > 1 else []),
        *([_row(["worker resident memory every 1,000 verdicts",
                 ", ".join(f"{int(k):,}: {mib(v)}" for k, v in curve.items())])]
          if curve else []),
    ]  # fmt: skip


def render(folder: Path, load_file: Path | None) -> str:
    trials, hostile = _load(folder)
    stamp = max(
        (e.get("recorded_at", "") for e in [*trials.values(), *hostile.values()]), default=""
    )
    parts = [f"_Counts from the run recorded at {stamp or 'unknown'} (UTC)._", ""]
    parts += ["### Fault trials", ""] + (trials_table(trials) if trials else ["(no trials ran)"])
    parts += ["", "### Hostile input", ""]
    parts += hostile_table(hostile) if hostile else ["(no hostile-input tests ran)"]
    if load_file is not None and load_file.exists():
        load = json.loads(load_file.read_text())
        parts += ["", f"### Load ({load['submissions']['enqueued']:,} submissions)", ""]
        parts += load_table(load)
    return "\n".join(parts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path, help="where the trials wrote their counts")
    parser.add_argument("--load", type=Path, help="benchmarks/load.py --out file")
    parser.add_argument("--update", type=Path, help="a Markdown file with the markers")
    args = parser.parse_args()
    if not args.folder.is_dir():
        raise SystemExit(
            f"{args.folder} does not exist: run the trials with TRUSTQ_TEST_RELIABILITY_DIR"
        )
    text = render(args.folder, args.load or (args.folder / "load.json"))
    if args.update is None:
        print(text)
        return
    doc = args.update.read_text()
    if BEGIN not in doc or END not in doc:
        raise SystemExit(f"{args.update} has no {BEGIN} … {END} markers")
    head, rest = doc.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    args.update.write_text(f"{head}{BEGIN}\n{text}\n{END}{tail}")
    print(f"updated {args.update}", file=sys.stderr)


if __name__ == "__main__":
    main()
