//! MQTT: commands in on the command topic, events out on the state topic, and a retained
//! availability topic (`online` on every connection, `offline` as the last will and at a
//! clean stop), as Home Assistant's MQTT integration expects.
//!
//! One task drives rumqttc's event loop; the shell reads [`MqttIn`] from a channel and
//! publishes through [`MqttHandle`], which never blocks. rumqttc reconnects on the next
//! poll after an error but waits for nothing in between, so the task adds a capped
//! exponential backoff. A broker restart forgets subscriptions and retained messages of a
//! clean session: every ConnAck subscribes again and publishes `online` again.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use rumqttc::{
    AsyncClient, ConnectionError, Event, EventLoop, LastWill, MqttOptions, Packet, QoS,
    TlsConfiguration, Transport,
};
use tokio::sync::mpsc;

/// The first wait after a failed connection; it doubles up to [`MAX_BACKOFF`].
const MIN_BACKOFF: Duration = Duration::from_millis(500);
/// The longest wait between two connection attempts.
pub const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// The largest command accepted (the same limit as a stdin line).
const MAX_PACKET: usize = 64 * 1024;

/// Where and how to connect.
#[derive(Clone)]
pub struct MqttConfig {
    /// Broker host name or address.
    pub host: String,
    /// Broker port.
    pub port: u16,
    /// User name and password; `None` connects anonymously.
    pub credentials: Option<(String, String)>,
    /// TLS to the broker, checked against the system's roots (and `SSL_CERT_FILE`).
    pub tls: bool,
    /// The client id the broker sees.
    pub client_id: String,
    /// Where commands arrive.
    pub command_topic: String,
    /// Where events go (`None`: not published).
    pub state_topic: Option<String>,
    /// Retained `online`/`offline` (`None`: not published, no last will).
    pub availability_topic: Option<String>,
    /// MQTT keep-alive interval.
    pub keep_alive: Duration,
    /// More topic filters to subscribe to (Home Assistant's birth topic, the discovery
    /// device's button topics); their messages arrive as [`MqttIn::Message`].
    pub subscriptions: Vec<String>,
}

impl std::fmt::Debug for MqttConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The password is never printed.
        f.debug_struct("MqttConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("user", &self.credentials.as_ref().map(|(u, _)| u))
            .field("tls", &self.tls)
            .field("client_id", &self.client_id)
            .field("command_topic", &self.command_topic)
            .field("state_topic", &self.state_topic)
            .field("availability_topic", &self.availability_topic)
            .field("subscriptions", &self.subscriptions)
            .finish_non_exhaustive()
    }
}

/// What the MQTT task tells the shell.
#[derive(Debug)]
pub enum MqttIn {
    /// A message on the command topic: one JSON document.
    Command(Bytes),
    /// A message on one of [`MqttConfig::subscriptions`].
    Message {
        /// Its topic.
        topic: String,
        /// Its payload.
        payload: Bytes,
        /// Delivered as retained (stored before we subscribed).
        retained: bool,
    },
    /// Connected (again) and subscribed.
    Connected,
    /// The connection was lost or could not be made; the task retries after `retry_in`.
    Disconnected {
        /// Why, for the log.
        reason: String,
        /// When the next attempt starts.
        retry_in: Duration,
    },
}

/// Publishes on behalf of the shell. Cloning is cheap.
#[derive(Clone, Debug)]
pub struct MqttHandle {
    client: AsyncClient,
    state_topic: Option<Arc<str>>,
    availability_topic: Option<Arc<str>>,
}

/// The payloads of the availability topic.
pub const ONLINE: &str = "online";
/// See [`ONLINE`].
pub const OFFLINE: &str = "offline";

/// A publish could not be queued (the client's queue is full or the task has stopped).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishError(pub String);

impl std::fmt::Display for PublishError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for PublishError {}

impl MqttHandle {
    /// Queues an event body for the state topic (QoS 1, not retained), without waiting.
    ///
    /// # Errors
    /// The client's queue is full (the broker has been away for a while) or the task ended.
    pub fn publish_state(&self, body: &str) -> Result<(), PublishError> {
        let Some(topic) = &self.state_topic else {
            return Ok(());
        };
        self.client
            .try_publish(
                topic.as_ref(),
                QoS::AtLeastOnce,
                false,
                body.as_bytes().to_vec(),
            )
            .map_err(|e| PublishError(format!("MQTT publish to {topic} not queued: {e}")))
    }

    /// Queues any message (QoS 1), without waiting.
    ///
    /// # Errors
    /// The client's queue is full or the task ended.
    pub fn publish(&self, topic: &str, payload: &str, retain: bool) -> Result<(), PublishError> {
        self.client
            .try_publish(topic, QoS::AtLeastOnce, retain, payload.as_bytes().to_vec())
            .map_err(|e| PublishError(format!("MQTT publish to {topic} not queued: {e}")))
    }

    /// Publishes the retained `offline` and disconnects; waits for neither longer than
    /// `grace` (the task's own loop delivers them).
    pub async fn shutdown(&self, grace: Duration) {
        let work = async {
            if let Some(topic) = &self.availability_topic {
                let _ = self
                    .client
                    .publish(topic.as_ref(), QoS::AtLeastOnce, true, OFFLINE)
                    .await;
            }
            let _ = self.client.disconnect().await;
        };
        let _ = tokio::time::timeout(grace, work).await;
    }
}

