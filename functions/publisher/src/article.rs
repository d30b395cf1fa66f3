//! A link card: LinkedIn does not read the page, so the publisher does. What the request left
//! out (title, description, thumbnail) is taken from the page's Open Graph tags — the page is
//! read only when something is missing, and is needed only for a missing title — and the
//! thumbnail is uploaded as an image of the post's author through the image flow. The card and
//! the thumbnail's URN are kept on the post, so a retry neither reads the page nor uploads
//! the thumbnail again.

use std::time::Duration;

use chrono::Utc;
use connector::domain::posts::{
    Article, FailureCode, Outcome, ResolvedCard, MAX_ARTICLE_DESCRIPTION_CHARS, MAX_TITLE_CHARS,
};
use connector::linkedin::MediaStatus;
use connector::media::{fetch_image, MediaBudget};
use connector::media_page::{fetch_page, PageError};
use connector::opengraph::{self, PageCard};
use connector::vault::TokenSet;
use tracing::{info, warn};

use crate::attempt::Attempt;
use crate::Disposition;

/// No page or thumbnail fetch starts with less time than this for it.
const MIN_FETCH: Duration = Duration::from_secs(1);

/// Whether the page has to be read: the request left something of the card out.
pub(crate) fn needs_page(article: &Article) -> bool {
    article.title.is_none() || article.description.is_none() || article.thumbnail_url.is_none()
}

/// The card from what the request gave, filled from the page where it gave nothing; the
/// request always wins. No title anywhere: the card cannot go out.
pub(crate) fn fill(
    article: &Article,
    page: Option<&PageCard>,
) -> Result<ResolvedCard, FailureCode> {
    let title = article
        .title
        .clone()
        .or_else(|| page.and_then(|p| p.title.clone()))
        .ok_or(FailureCode::ArticleTitleMissing)?;
    let description = article
        .description
        .clone()
        .or_else(|| page.and_then(|p| p.description.clone()));
    let (thumbnail_url, thumbnail_from_page) = match (&article.thumbnail_url, page) {
        (Some(url), _) => (Some(url.clone()), false),
        (None, Some(page)) => (page.image.clone(), page.image.is_some()),
        (None, None) => (None, false),
    };
    Ok(ResolvedCard {
        // A page's text has no limit; LinkedIn's card has.
        title: truncate(&title, MAX_TITLE_CHARS),
        description: description.map(|d| truncate(&d, MAX_ARTICLE_DESCRIPTION_CHARS)),
        thumbnail_url,
        thumbnail_from_page,
        thumbnail_urn: None,
    })
}

fn truncate(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((at, _)) => text[..at].trim_end().to_owned(),
        None => text.to_owned(),
    }
}

/// Resolves the post's link card, if it has one, and uploads its thumbnail; returns the
/// attempt with the card on its post, or what became of the attempt.
pub(crate) async fn prepare_card<'a>(
    mut attempt: Attempt<'a>,
    tokens: &TokenSet,
) -> Result<Attempt<'a>, Disposition> {
    let Some(article) = attempt.post.article.clone() else {
        return Ok(attempt);
    };
    if attempt.post.card.is_none() {
        let card = match resolve(&attempt, &article).await {
            Ok(card) => card,
            Err(outcome) => return Err(outcome.run(attempt).await),
        };
        let next = attempt.post.with_card(card, Utc::now());
        attempt.save(next).await?;
    }
    upload_thumbnail(attempt, tokens).await
}

