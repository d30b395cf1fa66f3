//! Documents and videos from a tenant's URL, passed on without being held whole: the same SSRF
//! guard as images ([`super::open_guarded`]), the size announced by the host (Content-Length,
//! required: a video is initialized with its size) checked against LinkedIn's limits before a
//! byte is read, the type read from the first bytes, and the running count held to the
//! announced size. A document goes on as a streamed request body ([`LargeMedia::into_body`]),
//! a video part by part ([`LargeMedia::read_part`]): at most one part (4 MiB) is in memory.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use url::Url;

use super::{loggable, open_guarded, refused, unavailable, MediaError, MediaRefusal};
use crate::config::MediaSettings;
use crate::domain::posts::{MAX_DOCUMENT_BYTES, MAX_VIDEO_BYTES, MIN_VIDEO_BYTES};

/// The longest the host may keep us waiting for the next bytes. A large file's whole transfer is
/// bounded by the invocation's time instead (the caller's deadline).
pub const READ_IDLE_TIMEOUT: Duration = Duration::from_secs(20);

/// The longest a large file's whole transfer may take; the invocation's deadline comes first.
pub const LARGE_FETCH_TIMEOUT: Duration = Duration::from_secs(900);

/// What a large media file must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LargeKind {
    /// PDF, PPT, PPTX, DOC, DOCX; at most 100 MB.
    Document,
    /// MP4; 75 KB – 500 MB.
    Video,
}

impl LargeKind {
    fn size_refusal(self, size: u64) -> Option<MediaRefusal> {
        match self {
            Self::Document => (size > MAX_DOCUMENT_BYTES).then_some(MediaRefusal::DocumentTooLarge),
            Self::Video => (!(MIN_VIDEO_BYTES..=MAX_VIDEO_BYTES).contains(&size))
                .then_some(MediaRefusal::VideoSize),
        }
    }

    /// Whether the first bytes are of this kind (at least 12 of them, or all there are).
    pub fn sniff(self, head: &[u8]) -> bool {
        match self {
            Self::Document => {
                head.starts_with(b"%PDF")
                    || head.starts_with(&[0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1])
                    || head.starts_with(b"PK\x03\x04")
            }
            // ISO base media: a box size, then the `ftyp` box first.
            Self::Video => head.get(4..8) == Some(b"ftyp".as_slice()),
        }
    }

    fn type_refusal(self) -> MediaRefusal {
        match self {
            Self::Document => MediaRefusal::NotADocument,
            Self::Video => MediaRefusal::NotAVideo,
        }
    }
}

/// A large file being read from the tenant's host.
pub struct LargeMedia {
    url: Url,
    response: reqwest::Response,
    /// The size the host announced, checked against the kind's limits.
    pub size: u64,
    /// Read but not handed on yet (the sniffed head, or what one part left over).
    pending: Bytes,
    /// How many bytes have come from the host so far.
    received: u64,
}

/// Opens `url`, checks the announced size against `kind`'s limits and the first bytes against
/// its type. Nothing past the first chunk is read yet.
pub async fn open_large(
    url: &Url,
    settings: &MediaSettings,
    kind: LargeKind,
) -> Result<LargeMedia, MediaError> {
    let response = open_guarded(url, settings, Some(LARGE_FETCH_TIMEOUT)).await?;
    let Some(size) = response.content_length() else {
        return Err(refused(url, MediaRefusal::NoLength));
    };
    if let Some(refusal) = kind.size_refusal(size) {
        return Err(refused(url, refusal));
    }
    let mut media = LargeMedia {
        url: url.clone(),
        response,
        size,
        pending: Bytes::new(),
        received: 0,
    };
    let mut head = BytesMut::new();
    while head.len() < 12 {
        match media.next_from_host().await? {
            Some(chunk) => head.extend_from_slice(&chunk),
            None => break,
        }
    }
    if !kind.sniff(&head) {
        return Err(refused(url, kind.type_refusal()));
    }
    media.pending = head.freeze();
    Ok(media)
}

/// Where a streamed body's source failed, for the uploader to tell apart from LinkedIn's
/// failure (the PUT fails either way).
#[derive(Debug, Clone, Default)]
pub struct SourceFailure(Arc<Mutex<Option<MediaError>>>);

impl SourceFailure {
    pub fn take(&self) -> Option<MediaError> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).take()
    }
    fn set(&self, e: MediaError) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = Some(e);
    }
}

impl LargeMedia {
    /// The next chunk from the host, held to the announced size: more bytes than announced,
    /// or an end before it, fail.
    async fn next_from_host(&mut self) -> Result<Option<Bytes>, MediaError> {
        let read = tokio::time::timeout(READ_IDLE_TIMEOUT, self.response.chunk())
            .await
            .map_err(|_| {
                unavailable(
                    &self.url,
                    &format!("no bytes for {READ_IDLE_TIMEOUT:?} while reading"),
                )
            })?
            .map_err(|e| unavailable(&self.url, &format!("reading: {}", e.without_url())))?;
        match read {
            Some(chunk) => {
                self.received += chunk.len() as u64;
                if self.received > self.size {
                    return Err(refused(&self.url, MediaRefusal::LengthMismatch));
                }
                Ok(Some(chunk))
            }
            None if self.received < self.size => {
                // The connection ended early: the host may do better next time.
                Err(unavailable(
                    &self.url,
                    &format!(
                        "the body ended after {} of {} announced bytes",
                        self.received, self.size
                    ),
                ))
            }
            None => Ok(None),
        }
    }

