//! A post's document or video: fetched from the tenant's URL and passed on to LinkedIn without
//! being held whole (a document as one streamed PUT, a video part by part, at most one 4 MiB
//! part in memory), then waited for by redelivery until LinkedIn says AVAILABLE.
//!
//! What is remembered: the URN goes into the post's `media_urns` (saved) only once the upload is
//! complete — a document's PUT done, a video finalized — so a redelivery waits for AVAILABLE
//! instead of uploading again. An upload cut short (a part failing, the invocation's time) is
//! not resumed: the next attempt initializes and uploads again from the first byte (LinkedIn's
//! half-uploaded video is abandoned; it never becomes a post).
//!
//! Failures: the URL refused, too large, the wrong type → `MEDIA_REJECTED` (with the refusal's
//! fixed text); the host unreachable → `MEDIA_UNAVAILABLE`, retried; an upload URL expired (403)
//! → initialize again once, then `MEDIA_UPLOAD_EXPIRED`; a part failing (5xx) → the attempt is
//! retried as any LinkedIn failure, from the start; an upload that cannot finish within the
//! invocation → `MEDIA_UPLOAD_TIMED_OUT`; PROCESSING_FAILED → `MEDIA_PROCESSING_FAILED`.

use std::time::Duration;

use chrono::Utc;
use connector::domain::posts::{MediaItem, MediaKind, Outcome};
use connector::linkedin::{LinkedInError, MediaStatus, UploadError};
use connector::media::{
    fetch_captions, fetch_image, open_large, LargeKind, LargeMedia, MediaBudget, MediaError,
};
use connector::vault::TokenSet;
use tracing::info;

use crate::attempt::Attempt;
use crate::{Disposition, Publisher};

/// Why uploading a document or video did not come to a URN.
enum Failure {
    Source(MediaError),
    LinkedIn(LinkedInError),
    Expired,
    OutOfTime,
}

impl From<UploadError> for Failure {
    fn from(e: UploadError) -> Self {
        match e {
            UploadError::UrlExpired => Self::Expired,
            UploadError::LinkedIn(e) => Self::LinkedIn(e),
        }
    }
}

/// The kind of upload an item needs beyond an image's, if any.
pub(crate) fn large_kind(item: &MediaItem) -> Option<LargeKind> {
    match item.kind {
        MediaKind::Image => None,
        MediaKind::Document => Some(LargeKind::Document),
        MediaKind::Video => Some(LargeKind::Video),
    }
}

/// Whether `urn` names a document or a video (their status is read from their own API).
pub(crate) fn is_large(urn: &str) -> bool {
    urn.starts_with("urn:li:document:") || urn.starts_with("urn:li:video:")
}

/// The status of a document or video, and what waiting for it comes to.
pub(crate) async fn check_ready<'a>(
    attempt: Attempt<'a>,
    tokens: &TokenSet,
    urn: &str,
) -> Result<Attempt<'a>, Disposition> {
    let status = attempt
        .publisher
        .linkedin()
        .document_or_video_status(&tokens.access_token, urn)
        .await;
    match status {
        Ok(MediaStatus::Available) => Ok(attempt),
        Ok(MediaStatus::Failed) => Err(attempt.after(Outcome::MediaFailed { urn }).await),
        Ok(MediaStatus::Processing | MediaStatus::WaitingUpload)
            if urn.starts_with("urn:li:video:") =>
        {
            Err(attempt.after(Outcome::VideoProcessing { urn }).await)
        }
        Ok(MediaStatus::Processing | MediaStatus::WaitingUpload) => {
            Err(attempt.after(Outcome::MediaProcessing { urn }).await)
        }
        Err(e) => Err(attempt.after(Outcome::LinkedIn(&e)).await),
    }
}

