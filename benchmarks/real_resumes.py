"""Real resumes through trustq: how its verdicts look on messy text written by people.

The data
--------
Main source: the resumes behind the Kaggle "Resume Dataset" (snehaanbhawal/resume-dataset),
from its author's scraper repository on GitHub:

    repository  https://github.com/Sbhawal/resumeScraper
    commit      6373d2dc71744f734a8876ae1de4a764960e777d (2021-08-08, "Snehaan first commit")
    paths       data/<CATEGORY>/<ID>.pdf   2,484 PDFs in 24 categories (ACCOUNTANT … TEACHER)
                Resume.csv                 the same resumes as text (ID, Resume_str,
                                           Resume_html, Category; about 55 MB)

The resumes are resume examples users posted on livecareer.com (scraped in 2021 by
Data_Collection.ipynb; create_pdfs.ipynb printed each one's HTML to a PDF). The site
replaced employers and places by "Company Name", "City", "State" and left out the header
with the name, yet about one resume in ninety still carries an e-mail address or a phone
number (the candidate's or a referee's): treat the texts as personal data. They are in
English (one holds a Spanish job application form), with mojibake from the scrape
("â€¢", "Â", "ï¼"). The GitHub repository carries no licence file; the Kaggle page is
cited elsewhere as CC0, which could not be checked here. Use the texts for testing; do not
redistribute them.

Optional second source (a fallback, mostly Indian IT resumes, 962 rows but only 166
distinct texts): UpdatedResumeDataSet.csv (columns Category, Resume), e.g. from
https://github.com/zaid-ali753/Resume-Screening-101 at commit
8cf616a638fd9ca780e091094a45062384e40423 (no licence stated).

Nothing of the data is committed to this repository; ``.trustq/`` is ignored by git.

Getting it and running it
-------------------------
::

    git clone --depth 1 https://github.com/Sbhawal/resumeScraper /tmp/real-resumes
    python benchmarks/real_resumes.py prepare --source /tmp/real-resumes/data \\
        --out .trustq/real/resumes.jsonl
    # optional second source:
    #   git clone --depth 1 https://github.com/zaid-ali753/Resume-Screening-101 /tmp/rs101
    #   … --source /tmp/rs101/UpdatedResumeDataSet.csv
    trustq db upgrade && trustq train            # if no model is serving yet
    python benchmarks/real_resumes.py run --profiles .trustq/real/resumes.jsonl \\
        --out .trustq/real/result.json --workers 2

Pass the PDF folder or Resume.csv, not both: they hold the same resumes, extracted twice.
``prepare`` reads the PDFs with trustq's own extraction (what the worker does with an
uploaded PDF) and writes resume-only newcomer profiles (no projects, links or skills), in a
fixed shuffled order so that any first N lines mix the categories. ``run`` needs
TRUSTQ_DATABASE_URL, TRUSTQ_BROKER_URL (and TRUSTQ_DATA_DIR) pointing at a database with a
serving model; it starts its own ``trustq worker`` and stops it at the end. Use a fresh
database: the near-duplicate check compares each resume with every earlier submission, so
a second run over the same profiles meets its own first run (and finds the encoder's
outputs cached in the database, which makes its timing meaningless).
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import os
import random
import re
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

MIN_CHARS = 50
LIVECAREER_CATEGORIES = set(
    "ACCOUNTANT ADVOCATE AGRICULTURE APPAREL ARTS AUTOMOBILE AVIATION BANKING BPO "
    "BUSINESS-DEVELOPMENT CHEF CONSTRUCTION CONSULTANT DESIGNER DIGITAL-MEDIA ENGINEERING "
    "FINANCE FITNESS HEALTHCARE HR INFORMATION-TECHNOLOGY PUBLIC-RELATIONS SALES TEACHER".split()
)

# --- prepare ---------------------------------------------------------------------------------

_WORDS = (
    "one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
    "fifteen sixteen seventeen eighteen nineteen twenty"
).split()
NUMBER_WORDS = {w: i for i, w in enumerate(_WORDS, start=1)}
NUMBER_WORDS.update({"twenty-five": 25, "thirty": 30, "thirty-five": 35, "forty": 40})
_NUM = r"\b(\d{1,3}(?:\.\d+)?|" + "|".join(sorted(NUMBER_WORDS, key=len, reverse=True)) + r")"
_YEARS = r"\s*\+?\s*(?:\(\d+\)\s*)?(?:years?|yrs?)\b['’]?"
EXPERIENCE = [
    # "5 years of experience", "10+ years' professional experience", "over twenty years
    # of progressive management experience", "3 yrs exp"
    re.compile(_NUM + _YEARS + r"\s+(?:of\s+)?(?:[\w/&-]+\s+){0,4}?(?:experience|exp)\b", re.I),
    # "Experience: 7 years", "experience of 4 years", "experience of over 12 years"
    re.compile(
        r"\bexperience\s*(?:of|:|-)?\s*(?:over|more than|nearly|about)?\s*" + _NUM + _YEARS, re.I
    ),
]


def stated_years(text: str) -> float | None:
    """The largest number of years of experience the text states, capped at 60."""
    found = []
    for pattern in EXPERIENCE:
        for match in pattern.finditer(text):
            raw = match.group(1).lower()
            value = NUMBER_WORDS[raw] if raw in NUMBER_WORDS else float(raw)
            if value > 0:
                found.append(min(float(value), 60.0))
    return max(found) if found else None


def level(years: float | None) -> str:
    if years is None:
        return "mid"
    if years < 2:
        return "entry"
    if years < 5:
        return "mid"
    if years < 10:
        return "senior"
    return "expert"


def clean(text: str) -> str:
    """Whitespace only: runs of blanks to one space, lines stripped, blank runs to one."""
    lines = (
        re.sub(r"[^\S\n]+", " ", line).strip() for line in text.replace("\x00", "").splitlines()
    )
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "src"


def _read_file(file: Path) -> tuple[str, str | None]:
    """(text, None), or ("", why not): the extraction the worker applies to an uploaded file."""
    from trustq.scoring.resume_files import FileLimits, ResumeFileError, extract_text

    if file.suffix.lower() == ".txt":
        return file.read_text(encoding="utf-8", errors="replace"), None
    try:
        return extract_text(file.read_bytes(), file.name, FileLimits()), None
    except ResumeFileError as exc:
        return "", str(exc)


def read_source(path: Path, counts: Counter[str]) -> Iterator[tuple[str, str, str, str]]:
    """(source tag, id, category, raw text) of every resume in a folder or a CSV."""
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.suffix.lower() in (".pdf", ".docx", ".txt"))
        categories = {p.parent.name for p in files}
        tag = "livecareer" if categories & LIVECAREER_CATEGORIES else _slug(path.name)
        # pypdf takes about 0.1 s per resume here: one process per core reads the files.
        with ProcessPoolExecutor(os.cpu_count()) as pool:
            texts = pool.map(_read_file, files, chunksize=16)
            for file, (text, error) in zip(files, texts, strict=True):
                counts["read"] += 1
                if error is not None:
                    counts["unreadable"] += 1
                    print(f"  unreadable: {error}", file=sys.stderr)
                    continue
                category = file.parent.name.upper() if file.parent != path else "-"
                yield tag, file.stem, category, text
        return
    csv.field_size_limit(sys.maxsize)
    with path.open(encoding="utf-8", errors="replace", newline="") as handle:
        reader = csv.DictReader(handle)
        columns = reader.fieldnames or []
        text_col = next(
            (c for c in ("Resume_str", "Resume", "resume_text", "text") if c in columns), None
        )
        if text_col is None:
            raise SystemExit(f"{path}: no resume text column (Resume_str or Resume) in {columns}")
        id_col = next((c for c in ("ID", "id", "Id") if c in columns), None)
        tag = "livecareer" if text_col == "Resume_str" else _slug(path.stem)
        for number, row in enumerate(reader, start=1):
            counts["read"] += 1
            rid = (row.get(id_col) or "").strip() if id_col else ""
            category = (row.get("Category") or "-").strip().upper() or "-"
            yield tag, rid or str(number), category, row.get(text_col) or ""


def prepare(sources: list[Path], out: Path, limit: int | None, seed: int) -> dict[str, Any]:
    from trustq.schemas import MAX_RESUME_CHARS, Profile, describe_errors

    counts: Counter[str] = Counter()
    categories: Counter[str] = Counter()
    levels: Counter[str] = Counter()
    seen_text: set[str] = set()
    seen_id: set[str] = set()
    rejects: list[str] = []
    kept: list[tuple[str, dict[str, Any]]] = []
    for source in sources:
        if not source.exists():
            raise SystemExit(f"{source}: no such file or folder")
        for tag, rid, category, raw in read_source(source, counts):
            text = clean(raw)
            if len(text) < MIN_CHARS:
                counts["too_short"] += 1
                continue
            if len(text) > MAX_RESUME_CHARS:
                text = text[:MAX_RESUME_CHARS]
                counts["cut"] += 1
            digest = hashlib.sha256(text.encode()).hexdigest()
            if digest in seen_text:
                counts["duplicates"] += 1
                continue
            external_id = _slug(f"real-{tag}-{rid}")[:200]
            if external_id in seen_id:
                counts["id_repeated"] += 1
                continue
            years = stated_years(text)
            profile: dict[str, Any] = {
                "external_id": external_id,
                "resume_text": text,
                "experience_level": level(years),
            }
            if years is not None:
                profile["claimed_years_experience"] = years
            profile.update({"skills": [], "links": {}, "projects": []})
            try:
                Profile.model_validate(profile)
            except ValueError as exc:
                counts["rejected"] += 1
                rejects.append(f"{external_id}: " + "; ".join(describe_errors(exc)))
                continue
            seen_text.add(digest)
            seen_id.add(external_id)
            kept.append((category, profile))
    random.Random(seed).shuffle(kept)
    if limit is not None:
        kept = kept[:limit]
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", encoding="utf-8") as handle:
        for category, profile in kept:
            handle.write(json.dumps(profile, ensure_ascii=False) + "\n")
            categories[category] += 1
            levels[profile["experience_level"]] += 1
    words = sorted(len(p["resume_text"].split()) for _, p in kept)
    stated = sum("claimed_years_experience" in p for _, p in kept)
    summary = {
        "read": counts["read"],
        "unreadable": counts["unreadable"],
        "too_short": counts["too_short"],
        "duplicates_dropped": counts["duplicates"],
        "id_repeated": counts["id_repeated"],
        "cut": counts["cut"],
        "rejected": counts["rejected"],
        "kept": len(kept),
        "years_stated": stated,
        "experience_level": dict(levels.most_common()),
        "by_category": dict(sorted(categories.items())),
        "words": _spread(words),
    }
    print(
        f"read {summary['read']}, unreadable {summary['unreadable']}, under {MIN_CHARS} chars "
        f"{summary['too_short']}, duplicates dropped {summary['duplicates_dropped']}, id repeated "
        f"{summary['id_repeated']}, cut at {MAX_RESUME_CHARS:,} chars {summary['cut']}, "
        f"rejected by the schema {summary['rejected']}"
    )
    print(f"kept {len(kept)} -> {out}")
    print(f"years of experience stated in {stated}; levels {summary['experience_level']}")
    print("words per resume: " + ", ".join(f"{k} {v}" for k, v in summary["words"].items()))
    print("by category:")
    for name, n in summary["by_category"].items():
        print(f"  {name:<24} {n:>5}")
    for line in rejects[:10]:
        print(f"  rejected {line}")
    return summary


def _spread(values: list[int]) -> dict[str, float | None]:
    if not values:
        return {"min": None, "median": None, "p90": None, "max": None}
    import numpy as np

    return {
        "min": values[0],
        "median": round(float(np.percentile(values, 50)), 1),
        "p90": round(float(np.percentile(values, 90)), 1),
        "max": values[-1],
    }


# --- run -------------------------------------------------------------------------------------


def _settle(ids: list[Any], worker: Any, timeout: float) -> None:
    """Wait until every submission is done or failed (failed ones never get a verdict)."""
    from sqlalchemy import func, select

    from trustq.db.session import session_scope
    from trustq.db.tables import Submission, SubmissionStatus

    deadline = time.monotonic() + timeout
    last = ""
    while True:
        with session_scope() as session:
            rows = session.execute(
                select(Submission.status, func.count())
                .where(Submission.id.in_(ids))
                .group_by(Submission.status)
            ).all()
        by_status = dict(rows)
        settled = by_status.get(SubmissionStatus.done, 0) + by_status.get(
            SubmissionStatus.failed, 0
        )
        if settled == len(ids):
            return
        line = f"  {settled}/{len(ids)} settled"
        if line != last:
            print(line, file=sys.stderr, flush=True)
            last = line
        if worker.proc.poll() is not None:
            raise SystemExit(
                f"the worker exited (code {worker.proc.returncode}); see {worker.log_path}"
            )
        if time.monotonic() > deadline:
            raise SystemExit(f"{settled} of {len(ids)} settled after {timeout:.0f} s")
        time.sleep(0.5)


def _value_key(value: Any) -> str:
    if value is None or isinstance(value, str | int | float | bool):
        return str(value)
    return json.dumps(value, sort_keys=True, default=str)[:80]


def _shares(counter: Counter[str], n: int) -> dict[str, dict[str, float]]:
    return {
        k: {"count": c, "share": round(c / n, 4) if n else 0.0} for k, c in counter.most_common()
    }


def summarise(verdicts: list[dict[str, Any]]) -> dict[str, Any]:
    import numpy as np

    n = len(verdicts)
    risk = Counter(v["risk_level"] for v in verdicts)
    recommendation = Counter(v["recommendation"] for v in verdicts)
    codes: Counter[str] = Counter()
    severities: Counter[str] = Counter()
    for v in verdicts:
        flags = v.get("flags") or []
        codes.update({str(f.get("code")) for f in flags})
        severities.update({str(f.get("severity")) for f in flags})
    scores = [v["trust_score"] for v in verdicts]
    out: dict[str, Any] = {
        "trust_score": {
            "p10": round(float(np.percentile(scores, 10)), 1),
            "median": round(float(np.percentile(scores, 50)), 1),
            "p90": round(float(np.percentile(scores, 90)), 1),
        }
        if scores
        else None,
        "risk_level": {k: round(c / n, 4) for k, c in risk.most_common()},
        "recommendation": {k: round(c / n, 4) for k, c in recommendation.most_common()},
        "flags": _shares(codes, n),
        "flag_severity": _shares(severities, n),
        "verdicts_without_flags": sum(not v.get("flags") for v in verdicts),
        # Which profiles carry which flags, to look at their texts (the first 20).
        "flagged": [
            {
                "external_id": v["external_id"],
                "flags": sorted({str(f.get("code")) for f in v["flags"]}),
            }
            for v in verdicts
            if v.get("flags")
        ][:20],
    }
    # Keys later versions may add to a verdict; counted when present.
    if any("history" in v for v in verdicts):
        out["history"] = dict(Counter(_value_key(v.get("history")) for v in verdicts).most_common())
    if any("notices" in v for v in verdicts):
        kinds: Counter[str] = Counter()
        for v in verdicts:
            kinds.update(
                {
                    str(x.get("kind")) if isinstance(x, dict) else _value_key(x)
                    for x in v.get("notices") or []
                }
            )
        out["notices"] = _shares(kinds, n)
    if any("summary" in v for v in verdicts):
        present = Counter(_value_key(v["summary"]) for v in verdicts if v.get("summary"))
        out["summary"] = {
            "present": sum(present.values()),
            "distinct": len(present),
            "most_common": dict(present.most_common(5)),
        }
    return out


def _serving_model() -> str:
    """The serving model's version, loaded here once as a worker would load it: a model the
    worker would refuse fails the run now, not after every profile's retries."""
    from trustq.config import get_settings
    from trustq.db import models as models_db
    from trustq.db.session import session_scope
    from trustq.models.artifact import ArtifactError, deserialise
    from trustq.models.scorer import Scorer

    with session_scope() as session:
        row = models_db.serving_model(session)
        if row is None:
            raise SystemExit("no model is serving; run `trustq train` first")
        version, artifact, sha = row.version, row.artifact, row.artifact_sha256
    try:
        model, meta = deserialise(artifact, sha)
        Scorer(model, meta, version=version, base_rate=get_settings().base_rate)
    except (ArtifactError, ValueError) as exc:
        raise SystemExit(f"the serving model {version} cannot be used: {exc}") from exc
    return version


