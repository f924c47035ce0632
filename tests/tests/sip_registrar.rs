//! Registration and calls through kamailio, the registrar most providers run: digest on
//! REGISTER (401) over UDP and TCP, wrong credentials without a retry storm, un-REGISTER at
//! shutdown, a call routed by kamailio to the registered gateway, and a dial through
//! kamailio that answers its 407 challenge.

use std::time::Duration;

use hasip_tests::gateway::Gateway;
use hasip_tests::kamailio::{Kamailio, KamailioOptions};
use hasip_tests::sipp::{self, SippOptions, Transport};
use hasip_tests::workdir::WorkDir;
use hasip_tests::{have, raw, wait_for};
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(10);

fn require_peers() {
    assert!(
        have("kamailio") && have("sipp"),
        "kamailio and sipp are needed: run ./build.sh test"
    );
}

fn registered(k: &Kamailio, transport: &str, password: &str, answer_mode: &str) -> Value {
    let suffix = if transport == "udp" {
        String::new()
    } else {
        format!(";transport={transport}")
    };
    json!({
        "sip_global": {"log_level": 3},
        "sip": {
            "enabled": true,
            "registrar_uri": format!("sip:{}{suffix}", k.sip),
            "id_uri": "sip:hasip@test.local",
            "realm": "*",
            "user_name": "hasip",
            "password": password,
            "answer_mode": answer_mode,
            "settle_time": 0
        }
    })
}

/// sipp, as an anonymous trunk, calls the gateway's AOR at kamailio: kamailio routes it to
/// the registered gateway, which answers; sipp hangs up.
fn routed_call_reaches_the_gateway(dir: &WorkDir, k: &Kamailio, gw: &Gateway) {
    let run = sipp::run(
        dir,
        "via-kamailio",
        include_str!("../sipp/uac_call_routed.xml"),
        k.sip,
        Transport::Udp,
        WAIT,
    );
    // Answered: sipp got the 200 (under load kamailio can forward a retransmitted 180
    // after it, which makes sipp call the scenario failed though the call went through).
    assert!(run.got_invite_answer(200), "sipp: {:?}", run.received);
    assert!(
        k.log_text().contains("ROUTE INVITE door -> hasip"),
        "{}",
        k.log_text()
    );
    let est = gw
        .wait_event("call_established", WAIT)
        .expect("call_established");
    assert_eq!(est["parsed_caller"], "door");
    gw.wait_event("call_disconnected", WAIT)
        .expect("call_disconnected");
}

#[test]
fn registers_over_udp_and_tcp_and_unregisters_at_shutdown() {
    require_peers();
    for transport in ["udp", "tcp"] {
        let dir = WorkDir::new(&format!("register-{transport}"));
        let k = Kamailio::start(&dir, KamailioOptions::default());
        let mut gw = Gateway::start_with(
            &dir,
            Some(&registered(&k, transport, "secret", "listen")),
            &[],
        );
        assert!(
            k.wait_log("REGISTERED hasip contact=<sip:hasip@127.0.0.1:", WAIT),
            "{transport}: kamailio saw no REGISTER"
        );
        assert!(
            gw.wait_log("registered account=1 expires=300", WAIT),
            "{transport}: gateway did not report the registration"
        );
        let proto = if transport == "udp" { "/udp" } else { "/tcp" };
        assert!(
            k.log_text()
                .contains(&format!("{proto} (From=sip:hasip@test.local")),
            "{transport}: REGISTER came over another transport:\n{}",
            k.log_text()
        );
        assert!(gw.process().signal("TERM"));
        assert!(gw.process().wait_exit(WAIT).is_some_and(|s| s.success()));
        assert!(
            k.wait_log("expires=0", WAIT),
            "{transport}: no un-REGISTER at shutdown"
        );
        assert!(
            gw.log_text().contains("unregistered account=1"),
            "{transport}: the un-REGISTER was not answered before exit"
        );
    }
}

