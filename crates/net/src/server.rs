//! What every creditops server shares: serving an axum app on a bound listener with graceful
//! shutdown and limits a slow or silent client cannot get round (headers within a deadline,
//! idle connections closed, connections per client capped), and the handle that reports the
//! address and stops it (also when dropped).

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hyper_util::rt::{TokioIo, TokioTimer};
use tower::ServiceExt;

/// What one connection may take of a server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// A request's headers must arrive within this, counted from when the connection starts
    /// waiting for them: a silent or idle connection (keep-alive included) is closed after it.
    pub header_timeout: Duration,
    /// Connections one client address may hold at once; past it, new ones are closed at once.
    pub per_client: Option<usize>,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            header_timeout: Duration::from_secs(30),
            per_client: None,
        }
    }
}

/// How long a server waits for a request body to arrive once its headers have.
pub const BODY_TIMEOUT: Duration = Duration::from_secs(60);

/// Reads a request body whole, within `limit` bytes and [`BODY_TIMEOUT`].
pub async fn read_body(
    body: axum::body::Body,
    limit: usize,
) -> Result<axum::body::Bytes, BodyError> {
    match tokio::time::timeout(BODY_TIMEOUT, axum::body::to_bytes(body, limit)).await {
        Err(_) => Err(BodyError::TimedOut),
        Ok(Err(_)) => Err(BodyError::TooLarge),
        Ok(Ok(b)) => Ok(b),
    }
}

/// Why a body could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BodyError {
    #[error("the request body did not arrive in time")]
    TimedOut,
    #[error("the request body is too large (or broke off)")]
    TooLarge,
}

/// Connections held per client address.
#[derive(Default)]
struct PerClient(Mutex<HashMap<IpAddr, usize>>);

struct Slot {
    table: Arc<PerClient>,
    ip: IpAddr,
}

impl PerClient {
    fn take(self: &Arc<Self>, ip: IpAddr, cap: Option<usize>) -> Option<Slot> {
        let mut m = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let n = m.entry(ip).or_insert(0);
        if cap.is_some_and(|c| *n >= c) {
            return None;
        }
        *n += 1;
        Some(Slot {
            table: self.clone(),
            ip,
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut m = self.table.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = m.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                m.remove(&self.ip);
            }
        }
    }
}

/// A running server: its address, its state, and a way to stop it.
pub struct ServerHandle<S> {
    pub addr: SocketAddr,
    pub state: Arc<S>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    join: Option<tokio::task::JoinHandle<()>>,
}

impl<S> ServerHandle<S> {
    /// Serves `app` on `listener` in this runtime until shut down, with the default limits.
    pub fn serve(
        listener: tokio::net::TcpListener,
        app: axum::Router,
        state: Arc<S>,
        name: &'static str,
    ) -> std::io::Result<ServerHandle<S>> {
        Self::serve_with(listener, app, state, name, Limits::default())
    }

    /// Serves `app` on `listener` until shut down: HTTP/1.1, each connection on a task of its
    /// own, the caller's address in `ConnectInfo<SocketAddr>`.
    pub fn serve_with(
        listener: tokio::net::TcpListener,
        app: axum::Router,
        state: Arc<S>,
        name: &'static str,
        limits: Limits,
    ) -> std::io::Result<ServerHandle<S>> {
        let addr = listener.local_addr()?;
        let (tx, mut rx) = tokio::sync::oneshot::channel::<()>();
        let (stopping_tx, stopping) = tokio::sync::watch::channel(false);
        let join = tokio::spawn(async move {
            let clients = Arc::new(PerClient::default());
            loop {
                let (stream, peer) = tokio::select! {
                    _ = &mut rx => break,
                    accepted = listener.accept() => match accepted {
                        Ok(a) => a,
                        Err(e) => {
                            // Out of descriptors, say: wait for some to come back.
                            tracing::warn!("{name}: accept: {e}");
                            tokio::time::sleep(Duration::from_millis(50)).await;
                            continue;
                        }
                    },
                };
                let Some(slot) = clients.take(peer.ip(), limits.per_client) else {
                    tracing::debug!("{name}: {} holds too many connections; closing", peer.ip());
                    drop(stream);
                    continue;
                };
                let app = app.clone();
                let mut stopping = stopping.clone();
                tokio::spawn(async move {
                    let _slot = slot;
                    let service = hyper::service::service_fn(
                        move |req: hyper::Request<hyper::body::Incoming>| {
                            let mut req = req.map(axum::body::Body::new);
                            req.extensions_mut()
                                .insert(axum::extract::ConnectInfo(peer));
                            app.clone().oneshot(req)
                        },
                    );
                    let mut builder = hyper::server::conn::http1::Builder::new();
                    builder
                        .timer(TokioTimer::new())
                        .header_read_timeout(limits.header_timeout)
                        .keep_alive(true);
                    let conn = builder
                        .serve_connection(TokioIo::new(stream), service)
                        .with_upgrades();
                    tokio::pin!(conn);
                    tokio::select! {
                        r = conn.as_mut() => {
                            if let Err(e) = r {
                                tracing::debug!("{name}: connection from {peer}: {e}");
                            }
                        }
                        _ = stopping.changed() => {
                            conn.as_mut().graceful_shutdown();
                            let _ = conn.await;
                        }
                    }
                });
            }
            let _ = stopping_tx.send(true);
        });
        Ok(ServerHandle {
            addr,
            state,
            shutdown: Some(tx),
            join: Some(join),
        })
    }

    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops serving and waits for the server task.
    pub async fn shutdown(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(j) = self.join.take() {
            let _ = j.await;
        }
    }
}

impl<S> Drop for ServerHandle<S> {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// Binds `listen`, saying which address failed.
pub async fn bind(listen: SocketAddr) -> anyhow::Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {listen}: {e}"))
}
