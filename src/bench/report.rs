//! `report`: turns saved JSON lines from several servers (told apart by
//! `--label`) into a Markdown table of medians and ratios, so that a
//! side-by-side run (benches/compare.sh) ends with one readable result.

use serde_json::Value;
use std::collections::BTreeMap;

/// One figure to compare: JSON path, unit text, and whether higher is better.
struct Metric {
    scenario: &'static str,
    name: &'static str,
    path: &'static [&'static str],
    higher_is_better: bool,
}

const METRICS: &[Metric] = &[
    Metric { scenario: "fanout", name: "delivered/s", path: &["delivered_per_s"], higher_is_better: true },
    Metric {
        scenario: "fanout",
        name: "server CPU-s per million deliveries",
        path: &["server_cpu_s_per_million"],
        higher_is_better: false,
    },
    Metric { scenario: "fanout", name: "p50 latency µs", path: &["latency_us", "p50"], higher_is_better: false },
    Metric { scenario: "fanout", name: "p99 latency µs", path: &["latency_us", "p99"], higher_is_better: false },
    Metric { scenario: "sweep", name: "delivered/s", path: &["delivered_per_s"], higher_is_better: true },
    Metric { scenario: "sweep", name: "p99 latency µs", path: &["latency_us", "p99"], higher_is_better: false },
    Metric { scenario: "connect", name: "registrations/s", path: &["registrations_per_s"], higher_is_better: true },
    Metric {
        scenario: "connect",
        name: "RSS KiB per idle client",
        path: &["rss_per_client_kib"],
        higher_is_better: false,
    },
    Metric { scenario: "churn", name: "ops/s", path: &["ops_per_s"], higher_is_better: true },
    Metric { scenario: "soak", name: "server RSS KiB at start", path: &["rss_start_kib"], higher_is_better: false },
    Metric { scenario: "soak", name: "server RSS KiB at end", path: &["rss_end_kib"], higher_is_better: false },
];

/// (scenario, shape, metric index) and the values per label.
type Cell = ((String, String, usize), BTreeMap<String, Vec<f64>>);

/// The shape of a run, so only like is compared with like.
fn shape(v: &Value) -> String {
    let n = |k: &str| v[k].as_u64().unwrap_or(0);
    match v["scenario"].as_str().unwrap_or("") {
        "connect" => format!("{} clients", n("clients")),
        "churn" => format!("{} clients / {} channels", n("clients"), n("channels")),
        _ => {
            let rate = v["rate"].as_f64().unwrap_or(0.0);
            // Paced runs share one row whatever each server's own rate was.
            let paced = if rate > 0.0 { ", paced" } else { "" };
            format!("{}×{}, {} senders{paced}", n("channels"), n("members"), n("senders"))
        }
    }
}

fn get(v: &Value, path: &[&str]) -> Option<f64> {
    path.iter().try_fold(v, |v, k| v.get(k))?.as_f64()
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    let n = xs.len();
    if n % 2 == 1 {
        xs[n / 2]
    } else {
        (xs[n / 2 - 1] + xs[n / 2]) / 2.0
    }
}

