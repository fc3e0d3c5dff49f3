//! Draws the sweep chart as SVG with plotters: delivered messages per
//! second (left panel) and p99 latency (right panel) against channel size,
//! one line per server label.

use plotters::prelude::*;

/// One measured point of a sweep.
#[derive(Debug, Clone, Copy)]
pub struct Point {
    /// Members in the channel.
    pub size: f64,
    /// Deliveries per second.
    pub per_s: f64,
    /// p99 latency in milliseconds.
    pub p99_ms: f64,
}

/// A labelled line (one server).
#[derive(Debug, Clone)]
pub struct Series {
    /// Legend text.
    pub label: String,
    /// Points sorted by size.
    pub points: Vec<Point>,
}

/// One panel: y-axis label, y-axis top, value picked from a point.
type Panel = (&'static str, f64, fn(&Point) -> f64);

const COLORS: [RGBColor; 4] =
    [RGBColor(31, 119, 180), RGBColor(214, 39, 40), RGBColor(44, 160, 44), RGBColor(148, 103, 189)];

/// Writes the two-panel chart to `path`.
pub fn draw(path: &str, title: &str, series: &[Series]) -> Result<(), String> {
    let all = || series.iter().flat_map(|s| s.points.iter());
    let (xmin, xmax) = all().fold((f64::MAX, 1.0f64), |(a, b), p| (a.min(p.size), b.max(p.size)));
    if xmin > xmax {
        return Err("nothing to draw".into());
    }
    let ymax = all().map(|p| p.per_s / 1e6).fold(0.1f64, f64::max) * 1.15;
    let lmax = all().map(|p| p.p99_ms).fold(0.1f64, f64::max) * 1.15;
    let root = SVGBackend::new(path, (1000, 440)).into_drawing_area();
    let e = |e: &dyn std::fmt::Display| e.to_string();
    root.fill(&WHITE).map_err(|x| e(&x))?;
    let root = root.titled(title, ("sans-serif", 20)).map_err(|x| e(&x))?;
    let panels = root.split_evenly((1, 2));
    let specs: [Panel; 2] = [
        ("delivered messages / s (millions)", ymax, |p| p.per_s / 1e6),
        ("p99 delivery latency (ms)", lmax, |p| p.p99_ms),
    ];
    let xr = (xmin * 0.8)..(xmax * 1.25);
    for (area, (ylabel, ytop, f)) in panels.iter().zip(specs) {
        let mut chart = ChartBuilder::on(area)
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(55)
            .build_cartesian_2d(xr.clone().log_scale(), 0.0..ytop)
            .map_err(|x| e(&x))?;
        chart
            .configure_mesh()
            .x_desc("channel members (log scale)")
            .y_desc(ylabel)
            .x_label_formatter(&|v| format!("{v:.0}"))
            .draw()
            .map_err(|x| e(&x))?;
        for (i, s) in series.iter().enumerate() {
            let color = COLORS[i % COLORS.len()];
            let pts: Vec<(f64, f64)> = s.points.iter().map(|p| (p.size, f(p))).collect();
            chart
                .draw_series(LineSeries::new(pts.clone(), color.stroke_width(2)))
                .map_err(|x| e(&x))?
                .label(s.label.clone())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2)));
            chart.draw_series(pts.into_iter().map(|p| Circle::new(p, 4, color.filled()))).map_err(|x| e(&x))?;
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .position(SeriesLabelPosition::UpperLeft)
            .draw()
            .map_err(|x| e(&x))?;
    }
    root.present().map_err(|x| e(&x))?;
    Ok(())
}

/// Groups sweep JSON lines (`label`, `members`, `delivered_per_s`,
/// `latency_us.p99`) into series, one per label; other lines are skipped.
pub fn series_from_json(lines: &str) -> Vec<Series> {
    let mut out: Vec<Series> = Vec::new();
    for l in lines.lines() {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(l) else {
            continue;
        };
        if v["scenario"] != "sweep" {
            continue;
        }
        let (Some(size), Some(per_s), Some(p99)) =
            (v["members"].as_f64(), v["delivered_per_s"].as_f64(), v["latency_us"]["p99"].as_f64())
        else {
            continue;
        };
        let label = v["label"].as_str().unwrap_or("").to_string();
        let p = Point { size, per_s, p99_ms: p99 / 1000.0 };
        match out.iter_mut().find(|s| s.label == label) {
            Some(s) => s.points.push(p),
            None => out.push(Series { label, points: vec![p] }),
        }
    }
    for s in &mut out {
        s.points.sort_by(|a, b| a.size.total_cmp(&b.size));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_from_json() {
        let json = r#"{"scenario":"sweep","label":"a","members":10,"delivered_per_s":1000000,"latency_us":{"p99":800}}
{"scenario":"sweep","label":"a","members":100,"delivered_per_s":2000000,"latency_us":{"p99":1500}}
{"scenario":"fanout","label":"a","members":5}
not json"#;
        let s = series_from_json(json);
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].points.len(), 2);
        let dir = std::env::temp_dir().join(format!("bench-chart-{}.svg", std::process::id()));
        let path = dir.to_str().unwrap();
        draw(path, "test", &s).unwrap();
        let svg = std::fs::read_to_string(path).unwrap();
        assert!(svg.contains("<svg"));
        let _ = std::fs::remove_file(path);
    }
}
