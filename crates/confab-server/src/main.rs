//! The `confab` binary: argument parsing, tracing, signals. Everything else is in the library.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use confab_core::{
    app::{NewApp, Secret},
    ids::AppKey,
};
use confab_server::Config;
use serde_json::json;

#[derive(Parser)]
#[command(
    name = "confab",
    version,
    about = "A self-hosted server for the Agora Chat / Easemob SDKs"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve REST and the msync WebSocket on one listener.
    Serve(ServeArgs),
    /// Manage apps.
    #[command(subcommand)]
    App(AppCommand),
}

/// Flags and `CONFAB_*` variables override the config file (clap applies env < flag).
#[derive(Args)]
struct Common {
    /// TOML config file.
    #[arg(long, env = "CONFAB_CONFIG")]
    config: Option<PathBuf>,
    /// Directory of the embedded database.
    #[arg(long, env = "CONFAB_DATA_DIR")]
    data_dir: Option<PathBuf>,
}

#[derive(Args)]
struct ServeArgs {
    #[command(flatten)]
    common: Common,
    /// Address to listen on, e.g. 127.0.0.1:5280 (port 0 picks a free port).
    #[arg(long, env = "CONFAB_LISTEN")]
    listen: Option<SocketAddr>,
    /// Allow registering users without an app token.
    #[arg(long, env = "CONFAB_OPEN_REGISTRATION")]
    open_registration: bool,
    /// Largest total text of one message, in bytes.
    #[arg(long, env = "CONFAB_MAX_TEXT_BYTES")]
    max_text_bytes: Option<usize>,
    /// Largest WebSocket frame, in bytes.
    #[arg(long, env = "CONFAB_MAX_FRAME_BYTES")]
    max_frame_bytes: Option<usize>,
    /// Log as JSON lines instead of text.
    #[arg(long, env = "CONFAB_LOG_JSON")]
    log_json: bool,
}

#[derive(Subcommand)]
enum AppCommand {
    /// Create an app and print its credentials as JSON.
    Create(CreateAppArgs),
    /// List apps (without secrets) as JSON.
    List(Common),
}

#[derive(Args)]
struct CreateAppArgs {
    #[command(flatten)]
    common: Common,
    /// Organisation name (the part of the app key before `#`).
    #[arg(long)]
    org: String,
    /// App name (the part of the app key after `#`).
    #[arg(long)]
    name: String,
    /// Import the App ID of an app that exists on the hosted service.
    #[arg(long, requires = "app_certificate")]
    app_id: Option<String>,
    /// Import its primary app certificate (so its app server's tokens keep working).
    #[arg(long, requires = "app_id")]
    app_certificate: Option<String>,
}

impl Common {
    fn config(&self) -> anyhow::Result<Config> {
        let mut config = Config::load(self.config.as_deref())?;
        if let Some(data_dir) = &self.data_dir {
            config.data_dir.clone_from(data_dir);
        }
        Ok(config)
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(args) => serve(args).await,
        Command::App(AppCommand::Create(args)) => {
            init_tracing(false);
            let config = args.common.config()?;
            let key = AppKey::new(&args.org, &args.name)
                .context("org and app names are 1-64 characters of letters, digits, - _ .")?;
            let imported = args.app_id.zip(args.app_certificate.map(Secret::new));
            let app = confab_server::create_app(&config, NewApp { key, imported }).await?;
            print_json(&json!({
                "orgName": app.key.org(),
                "appName": app.key.app(),
                "appKey": app.key.to_string(),
                "appId": app.app_id,
                "appCertificate": app.signing_certificate(),
                "clientId": app.client_id,
                "clientSecret": app.client_secret.expose(),
            }));
            Ok(())
        }
        Command::App(AppCommand::List(common)) => {
            init_tracing(false);
            let apps = confab_server::list_apps(&common.config()?).await?;
            let listing: Vec<_> = apps
                .iter()
                .map(|app| {
                    json!({
                        "orgName": app.key.org(),
                        "appName": app.key.app(),
                        "appKey": app.key.to_string(),
                        "appId": app.app_id,
                        "clientId": app.client_id,
                        "created": app.created_ms,
                    })
                })
                .collect();
            print_json(&json!(listing));
            Ok(())
        }
    }
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    init_tracing(args.log_json);
    let mut config = args.common.config()?;
    if let Some(listen) = args.listen {
        config.listen = listen;
    }
    if args.open_registration {
        config.open_registration = true;
    }
    if let Some(max_text_bytes) = args.max_text_bytes {
        config.max_text_bytes = max_text_bytes;
    }
    if let Some(max_frame_bytes) = args.max_frame_bytes {
        config.max_frame_bytes = max_frame_bytes;
    }
    config.validate()?;
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    confab_server::run(
        config,
        listener,
        |address| print_line(&format!("confab listening on http://{address}")),
        shutdown_signal(),
    )
    .await?;
    Ok(())
}

/// Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
}

/// Logs go to stderr so stdout stays machine-readable (JSON, the readiness line).
fn init_tracing(json: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("CONFAB_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}

#[allow(clippy::print_stdout)] // the CLI's output
fn print_line(line: &str) {
    println!("{line}");
}

fn print_json(value: &serde_json::Value) {
    print_line(&value.to_string());
}
