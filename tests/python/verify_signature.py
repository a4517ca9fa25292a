"""Verifies a Firebell webhook signature the way a receiver would, with
Python's own hmac (independent of Firebell's Rust code).

usage: verify_signature.py SECRET HEADER BODY_FILE [NOW]

HEADER is the Firebell-Signature value, "t=<unix seconds>,v1=<hex>"; the
signature is HMAC-SHA256(SECRET, "<t>.<body>"). Exits 0 and prints "valid"
when it matches and t is within 5 minutes of NOW (default: the clock);
exits 1 with the reason otherwise.
"""

import hashlib
import hmac
import sys
import time

TOLERANCE_SECONDS = 300


def verify(secret: bytes, header: str, body: bytes, now: float) -> str | None:
    fields = dict(part.split("=", 1) for part in header.split(",") if "=" in part)
    if "t" not in fields or "v1" not in fields:
        return "malformed header"
    t = fields["t"]
    if not t.isdigit():
        return "malformed timestamp"
    if abs(now - int(t)) > TOLERANCE_SECONDS:
        return "stale timestamp"
    expected = hmac.new(secret, t.encode() + b"." + body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, fields["v1"]):
        return "signature mismatch"
    return None


def main() -> int:
    secret, header, body_file = sys.argv[1], sys.argv[2], sys.argv[3]
    now = float(sys.argv[4]) if len(sys.argv) > 4 else time.time()
    with open(body_file, "rb") as f:
        body = f.read()
    problem = verify(secret.encode(), header, body, now)
    if problem:
        print(problem)
        return 1
    print("valid")
    return 0


if __name__ == "__main__":
    sys.exit(main())
