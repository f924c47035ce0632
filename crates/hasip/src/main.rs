//! The `hasip` binary: command line, then the shell.
#![allow(clippy::print_stdout, clippy::print_stderr)] // the CLI talks to its user here

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use hasip::config;
use hasip::shell::{self, Overrides};

/// ha-sip-rs: a Home Assistant SIP/VoIP gateway (drop-in replacement for the ha-sip add-on).
#[derive(Debug, Parser)]
#[command(version, about, args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    run: RunArgs,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the gateway (the default).
    Run(RunArgs),
    /// Check a configuration file and exit.
    CheckConfig {
        /// The options file (ha-sip's add-on schema, JSON).
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
    /// Check or try out a menu: an incoming_call_file, a menu, or a dial/answer command.
    #[command(subcommand)]
    Menu(MenuCommand),
    /// Ask the running gateway how it is: exit 0 when healthy, 1 when not, with one line
    /// saying why (for Docker's HEALTHCHECK). It finds the gateway by its SIP port, read
    /// from the same configuration `run` reads.
    Health {
        /// The options file, as for `run`.
        #[arg(long, short)]
        config: Option<PathBuf>,
        /// The gateway's SIP port, as for `run` (overrides the configuration).
        #[arg(long, value_parser = clap::value_parser!(u16).range(1..))]
        port: Option<u16>,
        /// How long to wait for the gateway's answer, in seconds.
        #[arg(long, default_value_t = 5.0)]
        timeout: f64,
    },
}

#[derive(Debug, Subcommand)]
enum MenuCommand {
    /// Validate a menu file and print its menu tree (exit code 2 on an error).
    Check {
        /// The YAML file.
        file: PathBuf,
    },
    /// Print what a caller would hear, which actions run and which events are sent.
    Simulate {
        /// The YAML file.
        file: PathBuf,
        /// Keys the caller presses (0-9 * # A-D); "," pauses 1 s, "[2.5s]" pauses that long.
        #[arg(long, default_value = "")]
        digits: String,
        /// After the digits, stay silent this many seconds, so that menu timeouts fire.
        #[arg(long, value_name = "SECONDS")]
        timeout_after: Option<f64>,
        /// Press keys while a prompt plays instead of waiting for it to end.
        #[arg(long)]
        barge_in: bool,
        /// How long every prompt plays, in seconds.
        #[arg(long, value_name = "SECONDS", default_value_t = 2.0)]
        prompt_seconds: f64,
    },
}

#[derive(Debug, Clone, clap::Args)]
struct RunArgs {
    /// The options file (ha-sip's add-on schema, JSON). Default: /data/options.json when it
    /// exists (add-on mode), else an embedded default with no accounts.
    #[arg(long, short)]
    config: Option<PathBuf>,
    /// SIP port for UDP and TCP (overrides sip_global.port).
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..))]
    port: Option<u16>,
    /// Address to bind the SIP transports to (overrides sip_global.bind_address).
    #[arg(long)]
    bind: Option<std::net::IpAddr>,
    /// Log level 0-6 as in ha-sip (overrides sip_global.log_level; RUST_LOG wins over both).
    #[arg(long, value_parser = clap::value_parser!(u8).range(0..=6))]
    log_level: Option<u8>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let args = match cli.command {
        Some(Command::CheckConfig { config }) => {
            let checked = config::load(config.as_deref()).and_then(|(o, origin)| {
                config::check(o)
                    .map(|_| origin.clone())
                    .map_err(|e| e.context(format!("configuration {origin}")))
            });
            return match checked {
                Ok(origin) => {
                    println!("{origin}: configuration is valid");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("error: {e:#}");
                    ExitCode::from(2)
                }
            };
        }
        Some(Command::Menu(command)) => return menu(command),
        Some(Command::Health {
            config,
            port,
            timeout,
        }) => return health(config.as_deref(), port, timeout),
        Some(Command::Run(args)) => args,
        None => cli.run,
    };
    let overrides = Overrides {
        port: args.port,
        bind: args.bind,
        log_level: args.log_level,
    };
    match shell::main(args.config.as_deref(), overrides) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// `hasip health`: 0 and a summary when the gateway is healthy, 1 and the reason when not.
