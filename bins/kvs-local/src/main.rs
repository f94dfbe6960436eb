//! `kvs-local serve`: run the local Kinesis Video Streams server in the foreground.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use std::io::Write as _;

use clap::{Parser, Subcommand};
use kvs_local::{Config, Credentials, Server};

/// A local server that speaks the Amazon Kinesis Video Streams APIs, for offline use and tests.
///
/// Point the AWS CLI or any AWS SDK at it with `--endpoint-url` and the credentials it prints.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve until interrupted (Ctrl-C or SIGTERM).
    Serve(ServeArgs),
}

#[derive(clap::Args)]
struct ServeArgs {
    /// Address to listen on.
    #[arg(long, default_value_t = SocketAddr::from(([127, 0, 0, 1], Config::DEFAULT_PORT)))]
    addr: SocketAddr,
    /// Directory for the database and media; created if missing.
    #[arg(long, default_value = "./kvs-data")]
    data_dir: PathBuf,
    /// Access key id clients must sign with.
    #[arg(long, env = "KVS_LOCAL_ACCESS_KEY_ID", default_value = Credentials::DEFAULT_ACCESS_KEY_ID)]
    access_key_id: String,
    /// Secret access key clients must sign with.
    #[arg(long, env = "KVS_LOCAL_SECRET_ACCESS_KEY", default_value = Credentials::DEFAULT_SECRET_ACCESS_KEY, hide_default_value = true)]
    secret_access_key: String,
    /// Region written into ARNs.
    #[arg(long, default_value = Config::DEFAULT_REGION)]
    region: kvs_types::Region,
    /// Account id written into ARNs.
    #[arg(long, default_value = Config::DEFAULT_ACCOUNT_ID)]
    account_id: kvs_types::AccountId,
    /// UDP port of the TURN/STUN server for WebRTC (on the same IP as --addr; 0 picks one).
    #[arg(long, default_value_t = 0)]
    turn_port: u16,
    /// Directory of the face models (default: $KVS_FACE_MODELS or
    /// ~/.local/share/kvs-rs/models, filled by scripts/fetch-models).
    #[arg(long)]
    face_models: Option<PathBuf>,
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "kvs_local=info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("kvs-local: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("kvs-local: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let Command::Serve(args) = cli.command;
    let mut config = Config::new(args.data_dir);
    config.addr = args.addr;
    config.credentials = Credentials {
        access_key_id: args.access_key_id,
        secret_access_key: args.secret_access_key,
    };
    config.region = args.region;
    config.account_id = args.account_id;
    config.turn_port = args.turn_port;
    config.face_models = args.face_models;
    let server = Server::start(config).await?;
    let creds = server.credentials();
    // One write, errors ignored: whoever started us may have stopped reading stdout.
    let banner = format!(
        "kvs-local listening on {url}\n  data dir:          {dir}\n  region:            {region}\n  access key id:     {key}\n  secret access key: {secret}\ntry: AWS_ACCESS_KEY_ID={key} AWS_SECRET_ACCESS_KEY={secret} aws kinesisvideo list-streams --region {region} --endpoint-url {url}\n",
        url = server.url(),
        dir = server.data_dir().display(),
        region = server.region(),
        key = creds.access_key_id,
        secret = creds.secret_access_key,
    );
    let mut stdout = std::io::stdout().lock();
    let _ = stdout.write_all(banner.as_bytes());
    let _ = stdout.flush();
    drop(stdout);
    wait_for_stop_signal().await;
    eprintln!("kvs-local: stopping");
    server.shutdown().await;
    Ok(())
}

async fn wait_for_stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}
