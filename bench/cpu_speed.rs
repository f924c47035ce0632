//! Watches how fast this CPU runs: does a fixed piece of arithmetic (about 30 µs) over and
//! over for SECONDS and reports every stretch of at least 10 ms in which the pieces took
//! more than twice as long as the fastest one. On a virtual machine whose host throttles it,
//! these stretches show up even when nothing else runs; a process in the guest cannot tell
//! them from its own slowness (no steal time is reported).
//!
//! Build and run (no dependencies): `rustc -O bench/cpu_speed.rs -o /tmp/cpu_speed &&
//! taskset -c 0 /tmp/cpu_speed 10`. Prints one line per stretch on stdout
//! (`slow <start> <end> <factor>`, start and end in Unix seconds, so that they can be laid
//! over a packet capture's timestamps) and a summary on stderr. Run it at the lowest
//! priority (`chrt -i 0`) beside a load so that it only uses time nobody else wants; a
//! piece it shares with another process's short run is then one slow piece, not a stretch.
use std::time::{Instant, SystemTime, UNIX_EPOCH};

fn main() {
    let seconds: f64 = match std::env::args().nth(1).map(|s| s.parse()) {
        None => 10.0,
        Some(Ok(s)) if s > 0.0 && s <= 3600.0 => s,
        Some(_) => {
            eprintln!("usage: cpu_speed [SECONDS (0 < s <= 3600)]");
            std::process::exit(2);
        }
    };
    let unix0 = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64());
    let t0 = Instant::now();
    // (start offset, duration) of each piece, both in seconds.
    let mut pieces: Vec<(f64, f64)> = Vec::with_capacity(1 << 20);
    let mut x: u64 = 1;
    while t0.elapsed().as_secs_f64() < seconds && pieces.len() < 20_000_000 {
        let a = Instant::now();
        for _ in 0..20_000 {
            x = std::hint::black_box(
                x.wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1_442_695_040_888_963_407),
            );
        }
        pieces.push(((a - t0).as_secs_f64(), a.elapsed().as_secs_f64()));
    }
    let fastest = pieces.iter().map(|p| p.1).fold(f64::INFINITY, f64::min);
    let (mut i, mut stretches, mut slow_total) = (0, 0, 0.0);
    while i < pieces.len() {
        if pieces[i].1 <= 2.0 * fastest {
            i += 1;
            continue;
        }
        let mut j = i;
        let mut work = 0.0;
        while j < pieces.len() && pieces[j].1 > 2.0 * fastest {
            work += pieces[j].1;
            j += 1;
        }
        let (start, (last, last_len)) = (pieces[i].0, pieces[j - 1]);
        let len = last + last_len - start;
        if len >= 0.010 {
            stretches += 1;
            slow_total += len;
            let factor = work / (j - i) as f64 / fastest;
            println!(
                "slow {:.6} {:.6} {factor:.1}",
                unix0 + start,
                unix0 + start + len
            );
        }
        i = j;
    }
    eprintln!(
        "{} pieces, fastest {:.1} µs; {stretches} slow stretches of 10 ms or more, {:.0} ms in all over {seconds:.0} s",
        pieces.len(),
        fastest * 1e6,
        slow_total * 1e3
    );
}
