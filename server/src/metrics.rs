//! Prometheus metrics in text exposition format, kept with atomics and small maps: requests by
//! route and status, decisions by outcome, and latency histograms per pipeline stage.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

/// Histogram bucket upper bounds, in seconds.
const BUCKETS: [f64; 12] = [
    0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.1, 0.5, 2.5,
];

#[derive(Default)]
struct Histogram {
    counts: [AtomicU64; BUCKETS.len()],
    sum_ns: AtomicU64,
    count: AtomicU64,
}

impl Histogram {
    fn observe(&self, d: Duration) {
        let s = d.as_secs_f64();
        for (i, b) in BUCKETS.iter().enumerate() {
            if s <= *b {
                self.counts[i].fetch_add(1, Ordering::Relaxed);
            }
        }
        self.sum_ns.fetch_add(
            u64::try_from(d.as_nanos()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
        self.count.fetch_add(1, Ordering::Relaxed);
    }
}

/// The pipeline stages that are timed.
pub const STAGES: [&str; 7] = [
    "auth",
    "validate",
    "policy",
    "permit",
    "credential",
    "forward",
    "receipt",
];

/// All metrics of one rail process.
#[derive(Default)]
pub struct Metrics {
    requests: Mutex<BTreeMap<(String, u16), u64>>,
    decisions: Mutex<BTreeMap<String, u64>>,
    stages: [Histogram; STAGES.len()],
}

impl Metrics {
    /// Count a finished HTTP request.
    pub fn request(&self, route: &str, status: u16) {
        if let Ok(mut m) = self.requests.lock() {
            *m.entry((route.to_string(), status)).or_default() += 1;
        }
    }

    /// Count a decision or execution outcome (`allow`, `deny`, `success`, …).
    pub fn decision(&self, outcome: &str) {
        if let Ok(mut m) = self.decisions.lock() {
            *m.entry(outcome.to_string()).or_default() += 1;
        }
    }

    /// Record the time spent in a stage (one of [`STAGES`]).
    pub fn stage(&self, stage: &str, d: Duration) {
        if let Some(i) = STAGES.iter().position(|s| *s == stage) {
            self.stages[i].observe(d);
        }
    }

    /// Render the text exposition format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        out.push_str("# HELP intentrail_requests_total HTTP requests by route and status.\n");
        out.push_str("# TYPE intentrail_requests_total counter\n");
        if let Ok(m) = self.requests.lock() {
            for ((route, status), n) in m.iter() {
                let _ = writeln!(
                    out,
                    "intentrail_requests_total{{route=\"{route}\",status=\"{status}\"}} {n}"
                );
            }
        }
        out.push_str("# HELP intentrail_decisions_total Decisions and outcomes.\n");
        out.push_str("# TYPE intentrail_decisions_total counter\n");
        if let Ok(m) = self.decisions.lock() {
            for (outcome, n) in m.iter() {
                let _ = writeln!(
                    out,
                    "intentrail_decisions_total{{outcome=\"{outcome}\"}} {n}"
                );
            }
        }
        out.push_str("# HELP intentrail_stage_duration_seconds Time spent per pipeline stage.\n");
        out.push_str("# TYPE intentrail_stage_duration_seconds histogram\n");
        for (i, stage) in STAGES.iter().enumerate() {
            let h = &self.stages[i];
            for (j, b) in BUCKETS.iter().enumerate() {
                let _ = writeln!(
                    out,
                    "intentrail_stage_duration_seconds_bucket{{stage=\"{stage}\",le=\"{b}\"}} {}",
                    h.counts[j].load(Ordering::Relaxed)
                );
            }
            let count = h.count.load(Ordering::Relaxed);
            let _ = writeln!(
                out,
                "intentrail_stage_duration_seconds_bucket{{stage=\"{stage}\",le=\"+Inf\"}} {count}"
            );
            #[allow(clippy::cast_precision_loss)]
            let sum = h.sum_ns.load(Ordering::Relaxed) as f64 / 1e9;
            let _ = writeln!(
                out,
                "intentrail_stage_duration_seconds_sum{{stage=\"{stage}\"}} {sum}"
            );
            let _ = writeln!(
                out,
                "intentrail_stage_duration_seconds_count{{stage=\"{stage}\"}} {count}"
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_and_histograms() {
        let m = Metrics::default();
        m.request("/v1/intents", 201);
        m.request("/v1/intents", 201);
        m.decision("deny");
        m.stage("policy", Duration::from_micros(30));
        let t = m.render();
        assert!(t.contains("intentrail_requests_total{route=\"/v1/intents\",status=\"201\"} 2"));
        assert!(t.contains("intentrail_decisions_total{outcome=\"deny\"} 1"));
        assert!(t.contains(
            "intentrail_stage_duration_seconds_bucket{stage=\"policy\",le=\"0.00005\"} 1"
        ));
        assert!(t.contains("intentrail_stage_duration_seconds_count{stage=\"policy\"} 1"));
        assert!(t.contains("intentrail_stage_duration_seconds_count{stage=\"auth\"} 0"));
    }
}
