"""The schema artifacts: the exported SDL is current, and the served schema keeps the public contract.

``schema.graphql`` at the repository root is what clients and reviewers read; ``make schema`` writes it.
The contract (``../shared/contract/schema.graphql``) is what clients are written against: the served
schema may add to it but must not break it, except for the items listed in ``NOT_BUILT_YET``.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from graphql import GraphQLSchema, build_schema, find_breaking_changes

from api.schema_export import sdl

REPO = Path(__file__).resolve().parents[1]
CONTRACT = Path(__file__).resolve().parents[2] / "shared" / "contract" / "schema.graphql"

# Contract items the service does not serve yet, as find_breaking_changes describes them. This list only
# shrinks: whoever builds an item removes its line here (the test below fails until they do).
NOT_BUILT_YET: frozenset[str] = frozenset()


def _contract() -> GraphQLSchema:
    if not CONTRACT.is_file():
        pytest.fail(
            f"the public contract is missing: expected it at {CONTRACT} (../shared/contract/schema.graphql,"
            " beside the repository)"
        )
    return build_schema(CONTRACT.read_text())


def _served_breaks() -> set[str]:
    return {change.description for change in find_breaking_changes(_contract(), build_schema(sdl()))}


def test_the_exported_schema_is_current() -> None:
    exported = REPO / "schema.graphql"
    assert exported.is_file(), "schema.graphql is missing: run `make schema`"
    assert exported.read_text() == sdl(), "schema.graphql is stale: run `make schema` and commit the result"


def test_the_served_schema_keeps_the_contract() -> None:
    broken = sorted(_served_breaks() - NOT_BUILT_YET)
    assert broken == [], "the served schema breaks the public contract:\n" + "\n".join(broken)


def test_not_built_yet_lists_only_what_is_still_missing() -> None:
    built = sorted(NOT_BUILT_YET - _served_breaks())
    assert built == [], "these contract items are served now; remove them from NOT_BUILT_YET:\n" + "\n".join(
        built
    )


def test_the_readme_documents_every_setting() -> None:
    from domain.settings import Settings

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    missing = [
        f"INCIDENTDESK_{n.upper()}"
        for n in Settings.model_fields
        if f"`INCIDENTDESK_{n.upper()}`" not in readme
    ]
    assert missing == [], "add these settings to the README's table"
