//! Each subcommand: parse its arguments into library types, call the library, print.

mod channel;
mod endpoint;
mod faces;
mod media;
mod put;
mod stream;
mod webrtc;

use anyhow::Context as _;
use kvs_endpoint::{ErrorKind, KvsConfig, LoadOptions, ServiceError, Target};

use crate::cli::{Cli, Command, GlobalArgs, WebrtcCommand};

pub(crate) async fn run(cli: Cli) -> anyhow::Result<()> {
    let config = connect(&cli.global).await?;
    let format = cli.global.output;
    let result = dispatch(&config, format, cli.command).await;
    // A request that got no answer: say where it was sent.
    result.map_err(|e| match service_error(&e) {
        Some(se) if se.kind() == ErrorKind::Transport => {
            e.context(format!("no answer from {}", config.target()))
        }
        Some(se) if se.kind() == ErrorKind::Certificate => {
            e.context(format!("cannot connect securely to {}", config.target()))
        }
        _ => e,
    })
}

/// The first service error in `err`'s chain.
pub(crate) fn service_error(err: &anyhow::Error) -> Option<&ServiceError> {
    err.chain().find_map(|e| e.downcast_ref::<ServiceError>())
}

async fn dispatch(
    config: &KvsConfig,
    format: crate::cli::OutputFormat,
    command: Command,
) -> anyhow::Result<()> {
    match command {
        Command::Stream(cmd) => stream::run(config, format, cmd).await,
        Command::Channel(cmd) => channel::run(config, format, cmd).await,
        Command::Endpoint(args) => endpoint::run(config, format, args).await,
        Command::GetMedia(args) => media::get_media(config, format, args).await,
        Command::Fragments(args) => media::fragments(config, format, args).await,
        Command::Clip(args) => media::clip(config, format, args).await,
        Command::Put(args) => put::run(config, format, args).await,
        Command::HlsUrl(args) => media::session_url(config, format, args, false).await,
        Command::DashUrl(args) => media::session_url(config, format, args, true).await,
        Command::Images(args) => media::images(config, format, args).await,
        Command::Faces(cmd) => faces::run(config, format, cmd).await,
        Command::Webrtc(WebrtcCommand::Master(args)) => webrtc::master(config, format, args).await,
        Command::Webrtc(WebrtcCommand::Viewer(args)) => webrtc::viewer(config, format, args).await,
    }
}

/// Loads the configuration and says so on stderr when it is kvs-local.
async fn connect(global: &GlobalArgs) -> anyhow::Result<KvsConfig> {
    let mut opts = LoadOptions::default();
    opts.region = global.region.clone();
    opts.profile = global.profile.clone();
    opts.endpoint_url = global.endpoint_url.clone();
    opts.local_data_dir = global.local_data_dir.clone();
    opts.ca_bundle = global.ca_bundle.clone();
    let config = KvsConfig::load(opts)
        .await
        .context("cannot configure the AWS client")?;
    if let Target::Local { .. } = config.target() {
        eprintln!("kvs: using {}", config.target());
    }
    Ok(config)
}
