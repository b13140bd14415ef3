"""Precision and recall of the title rule, next to plain rapidfuzz baselines.

    python -m services.matcher.evaluation tests/matcher/title_pairs.tsv \
        [--esco ../shared/data/esco-1.0.8]

The labelled pairs file has ``posting title<TAB>member title<TAB>1|0<TAB>kind``
lines (``#`` starts a comment). The baselines are rapidfuzz ``token_set_ratio``
and ``WRatio`` with rapidfuzz's own default preprocessing, each at the
threshold that gives it its best F1 on the very pairs it is scored on, which
flatters the baselines, never us.

With ``--esco``, the same figures on pairs built from an ESCO export: the
preferred labels of one assistant occupation in two languages (should match),
and an assistant occupation's label against another occupation's label that
shares a word such as assistant/segretario/sekreterare (should not).
"""

from __future__ import annotations

import argparse
import dataclasses
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from itertools import combinations
from pathlib import Path

from rapidfuzz import fuzz, utils

from services.matcher import esco
from services.matcher.taxonomy import LANGUAGES
from services.matcher.titles import TitleMatcher, default_matcher


@dataclasses.dataclass(frozen=True, slots=True)
class Pair:
    a: str
    b: str
    label: bool
    kind: str = ""


@dataclasses.dataclass(frozen=True, slots=True)
class Metrics:
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

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0


def read_pairs(path: Path) -> list[Pair]:
    pairs = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip() or line.startswith("#"):
            continue
        fields = line.split("\t")
        if len(fields) < 3 or fields[2] not in ("0", "1"):
            raise ValueError(f"{path}:{number}: expected a<TAB>b<TAB>0|1[<TAB>kind]")
        pairs.append(
            Pair(fields[0], fields[1], fields[2] == "1", fields[3] if len(fields) > 3 else "")
        )
    return pairs


def evaluate(pairs: Iterable[Pair], decide: Callable[[str, str], bool]) -> Metrics:
    tp = fp = fn = tn = 0
    for pair in pairs:
        said = decide(pair.a, pair.b)
        if said and pair.label:
            tp += 1
        elif said:
            fp += 1
        elif pair.label:
            fn += 1
        else:
            tn += 1
    return Metrics(tp, fp, fn, tn)


def best_threshold(
    pairs: Sequence[Pair], scorer: Callable[[str, str], float]
) -> tuple[int, Metrics]:
    """The threshold (0..100) at which ``scorer >= threshold`` has the best F1."""
    scores = [(scorer(p.a, p.b), p.label) for p in pairs]
    best: tuple[float, int, Metrics] | None = None
    for threshold in range(0, 101):
        tp = sum(1 for s, label in scores if s >= threshold and label)
        fp = sum(1 for s, label in scores if s >= threshold and not label)
        fn = sum(1 for s, label in scores if s < threshold and label)
        tn = len(scores) - tp - fp - fn
        metrics = Metrics(tp, fp, fn, tn)
        if best is None or metrics.f1 > best[0]:
            best = (metrics.f1, threshold, metrics)
    assert best is not None
    return best[1], best[2]


CONVENTIONAL = 85


def _plain(scorer: Callable[..., float]) -> Callable[[str, str], float]:
    def score(a: str, b: str) -> float:
        return float(scorer(a, b, processor=utils.default_process))

    return score


def _at(scorer: Callable[[str, str], float], threshold: float) -> Callable[[str, str], bool]:
    return lambda a, b: scorer(a, b) >= threshold


def compare_with_baselines(
    pairs: Sequence[Pair], matcher: TitleMatcher | None = None
) -> dict[str, Metrics]:
    matcher = matcher or default_matcher()
    rows = {"passaparola": evaluate(pairs, lambda a, b: matcher.compare(a, b).match)}
    for name, scorer in (("token_set_ratio", fuzz.token_set_ratio), ("WRatio", fuzz.WRatio)):
        plain = _plain(scorer)
        threshold, metrics = best_threshold(pairs, plain)
        rows[f"{name} >= {threshold} (its best F1)"] = metrics
        # and at a conventional cut-off, for a feel of what it would do in use
        rows[f"{name} >= {CONVENTIONAL}"] = evaluate(pairs, _at(plain, CONVENTIONAL))
    return rows


