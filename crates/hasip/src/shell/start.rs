//! Start-up: bind the SIP listeners, build the engine and the shell's I/O, open every
//! input the loop waits on, and start the engine (registrations) before the first turn.

use super::*;
use crate::health;

/// Everything the loop works with: the engine, the shell's I/O, the listeners, every
/// input channel, the signals and the loop's own timer and shutdown deadline.
pub(super) struct Shell {
    pub(super) engine: Engine,
    pub(super) io: Io,
    pub(super) tcp_listener: Option<TcpListener>,
    pub(super) tls_listener: Option<(TcpListener, tokio_rustls::TlsAcceptor)>,
    pub(super) inputs: Inputs,
    pub(super) sigterm: tokio::signal::unix::Signal,
    pub(super) sigint: tokio::signal::unix::Signal,
    pub(super) stdin_task: tokio::task::JoinHandle<()>,
    /// The health socket, served while this lives.
    pub(super) _health: Option<health::Server>,
    /// One timer, moved only when the deadline changes: re-creating it on every turn of
    /// the loop (every RTP packet) would insert and remove a timer-wheel entry each time.
    pub(super) timer: std::pin::Pin<Box<tokio::time::Sleep>>,
    pub(super) armed: Option<tokio::time::Instant>,
    /// When to give memory back (after start, the last call, a busy spell).
    pub(super) give_back: GiveBack,
    /// Set once shutdown has begun: leave when the engine is idle or at this instant.
    pub(super) shutdown_deadline: Option<tokio::time::Instant>,
    pub(super) buf: Vec<u8>,
}

/// The channels the loop receives on, each from the task or callback that feeds it.
pub(super) struct Inputs {
    pub(super) conn_rx: mpsc::Receiver<ConnEvent>,
    pub(super) rtp_rx: mpsc::Receiver<RtpIn>,
    pub(super) audio_rx: mpsc::Receiver<Fetched>,
    pub(super) resolve_rx: mpsc::Receiver<Resolved>,
    pub(super) stun_rx: mpsc::Receiver<StunBound>,
    pub(super) stdin_rx: mpsc::Receiver<StdinEvent>,
    pub(super) stdin_open: bool,
    pub(super) mqtt_rx: mpsc::Receiver<hasip_bus::mqtt::MqttIn>,
    /// MQTT's handle when it waits for the Supervisor's broker details.
    pub(super) mqtt_later: Option<tokio::sync::oneshot::Receiver<hasip_bus::mqtt::MqttHandle>>,
    pub(super) health_rx: mpsc::Receiver<health::Request>,
    /// Commands from the dashboard page.
    pub(super) web_rx: mpsc::Receiver<crate::web::WebRequest>,
    /// Browsers talking in calls.
    pub(super) talk_rx: mpsc::Receiver<crate::talk::TalkEvent>,
    /// What Assist's turns report.
    pub(super) assist_rx: mpsc::Receiver<crate::assist::AssistMsg>,
}

