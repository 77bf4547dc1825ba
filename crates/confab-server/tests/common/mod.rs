//! Whole-server test harness: a real `confab_server::run` on 127.0.0.1:0 with a temporary data
//! directory, a raw msync client (tokio-tungstenite + the generated types) and a tiny HTTP client,
//! each usable over plain TCP or over TLS (a throwaway CA made with rcgen).

#![allow(dead_code, unreachable_pub, clippy::unwrap_used)] // test support

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use confab_core::{app::NewApp, ids::AppKey, now_ms, providers::Providers};
use confab_proto::pb::{self, m_sync::Command};
use confab_server::{config::TlsConfig, Config, Listeners};
use futures_util::{SinkExt, StreamExt};
use prost::Message as _;
use serde_json::Value;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio_rustls::rustls::{self, pki_types::ServerName, ClientConfig, RootCertStore};
use tokio_rustls::{client::TlsStream, TlsConnector};
use tokio_tungstenite::{tungstenite::Message, MaybeTlsStream, WebSocketStream};

pub const ORG: &str = "org1";
pub const APP: &str = "app1";
pub const APP_KEY: &str = "org1#app1";
pub const WAIT: Duration = Duration::from_secs(10);

pub struct TestServer {
    pub address: SocketAddr,
    /// The https/wss listener, when started with `start_tls`.
    pub tls_address: Option<SocketAddr>,
    /// The CA that signed the server's certificate, when started with `start_tls`.
    pub pki: Option<TestPki>,
    config: Config,
    pub app_id: String,
    pub certificate: String,
    pub client_id: String,
    pub client_secret: String,
    pub data_dir: tempfile::TempDir,
    /// Translation and speech (none unless `start_with_providers`).
    providers: Providers,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl TestServer {
    pub async fn start() -> TestServer {
        TestServer::start_with(|_| {}).await
    }

    pub async fn start_with(configure: impl FnOnce(&mut Config)) -> TestServer {
        let data_dir = tempfile::tempdir().unwrap();
        let mut config = Config {
            data_dir: data_dir.path().to_owned(),
            ..Config::default()
        };
        configure(&mut config);
        TestServer::start_config(config, data_dir, Providers::default()).await
    }

    /// With translation and speech providers.
    pub async fn start_with_providers(providers: Providers) -> TestServer {
        let data_dir = tempfile::tempdir().unwrap();
        let config = Config {
            data_dir: data_dir.path().to_owned(),
            ..Config::default()
        };
        TestServer::start_config(config, data_dir, providers).await
    }

    /// With `[tls]` on 127.0.0.1:0 and a certificate for `localhost` and 127.0.0.1.
    pub async fn start_tls() -> TestServer {
        TestServer::start_tls_with(|_| {}).await
    }

    pub async fn start_tls_with(configure: impl FnOnce(&mut Config)) -> TestServer {
        let pki = TestPki::generate();
        let mut server = TestServer::start_with(|config| {
            config.tls = Some(pki.tls_config());
            configure(config);
        })
        .await;
        server.pki = Some(pki);
        server
    }

    async fn start_config(
        config: Config,
        data_dir: tempfile::TempDir,
        providers: Providers,
    ) -> TestServer {
        let app = confab_server::create_app(
            &config,
            NewApp {
                key: AppKey::new(ORG, APP).unwrap(),
                imported: None,
            },
        )
        .await
        .unwrap();
        let (address, tls_address, stop, task) = launch(config.clone(), providers.clone()).await;
        let server = TestServer {
            address,
            tls_address,
            pki: None,
            config,
            app_id: app.app_id.clone(),
            certificate: app.signing_certificate().to_owned(),
            client_id: app.client_id.clone(),
            client_secret: app.client_secret.expose().to_owned(),
            data_dir,
            providers,
            stop: Some(stop),
            task: Some(task),
        };
        for user in ["leo", "roy", "amy"] {
            server.register(user, "secret").await;
        }
        server
    }

    /// Stops the server and starts a new one on the same data directory.
    pub async fn restart(&mut self) {
        self.shutdown().await;
        let (address, tls_address, stop, task) =
            launch(self.config.clone(), self.providers.clone()).await;
        self.address = address;
        self.tls_address = tls_address;
        self.stop = Some(stop);
        self.task = Some(task);
    }

    /// Signals shutdown without waiting for it (`shutdown` then waits).
    pub fn begin_shutdown(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }

    pub async fn shutdown(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            tokio::time::timeout(WAIT, task).await.unwrap().unwrap();
        }
    }

