//! The 1 GB memory limit of the target box, applied per server start when this machine allows
//! it: root plus a memory controller (cgroup v1 or v2). Each step gets a fresh child of our own
//! cgroup, so peak usage and OOM kills are per step and the limit nests inside whatever limit we
//! already run under. Detection parses text so it is unit-tested; a probe child then proves a
//! child can really be made.

use std::ffi::CString;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::thread;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The target box has 1 GB of RAM; the server must live within it.
pub const MEMORY_LIMIT_BYTES: u64 = 1 << 30;

const CGROUP_ROOT: &str = "/sys/fs/cgroup";
const V1_MEMORY_ROOT: &str = "/sys/fs/cgroup/memory";

/// A version's files: the limit, the peak usage, and the keyed one counting OOM kills.
type Files = [&'static str; 3];
const V1_FILES: Files = [
    "memory.limit_in_bytes",
    "memory.max_usage_in_bytes",
    "memory.oom_control",
];
const V2_FILES: Files = ["memory.max", "memory.peak", "memory.events"];

/// Our own paths in the hierarchies, from `/proc/self/cgroup`: in the v1 one with the `memory`
/// controller, and in the unified (v2) one, the `0::` line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SelfCgroup {
    pub v1_memory: Option<String>,
    pub unified: Option<String>,
}

/// Parses `/proc/self/cgroup` (`ID:CONTROLLERS:PATH` per line).
pub fn parse_self_cgroup(text: &str) -> SelfCgroup {
    let mut found = SelfCgroup::default();
    for line in text.lines() {
        let mut parts = line.splitn(3, ':');
        let (Some(id), Some(controllers), Some(path)) = (parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        if id == "0" && controllers.is_empty() {
            found.unified = Some(path.to_string());
        } else if controllers.split(',').any(|name| name == "memory") {
            found.v1_memory = Some(path.to_string());
        }
    }
    found
}

/// True when a `cgroup.controllers` / `cgroup.subtree_control` list names `memory`.
pub fn lists_memory(controllers: &str) -> bool {
    controllers.split_whitespace().any(|name| name == "memory")
}

/// Reads `key N` from a flat keyed file (`memory.events`, v1 `memory.oom_control`).
pub fn keyed_value(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|line| {
        let mut parts = line.split_whitespace();
        (parts.next() == Some(key))
            .then(|| parts.next()?.parse().ok())
            .flatten()
    })
}

/// Whether the limit can be applied, and if not, why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CgroupSupport {
    Available(MemoryController),
    Unavailable(String),
}

/// Our own cgroup folder, where the per-step children go, and its version's files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemoryController {
    pub parent: PathBuf,
    files: Files,
}

impl CgroupSupport {
    /// Looks at this machine and probes by creating and removing one child.
    pub fn detect() -> CgroupSupport {
        // SAFETY: geteuid has no preconditions and cannot fail.
        if unsafe { libc::geteuid() } != 0 {
            return CgroupSupport::Unavailable("not running as root".into());
        }
        let own = parse_self_cgroup(&fs::read_to_string("/proc/self/cgroup").unwrap_or_default());
        let controller = match find_controller(&own) {
            Ok(controller) => controller,
            Err(reason) => return CgroupSupport::Unavailable(reason),
        };
        match controller.create_child(&format!("chat-compare-probe-{}", std::process::id())) {
            Ok(_probe) => CgroupSupport::Available(controller),
            Err(err) => CgroupSupport::Unavailable(format!(
                "cannot create a memory cgroup under {}: {err}",
                controller.parent.display()
            )),
        }
    }

    /// A fresh cgroup under the limit for step `number`, when the limit applies.
    pub fn step_cgroup(&self, number: usize) -> io::Result<Option<StepCgroup>> {
        match self {
            CgroupSupport::Available(controller) => {
                let name = format!("chat-compare-{}-{number}", std::process::id());
                controller.create_child(&name).map(Some)
            }
            CgroupSupport::Unavailable(_) => Ok(None),
        }
    }

    /// One line for the report.
    pub fn describe(&self) -> String {
        match self {
            CgroupSupport::Available(controller) => format!(
                "yes: each server ran in its own cgroup {} child of {} with a {} MiB limit",
                if controller.files == V1_FILES {
                    "v1 memory"
                } else {
                    "v2"
                },
                controller.parent.display(),
                MEMORY_LIMIT_BYTES >> 20
            ),
            CgroupSupport::Unavailable(reason) => {
                format!("no: {reason}; servers ran without a memory limit")
            }
        }
    }
}

fn find_controller(own: &SelfCgroup) -> Result<MemoryController, String> {
    let v1_root = Path::new(V1_MEMORY_ROOT);
    let v1_limit = v1_root.join(V1_FILES[0]);
    if let Some(path) = own.v1_memory.as_deref().filter(|_| v1_limit.exists()) {
        let parent = nested_or_root(v1_root, path);
        return Ok(MemoryController {
            parent,
            files: V1_FILES,
        });
    }
    let v2_root = Path::new(CGROUP_ROOT);
    let lists_memory = |path: PathBuf| lists_memory(&fs::read_to_string(path).unwrap_or_default());
    let v2_memory = lists_memory(v2_root.join("cgroup.controllers"));
    let Some(path) = own.unified.as_deref().filter(|_| v2_memory) else {
        return Err(
            "no cgroup memory controller (v1 memory.limit_in_bytes or v2 memory.max) found".into(),
        );
    };
    let parent = nested_or_root(v2_root, path);
    if !lists_memory(parent.join("cgroup.subtree_control")) {
        return Err(format!(
            "cgroup v2 memory controller not enabled for children of {}",
            parent.display()
        ));
    }
    Ok(MemoryController {
        parent,
        files: V2_FILES,
    })
}

