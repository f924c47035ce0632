//! `--extract-headers` and `--debug-headers` (ha-sip, spec §4.7): the headers of an
//! INVITE or of the answer to ours that go into a call's events, and their log line.

use std::collections::BTreeMap;

use hasip_sip::message::Message;

/// `--extract-headers`: each configured name (its spelling kept as the key) with the value
/// of its last line in `message` (case-insensitive name), or `None` when absent (ha-sip,
/// spec §4.7). Folded lines and space before the colon are read too.
pub(crate) fn extract_headers(
    message: &Message,
    names: &[String],
) -> BTreeMap<String, Option<String>> {
    names
        .iter()
        .map(|n| (n.clone(), message.header_named(n).last().map(str::to_owned)))
        .collect()
}

/// `--debug-headers`: every header line of `message`, in one log line.
pub(crate) fn log_headers(what: &str, message: &Message) {
    let lines: Vec<String> = message
        .headers()
        .map(|h| format!("{}: {}", h.name_str, h.value))
        .collect();
    tracing::info!(
        message = what,
        "Available SIP headers: {}",
        lines.join(" | ")
    );
}
