//! Each connection's bounded [`Outbox`]: the [`Frame`]s waiting to be
//! written to one peer, shared with every other recipient of the same
//! broadcast, written many frames per system call. Every outbox counts the
//! memory of its queue's slots into [`queue_slot_bytes`]; the frames count
//! themselves ([`crate::frames::live_frame_bytes`]).

use std::collections::VecDeque;
use std::io::{self, IoSlice};
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::frames::Frame;

/// Bytes of every outbox's ring of slots, server-wide.
static QUEUE_SLOT_BYTES: AtomicUsize = AtomicUsize::new(0);

/// Bytes every outbox's ring of slots takes now (each slot one pointer to a
/// shared frame).
pub fn queue_slot_bytes() -> usize {
    QUEUE_SLOT_BYTES.load(Ordering::Relaxed)
}

/// The bytes of a ring of `slots` frames.
fn ring_bytes(slots: usize) -> usize {
    slots * std::mem::size_of::<Frame>()
}

/// Most frames handed to one `writev`. Linux accepts 1024; 64 frames of chat
/// lines already fill a typical socket buffer, and the array lives on the
/// stack.
const MAX_FRAMES_PER_WRITE: usize = 64;

/// Past this many slots, an emptied queue gives its ring back: a burst (a
/// history replay, a busy minute) must not leave every idle desk holding a
/// large allocation.
const KEPT_CAPACITY: usize = 16;

/// Frames waiting to be written to one peer, oldest first.
#[derive(Debug, Default)]
pub struct Outbox {
    /// The frames, shared with every other recipient of the same broadcast.
    frames: VecDeque<Frame>,
    /// Bytes of the front frame already written.
    front_written: usize,
    /// Bytes in `frames` not yet written.
    queued_bytes: usize,
}

impl Outbox {
    /// True when nothing waits.
    pub fn is_empty(&self) -> bool {
        self.frames.is_empty()
    }

    /// Bytes waiting to be written.
    pub fn queued_bytes(&self) -> usize {
        self.queued_bytes
    }

    /// Adds a frame at the back.
    pub fn push(&mut self, frame: Frame) {
        self.queued_bytes += frame.len();
        let before = self.frames.capacity();
        self.frames.push_back(frame);
        let grown = self.frames.capacity() - before;
        if grown > 0 {
            QUEUE_SLOT_BYTES.fetch_add(ring_bytes(grown), Ordering::Relaxed);
        }
    }

    /// Writes frames through `write` (a vectored write), many per call, until
    /// the queue is empty or the writer would block. `WouldBlock` is not an
    /// error: what is left stays queued.
    pub fn write_to(
        &mut self,
        mut write: impl FnMut(&[IoSlice<'_>]) -> io::Result<usize>,
    ) -> io::Result<()> {
        while !self.frames.is_empty() {
            let mut slices = [IoSlice::new(&[]); MAX_FRAMES_PER_WRITE];
            let mut count = 0;
            for (slot, frame) in slices.iter_mut().zip(&self.frames) {
                let skip = if count == 0 { self.front_written } else { 0 };
                *slot = IoSlice::new(&frame[skip..]);
                count += 1;
            }
            match write(&slices[..count]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(written) => self.consume(written),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
        if self.frames.capacity() > KEPT_CAPACITY {
            self.give_back_ring();
        }
        Ok(())
    }

    fn give_back_ring(&mut self) {
        let ring = std::mem::take(&mut self.frames);
        QUEUE_SLOT_BYTES.fetch_sub(ring_bytes(ring.capacity()), Ordering::Relaxed);
    }

    /// Drops `written` bytes from the front of the queue.
    fn consume(&mut self, mut written: usize) {
        self.queued_bytes -= written;
        while written > 0 {
            let front_left = self.frames[0].len() - self.front_written;
            if written >= front_left {
                self.frames.pop_front();
                self.front_written = 0;
                written -= front_left;
            } else {
                self.front_written += written;
                written = 0;
            }
        }
    }
}

impl Drop for Outbox {
    fn drop(&mut self) {
        self.give_back_ring();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(text: &str) -> Frame {
        Frame::new(text.as_bytes().to_vec())
    }

    /// A writer that takes at most `room` bytes, then would block.
    fn writer(
        out: &mut Vec<u8>,
        room: usize,
    ) -> impl FnMut(&[IoSlice<'_>]) -> io::Result<usize> + '_ {
        let mut left = room;
        move |slices| {
            if left == 0 {
                return Err(io::ErrorKind::WouldBlock.into());
            }
            let mut taken = 0;
            for slice in slices {
                let n = slice.len().min(left - taken);
                out.extend_from_slice(&slice[..n]);
                taken += n;
                if taken == left {
                    break;
                }
            }
            left -= taken;
            Ok(taken)
        }
    }

    #[test]
    fn writes_everything_in_order() {
        let mut outbox = Outbox::default();
        outbox.push(frame("one\n"));
        outbox.push(frame("two\n"));
        let mut out = Vec::new();
        outbox.write_to(writer(&mut out, usize::MAX)).unwrap();
        assert_eq!(out, b"one\ntwo\n");
        assert!(outbox.is_empty());
        assert_eq!(outbox.queued_bytes(), 0);
    }

    #[test]
    fn partial_write_resumes_mid_frame() {
        let mut outbox = Outbox::default();
        outbox.push(frame("hello\n"));
        outbox.push(frame("world\n"));
        let mut out = Vec::new();
        outbox.write_to(writer(&mut out, 8)).unwrap();
        assert_eq!(out, b"hello\nwo");
        assert_eq!(outbox.queued_bytes(), 4);
        outbox.write_to(writer(&mut out, usize::MAX)).unwrap();
        assert_eq!(out, b"hello\nworld\n");
    }

    #[test]
    fn write_zero_is_an_error() {
        let mut outbox = Outbox::default();
        outbox.push(frame("x\n"));
        let err = outbox.write_to(|_| Ok(0)).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::WriteZero);
    }

    #[test]
    fn a_drained_burst_gives_its_memory_back() {
        let mut outbox = Outbox::default();
        for _ in 0..1000 {
            outbox.push(frame("x\n"));
        }
        let mut out = Vec::new();
        outbox.write_to(writer(&mut out, usize::MAX)).unwrap();
        assert_eq!(outbox.frames.capacity(), 0);
    }
}
