//! The codes a tenant sees: a post's `last_error.code` and a DLQ record's `error_code`. One
//! list, serialised SCREAMING_SNAKE_CASE; the README's "Failure codes" table is checked
//! against it by a unit test.

use serde::{Deserialize, Serialize};

#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Serialize,
    Deserialize,
    strum::IntoStaticStr,
    strum::Display,
    strum::VariantArray,
)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[strum(serialize_all = "SCREAMING_SNAKE_CASE")]
pub enum FailureCode {
    // LinkedIn's answers.
    Unauthorized,
    RateLimited,
    LinkedinUnavailable,
    Forbidden,
    NotFound,
    ValidationError,
    DuplicateContent,
    ApiVersionRetired,
    LinkedinError,
    // Attempts and time.
    RetriesExhausted,
    RateLimitExhausted,
    OutcomeUnknown,
    JobExpired,
    Stranded,
    // The connection and its tokens.
    UnretryableAuth,
    TokenRefreshed,
    TokenRefreshFailed,
    TokensUnavailable,
    TokensUnreadable,
    ConnectionRevoked,
    ConnectionGone,
    // Media.
    MediaRejected,
    MediaUnavailable,
    MediaNotReady,
}

impl FailureCode {
    /// The code as the tenant sees it (serde's and strum's names are the same).
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// So tests and callers can compare with the code as the tenant sees it.
impl PartialEq<&str> for FailureCode {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl PartialEq<FailureCode> for &str {
    fn eq(&self, other: &FailureCode) -> bool {
        *self == other.as_str()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use strum::VariantArray;

    #[test]
    fn every_code_serialises_as_its_tenant_facing_name() {
        for &code in FailureCode::VARIANTS {
            let json = serde_json::to_value(code).unwrap();
            assert_eq!(json, code.as_str(), "{code:?}");
            let back: FailureCode = serde_json::from_value(json).unwrap();
            assert_eq!(back, code);
        }
    }

    #[test]
    fn the_list_has_every_code_once() {
        let mut names: Vec<_> = FailureCode::VARIANTS.iter().map(|c| c.as_str()).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), FailureCode::VARIANTS.len());
    }

    /// The README's table of failure codes is what tenants read: every code is in it, and it
    /// names no code the product does not have.
    #[test]
    fn the_readme_lists_every_code_and_no_other() {
        let readme = include_str!("../../../../README.md");
        let table: Vec<&str> = readme
            .lines()
            .skip_while(|l| !l.starts_with("### Failure codes"))
            .skip(1)
            .take_while(|l| !l.starts_with('#'))
            .filter_map(|l| l.strip_prefix("| `"))
            .filter_map(|l| l.split('`').next())
            .collect();
        for &code in FailureCode::VARIANTS {
            assert!(
                table.contains(&code.as_str()),
                "README's failure code table lacks {code}"
            );
        }
        for name in &table {
            assert!(
                FailureCode::VARIANTS.iter().any(|c| c.as_str() == *name),
                "README lists {name}, which is not a failure code"
            );
        }
    }
}
