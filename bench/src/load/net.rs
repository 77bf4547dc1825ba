//! The loader's TCP connections, spread over loopback source addresses.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use anyhow::Context;
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// Source addresses `127.0.0.1..=127.0.0.8`, one after the other. From a single address, Linux
/// has used up the even ports it prefers for `connect` after ~14,000 connections to one server,
/// and then searches the whole range for each new one: every server, the relay too, logged in
/// at a third of its rate at 19,000 connections.
const LOOPBACK_SOURCES: usize = 8;

/// Connection `index` to `addr` (`HOST:PORT`), with Nagle off.
pub(crate) async fn connect(addr: &str, index: usize) -> anyhow::Result<TcpStream> {
    let server = tokio::net::lookup_host(addr)
        .await
        .with_context(|| format!("resolve {addr}"))?
        .next()
        .with_context(|| format!("{addr} resolves to nothing"))?;
    let socket = match server.ip() {
        IpAddr::V4(ip) if ip.is_loopback() => {
            let socket = TcpSocket::new_v4()?;
            let last = u8::try_from(1 + index % LOOPBACK_SOURCES)?;
            socket.bind(SocketAddr::new(Ipv4Addr::new(127, 0, 0, last).into(), 0))?;
            socket
        }
        IpAddr::V4(_) => TcpSocket::new_v4()?,
        IpAddr::V6(_) => TcpSocket::new_v6()?,
    };
    let stream = socket
        .connect(server)
        .await
        .with_context(|| format!("connect {addr}"))?;
    stream.set_nodelay(true)?;
    Ok(stream)
}

pub(crate) type WebSocket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// A WebSocket to `path` on `addr` over connection `index`.
pub(crate) async fn websocket(addr: &str, path: &str, index: usize) -> anyhow::Result<WebSocket> {
    let stream = connect(addr, index).await?;
    let config = WebSocketConfig::default().read_buffer_size(4096);
    let url = format!("ws://{addr}{path}");
    let (socket, _) = tokio_tungstenite::client_async_with_config(
        url.as_str(),
        MaybeTlsStream::Plain(stream),
        Some(config),
    )
    .await
    .with_context(|| format!("WebSocket handshake with {url}"))?;
    Ok(socket)
}
