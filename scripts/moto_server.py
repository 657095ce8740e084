#!/usr/bin/env python3
"""The moto server, with IAM enforced per resource and DynamoDB requests served one at a time.

IAM. With `--enforce-iam` (what `make dev` and `make test` use) every request is checked
against the policies of the identity that signed it, as AWS does, through moto's access
control (its INITIAL_NO_AUTH_ACTION_COUNT setting, here 0: no request is let through
unchecked). moto compares the request's resource with the policies' `Resource` only for S3,
SQS, IAM and STS; for DynamoDB and Secrets Manager it checks the action alone against the
resource "*", so a table-scoped statement could never match. This wrapper fills that gap:
DynamoDB requests are checked against the table ARN (or `table/<name>/index/<index>`), once
per table for batch calls, and transactions per item with the item's own action
(`TransactWriteItems` is not an IAM action: AWS checks `PutItem`/`UpdateItem`/`DeleteItem`/
`ConditionCheckItem`); Secrets Manager requests against the secret's ARN; and S3 HeadBucket
needs s3:ListBucket, as on AWS (moto asks for a non-existent s3:HeadBucket). What is still not
checked locally is written in docs/deploying.md ("What the local IAM check covers").

The local admin. Requests signed with the access key `test` (secret `test`), the dummy
credentials the local tools have always used, belong to the IAM user `local-admin`, allowed
everything: it creates the stack (scripts/localstack.py create), seeds secrets, mints tokens
and sets up tests. Functions sign with their own role's credentials instead (see
`localstack.py create`, which creates one role per function from template.yaml).

DynamoDB applies each write to an item atomically: two conditional `UpdateItem`s or
`PutItem`s on the same key never both see the old value. moto's threaded server evaluates
conditions without a lock, so under concurrent requests it can let both through (seen here:
a lost `ADD` and a double claim). The hub's exactness tests (rate limiter, idempotency,
webhook dedupe, SMS chunk claims) are about DynamoDB's guarantee, so locally DynamoDB calls
are serialised; every other service (notably SQS long polls) stays concurrent.

Usage: scripts/moto_server.py -H 127.0.0.1 -p 4566 [--enforce-iam]
"""
import argparse
import json
import os
import threading

ACCOUNT = "123456789012"
ADMIN_USER = "local-admin"
ADMIN_KEY = ("test", "test")
ADMIN_POLICY = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}

# DynamoDB transaction item kinds -> the IAM action AWS checks for them.
TRANSACT_ACTIONS = {
    "Put": "PutItem",
    "Update": "UpdateItem",
    "Delete": "DeleteItem",
    "ConditionCheck": "ConditionCheckItem",
    "Get": "GetItem",
}


