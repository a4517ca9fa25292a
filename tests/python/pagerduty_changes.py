"""Sends change events to Firebell's /v2/change/enqueue with PagerDuty's own
Python clients, then one the clients must see refused.

Usage: pagerduty_changes.py BASE_URL ROUTING_KEY
Exits non-zero (with the client's exception) if a client refuses an answer.
"""
import sys
import warnings

warnings.simplefilter("ignore")  # pdpyras announces its deprecation

import pagerduty
import pdpyras

base, key = sys.argv[1], sys.argv[2]

client = pagerduty.EventsApiV2Client(key)
client._url = base  # the setter insists on https; loopback is plain http
client.send_change_event(
    payload={
        "summary": "Deploy web 1.2.3",
        "source": "ci-runner-7",
        "timestamp": "2026-03-01T08:55:00.000+0000",
        "custom_details": {"version": "1.2.3"},
    },
    links=[{"href": "https://ci.example.com/builds/7", "text": "build 7"}],
)

session = pdpyras.ChangeEventsAPISession(key)
session.url = base
session.submit("Config push: raise pool size", source="ansible", custom_details={"pool": 40})

try:
    client.send_change_event(payload={"summary": "", "source": "x"})
except Exception as e:  # pagerduty.HttpError
    print("refused", getattr(getattr(e, "response", None), "status_code", "?"))
else:
    raise SystemExit("an invalid change event was accepted")
print("ok")