/// Builds the Markdown table from JSON lines; `labels` gives the column
/// order and the ratio is first label ÷ second label.
pub fn table(text: &str, labels: &[String]) -> String {
    // (scenario, shape, metric name) -> label -> values
    // Rows keep the order in which they first appear in the results.
    let mut cells: Vec<Cell> = Vec::new();
    for l in text.lines() {
        let Ok(v) = serde_json::from_str::<Value>(l) else {
            continue;
        };
        let scen = v["scenario"].as_str().unwrap_or("").to_string();
        let label = v["label"].as_str().unwrap_or("").to_string();
        for (i, m) in METRICS.iter().enumerate().filter(|(_, m)| m.scenario == scen) {
            if let Some(x) = get(&v, m.path) {
                let key = (scen.clone(), shape(&v), i);
                let at = match cells.iter().position(|c| c.0 == key) {
                    Some(at) => at,
                    None => {
                        cells.push((key, BTreeMap::new()));
                        cells.len() - 1
                    }
                };
                cells[at].1.entry(label.clone()).or_default().push(x);
            }
        }
    }
    let mut out = String::from("| scenario | figure |");
    for l in labels {
        out += &format!(" {l} |");
    }
    let ratio = labels.len() >= 2;
    if ratio {
        out += &format!(" {} ÷ {} |", labels[0], labels[1]);
    }
    out += "\n|---|---|";
    out += &"---|".repeat(labels.len() + usize::from(ratio));
    out.push('\n');
    for ((scen, shape, i), by_label) in &cells {
        let m = &METRICS[*i];
        let meds: Vec<Option<f64>> = labels.iter().map(|l| by_label.get(l).map(|xs| median(xs.clone()))).collect();
        out += &format!("| {scen} {shape} | {}{} |", m.name, if m.higher_is_better { " ↑" } else { " ↓" });
        for x in &meds {
            out += &match x {
                Some(x) => format!(" {} |", fmt(*x)),
                None => " – |".into(),
            };
        }
        if ratio {
            out += &match (meds[0], meds[1]) {
                (Some(a), Some(b)) if b != 0.0 => format!(" {:.2} |", a / b),
                _ => " – |".into(),
            };
        }
        out.push('\n');
    }
    out + &integrity(text)
}

/// Counters that must be zero in a sound run.
const INTEGRITY: &[&str] = &["loss", "dups", "reordered", "broken"];

/// One line per run whose integrity counters are not all zero: a figure
/// measured while messages went missing is no figure, so the table says so
/// under it.
fn integrity(text: &str) -> String {
    let mut out = String::new();
    for v in text.lines().filter_map(|l| serde_json::from_str::<Value>(l).ok()) {
        let bad: Vec<String> =
            INTEGRITY.iter().filter_map(|k| v[*k].as_i64().filter(|n| *n != 0).map(|n| format!("{k} {n}"))).collect();
        if !bad.is_empty() {
            out += &format!(
                "\n**Not sound:** {} {} {}: {}",
                v["label"].as_str().unwrap_or(""),
                v["scenario"].as_str().unwrap_or(""),
                shape(&v),
                bad.join(", ")
            );
        }
    }
    if !out.is_empty() {
        out.push('\n');
    }
    out
}

fn fmt(x: f64) -> String {
    if x.abs() >= 1e6 {
        format!("{:.2}M", x / 1e6)
    } else if x.abs() >= 1e4 {
        format!("{:.0}k", x / 1e3)
    } else if x.abs() >= 100.0 {
        format!("{x:.0}")
    } else {
        format!("{x:.2}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians_and_ratios() {
        let text = r#"{"scenario":"fanout","label":"a","channels":1,"members":500,"senders":4,"delivered_per_s":3000000}
{"scenario":"fanout","label":"a","channels":1,"members":500,"senders":4,"delivered_per_s":1000000}
{"scenario":"fanout","label":"a","channels":1,"members":500,"senders":4,"delivered_per_s":2000000}
{"scenario":"fanout","label":"b","channels":1,"members":500,"senders":4,"delivered_per_s":1000000}"#;
        let t = table(text, &["a".into(), "b".into()]);
        assert!(t.contains("| fanout 1×500, 4 senders | delivered/s ↑ | 2.00M | 1.00M | 2.00 |"), "{t}");
        assert!(!t.contains("Not sound"), "{t}");
    }

    #[test]
    fn runs_with_loss_are_named() {
        let text = r#"{"scenario":"fanout","label":"a","channels":1,"members":500,"senders":4,"rate":10.0,"delivered_per_s":3000000,"loss":42,"dups":0,"reordered":0,"broken":0}"#;
        let t = table(text, &["a".into(), "b".into()]);
        assert!(t.contains("**Not sound:** a fanout 1×500, 4 senders, paced: loss 42"), "{t}");
    }
}
