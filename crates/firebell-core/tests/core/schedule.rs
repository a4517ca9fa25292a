//! On-call schedules: DST handoffs with explicit instants, bad input naming its
//! field, and property tests against a deliberately simple reference.

use firebell_core::schedule::{
    Layer, LayerShift, Override, OverrideKind, Restriction, Schedule, ScheduleSpec, ShiftLength,
};
use jiff::civil::{Date, DateTime, Time, Weekday, date};
use jiff::tz::{AmbiguousOffset, TimeZone};
use jiff::{SignedDuration, Span, Timestamp};
use proptest::prelude::*;

fn ts(s: &str) -> Timestamp {
    s.parse().unwrap()
}

fn layer(participants: &[&str], shift: ShiftLength, first: DateTime) -> Layer {
    Layer {
        name: "l".into(),
        participants: participants.iter().map(|p| p.to_string()).collect(),
        shift,
        first_handoff: first,
        restrictions: vec![],
    }
}

fn schedule(zone: &str, layers: Vec<Layer>) -> Schedule {
    Schedule::new("s", zone, layers).unwrap()
}

/// `(start, end, user)` of layer 0's shifts in `[from, to)`.
fn handoffs(s: &Schedule, from: &str, to: &str) -> Vec<(Timestamp, Timestamp, String)> {
    s.layer_shifts(0, ts(from), ts(to))
        .into_iter()
        .map(
            |LayerShift {
                 start, end, user, ..
             }| (start, end, user),
        )
        .collect()
}

fn expect(list: &[(&str, &str, &str)]) -> Vec<(Timestamp, Timestamp, String)> {
    list.iter()
        .map(|(s, e, u)| (ts(s), ts(e), u.to_string()))
        .collect()
}

// ---------------------------------------------------------------------------
// DST, with the instants written out.
// ---------------------------------------------------------------------------

#[test]
fn weekly_monday_0900_handoff_keeps_civil_time_across_dst() {
    let weekly = |zone: &str, first: DateTime| {
        schedule(zone, vec![layer(&["a", "b"], ShiftLength::Weeks(1), first)])
    };
    // Europe/London: spring forward 2026-03-29, fall back 2026-10-25.
    let s = weekly("Europe/London", date(2026, 3, 23).at(9, 0, 0, 0));
    assert_eq!(
        handoffs(&s, "2026-03-20T00:00Z", "2026-04-06T12:00Z"),
        expect(&[
            ("2026-03-23T09:00Z", "2026-03-30T08:00Z", "a"),
            ("2026-03-30T08:00Z", "2026-04-06T08:00Z", "b"),
            ("2026-04-06T08:00Z", "2026-04-06T12:00Z", "a"),
        ])
    );
    let s = weekly("Europe/London", date(2026, 10, 19).at(9, 0, 0, 0));
    assert_eq!(
        handoffs(&s, "2026-10-19T00:00Z", "2026-11-02T12:00Z"),
        expect(&[
            ("2026-10-19T08:00Z", "2026-10-26T09:00Z", "a"),
            ("2026-10-26T09:00Z", "2026-11-02T09:00Z", "b"),
            ("2026-11-02T09:00Z", "2026-11-02T12:00Z", "a"),
        ])
    );
    // America/New_York: 2026-03-08 and 2026-11-01.
    let s = weekly("America/New_York", date(2026, 3, 2).at(9, 0, 0, 0));
    assert_eq!(
        handoffs(&s, "2026-03-01T00:00Z", "2026-03-16T00:00Z"),
        expect(&[
            ("2026-03-02T14:00Z", "2026-03-09T13:00Z", "a"),
            ("2026-03-09T13:00Z", "2026-03-16T00:00Z", "b"),
        ])
    );
    let s = weekly("America/New_York", date(2026, 10, 26).at(9, 0, 0, 0));
    assert_eq!(
        handoffs(&s, "2026-10-26T00:00Z", "2026-11-09T00:00Z"),
        expect(&[
            ("2026-10-26T13:00Z", "2026-11-02T14:00Z", "a"),
            ("2026-11-02T14:00Z", "2026-11-09T00:00Z", "b"),
        ])
    );
    // Australia/Lord_Howe, a 30-minute change: +11 → +10:30 on 2026-04-05,
    // back to +11 on 2026-10-04.
    let s = weekly("Australia/Lord_Howe", date(2026, 3, 30).at(9, 0, 0, 0));
    assert_eq!(
        handoffs(&s, "2026-03-29T00:00Z", "2026-04-12T00:00Z"),
        expect(&[
            ("2026-03-29T22:00Z", "2026-04-05T22:30Z", "a"),
            ("2026-04-05T22:30Z", "2026-04-12T00:00Z", "b"),
        ])
    );
    let s = weekly("Australia/Lord_Howe", date(2026, 9, 28).at(9, 0, 0, 0));
    assert_eq!(
        handoffs(&s, "2026-09-27T00:00Z", "2026-10-11T00:00Z"),
        expect(&[
            ("2026-09-27T22:30Z", "2026-10-04T22:00Z", "a"),
            ("2026-10-04T22:00Z", "2026-10-11T00:00Z", "b"),
        ])
    );
}

