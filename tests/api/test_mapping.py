"""api.mapping: a type is built from a row by name, with only its exceptions written out."""

from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace

import pytest
import strawberry

from api import mapping
from api.mapping import copied_fields, mapped


@strawberry.type(name="MappedThing")
class Thing:
    id: strawberry.ID
    title: str
    note: str | None
    shown: bool = strawberry.field(description="A described field without a default is copied too")
    row: strawberry.Private[object]
    extra: strawberry.Private[int | None] = None

    @strawberry.field
    def loud(self) -> str:
        return self.title.upper()


def _row(**values: object) -> SimpleNamespace:
    return SimpleNamespace(**{"id": 7, "title": "Disk full", "note": None, "shown": True} | values)


def test_every_field_without_a_default_is_read_from_the_attribute_of_the_same_name() -> None:
    row = _row()

    thing = mapped(Thing, row, id=strawberry.ID("T7"), row=row)

    assert thing == Thing(id=strawberry.ID("T7"), title="Disk full", note=None, shown=True, row=row)


def test_what_is_given_wins_over_the_row() -> None:
    row = _row(title="read from the row")

    thing = mapped(Thing, row, id=strawberry.ID("T7"), title="given", row=row)

    assert thing.title == "given"


def test_a_field_with_a_default_keeps_it_unless_given() -> None:
    row = _row(extra=5)  # the row's attribute is not read for a field with a default

    assert mapped(Thing, row, row=row).extra is None
    assert mapped(Thing, row, row=row, extra=3).extra == 3


def test_resolvers_are_not_fields_to_fill() -> None:
    assert copied_fields(Thing) == ("id", "title", "note", "shown", "row")
    assert copied_fields(Thing, ("id", "row")) == ("title", "note", "shown")


def test_the_names_to_copy_are_worked_out_once_per_class_and_given_names() -> None:
    row = _row()
    mapped(Thing, row, id=strawberry.ID("T7"), row=row)
    plan = mapping._COPIED[(Thing, ("id", "row"))]

    mapped(Thing, _row(), id=strawberry.ID("T8"), row=row)

    assert mapping._COPIED[(Thing, ("id", "row"))] is plan


def test_a_missing_attribute_is_an_error_not_a_silent_default() -> None:
    row = SimpleNamespace(title="Disk full", note=None, shown=True)

    with pytest.raises(AttributeError, match="id"):
        mapped(Thing, row, row=row)


def test_a_given_name_that_is_no_field_is_an_error() -> None:
    row = _row()

    with pytest.raises(TypeError, match="colour"):
        mapped(Thing, row, row=row, colour="red")


def test_any_object_with_the_attributes_is_a_source() -> None:
    @dataclass(frozen=True)
    class Figures:
        title: str
        note: str | None
        shown: bool
        id: int

    figures = Figures(title="t", note="n", shown=False, id=1)

    thing = mapped(Thing, figures, row=figures)

    assert (thing.id, thing.title, thing.note, thing.shown) == (1, "t", "n", False)
