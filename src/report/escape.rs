//! Escaping of text that comes from the report (probe names, errors, messages): for
//! HTML/SVG, and for Markdown text and table cells.

/// Escapes `s` for HTML text and quoted attribute values.
pub(crate) fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Escapes `s` for Markdown text, table cells included. Whatever could start raw HTML (`<`
/// before a letter, `/`, `!` or `?`: a tag, comment, declaration or autolink) or a
/// character reference (`&` before a letter or `#`) becomes an entity, so `<script>` is
/// shown, never run; `<= 5s` stays readable. `|` and `\` are backslash-escaped, so a pipe
/// never ends a cell and a trailing backslash never swallows the cell's closing pipe.
pub(crate) fn markdown(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        let next = chars.peek().copied();
        match c {
            '<' if next.is_some_and(|n| n.is_ascii_alphabetic() || "/!?".contains(n)) => {
                out.push_str("&lt;")
            }
            '&' if next.is_some_and(|n| n.is_ascii_alphanumeric() || n == '#') => {
                out.push_str("&amp;")
            }
            '|' => out.push_str("\\|"),
            '\\' => out.push_str("\\\\"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::{escape, markdown};

    #[test]
    fn markdown_shows_markup_and_keeps_cells_closed() {
        assert_eq!(
            markdown(r"<script>a|b</script> & c:\"),
            r"&lt;script>a\|b&lt;/script> & c:\\"
        );
        assert_eq!(
            markdown("<!-- x --> <?php &lt; &#60; <https://x> <= 5s >= 1"),
            "&lt;!-- x --> &lt;?php &amp;lt; &amp;#60; &lt;https://x> <= 5s >= 1"
        );
        assert_eq!(markdown("plain api-1 *x* `y`"), "plain api-1 *x* `y`");
    }

    #[test]
    fn escapes_markup_and_quotes() {
        assert_eq!(
            escape(r#"<script>alert("x&'y")</script>"#),
            "&lt;script&gt;alert(&quot;x&amp;&#39;y&quot;)&lt;/script&gt;"
        );
        assert_eq!(escape("plain api-1"), "plain api-1");
    }
}
