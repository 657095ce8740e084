"""Schemathesis hooks for the OpenAPI fuzz step (scripts/fuzz-api.sh). Each one changes a
generated request only where the hub's state or the machine's network would otherwise make
the run mean something else; none makes an invalid request valid.

- `Idempotency-Key`: replaced by a fresh key for every request. Schemathesis draws keys from
  a small space, so two different bodies would share one, and the hub answers that with 422
  `idempotency_key_reused` by design (a key stands for one request). The keys are counted
  (with the process id, so a second run against the same stack does not meet the first
  run's), not random, so a run stays reproducible; each keeps the documented format.
- New and patched rate-limit rules are stored disabled: an enabled rule such as
  `{"scope": "service", "target": "*", "limit": 1}` would throttle every later request of
  the run, so what follows would test the limiter instead of the operation.
- Nothing leaves this machine: a provider's `base_url` is pointed at a closed local port,
  and credentials are never put on a built-in provider (which would make the hub call the
  provider's real API); they go to a `fuzz-` slug, which is not a provider (404).
- Replay ranges: JSON Schema cannot say that one date must not be after another, so a
  generated `from`/`to` (`since`/`until`) pair the wrong way round is put in order (and an
  empty `since`..`until` loses its `until`, which then means now); the documentation says
  so in words.
- Whole numbers are sent as JSON integers: JSON Schema's `integer` also matches `93.0`,
  which the hub (serde, like most JSON APIs and every generated client) reads as a float
  and refuses for an integer field.
- A form body sent under an undeclared content type (schemathesis' probe) gets text in
  place of its files: raw file bytes are not UTF-8, and `cargo lambda watch`, the local stand-in for API
  Gateway, answers such a body with its own 500 before the function runs; the same for a
  non-UTF-8 JSON body. The hub answers them 415 and 400 (the JSON case: tests/foundation,
  `bad_bodies_get_clear_4xx_problems`).
"""

import itertools
import os
import re

import schemathesis

_KEYS = itertools.count(1)
LOCAL_DISCARD = "http://127.0.0.1:9/"


def _order(body, first, second):
    a, b = body.get(first), body.get(second)
    if isinstance(a, str) and isinstance(b, str) and a > b:
        body[first], body[second] = b, a


def _whole_numbers(value):
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**63:
        return int(value)
    if isinstance(value, dict):
        return {k: _whole_numbers(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_whole_numbers(v) for v in value]
    return value


def _as_text_parts(value):
    """A form body with every file part replaced by text (file parts may be bytes or
    schemathesis' own binary wrapper)."""
    if isinstance(value, dict):
        return {k: _as_text_parts(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_as_text_parts(v) for v in value]
    # schemathesis' `Binary` (a file's bytes) is a `str` subclass: only plain text stays.
    if type(value) in (str, int, float, bool) or value is None:
        return value
    return "file content"


def _utf8(value):
    """`value` with every byte string that is not UTF-8 replaced by its Latin-1 reading."""
    if isinstance(value, (bytes, bytearray)):
        try:
            bytes(value).decode("utf-8")
            return value
        except UnicodeDecodeError:
            return bytes(value).decode("latin-1").encode("utf-8")
    if isinstance(value, dict):
        return {k: _utf8(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_utf8(v) for v in value]
    return value


@schemathesis.hook
def before_call(ctx, case, **kwargs):
    if isinstance(case.body, (dict, list)):
        case.body = _whole_numbers(case.body)
    headers = case.headers or {}
    for name in list(headers):
        if name.lower() == "idempotency-key":
            headers[name] = f"fuzz-{os.getpid()}-{next(_KEYS)}"

    path = case.operation.path
    method = case.operation.method.upper()
    body = case.body if isinstance(case.body, dict) else None

    if path.startswith("/api/integrations/rate-limits") and method in ("POST", "PATCH") and body is not None:
        body["enabled"] = False
    if path.startswith("/api/integrations/providers") and body is not None:
        if body.get("base_url"):
            body["base_url"] = LOCAL_DISCARD
    if path == "/api/integrations/providers/{slug}/credentials":
        slug = str((case.path_parameters or {}).get("slug", ""))
        case.path_parameters = {**(case.path_parameters or {}), "slug": f"fuzz-{slug}"}
    if body is not None and re.search(r"/(events/)?replay$", path):
        _order(body, "from", "to")
        _order(body, "since", "until")
        # `until` must be strictly after `since`; an equal pair asks for nothing.
        if body.get("until") is not None and body.get("until") == body.get("since"):
            del body["until"]

    # A form body sent under another content type (schemathesis' probe that the API refuses
    # undeclared types): its file bytes are not UTF-8, and `cargo lambda watch` answers such
    # a body itself with a 500 before the function runs (API Gateway passes it base64). A
    # text body under the same type still probes the hub, which answers 415.
    sent_type = next(
        (v for k, v in headers.items() if k.lower() == "content-type"), case.media_type or ""
    )
    if path.startswith("/api/v1/upload/") and not sent_type.lower().startswith("multipart/form-data"):
        case.body = _as_text_parts(case.body)

    # A body that is not UTF-8 under a JSON content type: `cargo lambda watch` (the local
    # stand-in for API Gateway) answers it with its own 500 before the function runs. The
    # hub answers 400 `malformed_json` (shared::http, tested in-process); the bytes are made
    # UTF-8 so the request still reaches the hub malformed.
    case.body = _utf8(case.body) if isinstance(case.body, (bytes, bytearray)) else case.body
