//! The webhook spool: events not yet delivered, kept on disk so that a restart while Home
//! Assistant is away loses none.
//!
//! One file per event, `<sequence>.json` (20 digits, so that names sort in the order the
//! events were queued), written to a temporary name and renamed before the event counts as
//! queued, removed once it is delivered, refused or given up. At start the files are read
//! back in sequence order and queued again, so each call's events keep their order.
//! Without `fsync`: a process that is killed (SIGKILL included) has handed the bytes to
//! the kernel already; only a power cut or a kernel crash can lose the last ones.
//!
//! Bounded: at most `max_files` files and `max_bytes` bytes; beyond that an event is kept
//! in memory only (and logged). A file that cannot be read back is moved aside
//! (`.bad`), logged, and skipped.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::webhook::Target;

/// One spooled event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Record {
    pub(crate) call_key: String,
    pub(crate) targets: Vec<Target>,
    pub(crate) event: String,
    pub(crate) body: String,
}

impl Record {
    fn to_json(&self) -> Value {
        let targets: Vec<Value> = self
            .targets
            .iter()
            .map(|t| match t {
                Target::Webhook(id) => json!(["webhook", id]),
                Target::Event(kind) => json!(["event", kind]),
            })
            .collect();
        json!({"call": self.call_key, "targets": targets, "event": self.event, "body": self.body})
    }

    fn from_json(v: &Value) -> Option<Self> {
        let targets = v
            .get("targets")?
            .as_array()?
            .iter()
            .map(|t| {
                let pair = t.as_array()?;
                let (kind, name) = (pair.first()?.as_str()?, pair.get(1)?.as_str()?.to_owned());
                match kind {
                    "webhook" => Some(Target::Webhook(name)),
                    "event" => Some(Target::Event(name)),
                    _ => None,
                }
            })
            .collect::<Option<Vec<_>>>()?;
        Some(Self {
            call_key: v.get("call")?.as_str()?.to_owned(),
            targets,
            event: v.get("event")?.as_str()?.to_owned(),
            body: v.get("body")?.as_str()?.to_owned(),
        })
    }
}

/// The spool folder and its bounds.
#[derive(Debug)]
pub(crate) struct Spool {
    dir: PathBuf,
    next: u64,
    files: usize,
    bytes: u64,
    max_files: usize,
    max_bytes: u64,
}

