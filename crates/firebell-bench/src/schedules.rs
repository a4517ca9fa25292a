//! The schedules scenario: pure on-call arithmetic, in process (no server):
//! who is on call now in 1,000 schedules, and a year of final shifts for one
//! schedule with 3 layers and 50 overrides.

use firebell_core::schedule::{
    LayerSpec, Override, OverrideKind, RestrictionSpec, Schedule, ScheduleSpec,
};
use hdrhistogram::Histogram;
use jiff::{SignedDuration, Timestamp};
use std::time::Instant;

const ZONES: [&str; 4] = [
    "Europe/London",
    "America/New_York",
    "Australia/Lord_Howe",
    "Asia/Kolkata",
];

fn users(n: usize, offset: usize) -> Vec<String> {
    (0..n)
        .map(|i| format!("user{}", (i + offset) % 97))
        .collect()
}

/// A schedule of three layers: a weekly 24/7 rotation, a 12-hour one, and a
/// business-hours layer on top.
pub fn three_layers(id: &str, zone: &str, seed: usize) -> Schedule {
    ScheduleSpec {
        id: id.to_string(),
        timezone: zone.to_string(),
        layers: vec![
            LayerSpec {
                name: Some("24/7".into()),
                participants: users(5, seed),
                shift: "1w".into(),
                first_handoff: "2026-01-05T09:00".into(),
                restrictions: vec![],
            },
            LayerSpec {
                name: Some("12h".into()),
                participants: users(4, seed + 7),
                shift: "12h".into(),
                first_handoff: "2026-01-05T08:00".into(),
                restrictions: vec![RestrictionSpec {
                    days: vec!["sat".into(), "sun".into()],
                    start: "08:00".into(),
                    end: "20:00".into(),
                }],
            },
            LayerSpec {
                name: Some("office".into()),
                participants: users(3, seed + 13),
                shift: "1d".into(),
                first_handoff: "2026-01-05T00:00".into(),
                restrictions: vec![RestrictionSpec {
                    days: ["mon", "tue", "wed", "thu", "fri"]
                        .iter()
                        .map(|d| d.to_string())
                        .collect(),
                    start: "09:00".into(),
                    end: "17:30".into(),
                }],
            },
        ],
        handoff_notice: None,
    }
    .build()
    .unwrap_or_else(|e| panic!("benchmark schedule is invalid: {e:?}"))
}

/// 50 overrides spread over the year: adds, removes and replaces.
pub fn overrides(start: Timestamp) -> Vec<Override> {
    (0..50)
        .filter_map(|i| {
            let s = start + SignedDuration::from_hours(24 * 7 * i + 13);
            let e = s + SignedDuration::from_hours(10 + i % 30);
            let kind = match i % 3 {
                0 => OverrideKind::Add {
                    user: format!("user{}", i % 97),
                },
                1 => OverrideKind::Remove {
                    user: format!("user{}", i % 5),
                },
                _ => OverrideKind::Replace {
                    from: format!("user{}", i % 5),
                    to: format!("user{}", 50 + i),
                },
            };
            Override::new(i, s, e, kind).ok()
        })
        .collect()
}

pub struct Figures {
    pub oncall_1000_us: (f64, f64, f64),
    pub oncall_per_schedule_us: f64,
    pub year_ms: (f64, f64, f64),
    pub year_spans: usize,
}

fn pct(h: &Histogram<u64>, q: f64) -> f64 {
    h.value_at_quantile(q) as f64 / 1000.0
}

pub fn run() -> Figures {
    let now: Timestamp = "2026-06-15T10:30:00Z"
        .parse()
        .unwrap_or(Timestamp::UNIX_EPOCH);
    let schedules: Vec<Schedule> = (0..1000)
        .map(|i| three_layers(&format!("s{i}"), ZONES[i % ZONES.len()], i))
        .collect();
    let ovs = overrides("2026-01-01T00:00:00Z".parse().unwrap_or(now));
    // who is on call in all 1,000, 200 times (each at a different minute)
    let mut h = new_hist();
    let mut total_people = 0usize;
    for round in 0..200 {
        let at = now + SignedDuration::from_mins(round * 37);
        let t = Instant::now();
        for s in &schedules {
            total_people += s.on_call(at, &ovs).len();
        }
        let _ = h.record(t.elapsed().as_nanos() as u64);
    }
    std::hint::black_box(total_people);
    let mean_all = h.mean() / 1000.0;
    // a year of shifts, one schedule, 3 layers, 50 overrides
    let s = &schedules[0];
    let from: Timestamp = "2026-01-01T00:00:00Z".parse().unwrap_or(now);
    let to = from + SignedDuration::from_hours(24 * 365);
    let mut hy = new_hist();
    let mut spans = 0;
    for _ in 0..50 {
        let t = Instant::now();
        spans = s.shifts(from, to, &ovs).len();
        let _ = hy.record(t.elapsed().as_nanos() as u64);
    }
    Figures {
        oncall_1000_us: (pct(&h, 0.5), pct(&h, 0.99), h.max() as f64 / 1000.0),
        oncall_per_schedule_us: mean_all / 1000.0,
        year_ms: (
            pct(&hy, 0.5) / 1000.0,
            pct(&hy, 0.99) / 1000.0,
            hy.max() as f64 / 1e6,
        ),
        year_spans: spans,
    }
}

fn new_hist() -> Histogram<u64> {
    // 3 significant figures is a valid precision: this cannot fail.
    #[allow(clippy::expect_used)]
    Histogram::<u64>::new(3).expect("3 significant figures")
}

pub fn report(r: &Figures) -> String {
    format!(
        "### schedules (in process, no server)\n\n| metric | value |\n|---|---|\n\
         | who is on call in 1,000 schedules (3 layers, 50 overrides each), p50 / p99 / max | {:.0} / {:.0} / {:.0} µs |\n\
         | per schedule (mean) | {:.2} µs |\n\
         | a year of final shifts, 1 schedule, 3 layers, 50 overrides, p50 / p99 / max | {:.2} / {:.2} / {:.2} ms ({} spans) |\n",
        r.oncall_1000_us.0,
        r.oncall_1000_us.1,
        r.oncall_1000_us.2,
        r.oncall_per_schedule_us,
        r.year_ms.0,
        r.year_ms.1,
        r.year_ms.2,
        r.year_spans,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_benchmark_schedules_have_people_on_call() {
        let s = three_layers("x", "Europe/London", 1);
        let at: Timestamp = "2026-06-15T10:30:00Z".parse().unwrap();
        assert!(!s.on_call(at, &[]).is_empty());
        assert_eq!(overrides(at).len(), 50);
    }
}