#[test]
fn daily_0900_handoff_keeps_civil_time_across_dst() {
    let daily = |zone: &str, first: DateTime| {
        schedule(
            zone,
            vec![layer(&["a", "b", "c"], ShiftLength::Days(1), first)],
        )
    };
    let cases: &[(&str, DateTime, &str, &str, [&str; 3])] = &[
        (
            "Europe/London",
            date(2026, 3, 28).at(9, 0, 0, 0),
            "2026-03-28T00:00Z",
            "2026-03-31T00:00Z",
            [
                "2026-03-28T09:00Z",
                "2026-03-29T08:00Z",
                "2026-03-30T08:00Z",
            ],
        ),
        (
            "Europe/London",
            date(2026, 10, 24).at(9, 0, 0, 0),
            "2026-10-24T00:00Z",
            "2026-10-27T00:00Z",
            [
                "2026-10-24T08:00Z",
                "2026-10-25T09:00Z",
                "2026-10-26T09:00Z",
            ],
        ),
        (
            "America/New_York",
            date(2026, 3, 7).at(9, 0, 0, 0),
            "2026-03-07T00:00Z",
            "2026-03-10T00:00Z",
            [
                "2026-03-07T14:00Z",
                "2026-03-08T13:00Z",
                "2026-03-09T13:00Z",
            ],
        ),
        (
            "America/New_York",
            date(2026, 10, 31).at(9, 0, 0, 0),
            "2026-10-31T00:00Z",
            "2026-11-03T00:00Z",
            [
                "2026-10-31T13:00Z",
                "2026-11-01T14:00Z",
                "2026-11-02T14:00Z",
            ],
        ),
        (
            "Australia/Lord_Howe",
            date(2026, 4, 4).at(9, 0, 0, 0),
            "2026-04-03T00:00Z",
            "2026-04-06T00:00Z",
            [
                "2026-04-03T22:00Z",
                "2026-04-04T22:30Z",
                "2026-04-05T22:30Z",
            ],
        ),
        (
            "Australia/Lord_Howe",
            date(2026, 10, 3).at(9, 0, 0, 0),
            "2026-10-02T00:00Z",
            "2026-10-05T00:00Z",
            [
                "2026-10-02T22:30Z",
                "2026-10-03T22:00Z",
                "2026-10-04T22:00Z",
            ],
        ),
    ];
    for (zone, first, from, to, starts) in cases {
        let s = daily(zone, *first);
        let got: Vec<Timestamp> = handoffs(&s, from, to).into_iter().map(|h| h.0).collect();
        let want: Vec<Timestamp> = starts.iter().map(|s| ts(s)).collect();
        assert_eq!(got, want, "{zone} from {first}");
        // Every handoff is at 09:00 on the zone's clock.
        for t in got {
            assert_eq!(
                t.to_zoned(s.time_zone().clone()).time(),
                Time::constant(9, 0, 0, 0)
            );
        }
    }
}

#[test]
fn handoff_in_a_skipped_hour_is_at_the_first_valid_instant_after_it() {
    // London, 2026-03-29: 01:00 GMT jumps to 02:00 BST. A 01:30 handoff that
    // day happens at 02:00 BST = 01:00Z (jiff's Compatible would say 02:30).
    let s = schedule(
        "Europe/London",
        vec![layer(
            &["a", "b", "c"],
            ShiftLength::Days(1),
            date(2026, 3, 28).at(1, 30, 0, 0),
        )],
    );
    assert_eq!(
        handoffs(&s, "2026-03-28T00:00Z", "2026-03-31T00:00Z"),
        expect(&[
            ("2026-03-28T01:30Z", "2026-03-29T01:00Z", "a"),
            ("2026-03-29T01:00Z", "2026-03-30T00:30Z", "b"),
            ("2026-03-30T00:30Z", "2026-03-31T00:00Z", "c"),
        ])
    );
    assert_eq!(s.on_call(ts("2026-03-29T00:59:59Z"), &[]), vec!["a"]);
    assert_eq!(s.on_call(ts("2026-03-29T01:00:00Z"), &[]), vec!["b"]);

    // Lord Howe, 2026-10-04: 02:00 +10:30 jumps to 02:30 +11. A 02:15 handoff
    // happens at 02:30 +11 = 2026-10-03T15:30Z.
    let s = schedule(
        "Australia/Lord_Howe",
        vec![layer(
            &["a", "b", "c"],
            ShiftLength::Days(1),
            date(2026, 10, 3).at(2, 15, 0, 0),
        )],
    );
    assert_eq!(
        handoffs(&s, "2026-10-02T00:00Z", "2026-10-05T00:00Z"),
        expect(&[
            ("2026-10-02T15:45Z", "2026-10-03T15:30Z", "a"),
            ("2026-10-03T15:30Z", "2026-10-04T15:15Z", "b"),
            ("2026-10-04T15:15Z", "2026-10-05T00:00Z", "c"),
        ])
    );
}

