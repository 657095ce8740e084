//! What a file is, decided from its bytes alone: magic numbers (the `infer` crate), then
//! text rules that tell HTML, SVG (with or without script) and XML apart. The declared
//! `Content-Type` and the file name's extension never enter into it.

/// What the bytes are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sniffed {
    pub content_type: &'static str,
    /// The extension that type is stored under (`png`, `pdf`, ...); `None` keeps the client's.
    pub extension: Option<&'static str>,
    /// Machine code or a script the OS would run.
    pub executable: bool,
    /// Content a browser would run script from (HTML, SVG with script).
    pub active: bool,
}

const EXECUTABLE_TYPES: [&str; 8] = [
    "application/x-executable",
    "application/vnd.microsoft.portable-executable",
    "application/x-mach-binary",
    "application/java",
    "application/vnd.android.dex",
    "application/vnd.android.dey",
    "application/wasm",
    "text/x-shellscript",
];

/// How far into a text file we look for markup; HTML that hides its first tag past 64 KiB of
/// text is not rendered as HTML by anyone who sniffs either.
const TEXT_SCAN_BYTES: usize = 64 * 1024;

/// Executable headers by their first bytes alone. `infer` only names a type once enough of
/// the header is present (an ELF needs its full 52-byte header), so a truncated or hand-made
/// executable would otherwise pass as `application/octet-stream`.
fn executable_magic(bytes: &[u8]) -> Option<&'static str> {
    const MAGICS: [(&[u8], &str); 6] = [
        (b"\x7fELF", "application/x-executable"),
        (b"MZ", "application/vnd.microsoft.portable-executable"),
        (&[0xfe, 0xed, 0xfa, 0xce], "application/x-mach-binary"),
        (&[0xfe, 0xed, 0xfa, 0xcf], "application/x-mach-binary"),
        (&[0xce, 0xfa, 0xed, 0xfe], "application/x-mach-binary"),
        (&[0xcf, 0xfa, 0xed, 0xfe], "application/x-mach-binary"),
    ];
    MAGICS
        .iter()
        .find(|(magic, _)| bytes.starts_with(magic))
        .map(|(_, mime)| *mime)
}

/// Decides the type from the bytes alone.
pub fn sniff(bytes: &[u8]) -> Sniffed {
    let known = infer::get(bytes);
    if let Some(mime) = executable_magic(bytes)
        && !known.is_some_and(|t| t.matcher_type() != infer::MatcherType::App)
    {
        return Sniffed {
            content_type: mime,
            extension: None,
            executable: true,
            active: false,
        };
    }
    if let Some(t) = known {
        let mime = t.mime_type();
        if EXECUTABLE_TYPES.contains(&mime) {
            return Sniffed {
                content_type: mime,
                extension: Some(t.extension()),
                executable: true,
                active: false,
            };
        }
        if mime != "text/html" && mime != "text/xml" {
            return Sniffed {
                content_type: mime,
                extension: Some(t.extension()),
                executable: false,
                active: false,
            };
        }
        // HTML and XML go through the text rules below, which also tell SVG apart.
    }
    let head = &bytes[..bytes.len().min(TEXT_SCAN_BYTES)];
    let is_text = !head.contains(&0) && utf8_prefix_valid(head);
    if !is_text {
        return Sniffed {
            content_type: "application/octet-stream",
            extension: None,
            executable: false,
            active: false,
        };
    }
    let lower = String::from_utf8_lossy(head).to_ascii_lowercase();
    let scripted = [
        "<script",
        "javascript:",
        "<iframe",
        "<foreignobject",
        "<embed",
        "<object",
    ]
    .iter()
    .any(|m| lower.contains(m))
        || has_event_handler_attribute(&lower);
    if lower.contains("<svg") {
        return Sniffed {
            content_type: "image/svg+xml",
            extension: Some("svg"),
            executable: false,
            active: scripted,
        };
    }
    let html = lower
        .trim_start_matches('\u{feff}')
        .trim_start()
        .starts_with("<!doctype html")
        || ["<html", "<body", "<head"]
            .iter()
            .any(|m| lower.contains(m));
    if html || scripted {
        return Sniffed {
            content_type: "text/html",
            extension: Some("html"),
            executable: false,
            active: true,
        };
    }
    if lower
        .trim_start_matches('\u{feff}')
        .trim_start()
        .starts_with("<?xml")
    {
        return Sniffed {
            content_type: "text/xml",
            extension: Some("xml"),
            executable: false,
            active: false,
        };
    }
    Sniffed {
        content_type: "text/plain",
        extension: None,
        executable: false,
        active: false,
    }
}

/// `onload=`, `onclick =` ... inside a tag: how script hides in SVG without a `<script>`.
/// One pass over the bytes (the input is attacker-controlled: no rescans).
fn has_event_handler_attribute(lower: &str) -> bool {
    let b = lower.as_bytes();
    let mut in_tag = false;
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'<' => in_tag = true,
            b'>' => in_tag = false,
            c if in_tag
                && (c.is_ascii_whitespace() || c == b'/')
                && b[i + 1..].starts_with(b"on") =>
            {
                let mut j = i + 3;
                while j < b.len() && b[j].is_ascii_alphabetic() {
                    j += 1;
                }
                let named = j > i + 3;
                while j < b.len() && b[j].is_ascii_whitespace() {
                    j += 1;
                }
                if named && j < b.len() && b[j] == b'=' {
                    return true;
                }
            }
            _ => {}
        }
        i += 1;
    }
    false
}

/// Valid UTF-8, allowing a character cut at the end of the scanned prefix.
fn utf8_prefix_valid(head: &[u8]) -> bool {
    match std::str::from_utf8(head) {
        Ok(_) => true,
        Err(e) => e.error_len().is_none() && head.len() - e.valid_up_to() < 4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncated_executable_headers_are_still_executables() {
        assert!(sniff(b"\x7fELF\x02\x01\x01\x00").executable);
        assert!(sniff(b"MZ\x90\x00\x03").executable);
        assert!(sniff(&[0xcf, 0xfa, 0xed, 0xfe, 7, 0, 0, 1]).executable);
        // Conservative on purpose: text that happens to start with `MZ` is refused too.
        assert!(sniff(b"MZ is where this note starts").executable);
        assert!(!sniff(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR").executable);
    }
    #[test]
    fn sniffs_text_markup_and_scripts() {
        assert_eq!(sniff(b"hello, world\n").content_type, "text/plain");
        assert!(sniff(b"<!DOCTYPE html><p>x").active);
        assert!(sniff(b"#!/bin/sh\nrm -rf /").executable);
        let svg = sniff(br#"<svg xmlns="http://www.w3.org/2000/svg"><circle r="1"/></svg>"#);
        assert_eq!((svg.content_type, svg.active), ("image/svg+xml", false));
        assert!(sniff(br#"<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>"#).active);
        assert!(sniff(br#"<?xml version="1.0"?><svg><script>alert(1)</script></svg>"#).active);
        assert!(!sniff(b"the sponsor = Mr. Jones; on = off").active);
        assert!(!sniff(b"a <b>bold</b> move: online = yes").active);
        assert!(sniff(b"<svg><a/onmouseover =x></svg>").active);
        assert_eq!(
            sniff(&[0xde, 0xad, 0x00, 0xbe]).content_type,
            "application/octet-stream"
        );
    }
}
