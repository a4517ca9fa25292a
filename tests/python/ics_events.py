"""Parses an iCalendar file with the independent `icalendar` package and
prints its events as JSON: [{"start", "end", "summary", "uid"}], UTC RFC 3339."""
import json
import sys
from datetime import timezone

import icalendar

with open(sys.argv[1], "rb") as f:
    cal = icalendar.Calendar.from_ical(f.read())
assert cal.get("VERSION") == "2.0", cal.get("VERSION")
events = []
for ev in cal.walk("VEVENT"):
    start = ev.decoded("DTSTART").astimezone(timezone.utc)
    end = ev.decoded("DTEND").astimezone(timezone.utc)
    events.append(
        {
            "start": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "end": end.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "summary": str(ev.get("SUMMARY")),
            "uid": str(ev.get("UID")),
        }
    )
print(json.dumps(events))
