//! A minimal XMPP client for ejabberd, the peer Confab is compared with: plain TCP, SASL
//! PLAIN, resource binding, presence, chat messages whose body is the send time. It scans the
//! stream for the few markers it needs rather than parsing XML: enough for a benchmark
//! against one known server, not a general client.

use anyhow::{bail, Context};
use base64::Engine as _;
use bytes::{Buf, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufWriter};
use tokio::net::TcpStream;
use tokio::time::{timeout_at, Instant};

use crate::net;
use crate::stats::{micros_since_start, Recorder};

#[derive(Clone)]
pub(crate) struct XmppTarget {
    pub(crate) addr: String,
    pub(crate) domain: String,
    pub(crate) password: String,
}

pub(crate) struct XmppConn {
    stream: BufWriter<TcpStream>,
    buffer: BytesMut,
    domain: String,
    next_id: u64,
}

impl XmppConn {
    async fn connect(target: &XmppTarget, index: usize) -> anyhow::Result<XmppConn> {
        let stream = net::connect(&target.addr, index).await?;
        let mut conn = XmppConn {
            stream: BufWriter::new(stream),
            buffer: BytesMut::with_capacity(4096),
            domain: target.domain.clone(),
            next_id: 1,
        };
        conn.open_stream().await?;
        Ok(conn)
    }

    /// In-band registration (XEP-0077); an existing account counts as success.
    pub(crate) async fn register(
        target: &XmppTarget,
        user: &str,
        index: usize,
    ) -> anyhow::Result<()> {
        let mut conn = XmppConn::connect(target, index).await?;
        conn.write(&format!(
            "<iq type='set' id='reg'><query xmlns='jabber:iq:register'><username>{user}</username><password>{}</password></query></iq>",
            target.password
        ))
        .await?;
        let reply = conn.read_iq("reg").await?;
        if !reply.contains("type='result'") && !reply.contains("<conflict") {
            bail!("{user}: registration refused: {reply}");
        }
        conn.write("</stream:stream>").await?;
        Ok(())
    }

    pub(crate) async fn login(
        target: &XmppTarget,
        user: &str,
        index: usize,
    ) -> anyhow::Result<XmppConn> {
        let mut conn = XmppConn::connect(target, index).await?;
        let credentials = base64::engine::general_purpose::STANDARD
            .encode(format!("\0{user}\0{}", target.password));
        conn.write(&format!(
            "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>{credentials}</auth>"
        ))
        .await?;
        let outcome = conn.read_until_any(&[b"<success", b"<failure"]).await?;
        if outcome == 1 {
            bail!("{user}: SASL PLAIN refused");
        }
        conn.open_stream().await?;
        conn.write("<iq type='set' id='bind'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>bench</resource></bind></iq>").await?;
        let reply = conn.read_iq("bind").await?;
        if !reply.contains("type='result'") {
            bail!("{user}: resource binding refused: {reply}");
        }
        conn.write("<presence/>").await?;
        Ok(conn)
    }

    pub(crate) async fn pingpong(
        mut self,
        peer: &str,
        recorder: &Recorder,
        stop_at: Instant,
        serves: bool,
    ) -> anyhow::Result<()> {
        if serves {
            self.send_message(peer, micros_since_start()).await?;
            self.stream.flush().await?;
        }
        while let Ok(body) = timeout_at(stop_at, self.next_body()).await {
            recorder.delivered(body?);
            self.send_message(peer, micros_since_start()).await?;
            self.stream.flush().await?;
        }
        let _ = self.write("</stream:stream>").await;
        Ok(())
    }

    /// Sends `count` messages to `peer`, with an XEP-0199 ping after every `in_flight` and a
    /// wait for its answer: ejabberd has no per-message ack, and answers a ping only after it
    /// has routed (here: stored offline) the messages before it on the same stream.
    pub(crate) async fn send_acknowledged(
        &mut self,
        peer: &str,
        count: u64,
        in_flight: u64,
    ) -> anyhow::Result<()> {
        let mut sent = 0;
        while sent < count {
            let batch = in_flight.min(count - sent);
            for _ in 0..batch {
                self.send_message(peer, micros_since_start()).await?;
            }
            sent += batch;
            let id = self.next_id;
            self.next_id += 1;
            self.write(&format!(
                "<iq type='get' id='ping{id}'><ping xmlns='urn:xmpp:ping'/></iq>"
            ))
            .await?;
            self.read_iq(&format!("ping{id}")).await?;
        }
        Ok(())
    }

