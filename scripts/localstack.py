#!/usr/bin/env python3
"""Local stack for integrations-hub, driven by template.yaml.

Everything here is derived from the SAM template, never from a second list:

  create  create in the moto server exactly the DynamoDB tables, SQS queues,
          S3 buckets and Secrets Manager secrets that template.yaml declares
          (idempotent), and seed provider secrets from environment variables.
  env     print the environment every function sees locally (Globals + each
          function's Environment.Variables, intrinsics resolved to the local
          physical names, plus the emulator endpoint and dummy credentials);
          also written to .local/hub.env (or --output).
  router  generate cargo-lambda's watch router from the functions' HttpApi
          events into .local/CargoLambda.toml (used with
          `cargo lambda watch --global .local/CargoLambda.toml`); --check
          verifies that template and workspace agree.
  poll    generic SQS poller: for every function with an SQS event, long-poll
          its queue and invoke the function through cargo-lambda watch; and
          invoke every function with a Schedule event (rate(...)) on that
          schedule, or every --schedule-interval seconds.
  token   print an HS256 JWT signed with the local JWT secret.
  wait    wait until an HTTP endpoint (the emulator) answers.

Local physical names: <stack>-<LogicalId> with stack `integrations-hub-local`
(buckets lowercased), unless the template gives a TableName / QueueName /
BucketName / Name. ${AWS::Region} is us-east-1, ${AWS::AccountId} is
123456789012, the Stage parameter is `local`.

Needs Python 3.11+, PyYAML, and boto3 / PyJWT for create, poll and token.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import tomllib
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any, Iterator

import yaml

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "template.yaml"
LOCAL_DIR = ROOT / ".local"

STACK = "integrations-hub-local"
REGION = "us-east-1"
ACCOUNT = "123456789012"
PARTITION = "aws"
URL_SUFFIX = "amazonaws.com"
DEFAULT_PORT = 4566
DEFAULT_ENDPOINT = f"http://127.0.0.1:{DEFAULT_PORT}"
DEFAULT_INVOKE = "http://127.0.0.1:9000"
LOCAL_PARAMETERS = {"Stage": "local"}
LOCAL_JWT_SECRET = "local-dev-jwt-secret-change-me"
ROUTER_FILE = LOCAL_DIR / "CargoLambda.toml"

FUNCTION_TYPES = ("AWS::Serverless::Function",)
LOCAL_TYPES = (
    "AWS::DynamoDB::Table",
    "AWS::SQS::Queue",
    "AWS::S3::Bucket",
    "AWS::SecretsManager::Secret",
)
HTTP_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")

# Provider secrets seeded from the developer's environment by `create`:
# slug -> {json key: environment variable}.
PROVIDER_ENV = {
    "kavenegar": {"api_key": "KAVENEGAR_API_KEY", "sender": "KAVENEGAR_SENDER", "callback_token": "KAVENEGAR_CALLBACK_TOKEN"},
    "twilio": {
        "account_sid": "TWILIO_ACCOUNT_SID",
        "auth_token": "TWILIO_AUTH_TOKEN",
        "from_number": "TWILIO_PHONE_NUMBER",
    },
    "smtp": {"username": "SMTP_USERNAME", "password": "SMTP_PASSWORD"},
    "openai": {"api_key": "OPENAI_API_KEY"},
    "huggingface": {"api_key": "HUGGINGFACE_API_KEY"},
    "talkbot": {"api_key": "TALKBOT_API_KEY"},
}


def log(msg: str) -> None:
    print(f"[localstack] {msg}", file=sys.stderr, flush=True)


class StackError(Exception):
    pass


# --------------------------------------------------------------------- YAML


class CfnLoader(yaml.SafeLoader):
    """SafeLoader that understands CloudFormation short-form tags (!Ref, !Sub, ...)."""


def _construct_cfn_tag(loader: CfnLoader, suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    if suffix == "Ref":
        return {"Ref": value}
    if suffix == "Condition":
        return {"Condition": value}
    if suffix == "GetAtt" and isinstance(value, str):
        resource, _, attribute = value.partition(".")
        return {"Fn::GetAtt": [resource, attribute]}
    return {f"Fn::{suffix}": value}


CfnLoader.add_multi_constructor("!", _construct_cfn_tag)


def load_template(path: Path) -> dict:
    with open(path, encoding="utf-8") as fh:
        doc = yaml.load(fh, Loader=CfnLoader)
    if not isinstance(doc, dict) or not isinstance(doc.get("Resources"), dict):
        raise StackError(f"{path}: no Resources section")
    return doc


# ---------------------------------------------------------------- resolving

_NO_VALUE = object()
_SUB_VAR = re.compile(r"\$\{([^}]*)\}")


class Template:
    """template.yaml with intrinsic functions resolved to local values."""

    def __init__(self, path: Path = TEMPLATE, stack: str = STACK, port: int = DEFAULT_PORT):
        self.path = path
        self.doc = load_template(path)
        self.stack = stack
        self.port = port
        self.resources: dict[str, dict] = self.doc["Resources"]
        self.parameters: dict[str, Any] = {
            name: spec.get("Default") for name, spec in (self.doc.get("Parameters") or {}).items()
        }
        self.parameters.update({k: v for k, v in LOCAL_PARAMETERS.items() if k in self.parameters})
        for name, spec in (self.doc.get("Parameters") or {}).items():
            ptype = str(spec.get("Type", ""))
            if (ptype == "CommaDelimitedList" or ptype.startswith("List<")) and isinstance(self.parameters[name], str):
                self.parameters[name] = [v.strip() for v in self.parameters[name].split(",")]
        self.mappings = self.doc.get("Mappings") or {}
        self._conditions: dict[str, bool] = {}
        self._names: dict[str, str] = {}
        self._naming: set[str] = set()

    # ---- structure

    def rtype(self, logical: str) -> str:
        return self.resources[logical].get("Type", "")

    def props(self, logical: str) -> dict:
        return self.resources[logical].get("Properties") or {}

    def enabled(self, logical: str) -> bool:
        cond = self.resources[logical].get("Condition")
        return True if cond is None else self.condition(cond)

    def of_type(self, *types: str) -> list[str]:
        return [n for n, r in self.resources.items() if r.get("Type") in types and self.enabled(n)]

    def functions(self) -> list[str]:
        return self.of_type(*FUNCTION_TYPES)

    def binary(self, logical: str) -> str:
        meta = self.resources[logical].get("Metadata") or {}
        binary = (meta.get("BuildProperties") or {}).get("Binary")
        if binary:
            return str(self.resolve(binary))
        name = self.props(logical).get("FunctionName")
        return str(self.resolve(name)) if name else logical

    def events(self, logical: str) -> Iterator[tuple[str, str, dict]]:
        for name, event in (self.props(logical).get("Events") or {}).items():
            yield name, event.get("Type", ""), event.get("Properties") or {}

    # ---- names and attributes

    def queue_url(self, name: str) -> str:
        # moto answers with the host the request used: http://127.0.0.1:<port>/<account>/<name>
        return f"http://127.0.0.1:{self.port}/{ACCOUNT}/{name}"

    def physical_name(self, logical: str) -> str:
        if logical in self._names:
            return self._names[logical]
        if logical not in self.resources:
            raise StackError(f"unknown resource {logical!r}")
        if logical in self._naming:
            raise StackError(f"circular reference while naming {logical!r}")
        self._naming.add(logical)
        try:
            rtype, props = self.rtype(logical), self.props(logical)
            explicit = {
                "AWS::DynamoDB::Table": "TableName",
                "AWS::SQS::Queue": "QueueName",
                "AWS::S3::Bucket": "BucketName",
                "AWS::SecretsManager::Secret": "Name",
                "AWS::Serverless::Function": "FunctionName",
                "AWS::Lambda::Function": "FunctionName",
            }.get(rtype)
            if explicit and props.get(explicit) is not None:
                name = str(self.resolve(props[explicit]))
            elif rtype in FUNCTION_TYPES:
                name = self.binary(logical)
            else:
                name = f"{self.stack}-{logical}"
                if rtype == "AWS::S3::Bucket":
                    name = name.lower()
                if rtype == "AWS::SQS::Queue" and self.resolve(props.get("FifoQueue", False)) in (True, "true"):
                    name += ".fifo"
        finally:
            self._naming.discard(logical)
        self._names[logical] = name
        return name

    def arn(self, logical: str) -> str:
        rtype, name = self.rtype(logical), self.physical_name(logical)
        if rtype == "AWS::DynamoDB::Table":
            return f"arn:{PARTITION}:dynamodb:{REGION}:{ACCOUNT}:table/{name}"
        if rtype == "AWS::SQS::Queue":
            return f"arn:{PARTITION}:sqs:{REGION}:{ACCOUNT}:{name}"
        if rtype == "AWS::S3::Bucket":
            return f"arn:{PARTITION}:s3:::{name}"
        if rtype == "AWS::SecretsManager::Secret":
            # Real ARNs carry a random suffix; Secrets Manager accepts the name.
            return f"arn:{PARTITION}:secretsmanager:{REGION}:{ACCOUNT}:secret:{name}"
        if rtype in FUNCTION_TYPES or rtype == "AWS::Lambda::Function":
            return f"arn:{PARTITION}:lambda:{REGION}:{ACCOUNT}:function:{name}"
        raise StackError(f"no local ARN for {logical} ({rtype})")

    def ref(self, name: str) -> Any:
        pseudo = {
            "AWS::StackName": self.stack,
            "AWS::Region": REGION,
            "AWS::AccountId": ACCOUNT,
            "AWS::Partition": PARTITION,
            "AWS::URLSuffix": URL_SUFFIX,
            "AWS::StackId": f"arn:{PARTITION}:cloudformation:{REGION}:{ACCOUNT}:stack/{self.stack}/local",
            "AWS::NoValue": _NO_VALUE,
            "AWS::NotificationARNs": [],
        }
        if name in pseudo:
            return pseudo[name]
        if name in self.parameters:
            return self.parameters[name]
        if name not in self.resources:
            raise StackError(f"!Ref {name}: no such parameter or resource")
        rtype = self.rtype(name)
        if rtype == "AWS::SQS::Queue":
            return self.queue_url(self.physical_name(name))
        if rtype in ("AWS::Serverless::HttpApi", "AWS::Serverless::Api", "AWS::ApiGatewayV2::Api"):
            return "local"
        # Tables, buckets, functions: the name. Secrets: the name (AWS returns
        # the ARN; every Secrets Manager call accepts either as SecretId).
        return self.physical_name(name)

    def get_att(self, logical: str, attribute: str) -> Any:
        if logical not in self.resources:
            raise StackError(f"!GetAtt {logical}.{attribute}: no such resource")
        rtype, name = self.rtype(logical), self.physical_name(logical)
        if attribute == "Arn":
            return self.arn(logical)
        if rtype == "AWS::SQS::Queue" and attribute == "QueueName":
            return name
        if rtype == "AWS::SQS::Queue" and attribute == "QueueUrl":
            return self.queue_url(name)
        if rtype == "AWS::DynamoDB::Table" and attribute == "StreamArn":
            return f"{self.arn(logical)}/stream/local"
        if rtype == "AWS::S3::Bucket" and attribute in ("DomainName", "RegionalDomainName"):
            return f"127.0.0.1:{self.port}/{name}"
        if rtype == "AWS::SecretsManager::Secret" and attribute == "Id":
            return name
        raise StackError(f"!GetAtt {logical}.{attribute} is not supported locally")

    # ---- conditions

    def condition(self, name: str) -> bool:
        if name not in self._conditions:
            spec = (self.doc.get("Conditions") or {}).get(name)
            if spec is None:
                raise StackError(f"unknown condition {name!r}")
            self._conditions[name] = bool(self._eval_condition(spec))
        return self._conditions[name]

    def _eval_condition(self, spec: Any) -> bool:
        if isinstance(spec, dict) and len(spec) == 1:
            (fn, arg), = spec.items()
            if fn == "Condition":
                return self.condition(arg)
            if fn == "Fn::Equals":
                a, b = (self.resolve(x) for x in arg)
                return str(a) == str(b)
            if fn == "Fn::Not":
                return not self._eval_condition(arg[0])
            if fn == "Fn::And":
                return all(self._eval_condition(x) for x in arg)
            if fn == "Fn::Or":
                return any(self._eval_condition(x) for x in arg)
        return bool(self.resolve(spec))

    # ---- intrinsic functions

    def resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            out = [self.resolve(v) for v in value]
            return [v for v in out if v is not _NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            (key, arg), = value.items()
            if key == "Ref":
                return self.ref(arg)
            if key == "Condition":
                return self.condition(arg)
            if key.startswith("Fn::"):
                return self._intrinsic(key[4:], arg)
        out = {}
        for k, v in value.items():
            r = self.resolve(v)
            if r is not _NO_VALUE:
                out[k] = r
        return out

    def _intrinsic(self, fn: str, arg: Any) -> Any:
        if fn == "GetAtt":
            if isinstance(arg, str):
                arg = arg.split(".", 1)
            logical, attribute = self.resolve(arg[0]), self.resolve(arg[1])
            return self.get_att(logical, attribute)
        if fn == "Sub":
            if isinstance(arg, list):
                text, variables = arg[0], self.resolve(arg[1] if len(arg) > 1 else {})
            else:
                text, variables = arg, {}
            return self._sub(text, variables)
        if fn == "Join":
            sep, items = arg
            return str(sep).join(str(x) for x in self.resolve(items))
        if fn == "Select":
            index, items = self.resolve(arg[0]), self.resolve(arg[1])
            return items[int(index)]
        if fn == "Split":
            sep, text = arg
            return str(self.resolve(text)).split(sep)
        if fn == "If":
            cond, if_true, if_false = arg
            return self.resolve(if_true if self.condition(cond) else if_false)
        if fn in ("Equals", "And", "Or", "Not"):
            return self._eval_condition({f"Fn::{fn}": arg})
        if fn == "FindInMap":
            mapping, top, second = (self.resolve(x) for x in arg[:3])
            return self.mappings[mapping][top][second]
        if fn == "Base64":
            return base64.b64encode(str(self.resolve(arg)).encode()).decode()
        if fn == "GetAZs":
            return [f"{REGION}{z}" for z in "abc"]
        if fn == "ToJsonString":
            return json.dumps(self.resolve(arg), separators=(",", ":"))
        raise StackError(f"Fn::{fn} is not supported locally")

    def _sub(self, text: str, variables: dict) -> str:
        def replace(match: re.Match) -> str:
            expr = match.group(1)
            if expr.startswith("!"):
                return "${" + expr[1:] + "}"
            if expr in variables:
                return str(variables[expr])
            if "." in expr and not expr.startswith("AWS::"):
                logical, attribute = expr.split(".", 1)
                return str(self.get_att(logical, attribute))
            return str(self.ref(expr))

        return _SUB_VAR.sub(replace, text)

    # ---- dependency order

    def dependencies(self, logical: str) -> set[str]:
        deps: set[str] = set()
        depends_on = self.resources[logical].get("DependsOn") or []
        deps.update([depends_on] if isinstance(depends_on, str) else depends_on)

        def walk(value: Any) -> None:
            if isinstance(value, list):
                for v in value:
                    walk(v)
            elif isinstance(value, dict):
                if len(value) == 1:
                    (key, arg), = value.items()
                    if key == "Ref" and isinstance(arg, str):
                        deps.add(arg)
                    elif key == "Fn::GetAtt":
                        deps.add(arg.split(".", 1)[0] if isinstance(arg, str) else arg[0])
                    elif key == "Fn::Sub":
                        text = arg[0] if isinstance(arg, list) else arg
                        for expr in _SUB_VAR.findall(str(text)):
                            deps.add(expr.split(".", 1)[0])
                for v in value.values():
                    walk(v)

        walk(self.props(logical))
        return {d for d in deps if d in self.resources and d != logical}

    def ordered(self, types: tuple[str, ...]) -> list[str]:
        """Resources of the given types, each after the resources it references."""
        wanted = [n for n in self.of_type(*types)]
        order: list[str] = []
        state: dict[str, int] = {}

        def visit(n: str) -> None:
            if state.get(n) == 2:
                return
            if state.get(n) == 1:
                raise StackError(f"dependency cycle through {n}")
            state[n] = 1
            for d in sorted(self.dependencies(n)):
                if d in wanted:
                    visit(d)
            state[n] = 2
            order.append(n)

        for n in wanted:
            visit(n)
        return order


# ----------------------------------------------------------------- AWS side


def aws_session(credentials: dict | None = None):
    """The local admin (access key `test`, see scripts/moto_server.py), or a function's role."""
    import boto3

    if credentials:
        return boto3.session.Session(
            aws_access_key_id=credentials["access_key_id"],
            aws_secret_access_key=credentials["secret_access_key"],
            aws_session_token=credentials.get("session_token"),
            region_name=REGION,
        )
    return boto3.session.Session(aws_access_key_id="test", aws_secret_access_key="test", region_name=REGION)


