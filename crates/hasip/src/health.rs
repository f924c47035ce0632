//! `hasip health`: asks the running gateway how it is, over a Unix socket next to it.
//!
//! The gateway listens on `$TMPDIR/hasip-<sip port>.health` (`/tmp/...` in the image). A
//! client that connects gets one JSON line and the connection closes. The answer is written
//! by the event loop itself (the socket's task asks the loop over a channel): a gateway
//! whose loop is stuck, or whose process is stopped, answers nothing, and the client says
//! so after its timeout. Nothing runs while nobody asks: no heartbeat timer, no file
//! written every few seconds.
//!
//! Healthy: the loop answered and no registrar refused an account (registered, direct, or
//! retrying after a failure that may pass all count). Exit code 0 healthy, 1 unhealthy, as
//! Docker's `HEALTHCHECK` expects; one line says why.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use tokio::io::AsyncWriteExt;
use tokio::net::UnixListener;
use tokio::sync::{mpsc, oneshot};

/// A request for the loop: answer with the health report's JSON.
pub(crate) type Request = oneshot::Sender<String>;

/// How long the socket's task waits for the loop before it gives up on a client.
const LOOP_WAIT: Duration = Duration::from_secs(10);

/// The socket of the gateway whose SIP port is `port`.
pub fn socket_path(port: u16) -> PathBuf {
    std::env::temp_dir().join(format!("hasip-{port}.health"))
}

/// The listening socket; removes its file when dropped.
#[derive(Debug)]
pub(crate) struct Server {
    path: PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Binds the socket (replacing a stale one left by a killed gateway) and serves it in a
/// task; each client's request reaches the loop on `tx`. A socket that cannot be bound is
/// logged and leaves the gateway without a health check, nothing worse.
pub(crate) fn serve(path: PathBuf, tx: mpsc::Sender<Request>) -> Option<Server> {
    // A gateway on the same port would have failed to bind SIP before getting here, so a
    // file at the path is a leftover.
    let _ = std::fs::remove_file(&path);
    let listener = match UnixListener::bind(&path) {
        Ok(l) => l,
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "no health socket: `hasip health` will report this gateway as down");
            return None;
        }
    };
    tracing::debug!(path = %path.display(), "health socket ready");
    tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                continue;
            };
            let tx = tx.clone();
            tokio::spawn(async move {
                let (reply, answer) = oneshot::channel();
                if tx.send(reply).await.is_err() {
                    return;
                }
                if let Ok(Ok(mut line)) = tokio::time::timeout(LOOP_WAIT, answer).await {
                    line.push('\n');
                    let _ = stream.write_all(line.as_bytes()).await;
                }
            });
        }
    });
    Some(Server { path })
}

/// The client: `Ok(summary)` when healthy, `Err(why)` when not.
///
/// # Errors
/// Unhealthy, with one line that says why: no gateway at `path`, no answer within
/// `timeout` (a stuck loop or a stopped process), or the gateway's own report.
pub fn check(path: &Path, timeout: Duration) -> Result<String, String> {
    let started = Instant::now();
    let stream = std::os::unix::net::UnixStream::connect(path).map_err(|e| {
        format!(
            "no gateway answers at {} ({e}): it is not running, or runs with another port",
            path.display()
        )
    })?;
    stream
        .set_read_timeout(Some(timeout))
        .map_err(|e| format!("{}: {e}", path.display()))?;
    let mut text = String::new();
    match stream.take(64 * 1024).read_to_string(&mut text) {
        Ok(_) if !text.trim().is_empty() => {}
        Ok(_) => return Err("the gateway closed the health check without an answer".into()),
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ) =>
        {
            return Err(format!(
                "the gateway's loop did not answer within {:.1} s: it is stuck or its process is stopped",
                timeout.as_secs_f64()
            ));
        }
        Err(e) => return Err(format!("reading the health answer: {e}")),
    }
    let report: serde_json::Value = serde_json::from_str(text.trim())
        .map_err(|e| format!("the gateway's health answer is not JSON ({e}): {text}"))?;
    let summary = report["summary"].as_str().unwrap_or("").to_owned();
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    if report["healthy"] == true {
        Ok(format!("{summary} (answered in {ms:.1} ms)"))
    } else {
        Err(summary)
    }
}