    /// Reads message bodies (offline ones arrive after presence) until `expected` arrived.
    pub(crate) async fn drain(&mut self, expected: u64) -> anyhow::Result<u64> {
        let mut received = 0;
        while received < expected {
            self.next_body().await?;
            received += 1;
        }
        Ok(received)
    }

    async fn send_message(&mut self, peer: &str, sent_us: u64) -> anyhow::Result<()> {
        let stanza = format!(
            "<message to='{peer}@{}' type='chat'><body>{sent_us}</body></message>",
            self.domain
        );
        Ok(self.stream.write_all(stanza.as_bytes()).await?)
    }

    async fn open_stream(&mut self) -> anyhow::Result<()> {
        self.write(&format!(
            "<?xml version='1.0'?><stream:stream to='{}' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>",
            self.domain
        ))
        .await?;
        self.read_until(b"</stream:features>").await
    }

    async fn write(&mut self, text: &str) -> anyhow::Result<()> {
        self.stream.write_all(text.as_bytes()).await?;
        Ok(self.stream.flush().await?)
    }

    /// The next `<message>`'s `<body>`, parsed as the send time; skips the stanzas before it.
    /// A bounce (`type='error'`, which echoes the original body) is an error, not a delivery.
    async fn next_body(&mut self) -> anyhow::Result<u64> {
        loop {
            if let Some(start) = find(&self.buffer, b"<message") {
                if let Some(length) = find(&self.buffer[start..], b"</message>") {
                    let end = start + length + b"</message>".len();
                    let stanza = &self.buffer[start..end];
                    if find(stanza, b"type='error'").is_some() {
                        bail!("ejabberd bounced: {}", String::from_utf8_lossy(stanza));
                    }
                    let body = between(stanza, b"<body>", b"</body>")
                        .with_context(|| format!("no body: {}", String::from_utf8_lossy(stanza)))?;
                    let sent_us = std::str::from_utf8(body)?.trim().parse()?;
                    self.buffer.advance(end);
                    return Ok(sent_us);
                }
            }
            self.fill().await?;
        }
    }

    /// Consumes the stream up to and including the `<iq>` with this id; returns that stanza.
    async fn read_iq(&mut self, id: &str) -> anyhow::Result<String> {
        let marker = format!("id='{id}'");
        loop {
            if let Some(at) = find(&self.buffer, marker.as_bytes()) {
                let start = rfind(&self.buffer[..at], b"<iq").context("id outside an <iq>")?;
                if let Some(tag_end) = find(&self.buffer[at..], b">").map(|end| at + end) {
                    let end = if self.buffer[tag_end - 1] == b'/' {
                        Some(tag_end + 1)
                    } else {
                        find(&self.buffer[tag_end..], b"</iq>").map(|end| tag_end + end + 5)
                    };
                    if let Some(end) = end {
                        let stanza = String::from_utf8_lossy(&self.buffer[start..end]).into_owned();
                        self.buffer.advance(end);
                        return Ok(stanza);
                    }
                }
            }
            self.fill().await?;
        }
    }

    async fn read_until(&mut self, marker: &[u8]) -> anyhow::Result<()> {
        self.read_until_any(&[marker]).await.map(|_| ())
    }

    /// Consumes the stream up to and including the first of `markers`; returns its index.
    async fn read_until_any(&mut self, markers: &[&[u8]]) -> anyhow::Result<usize> {
        loop {
            let found = markers
                .iter()
                .enumerate()
                .filter_map(|(index, marker)| {
                    find(&self.buffer, marker).map(|at| (at + marker.len(), index))
                })
                .min();
            if let Some((end, index)) = found {
                self.buffer.advance(end);
                return Ok(index);
            }
            self.fill().await?;
        }
    }

    async fn fill(&mut self) -> anyhow::Result<()> {
        if self.stream.get_mut().read_buf(&mut self.buffer).await? == 0 {
            bail!("ejabberd closed the stream");
        }
        Ok(())
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn rfind(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).rposition(|w| w == needle)
}

/// The bytes between the first `open` and the next `close`.
fn between<'a>(haystack: &'a [u8], open: &[u8], close: &[u8]) -> Option<&'a [u8]> {
    let start = find(haystack, open)? + open.len();
    let length = find(&haystack[start..], close)?;
    Some(&haystack[start..start + length])
}
