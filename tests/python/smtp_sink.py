"""A real SMTP server (aiosmtpd) for the email tests.

    smtp_sink.py PORT OUTDIR [--auth USER:PASSWORD] [--reject-domain DOMAIN]
                 [--tls {tls,starttls} --ca-out PATH]

Listens on 127.0.0.1:PORT and writes each message it accepts to
OUTDIR/NNN.eml (the bytes as received) and OUTDIR/NNN.json (the envelope:
mail_from, rcpt_tos, the login used, whether the session was encrypted).
Each file appears whole (written under another name, then renamed). With
--auth, AUTH PLAIN/LOGIN is offered and mail is refused without it. With
--reject-domain, recipients at DOMAIN are refused with 550 (a permanent
failure). With --tls, a throwaway CA (trustme) issues a certificate for
"localhost" and its PEM is written to --ca-out for the client to trust;
"tls" speaks TLS from the first byte, "starttls" offers STARTTLS and refuses
mail until it is used. Prints "ready" once it accepts connections, then
serves until killed.
"""

import argparse
import json
import logging
import os
import ssl
import sys
import threading
import warnings

import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


class Sink:
    def __init__(self, out, reject_domain):
        self.out = out
        self.reject_domain = reject_domain
        self.count = 0
        self.lock = threading.Lock()

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if self.reject_domain and address.lower().endswith("@" + self.reject_domain):
            return "550 5.1.1 <%s>: mailbox unavailable" % address
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            self.count += 1
            base = os.path.join(self.out, "%03d" % self.count)
        meta = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "login": session.auth_data.login.decode() if isinstance(session.auth_data, LoginPassword) else None,
            "encrypted": session.ssl is not None
            or server.transport.get_extra_info("sslcontext") is not None,
        }
        for ext, data in ((".eml", envelope.original_content), (".json", json.dumps(meta).encode())):
            with open(base + ext + ".part", "wb") as f:
                f.write(data)
            os.rename(base + ext + ".part", base + ext)
        return "250 2.0.0 Message accepted for delivery"


def main():
    p = argparse.ArgumentParser()
    p.add_argument("port", type=int)
    p.add_argument("out")
    p.add_argument("--auth")
    p.add_argument("--reject-domain")
    p.add_argument("--tls", choices=["tls", "starttls"])
    p.add_argument("--ca-out")
    a = p.parse_args()

    # Plain SMTP with AUTH is what the plain-mode test exercises on purpose;
    # keep aiosmtpd's warnings about it (and its own deprecations) quiet.
    warnings.filterwarnings("ignore", "Requiring AUTH while not requiring TLS")
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    logging.getLogger("mail.log").setLevel(logging.ERROR)
    kwargs = {}
    if a.auth:
        user, password = a.auth.split(":", 1)

        def authenticator(server, session, envelope, mechanism, auth_data):
            ok = (
                isinstance(auth_data, LoginPassword)
                and auth_data.login.decode() == user
                and auth_data.password.decode() == password
            )
            return AuthResult(success=ok, handled=False, auth_data=auth_data)

        kwargs.update(
            authenticator=authenticator,
            auth_required=True,
            auth_require_tls=a.tls == "starttls",
        )
    if a.tls:
        ca = trustme.CA()
        ca.cert_pem.write_to_path(a.ca_out)
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ca.issue_cert("localhost").configure_cert(ctx)
        if a.tls == "tls":
            kwargs["ssl_context"] = ctx
        else:
            kwargs.update(tls_context=ctx, require_starttls=True)

    controller = Controller(
        Sink(a.out, a.reject_domain),
        hostname="127.0.0.1",
        port=a.port,
        server_hostname="localhost",
        **kwargs,
    )
    controller.start()
    print("ready", flush=True)
    threading.Event().wait()


if __name__ == "__main__":
    sys.exit(main())
