//! The `confab` binary: argument parsing, tracing, signals. Everything else is in the library.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use confab_core::{
    app::{NewApp, Secret},
    ids::AppKey,
};
use confab_server::{config::TlsConfig, Config, Listeners};
use serde_json::json;

#[derive(Parser)]
#[command(
    name = "confab",
    version = concat!(env!("CARGO_PKG_VERSION"), " (", env!("CONFAB_BUILD"), ")"),
    about = "A self-hosted server for the Agora Chat / Easemob SDKs"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve REST and the msync WebSocket (plain HTTP, plus https/wss with TLS configured).
    Serve(ServeArgs),
    /// Manage apps.
    #[command(subcommand)]
    App(AppCommand),
    /// Manage console administrators.
    #[command(subcommand)]
    Admin(AdminCommand),
}

#[derive(Subcommand)]
enum AdminCommand {
    /// Create a console administrator (the password is read from standard input).
    Create(CreateAdminArgs),
}

#[derive(Args)]
struct CreateAdminArgs {
    #[command(flatten)]
    common: Common,
    /// The administrator's username.
    #[arg(long)]
    username: String,
    /// Read the password from the first line of standard input (required: never a flag).
    #[arg(long, required = true)]
    password_stdin: bool,
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
    /// Largest attachment upload, in bytes.
    #[arg(long, env = "CONFAB_MAX_ATTACHMENT_BYTES")]
    max_attachment_bytes: Option<u64>,
    /// The ffmpeg that extracts video first frames; empty disables them.
    #[arg(long, env = "CONFAB_VIDEO_FRAME_TOOL")]
    video_frame_tool: Option<String>,
    /// Largest WebSocket frame, in bytes.
    #[arg(long, env = "CONFAB_MAX_FRAME_BYTES")]
    max_frame_bytes: Option<usize>,
    /// Log as JSON lines instead of text.
    #[arg(long, env = "CONFAB_LOG_JSON")]
    log_json: bool,
    /// Also serve https/wss on this address (with --tls-cert and --tls-key).
    #[arg(long, env = "CONFAB_TLS_LISTEN", value_name = "ADDR", requires_all = ["tls_cert", "tls_key"])]
    tls_listen: Option<SocketAddr>,
    /// PEM certificate chain for --tls-listen, leaf first.
    #[arg(long, env = "CONFAB_TLS_CERT", value_name = "FILE", requires_all = ["tls_listen", "tls_key"])]
    tls_cert: Option<PathBuf>,
    /// PEM private key for --tls-listen (PKCS#8, RSA or SEC1).
    #[arg(long, env = "CONFAB_TLS_KEY", value_name = "FILE", requires_all = ["tls_listen", "tls_cert"])]
    tls_key: Option<PathBuf>,
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

/// jemalloc: with glibc's allocator, malloc and free took ~10 % of the CPU time per message
/// (bench/FINDINGS.md).
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

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
        Command::Admin(AdminCommand::Create(args)) => {
            init_tracing(false);
            let config = args.common.config()?;
            let mut password = String::new();
            std::io::stdin()
                .read_line(&mut password)
                .context("cannot read the password from standard input")?;
            let password = password.trim_end_matches(['\r', '\n']).to_owned();
            confab_server::create_admin(&config, &args.username, password).await?;
            print_json(&json!({ "created": args.username.to_ascii_lowercase() }));
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
    if let Some(max_attachment_bytes) = args.max_attachment_bytes {
        config.max_attachment_bytes = max_attachment_bytes;
    }
    if let Some(video_frame_tool) = args.video_frame_tool {
        config.video_frame_tool = video_frame_tool;
    }
    if let Some(max_frame_bytes) = args.max_frame_bytes {
        config.max_frame_bytes = max_frame_bytes;
    }
    if let (Some(listen), Some(cert_file), Some(key_file)) =
        (args.tls_listen, args.tls_cert, args.tls_key)
    {
        config.tls = Some(TlsConfig {
            listen,
            cert_file,
            key_file,
        });
    }
    config.validate()?;
    let http = bind(config.listen).await?;
    let tls = match &config.tls {
        Some(tls) => Some(bind(tls.listen).await?),
        None => None,
    };
    let tls_address = tls
        .as_ref()
        .map(|listener| listener.local_addr())
        .transpose()?;
    confab_server::run(
        config,
        Listeners { http, tls },
        |address| {
            // Tests parse the first line; the https line follows only with TLS.
            print_line(&format!("confab listening on http://{address}"));
            if let Some(tls_address) = tls_address {
                print_line(&format!("confab listening on https://{tls_address}"));
            }
        },
        shutdown_signal(),
    )
    .await?;
    Ok(())
}

async fn bind(address: SocketAddr) -> anyhow::Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(address)
        .await
        .with_context(|| format!("cannot listen on {address}"))
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