/// What keeps a card from going out, as the attempt's outcome.
enum Blocked {
    Unsendable(FailureCode, &'static str),
    PageUnavailable,
    OutOfTime,
}

impl Blocked {
    async fn run(self, attempt: Attempt<'_>) -> Disposition {
        match self {
            Self::Unsendable(code, detail) => {
                attempt.after(Outcome::Unsendable { code, detail }).await
            }
            Self::PageUnavailable => attempt.after(Outcome::PageUnavailable).await,
            Self::OutOfTime => attempt.out_of_time().await,
        }
    }
}

async fn resolve(attempt: &Attempt<'_>, article: &Article) -> Result<ResolvedCard, Blocked> {
    if !needs_page(article) {
        return fill(article, None).map_err(|code| Blocked::Unsendable(code, "no title"));
    }
    let publisher = attempt.publisher;
    let call = publisher.call_time();
    // The page may take what the invocation leaves after a thumbnail's upload and the create.
    let time = attempt
        .delivery
        .deadline
        .cap(connector::media_page::PAGE_TIMEOUT + call * 4)
        .saturating_sub(call * 4);
    if time < MIN_FETCH {
        return Err(Blocked::OutOfTime);
    }
    let allow_private = publisher.media.allow_private_hosts;
    let page = match fetch_page(&article.url, allow_private, time).await {
        Ok(page) => Some(opengraph::parse(&page.html, &page.url)),
        // The request's own title is enough for a card: the page would only have added to it.
        Err(e) if article.title.is_some() => {
            info!(error = %e, "link card page not read; the card goes out as the request gave it");
            None
        }
        Err(PageError::Refused(_)) => {
            let detail = "the link card's page cannot be read and the request gave no title";
            return Err(Blocked::Unsendable(FailureCode::ArticlePageRefused, detail));
        }
        Err(PageError::Unavailable) => return Err(Blocked::PageUnavailable),
    };
    fill(article, page.as_ref()).map_err(|code| {
        let detail = "the link card's page has no og:title or title";
        Blocked::Unsendable(code, detail)
    })
}

/// Uploads the card's thumbnail as an image of the author and waits (by redelivery) until
/// LinkedIn has processed it. A thumbnail the page named that cannot be used is dropped: the
/// card goes out without one. One the request named fails the post like any image.
async fn upload_thumbnail<'a>(
    mut attempt: Attempt<'a>,
    tokens: &TokenSet,
) -> Result<Attempt<'a>, Disposition> {
    let publisher = attempt.publisher;
    let call = publisher.call_time();
    let Some(card) = attempt.post.card.clone() else {
        return Ok(attempt);
    };
    let linkedin = publisher.linkedin();
    if let (Some(url), None) = (&card.thumbnail_url, &card.thumbnail_urn) {
        let fetch_time = attempt
            .delivery
            .deadline
            .cap(publisher.media.post_fetch_budget + call * 3)
            .saturating_sub(call * 3);
        let mut budget = MediaBudget::for_post(&publisher.media).within(fetch_time);
        if budget.time_left() < MIN_FETCH || !attempt.fits(MIN_FETCH + call * 3) {
            return Err(attempt.out_of_time().await);
        }
        let image = match fetch_image(url, &publisher.media, &mut budget).await {
            Ok(image) => image,
            Err(e) if card.thumbnail_from_page => {
                warn!(error = %e, "the page's og:image cannot be used; the card goes out without a thumbnail");
                let next = attempt.post.with_card(card.without_thumbnail(), Utc::now());
                attempt.save(next).await?;
                return Ok(attempt);
            }
            Err(e) => return Err(attempt.after(Outcome::MediaFetch(&e)).await),
        };
        if !attempt.fits(call * 3) {
            return Err(attempt.out_of_time().await);
        }
        let (token, dialect, author) = (
            &tokens.access_token,
            publisher.dialect,
            attempt.post.author.urn(),
        );
        let upload = match linkedin.start_image_upload(token, dialect, author).await {
            Ok(u) => u,
            Err(e) => return Err(attempt.after(Outcome::LinkedIn(&e)).await),
        };
        if let Err(e) = linkedin.upload_image(token, &upload, image.bytes).await {
            return Err(attempt.after(Outcome::LinkedIn(&e)).await);
        }
        let uploaded = connector::domain::posts::ResolvedCard {
            thumbnail_urn: Some(upload.urn),
            ..card
        };
        let next = attempt.post.with_card(uploaded, Utc::now());
        attempt.save(next).await?;
    }
    let Some(card) = attempt.post.card.clone() else {
        return Ok(attempt);
    };
    let Some(urn) = card.thumbnail_urn.clone() else {
        return Ok(attempt);
    };
    if !attempt.fits(call * 2) {
        return Err(attempt.out_of_time().await);
    }
    match linkedin
        .media_status(&tokens.access_token, publisher.dialect, &urn)
        .await
    {
        Ok(MediaStatus::Available) => Ok(attempt),
        // LinkedIn could not process the page's picture: the card goes out without one.
        Ok(MediaStatus::Failed) if card.thumbnail_from_page => {
            warn!(urn, "LinkedIn could not process the page's og:image; the card goes out without a thumbnail");
            let next = attempt.post.with_card(card.without_thumbnail(), Utc::now());
            attempt.save(next).await?;
            Ok(attempt)
        }
        Ok(MediaStatus::Failed) => Err(attempt.after(Outcome::MediaFailed { urn: &urn }).await),
        // Waited for by redelivery, not by sleeping; waiting is not a failed attempt.
        Ok(MediaStatus::Processing | MediaStatus::WaitingUpload) => {
            Err(attempt.after(Outcome::MediaProcessing { urn: &urn }).await)
        }
        Err(e) => Err(attempt.after(Outcome::LinkedIn(&e)).await),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn article(title: Option<&str>, description: Option<&str>, thumbnail: Option<&str>) -> Article {
        Article {
            url: "https://example.com/story".parse().unwrap(),
            title: title.map(str::to_owned),
            description: description.map(str::to_owned),
            thumbnail_url: thumbnail.map(|t| t.parse().unwrap()),
        }
    }

    fn page(title: Option<&str>, description: Option<&str>, image: Option<&str>) -> PageCard {
        PageCard {
            title: title.map(str::to_owned),
            description: description.map(str::to_owned),
            image: image.map(|i| i.parse().unwrap()),
        }
    }

    #[test]
    fn the_page_is_read_only_for_what_the_request_left_out() {
        assert!(!needs_page(&article(
            Some("t"),
            Some("d"),
            Some("https://c.example/t.png")
        )));
        assert!(needs_page(&article(Some("t"), Some("d"), None)));
        assert!(needs_page(&article(
            None,
            Some("d"),
            Some("https://c.example/t.png")
        )));
        assert!(needs_page(&article(
            Some("t"),
            None,
            Some("https://c.example/t.png")
        )));
    }

    #[test]
    fn the_request_wins_and_the_page_fills_in() {
        let og = page(
            Some("OG title"),
            Some("OG description"),
            Some("https://c.example/og.png"),
        );
        let untitled = PageCard::default();
        type Row<'a> = (
            &'a str,
            Article,
            Option<&'a PageCard>,
            Result<(&'a str, Option<&'a str>, Option<&'a str>, bool), FailureCode>,
        );
        let rows: Vec<Row> = vec![
            (
                "all from the page",
                article(None, None, None),
                Some(&og),
                Ok((
                    "OG title",
                    Some("OG description"),
                    Some("https://c.example/og.png"),
                    true,
                )),
            ),
            (
                "title and description from the request, thumbnail from the page",
                article(Some("Mine"), Some("My words"), None),
                Some(&og),
                Ok((
                    "Mine",
                    Some("My words"),
                    Some("https://c.example/og.png"),
                    true,
                )),
            ),
            (
                "the request's thumbnail is the request's",
                article(None, None, Some("https://c.example/mine.png")),
                Some(&og),
                Ok((
                    "OG title",
                    Some("OG description"),
                    Some("https://c.example/mine.png"),
                    false,
                )),
            ),
            (
                "a page without a title and a request without one",
                article(None, Some("d"), None),
                Some(&untitled),
                Err(FailureCode::ArticleTitleMissing),
            ),
            (
                "no page read, the request's title is enough",
                article(Some("Mine"), None, None),
                None,
                Ok(("Mine", None, None, false)),
            ),
            (
                "no page read and no title",
                article(None, None, None),
                None,
                Err(FailureCode::ArticleTitleMissing),
            ),
        ];
        for (name, article, page, expected) in rows {
            let got = fill(&article, page).map(|c| {
                (
                    c.title,
                    c.description,
                    c.thumbnail_url.map(|u| u.to_string()),
                    c.thumbnail_from_page,
                )
            });
            let expected = expected.map(|(t, d, i, from_page)| {
                (
                    t.to_owned(),
                    d.map(str::to_owned),
                    i.map(str::to_owned),
                    from_page,
                )
            });
            assert_eq!(got, expected, "{name}");
        }
    }

    #[test]
    fn a_page_s_long_title_is_cut_to_linkedin_s_limit() {
        let long = "é".repeat(MAX_TITLE_CHARS + 50);
        let card = fill(
            &article(None, None, None),
            Some(&page(Some(&long), None, None)),
        )
        .unwrap();
        assert_eq!(card.title.chars().count(), MAX_TITLE_CHARS);
    }
}