#[test]
fn handoff_in_a_repeated_hour_happens_once_at_the_first_occurrence() {
    // London, 2026-10-25: 02:00 BST falls back to 01:00 GMT; 01:30 occurs at
    // 00:30Z and again at 01:30Z. The handoff is at 00:30Z only.
    let s = schedule(
        "Europe/London",
        vec![layer(
            &["a", "b", "c"],
            ShiftLength::Days(1),
            date(2026, 10, 24).at(1, 30, 0, 0),
        )],
    );
    assert_eq!(
        handoffs(&s, "2026-10-24T00:00Z", "2026-10-27T00:00Z"),
        expect(&[
            ("2026-10-24T00:30Z", "2026-10-25T00:30Z", "a"),
            ("2026-10-25T00:30Z", "2026-10-26T01:30Z", "b"),
            ("2026-10-26T01:30Z", "2026-10-27T00:00Z", "c"),
        ])
    );
    // The second 01:30 changes nothing.
    assert_eq!(s.on_call(ts("2026-10-25T01:29:59Z"), &[]), vec!["b"]);
    assert_eq!(s.on_call(ts("2026-10-25T01:30:00Z"), &[]), vec!["b"]);

    // Lord Howe, 2026-04-05: 02:00 +11 falls back to 01:30 +10:30; 01:45
    // occurs at 14:45Z and 15:15Z the day before (UTC). Handoff at 14:45Z.
    let s = schedule(
        "Australia/Lord_Howe",
        vec![layer(
            &["a", "b", "c"],
            ShiftLength::Days(1),
            date(2026, 4, 4).at(1, 45, 0, 0),
        )],
    );
    assert_eq!(
        handoffs(&s, "2026-04-03T00:00Z", "2026-04-06T00:00Z"),
        expect(&[
            ("2026-04-03T14:45Z", "2026-04-04T14:45Z", "a"),
            ("2026-04-04T14:45Z", "2026-04-05T15:15Z", "b"),
            ("2026-04-05T15:15Z", "2026-04-06T00:00Z", "c"),
        ])
    );
}

#[test]
fn twelve_hour_shifts_stay_on_the_civil_grid() {
    // 08:00/20:00 handoffs; the night shift over the spring change is 11h.
    let s = schedule(
        "Europe/London",
        vec![layer(
            &["day", "night"],
            ShiftLength::Hours(12),
            date(2026, 3, 28).at(8, 0, 0, 0),
        )],
    );
    assert_eq!(
        handoffs(&s, "2026-03-28T08:00Z", "2026-03-29T20:00Z"),
        expect(&[
            ("2026-03-28T08:00Z", "2026-03-28T20:00Z", "day"),
            ("2026-03-28T20:00Z", "2026-03-29T07:00Z", "night"),
            ("2026-03-29T07:00Z", "2026-03-29T19:00Z", "day"),
            ("2026-03-29T19:00Z", "2026-03-29T20:00Z", "night"),
        ])
    );
}

// ---------------------------------------------------------------------------
// Layers, restrictions, overrides, shifts — small worked examples.
// ---------------------------------------------------------------------------

fn business_hours_over_weekly() -> Schedule {
    let mut business = layer(
        &["carol"],
        ShiftLength::Weeks(1),
        date(2026, 1, 5).at(0, 0, 0, 0),
    );
    business.restrictions = vec![Restriction {
        days: vec![
            Weekday::Monday,
            Weekday::Tuesday,
            Weekday::Wednesday,
            Weekday::Thursday,
            Weekday::Friday,
        ],
        start: Time::constant(9, 0, 0, 0),
        end: Time::constant(17, 0, 0, 0),
    }];
    schedule(
        "Europe/London",
        vec![
            layer(
                &["alice", "bob"],
                ShiftLength::Weeks(1),
                date(2026, 1, 5).at(9, 0, 0, 0),
            ),
            business,
        ],
    )
}

#[test]
fn higher_layer_wins_inside_its_restrictions() {
    let s = business_hours_over_weekly();
    assert_eq!(
        s.on_call(ts("2026-01-05T08:59:59Z"), &[]),
        Vec::<String>::new()
    );
    assert_eq!(s.on_call(ts("2026-01-05T09:00:00Z"), &[]), vec!["carol"]);
    assert_eq!(s.on_call(ts("2026-01-05T17:00:00Z"), &[]), vec!["alice"]);
    assert_eq!(s.on_call(ts("2026-01-10T12:00:00Z"), &[]), vec!["alice"]); // Saturday
    assert_eq!(s.on_call(ts("2026-01-12T08:00:00Z"), &[]), vec!["alice"]);
    assert_eq!(s.on_call(ts("2026-01-12T09:00:00Z"), &[]), vec!["carol"]);
    assert_eq!(s.on_call(ts("2026-01-12T18:00:00Z"), &[]), vec!["bob"]);
    // In summer the window is 09:00-17:00 BST.
    // 2026-07-06 is week 26: bob until 09:00 BST, then carol, then alice.
    assert_eq!(s.on_call(ts("2026-07-06T07:59:59Z"), &[]), vec!["bob"]);
    assert_eq!(s.on_call(ts("2026-07-06T08:00:00Z"), &[]), vec!["carol"]);
    assert_eq!(s.on_call(ts("2026-07-06T16:00:00Z"), &[]), vec!["alice"]);

    let week = s.shifts(ts("2026-01-12T00:00:00Z"), ts("2026-01-19T00:00:00Z"), &[]);
    let got: Vec<(String, Vec<String>)> = week
        .iter()
        .map(|sh| (sh.start.to_string(), sh.users.clone()))
        .collect();
    let mut want = vec![(
        "2026-01-12T00:00:00Z".to_string(),
        vec!["alice".to_string()],
    )];
    for d in 12..=16 {
        want.push((format!("2026-01-{d}T09:00:00Z"), vec!["carol".into()]));
        want.push((format!("2026-01-{d}T17:00:00Z"), vec!["bob".into()]));
    }
    assert_eq!(got, want);
    assert_eq!(week.last().unwrap().end, ts("2026-01-19T00:00:00Z"));
}

