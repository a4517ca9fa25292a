//! On-call schedules: layers of rotations in one IANA time zone, plus runtime
//! overrides, answering "who is on call at instant t" and "what are the shifts
//! over [from, to)". Pure: no I/O, no clock; every instant comes in as an
//! argument.
//!
//! This is the one module that does zone arithmetic for schedules (STYLE habit
//! 5). The rules:
//!
//! - **Handoffs are civil.** Shift `k` of a layer starts at the civil date-time
//!   `first_handoff + k × shift`, computed in civil time (no zone), then placed
//!   in the schedule's zone. That holds for hour shifts too: a `12h` rotation
//!   starting at 08:00 hands off at 08:00 and 20:00 all year, so the shift that
//!   spans a DST change is 11 or 13 hours long (and an hour-long shift whose
//!   start falls in a skipped hour lasts zero time and is skipped).
//! - **Civil → instant** ([`resolve`]): an unambiguous civil time is that
//!   instant; one inside a repeated hour (fold) is its *first* occurrence; one
//!   inside a skipped hour (gap) is the *first valid instant after the gap*,
//!   i.e. the transition itself (01:30 on the London spring-forward day → 02:00
//!   BST = 01:00 UTC). Note that jiff's `Disambiguation::Compatible` resolves a
//!   gap differently (01:30 → 02:30 BST, shifted by the gap's length), so gaps
//!   are resolved here by hand. The mapping is non-decreasing, so shifts never
//!   overlap.
//! - **Restrictions** are windows of civil time on chosen weekdays. A window
//!   whose end is before its start crosses midnight and belongs to its start
//!   day. Each occurrence is the instant interval
//!   `[resolve(day@start), resolve(day'@end))` — the same rule as handoffs, so
//!   a window is never split or doubled by a repeated hour.
//! - **Layers**: later layers are higher; the highest layer that has someone at
//!   `t` (inside its restrictions, after its first handoff) gives the base set.
//! - **Overrides** active at `t` (`start <= t < end`) then apply in order of
//!   `id` (creation order; equal ids keep slice order): add, remove, or replace
//!   `from` by `to` when `from` is on call.

use jiff::civil::{Date, DateTime, Time, Weekday};
use jiff::tz::{AmbiguousOffset, TimeZone};
use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

// ---------------------------------------------------------------------------
// Errors.
// ---------------------------------------------------------------------------

/// One problem in a schedule or override, with the field it is about.
///
/// `field` is a path relative to the schedule (`timezone`,
/// `layers[1].shift`, `layers[0].restrictions[2].days[1]`) or to the override
/// (`end`); the config layer prefixes it (`schedules[2].layers[1].shift`) with
/// [`ScheduleError::within`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct ScheduleError {
    pub field: String,
    pub message: String,
}

impl ScheduleError {
    fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        ScheduleError {
            field: field.into(),
            message: message.into(),
        }
    }

    /// The same error with its field path under `prefix`
    /// (`"schedules[2]"` + `"layers[1].shift"` → `"schedules[2].layers[1].shift"`).
    pub fn within(mut self, prefix: &str) -> Self {
        self.field = format!("{prefix}.{}", self.field);
        self
    }
}

// ---------------------------------------------------------------------------
// Parsing helpers for the config layer.
// ---------------------------------------------------------------------------

/// How long one shift of a rotation lasts, in civil units.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ShiftLength {
    Hours(u32),
    Days(u32),
    Weeks(u32),
}

impl ShiftLength {
    /// The length in civil seconds (days of 24 civil hours).
    fn civil_seconds(self) -> i64 {
        match self {
            ShiftLength::Hours(n) => i64::from(n) * 3_600,
            ShiftLength::Days(n) => i64::from(n) * 86_400,
            ShiftLength::Weeks(n) => i64::from(n) * 604_800,
        }
    }

    fn count(self) -> u32 {
        match self {
            ShiftLength::Hours(n) | ShiftLength::Days(n) | ShiftLength::Weeks(n) => n,
        }
    }
}

impl fmt::Display for ShiftLength {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ShiftLength::Hours(n) => write!(f, "{n}h"),
            ShiftLength::Days(n) => write!(f, "{n}d"),
            ShiftLength::Weeks(n) => write!(f, "{n}w"),
        }
    }
}

impl FromStr for ShiftLength {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_shift(s)
    }
}