    /// The next bytes, pending ones first.
    async fn next_chunk(&mut self) -> Result<Option<Bytes>, MediaError> {
        if !self.pending.is_empty() {
            return Ok(Some(std::mem::take(&mut self.pending)));
        }
        self.next_from_host().await
    }

    /// Exactly `len` bytes (the file's next part), or a failure if the file ends before.
    pub async fn read_part(&mut self, len: u64) -> Result<Bytes, MediaError> {
        let len = len as usize;
        let mut part = BytesMut::with_capacity(len);
        while part.len() < len {
            let Some(mut chunk) = self.next_chunk().await? else {
                return Err(unavailable(&self.url, "the body ended inside a part"));
            };
            let want = len - part.len();
            if chunk.len() > want {
                self.pending = chunk.split_off(want);
            }
            part.extend_from_slice(&chunk);
        }
        Ok(part.freeze())
    }

    /// The whole file as a request body, streamed: chunks pass through as they come. A failure
    /// of the source ends the body with an error (the upload fails) and is kept in the
    /// returned [`SourceFailure`].
    pub fn into_body(self) -> (reqwest::Body, SourceFailure) {
        let failure = SourceFailure::default();
        let slot = failure.clone();
        let url = loggable(&self.url);
        let chunks = futures_util::stream::unfold(Some(self), move |state| {
            let slot = slot.clone();
            let url = url.clone();
            async move {
                let mut media = state?;
                match media.next_chunk().await {
                    Ok(Some(chunk)) => Some((Ok(chunk), Some(media))),
                    Ok(None) => None,
                    Err(e) => {
                        slot.set(e);
                        let error = std::io::Error::other(format!("reading {url} failed"));
                        Some((Err(error), None))
                    }
                }
            }
        });
        (reqwest::Body::wrap_stream(chunks), failure)
    }
}

/// The largest captions file taken.
pub const MAX_CAPTIONS_BYTES: usize = 1024 * 1024;

/// A video's captions file (SRT, or WebVTT) through the same guard, held whole: it is small.
pub async fn fetch_captions(url: &Url, settings: &MediaSettings) -> Result<Vec<u8>, MediaError> {
    let mut response = open_guarded(url, settings, Some(super::FETCH_TIMEOUT)).await?;
    let mut bytes = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| unavailable(url, &format!("reading: {}", e.without_url())))?
    {
        if bytes.len() + chunk.len() > MAX_CAPTIONS_BYTES {
            return Err(refused(url, MediaRefusal::NotCaptions));
        }
        bytes.extend_from_slice(&chunk);
    }
    if !is_captions(&bytes) {
        return Err(refused(url, MediaRefusal::NotCaptions));
    }
    Ok(bytes)
}

/// SRT starts with its first cue's number, WebVTT with `WEBVTT`; either is UTF-8 text.
fn is_captions(bytes: &[u8]) -> bool {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return false;
    };
    let text = text.trim_start_matches('\u{feff}').trim_start();
    text.starts_with("WEBVTT") || text.starts_with(|c: char| c.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_are_read_from_the_first_bytes() {
        let cases: &[(LargeKind, &[u8], bool)] = &[
            (LargeKind::Document, b"%PDF-1.7\n", true),
            (
                LargeKind::Document,
                &[0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1, 0],
                true,
            ),
            (LargeKind::Document, b"PK\x03\x04rest", true),
            (LargeKind::Document, b"<html><body>", false),
            (LargeKind::Video, b"\0\0\0\x20ftypisom", true),
            (LargeKind::Video, b"ftypisom0000", false),
            (LargeKind::Video, b"%PDF-1.7\n", false),
        ];
        for (kind, head, ok) in cases {
            assert_eq!(kind.sniff(head), *ok, "{kind:?} {head:?}");
        }
    }

    #[test]
    fn captions_are_srt_or_webvtt_text() {
        assert!(is_captions(b"1\n00:00:00,000 --> 00:00:02,000\nHello\n"));
        assert!(is_captions(b"WEBVTT\n\n00:00.000 --> 00:02.000\nHello\n"));
        assert!(!is_captions(b"<html>"));
        assert!(!is_captions(&[0xFF, 0xD8, 0xFF]));
    }

    #[test]
    fn sizes_are_held_to_linkedins_limits() {
        let cases = [
            (LargeKind::Document, MAX_DOCUMENT_BYTES, None),
            (
                LargeKind::Document,
                MAX_DOCUMENT_BYTES + 1,
                Some(MediaRefusal::DocumentTooLarge),
            ),
            (
                LargeKind::Video,
                MIN_VIDEO_BYTES - 1,
                Some(MediaRefusal::VideoSize),
            ),
            (LargeKind::Video, MIN_VIDEO_BYTES, None),
            (LargeKind::Video, MAX_VIDEO_BYTES, None),
            (
                LargeKind::Video,
                MAX_VIDEO_BYTES + 1,
                Some(MediaRefusal::VideoSize),
            ),
        ];
        for (kind, size, refusal) in cases {
            assert_eq!(kind.size_refusal(size), refusal, "{kind:?} {size}");
        }
    }
}
