//! Side-by-side timing: every implementation measured once per round, the
//! order rotating, so a shared and noisy machine disturbs all of them alike.

use crate::stats::quartiles;

/// Runs `rounds` rounds of `n` measurements: `measure(i)` for each `i` in
/// `0..n`, round `r` starting at `i = r % n`. Returns each round's values,
/// indexed by `i`.
pub fn rotating_rounds(
    n: usize,
    rounds: usize,
    mut measure: impl FnMut(usize) -> f64,
) -> Vec<Vec<f64>> {
    (0..rounds)
        .map(|round| {
            let mut values = vec![0.0; n];
            for k in 0..n {
                let i = (round + k) % n;
                values[i] = measure(i);
            }
            values
        })
        .collect()
}

/// Quartiles (lower, median, upper) of the per-round ratio `a / b`.
pub fn ratio_quartiles(rounds: &[Vec<f64>], a: usize, b: usize) -> Option<[f64; 3]> {
    let mut ratios: Vec<f64> = rounds.iter().map(|r| r[a] / r[b]).collect();
    quartiles(&mut ratios)
}

/// Quartiles (lower, median, upper) of implementation `i`'s values.
pub fn value_quartiles(rounds: &[Vec<f64>], i: usize) -> Option<[f64; 3]> {
    let mut values: Vec<f64> = rounds.iter().map(|r| r[i]).collect();
    quartiles(&mut values)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_order_rotates_and_values_land_in_their_slot() {
        let mut order = Vec::new();
        let rounds = rotating_rounds(3, 3, |i| {
            order.push(i);
            (i + 1) as f64 * 10.0
        });
        assert_eq!(order, [0, 1, 2, 1, 2, 0, 2, 0, 1]);
        assert!(rounds.iter().all(|r| r == &[10.0, 20.0, 30.0]));
        assert_eq!(ratio_quartiles(&rounds, 2, 0), Some([3.0, 3.0, 3.0]));
        assert_eq!(value_quartiles(&rounds, 1), Some([20.0, 20.0, 20.0]));
        assert_eq!(ratio_quartiles(&[], 0, 1), None);
    }
}
