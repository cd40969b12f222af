"""Run bags through the big-bag state machine end to end, offline.

    python3 tests/python/state_machine.py --bootstrap target/release/bootstrap \
        --config sample-bags/bagpipe.toml --asl infra/statemachine.asl.json \
        --out DIR [--item-bytes N] BAG...

Everything runs on 127.0.0.1, in this process or its children:

- a moto server (S3, DynamoDB, IAM, Lambda, Step Functions) with moto's ASL
  interpreter switched on, so that `infra/statemachine.asl.json` really
  runs: Plan, the Distributed Map over the plan's items.json, Finish, and
  the failure states;
- a Lambda Runtime API (the protocol of tests/harness/src/lambda.rs) and
  two real `bootstrap` processes polling it. moto's Lambda runs no code
  without Docker, so its `invoke` is replaced (in this process) by a shim
  that hands the payload to the Runtime API, waits for a bootstrap's
  answer and returns it, a function error as `x-amz-function-error`. Every
  Lambda invocation goes through it: the state machine's `lambda:invoke`
  tasks and this script's own invocations of the ingest function.

Steps:

1. create buckets `ingest` and `lake`, the tables (scenes: `bag_file` HASH,
   `scene_id` RANGE; bags: `bag_file` HASH), a role, the functions
   `bagpipe-ingest` and `bagpipe-task` (a dummy zip) and the state machine
   (`${TaskFunctionArn}` = bagpipe-task's ARN, `${MaxConcurrency}` = 2);
2. start the bootstraps with the moto endpoint, `BAGPIPE_OUT=s3://lake/lake`,
   the two tables, `BAGPIPE_CONFIG` = the text of --config,
   `BAGPIPE_STATE_MACHINE` = the state machine, `BAGPIPE_FANOUT_BYTES=1`
   (every bag is routed to the state machine), `BAGPIPE_ITEM_BYTES` =
   --item-bytes (default 1: one chunk per work item), `BAGPIPE_LOG=info`;
   their stderr (JSON logs) and stdout (metrics) go to DIR/logs/;
3. for each BAG, in order: upload it to `s3://ingest/drives/<file name>` and
   invoke `bagpipe-ingest` (RequestResponse) with the S3 notification of
   that upload, twice: a redelivered event must not start a second
   execution;
4. wait until every execution of the state machine has ended (240 s);
5. download `s3://lake/lake/...` into DIR/lake/ (keys without `lake/`) and
   write the tables as DIR/lake/dynamodb/bags.jsonl and scenes.jsonl, one
   `{"Item": <DynamoDB JSON>}` per line in key order, the format of the
   local stores, so that a test compares DIR/lake with a local
   `bagpipe run --out` directory;
6. print one JSON object on stdout:

       {"executions": [{"name", "status", "error", "cause"}, ...],   # by name
        "invocations": {"plan": n, "work": n, "finish": n, "fail": n,
                        "upload": n},     # every invocation, retries included
        "map_runs": [{"execution", "status", "itemCounts",
                      "executionCounts"}, ...]}

Exit status: 0 when the harness ran, whatever the executions' outcome (the
caller judges the results; executions still running after the wait are
listed as RUNNING, with a warning on stderr); 2 for bad arguments; 1, with
the reason on stderr, when the harness itself broke: a bootstrap exited, an
invocation got no answer within 300 s, moto or a download failed. The
bootstraps and the servers are stopped on every exit.

moto 5.2.5 (tests/requirements.txt) is required; the shim replaces
`moto.awslambda_simple.models.LambdaSimpleBackend.invoke`, an internal of
that version.
"""
import argparse
import collections
import io
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
import traceback
import urllib.parse
import urllib.request
import uuid
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

# Reuse the project's moto patch (and its "moto is not installed" message).
sys.path.insert(0, str(Path(__file__).resolve().parent))
from moto_server import rewrite_request_ids_in_xml_only  # noqa: E402

import boto3  # noqa: E402
from botocore.config import Config  # noqa: E402
from moto.awslambda_simple.models import LambdaSimpleBackend  # noqa: E402
from moto.server import ThreadedMotoServer  # noqa: E402

REGION = "us-east-1"
INVOKE_TIMEOUT_S = 300  # one Lambda invocation, queueing included
EXECUTIONS_TIMEOUT_S = 240  # all executions, after the last upload
BOOTSTRAPS = 2
MAX_CONCURRENCY = 2
RUNTIME_PREFIX = "/2018-06-01/runtime/"
STEPS = ("plan", "work", "finish", "fail")


