#!/usr/bin/env python3
"""Cold start of a function binary under a Lambda Runtime API harness.

Serves the Runtime API on loopback (/2018-06-01/runtime/invocation/next and .../response),
starts the function binary as Lambda would (AWS_LAMBDA_RUNTIME_API and friends, plus the local
stack's environment), hands it one API Gateway v2 event, and measures:

  init+first answer: exec of the process -> its response to the first invocation arrives
  warm answers:      next-invocation handed out -> response arrives, over N more invocations
  peak RSS:          the child's maximum resident set size (getrusage)

With --peer-command, a second function (any command that speaks the Runtime API, e.g. the
Python peer benches/python_peer/bootstrap.py) is measured in the same run, its runs interleaved
with the binary's so both see the same load, and the ratios are printed.

Usage (the local stack must be up, e.g. `make dev` or the moto server from `make test`):
  python3 benches/coldstart.py --binary target/release/health --path /health [--warm 50] [--runs 5]
  python3 benches/coldstart.py --binary target/release/health --path /health \
      --peer-command ".local/bench-venv/bin/python benches/python_peer/bootstrap.py" --peer-name "python peer"
"""
import argparse
import json
import os
import shlex
import tempfile
import statistics
import subprocess
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def api_gateway_v2_event(path, n):
    # A different client address per invocation (a documentation range, only a string in the
    # event) so /health's per-IP flood limit does not throttle the benchmark itself.
    source_ip = f"198.51.100.{n % 250 + 1}"
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": "",
        "headers": {"host": "localhost", "user-agent": "coldstart-bench"},
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "local",
            "domainName": "localhost",
            "domainPrefix": "localhost",
            "http": {"method": "GET", "path": path, "protocol": "HTTP/1.1", "sourceIp": source_ip, "userAgent": "bench"},
            "requestId": str(uuid.uuid4()),
            "routeKey": "$default",
            "stage": "$default",
            "time": "22/Nov/2026:00:00:00 +0000",
            "timeEpoch": int(time.time() * 1000),
        },
        "isBase64Encoded": False,
    }


class Harness:
    def __init__(self, path, invocations):
        self.path = path
        self.remaining = invocations
        self.lock = threading.Lock()
        self.handed_out = {}
        self.latencies = []
        self.statuses = []
        self.done = threading.Event()
        self.first_answer_at = None
        # The first `GET next`: the end of init (Lambda's Init Duration).
        self.first_next_at = None


def make_handler(h):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body go out in two writes; without TCP_NODELAY, Nagle plus the client's
        # delayed ACK adds ~40 ms to every invocation and the harness would measure itself.
        disable_nagle_algorithm = True

        def log_message(self, *a):
            pass

        def do_GET(self):
            if not self.path.endswith("/runtime/invocation/next"):
                self.send_error(404)
                return
            with h.lock:
                if h.first_next_at is None:
                    h.first_next_at = time.perf_counter()
                if h.remaining == 0:
                    wait = True
                else:
                    h.remaining -= 1
                    wait = False
            if wait:  # no more work: block like Lambda would until we are torn down
                h.done.wait()
                self.send_error(410)
                return
            rid = str(uuid.uuid4())
            body = json.dumps(api_gateway_v2_event(h.path, len(h.handed_out))).encode()
            h.handed_out[rid] = time.perf_counter()
            self.send_response(200)
            self.send_header("Lambda-Runtime-Aws-Request-Id", rid)
            self.send_header("Lambda-Runtime-Deadline-Ms", str(int(time.time() * 1000) + 30000))
            self.send_header("Lambda-Runtime-Invoked-Function-Arn", "arn:aws:lambda:us-east-1:123456789012:function:bench")
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self):
            n = int(self.headers.get("Content-Length", 0))
            payload = self.rfile.read(n)
            now = time.perf_counter()
            parts = self.path.split("/")
            if "invocation" in parts and parts[-1] == "response":
                rid = parts[-2]
                try:
                    h.statuses.append(json.loads(payload).get("statusCode"))
                except Exception:
                    h.statuses.append(None)
                with h.lock:
                    if h.first_answer_at is None:
                        h.first_answer_at = now
                    else:
                        h.latencies.append(now - h.handed_out[rid])
                    if h.remaining == 0 and len(h.statuses) == len(h.handed_out):
                        h.done.set()
            elif parts[-1] == "error":
                sys.stderr.write(f"function reported an error: {payload[:500]!r}\n")
                h.done.set()
            self.send_response(202)
            self.send_header("Content-Length", "0")
            self.end_headers()

    return Handler