fn client_config() -> Result<Arc<rustls::ClientConfig>, String> {
    let found = rustls_native_certs::load_native_certs();
    let mut roots = rustls::RootCertStore::empty();
    for cert in found.certs {
        // A certificate the store cannot use is skipped, as browsers do.
        let _ = roots.add(cert);
    }
    if roots.is_empty() {
        let why = found
            .errors
            .first()
            .map_or_else(|| "none found".to_owned(), ToString::to_string);
        return Err(format!(
            "mqtt.tls: no trusted root certificates could be loaded ({why}); install \
             ca-certificates or point SSL_CERT_FILE at the broker's CA"
        ));
    }
    Ok(Arc::new(
        rustls::ClientConfig::builder()
            .with_root_certificates(roots)
            .with_no_client_auth(),
    ))
}

/// Starts the MQTT task. It runs until [`MqttHandle::shutdown`] or until `tx` is closed.
/// Must run inside a tokio runtime; with TLS, a rustls crypto provider must be installed.
///
/// # Errors
/// TLS was asked for and no root certificate could be loaded.
pub fn start(config: MqttConfig, tx: mpsc::Sender<MqttIn>) -> Result<MqttHandle, String> {
    let mut options = MqttOptions::new(config.client_id.clone(), config.host.clone(), config.port);
    options.set_keep_alive(config.keep_alive);
    options.set_clean_session(true);
    options.set_max_packet_size(MAX_PACKET, MAX_PACKET);
    if let Some((user, pass)) = &config.credentials {
        options.set_credentials(user.clone(), pass.clone());
    }
    if let Some(topic) = &config.availability_topic {
        options.set_last_will(LastWill::new(
            topic.clone(),
            OFFLINE,
            QoS::AtLeastOnce,
            true,
        ));
    }
    if config.tls {
        options.set_transport(Transport::tls_with_config(TlsConfiguration::Rustls(
            client_config()?,
        )));
    }
    let (client, mut events) = AsyncClient::new(options, 256);
    // Events are small and often come in twos (call_established, then a digit): Nagle
    // would hold the second until the broker's delayed ACK, up to 40 ms.
    let mut net = rumqttc::NetworkOptions::new();
    net.set_tcp_nodelay(true);
    net.set_connection_timeout(5);
    events.set_network_options(net);
    let handle = MqttHandle {
        client: client.clone(),
        state_topic: config.state_topic.as_deref().map(Arc::from),
        availability_topic: config.availability_topic.as_deref().map(Arc::from),
    };
    tokio::spawn(drive(config, client, events, tx));
    Ok(handle)
}

async fn drive(
    config: MqttConfig,
    client: AsyncClient,
    mut events: EventLoop,
    tx: mpsc::Sender<MqttIn>,
) {
    let mut backoff = MIN_BACKOFF;
    loop {
        match events.poll().await {
            Ok(Event::Incoming(Packet::ConnAck(_))) => {
                backoff = MIN_BACKOFF;
                // A clean session: subscriptions and retained messages may be gone.
                for topic in std::iter::once(&config.command_topic).chain(&config.subscriptions) {
                    if let Err(e) = client.try_subscribe(topic.clone(), QoS::AtMostOnce) {
                        tracing::error!(error = %e, topic, "MQTT subscribe not queued");
                    }
                }
                if let Some(topic) = &config.availability_topic
                    && let Err(e) =
                        client.try_publish(topic.clone(), QoS::AtLeastOnce, true, ONLINE)
                {
                    tracing::warn!(error = %e, topic, "MQTT availability not queued");
                }
                if tx.send(MqttIn::Connected).await.is_err() {
                    return;
                }
            }
            Ok(Event::Incoming(Packet::Publish(p))) => {
                if p.topic != config.command_topic {
                    if config
                        .subscriptions
                        .iter()
                        .any(|f| rumqttc::matches(&p.topic, f))
                        && tx
                            .send(MqttIn::Message {
                                topic: p.topic,
                                payload: p.payload,
                                retained: p.retain,
                            })
                            .await
                            .is_err()
                    {
                        return;
                    }
                    continue;
                }
                if p.retain {
                    // A retained command would run again on every reconnect and restart.
                    tracing::warn!(
                        topic = p.topic,
                        "MQTT: ignored a retained command (publish commands without retain)"
                    );
                    continue;
                }
                if tx.send(MqttIn::Command(p.payload)).await.is_err() {
                    return;
                }
            }
            Ok(Event::Outgoing(rumqttc::Outgoing::Disconnect)) => {
                // Our own disconnect (shutdown), already written and flushed: stop.
                return;
            }
            Ok(_) => {}
            Err(e) => {
                let reason = describe(&e);
                if tx
                    .send(MqttIn::Disconnected {
                        reason,
                        retry_in: backoff,
                    })
                    .await
                    .is_err()
                {
                    return;
                }
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
}

fn describe(e: &ConnectionError) -> String {
    match e {
        ConnectionError::ConnectionRefused(code) => {
            format!(
                "the broker refused the connection ({code:?}: check mqtt.username and mqtt.password)"
            )
        }
        other => other.to_string(),
    }
}
