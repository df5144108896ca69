//! A TCP proxy in front of a local service that a test can stop and start again, to make the
//! service unavailable without killing it: DynamoDB Local and moto keep their state in memory,
//! so a real restart would lose the table and the queues.
//!
//! Stopped, it closes its listening socket (new connections are refused, as by a dead server)
//! and cuts every open connection; started again, it listens on the same port.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::{TcpSocket, TcpStream};
use tokio::task::JoinSet;

/// A running proxy. Dropping it stops it.
pub struct TcpProxy {
    addr: SocketAddr,
    upstream: SocketAddr,
    shared: Arc<Shared>,
    /// The accept loop while the proxy is up.
    listener: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

#[derive(Default)]
struct Shared {
    /// Every proxied connection, so a stop can cut them all.
    connections: Mutex<JoinSet<()>>,
    accepted: AtomicUsize,
}

fn socket_addr(url: &str) -> SocketAddr {
    let host_port = url
        .split_once("://")
        .map_or(url, |(_, rest)| rest)
        .trim_end_matches('/');
    host_port
        .replace("localhost", "127.0.0.1")
        .parse()
        .unwrap_or_else(|e| panic!("proxy upstream {url:?} is not http://IP:PORT: {e}"))
}

fn bind(addr: SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    let socket = TcpSocket::new_v4()?;
    // Connections cut on stop linger in TIME_WAIT on this port; a restart must not wait for them.
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(1024)
}

impl TcpProxy {
    /// Starts a proxy on a free loopback port in front of `upstream` (`http://127.0.0.1:PORT`).
    pub async fn start(upstream: &str) -> TcpProxy {
        let upstream = socket_addr(upstream);
        let listener = bind(SocketAddr::from(([127, 0, 0, 1], 0))).expect("bind the proxy");
        let addr = listener.local_addr().expect("proxy address");
        let proxy = TcpProxy {
            addr,
            upstream,
            shared: Arc::new(Shared::default()),
            listener: Mutex::new(None),
        };
        proxy.serve(listener);
        proxy
    }

    /// `http://127.0.0.1:PORT`, for `Endpoint::Existing`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Connections accepted so far.
    pub fn accepted(&self) -> usize {
        self.shared.accepted.load(Ordering::SeqCst)
    }

    pub fn is_up(&self) -> bool {
        self.listener.lock().expect("proxy lock").is_some()
    }

    fn serve(&self, listener: tokio::net::TcpListener) {
        let (shared, upstream) = (Arc::clone(&self.shared), self.upstream);
        let task = tokio::spawn(async move {
            loop {
                let client = match listener.accept().await {
                    Ok((client, _)) => client,
                    Err(_) => {
                        // Out of descriptors, say: back off instead of spinning.
                        tokio::time::sleep(Duration::from_millis(10)).await;
                        continue;
                    }
                };
                shared.accepted.fetch_add(1, Ordering::SeqCst);
                let mut connections = shared.connections.lock().expect("proxy lock");
                // Reap finished connections so the set does not grow for the whole run.
                while connections.try_join_next().is_some() {}
                connections.spawn(pipe(client, upstream));
            }
        });
        *self.listener.lock().expect("proxy lock") = Some(task);
    }

    /// Makes the service unavailable: refuses new connections and cuts the open ones. When
    /// this returns, no byte passes any more.
    pub async fn stop(&self) {
        let accept_loop = self.listener.lock().expect("proxy lock").take();
        if let Some(task) = accept_loop {
            task.abort();
            // Awaiting the aborted task drops the listener, which closes the port.
            let _ = task.await;
        }
        let mut open = std::mem::take(&mut *self.shared.connections.lock().expect("proxy lock"));
        open.shutdown().await;
    }

    /// Listens again on the same port.
    pub async fn resume(&self) {
        if self.is_up() {
            return;
        }
        // Another process could take the port while it is closed (only by chance: it is an
        // ephemeral port); retry briefly and then say so.
        let mut tries = 0;
        let listener = loop {
            match bind(self.addr) {
                Ok(l) => break l,
                Err(e) if tries < 50 => {
                    tries += 1;
                    if tries == 1 {
                        eprintln!("proxy {}: rebinding failed ({e}); retrying", self.addr);
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => panic!("proxy {}: could not listen again: {e}", self.addr),
            }
        };
        self.serve(listener);
    }
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        if let Some(task) = self.listener.lock().map(|mut l| l.take()).ok().flatten() {
            task.abort();
        }
        if let Ok(mut open) = self.shared.connections.lock() {
            open.abort_all();
        }
    }
}

/// Copies both ways until either side closes (or the task is aborted, which drops both).
async fn pipe(mut client: TcpStream, upstream: SocketAddr) {
    let Ok(mut server) = TcpStream::connect(upstream).await else {
        return;
    };
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    async fn echo_server() -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            loop {
                let (mut s, _) = listener.accept().await.unwrap();
                tokio::spawn(async move {
                    let mut buf = [0u8; 64];
                    while let Ok(n) = s.read(&mut buf).await {
                        if n == 0 || s.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                    }
                });
            }
        });
        format!("http://{addr}")
    }

    async fn round_trip(stream: &mut TcpStream) -> std::io::Result<Vec<u8>> {
        stream.write_all(b"ping").await?;
        let mut buf = [0u8; 4];
        stream.read_exact(&mut buf).await?;
        Ok(buf.to_vec())
    }

    #[tokio::test]
    async fn stopping_refuses_new_connections_cuts_open_ones_and_resume_serves_again() {
        // Arrange
        let proxy = TcpProxy::start(&echo_server().await).await;
        let addr = proxy.addr;
        let mut open = TcpStream::connect(addr).await.unwrap();
        assert_eq!(round_trip(&mut open).await.unwrap(), b"ping");

        // Act
        proxy.stop().await;

        // Assert
        assert!(round_trip(&mut open).await.is_err(), "open connection cut");
        let refused = TcpStream::connect(addr).await.unwrap_err();
        assert_eq!(refused.kind(), std::io::ErrorKind::ConnectionRefused);

        proxy.resume().await;
        let mut again = TcpStream::connect(addr).await.unwrap();
        assert_eq!(round_trip(&mut again).await.unwrap(), b"ping");
        assert_eq!(proxy.accepted(), 2);
    }
}