def run_once(args, command):
    """One cold start of `command` and `args.warm` warm calls: (init+first ms, warm ms list,
    statuses, peak RSS MiB of this child alone)."""
    h = Harness(args.path, 1 + args.warm)
    server = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(h))
    server.handle_error = lambda *a: None  # the function's connection drops when it is stopped
    threading.Thread(target=server.serve_forever, daemon=True).start()
    env = dict(os.environ)
    env.update({
        "AWS_LAMBDA_RUNTIME_API": f"127.0.0.1:{server.server_address[1]}",
        "AWS_LAMBDA_FUNCTION_NAME": "bench",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_LOG_STREAM_NAME": "bench",
        "AWS_LAMBDA_LOG_GROUP_NAME": "bench",
        "RUST_LOG": "warn",
        "PYTHONDONTWRITEBYTECODE": "1",
    })
    err = tempfile.TemporaryFile()
    started = time.perf_counter()
    proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=err)
    ok = h.done.wait(timeout=120)
    proc.terminate()
    # wait4: this child's own peak RSS (RUSAGE_CHILDREN would mix in the other function's).
    try:
        _, _, usage = os.wait4(proc.pid, 0)
        rss_mib = usage.ru_maxrss / 1024
    except ChildProcessError:
        rss_mib = float("nan")
    proc.returncode = 0
    server.shutdown()
    if not ok or h.first_answer_at is None:
        err.seek(0)
        sys.exit(f"no answer from {command}: {err.read().decode(errors='replace')[-2000:]}")
    init_ms = (h.first_next_at - started) * 1000
    return (h.first_answer_at - started) * 1000, [x * 1000 for x in h.latencies], h.statuses, rss_mib, init_ms


class Figures:
    def __init__(self, name):
        self.name = name
        self.colds, self.warms, self.statuses, self.rss, self.inits = [], [], [], 0.0, []

    def add(self, run):
        cold, warm, st, rss, init = run
        self.inits.append(init)
        self.colds.append(cold)
        self.warms.extend(warm)
        self.statuses.extend(st)
        self.rss = max(self.rss, rss)

    def pct(self, q):
        w = sorted(self.warms)
        return w[min(len(w) - 1, int(q * len(w)))] if w else float("nan")

    def report(self, args):
        print(f"{self.name}  path: {args.path}  runs: {args.runs}  warm calls/run: {args.warm}")
        print(f"  statuses: {sorted(set(self.statuses), key=str)}")
        print(f"  exec -> first answer (init + first call): median {statistics.median(self.colds):.1f} ms, "
              f"min {min(self.colds):.1f}, max {max(self.colds):.1f}")
        print(f"    of which init (exec -> first `next`): median {statistics.median(self.inits):.1f} ms, "
              f"first call {statistics.median(self.colds) - statistics.median(self.inits):.1f} ms")
        print(f"  warm answer: p50 {self.pct(0.5):.2f} ms, p99 {self.pct(0.99):.2f} ms")
        print(f"  peak RSS: {self.rss:.1f} MiB")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--binary", required=True)
    ap.add_argument("--path", default="/health")
    ap.add_argument("--warm", type=int, default=50)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--peer-command", help="a second function to measure side by side (a command line)")
    ap.add_argument("--peer-name", default="peer")
    ap.add_argument("--summary", help="append the side-by-side lines to this file")
    args = ap.parse_args()
    hub = Figures(f"hub ({args.binary})")
    peer = Figures(args.peer_name) if args.peer_command else None
    for _ in range(args.runs):
        hub.add(run_once(args, [args.binary]))
        if peer:
            peer.add(run_once(args, shlex.split(args.peer_command)))
    hub.report(args)
    if not peer:
        return
    peer.report(args)
    hub_cold, peer_cold = statistics.median(hub.colds), statistics.median(peer.colds)
    lines = [
        f"cold start {args.path} (median exec -> first answer): hub {hub_cold:.1f} ms, {peer.name} {peer_cold:.1f} ms, "
        f"hub/peer = 1/{peer_cold / hub_cold:.1f}",
        f"warm {args.path} p50: hub {hub.pct(0.5):.2f} ms, {peer.name} {peer.pct(0.5):.2f} ms; "
        f"p99: hub {hub.pct(0.99):.2f} ms, {peer.name} {peer.pct(0.99):.2f} ms",
        f"peak RSS: hub {hub.rss:.1f} MiB, {peer.name} {peer.rss:.1f} MiB",
    ]
    print("\n".join(lines))
    if args.summary:
        with open(args.summary, "a") as f:
            f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
