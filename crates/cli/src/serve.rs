//! `roster serve` and `roster token`.

use clap::Args;
use roster_server::{AppState, ServerConfig};
use roster_store::{Store, redact_url};
use std::future::Future;
use std::net::SocketAddr;
use std::process::ExitCode;

#[derive(Debug, Args)]
pub struct DatabaseArg {
    /// Database URL: sqlite://PATH (created if missing) or postgres://USER@HOST/DB.
    #[arg(long, env = "ROSTER_DATABASE_URL", default_value = "sqlite://roster.db")]
    pub database: String,
    /// The file holding the key that seals the apps' credentials in the database (made if it does not exist
    /// while nothing is sealed). Default for SQLite: DATABASE.key beside the database file; PostgreSQL needs it,
    /// the same file for every process.
    #[arg(long, env = "ROSTER_SECRET_KEY_FILE")]
    pub secret_key_file: Option<std::path::PathBuf>,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "ROSTER_LISTEN", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// The URL clients reach roster at (used in Location headers and meta.location); defaults to
    /// http://LISTEN.
    #[arg(long, env = "ROSTER_PUBLIC_URL")]
    public_url: Option<String>,
    /// Do not run the provisioning engine in this process (serve SCIM only).
    #[arg(long, env = "ROSTER_NO_ENGINE")]
    no_engine: bool,
    /// Refuse (429 with Retry-After) a client whose requests fail by its own mistake at this rate (percent)
    /// within --client-window; 0 turns inbound quarantine off. See `roster client list`.
    #[arg(long, env = "ROSTER_CLIENT_ERROR_PERCENT", default_value = "40")]
    client_error_percent: u32,
    /// The fewest requests in the window before a client's error rate counts.
    #[arg(long, env = "ROSTER_CLIENT_MIN_REQUESTS", default_value = "20")]
    client_min_requests: u32,
    /// The window a client's error rate is measured over, in seconds.
    #[arg(long, env = "ROSTER_CLIENT_WINDOW", default_value = "60")]
    client_window: u32,
    /// How long a client is refused the first time, in seconds; doubled for each further trip in a row.
    #[arg(long, env = "ROSTER_CLIENT_REFUSE", default_value = "60")]
    client_refuse: u32,
    /// The longest refusal, in seconds.
    #[arg(long, env = "ROSTER_CLIENT_MAX_REFUSE", default_value = "3600")]
    client_max_refuse: u32,
    /// How long a client stays on probation after a refusal, in seconds (times its trips in a row).
    #[arg(long, env = "ROSTER_CLIENT_PROBATION", default_value = "600")]
    client_probation: u32,
    /// The error rate (percent) that refuses a client on probation again.
    #[arg(long, env = "ROSTER_CLIENT_PROBATION_PERCENT", default_value = "20")]
    client_probation_percent: u32,
    /// Days the provisioning log keeps its entries (pruned hourly by the engine); 0 keeps them forever.
    #[arg(long, env = "ROSTER_LOG_RETENTION_DAYS", default_value = "90")]
    log_retention_days: u32,
    /// Serve HTTPS with this PEM certificate chain (leaf first); needs --tls-key. Identity providers push only
    /// to https URLs: use this, or a reverse proxy that terminates TLS in front of roster.
    #[arg(long, env = "ROSTER_TLS_CERT", requires = "tls_key")]
    tls_cert: Option<std::path::PathBuf>,
    /// The PEM private key of --tls-cert.
    #[arg(long, env = "ROSTER_TLS_KEY", requires = "tls_cert")]
    tls_key: Option<std::path::PathBuf>,
    /// Seconds a connection may take to send a request's headers, and may stay idle between requests.
    #[arg(long, env = "ROSTER_HEADER_TIMEOUT", default_value = "20", value_parser = clap::value_parser!(u64).range(1..=3600))]
    header_timeout: u64,
    /// Seconds from a request's headers to its answer (a slow body included); 408 after that.
    #[arg(long, env = "ROSTER_REQUEST_TIMEOUT", default_value = "60", value_parser = clap::value_parser!(u64).range(1..=86400))]
    request_timeout: u64,
    /// Most connections open at once; more are answered 503 and closed.
    #[arg(long, env = "ROSTER_MAX_CONNECTIONS", default_value = "1024", value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    max_connections: u64,
    #[command(flatten)]
    db: DatabaseArg,
}

/// Runs the server on a multi-threaded runtime: its requests use every core.
pub fn block_on_server<E: From<String>>(
    fut: impl Future<Output = Result<ExitCode, E>>,
) -> Result<ExitCode, E> {
    run_on(tokio::runtime::Builder::new_multi_thread(), fut)
}

/// Runs a command (`sync`, `import`, `provision`, …) on this thread alone. Its work waits on the target and on
/// the database (whose connections have threads of their own), so one thread drives it, and tasks woken on one
/// thread are never handed to another: a one-POST-per-account sync spends ~20 % less CPU than on a worker pool
/// and is 5–8 % faster when it shares the machine's cores with its target (`bench/provision.sh`, 2 cores).
pub fn block_on<E: From<String>>(fut: impl Future<Output = Result<ExitCode, E>>) -> Result<ExitCode, E> {
    run_on(tokio::runtime::Builder::new_current_thread(), fut)
}

