//! Errors where add-on users look: a Home Assistant persistent notification (the bell in
//! the sidebar) for a configuration or menu error that stops start-up, and for an account
//! whose registration keeps failing; dismissed again once it registers. Add-on mode only:
//! there the Supervisor is the way to Home Assistant, and the add-on's log is the place a
//! user who never opens it would otherwise miss. Stand-alone users run the gateway where
//! they read its output.

use std::collections::HashMap;
use std::time::Duration;

use hasip_ha::{HaClient, HaConfig, Mode};
use serde_json::json;

use crate::status::Registration;

/// The notification of a start-up error.
pub(crate) const CONFIG_ID: &str = "ha_sip_rs_configuration";

/// How many failed registrations in a row that may pass (no answer, a server error)
/// make a notification; a refusal makes one at once.
const RETRIES_BEFORE_NOTICE: u32 = 3;

/// The client, in add-on mode.
fn addon_client(lookup: impl Fn(&str) -> Option<String>) -> Option<HaClient> {
    let config = HaConfig::from_env(lookup).ok()?;
    if config.mode != Mode::AddOn {
        return None;
    }
    HaClient::new(config).ok()
}

/// Reports a start-up error (in add-on mode), waiting at most a few seconds: the process
/// is about to exit. Builds its own small runtime, since the gateway's never started.
pub(crate) fn startup_error(error: &str, lookup: impl Fn(&str) -> Option<String>) {
    let Some(client) = addon_client(lookup) else {
        return;
    };
    let message = format!(
        "ha-sip-rs did not start:\n\n`{error}`\n\nFix it in the add-on's Configuration tab \
         (or in the file it names), then start the add-on again."
    );
    let Ok(rt) = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    else {
        return;
    };
    rt.block_on(async {
        let body = json!({"notification_id": CONFIG_ID, "title": "ha-sip-rs: configuration error",
                          "message": message});
        let call = client.call_service("persistent_notification", "create", &body);
        match tokio::time::timeout(Duration::from_secs(5), call).await {
            Ok(Ok(_)) => tracing::info!("the error is shown in Home Assistant's notifications"),
            Ok(Err(e)) => tracing::warn!(error = %e, "cannot show the error in Home Assistant"),
            Err(_) => tracing::warn!("cannot show the error in Home Assistant: no answer in 5 s"),
        }
    });
}

/// Registration notifications, per account.
#[derive(Debug, Default)]
pub(crate) struct Registrations {
    /// Failures in a row, and whether a notification is up.
    accounts: HashMap<u8, (u32, bool)>,
}

impl Registrations {
    /// What a registration change asks for: `Some((id, Some(body)))` to create a
    /// notification, `Some((id, None))` to dismiss one, `None` for nothing.
    pub(crate) fn update(
        &mut self,
        account: u8,
        id_uri: &str,
        registration: &Registration,
    ) -> Option<(String, Option<serde_json::Value>)> {
        let (fails, shown) = self.accounts.entry(account).or_insert((0, false));
        let id = format!("ha_sip_rs_registration_{account}");
        if let Registration::Misconfigured { reason } = registration {
            *shown = true;
            let message = format!(
                "Account {account} (`{id_uri}`) does not run: {reason}. The other accounts \
                 run. Correct the file and restart the add-on."
            );
            return Some((
                id.clone(),
                Some(json!({"notification_id": id,
                            "title": format!("ha-sip-rs: account {account} does not run"),
                            "message": message})),
            ));
        }
        let (code, reason, refused) = match registration {
            Registration::Registered => {
                *fails = 0;
                return std::mem::take(shown).then_some((id, None));
            }
            Registration::Refused { code, reason } => (*code, reason, true),
            Registration::Retrying { code, reason } => (*code, reason, false),
            _ => return None,
        };
        *fails += 1;
        if *shown || (!refused && *fails < RETRIES_BEFORE_NOTICE) {
            return None;
        }
        *shown = true;
        let name = if account == 1 {
            "sip".to_owned()
        } else {
            format!("sip_{account}")
        };
        let fix = match code {
            401 | 407 | 403 => format!(
                "Check `{name}.user_name`, `{name}.password` and `{name}.realm` in the add-on's \
                 Configuration tab."
            ),
            404 => format!("The registrar does not know this user: check `{name}.id_uri`."),
            _ => format!(
                "Check that the registrar in `{name}.registrar_uri` is reachable from Home \
                 Assistant's host."
            ),
        };
        let what = if refused {
            "the registrar refuses it"
        } else {
            "the registrar does not answer or fails"
        };
        let message = format!(
            "Account {account} (`{id_uri}`) is not registered: {what} ({code} {reason}). \
             Calls to it cannot arrive. {fix} ha-sip-rs keeps trying."
        );
        Some((
            id.clone(),
            Some(json!({"notification_id": id,
                        "title": format!("ha-sip-rs: account {account} is not registered"),
                        "message": message})),
        ))
    }
}

/// Creates or dismisses a notification in its own task.
pub(crate) fn send(client: &HaClient, id: String, create: Option<serde_json::Value>) {
    let client = client.clone();
    tokio::spawn(async move {
        let (service, body) = match create {
            Some(body) => ("create", body),
            None => ("dismiss", json!({"notification_id": id})),
        };
        if let Err(e) = client
            .call_service("persistent_notification", service, &body)
            .await
        {
            tracing::warn!(error = %e, notification = id, "persistent notification not sent");
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn retrying() -> Registration {
        Registration::Retrying {
            code: 408,
            reason: "Request Timeout".into(),
        }
    }

    #[test]
    fn a_refusal_is_shown_at_once_and_dismissed_when_registered() {
        let mut r = Registrations::default();
        let refused = Registration::Refused {
            code: 403,
            reason: "Forbidden".into(),
        };
        let (id, body) = r.update(2, "sip:b@h", &refused).unwrap();
        assert_eq!(id, "ha_sip_rs_registration_2");
        let msg = body.unwrap()["message"].as_str().unwrap().to_owned();
        assert!(
            msg.contains("`sip_2.password`") && msg.contains("403 Forbidden"),
            "{msg}"
        );
        assert_eq!(r.update(2, "sip:b@h", &refused), None, "shown once");
        assert_eq!(
            r.update(2, "sip:b@h", &Registration::Registered),
            Some((id, None))
        );
        assert_eq!(r.update(2, "sip:b@h", &Registration::Registered), None);
    }

    #[test]
    fn failures_that_may_pass_are_shown_after_three_in_a_row() {
        let mut r = Registrations::default();
        assert_eq!(r.update(1, "sip:a@h", &retrying()), None);
        assert_eq!(r.update(1, "sip:a@h", &retrying()), None);
        let (_, body) = r.update(1, "sip:a@h", &retrying()).unwrap();
        assert!(
            body.unwrap()["message"]
                .as_str()
                .unwrap()
                .contains("`sip.registrar_uri`")
        );
        // A success in between starts the count again.
        r.update(1, "sip:a@h", &Registration::Registered);
        assert_eq!(r.update(1, "sip:a@h", &retrying()), None);
    }
}
