//! A server that cannot save: the real `chat-server` binary with its log on
//! a small tmpfs the test mounts and fills. The sender is told its message
//! was not sent (with the text, to send again), every desk shows the
//! server's NOTE, and once there is room the same desk's messages go
//! through. Mounting needs root; elsewhere the test says it is skipped.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::{join, server_process, TempDir};

/// Unmounts the test's tmpfs, even when the test fails.
struct Mount(PathBuf);

impl Mount {
    /// A 1 MiB tmpfs on `dir`, or `None` where mounting is not allowed.
    fn tmpfs(dir: &Path) -> Option<Mount> {
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=1m", "tmpfs"])
            .arg(dir)
            .status()
            .is_ok_and(|status| status.success());
        mounted.then(|| Mount(dir.to_path_buf()))
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn a_message_the_server_cannot_save_is_given_back_and_every_desk_is_told() {
    let dir = TempDir::new("full-disk");
    let Some(mount) = Mount::tmpfs(dir.path()) else {
        eprintln!("skipped: cannot mount a small tmpfs here (needs root)");
        return;
    };
    let server = server_process(&mount.0.join("room.db"), &[]);
    let mut alice = join("alice", server.addr());
    let bob = join("bob", server.addr());
    alice.expect("bob joined");

    // Leave the log almost no room.
    let filler = mount.0.join("filler");
    let mut fill = File::create(&filler).expect("create the filler");
    for chunk in [64 * 1024, 4096, 512] {
        while fill.write_all(&vec![b'x'; chunk]).is_ok() {}
    }
    drop(fill);

    let text = "y".repeat(3000);
    let refused = (0..200)
        .find(|n| {
            let line = format!("{n} {text}");
            alice.send(&line);
            let shown = format!("alice: {line}");
            let given_back = format!("(\"{line}\"; send it again).");
            alice.expect_any(&[&shown, &given_back]) == given_back
        })
        .expect("a message refused once the disk is full");
    let given_back = format!("(\"{refused} {text}\"; send it again).");
    let out = alice.stdout();
    let line = out.lines().find(|l| l.ends_with(&given_back)).unwrap();
    assert!(line.starts_with("[!] not sent: "), "{line}");
    // Every desk, the sender included, shows the server's NOTE.
    for desk in [&alice, &bob] {
        desk.expect("\n[!] the server cannot save messages");
    }
    assert!(
        !bob.stdout().contains(&format!("alice: {refused} {text}")),
        "nobody receives an unsaved message"
    );

    std::fs::remove_file(&filler).expect("remove the filler");
    alice.send("room again");
    for desk in [&alice, &bob] {
        desk.expect("\n[!] messages are saved and delivered again");
    }
    bob.expect("alice: room again");
    alice.expect("alice: room again");
    alice.send("q");
    alice.expect_exit_code(0);
}
