#!/usr/bin/env python3
"""The moto server, with DynamoDB requests served one at a time.

DynamoDB applies each write to an item atomically: two conditional `UpdateItem`s or
`PutItem`s on the same key never both see the old value. moto's threaded server evaluates
conditions without a lock, so under concurrent requests it can let both through (seen here:
a lost `ADD` and a double claim). The hub's exactness tests (rate limiter, idempotency,
webhook dedupe, SMS chunk claims) are about DynamoDB's guarantee, so locally DynamoDB calls
are serialised; every other service (notably SQS long polls) stays concurrent.

Usage: scripts/moto_server.py -H 127.0.0.1 -p 4566   (same flags as moto_server)
"""
import argparse
import os
import threading

from werkzeug.serving import run_simple

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from moto.server import MotoRequestHandler


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-H", "--host", default="127.0.0.1")
    ap.add_argument("-p", "--port", type=int, default=5000)
    args = ap.parse_args()
    os.environ.setdefault("MOTO_PORT", str(args.port))

    app = DomainDispatcherApplication(create_backend_app)
    app.debug = True
    dynamodb_lock = threading.Lock()

    def serialised(environ, start_response):
        if environ.get("HTTP_X_AMZ_TARGET", "").startswith("DynamoDB_"):
            with dynamodb_lock:
                # Consume the whole answer inside the lock: the backend's work may be lazy.
                return [b"".join(app(environ, start_response))]
        return app(environ, start_response)

    run_simple(args.host, args.port, serialised, threaded=True, request_handler=MotoRequestHandler)


if __name__ == "__main__":
    main()