    pub fn user_token(&self, user: &str, ttl: u32) -> String {
        confab_token::build_user_token(
            &self.app_id,
            &self.certificate,
            user,
            (now_ms() / 1000) as u32,
            ttl,
        )
    }

    pub async fn app_token(&self) -> String {
        let (status, body) = self
            .http(
                "POST",
                &format!("/{ORG}/{APP}/token"),
                None,
                &serde_json::json!({
                    "grant_type": "client_credentials",
                    "client_id": self.client_id,
                    "client_secret": self.client_secret,
                })
                .to_string(),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        body["access_token"].as_str().unwrap().to_owned()
    }

    pub async fn register(&self, user: &str, password: &str) {
        let token = self.app_token().await;
        let (status, body) = self
            .http(
                "POST",
                &format!("/{ORG}/{APP}/users"),
                Some(&token),
                &serde_json::json!({"username": user, "password": password}).to_string(),
            )
            .await;
        assert_eq!(status, 200, "{body}");
    }

    /// One HTTP/1.1 request with `Connection: close`; returns the status and the JSON body.
    pub async fn http(
        &self,
        method: &str,
        path: &str,
        bearer: Option<&str>,
        body: &str,
    ) -> (u16, Value) {
        let stream = TcpStream::connect(self.address).await.unwrap();
        http_on(stream, &request_text(method, path, "test", bearer, body)).await
    }

    /// `GET path` with the given `Host` header, over plain HTTP.
    pub async fn get_with_host(&self, path: &str, host: &str) -> (u16, Value) {
        let stream = TcpStream::connect(self.address).await.unwrap();
        http_on(stream, &request_text("GET", path, host, None, "")).await
    }

    /// As `http`, over TLS to `tls_address`, trusting only this server's CA.
    pub async fn https(
        &self,
        method: &str,
        path: &str,
        bearer: Option<&str>,
        body: &str,
    ) -> (u16, Value) {
        let stream = self.tls_connect(&self.trusting_connector()).await.unwrap();
        http_on(
            stream,
            &request_text(method, path, "localhost", bearer, body),
        )
        .await
    }

    /// `GET path` with the given `Host` header, over TLS.
    pub async fn https_get_with_host(&self, path: &str, host: &str) -> (u16, Value) {
        let stream = self.tls_connect(&self.trusting_connector()).await.unwrap();
        http_on(stream, &request_text("GET", path, host, None, "")).await
    }

    /// A client that trusts only the CA this server's certificate comes from.
    pub fn trusting_connector(&self) -> TlsConnector {
        self.pki
            .as_ref()
            .expect("started with start_tls")
            .connector()
    }

    /// TCP + TLS handshake with `localhost` as the server name.
    pub async fn tls_connect(
        &self,
        connector: &TlsConnector,
    ) -> std::io::Result<TlsStream<TcpStream>> {
        let stream = TcpStream::connect(self.tls_address.expect("started with start_tls")).await?;
        let name = ServerName::try_from("localhost").unwrap();
        connector.connect(name, stream).await
    }

    pub async fn connect(&self) -> Client {
        let url = format!("ws://{}/websocket", self.address);
        let (socket, _) = tokio_tungstenite::connect_async(url).await.unwrap();
        Client { socket }
    }

    /// A WebSocket over TLS (`wss://localhost:PORT/websocket`).
    pub async fn connect_tls(&self) -> Client<TlsStream<TcpStream>> {
        let stream = self.tls_connect(&self.trusting_connector()).await.unwrap();
        let url = format!(
            "wss://localhost:{}/websocket",
            self.tls_address.unwrap().port()
        );
        let (socket, _) = tokio_tungstenite::client_async(url, stream).await.unwrap();
        Client { socket }
    }

    /// As `login`, over TLS.
    pub async fn login_tls(&self, user: &str, resource: &str) -> Client<TlsStream<TcpStream>> {
        let mut client = self.connect_tls().await;
        let reply = client
            .provision(APP_KEY, user, &self.user_token(user, 3600), resource)
            .await;
        assert_eq!(reply.status.unwrap().error_code, Some(0), "login of {user}");
        client
    }

    /// Connects and logs in with a fresh token; panics unless the login succeeds.
    pub async fn login(&self, user: &str, resource: &str) -> Client {
        let mut client = self.connect().await;
        let reply = client
            .provision(APP_KEY, user, &self.user_token(user, 3600), resource)
            .await;
        assert_eq!(reply.status.unwrap().error_code, Some(0), "login of {user}");
        client
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

async fn launch(
    config: Config,
    providers: Providers,
) -> (
    SocketAddr,
    Option<SocketAddr>,
    oneshot::Sender<()>,
    tokio::task::JoinHandle<()>,
) {
    let http = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let tls = match &config.tls {
        Some(_) => Some(tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap()),
        None => None,
    };
    let tls_address = tls.as_ref().map(|listener| listener.local_addr().unwrap());
    let (ready_tx, ready_rx) = oneshot::channel();
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        confab_server::run_with_providers(
            config,
            Listeners { http, tls },
            providers,
            move |address| {
                let _ = ready_tx.send(address);
            },
            async move {
                let _ = stopped.await;
            },
        )
        .await
        .unwrap();
    });
    let address = tokio::time::timeout(WAIT, ready_rx).await.unwrap().unwrap();
    (address, tls_address, stop, task)
}

fn request_text(method: &str, path: &str, host: &str, bearer: Option<&str>, body: &str) -> String {
    let auth = bearer
        .map(|token| format!("Authorization: Bearer {token}\r\n"))
        .unwrap_or_default();
    format!(
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n{auth}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

/// Writes the request, reads to the end; returns the status and the body as JSON (or as a
/// JSON string when it is not JSON).
async fn http_on(mut stream: impl AsyncRead + AsyncWrite + Unpin, request: &str) -> (u16, Value) {
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    if let Err(error) = stream.read_to_end(&mut response).await {
        // A TLS peer may close without close_notify once the response is complete.
        assert_eq!(error.kind(), std::io::ErrorKind::UnexpectedEof, "{error}");
    }
    let text = String::from_utf8(response).unwrap();
    let status: u16 = text[9..12].parse().unwrap();
    let (_, raw_body) = text.split_once("\r\n\r\n").unwrap();
    let json = serde_json::from_str(raw_body).unwrap_or(Value::String(raw_body.to_owned()));
    (status, json)
}

/// A throwaway CA and a server certificate it signed for `localhost` and 127.0.0.1, as PEM
/// files in a temporary directory.
pub struct TestPki {
    pub ca_pem: String,
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
    dir: tempfile::TempDir,
}

impl TestPki {
    pub fn generate() -> TestPki {
        use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose};
        let ca_key = KeyPair::generate().unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "Confab test CA");
        ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca = ca_params.self_signed(&ca_key).unwrap();

        let key = KeyPair::generate().unwrap();
        let mut params =
            CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()]).unwrap();
        params
            .distinguished_name
            .push(DnType::CommonName, "localhost");
        let cert = params.signed_by(&key, &ca, &ca_key).unwrap();

