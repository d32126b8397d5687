#!/usr/bin/env python3
"""A real SMTP server for the SMTPEmailSender tests, built on aiosmtpd.

Usage: smtp_test_server.py WORKDIR [--no-starttls]

Generates a throwaway CA and a server certificate for localhost / 127.0.0.1 in WORKDIR, starts aiosmtpd on a
free loopback port with STARTTLS required and AUTH (PLAIN or LOGIN) required over TLS, and writes
WORKDIR/ready.json = {"port": ..., "ca": "<path of the CA PEM>", "username": ..., "password": ...} once it
accepts connections. With --no-starttls the server offers no STARTTLS and allows AUTH over plain text, so the
client's refusal to authenticate without TLS can be tested.

Recipients steer failures: a local part starting with `tempfail` gets 451 at RCPT, `reject` gets 550 at RCPT,
and `slow` makes the server wait 10 seconds before answering the end of DATA.

Every accepted message is appended to WORKDIR/messages.jsonl as one JSON object: envelope, raw content, and the
headers and body as Python's email parser reads them. Every AUTH attempt is appended to WORKDIR/auth.jsonl.
Stops on SIGTERM or SIGINT, or when standard input closes. Exits 3 when aiosmtpd is not installed.
"""

import asyncio
import datetime
import email
import email.policy
import ipaddress
import json
import os
import signal
import socket
import ssl
import sys
import threading

try:
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult, LoginPassword
except ImportError:
    print("aiosmtpd is not installed: run `python3 -m pip install aiosmtpd`", file=sys.stderr, flush=True)
    sys.exit(3)

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

USERNAME = "kauri-test"
PASSWORD = "s3cret-smtp-password"


def append_json_line(path, record):
    with open(path, "a", encoding="utf-8") as file:
        file.write(json.dumps(record, ensure_ascii=False) + "\n")


def write_pem(path, data):
    with open(path, "wb") as file:
        file.write(data)


def make_certificates(workdir):
    """A CA and a server certificate it signs, valid for localhost and 127.0.0.1. Returns (ca, cert, key) paths."""
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Kauri SMTP Test CA")])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=False, data_encipherment=False,
                key_agreement=False, key_cert_sign=True, crl_sign=True, encipher_only=False, decipher_only=False),
            critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    server_key = ec.generate_private_key(ec.SECP256R1())
    server_cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name)
        .public_key(server_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    ca_path = os.path.join(workdir, "ca.pem")
    cert_path = os.path.join(workdir, "server.pem")
    key_path = os.path.join(workdir, "server.key")
    write_pem(ca_path, ca_cert.public_bytes(serialization.Encoding.PEM))
    write_pem(cert_path, server_cert.public_bytes(serialization.Encoding.PEM))
    write_pem(key_path, server_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    return ca_path, cert_path, key_path


class RecordingHandler:
    def __init__(self, path):
        self.path = path

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        local_part = address.split("@", 1)[0]
        if local_part.startswith("tempfail"):
            return "451 4.3.0 Temporary failure, try again later"
        if local_part.startswith("reject"):
            return "550 5.1.1 No such user here"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server, session, envelope):
        if any(address.split("@", 1)[0].startswith("slow") for address in envelope.rcpt_tos):
            await asyncio.sleep(10)
        content = envelope.original_content or envelope.content
        if isinstance(content, str):
            content = content.encode("utf-8")
        message = email.message_from_bytes(content, policy=email.policy.default)
        date = message["date"]
        record = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "raw": content.decode("utf-8", "replace"),
            "tls": session.ssl is not None,
            "authenticated": bool(session.authenticated),
            "from": str(message["from"]),
            "to": str(message["to"]),
            "subject": str(message["subject"]),
            "date_valid": bool(date is not None and getattr(date, "datetime", None) is not None),
            "message_id": str(message["message-id"]),
            "mime_version": str(message["mime-version"]),
            "content_type": message.get_content_type(),
            "charset": message.get_content_charset(),
            "transfer_encoding": str(message["content-transfer-encoding"]),
            "text": message.get_content(),
            "defects": [type(defect).__name__ for defect in message.defects],
        }
        append_json_line(self.path, record)
        return "250 2.0.0 Message accepted for delivery"


def make_authenticator(path):
    def authenticator(server, session, envelope, mechanism, auth_data):
        success = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login == USERNAME.encode()
            and auth_data.password == PASSWORD.encode()
        )
        append_json_line(path, {"mechanism": mechanism, "success": success, "tls": session.ssl is not None})
        return AuthResult(success=success, handled=False)

    return authenticator


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def main():
    if len(sys.argv) < 2:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    workdir = sys.argv[1]
    starttls = "--no-starttls" not in sys.argv[2:]
    os.makedirs(workdir, exist_ok=True)
    ca_path, cert_path, key_path = make_certificates(workdir)
    tls_context = None
    if starttls:
        tls_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls_context.load_cert_chain(cert_path, key_path)

    port = free_port()
    controller = Controller(
        RecordingHandler(os.path.join(workdir, "messages.jsonl")),
        hostname="127.0.0.1",
        port=port,
        server_hostname="localhost",
        tls_context=tls_context,
        require_starttls=starttls,
        authenticator=make_authenticator(os.path.join(workdir, "auth.jsonl")),
        auth_required=True,
        auth_require_tls=starttls,
    )
    controller.start()

    ready = {"port": port, "ca": ca_path, "username": USERNAME, "password": PASSWORD, "starttls": starttls}
    temporary = os.path.join(workdir, "ready.json.tmp")
    with open(temporary, "w", encoding="utf-8") as file:
        json.dump(ready, file)
    os.replace(temporary, os.path.join(workdir, "ready.json"))
    print(f"READY port={port}", flush=True)

    stop = threading.Event()
    # A parent that runs threads (the Swift test process) may hand down a mask that blocks these signals.
    signal.pthread_sigmask(signal.SIG_UNBLOCK, [signal.SIGTERM, signal.SIGINT])
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    # Also stop when standard input closes, so the server never outlives a test process that died.
    threading.Thread(target=lambda: (sys.stdin.read(), stop.set()), daemon=True).start()
    # A bare Event.wait() would not let the signal handlers run; wake up now and then instead.
    while not stop.wait(0.2):
        pass
    controller.stop()


if __name__ == "__main__":
    main()
