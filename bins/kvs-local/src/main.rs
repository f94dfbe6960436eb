//! `kvs-local serve`: run the local Kinesis Video Streams server in the foreground.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use std::io::Write as _;

use clap::{Parser, Subcommand};
use kvs_local::{Config, Credentials, LocalCa, Server, Tls};

/// A local server that speaks the Amazon Kinesis Video Streams APIs, for offline use and tests.
///
/// Point the AWS CLI or any AWS SDK at it with `--endpoint-url` and the credentials it prints.
/// One port serves http and ws as well as https and wss (with a certificate from the data
/// directory's own CA: `kvs-local ca` says how to trust it).
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
    /// Print the data directory's certificate authority (created if missing): its file, its
    /// SHA-256 fingerprint, and how to make browsers, the AWS CLI, SDKs and the system trust it.
    Ca(CaArgs),
}

#[derive(clap::Args)]
struct CaArgs {
    /// The data directory whose CA to print (as given to `serve`).
    #[arg(long, default_value = "./kvs-data")]
    data_dir: PathBuf,
    /// Print only the CA file's path (for scripts: `AWS_CA_BUNDLE=$(kvs-local ca --path)`).
    #[arg(long)]
    path: bool,
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
    /// Serve https/wss with this certificate chain (PEM, server certificate first) instead of
    /// one from the data directory's CA.
    #[arg(long, requires = "tls_key", conflicts_with = "no_tls")]
    tls_cert: Option<PathBuf>,
    /// The private key (PEM) of --tls-cert.
    #[arg(long, requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Serve plain http and ws only.
    #[arg(long)]
    no_tls: bool,
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
    match cli.command {
        Command::Serve(args) => serve(args).await,
        Command::Ca(args) => print_ca(&args),
    }
}

fn print_ca(args: &CaArgs) -> anyhow::Result<()> {
    let ca = LocalCa::open(&args.data_dir)?;
    let path = ca.cert_path();
    let path = std::path::absolute(&path).unwrap_or(path);
    let text = if args.path {
        format!("{}\n", path.display())
    } else {
        format!(
            "kvs-local CA of {dir}\n  file:               {file}\n  SHA-256 fingerprint: {fp}\n  SPKI SHA-256:        {spki}\n\n{how}",
            dir = args.data_dir.display(),
            file = path.display(),
            fp = ca.sha256_fingerprint(),
            spki = ca.spki_sha256_base64(),
            how = trust_instructions(&path.display().to_string(), &ca.spki_sha256_base64()),
        )
    };
    let _ = std::io::stdout().lock().write_all(text.as_bytes());
    Ok(())
}

fn trust_instructions(file: &str, spki: &str) -> String {
    format!(
        "Trust it (docs/kvs-local.md has more):
  AWS CLI:          aws --ca-bundle {file} ...   or   export AWS_CA_BUNDLE={file}
  kvs and kvs-rs:   export AWS_CA_BUNDLE={file}   (or kvs --ca-bundle {file})
  Python (boto3):   export AWS_CA_BUNDLE={file} REQUESTS_CA_BUNDLE={file}
  Node.js:          export NODE_EXTRA_CA_CERTS={file}
  Debian/Ubuntu:    sudo cp {file} /usr/local/share/ca-certificates/kvs-local.crt && sudo update-ca-certificates
  Chromium/Firefox: certutil -d sql:$HOME/.pki/nssdb -A -t C,, -n kvs-local -i {file}
                    (Firefox: Settings > Certificates > Import, or certutil on its profile)
  Chromium, once:   chromium --ignore-certificate-errors-spki-list={spki}
"
    )
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
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
    config.tls = match (args.no_tls, args.tls_cert, args.tls_key) {
        (true, _, _) => Tls::Disabled,
        (false, Some(cert), Some(key)) => Tls::Files { cert, key },
        _ => Tls::LocalCa,
    };
    let server = Server::start(config).await?;
    let creds = server.credentials();
    // One write, errors ignored: whoever started us may have stopped reading stdout.
    let tls = match (server.https_url(), server.ca_file()) {
        (Some(https), Some(ca)) => format!(
            "  https, wss:        {https} (CA: {}; see kvs-local ca)\n",
            ca.display()
        ),
        (Some(https), None) => format!("  https, wss:        {https}\n"),
        (None, _) => String::new(),
    };
    let banner = format!(
        "kvs-local listening on {url}\n{tls}  data dir:          {dir}\n  region:            {region}\n  access key id:     {key}\n  secret access key: {secret}\ntry: AWS_ACCESS_KEY_ID={key} AWS_SECRET_ACCESS_KEY={secret} aws kinesisvideo list-streams --region {region} --endpoint-url {url}\n",
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
