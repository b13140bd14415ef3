from pathlib import Path

import pytest

from services.matcher.evaluation import Pair, read_pairs

HERE = Path(__file__).resolve().parent
# The handbook's data, beside the checkout: <root>/shared/data beside <root>/main.
ESCO_DIR = Path(__file__).resolve().parents[3] / "shared" / "data" / "esco-1.0.8"


@pytest.fixture(scope="session")
def labelled_pairs() -> list[Pair]:
    return read_pairs(HERE / "title_pairs.tsv")
