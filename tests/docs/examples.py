"""The runnable examples of the documentation: every GraphQL block and every shell block calling curl.

The conventions, which ``docs/api-guide.md`` also states for readers:

- A fenced ```` ```graphql ```` block is one operation. A ```` ```json ```` block right after it (nothing but
  blank lines between) holds its variables.
- The first comment line ``# as <who>`` of a GraphQL block names who sends it: one of the demo's people
  (``carol``, ``alice``, ``mallory``, ``root``) or ``anyone`` for no token. Without one, mallory sends it.
- A fenced ```` ```sh ````, ```` ```bash ```` or ```` ```shell ```` block is run when it calls ``curl``; the
  other shell blocks (``make``, ``docker``, settings) are left alone.
- Placeholders are written ``<camelCase>``; a test fills them from the live demo (``PLACEHOLDERS`` below).
  Shell blocks read tokens and client credentials from the environment (``$ALICE_TOKEN``...), as the
  lines ``incidentdesk demo`` prints export them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

# The placeholders the documentation may use, and what each stands for (the test fills every one; an
# example naming any other fails).
PLACEHOLDERS: dict[str, str] = {
    "<routingKey>": "a routing key of acme, from createIntegrationKey",
    "<incidentId>": "the global ID of an incident of acme that is NEW when the examples start",
    "<incidentVersion>": "that incident's version at the moment the example runs",
    "<serviceId>": "the global ID of acme's service 'Web shop'",
    "<webhookUrl>": "a webhook receiver the test runs, answering every delivery with 204",
}
PLACEHOLDER = re.compile(r"<[a-z][A-Za-z]*>")

# The address every example names; the test points it at the live server.
DOCUMENTED_URL = "http://127.0.0.1:8000"

# Who may send a GraphQL example: the demo's people, by the first word of their subject.
SENDERS = ("carol", "alice", "mallory", "root", "anyone")
DEFAULT_SENDER = "mallory"

_FENCE = re.compile(r"^\s*```\s*([\w+-]*)\s*$")
_SENDER = re.compile(r"^\s*#\s*as\s+(\w+)", re.MULTILINE)
_SHELLS = {"sh", "bash", "shell"}


@dataclass(frozen=True)
class Block:
    language: str
    text: str
    line: int  # of the opening fence, 1-based
    # Lines between the end of the previous block and this one's opening fence, blank or not.
    gap: tuple[str, ...]


@dataclass(frozen=True)
class Example:
    where: str  # "docs/api-guide.md:120", for a failure to point at
    kind: str  # "graphql" or "shell"
    text: str
    variables: str | None = None

    @property
    def sender(self) -> str:
        match = _SENDER.search(self.text)
        return match.group(1) if match else DEFAULT_SENDER


def blocks(markdown: str) -> list[Block]:
    """The fenced code blocks of a Markdown text, in order."""
    found: list[Block] = []
    language: str | None = None
    body: list[str] = []
    gap: list[str] = []
    opened = 0
    for number, line in enumerate(markdown.splitlines(), start=1):
        fence = _FENCE.match(line)
        if language is None:
            if fence:
                language, body, opened = fence.group(1).lower(), [], number
            else:
                gap.append(line)
        elif fence and not fence.group(1):
            found.append(Block(language, "\n".join(body) + "\n", opened, tuple(gap)))
            language, gap = None, []
        else:
            body.append(line)
    return found


def examples(path: Path, root: Path) -> list[Example]:
    """The runnable examples of one Markdown file, in the order a reader meets them."""
    name = path.relative_to(root).as_posix()
    found = blocks(path.read_text(encoding="utf-8"))
    runnable: list[Example] = []
    for index, block in enumerate(found):
        where = f"{name}:{block.line}"
        if block.language == "graphql":
            following = found[index + 1] if index + 1 < len(found) else None
            variables = None
            if following and following.language == "json" and not any(s.strip() for s in following.gap):
                variables = following.text
            runnable.append(Example(where, "graphql", block.text, variables))
        elif block.language in _SHELLS and re.search(r"(^|[\s$(])curl\s", block.text):
            runnable.append(Example(where, "shell", block.text))
    return runnable


def documentation(root: Path) -> list[Path]:
    """The files whose examples run: the README and every page of ``docs/``."""
    return [root / "README.md", *sorted((root / "docs").glob("*.md"))]


def unknown_placeholders(text: str) -> set[str]:
    return set(PLACEHOLDER.findall(text)) - set(PLACEHOLDERS)