def run(
    profiles_path: Path, out: Path, workers: int, limit: int | None, timeout: float
) -> dict[str, Any]:
    for name in ("TRUSTQ_DATABASE_URL", "TRUSTQ_BROKER_URL"):
        if not os.environ.get(name):
            raise SystemExit(f"{name} is not set: point it at the PostgreSQL / Redis to use")
    from benchmarks.suite import Worker
    from trustq import client

    serving = _serving_model()
    lines = profiles_path.read_text(encoding="utf-8").splitlines()
    records = [json.loads(line) for line in lines if line.strip()][:limit]
    if not records:
        raise SystemExit(f"{profiles_path}: no profiles")
    words = sorted(len(r["resume_text"].split()) for r in records)
    print(
        f"{len(records)} profiles, model {serving}, starting a worker ({workers} processes)",
        file=sys.stderr,
    )
    env = {k: v for k, v in os.environ.items() if k.startswith("TRUSTQ_")}
    log_dir = Path(tempfile.mkdtemp(prefix="trustq-real-"))
    try:
        worker = Worker(env, workers, log_dir, "real")
    except RuntimeError as exc:
        tail = (log_dir / "worker-real.log").read_text(errors="replace").strip()[-2000:]
        raise SystemExit(f"{exc}\n{tail}") from exc
    try:
        started = time.perf_counter()
        ids = [e.id for e in client.enqueue_many(records, submitted_by="real-resumes")]
        _settle(ids, worker, timeout)
        seconds = time.perf_counter() - started
    finally:
        worker.stop()
    verdicts, failures = [], []
    for sid in ids:
        try:
            verdict = client.get_verdict(sid)
        except client.SubmissionFailed as exc:
            failures.append(str(exc))
            continue
        if verdict is None:
            failures.append(f"submission {sid}: no verdict")
        else:
            verdicts.append(verdict.model_dump(mode="json"))
    result = {
        "profiles_file": str(profiles_path),
        "n": len(ids),
        "failed": {"count": len(failures), "reasons": failures[:10]},
        "model_version": serving,
        "worker_processes": workers,
        "seconds": round(seconds, 2),
        "profiles_per_s": round(len(ids) / seconds, 2),
        "words_per_resume": {k: v for k, v in _spread(words).items() if k in ("median", "p90")},
        **summarise(verdicts),
        "worker_log": str(worker.log_path),
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    show(result)
    print(f"-> {out}")
    return result


def show(result: dict[str, Any]) -> None:
    print(
        f"{result['n']} profiles, {result['failed']['count']} failed, {result['seconds']} s "
        f"({result['profiles_per_s']} profiles/s, {result['worker_processes']} worker processes), "
        f"model {result['model_version']}"
    )
    words = result["words_per_resume"]
    print(
        f"words per resume: median {words['median']}, p90 {words['p90']}; "
        f"trust score: {result['trust_score']}"
    )
    for title in ("risk_level", "recommendation"):
        print(f"{title}: " + ", ".join(f"{k} {v:.1%}" for k, v in result[title].items()))
    print(f"{'flag':<36} {'verdicts':>8} {'share':>7}")
    for code, row in result["flags"].items():
        print(f"  {code:<34} {row['count']:>8} {row['share']:>7.1%}")
    print(
        "severity: "
        + ", ".join(f"{k} {r['share']:.1%}" for k, r in result["flag_severity"].items())
    )
    print(f"verdicts without any flag: {result['verdicts_without_flags']}")
    for row in result["flagged"][:5]:
        print(f"  e.g. {row['external_id']}: {', '.join(row['flags'])}")
    for key in ("history", "notices", "summary"):
        if key in result:
            print(f"{key}: {result[key]}")
    for reason in result["failed"]["reasons"]:
        print(f"  failed: {reason}")
    if result["failed"]["count"]:
        print(f"  the worker's log: {result['worker_log']}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("prepare", help="resumes (PDF/DOCX/TXT folder or CSV) -> profiles JSONL")
    p.add_argument("--source", type=Path, action="append", required=True)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--limit", type=int)
    p.add_argument("--seed", type=int, default=0, help="order of the output lines")
    r = sub.add_parser("run", help="profiles JSONL -> verdicts through a real worker")
    r.add_argument("--profiles", type=Path, required=True)
    r.add_argument("--out", type=Path, required=True)
    r.add_argument("--workers", type=int, default=2, help="worker pool processes")
    r.add_argument("--limit", type=int)
    r.add_argument("--timeout", type=float, default=3600.0, help="seconds to wait for verdicts")
    args = parser.parse_args(argv)
    if args.command == "prepare":
        prepare(args.source, args.out, args.limit, args.seed)
    else:
        run(args.profiles, args.out, args.workers, args.limit, args.timeout)


if __name__ == "__main__":
    main()