def enforce_iam() -> None:
    """Turn on moto's access control and teach it DynamoDB and Secrets Manager resources."""
    from moto import settings
    from moto.core.authorization import ActionAuthenticatorMixin
    from moto.dynamodb.responses import DynamoHandler
    from moto.iam.access_control import IAMRequest
    from moto.iam.models import iam_backends
    from moto.s3.responses import ACTION_MAP as s3_action_map
    from moto.s3.responses import S3Response
    from moto.secretsmanager.exceptions import SecretsManagerClientError
    from moto.secretsmanager.responses import SecretsManagerResponse

    settings.INITIAL_NO_AUTH_ACTION_COUNT = 0

    iam = iam_backends[ACCOUNT]["aws"]
    iam.create_user("us-east-1", ADMIN_USER)
    iam.put_user_policy(ADMIN_USER, "everything", json.dumps(ADMIN_POLICY))
    key = iam.create_access_key(ADMIN_USER)
    del iam.access_keys[key.physical_resource_id]
    key.access_key_id, key.secret_access_key = ADMIN_KEY
    iam.access_keys[key.physical_resource_id] = key

    def request_for(action: str) -> type:
        class ActionRequest(IAMRequest):
            def __init__(self, **kwargs):
                super().__init__(**kwargs)
                self._action = f"dynamodb:{action}"

        return ActionRequest

    def dynamodb_checks(handler) -> list[tuple[str, str]]:
        body = getattr(handler, "params", None) or {}
        action = handler._get_action()
        prefix = f"arn:aws:dynamodb:{handler.region}:{handler.current_account}:table/"
        if action in ("BatchGetItem", "BatchWriteItem"):
            return [(action, prefix + t) for t in sorted(body.get("RequestItems") or {})]
        if action in ("TransactWriteItems", "TransactGetItems"):
            checks = []
            for item in body.get("TransactItems") or []:
                for kind, spec in item.items():
                    checks.append((TRANSACT_ACTIONS.get(kind, kind), prefix + spec.get("TableName", "*")))
            return checks
        table = body.get("TableName")
        if not table:
            return [(action, "*")]  # ListTables and other account-level calls
        resource = prefix + table
        if body.get("IndexName"):
            resource += "/index/" + body["IndexName"]
        return [(action, resource)]

    def dynamodb_authorize(self, resource: str = "*") -> None:
        for action, arn in dynamodb_checks(self):
            self._authenticate_and_authorize_action(request_for(action), arn)

    DynamoHandler._authenticate_and_authorize_normal_action = dynamodb_authorize

    def secret_resource(self) -> str:
        params = getattr(self, "params", None) or {}
        secret_id = self._get_param("SecretId") or params.get("SecretId")
        name = self._get_param("Name") or params.get("Name")
        if secret_id:
            try:
                return self.backend.describe_secret(secret_id=secret_id).arn
            except SecretsManagerClientError:
                name = secret_id
        if name:
            if name.startswith("arn:"):
                return name
            # What AWS would name it: the name plus a random 6-character suffix.
            return f"arn:aws:secretsmanager:{self.region}:{self.current_account}:secret:{name}-000000"
        return "*"  # ListSecrets

    SecretsManagerResponse._determine_resource = secret_resource

    # Presigned URLs and browser POST uploads carry their signature in the query or the form,
    # not in an Authorization header; moto's IAM check cannot read those, so they are let
    # through to moto's own handling (the signer's policy is not re-checked locally).
    original_s3_authorize = S3Response._authenticate_and_authorize_s3_action

    def s3_authorize(self, bucket_name=None, key_name=None):
        if "Authorization" not in self.headers:
            return
        return original_s3_authorize(self, bucket_name=bucket_name, key_name=key_name)

    S3Response._authenticate_and_authorize_s3_action = s3_authorize
    # There is no s3:HeadBucket action: AWS authorises HeadBucket with s3:ListBucket.
    s3_action_map["BUCKET"]["HEAD"]["DEFAULT"] = "ListBucket"
    ActionAuthenticatorMixin.request_count = 0


def numbers_as_dynamodb_reads_them() -> None:
    """DynamoDB trims leading and trailing zeros before it counts a number's 38 digits, so
    `1.5e100`, which SDKs write out as 15 followed by 99 zeros, is a number it stores and
    reads back. moto stores it too, but reads numbers back through boto3's decimal context,
    which traps the rounding away of those zeros: every later Query of the item answered 500
    (found by the OpenAPI fuzz step). Rounding stays exact; `Inexact` is still trapped, so a
    number with more than 38 significant digits still fails as on AWS."""
    import decimal

    from boto3.dynamodb.types import DYNAMODB_CONTEXT

    DYNAMODB_CONTEXT.traps[decimal.Rounded] = False


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-H", "--host", default="127.0.0.1")
    ap.add_argument("-p", "--port", type=int, default=5000)
    ap.add_argument("--enforce-iam", action="store_true", help="check every request against IAM policies")
    args = ap.parse_args()
    os.environ.setdefault("MOTO_PORT", str(args.port))
    if args.enforce_iam:
        # Lambda roles get AWS managed policies (AWSLambdaBasicExecutionRole, ...) from SAM.
        os.environ.setdefault("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")

    from werkzeug.serving import run_simple

    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
    from moto.server import MotoRequestHandler

    if args.enforce_iam:
        enforce_iam()
    numbers_as_dynamodb_reads_them()

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