/// Uploads `item` (a document or a video) and records its URN on the post.
pub(crate) async fn upload<'a>(
    mut attempt: Attempt<'a>,
    tokens: &TokenSet,
    item: &MediaItem,
    kind: LargeKind,
) -> Result<Attempt<'a>, Disposition> {
    let publisher = attempt.publisher;
    let call = publisher.call_time();
    let mut expired_before = false;
    let urn = loop {
        if !attempt.fits(call * 4) {
            return Err(attempt.out_of_time().await);
        }
        let source = match open_large(&item.url, &publisher.media, kind).await {
            Ok(source) => source,
            Err(e) => return Err(attempt.after(Outcome::MediaFetch(&e)).await),
        };
        // Everything but the final post's create may take the invocation's time.
        let time = attempt
            .delivery
            .deadline
            .cap(Duration::MAX)
            .saturating_sub(call * 2);
        let upload = async {
            match kind {
                LargeKind::Document => document(publisher, tokens, &attempt, source).await,
                LargeKind::Video => video(publisher, tokens, &attempt, item, source).await,
            }
        };
        // Boxed: the upload's state is large, and Lambda's and tests' stacks are not.
        let result = tokio::time::timeout(time, Box::pin(upload))
            .await
            .unwrap_or(Err(Failure::OutOfTime));
        match result {
            Ok(urn) => break urn,
            Err(Failure::Expired) if !expired_before => {
                info!("upload URL expired; initializing the upload again");
                expired_before = true;
            }
            Err(Failure::Expired) => return Err(attempt.after(Outcome::MediaUploadExpired).await),
            Err(Failure::OutOfTime) => {
                return Err(attempt.after(Outcome::MediaUploadTimedOut).await)
            }
            Err(Failure::Source(e)) => return Err(attempt.after(Outcome::MediaFetch(&e)).await),
            Err(Failure::LinkedIn(e)) => return Err(attempt.after(Outcome::LinkedIn(&e)).await),
        }
    };
    let mut urns = attempt.post.media_urns.clone();
    urns.push(urn);
    let next = attempt.post.with_media_urns(urns, Utc::now());
    attempt.save(next).await?;
    Ok(attempt)
}

async fn document(
    publisher: &Publisher,
    tokens: &TokenSet,
    attempt: &Attempt<'_>,
    source: LargeMedia,
) -> Result<String, Failure> {
    let linkedin = publisher.linkedin();
    let upload = linkedin
        .initialize_document_upload(&tokens.access_token, attempt.post.author.urn())
        .await
        .map_err(Failure::LinkedIn)?;
    let size = source.size;
    let (body, source_failure) = source.into_body();
    let put = linkedin
        .upload_document(&tokens.access_token, &upload, body, size)
        .await;
    match (put, source_failure.take()) {
        (Ok(()), _) => Ok(upload.urn),
        // The PUT broke because the tenant's host did.
        (Err(_), Some(e)) => Err(Failure::Source(e)),
        (Err(e), None) => Err(e.into()),
    }
}

async fn video(
    publisher: &Publisher,
    tokens: &TokenSet,
    attempt: &Attempt<'_>,
    item: &MediaItem,
    mut source: LargeMedia,
) -> Result<String, Failure> {
    let linkedin = publisher.linkedin();
    let token = &tokens.access_token;
    // The small files first: a refusal of theirs costs no upload.
    let thumbnail = match &item.thumbnail_url {
        Some(url) => {
            let mut budget = MediaBudget::for_post(&publisher.media);
            let image = fetch_image(url, &publisher.media, &mut budget)
                .await
                .map_err(Failure::Source)?;
            Some(image.bytes)
        }
        None => None,
    };
    let captions = match &item.captions_url {
        Some(url) => Some(
            fetch_captions(url, &publisher.media)
                .await
                .map_err(Failure::Source)?,
        ),
        None => None,
    };
    let upload = linkedin
        .initialize_video_upload(
            token,
            attempt.post.author.urn(),
            source.size,
            thumbnail.is_some(),
            captions.is_some(),
        )
        .await
        .map_err(Failure::LinkedIn)?;
    let mut etags = Vec::with_capacity(upload.parts.len());
    for part in &upload.parts {
        let bytes = source
            .read_part(part.len())
            .await
            .map_err(Failure::Source)?;
        etags.push(linkedin.upload_video_part(token, part, bytes).await?);
    }
    let extras = [
        (upload.thumbnail_upload_url.as_deref(), thumbnail),
        (upload.captions_upload_url.as_deref(), captions),
    ];
    for (url, bytes) in extras {
        if let (Some(url), Some(bytes)) = (url, bytes) {
            linkedin.upload_video_extra(token, url, bytes).await?;
        }
    }
    linkedin
        .finalize_video_upload(token, &upload, &etags)
        .await
        .map_err(Failure::LinkedIn)?;
    info!(
        parts = etags.len(),
        bytes = source.size,
        "video uploaded and finalized"
    );
    Ok(upload.urn)
}