class HarnessError(Exception):
    """The harness broke (not a result of bagpipe's to judge)."""


# --- Errors noticed on other threads -----------------------------------

_broken_lock = threading.Lock()
_broken: list[str] = []


def broken(message: str) -> None:
    """Records that the harness broke; the main thread stops at its next check."""
    with _broken_lock:
        if message in _broken:
            return
        _broken.append(message)
    print(f"state_machine.py: {message}", file=sys.stderr, flush=True)


def check_not_broken() -> None:
    with _broken_lock:
        if _broken:
            raise HarnessError(_broken[0])


# --- A Lambda Runtime API (as tests/harness/src/lambda.rs) --------------


class Call:
    """One invocation: the payload, then its outcome once a bootstrap posts it."""

    def __init__(self, payload: bytes, function_arn: str):
        self.request_id = str(uuid.uuid4())
        self.payload = payload
        self.function_arn = function_arn
        self.outcome = None  # ("response" | "error", body bytes)


class RuntimeApi:
    """The Runtime API the bootstraps poll, and `invoke` for the moto shim.

    `GET .../invocation/next` waits for the next queued call (a long poll,
    as AWS does); `POST .../invocation/{id}/response` and `.../error` set its
    outcome; `POST .../init/error` means a bootstrap could not start, which
    breaks the harness. Each connection has its own thread, so a waiting
    `next` holds up nothing else.
    """

    def __init__(self):
        self.cond = threading.Condition()
        # Set once the bootstraps run: returns why they cannot answer, if so.
        self.dead = lambda: None
        self.queue = collections.deque()  # calls not yet handed out
        self.calls = {}  # request id -> Call
        self.stopping = False
        api = self

        class Handler(BaseHTTPRequestHandler):
            # HTTP/1.1: the runtime client keeps its connection alive.
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # no access log on stderr
                pass

            def do_GET(self):
                if self.path != RUNTIME_PREFIX + "invocation/next":
                    return self.reply(404, {"errorType": "NotFound", "errorMessage": self.path})
                call = api.next_call()
                if call is None:  # stopping: close, as the Rust harness does
                    self.close_connection = True
                    return
                now = time.time()
                headers = {
                    "Lambda-Runtime-Aws-Request-Id": call.request_id,
                    "Lambda-Runtime-Deadline-Ms": str(int((now + 900) * 1000)),
                    "Lambda-Runtime-Invoked-Function-Arn": call.function_arn,
                    "Lambda-Runtime-Trace-Id": "Root=1-%08x-%s;Parent=%s;Sampled=0"
                    % (int(now), uuid.uuid4().hex[:24], uuid.uuid4().hex[:16]),
                }
                self.send(200, call.payload, headers)

            def do_POST(self):
                body = self.read_body()
                path = self.path[len(RUNTIME_PREFIX):] if self.path.startswith(RUNTIME_PREFIX) else ""
                if path == "init/error":
                    broken("a bootstrap failed to initialise: " + body.decode("utf-8", "replace"))
                    return self.reply(202, {"status": "OK"})
                parts = path.split("/")
                if len(parts) == 3 and parts[0] == "invocation" and parts[2] in ("response", "error"):
                    status, answer = api.complete(parts[1], parts[2], body)
                    return self.reply(status, answer)
                return self.reply(404, {"errorType": "NotFound", "errorMessage": self.path})

            def read_body(self) -> bytes:
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    data = b""
                    while True:
                        size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                        if size == 0:
                            while self.rfile.readline().strip():  # trailers
                                pass
                            return data
                        data += self.rfile.read(size)
                        self.rfile.readline()  # CRLF after the chunk
                return self.rfile.read(int(self.headers.get("Content-Length") or 0))

            def reply(self, status: int, value) -> None:
                self.send(status, json.dumps(value).encode())

            def send(self, status: int, body: bytes, headers=None) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.addr = "127.0.0.1:%d" % self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def next_call(self):
        with self.cond:
            while not self.queue and not self.stopping:
                self.cond.wait()
            return None if self.stopping else self.queue.popleft()

    def complete(self, request_id: str, kind: str, body: bytes):
        with self.cond:
            call = self.calls.get(request_id)
            if call is None:
                return 400, {"errorType": "InvalidRequestID", "errorMessage": request_id}
            if call.outcome is not None:
                return 400, {"errorType": "InvalidStateTransition", "errorMessage": request_id}
            call.outcome = (kind, body)
            self.cond.notify_all()
        return 202, {"status": "OK"}

    def invoke(self, payload: bytes, function_arn: str):
        """Queues one invocation and waits for its outcome (or breaks the harness)."""
        call = Call(payload, function_arn)
        deadline = time.monotonic() + INVOKE_TIMEOUT_S
        with self.cond:
            self.calls[call.request_id] = call
            self.queue.append(call)
            self.cond.notify_all()
            while call.outcome is None and not self.stopping:
                left = deadline - time.monotonic()
                dead = self.dead()
                if dead:
                    broken(dead)
                    break
                if left <= 0:
                    broken(
                        f"no answer from the bootstraps within {INVOKE_TIMEOUT_S} s "
                        f"for request {call.request_id}: {payload[:300]!r}"
                    )
                    break
                self.cond.wait(min(left, 1.0))
            return call.outcome

    def stop(self):
        with self.cond:
            self.stopping = True
            self.cond.notify_all()
        self.server.shutdown()
        self.server.server_close()


