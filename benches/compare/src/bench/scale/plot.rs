//! The scale benchmark's plot: time (left) and peak RSS (right) against the number of files,
//! both on log scales, one colour per step, ours solid with dots and rocfl dashed with
//! triangles. SVG only, so that xtask builds no font or image stack.

use std::path::Path;

use plotters::prelude::*;

use super::{Run, Step};
use crate::bench::commit::measure::Measurement;
use crate::bench::commit::tools::Tool;

const COLOURS: [RGBColor; 5] = [
    RGBColor(0x1f, 0x77, 0xb4),
    RGBColor(0xd6, 0x27, 0x28),
    RGBColor(0x2c, 0xa0, 0x2c),
    RGBColor(0x94, 0x67, 0xbd),
    RGBColor(0xff, 0x7f, 0x0e),
];

/// One panel's quantity.
#[derive(Clone, Copy)]
enum Quantity {
    Seconds,
    PeakMib,
}

impl Quantity {
    fn of(self, m: &Measurement) -> Option<f64> {
        match self {
            Quantity::Seconds => Some(m.seconds),
            Quantity::PeakMib => m.peak_rss_kib.map(|k| k as f64 / 1024.0),
        }
        .filter(|v| *v > 0.0)
    }

    fn title(self) -> &'static str {
        match self {
            Quantity::Seconds => "wall time (s)",
            Quantity::PeakMib => "peak RSS (MiB)",
        }
    }
}

/// A line of a panel: (files, value) in increasing files.
fn series(runs: &[Run], tool: Tool, step: Step, quantity: Quantity) -> Vec<(f64, f64)> {
    runs.iter()
        .filter(|r| r.tool == tool)
        .filter_map(|r| Some((r.files as f64, quantity.of(r.step(step)?)?)))
        .collect()
}

/// Writes the two panels to `path`.
pub fn write_svg(path: &Path, runs: &[Run]) -> anyhow::Result<()> {
    let area = SVGBackend::new(path, (1280, 560)).into_drawing_area();
    area.fill(&WHITE).map_err(to_anyhow)?;
    let area = area
        .titled(
            "One object, N files of 1 KiB: ours (solid, dots) and rocfl (dashed, triangles)",
            ("sans-serif", 20),
        )
        .map_err(to_anyhow)?;
    let (left, right) = area.split_horizontally(640);
    panel(&left, runs, Quantity::Seconds)?;
    panel(&right, runs, Quantity::PeakMib)?;
    area.present().map_err(to_anyhow)?;
    Ok(())
}

fn panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    runs: &[Run],
    quantity: Quantity,
) -> anyhow::Result<()>
where
    DB::ErrorType: 'static,
{
    let all: Vec<(f64, f64)> = [Tool::Ours, Tool::Rocfl]
        .into_iter()
        .flat_map(|tool| Step::ALL.map(|step| series(runs, tool, step, quantity)))
        .flatten()
        .collect();
    let (x_low, x_high) = bounds(all.iter().map(|p| p.0));
    let (y_low, y_high) = bounds(all.iter().map(|p| p.1));
    let mut chart = ChartBuilder::on(area)
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .caption(quantity.title(), ("sans-serif", 18))
        .build_cartesian_2d(
            (x_low / 2.0..x_high * 2.0).log_scale(),
            (y_low / 2.0..y_high * 2.0).log_scale(),
        )
        .map_err(to_anyhow)?;
    chart
        .configure_mesh()
        .x_desc("files in the object")
        .y_desc(quantity.title())
        .x_label_formatter(&|x| format!("{x:.0}"))
        .y_label_formatter(&|y| format!("{y}"))
        .draw()
        .map_err(to_anyhow)?;
    for (step, colour) in Step::ALL.into_iter().zip(COLOURS) {
        let ours = series(runs, Tool::Ours, step, quantity);
        chart
            .draw_series(LineSeries::new(ours.clone(), colour.stroke_width(2)))
            .map_err(to_anyhow)?
            .label(step.key())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], colour));
        chart
            .draw_series(ours.iter().map(|&p| Circle::new(p, 4, colour.filled())))
            .map_err(to_anyhow)?;
        let rocfl = series(runs, Tool::Rocfl, step, quantity);
        chart
            .draw_series(DashedLineSeries::new(
                rocfl.clone(),
                6,
                4,
                colour.stroke_width(1),
            ))
            .map_err(to_anyhow)?;
        chart
            .draw_series(rocfl.iter().map(|&p| TriangleMarker::new(p, 5, colour)))
            .map_err(to_anyhow)?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()
        .map_err(to_anyhow)?;
    Ok(())
}

/// The smallest and largest of `values`, or 1..10 when there are none.
fn bounds(values: impl Iterator<Item = f64>) -> (f64, f64) {
    values
        .fold(None, |acc: Option<(f64, f64)>, v| {
            Some(acc.map_or((v, v), |(low, high)| (low.min(v), high.max(v))))
        })
        .unwrap_or((1.0, 10.0))
}

fn to_anyhow<E: std::error::Error + Send + Sync + 'static>(
    error: DrawingAreaErrorKind<E>,
) -> anyhow::Error {
    anyhow::anyhow!("{error}")
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use super::*;

    fn run(tool: Tool, files: usize, seconds: f64) -> Run {
        let steps = Step::ALL
            .iter()
            .enumerate()
            .map(|(i, _)| Measurement {
                seconds: seconds * (i + 1) as f64,
                peak_rss_kib: Some(1024 * files as u64 / 100),
                ..Measurement::default()
            })
            .collect();
        Run {
            tool,
            files,
            steps,
            problems: Vec::new(),
        }
    }

    #[test]
    fn the_plot_is_an_svg_with_every_series() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("scale.svg");
        let runs = vec![
            run(Tool::Ours, 10_000, 1.0),
            run(Tool::Rocfl, 10_000, 2.0),
            run(Tool::Ours, 100_000, 10.0),
            run(Tool::Rocfl, 100_000, 25.0),
        ];
        write_svg(&path, &runs).unwrap();
        let svg = std::fs::read_to_string(&path).unwrap();
        assert!(svg.starts_with("<svg"), "{}", &svg[..80]);
        for step in Step::ALL {
            assert!(
                svg.contains(step.key()),
                "no legend entry for {}",
                step.key()
            );
        }
        // Two panels, each with 5 ours lines and 5 dashed rocfl lines of segments.
        assert!(svg.matches("<polyline").count() >= 2 * 5, "{svg}");
        assert_eq!(
            series(&runs, Tool::Rocfl, Step::Cat, Quantity::Seconds),
            [(10_000.0, 10.0), (100_000.0, 125.0)]
        );
        assert_eq!(
            series(&runs, Tool::Ours, Step::Ls, Quantity::PeakMib),
            [(10_000.0, 100.0), (100_000.0, 1000.0)]
        );
    }
}
