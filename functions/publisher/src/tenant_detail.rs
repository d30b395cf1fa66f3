//! What of an attempt's outcome a tenant may read beyond its failure code's fixed text.

use connector::domain::posts::{FailureCode, Outcome, PostError};
use connector::linkedin::LinkedInError;
use connector::media::MediaError;

/// What of an outcome the tenant may read beyond its code's fixed text: an image's own fixed
/// text (what they can fix), or the URN of the live post LinkedIn says the text duplicates
/// (their member's own post). Nothing else LinkedIn or AWS said.
pub(crate) enum TenantDetail {
    None,
    Image(MediaError),
    Duplicates(String),
}

impl TenantDetail {
    pub(crate) fn of(outcome: &Outcome<'_>) -> Self {
        match outcome {
            Outcome::MediaFetch(e) => Self::Image((*e).clone()),
            Outcome::LinkedIn(LinkedInError::DuplicatePost { existing_urn, .. })
                if is_post_urn(existing_urn) =>
            {
                Self::Duplicates(existing_urn.clone())
            }
            _ => Self::None,
        }
    }

    pub(crate) fn error(&self, code: FailureCode) -> PostError {
        match self {
            Self::Image(image) => PostError::of_image(code, image),
            Self::Duplicates(urn) if code == FailureCode::DuplicateContent => PostError {
                code,
                message: format!("{}: {urn}", code.message()),
            },
            _ => PostError::new(code),
        }
    }
}

/// `urn:li:share:123` or `urn:li:ugcPost:123`, and nothing else taken from LinkedIn's words.
fn is_post_urn(urn: &str) -> bool {
    ["urn:li:share:", "urn:li:ugcPost:"].iter().any(|prefix| {
        urn.strip_prefix(prefix)
            .is_some_and(|id| !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use connector::media::MediaRefusal;

    fn linkedin(status: u16, message: &str) -> LinkedInError {
        LinkedInError::Rejected {
            status,
            service_error_code: Some(100),
            code: None,
            message: message.into(),
            request_id: Some("x-li-uuid-1".into()),
        }
    }

    /// The tenant reads the code's fixed text; only an image's own text or the live post a
    /// duplicate names add to it. LinkedIn's message never does.
    #[test]
    fn a_tenant_reads_fixed_texts_not_linkedins_words() {
        let refused = linkedin(
            403,
            "Not enough permissions: arn:aws:iam::123456789012:role/x",
        );
        let error = TenantDetail::of(&Outcome::LinkedIn(&refused)).error(FailureCode::Forbidden);
        assert_eq!(error, PostError::new(FailureCode::Forbidden));

        let image = MediaError::Rejected(MediaRefusal::NotAnImage);
        let error =
            TenantDetail::of(&Outcome::MediaFetch(&image)).error(FailureCode::MediaRejected);
        assert_eq!(
            error.message,
            "the URL's content is not a JPEG, PNG or GIF image"
        );

        let duplicate = |urn: &str| LinkedInError::DuplicatePost {
            existing_urn: urn.into(),
            request_id: None,
        };
        let live = duplicate("urn:li:share:7012345");
        let error =
            TenantDetail::of(&Outcome::LinkedIn(&live)).error(FailureCode::DuplicateContent);
        assert_eq!(
            error.message,
            format!(
                "{}: urn:li:share:7012345",
                FailureCode::DuplicateContent.message()
            )
        );
        // Anything else in LinkedIn's words is not taken for a URN.
        let odd = duplicate("urn:li:share:1<script>");
        let error = TenantDetail::of(&Outcome::LinkedIn(&odd)).error(FailureCode::DuplicateContent);
        assert_eq!(error, PostError::new(FailureCode::DuplicateContent));
    }
}