/// Parses a shift length: a positive whole number and a unit, `h`, `d` or `w`
/// (`"12h"`, `"2d"`, `"1w"`).
pub fn parse_shift(s: &str) -> Result<ShiftLength, String> {
    let bad = || format!("{s:?} is not a shift length; write e.g. \"12h\", \"1d\" or \"1w\"");
    let unit = s.chars().last().ok_or_else(bad)?;
    let digits = &s[..s.len() - unit.len_utf8()];
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let n: u32 = digits
        .parse()
        .map_err(|_| format!("{s:?}: shift length is too large"))?;
    if n == 0 {
        return Err(format!("{s:?}: a shift must be longer than zero"));
    }
    match unit {
        'h' => Ok(ShiftLength::Hours(n)),
        'd' => Ok(ShiftLength::Days(n)),
        'w' => Ok(ShiftLength::Weeks(n)),
        _ => Err(bad()),
    }
}

/// Parses a weekday: `mon`..`sun` or `monday`..`sunday`, any case.
pub fn parse_weekday(s: &str) -> Result<Weekday, String> {
    let day = match s.to_ascii_lowercase().as_str() {
        "mon" | "monday" => Weekday::Monday,
        "tue" | "tuesday" => Weekday::Tuesday,
        "wed" | "wednesday" => Weekday::Wednesday,
        "thu" | "thursday" => Weekday::Thursday,
        "fri" | "friday" => Weekday::Friday,
        "sat" | "saturday" => Weekday::Saturday,
        "sun" | "sunday" => Weekday::Sunday,
        _ => {
            return Err(format!(
                "unknown weekday {s:?}; use mon, tue, wed, thu, fri, sat or sun"
            ));
        }
    };
    Ok(day)
}

/// Parses a time of day, `"HH:MM"` or `"HH:MM:SS"` (24-hour clock).
pub fn parse_time(s: &str) -> Result<Time, String> {
    if !(s.len() == 5 || s.len() == 8) || s.as_bytes().get(2) != Some(&b':') {
        return Err(format!("{s:?} is not a time of day; write e.g. \"09:00\""));
    }
    s.parse::<Time>()
        .map_err(|e| format!("{s:?} is not a time of day: {e}"))
}

/// Parses a civil date-time without offset or zone (`"2026-03-02T09:00"` or
/// `"2026-03-02 09:00"`); the schedule's zone gives it meaning.
pub fn parse_civil_datetime(s: &str) -> Result<DateTime, String> {
    let tail = s.get(10..).unwrap_or("");
    if tail.contains(['+', '-', 'Z', 'z', '[']) {
        return Err(format!(
            "{s:?} has an offset or zone; write a local date-time such as \
             \"2026-03-02T09:00\" (the schedule's time zone applies)"
        ));
    }
    s.parse::<DateTime>()
        .map_err(|e| format!("{s:?} is not a date-time: {e}"))
}

// ---------------------------------------------------------------------------
// Civil → instant.
// ---------------------------------------------------------------------------

