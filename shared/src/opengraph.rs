//! A web page's Open Graph card: `og:title`, `og:description` and `og:image` from its
//! `<meta>` tags, for a link card (LinkedIn does not read pages: the product does). No I/O
//! here; the page is fetched by [`crate::media_page`].
//!
//! Fallbacks, decided as LinkedIn's own Post Inspector and other link-preview readers do: a
//! page without `og:title` is titled by its `<title>`, and one without `og:description` is
//! described by `<meta name="description">`; there is no fallback for the image (a card
//! without a thumbnail is better than one showing a page's random first image). The first
//! occurrence of a tag wins (Open Graph's first `og:image` is the page's main one); `property`
//! and `name` are read alike (many pages write `name="og:title"`). Text inside comments,
//! `<script>` and `<style>` is not markup. Entities are decoded and whitespace collapsed.

use url::Url;

/// What a page says about itself for a card.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PageCard {
    pub title: Option<String>,
    pub description: Option<String>,
    /// Resolved against the page's address; only http(s).
    pub image: Option<Url>,
}

/// The card of the HTML `html`, found at `page` (after redirects).
pub fn parse(html: &str, page: &Url) -> PageCard {
    let mut found = Found::default();
    let lower = html.to_ascii_lowercase();
    let mut at = 0;
    while let Some(offset) = lower[at..].find('<') {
        let start = at + offset;
        let rest = &lower[start..];
        at = if rest.starts_with("<!--") {
            lower[start..]
                .find("-->")
                .map_or(lower.len(), |end| start + end + 3)
        } else if let Some(name) = ["script", "style"]
            .into_iter()
            .find(|name| element_starts(rest, name))
        {
            let close = format!("</{name}");
            lower[start..]
                .find(&close)
                .map_or(lower.len(), |end| start + end + close.len())
        } else if element_starts(rest, "meta") {
            let (attributes, end) = attributes(html, start + "<meta".len());
            found.meta(&attributes);
            end
        } else if element_starts(rest, "title") {
            let (_, open_end) = attributes(html, start + "<title".len());
            let close = lower[open_end..]
                .find("</title")
                .map_or(lower.len(), |end| open_end + end);
            if found.title_tag.is_none() {
                found.title_tag = text(&html[open_end..close]);
            }
            close
        } else {
            start + 1
        };
    }
    found.card(page)
}

#[derive(Default)]
struct Found {
    og_title: Option<String>,
    og_description: Option<String>,
    og_image: Option<String>,
    title_tag: Option<String>,
    description_tag: Option<String>,
}

impl Found {
    fn meta(&mut self, attributes: &[(String, String)]) {
        let get = |name: &str| {
            attributes
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.as_str())
        };
        let (Some(key), Some(content)) = (get("property").or(get("name")), get("content")) else {
            return;
        };
        let slot = match key.trim().to_ascii_lowercase().as_str() {
            "og:title" => &mut self.og_title,
            "og:description" => &mut self.og_description,
            "og:image" | "og:image:url" | "og:image:secure_url" => &mut self.og_image,
            "description" => &mut self.description_tag,
            _ => return,
        };
        if slot.is_none() {
            *slot = text(content);
        }
    }

    fn card(self, page: &Url) -> PageCard {
        PageCard {
            title: self.og_title.or(self.title_tag),
            description: self.og_description.or(self.description_tag),
            image: self
                .og_image
                .and_then(|raw| page.join(&raw).ok())
                .filter(|u| matches!(u.scheme(), "http" | "https")),
        }
    }
}

/// Whether `rest` (lowercase, at a `<`) opens the element `name` (not `<metadata>`).
fn element_starts(rest: &str, name: &str) -> bool {
    rest.get(1..)
        .and_then(|r| r.strip_prefix(name))
        .and_then(|r| r.chars().next())
        .is_some_and(|c| c.is_ascii_whitespace() || c == '>' || c == '/')
}

