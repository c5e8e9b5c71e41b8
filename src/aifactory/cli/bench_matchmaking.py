"""`aifactory bench matchmaking`: ranking quality of the matchmaking against a planted ground truth.

The world is reproducible from (challenges, startups, planted, seed):
- each challenge takes a sector, 1-3 model types, 1-3 data kinds and a smallest team of 1-10, uniformly;
- `planted` startups per challenge are its true partners: the challenge's sector (plus another one half of the
  time), each model type and data kind wanted kept with probability 0.8 plus one random extra of each, and a team at
  least the one asked for nine times in ten;
- every other startup is noise: 1-3 sectors, 1-4 model types, 1-4 data kinds, a team of 1-30, uniformly.
Each challenge's shortlist (k = the shortlist size) is scored against its planted partners: precision@k, recall@k,
NDCG@k, MRR. Compared: the matchmaking (the b-matching of core/matchmaking.py), each challenge's top k by fit alone
(no limit per startup), and a sector-only baseline (startups working in the sector, in random order).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

import numpy as np

from aifactory.core.exceptions import CoreError
from aifactory.core.matchmaking import (
    DATA_KINDS,
    MODEL_TYPES,
    SECTORS,
    Challenge,
    Quality,
    Startup,
    evaluate,
    fit,
    match,
)


def generate(challenges: int, startups: int, planted: int, seed: int
             ) -> tuple[list[Challenge], list[Startup], dict[str, frozenset[str]]]:
    rng = np.random.default_rng(seed)

    def pick(pool: tuple[str, ...], low: int, high: int) -> set[str]:
        return {str(x) for x in rng.choice(pool, size=int(rng.integers(low, high + 1)), replace=False)}

    cs: list[Challenge] = []
    ss: list[Startup] = []
    truth: dict[str, frozenset[str]] = {}
    n = 0
    for i in range(challenges):
        c = Challenge(id=f"c{i:05d}", sector=str(rng.choice(SECTORS)), models=frozenset(pick(MODEL_TYPES, 1, 3)),
                      data=frozenset(pick(DATA_KINDS, 1, 3)), min_team=int(rng.integers(1, 11)))
        cs.append(c)
        partners = set()
        for _ in range(planted):
            sectors = {c.sector} | (pick(SECTORS, 1, 1) if rng.random() < 0.5 else set())
            models = {m for m in c.models if rng.random() < 0.8} | pick(MODEL_TYPES, 1, 1)
            data = {d for d in c.data if rng.random() < 0.8} | pick(DATA_KINDS, 1, 1)
            team = c.min_team + int(rng.integers(0, 20)) if rng.random() < 0.9 else max(1, c.min_team - 1)
            ss.append(Startup(id=f"s{n:06d}", sectors=frozenset(sectors), models=frozenset(models),
                              data=frozenset(data), team=team))
            partners.add(f"s{n:06d}")
            n += 1
        truth[c.id] = frozenset(partners)
    while n < startups:
        ss.append(Startup(id=f"s{n:06d}", sectors=frozenset(pick(SECTORS, 1, 3)),
                          models=frozenset(pick(MODEL_TYPES, 1, 4)), data=frozenset(pick(DATA_KINDS, 1, 4)),
                          team=int(rng.integers(1, 31))))
        n += 1
    order = rng.permutation(len(ss))  # the planted partners are not the first ids
    ss = [ss[int(i)] for i in order]
    return cs, ss, truth


def _top_k(cs: list[Challenge], ss: list[Startup], k: int) -> dict[str, list[str]]:
    out = {}
    for c in cs:
        fits = sorted((fit(c, s) for s in ss), key=lambda f: (-f.score, f.startup))
        out[c.id] = [f.startup for f in fits if f.possible][:k]
    return out


def _sector_only(cs: list[Challenge], ss: list[Startup], k: int, seed: int) -> dict[str, list[str]]:
    rng = np.random.default_rng(seed + 1)
    out = {}
    for c in cs:
        ids = [s.id for s in ss if c.sector in s.sectors]
        rng.shuffle(ids)
        out[c.id] = ids[:k]
    return out


def _q(q: Quality) -> dict[str, float]:
    return {"precision": round(q.precision, 4), "recall": round(q.recall, 4), "ndcg": round(q.ndcg, 4),
            "mrr": round(q.mrr, 4)}


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser(
        "matchmaking", help="ranking quality of the matchmaking against a planted ground truth")
    parser.add_argument("--challenges", type=int, default=50, help="number of challenges (default 50)")
    parser.add_argument("--startups", type=int, default=500, help="number of startups (default 500)")
    parser.add_argument("--planted", type=int, default=2, help="true partners per challenge (default 2)")
    parser.add_argument("--k", type=int, default=5, help="shortlist size per challenge (default 5)")
    parser.add_argument("--per-startup", type=int, default=3, help="challenges per startup at most (default 3)")
    parser.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    for name, value, low, high in (("--challenges", args.challenges, 1, 5000), ("--startups", args.startups, 1, 50_000),
                                   ("--planted", args.planted, 1, 50), ("--k", args.k, 1, 100),
                                   ("--per-startup", args.per_startup, 1, 1000)):
        if not low <= value <= high:
            print(f"aifactory bench matchmaking: {name} must be from {low} to {high}, got {value}", file=sys.stderr)
            return 2
    if args.challenges * args.planted > args.startups:
        print("aifactory bench matchmaking: --startups must be at least --challenges x --planted", file=sys.stderr)
        return 2
    try:
        started = time.perf_counter()
        cs, ss, truth = generate(args.challenges, args.startups, args.planted, args.seed)
        result = match(cs, ss, per_challenge=args.k, per_startup=args.per_startup)
        ours = evaluate({c: [f.startup for f in fits] for c, fits in result.shortlists.items()}, truth, args.k)
        top = evaluate(_top_k(cs, ss, args.k), truth, args.k)
        sector = evaluate(_sector_only(cs, ss, args.k, args.seed), truth, args.k)
        seconds = time.perf_counter() - started
    except CoreError as exc:
        print(f"aifactory bench matchmaking: {exc.message}", file=sys.stderr)
        return 1
    out = {"challenges": args.challenges, "startups": args.startups, "planted": args.planted, "k": args.k,
           "per_startup": args.per_startup, "seed": args.seed, "status": result.status,
           "solve_seconds": round(result.seconds, 3), "total_seconds": round(seconds, 3),
           "matchmaking": _q(ours), "top_k_by_fit": _q(top), "sector_only": _q(sector)}
    if args.json:
        print(json.dumps(out))
        return 0
    print(f"{args.challenges} challenges, {args.startups} startups, {args.planted} planted partners each, "
          f"shortlists of {args.k}, at most {args.per_startup} per startup, seed {args.seed}")
    print(f"{'ranking':<16}{'precision@k':>12}{'recall@k':>10}{'NDCG@k':>9}{'MRR':>7}")
    for name in ("matchmaking", "top_k_by_fit", "sector_only"):
        q = out[name]
        print(f"{name:<16}{q['precision']:>12.3f}{q['recall']:>10.3f}{q['ndcg']:>9.3f}{q['mrr']:>7.3f}")
    print(f"solved ({result.status}) in {result.seconds:.3f} s; {seconds:.2f} s in all")
    return 0
