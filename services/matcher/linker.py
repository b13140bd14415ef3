"""Link any job title to the occupations of an ESCO export (or any labelled concepts).

    passaparola titles link --esco DIR [--top K]

Every label of every concept, in whatever languages the export has, is turned
into terms with ``title_terms.analyze`` and filed in an inverted index once. A
title is scored against the labels sharing a term with it:

- terms weigh by their rarity among labels (idf), so "assistant" counts less
  than "legal" or "receptionist", and the score is a cosine of the weights;
- the head noun rules: a label whose head is the title's head keeps its score,
  one that merely contains it loses a little, one without it loses more.
  A "school secretary" is a secretary first; a "secretary school" is not;
- words in other languages meet through a lexicon learned from the index
  itself: a concept's labels in Italian, Swedish and English name the same
  occupation, so words that keep appearing on the same concepts across
  languages ("segretaria", "sekreterare", "secretary") translate each other;
- an unknown word (a typo) stands for its closest indexed term when that is
  within a couple of edits;
- a little character similarity of the whole strings breaks ties.

A concept scores as its best label. Given label embeddings (``embeddings.py``,
the packaged e5 model), a ranking fuses in the title's best cosine with each
concept's labels (``fuse``); the strict link the matcher uses never does.
Nothing here reads files: ``esco.py`` parses the export, the CLI and the
matcher build one ``Linker`` and reuse it.
"""

from __future__ import annotations

import dataclasses
import math
from collections import Counter, defaultdict
from collections.abc import Collection, Iterable, Mapping, Sequence

import numpy as np
import numpy.typing as npt
from rapidfuzz import fuzz, process

from services.matcher.embeddings import LabelVectors
from services.matcher.embeddings import clean as clean_title
from services.matcher.title_terms import TitleTerms, analyze

# How much a label loses when the title's head is not its head (but is in it),
# and when the head is not in it at all.
HEAD_ELSEWHERE = 0.95
HEAD_MISSING = 0.8
# Share of the score given to plain character similarity (ties, typos).
CHAR_SHARE = 0.35
# Labels closest in spelling that are scored even without a shared term.
SPELLING_CANDIDATES = 20
# A translation must keep company with its word on this share of concepts (Dice).
MIN_DICE = 0.25
TRANSLATIONS_PER_WORD = 3
# A typo's stand-in must be this close (rapidfuzz ratio) and share a first letter.
TYPO_MIN = 85.0
# A concept is also read as one document: all its labels (in the languages
# asked for) together. The final score blends the best label's score with the
# cosine of the title against that document, by words and by the character
# n-grams of its words (chosen on the ESCO tune part, ``leaveout --part tune``).
# (Weighting the head noun more in the documents, 2x or 3x, lowered MAP there:
# the head rule on labels already does that work.)
DOC_WORDS = 0.2
DOC_GRAMS = 0.4
GRAM_SIZES = (3, 4, 5)
# Concepts best by their document whose labels are scored too.
DOC_CANDIDATES = 30
# With embeddings (``embeddings.py``), a ranking fuses the lexical score with
# the best cosine of the title (as an e5 query) and the concept's labels (as
# passages), rescaled from [EMBED_FLOOR, 1] to [0, 1]: e5 puts nearly any two
# job titles above 0.7 ("cook" / "secretary" 0.87). Weight and floor were
# chosen on the ESCO tune part (``leaveout --part tune --embeddings``, 150
# queries a direction, weights 0.2-0.65 x floors 0.75/0.85: the best mean MAP
# over the six directions). Concepts best by embedding are candidates too (a
# synonym with no shared word).
EMBED_WEIGHT = 0.65
EMBED_FLOOR = 0.85
EMBED_CANDIDATES = 30


@dataclasses.dataclass(frozen=True, slots=True)
class Concept:
    uri: str
    labels: tuple[tuple[str, str], ...]  # (language, label)


@dataclasses.dataclass(frozen=True, slots=True)
class _Label:
    concept: int
    lang: str
    folded: str
    terms: Mapping[str, float]  # term -> weight (idf)
    head: str | None
    norm: float


