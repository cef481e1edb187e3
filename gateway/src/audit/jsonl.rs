//! The zero-dependency mode: events appended as JSON lines to a local file.
//!
//! Runs on a blocking thread (plain buffered file writes), flushing after
//! every burst so the file is current whenever the gateway is idle.

use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use tokio::sync::mpsc;

use super::health::Counters;
use super::publisher::Command;

/// Open (creating parent directories) the file for appending.
pub(super) fn open(path: &Path) -> io::Result<File> {
    if let Some(parent) = path.parent()
        && !parent.as_os_str().is_empty()
    {
        std::fs::create_dir_all(parent)?;
    }
    OpenOptions::new().create(true).append(true).open(path)
}

pub(super) fn run(file: File, mut rx: mpsc::UnboundedReceiver<Command>, counters: Arc<Counters>) {
    let mut writer = BufWriter::with_capacity(64 * 1024, file);
    counters.connected.store(true, Ordering::Relaxed);
    let mut unflushed = 0u64;
    while let Some(command) = rx.blocking_recv() {
        let mut next = Some(command);
        while let Some(command) = next.take() {
            match command {
                Command::Event(event) => {
                    counters.queued.fetch_sub(1, Ordering::Relaxed);
                    let line = serde_json::to_writer(&mut writer, &event)
                        .map_err(io::Error::from)
                        .and_then(|()| writer.write_all(b"\n"));
                    match line {
                        Ok(()) => unflushed += 1,
                        Err(err) => counters.drop_event(&format!("audit file write failed: {err}")),
                    }
                }
                Command::Shutdown(done) => {
                    while let Ok(Command::Event(event)) = rx.try_recv() {
                        counters.queued.fetch_sub(1, Ordering::Relaxed);
                        if serde_json::to_writer(&mut writer, &event).is_ok() && writer.write_all(b"\n").is_ok() {
                            unflushed += 1;
                        } else {
                            counters.drop_event("audit file write failed");
                        }
                    }
                    flush(&mut writer, &counters, &mut unflushed);
                    let _ = done.send(());
                    return;
                }
            }
            next = rx.try_recv().ok();
        }
        flush(&mut writer, &counters, &mut unflushed);
    }
    flush(&mut writer, &counters, &mut unflushed);
}

fn flush(writer: &mut BufWriter<File>, counters: &Counters, unflushed: &mut u64) {
    let written = std::mem::take(unflushed);
    match writer.flush() {
        Ok(()) => {
            counters.published.fetch_add(written, Ordering::Relaxed);
            counters.connected.store(true, Ordering::Relaxed);
        }
        Err(err) => {
            counters.connected.store(false, Ordering::Relaxed);
            counters.dropped.fetch_add(written, Ordering::Relaxed);
            tracing::error!(%err, lost = written, "audit file flush failed");
        }
    }
}