def aws_client(service: str, endpoint: str, quick: bool = False, credentials: dict | None = None):
    from botocore.config import Config

    cfg = Config(
        retries={"max_attempts": 1 if quick else 3, "mode": "standard"},
        connect_timeout=2 if quick else 10,
        read_timeout=5 if quick else 60,
        s3={"addressing_style": "path"},
    )
    return aws_session(credentials).client(service, endpoint_url=endpoint, config=cfg)


def port_of(endpoint: str) -> int:
    parsed = urllib.parse.urlparse(endpoint)
    return parsed.port or (443 if parsed.scheme == "https" else 80)


def _error_code(exc: Exception) -> str:
    return getattr(exc, "response", {}).get("Error", {}).get("Code", "")


def _bool_str(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def create_table(tpl: Template, logical: str, ddb) -> None:
    props = tpl.resolve(tpl.props(logical))
    name = tpl.physical_name(logical)
    billing = props.get("BillingMode", "PROVISIONED")
    try:
        ddb.describe_table(TableName=name)
        log(f"table  {name}: exists")
    except ddb.exceptions.ResourceNotFoundException:
        args: dict[str, Any] = {
            "TableName": name,
            "AttributeDefinitions": props["AttributeDefinitions"],
            "KeySchema": props["KeySchema"],
            "BillingMode": billing,
        }
        if billing == "PROVISIONED":
            args["ProvisionedThroughput"] = props.get(
                "ProvisionedThroughput", {"ReadCapacityUnits": 5, "WriteCapacityUnits": 5}
            )
        gsis = []
        for gsi in props.get("GlobalSecondaryIndexes") or []:
            gsi = {k: v for k, v in gsi.items() if k in ("IndexName", "KeySchema", "Projection", "ProvisionedThroughput")}
            if billing == "PAY_PER_REQUEST":
                gsi.pop("ProvisionedThroughput", None)
            gsis.append(gsi)
        if gsis:
            args["GlobalSecondaryIndexes"] = gsis
        lsis = [
            {k: v for k, v in lsi.items() if k in ("IndexName", "KeySchema", "Projection")}
            for lsi in props.get("LocalSecondaryIndexes") or []
        ]
        if lsis:
            args["LocalSecondaryIndexes"] = lsis
        stream = props.get("StreamSpecification")
        if stream:
            args["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": stream["StreamViewType"]}
        ddb.create_table(**args)
        log(f"table  {name}: created")
    ttl = props.get("TimeToLiveSpecification")
    if ttl and tpl.resolve(ttl.get("Enabled")) in (True, "true"):
        current = ddb.describe_time_to_live(TableName=name).get("TimeToLiveDescription", {})
        if current.get("TimeToLiveStatus") not in ("ENABLED", "ENABLING"):
            ddb.update_time_to_live(
                TableName=name,
                TimeToLiveSpecification={"AttributeName": ttl["AttributeName"], "Enabled": True},
            )
            log(f"table  {name}: TTL on {ttl['AttributeName']}")


SQS_ATTRIBUTES = (
    "DelaySeconds",
    "MaximumMessageSize",
    "MessageRetentionPeriod",
    "ReceiveMessageWaitTimeSeconds",
    "VisibilityTimeout",
    "FifoQueue",
    "ContentBasedDeduplication",
    "DeduplicationScope",
    "FifoThroughputLimit",
    "KmsMasterKeyId",
    "KmsDataKeyReusePeriodSeconds",
    "SqsManagedSseEnabled",
)


def create_queue(tpl: Template, logical: str, sqs) -> None:
    props = tpl.resolve(tpl.props(logical))
    name = tpl.physical_name(logical)
    attributes = {k: _bool_str(props[k]) for k in SQS_ATTRIBUTES if k in props}
    attributes.pop("KmsMasterKeyId", None)  # no KMS locally
    attributes.pop("KmsDataKeyReusePeriodSeconds", None)
    for key in ("RedrivePolicy", "RedriveAllowPolicy"):
        if key in props:
            value = props[key]
            attributes[key] = value if isinstance(value, str) else json.dumps(value)
    try:
        sqs.get_queue_url(QueueName=name)
        log(f"queue  {name}: exists")
        return
    except Exception as exc:  # QueueDoesNotExist
        if "NonExistentQueue" not in _error_code(exc) and "QueueDoesNotExist" not in _error_code(exc):
            raise
    sqs.create_queue(QueueName=name, Attributes=attributes)
    log(f"queue  {name}: created")


def create_bucket(tpl: Template, logical: str, s3) -> None:
    props = tpl.resolve(tpl.props(logical))
    name = tpl.physical_name(logical)
    try:
        s3.head_bucket(Bucket=name)
        log(f"bucket {name}: exists")
    except Exception as exc:
        if _error_code(exc) not in ("404", "NoSuchBucket", "NotFound"):
            raise
        s3.create_bucket(Bucket=name)
        log(f"bucket {name}: created")
    pab = props.get("PublicAccessBlockConfiguration")
    if pab:
        s3.put_public_access_block(
            Bucket=name,
            PublicAccessBlockConfiguration={k: tpl.resolve(v) in (True, "true") for k, v in pab.items()},
        )
    enc = props.get("BucketEncryption")
    if enc:
        rules = []
        for rule in enc.get("ServerSideEncryptionConfiguration", []):
            default = rule.get("ServerSideEncryptionByDefault", {})
            rules.append(
                {"ApplyServerSideEncryptionByDefault": {k: v for k, v in default.items() if k == "SSEAlgorithm"}}
            )
        if rules:
            s3.put_bucket_encryption(Bucket=name, ServerSideEncryptionConfiguration={"Rules": rules})
    cors = props.get("CorsConfiguration")
    if cors:
        rules = []
        for rule in cors.get("CorsRules", []):
            r = {
                "AllowedMethods": rule["AllowedMethods"],
                "AllowedOrigins": rule["AllowedOrigins"],
            }
            if "AllowedHeaders" in rule:
                r["AllowedHeaders"] = rule["AllowedHeaders"]
            if "ExposedHeaders" in rule:
                r["ExposeHeaders"] = rule["ExposedHeaders"]
            if "MaxAge" in rule:
                r["MaxAgeSeconds"] = int(rule["MaxAge"])
            rules.append(r)
        s3.put_bucket_cors(Bucket=name, CORSConfiguration={"CORSRules": rules})


def local_generated_secret(tpl: Template, logical: str, name: str, spec: dict) -> str:
    value = LOCAL_JWT_SECRET if name.endswith("/jwt") else f"local-dev-{logical.lower()}-change-me"
    template_str, key = spec.get("SecretStringTemplate"), spec.get("GenerateStringKey")
    if template_str and key:
        doc = json.loads(template_str)
        doc[key] = value
        return json.dumps(doc)
    return value


def create_secret(tpl: Template, logical: str, sm) -> None:
    props = tpl.resolve(tpl.props(logical))
    name = tpl.physical_name(logical)
    try:
        sm.describe_secret(SecretId=name)
        log(f"secret {name}: exists")
        return
    except sm.exceptions.ResourceNotFoundException:
        pass
    if "SecretString" in props:
        value = props["SecretString"]
    elif "GenerateSecretString" in props:
        value = local_generated_secret(tpl, logical, name, props["GenerateSecretString"])
    else:
        value = ""
    args = {"Name": name, "SecretString": value}
    if props.get("Description"):
        args["Description"] = props["Description"]
    sm.create_secret(**args)
    log(f"secret {name}: created")


def seed_provider_secrets(tpl: Template, sm) -> None:
    for slug, fields in PROVIDER_ENV.items():
        values = {key: os.environ[var] for key, var in fields.items() if os.environ.get(var)}
        if not values:
            continue
        name = f"{tpl.stack}/providers/{slug}"
        try:
            current = json.loads(sm.get_secret_value(SecretId=name).get("SecretString") or "{}")
            if not isinstance(current, dict):
                current = {}
        except sm.exceptions.ResourceNotFoundException:
            log(f"secret {name}: not declared in template.yaml, creating it anyway")
            sm.create_secret(Name=name, SecretString="{}")
            current = {}
        current.update(values)
        sm.put_secret_value(SecretId=name, SecretString=json.dumps(current))
        log(f"secret {name}: seeded {', '.join(sorted(values))} from the environment")


def cmd_create(args: argparse.Namespace) -> int:
    tpl = Template(Path(args.template), args.stack, port_of(args.endpoint))
    handlers = {
        "AWS::DynamoDB::Table": (create_table, "dynamodb"),
        "AWS::SQS::Queue": (create_queue, "sqs"),
        "AWS::S3::Bucket": (create_bucket, "s3"),
        "AWS::SecretsManager::Secret": (create_secret, "secretsmanager"),
    }
    clients: dict[str, Any] = {}
    for logical in tpl.ordered(LOCAL_TYPES):
        fn, service = handlers[tpl.rtype(logical)]
        if service not in clients:
            clients[service] = aws_client(service, args.endpoint)
        fn(tpl, logical, clients[service])
    skipped = sorted(
        {r.get("Type", "?") for n, r in tpl.resources.items() if r.get("Type") not in LOCAL_TYPES}
    )
    if skipped:
        log(f"not emulated (served by cargo lambda watch or not needed locally): {', '.join(skipped)}")
    if not args.no_seed:
        seed_provider_secrets(tpl, clients.get("secretsmanager") or aws_client("secretsmanager", args.endpoint))
    if args.roles != "-":
        create_roles(tpl, args.endpoint, Path(args.roles), args.test_instances)
    return 0


# -------------------------------------------------------------------- roles
#
# One IAM role per function, with exactly the policies SAM gives it on AWS: the template is
# run through the SAM translator (aws-sam-translator, the library `sam build`/CloudFormation
# use), which expands policy templates (DynamoDBCrudPolicy, SQSSendMessagePolicy, ...) and
# adds the managed policies of the function's events (AWSLambdaSQSQueueExecutionRole for an
# SQS event). The statements are then resolved to local ARNs. Each role is assumed once by
# the local admin and the temporary credentials are written to a JSON file
# ({binary: {logical_id, role_arn, access_key_id, secret_access_key, session_token}}) that
# `make dev` (scripts/function_runner.py, the poller) and the tests read.

ROLE_SESSION_SECONDS = 43200
TEST_SECRETS_PREFIX = "test-*"


def sam_roles(tpl: Template) -> dict[str, dict]:
    """function logical id -> the AWS::IAM::Role the SAM translator generates for it."""
    import copy

    from samtranslator.translator.transform import transform

    class NoManagedPolicyNames:
        def load(self) -> dict:
            return {}

    doc = copy.deepcopy(tpl.doc)
    for logical in tpl.functions():
        # The translator wants an S3 location for code; where the code is plays no part here.
        doc["Resources"][logical].setdefault("Properties", {})["CodeUri"] = "s3://local/code.zip"
    region = os.environ.get("AWS_DEFAULT_REGION")
    os.environ["AWS_DEFAULT_REGION"] = REGION
    try:
        out = transform(doc, {"AWS::Region": REGION, "AWS::AccountId": ACCOUNT}, NoManagedPolicyNames())
    finally:
        if region is None:
            os.environ.pop("AWS_DEFAULT_REGION", None)
        else:
            os.environ["AWS_DEFAULT_REGION"] = region
    resources = out["Resources"]
    roles = {}
    for logical in tpl.functions():
        role = (resources[logical].get("Properties") or {}).get("Role")
        target = None
        if isinstance(role, dict) and "Fn::GetAtt" in role:
            target = role["Fn::GetAtt"][0]
        if target is None or resources.get(target, {}).get("Type") != "AWS::IAM::Role":
            raise StackError(f"{logical}: Role must be the SAM-generated role or !GetAtt <AWS::IAM::Role>.Arn")
        roles[logical] = resources[target]["Properties"]
    return roles


def local_policy_document(tpl: Template, document: dict, secret_arns: dict[str, str], test_instances: bool) -> dict:
    """A role policy with intrinsics resolved to local ARNs.

    Secrets resolve to their ARN (as `!Ref` does on AWS). With `test_instances`, each ARN of
    a stack secret also matches the same secret under a test prefix (`test-*/jwt`), and each
    queue and table ARN also matches `<name>-*`: the integration tests give every TestHub its
    own secrets prefix and create their own queues and tables named after the template's.
    """
    original_ref = tpl.ref

    def ref(name: str) -> Any:
        if name in secret_arns:
            return secret_arns[name]
        return original_ref(name)

    tpl.ref = ref  # type: ignore[method-assign]
    try:
        resolved = tpl.resolve(document)
    finally:
        tpl.ref = original_ref  # type: ignore[method-assign]
    resolved.setdefault("Version", "2012-10-17")  # SAM leaves it out; IAM's default is older
    if not test_instances:
        return resolved
    secret_prefix = f"arn:{PARTITION}:secretsmanager:{REGION}:{ACCOUNT}:secret:{tpl.stack}/"
    exact_secrets = {
        arn: tpl.physical_name(logical).removeprefix(f"{tpl.stack}/") for logical, arn in secret_arns.items()
    }
    for statement in resolved.get("Statement") or []:
        resources = statement.get("Resource")
        if resources is None:
            continue
        listed = resources if isinstance(resources, list) else [resources]
        extra = []
        for arn in listed:
            if not isinstance(arn, str):
                continue
            if arn.startswith(secret_prefix):
                if arn in exact_secrets:  # a real ARN: its random suffix differs per copy
                    arn = f"{secret_prefix}{exact_secrets[arn]}-*"
                extra.append(arn.replace(f"secret:{tpl.stack}/", f"secret:{TEST_SECRETS_PREFIX}/", 1))
            elif re.match(rf"arn:{PARTITION}:sqs:{REGION}:{ACCOUNT}:{re.escape(tpl.stack)}-[A-Za-z0-9]+$", arn):
                extra.append(arn + "-*")
            elif re.match(rf"arn:{PARTITION}:dynamodb:{REGION}:{ACCOUNT}:table/{re.escape(tpl.stack)}-[A-Za-z0-9]+$", arn):
                extra.append(arn + "-*")
                extra.append(arn + "-*/index/*")
            elif match := re.match(
                rf"(arn:{PARTITION}:dynamodb:{REGION}:{ACCOUNT}:table/{re.escape(tpl.stack)}-[A-Za-z0-9]+)(/index/.+)$", arn
            ):
                # One index of a table (the sweeper's `redrive`): the same index of the copies.
                extra.append(match.group(1) + "-*" + match.group(2))
        if extra:
            statement["Resource"] = listed + extra
    return resolved


def role_name(tpl: Template, logical: str) -> str:
    return f"{tpl.stack}-{logical}"[:64]


def create_roles(tpl: Template, endpoint: str, output: Path, test_instances: bool) -> None:
    iam = aws_client("iam", endpoint)
    sts = aws_client("sts", endpoint)
    sm = aws_client("secretsmanager", endpoint)
    secret_arns = {
        logical: sm.describe_secret(SecretId=tpl.physical_name(logical))["ARN"]
        for logical in tpl.of_type("AWS::SecretsManager::Secret")
    }
    admin_arn = f"arn:{PARTITION}:iam::{ACCOUNT}:user/local-admin"
    credentials: dict[str, dict] = {}
    for logical, role in sam_roles(tpl).items():
        name = role_name(tpl, logical)
        trust = tpl.resolve(role.get("AssumeRolePolicyDocument") or {})
        # The local admin stands in for the Lambda service when it assumes the role.
        for statement in trust.get("Statement") or []:
            principal = statement.setdefault("Principal", {})
            principal["AWS"] = admin_arn
        try:
            iam.create_role(
                RoleName=name,
                AssumeRolePolicyDocument=json.dumps(trust),
                MaxSessionDuration=ROLE_SESSION_SECONDS,
                Description=f"{logical} (local, from template.yaml)",
            )
        except iam.exceptions.EntityAlreadyExistsException:
            iam.update_assume_role_policy(RoleName=name, PolicyDocument=json.dumps(trust))
            for policy in iam.list_role_policies(RoleName=name)["PolicyNames"]:
                iam.delete_role_policy(RoleName=name, PolicyName=policy)
            for policy in iam.list_attached_role_policies(RoleName=name)["AttachedPolicies"]:
                iam.detach_role_policy(RoleName=name, PolicyArn=policy["PolicyArn"])
        for policy in role.get("Policies") or []:
            document = local_policy_document(tpl, policy["PolicyDocument"], secret_arns, test_instances)
            iam.put_role_policy(RoleName=name, PolicyName=policy["PolicyName"], PolicyDocument=json.dumps(document))
        for arn in tpl.resolve(role.get("ManagedPolicyArns") or []):
            try:
                iam.attach_role_policy(RoleName=name, PolicyArn=arn)
            except iam.exceptions.NoSuchEntityException:
                log(f"role   {name}: managed policy {arn} is unknown to the emulator; not attached")
        role_arn = f"arn:{PARTITION}:iam::{ACCOUNT}:role/{name}"
        assumed = sts.assume_role(RoleArn=role_arn, RoleSessionName=tpl.binary(logical), DurationSeconds=ROLE_SESSION_SECONDS)
        c = assumed["Credentials"]
        credentials[tpl.binary(logical)] = {
            "logical_id": logical,
            "role_arn": role_arn,
            "access_key_id": c["AccessKeyId"],
            "secret_access_key": c["SecretAccessKey"],
            "session_token": c["SessionToken"],
        }
        log(f"role   {name}: {len(role.get('Policies') or [])} inline + {len(role.get('ManagedPolicyArns') or [])} managed policies, credentials for {tpl.binary(logical)}")
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(credentials, indent=1) + "\n", encoding="utf-8")
    output.chmod(0o600)
    log(f"role credentials: {output}")


