"""Mails written from templates when they are sent (``domain/mail/templates``).

A queued notice keeps the name of its template, the facts it tells (``context``, JSON) and the links
it offers, each as what the link does (path, action, data) rather than as a URL: the links are signed
by the sending process (``MailLinks``), so a mail retried days later carries links that still work
for their full lifetime. A notice offering an ``unsubscribe`` link gets RFC 8058's one-click headers.

Each template ``<name>`` is three files: ``<name>.subject.txt`` (rendered when queued, so that the
outbox can be listed), ``<name>.txt`` and, optionally, ``<name>.html`` (autoescaped).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, TemplateNotFound, select_autoescape

from domain.mail.links import MailLinks

TEMPLATES = Path(__file__).parent / "templates"

_ENVIRONMENT = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False, default=False),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
)


@dataclass(frozen=True)
class Link:
    """What a link in a mail does: ``path`` on the public address, its ``action`` and signed ``data``,
    and plain ``query`` parameters (e.g. the rating a survey link records)."""

    path: str
    action: str
    data: Mapping[str, Any]
    query: Mapping[str, str] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {"path": self.path, "action": self.action, "data": dict(self.data), "query": dict(self.query)}

    @classmethod
    def from_json(cls, value: Mapping[str, Any]) -> Link:
        return cls(value["path"], value["action"], value["data"], value.get("query") or {})


@dataclass(frozen=True)
class RenderedMail:
    text: str
    html: str | None
    headers: dict[str, str]


def template_exists(name: str) -> bool:
    try:
        _ENVIRONMENT.get_template(f"{name}.txt")
    except TemplateNotFound:
        return False
    return True


def render_subject(template: str, context: Mapping[str, Any]) -> str:
    return " ".join(_ENVIRONMENT.get_template(f"{template}.subject.txt").render(context).split())


def render_body(
    template: str, context: Mapping[str, Any], links: Mapping[str, Link], signer: MailLinks
) -> RenderedMail:
    """The text (and HTML) of a notice, with its links signed now. A template also reads ``public_url``,
    the sending process's address, to link to a page that needs no signature (a status page)."""
    urls = {name: signer.url(link.path, link.action, link.data, **link.query) for name, link in links.items()}
    values = {**context, "links": urls, "public_url": signer.public_url}
    text = _ENVIRONMENT.get_template(f"{template}.txt").render(values)
    try:
        html_template = _ENVIRONMENT.get_template(f"{template}.html")
    except TemplateNotFound:
        html = None
    else:
        html = html_template.render(values)
    headers = {}
    if "unsubscribe" in urls:
        headers["List-Unsubscribe"] = f"<{urls['unsubscribe']}>"
        headers["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    return RenderedMail(text, html, headers)