        let dir = tempfile::tempdir().unwrap();
        let cert_file = dir.path().join("fullchain.pem");
        let key_file = dir.path().join("privkey.pem");
        std::fs::write(&cert_file, cert.pem()).unwrap();
        std::fs::write(&key_file, key.serialize_pem()).unwrap();
        TestPki {
            ca_pem: ca.pem(),
            cert_file,
            key_file,
            dir,
        }
    }

    pub fn tls_config(&self) -> TlsConfig {
        TlsConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            cert_file: self.cert_file.clone(),
            key_file: self.key_file.clone(),
        }
    }

    /// A rustls client (ring) whose only root is this CA.
    pub fn connector(&self) -> TlsConnector {
        use rustls::pki_types::{pem::PemObject, CertificateDer};
        let mut roots = RootCertStore::empty();
        roots
            .add(CertificateDer::from_pem_slice(self.ca_pem.as_bytes()).unwrap())
            .unwrap();
        let config =
            ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_root_certificates(roots)
                .with_no_client_auth();
        TlsConnector::from(Arc::new(config))
    }
}

/// A raw msync client; `S` is the stream under the WebSocket (plain TCP or TLS).
pub struct Client<S = MaybeTlsStream<TcpStream>> {
    pub socket: WebSocketStream<S>,
}

