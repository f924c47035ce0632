//! Webhook delivery: a bounded queue that never blocks the caller, per-call order, retries
//! with capped exponential backoff, and nothing dropped without a log line that shows it.
//!
//! # Model
//!
//! [`Webhooks::try_send`] takes one event (its JSON body), the ids to post it to (ha-sip:
//! the call's `webhook_to_call` id for that event first, then the global id) and a *call
//! key* (the call's `internal_id`). It returns at once. One dispatcher task owns the queues:
//!
//! - **Order per call**: the events of one call key are delivered one after the other, each
//!   to all its ids in the given order, the next only when the previous is done (delivered,
//!   refused or given up). Different calls are delivered in parallel, at most
//!   [`WebhookOptions::max_in_flight`] at a time, so one call waiting for a retry never
//!   holds up another.
//! - **Retries**: connection errors, timeouts, 5xx, 408 and 429 are retried with capped
//!   exponential backoff (`first_retry`, doubling, at most `max_backoff`) until
//!   `give_up_after` has passed since the first attempt. Before a retry the client asks
//!   `GET {base}/config` for Home Assistant's state and waits while it is not `RUNNING`:
//!   a starting Home Assistant answers 200 to webhooks whose automations are not loaded
//!   yet, and drops them. Other 4xx are not retried.
//! - **Bound**: at most [`WebhookOptions::capacity`] events are waiting or in flight (all
//!   calls together). When the bound is hit, the new event is refused and logged at warn
//!   with its ids and body.
//! - **Nothing silent**: every event that is not delivered (refused by Home Assistant,
//!   given up, dropped at the bound, or still queued when [`Webhooks::shutdown`]'s grace
//!   period ends) is logged at warn with its content.
//!
//! Delivery is at least once: if Home Assistant processed a request but the answer was
//! lost, the retry posts it again.
//!
//! With a spool folder ([`Webhooks::start_with_spool`]), each event is also written to
//! disk before `try_send` returns, removed once it is delivered, refused or given up, and
//! queued again at the next start: a restart (SIGTERM or SIGKILL) while Home Assistant is
//! away loses nothing (see `spool.rs`).

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use serde_json::Value;
use tokio::sync::{mpsc, oneshot};
use tokio::task::{Id, JoinSet};

use crate::client::HaClient;
use crate::spool::{Record, Spool};

/// The most bytes the spool holds (its files are also at most the queue's capacity).
const SPOOL_MAX_BYTES: u64 = 8 * 1024 * 1024;

/// Tuning of the delivery queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WebhookOptions {
    /// Events waiting or in flight, all calls together, before new ones are dropped.
    pub capacity: usize,
    /// Calls whose events are delivered at the same time.
    pub max_in_flight: usize,
    /// Wait before the first retry.
    pub first_retry: Duration,
    /// Longest wait between retries.
    pub max_backoff: Duration,
    /// Retries stop this long after the first attempt (the event is then logged and given
    /// up).
    pub give_up_after: Duration,
}

impl Default for WebhookOptions {
    fn default() -> Self {
        Self {
            capacity: 1024,
            max_in_flight: 4,
            first_retry: Duration::from_millis(500),
            max_backoff: Duration::from_secs(30),
            give_up_after: Duration::from_secs(15 * 60),
        }
    }
}

/// Counters since start.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WebhookStats {
    /// Events waiting or in flight now.
    pub queued: usize,
    /// Successful POSTs (one event to two ids counts twice).
    pub delivered: u64,
    /// Waits before a retry (failed attempts, and probes that found Home Assistant not
    /// running yet).
    pub retries: u64,
    /// POSTs Home Assistant refused with a 4xx (not retried).
    pub rejected: u64,
    /// POSTs given up after `give_up_after`, or cut off at shutdown.
    pub failed: u64,
    /// Events refused by `try_send` (queue full or closed).
    pub dropped: u64,
}

