//! The bare limit for `bench/run.sh`: a WebSocket server that forwards frames and does nothing
//! else (no auth, no storage, no protocol). Whatever Confab costs above this is Confab's.
//!
//! Wire: the client's first frame is a text frame holding its numeric id ("login"); the relay
//! answers with the text frame "ok". Every later binary frame starts with the destination id
//! (u32, big endian) and is forwarded unchanged to that client, if it is connected.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use clap::Parser;
use futures_util::{SinkExt, StreamExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{Bytes, Message};

#[derive(Parser)]
struct Args {
    #[arg(long, default_value = "127.0.0.1:5290")]
    listen: SocketAddr,
}

/// Frames waiting for one client's writer; bounded so a slow reader cannot grow memory.
const OUTBOX: usize = 256;
const SHARDS: usize = 64;

type Outbox = mpsc::Sender<Bytes>;

/// Connected clients by id, sharded so that logins do not contend on one lock.
struct Registry {
    shards: Vec<Mutex<HashMap<u32, Outbox>>>,
}

impl Registry {
    fn shard(&self, id: u32) -> &Mutex<HashMap<u32, Outbox>> {
        &self.shards[id as usize % SHARDS]
    }

    fn insert(&self, id: u32, outbox: Outbox) {
        if let Ok(mut shard) = self.shard(id).lock() {
            shard.insert(id, outbox);
        }
    }

    fn remove(&self, id: u32) {
        if let Ok(mut shard) = self.shard(id).lock() {
            shard.remove(&id);
        }
    }

    fn get(&self, id: u32) -> Option<Outbox> {
        self.shard(id).lock().ok()?.get(&id).cloned()
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let registry = Arc::new(Registry {
        shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
    });
    let listener = TcpListener::bind(args.listen).await?;
    eprintln!("relay listening on ws://{}", listener.local_addr()?);
    loop {
        let (stream, _) = listener.accept().await?;
        let registry = registry.clone();
        tokio::spawn(async move {
            let _ = serve(stream, registry).await;
        });
    }
}

async fn serve(stream: TcpStream, registry: Arc<Registry>) -> anyhow::Result<()> {
    stream.set_nodelay(true)?;
    // Small buffers, as a lean server would configure them.
    let config = WebSocketConfig::default()
        .read_buffer_size(4096)
        .write_buffer_size(0);
    let socket = tokio_tungstenite::accept_async_with_config(stream, Some(config)).await?;
    let (mut sink, mut source) = socket.split();

    let id = match source.next().await {
        Some(Ok(Message::Text(text))) => text.as_str().trim().parse::<u32>()?,
        _ => return Ok(()),
    };
    let (outbox, mut inbox) = mpsc::channel::<Bytes>(OUTBOX);
    registry.insert(id, outbox);
    sink.send(Message::text("ok")).await?;

    let writer = async move {
        while let Some(frame) = inbox.recv().await {
            sink.feed(Message::Binary(frame)).await?;
            // Flush once the queue is empty, so bursts go out in one write.
            while let Ok(frame) = inbox.try_recv() {
                sink.feed(Message::Binary(frame)).await?;
            }
            sink.flush().await?;
        }
        anyhow::Ok(())
    };
    let reader = async {
        while let Some(message) = source.next().await {
            let Message::Binary(frame) = message? else {
                continue;
            };
            let Some(destination) = frame.get(..4) else {
                continue;
            };
            let destination = u32::from_be_bytes([
                destination[0],
                destination[1],
                destination[2],
                destination[3],
            ]);
            if let Some(outbox) = registry.get(destination) {
                let _ = outbox.send(frame).await;
            }
        }
        anyhow::Ok(())
    };
    let result = tokio::select! {
        r = writer => r,
        r = reader => r,
    };
    registry.remove(id);
    result
}