fn health(config: Option<&std::path::Path>, port: Option<u16>, timeout: f64) -> ExitCode {
    let port = match port {
        Some(p) => p,
        None => match config::load(config) {
            Ok((o, _)) => o.sip_global.port,
            Err(e) => {
                println!("unhealthy: cannot read the configuration: {e:#}");
                return ExitCode::from(1);
            }
        },
    };
    let timeout = if timeout.is_finite() && timeout > 0.0 {
        std::time::Duration::from_secs_f64(timeout.min(3600.0))
    } else {
        std::time::Duration::from_secs(5)
    };
    match hasip::health::check(&hasip::health::socket_path(port), timeout) {
        Ok(summary) => {
            println!("healthy: {summary}");
            ExitCode::SUCCESS
        }
        Err(why) => {
            println!("unhealthy: {why}");
            ExitCode::from(1)
        }
    }
}

/// `hasip menu check|simulate`: the menu crate's loader, tree and simulator on a file.
fn menu(command: MenuCommand) -> ExitCode {
    use hasip_menu::simulate::{SimOptions, parse_script, simulate};
    use hasip_menu::{MenuFile, MenuTree};
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    let file = match &command {
        MenuCommand::Check { file } | MenuCommand::Simulate { file, .. } => file,
    };
    let name = file.display().to_string();
    let loaded = std::fs::read_to_string(file)
        .map_err(|e| format!("{name}: {e}"))
        .and_then(|text| MenuFile::from_yaml(&text, Some(&name)).map_err(|e| e.to_string()));
    let menu_file = match loaded {
        Ok(f) => f,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let tree = MenuTree::from_option(menu_file.menu());
    match command {
        MenuCommand::Check { .. } => {
            use std::fmt::Write as _;
            let mut out = format!("{name}: {} is valid\n", menu_file.kind());
            if let MenuFile::Incoming(f) = &menu_file {
                let list = |l: &[hasip_menu::NumberPattern]| {
                    l.iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join(", ")
                };
                if !f.allowed_numbers.is_empty() {
                    let _ = writeln!(out, "allowed_numbers: {}", list(&f.allowed_numbers));
                }
                if !f.blocked_numbers.is_empty() {
                    let _ = writeln!(out, "blocked_numbers: {}", list(&f.blocked_numbers));
                }
                let _ = writeln!(out, "answer_after: {}s", f.answer_after.as_secs_f64());
                for (event, id) in &f.webhook_to_call {
                    let _ = writeln!(out, "webhook_to_call: {event} -> {id}");
                }
            }
            if menu_file.menu().is_none() {
                out.push_str("(no menu: the standard menu)\n");
            }
            out.push_str(&tree.render());
            emit(&out);
            ExitCode::SUCCESS
        }
        MenuCommand::Simulate {
            digits,
            timeout_after,
            barge_in,
            prompt_seconds,
            ..
        } => {
            let seconds = |what: &str, x: f64| {
                (x.is_finite() && (0.0..=86_400.0).contains(&x))
                    .then(|| Duration::from_secs_f64(x))
                    .ok_or_else(|| format!("{what} must be between 0 and 86400 seconds, not {x}"))
            };
            let parsed = parse_script(&digits)
                .map_err(|e| format!("--digits: {e}"))
                .and_then(|steps| {
                    let after = timeout_after
                        .map(|x| seconds("--timeout-after", x))
                        .transpose()?;
                    Ok((steps, after, seconds("--prompt-seconds", prompt_seconds)?))
                });
            let (steps, after, prompt_length) = match parsed {
                Ok(p) => p,
                Err(e) => {
                    eprintln!("error: {e}");
                    return ExitCode::from(2);
                }
            };
            let options = SimOptions {
                prompt_length,
                barge_in,
                ..SimOptions::default()
            };
            emit(&simulate(
                Instant::now(),
                Arc::new(tree),
                &steps,
                after,
                options,
            ));
            ExitCode::SUCCESS
        }
    }
}

/// Writes `text` to stdout; a reader that went away (`| head`) is not an error.
fn emit(text: &str) {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
}
