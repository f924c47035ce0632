//! What serde cannot check: flag strings, URIs, names that become MQTT topics, and each
//! account's incoming-call file (an account whose file does not load does not run).

use anyhow::bail;

use super::{Account, Options};

/// Options checked beyond their JSON shape: flag strings parsed, URIs readable.
#[derive(Debug, Clone)]
pub struct Checked {
    /// The options as read.
    pub options: Options,
    /// `sip_global.global_options`, parsed.
    pub global: crate::flags::GlobalFlags,
    /// Enabled accounts: (number 1–3, the account, its flags, its incoming-call file).
    pub accounts: Vec<(
        u8,
        Account,
        crate::flags::AccountFlags,
        Option<std::sync::Arc<hasip_menu::IncomingCallFile>>,
    )>,
    /// Enabled accounts that cannot run, and why (an `incoming_call_file` that is missing
    /// or does not load): (number, `id_uri`, the error naming file, line and key). They do
    /// not register; the others run.
    pub broken: Vec<(u8, String, String)>,
}

fn check_uri(field: &str, value: &str) -> anyhow::Result<()> {
    let ok = hasip_sip::dialog::uri_of(value).is_some_and(|u| u.as_sip().is_some());
    if ok {
        Ok(())
    } else {
        bail!(
            "{field}: {value:?} is not a SIP URI (e.g. \"sip:fritz.box\" or \"sip:user@192.168.1.1:5060\")"
        )
    }
}

/// Checks what serde cannot: flag strings and URIs. Every error names its field.
///
/// # Errors
/// The first fault found.
pub fn check(options: Options) -> anyhow::Result<Checked> {
    let global = crate::flags::parse_global(&options.sip_global.global_options)?;
    for (field, value) in [
        ("mqtt.node_id", &options.mqtt.node_id),
        ("mqtt.discovery_prefix", &options.mqtt.discovery_prefix),
    ] {
        let v = value.trim();
        if v.is_empty()
            || !v
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            bail!(
                "{field}: {value:?} may only hold letters, digits, _ and - (it becomes part of \
                 MQTT topics and of Home Assistant's ids)"
            );
        }
    }
    crate::dns::parse_servers(&options.sip_global.name_server).map_err(anyhow::Error::msg)?;
    let mut accounts = Vec::new();
    let mut broken = Vec::new();
    for (number, name, acct) in [
        (1u8, "sip", &options.sip),
        (2, "sip_2", &options.sip_2),
        (3, "sip_3", &options.sip_3),
    ] {
        // Flags are parsed for disabled accounts too, as ha-sip does: a typo fails early.
        let flags = crate::flags::parse_account(&format!("{name}.options"), &acct.options)?;
        if !acct.enabled {
            continue;
        }
        if !acct.registrar_uri.is_empty() {
            check_uri(&format!("{name}.registrar_uri"), &acct.registrar_uri)?;
        }
        if !acct.id_uri.is_empty() {
            check_uri(&format!("{name}.id_uri"), &acct.id_uri)?;
        } else if !acct.registrar_uri.is_empty() {
            bail!(
                "{name}.id_uri: required when {name}.registrar_uri is set (e.g. \"sip:homeassistant@fritz.box\")"
            );
        }
        if let Some(p) = &flags.proxy {
            check_uri(&format!("{name}.options --proxy"), p)?;
        }
        // ha-sip logged a broken file and answered with the standard menu; here an account
        // whose menu does not load does not run (the error names the file, line and key),
        // and the other accounts do: a typo in one menu must not silence every doorbell.
        let incoming = if acct.incoming_call_file.trim().is_empty() {
            None
        } else {
            let path = acct.incoming_call_file.trim();
            let loaded = std::fs::read_to_string(path)
                .map_err(|e| format!("{name}.incoming_call_file: cannot read {path}: {e}"))
                .and_then(|text| {
                    hasip_menu::IncomingCallFile::from_yaml(&text, Some(path))
                        .map_err(|e| format!("{name}.incoming_call_file: {e}"))
                });
            match loaded {
                Ok(file) => Some(std::sync::Arc::new(file)),
                Err(e) => {
                    broken.push((number, acct.id_uri.clone(), e));
                    continue;
                }
            }
        };
        accounts.push((number, acct.clone(), flags, incoming));
    }
    if accounts.is_empty()
        && let Some((_, _, e)) = broken.first()
    {
        // Nothing could run: start-up fails with the error, as for any other mistake.
        bail!("{e}");
    }
    Ok(Checked {
        options,
        global,
        accounts,
        broken,
    })
}
