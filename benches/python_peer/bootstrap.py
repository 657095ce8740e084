"""A minimal Lambda Runtime API loop for the Python peer (what the managed Python runtime
does around a handler): import the handler at start (the cold start), then
next invocation -> handler(event, context) -> response, forever.

Run by benches/coldstart.py with AWS_LAMBDA_RUNTIME_API set, as Lambda would run a runtime.
"""
import json
import os
import sys
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from app import handler  # noqa: E402 - the import is the cold start being measured

API = "http://" + os.environ["AWS_LAMBDA_RUNTIME_API"] + "/2018-06-01/runtime/invocation"


class Context:
    function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "peer")
    memory_limit_in_mb = int(os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256"))

    def __init__(self, request_id, deadline_ms, arn):
        self.aws_request_id = request_id
        self.invoked_function_arn = arn
        self._deadline_ms = deadline_ms

    def get_remaining_time_in_millis(self):
        import time

        return max(0, self._deadline_ms - int(time.time() * 1000))


def main():
    while True:
        with urllib.request.urlopen(API + "/next") as res:
            request_id = res.headers["Lambda-Runtime-Aws-Request-Id"]
            deadline = int(res.headers.get("Lambda-Runtime-Deadline-Ms", "0"))
            arn = res.headers.get("Lambda-Runtime-Invoked-Function-Arn", "")
            event = json.loads(res.read())
        result = handler(event, Context(request_id, deadline, arn))
        body = json.dumps(result).encode()
        req = urllib.request.Request(
            f"{API}/{request_id}/response", data=body, method="POST", headers={"Content-Type": "application/json"}
        )
        urllib.request.urlopen(req).read()


if __name__ == "__main__":
    main()