/// Why `try_send` did not take an event. The event has been logged at warn already.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookError {
    /// The queue holds `capacity` events.
    #[error("webhook queue full ({0} events waiting): event dropped")]
    Full(usize),
    /// `shutdown` was called.
    #[error("webhook queue closed: event dropped")]
    Closed,
}

/// The delivery queue. Cheap to clone; every clone feeds the same dispatcher.
#[derive(Debug, Clone)]
pub struct Webhooks {
    tx: mpsc::UnboundedSender<Msg>,
    shared: Arc<Shared>,
    spool: Option<Arc<Mutex<Spool>>>,
}

#[derive(Debug)]
struct Shared {
    capacity: usize,
    pending: AtomicUsize,
    closed: AtomicBool,
    delivered: AtomicU64,
    retries: AtomicU64,
    rejected: AtomicU64,
    failed: AtomicU64,
    dropped: AtomicU64,
}

/// Where one event goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// `POST /api/webhook/<id>`.
    Webhook(String),
    /// `POST /api/events/<event type>`: Home Assistant's event bus.
    Event(String),
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Webhook(id) => write!(f, "webhook {id}"),
            Self::Event(t) => write!(f, "event bus {t}"),
        }
    }
}

#[derive(Debug)]
struct Job {
    call_key: String,
    targets: Vec<Target>,
    event: String,
    body: Bytes,
    /// Its file in the spool, if it has one.
    spooled: Option<u64>,
}

impl Job {
    fn describe(&self) -> String {
        let to: Vec<String> = self.targets.iter().map(ToString::to_string).collect();
        format!(
            "event {:?} of call {:?} to {}: {}",
            self.event,
            self.call_key,
            to.join(", "),
            String::from_utf8_lossy(&self.body)
        )
    }
}

#[derive(Debug)]
enum Msg {
    Job(Arc<Job>),
    Shutdown {
        grace: Duration,
        done: oneshot::Sender<()>,
    },
}

impl Webhooks {
    /// Starts the dispatcher on the current tokio runtime.
    ///
    /// # Panics
    /// When called outside a tokio runtime (as `tokio::spawn` does).
    pub fn start(client: HaClient, options: WebhookOptions) -> Self {
        Self::start_with_spool(client, options, None)
    }