#[test]
fn wrong_password_fails_clearly_and_does_not_retry_in_a_loop() {
    require_peers();
    let dir = WorkDir::new("register-wrong-password");
    let k = Kamailio::start(&dir, KamailioOptions::default());
    let gw = Gateway::start_with(&dir, Some(&registered(&k, "udp", "wrong", "listen")), &[]);
    assert!(
        gw.wait_log("registration failed account=1 code=403", WAIT),
        "{}",
        gw.log_text()
    );
    assert!(
        gw.log_text().contains("retry_in="),
        "the log says when it tries again"
    );
    // Providers ban retry storms: within the next seconds there is no further attempt.
    let before = k.count("RX REGISTER");
    assert!(
        before <= 2,
        "{before} REGISTERs before giving up (one plain, one with credentials)"
    );
    // Absence over a window is the point here, so this one waits on purpose.
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(
        k.count("RX REGISTER"),
        before,
        "the gateway kept registering after a 403"
    );
}

#[test]
fn kamailio_routes_a_call_to_the_registered_gateway() {
    require_peers();
    let dir = WorkDir::new("register-incoming");
    let k = Kamailio::start(&dir, KamailioOptions::default());
    let gw = Gateway::start_with(&dir, Some(&registered(&k, "udp", "secret", "accept")), &[]);
    assert!(gw.wait_log("registered account=1", WAIT));
    // An anonymous trunk (From user unknown to kamailio) calls the gateway's AOR.
    routed_call_reaches_the_gateway(&dir, &k, &gw);
}

#[test]
fn dial_through_kamailio_answers_the_407_challenge() {
    require_peers();
    let dir = WorkDir::new("register-dial-407");
    let k = Kamailio::start(&dir, KamailioOptions::default());
    let mut gw = Gateway::start_with(&dir, Some(&registered(&k, "udp", "secret", "listen")), &[]);
    assert!(gw.wait_log("registered account=1", WAIT));
    // alice's phone is a sipp UAS registered at kamailio.
    let opts = SippOptions {
        server: true,
        timeout: Duration::from_secs(20),
        ..SippOptions::default()
    };
    let alice = sipp::spawn(
        &dir,
        "alice",
        include_str!("../sipp/uas_answer.xml"),
        None,
        &opts,
    );
    assert_eq!(
        raw::register(k.sip, "alice", "alice", alice.port, 300),
        Some(200)
    );
    let number = format!("sip:alice@{}", k.sip);
    gw.command(&json!({"command": "dial", "number": number}).to_string());
    gw.wait_event("call_established", WAIT)
        .expect("call_established");
    assert!(
        k.log_text().contains("AUTH OK user 'hasip' for INVITE"),
        "no 407 round trip: {}",
        k.log_text()
    );
    gw.command(&json!({"command": "hangup", "number": number}).to_string());
    let run = alice.finish();
    assert!(run.passed(), "alice: {:?}", run.received);
    let bye = run
        .received
        .iter()
        .find(|m| m.starts_with("BYE "))
        .expect("BYE reached alice");
    assert!(bye.contains("Via: SIP/2.0/UDP 127.0.0.1"), "{bye}");
    gw.wait_event("call_disconnected", WAIT)
        .expect("call_disconnected");
}

/// Options registering over TLS at `k`'s TLS port.
fn registered_tls(k: &Kamailio, global_options: &str) -> Value {
    let tls = k.tls.expect("kamailio with TLS");
    json!({
        "sip_global": {"log_level": 3, "global_options": global_options},
        "sip": {
            "enabled": true,
            "registrar_uri": format!("sip:{tls};transport=tls"),
            "id_uri": "sip:hasip@test.local",
            "realm": "*",
            "user_name": "hasip",
            "password": "secret",
            "answer_mode": "accept",
            "settle_time": 0
        }
    })
}

#[test]
fn registers_and_takes_calls_over_tls_checking_the_certificate() {
    require_peers();
    let dir = WorkDir::new("register-tls");
    let k = Kamailio::start(
        &dir,
        KamailioOptions {
            tls: true,
            ..KamailioOptions::default()
        },
    );
    let ca = k.ca_file.clone().expect("CA");
    let ca = ca.to_string_lossy();
    let gw = Gateway::start_env(
        &dir,
        Some(&registered_tls(&k, "")),
        &[],
        &[("SSL_CERT_FILE", &ca)],
    );
    assert!(
        gw.wait_log("registered account=1 expires=300", WAIT),
        "{}\n{}",
        gw.log_text(),
        k.log_text()
    );
    assert!(
        k.log_text().contains("/tls (From=sip:hasip@test.local"),
        "the REGISTER did not come over TLS:\n{}",
        k.log_text()
    );
    // A call routed by kamailio to the gateway comes back over the TLS connection.
    routed_call_reaches_the_gateway(&dir, &k, &gw);
}

