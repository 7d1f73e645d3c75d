//! Criterion's estimates read back after a run, so that each bench prints its ratios to its
//! baseline from the same run.

use std::path::PathBuf;
use std::time::SystemTime;

/// Criterion's output directory, found the way criterion finds it: `CRITERION_HOME`, else
/// `$CARGO_TARGET_DIR/criterion`, else `target/criterion` of the workspace.
pub fn criterion_dir() -> PathBuf {
    if let Some(home) = std::env::var_os("CRITERION_HOME") {
        return PathBuf::from(home);
    }
    if let Some(target) = std::env::var_os("CARGO_TARGET_DIR") {
        return PathBuf::from(target).join("criterion");
    }
    ["../target/criterion", "target/criterion"]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| p.is_dir())
        .unwrap_or_else(|| PathBuf::from("target/criterion"))
}

/// The point estimate of `statistic` (`"mean"`, `"median"`, …) in nanoseconds that criterion
/// wrote for `group/bench`; `None` when there is none, or when it was written before `since`
/// (an estimate left over from an earlier run, e.g. when this one runs in `--test` mode).
pub fn estimate_ns(
    group: &str,
    bench: &str,
    statistic: &str,
    since: Option<SystemTime>,
) -> Option<f64> {
    let path = criterion_dir()
        .join(group)
        .join(bench)
        .join("new")
        .join("estimates.json");
    if let Some(since) = since
        && std::fs::metadata(&path).ok()?.modified().ok()? < since
    {
        return None;
    }
    let estimates: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()?;
    estimates[statistic]["point_estimate"].as_f64()
}

/// The mean time (ns) criterion estimated for `group/bench`.
pub fn mean_ns(group: &str, bench: &str) -> Option<f64> {
    estimate_ns(group, bench, "mean", None)
}

/// The median time (ns) criterion estimated for `group/bench` in a run that started at `since`.
pub fn median_ns(group: &str, bench: &str, since: SystemTime) -> Option<f64> {
    estimate_ns(group, bench, "median", Some(since))
}