def word_grams(term: str) -> set[str]:
    """The character n-grams of a word, its edges marked ("#rec", "ist#"), so
    inflections and compound parts share most of them."""
    marked = f"#{term}#"
    return {marked[i : i + n] for n in GRAM_SIZES for i in range(len(marked) - n + 1)}


_Postings = dict[str, tuple[npt.NDArray[np.int32], npt.NDArray[np.float32]]]


class _Documents:
    """Every concept as one bag of its labels' features (words, or character
    n-grams of words), tf-idf weighted with idf over concepts, unit length:
    a word found on many of a concept's labels is evidence that several
    labels give, not one."""

    def __init__(self, bags: Sequence[Counter[str]]) -> None:
        self.size = len(bags)
        documents = Counter(f for bag in bags for f in bag)
        total = max(sum(1 for bag in bags if bag), 1)
        self.idf = {f: math.log(1 + total / n) for f, n in documents.items()}
        owners: dict[str, list[int]] = defaultdict(list)
        weights: dict[str, list[float]] = defaultdict(list)
        for concept, bag in enumerate(bags):
            vector = {f: (1 + math.log(n)) * self.idf[f] for f, n in bag.items()}
            norm = math.sqrt(sum(w * w for w in vector.values())) or 1.0
            for feature, weight in vector.items():
                owners[feature].append(concept)
                weights[feature].append(weight / norm)
        self.postings: _Postings = {
            f: (np.array(owners[f], dtype=np.int32), np.array(weights[f], dtype=np.float32))
            for f in owners
        }

    def cosine(self, query: Mapping[str, float]) -> npt.NDArray[np.float32]:
        """Each concept's cosine with a query (feature -> weight before idf)."""
        scores = np.zeros(self.size, dtype=np.float32)
        squares = 0.0
        for feature, factor in query.items():
            idf = self.idf.get(feature)
            if idf is None:
                continue
            weight = factor * idf
            squares += weight * weight
            owners, values = self.postings[feature]
            scores[owners] += weight * values
        if squares:
            scores /= math.sqrt(squares)
        return scores


@dataclasses.dataclass(frozen=True, slots=True)
class Link:
    uri: str
    score: float  # 0..1


def fuse(
    lexical: Mapping[int, float],
    embedded: npt.NDArray[np.float32] | None,
    weight: float = EMBED_WEIGHT,
    floor: float = EMBED_FLOOR,
) -> dict[int, float]:
    """Concept -> the lexical score and the rescaled embedding cosine, weighed
    (``weight`` 0: lexical alone; 1: embedding alone), over the lexical
    candidates and the concepts best by embedding."""
    if embedded is None or weight <= 0:
        return dict(lexical)
    rescaled = np.clip((embedded - floor) / (1 - floor), 0.0, 1.0)
    candidates = set(lexical)
    candidates.update(int(c) for c in np.argsort(-embedded, kind="stable")[:EMBED_CANDIDATES])
    return {c: (1 - weight) * lexical.get(c, 0.0) + weight * float(rescaled[c]) for c in candidates}


