//! The fleet on a simulated clock: every node's attempts in time order, what each cost
//! the server, per simulated second; scenarios and their figures.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::model::Model;
use crate::node::{Node, Policy, Timing};

/// What happens to the fleet during the simulated hours.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scenario {
    /// Nothing: a fleet that has run for a while (caches warm, complete copies spread
    /// over the last full-sync-interval).
    Steady,
    /// Every node restarts, warm cache kept, within [`Params::reboot_spread`] from
    /// [`Params::event_at`].
    Reboot,
    /// The server is unreachable for [`Params::outage`] from [`Params::event_at`].
    Outage,
    /// The first day: every node starts with no cache within the reboot spread of the
    /// simulation's start (for information: a new fleet must copy everything once).
    FirstDay,
}

impl Scenario {
    pub const ALL: [Scenario; 4] = [
        Scenario::Steady,
        Scenario::Reboot,
        Scenario::Outage,
        Scenario::FirstDay,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Scenario::Steady => "steady",
            Scenario::Reboot => "reboot",
            Scenario::Outage => "outage",
            Scenario::FirstDay => "first-day",
        }
    }
}

/// Everything a run depends on.
#[derive(Debug, Clone)]
pub struct Params {
    pub nodes: u64,
    pub model: Model,
    pub timing: Timing,
    pub hours: u64,
    /// When the reboot or the outage begins.
    pub event_at: Duration,
    pub reboot_spread: Duration,
    pub outage: Duration,
    /// Peak rates are the highest mean over a sliding window this long.
    pub window: Duration,
    pub seed: u64,
}

/// The server's load over a run, per simulated second.
#[derive(Debug, Clone, Default)]
pub struct Load {
    pub requests: Vec<u64>,
    pub bytes: Vec<u64>,
    /// Sync attempts (failed ones included).
    pub attempts: Vec<u64>,
}

/// One run's figures (rates per second).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Figures {
    pub peak_requests: f64,
    pub mean_requests: f64,
    pub peak_bytes: f64,
    pub mean_bytes: f64,
    /// The highest windowed request rate from the event on (the whole run for
    /// `steady`, from [`FIRST_DAY_SETTLED`] for `first-day`).
    pub peak_requests_after_event: f64,
    pub bytes_per_day: f64,
}

/// The daemon's and the naive design's figures for one scenario.
#[derive(Debug, Clone, Copy)]
pub struct Outcome {
    pub scenario: Scenario,
    pub daemon: Figures,
    pub naive: Figures,
}

/// In the first-day scenario, the peak "after the event" is taken from here on, past
/// the initial complete copies.
pub const FIRST_DAY_SETTLED: Duration = Duration::from_secs(3600);

/// Simulated second 0, as wall-clock time for the plans: far enough from the epoch for
/// copies made a day before the start.
fn at(offset: Duration) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_800_000_000) + offset
}

/// Spread for the initial state only (not scheduling): splitmix64.
struct Spread(u64);

impl Spread {
    fn unit(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        (z >> 11) as f64 / (1u64 << 53) as f64
    }

    fn within(&mut self, d: Duration) -> Duration {
        d.mul_f64(self.unit())
    }
}

/// Heap entries: when (ms), which node, which of its schedules (older ones are dropped),
/// and whether it is a restart.
type Due = Reverse<(u64, u64, u64, bool)>;

fn ms(d: Duration) -> u64 {
    d.as_millis() as u64
}

/// One run of `scenario` with every node following `policy`.
pub fn simulate(p: &Params, scenario: Scenario, policy: Policy) -> Load {
    let seconds = (p.hours * 3600) as usize;
    let mut load = Load {
        requests: vec![0; seconds],
        bytes: vec![0; seconds],
        attempts: vec![0; seconds],
    };
    let end = ms(Duration::from_secs(p.hours * 3600));
    let mut spread = Spread(p.seed ^ 0xF1EE7);
    let mut heap: BinaryHeap<Due> = BinaryHeap::new();
    let mut nodes = Vec::with_capacity(p.nodes as usize);
    let mut generation = vec![0u64; p.nodes as usize];
    let interval = p.timing.sync_interval;
    for i in 0..p.nodes {
        let seed = p.seed.wrapping_mul(1_000_003).wrapping_add(i);
        if scenario == Scenario::FirstDay {
            nodes.push(Node::cold(policy, seed));
            heap.push(Reverse((ms(spread.within(p.reboot_spread)), i, 0, true)));
            continue;
        }
        // Steady state: the last complete copy some time in the last full-sync-interval,
        // the last sync in the last sync-interval, the next one within the next.
        let full_ago = spread.within(p.timing.full_sync_interval);
        let applied_ago = spread.within(interval).min(full_ago);
        let base = at(Duration::from_secs(86_400 * 7));
        let full = base - full_ago;
        let applied = base - applied_ago;
        // The plans see times a week on from `at(0)`, so that "ago" stays after it.
        nodes.push(Node::warm(policy, seed, full, applied));
        heap.push(Reverse((ms(spread.within(interval)), i, 0, false)));
        if scenario == Scenario::Reboot {
            let when = p.event_at + spread.within(p.reboot_spread);
            heap.push(Reverse((ms(when), i, 0, true)));
        }
    }
    let week = Duration::from_secs(86_400 * 7);
    let outage = (ms(p.event_at), ms(p.event_at + p.outage));
    while let Some(Reverse((t, i, gen, restart))) = heap.pop() {
        if t >= end {
            break;
        }
        let idx = i as usize;
        let (Some(node), Some(current)) = (nodes.get_mut(idx), generation.get_mut(idx)) else {
            continue;
        };
        let now = at(week + Duration::from_millis(t));
        let next = if restart {
            // The old daemon's schedule dies with it.
            *current += 1;
            Some(node.restart(&p.timing))
        } else if gen == *current {
            let up = scenario != Scenario::Outage || t < outage.0 || t >= outage.1;
            let attempt = node.sync(now, up, &p.model, &p.timing);
            let second = (t / 1000) as usize;
            if let (Some(r), Some(b)) = (load.requests.get_mut(second), load.bytes.get_mut(second))
            {
                *r += attempt.cost.requests;
                *b += attempt.cost.bytes;
            }
            if let Some(a) = load.attempts.get_mut(second) {
                *a += 1;
            }
            Some(attempt.next)
        } else {
            None
        };
        if let Some(delay) = next {
            heap.push(Reverse((t + ms(delay), i, *current, false)));
        }
    }
    load
}

