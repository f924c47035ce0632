//! mosquitto (Debian packages `mosquitto`, `mosquitto-clients`) as the MQTT broker users
//! run: one instance per test on a free port, anonymous or with a password file, plain or
//! TLS with a throwaway CA; `mosquitto_sub` records what arrives on a topic and
//! `mosquitto_pub` publishes, as a user's automation would.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::process::Guard;
use crate::workdir::WorkDir;
use crate::{ports, wait_for};

/// The user with a password on brokers started with [`MosquittoOptions::password`].
pub const USER: &str = "hasip";
/// Its password.
pub const PASSWORD: &str = "mqtt-secret";

/// Options.
#[derive(Debug, Clone, Copy, Default)]
pub struct MosquittoOptions {
    /// Refuse anonymous clients; [`USER`] / [`PASSWORD`] is the only account.
    pub password: bool,
    /// TLS only, with a certificate for 127.0.0.1 signed by [`Mosquitto::ca_file`].
    pub tls: bool,
}

/// A running broker, stopped when dropped.
#[derive(Debug)]
pub struct Mosquitto {
    /// Its port on 127.0.0.1.
    pub port: u16,
    run: PathBuf,
    opts: MosquittoOptions,
    process: Option<Guard>,
}

impl Mosquitto {
    /// Starts mosquitto and waits until it accepts connections.
    ///
    /// # Panics
    /// When mosquitto is not installed or does not come up within 10 s.
    pub fn start(dir: &WorkDir, opts: MosquittoOptions) -> Self {
        let port = ports::free_port();
        let run = dir.file(&format!("mosquitto-{port}"));
        std::fs::create_dir_all(&run).unwrap_or_else(|e| panic!("create {}: {e}", run.display()));
        // As root, mosquitto would switch to the `mosquitto` user and lose access to the
        // test's directory; it stays who we are. The log goes to a file, line by line.
        let me = Command::new("id")
            .arg("-un")
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
            .unwrap_or_else(|e| panic!("run id -un: {e}"));
        let mut conf = format!(
            "per_listener_settings true\npersistence false\nuser {me}\nlog_dest file {}\n\
             log_type all\nconnection_messages true\nlistener {port} 127.0.0.1\n",
            run.join("mosquitto.log").display()
        );
        if opts.password {
            let pw = run.join("passwd");
            std::fs::write(&pw, "").unwrap_or_else(|e| panic!("write passwd: {e}"));
            let st = Command::new(crate::tool("mosquitto_passwd"))
                .arg("-b")
                .arg(&pw)
                .args([USER, PASSWORD])
                .status()
                .unwrap_or_else(|e| panic!("run mosquitto_passwd: {e}"));
            assert!(st.success(), "mosquitto_passwd failed");
            conf.push_str(&format!(
                "allow_anonymous false\npassword_file {}\n",
                pw.display()
            ));
        } else {
            conf.push_str("allow_anonymous true\n");
        }
        if opts.tls {
            crate::certs::make(&run);
            conf.push_str(&format!(
                "cafile {0}/ca.crt\ncertfile {0}/server.crt\nkeyfile {0}/server.key\n",
                run.display()
            ));
        }
        std::fs::write(run.join("mosquitto.conf"), conf)
            .unwrap_or_else(|e| panic!("write mosquitto.conf: {e}"));
        let mut m = Self {
            port,
            run,
            opts,
            process: None,
        };
        m.launch();
        dir.attach_log(m.run.join("mosquitto.log"));
        m
    }