class Linker:
    """An index of concepts' labels that ranks concepts for a free title."""

    def __init__(self, concepts: Sequence[Concept], vectors: LabelVectors | None = None) -> None:
        self.concepts = list(concepts)
        self.vectors = vectors
        self._embedded: tuple[npt.NDArray[np.float32], npt.NDArray[np.int64], list[str]] | None
        self._embedded = None
        if vectors is not None:
            # The labels the vectors hold (every label, as `titles link` and
            # the evaluation embed them), as written (not folded: the model
            # reads accents and case), for a max per concept.
            rows = [
                (i, lang, label)
                for i, c in enumerate(self.concepts)
                for lang, label in c.labels
                if label in vectors
            ]
            if rows:
                matrix = vectors.passages([label for _, _, label in rows])
                owners = np.array([i for i, _, _ in rows], dtype=np.int64)
                self._embedded = (matrix, owners, [lang for _, lang, _ in rows])
        analysed: list[tuple[int, str, str, TitleTerms]] = []
        for index, concept in enumerate(self.concepts):
            seen: set[tuple[str, str]] = set()
            for lang, label in concept.labels:
                terms = analyze(label, lang)
                if (lang, terms.text) in seen:
                    continue
                seen.add((lang, terms.text))
                analysed.append((index, lang, terms.text, terms))
        documents = Counter(t for _, _, _, a in analysed for t in set(a.terms))
        total = max(len(analysed), 1)
        self._idf = {t: math.log(1 + total / n) for t, n in documents.items()}
        self._labels: list[_Label] = []
        self._postings: dict[str, list[int]] = defaultdict(list)
        for owner, lang, folded, terms in analysed:
            weights = {t: self._idf[t] for t in terms.terms}
            norm = math.sqrt(sum(w * w for w in weights.values())) or 1.0
            slot = len(self._labels)
            self._labels.append(_Label(owner, lang, folded, weights, terms.head, norm))
            for term in weights:
                self._postings[term].append(slot)
        self._vocabulary = sorted(self._postings)
        # Per language, the labels' texts for the spelling-only candidates.
        self._texts: dict[str | None, tuple[list[int], list[str]]] = {}
        for slot, entry in enumerate(self._labels):
            for key in (entry.lang, None):
                slots, texts = self._texts.setdefault(key, ([], []))
                slots.append(slot)
                texts.append(entry.folded)
        self._lexicon = self._learn_lexicon(analysed)
        self._slots_of: list[list[int]] = [[] for _ in self.concepts]
        for slot, entry in enumerate(self._labels):
            self._slots_of[entry.concept].append(slot)
        self._documents: dict[frozenset[str] | None, tuple[_Documents, _Documents]] = {}
        self._index_of = {c.uri: i for i, c in enumerate(self.concepts)}

    def build_documents(self, languages: Collection[str] | None = None) -> None:
        """Build the concept documents for ``languages`` now (seconds over
        ESCO) rather than inside the first ``link`` that needs them."""
        self._documents_for(languages)

    def _documents_for(self, languages: Collection[str] | None) -> tuple[_Documents, _Documents]:
        """The concepts as documents of their labels in ``languages`` (all when
        None), by words and by n-grams; built on first use per set of languages."""
        key = None if languages is None else frozenset(languages)
        if key not in self._documents:
            words: list[Counter[str]] = [Counter() for _ in self.concepts]
            grams: list[Counter[str]] = [Counter() for _ in self.concepts]
            for entry in self._labels:
                if key is not None and entry.lang not in key:
                    continue
                words[entry.concept].update(entry.terms.keys())
                grams[entry.concept].update({g for term in entry.terms for g in word_grams(term)})
            self._documents[key] = (_Documents(words), _Documents(grams))
        return self._documents[key]

    def _document_scores(
        self,
        meets: Mapping[str, Mapping[str, float]],
        terms: TitleTerms,
        languages: Collection[str] | None,
    ) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
        """Each concept's cosine with the title by words (a title's word, or
        its translations) and by the n-grams of its words (also of a word the
        index does not know: an inflection or compound the lemmatiser missed)."""
        by_words, by_grams = self._documents_for(languages)
        words: dict[str, float] = {}
        grams: dict[str, float] = {}
        for options in meets.values():
            for other, factor in options.items():
                words[other] = max(words.get(other, 0.0), factor)
        for term in terms.terms:
            for gram in word_grams(term):
                grams[gram] = 1.0
        return by_words.cosine(words), by_grams.cosine(grams)

    def _learn_lexicon(
        self, analysed: Iterable[tuple[int, str, str, TitleTerms]]
    ) -> dict[str, dict[str, float]]:
        """term -> {term in another language: Dice of their concept sets}."""
        concepts_of: dict[tuple[str, str], set[int]] = defaultdict(set)
        for concept, lang, _folded, terms in analysed:
            for term in terms.terms:
                concepts_of[(lang, term)].add(concept)
        by_concept: dict[int, set[tuple[str, str]]] = defaultdict(set)
        for key, concepts in concepts_of.items():
            for concept in concepts:
                by_concept[concept].add(key)
        lexicon: dict[str, dict[str, float]] = defaultdict(dict)
        for (lang, term), concepts in concepts_of.items():
            together: Counter[tuple[str, str]] = Counter()
            for concept in concepts:
                for other in by_concept[concept]:
                    if other[0] != lang and other[1] != term:
                        together[other] += 1
            scored = []
            for other, both in together.items():
                dice = 2 * both / (len(concepts) + len(concepts_of[other]))
                if (dice >= MIN_DICE and both >= 2) or dice >= 0.6:
                    scored.append((dice, other[1]))
            for dice, other_term in sorted(scored, reverse=True)[:TRANSLATIONS_PER_WORD]:
                if dice > lexicon[term].get(other_term, 0.0):
                    lexicon[term][other_term] = dice
        return dict(lexicon)

    def _query_terms(self, terms: TitleTerms) -> tuple[dict[str, dict[str, float]], float]:
        """Each of the title's terms -> the indexed terms it may meet, with a
        factor (1 for itself or its typo's stand-in, the Dice for a translation),
        and the title's norm. A word the index does not know still weighs as the
        rarest word: a "marketing assistant" is not an assistant of any kind."""
        rarest = max(self._idf.values(), default=1.0)
        meets: dict[str, dict[str, float]] = {}
        squares = 0.0
        for term in terms.terms:
            known = term if term in self._idf else self._typo(term)
            if known is None:
                squares += rarest * rarest
                continue
            squares += self._idf[known] ** 2
            options = meets.setdefault(known, {known: 1.0})
            for other, dice in self._lexicon.get(known, {}).items():
                options[other] = max(options.get(other, 0.0), dice)
        return meets, math.sqrt(squares) or 1.0

    def _typo(self, term: str) -> str | None:
        if len(term) < 5:
            return None
        found = process.extractOne(term, self._vocabulary, scorer=fuzz.ratio, score_cutoff=TYPO_MIN)
        if found is None or found[0][0] != term[0]:
            return None
        return str(found[0])

    def names_head(self, title: str, uri: str) -> bool:
        """Whether one of the concept's labels has the title's head noun (or a
        translation of it) as its own head: a "marketing manager" is no kind
        of marketing assistant, however close the rest. As its head, not as
        any word: a translation learned from few concepts can be a modifier
        ("responsabile" beside "marketing" on the same labels)."""
        head = analyze(title).head
        known = head if head in self._idf else self._typo(head or "")
        at = self._index_of.get(uri)
        if known is None or at is None:
            return False
        heads = {known, *self._lexicon.get(known, {})}
        return any(self._labels[slot].head in heads for slot in self._slots_of[at])

    def index_of(self, uri: str) -> int:
        return self._index_of[uri]

    @property
    def embeds(self) -> bool:
        return self._embedded is not None

    def embedding_scores(
        self,
        title: str,
        languages: Collection[str] | None = None,
        query: npt.NDArray[np.float32] | None = None,
    ) -> npt.NDArray[np.float32] | None:
        """Each concept's best cosine between the title (or its ``query``
        vector, when the caller embedded titles in a batch) and its labels in
        ``languages`` (0 for a concept with none); None without embeddings."""
        if self._embedded is None or self.vectors is None:
            return None
        matrix, owners, langs = self._embedded
        if query is None:
            query = self.vectors.embedder.queries([title])[0]
        cosines = matrix @ query
        if languages is not None:
            keep = np.array([lang in languages for lang in langs])
            cosines = np.where(keep, cosines, -1.0).astype(np.float32)
        best = np.full(len(self.concepts), -1.0, dtype=np.float32)
        np.maximum.at(best, owners, cosines)
        return np.maximum(best, 0.0)

    def link(
        self,
        title: str,
        top: int = 10,
        languages: Collection[str] | None = None,
        *,
        require_head: bool = False,
        embed_weight: float = EMBED_WEIGHT,
    ) -> list[Link]:
        """The ``top`` concepts for ``title``, best first; only labels in
        ``languages`` count when given, and with ``require_head`` only labels
        whose head noun is the title's. With embeddings, a ranking (not the
        strict link, whose thresholds were chosen on lexical scores) fuses
        them in with ``embed_weight``."""
        best = self.lexical_scores(title, languages, require_head=require_head)
        if not require_head and embed_weight > 0 and self.embeds and clean_title(title):
            best = fuse(best, self.embedding_scores(title, languages), embed_weight)
        ranked = sorted(best.items(), key=lambda kv: (-kv[1], self.concepts[kv[0]].uri))[:top]
        return [Link(self.concepts[i].uri, round(s, 4)) for i, s in ranked]

    def lexical_scores(
        self,
        title: str,
        languages: Collection[str] | None = None,
        *,
        require_head: bool = False,
    ) -> dict[int, float]:
        """Concept index -> lexical score of the concepts worth ranking."""
        terms = analyze(title)
        meets, qnorm = self._query_terms(terms)
        if not terms.text:
            return {}
        head = terms.head if terms.head in self._idf else self._typo(terms.head or "")
        heads = {head} | set(self._lexicon.get(head, {})) if head else set()
        dots: dict[int, float] = defaultdict(float)
        for term, options in meets.items():
            weight = self._idf[term]
            # a title's word counts once per label, through its best meeting
            best_here: dict[int, float] = {}
            for other, factor in options.items():
                for slot in self._postings.get(other, ()):
                    value = weight * factor * self._labels[slot].terms[other]
                    if value > best_here.get(slot, 0.0):
                        best_here[slot] = value
            for slot, value in best_here.items():
                dots[slot] += value
        folded = terms.text
        # Labels spelled like the title are candidates even without a shared
        # term (an unknown word, an inflection the lemmatiser lacks). Not for a
        # strict caller: a label with the title's head shares that term, so it
        # is a candidate already, and the scan of every label is most of the
        # time of a link over ESCO.
        for lang in [] if require_head else [None] if languages is None else languages:
            slots, texts = self._texts.get(lang, ([], []))
            for _text, _score, at in process.extract(
                folded, texts, scorer=fuzz.ratio, limit=SPELLING_CANDIDATES
            ):
                dots.setdefault(slots[at], 0.0)
        # The matcher (strict) keeps the label-level score its thresholds were
        # chosen on; a ranking reads the concepts as documents too.
        doc_words = doc_grams = None
        if not require_head:
            doc_words, doc_grams = self._document_scores(meets, terms, languages)
            blended = DOC_WORDS * doc_words + DOC_GRAMS * doc_grams
            for concept in np.argsort(-blended, kind="stable")[:DOC_CANDIDATES]:
                if blended[concept] <= 0:
                    break
                for slot in self._slots_of[int(concept)]:
                    dots.setdefault(slot, 0.0)
        best: dict[int, float] = {}
        for slot, dot in dots.items():
            label = self._labels[slot]
            if languages is not None and label.lang not in languages:
                continue
            # A strict caller (the matcher) wants the label's own head to be the
            # title's head, in the same words: translations learned from a
            # small taxonomy are too loose to stand for a head, and "assistant
            # store manager" is no kind of "sales manager".
            if require_head and (head is None or label.head != head):
                continue
            score = min(dot / (qnorm * label.norm), 1.0)
            if heads:
                if label.head in heads:
                    pass
                elif heads & label.terms.keys():
                    score *= HEAD_ELSEWHERE
                else:
                    score *= HEAD_MISSING
            score = (1 - CHAR_SHARE) * score + CHAR_SHARE * fuzz.ratio(folded, label.folded) / 100
            if score > best.get(label.concept, 0.0):
                best[label.concept] = score
        if doc_words is not None and doc_grams is not None:
            share = 1 - DOC_WORDS - DOC_GRAMS
            best = {
                c: share * s + DOC_WORDS * float(doc_words[c]) + DOC_GRAMS * float(doc_grams[c])
                for c, s in best.items()
            }
        return best
