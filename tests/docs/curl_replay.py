"""``curl`` for machines without it: replays the curl options the documentation uses with httpx.

The examples test prefers the real curl. Where there is none, its shell examples call this module in
curl's place (``python -m tests.docs.curl_replay ARGS...``): the shell still expands variables and command
substitutions, so only curl's own arguments are handled here. Like ``curl --fail-with-body``, it prints
the body and exits 22 on an HTTP error; an option it does not know exits 2, naming it, so an example
using a new option fails plainly instead of being replayed wrong.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from urllib.parse import urlencode

import httpx

from tests.waiting import PATIENCE

HTTP_ERROR = 22  # curl --fail-with-body's exit status on an HTTP answer >= 400
UNSUPPORTED = 2

_FLAGS = {"-s", "--silent", "-S", "--show-error", "--fail-with-body", "-f", "--fail", "-sS"}
_WITH_VALUE = {
    "-u",
    "--user",
    "-d",
    "--data",
    "--data-raw",
    "--data-binary",
    "--data-urlencode",
    "-H",
    "--header",
    "-X",
    "--request",
}


class Unsupported(Exception):
    """An argument this replay does not implement."""


@dataclass
class Request:
    url: str = ""
    method: str | None = None
    headers: list[tuple[str, str]] = field(default_factory=list)
    data: list[str] = field(default_factory=list)
    get: bool = False
    user: tuple[str, str] | None = None

    def send(self) -> httpx.Response:
        url, body = self.url, "&".join(self.data) if self.data else None
        headers = list(self.headers)
        if self.get and body is not None:
            url, body = f"{url}{'&' if '?' in url else '?'}{body}", None
        method = self.method or ("POST" if body is not None else "GET")
        if body is not None and not any(name.lower() == "content-type" for name, _ in headers):
            headers.append(("content-type", "application/x-www-form-urlencoded"))  # as curl -d does
        auth = httpx.BasicAuth(*self.user) if self.user else None
        return httpx.request(method, url, headers=headers, content=body, auth=auth, timeout=PATIENCE)


def parse(argv: list[str]) -> Request:
    request = Request()
    arguments = iter(argv)
    for argument in arguments:
        if argument in _FLAGS:
            continue
        if argument in ("-G", "--get"):
            request.get = True
        elif argument in _WITH_VALUE:
            value = next(arguments, None)
            if value is None:
                raise Unsupported(f"{argument} needs a value")
            _apply(request, argument, value)
        elif argument.startswith("-"):
            raise Unsupported(argument)
        elif request.url:
            raise Unsupported(f"a second URL {argument!r}")
        else:
            request.url = argument
    if not request.url:
        raise Unsupported("no URL")
    return request


def _apply(request: Request, option: str, value: str) -> None:
    if option in ("-u", "--user"):
        user, _, password = value.partition(":")
        request.user = (user, password)
    elif option in ("-H", "--header"):
        name, _, header_value = value.partition(":")
        request.headers.append((name.strip(), header_value.strip()))
    elif option in ("-X", "--request"):
        request.method = value
    elif option == "--data-urlencode":
        name, equals, content = value.partition("=")
        request.data.append(urlencode({name: content}) if equals else urlencode({"": name})[1:])
    else:
        request.data.append(value)


def main(argv: list[str]) -> int:
    try:
        request = parse(argv)
    except Unsupported as unsupported:
        print(f"curl_replay: unsupported: {unsupported}", file=sys.stderr)
        return UNSUPPORTED
    response = request.send()
    sys.stdout.write(response.text)
    return HTTP_ERROR if response.status_code >= 400 else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