# --- The moto Lambda shim --------------------------------------------------

counts_lock = threading.Lock()
invocations = {step: 0 for step in STEPS}
invocations["upload"] = 0


def count(payload: bytes) -> None:
    """Counts an invocation by kind: a step of the state machine, or an upload event."""
    try:
        event = json.loads(payload)
    except ValueError:
        event = None
    if isinstance(event, dict) and "step" in event:
        kind = str(event["step"])
    elif isinstance(event, dict) and "Records" in event:
        kind = "upload"
    else:
        kind = "other"
    with counts_lock:
        invocations[kind] = invocations.get(kind, 0) + 1


def install_lambda_shim(api: RuntimeApi) -> None:
    """Makes moto's no-Docker Lambda hand every invocation to `api`.

    moto (use_docker false) answers an invoke with its own request body and
    runs nothing; the ASL interpreter's `lambda:invoke` tasks come through
    the same `invoke` (over HTTP to this server), so replacing it here runs
    both them and our direct invocations on the real bootstraps. A function
    error is signalled as Lambda does: the `x-amz-function-error` header and
    the `{"errorType", "errorMessage"}` body, from which the interpreter
    takes the error name its Retry and Catch match (`bagpipe.Retryable`).
    """

    def invoke(self, function_name, qualifier, body, headers, response_headers):
        function = self.get_function(function_name, qualifier)  # unknown -> moto's 404
        payload = body.encode() if isinstance(body, str) else bytes(body or b"{}")
        count(payload)
        outcome = api.invoke(payload, function.function_arn)
        if outcome is None:  # timed out or stopping: the harness is broken already
            response_headers["x-amz-function-error"] = "Unhandled"
            return json.dumps(
                {"errorType": "harness.NoAnswer", "errorMessage": "no answer from the bootstraps"}
            ).encode()
        kind, answer = outcome
        if kind == "error":
            response_headers["x-amz-function-error"] = "Unhandled"
        return answer

    LambdaSimpleBackend.invoke = invoke


# --- Bootstraps ----------------------------------------------------------


def aws_env(endpoint: str) -> dict:
    """What tests/harness/src/moto.rs `aws_env` sets for a subprocess."""
    return {
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_ALLOW_HTTP": "true",
    }


def die_with_parent() -> None:
    """In the child: SIGKILL it when this script dies, even by SIGKILL (Linux)."""
    try:
        import ctypes

        PR_SET_PDEATHSIG = 1
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except OSError:  # not Linux: the finally of main() still stops it
        pass


def start_bootstraps(path, api, env, logs: Path):
    procs = []
    for n in range(BOOTSTRAPS):
        out = open(logs / f"bootstrap-{n}.stdout", "wb")
        err = open(logs / f"bootstrap-{n}.stderr", "wb")
        full_env = dict(os.environ)
        full_env.update(env)
        full_env.update(
            {
                # The Lambda runtime environment (lambda/tests/runtime.rs fn lambda).
                "AWS_LAMBDA_RUNTIME_API": api.addr,
                "AWS_LAMBDA_FUNCTION_NAME": "bagpipe",
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "2048",
                "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
                "AWS_LAMBDA_LOG_STREAM_NAME": f"bootstrap-{n}",
                "AWS_LAMBDA_LOG_GROUP_NAME": "/aws/lambda/bagpipe",
            }
        )
        proc = subprocess.Popen(
            [str(path)],
            env=full_env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
            preexec_fn=die_with_parent,
        )
        out.close()
        err.close()
        procs.append(proc)
    return procs