def load_role_credentials(path: str | os.PathLike) -> dict[str, dict]:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise StackError(f"{path}: no role credentials; run `localstack.py create` first") from None


# ---------------------------------------------------------------------- env


def function_environment(tpl: Template) -> dict[str, str]:
    def render(value: Any) -> str:
        value = tpl.resolve(value)
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, (dict, list)):
            return json.dumps(value, separators=(",", ":"))
        return str(value)

    env: dict[str, str] = {}
    globals_fn = ((tpl.doc.get("Globals") or {}).get("Function") or {})
    for key, value in ((globals_fn.get("Environment") or {}).get("Variables") or {}).items():
        env[key] = render(value)
    origin: dict[str, str] = {}
    for logical in tpl.functions():
        variables = ((tpl.props(logical).get("Environment") or {}).get("Variables")) or {}
        for key, value in variables.items():
            rendered = render(value)
            if key in origin and env[key] != rendered:
                log(
                    f"warning: {key} differs between {origin[key]} and {logical}; "
                    f"the merged local environment keeps {logical}'s value"
                )
            env[key] = rendered
            origin[key] = logical
    return env


# The settings naming the hub's public origin: the URL a signed callback was made for is
# rebuilt from them (Twilio signs the full URL). On AWS the request's `X-Forwarded-Proto`
# and `Host` give it (https); cargo lambda watch sends no `X-Forwarded-Proto`, so without
# these the hub would check a signature made for `http://127.0.0.1:9000/...` against
# `https://...` and refuse it.
PUBLIC_URL_SETTINGS = ("WEBHOOK_PUBLIC_BASE_URL", "SMS_CALLBACK_BASE_URL")