/// What the server sent: a decoded frame, or the end of the connection.
#[derive(Debug)]
pub enum Received {
    Frame { command: i32, payload: Bytes },
    Closed(Option<u16>),
}

impl<S: AsyncRead + AsyncWrite + Unpin> Client<S> {
    pub async fn send_raw(&mut self, bytes: Vec<u8>) {
        self.socket
            .send(Message::Binary(bytes.into()))
            .await
            .unwrap();
    }

    pub async fn send_frame(&mut self, command: Command, payload: Vec<u8>) {
        let envelope = pb::MSync {
            version: Some(0),
            command: Some(command as i32),
            payload: Some(payload.into()),
            encrypt_type: vec![0],
            ..Default::default()
        };
        self.send_raw(envelope.encode_to_vec()).await;
    }

    pub async fn receive(&mut self) -> Received {
        loop {
            let message = tokio::time::timeout(WAIT, self.socket.next())
                .await
                .expect("no frame in time");
            match message {
                Some(Ok(Message::Binary(bytes))) => {
                    let envelope = pb::MSync::decode(bytes).unwrap();
                    return Received::Frame {
                        command: envelope.command.unwrap_or(0),
                        payload: envelope.payload.unwrap_or_default(),
                    };
                }
                Some(Ok(Message::Close(frame))) => {
                    return Received::Closed(frame.map(|f| f.code.into()))
                }
                Some(Ok(_)) => continue,
                Some(Err(_)) | None => return Received::Closed(None),
            }
        }
    }

    pub async fn expect<T: prost::Message + Default>(&mut self, command: Command) -> T {
        match self.receive().await {
            Received::Frame {
                command: got,
                payload,
            } => {
                assert_eq!(got, command as i32, "unexpected command");
                T::decode(payload).unwrap()
            }
            Received::Closed(code) => panic!("closed ({code:?}) while waiting for {command:?}"),
        }
    }

    pub async fn provision(
        &mut self,
        app_key: &str,
        user: &str,
        token: &str,
        resource: &str,
    ) -> pb::Provision {
        let device = pb::Provision {
            resource: Some(resource.into()),
            device_name: Some("webim".into()),
            ..Default::default()
        };
        self.provision_as(app_key, user, token, device).await
    }

    /// A PROVISION as the web SDK sends it, with the device fields of `device` (resource,
    /// `deviceUuid`, `deviceName`, `reason`).
    pub async fn provision_as(
        &mut self,
        app_key: &str,
        user: &str,
        token: &str,
        device: pb::Provision,
    ) -> pb::Provision {
        let resource = device.resource.clone();
        let body = pb::Provision {
            os_type: Some(16),
            version: Some("1.4.0".into()),
            auth_token: Some(format!("{{\"token\":\"$t${token}\"}}")),
            ..device
        };
        let envelope = pb::MSync {
            version: Some(0),
            command: Some(Command::Provision as i32),
            guid: Some(pb::Jid {
                app_key: Some(app_key.into()),
                name: Some(user.into()),
                domain: Some("easemob.com".into()),
                client_resource: resource,
            }),
            auth: Some(format!("$t${token}")),
            payload: Some(body.encode_to_vec().into()),
            ..Default::default()
        };
        self.send_raw(envelope.encode_to_vec()).await;
        self.expect(Command::Provision).await
    }

    /// Sends a text message and returns the ack.
    pub async fn send_text(
        &mut self,
        client_id: u64,
        to: &str,
        from: &str,
        text: &str,
    ) -> pb::CommSyncDl {
        self.submit_text(client_id, to, from, text).await;
        self.expect(Command::Sync).await
    }