#[test]
fn overnight_restriction_belongs_to_its_start_day() {
    let mut l = layer(
        &["nina"],
        ShiftLength::Weeks(1),
        date(2026, 1, 1).at(0, 0, 0, 0),
    );
    l.restrictions = vec![Restriction {
        days: vec![Weekday::Friday],
        start: Time::constant(22, 0, 0, 0),
        end: Time::constant(6, 0, 0, 0),
    }];
    let s = schedule("UTC", vec![l]);
    let none = Vec::<String>::new();
    assert_eq!(s.on_call(ts("2026-01-09T03:00Z"), &[]), none); // Friday 03:00
    assert_eq!(s.on_call(ts("2026-01-09T22:00Z"), &[]), vec!["nina"]);
    assert_eq!(s.on_call(ts("2026-01-10T05:59Z"), &[]), vec!["nina"]); // Saturday
    assert_eq!(s.on_call(ts("2026-01-10T06:00Z"), &[]), none);
    assert_eq!(s.on_call(ts("2026-01-10T22:30Z"), &[]), none);
}

#[test]
fn overrides_add_remove_and_replace_in_creation_order() {
    let s = business_hours_over_weekly();
    let (a, b) = (ts("2026-01-12T00:00:00Z"), ts("2026-01-13T00:00:00Z"));
    let o = |id, kind| Override::new(id, a, b, kind).unwrap();
    let take_tuesday = o(
        3,
        OverrideKind::Replace {
            from: "bob".into(),
            to: "dave".into(),
        },
    );
    let add = o(
        1,
        OverrideKind::Add {
            user: "erin".into(),
        },
    );
    let remove_carol = o(
        2,
        OverrideKind::Remove {
            user: "carol".into(),
        },
    );
    let overrides = [take_tuesday, add, remove_carol];
    // Monday 2026-01-12: alice until 09:00, carol 09:00-17:00, then bob.
    assert_eq!(
        s.on_call(ts("2026-01-12T08:00Z"), &overrides),
        vec!["alice", "erin"]
    );
    assert_eq!(s.on_call(ts("2026-01-12T10:00Z"), &overrides), vec!["erin"]);
    assert_eq!(
        s.on_call(ts("2026-01-12T18:00Z"), &overrides),
        vec!["dave", "erin"]
    );
    assert_eq!(s.on_call(ts("2026-01-13T00:00Z"), &overrides), vec!["bob"]);
    // Replacing someone who is not on call does nothing.
    let noop = [o(
        1,
        OverrideKind::Replace {
            from: "zed".into(),
            to: "dave".into(),
        },
    )];
    assert_eq!(s.on_call(ts("2026-01-12T18:00Z"), &noop), vec!["bob"]);

    let shifts = s.shifts(a, b, &overrides);
    let got: Vec<(Timestamp, Vec<&str>)> = shifts
        .iter()
        .map(|sh| (sh.start, sh.users.iter().map(String::as_str).collect()))
        .collect();
    assert_eq!(
        got,
        vec![
            (a, vec!["alice", "erin"]),
            (ts("2026-01-12T09:00Z"), vec!["erin"]),
            (ts("2026-01-12T17:00Z"), vec!["dave", "erin"]),
        ]
    );
}

#[test]
fn shifts_of_an_empty_window_are_empty() {
    let s = business_hours_over_weekly();
    let t = ts("2026-01-12T00:00Z");
    assert!(s.shifts(t, t, &[]).is_empty());
    assert!(s.shifts(t, ts("2026-01-11T00:00Z"), &[]).is_empty());
}

// ---------------------------------------------------------------------------
// Bad input names the field.
// ---------------------------------------------------------------------------

fn fields(errors: Vec<firebell_core::schedule::ScheduleError>) -> Vec<String> {
    errors.into_iter().map(|e| e.field).collect()
}