# --- pairs from ESCO -----------------------------------------------------------------------

ASSISTANT_GROUPS = (
    "3341",
    "3342",
    "3343",
    "3344",
    "4110",
    "4120",
    "4131",
    "4132",
    "4222",
    "4224",
    "4226",
    "4229",
)
_TRIGGER = re.compile(
    r"assist|secretar|segretar|sekreter|recept|execut|esecutiv|personal|direzion|ledning",
    re.IGNORECASE,
)


def _first(concept: esco.EscoConcept, lang: str) -> str | None:
    forms = concept.preferred.get(lang) or ()
    return forms[0] if forms else None


def esco_pairs(
    concepts: Mapping[str, esco.EscoConcept],
    selected: Callable[[esco.EscoConcept], bool],
    negatives_per_pair: int = 2,
) -> list[Pair]:
    """Cross-language pairs: positives within each selected concept, hard
    negatives against unselected concepts whose label shares a trigger word."""
    chosen = sorted((c for c in concepts.values() if selected(c)), key=lambda c: c.code)
    others = sorted(
        (c for c in concepts.values() if not c.isco_group.startswith(ASSISTANT_GROUPS)),
        key=lambda c: c.code,
    )
    pairs: list[Pair] = []
    for la, lb in combinations(LANGUAGES, 2):
        triggers = [c for c in others if _TRIGGER.search(_first(c, lb) or "")]
        for i, concept in enumerate(chosen):
            a, b = _first(concept, la), _first(concept, lb)
            if a is None or b is None:
                continue
            pairs.append(Pair(a, b, True, f"esco {la}-{lb}"))
            for k in range(negatives_per_pair):
                if not triggers:
                    break
                other = _first(triggers[(i * negatives_per_pair + k) % len(triggers)], lb)
                if other:
                    pairs.append(Pair(a, other, False, f"esco {la}-{lb} negative"))
    return pairs


def is_core(concept: esco.EscoConcept) -> bool:
    """The ESCO occupations our own assistant roles stand for."""
    role = esco.ROLE_FOR_CODE.get(concept.code)
    return role is not None and default_matcher().taxonomy.roles[role].family == "assistant"


def in_assistant_groups(concept: esco.EscoConcept) -> bool:
    return concept.isco_group.startswith(ASSISTANT_GROUPS)


# --- report ----------------------------------------------------------------------------------


def format_table(title: str, rows: Mapping[str, Metrics], total: int) -> str:
    lines = [
        f"### {title} ({total} pairs)",
        "",
        "| rule | precision | recall | F1 | TP | FP | FN | TN |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, m in rows.items():
        lines.append(
            f"| {name} | {m.precision:.3f} | {m.recall:.3f} | {m.f1:.3f} "
            f"| {m.tp} | {m.fp} | {m.fn} | {m.tn} |"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pairs", type=Path)
    parser.add_argument("--esco", type=Path, default=None)
    args = parser.parse_args(argv)
    pairs = read_pairs(args.pairs)
    print(format_table("Labelled pairs", compare_with_baselines(pairs), len(pairs)))
    if args.esco is not None:
        concepts = esco.parse_dir(args.esco)
        extended = TitleMatcher(esco.extend_taxonomy(default_matcher(), concepts))
        for title, selected in (
            ("ESCO core assistant occupations", is_core),
            ("ESCO ISCO groups " + ", ".join(ASSISTANT_GROUPS), in_assistant_groups),
        ):
            built = esco_pairs(concepts, selected)
            rows = compare_with_baselines(built)
            rows["passaparola + ESCO import"] = evaluate(
                built, lambda a, b: extended.compare(a, b).match
            )
            print()
            print(format_table(title, rows, len(built)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