/// Highest mean over a sliding `window` of seconds starting at or after `from`.
fn peak(series: &[u64], window: usize, from: usize) -> f64 {
    let window = window.max(1).min(series.len().max(1));
    let mut sum: u64 = series.iter().skip(from).take(window).sum();
    let mut best = sum;
    for start in from + 1..=series.len().saturating_sub(window) {
        sum += series.get(start + window - 1).copied().unwrap_or(0);
        sum -= series.get(start - 1).copied().unwrap_or(0);
        best = best.max(sum);
    }
    best as f64 / window as f64
}

pub fn figures(load: &Load, p: &Params, scenario: Scenario) -> Figures {
    let secs = load.requests.len().max(1) as f64;
    let window = p.window.as_secs() as usize;
    let total_bytes: u64 = load.bytes.iter().sum();
    let from = match scenario {
        Scenario::Reboot | Scenario::Outage => p.event_at.as_secs() as usize,
        Scenario::Steady => 0,
        // What follows the initial copies: the first complete copies come due again a
        // full-sync-interval after them.
        Scenario::FirstDay => FIRST_DAY_SETTLED.as_secs() as usize,
    };
    Figures {
        peak_requests: peak(&load.requests, window, 0),
        mean_requests: load.requests.iter().sum::<u64>() as f64 / secs,
        peak_bytes: peak(&load.bytes, window, 0),
        mean_bytes: total_bytes as f64 / secs,
        peak_requests_after_event: peak(&load.requests, window, from),
        bytes_per_day: total_bytes as f64 * 86_400.0 / secs,
    }
}

pub fn run(p: &Params, scenario: Scenario) -> Outcome {
    Outcome {
        scenario,
        daemon: figures(&simulate(p, scenario, Policy::Daemon), p, scenario),
        naive: figures(&simulate(p, scenario, Policy::Naive), p, scenario),
    }
}

/// The targets, checked on the scenarios' outcomes.
#[derive(Debug, Clone)]
pub struct Verdict {
    /// Daemon bytes per day over naive bytes per day, in steady state (target ≤ 0.1).
    pub bytes_ratio: f64,
    /// Peak request rate from the reboot on over the steady mean (target ≤ 3).
    pub reboot_peak_ratio: f64,
    /// Peak request rate from the outage on over the steady mean (target ≤ 3).
    pub outage_peak_ratio: f64,
}

/// Most bytes per day, as a share of the naive design's.
pub const TARGET_BYTES_RATIO: f64 = 0.1;
/// Highest peak after a reboot or an outage, in steady means.
pub const TARGET_PEAK_RATIO: f64 = 3.0;

impl Verdict {
    pub fn of(outcomes: &[Outcome]) -> Option<Verdict> {
        let find = |s: Scenario| outcomes.iter().find(|o| o.scenario == s);
        let steady = find(Scenario::Steady)?;
        let mean = steady.daemon.mean_requests.max(f64::MIN_POSITIVE);
        Some(Verdict {
            bytes_ratio: steady.daemon.bytes_per_day / steady.naive.bytes_per_day.max(1.0),
            reboot_peak_ratio: find(Scenario::Reboot)?.daemon.peak_requests_after_event / mean,
            outage_peak_ratio: find(Scenario::Outage)?.daemon.peak_requests_after_event / mean,
        })
    }

    pub fn holds(&self) -> bool {
        self.bytes_ratio <= TARGET_BYTES_RATIO
            && self.reboot_peak_ratio <= TARGET_PEAK_RATIO
            && self.outage_peak_ratio <= TARGET_PEAK_RATIO
    }
}
