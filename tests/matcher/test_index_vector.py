"""The vectorised pass of the member index agrees with scoring every member."""

from services.matcher.index import MemberIndex
from tests.matcher.factories import posting
from tests.matcher.test_index import population, postings


def test_vectorised_scores_equal_the_scorers_for_every_match():
    index = MemberIndex.build(population(600, seed=11))
    for p in postings():
        fast = index.match(p)
        slow = index.explain(p)
        assert [(m, r.score, r.explanation) for m, r in fast.matches] == [
            (m, r.score, r.explanation) for m, r in slow.matches
        ], p.title


def test_a_limit_keeps_the_best_matches():
    index = MemberIndex.build(population(600, seed=5))
    for p in postings():
        every = index.explain(p).matches
        best = index.match(p, limit=7).matches
        assert len(best) == min(7, len(every))
        assert (
            sorted((r.score for _, r in best), reverse=True)
            == [r.score for _, r in every][: len(best)]
        )
        scores = dict((m, r.score) for m, r in every)
        assert all(scores[m] == r.score for m, r in best)


def test_a_posting_with_a_rare_language_takes_the_exact_path():
    index = MemberIndex.build(population(50))
    run = index.match(posting(languages_required=("x-klingon",), title="Segretaria"))
    assert run.matches == []