fn run_on<E: From<String>>(
    mut builder: tokio::runtime::Builder,
    fut: impl Future<Output = Result<ExitCode, E>>,
) -> Result<ExitCode, E> {
    builder
        .enable_all()
        .build()
        .map_err(|e| E::from(format!("cannot start the async runtime: {e}")))?
        .block_on(fut)
}

/// An admin acting as the operating system's user on the database `db`.
pub async fn admin(db: &DatabaseArg) -> Result<roster_admin::Admin, String> {
    Ok(roster_admin::Admin::new(open(db).await?, crate::actor::actor()))
}

pub async fn open(db: &DatabaseArg) -> Result<Store, String> {
    Store::connect_with_key(&db.database, db.secret_key_file.as_deref())
        .await
        .map_err(|e| {
            let why = match e {
                // A bad URL is the admin's to fix, not a SCIM request's: its detail alone.
                roster_store::StoreError::Scim(e) => e.detail,
                other => other.to_string(),
            };
            format!("cannot open the database {}: {why}", redact_url(&db.database))
        })
}

/// Logs to stderr at `ROSTER_LOG`'s levels, `default` when it is not set.
pub fn init_logging(default: &str) {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("ROSTER_LOG").unwrap_or_else(|_| default.into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
}

pub async fn serve(args: ServeArgs) -> Result<ExitCode, String> {
    init_logging("info");
    let store = open(&args.db).await?;
    let listener = tokio::net::TcpListener::bind(args.listen).await.map_err(|e| {
        format!(
            "cannot listen on {}: {e} (use --listen to pick another address)",
            args.listen
        )
    })?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => Some(roster_server::listen::Tls::from_pem_files(cert, key)?),
        _ => None,
    };
    let scheme = if tls.is_some() { "https" } else { "http" };
    let public = args.public_url.unwrap_or_else(|| format!("{scheme}://{addr}"));
    let base_url = format!("{}/scim/v2", public.trim_end_matches('/'));
    tracing::info!(%addr, database = %redact_url(&args.db.database), %base_url, "roster is serving SCIM");
    for (flag, value) in [
        ("--client-error-percent", args.client_error_percent),
        ("--client-probation-percent", args.client_probation_percent),
    ] {
        if value > 100 {
            return Err(format!(
                "{flag} {value}: give a percentage from 0 to 100 (--client-error-percent 0 turns quarantine off)"
            ));
        }
    }
    for (flag, value) in [
        ("--client-window", args.client_window),
        ("--client-refuse", args.client_refuse),
        ("--client-max-refuse", args.client_max_refuse),
    ] {
        if value == 0 {
            return Err(format!("{flag} 0: give a number of seconds above 0"));
        }
    }
    let mut config = ServerConfig::new(base_url);
    config.quarantine.policy = roster_store::ClientPolicy {
        error_percent: args.client_error_percent,
        min_requests: args.client_min_requests,
        window_secs: args.client_window,
        refuse_secs: args.client_refuse,
        max_refuse_secs: args.client_max_refuse,
        probation_secs: args.client_probation,
        probation_percent: args.client_probation_percent,
        probation_min_requests: args.client_min_requests.div_ceil(2),
    };
    config.header_timeout = std::time::Duration::from_secs(args.header_timeout);
    config.request_timeout = std::time::Duration::from_secs(args.request_timeout);
    config.max_connections = usize::try_from(args.max_connections).unwrap_or(usize::MAX);
    let state = AppState::new(store.clone(), config);
    let (stop_background, background_stopped) = tokio::sync::watch::channel(false);
    let engine = (!args.no_engine).then(|| {
        let holder = format!("serve-{}-{}", std::process::id(), uuid::Uuid::now_v7().simple());
        let mut rx = background_stopped.clone();
        tracing::info!("provisioning engine running");
        tokio::spawn(roster_engine::runner::run_engine(
            store.clone(),
            holder,
            std::time::Duration::from_secs(1),
            (args.log_retention_days > 0)
                .then(|| std::time::Duration::from_secs(u64::from(args.log_retention_days) * 86_400)),
            async move {
                let _ = rx.wait_for(|stop| *stop).await;
            },
        ))
    });
    let statistics = {
        let mut rx = background_stopped.clone();
        tokio::spawn(roster_store::statistics::keep(
            store.clone(),
            std::time::Duration::from_secs(60),
            async move {
                let _ = rx.wait_for(|stop| *stop).await;
            },
        ))
    };
    let served = roster_server::run_with_tls(listener, state, tls, shutdown_signal()).await;
    let _ = stop_background.send(true);
    if let Some(engine) = engine {
        let _ = engine.await;
    }
    let _ = statistics.await;
    served.map_err(|e| format!("server failed: {e}"))?;
    store.close().await;
    tracing::info!("stopped");
    Ok(ExitCode::SUCCESS)
}

/// Completes on SIGINT or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down: finishing requests in flight");
}
