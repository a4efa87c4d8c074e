//! The `playcast` command: the service, pipeline-file tools and benchmarks.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};

use playcast::config::Config;
use playcast::media::check::check_file;
use playcast::media::policy::ElementPolicy;
use playcast::media::select::{GstProbe, GstRegistry};
use playcast::media::stream::StreamOptions;
use playcast::server::Service;

#[derive(Parser)]
#[command(name = "playcast", version, about = "Cloud-gaming media pipeline service")]
struct Cli {
    /// Configuration file layered over the embedded defaults.
    #[arg(long, global = true, env = "PLAYCAST_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the service.
    Serve {
        /// Address to bind, overriding server.listen.
        #[arg(long)]
        listen: Option<std::net::SocketAddr>,
        /// Pipelines folder, overriding media.pipelines_dir.
        #[arg(long)]
        pipelines: Option<PathBuf>,
        /// Draw capture-time stamps into every frame (latency measurement).
        #[arg(long)]
        stamp: bool,
        /// Bare senders: no congestion-control feedback, no retransmission, no
        /// frame-dropping queue. Only the benchmark's baseline uses it.
        #[arg(long, hide = true)]
        bare: bool,
        /// The adaptive-bitrate element estimates but never acts: the
        /// adaptive-bitrate benchmark's comparison.
        #[arg(long, hide = true)]
        abr_estimate_only: bool,
    },
    /// Pipeline description files.
    Pipeline {
        #[command(subcommand)]
        command: PipelineCommand,
    },
    /// Mint a token from the development issuer (only when no real issuer is configured).
    Token {
        /// User id (`sub`).
        #[arg(long)]
        user: String,
        /// admin, player or viewer.
        #[arg(long, default_value = "player")]
        role: playcast::auth::Role,
        /// Lifetime in seconds.
        #[arg(long, default_value_t = 3600, value_parser = clap::value_parser!(u64).range(1..=86400 * 30))]
        ttl: u64,
    },
    /// Configuration.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
}

#[derive(Subcommand)]
enum PipelineCommand {
    /// Validate files (default: every file in the pipelines folder); exits non-zero on any error.
    Check { files: Vec<PathBuf> },
    /// Show each file and whether it can run on this machine.
    List,
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Validate the configuration (defaults, --config file, PLAYCAST__ variables).
    Check,
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "playcast=info,warp=warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {}", causes(&e));
            ExitCode::from(2)
        }
    }
}

/// `a: b: c`, each cause once. Our errors keep their cause out of their own
/// message; some libraries' (sea-orm over sqlx) also write it into theirs, and
/// `{:#}` would print it again for every level.
fn causes(e: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in e.chain().map(ToString::to_string) {
        if text.contains(&cause) {
            continue;
        }
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&cause);
    }
    text
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let config = || Config::load(cli.config.as_deref(), &ElementPolicy::check_config).context("loading configuration");
    match cli.command {
        Command::Serve { listen, pipelines, stamp, bare, abr_estimate_only } => {
            let mut config = config()?;
            if let Some(l) = listen {
                config.server.listen = l;
            }
            if let Some(p) = pipelines {
                config.media.pipelines_dir = p;
            }
            let rt = tokio::runtime::Runtime::new().context("starting the async runtime")?;
            rt.block_on(serve(config, StreamOptions { stamp, bare, abr_estimate_only, ..Default::default() }))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Pipeline { command } => {
            let config = config()?;
            playcast::media::init().context("initialising GStreamer")?;
            let files = match &command {
                PipelineCommand::Check { files } if !files.is_empty() => files.clone(),
                _ => pipeline_files(&config.media.pipelines_dir)?,
            };
            let probe = GstProbe::default();
            let policy = ElementPolicy::from_config(&config.media)?;
            let mut failed = false;
            // Names in one column, however long the longest is.
            let width = files.iter().filter_map(|f| f.file_stem()).map(|s| s.len()).max().unwrap_or(0).max(20);
            for f in files {
                let report = check_file(&f, &GstRegistry, &probe, &policy);
                failed |= !report.ok();
                match command {
                    PipelineCommand::Check { .. } => print!("{}", report.render()),
                    PipelineCommand::List => {
                        let status = match (report.ok(), report.runnable) {
                            (false, _) => "invalid",
                            (true, true) => "runs here",
                            (true, false) => "cannot run here",
                        };
                        let encoder = report.selection.as_ref().and_then(|s| s.chosen_element()).unwrap_or("-");
                        let desc = report.spec.as_ref().map(|s| s.description.as_str()).unwrap_or("");
                        println!("{:<width$} {:<16} {:<12} {}", report.name, status, encoder, desc);
                    }
                }
            }
            Ok(if failed { ExitCode::FAILURE } else { ExitCode::SUCCESS })
        }
        Command::Token { user, role, ttl } => {
            let config = config()?;
            if !config.auth.dev_issuer_active() {
                anyhow::bail!("{}", playcast::auth::AuthError::DevIssuerOff);
            }
            if user.is_empty() || user.len() > 256 {
                anyhow::bail!("--user must be 1 to 256 characters");
            }
            let issuer = playcast::auth::dev::DevIssuer::load_or_create(&config.server.data_dir)?;
            println!("{}", issuer.mint(&user, role, std::time::Duration::from_secs(ttl))?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Config { command: ConfigCommand::Check } => {
            let c = config()?;
            println!(
                "configuration ok (listen {}, pipelines {}, games {})",
                c.server.listen,
                c.media.pipelines_dir.display(),
                c.sessions.games_file.display()
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn pipeline_files(dir: &std::path::Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    Ok(files)
}

async fn serve(config: Config, options: StreamOptions) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(config.server.listen)
        .await
        .with_context(|| format!("binding {}", config.server.listen))?;
    let addr = listener.local_addr()?;
    let (dev_issuer, open_dev_issuer) = (config.auth.dev_issuer_active(), config.auth.insecure_dev_issuer_on_network);
    let issuers = config.auth.issuers.clone();
    let service = Service::start(config, options).await.context("starting the service")?;
    let host = if addr.ip().is_unspecified() { "127.0.0.1".to_string() } else { addr.ip().to_string() };
    println!("Playcast is running. Open http://{host}:{}/ in a browser.", addr.port());
    let reach = if addr.ip().is_loopback() {
        format!("listening on {addr}: reachable from this machine only")
    } else {
        format!("listening on {addr}: reachable from the network")
    };
    if !dev_issuer {
        println!("Auth: tokens from the configured issuer ({}); {reach}.", issuers.join(", "));
    } else if open_dev_issuer {
        println!("Auth: DEVELOPMENT ISSUER OPEN TO THE NETWORK (auth.insecure_dev_issuer_on_network): anyone who");
        println!("      can reach {addr} can sign in as any user, admin included; {reach}.");
        tracing::warn!(%addr, "the development issuer mints tokens for any client on the network");
    } else {
        println!("Auth: development issuer, signing in loopback clients only; {reach}.");
        println!("No login is needed to watch from this machine; streams start when the page opens.");
        println!("API tokens come from the development issuer: playcast token --user NAME --role admin|player|viewer");
    }
    let shutdown = async {
        let mut term =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("SIGTERM handler");
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
        tracing::info!("shutting down");
    };
    service.serve(listener, shutdown).await;
    Ok(())
}