def dead_bootstrap(procs, logs: Path):
    """Why the bootstraps cannot answer (one of them exited), or None."""
    for n, proc in enumerate(procs):
        code = proc.poll()
        if code is not None:
            return f"bootstrap {n} exited with status {code}; see {logs}/bootstrap-{n}.stderr"
    return None


def check_bootstraps(procs, logs: Path) -> None:
    """A bootstrap never exits by itself: if one did, the harness is broken."""
    dead = dead_bootstrap(procs, logs)
    if dead:
        broken(dead)
    check_not_broken()


def stop_processes(procs) -> None:
    for proc in procs:
        if proc.poll() is None:
            proc.terminate()
    for proc in procs:
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# --- Setup, run, collect --------------------------------------------------


def start_moto():
    """A moto server on 127.0.0.1 (any free port) with the ASL interpreter on."""
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    rewrite_request_ids_in_xml_only()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    port = server.get_host_and_port()[1]
    # The ASL interpreter's own boto clients (lambda:invoke, the ItemReader's
    # s3:getObject) call http://localhost:$MOTO_PORT (default 5000).
    os.environ["MOTO_PORT"] = str(port)
    for name in ("NO_PROXY", "no_proxy"):
        os.environ[name] = ",".join(filter(None, [os.environ.get(name), "127.0.0.1", "localhost"]))
    endpoint = f"http://127.0.0.1:{port}"
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    request = urllib.request.Request(
        endpoint + "/moto-api/config",
        data=json.dumps(
            {"stepfunctions": {"execute_state_machine": True}, "lambda": {"use_docker": False}}
        ).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with opener.open(request, timeout=30) as answer:
        answer.read()
    # moto's answer echoes only `batch` and `lambda`: check the setting
    # itself (the server runs in this process).
    from moto.core.config import default_user_config

    if not default_user_config.get("stepfunctions", {}).get("execute_state_machine") or default_user_config.get(
        "lambda", {}
    ).get("use_docker", True):
        raise HarnessError(f"moto did not take the configuration: {default_user_config}")
    return server, endpoint


def client(service: str, endpoint: str, read_timeout: int = 60):
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=Config(
            read_timeout=read_timeout,
            retries={"total_max_attempts": 1},  # a resent invoke would be counted twice
            s3={"addressing_style": "path"},
        ),
    )


