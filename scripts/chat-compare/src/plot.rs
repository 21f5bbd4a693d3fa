//! The SVG charts of the report, drawn with plotters from the model: server RSS vs idle
//! clients, fanout p99 latency vs clients, fanout deliveries/s vs clients and server RSS after
//! each churn round, event (with its log) and threads on one chart each. The ladders' axes are
//! logarithmic because they grow by 10× and the two modes can differ by orders of magnitude;
//! ticks sit on the measured room sizes and on 1-2-5 steps so values can be read without a
//! table. The churn chart is linear from zero, so growth per round shows as slope. A step that
//! failed is marked with a cross on the x axis.

use std::path::Path;

use plotters::coord::ranged1d::ValueFormatter;
use plotters::prelude::*;

use crate::ladder::{Ladder, ServerMode};
use crate::model::{find, of_ladder, RunRecord, StepResult};
use crate::model::{FANOUT_P99_TARGET_US, IDLE_RSS_TARGET_KB};

const WIDTH_PX: u32 = 900;
const HEIGHT_PX: u32 = 540;
/// Colours that stay apart for colour-blind readers (Tableau blue / orange).
const EVENT_COLOUR: RGBColor = RGBColor(31, 119, 180);
const THREADS_COLOUR: RGBColor = RGBColor(255, 127, 14);
const REFERENCE_COLOUR: RGBColor = RGBColor(120, 120, 120);

/// One line on a chart: a server mode's figure at the steps that gave it, and the x of the
/// steps that failed without it.
#[derive(Debug, Clone)]
pub struct Series {
    pub mode: ServerMode,
    pub points: Vec<(f64, f64)>,
    pub failed_x: Vec<f64>,
}

/// A chart: its lines, and a dashed reference line (a target, the offered load) with its legend.
#[derive(Debug, Clone)]
pub struct Chart {
    pub title: String,
    pub x_desc: String,
    pub y_desc: String,
    pub series: Vec<Series>,
    pub reference: Option<(Vec<(f64, f64)>, String)>,
    /// How a y value is printed next to its marker and on the axis.
    pub y_format: fn(f64) -> String,
    pub axes: Axes,
}

/// The two kinds of chart in the report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Axes {
    /// A ladder: both axes logarithmic, x ticks on the measured sizes, y ticks on 1-2-5 steps,
    /// every point labelled with its value.
    Log,
    /// A long series (RSS per churn round): both axes linear from zero, only each line's first
    /// and last point labelled.
    Linear,
}

/// 1-2-5 steps covering `low..high`, for readable log-axis ticks.
pub fn one_two_five(low: f64, high: f64) -> Vec<f64> {
    let mut ticks = Vec::new();
    if !(low > 0.0 && high > low) {
        return ticks;
    }
    let mut decade = 10f64.powf(low.log10().floor());
    while decade <= high {
        let steps = [1.0, 2.0, 5.0].map(|step| decade * step);
        ticks.extend(steps.into_iter().filter(|tick| (low..=high).contains(tick)));
        decade *= 10.0;
    }
    ticks
}

/// A line per mode of `figure` against the room size over `ladder`'s side-by-side steps; a
/// step without the figure is a failed cross.
fn ladder_series(
    results: &[StepResult],
    ladder: Ladder,
    figure: fn(&StepResult) -> Option<f64>,
) -> [Series; 2] {
    ServerMode::BOTH.map(|mode| {
        let (mut points, mut failed_x) = (Vec::new(), Vec::new());
        let shown = |r: &&StepResult| r.step.server_mode == mode && r.step.is_side_by_side();
        for result in of_ladder(results, ladder).filter(shown) {
            let x = f64::from(result.step.workload.clients);
            match figure(result).filter(|y| *y > 0.0) {
                Some(y) => points.push((x, y)),
                None => failed_x.push(x),
            }
        }
        Series {
            mode,
            points,
            failed_x,
        }
    })
}

/// The server's RSS after each churn round, MiB, per mode that ran the churn step; a step
/// without any reading is a failed cross at round 1.
fn churn_series(results: &[StepResult]) -> Vec<Series> {
    (ServerMode::BOTH.iter())
        .filter_map(|&mode| {
            let churn = find(results, Ladder::Churn, None, mode)?.churn();
            let rounds = churn.map_or(&[][..], |churn| &churn.rounds);
            let points: Vec<(f64, f64)> = (rounds.iter())
                .filter_map(|r| Some((f64::from(r.round), r.rss_kb? as f64 / 1024.0)))
                .collect();
            let failed_x = if points.is_empty() {
                vec![1.0]
            } else {
                Vec::new()
            };
            Some(Series {
                mode,
                points,
                failed_x,
            })
        })
        .collect()
}

