//! The page shell (header, navigation, sign-out) and small pieces every
//! page uses. `maud` escapes every `(value)` it inserts; nothing here
//! builds HTML from strings.

use maud::{DOCTYPE, Markup, html};

use super::assets;
use crate::auth::{Caller, Role};

/// The CSRF token of this browser (from its cookie, or fresh).
#[derive(Debug, Clone)]
pub struct Csrf(pub String);

/// Who is looking at a page, and the token its forms repeat.
#[derive(Debug, Clone)]
pub struct Ctx {
    /// The caller; `None` only on the sign-in page.
    pub caller: Option<Caller>,
    /// Goes into every form as `csrf`.
    pub csrf: String,
    /// Signed in with a session (so sign-out means something).
    pub signed_in: bool,
}

impl Ctx {
    /// A visitor who has not signed in.
    pub fn anonymous(csrf: Csrf) -> Ctx {
        Ctx {
            caller: None,
            csrf: csrf.0,
            signed_in: false,
        }
    }

    /// Whether the caller may create, change and delete.
    pub fn is_admin(&self) -> bool {
        self.caller.as_ref().is_some_and(|c| c.role >= Role::Admin)
    }

    /// The caller's name, for the `created_by` of what they change.
    pub fn username(&self) -> &str {
        self.caller.as_ref().map_or("", |c| c.username.as_str())
    }

    /// The hidden CSRF field of a form.
    pub fn csrf_field(&self) -> Markup {
        html! { input type="hidden" name="csrf" value=(self.csrf); }
    }
}

/// The navigation: (path, label, admins only).
const NAV: &[(&str, &str, bool)] = &[
    ("/", "Overview", false),
    ("/agents", "Agents", false),
    ("/runs", "Runs", false),
    ("/environments", "Environments", false),
    ("/data", "Data", false),
    ("/keys", "Keys", true),
];

/// A rendered page, ready to send.
pub type Page = axum::response::Html<String>;

/// A whole page: `current` is the path of the navigation entry to mark.
pub fn page(ctx: &Ctx, title: &str, current: &str, body: Markup) -> Page {
    let markup = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · Station" }
                link rel="stylesheet" href=(assets::CSS_PATH);
                script type="module" src=(assets::JS_PATH) {}
            }
            body {
                header.top {
                    a.brand href="/" { "Station" }
                    @if let Some(caller) = &ctx.caller {
                        nav aria-label="Main" {
                            @for (path, label, admin_only) in NAV {
                                @if !admin_only || ctx.is_admin() {
                                    a href=(path) aria-current=[(*path == current).then_some("page")] { (label) }
                                }
                            }
                        }
                        div.who {
                            span { (caller.username) }
                            @if ctx.signed_in {
                                form method="post" action="/signout" {
                                    (ctx.csrf_field())
                                    button.link type="submit" { "Sign out" }
                                }
                            }
                        }
                    }
                }
                main { (body) }
            }
        }
    };
    axum::response::Html(markup.into_string())
}

/// A run status as a badge (its text is the status itself).
pub fn status(status: &str) -> Markup {
    html! { span class={ "badge s-" (status) } data-status=(status) { (status) } }
}

/// A stored timestamp as `YYYY-MM-DD HH:MM:SS` UTC (the full value on hover).
pub fn time(stored: &str) -> Markup {
    let short = stored.get(..19).unwrap_or(stored).replace('T', " ");
    html! { time datetime=(stored) title=(stored) { (short) } }
}

/// A count with thousands separators: `12 345`.
pub fn count(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push('\u{202f}');
        }
        out.push(c);
    }
    if n < 0 { format!("-{out}") } else { out }
}

/// Milliseconds as `850 ms` or `2.4 s`.
pub fn duration_ms(ms: i64) -> String {
    if ms < 1000 {
        format!("{ms} ms")
    } else {
        format!("{:.1} s", ms as f64 / 1000.0)
    }
}

/// Text that may be long: shown whole when short, else folded with the
/// first line as the summary.
pub fn long_text(text: &str) -> Markup {
    const FOLD_AT: usize = 400;
    if text.len() <= FOLD_AT && text.lines().count() <= 8 {
        return html! { pre.out tabindex="0" { (text) } };
    }
    let cut = text.char_indices().nth(120).map_or(text.len(), |(i, _)| i);
    let first = text[..cut].lines().next().unwrap_or("");
    html! {
        details.out {
            summary { (first) "… (" (count(text.len() as i64)) " bytes)" }
            pre tabindex="0" { (text) }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_read_well() {
        assert_eq!(count(0), "0");
        assert_eq!(count(1234567), "1\u{202f}234\u{202f}567");
        assert_eq!(duration_ms(850), "850 ms");
        assert_eq!(duration_ms(2400), "2.4 s");
    }

    #[test]
    fn hostile_text_is_escaped() {
        let html = long_text("<script>alert(1)</script>").into_string();
        assert!(html.contains("&lt;script&gt;"), "{html}");
        assert!(!html.contains("<script>"), "{html}");
    }
}
