//! `chat-compare` drives `chat-server` in both modes (`event`, `threads`) through the same
//! ladder of `chat-load` runs, one fresh server per step, and writes the side-by-side report.
//! It owns process supervision, the optional 1 GB memory cgroup, the steps' log files and the
//! report files; the load itself and the measurements of the server process come from
//! `chat-load`.
//!
//! # Layout
//! - [`config`]: command-line flags.
//! - [`ladder`]: the steps of a run as plain data.
//! - [`process`]: the children we start, tied to us, and the lines of their logs we quote.
//! - [`load`]: chat-load's arguments for a step, running it, reading its `--json` output
//!   strictly into chat-load's own report type.
//! - [`cgroup`]: detecting and using a memory controller for the 1 GB limit.
//! - [`runner`]: one step after the other, producing a [`model::RunRecord`].
//! - [`machine`]: what the report says about the box (kernel, cores, memory, date).
//! - [`model`]: the step results and the run record, the figures read off them, the targets;
//!   what the report and the plots both read.
//! - [`report`]: renders `report.md` (with the target checks), `results.csv` and
//!   `results.json` from the model, and reads `results.json` back.
//! - [`plot`]: draws the SVG charts from the model.

pub mod cgroup;
pub mod config;
pub mod ladder;
pub mod load;
pub mod machine;
pub mod model;
pub mod plot;
pub mod process;
pub mod report;
pub mod runner;
