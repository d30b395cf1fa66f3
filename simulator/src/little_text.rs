//! How LinkedIn reads commentary in its "little text" format: `\x` is the reserved character
//! x; a mention `@[Name](urn:li:person:ID | urn:li:organization:N)` shows as Name; a hashtag
//! `#tag` and a template `{hashtag|\#|tag}` show as #tag; any other unescaped reserved
//! character silently ends the text there.

const RESERVED: &[char] = &[
    '\\', '|', '{', '}', '@', '[', ']', '(', ')', '<', '>', '#', '*', '_', '~',
];

/// Commentary as LinkedIn stores it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoredText {
    /// What readers see.
    pub text: String,
    /// Mentions in order: (name as written, URN).
    pub mentions: Vec<(String, String)>,
    pub hashtags: Vec<String>,
}

pub fn store_little_text(raw: &str) -> StoredText {
    let mut out = StoredText::default();
    let mut i = 0;
    while i < raw.len() {
        let rest = &raw[i..];
        let c = rest.chars().next().unwrap_or_default();
        if c == '\\' {
            match rest[1..].chars().next() {
                Some(next) if RESERVED.contains(&next) => {
                    out.text.push(next);
                    i += 1 + next.len_utf8();
                    continue;
                }
                _ => break,
            }
        }
        if c == '@' {
            if let Some((name, urn, len)) = mention(rest) {
                out.text.push_str(name);
                out.mentions.push((name.to_owned(), urn.to_owned()));
                i += len;
                continue;
            }
            break;
        }
        if c == '#' {
            let tag_len: usize = rest[1..]
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .map(char::len_utf8)
                .sum();
            let tag = &rest[1..1 + tag_len];
            if !tag.chars().any(char::is_alphanumeric) {
                break;
            }
            out.text.push('#');
            out.text.push_str(tag);
            out.hashtags.push(tag.to_owned());
            i += 1 + tag_len;
            continue;
        }
        if c == '{' {
            if let Some(tag) = rest
                .strip_prefix("{hashtag|\\#|")
                .and_then(|r| r.split_once('}'))
                .map(|(tag, _)| tag)
                .filter(|t| !t.is_empty() && t.chars().all(|c| c.is_alphanumeric() || c == '_'))
            {
                out.text.push('#');
                out.text.push_str(tag);
                out.hashtags.push(tag.to_owned());
                i += "{hashtag|\\#|".len() + tag.len() + 1;
                continue;
            }
            break;
        }
        if RESERVED.contains(&c) {
            break;
        }
        out.text.push(c);
        i += c.len_utf8();
    }
    out
}

/// `@[Name](urn)` at the start of `s`: name, URN and length.
fn mention(s: &str) -> Option<(&str, &str, usize)> {
    let inner = s.strip_prefix("@[")?;
    let (name, after) = inner.split_once("](")?;
    let (urn, _) = after.split_once(')')?;
    let valid_urn = urn
        .strip_prefix("urn:li:person:")
        .map(|id| {
            !id.is_empty()
                && id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
        .or_else(|| {
            urn.strip_prefix("urn:li:organization:")
                .map(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        })
        .unwrap_or(false);
    if name.is_empty() || name.contains(['[', ']', '(', ')']) || !valid_urn {
        return None;
    }
    Some((name, urn, 2 + name.len() + 2 + urn.len() + 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linkedin_reads_escapes_markup_and_cuts_at_the_first_stray_reserved_character() {
        let cases: [(&str, &str, usize, usize); 8] = [
            ("plain \\(ok\\) \\#x", "plain (ok) #x", 0, 0),
            ("cut (here", "cut ", 0, 0),
            (
                "Hi @[Ada Lovelace](urn:li:person:a-1) #rust!",
                "Hi Ada Lovelace #rust!",
                1,
                1,
            ),
            ("{hashtag|\\#|rust} now", "#rust now", 0, 1),
            ("By @[Acme](urn:li:organization:7).", "By Acme.", 1, 0),
            ("mail a@b.c", "mail a", 0, 0),
            ("@[Bad](urn:li:company:1)", "", 0, 0),
            ("C# is cut", "C", 0, 0),
        ];
        for (raw, text, mentions, hashtags) in cases {
            let stored = store_little_text(raw);
            assert_eq!(stored.text, text, "{raw}");
            assert_eq!(stored.mentions.len(), mentions, "{raw}");
            assert_eq!(stored.hashtags.len(), hashtags, "{raw}");
        }
    }
}
