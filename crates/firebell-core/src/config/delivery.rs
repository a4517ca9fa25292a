//! `[delivery]`: attempts, retries, timeouts and per-address rate limits.

use super::diag::{Errors, parse_duration};
use jiff::SignedDuration;
use serde::Deserialize;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawDelivery {
    webhook_timeout: Option<String>,
    max_attempts: Option<u32>,
    retry_initial: Option<String>,
    retry_max: Option<String>,
    /// Per contact kind, per address (see [`crate::bundling`]).
    #[serde(default)]
    rate_limits: crate::bundling::RawRateLimits,
}

#[derive(Debug, Clone, PartialEq)]
pub struct DeliveryConfig {
    pub webhook_timeout: SignedDuration,
    /// Attempts before a retryable failure is treated as permanent.
    pub max_attempts: u32,
    pub retry_initial: SignedDuration,
    pub retry_max: SignedDuration,
    /// `[delivery.rate_limits]`: messages per window per contact kind and address.
    pub rate_limits: crate::bundling::RateLimits,
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        Self {
            webhook_timeout: SignedDuration::from_secs(10),
            max_attempts: 8,
            retry_initial: SignedDuration::from_secs(2),
            retry_max: SignedDuration::from_mins(10),
            rate_limits: crate::bundling::RateLimits::default(),
        }
    }
}

/// Validates `[delivery]`; problems go to `errors` as `delivery.<key>`.
pub(super) fn validate(raw: &RawDelivery, errors: &mut Errors) -> DeliveryConfig {
    let defaults = DeliveryConfig::default();
    DeliveryConfig {
        webhook_timeout: parse_duration(
            errors,
            "delivery.webhook_timeout",
            raw.webhook_timeout.as_deref(),
            Some(defaults.webhook_timeout),
        ),
        max_attempts: match raw.max_attempts {
            Some(0) => {
                errors.push("delivery.max_attempts", "must be at least 1");
                1
            }
            Some(n) => n,
            None => defaults.max_attempts,
        },
        retry_initial: parse_duration(
            errors,
            "delivery.retry_initial",
            raw.retry_initial.as_deref(),
            Some(defaults.retry_initial),
        ),
        retry_max: parse_duration(
            errors,
            "delivery.retry_max",
            raw.retry_max.as_deref(),
            Some(defaults.retry_max),
        ),
        rate_limits: crate::bundling::rate_limits(errors, &raw.rate_limits),
    }
}
