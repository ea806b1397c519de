//! `ocfl serve`: the web console (`ocfl-serve`) over the storage root and its engine store.
//! On the embedded store the console holds the store, so it also runs the root's runs, as
//! `ocfl worker` does; on PostgreSQL the workers run elsewhere and the console only reads.

use std::io::Write as _;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use durable_core::WorkerOptions;
use ocfl_serve::{Console, ConsoleOptions, check_listen, loopback_hosts};
use tokio::signal::unix::{SignalKind, signal};

use crate::args::{GlobalArgs, ServeArgs};
use crate::open::declared_root;
use crate::state::{Engine, Store, runtime, with_lease, work_area};

/// How long requests in flight get once a signal asks the console to stop.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

/// Serves until SIGTERM or SIGINT.
pub fn run(global: &GlobalArgs, args: &ServeArgs) -> Result<ExitCode> {
    check_listen(args.listen, args.token.as_deref())
        .map_err(|e| crate::args::UsageError(e.to_string()))?;
    let root = declared_root(global, "serve")?;
    let work = crate::site::Site::Local(work_area(global, root)?);
    // The console reads the root for as long as the process lives.
    let storage: &'static ocfl_core::storage::LocalStorage =
        Box::leak(Box::new(ocfl_core::storage::LocalStorage::new(root)));
    runtime()?.block_on(async {
        let store = Store::open(global, &work).await?;
        let service = store.service()?;
        // Other `ocfl` commands reach the embedded store through the console meanwhile.
        let _socket = match store.embedded_path() {
            Some(path) => {
                let socket = crate::forward::socket_path(path);
                match crate::forward::listen(&socket, Arc::new(service.clone())) {
                    Ok(guard) => Some(guard),
                    Err(error) => {
                        eprintln!(
                            "ocfl: warning: other commands will wait for the store: {error:#}"
                        );
                        None
                    }
                }
            }
            None => None,
        };
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .with_context(|| format!("listening on {}", args.listen))?;
        let address = listener.local_addr().context("the listening address")?;
        let options = ConsoleOptions {
            token: args.token.clone(),
            allow_actions: args.allow_actions,
            // Without a token only loopback is served: answer to its own names only.
            allowed_hosts: if args.token.is_none() {
                loopback_hosts(address.port())
            } else {
                Vec::new()
            },
        };
        let console = Console::new(storage, Some(service), options)?;
        // The console's worker tells the pages its progress as it goes.
        let engine = match store.embedded_path() {
            Some(_) => {
                let options = with_lease(
                    global,
                    WorkerOptions {
                        shutdown_grace: Duration::from_secs(5),
                        ..WorkerOptions::default()
                    },
                );
                Some(Engine::start(store, Some(console.progress()), options)?)
            }
            None => None,
        };
        let mut terminate = signal(SignalKind::terminate()).context("listening for SIGTERM")?;
        let mut interrupt = signal(SignalKind::interrupt()).context("listening for SIGINT")?;
        let url = format!("http://{address}/");
        {
            let mut out = std::io::stdout().lock();
            if global.json {
                writeln!(out, "{}", serde_json::json!({ "url": url }))?;
            } else {
                writeln!(out, "{url}")?;
            }
            out.flush()?;
        }
        if !global.quiet {
            eprintln!("ocfl: serving {} at {url} (Ctrl+C stops)", work.name());
        }
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(ocfl_serve::serve(listener, console.router(), async move {
            let _ = stopped.await;
        }));
        tokio::select! {
            _ = terminate.recv() => {}
            _ = interrupt.recv() => {}
        }
        let _ = stop.send(());
        // Open pages keep their event streams open: give requests a moment, then stop.
        if let Ok(served) = tokio::time::timeout(SHUTDOWN_GRACE, server).await {
            served
                .context("the console's task")?
                .context("serving the console")?;
        }
        if let Some(engine) = engine {
            engine.stop().await;
        }
        Ok(ExitCode::SUCCESS)
    })
}