def local_environment(
    tpl: Template,
    port: int,
    smtp_port: int,
    ws_management_port: int = 8001,
    invoke_port: int | None = None,
) -> dict[str, str]:
    env = function_environment(tpl)
    env.update(
        {
            "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
            "AWS_REGION": REGION,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_ACCESS_KEY_ID": "test",
            "AWS_SECRET_ACCESS_KEY": "test",
            "AWS_EC2_METADATA_DISABLED": "true",
            "SMTP_HOST": "127.0.0.1",
            "SMTP_PORT": str(smtp_port),
        }
    )
    # The WebSocket API (AWS::ApiGatewayV2) has no local emulator: its management API is the
    # local WebSocket gateway (tools/ws-gateway, started by `make dev`).
    if "WEBSOCKET_MANAGEMENT_ENDPOINT" in env:
        env["WEBSOCKET_MANAGEMENT_ENDPOINT"] = f"http://127.0.0.1:{ws_management_port}"
    if invoke_port is not None:
        for key in PUBLIC_URL_SETTINGS:
            env[key] = f"http://127.0.0.1:{invoke_port}"
    for key, value in env.items():
        if re.search(r"[\s\"'\\$`#]", value) or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key):
            raise StackError(f"{key}={value!r} cannot be written to a KEY=VALUE env file safely")
    return env


