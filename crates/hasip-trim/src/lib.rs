//! Gives back the resident pages of the program's own code and read-only data.
//!
//! Start-up runs code that never runs again (reading the configuration, building the TLS
//! and HTTP clients, publishing the MQTT device) and the kernel maps the file around every
//! page it touches: those pages stay resident for the life of the process, more than half
//! of an idle gateway's memory. [`own_code_pages`] tells the kernel to drop them from the
//! process (`madvise(MADV_DONTNEED)` on the executable's mappings that hold nothing but the
//! file's bytes); the pages stay in the page cache and come back, as the same bytes, on
//! their next use (a minor fault each, no disk read while they are cached).
//!
//! Only mappings of the executable that are private, not writable and hold no page of
//! their own (`Anonymous` and `Swap` zero in `/proc/self/smaps`) are touched:
//! the relocated read-only data (RELRO), a page a debugger patched, any writable data keep
//! their pages. The executable cannot change underneath (a running program's file cannot be
//! opened for writing), so what comes back is what was dropped.
//!
//! [`free_heap`] does the same for the heap: after a busy spell (a flood of requests, a
//! storm of connections, many calls) the C allocator keeps the freed memory in its arenas,
//! resident; glibc's `malloc_trim(0)` returns every free page of every arena to the
//! system.

#![deny(unsafe_code)]

use std::io;

