//! Starting MQTT from the options: the broker named in `mqtt` (or ha-sip's `BROKER_*`
//! variables), or in add-on mode, when no broker is named, the one the Supervisor knows.
//! The client itself is `hasip_bus::mqtt`.

use std::time::Duration;

use anyhow::bail;
use hasip_bus::mqtt::{self, MqttConfig, MqttHandle, MqttIn};
use tokio::sync::{mpsc, oneshot};

use crate::config::Options;

/// How the loop gets the client: at once, or after the Supervisor has answered.
#[derive(Debug)]
pub(crate) enum Start {
    /// MQTT is off.
    Off,
    /// Started.
    Ready(MqttHandle),
    /// Waiting for the Supervisor; the handle arrives on this channel.
    Pending(oneshot::Receiver<MqttHandle>),
}

fn base_config(options: &Options, seed: u64) -> MqttConfig {
    let m = &options.mqtt;
    let topic = |t: &str| Some(t.trim().to_owned()).filter(|t| !t.is_empty());
    MqttConfig {
        host: m.broker_address.trim().to_owned(),
        port: m.broker_port,
        credentials: Some(m.username.trim().to_owned())
            .filter(|u| !u.is_empty())
            .map(|u| (u, m.password.expose().to_owned())),
        tls: m.tls,
        // ha-sip used a random id too: two gateways on one broker must not evict each other.
        client_id: format!("ha-sip-rs-{:08x}", seed & 0xffff_ffff),
        command_topic: m.command_topic.trim().to_owned(),
        state_topic: topic(&m.state_topic),
        availability_topic: topic(&m.availability_topic),
        keep_alive: Duration::from_secs(60),
        subscriptions: if m.discovery {
            discovery(options).subscriptions()
        } else {
            Vec::new()
        },
    }
}

/// The MQTT device of these options (used when `mqtt.discovery` is on).
pub(crate) fn discovery(options: &Options) -> crate::discovery::Discovery {
    let m = &options.mqtt;
    crate::discovery::Discovery::new(
        &m.discovery_prefix,
        &m.node_id,
        Some(m.availability_topic.trim().to_owned()).filter(|t| !t.is_empty()),
        vec![
            (1, options.sip.enabled),
            (2, options.sip_2.enabled),
            (3, options.sip_3.enabled),
        ],
    )
}

/// Starts MQTT if the options ask for it. Commands and connection news arrive on `tx`.
///
/// # Errors
/// MQTT is on but no broker can be known (no address and no Supervisor), the command topic
/// is empty, or TLS has no root certificates.
pub(crate) fn start(
    options: &Options,
    lookup: impl Fn(&str) -> Option<String>,
    seed: u64,
    tx: mpsc::Sender<MqttIn>,
) -> anyhow::Result<Start> {
    if !options.mqtt.enabled {
        return Ok(Start::Off);
    }
    let config = base_config(options, seed);
    if config.command_topic.is_empty() {
        bail!("mqtt.command_topic: must not be empty when mqtt.enabled is true");
    }
    if !config.host.is_empty() {
        if config.tls {
            hasip_ha::install_crypto_provider();
        }
        tracing::info!(?config, "MQTT: connecting");
        let handle = mqtt::start(config, tx).map_err(anyhow::Error::msg)?;
        return Ok(Start::Ready(handle));
    }
    let Some(token) = lookup("SUPERVISOR_TOKEN").filter(|t| !t.trim().is_empty()) else {
        bail!(
            "mqtt.broker_address: required when mqtt.enabled is true outside the add-on \
             (there is no Supervisor to ask for the broker)"
        );
    };
    let token = hasip_ha::Secret::new(token.trim());
    let (ready_tx, ready_rx) = oneshot::channel();
    tokio::spawn(async move {
        let mut wait = Duration::from_secs(2);
        let service = loop {
            match hasip_ha::supervisor::mqtt_service(hasip_ha::supervisor::SUPERVISOR_URL, &token)
                .await
            {
                Ok(s) => break s,
                Err(e) => {
                    tracing::error!(
                        error = %e,
                        retry_in = ?wait,
                        "MQTT: no broker from the Supervisor (set mqtt.broker_address, or install the Mosquitto add-on)"
                    );
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(Duration::from_secs(60));
                }
            }
        };
        let mut config = config;
        config.host = service.host;
        config.port = service.port;
        config.tls = config.tls || service.ssl;
        if config.credentials.is_none()
            && let Some(user) = service.username
        {
            let pass = service
                .password
                .map(|p| p.expose().to_owned())
                .unwrap_or_default();
            config.credentials = Some((user, pass));
        }
        if config.tls {
            hasip_ha::install_crypto_provider();
        }
        tracing::info!(?config, "MQTT: broker from the Supervisor, connecting");
        match mqtt::start(config, tx) {
            Ok(h) => {
                let _ = ready_tx.send(h);
            }
            Err(e) => tracing::error!(error = %e, "MQTT not started"),
        }
    });
    Ok(Start::Pending(ready_rx))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(json: &str) -> Options {
        crate::config::parse_options(json, "t").unwrap()
    }

    #[test]
    fn config_from_options() {
        let o = options(
            r#"{"mqtt": {"enabled": true, "broker_address": " 10.0.0.2 ", "broker_port": 8883,
                "username": "u", "password": "p", "tls": true, "state_topic": "",
                "availability_topic": "gw/avail"}}"#,
        );
        let c = base_config(&o, 0xdead_beef_1234_5678);
        assert_eq!((c.host.as_str(), c.port, c.tls), ("10.0.0.2", 8883, true));
        assert_eq!(c.credentials, Some(("u".to_owned(), "p".to_owned())));
        assert_eq!(c.command_topic, "hasip/execute");
        assert_eq!(c.state_topic, None, "an empty state topic turns events off");
        assert_eq!(c.availability_topic.as_deref(), Some("gw/avail"));
        assert_eq!(c.client_id, "ha-sip-rs-12345678");
        assert!(!format!("{c:?}").contains("\"p\""), "{c:?}");
    }

    #[tokio::test]
    async fn no_broker_and_no_supervisor_is_an_error_that_names_the_field() {
        let o = options(r#"{"mqtt": {"enabled": true}}"#);
        let (tx, _rx) = mpsc::channel(1);
        let e = start(&o, |_| None, 1, tx).unwrap_err().to_string();
        assert!(e.starts_with("mqtt.broker_address: required"), "{e}");
        let o =
            options(r#"{"mqtt": {"enabled": true, "broker_address": "h", "command_topic": " "}}"#);
        let (tx, _rx) = mpsc::channel(1);
        let e = start(&o, |_| None, 1, tx).unwrap_err().to_string();
        assert!(e.starts_with("mqtt.command_topic"), "{e}");
        let (tx, _rx) = mpsc::channel(1);
        assert!(matches!(
            start(&options("{}"), |_| None, 1, tx).unwrap(),
            Start::Off
        ));
    }
}