#[test]
fn bad_schedules_name_the_field() {
    let ok = || {
        layer(
            &["a"],
            ShiftLength::Weeks(1),
            date(2026, 1, 5).at(9, 0, 0, 0),
        )
    };
    let err = Schedule::new("s", "Mars/Olympus", vec![ok()]).unwrap_err();
    assert_eq!(fields(err.clone()), vec!["timezone"]);
    assert!(err[0].to_string().contains("Mars/Olympus"), "{}", err[0]);

    let mut zero = ok();
    zero.shift = ShiftLength::Hours(0);
    let err = Schedule::new("s", "UTC", vec![ok(), zero]).unwrap_err();
    assert_eq!(fields(err.clone()), vec!["layers[1].shift"]);
    assert_eq!(
        err[0].to_string(),
        "layers[1].shift: a shift must be longer than zero"
    );

    let mut nobody = ok();
    nobody.participants.clear();
    assert_eq!(
        fields(Schedule::new("s", "UTC", vec![nobody]).unwrap_err()),
        vec!["layers[0].participants"]
    );

    let mut same = ok();
    same.restrictions = vec![Restriction {
        days: vec![Weekday::Monday],
        start: Time::constant(9, 0, 0, 0),
        end: Time::constant(9, 0, 0, 0),
    }];
    assert_eq!(
        fields(Schedule::new("s", "UTC", vec![same]).unwrap_err()),
        vec!["layers[0].restrictions[0].end"]
    );

    assert_eq!(
        fields(Schedule::new("s", "UTC", vec![]).unwrap_err()),
        vec!["layers"]
    );

    assert!(Schedule::new("s", "UTC", vec![ok()]).is_ok());
}

#[test]
fn bad_spec_reports_every_field_at_once() {
    let spec: ScheduleSpec = toml::from_str(
        r#"
        id = "primary"
        timezone = "Nowhere/Special"
        [[layers]]
        participants = ["alice", "bob"]
        shift = "0h"
        first_handoff = "2026-01-05T09:00"
        [[layers]]
        participants = []
        shift = "1fortnight"
        first_handoff = "2026-01-05T09:00Z"
        [[layers.restrictions]]
        days = ["mon", "someday"]
        start = "09:00"
        end = "17:00"
        [[layers.restrictions]]
        days = ["tue"]
        start = "09:00"
        end = "09:00"
        "#,
    )
    .unwrap();
    let mut got = fields(spec.build().unwrap_err());
    got.sort();
    assert_eq!(
        got,
        vec![
            "layers[0].shift",
            "layers[1].first_handoff",
            "layers[1].participants",
            "layers[1].restrictions[0].days[1]",
            "layers[1].restrictions[1].end",
            "layers[1].shift",
            "timezone",
        ]
    );
    let e = firebell_core::schedule::ScheduleError {
        field: "layers[1].shift".into(),
        message: "m".into(),
    };
    assert_eq!(
        e.within("schedules[2]").field,
        "schedules[2].layers[1].shift"
    );
}

#[test]
fn good_spec_builds() {
    let spec: ScheduleSpec = toml::from_str(
        r#"
        id = "primary"
        timezone = "Europe/London"
        [[layers]]
        name = "weekly"
        participants = ["alice", "bob"]
        shift = "1w"
        first_handoff = "2026-01-05T09:00"
        [[layers]]
        name = "business hours"
        participants = ["carol"]
        shift = "1w"
        first_handoff = "2026-01-05 00:00"
        [[layers.restrictions]]
        days = ["mon", "Tuesday", "wed", "thu", "fri"]
        start = "09:00"
        end = "17:00"
        "#,
    )
    .unwrap();
    let s = spec.build().unwrap();
    assert_eq!(s.time_zone_name(), "Europe/London");
    assert_eq!(s.layers()[1].restrictions[0].days.len(), 5);
    assert_eq!(s.on_call(ts("2026-01-12T18:00Z"), &[]), vec!["bob"]);
}

#[test]
fn bad_overrides_name_the_field() {
    let t = ts("2026-01-12T00:00Z");
    let add = || OverrideKind::Add { user: "a".into() };
    assert_eq!(
        fields(Override::new(1, t, t, add()).unwrap_err()),
        vec!["end"]
    );
    let earlier = t - SignedDuration::from_hours(1);
    let err = Override::new(1, t, earlier, add()).unwrap_err();
    assert_eq!(fields(err.clone()), vec!["end"]);
    assert!(err[0].message.contains("before"), "{}", err[0]);
    let blank = OverrideKind::Replace {
        from: "".into(),
        to: "b".into(),
    };
    assert_eq!(
        fields(Override::new(1, earlier, t, blank).unwrap_err()),
        vec!["from"]
    );
}

// ---------------------------------------------------------------------------
// Property tests against a deliberately simple reference.
// ---------------------------------------------------------------------------

