"""Prepared documents: each text parsed and validated once, and the limits that run before validation.

Validation's check that fields can be merged compares every pair of fields sharing a response name in a
selection: a document repeating ``viewer { subject }`` a thousand times held the event loop for seconds.
The linear limits refuse such documents before that check runs (and an empty selection, which the
grammar forbids but graphql-core's parser lets through).
"""

from __future__ import annotations

import pytest
from graphql import FieldNode

from api.graphql.documents import MAX_REPEATS, MAX_SELECTIONS, Documents
from api.schema import build_schema
from domain.settings import Settings


@pytest.fixture(scope="module")
def documents() -> Documents:
    return build_schema(Settings()).documents


def test_a_text_is_prepared_once(documents: Documents) -> None:
    first = documents.prepare("{ viewer { subject } }")
    assert first.errors == []
    assert documents.prepare("{ viewer { subject } }") is first


def test_a_field_repeated_past_the_cap_is_refused_before_validation(
    documents: Documents, monkeypatch: pytest.MonkeyPatch
) -> None:
    def never(*args: object) -> list[object]:
        raise AssertionError("validation ran")

    monkeypatch.setattr("api.graphql.documents.validate_document", never)
    # The 19 KB anonymous document of the review; and the same field brought in by repeated spreads.
    prepared = documents.prepare("{ " + " ".join(["viewer { subject }"] * 1000) + " }")
    [error] = prepared.errors
    assert error.extensions == {"code": "LIMIT_EXCEEDED"}
    assert f"at most {MAX_REPEATS}" in error.message
    spread = "fragment F on Query { viewer { subject } } { " + " ".join(["...F"] * 40) + " }"
    [error] = documents.prepare(spread).errors
    assert error.extensions == {"code": "LIMIT_EXCEEDED"}


def test_many_fields_in_one_document_are_refused() -> None:
    # Past the token and alias limits too, so that the selection cap is the one that answers.
    roomy = build_schema(Settings(max_tokens=100_000, max_aliases=100_000)).documents
    aliases = " ".join(f"a{i}: __typename" for i in range(MAX_SELECTIONS + 1))
    [error] = roomy.prepare("{ " + aliases + " }").errors
    assert error.extensions == {"code": "LIMIT_EXCEEDED"}


def test_repeats_within_the_cap_validate_as_usual(documents: Documents) -> None:
    prepared = documents.prepare("{ " + " ".join(["viewer { subject }"] * MAX_REPEATS) + " }")
    assert prepared.errors == []
    assert prepared.document is not None
    assert all(isinstance(s, FieldNode) for s in prepared.document.definitions[0].selection_set.selections)  # type: ignore[attr-defined]


def test_an_empty_selection_is_a_syntax_error(documents: Documents) -> None:
    [error] = documents.prepare("{}").errors
    assert error.message.startswith("Syntax Error")
