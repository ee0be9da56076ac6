"""How the edge names a refused field (the domain names its own fields, the runner turns them into paths in
the mutation's input), and how a service is named by its slug."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from api.mutation import graphql_path, words
from domain.catalog.slugs import MAX_SLUG, candidates, slug_of


def test_a_domain_field_becomes_a_camel_cased_path_in_the_input() -> None:
    assert graphql_path(("expected_version",)) == ["input", "expectedVersion"]
    assert graphql_path(("targets", "2", "response_minutes")) == ["input", "targets", "2", "responseMinutes"]
    assert graphql_path(("tenant_ids", "0"), names={"tenant_ids": "tenants"}) == ["input", "tenants", "0"]
    assert graphql_path(("from",), root=()) == ["from"]
    assert graphql_path(None) is None


@given(st.lists(st.from_regex(r"[a-z]+(_[a-z]+)*|[0-9]+", fullmatch=True), min_size=1, max_size=4))
def test_a_path_keeps_its_length_and_its_indexes(field: list[str]) -> None:
    path = graphql_path(tuple(field))
    assert path is not None and path[0] == "input" and len(path) == len(field) + 1
    assert [p for p in path[2:] if p.isdigit()] == [p for p in field[1:] if p.isdigit()]


def test_a_type_is_named_in_words() -> None:
    assert words("IncidentModel") == "incident model"
    assert words("Service") == "service"


@given(st.text(max_size=300))
def test_a_service_slug_is_plain_lower_case_words(name: str) -> None:
    slug = slug_of(name)
    assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", slug) and len(slug) <= MAX_SLUG


def test_names_that_read_alike_take_the_next_slug() -> None:
    assert slug_of("E-Mail & Calendar") == slug_of("e mail calendar") == "e-mail-calendar"
    assert candidates("Zahlungsverkehr Ü")[:2] == ["zahlungsverkehr-u", "zahlungsverkehr-u-2"]