/// The attributes of the tag whose name ends at `from`, names lowercased, values decoded; and
/// where the tag ends (after its `>`). A `>` inside a quoted value does not end it.
fn attributes(html: &str, from: usize) -> (Vec<(String, String)>, usize) {
    let bytes = html.as_bytes();
    let mut out = Vec::new();
    let mut i = from;
    loop {
        while i < bytes.len() && (bytes[i].is_ascii_whitespace() || bytes[i] == b'/') {
            i += 1;
        }
        if i >= bytes.len() {
            return (out, bytes.len());
        }
        if bytes[i] == b'>' {
            return (out, i + 1);
        }
        let name_start = i;
        while i < bytes.len()
            && !matches!(bytes[i], b'=' | b'>' | b'/')
            && !bytes[i].is_ascii_whitespace()
        {
            i += 1;
        }
        let name = html[name_start..i].to_ascii_lowercase();
        while i < bytes.len() && bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        if i < bytes.len() && bytes[i] == b'=' {
            i += 1;
            while i < bytes.len() && bytes[i].is_ascii_whitespace() {
                i += 1;
            }
            let value = match bytes.get(i) {
                Some(&quote) if quote == b'"' || quote == b'\'' => {
                    let start = i + 1;
                    let end = html[start..]
                        .find(quote as char)
                        .map_or(bytes.len(), |e| start + e);
                    i = (end + 1).min(bytes.len());
                    &html[start..end]
                }
                _ => {
                    let start = i;
                    while i < bytes.len() && bytes[i] != b'>' && !bytes[i].is_ascii_whitespace() {
                        i += 1;
                    }
                    &html[start..i]
                }
            };
            out.push((name, decode_entities(value)));
        } else if !name.is_empty() {
            out.push((name, String::new()));
        }
    }
}

/// `raw` with entities decoded and whitespace collapsed; `None` if nothing is left.
fn text(raw: &str) -> Option<String> {
    let decoded = decode_entities(raw);
    let collapsed = decoded.split_whitespace().collect::<Vec<_>>().join(" ");
    (!collapsed.is_empty()).then_some(collapsed)
}

