//! The machine description and the results tables (Markdown, so they can be
//! pasted into docs/benchmarks.md).

use crate::load::Api;
use crate::scenarios::{LatencyResult, MemoryResult, ThroughputResult};
use crate::server::Memory;
use crate::stats::LatencySummary;
use serde::Serialize;

/// What the figures were measured on.
#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    pub nproc: usize,
    pub cpu_model: String,
    pub mem_total_kb: u64,
}

impl Machine {
    pub fn read() -> Machine {
        let nproc = std::thread::available_parallelism().map_or(1, usize::from);
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        Machine {
            nproc,
            cpu_model: cpu_model(&cpuinfo).unwrap_or_else(|| "unknown".into()),
            mem_total_kb: mem_total_kb(&meminfo).unwrap_or(0),
        }
    }

    pub fn describe(&self) -> String {
        format!(
            "machine: {} CPUs ({}), {:.1} GiB RAM",
            self.nproc,
            self.cpu_model,
            self.mem_total_kb as f64 / (1024.0 * 1024.0)
        )
    }
}

fn cpu_model(cpuinfo: &str) -> Option<String> {
    cpuinfo.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        (k.trim() == "model name").then(|| v.trim().to_string())
    })
}

fn mem_total_kb(meminfo: &str) -> Option<u64> {
    meminfo.lines().find_map(|l| {
        l.strip_prefix("MemTotal:")?
            .split_whitespace()
            .next()?
            .parse()
            .ok()
    })
}

/// A two-column Markdown table with a heading.
pub struct Table {
    title: String,
    rows: Vec<(String, String)>,
}

impl Table {
    pub fn new(title: impl Into<String>) -> Table {
        Table {
            title: title.into(),
            rows: Vec::new(),
        }
    }

    pub fn row(&mut self, k: impl Into<String>, v: impl Into<String>) -> &mut Table {
        self.rows.push((k.into(), v.into()));
        self
    }

    pub fn render(&self) -> String {
        let kw = self
            .rows
            .iter()
            .map(|r| r.0.len())
            .max()
            .unwrap_or(0)
            .max(6);
        let vw = self
            .rows
            .iter()
            .map(|r| r.1.len())
            .max()
            .unwrap_or(0)
            .max(5);
        let mut out = format!("### {}\n\n", self.title);
        out.push_str(&format!("| {:kw$} | {:vw$} |\n", "metric", "value"));
        out.push_str(&format!(
            "|{}|{}|\n",
            "-".repeat(kw + 2),
            "-".repeat(vw + 2)
        ));
        for (k, v) in &self.rows {
            out.push_str(&format!("| {k:kw$} | {v:vw$} |\n"));
        }
        out
    }
}

fn latency(s: &LatencySummary) -> String {
    if s.count == 0 {
        return "n/a (no samples)".into();
    }
    format!(
        "{:.2} / {:.2} / {:.2} / {:.2}",
        s.p50_ms, s.p90_ms, s.p99_ms, s.max_ms
    )
}

fn mib(kb: u64) -> String {
    format!("{:.1} MiB", kb as f64 / 1024.0)
}

fn memory(m: Option<&Memory>) -> String {
    match m {
        Some(m) => format!("{} / {}", mib(m.vm_rss_kb), mib(m.vm_hwm_kb)),
        None => "n/a".into(),
    }
}

pub fn throughput_table(r: &ThroughputResult, ready_ms: f64) -> Table {
    let (title, ok) = match r.api {
        Api::Generic => (
            format!(
                "throughput: {} workers x {} events/request, {:.0} s",
                r.workers, r.batch, r.duration_s
            ),
            "requests/s (202)",
        ),
        Api::Alertmanager => (
            format!(
                "alertmanager: {} workers x {} alerts/request to {}, {:.0} s",
                r.workers, r.batch, r.endpoint, r.duration_s
            ),
            "requests/s (200)",
        ),
    };
    let mut t = Table::new(title);
    t.row("events accepted/s", format!("{:.0}", r.events_per_sec))
        .row(ok, format!("{:.1}", r.requests_per_sec))
        .row(
            "events accepted (requests)",
            format!(
                "{} ({}) in {:.2} s",
                r.events_accepted, r.requests_ok, r.elapsed_s
            ),
        )
        .row("errors", r.errors.describe())
        .row(
            "request latency p50/p90/p99/max ms",
            latency(&r.request_latency),
        )
        .row("pages/s during the run", format!("{:.0}", r.pages_per_sec))
        .row(
            "pages arrived by the end",
            format!("{} of {}", r.pages_during_run, r.events_accepted),
        )
        .row(
            "pages arrived after drain",
            format!(
                "{} of {} (waited {:.1} s)",
                r.pages_after_drain, r.events_accepted, r.drain_s
            ),
        )
        .row("server VmRSS / VmHWM at end", memory(r.memory_end.as_ref()))
        .row("server ready after", format!("{ready_ms:.0} ms"));
    if r.sink.repeats > 0 || r.sink.malformed > 0 {
        t.row(
            "sink repeats / malformed",
            format!("{} / {}", r.sink.repeats, r.sink.malformed),
        );
    }
    t
}

