//! Commands on stdin: one JSON value per line, as the Supervisor's `hassio.addon_stdin`
//! writes them. Lines are bounded; a longer line is reported and skipped, never buffered
//! without limit.

use tokio::io::AsyncReadExt;
use tokio::sync::mpsc;

/// The longest command line accepted.
pub(crate) const MAX_LINE: usize = 64 * 1024;

#[derive(Debug)]
pub(crate) enum StdinEvent {
    Line(String),
    TooLong,
}

/// Reads stdin until EOF, sending one event per line.
pub(crate) async fn read_lines(tx: mpsc::Sender<StdinEvent>) {
    let mut stdin = tokio::io::stdin();
    let mut buf = vec![0u8; 8192];
    let mut line: Vec<u8> = Vec::new();
    let mut skipping = false;
    loop {
        let n = match stdin.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        for &b in &buf[..n] {
            if b == b'\n' {
                if !skipping {
                    let text = String::from_utf8_lossy(&line).trim().to_owned();
                    if !text.is_empty() && tx.send(StdinEvent::Line(text)).await.is_err() {
                        return;
                    }
                }
                line.clear();
                skipping = false;
            } else if !skipping {
                line.push(b);
                if line.len() > MAX_LINE {
                    line = Vec::new();
                    skipping = true;
                    if tx.send(StdinEvent::TooLong).await.is_err() {
                        return;
                    }
                }
            }
        }
    }
}