def cmd_env(args: argparse.Namespace) -> int:
    tpl = Template(Path(args.template), args.stack, args.port)
    env = local_environment(tpl, args.port, args.smtp_port, args.ws_management_port, args.invoke_port)
    if args.role_credentials:
        # Where each function's role credentials are (see `create`); the variables above stay
        # the local admin's, for tools and test setup.
        env["LOCAL_ROLE_CREDENTIALS"] = str(Path(args.role_credentials).resolve())
    text = "".join(f"{k}={v}\n" for k, v in env.items())
    if args.output != "-":
        out = Path(args.output)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text, encoding="utf-8")
    sys.stdout.write(text)
    return 0


def cmd_functions(args: argparse.Namespace) -> int:
    tpl = Template(Path(args.template), args.stack)
    binaries = set()
    for logical in tpl.functions():
        if args.http and not any(etype == "HttpApi" for _, etype, _ in tpl.events(logical)):
            continue
        binaries.add(tpl.binary(logical))
    for binary in sorted(binaries):
        print(binary)
    return 0


# ------------------------------------------------------------------- router


def http_routes(tpl: Template) -> list[tuple[str, str, str, str]]:
    """(path, METHOD, binary, origin) for every HttpApi event, as declared."""
    routes = []
    for logical in tpl.functions():
        binary = tpl.binary(logical)
        for event_name, etype, props in tpl.events(logical):
            if etype != "HttpApi":
                continue
            path = tpl.resolve(props.get("Path", "/{proxy+}"))  # no Path: the $default route
            method = str(tpl.resolve(props.get("Method", "ANY"))).upper()
            routes.append((str(path), method, binary, f"{logical}.Events.{event_name}"))
    return routes


def to_matchit(path: str) -> str:
    # API Gateway greedy `{name+}` is matchit's catch-all `{*name}`.
    return re.sub(r"\{([^}+]+)\+\}", r"{*\1}", path)


def router_table(tpl: Template) -> dict[str, str | dict[str, str]]:
    """matchit path -> binary (any method) or {METHOD: binary}, with trailing-slash variants."""
    explicit: dict[str, dict[str, tuple[str, str]]] = {}
    any_method: dict[str, tuple[str, str]] = {}
    for path, method, binary, origin in http_routes(tpl):
        base = to_matchit(path)
        variants = [base]
        if base != "/" and "{*" not in base:
            variants.append(base[:-1] if base.endswith("/") else base + "/")
        for variant in variants:
            if method == "ANY":
                previous = any_method.get(variant)
            else:
                previous = explicit.setdefault(variant, {}).get(method)
            if previous and previous[0] != binary:
                raise StackError(f"{method} {variant}: claimed by both {previous[1]} and {origin}")
            if method == "ANY":
                any_method[variant] = (binary, origin)
            else:
                explicit[variant][method] = (binary, origin)
    table: dict[str, str | dict[str, str]] = {}
    for variant in set(explicit) | set(any_method):
        methods = {m: b for m, (b, _) in explicit.get(variant, {}).items()}
        if variant in any_method:
            if not methods:
                table[variant] = any_method[variant][0]
                continue
            for m in HTTP_METHODS:  # an explicit method wins over ANY
                methods.setdefault(m, any_method[variant][0])
        table[variant] = methods
    return table


def _matchit_shape(path: str) -> str:
    return re.sub(r"\{\*?[^}]+\}", "{}", path)


def render_router(tpl: Template) -> str:
    table = router_table(tpl)
    lines = [
        "# Generated by `scripts/localstack.py router` from template.yaml's HttpApi events.",
        "# Do not edit: `make dev` regenerates it. Used as",
        "#   cargo lambda watch --global .local/CargoLambda.toml",
        "# (cargo-lambda's global config file: [watch.router] here is the same setting",
        "# as [workspace.metadata.lambda.watch.router] in Cargo.toml, in matchit syntax).",
        "",
        "[watch.router]",
    ]
    for path in sorted(table):
        target = table[path]
        if isinstance(target, str):
            lines.append(f'"{path}" = "{target}"')
            continue
        entries = ", ".join(f'{{ method = "{m}", function = "{target[m]}" }}' for m in sorted(target))
        lines.append(f'"{path}" = [{entries}]')
    return "\n".join(lines) + "\n"


