"""Connect's unary protocol, as Pyroscope's clients speak it (push.v1, querier.v1).

A request body is one protobuf message, binary (`application/proto`) or its
JSON mapping (`application/json`); the answer uses the request's encoding.
An error is a JSON body `{"code": ..., "message": ...}` with the HTTP status
Connect pairs with that code. One place, so every Connect route reads, answers
and fails alike.
"""

from __future__ import annotations

from typing import TypeVar

from flask import Response, jsonify
from google.protobuf import json_format
from google.protobuf.message import DecodeError, Message

from .errors import BadRequest

PROTO_TYPES = ("application/proto", "application/protobuf", "application/x-protobuf")

# HTTP status -> Connect error code.
CODES = {400: "invalid_argument", 401: "unauthenticated", 403: "permission_denied",
         404: "not_found", 413: "resource_exhausted", 415: "invalid_argument",
         422: "invalid_argument", 500: "internal", 503: "unavailable"}

M = TypeVar("M", bound=Message)


def _media_type(content_type: str) -> str:
    return (content_type or "").split(";")[0].strip().lower()


def parse_message(body: bytes, content_type: str, msg: M) -> M:
    """Fills `msg` from a request body; BadRequest (400, or 415) naming why not."""
    ct = _media_type(content_type)
    name = msg.DESCRIPTOR.full_name
    if ct in PROTO_TYPES:
        try:
            msg.ParseFromString(body)
        except (DecodeError, RuntimeError, ValueError):
            raise BadRequest(400, f"body is not a valid {name} protobuf") from None
    elif ct == "application/json":
        try:
            json_format.Parse(body.decode("utf-8"), msg, ignore_unknown_fields=True)
        except (json_format.ParseError, UnicodeDecodeError, ValueError, RecursionError) as e:
            first = str(e).splitlines()[0] if str(e) else "invalid JSON"
            raise BadRequest(400, f"bad {msg.DESCRIPTOR.name} JSON: {first}") from None
    else:
        raise BadRequest(415, f"unsupported Content-Type {ct!r}; use application/proto or json")
    return msg


def reply(msg: Message, content_type: str) -> Response:
    """`msg` in the request's encoding (JSON with Pyroscope's camelCase names)."""
    if _media_type(content_type) == "application/json":
        return Response(json_format.MessageToJson(msg, indent=None), status=200,
                        mimetype="application/json")
    return Response(msg.SerializeToString(), status=200, mimetype="application/proto")


def error(e: BadRequest) -> Response:
    """A Connect error body (`error` repeats the message for Flamecam's own clients)."""
    resp = jsonify(code=CODES.get(e.status, "invalid_argument"), message=e.message,
                   error=e.message)
    resp.status_code = e.status
    return resp
