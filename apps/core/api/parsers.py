"""Request body parsers every API view uses (``REST_FRAMEWORK["DEFAULT_PARSER_CLASSES"]``)."""

from collections.abc import Mapping
from typing import IO, Any

from rest_framework import parsers

from apps.core.jsontext import refuse_lone_surrogates


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser, refusing a string or key that is not text (a lone surrogate escape) with a 400 naming it."""

    def parse(self, stream: IO[bytes], media_type: str | None = None, parser_context: Mapping[str, Any] | None = None) -> Any:
        return refuse_lone_surrogates(super().parse(stream, media_type, parser_context))
