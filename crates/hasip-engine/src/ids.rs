//! ha-sip's identities of a call: the remote and local URI strings, the numbers parsed from
//! them (spec §4.6), and DTMF carried in SIP INFO.

use hasip_sip::message::NameAddr;

/// ha-sip's `parsed_caller`/`parsed_called` rule (spec §4.6): the characters after
/// `<sip:` (or else after `sip:`) up to the first `@`, `;` or `>`; `None` for other schemes.
pub fn parse_number(uri: &str) -> Option<String> {
    let rest = if let Some(i) = uri.find("<sip:") {
        &uri[i + 5..]
    } else if let Some(i) = uri.find("sip:") {
        &uri[i + 4..]
    } else {
        return None;
    };
    let end = rest.find(['@', ';', '>']).unwrap_or(rest.len());
    Some(rest[..end].to_owned())
}

/// The remote/local URI as pjsua reports it: the header's name-addr without its tag
/// (`"Door" <sip:door@host>`).
pub(crate) fn name_addr_without_tag(value: &str) -> String {
    match NameAddr::parse(value) {
        Ok(a) => {
            let mut s = match a.display_name {
                Some(d) => format!("\"{}\" <{}>", d.text().replace('"', "\\\""), a.uri),
                None => format!("<{}>", a.uri),
            };
            for (n, v) in a.params.iter() {
                if !n.eq_ignore_ascii_case("tag") {
                    s.push(';');
                    s.push_str(n);
                    if let Some(v) = v {
                        s.push('=');
                        s.push_str(v);
                    }
                }
            }
            s
        }
        Err(_) => value.trim().to_owned(),
    }
}

/// The digit of a DTMF INFO: `application/dtmf-relay` (`Signal=5`) or `application/dtmf`
/// (`5`). Events 10 and 11 are `*` and `#`, 12–15 `A`–`D`.
pub(crate) fn dtmf_from_info(content_type: &str, body: &[u8]) -> Option<char> {
    let text = String::from_utf8_lossy(body);
    let raw = match content_type {
        "application/dtmf-relay" => text.lines().find_map(|l| {
            let (k, v) = l.split_once('=')?;
            k.trim()
                .eq_ignore_ascii_case("signal")
                .then(|| v.trim().to_owned())
        })?,
        "application/dtmf" => text.trim().to_owned(),
        _ => return None,
    };
    let c = match raw.as_str() {
        "10" => '*',
        "11" => '#',
        "12" => 'A',
        "13" => 'B',
        "14" => 'C',
        "15" => 'D',
        s if s.len() == 1 => s.chars().next()?.to_ascii_uppercase(),
        _ => return None,
    };
    matches!(c, '0'..='9' | '*' | '#' | 'A'..='D').then_some(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_4_6_number_parsing() {
        assert_eq!(
            parse_number("\"Bob\" <sip:123@host>").as_deref(),
            Some("123")
        );
        assert_eq!(
            parse_number("<sip:fritz.box>").as_deref(),
            Some("fritz.box")
        );
        assert_eq!(
            parse_number("sip:**620@fritz.box").as_deref(),
            Some("**620")
        );
        assert_eq!(parse_number("sip:+4930123@x").as_deref(), Some("+4930123"));
        assert_eq!(parse_number("<tel:+4930123>"), None);
        assert_eq!(parse_number("<sips:a@b>"), None);
    }

    #[test]
    fn remote_uri_keeps_display_name_and_drops_the_tag() {
        assert_eq!(
            name_addr_without_tag("\"Ferdy\" <sip:0123@fritz.box>;tag=abc"),
            "\"Ferdy\" <sip:0123@fritz.box>"
        );
        assert_eq!(
            name_addr_without_tag("sip:door@10.0.0.5;tag=1"),
            "<sip:door@10.0.0.5>"
        );
    }

    #[test]
    fn dtmf_info_bodies() {
        assert_eq!(
            dtmf_from_info("application/dtmf-relay", b"Signal=5\r\nDuration=160\r\n"),
            Some('5')
        );
        assert_eq!(
            dtmf_from_info("application/dtmf-relay", b"Signal= 11\r\n"),
            Some('#')
        );
        assert_eq!(
            dtmf_from_info("application/dtmf-relay", b"Signal=*\r\n"),
            Some('*')
        );
        assert_eq!(dtmf_from_info("application/dtmf", b"9"), Some('9'));
        assert_eq!(dtmf_from_info("application/dtmf", b"x"), None);
        assert_eq!(dtmf_from_info("text/plain", b"5"), None);
    }
}