/// Binds, builds and starts everything; the gateway answers SIP once this returns.
pub(super) async fn start(checked: &Checked) -> anyhow::Result<Shell> {
    let g = &checked.options.sip_global;
    let addr = SocketAddr::new(g.bind_address, g.port);
    let udp = if checked.global.udp {
        Some(
            UdpSocket::bind(addr)
                .await
                .with_context(|| format!("cannot bind SIP UDP on {addr} (sip_global.port)"))?,
        )
    } else {
        None
    };
    let tcp_listener = if checked.global.tcp {
        Some(
            TcpListener::bind(addr)
                .await
                .with_context(|| format!("cannot bind SIP TCP on {addr} (sip_global.port)"))?,
        )
    } else {
        None
    };
    let tls_listener = tls_listener(checked).await?;
    let sigterm = signal(SignalKind::terminate()).context("cannot handle SIGTERM")?;
    let sigint = signal(SignalKind::interrupt()).context("cannot handle SIGINT")?;

    let towards = checked.accounts.iter().find_map(|(_, a, _, _)| {
        hasip_sip::dialog::uri_of(&a.registrar_uri)
            .and_then(|u| u.as_sip().and_then(|s| s.host.ip()))
    });
    let adv = advertised_ip(g.bind_address, towards);
    warn_ignored_flags(checked);
    let mut rng = hasip_sip::rng::Rng::from_seed(os_seed()?);
    let stun = stun_at_start(checked, udp.as_ref(), &mut rng).await?;
    let mut local = Vec::new();
    if udp.is_some() {
        local.push((
            Transport::Udp,
            stun.sip.unwrap_or(SocketAddr::new(adv, g.port)),
        ));
    }
    if tcp_listener.is_some() {
        local.push((Transport::Tcp, SocketAddr::new(adv, g.port)));
    }
    // Without a listener (no certificate given), requests and calls come back over the TLS
    // connection we opened, as registrars route them (RFC 5626 style).
    local.push((
        Transport::Tls,
        SocketAddr::new(adv, checked.global.tls_port),
    ));
    let mut engine = Engine::with_rng(engine_config(checked, local, adv), rng.fork());

    let (conn_tx, conn_rx) = mpsc::channel::<ConnEvent>(1024);
    let (rtp_tx, rtp_rx) = mpsc::channel::<RtpIn>(4096);
    let (audio_tx, audio_rx) = mpsc::channel::<Fetched>(64);
    let ha = Ha::start(&checked.options, config::env_lookup);
    let sensors = match (&ha, checked.options.sensors.enabled) {
        (Some(ha), true) => {
            let mut numbers: Vec<u8> = checked.accounts.iter().map(|(n, ..)| *n).collect();
            numbers.extend(checked.broken.iter().map(|(n, ..)| *n));
            numbers.sort_unstable();
            Some(crate::sensors::Sensors::start(
                checked.options.sensors.prefix(),
                ha,
                &numbers,
            ))
        }
        (None, true) => {
            tracing::warn!("sensors.enabled, but Home Assistant is not configured: no sensors");
            None
        }
        _ => None,
    };
    let (mqtt_tx, mqtt_rx) = mpsc::channel::<hasip_bus::mqtt::MqttIn>(256);
    let (mqtt_now, mqtt_later) = match mqtt::start(
        &checked.options,
        config::env_lookup,
        rng.next_u64(),
        mqtt_tx,
    )? {
        mqtt::Start::Off => (None, None),
        mqtt::Start::Ready(h) => (Some(h), None),
        mqtt::Start::Pending(rx) => (None, Some(rx)),
    };
    let (talk_tx, talk_rx) = mpsc::channel::<crate::talk::TalkEvent>(256);
    let (assist_tx, assist_rx) = mpsc::channel::<crate::assist::AssistMsg>(64);
    let (resolve_tx, resolve_rx) = mpsc::channel::<Resolved>(64);
    let (stun_tx, stun_rx) = mpsc::channel::<StunBound>(64);
    let name_servers = crate::dns::parse_servers(&g.name_server).map_err(anyhow::Error::msg)?;
    let mut io = Io {
        udp,
        bind_ip: g.bind_address,
        conns: HashMap::new(),
        accepted: HashMap::new(),
        per_source: HashMap::new(),
        refused_conns: (0, None),
        by_addr: HashMap::new(),
        names: HashMap::new(),
        tls: None,
        tls_verify: checked.global.tls_verify_server,
        next_conn: 0,
        conn_tx,
        rtp: HashMap::new(),
        rtp_tx,
        rtp_ports: checked.global.rtp_ports.clone(),
        stun_media: stun.media,
        stun_tx,
        released: Vec::new(),
        recorders: HashMap::new(),
        rtp_dropped: 0,
        ha,
        mqtt: mqtt_now,
        sensors,
        audio_cache: audio::Cache::default(),
        audio_tx,
        resolve_tx,
        name_servers,
        rng,
        quit: false,
        status: crate::status::Status::new(
            checked
                .accounts
                .iter()
                .map(|(n, a, _, _)| (*n, a.id_uri.clone(), !a.registrar_uri.trim().is_empty())),
        ),
        discovery: (checked.options.mqtt.enabled && checked.options.mqtt.discovery)
            .then(|| mqtt::discovery(&checked.options)),
        registration_notices: crate::notify::Registrations::default(),
        web: None,
        web_ingress: false,
        advertised: adv,
        talks: HashMap::new(),
        talk_tx,
        assists: crate::assist::Links::new(assist_tx),
    };
    let (web_tx, web_rx) = mpsc::channel::<crate::web::WebRequest>(16);
    if let Some(mut config) = crate::web::config(config::env_lookup).map_err(anyhow::Error::msg)? {
        config.menus = checked
            .accounts
            .iter()
            .filter(|(_, a, _, _)| !a.incoming_call_file.trim().is_empty())
            .map(|(n, a, _, _)| (*n, a.incoming_call_file.clone()))
            .collect();
        io.web_ingress = matches!(config.access, crate::web::Access::Ingress(_));
        io.web = crate::web::Web::start(config, web_tx).await;
    }
    io.web_accounts();
    report_broken_accounts(&mut io, &checked.broken);
    let (health_tx, health_rx) = mpsc::channel::<crate::health::Request>(8);
    let health = crate::health::serve(crate::health::socket_path(g.port), health_tx);
    let (stdin_tx, stdin_rx) = mpsc::channel::<StdinEvent>(64);
    let stdin_task = tokio::spawn(stdin::read_lines(stdin_tx));

    tracing::info!(%addr, advertised = %adv, udp = io.udp.is_some(), tcp = tcp_listener.is_some(), "SIP ready");
    engine.start(Instant::now());
    for (data, from) in stun.strays {
        let peer = Peer {
            transport: Transport::Udp,
            addr: from,
            connection: None,
        };
        engine.handle_sip(Instant::now(), peer, data);
    }
    drain(&mut engine, &mut io).await;
    Ok(Shell {
        engine,
        io,
        tcp_listener,
        tls_listener,
        inputs: Inputs {
            conn_rx,
            rtp_rx,
            audio_rx,
            resolve_rx,
            stun_rx,
            stdin_rx,
            stdin_open: true,
            mqtt_rx,
            mqtt_later,
            health_rx,
            web_rx,
            talk_rx,
            assist_rx,
        },
        sigterm,
        sigint,
        stdin_task,
        _health: health,
        timer: Box::pin(tokio::time::sleep_until(tokio::time::Instant::now())),
        armed: None,
        give_back: GiveBack::new(),
        shutdown_deadline: None,
        buf: vec![0u8; 65_536],
    })
}
