#!/usr/bin/env python3
"""A local SMTP sink for `make dev` and the email tests (aiosmtpd).

Every accepted message is written before the server answers 250, so a client that got
its 250 can read the message at once:

    <maildir>/<n>-<id>.eml    the message exactly as received
    <maildir>/<n>-<id>.json   envelope and decoded content: mail_from, rcpt_tos, subject,
                              headers, content_type, parts [{content_type, charset, text}]

and a one-line summary (recipients masked, subject) is printed to stdout (`make dev`
sends it to .local/smtp.log). Every RCPT answer is appended to <maildir>/rcpt.log as
`<code> <address>`, so tests can count attempts.

Magic recipients, to exercise a client's error handling:
    tempfail<N>-anything@domain   answered `451 4.3.0` the first N times, then accepted
    reject-anything@domain        always answered `550 5.1.1` (permanent)

Options: --port (0 picks a free port; the chosen one is printed as `LISTENING <port>`),
--maildir, --auth USER:PASSWORD (advertise AUTH PLAIN/LOGIN without TLS and require it),
--exit-on-stdin-eof (stop when the parent that started us goes away).
"""

from __future__ import annotations

import argparse
import asyncio
import email
import email.policy
import itertools
import json
import re
import socket
import sys
import threading
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword, Session, SMTP

TEMPFAIL = re.compile(r"^tempfail(\d+)-", re.IGNORECASE)


def mask(address: str) -> str:
    local, _, domain = address.partition("@")
    return f"{local[:1]}***@{domain}" if domain else "***"


class SinkHandler:
    def __init__(self, maildir: Path) -> None:
        self.maildir = maildir
        self.counter = itertools.count(1)
        self.tempfail_seen: dict[str, int] = {}
        self.lock = threading.Lock()

    def _rcpt_log(self, code: int, address: str) -> None:
        with self.lock, open(self.maildir / "rcpt.log", "a", encoding="utf-8") as f:
            f.write(f"{code} {address}\n")

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]) -> str:
        local = address.partition("@")[0]
        if local.lower().startswith("reject-"):
            self._rcpt_log(550, address)
            return "550 5.1.1 mailbox unavailable"
        m = TEMPFAIL.match(local)
        if m:
            seen = self.tempfail_seen.get(address.lower(), 0)
            if seen < int(m.group(1)):
                self.tempfail_seen[address.lower()] = seen + 1
                self._rcpt_log(451, address)
                return "451 4.3.0 temporary failure, try again later"
        self._rcpt_log(250, address)
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw: bytes = envelope.original_content or envelope.content  # type: ignore[assignment]
        n = next(self.counter)
        msg = email.message_from_bytes(raw, policy=email.policy.default)
        stem = f"{n:05d}-{re.sub(r'[^A-Za-z0-9]', '', str(msg.get('Message-ID', '')))[:40] or 'message'}"
        parts = []
        for part in msg.walk():
            if part.is_multipart():
                continue
            try:
                text = part.get_content()
            except (LookupError, ValueError):
                text = part.get_payload(decode=True).decode("utf-8", "replace")
            # Line ends normalised to \n for readers; the .eml keeps the wire form (CRLF).
            text = text.replace("\r\n", "\n")
            parts.append({"content_type": part.get_content_type(), "charset": part.get_content_charset(), "text": text})
        record = {
            "mail_from": envelope.mail_from,
            # The client's address and port: messages sent over one (pooled) connection share it.
            "peer": list(session.peer) if session.peer else None,
            "rcpt_tos": envelope.rcpt_tos,
            "subject": str(msg.get("Subject", "")),
            "headers": {k: str(v) for k, v in msg.items()},
            "content_type": msg.get_content_type(),
            "parts": parts,
            "eml": f"{stem}.eml",
        }
        (self.maildir / f"{stem}.eml").write_bytes(raw)
        # Written last and renamed into place: a reader never sees half a record.
        tmp = self.maildir / f".{stem}.json.tmp"
        tmp.write_text(json.dumps(record, ensure_ascii=False, indent=1), encoding="utf-8")
        tmp.rename(self.maildir / f"{stem}.json")
        to = ", ".join(mask(r) for r in envelope.rcpt_tos)
        print(f"mail {stem}: to {to} subject {record['subject']!r} ({self.maildir / (stem + '.eml')})", flush=True)
        return "250 OK message accepted"


class Authenticator:
    def __init__(self, user: str, password: str) -> None:
        self.user = user.encode()
        self.password = password.encode()

    def __call__(self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: object) -> AuthResult:
        ok = isinstance(auth_data, LoginPassword) and auth_data.login == self.user and auth_data.password == self.password
        return AuthResult(success=ok, handled=False)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=1025)
    p.add_argument("--maildir", default=".local/mail")
    p.add_argument("--auth", help="USER:PASSWORD required from clients (AUTH PLAIN/LOGIN, no TLS)")
    p.add_argument("--exit-on-stdin-eof", action="store_true")
    args = p.parse_args()

    maildir = Path(args.maildir)
    maildir.mkdir(parents=True, exist_ok=True)
    port = args.port or free_port()
    kwargs: dict[str, object] = {}
    if args.auth:
        user, _, password = args.auth.partition(":")
        kwargs.update(authenticator=Authenticator(user, password), auth_required=True, auth_require_tls=False)
    controller = Controller(SinkHandler(maildir), hostname=args.host, port=port, **kwargs)
    controller.start()
    print(f"LISTENING {port}", flush=True)
    print(f"SMTP sink on {args.host}:{port}, messages in {maildir}/", file=sys.stderr, flush=True)
    try:
        if args.exit_on_stdin_eof:
            sys.stdin.read()
        else:
            asyncio.run(asyncio.Event().wait())
    except KeyboardInterrupt:
        pass
    finally:
        controller.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