pub fn soak_table(r: &crate::scenarios::SoakResult, ready_ms: f64) -> Table {
    let mut t = Table::new(format!(
        "soak: {} events/s for {:.0} s in {:.0} s windows{}",
        r.rate,
        r.duration_s,
        r.window_s,
        r.resolve_after_s.map_or(String::new(), |s| format!(
            ", each alert resolved after {s:.0} s"
        ))
    ));
    for w in &r.windows {
        t.row(
            format!("{:5.1} min", w.at_min),
            format!(
                "sent {}, ok {}, errors {}, p99 request {:.1} ms, p99 page {:.1} ms, missing {}, RSS {}, data {}",
                w.sent,
                w.requests_ok,
                w.errors,
                w.request_p99_ms,
                w.delivery_p99_ms,
                w.pages_missing,
                w.rss_kb.map_or("?".into(), |k| format!("{:.1} MiB", k as f64 / 1024.0)),
                w.data_bytes.map_or("?".into(), |b| format!("{} MiB", b >> 20))
            ),
        );
    }
    let mib = |k: Option<u64>| k.map_or("?".into(), |k| format!("{:.1} MiB", k as f64 / 1024.0));
    t.row(
        "sent / accepted / errors",
        format!("{} / {} / {}", r.sent, r.requests_ok, r.errors),
    )
    .row(
        "pages arrived / missing / unexpected",
        format!(
            "{} / {} / {}",
            r.pages_matched, r.pages_missing, r.pages_unexpected
        ),
    )
    .row(
        "server VmRSS first / last / max window",
        format!(
            "{} / {} / {}",
            mib(r.rss_first_kb),
            mib(r.rss_last_kb),
            mib(r.rss_max_kb)
        ),
    )
    .row("server ready after", format!("{ready_ms:.0} ms"));
    t
}

pub fn latency_table(r: &LatencyResult, ready_ms: f64) -> Table {
    let mut t = Table::new(format!(
        "latency: {} events/s for {:.0} s, single-event requests (open loop, MissedTickBehavior::{})",
        r.rate, r.duration_s, r.missed_tick_behavior
    ));
    t.row(
        "sent / offered",
        format!(
            "{} / {} ({:.0}/s achieved)",
            r.sent, r.offered, r.achieved_rate
        ),
    )
    .row(
        "skipped (in-flight limit)",
        format!("{} (limit {})", r.skipped_in_flight_limit, r.max_in_flight),
    )
    .row("accepted (202)", r.requests_ok.to_string())
    .row("errors", r.errors.describe())
    .row(
        "request latency p50/p90/p99/max ms",
        latency(&r.request_latency),
    )
    .row(
        "event->page latency p50/p90/p99/max ms",
        latency(&r.delivery_latency),
    )
    .row(
        "pages arrived",
        format!("{} of {}", r.pages_matched, r.requests_ok),
    )
    .row(
        "pages missing 5 s after the end",
        r.pages_missing_after_5s.to_string(),
    )
    .row("server VmRSS / VmHWM at end", memory(r.memory_end.as_ref()))
    .row("server ready after", format!("{ready_ms:.0} ms"));
    if r.pages_unexpected > 0 || r.sink.repeats > 0 || r.sink.malformed > 0 {
        t.row(
            "sink unexpected / repeats / malformed",
            format!(
                "{} / {} / {}",
                r.pages_unexpected, r.sink.repeats, r.sink.malformed
            ),
        );
    }
    t
}

pub fn memory_table(r: &MemoryResult, ready_ms: f64) -> Table {
    let mut t = Table::new(format!(
        "memory: {} open alerts (batches of {}, {} workers)",
        r.alerts_requested, r.batch, r.workers
    ));
    t.row(
        "open alerts created (202)",
        format!(
            "{} in {:.1} s ({:.0} events/s)",
            r.alerts_accepted, r.load_s, r.events_per_sec
        ),
    )
    .row("errors", r.errors.describe())
    .row(
        "pages delivered before measuring",
        format!(
            "{} (waited {:.1} s for idle)",
            r.pages_delivered, r.idle_wait_s
        ),
    )
    .row("idle server VmRSS / VmHWM", memory(Some(&r.idle)))
    .row("VmRSS / VmHWM with alerts open", memory(Some(&r.after)))
    .row(
        "VmRSS per open alert",
        format!("{:.0} bytes", r.rss_per_alert_bytes),
    )
    .row(
        "(VmRSS - idle VmRSS) per open alert",
        format!("{:.0} bytes", r.rss_growth_per_alert_bytes),
    )
    .row("server ready after", format!("{ready_ms:.0} ms"));
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn machine_fields_are_parsed() {
        let cpuinfo = "processor\t: 0\nvendor_id\t: X\nmodel name\t: Fancy CPU @ 3.0GHz\n";
        assert_eq!(cpu_model(cpuinfo).as_deref(), Some("Fancy CPU @ 3.0GHz"));
        assert_eq!(
            mem_total_kb("MemTotal:       24576000 kB\n"),
            Some(24_576_000)
        );
        let m = Machine::read();
        assert!(m.nproc >= 1);
    }

    #[test]
    fn table_is_markdown() {
        let mut t = Table::new("x");
        t.row("a", "1").row("longer key", "22");
        let s = t.render();
        let lines: Vec<&str> = s.lines().collect();
        assert_eq!(lines[0], "### x");
        assert_eq!(lines[2], "| metric     | value |");
        assert_eq!(lines[3], "|------------|-------|");
        assert_eq!(lines[5], "| longer key | 22    |");
    }
}