    /// [`Webhooks::start`] with a spool folder: events are kept there until delivered, and
    /// what an earlier run left there is queued first, in its order. A folder that cannot
    /// be used is logged, and events then live in memory only.
    ///
    /// # Panics
    /// When called outside a tokio runtime (as `tokio::spawn` does).
    pub fn start_with_spool(
        client: HaClient,
        options: WebhookOptions,
        spool_dir: Option<&std::path::Path>,
    ) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared {
            capacity: options.capacity.max(1),
            pending: AtomicUsize::new(0),
            closed: AtomicBool::new(false),
            delivered: AtomicU64::new(0),
            retries: AtomicU64::new(0),
            rejected: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
        });
        let mut left_over = Vec::new();
        let spool =
            spool_dir.and_then(
                |dir| match Spool::open(dir, shared.capacity, SPOOL_MAX_BYTES) {
                    Ok((spool, records)) => {
                        left_over = records;
                        Some(Arc::new(Mutex::new(spool)))
                    }
                    Err(e) => {
                        tracing::warn!(
                            dir = %dir.display(),
                            error = %e,
                            "webhook spool cannot be used: undelivered events live in memory only"
                        );
                        None
                    }
                },
            );
        if !left_over.is_empty() {
            tracing::info!(
                events = left_over.len(),
                "webhook spool: events from the last run are delivered first"
            );
        }
        for (seq, r) in left_over {
            shared.pending.fetch_add(1, Ordering::AcqRel);
            let job = Job {
                call_key: r.call_key,
                targets: r.targets,
                event: r.event,
                body: Bytes::from(r.body),
                spooled: Some(seq),
            };
            let _ = tx.send(Msg::Job(Arc::new(job)));
        }
        tokio::spawn(dispatch(
            client,
            options,
            Arc::clone(&shared),
            spool.clone(),
            rx,
        ));
        Self { tx, shared, spool }
    }

    /// Queues `body` for `webhook_ids` (in that order) as part of call `call_key`. Never
    /// waits. An empty id list is accepted and does nothing (no webhook configured).
    pub fn try_send(
        &self,
        call_key: &str,
        webhook_ids: &[String],
        body: &Value,
    ) -> Result<(), WebhookError> {
        let targets: Vec<Target> = webhook_ids.iter().cloned().map(Target::Webhook).collect();
        self.try_send_to(call_key, &targets, body)
    }

    /// [`Webhooks::try_send`] to any targets: webhooks and the event bus, in the given
    /// order, with the same guarantees (per-call order, retries, the bound).
    pub fn try_send_to(
        &self,
        call_key: &str,
        targets: &[Target],
        body: &Value,
    ) -> Result<(), WebhookError> {
        if targets.is_empty() {
            tracing::trace!(call = call_key, "no webhook id for this event");
            return Ok(());
        }
        let mut job = Job {
            call_key: call_key.to_owned(),
            targets: targets.to_vec(),
            event: body
                .get("event")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned(),
            body: Bytes::from(body.to_string()),
            spooled: None,
        };
        let s = &self.shared;
        if s.closed.load(Ordering::Acquire) {
            s.dropped.fetch_add(1, Ordering::Relaxed);
            tracing::warn!("webhook queue closed, dropping {}", job.describe());
            return Err(WebhookError::Closed);
        }
        if s.pending
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |p| {
                (p < s.capacity).then_some(p + 1)
            })
            .is_err()
        {
            s.dropped.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(
                "webhook queue full ({} events waiting for Home Assistant), dropping {}",
                s.capacity,
                job.describe()
            );
            return Err(WebhookError::Full(s.capacity));
        }
        if let Some(spool) = &self.spool
            && let Ok(mut spool) = spool.lock()
        {
            // On disk before it counts as queued.
            job.spooled = spool.write(&Record {
                call_key: job.call_key.clone(),
                targets: job.targets.clone(),
                event: job.event.clone(),
                body: String::from_utf8_lossy(&job.body).into_owned(),
            });
        }
        let job = Arc::new(job);
        tracing::debug!(
            call = call_key,
            event = %job.event,
            targets = ?job.targets,
            "webhook queued"
        );
        if let Err(mpsc::error::SendError(Msg::Job(job))) = self.tx.send(Msg::Job(job)) {
            s.pending.fetch_sub(1, Ordering::AcqRel);
            s.dropped.fetch_add(1, Ordering::Relaxed);
            tracing::warn!("webhook dispatcher stopped, dropping {}", job.describe());
            return Err(WebhookError::Closed);
        }
        Ok(())
    }

    /// The counters.
    pub fn stats(&self) -> WebhookStats {
        let s = &self.shared;
        WebhookStats {
            queued: s.pending.load(Ordering::Acquire),
            delivered: s.delivered.load(Ordering::Relaxed),
            retries: s.retries.load(Ordering::Relaxed),
            rejected: s.rejected.load(Ordering::Relaxed),
            failed: s.failed.load(Ordering::Relaxed),
            dropped: s.dropped.load(Ordering::Relaxed),
        }
    }

    /// Stops taking events and delivers what is queued for up to `grace`; whatever is still
    /// undelivered then is logged at warn with its content. Returns the final counters.
    pub async fn shutdown(&self, grace: Duration) -> WebhookStats {
        self.shared.closed.store(true, Ordering::Release);
        let (done, wait) = oneshot::channel();
        if self.tx.send(Msg::Shutdown { grace, done }).is_ok() {
            let _ = wait.await;
        }
        self.stats()
    }
}