def workspace_function_binaries() -> dict[str, str] | None:
    """bin target -> package, for packages under functions/ (None if cargo is unavailable)."""
    try:
        out = subprocess.run(
            ["cargo", "metadata", "--no-deps", "--format-version", "1", "--offline"],
            cwd=ROOT,
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError) as exc:
        log(f"warning: cargo metadata failed ({exc}); skipping the binary check")
        return None
    functions_dir = (ROOT / "functions").resolve()
    bins: dict[str, str] = {}
    for pkg in json.loads(out)["packages"]:
        manifest = Path(pkg["manifest_path"]).resolve()
        if functions_dir not in manifest.parents:
            continue
        for target in pkg["targets"]:
            if "bin" in target["kind"]:
                bins[target["name"]] = pkg["name"]
    return bins


def check_function_routes(tpl: Template) -> list[str]:
    """Every path a function's axum router serves (`.route("/path", ...)` in functions/<crate>/src)
    has an HttpApi event on that function in template.yaml: a route added in Rust alone works in
    `make dev` and the tests but answers 404 from API Gateway once deployed."""
    declared: dict[str, set[str]] = {}
    for path, _method, binary, _origin in http_routes(tpl):
        declared.setdefault(binary, set()).add(path.rstrip("/") or "/")
    problems = []
    for src_dir in sorted((ROOT / "functions").glob("*/src")):
        binary = src_dir.parent.name
        if binary not in declared:
            continue  # not an HTTP function (workers, the WebSocket handler)
        for source in sorted(src_dir.rglob("*.rs")):
            text = source.read_text(encoding="utf-8")
            for match in re.finditer(r'\.route\(\s*"(/[^"]*)"', text):
                path = match.group(1).rstrip("/") or "/"
                if path not in declared[binary]:
                    problems.append(
                        f"{source.relative_to(ROOT)} serves {path} but template.yaml has no HttpApi event "
                        f"for it on the {binary} function (it would answer 404 on AWS)"
                    )
    return problems


def check_router(tpl: Template) -> list[str]:
    problems: list[str] = []
    try:
        table = router_table(tpl)
    except StackError as exc:
        return [str(exc)]
    shapes: dict[str, str] = {}
    for path in table:
        shape = _matchit_shape(path)
        if shape in shapes and shapes[shape] != path:
            problems.append(
                f"routes {shapes[shape]!r} and {path!r} differ only in parameter names (matchit rejects that)"
            )
        shapes.setdefault(shape, path)
    for path, _method, _binary, origin in http_routes(tpl):
        if path != "/" and path.endswith("/"):
            problems.append(f"{origin}: HTTP API paths cannot end with '/': {path}")
    # A router in Cargo.toml metadata would be merged over the generated file.
    manifests = [ROOT / "Cargo.toml", *sorted((ROOT / "functions").glob("*/Cargo.toml"))]
    for manifest in manifests:
        if not manifest.exists():
            continue
        data = tomllib.loads(manifest.read_text(encoding="utf-8"))
        for section in ("workspace", "package"):
            lam = ((data.get(section) or {}).get("metadata") or {}).get("lambda") or {}
            if (lam.get("watch") or {}).get("router") is not None:
                problems.append(
                    f"{manifest.relative_to(ROOT)}: [{section}.metadata.lambda.watch.router] is hand-kept; "
                    "remove it, the router is generated from template.yaml into .local/CargoLambda.toml"
                )
    problems.extend(check_sqs_sources(tpl))
    problems.extend(check_schedules(tpl))
    problems.extend(check_request_collection(tpl))
    problems.extend(check_function_routes(tpl))
    bins = workspace_function_binaries()
    if bins is not None:
        declared = {tpl.binary(f): f for f in tpl.functions()}
        for binary, logical in sorted(declared.items()):
            if binary not in bins:
                problems.append(f"{logical}: Binary {binary!r} is not a binary of any functions/* crate")
        for binary, pkg in sorted(bins.items()):
            if binary not in declared:
                problems.append(f"functions/ crate {pkg!r} builds binary {binary!r} but template.yaml has no function for it")
    return problems


def check_request_collection(tpl: Template, path: Path = ROOT / "requests.http") -> list[str]:
    """requests.http (the request collection) has a request for every HTTP route."""
    if not path.exists():
        return [f"{path.name} is missing (a request for every route of template.yaml)"]
    requests = []
    for line in path.read_text(encoding="utf-8").splitlines():
        match = re.match(r"^([A-Z]+) \{\{host\}\}(\S*)", line)
        if match:
            target = match.group(2).split("?", 1)[0]
            requests.append((match.group(1), target.rstrip("/") or "/"))
    problems = []
    for route, method, _binary, origin in http_routes(tpl):
        pattern = re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(route.rstrip("/") or "/"))
        methods = HTTP_METHODS if method == "ANY" else (method,)
        if not any(m in methods and re.fullmatch(pattern, target) for m, target in requests):
            problems.append(f"{path.name} has no request for {method} {route} ({origin})")
    return problems


def check_sqs_sources(tpl: Template) -> list[str]:
    """The design's rules for queue-fed workers (see the template's header)."""
    problems = []
    globals_fn = (tpl.doc.get("Globals") or {}).get("Function") or {}
    for logical in tpl.functions():
        timeout = int(tpl.resolve(tpl.props(logical).get("Timeout", globals_fn.get("Timeout", 3))))
        for event_name, etype, props in tpl.events(logical):
            if etype != "SQS":
                continue
            origin = f"{logical}.Events.{event_name}"
            if "ReportBatchItemFailures" not in (tpl.resolve(props.get("FunctionResponseTypes")) or []):
                problems.append(f"{origin}: needs FunctionResponseTypes: [ReportBatchItemFailures]")
            queue = props.get("Queue")
            target = None
            if isinstance(queue, dict) and "Fn::GetAtt" in queue:
                att = queue["Fn::GetAtt"]
                target = att.split(".", 1)[0] if isinstance(att, str) else att[0]
            if target not in tpl.resources or tpl.rtype(target) != "AWS::SQS::Queue":
                problems.append(f"{origin}: Queue should be !GetAtt <queue in this template>.Arn")
                continue
            qprops = tpl.resolve(tpl.props(target))
            if "RedrivePolicy" not in qprops:
                problems.append(f"{target}: feeds {logical} but has no RedrivePolicy (dead-letter queue)")
            visibility = int(qprops.get("VisibilityTimeout", 30))
            if visibility < 6 * timeout:
                problems.append(
                    f"{target}: VisibilityTimeout {visibility}s is below 6 x {logical}'s Timeout ({timeout}s)"
                )
    return problems


def check_schedules(tpl: Template) -> list[str]:
    """A scheduled function finishes before its next run, and its schedule runs locally."""
    problems = []
    globals_fn = (tpl.doc.get("Globals") or {}).get("Function") or {}
    for source in schedule_sources(tpl):
        origin = f"{source['function']}.Events.{source['event']}"
        if source["seconds"] is None:
            problems.append(f"{origin}: {source['expression']!r}: only rate(...) schedules run in the local stack")
            continue
        props = tpl.props(source["function"])
        timeout = int(tpl.resolve(props.get("Timeout", globals_fn.get("Timeout", 3))))
        if timeout >= source["seconds"]:
            problems.append(
                f"{source['function']}: Timeout {timeout}s is not below its schedule "
                f"({source['expression']}): runs would overlap"
            )
    return problems


def cmd_router(args: argparse.Namespace) -> int:
    tpl = Template(Path(args.template), args.stack)
    if args.check:
        problems = check_router(tpl)
        for p in problems:
            print(f"router check: {p}", file=sys.stderr)
        if problems:
            return 1
        routes = router_table(tpl)
        log(f"router check: {len(routes)} local routes from template.yaml, workspace and template agree")
        return 0
    text = render_router(tpl)
    if args.stdout:
        sys.stdout.write(text)
        return 0
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    if not out.exists() or out.read_text(encoding="utf-8") != text:
        out.write_text(text, encoding="utf-8")
    print(out)
    return 0