/// `value` with one more decimal for each of `bounds` it is under.
fn decimals(value: f64, bounds: &[f64]) -> String {
    let digits = bounds.iter().filter(|&&bound| value < bound).count();
    format!("{value:.digits$}")
}

fn mib_label(value: f64) -> String {
    decimals(value, &[10.0])
}

fn ms_label(value: f64) -> String {
    decimals(value, &[10.0, 1.0])
}

fn rate_label(value: f64) -> String {
    if value >= 1e6 {
        format!("{:.1}M", value / 1e6)
    } else if value >= 1e3 {
        format!("{:.0}k", value / 1e3)
    } else {
        format!("{value:.0}")
    }
}

/// A flat line at `y` across the room sizes of `ladder`.
fn across(results: &[StepResult], ladder: Ladder, y: f64) -> Vec<(f64, f64)> {
    let sizes = of_ladder(results, ladder).map(|r| f64::from(r.step.workload.clients));
    let sizes: Vec<f64> = sizes.collect();
    let low = sizes.iter().copied().fold(f64::INFINITY, f64::min);
    let high = sizes.iter().copied().fold(0.0, f64::max);
    vec![(low, y), (high, y)]
}

/// The four charts of a run, with their file names.
pub fn charts(record: &RunRecord) -> Vec<(&'static str, Chart)> {
    let results = &record.results;
    let first = |ladder| of_ladder(results, ladder).next();
    let idle = Chart {
        title: "Server memory with idle clients".into(),
        x_desc: "idle clients connected (log scale)".into(),
        y_desc: "server peak RSS, MiB (log scale)".into(),
        series: ladder_series(results, Ladder::Idle, |r| Some(r.rss_peak_kb()? / 1024.0)).into(),
        reference: Some((
            across(results, Ladder::Idle, IDLE_RSS_TARGET_KB / 1024.0),
            "target for event mode at 10,000 clients: 32 MiB".into(),
        )),
        y_format: mib_label,
        axes: Axes::Log,
    };
    let total_rate = first(Ladder::Fanout).map_or(0.0, |r| r.step.workload.total_rate());
    let latency = Chart {
        title: format!("Fanout latency at {total_rate:.0} messages/s in total"),
        x_desc: "clients in the room (log scale)".into(),
        y_desc: "p99 send-to-receive latency, ms (log scale)".into(),
        series: ladder_series(results, Ladder::Fanout, |r| Some(r.p99_us()? / 1000.0)).into(),
        reference: Some((
            across(results, Ladder::Fanout, FANOUT_P99_TARGET_US / 1000.0),
            "target for event mode at 1000 clients: p99 5 ms".into(),
        )),
        y_format: ms_label,
        axes: Axes::Log,
    };
    // The event line of what the fanout steps offered: the same x whichever steps failed.
    let [offered, _] = ladder_series(results, Ladder::Fanout, |r| {
        Some(r.step.workload.offered_deliveries_per_sec())
    });
    let mut offered = offered.points;
    offered.sort_by(|a, b| a.0.total_cmp(&b.0));
    let throughput = Chart {
        title: format!("Fanout deliveries per second at {total_rate:.0} messages/s in total"),
        x_desc: "clients in the room (log scale)".into(),
        y_desc: "deliveries received per second (log scale)".into(),
        series: ladder_series(results, Ladder::Fanout, |r| {
            Some(r.load()?.deliveries_per_sec)
        })
        .into(),
        reference: Some((offered, "offered: every message to every client".into())),
        y_format: rate_label,
        axes: Axes::Log,
    };
    let churn_clients = first(Ladder::Churn).map_or(0, |r| r.step.workload.clients);
    let churn = Chart {
        title: format!("Server memory after each churn round of {churn_clients} clients"),
        x_desc: "round (all connect, each sends one message, all close)".into(),
        y_desc: "server RSS after the round, MiB".into(),
        series: churn_series(results),
        reference: None,
        y_format: mib_label,
        axes: Axes::Linear,
    };
    vec![
        ("idle_rss.svg", idle),
        ("fanout_p99.svg", latency),
        ("fanout_throughput.svg", throughput),
        ("churn_rss.svg", churn),
    ]
}

/// Draws every chart into `out_dir`; returns the errors (a chart that fails is reported, the
/// others are still written).
pub fn write_all(out_dir: &Path, record: &RunRecord) -> Vec<String> {
    charts(record)
        .into_iter()
        .filter_map(|(name, chart)| {
            draw(&out_dir.join(name), &chart)
                .err()
                .map(|err| format!("{name}: {err}"))
        })
        .collect()
}