/// Civil → instant, written independently: the offset for unambiguous times,
/// the earlier one in a fold, and in a gap the transition that follows the
/// instant given by the offset after the gap.
fn ref_resolve(tz: &TimeZone, dt: DateTime) -> Timestamp {
    match tz.to_ambiguous_timestamp(dt).offset() {
        AmbiguousOffset::Unambiguous { offset } => offset.to_timestamp(dt).unwrap(),
        AmbiguousOffset::Fold { before, .. } => before.to_timestamp(dt).unwrap(),
        AmbiguousOffset::Gap { after, .. } => {
            let early = after.to_timestamp(dt).unwrap();
            tz.following(early).next().unwrap().timestamp()
        }
    }
}

fn ref_step(shift: ShiftLength) -> Span {
    match shift {
        ShiftLength::Hours(n) => Span::new().hours(i64::from(n)),
        ShiftLength::Days(n) => Span::new().days(i64::from(n)),
        ShiftLength::Weeks(n) => Span::new().weeks(i64::from(n)),
    }
}

/// Walks the rotation shift by shift from the first handoff.
fn ref_layer<'a>(tz: &TimeZone, l: &'a Layer, t: Timestamp) -> Option<&'a str> {
    let mut civil = l.first_handoff;
    if ref_resolve(tz, civil) > t {
        return None;
    }
    let mut k = 0usize;
    loop {
        let next = civil.checked_add(ref_step(l.shift)).unwrap();
        if ref_resolve(tz, next) > t {
            break;
        }
        civil = next;
        k += 1;
    }
    if !l.restrictions.is_empty() {
        let today = tz.to_datetime(t).date();
        let inside = l.restrictions.iter().any(|r| {
            (-2..=1).any(|d| {
                let day: Date = today.checked_add(Span::new().days(d)).unwrap();
                if !r.days.contains(&day.weekday()) {
                    return false;
                }
                let end_day = if r.end > r.start {
                    day
                } else {
                    day.tomorrow().unwrap()
                };
                let s = ref_resolve(tz, day.to_datetime(r.start));
                let e = ref_resolve(tz, end_day.to_datetime(r.end));
                s <= t && t < e
            })
        });
        if !inside {
            return None;
        }
    }
    Some(&l.participants[k % l.participants.len()])
}

fn ref_on_call(s: &Schedule, t: Timestamp, overrides: &[Override]) -> Vec<String> {
    let tz = s.time_zone();
    let mut users: Vec<String> = Vec::new();
    for l in s.layers().iter().rev() {
        if let Some(u) = ref_layer(tz, l, t) {
            users.push(u.to_string());
            break;
        }
    }
    let mut sorted: Vec<&Override> = overrides.iter().collect();
    sorted.sort_by_key(|o| o.id); // stable: equal ids keep slice order
    for o in sorted {
        if !(o.start <= t && t < o.end) {
            continue;
        }
        match &o.kind {
            OverrideKind::Add { user } => users.push(user.clone()),
            OverrideKind::Remove { user } => users.retain(|u| u != user),
            OverrideKind::Replace { from, to } => {
                if users.contains(from) {
                    users.retain(|u| u != from);
                    users.push(to.clone());
                }
            }
        }
    }
    users.sort();
    users.dedup();
    users
}

const ZONES: &[&str] = &[
    "UTC",
    "Europe/London",
    "America/New_York",
    "Australia/Lord_Howe",
    "America/Santiago", // DST changes at midnight
    "Asia/Kolkata",
];
const USERS: &[&str] = &["u0", "u1", "u2", "u3", "u4", "u5"];

/// 2026-01-01T00:00 plus `quarters` × 15 minutes, as civil time.
fn civil_at(quarters: i64) -> DateTime {
    date(2026, 1, 1)
        .at(0, 0, 0, 0)
        .checked_add(Span::new().minutes(quarters * 15))
        .unwrap()
}

fn base() -> Timestamp {
    ts("2026-01-01T00:00:00Z")
}

fn arb_shift() -> impl Strategy<Value = ShiftLength> {
    prop_oneof![
        (1u32..=36).prop_map(ShiftLength::Hours),
        (1u32..=10).prop_map(ShiftLength::Days),
        (1u32..=3).prop_map(ShiftLength::Weeks),
    ]
}

/// A quarter-hour time of day; half the time in 23:00-03:45, where the
/// zones below change their clocks.
fn arb_time() -> impl Strategy<Value = Time> {
    let quarter = || prop_oneof![Just(0i8), Just(15), Just(30), Just(45)];
    prop_oneof![
        (0i8..24, quarter()).prop_map(|(h, m)| Time::constant(h, m, 0, 0)),
        (prop_oneof![Just(23i8), 0i8..4], quarter()).prop_map(|(h, m)| Time::constant(h, m, 0, 0)),
    ]
}

fn arb_restriction() -> impl Strategy<Value = Restriction> {
    (1u8..128, arb_time(), arb_time())
        .prop_filter("end != start", |(_, s, e)| s != e)
        .prop_map(|(mask, start, end)| Restriction {
            days: (0..7)
                .filter(|i| mask & (1 << i) != 0)
                .map(|i| Weekday::from_monday_zero_offset(i).unwrap())
                .collect(),
            start,
            end,
        })
}