    /// Sends a text message without waiting for its ack.
    pub async fn submit_text(&mut self, client_id: u64, to: &str, from: &str, text: &str) {
        self.send_raw(text_frame(client_id, to, from, text)).await;
    }

    pub async fn unread(&mut self) -> pb::CommUnreadDl {
        self.send_frame(Command::Unread, Vec::new()).await;
        self.expect(Command::Unread).await
    }

    pub async fn pull(&mut self, peer: &str, key: Option<u64>) -> pb::CommSyncDl {
        let request = pb::CommSyncUl {
            key,
            queue: Some(pb::Jid {
                app_key: Some(APP_KEY.into()),
                name: Some(peer.into()),
                domain: Some("easemob.com".into()),
                ..Default::default()
            }),
            ..Default::default()
        };
        self.send_frame(Command::Sync, request.encode_to_vec())
            .await;
        self.expect(Command::Sync).await
    }

    /// Pulls a queue to the end, acknowledging each page; returns the texts in order.
    pub async fn drain(&mut self, peer: &str) -> Vec<String> {
        let mut texts = Vec::new();
        let mut key = None;
        loop {
            let page = self.pull(peer, key).await;
            if page.metas.is_empty() {
                assert_eq!(page.is_last, Some(true));
                return texts;
            }
            assert_eq!(page.is_last, None, "metas never come with isLast");
            texts.extend(page_texts(&page));
            key = page.next_key;
        }
    }
}

/// The texts of a page's metas, in order.
pub fn page_texts(page: &pb::CommSyncDl) -> Vec<String> {
    page.metas
        .iter()
        .map(|meta| {
            let body = pb::MessageBody::decode(meta.payload.clone().unwrap()).unwrap();
            body.contents[0].text.clone().unwrap()
        })
        .collect()
}

/// An uplink SYNC frame sending `text` from `from` to `to` under `client_id`, as the SDK
/// builds it (the body names both parties).
pub fn text_frame(client_id: u64, to: &str, from: &str, text: &str) -> Vec<u8> {
    let body = pb::MessageBody {
        r#type: Some(1),
        from: Some(pb::Jid {
            name: Some(from.into()),
            ..Default::default()
        }),
        to: Some(pb::Jid {
            name: Some(to.into()),
            ..Default::default()
        }),
        contents: vec![pb::message_body::Content {
            r#type: Some(0),
            text: Some(text.into()),
            ..Default::default()
        }],
        ..Default::default()
    };
    let request = pb::CommSyncUl {
        meta: Some(pb::Meta {
            id: Some(client_id),
            to: Some(pb::Jid {
                app_key: Some(APP_KEY.into()),
                name: Some(to.into()),
                domain: Some("easemob.com".into()),
                ..Default::default()
            }),
            ns: Some(1),
            payload: Some(body.encode_to_vec().into()),
            ..Default::default()
        }),
        ..Default::default()
    };
    pb::MSync {
        version: Some(0),
        command: Some(Command::Sync as i32),
        payload: Some(request.encode_to_vec().into()),
        encrypt_type: vec![0],
        ..Default::default()
    }
    .encode_to_vec()
}

/// A raw HTTP answer: status, headers and the body's bytes.
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }
}

/// One raw HTTP/1.1 exchange with `Connection: close`: `head` is the request line and any
/// headers (each ending in CRLF); `Host`, `Connection` and `Content-Length` are added.
pub async fn exchange(server: &TestServer, head: &str, body: &[u8]) -> Reply {
    let mut stream = TcpStream::connect(server.address).await.unwrap();
    let mut request = format!(
        "{head}Host: test\r\nConnection: close\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    request.extend_from_slice(body);
    // The server may answer (and close) before reading everything when the body is too large.
    let _ = stream.write_all(&request).await;
    let mut raw = Vec::new();
    let _ = stream.read_to_end(&mut raw).await;
    let split = raw
        .windows(4)
        .position(|window| window == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no response head: {:?}", String::from_utf8_lossy(&raw)));
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(key, value)| (key.trim().to_owned(), value.trim().to_owned()))
        .collect();
    Reply {
        status,
        headers,
        body: raw[split + 4..].to_vec(),
    }
}