    fn launch(&mut self) {
        let log = self.run.join("mosquitto.log");
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .unwrap_or_else(|e| panic!("open {}: {e}", log.display()));
        let err = out.try_clone().unwrap_or_else(|e| panic!("clone: {e}"));
        let child = Command::new(crate::tool("mosquitto"))
            .arg("-c")
            .arg(self.run.join("mosquitto.conf"))
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| {
                panic!("start mosquitto (is it installed? ./build.sh test installs it): {e}")
            });
        let mut guard = Guard::new("mosquitto", child);
        let port = self.port;
        let up = wait_for(Duration::from_secs(10), Duration::from_millis(10), || {
            if guard.try_status().is_some() {
                return Some(false);
            }
            std::net::TcpStream::connect(("127.0.0.1", port))
                .ok()
                .map(|_| true)
        });
        assert_eq!(
            up,
            Some(true),
            "mosquitto did not start:\n{}",
            self.log_text()
        );
        self.process = Some(guard);
    }

    /// Kills the broker (SIGKILL: no goodbye to anyone) and starts it again on the same
    /// port, with nothing retained and no subscriptions.
    pub fn restart(&mut self) {
        if let Some(mut g) = self.process.take() {
            g.signal("KILL");
            let _ = g.wait_exit(Duration::from_secs(5));
        }
        self.launch();
    }

    /// The CA that signed the TLS listener's certificate.
    pub fn ca_file(&self) -> PathBuf {
        self.run.join("ca.crt")
    }

    /// The broker's log.
    pub fn log_text(&self) -> String {
        std::fs::read(self.run.join("mosquitto.log"))
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    }

    fn client_args(&self, cmd: &mut Command) {
        cmd.args(["-h", "127.0.0.1", "-p", &self.port.to_string()]);
        if self.opts.password {
            cmd.args(["-u", USER, "-P", PASSWORD]);
        }
        if self.opts.tls {
            cmd.arg("--cafile").arg(self.ca_file());
        }
    }

    /// Publishes `payload` on `topic` with QoS 1 and waits for `mosquitto_pub` to finish.
    ///
    /// # Panics
    /// When the publish fails.
    pub fn publish(&self, topic: &str, payload: &str, retain: bool) {
        let mut cmd = Command::new(crate::tool("mosquitto_pub"));
        self.client_args(&mut cmd);
        cmd.args(["-q", "1", "-t", topic, "-m", payload]);
        if retain {
            cmd.arg("-r");
        }
        let out = cmd
            .output()
            .unwrap_or_else(|e| panic!("run mosquitto_pub: {e}"));
        assert!(
            out.status.success(),
            "mosquitto_pub: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Subscribes to `topic` (wildcards allowed) and returns once the broker has the
    /// subscription.
    ///
    /// # Panics
    /// When `mosquitto_sub` cannot start or the broker does not see it subscribe in 10 s.
    pub fn subscribe(&self, dir: &WorkDir, topic: &str) -> Subscriber {
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let id = format!("sub-{}-{n}", std::process::id());
        let file = dir.file(&format!("{id}.messages"));
        let out = std::fs::File::create(&file).unwrap_or_else(|e| panic!("create: {e}"));
        let mut cmd = Command::new(crate::tool("mosquitto_sub"));
        self.client_args(&mut cmd);
        // One line per message: retained flag, topic, payload.
        cmd.args(["-q", "1", "-i", &id, "-t", topic, "-F", "%r %t %p"]);
        let child = cmd
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("run mosquitto_sub: {e}"));
        let guard = Guard::new("mosquitto_sub", child);
        let needle = format!("Received SUBSCRIBE from {id}");
        let ok = wait_for(Duration::from_secs(10), Duration::from_millis(10), || {
            self.log_text().contains(&needle).then_some(())
        });
        assert!(
            ok.is_some(),
            "mosquitto_sub did not subscribe:\n{}",
            self.log_text()
        );
        dir.attach_log(file.clone());
        Subscriber {
            file,
            _process: guard,
        }
    }
}

/// One message seen by a [`Subscriber`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// It was delivered as retained (it was stored before the subscriber came).
    pub retained: bool,
    /// Its topic.
    pub topic: String,
    /// Its payload (text).
    pub payload: String,
}

/// A `mosquitto_sub` recording every message on its topic.
#[derive(Debug)]
pub struct Subscriber {
    file: PathBuf,
    _process: Guard,
}

impl Subscriber {
    /// Everything received so far, in order.
    pub fn messages(&self) -> Vec<Message> {
        let text = std::fs::read(&self.file)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default();
        text.lines()
            .filter_map(|l| {
                let (r, rest) = l.split_once(' ')?;
                let (topic, payload) = rest.split_once(' ').unwrap_or((rest, ""));
                Some(Message {
                    retained: r == "1",
                    topic: topic.to_owned(),
                    payload: payload.to_owned(),
                })
            })
            .collect()
    }

    /// Waits for a message that `pred` accepts; returns it.
    pub fn wait(&self, timeout: Duration, pred: impl Fn(&Message) -> bool) -> Option<Message> {
        wait_for(timeout, Duration::from_millis(5), || {
            self.messages().into_iter().find(|m| pred(m))
        })
    }

    /// Waits for a JSON message on `topic` whose `event` is `event`, the `n`-th such (from 1).
    pub fn wait_event(
        &self,
        topic: &str,
        event: &str,
        n: usize,
        timeout: Duration,
    ) -> Option<serde_json::Value> {
        wait_for(timeout, Duration::from_millis(5), || {
            self.messages()
                .into_iter()
                .filter(|m| m.topic == topic)
                .filter_map(|m| serde_json::from_str::<serde_json::Value>(&m.payload).ok())
                .filter(|v| v["event"] == event)
                .nth(n.saturating_sub(1))
        })
    }
}
