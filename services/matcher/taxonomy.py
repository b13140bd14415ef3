"""Roles, their titles per language, and how close two roles are.

A ``Taxonomy`` is plain immutable data. Turning free text into roles is the
job of ``titles.TitleMatcher``, which is built from a taxonomy; keeping the two
apart lets the ESCO importer extend a taxonomy without knowing how titles are
compared.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Iterable, Mapping
from types import MappingProxyType

from services.matcher import roles as data

LANGUAGES = ("en", "it", "sv")


@dataclasses.dataclass(frozen=True, slots=True)
class Role:
    id: str
    family: str
    # language code -> titles as written by people (not normalised)
    titles: Mapping[str, tuple[str, ...]]
    # Where the role came from: "project" (roles.py) or "esco:<code>".
    source: str = "project"

    def all_titles(self) -> Iterable[tuple[str, str]]:
        for lang, titles in self.titles.items():
            for title in titles:
                yield lang, title


class Taxonomy:
    """An immutable set of roles with a symmetric affinity between them."""

    def __init__(self, roles: Iterable[Role], affinity: Mapping[tuple[str, str], float]) -> None:
        self._roles: dict[str, Role] = {}
        for role in roles:
            if role.id in self._roles:
                raise ValueError(f"duplicate role id {role.id!r}")
            self._roles[role.id] = role
        pairs: dict[frozenset[str], float] = {}
        for (a, b), value in affinity.items():
            if a not in self._roles or b not in self._roles:
                raise ValueError(f"affinity names an unknown role: {a!r}, {b!r}")
            if self._roles[a].family != self._roles[b].family:
                raise ValueError(f"affinity across families: {a!r}, {b!r}")
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"affinity out of range for {a!r}, {b!r}: {value}")
            pairs[frozenset((a, b))] = value
        self._affinity = pairs
        self.roles: Mapping[str, Role] = MappingProxyType(self._roles)

    def __len__(self) -> int:
        return len(self._roles)

    def affinity(self, a: str, b: str) -> float:
        if a == b:
            return 1.0
        return self._affinity.get(frozenset((a, b)), 0.0)

    def compatible(self, role_id: str, min_affinity: float) -> dict[str, float]:
        """Roles whose affinity with ``role_id`` reaches ``min_affinity``, with it."""
        out = {role_id: 1.0}
        for pair, value in self._affinity.items():
            if role_id in pair and value >= min_affinity:
                (other,) = pair - {role_id}
                out[other] = value
        return out

    def extended(
        self,
        *,
        titles: Mapping[str, Mapping[str, Iterable[str]]] | None = None,
        new_roles: Iterable[Role] = (),
    ) -> Taxonomy:
        """A new taxonomy with extra titles for existing roles and extra roles.

        ``titles`` maps role id -> language -> titles to add. Existing titles
        and affinities are kept; new roles get affinity only with themselves.
        """
        merged: dict[str, Role] = dict(self._roles)
        for role_id, by_lang in (titles or {}).items():
            role = merged[role_id]
            new = {lang: list(t) for lang, t in role.titles.items()}
            for lang, extra in by_lang.items():
                bucket = new.setdefault(lang, [])
                bucket.extend(t for t in extra if t not in bucket)
            merged[role_id] = dataclasses.replace(
                role, titles={lang: tuple(t) for lang, t in new.items()}
            )
        roles = list(merged.values()) + list(new_roles)
        affinity = {tuple(sorted(pair)): value for pair, value in self._affinity.items()}
        return Taxonomy(roles, {(p[0], p[1]): v for p, v in affinity.items()})


def project_roles() -> list[Role]:
    return [
        Role(
            id=role_id,
            family=spec.family,
            titles={"en": spec.en, "it": spec.it, "sv": spec.sv},
        )
        for role_id, spec in data.ROLES.items()
    ]


@functools.cache
def default_taxonomy() -> Taxonomy:
    """The project's hand-written taxonomy (``roles.py``), built once."""
    return Taxonomy(project_roles(), data.AFFINITY)
