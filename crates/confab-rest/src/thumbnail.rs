//! Thumbnails of uploaded images (and of video first frames): decoded only when the header
//! says the image is within a pixel budget, and only a few at a time, because a small
//! compressed file can declare a huge canvas (a 261 KB PNG of 16384² pixels decodes into
//! 256 MiB).

use std::io::Cursor;
use std::time::Duration;

use tokio::sync::Semaphore;

/// How long a thumbnail waits for a decoding slot before the original is served instead.
const SLOT_WAIT: Duration = Duration::from_secs(5);

/// Bytes a decode may allocate per pixel of the budget: RGBA at 8 bits per channel. A 16-bit
/// image needs twice that, so one over half the budget fails to decode and is served as is.
const BYTES_PER_PIXEL: u64 = 4;
/// The decoder's working memory besides the image (palettes, rows, the zlib window).
const DECODER_SLACK_BYTES: u64 = 16 * 1024 * 1024;

/// Limits of thumbnail work, shared by every request.
#[derive(Debug)]
pub struct Thumbnails {
    max_pixels: u64,
    slots: Semaphore,
    slot_wait: Duration,
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum ThumbnailError {
    #[error("the image is {width}×{height} pixels, over the limit of {limit}")]
    TooManyPixels { width: u32, height: u32, limit: u64 },
    #[error("no decoding slot was free within {0:?}")]
    Busy(Duration),
    #[error(transparent)]
    Image(#[from] image::ImageError),
    #[error("the decoding task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
}

impl Thumbnails {
    /// `max_pixels`: largest `width × height` decoded; `concurrency`: decodes at once (at
    /// least one).
    pub fn new(max_pixels: u64, concurrency: usize) -> Thumbnails {
        Thumbnails {
            max_pixels,
            slots: Semaphore::new(concurrency.max(1)),
            slot_wait: SLOT_WAIT,
        }
    }

    /// Waits for a decoding slot (at most `SLOT_WAIT`), then runs `bytes()` to get the image
    /// and scales it into `width`×`height` off the runtime's threads. The bytes are read only
    /// once a slot is held, so waiting requests hold no image in memory.
    pub(crate) async fn scale<F, E>(
        &self,
        bytes: F,
        width: u32,
        height: u32,
        jpeg: bool,
    ) -> Result<Result<Vec<u8>, ThumbnailError>, E>
    where
        F: std::future::Future<Output = Result<Vec<u8>, E>>,
    {
        // Closed never: the semaphore lives as long as `self`.
        let Ok(Ok(_slot)) = tokio::time::timeout(self.slot_wait, self.slots.acquire()).await else {
            return Ok(Err(ThumbnailError::Busy(self.slot_wait)));
        };
        let bytes = bytes.await?;
        let max_pixels = self.max_pixels;
        let made = tokio::task::spawn_blocking(move || {
            make_thumbnail(&bytes, width, height, jpeg, max_pixels)
        })
        .await;
        Ok(match made {
            Ok(result) => result,
            Err(error) => Err(error.into()),
        })
    }
}

/// Decodes png/jpeg/gif/webp of at most `max_pixels`, scales into `width`×`height` (never
/// up), encodes JPEG for JPEG input and PNG otherwise.
fn make_thumbnail(
    bytes: &[u8],
    width: u32,
    height: u32,
    jpeg: bool,
    max_pixels: u64,
) -> Result<Vec<u8>, ThumbnailError> {
    // The header alone says how large the canvas is; nothing is allocated for it yet.
    let (image_width, image_height) = image::ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(image::ImageError::IoError)?
        .into_dimensions()?;
    if u64::from(image_width) * u64::from(image_height) > max_pixels {
        return Err(ThumbnailError::TooManyPixels {
            width: image_width,
            height: image_height,
            limit: max_pixels,
        });
    }
    let mut reader = image::ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(image::ImageError::IoError)?;
    let mut limits = image::Limits::default();
    // The same budget again for the decoder itself, in case a format's header and data
    // disagree (a GIF frame larger than its screen, say).
    limits.max_alloc = Some(max_pixels.saturating_mul(BYTES_PER_PIXEL) + DECODER_SLACK_BYTES);
    reader.limits(limits);
    let image = reader.decode()?;
    let image = if image.width() > width || image.height() > height {
        image.thumbnail(width, height)
    } else {
        image
    };
    let mut out = Cursor::new(Vec::new());
    if jpeg {
        image
            .to_rgb8()
            .write_to(&mut out, image::ImageFormat::Jpeg)?;
    } else {
        image.write_to(&mut out, image::ImageFormat::Png)?;
    }
    Ok(out.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(width: u32, height: u32) -> Vec<u8> {
        let image = image::GrayImage::new(width, height);
        let mut out = Cursor::new(Vec::new());
        image
            .write_to(&mut out, image::ImageFormat::Png)
            .expect("encodes");
        out.into_inner()
    }

    #[test]
    fn an_image_over_the_pixel_budget_is_refused_before_decoding() {
        match make_thumbnail(&png(300, 200), 100, 100, false, 300 * 200 - 1) {
            Err(ThumbnailError::TooManyPixels { width, height, .. }) => {
                assert_eq!((width, height), (300, 200))
            }
            other => panic!("expected a refusal, got {other:?}"),
        }
        let thumb = make_thumbnail(&png(300, 200), 100, 100, false, 300 * 200).expect("made");
        let decoded = image::load_from_memory(&thumb).expect("a png");
        assert_eq!((decoded.width(), decoded.height()), (100, 67));
    }

    #[tokio::test]
    async fn a_thumbnail_waits_for_a_free_slot_and_gives_up_after_the_wait() {
        let mut thumbnails = Thumbnails::new(1_000_000, 1);
        thumbnails.slot_wait = Duration::from_millis(50);
        let held = thumbnails.slots.acquire().await.expect("open");
        let made = thumbnails
            .scale(async { Ok::<_, ()>(png(10, 10)) }, 5, 5, false)
            .await
            .expect("bytes read");
        assert!(matches!(made, Err(ThumbnailError::Busy(_))), "{made:?}");
        drop(held);
        let made = thumbnails
            .scale(async { Ok::<_, ()>(png(10, 10)) }, 5, 5, false)
            .await
            .expect("bytes read");
        assert!(made.is_ok(), "{made:?}");
    }
}
