//! Percentiles of our own latency samples, and the resident-memory probe.

use std::io;

/// The `p`-th percentile (0 < p <= 100, nearest rank) of `sorted`, which
/// must be sorted ascending; `None` when it is empty.
pub fn percentile(sorted: &[u64], p: f64) -> Option<u64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (p / 100.0 * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

/// The lower quartile, median and upper quartile of `values` (nearest
/// rank; sorts them); `None` when empty. Paired benches report the median
/// of their per-round ratios and the quartiles as its noise.
pub fn quartiles(values: &mut [f64]) -> Option<[f64; 3]> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let at = |p: f64| {
        let rank = (p * values.len() as f64).ceil() as usize;
        values[rank.clamp(1, values.len()) - 1]
    };
    Some([at(0.25), values[values.len() / 2], at(0.75)])
}

/// This process's resident set size in KiB, from `VmRSS` in
/// `/proc/self/status` (proc(5)).
pub fn vm_rss_kib() -> io::Result<u64> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().strip_suffix("kB"))
        .and_then(|kib| kib.trim().parse().ok())
        .ok_or_else(|| io::Error::other("no VmRSS line in /proc/self/status"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let v: Vec<u64> = (1..=100).collect();
        assert_eq!(percentile(&v, 50.0), Some(50));
        assert_eq!(percentile(&v, 99.0), Some(99));
        assert_eq!(percentile(&v, 100.0), Some(100));
        assert_eq!(percentile(&[7], 99.0), Some(7));
        assert_eq!(percentile(&[], 50.0), None);
        assert_eq!(percentile(&[1, 2, 3], 0.0), Some(1));
    }

    #[test]
    fn quartiles_of_ratios() {
        let mut v = [5.0, 1.0, 4.0, 2.0, 3.0];
        assert_eq!(quartiles(&mut v), Some([2.0, 3.0, 4.0]));
        assert_eq!(quartiles(&mut [7.0]), Some([7.0, 7.0, 7.0]));
        let mut even = [4.0, 3.0, 2.0, 1.0];
        assert_eq!(quartiles(&mut even), Some([1.0, 3.0, 3.0]));
        assert_eq!(quartiles(&mut []), None);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn rss_grows_when_memory_is_touched() {
        let before = vm_rss_kib().unwrap();
        let block = vec![1u8; 64 << 20];
        let after = vm_rss_kib().unwrap();
        assert!(after >= before + 32 * 1024, "{before} -> {after}");
        drop(std::hint::black_box(block));
    }
}
