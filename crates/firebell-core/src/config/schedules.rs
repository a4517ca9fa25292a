//! `[[schedules]]`: each schedule built from its spec, its participants
//! checked against the users defined, and its optional handoff notice.

use super::diag::{Errors, check_id, known_list};
use crate::contacts::User;
use crate::schedule::{Schedule, ScheduleSpec};
use jiff::SignedDuration;
use std::collections::BTreeMap;

/// The longest `schedules[].handoff_notice` lead.
pub const MAX_HANDOFF_LEAD: SignedDuration = SignedDuration::from_hours(24 * 7);

/// Validates every `[[schedules]]` table; problems go to `errors` as
/// `schedules[N].<key>`. Returns the schedules and, for those with a
/// `handoff_notice`, how long before a shift it is sent.
pub(super) fn validate(
    raw: &[ScheduleSpec],
    users: &BTreeMap<String, User>,
    errors: &mut Errors,
) -> (BTreeMap<String, Schedule>, BTreeMap<String, SignedDuration>) {
    let mut schedules = BTreeMap::new();
    let mut handoff_notices = BTreeMap::new();
    for (i, spec) in raw.iter().enumerate() {
        let path = format!("schedules[{i}]");
        if let Some(lead) = &spec.handoff_notice {
            let lead_path = format!("{path}.handoff_notice");
            match crate::clock::parse_duration(lead) {
                Some(d) if !d.is_negative() && d <= MAX_HANDOFF_LEAD => {
                    handoff_notices.insert(spec.id.clone(), d);
                }
                _ => errors.hint(
                    lead_path,
                    format!("{lead:?} is not a duration from 0s to 7d"),
                    "how long before a shift starts to tell the incoming person, such as \"15m\" (or \"0s\" at the start)",
                ),
            }
        }
        if !spec.id.is_empty() {
            check_id(errors, &format!("{path}.id"), &spec.id);
        }
        for (j, layer) in spec.layers.iter().enumerate() {
            for (k, p) in layer.participants.iter().enumerate() {
                if !p.is_empty() && !users.contains_key(p) {
                    errors.hint(
                        format!("{path}.layers[{j}].participants[{k}]"),
                        format!("no user named {p:?}"),
                        known_list(users.keys()),
                    );
                }
            }
        }
        match spec.build() {
            Ok(schedule) => {
                if schedules.insert(spec.id.clone(), schedule).is_some() {
                    errors.push(
                        format!("{path}.id"),
                        format!("duplicate schedule id {:?}", spec.id),
                    );
                }
            }
            Err(errs) => {
                for e in errs {
                    let e = e.within(&path);
                    errors.push(e.field, e.message);
                }
            }
        }
    }
    (schedules, handoff_notices)
}
