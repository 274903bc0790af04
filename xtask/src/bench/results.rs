//! Reading criterion's estimates and the benches' extra figures back.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::time::SystemTime;

use crate::Result;

use super::tables::point_of;
use super::{EXTRA_DIR, IMPLEMENTATIONS};

/// One criterion benchmark: `group/function/parameter`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct Id {
    pub(super) group: String,
    pub(super) function: String,
    pub(super) parameter: String,
}

/// Everything a run left on disk.
#[derive(Debug, Default)]
pub(super) struct Results {
    /// Criterion's median in nanoseconds and the elements per iteration.
    pub(super) medians: BTreeMap<Id, (f64, Option<f64>)>,
    /// The benches' own figures: `(id, metric) -> value`, where the id's
    /// function is the implementation.
    pub(super) extra: BTreeMap<(Id, String), f64>,
}

impl Results {
    pub(super) fn median(&self, group: &str, function: &str, parameter: &str) -> Option<f64> {
        self.medians
            .get(&id(group, function, parameter))
            .map(|(median, _)| *median)
    }

    pub(super) fn extra(
        &self,
        group: &str,
        function: &str,
        parameter: &str,
        metric: &str,
    ) -> Option<f64> {
        self.extra
            .get(&(id(group, function, parameter), metric.to_owned()))
            .copied()
    }

    /// The parameters measured in `group`, in order.
    pub(super) fn parameters(&self, group: &str) -> Vec<String> {
        let mut params: Vec<String> = self
            .medians
            .keys()
            .filter(|k| k.group == group)
            .map(|k| k.parameter.clone())
            .collect();
        params.dedup();
        params.sort_by_key(|p| (p.parse::<u64>().unwrap_or(u64::MAX), p.clone()));
        params.dedup();
        params
    }

    /// The implementations measured in `group` for `parameter`, in display order.
    pub(super) fn implementations(&self, group: &str, parameter: &str) -> Vec<&'static str> {
        IMPLEMENTATIONS
            .iter()
            .copied()
            .filter(|f| self.median(group, f, parameter).is_some())
            .collect()
    }
}

pub(super) fn id(group: &str, function: &str, parameter: &str) -> Id {
    Id {
        group: group.to_owned(),
        function: function.to_owned(),
        parameter: parameter.to_owned(),
    }
}

/// Reads criterion's `new/benchmark.json` + `new/estimates.json` pairs
/// (those written at or after `since`, if given) and the benches' own
/// result files.
pub(super) fn collect(target: &Path, since: Option<SystemTime>) -> Result<Results> {
    let mut results = Results::default();
    let criterion = target.join("criterion");
    let mut pending = vec![criterion.clone()];
    while let Some(dir) = pending.pop() {
        let Ok(entries) = fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries {
            let path = entry?.path();
            if path.is_dir() {
                pending.push(path);
            } else if path.file_name().is_some_and(|n| n == "benchmark.json")
                && path.parent().is_some_and(|p| p.ends_with("new"))
                && fresh(&path, since)
            {
                let (id, median, elements) = read_benchmark(&path)?;
                results.medians.insert(id, (median, elements));
            }
        }
    }
    if let Ok(entries) = fs::read_dir(target.join(EXTRA_DIR)) {
        for entry in entries {
            let path = entry?.path();
            if path.extension().is_some_and(|e| e == "tsv") && fresh(&path, since) {
                let text = fs::read_to_string(&path)?;
                parse_extra(&text, &mut results.extra)
                    .map_err(|e| format!("{}: {e}", path.display()))?;
            }
        }
    }
    Ok(results)
}

/// Whether `path` was written at or after `since` (always, without one).
fn fresh(path: &Path, since: Option<SystemTime>) -> bool {
    since.is_none_or(|since| {
        fs::metadata(path)
            .and_then(|m| m.modified())
            .is_ok_and(|modified| modified >= since)
    })
}

/// One benchmark's id, median (ns) and elements per iteration.
fn read_benchmark(benchmark_json: &Path) -> Result<(Id, f64, Option<f64>)> {
    let read = |path: &Path| -> Result<serde_json::Value> {
        let text =
            fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        Ok(serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?)
    };
    let benchmark = read(benchmark_json)?;
    let estimates = read(&benchmark_json.with_file_name("estimates.json"))?;
    let text = |key: &str| benchmark[key].as_str().unwrap_or_default().to_owned();
    let id = Id {
        group: text("group_id"),
        function: text("function_id"),
        parameter: text("value_str"),
    };
    let median = estimates["median"]["point_estimate"]
        .as_f64()
        .ok_or_else(|| {
            format!(
                "{}: no median.point_estimate",
                benchmark_json.with_file_name("estimates.json").display()
            )
        })?;
    let elements = benchmark["throughput"]["Elements"].as_f64();
    Ok((id, median, elements))
}

/// Parses `group<TAB>implementation<TAB>parameter<TAB>metric<TAB>value` lines.
pub(super) fn parse_extra(text: &str, into: &mut BTreeMap<(Id, String), f64>) -> Result {
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let fields: Vec<&str> = line.split('\t').collect();
        let [group, implementation, parameter, metric, value] = fields[..] else {
            return Err(format!("line {}: expected 5 tab-separated fields", n + 1).into());
        };
        let value: f64 = value
            .parse()
            .map_err(|e| format!("line {}: bad value `{value}`: {e}", n + 1))?;
        into.insert(
            (id(group, implementation, parameter), metric.to_owned()),
            value,
        );
    }
    Ok(())
}

impl Results {
    /// The scale points measured, smallest first.
    pub(super) fn scale_points(&self) -> Vec<String> {
        let mut points: Vec<String> = self
            .extra
            .keys()
            .filter(|(id, _)| id.group == "scale")
            .map(|(id, _)| id.parameter.clone())
            .collect();
        points.sort_by_key(|p| point_of(p));
        points.dedup();
        points
    }

    /// A ratio timed side by side: its median and quartiles.
    pub(super) fn paired(
        &self,
        group: &str,
        f: &str,
        parameter: &str,
        reference: &str,
    ) -> Option<Paired> {
        let metric =
            |m: &str| self.extra(group, f, parameter, &format!("paired_{m}_vs_{reference}"));
        Some(Paired {
            median: metric("ratio")?,
            q1: metric("q1"),
            q3: metric("q3"),
        })
    }
}

/// A ratio timed side by side, with the quartiles of its rounds (the noise).
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) struct Paired {
    pub(super) median: f64,
    pub(super) q1: Option<f64>,
    pub(super) q3: Option<f64>,
}

impl Paired {
    /// The reciprocal: a time ratio as a rate ratio (the quartiles swap).
    pub(super) fn inverse(self) -> Paired {
        Paired {
            median: 1.0 / self.median,
            q1: self.q3.map(|v| 1.0 / v),
            q3: self.q1.map(|v| 1.0 / v),
        }
    }

    /// `2.44x (2.31-2.60)`: the median and, where recorded, the quartiles.
    pub(super) fn show(self) -> String {
        match self.q1.zip(self.q3) {
            Some((q1, q3)) => format!("{:.2}x ({q1:.2}-{q3:.2})", self.median),
            None => format!("{:.2}x", self.median),
        }
    }
}
