"""Plain functions behind the operators' title tools; the CLI only does I/O.

- ``passaparola titles classify``: ``classify(titles)``
- ``passaparola titles similarity [--esco DIR]``: ``similarity_lines(lines)``
- ``passaparola taxonomy import-esco DIR``: ``esco_matcher(DIR)`` / ``esco.parse_dir``
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from services.matcher import esco
from services.matcher.titles import TitleMatcher, default_matcher


def classify(titles: Iterable[str], matcher: TitleMatcher | None = None) -> list[dict[str, Any]]:
    """One dict per title: its key, whether it is known, its roles with scores."""
    matcher = matcher or default_matcher()
    out = []
    for title in titles:
        resolution = matcher.resolution(title)
        out.append(
            {
                "title": title,
                "normalized": resolution.key,
                "known": resolution.known,
                "roles": [
                    {
                        "role": hit.role,
                        "family": matcher.taxonomy.roles[hit.role].family,
                        "score": round(hit.score),
                        "via": hit.via,
                    }
                    for hit in resolution.roles
                ],
            }
        )
    return out


def similarity_lines(
    lines: Iterable[str], matcher: TitleMatcher | None = None
) -> Iterator[dict[str, Any]]:
    """``posting title<TAB>member's title`` lines -> ``{"a", "b", "score", "match"}``.

    ``match`` is exactly the matcher's title decision. Blank lines are skipped;
    a line without a tab yields ``{"line": n, "error": ...}`` instead of
    stopping the run, so one bad line in a long file is visible, not fatal.
    """
    matcher = matcher or default_matcher()
    for number, raw in enumerate(lines, start=1):
        line = raw.rstrip("\r\n")
        if not line.strip():
            continue
        if "\t" not in line:
            yield {"line": number, "error": "expected: posting title<TAB>member title"}
            continue
        a, b = line.split("\t", 1)
        decision = matcher.compare(a.strip(), b.strip())
        yield {"a": a.strip(), "b": b.strip(), "score": decision.score, "match": decision.match}


def esco_matcher(directory: Path) -> TitleMatcher:
    """A title matcher over the project taxonomy extended with an ESCO export."""
    return TitleMatcher(esco.load_taxonomy(directory))
