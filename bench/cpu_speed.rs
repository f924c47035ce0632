//! Watches how fast this CPU runs: does a fixed piece of arithmetic (about 30 µs) over and
//! over for SECONDS and reports every stretch of at least 10 ms in which the pieces took
//! more than twice as long as the fastest one. On a virtual machine whose host throttles it,
//! these stretches show up even when nothing else runs; a process in the guest cannot tell
//! them from its own slowness (no steal time is reported).
//!
//! Build and run (no dependencies): `rustc -O bench/cpu_speed.rs -o /tmp/cpu_speed &&
//! taskset -c 0 /tmp/cpu_speed 10`, or `bench/cpu_speed.sh`. Prints one line per stretch
//! on stdout as soon as it ends (`slow <start> <end> <factor>`, start and end in Unix
//! seconds, so that they can be laid over a packet capture's or a benchmark's timestamps),
//! so it can be stopped at any time, and a summary on stderr at the end. The fastest piece
//! is taken from the first 0.2 s, then kept up to date. Run it at the lowest priority
//! (`chrt -i 0`) beside a load so that it only uses time nobody else wants; a piece it
//! shares with another process's short run is then one slow piece, not a stretch.
use std::io::Write;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// One piece of fixed work; returns how long it took, in seconds.
fn piece(x: &mut u64) -> f64 {
    let a = Instant::now();
    let mut v = *x;
    for _ in 0..20_000 {
        v = std::hint::black_box(
            v.wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407),
        );
    }
    *x = v;
    a.elapsed().as_secs_f64()
}

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
    let since = |t: Instant| (t - t0).as_secs_f64();
    let mut x: u64 = 1;
    let mut fastest = f64::INFINITY;
    while since(Instant::now()) < 0.2 {
        fastest = fastest.min(piece(&mut x));
    }
    let mut out = std::io::stdout().lock();
    let (mut pieces, mut stretches, mut slow_total) = (0u64, 0u32, 0.0);
    // The slow stretch under way: its start and the work done in it (pieces, seconds).
    let mut slow: Option<(f64, u64, f64)> = None;
    loop {
        let start = since(Instant::now());
        if start >= seconds {
            break;
        }
        let took = piece(&mut x);
        pieces += 1;
        fastest = fastest.min(took);
        if took > 2.0 * fastest {
            let s = slow.get_or_insert((start, 0, 0.0));
            s.1 += 1;
            s.2 += took;
            continue;
        }
        if let Some((s, n, work)) = slow.take() {
            let len = start - s;
            if len >= 0.010 {
                stretches += 1;
                slow_total += len;
                let factor = work / n as f64 / fastest;
                let _ = writeln!(
                    out,
                    "slow {:.6} {:.6} {factor:.1}",
                    unix0 + s,
                    unix0 + start
                );
                let _ = out.flush();
            }
        }
    }
    eprintln!(
        "{pieces} pieces, fastest {:.1} µs; {stretches} slow stretches of 10 ms or more, {:.0} ms in all over {seconds:.0} s",
        fastest * 1e6,
        slow_total * 1e3
    );
}