/// Our cgroup folder if it is visible from here, else the hierarchy root (inside a cgroup
/// namespace `/proc/self/cgroup` shows `/` and the root is ours anyway).
fn nested_or_root(root: &Path, own_path: &str) -> PathBuf {
    let nested = root.join(own_path.trim_start_matches('/'));
    if nested.is_dir() {
        nested
    } else {
        root.to_path_buf()
    }
}

impl MemoryController {
    /// Creates `parent/name` with [`MEMORY_LIMIT_BYTES`] as its memory limit.
    fn create_child(&self, name: &str) -> io::Result<StepCgroup> {
        let dir = self.parent.join(name);
        // A leftover from an interrupted run is ours by name, and empty once its server died.
        let _ = fs::remove_dir(&dir);
        fs::create_dir(&dir)?;
        let step = StepCgroup {
            dir,
            files: self.files,
        };
        fs::write(step.dir.join(self.files[0]), MEMORY_LIMIT_BYTES.to_string())?;
        Ok(step)
    }
}

/// Memory figures of one step's cgroup (named as in `results.json`): the highest memory charged
/// to it (kernel memory charged to it included), and the processes the kernel OOM-killed in it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CgroupStats {
    #[serde(rename = "cgroup_peak_bytes")]
    pub peak_bytes: Option<u64>,
    #[serde(rename = "cgroup_oom_kills")]
    pub oom_kills: Option<u64>,
}

/// One step's cgroup; removed on drop (after its server is gone).
#[derive(Debug)]
pub struct StepCgroup {
    dir: PathBuf,
    files: Files,
}

impl StepCgroup {
    /// `cgroup.procs` as a C string, for the child to join itself between fork and exec.
    pub fn procs_path(&self) -> CString {
        let path = self.dir.join("cgroup.procs");
        CString::new(path.as_os_str().as_encoded_bytes())
            .expect("cgroup paths under /sys/fs/cgroup contain no NUL byte")
    }

    /// Peak usage and OOM kills so far.
    pub fn stats(&self) -> CgroupStats {
        let [_, peak, oom_control] = self.files;
        let read = |name| fs::read_to_string(self.dir.join(name)).ok();
        CgroupStats {
            peak_bytes: read(peak).and_then(|text| text.trim().parse().ok()),
            oom_kills: read(oom_control).and_then(|text| keyed_value(&text, "oom_kill")),
        }
    }
}

impl Drop for StepCgroup {
    fn drop(&mut self) {
        // The kernel may still be tearing down the last task; rmdir says EBUSY until it has.
        for _ in 0..50 {
            match fs::remove_dir(&self.dir) {
                Ok(()) => return,
                Err(err) if err.kind() == io::ErrorKind::NotFound => return,
                Err(_) => thread::sleep(Duration::from_millis(20)),
            }
        }
        let dir = self.dir.display();
        eprintln!("chat-compare: could not remove cgroup {dir}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v1_memory_line_found_among_others() {
        let text = "9:name=systemd:/\n4:memory:/process_api/abc\n3:cpuset:/\n0::/\n";
        let own = parse_self_cgroup(text);
        assert_eq!(own.v1_memory.as_deref(), Some("/process_api/abc"));
        assert_eq!(own.unified.as_deref(), Some("/"));
    }

    #[test]
    fn v1_memory_in_joined_controller_list() {
        let own = parse_self_cgroup("5:cpu,memory:/box\n");
        assert_eq!(own.v1_memory.as_deref(), Some("/box"));
    }

    #[test]
    fn pure_v2_has_only_unified() {
        let own = parse_self_cgroup("0::/user.slice/session-1.scope\n");
        assert_eq!(own.v1_memory, None);
        assert_eq!(own.unified.as_deref(), Some("/user.slice/session-1.scope"));
    }

    #[test]
    fn memsw_is_not_memory() {
        assert!(!lists_memory("cpuset cpu io memsw pids"));
        assert!(lists_memory("cpuset cpu io memory pids\n"));
    }

    #[test]
    fn oom_kill_read_from_v2_events() {
        let text = "low 0\nhigh 0\nmax 12\noom 1\noom_kill 1\noom_group_kill 0\n";
        assert_eq!(keyed_value(text, "oom_kill"), Some(1));
    }

    #[test]
    fn oom_kill_read_from_v1_oom_control() {
        let text = "oom_kill_disable 0\nunder_oom 0\noom_kill 3\n";
        assert_eq!(keyed_value(text, "oom_kill"), Some(3));
    }

    #[test]
    fn old_kernel_without_oom_kill_line() {
        assert_eq!(
            keyed_value("oom_kill_disable 0\nunder_oom 0\n", "oom_kill"),
            None
        );
    }
}
