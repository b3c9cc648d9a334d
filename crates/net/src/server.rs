//! What every creditops server shares: serving an axum app on a bound listener with graceful
//! shutdown, and the handle that reports the address and stops it (also when dropped).

use std::net::SocketAddr;
use std::sync::Arc;

/// A running server: its address, its state, and a way to stop it.
pub struct ServerHandle<S> {
    pub addr: SocketAddr,
    pub state: Arc<S>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    join: Option<tokio::task::JoinHandle<()>>,
}

impl<S> ServerHandle<S> {
    /// Serves `app` on `listener` in this runtime until shut down.
    pub fn serve(
        listener: tokio::net::TcpListener,
        app: axum::Router,
        state: Arc<S>,
        name: &'static str,
    ) -> std::io::Result<ServerHandle<S>> {
        let addr = listener.local_addr()?;
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let join = tokio::spawn(async move {
            let server = axum::serve(
                listener,
                app.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .with_graceful_shutdown(async {
                let _ = rx.await;
            });
            if let Err(e) = server.await {
                tracing::error!("{name}: {e}");
            }
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