#[test]
fn an_untrusted_tls_certificate_is_refused_unless_checking_is_turned_off() {
    require_peers();
    let dir = WorkDir::new("register-tls-untrusted");
    let k = Kamailio::start(
        &dir,
        KamailioOptions {
            tls: true,
            ..KamailioOptions::default()
        },
    );
    // Only the system's roots: kamailio's throwaway CA is unknown.
    let system = [("SSL_CERT_FILE", "/etc/ssl/certs/ca-certificates.crt")];
    let gw = Gateway::start_env(&dir, Some(&registered_tls(&k, "")), &[], &system);
    assert!(
        gw.wait_log("TLS handshake failed", WAIT),
        "{}",
        gw.log_text()
    );
    assert!(gw.log_text().contains("UnknownIssuer"), "{}", gw.log_text());
    // The registration fails at once (503), not after Timer F's 32 s.
    assert!(
        gw.wait_log("registration failed", WAIT) && gw.log_text().contains("code=503"),
        "{}",
        gw.log_text()
    );
    assert!(!k.log_text().contains("REGISTERED hasip"));
    drop(gw);
    // A PBX with a self-signed certificate: the user turns the check off.
    let gw = Gateway::start_env(
        &dir,
        Some(&registered_tls(&k, "--tls-verify-server disabled")),
        &[],
        &system,
    );
    assert!(
        gw.wait_log("registered account=1", WAIT),
        "{}",
        gw.log_text()
    );
    assert!(gw.log_text().contains("certificate is NOT checked"));
}

#[test]
fn keepalives_over_tcp_are_answered_by_kamailio() {
    require_peers();
    let dir = WorkDir::new("register-keepalive");
    let k = Kamailio::start(&dir, KamailioOptions::default());
    let mut o = registered(&k, "tcp", "secret", "listen");
    o["sip_global"]["log_level"] = json!(5);
    o["sip"]["options"] = json!("--keepalive 1");
    let gw = Gateway::start_with(&dir, Some(&o), &[]);
    assert!(
        gw.wait_log("registered account=1", WAIT),
        "{}",
        gw.log_text()
    );
    // RFC 5626: our CRLF CRLF ping on the registration's connection, kamailio's CRLF pong.
    assert!(
        gw.wait_log("keep-alive answered (pong)", WAIT),
        "{}",
        gw.log_text()
    );
}

/// An account of `hasip`/`secret` at `registrar` (a domain the name server resolves), in
/// listen mode.
fn dns_account(registrar: &str) -> Value {
    json!({
        "enabled": true, "registrar_uri": registrar, "id_uri": "sip:hasip@test.local",
        "realm": "*", "user_name": "hasip", "password": "secret",
        "answer_mode": "listen", "settle_time": 0
    })
}

/// The gateway with `accounts` (`sip`, `sip_2`, …) and `dns` as `name_server`.
fn gateway_with_name_server(
    dir: &WorkDir,
    dns: &hasip_tests::dnsmasq::Dnsmasq,
    accounts: &[(&str, Value)],
) -> Gateway {
    let mut o = json!({
        "sip_global": {"log_level": 3, "name_server": format!("127.0.0.1:{}", dns.port)},
    });
    for (key, a) in accounts {
        o[*key] = a.clone();
    }
    Gateway::start_with(dir, Some(&o), &[])
}

#[test]
fn a_registrar_domain_is_found_through_its_srv_record_on_the_configured_name_server() {
    require_peers();
    let dir = WorkDir::new("register-srv");
    let k = Kamailio::start(&dir, KamailioOptions::default());
    // The provider's domain has no address of its own: only _sip._udp.pbx.test SRV
    // -> registrar.pbx.test at kamailio's port.
    let dns = hasip_tests::dnsmasq::Dnsmasq::start(
        &dir,
        &[format!(
            "_sip._udp.pbx.test,registrar.pbx.test,{},0,10",
            k.sip.port()
        )],
        &["registrar.pbx.test,127.0.0.1".to_owned()],
    );
    let gw = gateway_with_name_server(&dir, &dns, &[("sip", dns_account("sip:pbx.test"))]);
    assert!(
        gw.wait_log("registered account=1", WAIT),
        "{}\n{}",
        gw.log_text(),
        dns.log_text()
    );
    assert!(gw.log_text().contains("SRV"), "{}", gw.log_text());
    assert!(
        dns.log_text().contains("_sip._udp.pbx.test"),
        "{}",
        dns.log_text()
    );
    assert!(k.log_text().contains("REGISTERED hasip"));
}