/// Draws one chart as SVG.
pub fn draw(path: &Path, chart: &Chart) -> Result<(), String> {
    let xs = chart
        .series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.0).chain(s.failed_x.clone()));
    let all_x: Vec<f64> = xs.collect();
    let reference = chart.reference.iter().flat_map(|(points, _)| points);
    let points = chart.series.iter().flat_map(|s| &s.points);
    let all_y: Vec<f64> = points.chain(reference).map(|p| p.1).collect();
    if all_x.is_empty() {
        return Err("no steps to plot".into());
    }
    let lowest = |values: &[f64]| (values.iter().copied()).fold(f64::INFINITY, f64::min);
    let highest = |values: &[f64]| values.iter().copied().fold(0.0, f64::max);
    let (x_low, x_high) = (lowest(&all_x), highest(&all_x));
    let positive: Vec<f64> = all_y.iter().copied().filter(|y| *y > 0.0).collect();
    let (y_low, y_high) = match (lowest(&positive), highest(&all_y)) {
        (low, high) if low.is_finite() && high > 0.0 => (low, high),
        _ => (1.0, 10.0),
    };

    let root = SVGBackend::new(path, (WIDTH_PX, HEIGHT_PX)).into_drawing_area();
    root.fill(&WHITE).map_err(fail)?;
    let mut builder = ChartBuilder::on(&root);
    builder
        .caption(&chart.title, ("sans-serif", 24))
        .margin(18)
        .x_label_area_size(50)
        .y_label_area_size(70);
    match chart.axes {
        Axes::Log => {
            // Margins in log space: a bit under half a decade each side so labels fit.
            let x_range = (x_low / 1.6)..(x_high * 1.6);
            let y_range = (y_low / 2.5)..(y_high * 3.0);
            let mut x_ticks = all_x.clone();
            x_ticks.sort_by(f64::total_cmp);
            x_ticks.dedup();
            let y_ticks = one_two_five(y_range.start, y_range.end);
            let y_floor = y_range.start;
            let x_axis = x_range.log_scale().with_key_points(x_ticks);
            let y_axis = y_range.log_scale().with_key_points(y_ticks);
            let plot = builder.build_cartesian_2d(x_axis, y_axis).map_err(fail)?;
            draw_lines(plot, chart, y_floor)?;
        }
        Axes::Linear => {
            // From zero, so a flat line looks flat; headroom above for the legend.
            let (x_axis, y_axis) = (0.0..x_high + 1.0, 0.0..y_high * 1.6);
            let plot = builder.build_cartesian_2d(x_axis, y_axis).map_err(fail)?;
            draw_lines(plot, chart, 0.0)?;
        }
    }
    root.present().map_err(fail)
}

fn fail(err: impl std::fmt::Display) -> String {
    err.to_string()
}

