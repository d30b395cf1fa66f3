//! LinkedIn's "little text" commentary format. Its reserved characters must be escaped with a
//! backslash — unescaped, LinkedIn silently cuts the commentary short at the first one — except
//! inside deliberate markup: mentions `@[Name](urn:li:person:ID)` /
//! `@[Name](urn:li:organization:N)`, hashtags `#tag` and hashtag templates `{hashtag|\#|tag}`.
//! Those tokens pass through verbatim; everything else is escaped. No I/O here.

const RESERVED: &[char] = &[
    '\\', '|', '{', '}', '@', '[', ']', '(', ')', '<', '>', '#', '*', '_', '~',
];

/// A name longer than this is not taken as a mention (LinkedIn's names are short).
const MAX_MENTION_NAME_CHARS: usize = 200;

/// A piece of commentary as the tokenizer sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece<'a> {
    /// Plain text: escaped on the way out.
    Plain(&'a str),
    /// A mention, a hashtag or a hashtag template: kept verbatim.
    Markup(&'a str),
}

/// A mention found in (or asked for in) commentary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mention {
    pub name: String,
    /// `urn:li:person:…` or `urn:li:organization:N`.
    pub urn: String,
}

impl Mention {
    pub fn is_organization(&self) -> bool {
        self.urn.starts_with("urn:li:organization:")
    }
}

/// Whether `urn` may be mentioned: a person or an organization.
pub fn is_mentionable(urn: &str) -> bool {
    if let Some(id) = urn.strip_prefix("urn:li:person:") {
        return !id.is_empty()
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    }
    if let Some(n) = urn.strip_prefix("urn:li:organization:") {
        return !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit());
    }
    false
}

/// Escapes `text` for LinkedIn's commentary, keeping mention and hashtag markup intact.
pub fn escape_little_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    for piece in pieces(text) {
        match piece {
            Piece::Markup(m) => out.push_str(m),
            Piece::Plain(p) => {
                for c in p.chars() {
                    if RESERVED.contains(&c) {
                        out.push('\\');
                    }
                    out.push(c);
                }
            }
        }
    }
    out
}

/// The mentions written in `text`, in order.
pub fn mentions_in(text: &str) -> Vec<Mention> {
    pieces(text)
        .into_iter()
        .filter_map(|p| match p {
            Piece::Markup(m) => mention_at(m).map(|(mention, _)| mention),
            Piece::Plain(_) => None,
        })
        .collect()
}

/// `text` with each of `mentions` written as markup at the first place its name appears as
/// plain text (not inside other markup). The error names the mention whose name is not there.
pub fn with_mentions(text: &str, mentions: &[Mention]) -> Result<String, String> {
    let mut text = text.to_owned();
    for mention in mentions {
        if mention.name.is_empty()
            || mention.name.chars().count() > MAX_MENTION_NAME_CHARS
            || mention.name.contains(['[', ']', '(', ')'])
        {
            return Err(format!(
                "the mention name {:?} must be 1 to {MAX_MENTION_NAME_CHARS} characters without brackets or parentheses",
                mention.name
            ));
        }
        if !is_mentionable(&mention.urn) {
            return Err(format!(
                "{:?} is not a urn:li:person:ID or urn:li:organization:N",
                mention.urn
            ));
        }
        let mut offset = 0;
        let mut at = None;
        for piece in pieces(&text) {
            let s = match piece {
                Piece::Plain(s) | Piece::Markup(s) => s,
            };
            if let Piece::Plain(p) = piece {
                if let Some(i) = p.find(&mention.name) {
                    at = Some(offset + i);
                    break;
                }
            }
            offset += s.len();
        }
        let Some(at) = at else {
            return Err(format!(
                "the text does not contain {:?} outside other mentions",
                mention.name
            ));
        };
        let markup = format!("@[{}]({})", mention.name, mention.urn);
        text.replace_range(at..at + mention.name.len(), &markup);
    }
    Ok(text)
}

/// Splits `text` into plain text and markup.
fn pieces(text: &str) -> Vec<Piece<'_>> {
    let mut out = Vec::new();
    let mut plain_from = 0;
    let mut i = 0;
    let bytes = text.as_bytes();
    while i < bytes.len() {
        let rest = &text[i..];
        let markup_len = match bytes[i] {
            b'@' => mention_at(rest).map(|(_, len)| len),
            b'{' => hashtag_template_at(rest),
            b'#' if !preceded_by_word(text, i) => hashtag_at(rest),
            _ => None,
        };
        match markup_len {
            Some(len) => {
                if plain_from < i {
                    out.push(Piece::Plain(&text[plain_from..i]));
                }
                out.push(Piece::Markup(&text[i..i + len]));
                i += len;
                plain_from = i;
            }
            None => i += rest.chars().next().map_or(1, char::len_utf8),
        }
    }
    if plain_from < text.len() {
        out.push(Piece::Plain(&text[plain_from..]));
    }
    out
}

/// `@[Name](urn)` at the start of `s`: the mention and its length in bytes.
fn mention_at(s: &str) -> Option<(Mention, usize)> {
    let inner = s.strip_prefix("@[")?;
    let close = inner.find(']')?;
    let name = &inner[..close];
    if name.is_empty()
        || name.contains(['[', '(', ')'])
        || name.chars().count() > MAX_MENTION_NAME_CHARS
    {
        return None;
    }
    let after = inner[close + 1..].strip_prefix('(')?;
    let end = after.find(')')?;
    let urn = &after[..end];
    if !is_mentionable(urn) {
        return None;
    }
    let len = 2 + close + 2 + end + 1;
    let mention = Mention {
        name: name.to_owned(),
        urn: urn.to_owned(),
    };
    Some((mention, len))
}

