//! Faults of time: the wall clock stepping backwards (an NTP correction, a
//! VM restored from a snapshot). Disk, network and DNS faults are injected
//! under the real binary (crates/firebell/tests/cli/faults.rs).

use crate::support::*;
use jiff::SignedDuration;

/// The clock steps back an hour after the first page: nobody is paged again,
/// and the next steps still come, each once, when the clock reaches their
/// due times (escalation times are instants, so the step back delays them).
#[tokio::test]
async fn the_clock_stepping_back_an_hour_repeats_no_page_and_skips_no_step() {
    let (app, _dir, _sink) = spawn_app(THREE_STEPS).await;
    let id = app.trigger("clock", "Clock test").await;
    app.settle().await;
    assert_eq!(app.page_log(), vec![("alice".to_string(), 0)]);

    app.clock.set(t0() - SignedDuration::from_hours(1));
    app.settle().await;
    assert_eq!(
        app.pages().len(),
        1,
        "nothing repeated: {:?}",
        app.page_log()
    );
    // An alert raised while the clock is behind escalates from its own time.
    app.trigger("behind", "Raised while the clock was behind")
        .await;
    app.advance(SignedDuration::from_mins(5)).await;
    assert_eq!(
        app.page_log(),
        vec![
            ("alice".to_string(), 0),
            ("alice".to_string(), -60),
            ("bob".to_string(), -59),
            ("carol".to_string(), -57),
        ],
        "the first alert's steps wait for their times; nothing repeated"
    );

    app.run_until(t0() + mins(3)).await;
    let first: Vec<_> = app
        .pages()
        .iter()
        .filter(|p| p.line.contains(&format!("alert #{id} ")))
        .map(|p| (p.user.clone(), p.at.duration_since(t0()).as_secs() / 60))
        .collect();
    assert_eq!(
        first,
        vec![
            ("alice".to_string(), 0),
            ("bob".to_string(), 1),
            ("carol".to_string(), 3)
        ],
        "each step once, none skipped"
    );
    assert_eq!(
        app.timeline_kinds(id)
            .await
            .iter()
            .filter(|k| *k == "received")
            .count(),
        1
    );
}
