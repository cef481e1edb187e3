//! Bounded on-disk spool of events that could not be published to JetStream.
//!
//! Layout of `spool_dir`:
//! * `seg-<20-digit sequence>.spool`: segment files, appended in order; each
//!   record is `u32 LE body length` + body, body = `u16 LE subject length`,
//!   subject, 16-byte event id, msgpack event.
//! * `head`: `"<segment sequence> <byte offset>"` of the first record not yet
//!   acknowledged by JetStream, rewritten (via rename) after every replayed
//!   window, so a restart resumes where replay stopped instead of
//!   republishing old records (which `Nats-Msg-Id` deduplication only
//!   absorbs within the stream's duplicate window).
//!
//! A record cut short by a crash at the end of a segment is skipped. Writes go
//! through a buffered writer flushed after each burst of events (page cache,
//! no fsync: the spool protects against NATS outages, not power loss; see
//! the FIELD-NOTES about JetStream's own `sync_interval`).
//!
//! Plain `std::fs`: the calls are short appends/reads made by the single
//! background publisher task, never on the request path.

use std::collections::VecDeque;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use uuid::Uuid;

/// One spooled event, ready to be republished.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpoolRecord {
    pub subject: String,
    pub event_id: Uuid,
    pub payload: Vec<u8>,
}

impl SpoolRecord {
    fn body_len(&self) -> usize {
        2 + self.subject.len() + 16 + self.payload.len()
    }

    /// Bytes this record takes on disk.
    pub fn disk_len(&self) -> u64 {
        (4 + self.body_len()) as u64
    }
}

/// Position just after a record: what [`Spool::commit`] advances the head to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct SpoolPos {
    segment: u64,
    offset: u64,
}

/// Why a record was not appended.
#[derive(Debug, thiserror::Error)]
pub enum SpoolAppendError {
    #[error("spool full")]
    Full,
    #[error("spool write failed: {0}")]
    Io(#[from] io::Error),
}

#[derive(Debug)]
struct Segment {
    seq: u64,
    /// Bytes in the file (complete records only for the tail segment).
    len: u64,
    /// Records not yet consumed in this segment.
    records: u64,
}

struct Tail {
    seq: u64,
    writer: BufWriter<File>,
}

/// The spool; owned by the publisher task.
pub struct Spool {
    dir: PathBuf,
    max_bytes: u64,
    segment_bytes: u64,
    segments: VecDeque<Segment>,
    tail: Option<Tail>,
    head: SpoolPos,
    next_seq: u64,
}

impl Spool {
    /// Open (creating) the spool directory and pick up records left by a
    /// previous run.
    pub fn open(dir: &Path, max_bytes: u64, segment_bytes: u64) -> io::Result<Spool> {
        fs::create_dir_all(dir)?;
        let mut seqs: Vec<u64> = fs::read_dir(dir)?
            .filter_map(|entry| entry.ok())
            .filter_map(|entry| parse_segment_name(&entry.file_name().to_string_lossy()))
            .collect();
        seqs.sort_unstable();
        let head = read_head(dir).unwrap_or(SpoolPos { segment: 0, offset: 0 });
        let mut segments = VecDeque::new();
        for seq in seqs {
            if seq < head.segment {
                // Fully replayed before the last shutdown.
                remove_quietly(&segment_path(dir, seq));
                continue;
            }
            let start = if seq == head.segment { head.offset } else { 0 };
            let (records, len) = count_records(&segment_path(dir, seq), start)?;
            segments.push_back(Segment { seq, len, records });
        }
        let next_seq = segments.back().map_or(head.segment, |s| s.seq) + 1;
        let head = match segments.front() {
            Some(first) if first.seq == head.segment => head,
            Some(first) => SpoolPos { segment: first.seq, offset: 0 },
            None => SpoolPos { segment: next_seq, offset: 0 },
        };
        Ok(Spool { dir: dir.to_path_buf(), max_bytes, segment_bytes, segments, tail: None, head, next_seq })
    }

    pub fn is_empty(&self) -> bool {
        self.depth() == 0
    }