fn arb_layer() -> impl Strategy<Value = Layer> {
    (
        prop::collection::vec(prop::sample::select(USERS), 1..=5),
        arb_shift(),
        // First handoff any day in 2026 (late enough in the year for the
        // walking reference to stay quick), at a time of day near DST changes
        // half the time.
        0i64..365,
        arb_time(),
        prop_oneof![
            2 => Just(vec![]),
            1 => prop::collection::vec(arb_restriction(), 1..=2),
        ],
    )
        .prop_map(|(participants, shift, day, time, restrictions)| Layer {
            name: "l".into(),
            participants: participants.into_iter().map(String::from).collect(),
            shift,
            first_handoff: civil_at(day * 96).date().to_datetime(time),
            restrictions,
        })
}

fn arb_override_kind() -> impl Strategy<Value = OverrideKind> {
    let user = || prop::sample::select(USERS).prop_map(String::from);
    prop_oneof![
        user().prop_map(|user| OverrideKind::Add { user }),
        user().prop_map(|user| OverrideKind::Remove { user }),
        (user(), user()).prop_map(|(from, to)| OverrideKind::Replace { from, to }),
    ]
}

/// An override anywhere in the test period (ids may repeat: equal ids keep
/// slice order).
fn arb_override() -> impl Strategy<Value = Override> {
    (
        0i64..10,
        0i64..(400 * 96),
        1i64..(10 * 96),
        arb_override_kind(),
    )
        .prop_map(|(id, q, len, kind)| {
            let start = base() + SignedDuration::from_mins(q * 15);
            Override {
                id,
                start,
                end: start + SignedDuration::from_mins(len * 15),
                kind,
            }
        })
}

/// Overrides that cover `t` (so that several apply at once and their order
/// matters).
fn arb_override_around(t: Timestamp) -> impl Strategy<Value = Override> {
    (0i64..10, 0i64..96, 1i64..96, arb_override_kind()).prop_map(
        move |(id, before, after, kind)| Override {
            id,
            start: t - SignedDuration::from_mins(before * 15),
            end: t + SignedDuration::from_mins(after * 15),
            kind,
        },
    )
}

fn arb_schedule() -> impl Strategy<Value = Schedule> {
    (
        prop::sample::select(ZONES),
        prop::collection::vec(arb_layer(), 1..=3),
    )
        .prop_map(|(zone, layers)| Schedule::new("s", zone, layers).unwrap())
}

/// An instant in 2026 (plus a little of 2027), on the quarter hour half the
/// time so that handoffs and window edges are hit exactly.
fn arb_instant() -> impl Strategy<Value = Timestamp> {
    prop_oneof![
        (0i64..(400 * 96)).prop_map(|q| base() + SignedDuration::from_mins(q * 15)),
        (0i64..(400 * 86_400)).prop_map(|s| base() + SignedDuration::from_secs(s)),
    ]
}

/// The zone's clock changes in the test period.
fn transitions(tz: &TimeZone) -> Vec<Timestamp> {
    let end = ts("2027-02-01T00:00Z");
    tz.following(base())
        .map(|t| t.timestamp())
        .take_while(|t| *t < end)
        .collect()
}

