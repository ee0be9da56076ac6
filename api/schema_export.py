"""Print the served schema's SDL (``make schema`` writes it to schema.graphql)."""

from __future__ import annotations

from api.schema import build_schema


def sdl() -> str:
    return build_schema().as_str() + "\n"


if __name__ == "__main__":
    print(sdl(), end="")
