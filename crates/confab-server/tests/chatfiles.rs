//! Attachments over real sockets: `POST /{org}/{app}/chatfiles` (multipart) and
//! `GET /{org}/{app}/chatfiles/{uuid}` with the share secret, thumbnails, limits, bad input.

#![allow(clippy::unwrap_used)] // tests: a failed step should stop the test loudly

mod common;

use common::{exchange, Reply, TestServer, APP, ORG};

const BOUNDARY: &str = "----confabTestBoundary7MA4YWxkTrZu0gW";

/// A PNG of `width`×`height` whose pixels vary, so it does not compress to nothing.
fn gradient_png(width: u32, height: u32, blue: u8) -> Vec<u8> {
    let picture =
        image::RgbImage::from_fn(width, height, |x, y| image::Rgb([x as u8, y as u8, blue]));
    let mut png = std::io::Cursor::new(Vec::new());
    picture.write_to(&mut png, image::ImageFormat::Png).unwrap();
    png.into_inner()
}

/// A form field: name, `(filename, content type)` for a file, and the bytes.
type Part<'a> = (&'a str, Option<(&'a str, &'a str)>, &'a [u8]);

fn multipart(parts: &[Part<'_>]) -> Vec<u8> {
    let mut body = Vec::new();
    for (name, file, data) in parts {
        body.extend_from_slice(format!("--{BOUNDARY}\r\n").as_bytes());
        match file {
            Some((filename, content_type)) => body.extend_from_slice(
                format!(
                    "Content-Disposition: form-data; name=\"{name}\"; filename=\"{filename}\"\r\nContent-Type: {content_type}\r\n\r\n"
                )
                .as_bytes(),
            ),
            None => body.extend_from_slice(
                format!("Content-Disposition: form-data; name=\"{name}\"\r\n\r\n").as_bytes(),
            ),
        }
        body.extend_from_slice(data);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
    body
}

async fn upload(server: &TestServer, token: &str, body: &[u8]) -> Reply {
    let head = format!(
        "POST /{ORG}/{APP}/chatfiles?chat-type=chat&chat-target=roy HTTP/1.1\r\n\
         Authorization: Bearer {token}\r\nrestrict-access: true\r\nAccept: */*\r\n\
         Content-Type: multipart/form-data; boundary={BOUNDARY}\r\n"
    );
    exchange(server, &head, body).await
}

async fn download(server: &TestServer, path_and_query: &str, extra_headers: &str) -> Reply {
    let head = format!("GET /{ORG}/{APP}/chatfiles/{path_and_query} HTTP/1.1\r\n{extra_headers}");
    exchange(server, &head, b"").await
}

fn check_error(reply: &Reply, status: u16, error: &str, description: &str) {
    let body = reply.json();
    assert_eq!(reply.status, status, "{body}");
    assert_eq!(body["error"], error, "{body}");
    assert_eq!(body["error_description"], description, "{body}");
}

async fn server_with_leo(
    configure: impl FnOnce(&mut confab_server::Config),
) -> (TestServer, String) {
    let server = TestServer::start_with(configure).await;
    let token = server.user_token("leo", 3600);
    (server, token)
}

/// Uploads and returns (uuid, share-secret).
fn entity(reply: &Reply) -> (String, String) {
    let body = reply.json();
    assert_eq!(reply.status, 200, "{body}");
    let entity = &body["entities"][0];
    assert_eq!(entity["type"], "chatfile");
    (
        entity["uuid"].as_str().unwrap().to_owned(),
        entity["share-secret"].as_str().unwrap().to_owned(),
    )
}

#[tokio::test]
async fn round_trip_byte_for_byte_with_the_secret() {
    let (server, token) = server_with_leo(|_| {}).await;
    let data: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let reply = upload(
        &server,
        &token,
        &multipart(&[(
            "file",
            Some(("data.bin", "application/octet-stream")),
            &data,
        )]),
    )
    .await;
    let body = reply.json();
    assert_eq!(body["uri"], format!("http://test/{ORG}/{APP}/chatfiles"));
    assert_eq!(
        body["entities"][0]["file-metadata"]["content-length"],
        300_000
    );
    assert_eq!(
        body["entities"][0]["file-metadata"]["content-type"],
        "application/octet-stream"
    );
    let (uuid, secret) = entity(&reply);

    // As a received message's URL: the secret in the query.
    let got = download(
        &server,
        &format!("{uuid}?em-redirect=true&share-secret={secret}"),
        "",
    )
    .await;
    assert_eq!(got.status, 200);
    assert_eq!(got.header("content-type"), Some("application/octet-stream"));
    assert_eq!(got.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(got.header("content-security-policy"), Some("sandbox"));
    assert!(got.body == data, "same bytes");
    // As the SDK's `utils.download`: the secret in a header.
    let got = download(&server, &uuid, &format!("share-secret: {secret}\r\n")).await;
    assert_eq!(got.status, 200);
    assert!(got.body == data);

    // Stored durably: still there after a restart.
    let mut server = server;
    server.restart().await;
    let got = download(&server, &format!("{uuid}?share-secret={secret}"), "").await;
    assert_eq!(got.status, 200);
    assert!(got.body == data);
}

#[tokio::test]
async fn wrong_or_missing_secret_is_forbidden() {
    let (server, token) = server_with_leo(|_| {}).await;
    let reply = upload(
        &server,
        &token,
        &multipart(&[("file", Some(("a.txt", "text/plain")), b"hello")]),
    )
    .await;
    let (uuid, secret) = entity(&reply);
    for (query, headers) in [
        (uuid.clone(), String::new()),
        (format!("{uuid}?share-secret=nope"), String::new()),
        (uuid.clone(), "share-secret: nope\r\n".to_owned()),
        (
            format!("{uuid}?share-secret={}", &secret[1..]),
            String::new(),
        ),
    ] {
        let got = download(&server, &query, &headers).await;
        check_error(&got, 403, "forbidden_op", "chatfile no permission");
    }
}

#[tokio::test]
async fn unknown_uuid_is_expired() {
    let (server, _) = server_with_leo(|_| {}).await;
    for uuid in [
        "0f8fad5b-d9cb-469f-a165-70867728950e",
        "not-a-uuid",
        "..%2F..%2Fconfab.db",
    ] {
        let got = download(&server, &format!("{uuid}?share-secret=x"), "").await;
        check_error(&got, 404, "file_expired", "file not found or expired");
    }
}

#[tokio::test]
async fn too_large_is_the_upload_error() {
    let (server, token) = server_with_leo(|config| config.max_attachment_bytes = 1000).await;
    let at_limit = vec![1u8; 1000];
    let reply = upload(
        &server,
        &token,
        &multipart(&[(
            "file",
            Some(("ok.bin", "application/octet-stream")),
            &at_limit,
        )]),
    )
    .await;
    entity(&reply);
    let over = vec![1u8; 1001];
    let reply = upload(
        &server,
        &token,
        &multipart(&[("file", Some(("big.bin", "application/octet-stream")), &over)]),
    )
    .await;
    check_error(
        &reply,
        413,
        "file_too_large",
        "file size exceeds the limit of 1000 bytes",
    );
    // Far over the route's body limit too.
    let huge = vec![1u8; 300_000];
    let reply = upload(
        &server,
        &token,
        &multipart(&[(
            "file",
            Some(("huge.bin", "application/octet-stream")),
            &huge,
        )]),
    )
    .await;
    check_error(
        &reply,
        413,
        "file_too_large",
        "file size exceeds the limit of 1000 bytes",
    );
    // Nothing of the refused uploads is left behind.
    let staging = std::fs::read_dir(server.data_dir.path().join("files").join("tmp")).unwrap();
    assert_eq!(staging.count(), 0);
}

#[tokio::test]
async fn malformed_or_unauthorised_uploads() {
    let (server, token) = server_with_leo(|_| {}).await;
    // Not multipart at all.
    let head = format!(
        "POST /{ORG}/{APP}/chatfiles HTTP/1.1\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\n"
    );
    let reply = exchange(&server, &head, b"{}").await;
    assert_eq!(reply.status, 400, "{}", reply.json());
    assert_eq!(reply.json()["error"], "illegal_argument");
    // Broken framing: no closing boundary.
    let mut broken = multipart(&[("file", Some(("a.txt", "text/plain")), b"hello")]);
    broken.truncate(broken.len() - 10);
    let reply = upload(&server, &token, &broken).await;
    assert_eq!(reply.status, 400, "{}", reply.json());
    assert_eq!(reply.json()["error"], "illegal_argument");
    // No `file` field.
    let reply = upload(&server, &token, &multipart(&[("other", None, b"x")])).await;
    check_error(&reply, 400, "illegal_argument", "no file in the upload");
    // No token, and a token of a user that is not this one's app's.
    let body = multipart(&[("file", Some(("a.txt", "text/plain")), b"hello")]);
    let head = format!(
        "POST /{ORG}/{APP}/chatfiles HTTP/1.1\r\nContent-Type: multipart/form-data; boundary={BOUNDARY}\r\n"
    );
    let reply = exchange(&server, &head, &body).await;
    assert_eq!(reply.status, 401, "{}", reply.json());
    let forged = confab_token::build_user_token(
        &server.app_id,
        "0123456789abcdef0123456789abcdef",
        "leo",
        1,
        3600,
    );
    let reply = upload(&server, &forged, &body).await;
    assert_eq!(reply.status, 401, "{}", reply.json());
    // An app token may upload.
    let app_token = server.app_token().await;
    entity(&upload(&server, &app_token, &body).await);
}

/// A decompression bomb: 32 KB of PNG that declares 16384 × 16384 pixels (256 MiB once
/// decoded). Its header is over the pixel budget, so nothing is decoded and the thumbnail
/// URL serves the file as it is; an image within the budget still gets its thumbnail.
#[tokio::test]
async fn an_image_over_the_pixel_budget_is_not_decoded_for_a_thumbnail() {
    let bomb: &[u8] = include_bytes!("fixtures/bomb-16384x16384.png");
    let (server, token) = server_with_leo(|config| config.thumbnail_max_pixels = 400 * 300).await;
    let reply = upload(
        &server,
        &token,
        &multipart(&[("file", Some(("bomb.png", "image/png")), bomb)]),
    )
    .await;
    let (uuid, secret) = entity(&reply);
    let started = std::time::Instant::now();
    let got = download(
        &server,
        &format!("{uuid}?share-secret={secret}&thumbnail=true"),
        "",
    )
    .await;
    assert_eq!(got.status, 200);
    assert!(got.body == bomb, "the original, not a decoded thumbnail");
    assert!(started.elapsed() < std::time::Duration::from_secs(2));

    let png = gradient_png(400, 300, 7);
    let reply = upload(
        &server,
        &token,
        &multipart(&[("file", Some(("cat.png", "image/png")), &png)]),
    )
    .await;
    let (uuid, secret) = entity(&reply);
    let got = download(
        &server,
        &format!("{uuid}?share-secret={secret}&thumbnail=true"),
        "",
    )
    .await;
    let thumb = image::load_from_memory(&got.body).unwrap();
    assert!(thumb.width() < 400, "at the budget, still thumbnailed");
}

#[tokio::test]
async fn thumbnail_of_a_png() {
    let (server, token) = server_with_leo(|_| {}).await;
    let png = gradient_png(400, 300, 7);
    let reply = upload(
        &server,
        &token,
        &multipart(&[
            ("file", Some(("cat.png", "image/png")), &png),
            ("thumbnail-width", None, b"100"),
            ("thumbnail-height", None, b"100"),
        ]),
    )
    .await;
    let (uuid, secret) = entity(&reply);
    for _ in 0..2 {
        // Made on the first request, served from storage on the second.
        let got = download(
            &server,
            &format!("{uuid}?em-redirect=true&share-secret={secret}&thumbnail=true"),
            "",
        )
        .await;
        assert_eq!(got.status, 200);
        assert_eq!(got.header("content-type"), Some("image/png"));
        let thumb = image::load_from_memory(&got.body).unwrap();
        assert_eq!((thumb.width(), thumb.height()), (100, 75));
    }
    // The original is untouched.
    let got = download(&server, &format!("{uuid}?share-secret={secret}"), "").await;
    assert!(got.body == png);

    // Not an image: the thumbnail URL serves the file itself.
    let reply = upload(
        &server,
        &token,
        &multipart(&[("file", Some(("a.txt", "text/plain")), b"plain text")]),
    )
    .await;
    let (uuid, secret) = entity(&reply);
    let got = download(
        &server,
        &format!("{uuid}?share-secret={secret}&thumbnail=true"),
        "",
    )
    .await;
    assert_eq!(got.status, 200);
    assert_eq!(got.body, b"plain text");
    // Not a video: no first frame.
    let got = download(
        &server,
        &format!("{uuid}?share-secret={secret}&vframe=true"),
        "",
    )
    .await;
    check_no_video_frame(&got);
}

fn check_no_video_frame(reply: &Reply) {
    check_error(
        reply,
        404,
        "video_frame_not_available",
        "no first frame is available for this video",
    );
}

/// An H.264 mp4 (index at the end) whose first frame is red and the rest blue: made with
/// `ffmpeg -f lavfi -i color=c=red:s=160x120:r=10:d=0.1 -f lavfi -i color=c=blue:…:d=0.4
/// -filter_complex concat=n=2:v=1 -c:v libx264 -pix_fmt yuv420p`.
const RED_FIRST_FRAME_MP4: &[u8] = include_bytes!("fixtures/first-frame-red.mp4");

/// Whether `ffmpeg` runs here. CI installs it and sets `CONFAB_REQUIRE_FFMPEG`, so there a
/// missing tool fails the test instead of testing only the fallback.
async fn ffmpeg_runs() -> bool {
    let runs = tokio::process::Command::new("ffmpeg")
        .arg("-version")
        .stdout(std::process::Stdio::null())
        .status()
        .await
        .is_ok_and(|status| status.success());
    if !runs {
        assert!(
            std::env::var_os("CONFAB_REQUIRE_FFMPEG").is_none(),
            "CONFAB_REQUIRE_FFMPEG is set but ffmpeg does not run"
        );
        eprintln!("ffmpeg is not installed: checking only the 404 without it");
    }
    runs
}

async fn upload_video(server: &TestServer, token: &str) -> (String, String) {
    let reply = upload(
        server,
        token,
        &multipart(&[
            ("file", Some(("clip.mp4", "video/mp4")), RED_FIRST_FRAME_MP4),
            ("thumbnail-width", None, b"80"),
            ("thumbnail-height", None, b"80"),
        ]),
    )
    .await;
    entity(&reply)
}

#[tokio::test]
async fn first_frame_of_a_video() {
    let (server, token) = server_with_leo(|_| {}).await;
    let (uuid, secret) = upload_video(&server, &token).await;
    let path = format!("{uuid}?share-secret={secret}&vframe=true");
    if !ffmpeg_runs().await {
        let got = download(&server, &path, "").await;
        check_no_video_frame(&got);
        return;
    }
    // Twice: extracted, then served from the stored copy.
    for _ in 0..2 {
        let got = download(&server, &path, "").await;
        assert_eq!(got.status, 200, "{}", String::from_utf8_lossy(&got.body));
        assert_eq!(got.header("content-type"), Some("image/jpeg"));
        let frame = image::load_from_memory(&got.body).unwrap().to_rgb8();
        assert_eq!(
            frame.dimensions(),
            (80, 60),
            "scaled into the thumbnail box"
        );
        let image::Rgb([red, green, blue]) = *frame.get_pixel(40, 30);
        assert!(
            red > 200 && green < 60 && blue < 60,
            "the first (red) frame, got {red},{green},{blue}"
        );
    }
    // The secret still guards it; the original is untouched.
    let got = download(&server, &format!("{uuid}?vframe=true"), "").await;
    assert_eq!(got.status, 403);
    let got = download(&server, &format!("{uuid}?share-secret={secret}"), "").await;
    assert!(got.body == RED_FIRST_FRAME_MP4);
    // No scratch copies left behind.
    let scratch = server.data_dir.path().join("tmp");
    let left = std::fs::read_dir(&scratch)
        .map(|dir| dir.count())
        .unwrap_or(0);
    assert_eq!(left, 0, "scratch files left in {}", scratch.display());
}

#[tokio::test]
async fn first_frame_without_the_tool_is_not_available() {
    let (server, token) = server_with_leo(|config| {
        config.video_frame_tool = "/nonexistent/ffmpeg".to_owned();
        // A scratch copy a crash left behind, and a file that is not one.
        let scratch = config.data_dir.join("tmp");
        std::fs::create_dir_all(&scratch).unwrap();
        std::fs::write(scratch.join("vframe-left-by-a-crash"), b"x").unwrap();
        std::fs::write(scratch.join("keep-me"), b"x").unwrap();
    })
    .await;
    let scratch = server.data_dir.path().join("tmp");
    assert!(
        !scratch.join("vframe-left-by-a-crash").exists(),
        "removed at start"
    );
    assert!(scratch.join("keep-me").exists());
    let (uuid, secret) = upload_video(&server, &token).await;
    let got = download(
        &server,
        &format!("{uuid}?share-secret={secret}&vframe=true"),
        "",
    )
    .await;
    check_no_video_frame(&got);
    // A broken "video" with the tool present: also 404, and the server keeps serving.
    let (server, token) = server_with_leo(|_| {}).await;
    let reply = upload(
        &server,
        &token,
        &multipart(&[(
            "file",
            Some(("clip.mp4", "video/mp4")),
            b"not really a video",
        )]),
    )
    .await;
    let (uuid, secret) = entity(&reply);
    let got = download(
        &server,
        &format!("{uuid}?share-secret={secret}&vframe=true"),
        "",
    )
    .await;
    check_no_video_frame(&got);
    let got = download(&server, &format!("{uuid}?share-secret={secret}"), "").await;
    assert_eq!(got.body, b"not really a video");
}

async fn part_request(
    server: &TestServer,
    token: &str,
    method: &str,
    path: &str,
    body: &[u8],
) -> Reply {
    let content_type = if body.is_empty() {
        String::new()
    } else {
        format!("Content-Type: multipart/form-data; boundary={BOUNDARY}\r\n")
    };
    let head = format!(
        "{method} /{ORG}/{APP}/sdk/chatfiles/part-upload{path} HTTP/1.1\r\n\
         Authorization: Bearer {token}\r\n{content_type}"
    );
    exchange(server, &head, body).await
}

/// Init; returns the upload's uuid after checking the limits handed to the SDK.
async fn part_init(server: &TestServer, token: &str, limit: u64) -> String {
    let reply = part_request(server, token, "POST", "", b"").await;
    let body = reply.json();
    assert_eq!(reply.status, 200, "{body}");
    let entity = &body["entities"][0];
    assert_eq!(entity["file_upper_limit"], limit);
    assert_eq!(entity["part_lower_limit"], limit.min(5 * 1024 * 1024));
    entity["uuid"].as_str().unwrap().to_owned()
}

async fn put_part(
    server: &TestServer,
    token: &str,
    uuid: &str,
    number: &str,
    data: &[u8],
) -> Reply {
    // As the SDK sends it: the bytes first, then the number.
    let body = multipart(&[
        (
            "part_file",
            Some(("blob", "application/octet-stream")),
            data,
        ),
        ("part_number", None, number.as_bytes()),
    ]);
    part_request(server, token, "PUT", &format!("/{uuid}"), &body).await
}

#[tokio::test]
async fn multipart_upload_round_trip() {
    let (server, token) = server_with_leo(|_| {}).await;
    let png = gradient_png(64, 64, 1);
    let (first, second) = png.split_at(png.len() / 2);

    let uuid = part_init(&server, &token, 10 * 1024 * 1024).await;
    // Out of order, and part 1 sent twice (the second copy wins).
    assert_eq!(
        put_part(&server, &token, &uuid, "2", second).await.status,
        200
    );
    assert_eq!(
        put_part(&server, &token, &uuid, "1", b"stale").await.status,
        200
    );
    assert_eq!(
        put_part(&server, &token, &uuid, "1", first).await.status,
        200
    );
    let reply = part_request(
        &server,
        &token,
        "POST",
        &format!("/{uuid}?restrict-access=true&chat-type=chat&chat-target=roy"),
        b"",
    )
    .await;
    let body = reply.json();
    assert_eq!(body["entities"][0]["uuid"], uuid.as_str());
    assert_eq!(
        body["entities"][0]["file-metadata"]["content-type"],
        "image/png"
    );
    assert_eq!(
        body["entities"][0]["file-metadata"]["content-length"],
        png.len()
    );
    let (_, secret) = entity(&reply);
    let got = download(&server, &format!("{uuid}?share-secret={secret}"), "").await;
    assert_eq!(got.status, 200);
    assert!(got.body == png);
    check_error(
        &download(&server, &uuid, "").await,
        403,
        "forbidden_op",
        "chatfile no permission",
    );
    // Completed uploads are gone from the table; no part objects are left behind.
    let again = part_request(&server, &token, "POST", &format!("/{uuid}"), b"").await;
    check_error(&again, 404, "file_expired", "file not found or expired");
    let prefix = server
        .data_dir
        .path()
        .join("files")
        .join(&uuid[0..2])
        .join(&uuid[2..4]);
    let names: Vec<_> = std::fs::read_dir(prefix)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .filter(|name| name.contains(".part"))
        .collect();
    assert!(names.is_empty(), "{names:?}");
}

#[tokio::test]
async fn multipart_upload_errors() {
    let (server, token) = server_with_leo(|config| config.max_attachment_bytes = 1000).await;
    // A gap in the part numbers.
    let uuid = part_init(&server, &token, 1000).await;
    assert_eq!(
        put_part(&server, &token, &uuid, "2", b"two").await.status,
        200
    );
    let reply = part_request(&server, &token, "POST", &format!("/{uuid}"), b"").await;
    check_error(
        &reply,
        400,
        "illegal_argument",
        "malformed upload: parts must be numbered 1..n without gaps",
    );
    // Over the limit in total.
    let uuid = part_init(&server, &token, 1000).await;
    assert_eq!(
        put_part(&server, &token, &uuid, "1", &[1; 600])
            .await
            .status,
        200
    );
    assert_eq!(
        put_part(&server, &token, &uuid, "2", &[2; 600])
            .await
            .status,
        200
    );
    let reply = part_request(&server, &token, "POST", &format!("/{uuid}"), b"").await;
    check_error(
        &reply,
        413,
        "file_too_large",
        "file size exceeds the limit of 1000 bytes",
    );
    // No part number; a part of another user's upload; abort; unknown uploads.
    let uuid = part_init(&server, &token, 1000).await;
    let body = multipart(&[(
        "part_file",
        Some(("blob", "application/octet-stream")),
        b"x",
    )]);
    let reply = part_request(&server, &token, "PUT", &format!("/{uuid}"), &body).await;
    check_error(
        &reply,
        400,
        "illegal_argument",
        "malformed upload: part_file and part_number are required",
    );
    let roy = server.user_token("roy", 3600);
    check_error(
        &put_part(&server, &roy, &uuid, "1", b"x").await,
        404,
        "file_expired",
        "file not found or expired",
    );
    let reply = part_request(&server, &token, "DELETE", &format!("/{uuid}"), b"").await;
    assert_eq!(reply.status, 200, "{}", reply.json());
    check_error(
        &put_part(&server, &token, &uuid, "1", b"x").await,
        404,
        "file_expired",
        "file not found or expired",
    );
    check_error(
        &part_request(&server, &token, "DELETE", &format!("/{uuid}"), b"").await,
        404,
        "file_expired",
        "file not found or expired",
    );
}
