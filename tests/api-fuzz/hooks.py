"""Schemathesis hooks for the OpenAPI fuzz step (scripts/fuzz-api.sh).

A generated `Idempotency-Key` is replaced by a fresh one for every request: schemathesis
draws keys from a small space, so two different bodies would share a key, and the hub
answers that with 422 `idempotency_key_reused` by design (a key stands for one request).
The fresh keys are counted (with the process id, so a second run against the same stack
does not meet the first run's keys), not random, so a run stays reproducible; each keeps the
documented format.
"""

import itertools
import os

import schemathesis

_KEYS = itertools.count(1)


@schemathesis.hook
def before_call(ctx, case, **kwargs):
    headers = case.headers or {}
    for name in list(headers):
        if name.lower() == "idempotency-key":
            headers[name] = f"fuzz-{os.getpid()}-{next(_KEYS)}"