def create_resources(endpoint: str, asl_path: Path):
    """Buckets, tables, role, functions and the state machine; returns their names."""
    s3 = client("s3", endpoint)
    for bucket in ("ingest", "lake"):
        s3.create_bucket(Bucket=bucket)
    ddb = client("dynamodb", endpoint)
    tables = {"scenes": "bagpipe-scenes", "bags": "bagpipe-bags"}
    ddb.create_table(
        TableName=tables["scenes"],
        KeySchema=[
            {"AttributeName": "bag_file", "KeyType": "HASH"},
            {"AttributeName": "scene_id", "KeyType": "RANGE"},
        ],
        AttributeDefinitions=[
            {"AttributeName": "bag_file", "AttributeType": "S"},
            {"AttributeName": "scene_id", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    ddb.create_table(
        TableName=tables["bags"],
        KeySchema=[{"AttributeName": "bag_file", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "bag_file", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": ["lambda.amazonaws.com", "states.amazonaws.com"]},
                "Action": "sts:AssumeRole",
            }
        ],
    }
    role = client("iam", endpoint).create_role(
        RoleName="bagpipe", AssumeRolePolicyDocument=json.dumps(trust)
    )["Role"]["Arn"]
    # The functions' code is never run (the shim runs the bootstraps): a dummy zip.
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as z:
        z.writestr("bootstrap", "#!/bin/sh\n")
    lam = client("lambda", endpoint)
    arns = {}
    for name in ("bagpipe-ingest", "bagpipe-task"):
        arns[name] = lam.create_function(
            FunctionName=name,
            Runtime="provided.al2023",
            Role=role,
            Handler="bootstrap",
            Code={"ZipFile": code.getvalue()},
            Timeout=900,
            MemorySize=2048,
        )["FunctionArn"]
    definition = (
        asl_path.read_text()
        .replace("${TaskFunctionArn}", arns["bagpipe-task"])
        .replace("${MaxConcurrency}", str(MAX_CONCURRENCY))
    )
    if "${" in definition:
        raise HarnessError(f"{asl_path} has a substitution this script does not fill")
    state_machine = client("stepfunctions", endpoint).create_state_machine(
        name="bagpipe-bigbag", definition=definition, roleArn=role
    )["stateMachineArn"]
    return tables, state_machine


def s3_notification(bucket: str, key: str, size: int, etag: str) -> dict:
    """An S3 ObjectCreated:Put notification (lambda/src/samples.rs s3_record)."""
    return {
        "Records": [
            {
                "eventVersion": "2.1",
                "eventSource": "aws:s3",
                "awsRegion": REGION,
                "eventTime": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()),
                "eventName": "ObjectCreated:Put",
                "userIdentity": {"principalId": "EXAMPLE"},
                "requestParameters": {"sourceIPAddress": "127.0.0.1"},
                "responseElements": {"x-amz-request-id": "EXAMPLE123456789", "x-amz-id-2": "EXAMPLE"},
                "s3": {
                    "s3SchemaVersion": "1.0",
                    "configurationId": "bagpipe-uploads",
                    "bucket": {
                        "name": bucket,
                        "ownerIdentity": {"principalId": "EXAMPLE"},
                        "arn": f"arn:aws:s3:::{bucket}",
                    },
                    # S3 form-encodes the key (a space is `+`).
                    "object": {
                        "key": urllib.parse.quote_plus(key, safe="/"),
                        "size": size,
                        "eTag": etag,
                        "sequencer": "0A1B2C3D4E5F678901",
                    },
                },
            }
        ]
    }


def upload_and_route(endpoint: str, bag: Path, procs, logs: Path) -> None:
    """Uploads one bag and delivers its S3 notification to the ingest function twice."""
    s3 = client("s3", endpoint)
    key = f"drives/{bag.name}"
    with open(bag, "rb") as f:
        etag = s3.put_object(Bucket="ingest", Key=key, Body=f)["ETag"].strip('"')
    event = json.dumps(s3_notification("ingest", key, bag.stat().st_size, etag))
    lam = client("lambda", endpoint, read_timeout=INVOKE_TIMEOUT_S + 30)
    for delivery in (1, 2):
        answer = lam.invoke(FunctionName="bagpipe-ingest", InvocationType="RequestResponse", Payload=event)
        payload = answer["Payload"].read().decode("utf-8", "replace")
        check_bootstraps(procs, logs)
        # The function's answer is bagpipe's to judge; show it for the record.
        error = answer.get("FunctionError")
        print(
            f"state_machine.py: {key} delivery {delivery}: "
            f"{'function error ' + error + ': ' if error else ''}{payload}",
            file=sys.stderr,
            flush=True,
        )


def wait_for_executions(sfn, state_machine: str, procs, logs: Path) -> list:
    """Polls until no execution is RUNNING (or the timeout); returns their descriptions."""
    deadline = time.monotonic() + EXECUTIONS_TIMEOUT_S
    while True:
        check_bootstraps(procs, logs)
        arns = []
        for page in sfn.get_paginator("list_executions").paginate(stateMachineArn=state_machine):
            arns += [e["executionArn"] for e in page["executions"]]
        described = [sfn.describe_execution(executionArn=arn) for arn in arns]
        running = [d["name"] for d in described if d["status"] == "RUNNING"]
        if not running:
            return described
        if time.monotonic() > deadline:
            print(
                f"state_machine.py: warning: still running after {EXECUTIONS_TIMEOUT_S} s: {running}",
                file=sys.stderr,
                flush=True,
            )
            return described
        time.sleep(0.5)


def map_runs(sfn, executions: list) -> list:
    """Each execution's Map Runs with their counts, where moto has them."""
    runs = []
    for d in executions:
        try:
            listed = sfn.list_map_runs(executionArn=d["executionArn"])["mapRuns"]
        except Exception as err:  # noqa: BLE001 (not supported: skip)
            print(f"state_machine.py: list_map_runs: {err}", file=sys.stderr)
            return []
        for item in listed:
            run = sfn.describe_map_run(mapRunArn=item["mapRunArn"])
            runs.append(
                {
                    "execution": d["name"],
                    "status": run.get("status"),
                    "itemCounts": run.get("itemCounts"),
                    "executionCounts": run.get("executionCounts"),
                }
            )
    return runs


def download_lake(endpoint: str, dest: Path) -> None:
    """s3://lake/lake/<rel> -> DEST/<rel>."""
    s3 = client("s3", endpoint)
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket="lake", Prefix="lake/"):
        for obj in page.get("Contents", []):
            rel = obj["Key"][len("lake/"):]
            if not rel or rel.endswith("/"):
                continue
            path = dest / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            s3.download_file("lake", obj["Key"], str(path))


def dump_table(endpoint: str, table: str, keys: list, path: Path) -> None:
    """All items of `table` (every Scan page), as the local store writes them."""
    ddb = client("dynamodb", endpoint)
    items = []
    for page in ddb.get_paginator("scan").paginate(TableName=table):
        items += page["Items"]
    items.sort(key=lambda item: [next(iter(item[k].values())) for k in keys])
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as f:
        for item in items:
            f.write(json.dumps({"Item": item}, separators=(",", ":")) + "\n")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bootstrap", required=True, type=Path)
    parser.add_argument("--config", required=True, type=Path)
    parser.add_argument("--asl", required=True, type=Path)
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--item-bytes", type=int, default=1)
    parser.add_argument("bags", nargs="+", type=Path, metavar="BAG")
    args = parser.parse_args()
    for path in [args.bootstrap, args.config, args.asl, *args.bags]:
        if not path.is_file():
            parser.error(f"{path}: no such file")
    logs = args.out / "logs"
    logs.mkdir(parents=True, exist_ok=True)

    server = api = None
    procs = []
    try:
        server, endpoint = start_moto()
        api = RuntimeApi()
        install_lambda_shim(api)
        tables, state_machine = create_resources(endpoint, args.asl)
        env = aws_env(endpoint)
        env.update(
            {
                "BAGPIPE_OUT": "s3://lake/lake",
                "BAGPIPE_SCENES_TABLE": tables["scenes"],
                "BAGPIPE_BAGS_TABLE": tables["bags"],
                "BAGPIPE_CONFIG": args.config.read_text(),
                "BAGPIPE_STATE_MACHINE": state_machine,
                "BAGPIPE_FANOUT_BYTES": "1",
                "BAGPIPE_ITEM_BYTES": str(args.item_bytes),
                "BAGPIPE_LOG": "info",
            }
        )
        procs = start_bootstraps(args.bootstrap, api, env, logs)
        api.dead = lambda: dead_bootstrap(procs, logs)

        for bag in args.bags:
            upload_and_route(endpoint, bag, procs, logs)
        sfn = client("stepfunctions", endpoint)
        executions = wait_for_executions(sfn, state_machine, procs, logs)

        download_lake(endpoint, args.out / "lake")
        dump_table(endpoint, tables["bags"], ["bag_file"], args.out / "lake/dynamodb/bags.jsonl")
        dump_table(
            endpoint, tables["scenes"], ["bag_file", "scene_id"], args.out / "lake/dynamodb/scenes.jsonl"
        )
        check_not_broken()
        with counts_lock:
            counted = dict(invocations)
        result = {
            "executions": sorted(
                (
                    {
                        "name": d["name"],
                        "status": d["status"],
                        "error": d.get("error"),
                        "cause": d.get("cause"),
                    }
                    for d in executions
                ),
                key=lambda e: e["name"],
            ),
            "invocations": counted,
            "map_runs": map_runs(sfn, executions),
        }
        print(json.dumps(result, indent=2, default=str), flush=True)
        return 0
    except HarnessError as err:
        print(f"state_machine.py: the harness broke: {err}", file=sys.stderr)
        return 1
    except Exception:  # noqa: BLE001 (anything else is the harness breaking too)
        print("state_machine.py: the harness broke:", file=sys.stderr)
        traceback.print_exc()
        return 1
    finally:
        stop_processes(procs)
        if api is not None:
            api.stop()
        if server is not None:
            server.stop()


def on_sigterm(signum, frame):
    # SIGTERM (a test's timeout) unwinds main() so its finally stops the
    # children, as Ctrl-C does.
    raise KeyboardInterrupt(f"signal {signum}")


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, on_sigterm)
    try:
        code = main()
    except KeyboardInterrupt as err:
        print(f"state_machine.py: interrupted ({err})", file=sys.stderr)
        code = 130
    sys.stdout.flush()
    sys.stderr.flush()
    # The ASL interpreter's threads are daemons, but a werkzeug request
    # thread can still be waiting in moto: exit without joining them.
    os._exit(code)
