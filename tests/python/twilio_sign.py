"""Signs Twilio callbacks with Twilio's own library (the `twilio` package's
RequestValidator), for the Rust tests.

Reads JSON from stdin: {"cases": [{"token": "...", "url": "...", "params":
[["Name", "value"], ...]}, ...]} and prints one signature per line, in order.
"""
import json
import sys

from twilio.request_validator import RequestValidator


def main():
    doc = json.load(sys.stdin)
    for case in doc["cases"]:
        validator = RequestValidator(case["token"])
        params = {}
        for name, value in case["params"]:
            params[name] = value
        print(validator.compute_signature(case["url"], params))


if __name__ == "__main__":
    main()
