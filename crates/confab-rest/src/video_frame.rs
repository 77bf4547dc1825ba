//! First frames of uploaded videos (`GET …/chatfiles/{uuid}?vframe=true`), extracted by an
//! external `ffmpeg`.
//!
//! There is no maintained pure-Rust decoder for what phones record (H.264, HEVC, VP9), so the
//! server runs the `ffmpeg` named in config on a scratch copy of the video, bounded in time and
//! in concurrency, and reads one PNG frame from its stdout. The caller scales it like an image
//! thumbnail and keeps it beside the original, so each video is decoded once. Without the tool
//! (not configured, or not installed) the URL answers 404 `video_frame_not_available`.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::io::AsyncRead;
use tokio::process::Command;
use tokio::sync::Semaphore;

/// Decodes running at once; each is one `ffmpeg` process.
const CONCURRENT_DECODES: usize = 2;
/// Longest one decode may take before its process is killed.
const DECODE_TIMEOUT: Duration = Duration::from_secs(15);
/// How much of ffmpeg's stderr goes into an error.
const STDERR_EXCERPT_BYTES: usize = 400;

#[derive(Debug, thiserror::Error)]
pub(crate) enum VideoFrameError {
    #[error("no video frame tool is configured")]
    Disabled,
    #[error("cannot run {tool}: {source}")]
    Spawn {
        tool: PathBuf,
        source: std::io::Error,
    },
    #[error("the video frame tool took longer than {0:?}")]
    Timeout(Duration),
    #[error("the video frame tool found no frame: {0}")]
    NoFrame(String),
    #[error("scratch file: {0}")]
    Scratch(#[from] std::io::Error),
}

/// Runs the frame tool. Cheap to share: one per server.
#[derive(Debug)]
pub struct VideoFrames {
    tool: Option<PathBuf>,
    scratch_dir: PathBuf,
    permits: Semaphore,
    /// Set once a missing tool was logged, so a client cannot fill the log with it.
    reported_missing: AtomicBool,
}

impl VideoFrames {
    /// `tool`: the `ffmpeg` to run (a path, or a name looked up in `PATH`); `None` disables
    /// extraction. Videos are copied into `scratch_dir` (created when needed) for the decode;
    /// copies a crash left there are removed now, at start.
    pub fn new(tool: Option<PathBuf>, scratch_dir: PathBuf) -> VideoFrames {
        remove_leftover_scratch(&scratch_dir);
        VideoFrames {
            tool,
            scratch_dir,
            permits: Semaphore::new(CONCURRENT_DECODES),
            reported_missing: AtomicBool::new(false),
        }
    }

    /// The first frame of the video read from `video`, PNG-encoded at its own size.
    pub(crate) async fn first_frame(
        &self,
        video: impl AsyncRead + Unpin,
    ) -> Result<Vec<u8>, VideoFrameError> {
        let tool = self.tool.as_deref().ok_or(VideoFrameError::Disabled)?;
        // Closed never: the semaphore lives as long as `self`.
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| VideoFrameError::Disabled)?;
        let scratch = ScratchFile::write(&self.scratch_dir, video).await?;
        let result = self.run(tool, scratch.path()).await;
        scratch.remove().await;
        result
    }

    async fn run(&self, tool: &Path, video: &Path) -> Result<Vec<u8>, VideoFrameError> {
        let child = Command::new(tool)
            .args(["-nostdin", "-hide_banner", "-loglevel", "error", "-i"])
            .arg(video)
            .args(["-map", "0:v:0", "-frames:v", "1", "-f", "image2pipe"])
            .args(["-c:v", "png", "pipe:1"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn();
        let child = match child {
            Ok(child) => child,
            Err(source) => {
                if !self.reported_missing.swap(true, Ordering::Relaxed) {
                    tracing::warn!(tool = %tool.display(), %source,
                        "video first frames are unavailable: the frame tool does not run");
                }
                return Err(VideoFrameError::Spawn {
                    tool: tool.to_owned(),
                    source,
                });
            }
        };
        // Dropping the future on timeout drops the child, which kills it (`kill_on_drop`).
        let output = tokio::time::timeout(DECODE_TIMEOUT, child.wait_with_output())
            .await
            .map_err(|_| VideoFrameError::Timeout(DECODE_TIMEOUT))??;
        if output.status.success() && !output.stdout.is_empty() {
            return Ok(output.stdout);
        }
        let stderr = &output.stderr[..output.stderr.len().min(STDERR_EXCERPT_BYTES)];
        Err(VideoFrameError::NoFrame(format!(
            "{}: {}",
            output.status,
            String::from_utf8_lossy(stderr).trim()
        )))
    }
}

const SCRATCH_PREFIX: &str = "vframe-";

fn remove_leftover_scratch(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        if entry
            .file_name()
            .to_string_lossy()
            .starts_with(SCRATCH_PREFIX)
        {
            if let Err(error) = std::fs::remove_file(entry.path()) {
                tracing::warn!(path = %entry.path().display(), %error, "scratch video not removed");
            }
        }
    }
}

/// A copy of the video on local disk: ffmpeg needs to seek (an mp4 may keep its index at the
/// end), and the file store may not be local.
struct ScratchFile {
    path: PathBuf,
}

impl ScratchFile {
    async fn write(dir: &Path, mut video: impl AsyncRead + Unpin) -> std::io::Result<ScratchFile> {
        tokio::fs::create_dir_all(dir).await?;
        let scratch = ScratchFile {
            path: dir.join(format!("{SCRATCH_PREFIX}{}", uuid::Uuid::new_v4())),
        };
        let mut file = tokio::fs::File::create(&scratch.path).await?;
        tokio::io::copy(&mut video, &mut file).await?;
        Ok(scratch)
    }

    fn path(&self) -> &Path {
        &self.path
    }

    async fn remove(self) {
        if let Err(error) = tokio::fs::remove_file(&self.path).await {
            tracing::warn!(path = %self.path.display(), %error, "scratch video not removed");
        }
    }
}