/// A schedule and instants to probe it at: random ones, and (where the zone
/// has DST) ones within two hours of a clock change, often exactly on a
/// quarter hour or a nanosecond before one.
fn arb_schedule_and_instants(n: usize) -> impl Strategy<Value = (Schedule, Vec<Timestamp>)> {
    arb_schedule().prop_flat_map(move |s| {
        let near = transitions(s.time_zone());
        let instant = if near.is_empty() {
            arb_instant().boxed()
        } else {
            prop_oneof![
                arb_instant(),
                (
                    prop::sample::select(near),
                    -8i64..=8,
                    prop_oneof![Just(0i64), Just(-1i64), 0i64..900_000_000_000]
                )
                    .prop_map(|(t, q, ns)| {
                        t + SignedDuration::from_mins(q * 15) + SignedDuration::from_nanos(ns)
                    }),
            ]
            .boxed()
        };
        (Just(s), prop::collection::vec(instant, n))
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    /// (a) `on_call` agrees with the reference, and so does each layer.
    #[test]
    fn on_call_matches_reference(
        (s, instants, overrides) in arb_schedule_and_instants(8).prop_flat_map(|(s, instants)| {
            let around = prop::collection::vec(arb_override_around(instants[0]), 0..=5);
            let anywhere = prop::collection::vec(arb_override(), 0..=6);
            (Just(s), Just(instants), around, anywhere).prop_map(|(s, i, mut a, b)| {
                a.extend(b);
                (s, i, a)
            })
        }),
    ) {
        for t in instants {
            prop_assert_eq!(s.on_call(t, &overrides), ref_on_call(&s, t, &overrides), "at {}", t);
            for l in s.layers() {
                prop_assert_eq!(l.on_call(s.time_zone(), t), ref_layer(s.time_zone(), l, t), "layer at {}", t);
            }
        }
    }

    /// (b) `shifts` covers [from, to) exactly, each span agrees with `on_call`
    /// at its start and just before its end, and neighbours differ.
    #[test]
    fn shifts_tile_the_window_and_agree_with_on_call(
        (s, from) in arb_schedule_and_instants(1),
        overrides in prop::collection::vec(arb_override(), 0..=6),
        len_secs in 1i64..(45 * 86_400),
    ) {
        let from = from[0];
        let to = from + SignedDuration::from_secs(len_secs);
        let shifts = s.shifts(from, to, &overrides);
        prop_assert!(!shifts.is_empty());
        prop_assert_eq!(shifts[0].start, from);
        prop_assert_eq!(shifts.last().unwrap().end, to);
        let tick = SignedDuration::from_nanos(1);
        for (i, sh) in shifts.iter().enumerate() {
            prop_assert!(sh.start < sh.end, "empty span {:?}", sh);
            if i > 0 {
                prop_assert_eq!(shifts[i - 1].end, sh.start);
                prop_assert_ne!(&shifts[i - 1].users, &sh.users, "unmerged at {}", sh.start);
            }
            prop_assert_eq!(&s.on_call(sh.start, &overrides), &sh.users, "at start {}", sh.start);
            prop_assert_eq!(&s.on_call(sh.end - tick, &overrides), &sh.users, "before end {}", sh.end);
        }
    }

    /// (c) A layer's rendered shifts are sorted, never overlap, stay inside the
    /// window, and say exactly what `Layer::on_call` says.
    #[test]
    fn layer_shifts_never_overlap(
        (s, from) in arb_schedule_and_instants(1),
        len_secs in 1i64..(45 * 86_400),
        probes in prop::collection::vec(0f64..1.0, 8),
    ) {
        let from = from[0];
        let to = from + SignedDuration::from_secs(len_secs);
        let tz = s.time_zone();
        let tick = SignedDuration::from_nanos(1);
        for (li, l) in s.layers().iter().enumerate() {
            let shifts = s.layer_shifts(li, from, to);
            for (i, sh) in shifts.iter().enumerate() {
                prop_assert!(from <= sh.start && sh.start < sh.end && sh.end <= to, "{:?}", sh);
                if i > 0 {
                    prop_assert!(shifts[i - 1].end <= sh.start, "overlap {:?} {:?}", shifts[i - 1], sh);
                }
                prop_assert_eq!(l.on_call(tz, sh.start), Some(sh.user.as_str()));
                prop_assert_eq!(l.on_call(tz, sh.end - tick), Some(sh.user.as_str()));
            }
            for p in &probes {
                let t = from + SignedDuration::from_secs((len_secs as f64 * p) as i64);
                let covering = shifts.iter().find(|sh| sh.start <= t && t < sh.end);
                prop_assert_eq!(l.on_call(tz, t), covering.map(|sh| sh.user.as_str()), "at {}", t);
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Timing (run with: cargo test -p firebell-core --release --test schedule -- --ignored --nocapture).
// ---------------------------------------------------------------------------

#[test]
#[ignore]
fn timing_a_year_of_shifts() {
    let mut business = layer(
        &["c1", "c2"],
        ShiftLength::Weeks(1),
        date(2026, 1, 5).at(9, 0, 0, 0),
    );
    business.restrictions = vec![Restriction {
        days: vec![
            Weekday::Monday,
            Weekday::Tuesday,
            Weekday::Wednesday,
            Weekday::Thursday,
            Weekday::Friday,
        ],
        start: Time::constant(9, 0, 0, 0),
        end: Time::constant(17, 0, 0, 0),
    }];
    let s = schedule(
        "Europe/London",
        vec![
            layer(
                &["a1", "a2", "a3", "a4"],
                ShiftLength::Weeks(1),
                date(2025, 1, 6).at(9, 0, 0, 0),
            ),
            layer(
                &["b1", "b2", "b3"],
                ShiftLength::Hours(12),
                date(2025, 1, 1).at(8, 0, 0, 0),
            ),
            business,
        ],
    );
    let overrides: Vec<Override> = (0..50)
        .map(|i| {
            let start = ts("2026-01-01T00:00Z") + SignedDuration::from_hours(i * 170 + 5);
            Override::new(
                i,
                start,
                start + SignedDuration::from_hours(30),
                OverrideKind::Replace {
                    from: "b1".into(),
                    to: "z".into(),
                },
            )
            .unwrap()
        })
        .collect();
    let (from, to) = (ts("2026-01-01T00:00Z"), ts("2027-01-01T00:00Z"));
    let runs = 50;
    let t0 = std::time::Instant::now();
    let mut n = 0;
    for _ in 0..runs {
        n = s.shifts(from, to, &overrides).len();
    }
    let per_year = t0.elapsed() / runs;
    let t0 = std::time::Instant::now();
    let calls = 100_000u32;
    let mut total = 0;
    for i in 0..calls {
        let t = from + SignedDuration::from_secs(i64::from(i) * 313);
        total += s.on_call(t, &overrides).len();
    }
    let per_call = t0.elapsed() / calls;
    println!("shifts over a year: {n} spans in {per_year:?}; on_call: {per_call:?} ({total})");
}