/// The dispatcher: owns every queue; one delivery task per call key at a time.
async fn dispatch(
    client: HaClient,
    opts: WebhookOptions,
    shared: Arc<Shared>,
    spool: Option<Arc<Mutex<Spool>>>,
    mut rx: mpsc::UnboundedReceiver<Msg>,
) {
    let max_in_flight = opts.max_in_flight.max(1);
    let mut waiting: HashMap<String, VecDeque<Arc<Job>>> = HashMap::new();
    let mut in_flight: HashMap<Id, Arc<Job>> = HashMap::new();
    let mut busy_keys: HashMap<String, Id> = HashMap::new();
    // Keys with waiting events and nothing in flight, in arrival order.
    let mut ready: VecDeque<String> = VecDeque::new();
    let mut tasks: JoinSet<()> = JoinSet::new();
    let mut shutdown: Option<(tokio::time::Instant, oneshot::Sender<()>)> = None;
    let mut rx_open = true;

    loop {
        while tasks.len() < max_in_flight {
            let Some(key) = ready.pop_front() else { break };
            let Some(job) = waiting.get_mut(&key).and_then(VecDeque::pop_front) else {
                continue;
            };
            if waiting.get(&key).is_some_and(VecDeque::is_empty) {
                waiting.remove(&key);
            }
            let handle = tasks.spawn(deliver(
                client.clone(),
                Arc::clone(&job),
                opts,
                Arc::clone(&shared),
            ));
            busy_keys.insert(key, handle.id());
            in_flight.insert(handle.id(), job);
        }
        let idle = tasks.is_empty() && ready.is_empty();
        if idle && (shutdown.is_some() || !rx_open) {
            break;
        }
        let deadline = shutdown.as_ref().map(|(d, _)| *d);
        tokio::select! {
            msg = rx.recv(), if rx_open => match msg {
                Some(Msg::Job(job)) => {
                    let key = job.call_key.clone();
                    let queue = waiting.entry(key.clone()).or_default();
                    queue.push_back(job);
                    if queue.len() == 1 && !busy_keys.contains_key(&key) {
                        ready.push_back(key);
                    }
                }
                Some(Msg::Shutdown { grace, done }) => {
                    let at = tokio::time::Instant::now() + grace;
                    shutdown = Some((at, done));
                }
                None => rx_open = false,
            },
            Some(res) = tasks.join_next_with_id(), if !tasks.is_empty() => {
                let id = match res {
                    Ok((id, ())) => id,
                    Err(e) => {
                        // A delivery task cannot panic by design; if one did, its event is
                        // reported and the call's next events go on.
                        if let Some(job) = in_flight.get(&e.id()) {
                            shared.failed.fetch_add(1, Ordering::Relaxed);
                            tracing::warn!("webhook delivery task failed ({e}): {}", job.describe());
                        }
                        e.id()
                    }
                };
                if let Some(job) = in_flight.remove(&id) {
                    shared.pending.fetch_sub(1, Ordering::AcqRel);
                    // Delivered, refused or given up: its file goes.
                    if let (Some(seq), Some(spool)) = (job.spooled, &spool)
                        && let Ok(mut spool) = spool.lock()
                    {
                        spool.remove(seq);
                    }
                    busy_keys.remove(&job.call_key);
                    if waiting.contains_key(&job.call_key) {
                        ready.push_back(job.call_key.clone());
                    }
                }
            },
            () = async {
                match deadline {
                    Some(d) => tokio::time::sleep_until(d).await,
                    None => std::future::pending().await,
                }
            } => {
                tasks.abort_all();
                let left: Vec<&Arc<Job>> = in_flight
                    .values()
                    .chain(waiting.values().flatten())
                    .collect();
                for job in &left {
                    if job.spooled.is_some() {
                        tracing::info!(
                            "webhook not delivered before shutdown, kept in the spool for the next start: {}",
                            job.describe()
                        );
                    } else {
                        tracing::warn!(
                            "webhook not delivered before shutdown: {}",
                            job.describe()
                        );
                    }
                }
                shared.failed.fetch_add(left.len() as u64, Ordering::Relaxed);
                shared.pending.fetch_sub(left.len(), Ordering::AcqRel);
                break;
            }
        }
    }
    // Events that arrived after the shutdown message are refused by `try_send`'s closed
    // flag; any that slipped in between are reported here.
    rx.close();
    while let Ok(msg) = rx.try_recv() {
        if let Msg::Job(job) = msg {
            shared.pending.fetch_sub(1, Ordering::AcqRel);
            shared.dropped.fetch_add(1, Ordering::Relaxed);
            tracing::warn!("webhook queue closed, dropping {}", job.describe());
        }
    }
    if let Some((_, done)) = shutdown {
        let _ = done.send(());
    }
    tracing::debug!("webhook dispatcher stopped");
}

