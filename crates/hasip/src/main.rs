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

/// `hasip menu check|simulate`: the menu crate's loader, tree and simulator on a file
/// (`hasip::menu_tool`, which the dashboard page runs too).
fn menu(command: MenuCommand) -> ExitCode {
    use hasip::menu_tool::{Caller, check, simulate};

    let file = match &command {
        MenuCommand::Check { file } | MenuCommand::Simulate { file, .. } => file,
    };
    let name = file.display().to_string();
    let text = match std::fs::read_to_string(file) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: {name}: {e}");
            return ExitCode::from(2);
        }
    };
    let result = match command {
        MenuCommand::Check { .. } => check(&text, &name),
        MenuCommand::Simulate {
            digits,
            timeout_after,
            barge_in,
            prompt_seconds,
            ..
        } => simulate(
            &text,
            &name,
            &Caller {
                digits,
                timeout_after,
                barge_in,
                prompt_seconds,
            },
            std::time::Instant::now(),
        ),
    };
    match result {
        Ok(out) => {
            emit(&out);
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

/// Writes `text` to stdout; a reader that went away (`| head`) is not an error.
fn emit(text: &str) {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
}