# --------------------------------------------------------------------- poll


def sqs_sources(tpl: Template) -> list[dict]:
    sources = []
    for logical in tpl.functions():
        binary = tpl.binary(logical)
        for event_name, etype, props in tpl.events(logical):
            if etype != "SQS":
                continue
            if tpl.resolve(props.get("Enabled", True)) in (False, "false"):
                continue
            queue_arn = str(tpl.resolve(props["Queue"]))
            sources.append(
                {
                    "function": logical,
                    "event": event_name,
                    "binary": binary,
                    "queue_arn": queue_arn,
                    "queue_name": queue_arn.rsplit(":", 1)[-1],
                    "batch_size": int(tpl.resolve(props.get("BatchSize", 10))),
                    "report_failures": "ReportBatchItemFailures"
                    in (tpl.resolve(props.get("FunctionResponseTypes")) or []),
                }
            )
    return sources


def sqs_record(message: dict, source: dict) -> dict:
    attributes = {k: str(v) for k, v in (message.get("Attributes") or {}).items()}
    message_attributes = {}
    for name, attr in (message.get("MessageAttributes") or {}).items():
        entry: dict[str, Any] = {"stringListValues": [], "binaryListValues": [], "dataType": attr.get("DataType")}
        if "StringValue" in attr:
            entry["stringValue"] = attr["StringValue"]
        if "BinaryValue" in attr:
            raw = attr["BinaryValue"]
            entry["binaryValue"] = base64.b64encode(raw).decode() if isinstance(raw, bytes) else raw
        message_attributes[name] = entry
    record = {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message.get("Body", ""),
        "attributes": attributes,
        "messageAttributes": message_attributes,
        "md5OfBody": message.get("MD5OfBody"),
        "eventSource": "aws:sqs",
        "eventSourceARN": source["queue_arn"],
        "awsRegion": REGION,
    }
    if message.get("MD5OfMessageAttributes"):
        record["md5OfMessageAttributes"] = message["MD5OfMessageAttributes"]
    return record


def http_answers(url: str) -> bool:
    try:
        urllib.request.urlopen(url, timeout=2)
        return True
    except urllib.error.HTTPError:
        return True  # it answered
    except (urllib.error.URLError, OSError):
        return False


def port_open(url: str) -> bool:
    """TCP connect only: an HTTP probe of cargo lambda watch would log an error each time."""
    parsed = urllib.parse.urlparse(url)
    try:
        with socket.create_connection((parsed.hostname or "127.0.0.1", port_of(url)), timeout=2):
            return True
    except OSError:
        return False


def invoke_function(invoke: str, binary: str, event: dict, timeout: float) -> tuple[int, dict, bytes]:
    url = f"{invoke.rstrip('/')}/2015-03-31/functions/{urllib.parse.quote(binary)}/invocations"
    req = urllib.request.Request(
        url, data=json.dumps(event).encode(), method="POST", headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers or {}), exc.read()


def failed_ids(source: dict, records: list[dict], status: int, headers: dict, body: bytes) -> set[str]:
    """messageIds to leave on the queue, following Lambda's event source mapping rules."""
    all_ids = {r["messageId"] for r in records}
    lowered = {k.lower(): v for k, v in headers.items()}
    if status >= 300 or "x-amz-function-error" in lowered:
        return all_ids
    try:
        answer = json.loads(body or b"null")
    except ValueError:
        answer = None
    if isinstance(answer, dict) and "errorType" in answer and "errorMessage" in answer:
        return all_ids
    if not source["report_failures"]:
        return set()
    if answer is None or answer == {}:
        return set()
    failures = answer.get("batchItemFailures") if isinstance(answer, dict) else None
    if failures is None:
        return set()
    if not isinstance(failures, list):
        return all_ids
    ids = set()
    for item in failures:
        ident = item.get("itemIdentifier") if isinstance(item, dict) else None
        if not ident or ident not in all_ids:
            return all_ids  # an invalid answer fails the whole batch, as on AWS
        ids.add(ident)
    return ids


def poll_source(source: dict, args: argparse.Namespace, stop: threading.Event) -> None:
    # Lambda's event source mapping polls with the function's execution role.
    credentials = load_role_credentials(args.roles).get(source["binary"]) if args.roles else None
    sqs = aws_client("sqs", args.endpoint, credentials=credentials)
    label = f"{source['queue_name']} -> {source['binary']}"
    # The URL from the event's queue ARN, as the event source mapping has it: the worker's role
    # may read the queue's attributes but not look its URL up (no sqs:GetQueueUrl).
    queue_url = None
    candidate = f"http://127.0.0.1:{port_of(args.endpoint)}/{ACCOUNT}/{source['queue_name']}"
    while not stop.is_set() and queue_url is None:
        try:
            sqs.get_queue_attributes(QueueUrl=candidate, AttributeNames=["QueueArn"])
            queue_url = candidate
        except Exception as exc:
            log(f"poll {label}: queue not available yet ({_error_code(exc) or exc}); run `localstack.py create`")
            stop.wait(5)
    log(f"poll {label}: polling {queue_url} (batch {source['batch_size']})")
    ready = False
    while not stop.is_set():
        if not ready:
            # Receiving while the function cannot be invoked would burn receive
            # counts and push messages to the dead-letter queue.
            if not port_open(args.invoke):
                log(f"poll {label}: waiting for cargo lambda watch at {args.invoke}")
                while not stop.is_set() and not port_open(args.invoke):
                    stop.wait(2)
                continue
            ready = True
        try:
            resp = sqs.receive_message(
                QueueUrl=queue_url,
                MaxNumberOfMessages=max(1, min(source["batch_size"], 10)),
                WaitTimeSeconds=args.wait,
                AttributeNames=["All"],
                MessageAttributeNames=["All"],
            )
        except Exception as exc:
            log(f"poll {label}: receive failed: {exc}")
            stop.wait(2)
            continue
        messages = resp.get("Messages") or []
        if not messages:
            continue
        records = [sqs_record(m, source) for m in messages]
        started = time.monotonic()
        try:
            status, headers, body = invoke_function(args.invoke, source["binary"], {"Records": records}, args.timeout)
        except Exception as exc:
            log(f"poll {label}: invoke failed ({exc}); {len(records)} message(s) will reappear")
            ready = False
            continue
        failed = failed_ids(source, records, status, headers, body)
        done = [r for r in records if r["messageId"] not in failed]
        for i in range(0, len(done), 10):
            chunk = done[i : i + 10]
            sqs.delete_message_batch(
                QueueUrl=queue_url,
                Entries=[{"Id": str(n), "ReceiptHandle": r["receiptHandle"]} for n, r in enumerate(chunk)],
            )
        log(
            f"poll {label}: {len(records)} message(s) in {time.monotonic() - started:.2f}s, "
            f"{len(done)} deleted, {len(failed)} left to retry"
            + (f" (HTTP {status}: {body[:300]!r})" if failed and status >= 300 else "")
        )


# ------------------------------------------------------------- schedules
#
# EventBridge rules of the functions' `Schedule` events (the re-drive sweeper's
# `rate(1 minute)`): `poll` also invokes each such function with a real scheduled event, every
# `rate(...)`, or every --schedule-interval seconds (SWEEP_INTERVAL_SECONDS in `make dev`) so a
# developer does not wait a minute to see a stranded unit of work re-driven.

_RATE = re.compile(r"^rate\(\s*(\d+)\s+(minute|minutes|hour|hours|day|days)\s*\)$")
_RATE_UNITS = {"minute": 60, "hour": 3600, "day": 86400}


def rate_seconds(expression: str) -> int | None:
    """`rate(1 minute)` -> 60; None for `cron(...)` (not run locally)."""
    match = _RATE.match(expression.strip())
    if not match:
        return None
    return int(match.group(1)) * _RATE_UNITS[match.group(2).rstrip("s")]


def schedule_sources(tpl: Template) -> list[dict]:
    sources = []
    for logical in tpl.functions():
        for event_name, etype, props in tpl.events(logical):
            if etype != "Schedule":
                continue
            if tpl.resolve(props.get("Enabled", True)) in (False, "false"):
                continue
            if str(tpl.resolve(props.get("State", "ENABLED"))).upper() == "DISABLED":
                continue
            expression = str(tpl.resolve(props["Schedule"]))
            sources.append(
                {
                    "function": logical,
                    "event": event_name,
                    "binary": tpl.binary(logical),
                    "expression": expression,
                    "seconds": rate_seconds(expression),
                    # SAM names the rule <Function><Event>; CloudFormation prefixes the stack.
                    "rule_arn": f"arn:{PARTITION}:events:{REGION}:{ACCOUNT}:rule/{tpl.stack}-{logical}{event_name}",
                    "input": tpl.resolve(props.get("Input")),
                }
            )
    return sources


