"""`aifactory bench screening`: precision and recall of the AI Act text screening on a labelled set.

The set (core/data/aiact_screening_set.yaml, or --set FILE of the same shape) holds project descriptions in
seven languages, each with the Article 5 practices and Annex III areas a careful reader finds in it (none for the
benign ones). Counted per description:
    flagged   the screening found at least one practice or area
    precision flagged and labelled / flagged
    recall    flagged and labelled / labelled
and, for the labelled ones, how many of the labelled keys were named (key recall). A screen that flags everything
would have recall 1 and precision equal to the share of labelled descriptions, printed beside as the baseline.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Any

import yaml

from aifactory.core.aiact_text import screen_text
from aifactory.core.exceptions import InvalidInput


@dataclass(frozen=True)
class Counts:
    tp: int
    fp: int
    fn: int
    tn: int

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    def to_dict(self) -> dict[str, Any]:
        return {"tp": self.tp, "fp": self.fp, "fn": self.fn, "tn": self.tn,
                "precision": round(self.precision, 4), "recall": round(self.recall, 4)}


@dataclass(frozen=True)
class Evaluation:
    overall: Counts
    by_language: Mapping[str, Counts]
    key_recall: float
    baseline_precision: float
    errors: tuple[dict[str, Any], ...]  # the descriptions counted as false positives or false negatives
    seconds: float
    by_split: Mapping[str, Counts] = field(default_factory=dict)  # development (lists tuned on it), held_out

    def to_dict(self) -> dict[str, Any]:
        return {"items": sum(vars(self.overall).values()), **self.overall.to_dict(),
                "key_recall": round(self.key_recall, 4), "flag_everything_precision": round(self.baseline_precision, 4),
                "by_language": {k: v.to_dict() for k, v in self.by_language.items()},
                "by_split": {k: v.to_dict() for k, v in self.by_split.items()},
                "errors": list(self.errors), "seconds": round(self.seconds, 3)}


def load_set(path: str | None = None) -> list[dict[str, Any]]:
    if path is None:
        text = resources.files("aifactory.core").joinpath("data/aiact_screening_set.yaml").read_text(encoding="utf-8")
    else:
        text = Path(path).read_text(encoding="utf-8")
    data = yaml.safe_load(text)
    items = data.get("items") if isinstance(data, Mapping) else None
    if not isinstance(items, list) or not items:
        raise InvalidInput("items", "the set must hold a list of items")
    for i, item in enumerate(items):
        if not isinstance(item, Mapping) or not isinstance(item.get("title"), str) or not isinstance(
            item.get("expect"), list
        ):
            raise InvalidInput(f"items[{i}]", "needs a title and an expect list")
    return [dict(item) for item in items]


def evaluate(items: Sequence[Mapping[str, Any]]) -> Evaluation:
    started = time.perf_counter()
    cells: dict[str, list[int]] = {}
    splits: dict[str, list[int]] = {}
    total = [0, 0, 0, 0]
    keys_expected = keys_named = 0
    errors: list[dict[str, Any]] = []
    for item in items:
        fields = {"title": str(item["title"]), "summary": str(item.get("summary", "")),
                  "description": str(item.get("description", ""))}
        found = screen_text(fields)
        expected = set(item["expect"])
        named = set(found.keys())
        cell = cells.setdefault(str(item.get("lang", "?")), [0, 0, 0, 0])
        slot = (0 if named else 2) if expected else (1 if named else 3)
        cell[slot] += 1
        splits.setdefault(str(item.get("split", "development")), [0, 0, 0, 0])[slot] += 1
        total[slot] += 1
        keys_expected += len(expected)
        keys_named += len(expected & named)
        if slot in (1, 2):
            errors.append({"id": item.get("id"), "expected": sorted(expected), "found": sorted(named),
                           "passages": [p for f in found.findings for p in f.passages]})
    labelled = total[0] + total[2]
    return Evaluation(
        overall=Counts(*total),
        by_language={k: Counts(*v) for k, v in sorted(cells.items())},
        key_recall=keys_named / keys_expected if keys_expected else 1.0,
        baseline_precision=labelled / len(items) if items else 0.0,
        errors=tuple(errors),
        seconds=time.perf_counter() - started,
        by_split=MappingProxyType({k: Counts(*v) for k, v in sorted(splits.items())}),
    )


def worst_case_seconds(repeat: int = 3) -> tuple[int, float]:
    """The longest the screening takes on the largest texts an application may carry (title 200, summary 5,000,
    description 20,000 characters) of words never seen before (nothing cached): (characters, best of `repeat`)."""
    import random

    best = float("inf")
    size = 0
    for attempt in range(repeat):
        rng = random.Random(attempt)

        def text(chars: int, rng: random.Random = rng) -> str:
            words = []
            while sum(len(w) + 1 for w in words) < chars:
                letters = "abcdefghijklmnopqrstuvwxyzäöüéèłż"
                words.append("".join(rng.choice(letters) for _ in range(rng.randint(3, 12))))
                if rng.random() < 0.08:
                    words[-1] += "."
            return " ".join(words)[:chars]

        fields = {"title": text(200), "summary": text(5000), "description": text(20000)}
        size = sum(len(v) for v in fields.values())
        started = time.perf_counter()
        screen_text(fields)
        best = min(best, time.perf_counter() - started)
    return size, best


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser(
        "screening", help="precision and recall of the AI Act text screening on a labelled set of descriptions"
    )
    parser.add_argument("--set", dest="set_path", help="a YAML set of the same shape (default: the shipped one)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        result = evaluate(load_set(args.set_path))
    except (OSError, yaml.YAMLError, InvalidInput) as exc:
        print(f"aifactory bench screening: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(result.to_dict(), indent=2, ensure_ascii=False))
        return 0
    o = result.overall
    print(f"descriptions: {o.tp + o.fp + o.fn + o.tn} ({o.tp + o.fn} to flag, {o.fp + o.tn} benign)")
    print(f"precision {o.precision:.3f}  recall {o.recall:.3f}  (tp {o.tp}, fp {o.fp}, fn {o.fn}, tn {o.tn})")
    print(f"key recall {result.key_recall:.3f}  flag-everything precision {result.baseline_precision:.3f}")
    for split, c in result.by_split.items():
        print(f"  {split}: precision {c.precision:.3f} recall {c.recall:.3f} (tp {c.tp}, fp {c.fp}, fn {c.fn}, "
              f"tn {c.tn})")
    for lang, c in result.by_language.items():
        print(f"  {lang}: precision {c.precision:.3f} recall {c.recall:.3f} (tp {c.tp}, fp {c.fp}, fn {c.fn}, "
              f"tn {c.tn})")
    for err in result.errors:
        kind = "false positive" if not err["expected"] else "missed"
        print(f"  {kind}: {err['id']} expected {err['expected'] or '-'} found {err['found'] or '-'}")
    print(f"screened in {result.seconds:.2f} s")
    size, seconds = worst_case_seconds()
    print(f"largest accepted text ({size:,} characters of new words): {seconds * 1000:.0f} ms")
    return 0