/// `#tag` at the start of `s`: its length in bytes (a tag is letters, digits and `_`, with at
/// least one letter or digit).
fn hashtag_at(s: &str) -> Option<usize> {
    let tag: usize = s[1..]
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .map(char::len_utf8)
        .sum();
    s[1..1 + tag]
        .chars()
        .any(char::is_alphanumeric)
        .then_some(1 + tag)
}

/// `{hashtag|\#|tag}` at the start of `s`: its length in bytes.
fn hashtag_template_at(s: &str) -> Option<usize> {
    let rest = s.strip_prefix("{hashtag|\\#|")?;
    let end = rest.find('}')?;
    let tag = &rest[..end];
    (!tag.is_empty() && tag.chars().all(|c| c.is_alphanumeric() || c == '_'))
        .then_some(s.len() - rest.len() + end + 1)
}

/// Whether the character before byte `i` is a letter, digit or `_` (then `#` is not a hashtag:
/// `C#`, `a#b`).
fn preceded_by_word(text: &str, i: usize) -> bool {
    text[..i]
        .chars()
        .next_back()
        .is_some_and(|c| c.is_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserved_characters_are_escaped_and_markup_is_kept() {
        let cases = [
            // Plain text.
            ("Grüße, 世界!", "Grüße, 世界!"),
            (
                "Launch (beta) *now* a_b ~ok~ [x] {y} <z> | \\",
                "Launch \\(beta\\) \\*now\\* a\\_b \\~ok\\~ \\[x\\] \\{y\\} \\<z\\> \\| \\\\",
            ),
            // Mentions are kept, the text around them is escaped.
            (
                "Thanks @[Ada Lovelace](urn:li:person:abc-1_Z)!",
                "Thanks @[Ada Lovelace](urn:li:person:abc-1_Z)!",
            ),
            (
                "(with @[Acme Corp](urn:li:organization:42))",
                "\\(with @[Acme Corp](urn:li:organization:42)\\)",
            ),
            (
                "@[A](urn:li:person:1)@[B](urn:li:person:2)",
                "@[A](urn:li:person:1)@[B](urn:li:person:2)",
            ),
            // Hashtags are kept; a `#` that is not one is escaped.
            ("#rust and #été_2026", "#rust and #été_2026"),
            (
                "C# and a#b and # alone and #_",
                "C\\# and a\\#b and \\# alone and \\#\\_",
            ),
            ("(#rust)", "\\(#rust\\)"),
            ("{hashtag|\\#|rust} ok", "{hashtag|\\#|rust} ok"),
            ("{hashtag|#|rust}", "\\{hashtag\\|\\#\\|rust\\}"),
            // Looks like a mention but is not one: escaped whole.
            (
                "@[Name](https://example.com)",
                "\\@\\[Name\\]\\(https://example.com\\)",
            ),
            (
                "@[Name](urn:li:person:)",
                "\\@\\[Name\\]\\(urn:li:person:\\)",
            ),
            ("@[](urn:li:person:1)", "\\@\\[\\]\\(urn:li:person:1\\)"),
            (
                "@[Name] (urn:li:person:1)",
                "\\@\\[Name\\] \\(urn:li:person:1\\)",
            ),
            (
                "@[Name](urn:li:organization:x1)",
                "\\@\\[Name\\]\\(urn:li:organization:x1\\)",
            ),
            ("mail ada@example.com", "mail ada\\@example.com"),
            // Nested brackets: the inner one is text, escaped; no mention is made of it.
            (
                "@[Foo [bar]](urn:li:person:1)",
                "\\@\\[Foo \\[bar\\]\\]\\(urn:li:person:1\\)",
            ),
            ("[@[Ada](urn:li:person:1)]", "\\[@[Ada](urn:li:person:1)\\]"),
        ];
        for (text, escaped) in cases {
            assert_eq!(escape_little_text(text), escaped, "{text:?}");
        }
    }

    #[test]
    fn mentions_are_found_in_order() {
        let found = mentions_in(
            "Hi @[Ada](urn:li:person:a1) and @[Acme](urn:li:organization:7), #x @[no](x)",
        );
        let names: Vec<_> = found
            .iter()
            .map(|m| (m.name.as_str(), m.urn.as_str()))
            .collect();
        assert_eq!(
            names,
            [
                ("Ada", "urn:li:person:a1"),
                ("Acme", "urn:li:organization:7")
            ]
        );
        assert!(found[1].is_organization());
    }

    #[test]
    fn mentions_asked_for_are_written_where_their_name_first_appears_as_text() {
        let m = |name: &str, urn: &str| Mention {
            name: name.into(),
            urn: urn.into(),
        };
        let text = with_mentions(
            "Ada met Acme. Ada again.",
            &[
                m("Ada", "urn:li:person:a1"),
                m("Acme", "urn:li:organization:7"),
            ],
        )
        .unwrap();
        assert_eq!(
            text,
            "@[Ada](urn:li:person:a1) met @[Acme](urn:li:organization:7). Ada again."
        );
        // A second mention of the same name takes the next plain occurrence, not the markup.
        let twice = with_mentions(&text, &[m("Ada", "urn:li:person:a1")]).unwrap();
        assert!(
            twice.ends_with("@[Ada](urn:li:person:a1) again."),
            "{twice}"
        );
        for (mentions, error) in [
            (vec![m("Bob", "urn:li:person:b")], "does not contain"),
            (vec![m("Ada", "urn:li:company:1")], "is not a urn"),
            (vec![m("", "urn:li:person:a1")], "must be 1 to"),
            (vec![m("Ada]", "urn:li:person:a1")], "must be 1 to"),
        ] {
            let e = with_mentions("Ada", &mentions).unwrap_err();
            assert!(e.contains(error), "{e}");
        }
    }
}