/// Delivers one event to each of its targets in order.
async fn deliver(client: HaClient, job: Arc<Job>, opts: WebhookOptions, shared: Arc<Shared>) {
    for (i, target) in job.targets.iter().enumerate() {
        if i > 0 {
            tracing::debug!(event = %job.event, "also to {target}");
        }
        deliver_one(&client, &job, target, &opts, &shared).await;
    }
}

async fn deliver_one(
    client: &HaClient,
    job: &Job,
    target: &Target,
    opts: &WebhookOptions,
    shared: &Shared,
) {
    let started = Instant::now();
    let mut backoff = opts.first_retry;
    let mut attempt: u32 = 0;
    loop {
        attempt += 1;
        let t0 = Instant::now();
        let sent = match target {
            Target::Webhook(id) => client.post_webhook(id, job.body.clone()).await,
            Target::Event(t) => client.post_event(t, job.body.clone()).await,
        };
        let err = match sent {
            Ok(status) => {
                shared.delivered.fetch_add(1, Ordering::Relaxed);
                if attempt > 1 {
                    tracing::info!(
                        "{target} (event {:?}, call {:?}) delivered after {attempt} attempts",
                        job.event,
                        job.call_key
                    );
                } else {
                    tracing::debug!(
                        event = %job.event,
                        call = %job.call_key,
                        status,
                        ms = t0.elapsed().as_millis() as u64,
                        "{target} delivered"
                    );
                }
                return;
            }
            Err(e) => e,
        };
        if !err.is_transient() {
            shared.rejected.fetch_add(1, Ordering::Relaxed);
            tracing::warn!("webhook refused, not retried: {err}; {}", job.describe());
            return;
        }
        if attempt == 1 {
            tracing::warn!(
                "{target} (event {:?}, call {:?}) failed: {err}; retrying with backoff",
                job.event,
                job.call_key
            );
        } else {
            tracing::debug!("{target} attempt {attempt} failed: {err}");
        }
        // Wait, then until Home Assistant says it is running, or give up.
        loop {
            if started.elapsed() >= opts.give_up_after {
                shared.failed.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(
                    "{target} given up after {attempt} attempts in {} s (last error: {err}); {}",
                    started.elapsed().as_secs(),
                    job.describe()
                );
                return;
            }
            shared.retries.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(opts.max_backoff);
            if ha_running(client).await {
                break;
            }
        }
    }
}

/// True when Home Assistant says it is running, or cannot say (old versions, a token
/// without access to `/config`): then the next attempt decides.
async fn ha_running(client: &HaClient) -> bool {
    match client.core_state().await {
        Ok(None) => true,
        Ok(Some(state)) => {
            let running = state.eq_ignore_ascii_case("RUNNING");
            if !running {
                tracing::debug!("Home Assistant is {state}, waiting before the next webhook");
            }
            running
        }
        Err(e) => {
            let down = e.is_transient();
            if down {
                tracing::debug!("Home Assistant not reachable yet: {e}");
            }
            !down
        }
    }
}
