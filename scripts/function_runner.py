#!/usr/bin/env python3
"""Cargo runner for `make dev`: starts a function binary with its own role's credentials.

`cargo lambda watch` runs every function with one environment (.local/hub.env, whose AWS
credentials are the local admin's) and sets AWS_LAMBDA_FUNCTION_NAME to the binary it
starts. scripts/dev.sh makes this script cargo's runner for that process only
(CARGO_TARGET_<host>_RUNNER), so each function gets the credentials of the IAM role
`localstack.py create` made for it from template.yaml (LOCAL_ROLE_CREDENTIALS), as a Lambda
function gets its execution role's. A binary with no role (not a template function) is
refused rather than run as the admin.

Usage (by cargo): function_runner.py <binary> [args...]
"""
import json
import os
import sys


def main() -> None:
    binary, args = sys.argv[1], sys.argv[1:]
    name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME") or os.path.basename(binary)
    path = os.environ.get("LOCAL_ROLE_CREDENTIALS")
    if not path:
        sys.exit("function_runner: LOCAL_ROLE_CREDENTIALS is not set (run through `make dev`)")
    with open(path, encoding="utf-8") as fh:
        roles = json.load(fh)
    role = roles.get(name)
    if role is None:
        sys.exit(f"function_runner: {name} has no role in {path}; is it a function in template.yaml?")
    os.environ["AWS_ACCESS_KEY_ID"] = role["access_key_id"]
    os.environ["AWS_SECRET_ACCESS_KEY"] = role["secret_access_key"]
    os.environ["AWS_SESSION_TOKEN"] = role["session_token"]
    os.execv(binary, args)


if __name__ == "__main__":
    main()