/// Places a civil date-time in `tz`: the instant itself when unambiguous, the
/// first occurrence in a fold, the first valid instant after a gap (the
/// transition). `None` only outside jiff's supported range.
pub fn resolve(tz: &TimeZone, dt: DateTime) -> Option<Timestamp> {
    match tz.to_ambiguous_timestamp(dt).offset() {
        AmbiguousOffset::Unambiguous { offset } => offset.to_timestamp(dt).ok(),
        AmbiguousOffset::Fold { before, .. } => before.to_timestamp(dt).ok(),
        AmbiguousOffset::Gap { before, after } => {
            // With the offset from before the gap, `dt` lands at or after the
            // transition by less than the gap's length; with the one after,
            // strictly before it. The transition is the latest one at or
            // before the former.
            let late = before.to_timestamp(dt).ok()?;
            let early = after.to_timestamp(dt).ok()?;
            let probe = late.checked_add(SignedDuration::from_nanos(1)).ok()?;
            match tz.preceding(probe).next() {
                Some(tr) if tr.timestamp() > early && tr.timestamp() <= late => {
                    Some(tr.timestamp())
                }
                // Not expected with real tz data; fall back to "after the gap".
                _ => Some(late),
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Schedules.
// ---------------------------------------------------------------------------

/// A time-of-day window on chosen weekdays. `end < start` crosses midnight and
/// belongs to the start day (`fri 22:00–06:00` runs into Saturday morning).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Restriction {
    pub days: Vec<Weekday>,
    pub start: Time,
    pub end: Time,
}

impl Restriction {
    /// The occurrence of this window that starts on `date`, as instants.
    fn window_on(&self, tz: &TimeZone, date: Date) -> Option<(Timestamp, Timestamp)> {
        if !self.days.contains(&date.weekday()) {
            return None;
        }
        let start = resolve(tz, date.to_datetime(self.start))?;
        let end_date = if self.end > self.start {
            date
        } else {
            date.tomorrow().ok()?
        };
        let end = resolve(tz, end_date.to_datetime(self.end))?;
        (start < end).then_some((start, end))
    }
}

/// One rotation. Shift `k` (from 0) starts at `first_handoff + k × shift`
/// (civil, in the schedule's zone) and belongs to `participants[k mod n]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layer {
    pub name: String,
    pub participants: Vec<String>,
    pub shift: ShiftLength,
    pub first_handoff: DateTime,
    /// Empty: the layer covers all the time; otherwise only these windows.
    pub restrictions: Vec<Restriction>,
}

/// One piece of a layer's rendered rotation: `user` is on call in
/// `[start, end)`. `shift_index` is the rotation's shift number `k`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LayerShift {
    pub start: Timestamp,
    pub end: Timestamp,
    pub user: String,
    pub shift_index: i64,
}

/// Internal, allocation-free form of [`LayerShift`].
#[derive(Debug, Clone, Copy)]
struct Piece {
    start: Timestamp,
    end: Timestamp,
    k: i64,
}

impl Layer {
    /// When shift `k` starts; `None` beyond jiff's range (treated as never).
    fn handoff(&self, tz: &TimeZone, k: i64) -> Option<Timestamp> {
        let secs = k.checked_mul(self.shift.civil_seconds())?;
        let civil = self
            .first_handoff
            .checked_add(SignedDuration::from_secs(secs))
            .ok()?;
        resolve(tz, civil)
    }

    /// The shift running at `t`: the largest `k >= 0` whose handoff is at or
    /// before `t`. `None` before the first handoff.
    fn shift_index(&self, tz: &TimeZone, t: Timestamp) -> Option<i64> {
        // Estimate from civil time, then correct: civil and instant differ by
        // at most the zone's offset changes, a step or two of the grid.
        let civil = tz.to_datetime(t);
        let len = self.shift.civil_seconds();
        let mut k = civil
            .duration_since(self.first_handoff)
            .as_secs()
            .div_euclid(len)
            .max(0);
        while matches!(self.handoff(tz, k + 1), Some(s) if s <= t) {
            k += 1;
        }
        loop {
            match self.handoff(tz, k) {
                Some(s) if s <= t => return Some(k),
                _ if k == 0 => return None,
                _ => k -= 1,
            }
        }
    }

    fn participant(&self, k: i64) -> &str {
        let n = self.participants.len() as i64;
        // A validated layer has participants; guard anyway rather than panic.
        if n == 0 {
            return "";
        }
        &self.participants[k.rem_euclid(n) as usize]
    }

    fn within_restrictions(&self, tz: &TimeZone, t: Timestamp) -> bool {
        if self.restrictions.is_empty() {
            return true;
        }
        let date = tz.to_datetime(t).date();
        let days = [date.yesterday().ok(), Some(date), date.tomorrow().ok()];
        self.restrictions.iter().any(|r| {
            days.iter()
                .flatten()
                .filter_map(|d| r.window_on(tz, *d))
                .any(|(s, e)| s <= t && t < e)
        })
    }

    /// Who this layer puts on call at `t` (inside its restrictions), if anyone.
    pub fn on_call(&self, tz: &TimeZone, t: Timestamp) -> Option<&str> {
        let k = self.shift_index(tz, t)?;
        self.within_restrictions(tz, t).then(|| self.participant(k))
    }

    /// The rotation's shifts clipped to `[from, to)`, ignoring restrictions.
    fn rotation_pieces(&self, tz: &TimeZone, from: Timestamp, to: Timestamp) -> Vec<Piece> {
        let mut out = Vec::new();
        let mut k = self.shift_index(tz, from).unwrap_or(0);
        let mut start = self.handoff(tz, k);
        while let Some(s) = start {
            if s >= to {
                break;
            }
            let next = self.handoff(tz, k + 1);
            let e = next.unwrap_or(Timestamp::MAX);
            let (cs, ce) = (s.max(from), e.min(to));
            if cs < ce {
                out.push(Piece {
                    start: cs,
                    end: ce,
                    k,
                });
            }
            k += 1;
            start = next;
        }
        out
    }

    /// The union of the restriction windows meeting `[from, to)`, clipped,
    /// sorted and merged.
    fn windows(
        &self,
        tz: &TimeZone,
        from: Timestamp,
        to: Timestamp,
    ) -> Vec<(Timestamp, Timestamp)> {
        let mut out = Vec::new();
        let first = tz.to_datetime(from).date().yesterday().ok();
        let last = tz.to_datetime(to).date().tomorrow().ok();
        let (Some(mut day), Some(last)) = (first, last) else {
            return out;
        };
        while day <= last {
            for r in &self.restrictions {
                if let Some((s, e)) = r.window_on(tz, day) {
                    let (cs, ce) = (s.max(from), e.min(to));
                    if cs < ce {
                        out.push((cs, ce));
                    }
                }
            }
            match day.tomorrow() {
                Ok(d) => day = d,
                Err(_) => break,
            }
        }
        out.sort_unstable();
        let mut merged: Vec<(Timestamp, Timestamp)> = Vec::with_capacity(out.len());
        for (s, e) in out {
            match merged.last_mut() {
                Some(last) if s <= last.1 => last.1 = last.1.max(e),
                _ => merged.push((s, e)),
            }
        }
        merged
    }

    /// Rotation shifts intersected with restriction windows, within `[from, to)`.
    fn pieces(&self, tz: &TimeZone, from: Timestamp, to: Timestamp) -> Vec<Piece> {
        if from >= to {
            return Vec::new();
        }
        let rotation = self.rotation_pieces(tz, from, to);
        if self.restrictions.is_empty() {
            return rotation;
        }
        let windows = self.windows(tz, from, to);
        let mut out = Vec::new();
        let (mut i, mut j) = (0, 0);
        while i < rotation.len() && j < windows.len() {
            let (p, (ws, we)) = (rotation[i], windows[j]);
            let (s, e) = (p.start.max(ws), p.end.min(we));
            if s < e {
                out.push(Piece {
                    start: s,
                    end: e,
                    k: p.k,
                });
            }
            if p.end <= we {
                i += 1;
            } else {
                j += 1;
            }
        }
        out
    }

    /// This layer's rendered shifts in `[from, to)` after restrictions: sorted,
    /// never overlapping, clipped to the window. A rotation shift cut by
    /// restrictions gives one entry per window.
    pub fn shifts_in(&self, tz: &TimeZone, from: Timestamp, to: Timestamp) -> Vec<LayerShift> {
        self.pieces(tz, from, to)
            .into_iter()
            .map(|p| LayerShift {
                start: p.start,
                end: p.end,
                user: self.participant(p.k).to_string(),
                shift_index: p.k,
            })
            .collect()
    }
}

/// A validated schedule: an IANA zone and layers, later layers higher.
#[derive(Debug, Clone, PartialEq)]
pub struct Schedule {
    id: String,
    time_zone_name: String,
    time_zone: TimeZone,
    layers: Vec<Layer>,
}

/// A span of the final schedule: exactly `users` (sorted) are on call in
/// `[start, end)`. `users` may be empty (nobody on call).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Shift {
    pub start: Timestamp,
    pub end: Timestamp,
    pub users: Vec<String>,
}