/// The mesh, the reference line, the series with their value labels, the failed steps' crosses
/// at `y_floor` and the legend, on either kind of axes.
fn draw_lines<'a, X, Y>(
    mut plot: ChartContext<'a, SVGBackend<'a>, Cartesian2d<X, Y>>,
    chart: &Chart,
    y_floor: f64,
) -> Result<(), String>
where
    X: Ranged<ValueType = f64> + ValueFormatter<f64>,
    Y: Ranged<ValueType = f64> + ValueFormatter<f64>,
{
    let y_format = chart.y_format;
    plot.configure_mesh()
        .x_desc(&chart.x_desc)
        .y_desc(&chart.y_desc)
        .x_label_formatter(&|x| format!("{x:.0}"))
        .y_label_formatter(&|y| y_format(*y))
        .label_style(("sans-serif", 15))
        .axis_desc_style(("sans-serif", 16))
        .light_line_style(WHITE)
        .bold_line_style(RGBColor(225, 225, 225))
        .draw()
        .map_err(fail)?;
    let legend_line = |style: ShapeStyle| {
        move |(x, y): (i32, i32)| PathElement::new(vec![(x, y), (x + 24, y)], style)
    };
    if let Some((points, label)) = &chart.reference {
        let style = ShapeStyle::from(&REFERENCE_COLOUR).stroke_width(2);
        plot.draw_series(DashedLineSeries::new(points.clone(), 8, 6, style))
            .map_err(fail)?
            .label(label.as_str())
            .legend(legend_line(style));
    }
    let marker_px = match chart.axes {
        Axes::Log => 5,
        Axes::Linear => 3,
    };
    for series in &chart.series {
        let (design, colour) = match series.mode {
            ServerMode::Event => ("mio event loop", EVENT_COLOUR),
            ServerMode::Threads => ("thread per client", THREADS_COLOUR),
        };
        let points = &series.points;
        let line = ShapeStyle::from(&colour).stroke_width(3);
        // Up and to the right of the point, in pixels, so the text never hides the marker.
        let text_at = |point, text| {
            let font = ("sans-serif", 14).into_font().color(&colour);
            EmptyElement::at(point) + Text::new(text, (8, -20), font)
        };
        plot.draw_series(LineSeries::new(points.clone(), line))
            .map_err(fail)?
            .label(format!("{} ({design})", series.mode))
            .legend(legend_line(line));
        let markers = points
            .iter()
            .map(|&p| Circle::new(p, marker_px, colour.filled()));
        plot.draw_series(markers).map_err(fail)?;
        // The value beside each marker, so nobody has to read it off a log axis; on a long
        // series only the first and the last, the rest would be a smear of digits.
        let labelled: Vec<(f64, f64)> = match chart.axes {
            Axes::Log => points.clone(),
            Axes::Linear => (points.first().into_iter())
                .chain(points.last().filter(|_| points.len() > 1))
                .copied()
                .collect(),
        };
        let values = labelled.into_iter().map(|p| text_at(p, y_format(p.1)));
        plot.draw_series(values).map_err(fail)?;
        let failed = series.failed_x.iter().map(|&x| (x, y_floor));
        let crosses = failed.clone().map(|p| Cross::new(p, 7, line));
        plot.draw_series(crosses).map_err(fail)?;
        let failed = failed.map(|p| text_at(p, "failed".to_string()));
        plot.draw_series(failed).map_err(fail)?;
    }
    plot.configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .label_font(("sans-serif", 15))
        .background_style(WHITE.mix(0.9))
        .border_style(RGBColor(180, 180, 180))
        .draw()
        .map_err(fail)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ladder::RoomLog;
    use crate::model::tests::{churn_fixture, failed, fixture, fixture_run, record};

    #[test]
    fn one_two_five_within_range() {
        assert_eq!(
            one_two_five(0.3, 30.0),
            vec![0.5, 1.0, 2.0, 5.0, 10.0, 20.0]
        );
    }

    #[test]
    fn churn_chart_has_a_line_per_mode_and_a_point_per_round() {
        let record = record(vec![
            churn_fixture(ServerMode::Event, 60, &[4096, 5120, 6144]),
            churn_fixture(ServerMode::Threads, 60, &[3072]),
        ]);
        let charts = charts(&record);
        let (_, chart) = charts
            .iter()
            .find(|(name, _)| *name == "churn_rss.svg")
            .expect("a churn chart");
        assert_eq!(chart.axes, Axes::Linear);
        assert_eq!(chart.series.len(), 2);
        assert_eq!(
            chart.series[0].points,
            vec![(1.0, 4.0), (2.0, 5.0), (3.0, 6.0)]
        );
        assert_eq!(chart.series[1].points, vec![(1.0, 3.0)]);
    }

    #[test]
    fn churn_chart_marks_a_step_without_readings_failed() {
        let failed = failed(Ladder::Churn, 300, ServerMode::Event, "server killed (OOM)");
        let series = churn_series(&[failed]);
        assert_eq!(series.len(), 1, "only the mode that ran");
        assert!(series[0].points.is_empty());
        assert_eq!(series[0].failed_x, vec![1.0]);
    }

    #[test]
    fn the_log_cost_run_is_not_a_second_event_point() {
        let results = vec![
            fixture(
                Ladder::Fanout,
                1000,
                ServerMode::Event,
                serde_json::json!({}),
            ),
            fixture_run(
                Ladder::Fanout,
                1000,
                ServerMode::Event,
                RoomLog::Memory,
                1,
                serde_json::json!({"latency_us": {"p99": 700}}),
            ),
            fixture_run(
                Ladder::Fanout,
                1000,
                ServerMode::Event,
                RoomLog::File,
                2,
                serde_json::json!({"latency_us": {"p99": 800}}),
            ),
        ];
        let series = ladder_series(&results, Ladder::Fanout, StepResult::p99_us);
        assert_eq!(series[0].points, vec![(1000.0, 900.0)]);
    }

    #[test]
    fn one_two_five_empty_range() {
        assert!(one_two_five(0.0, 10.0).is_empty());
        assert!(one_two_five(5.0, 1.0).is_empty());
    }
}
