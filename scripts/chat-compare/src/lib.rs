//! `chat-compare` drives `chat-server` in both modes (`event`, `threads`) through the same
//! ladder of `chat-load` runs, one fresh server per step, and writes the side-by-side report.
//! The event server runs as shipped, its room's log in a SQLite file of the step's own; twice
//! more with `--db none` for the log's cost; once in chat-load's restart scenario; and once in
//! each of its attack scenarios (issue 17's search storm and resume bomb). It owns
//! process supervision, the optional 1 GB memory cgroup, the steps' log files and the report
//! files; the load itself and the measurements of the server process come from `chat-load`.
//!
//! # Layout
//! - [`config`]: command-line flags (`--quick`, `--out`, `--bin-dir`, `--only`, `--render`).
//! - [`ladder`]: the steps of a run as plain data.
//! - [`process`]: the children we start, tied to us, and the lines of their logs we quote.
//! - [`load`]: chat-load's arguments for a step, running it, reading its `--json` output
//!   strictly into chat-load's own report type.
//! - [`cgroup`]: detecting and using a memory controller for the 1 GB limit.
//! - [`runner`]: one step after the other: its cgroup, its servers (and its redis-server), the
//!   load, the shutdown; produces a [`model::RunRecord`].
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
