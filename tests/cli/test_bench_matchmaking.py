"""`aifactory bench matchmaking`: ranking quality against a planted ground truth on a small generated world."""

import json

from aifactory.cli.bench_matchmaking import generate
from aifactory.cli.main import main


def test_the_planted_partners_are_found_far_better_than_by_sector_alone(capsys):
    rc = main(["bench", "matchmaking", "--challenges", "12", "--startups", "120", "--seed", "3", "--json"])
    out = capsys.readouterr()
    assert rc == 0, out.err
    report = json.loads(out.out)
    ours, sector = report["matchmaking"], report["sector_only"]
    for q in (ours, sector, report["top_k_by_fit"]):
        assert 0 <= q["precision"] <= 1 and 0 <= q["recall"] <= 1 and 0 <= q["ndcg"] <= 1 and 0 <= q["mrr"] <= 1
    assert ours["recall"] >= 0.5 and ours["recall"] > 2 * sector["recall"]
    assert ours["precision"] <= 2 / 5 + 1e-9  # two planted partners in a shortlist of five


def test_the_world_is_reproducible_and_plants_what_it_says():
    a = generate(5, 40, 2, seed=9)
    b = generate(5, 40, 2, seed=9)
    assert a == b
    challenges, startups, truth = a
    assert len(startups) == 40 and all(len(p) == 2 for p in truth.values())
    by_id = {s.id: s for s in startups}
    for c in challenges:
        assert all(c.sector in by_id[s].sectors for s in truth[c.id])


def test_bad_arguments_exit_2(capsys):
    assert main(["bench", "matchmaking", "--challenges", "0"]) == 2
    assert main(["bench", "matchmaking", "--challenges", "50", "--startups", "10"]) == 2
    assert "--startups" in capsys.readouterr().err