    /// Records not yet replayed.
    pub fn depth(&self) -> u64 {
        self.segments.iter().map(|s| s.records).sum()
    }

    /// Bytes not yet replayed.
    pub fn bytes(&self) -> u64 {
        let total: u64 = self.segments.iter().map(|s| s.len).sum();
        let consumed = match self.segments.front() {
            Some(first) if first.seq == self.head.segment => self.head.offset,
            _ => 0,
        };
        total.saturating_sub(consumed)
    }

    /// Whether a record of `disk_len` bytes would exceed the bound.
    pub fn would_overflow(&self, disk_len: u64) -> bool {
        self.bytes() + disk_len > self.max_bytes
    }

    /// Append at the tail. Call [`Spool::flush`] after a burst.
    pub fn append(&mut self, record: &SpoolRecord) -> Result<(), SpoolAppendError> {
        let disk_len = record.disk_len();
        if self.would_overflow(disk_len) {
            return Err(SpoolAppendError::Full);
        }
        let body_len = u32::try_from(record.body_len()).map_err(|_| SpoolAppendError::Full)?;
        let subject_len = u16::try_from(record.subject.len()).map_err(|_| SpoolAppendError::Full)?;
        let needs_new_segment = match self.segments.back() {
            Some(last) => {
                self.tail.as_ref().is_none_or(|t| t.seq != last.seq) || last.len + disk_len > self.segment_bytes
            }
            None => true,
        };
        if needs_new_segment {
            self.start_segment()?;
        }
        let Some(tail) = self.tail.as_mut() else {
            return Err(SpoolAppendError::Io(io::Error::other("no spool segment open")));
        };
        let w = &mut tail.writer;
        w.write_all(&body_len.to_le_bytes())?;
        w.write_all(&subject_len.to_le_bytes())?;
        w.write_all(record.subject.as_bytes())?;
        w.write_all(record.event_id.as_bytes())?;
        w.write_all(&record.payload)?;
        if let Some(last) = self.segments.back_mut() {
            last.len += disk_len;
            last.records += 1;
        }
        Ok(())
    }

    pub fn flush(&mut self) -> io::Result<()> {
        match self.tail.as_mut() {
            Some(tail) => tail.writer.flush(),
            None => Ok(()),
        }
    }

    /// Up to `max` records from the head, oldest first, each with the
    /// position after it. Nothing is consumed until [`Spool::commit`].
    pub fn peek(&mut self, max: usize) -> io::Result<Vec<(SpoolRecord, SpoolPos)>> {
        self.flush()?;
        let mut out = Vec::new();
        let mut pos = self.head;
        for segment in &self.segments {
            if out.len() >= max {
                break;
            }
            let start = if segment.seq == pos.segment { pos.offset } else { 0 };
            let path = segment_path(&self.dir, segment.seq);
            let mut reader = BufReader::new(File::open(&path)?);
            reader.seek(SeekFrom::Start(start))?;
            let mut offset = start;
            while out.len() < max && offset < segment.len {
                let Some(record) = read_record(&mut reader)? else { break };
                offset += record.disk_len();
                pos = SpoolPos { segment: segment.seq, offset };
                out.push((record, pos));
            }
        }
        Ok(out)
    }

    /// Mark every record up to `pos` (from [`Spool::peek`]) as replayed:
    /// finished segments are deleted and the head file is rewritten.
    pub fn commit(&mut self, pos: SpoolPos, records: u64) -> io::Result<()> {
        let mut remaining = records;
        while let Some(first) = self.segments.front_mut() {
            if first.seq < pos.segment {
                remaining = remaining.saturating_sub(first.records);
                let seq = first.seq;
                self.segments.pop_front();
                remove_quietly(&segment_path(&self.dir, seq));
                continue;
            }
            if first.seq == pos.segment {
                first.records = first.records.saturating_sub(remaining);
                if first.records == 0 && pos.offset >= first.len {
                    // Fully replayed: drop it (the tail too; a new one starts on the next append).
                    let seq = first.seq;
                    self.segments.pop_front();
                    if self.tail.as_ref().is_some_and(|t| t.seq == seq) {
                        self.tail = None;
                    }
                    remove_quietly(&segment_path(&self.dir, seq));
                    let next = self.segments.front().map_or(self.next_seq, |s| s.seq);
                    self.head = SpoolPos { segment: next, offset: 0 };
                    return write_head(&self.dir, self.head);
                }
            }
            break;
        }
        self.head = pos;
        write_head(&self.dir, self.head)
    }