impl Spool {
    /// Opens (creates) `dir` and reads back what it holds, oldest first.
    pub(crate) fn open(
        dir: &Path,
        max_files: usize,
        max_bytes: u64,
    ) -> std::io::Result<(Self, Vec<(u64, Record)>)> {
        std::fs::create_dir_all(dir)?;
        let mut found: Vec<(u64, PathBuf)> = Vec::new();
        for entry in std::fs::read_dir(dir)? {
            let path = entry?.path();
            let seq = path
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.strip_suffix(".json"))
                .and_then(|n| n.parse::<u64>().ok());
            match seq {
                Some(seq) => found.push((seq, path)),
                // Temporary files of a write that was cut off are not events yet.
                None if path.extension().is_some_and(|e| e == "tmp") => {
                    let _ = std::fs::remove_file(&path);
                }
                None => {}
            }
        }
        found.sort_unstable_by_key(|(seq, _)| *seq);
        let mut spool = Self {
            dir: dir.to_owned(),
            next: found.last().map_or(0, |(seq, _)| seq + 1),
            files: 0,
            bytes: 0,
            max_files,
            max_bytes,
        };
        let mut records = Vec::new();
        for (seq, path) in found {
            let read = std::fs::read(&path).ok().and_then(|bytes| {
                let v: Value = serde_json::from_slice(&bytes).ok()?;
                Some((Record::from_json(&v)?, bytes.len() as u64))
            });
            match read {
                Some((record, len)) => {
                    spool.files += 1;
                    spool.bytes += len;
                    records.push((seq, record));
                }
                None => {
                    let aside = path.with_extension("bad");
                    tracing::warn!(
                        file = %path.display(),
                        "webhook spool: a file that is not a spooled event, moved to {}",
                        aside.display()
                    );
                    let _ = std::fs::rename(&path, &aside);
                }
            }
        }
        Ok((spool, records))
    }

    /// Writes `record`; its sequence number, or `None` when the spool is full or the write
    /// failed (the event then lives in memory only; logged).
    pub(crate) fn write(&mut self, record: &Record) -> Option<u64> {
        let text = record.to_json().to_string();
        let len = text.len() as u64;
        if self.files >= self.max_files || self.bytes + len > self.max_bytes {
            tracing::warn!(
                files = self.files,
                bytes = self.bytes,
                "webhook spool full: event {:?} of call {:?} kept in memory only",
                record.event,
                record.call_key
            );
            return None;
        }
        let seq = self.next;
        let path = self.path(seq);
        let tmp = path.with_extension("tmp");
        let written =
            std::fs::write(&tmp, text.as_bytes()).and_then(|()| std::fs::rename(&tmp, &path));
        if let Err(e) = written {
            let _ = std::fs::remove_file(&tmp);
            tracing::warn!(
                dir = %self.dir.display(),
                error = %e,
                "webhook spool: cannot write, event {:?} kept in memory only",
                record.event
            );
            return None;
        }
        self.next += 1;
        self.files += 1;
        self.bytes += len;
        Some(seq)
    }

    /// Removes a delivered (or refused, or given up) event.
    pub(crate) fn remove(&mut self, seq: u64) {
        let path = self.path(seq);
        let len = std::fs::metadata(&path).map_or(0, |m| m.len());
        match std::fs::remove_file(&path) {
            Ok(()) => {
                self.files = self.files.saturating_sub(1);
                self.bytes = self.bytes.saturating_sub(len);
            }
            Err(e) => {
                tracing::warn!(file = %path.display(), error = %e, "webhook spool: cannot remove")
            }
        }
    }

    fn path(&self, seq: u64) -> PathBuf {
        self.dir.join(format!("{seq:020}.json"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(call: &str, event: &str) -> Record {
        Record {
            call_key: call.into(),
            targets: vec![
                Target::Webhook("id".into()),
                Target::Event("hasip_event".into()),
            ],
            event: event.into(),
            body: format!("{{\"event\":\"{event}\"}}"),
        }
    }

    #[test]
    fn records_come_back_in_order_after_a_reopen_and_removed_ones_do_not() {
        let dir = hasip_tests::workdir::WorkDir::new("spool-order");
        let path = dir.file("spool");
        let (mut s, old) = Spool::open(&path, 100, 1 << 20).unwrap();
        assert!(old.is_empty());
        let a = s.write(&record("a", "incoming_call")).unwrap();
        let b = s.write(&record("b", "incoming_call")).unwrap();
        let c = s.write(&record("a", "call_disconnected")).unwrap();
        s.remove(b);
        // A write cut off before its rename, and a stray file.
        std::fs::write(path.join("00000000000000000099.tmp"), "{").unwrap();
        std::fs::write(path.join("00000000000000000050.json"), "not json").unwrap();
        let (mut s2, back) = Spool::open(&path, 100, 1 << 20).unwrap();
        let seqs: Vec<u64> = back.iter().map(|(seq, _)| *seq).collect();
        assert_eq!(seqs, vec![a, c]);
        assert_eq!(back[0].1, record("a", "incoming_call"));
        assert_eq!(back[1].1, record("a", "call_disconnected"));
        assert!(path.join("00000000000000000050.bad").exists());
        assert!(!path.join("00000000000000000099.tmp").exists());
        // Numbering goes on after the highest sequence seen.
        assert!(s2.write(&record("c", "x")).unwrap() > 50);
    }

    #[test]
    fn the_bound_keeps_new_events_in_memory_only() {
        let dir = hasip_tests::workdir::WorkDir::new("spool-bound");
        let (mut s, _) = Spool::open(&dir.file("spool"), 2, 1 << 20).unwrap();
        assert!(s.write(&record("a", "1")).is_some());
        let second = s.write(&record("a", "2")).unwrap();
        assert!(s.write(&record("a", "3")).is_none(), "two files at most");
        s.remove(second);
        assert!(s.write(&record("a", "4")).is_some());
    }
}
