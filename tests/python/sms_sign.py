"""Signs inbound texts the way SMS gateways sign them, with the gateways' own
libraries, for the Rust tests:

- Plivo's V3 signature: `plivo.utils.signature_v3` builds the signed URL and
  the signature (and `validate_v3_signature` checks it);
- Vonage's signed webhooks: `vonage_http_client.auth.Auth.sign_params`.

Reads JSON from stdin: {"cases": [...]}, each either
{"kind": "plivo", "token": "...", "url": "...", "params": [["Name", "value"], ...], "nonce": "..."}
or {"kind": "vonage", "secret": "...", "method": "sha256", "params": [[...], ...]},
and prints one signature per line, in order.
"""
import json
import sys

from plivo.utils.signature_v3 import (
    construct_post_url,
    get_signature_v3,
    validate_v3_signature,
)
from vonage_http_client.auth import Auth


def plivo(case):
    params = dict(case["params"])
    base_url = construct_post_url(case["url"], dict(params))
    sig = get_signature_v3(
        case["token"].encode(), base_url, case["nonce"].encode()
    ).decode()
    assert validate_v3_signature(
        "POST", case["url"], case["nonce"], case["token"], sig, params
    )
    return sig


def vonage(case):
    auth = Auth(
        api_key="firebell-test",
        signature_secret=case["secret"],
        signature_method=case["method"],
    )
    return auth.sign_params(dict(case["params"]))


def main():
    doc = json.load(sys.stdin)
    for case in doc["cases"]:
        print(plivo(case) if case["kind"] == "plivo" else vonage(case))


if __name__ == "__main__":
    main()