    fn start_segment(&mut self) -> io::Result<()> {
        if let Some(mut old) = self.tail.take() {
            old.writer.flush()?;
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        let file = OpenOptions::new().create(true).append(true).open(segment_path(&self.dir, seq))?;
        if self.segments.is_empty() {
            self.head = SpoolPos { segment: seq, offset: 0 };
        }
        self.segments.push_back(Segment { seq, len: 0, records: 0 });
        self.tail = Some(Tail { seq, writer: BufWriter::with_capacity(64 * 1024, file) });
        Ok(())
    }
}

fn segment_path(dir: &Path, seq: u64) -> PathBuf {
    dir.join(format!("seg-{seq:020}.spool"))
}

fn parse_segment_name(name: &str) -> Option<u64> {
    name.strip_prefix("seg-")?.strip_suffix(".spool")?.parse().ok()
}

fn read_head(dir: &Path) -> Option<SpoolPos> {
    let text = fs::read_to_string(dir.join("head")).ok()?;
    let mut parts = text.split_whitespace();
    let segment = parts.next()?.parse().ok()?;
    let offset = parts.next()?.parse().ok()?;
    Some(SpoolPos { segment, offset })
}

fn write_head(dir: &Path, head: SpoolPos) -> io::Result<()> {
    let tmp = dir.join("head.tmp");
    fs::write(&tmp, format!("{} {}\n", head.segment, head.offset))?;
    fs::rename(tmp, dir.join("head"))
}

fn remove_quietly(path: &Path) {
    if let Err(err) = fs::remove_file(path)
        && err.kind() != io::ErrorKind::NotFound
    {
        tracing::warn!(path = %path.display(), %err, "could not remove replayed spool segment");
    }
}

/// Count complete records from `start`; returns (records, length in bytes of
/// the complete part). A torn record at the end is not counted.
fn count_records(path: &Path, start: u64) -> io::Result<(u64, u64)> {
    let mut reader = BufReader::new(File::open(path)?);
    reader.seek(SeekFrom::Start(start))?;
    let mut records = 0;
    let mut len = start;
    while let Some(record) = read_record(&mut reader)? {
        records += 1;
        len += record.disk_len();
    }
    Ok((records, len))
}

/// The next record, or `None` at the end (including a torn last record).
fn read_record(reader: &mut impl Read) -> io::Result<Option<SpoolRecord>> {
    let mut len_bytes = [0u8; 4];
    if !read_full(reader, &mut len_bytes)? {
        return Ok(None);
    }
    let body_len = u32::from_le_bytes(len_bytes) as usize;
    if body_len < 18 {
        return Ok(None);
    }
    let mut body = vec![0u8; body_len];
    if !read_full(reader, &mut body)? {
        return Ok(None);
    }
    let subject_len = u16::from_le_bytes([body[0], body[1]]) as usize;
    if 2 + subject_len + 16 > body_len {
        return Ok(None);
    }
    let subject = String::from_utf8_lossy(&body[2..2 + subject_len]).into_owned();
    let mut id = [0u8; 16];
    id.copy_from_slice(&body[2 + subject_len..2 + subject_len + 16]);
    let payload = body[2 + subject_len + 16..].to_vec();
    Ok(Some(SpoolRecord { subject, event_id: Uuid::from_bytes(id), payload }))
}

/// Fill `buf`; `false` when the input ended first.
fn read_full(reader: &mut impl Read, buf: &mut [u8]) -> io::Result<bool> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => return Ok(false),
            Ok(n) => filled += n,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(err) => return Err(err),
        }
    }
    Ok(true)
}