/// Returns the allocator's free memory to the system: glibc's `malloc_trim(0)`, which
/// releases the free pages of every arena (not only the top of the main heap, as `free`
/// does on its own). True when some memory was released; always false with another C
/// library (nothing is done there).
pub fn free_heap() -> bool {
    release_free_heap()
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
fn release_free_heap() -> bool {
    // SAFETY: malloc_trim takes no pointer and touches only memory the allocator holds as
    // free: it locks each arena in turn (safe beside allocations on other threads) and
    // advises free pages away, never a block in use. No Rust value is read or written.
    unsafe { libc::malloc_trim(0) == 1 }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn release_free_heap() -> bool {
    false
}

/// What [`own_code_pages`] gave back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Released {
    /// Mappings advised.
    pub mappings: usize,
    /// Their resident bytes before.
    pub resident: usize,
}

/// Drops the executable's clean, read-only pages from this process (see the crate docs).
///
/// # Errors
/// When `/proc/self/exe` or `/proc/self/smaps` cannot be read, or the kernel refuses the
/// advice; mappings advised before the refusal stay advised.
pub fn own_code_pages() -> io::Result<Released> {
    let exe = std::fs::read_link("/proc/self/exe")?;
    let smaps = std::fs::read_to_string("/proc/self/smaps")?;
    let mut released = Released::default();
    for m in clean_read_only(&smaps, &exe.to_string_lossy()) {
        advise_dontneed(m.start, m.end - m.start)?;
        released.mappings += 1;
        released.resident += m.resident;
    }
    Ok(released)
}

#[allow(unsafe_code)]
fn advise_dontneed(start: usize, len: usize) -> io::Result<()> {
    // SAFETY: `start..start + len` is one whole mapping of the executable, taken from
    // /proc/self/smaps, private, not writable and without a page of its own (none
    // anonymous, none swapped out): every page there is the file's bytes. MADV_DONTNEED only
    // unmaps those pages from this process; any later access maps the same bytes again
    // from the file, which cannot change while the program runs. No Rust value is written,
    // moved or freed, and the executable's mappings never change after start-up, so the
    // range is still that mapping when the call is made.
    let r = unsafe { libc::madvise(start as *mut libc::c_void, len, libc::MADV_DONTNEED) };
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// A mapping [`clean_read_only`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Mapping {
    start: usize,
    end: usize,
    /// Its resident bytes (`Rss`).
    resident: usize,
}

/// The mappings of `path` in `smaps` (the text of `/proc/PID/smaps`) that are private and
/// readable, not writable, and hold no page of their own (none anonymous, none swapped).
fn clean_read_only(smaps: &str, path: &str) -> Vec<Mapping> {
    struct Current {
        mapping: Mapping,
        eligible: bool,
    }
    let mut out = Vec::new();
    let mut current: Option<Current> = None;
    let mut finish = |c: Option<Current>| {
        if let Some(c) = c.filter(|c| c.eligible) {
            out.push(c.mapping);
        }
    };
    for line in smaps.lines() {
        if let Some((start, end, perms, name)) = header(line) {
            finish(current.take());
            let eligible = name == path
                && perms.starts_with('r')
                && perms.as_bytes().get(1) == Some(&b'-')
                && perms.ends_with('p');
            current = Some(Current {
                mapping: Mapping {
                    start,
                    end,
                    resident: 0,
                },
                eligible,
            });
            continue;
        }
        let Some(c) = current.as_mut() else { continue };
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let kib = || -> Option<usize> {
            value
                .trim()
                .strip_suffix("kB")?
                .trim()
                .parse::<usize>()
                .ok()
        };
        match key {
            "Rss" => c.mapping.resident = kib().unwrap_or(0) * 1024,
            // A page of its own, resident or swapped out: leave the mapping alone, also
            // when the count cannot be read. (Dirty is no such sign: a file written just
            // before it was run has dirty pages in the page cache, the file's bytes all
            // the same.)
            "Anonymous" | "Swap" if kib() != Some(0) => c.eligible = false,
            _ => {}
        }
    }
    finish(current.take());
    out
}

/// A mapping's header line: `start-end perms offset dev inode [path]`.
fn header(line: &str) -> Option<(usize, usize, &str, &str)> {
    let mut fields = line.splitn(6, ' ');
    let (start, end) = fields.next()?.split_once('-')?;
    let start = usize::from_str_radix(start, 16).ok()?;
    let end = usize::from_str_radix(end, 16).ok()?;
    let perms = fields.next()?;
    if perms.len() != 4 {
        return None;
    }
    let _offset = fields.next()?;
    let _dev = fields.next()?;
    let _inode = fields.next()?;
    let name = fields.next().unwrap_or("").trim();
    Some((start, end, perms, name))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMAPS: &str = "\
55d0a0000000-55d0a0200000 r--p 00000000 08:01 1234                       /opt/hasip
Size:               2048 kB
Rss:                 800 kB
Shared_Dirty:          0 kB
Private_Dirty:         0 kB
Anonymous:             0 kB
VmFlags: rd mr mw me dw sd
55d0a0200000-55d0a0c00000 r-xp 00200000 08:01 1234                       /opt/hasip
Size:              10240 kB
Rss:                1600 kB
Shared_Dirty:          0 kB
Private_Dirty:         0 kB
Anonymous:             0 kB
55d0a0c00000-55d0a0c45000 r--p 00c00000 08:01 1234                       /opt/hasip
Size:                276 kB
Rss:                 264 kB
Shared_Dirty:          0 kB
Private_Dirty:       264 kB
Anonymous:           264 kB
55d0a0c45000-55d0a0c4a000 rw-p 00c45000 08:01 1234                       /opt/hasip
Size:                 20 kB
Rss:                  20 kB
Shared_Dirty:          0 kB
Private_Dirty:        20 kB
Anonymous:            20 kB
7f0000000000-7f0000100000 r-xp 00028000 08:01 99                         /usr/lib/x86_64-linux-gnu/libc.so.6
Size:               1024 kB
Rss:                1024 kB
Shared_Dirty:          0 kB
Private_Dirty:         0 kB
Anonymous:             0 kB
7f0000200000-7f0000300000 rw-p 00000000 00:00 0 
Size:               1024 kB
Rss:                 288 kB
Anonymous:           288 kB
7ffd00000000-7ffd00021000 rw-p 00000000 00:00 0                          [stack]
Size:                132 kB
Rss:                 104 kB
Anonymous:           104 kB
";

    #[test]
    fn only_the_executables_clean_read_only_mappings_are_chosen() {
        let got = clean_read_only(SMAPS, "/opt/hasip");
        assert_eq!(
            got,
            vec![
                Mapping {
                    start: 0x55d0_a000_0000,
                    end: 0x55d0_a020_0000,
                    resident: 800 * 1024
                },
                Mapping {
                    start: 0x55d0_a020_0000,
                    end: 0x55d0_a0c0_0000,
                    resident: 1600 * 1024
                },
            ]
        );
        assert!(clean_read_only(SMAPS, "/usr/bin/other").is_empty());
    }

    #[test]
    fn a_mapping_with_a_page_of_its_own_or_an_unreadable_count_is_left_alone_a_dirty_one_not() {
        let patched = SMAPS.replacen(
            "Anonymous:             0 kB",
            "Anonymous:             4 kB",
            1,
        );
        assert_eq!(clean_read_only(&patched, "/opt/hasip").len(), 1);
        let swapped = SMAPS.replacen("Anonymous:             0 kB", "Swap:   8 kB", 1);
        assert_eq!(clean_read_only(&swapped, "/opt/hasip").len(), 1);
        let unreadable = SMAPS.replacen("Anonymous:             0 kB", "Anonymous:   ?", 1);
        assert_eq!(clean_read_only(&unreadable, "/opt/hasip").len(), 1);
        // Dirty in the page cache (a file written just before it ran) is still the file.
        let dirty = SMAPS.replacen("Private_Dirty:         0 kB", "Private_Dirty:   64 kB", 1);
        assert_eq!(clean_read_only(&dirty, "/opt/hasip").len(), 2);
    }

    /// The real thing, on this test program: its code's resident pages go, and it goes on
    /// running the code they held.
    #[test]
    fn this_programs_code_pages_are_given_back_and_come_back_on_use() {
        fn own_resident() -> usize {
            let exe = std::fs::read_link("/proc/self/exe").expect("/proc/self/exe");
            let smaps = std::fs::read_to_string("/proc/self/smaps").expect("smaps");
            clean_read_only(&smaps, &exe.to_string_lossy())
                .iter()
                .map(|m| m.resident)
                .sum()
        }
        let before = own_resident();
        assert!(before > 0, "the test program has resident code");
        let released = own_code_pages().expect("madvise");
        assert!(released.mappings >= 1);
        assert!(released.resident >= before / 2, "{released:?} of {before}");
        // Reading and parsing smaps again brings some back (the kernel maps 64 KiB around
        // each fault), far from all.
        let after = own_resident();
        assert!(after < before * 3 / 4, "resident {before} -> {after}");
        // Code from the dropped pages runs again (parsing, formatting, allocating).
        assert_eq!(clean_read_only(SMAPS, "/opt/hasip").len(), 2);
        assert_eq!(
            format!("{:?}", Released::default()),
            "Released { mappings: 0, resident: 0 }"
        );
    }

    /// The heap: 16 MiB in small blocks, freed but one block in 64 (which keeps the
    /// arena's top from shrinking on its own), stay resident until [`free_heap`].
    #[test]
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    fn freed_heap_memory_is_given_back() {
        fn resident_anon_kib() -> usize {
            let status = std::fs::read_to_string("/proc/self/status").expect("status");
            status
                .lines()
                .find_map(|l| l.strip_prefix("RssAnon:"))
                .and_then(|v| v.trim().strip_suffix("kB"))
                .and_then(|v| v.trim().parse().ok())
                .expect("RssAnon")
        }
        // On a thread of its own, as the gateway's loop: the blocks go to one arena.
        let (kept, before, freed) = std::thread::spawn(|| {
            let before = resident_anon_kib();
            let mut blocks: Vec<Vec<u8>> = (0..16 * 1024).map(|i| vec![i as u8; 1000]).collect();
            let kept: Vec<Vec<u8>> = blocks.iter_mut().step_by(64).map(std::mem::take).collect();
            drop(blocks);
            (kept, before, resident_anon_kib())
        })
        .join()
        .expect("thread");
        assert!(
            freed > before + 8 * 1024,
            "{before} -> {freed} KiB: the freed blocks should still be resident"
        );
        assert!(free_heap(), "nothing released");
        let after = resident_anon_kib();
        assert!(
            after + 8 * 1024 < freed,
            "{freed} -> {after} KiB after free_heap"
        );
        assert_eq!(kept.len(), 256);
        assert!(kept.iter().enumerate().all(|(i, b)| b[0] == (i * 64) as u8));
    }
}
