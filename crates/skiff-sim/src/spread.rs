//! Spreading a periodic per-node write evenly over its period, so 5,000 nodes renewing every
//! 10 s make a steady 500 writes per second instead of one burst.

use std::ops::Range;
use std::time::Duration;

/// The shortest pause between two batches: finer ticks only cost timer wake-ups.
pub const MIN_TICK: Duration = Duration::from_millis(10);

/// A round of `period` cut into equal ticks, each covering a contiguous batch of nodes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Spread {
    nodes: u32,
    ticks: u32,
    tick: Duration,
}

impl Spread {
    /// Spreads `nodes` over `period`: one node per tick when the tick stays at least
    /// [`MIN_TICK`], otherwise batches.
    pub fn new(nodes: u32, period: Duration) -> Self {
        let max_ticks = (period.as_micros() / MIN_TICK.as_micros()).max(1);
        let ticks = u32::try_from(max_ticks)
            .unwrap_or(u32::MAX)
            .min(nodes)
            .max(1);
        Self {
            nodes,
            ticks,
            tick: period / ticks,
        }
    }

    /// Number of ticks in one round.
    pub fn ticks(&self) -> u32 {
        self.ticks
    }

    /// Pause between ticks.
    pub fn tick(&self) -> Duration {
        self.tick
    }

    /// Nodes written at tick `t` (taken modulo the round).
    pub fn batch(&self, t: u64) -> Range<u32> {
        let t = t % u64::from(self.ticks);
        let (n, k) = (u64::from(self.nodes), u64::from(self.ticks));
        let start = u32::try_from(t * n / k).unwrap_or(self.nodes);
        let end = u32::try_from((t + 1) * n / k).unwrap_or(self.nodes);
        start..end
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn covered(s: &Spread) -> Vec<u32> {
        (0..u64::from(s.ticks())).flat_map(|t| s.batch(t)).collect()
    }

    #[test]
    fn few_nodes_get_one_tick_each() {
        let s = Spread::new(4, Duration::from_secs(10));
        assert_eq!(s.ticks(), 4);
        assert_eq!(s.tick(), Duration::from_millis(2500));
        assert_eq!(s.batch(1), 1..2);
        assert_eq!(s.batch(5), 1..2, "ticks wrap around");
    }

    #[test]
    fn many_nodes_are_batched_at_the_minimum_tick() {
        let s = Spread::new(5000, Duration::from_secs(10));
        assert_eq!(s.ticks(), 1000);
        assert_eq!(s.tick(), MIN_TICK);
        assert_eq!(s.batch(0), 0..5);
        assert_eq!(covered(&s), (0..5000).collect::<Vec<_>>());
    }

    #[test]
    fn every_node_is_covered_exactly_once_per_round() {
        for (n, secs) in [(1, 10), (7, 1), (999, 1), (1001, 10), (3, 0)] {
            let s = Spread::new(n, Duration::from_secs(secs));
            assert_eq!(covered(&s), (0..n).collect::<Vec<_>>(), "{n} over {secs}s");
        }
    }
}
