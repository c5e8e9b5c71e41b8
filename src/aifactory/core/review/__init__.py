"""Peer review of a call: rubric scoring, ranking with explained tie-breaks, and reviewer assignment.

Scoring
    A rubric is a list of criteria c, each with a weight w_c > 0 and a scale [low_c, high_c]. A review gives every
    criterion a mark within its scale; the review's score is sum_c w_c * mark_c / sum_c w_c, and a proposal's score
    is the mean of its reviews' scores (equal to the weighted mean of its per-criterion means).

Ranking (rank)
    Proposals are ordered by score, highest first. Scores, and the per-criterion means below, are compared after
    rounding to SCORE_DECIMALS decimals, so that the same marks added up in another order still tie. A tie is
    broken by the first of these rules that separates the two proposals:
        1. the higher mean on each criterion in turn, heaviest criterion first (the order of the rubric between
           criteria of equal weight);
        2. fewer GPU-hours requested;
        3. earlier submission;
        4. the proposal id, in alphabetical order (only when everything else is equal).
    Each entry whose score ties with the one above it carries the rule that placed it and a sentence saying so.

Reviewer assignment (assign)
    Data: proposals p (keywords K_p, organisation, named people, country), reviewers r (keywords K_r,
    organisation, name, country, load cap u_r), k reviews per proposal. A pair (p, r) is in conflict when they
    share an organisation, when r is named in p, when they share a country and the call says that is a conflict,
    or when the conflict was declared. J_pr = |K_p & K_r| / |K_p | K_r| (Jaccard; 0 when both are empty).
    Integer program, over the pairs E free of conflict, solved with HiGHS (scipy.optimize.milp):
        minimise    lambda * L - sum_{(p,r) in E} J_pr * x_pr
        subject to  sum_r x_pr = k                  for every proposal p
                    sum_p x_pr <= u_r               for every reviewer r
                    sum_p x_pr - L <= 0             for every reviewer r   (L >= the largest load)
                    x_pr in {0, 1},  L integer,  L >= L*
    With lambda = k * |P| + 1 (the default) one more unit of largest load costs more than any total match can
    gain: the program first minimises the largest load, then maximises the match among those assignments. A
    smaller lambda (load_weight) trades balance for expertise. Before solving, a maximum flow (source -> p with
    capacity k -> r with capacity 1 per free pair -> sink with capacity u_r) checks that every proposal can get
    its k reviewers; when not, the source side of the minimum cut names the proposals that cannot, and
    InfeasibleAssignment is raised. L*, the smallest largest load with which every proposal still gets its k
    reviewers, is found by bisection on the same maximum flow with sink capacities min(u_r, L). The bound
    L >= L* removes no feasible assignment; when balance comes first it fixes L = L* in the relaxation, where the
    remaining constraint matrix (a transportation problem) is totally unimodular, so the root relaxation is
    already integral. HiGHS presolve is off: it removes nothing from this program and costs seconds at scale.

Functions: score_review, score_proposals, rank, report_ranking; conflicts, estimate_assignment, assign,
evaluate_assignment, report_assignment.
"""

from aifactory.core.review._common import SCORE_DECIMALS, InfeasibleAssignment
from aifactory.core.review.assignment import (
    NO_RULES,
    Assignment,
    AssignmentEstimate,
    AssignmentEvaluation,
    AssignmentResult,
    Conflict,
    ConflictRules,
    ProposalProfile,
    Reviewer,
    assign,
    conflicts,
    estimate_assignment,
    evaluate_assignment,
    jaccard,
    report_assignment,
)
from aifactory.core.review.scoring import (
    Candidate,
    Criterion,
    ProposalScore,
    RankedProposal,
    Ranking,
    Review,
    Rubric,
    rank,
    report_ranking,
    score_proposals,
    score_review,
)

__all__ = [
    "Assignment",
    "AssignmentEstimate",
    "AssignmentEvaluation",
    "AssignmentResult",
    "Candidate",
    "Conflict",
    "ConflictRules",
    "Criterion",
    "InfeasibleAssignment",
    "NO_RULES",
    "ProposalProfile",
    "ProposalScore",
    "RankedProposal",
    "Ranking",
    "Review",
    "Reviewer",
    "Rubric",
    "SCORE_DECIMALS",
    "assign",
    "conflicts",
    "estimate_assignment",
    "evaluate_assignment",
    "jaccard",
    "rank",
    "report_assignment",
    "report_ranking",
    "score_proposals",
    "score_review",
]