/// Issue 21: an SRV set too large for a UDP answer (40 records, the registrar's the last
/// one written) comes back truncated; the gateway asks again over TCP and registers.
#[test]
fn an_srv_set_too_large_for_udp_is_read_again_over_tcp() {
    require_peers();
    let dir = WorkDir::new("register-srv-tcp");
    let k = Kamailio::start(&dir, KamailioOptions::default());
    let mut srv: Vec<String> = (0..40)
        .map(|i| format!("_sip._udp.big.test,backup-{i:02}.elsewhere.big.test,5060,10,10"))
        .collect();
    srv.push(format!(
        "_sip._udp.big.test,registrar.big.test,{},0,10",
        k.sip.port()
    ));
    let dns = hasip_tests::dnsmasq::Dnsmasq::start(
        &dir,
        &srv,
        &["registrar.big.test,127.0.0.1".to_owned()],
    );
    let gw = gateway_with_name_server(&dir, &dns, &[("sip", dns_account("sip:big.test"))]);
    assert!(
        gw.wait_log("registered account=1", WAIT),
        "{}\n{}",
        gw.log_text(),
        dns.log_text()
    );
    let log = gw.log_text();
    // All 41 records came, which only the TCP answer holds.
    assert!(
        log.contains("read again over TCP") && log.contains("srv_records=41"),
        "{log}"
    );
    assert!(
        log.contains("SRV") && log.contains("registrar.big.test"),
        "{log}"
    );
    assert!(k.log_text().contains("REGISTERED hasip"));
}

/// Issue 21: IPv6 addresses from the configured name server. An SRV target with only an
/// AAAA record (dnsmasq puts it in the answer's additional section) is used; a registrar
/// host without an A record is asked for AAAA next.
#[test]
fn aaaa_records_are_used_and_asked_for_when_a_host_has_no_a_record() {
    require_peers();
    let dir = WorkDir::new("register-aaaa");
    let dns = hasip_tests::dnsmasq::Dnsmasq::start(
        &dir,
        &["_sip._udp.v6.test,registrar.v6.test,5099,0,10".to_owned()],
        &[
            "registrar.v6.test,::1".to_owned(),
            "only6.test,::1".to_owned(),
        ],
    );
    let gw = gateway_with_name_server(
        &dir,
        &dns,
        &[
            ("sip", dns_account("sip:v6.test")),
            ("sip_2", dns_account("sip:only6.test:5099")),
        ],
    );
    assert!(
        gw.wait_log("ip=::1", WAIT),
        "the SRV target's AAAA record was not used:\n{}\n{}",
        gw.log_text(),
        dns.log_text()
    );
    let asked = wait_for(WAIT, Duration::from_millis(20), || {
        let log = dns.log_text();
        (log.contains("query[A] only6.test") && log.contains("query[AAAA] only6.test"))
            .then_some(())
    });
    assert!(
        asked.is_some(),
        "A, then AAAA for a host without an A record:\n{}",
        dns.log_text()
    );
}

/// Issue 22: the registration lifetime per account (`--register-expires`, 300 s as in
/// ha-sip by default): the REGISTER asks for it and kamailio grants it.
#[test]
fn the_registration_lifetime_is_configurable_per_account() {
    require_peers();
    let dir = WorkDir::new("register-expires");
    let k = Kamailio::start(&dir, KamailioOptions::default());
    let mut options = registered(&k, "udp", "secret", "listen");
    options["sip"]["options"] = json!("--register-expires 120");
    let gw = Gateway::start_with(&dir, Some(&options), &[]);
    assert!(
        gw.wait_log("registered account=1 expires=120", WAIT),
        "{}",
        gw.log_text()
    );
    // And the default stays ha-sip's.
    let gw2 = Gateway::start_with(&dir, Some(&registered(&k, "udp", "secret", "listen")), &[]);
    assert!(
        gw2.wait_log("registered account=1 expires=300", WAIT),
        "{}",
        gw2.log_text()
    );
}
