//! DET curve PNGs (plotters, bitmap backend) on probit axes.
//!
//! Text needs a TrueType font at run time (plotters' `ab_glyph` feature keeps the build
//! free of fontconfig): `$VOICEPRINT_FONT` or a common system DejaVu/Liberation path.
//! Without one the plot is drawn without labels rather than failing.

use std::path::Path;
use std::sync::OnceLock;

use plotters::prelude::*;
use voiceprint_engine::metrics::{probit, ScoreSet};

use crate::error::CliError;

/// Error-rate ticks shown on both axes.
const TICKS: [f64; 10] = [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.4, 0.6];
const FONT_CANDIDATES: [&str; 5] = [
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
    "/System/Library/Fonts/Supplemental/Arial.ttf",
];

/// Registers a font as "sans-serif" once per process; false when none was found.
fn font_available() -> bool {
    static FONT: OnceLock<bool> = OnceLock::new();
    *FONT.get_or_init(|| {
        let env = std::env::var("VOICEPRINT_FONT").ok();
        for path in env.iter().map(String::as_str).chain(FONT_CANDIDATES) {
            if let Ok(bytes) = std::fs::read(path) {
                // plotters keeps fonts for the life of the process.
                let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
                if plotters::style::register_font("sans-serif", FontStyle::Normal, bytes).is_ok() {
                    return true;
                }
            }
        }
        tracing::warn!("no TrueType font found (set VOICEPRINT_FONT); drawing the DET plot without text");
        false
    })
}

fn tick_label(x: f64) -> String {
    TICKS
        .iter()
        .find(|&&p| (probit(p) - x).abs() < 1e-6)
        .map(|p| {
            let pct = 100.0 * p;
            if pct < 1.0 { format!("{pct:.1}") } else { format!("{pct:.0}") }
        })
        .unwrap_or_default()
}

/// Draws one DET curve per `(label, scores)` into a 800×800 PNG.
pub fn write_det_png(path: &Path, curves: &[(&str, &ScoreSet)]) -> Result<(), CliError> {
    let err = |e: &dyn std::fmt::Display| CliError::Plot { path: path.to_owned(), message: e.to_string() };
    let text = font_available();
    let root = BitMapBackend::new(path, (800, 800)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(&e))?;
    let (lo, hi) = (probit(TICKS[0]), probit(TICKS[TICKS.len() - 1]));
    let mut builder = ChartBuilder::on(&root);
    builder.margin(20);
    if text {
        builder.caption("DET curve", ("sans-serif", 24)).x_label_area_size(50).y_label_area_size(60);
    }
    let mut chart = builder.build_cartesian_2d(lo..hi, lo..hi).map_err(|e| err(&e))?;
    // Probit axes: the mesh's own evenly spaced labels would land on odd percentages,
    // so draw the grid and labels at the TICKS ourselves.
    chart.configure_mesh().disable_mesh().x_labels(0).y_labels(0).draw().map_err(|e| err(&e))?;
    for &p in &TICKS {
        let v = probit(p);
        let grid = BLACK.mix(0.15);
        chart.draw_series(LineSeries::new([(v, lo), (v, hi)], grid)).map_err(|e| err(&e))?;
        chart.draw_series(LineSeries::new([(lo, v), (hi, v)], grid)).map_err(|e| err(&e))?;
        if text {
            let label = tick_label(v);
            let (x, y_bottom) = chart.backend_coord(&(v, lo));
            let (x_left, y) = chart.backend_coord(&(lo, v));
            let style = TextStyle::from(("sans-serif", 14).into_font()).color(&BLACK);
            root.draw(&Text::new(label.clone(), (x - 8, y_bottom + 8), style.clone())).map_err(|e| err(&e))?;
            root.draw(&Text::new(label, (x_left - 40, y - 7), style)).map_err(|e| err(&e))?;
        }
    }
    if text {
        let style = TextStyle::from(("sans-serif", 16).into_font()).color(&BLACK);
        root.draw(&Text::new("False acceptance rate (%)", (330, 770), style.clone())).map_err(|e| err(&e))?;
        root.draw(&Text::new("False rejection rate (%)", (12, 6), style)).map_err(|e| err(&e))?;
    }

    // EER diagonal.
    chart.draw_series(LineSeries::new([(lo, lo), (hi, hi)], BLACK.mix(0.3))).map_err(|e| err(&e))?;
    for (i, (label, set)) in curves.iter().enumerate() {
        let color = Palette99::pick(i).to_rgba();
        let points: Vec<(f64, f64)> = set
            .det_curve()
            .iter()
            .map(|p| (probit(p.far).clamp(lo, hi), probit(p.frr).clamp(lo, hi)))
            .collect();
        let series = chart
            .draw_series(LineSeries::new(points, color.stroke_width(2)))
            .map_err(|e| err(&e))?;
        if text {
            let eer = set.eer().eer;
            series
                .label(format!("{label}  EER {:.2} %", 100.0 * eer))
                .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], color.stroke_width(2)));
        }
    }
    if text {
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .label_font(("sans-serif", 13))
            .position(SeriesLabelPosition::UpperRight)
            .draw()
            .map_err(|e| err(&e))?;
    }
    root.present().map_err(|e| err(&e))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_a_png() {
        let q = |n: usize, m: f64| -> Vec<f64> {
            (0..n).map(|i| m + probit((i as f64 + 0.5) / n as f64)).collect()
        };
        let a = ScoreSet::new(q(500, 2.0), q(5000, 0.0)).unwrap();
        let b = ScoreSet::new(q(500, 3.0), q(5000, 0.0)).unwrap();
        let dir = std::env::temp_dir().join(format!("vp-det-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("det.png");
        write_det_png(&path, &[("d'=2", &a), ("d'=3", &b)]).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
        if let Ok(keep) = std::env::var("VOICEPRINT_KEEP_PLOT") {
            std::fs::copy(&path, keep).unwrap();
        }
        std::fs::remove_dir_all(&dir).ok();
    }
}
