"""The Python peer of the hub's `health` function, for the cold-start comparison (`make bench`).

What a Python team would write for the same endpoint: FastAPI + Mangum on Lambda, boto3
clients created at import (the cold start), and `GET /health` making the same AWS calls as the
hub's plain /health, concurrently, each timed: DescribeTable on the hub table, HeadBucket on
the uploads bucket, DescribeSecret on the JWT secret, the backlog of every configured work
queue and its dead-letter queue (GetQueueAttributes each), the WebSocket management API probe
when an endpoint is configured, the provider catalog (one Query of its partition) and the
built-in providers' credentials (one BatchGetSecretValue). It does not parse or merge what it
reads as the hub does; the comparison is about the runtime, not the business logic.
"""
import asyncio
import os
import time

import boto3
from botocore.config import Config
from fastapi import FastAPI
from mangum import Mangum

_config = Config(retries={"max_attempts": 3, "mode": "standard"})
_session = boto3.session.Session()
dynamodb = _session.client("dynamodb", config=_config)
s3 = _session.client("s3", config=_config)
sqs = _session.client("sqs", config=_config)
secrets = _session.client("secretsmanager", config=_config)

HUB_TABLE = os.environ["HUB_TABLE"]
UPLOADS_BUCKET = os.environ.get("UPLOADS_BUCKET", "")
SECRETS_PREFIX = os.environ.get("SECRETS_PREFIX", "integrations-hub")
JWT_SECRET_ID = SECRETS_PREFIX + "/jwt"
# The work queues the hub's /health reports on (functions/health QUEUES), when configured.
QUEUE_VARS = ["SMS_BULK", "AI_JOBS", "WEBHOOK_EVENTS", "NOTIFICATIONS", "SUBSCRIPTIONS"]
QUEUE_URLS = [
    url
    for name in QUEUE_VARS
    for url in (os.environ.get(f"{name}_QUEUE_URL"), os.environ.get(f"{name}_DLQ_URL"))
    if url
]
# The built-in providers that keep credentials in Secrets Manager (SMTP's come from settings).
PROVIDER_SECRET_IDS = [f"{SECRETS_PREFIX}/providers/{slug}" for slug in ("kavenegar", "twilio", "openai", "huggingface", "talkbot")]
WEBSOCKET_ENDPOINT = os.environ.get("WEBSOCKET_MANAGEMENT_ENDPOINT")
websocket = (
    _session.client("apigatewaymanagementapi", endpoint_url=WEBSOCKET_ENDPOINT, config=_config)
    if WEBSOCKET_ENDPOINT
    else None
)

app = FastAPI()


def _timed(call):
    started = time.perf_counter()
    try:
        call()
        return {"ok": True, "latency_ms": round((time.perf_counter() - started) * 1000)}
    except Exception as e:  # noqa: BLE001 - a failed check is reported, not raised
        return {"ok": False, "latency_ms": round((time.perf_counter() - started) * 1000), "error": type(e).__name__}


def _websocket_probe():
    try:
        websocket.get_connection(ConnectionId="health-probe")
    except websocket.exceptions.GoneException:
        pass  # no such connection: the API answers, which is the check


@app.get("/health")
async def health():
    calls = [
        ("dynamodb", lambda: dynamodb.describe_table(TableName=HUB_TABLE)),
        ("s3", lambda: s3.head_bucket(Bucket=UPLOADS_BUCKET)),
        ("secrets_manager", lambda: secrets.describe_secret(SecretId=JWT_SECRET_ID)),
        ("catalog", lambda: dynamodb.query(
            TableName=HUB_TABLE,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": "PROVIDER"}},
        )),
        ("credentials", lambda: secrets.batch_get_secret_value(SecretIdList=PROVIDER_SECRET_IDS)),
    ]
    # As the hub's public /health: one queue's attributes are the SQS check (the backlog of
    # every queue is for `?deep=true`, which the peer does not implement).
    if QUEUE_URLS:
        calls.append(("sqs", lambda: sqs.get_queue_attributes(
            QueueUrl=QUEUE_URLS[0], AttributeNames=["QueueArn"])))
    if websocket is not None:
        calls.append(("websocket", _websocket_probe))
    checks = await asyncio.gather(*(asyncio.to_thread(_timed, call) for _, call in calls))
    aws = dict(zip([name for name, _ in calls], checks))
    return {"status": "ok" if all(c["ok"] for c in checks) else "degraded", "aws": aws}


handler = Mangum(app, lifespan="off")
