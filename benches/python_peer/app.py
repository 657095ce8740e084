"""The Python peer of the hub's `health` function, for the cold-start comparison (`make bench`).

What a Python team would write for the same endpoint: FastAPI + Mangum on Lambda, boto3
clients created at import (the cold start), and `GET /health` making the same four AWS checks
as the hub's plain /health (DescribeTable on the hub table, HeadBucket on the uploads bucket,
ListQueues, DescribeSecret on the JWT secret), concurrently, each timed. It does not read the
provider catalog or credentials as the hub's /health does (see docs/performance.md).
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
JWT_SECRET_ID = os.environ.get("SECRETS_PREFIX", "integrations-hub") + "/jwt"

app = FastAPI()


def _timed(call):
    started = time.perf_counter()
    try:
        call()
        return {"ok": True, "latency_ms": round((time.perf_counter() - started) * 1000)}
    except Exception as e:  # noqa: BLE001 - a failed check is reported, not raised
        return {"ok": False, "latency_ms": round((time.perf_counter() - started) * 1000), "error": type(e).__name__}


@app.get("/health")
async def health():
    checks = await asyncio.gather(
        asyncio.to_thread(_timed, lambda: dynamodb.describe_table(TableName=HUB_TABLE)),
        asyncio.to_thread(_timed, lambda: s3.head_bucket(Bucket=UPLOADS_BUCKET)),
        asyncio.to_thread(_timed, lambda: sqs.list_queues(MaxResults=1)),
        asyncio.to_thread(_timed, lambda: secrets.describe_secret(SecretId=JWT_SECRET_ID)),
    )
    aws = dict(zip(["dynamodb", "s3", "sqs", "secrets_manager"], checks))
    return {"status": "ok" if all(c["ok"] for c in checks) else "degraded", "aws": aws}


handler = Mangum(app, lifespan="off")
