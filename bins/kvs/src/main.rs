//! `kvs`: Amazon Kinesis Video Streams from the terminal, against AWS or the embedded kvs-local.

mod cli;
mod commands;
mod output;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("KVS_LOG")
                .unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("kvs: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let debug = cli.global.debug;
    match runtime.block_on(commands::run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("kvs: error: {}", one_sentence(&e));
            let sdk_detail = commands::service_error(&e).and_then(|se| se.detail());
            if debug {
                eprintln!("kvs: debug: {e:?}");
                if let Some(detail) = sdk_detail {
                    eprintln!("kvs: debug: SDK error: {detail}");
                }
            } else if sdk_detail.is_some() {
                eprintln!("kvs: (--debug shows the SDK's whole error)");
            }
            ExitCode::FAILURE
        }
    }
}

/// The error and its causes, each said once: a cause whose text its parent already quotes
/// is left out.
fn one_sentence(err: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in err.chain() {
        let text = cause.to_string();
        if out.contains(&text) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&text);
    }
    out
}
