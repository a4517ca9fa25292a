//! Per-integration ingest limits (`rate_limit = "600/1m"` on an
//! integration): a token bucket per integration and node; a request whose
//! events do not fit is refused whole with 429 and `Retry-After`, as
//! PagerDuty's Events API answers, and nothing of it is recorded.

use firebell_core::config::{Config, IngestRateLimit};
use jiff::Timestamp;
use std::collections::HashMap;
use std::sync::Mutex;

#[derive(Debug)]
struct Bucket {
    limit: IngestRateLimit,
    tokens: f64,
    at: Timestamp,
}

/// The buckets, by (service, integration index), on this node.
#[derive(Default)]
pub struct IngestLimits {
    buckets: Mutex<HashMap<(String, usize), Bucket>>,
}

/// A request refused by its integration's limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Throttled {
    /// Whole seconds until the request would fit.
    pub retry_after: u64,
    pub message: String,
}

impl IngestLimits {
    /// Takes `events` from the integration's bucket, or says how long to
    /// wait. An integration without `rate_limit` always passes; a request
    /// larger than the whole allowance passes only into a full bucket.
    pub fn take(
        &self,
        config: &Config,
        service: &str,
        index: usize,
        events: usize,
        now: Timestamp,
    ) -> Result<(), Throttled> {
        let Some(limit) = config
            .services
            .get(service)
            .and_then(|s| s.integrations.get(index))
            .and_then(|i| i.rate_limit)
        else {
            return Ok(());
        };
        let capacity = f64::from(limit.events);
        let rate = capacity / limit.per.as_secs_f64();
        let mut map = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        let b = map.entry((service.to_string(), index)).or_insert(Bucket {
            limit,
            tokens: capacity,
            at: now,
        });
        if b.limit != limit {
            // The configuration changed: start the new allowance full.
            *b = Bucket {
                limit,
                tokens: capacity,
                at: now,
            };
        }
        let elapsed = now.duration_since(b.at).as_secs_f64().max(0.0);
        b.tokens = (b.tokens + elapsed * rate).min(capacity);
        b.at = now;
        let want = (events as f64).min(capacity);
        if b.tokens >= want {
            b.tokens -= want;
            return Ok(());
        }
        let wait = ((want - b.tokens) / rate).ceil().max(1.0);
        Err(Throttled {
            retry_after: wait as u64,
            message: format!(
                "this integration may send {} events per {}; retry in {} s",
                limit.events,
                firebell_engine::timeouts::human(limit.per),
                wait as u64
            ),
        })
    }
}
