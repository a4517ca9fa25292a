"""Drives Firebell's /v2/enqueue with PagerDuty's own Python clients.

Usage: pagerduty_clients.py BASE_URL ROUTING_KEY
Exits non-zero (with the client's exception) if a client refuses an answer.
"""
import sys
import warnings

warnings.simplefilter("ignore")  # pdpyras announces its deprecation

import pagerduty  # the maintained client (v7)
import pdpyras  # the older client many tools still ship

base, key = sys.argv[1], sys.argv[2]

# pagerduty v7
client = pagerduty.EventsApiV2Client(key)
client._url = base  # the setter insists on https; loopback is plain http
got = client.trigger(
    "Disk full on srv01",
    "srv01",
    dedup_key="pd-v7",
    severity="critical",
    custom_details={"free": "0%"},
    links=[{"href": "https://runbooks.example.com/disk", "text": "runbook"}],
)
assert got == "pd-v7", got
assert client.acknowledge("pd-v7") == "pd-v7"
generated = client.trigger("Load high on srv02", "srv02", severity="warning")
assert generated, "a trigger without dedup_key gets one back"
print("v7-generated", generated)

# pdpyras
session = pdpyras.EventsAPISession(key)
session.url = base  # pdpyras allows plain http
assert session.trigger("Queue stuck", "worker1", dedup_key="pd-pdpyras", severity="error") == "pd-pdpyras"
assert session.resolve("pd-pdpyras") == "pd-pdpyras"
assert session.resolve(generated) == generated

# A refused event raises in the client, with PagerDuty's 400.
try:
    client.send_event("trigger", payload={"summary": "", "source": "x", "severity": "info"})
except Exception as e:  # pagerduty.HttpError
    print("refused", getattr(getattr(e, "response", None), "status_code", "?"))
else:
    raise SystemExit("an invalid event was accepted")
print("ok")
