"""The server-rendered pages' Jinja2 setup (``api/templates``): autoescaped, and strict about names."""

from __future__ import annotations

from pathlib import Path

import jinja2

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"


def environment() -> jinja2.Environment:
    """A fresh environment over the pages' templates; each feature adds its own globals and filters."""
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
        autoescape=True,
        undefined=jinja2.StrictUndefined,  # a misspelt name is an error, not an empty string
        trim_blocks=True,
        lstrip_blocks=True,
    )
