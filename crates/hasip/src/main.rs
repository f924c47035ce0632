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
            return match config::load(config.as_deref()) {
                Ok((_, origin)) => {
                    println!("{origin}: configuration is valid");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("error: {e:#}");
                    ExitCode::from(2)
                }
            };
        }
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
