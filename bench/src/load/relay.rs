//! The client of `bench/relay`: log in with a numeric id, then frames of
//! `[destination id: u32 BE][send time: u64 BE]`.

use anyhow::bail;
use futures_util::{SinkExt, StreamExt};
use tokio::time::{timeout_at, Instant};
use tokio_tungstenite::tungstenite::{Bytes, Message};

use crate::net;
use crate::stats::{micros_since_start, Recorder};

pub(crate) struct RelayConn {
    socket: net::WebSocket,
}

impl RelayConn {
    /// Connects to the relay at `addr` (`HOST:PORT`) and logs in as `id`.
    pub(crate) async fn login(addr: &str, id: u32) -> anyhow::Result<RelayConn> {
        let mut socket = net::websocket(addr, "/", usize::try_from(id)?).await?;
        socket.send(Message::text(id.to_string())).await?;
        match socket.next().await {
            Some(Ok(Message::Text(reply))) if reply.as_str() == "ok" => Ok(RelayConn { socket }),
            other => bail!("relay login {id}: {other:?}"),
        }
    }

    pub(crate) async fn pingpong(
        mut self,
        peer: u32,
        recorder: &Recorder,
        stop_at: Instant,
        serves: bool,
    ) -> anyhow::Result<()> {
        if serves {
            self.socket.send(frame(peer)).await?;
        }
        while let Ok(message) = timeout_at(stop_at, self.socket.next()).await {
            let Some(message) = message else { break };
            let Message::Binary(bytes) = message? else {
                continue;
            };
            let Some(sent) = bytes.get(4..12).and_then(|b| <[u8; 8]>::try_from(b).ok()) else {
                bail!("a relay frame without a timestamp");
            };
            recorder.delivered(u64::from_be_bytes(sent));
            self.socket.send(frame(peer)).await?;
        }
        let _ = self.socket.close(None).await;
        Ok(())
    }
}

fn frame(peer: u32) -> Message {
    let mut bytes = Vec::with_capacity(12);
    bytes.extend_from_slice(&peer.to_be_bytes());
    bytes.extend_from_slice(&micros_since_start().to_be_bytes());
    Message::Binary(Bytes::from(bytes))
}
