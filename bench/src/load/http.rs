//! A minimal HTTP/1.1 client for the loader's REST calls: one keep-alive connection, one
//! request at a time, answers with `Content-Length` only (axum's JSON answers have it). The
//! workspace has no HTTP client, and one POST in a loop does not need one.

use anyhow::{bail, Context};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::net;

/// Longest answer head the loader accepts: REST answers have a handful of headers.
const MAX_HEAD: usize = 16 * 1024;
/// Longest answer body it reads: presence answers are a few bytes.
const MAX_BODY: usize = 1024 * 1024;

pub(crate) struct HttpConn {
    stream: TcpStream,
    host: String,
    buffer: Vec<u8>,
}

/// An answer: the status code and the body.
pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) body: Vec<u8>,
}

impl HttpConn {
    /// Connection `index` to `addr` (`HOST:PORT`), spread over loopback sources as msync's.
    pub(crate) async fn connect(addr: &str, index: usize) -> anyhow::Result<HttpConn> {
        Ok(HttpConn {
            stream: net::connect(addr, index).await?,
            host: addr.to_owned(),
            buffer: Vec::with_capacity(4096),
        })
    }

    /// `POST path` with a bearer token and a JSON body; the connection stays open.
    pub(crate) async fn post_json(
        &mut self,
        path: &str,
        bearer: &str,
        body: &str,
    ) -> anyhow::Result<Answer> {
        let request = format!(
            "POST {path} HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {bearer}\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            self.host,
            body.len()
        );
        self.stream.write_all(request.as_bytes()).await?;
        self.read_answer().await
    }

    async fn read_answer(&mut self) -> anyhow::Result<Answer> {
        let head_end = loop {
            if let Some(at) = find(&self.buffer, b"\r\n\r\n") {
                break at + 4;
            }
            if self.buffer.len() > MAX_HEAD {
                bail!("an HTTP answer head over {MAX_HEAD} bytes");
            }
            self.fill().await?;
        };
        let head = std::str::from_utf8(&self.buffer[..head_end]).context("a non-UTF-8 head")?;
        let mut lines = head.split("\r\n");
        let status_line = lines.next().unwrap_or_default();
        let status: u16 = status_line
            .split(' ')
            .nth(1)
            .and_then(|code| code.parse().ok())
            .with_context(|| format!("a malformed status line: {status_line:?}"))?;
        let mut length = None;
        for line in lines {
            let Some((name, value)) = line.split_once(':') else {
                continue;
            };
            if name.eq_ignore_ascii_case("content-length") {
                length = Some(value.trim().parse::<usize>()?);
            } else if name.eq_ignore_ascii_case("transfer-encoding") {
                bail!("a {} answer: only Content-Length is read", value.trim());
            }
        }
        let length = length.context("an HTTP answer without Content-Length")?;
        if length > MAX_BODY {
            bail!("an HTTP answer body of {length} bytes");
        }
        while self.buffer.len() < head_end + length {
            self.fill().await?;
        }
        let body = self.buffer[head_end..head_end + length].to_vec();
        self.buffer.drain(..head_end + length);
        Ok(Answer { status, body })
    }

    async fn fill(&mut self) -> anyhow::Result<()> {
        let mut chunk = [0u8; 4096];
        let read = self.stream.read(&mut chunk).await?;
        if read == 0 {
            bail!("the server closed the HTTP connection");
        }
        self.buffer.extend_from_slice(&chunk[..read]);
        Ok(())
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}
