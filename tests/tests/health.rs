//! `hasip health`, the check behind the image's HEALTHCHECK: healthy while the gateway's
//! loop answers and its account is registered; unhealthy when the process is stopped
//! (`kill -STOP`: the socket still accepts, the loop answers nothing), when the registrar
//! refuses the account, and when no gateway runs on the port.

use std::time::{Duration, Instant};

use hasip_tests::gateway::Gateway;
use hasip_tests::kamailio::{Kamailio, KamailioOptions};
use hasip_tests::workdir::WorkDir;
use hasip_tests::{have, wait_for};
use serde_json::json;

const WAIT: Duration = Duration::from_secs(10);

fn account(k: &Kamailio, password: &str) -> serde_json::Value {
    json!({
        "sip_global": {"log_level": 3},
        "sip": {
            "enabled": true,
            "registrar_uri": format!("sip:{}", k.sip),
            "id_uri": "sip:hasip@test.local",
            "realm": "*",
            "user_name": "hasip",
            "password": password,
            "answer_mode": "listen",
            "settle_time": 0
        }
    })
}

#[test]
fn healthy_while_registered_unhealthy_while_stopped() {
    assert!(have("kamailio"), "kamailio is needed: run ./build.sh test");
    let dir = WorkDir::new("health-registered");
    let k = Kamailio::start(&dir, KamailioOptions::default());
    let mut gw = Gateway::start_with(&dir, Some(&account(&k, "secret")), &[]);
    assert!(
        gw.wait_log("registered account=1", WAIT),
        "{}",
        gw.log_text()
    );
    let (code, line) = gw.health(5.0);
    assert_eq!(code, 0, "{line}");
    assert!(
        line.starts_with("healthy: running, account 1 registered, 0 calls"),
        "{line}"
    );
    // A stopped process: the kernel still accepts the connection, nobody answers.
    assert!(gw.process().signal("STOP"));
    let t0 = Instant::now();
    let (code, line) = gw.health(1.5);
    let took = t0.elapsed();
    assert!(gw.process().signal("CONT"));
    assert_eq!(code, 1, "{line}");
    assert!(line.contains("did not answer within 1.5 s"), "{line}");
    assert!(took >= Duration::from_millis(1400), "{took:?}");
    // Running again: healthy again.
    let (code, line) = gw.health(5.0);
    assert_eq!(code, 0, "{line}");
    // No gateway on the port at all.
    gw.stop();
    let (code, line) = gw.health(1.0);
    assert_eq!(code, 1, "{line}");
    assert!(line.contains("no gateway answers"), "{line}");
}

#[test]
fn unhealthy_when_the_registrar_refuses_the_account() {
    assert!(have("kamailio"), "kamailio is needed: run ./build.sh test");
    let dir = WorkDir::new("health-refused");
    let k = Kamailio::start(&dir, KamailioOptions::default());
    let gw = Gateway::start_with(&dir, Some(&account(&k, "wrong")), &[]);
    let refused = wait_for(WAIT, Duration::from_millis(50), || {
        let (code, line) = gw.health(5.0);
        (code == 1).then_some(line)
    })
    .unwrap_or_else(|| panic!("never unhealthy; log:\n{}", gw.log_text()));
    assert!(
        refused.starts_with("unhealthy: account 1 (sip:hasip@test.local): the registrar refused"),
        "{refused}"
    );
}
