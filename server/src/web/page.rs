//! The browser desk's page and its assets, embedded in the binary: nothing
//! to deploy beside it, nothing fetched from anywhere else at run time.
//! The page, its script and its style are written by hand in `server/web/`;
//! `desk.json` is made here, so the page shows names in the colours of the
//! one palette ([`Color`]) and knows the server's line limit.

use std::borrow::Cow;

use chat_shared::Color;

/// One thing the page loads.
#[derive(Debug)]
pub struct Asset {
    /// Its `Content-Type`.
    pub content_type: &'static str,
    /// Its bytes.
    pub body: Cow<'static, [u8]>,
}

const INDEX_HTML: &str = include_str!("../../web/index.html");
const APP_JS: &str = include_str!("../../web/app.js");
const STYLE_CSS: &str = include_str!("../../web/style.css");
const ICON_SVG: &str = include_str!("../../web/icon.svg");

/// The asset at `path`, for a server whose lines are at most
/// `max_line_bytes` long; `None` when there is none.
pub fn asset(path: &str, max_line_bytes: usize) -> Option<Asset> {
    let (content_type, body) = match path {
        "/" | "/index.html" => ("text/html; charset=utf-8", Cow::Borrowed(INDEX_HTML)),
        "/app.js" => ("text/javascript; charset=utf-8", Cow::Borrowed(APP_JS)),
        "/style.css" => ("text/css; charset=utf-8", Cow::Borrowed(STYLE_CSS)),
        "/icon.svg" | "/favicon.ico" => ("image/svg+xml", Cow::Borrowed(ICON_SVG)),
        "/desk.json" => ("application/json", Cow::Owned(desk_json(max_line_bytes))),
        _ => return None,
    };
    let body = match body {
        Cow::Borrowed(text) => Cow::Borrowed(text.as_bytes()),
        Cow::Owned(text) => Cow::Owned(text.into_bytes()),
    };
    Some(Asset { content_type, body })
}

/// What the page needs to know of this server: each colour name's RGB
/// value, and the longest line it takes.
fn desk_json(max_line_bytes: usize) -> String {
    let palette: serde_json::Map<String, serde_json::Value> = Color::ALL
        .iter()
        .map(|color| {
            let (r, g, b) = color.rgb();
            (
                color.name().to_string(),
                format!("#{r:02x}{g:02x}{b:02x}").into(),
            )
        })
        .collect();
    serde_json::json!({ "palette": palette, "maxLineBytes": max_line_bytes }).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_palette_is_the_shared_one() {
        let json: serde_json::Value = serde_json::from_str(&desk_json(4096)).unwrap();
        assert_eq!(json["maxLineBytes"], 4096);
        assert_eq!(json["palette"]["blue"], "#005fd7");
        assert_eq!(json["palette"].as_object().unwrap().len(), Color::ALL.len());
    }

    #[test]
    fn the_page_loads_no_inline_script_and_nothing_from_elsewhere() {
        assert!(INDEX_HTML.contains(r#"<script src="/app.js" defer></script>"#));
        assert!(!INDEX_HTML.contains("<script>"), "no inline script");
        assert!(!INDEX_HTML.contains(" style="), "no inline style");
        for text in [INDEX_HTML, APP_JS, STYLE_CSS] {
            assert!(!text.contains("http://") && !text.contains("https://"));
        }
        assert!(!APP_JS.contains("innerHTML"), "room text is never HTML");
    }
}