impl Schedule {
    /// Checks and builds a schedule, reporting every problem with its field
    /// path: `id`, `timezone`, `layers`, `layers[i].participants[j]`,
    /// `layers[i].shift`, `layers[i].restrictions[j].days` / `.end`.
    pub fn new(
        id: impl Into<String>,
        time_zone: &str,
        layers: Vec<Layer>,
    ) -> Result<Schedule, Vec<ScheduleError>> {
        let id = id.into();
        let mut errors = Vec::new();
        if id.trim().is_empty() {
            errors.push(ScheduleError::new("id", "a schedule needs an id"));
        }
        let tz = match TimeZone::get(time_zone) {
            Ok(tz) => Some(tz),
            Err(_) => {
                errors.push(ScheduleError::new(
                    "timezone",
                    format!("unknown time zone {time_zone:?}; use an IANA name such as \"Europe/London\""),
                ));
                None
            }
        };
        if layers.is_empty() {
            errors.push(ScheduleError::new(
                "layers",
                "a schedule needs at least one layer",
            ));
        }
        for (i, layer) in layers.iter().enumerate() {
            check_layer(&mut errors, &format!("layers[{i}]"), layer);
        }
        match tz {
            Some(tz) if errors.is_empty() => Ok(Schedule {
                id,
                time_zone_name: time_zone.to_string(),
                time_zone: tz,
                layers,
            }),
            _ => Err(errors),
        }
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    /// The IANA name as configured (`"Europe/London"`).
    pub fn time_zone_name(&self) -> &str {
        &self.time_zone_name
    }

    pub fn time_zone(&self) -> &TimeZone {
        &self.time_zone
    }

    /// The layers, lowest first.
    pub fn layers(&self) -> &[Layer] {
        &self.layers
    }

    /// Who is on call at `at`: sorted, without duplicates, possibly empty.
    pub fn on_call(&self, at: Timestamp, overrides: &[Override]) -> Vec<String> {
        let tz = &self.time_zone;
        let mut users: Vec<&str> = self
            .layers
            .iter()
            .rev()
            .find_map(|l| l.on_call(tz, at))
            .into_iter()
            .collect();
        let mut active: Vec<&Override> = overrides.iter().filter(|o| o.is_active(at)).collect();
        active.sort_by_key(|o| o.id);
        apply_overrides(&mut users, &active);
        users.sort_unstable();
        users.dedup();
        users.into_iter().map(str::to_string).collect()
    }

    /// The final schedule over `[from, to)` after layers and overrides:
    /// contiguous spans covering exactly `[from, to)` (empty if `from >= to`),
    /// consecutive spans with the same users merged. Cost grows with the number
    /// of handoffs, restriction windows and overrides in the window, not with
    /// its length; callers should still bound the window (e.g. a year).
    pub fn shifts(&self, from: Timestamp, to: Timestamp, overrides: &[Override]) -> Vec<Shift> {
        if from >= to {
            return Vec::new();
        }
        let tz = &self.time_zone;
        let pieces: Vec<Vec<Piece>> = self.layers.iter().map(|l| l.pieces(tz, from, to)).collect();
        let mut active: Vec<&Override> = overrides
            .iter()
            .filter(|o| o.start < o.end && o.start < to && o.end > from)
            .collect();
        active.sort_by_key(|o| o.id);

        let mut bounds: Vec<Timestamp> = Vec::with_capacity(
            2 + 2 * active.len() + 2 * pieces.iter().map(Vec::len).sum::<usize>(),
        );
        bounds.extend([from, to]);
        for p in pieces.iter().flatten() {
            bounds.extend([p.start, p.end]);
        }
        for o in &active {
            bounds.extend([o.start.max(from), o.end.min(to)]);
        }
        bounds.sort_unstable();
        bounds.dedup();

        let mut cursor = vec![0usize; pieces.len()];
        let mut out: Vec<Shift> = Vec::new();
        let mut users: Vec<&str> = Vec::new();
        let mut now: Vec<&Override> = Vec::with_capacity(active.len());
        for w in bounds.windows(2) {
            let (a, b) = (w[0], w[1]);
            users.clear();
            for (li, layer_pieces) in pieces.iter().enumerate().rev() {
                let c = &mut cursor[li];
                while *c < layer_pieces.len() && layer_pieces[*c].end <= a {
                    *c += 1;
                }
                if let Some(p) = layer_pieces.get(*c).filter(|p| p.start <= a) {
                    users.push(self.layers[li].participant(p.k));
                    break;
                }
            }
            now.clear();
            now.extend(active.iter().copied().filter(|o| o.is_active(a)));
            apply_overrides(&mut users, &now);
            users.sort_unstable();
            users.dedup();
            match out.last_mut() {
                Some(last) if last.end == a && last.users.iter().eq(users.iter()) => last.end = b,
                _ => out.push(Shift {
                    start: a,
                    end: b,
                    users: users.iter().map(|u| u.to_string()).collect(),
                }),
            }
        }
        out
    }

    /// Layer `index`'s rendered shifts in `[from, to)` (see [`Layer::shifts_in`]).
    pub fn layer_shifts(&self, index: usize, from: Timestamp, to: Timestamp) -> Vec<LayerShift> {
        self.layers
            .get(index)
            .map(|l| l.shifts_in(&self.time_zone, from, to))
            .unwrap_or_default()
    }
}

fn check_layer(errors: &mut Vec<ScheduleError>, path: &str, layer: &Layer) {
    if layer.participants.is_empty() {
        errors.push(ScheduleError::new(
            format!("{path}.participants"),
            "a layer needs at least one participant",
        ));
    }
    for (j, p) in layer.participants.iter().enumerate() {
        if p.trim().is_empty() {
            errors.push(ScheduleError::new(
                format!("{path}.participants[{j}]"),
                "a participant must be a user id, not empty",
            ));
        }
    }
    if layer.shift.count() == 0 {
        errors.push(ScheduleError::new(
            format!("{path}.shift"),
            "a shift must be longer than zero",
        ));
    }
    for (j, r) in layer.restrictions.iter().enumerate() {
        let rpath = format!("{path}.restrictions[{j}]");
        if r.days.is_empty() {
            errors.push(ScheduleError::new(
                format!("{rpath}.days"),
                "a restriction needs at least one weekday",
            ));
        }
        if r.end == r.start {
            errors.push(ScheduleError::new(
                format!("{rpath}.end"),
                format!(
                    "the window ends when it starts ({}); for all day, leave the layer without restrictions",
                    r.start
                ),
            ));
        }
    }
}

// ---------------------------------------------------------------------------
// String-level input (what the config file holds).
// ---------------------------------------------------------------------------

/// A schedule as written in the config file; [`ScheduleSpec::build`] checks
/// every field and reports all errors with paths relative to the schedule.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleSpec {
    pub id: String,
    /// IANA zone name, e.g. `"Europe/London"` (same key as `users[].timezone`).
    pub timezone: String,
    #[serde(default)]
    pub layers: Vec<LayerSpec>,
    /// Tell the incoming person, through their first contact method, this
    /// long before their shift starts (`"15m"`; `"0s"` at the start). Off
    /// when absent. Checked by the configuration, not here.
    #[serde(default)]
    pub handoff_notice: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LayerSpec {
    /// Defaults to `"layer N"` (1-based).
    pub name: Option<String>,
    #[serde(default)]
    pub participants: Vec<String>,
    /// `"12h"`, `"1d"`, `"1w"`.
    pub shift: String,
    /// Local date-time in the schedule's zone, `"2026-03-02T09:00"`.
    pub first_handoff: String,
    #[serde(default)]
    pub restrictions: Vec<RestrictionSpec>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RestrictionSpec {
    /// `["mon", "tue", ...]`.
    #[serde(default)]
    pub days: Vec<String>,
    /// `"09:00"`.
    pub start: String,
    /// `"17:00"`; before `start` means the window crosses midnight.
    pub end: String,
}

impl ScheduleSpec {
    pub fn build(&self) -> Result<Schedule, Vec<ScheduleError>> {
        let mut errors = Vec::new();
        let mut layers = Vec::with_capacity(self.layers.len());
        for (i, l) in self.layers.iter().enumerate() {
            let path = format!("layers[{i}]");
            let shift = parse_shift(&l.shift)
                .map_err(|m| errors.push(ScheduleError::new(format!("{path}.shift"), m)))
                .ok();
            let first_handoff = parse_civil_datetime(&l.first_handoff)
                .map_err(|m| errors.push(ScheduleError::new(format!("{path}.first_handoff"), m)))
                .ok();
            let mut restrictions = Vec::with_capacity(l.restrictions.len());
            for (j, r) in l.restrictions.iter().enumerate() {
                let rpath = format!("{path}.restrictions[{j}]");
                let mut days = Vec::with_capacity(r.days.len());
                let mut days_ok = true;
                for (d, name) in r.days.iter().enumerate() {
                    match parse_weekday(name) {
                        Ok(w) => days.push(w),
                        Err(m) => {
                            days_ok = false;
                            errors.push(ScheduleError::new(format!("{rpath}.days[{d}]"), m));
                        }
                    }
                }
                let start = parse_time(&r.start)
                    .map_err(|m| errors.push(ScheduleError::new(format!("{rpath}.start"), m)))
                    .ok();
                let end = parse_time(&r.end)
                    .map_err(|m| errors.push(ScheduleError::new(format!("{rpath}.end"), m)))
                    .ok();
                // A field already reported gets a harmless stand-in, so that
                // it is not reported twice and later indices stay right.
                if !days_ok && days.is_empty() {
                    days.push(Weekday::Monday);
                }
                let (start, end) = match (start, end) {
                    (Some(s), Some(e)) => (s, e),
                    _ => (Time::midnight(), Time::constant(1, 0, 0, 0)),
                };
                restrictions.push(Restriction { days, start, end });
            }
            layers.push(Layer {
                name: l.name.clone().unwrap_or_else(|| format!("layer {}", i + 1)),
                participants: l.participants.clone(),
                // A bad shift was reported above; 1h keeps the layer checkable.
                shift: shift.unwrap_or(ShiftLength::Hours(1)),
                first_handoff: first_handoff.unwrap_or_default(),
                restrictions,
            });
        }
        match Schedule::new(self.id.clone(), &self.timezone, layers) {
            Ok(s) if errors.is_empty() => Ok(s),
            Ok(_) => Err(errors),
            Err(more) => {
                errors.extend(more);
                Err(errors)
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Overrides.
// ---------------------------------------------------------------------------

/// A runtime change to a schedule over `[start, end)`. Applied in `id` order.
///
/// As JSON: `{"id": 7, "start": "...Z", "end": "...Z", "kind": "replace",
/// "from": "alice", "to": "bob"}` (the kind's fields sit beside the others).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Override {
    pub id: i64,
    pub start: Timestamp,
    pub end: Timestamp,
    #[serde(flatten)]
    pub kind: OverrideKind,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum OverrideKind {
    /// Put `user` on call as well.
    Add { user: String },
    /// Take `user` off call.
    Remove { user: String },
    /// If `from` is on call, `to` takes their place ("I'll take your Tuesday").
    Replace { from: String, to: String },
}

impl Override {
    /// Checks and builds an override: `end` must be after `start`, user ids
    /// not empty. Errors name `end`, `user`, `from`, `to`.
    pub fn new(
        id: i64,
        start: Timestamp,
        end: Timestamp,
        kind: OverrideKind,
    ) -> Result<Override, Vec<ScheduleError>> {
        let mut errors = Vec::new();
        if end <= start {
            errors.push(ScheduleError::new(
                "end",
                format!("the override ends ({end}) at or before it starts ({start})"),
            ));
        }
        let users: Vec<(&str, &String)> = match &kind {
            OverrideKind::Add { user } | OverrideKind::Remove { user } => vec![("user", user)],
            OverrideKind::Replace { from, to } => vec![("from", from), ("to", to)],
        };
        for (field, u) in users {
            if u.trim().is_empty() {
                errors.push(ScheduleError::new(field, "a user id is required"));
            }
        }
        if errors.is_empty() {
            Ok(Override {
                id,
                start,
                end,
                kind,
            })
        } else {
            Err(errors)
        }
    }

    /// Whether this override applies at `t` (`start <= t < end`).
    pub fn is_active(&self, t: Timestamp) -> bool {
        self.start <= t && t < self.end
    }
}

fn apply_overrides<'a>(users: &mut Vec<&'a str>, overrides: &[&'a Override]) {
    for o in overrides {
        match &o.kind {
            OverrideKind::Add { user } => {
                if !users.contains(&user.as_str()) {
                    users.push(user);
                }
            }
            OverrideKind::Remove { user } => users.retain(|u| *u != user),
            OverrideKind::Replace { from, to } => {
                if users.contains(&from.as_str()) {
                    users.retain(|u| *u != from);
                    if !users.contains(&to.as_str()) {
                        users.push(to);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn parses_shift_lengths() {
        assert_eq!(parse_shift("12h"), Ok(ShiftLength::Hours(12)));
        assert_eq!(parse_shift("2d"), Ok(ShiftLength::Days(2)));
        assert_eq!(parse_shift("1w"), Ok(ShiftLength::Weeks(1)));
        for bad in [
            "",
            "h",
            "0w",
            "1x",
            "-1d",
            "1.5h",
            " 1h",
            "1 w",
            "99999999999h",
        ] {
            assert!(parse_shift(bad).is_err(), "{bad:?} should not parse");
        }
        assert_eq!(ShiftLength::Weeks(2).to_string(), "2w");
    }

    #[test]
    fn parses_weekdays_and_times() {
        assert_eq!(parse_weekday("Mon"), Ok(Weekday::Monday));
        assert_eq!(parse_weekday("sunday"), Ok(Weekday::Sunday));
        assert!(parse_weekday("funday").is_err());
        assert_eq!(parse_time("09:00"), Ok(Time::constant(9, 0, 0, 0)));
        assert_eq!(parse_time("23:59:59"), Ok(Time::constant(23, 59, 59, 0)));
        for bad in ["9:00", "24:00", "0900", "09:00:00.5", "noon"] {
            assert!(parse_time(bad).is_err(), "{bad:?} should not parse");
        }
        assert_eq!(
            parse_civil_datetime("2026-03-02T09:00"),
            Ok(date(2026, 3, 2).at(9, 0, 0, 0))
        );
        assert_eq!(
            parse_civil_datetime("2026-03-02 09:00"),
            Ok(date(2026, 3, 2).at(9, 0, 0, 0))
        );
        for bad in [
            "2026-03-02T09:00Z",
            "2026-03-02T09:00+01:00",
            "2026-03-02T09:00[Europe/London]",
            "tomorrow",
        ] {
            assert!(
                parse_civil_datetime(bad).is_err(),
                "{bad:?} should not parse"
            );
        }
    }

    #[test]
    fn resolve_gap_is_the_first_valid_instant_and_fold_the_first_occurrence() {
        let london = TimeZone::get("Europe/London").unwrap();
        // Compatible would say 01:30Z (02:30 BST); the first valid instant after
        // the skipped 01:30 is 02:00 BST.
        assert_eq!(
            resolve(&london, date(2026, 3, 29).at(1, 30, 0, 0)),
            Some(ts("2026-03-29T01:00:00Z"))
        );
        assert_eq!(
            resolve(&london, date(2026, 3, 29).at(1, 0, 0, 0)),
            Some(ts("2026-03-29T01:00:00Z"))
        );
        assert_eq!(
            resolve(&london, date(2026, 10, 25).at(1, 30, 0, 0)),
            Some(ts("2026-10-25T00:30:00Z"))
        );
        let lh = TimeZone::get("Australia/Lord_Howe").unwrap();
        assert_eq!(
            resolve(&lh, date(2026, 10, 4).at(2, 15, 0, 0)),
            Some(ts("2026-10-03T15:30:00Z"))
        );
        assert_eq!(
            resolve(&lh, date(2026, 4, 5).at(1, 45, 0, 0)),
            Some(ts("2026-04-04T14:45:00Z"))
        );
    }

    #[test]
    fn override_json_is_flat() {
        let o = Override::new(
            7,
            ts("2026-01-01T00:00:00Z"),
            ts("2026-01-02T00:00:00Z"),
            OverrideKind::Replace {
                from: "alice".into(),
                to: "bob".into(),
            },
        )
        .unwrap();
        let json = serde_json::to_value(&o).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "id": 7,
                "start": "2026-01-01T00:00:00Z",
                "end": "2026-01-02T00:00:00Z",
                "kind": "replace",
                "from": "alice",
                "to": "bob",
            })
        );
        assert_eq!(serde_json::from_value::<Override>(json).unwrap(), o);
    }

    #[test]
    fn overrides_apply_in_id_order() {
        let t0 = ts("2026-01-01T00:00:00Z");
        let t1 = ts("2026-01-02T00:00:00Z");
        let add = Override::new(
            2,
            t0,
            t1,
            OverrideKind::Add {
                user: "carol".into(),
            },
        )
        .unwrap();
        let replace = Override::new(
            1,
            t0,
            t1,
            OverrideKind::Replace {
                from: "carol".into(),
                to: "dave".into(),
            },
        )
        .unwrap();
        let mut users = vec!["alice"];
        // Replace (id 1) first finds no carol; then carol is added.
        let mut list = vec![&add, &replace];
        list.sort_by_key(|o| o.id);
        apply_overrides(&mut users, &list);
        assert_eq!(users, vec!["alice", "carol"]);
    }
}