/// HTML's character references: the common named ones and every numeric one. An unknown
/// name is left as written.
fn decode_entities(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        rest = &rest[amp..];
        let decoded = rest[1..].find(';').filter(|&n| n <= 10).and_then(|n| {
            let name = &rest[1..1 + n];
            let c = match name {
                "amp" => Some('&'),
                "lt" => Some('<'),
                "gt" => Some('>'),
                "quot" => Some('"'),
                "apos" => Some('\''),
                "nbsp" => Some('\u{a0}'),
                _ => name
                    .strip_prefix("#x")
                    .or_else(|| name.strip_prefix("#X"))
                    .map(|hex| u32::from_str_radix(hex, 16))
                    .or_else(|| name.strip_prefix('#').map(str::parse::<u32>))
                    .and_then(Result::ok)
                    .and_then(char::from_u32),
            };
            c.map(|c| (c, n + 2))
        });
        match decoded {
            Some((c, len)) => {
                out.push(c);
                rest = &rest[len..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page() -> Url {
        Url::parse("https://news.example.com/2026/story.html?ref=feed").unwrap()
    }

    fn card(title: Option<&str>, description: Option<&str>, image: Option<&str>) -> PageCard {
        PageCard {
            title: title.map(str::to_owned),
            description: description.map(str::to_owned),
            image: image.map(|i| Url::parse(i).unwrap()),
        }
    }

    #[test]
    fn open_graph_tags_are_read_as_pages_write_them() {
        let big_head = format!(
            "<head><script>var x = '<meta property=\"og:title\" content=\"in a script\">';</script>{}<!-- <meta property=\"og:title\" content=\"in a comment\"> --><style>p{{}}</style>",
            "<link rel=\"preload\" href=\"/a.js\">\n".repeat(12_000)
        );
        let rows: Vec<(&str, String, PageCard)> = vec![
            (
                "property before content, double quotes",
                r#"<meta property="og:title" content="Launch day"><meta property="og:description" content="We shipped."><meta property="og:image" content="https://cdn.example.com/card.png">"#.into(),
                card(Some("Launch day"), Some("We shipped."), Some("https://cdn.example.com/card.png")),
            ),
            (
                "content before property, single quotes, self-closing",
                "<META content='Launch day' property='og:title' /><meta content='Shipped' property='OG:Description'/>".into(),
                card(Some("Launch day"), Some("Shipped"), None),
            ),
            (
                "unquoted values",
                "<meta property=og:title content=Launch>".into(),
                card(Some("Launch"), None, None),
            ),
            (
                "entities",
                r#"<meta property="og:title" content="Tom &amp; Jerry&#39;s &quot;big&quot; day &lt;3 &#x2014; &eacute;t&#233;">"#.into(),
                card(Some("Tom & Jerry's \"big\" day <3 \u{2014} &eacute;té"), None, None),
            ),
            (
                "name instead of property",
                r#"<meta name="og:title" content="By name"><meta name="og:image" content="https://cdn.example.com/n.png">"#.into(),
                card(Some("By name"), None, Some("https://cdn.example.com/n.png")),
            ),
            (
                "a relative og:image is resolved against the page",
                r#"<meta property="og:title" content="T"><meta property="og:image" content="/img/card.png">"#.into(),
                card(Some("T"), None, Some("https://news.example.com/img/card.png")),
            ),
            (
                "a protocol-relative og:image",
                r#"<meta property="og:image" content="//cdn.example.com/c.png">"#.into(),
                card(None, None, Some("https://cdn.example.com/c.png")),
            ),
            (
                "an og:image that is not http(s) is no image",
                r#"<meta property="og:image" content="data:image/png;base64,AAAA">"#.into(),
                card(None, None, None),
            ),
            (
                "no tags at all",
                "<html><head></head><body><p>Hello</p></body></html>".into(),
                card(None, None, None),
            ),
            (
                "empty og:title falls back to the title element",
                "<head><title>\n  The  page\n</title><meta property=\"og:title\" content=\"  \"></head>".into(),
                card(Some("The page"), None, None),
            ),
            (
                "title element and meta description as fallbacks; og wins where present",
                "<title>Fallback &amp; more</title><meta name=\"description\" content=\"Plain description\"><meta property=\"og:title\" content=\"OG title\">".into(),
                card(Some("OG title"), Some("Plain description"), None),
            ),
            (
                "the first occurrence wins",
                r#"<meta property="og:image" content="https://a.example/1.png"><meta property="og:image" content="https://a.example/2.png"><meta property="og:title" content="First"><meta property="og:title" content="Second">"#.into(),
                card(Some("First"), None, Some("https://a.example/1.png")),
            ),
            (
                "a > inside a quoted value does not end the tag",
                r#"<meta content="a > b" property="og:title">"#.into(),
                card(Some("a > b"), None, None),
            ),
            (
                "metadata is not meta; og:image:secure_url counts",
                r#"<metadata property="og:title" content="no"><meta property="og:image:secure_url" content="https://s.example/x.png">"#.into(),
                card(None, None, Some("https://s.example/x.png")),
            ),
            (
                "tags after a large head of scripts, comments and links",
                format!("{big_head}<meta property=\"og:title\" content=\"Found late\"></head>"),
                card(Some("Found late"), None, None),
            ),
            (
                "a page cut off inside a tag",
                "<meta property=\"og:title\" content=\"Whole\"><meta property=\"og:description\" content=\"cut".into(),
                card(Some("Whole"), Some("cut"), None),
            ),
        ];
        for (name, html, expected) in rows {
            assert_eq!(parse(&html, &page()), expected, "{name}");
        }
    }

    #[test]
    fn entities_decode_or_stay_as_written() {
        for (raw, decoded) in [
            ("a &amp; b", "a & b"),
            ("&#39;&#x27;&apos;", "'''"),
            ("&#128512;", "\u{1F600}"),
            ("AT&T", "AT&T"),
            ("&unknown;", "&unknown;"),
            ("&#xZZ;", "&#xZZ;"),
            ("&", "&"),
        ] {
            assert_eq!(decode_entities(raw), decoded, "{raw}");
        }
    }
}
