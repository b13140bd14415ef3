from services.matcher.evaluation import Pair, best_threshold, compare_with_baselines, evaluate
from services.matcher.titles import default_matcher


def test_labelled_set_is_large_and_covers_languages_and_false_friends(labelled_pairs):
    assert len(labelled_pairs) >= 150
    kinds = {p.kind for p in labelled_pairs}
    assert {"cross", "false-friend", "unknown", "typo", "other-role"} <= kinds
    assert sum(p.kind == "false-friend" for p in labelled_pairs) >= 40


def test_precision_and_recall_floors(labelled_pairs):
    matcher = default_matcher()
    metrics = evaluate(labelled_pairs, lambda a, b: matcher.compare(a, b).match)
    assert metrics.precision >= 0.97, metrics
    assert metrics.recall >= 0.95, metrics


def test_no_false_friend_matches(labelled_pairs):
    matcher = default_matcher()
    wrong = [
        p for p in labelled_pairs if p.kind == "false-friend" and matcher.compare(p.a, p.b).match
    ]
    assert wrong == []


def test_beats_plain_rapidfuzz_at_their_best_thresholds(labelled_pairs):
    rows = compare_with_baselines(labelled_pairs)
    ours = rows.pop("passaparola")
    assert all(ours.f1 > other.f1 + 0.2 for other in rows.values()), rows


def test_best_threshold_is_the_best_f1():
    pairs = [Pair("a", "a", True), Pair("a", "b", False), Pair("ab", "abc", True)]
    threshold, metrics = best_threshold(
        pairs, lambda a, b: 100.0 if a == b else 80.0 if b.startswith(a) else 0.0
    )
    assert metrics.f1 == 1.0
    assert 0 < threshold <= 80