def scheduled_event(source: dict) -> dict:
    """What EventBridge sends a function for a scheduled rule (or the event's `Input`)."""
    if source.get("input") is not None:
        return json.loads(source["input"]) if isinstance(source["input"], str) else source["input"]
    import uuid

    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": ACCOUNT,
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "region": REGION,
        "resources": [source["rule_arn"]],
        "detail": {},
    }


def run_schedule(source: dict, args: argparse.Namespace, stop: threading.Event) -> None:
    interval = args.schedule_interval or source["seconds"]
    label = f"schedule {source['expression']} -> {source['binary']}"
    if not interval:
        log(f"{label}: only rate(...) expressions run locally; not scheduled")
        return
    log(f"{label}: every {interval}s (answers logged when they change)")
    last_answer = None
    while not stop.is_set():
        if not port_open(args.invoke):
            stop.wait(2)
            continue
        started = time.monotonic()
        try:
            status, headers, body = invoke_function(args.invoke, source["binary"], scheduled_event(source), args.timeout)
        except Exception as exc:
            log(f"{label}: invoke failed ({exc})")
        else:
            lowered = {k.lower() for k in headers}
            failed = status >= 300 or "x-amz-function-error" in lowered
            if failed or body != last_answer:
                log(
                    f"{label}: {'FAILED' if failed else 'ok'} in {time.monotonic() - started:.2f}s"
                    + (f" (HTTP {status}: {body[:300]!r})" if failed else f": {body[:200].decode(errors='replace')}")
                )
            last_answer = None if failed else body
        stop.wait(max(0.0, interval - (time.monotonic() - started)))


def cmd_poll(args: argparse.Namespace) -> int:
    tpl = Template(Path(args.template), args.stack, port_of(args.endpoint))
    sources = sqs_sources(tpl)
    schedules = schedule_sources(tpl)
    stop = threading.Event()

    def on_signal(signum, _frame):
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    if not sources and not schedules:
        log("poll: no function has an SQS or Schedule event in template.yaml; idling")
    threads = [
        threading.Thread(target=poll_source, args=(s, args, stop), name=s["queue_name"], daemon=True)
        for s in sources
    ] + [
        threading.Thread(target=run_schedule, args=(s, args, stop), name=s["binary"], daemon=True)
        for s in schedules
    ]
    for t in threads:
        t.start()
    while not stop.is_set():
        stop.wait(1)
    return 0


# -------------------------------------------------------------------- token


def jwt_secret_name(tpl: Template) -> str:
    for logical in tpl.of_type("AWS::SecretsManager::Secret"):
        name = tpl.physical_name(logical)
        if name.endswith("/jwt"):
            return name
    return f"{tpl.stack}/jwt"


def cmd_token(args: argparse.Namespace) -> int:
    import warnings

    import jwt

    # The fixed local secret is 30 bytes; PyJWT warns below 32. Deployed stacks use 64.
    warnings.filterwarnings("ignore", message=".*HMAC key.*")
    tpl = Template(Path(args.template), args.stack, port_of(args.endpoint))
    name = jwt_secret_name(tpl)
    try:
        secret = aws_client("secretsmanager", args.endpoint, quick=True).get_secret_value(SecretId=name)[
            "SecretString"
        ]
    except Exception as exc:
        log(f"token: cannot read {name} from {args.endpoint} ({type(exc).__name__}); using the fixed local secret")
        secret = LOCAL_JWT_SECRET
    if args.role not in ("admin", "service", "user"):
        log(f"token: warning: role {args.role!r} is not one of admin, service, user")
    now = int(time.time())
    claims = {"sub": args.user, "role": args.role, "iat": now, "exp": now + args.ttl}
    print(jwt.encode(claims, secret, algorithm="HS256"))
    return 0


# --------------------------------------------------------------------- wait


def cmd_wait(args: argparse.Namespace) -> int:
    deadline = time.monotonic() + args.timeout
    while time.monotonic() < deadline:
        if http_answers(args.endpoint):
            return 0
        time.sleep(0.2)
    print(f"{args.endpoint} did not answer within {args.timeout}s", file=sys.stderr)
    return 1


# ---------------------------------------------------------------------- cli


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--template", default=str(TEMPLATE), help="SAM template (default: template.yaml)")
    parser.add_argument("--stack", default=STACK, help=f"local stack name (default: {STACK})")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("create", help="create the template's tables, queues, buckets and secrets in moto")
    p.add_argument("--endpoint", default=DEFAULT_ENDPOINT)
    p.add_argument("--no-seed", action="store_true", help="do not seed provider secrets from the environment")
    p.add_argument(
        "--roles",
        default=str(LOCAL_DIR / "roles.json"),
        help="where to write each function's role credentials ('-': create no roles)",
    )
    p.add_argument(
        "--test-instances",
        action="store_true",
        help="let roles reach the tests' own copies of stack secrets (test-*/...), queues and tables (<name>-*)",
    )
    p.set_defaults(func=cmd_create)

    p = sub.add_parser("env", help="print (and write) the local function environment")
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help="moto server port")
    p.add_argument("--smtp-port", type=int, default=1025, help="SMTP sink port")
    p.add_argument("--ws-management-port", type=int, default=8001, help="local WebSocket gateway's management API port")
    p.add_argument(
        "--invoke-port",
        type=int,
        help="cargo lambda watch's port: the hub's public origin becomes http://127.0.0.1:PORT "
        f"({', '.join(PUBLIC_URL_SETTINGS)}), so callbacks signed for the local URL verify",
    )
    p.add_argument("--output", default=str(LOCAL_DIR / "hub.env"), help="file to write, '-' for none")
    p.add_argument("--role-credentials", help="role credentials file written by `create` (LOCAL_ROLE_CREDENTIALS)")
    p.set_defaults(func=cmd_env)

    p = sub.add_parser("functions", help="print the function binaries template.yaml declares, one a line")
    p.add_argument("--http", action="store_true", help="only those with HttpApi routes")
    p.set_defaults(func=cmd_functions)

    p = sub.add_parser("router", help="generate cargo-lambda's watch router from the HttpApi events")
    p.add_argument("--output", default=str(ROUTER_FILE))
    p.add_argument("--write", action="store_true", help="write the router file (the default)")
    p.add_argument("--stdout", action="store_true", help="print instead of writing")
    p.add_argument("--check", action="store_true", help="verify template, router and workspace agree")
    p.set_defaults(func=cmd_router)

    p = sub.add_parser("poll", help="feed SQS- and Schedule-triggered functions through cargo lambda watch")
    p.add_argument("--endpoint", default=DEFAULT_ENDPOINT)
    p.add_argument("--invoke", default=DEFAULT_INVOKE, help="cargo lambda watch address")
    p.add_argument("--wait", type=int, default=10, help="long-poll seconds")
    p.add_argument("--timeout", type=float, default=900, help="invoke timeout (first call compiles)")
    p.add_argument("--roles", help="role credentials from `create`: poll as each worker's role")
    p.add_argument(
        "--schedule-interval",
        type=float,
        default=float(os.environ.get("SWEEP_INTERVAL_SECONDS") or 0) or None,
        help="invoke Schedule-triggered functions every N seconds instead of their rate(...) "
        "(default: $SWEEP_INTERVAL_SECONDS, else the template's rate)",
    )
    p.set_defaults(func=cmd_poll)

    p = sub.add_parser("token", help="print a JWT the local stack accepts")
    p.add_argument("--user", required=True)
    p.add_argument("--role", required=True)
    p.add_argument("--ttl", type=int, default=3600)
    p.add_argument("--endpoint", default=DEFAULT_ENDPOINT)
    p.set_defaults(func=cmd_token)

    p = sub.add_parser("wait", help="wait until an HTTP endpoint answers")
    p.add_argument("--endpoint", default=DEFAULT_ENDPOINT)
    p.add_argument("--timeout", type=float, default=30)
    p.set_defaults(func=cmd_wait)

    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except StackError as exc:
        print(f"localstack: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
