//! Whether a file is acceptable: its size, its type as decided from its bytes
//! ([`super::sniff`]), a header-only read of image dimensions (`imagesize`), and cheap
//! end-of-file checks that catch truncated images; and safe file names and key segments. The declared `Content-Type` and the file name's extension are never trusted: a
//! PNG named `report.pdf` and sent as `application/pdf` is stored as `image/png`, and an ELF
//! binary named `photo.jpg` is refused.

use serde::{Deserialize, Serialize};

use super::error::UploadError;
pub use super::sniff::{Sniffed, sniff};
use crate::config::{ConfigError, Env};
use crate::error::InvalidInput;

pub const MIB: u64 = 1024 * 1024;

/// The two kinds of upload of the BluRosiere seed, with their own limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum UploadKind {
    /// A profile picture: JPEG, PNG or WebP, at most 5 MiB and `UPLOAD_AVATAR_MAX_DIMENSION` px a side.
    Avatar,
    /// Any document up to 10 MiB, except executables and active content (HTML, scripted SVG).
    Attachment,
}

impl UploadKind {
    pub fn as_str(self) -> &'static str {
        match self {
            UploadKind::Avatar => "avatar",
            UploadKind::Attachment => "attachment",
        }
    }
}

/// The avatar formats the seed allows.
pub const AVATAR_TYPES: [&str; 3] = ["image/jpeg", "image/png", "image/webp"];

/// Limits and type rules, read once at cold start.
#[derive(Debug, Clone)]
pub struct UploadLimits {
    /// `UPLOAD_AVATAR_MAX_BYTES`, default 5 MiB.
    pub avatar_max_bytes: u64,
    /// `UPLOAD_ATTACHMENT_MAX_BYTES`, default 10 MiB.
    pub attachment_max_bytes: u64,
    /// `UPLOAD_BULK_MAX_FILES`, default 10.
    pub bulk_max_files: usize,
    /// `UPLOAD_AVATAR_MAX_DIMENSION`, default 4096: the longest side of an avatar, in pixels.
    /// Decompression bombs (a tiny PNG claiming 50000x50000) stop here, before any resizing
    /// code downstream allocates for them.
    pub avatar_max_dimension: u32,
    /// `UPLOAD_ALLOW_EXECUTABLES` (default false): accept ELF, PE, Mach-O, Java class, DEX,
    /// WebAssembly and shebang scripts as attachments.
    pub allow_executables: bool,
    /// `UPLOAD_ALLOW_HTML` (default false): accept HTML and SVG with scripts as attachments.
    pub allow_html: bool,
    /// `UPLOAD_ATTACHMENT_TYPES`: comma-separated MIME types (`type/*` allowed). When set,
    /// only these detected types are accepted as attachments; naming an executable or HTML
    /// type here allows it too.
    pub attachment_types: Option<Vec<String>>,
}

impl Default for UploadLimits {
    fn default() -> Self {
        Self {
            avatar_max_bytes: 5 * MIB,
            attachment_max_bytes: 10 * MIB,
            bulk_max_files: 10,
            avatar_max_dimension: 4096,
            allow_executables: false,
            allow_html: false,
            attachment_types: None,
        }
    }
}

impl UploadLimits {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let d = Self::default();
        let limits = Self {
            avatar_max_bytes: env.parse_or("UPLOAD_AVATAR_MAX_BYTES", d.avatar_max_bytes)?,
            attachment_max_bytes: env
                .parse_or("UPLOAD_ATTACHMENT_MAX_BYTES", d.attachment_max_bytes)?,
            bulk_max_files: env.parse_or("UPLOAD_BULK_MAX_FILES", d.bulk_max_files)?,
            avatar_max_dimension: env
                .parse_or("UPLOAD_AVATAR_MAX_DIMENSION", d.avatar_max_dimension)?,
            allow_executables: env.bool_or("UPLOAD_ALLOW_EXECUTABLES", false)?,
            allow_html: env.bool_or("UPLOAD_ALLOW_HTML", false)?,
            attachment_types: env.optional("UPLOAD_ATTACHMENT_TYPES").map(|list| {
                list.split(',')
                    .map(|t| t.trim().to_ascii_lowercase())
                    .filter(|t| !t.is_empty())
                    .collect()
            }),
        };
        for (name, value) in [
            ("UPLOAD_AVATAR_MAX_BYTES", limits.avatar_max_bytes),
            ("UPLOAD_ATTACHMENT_MAX_BYTES", limits.attachment_max_bytes),
            ("UPLOAD_BULK_MAX_FILES", limits.bulk_max_files as u64),
            (
                "UPLOAD_AVATAR_MAX_DIMENSION",
                limits.avatar_max_dimension as u64,
            ),
        ] {
            if value == 0 {
                return Err(ConfigError::Invalid {
                    name: name.into(),
                    reason: "must be greater than 0".into(),
                });
            }
        }
        Ok(limits)
    }

    pub fn max_bytes(&self, kind: UploadKind) -> u64 {
        match kind {
            UploadKind::Avatar => self.avatar_max_bytes,
            UploadKind::Attachment => self.attachment_max_bytes,
        }
    }

    fn listed(&self, mime: &str) -> Option<bool> {
        self.attachment_types.as_ref().map(|list| {
            list.iter().any(|t| match t.strip_suffix("/*") {
                Some(major) => mime.split('/').next() == Some(major),
                None => t == mime,
            })
        })
    }
}

/// The outcome of validating a file: its real type and, for images, its dimensions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inspected {
    pub sniffed: Sniffed,
    pub width: Option<u32>,
    pub height: Option<u32>,
}

/// 413 when the file is larger than its kind allows.
pub fn check_size(kind: UploadKind, size: u64, limits: &UploadLimits) -> Result<(), UploadError> {
    let max = limits.max_bytes(kind);
    if size > max {
        return Err(UploadError::too_large(format!(
            "{} files may be at most {} bytes ({}); this one has {size}",
            kind.as_str(),
            max,
            human(max)
        )));
    }
    Ok(())
}

pub fn human(bytes: u64) -> String {
    if bytes.is_multiple_of(MIB) {
        format!("{} MiB", bytes / MIB)
    } else {
        format!("{bytes} bytes")
    }
}

/// Checks a presign request against the same limits as a direct upload, refusing up front
/// what the completion step would refuse anyway; answers the declared type, normalised.
pub fn check_presign(
    kind: UploadKind,
    size: u64,
    content_type: &str,
    limits: &UploadLimits,
) -> Result<String, UploadError> {
    check_size(kind, size, limits)
        .map_err(|e| e.with_field("size", "larger than this kind allows"))?;
    if size == 0 {
        return Err(InvalidInput::field("size", "must be at least 1 byte").into());
    }
    let declared = content_type.trim().to_ascii_lowercase();
    let well_formed = declared.len() <= 127
        && declared.split_once('/').is_some_and(|(a, b)| {
            !a.is_empty()
                && !b.is_empty()
                && (a.bytes().chain(b.bytes()))
                    .all(|c| c.is_ascii_alphanumeric() || b"!#$&-^_.+".contains(&c))
        });
    if !well_formed {
        return Err(InvalidInput::field(
            "content_type",
            "expected a MIME type such as application/pdf",
        )
        .into());
    }
    if let Some(detail) = declared_refusal(kind, &declared, limits) {
        return Err(UploadError::unsupported("unsupported_file_type", detail)
            .with_field("content_type", "type not allowed"));
    }
    Ok(declared)
}

/// Why a declared type would be refused by the completion step, if it would.
fn declared_refusal(kind: UploadKind, declared: &str, limits: &UploadLimits) -> Option<String> {
    match kind {
        UploadKind::Avatar => (!AVATAR_TYPES.contains(&declared)).then(|| {
            format!("an avatar must be image/jpeg, image/png or image/webp (got {declared})")
        }),
        UploadKind::Attachment => {
            let active =
                ["text/html", "application/xhtml+xml", "image/svg+xml"].contains(&declared);
            let exec = declared.contains("executable")
                || [
                    "application/x-msdownload",
                    "application/x-sh",
                    "text/x-shellscript",
                    "application/x-mach-binary",
                ]
                .contains(&declared);
            if active && !limits.allow_html && declared != "image/svg+xml" {
                Some(format!(
                    "{declared} is active content and not accepted as an attachment"
                ))
            } else if exec && !limits.allow_executables {
                Some(format!(
                    "{declared} is executable and not accepted as an attachment"
                ))
            } else {
                None
            }
        }
    }
}

/// Validates a whole file of `kind`: size (413), type (415), content (422).
pub fn inspect(
    kind: UploadKind,
    bytes: &[u8],
    limits: &UploadLimits,
) -> Result<Inspected, UploadError> {
    check_size(kind, bytes.len() as u64, limits)?;
    if bytes.is_empty() {
        return Err(InvalidInput::unprocessable("empty_file", "the file is empty").into());
    }
    let sniffed = sniff(bytes);
    match kind {
        UploadKind::Avatar => inspect_avatar(bytes, sniffed, limits),
        UploadKind::Attachment => {
            let listed = limits.listed(sniffed.content_type);
            if sniffed.executable && !limits.allow_executables && listed != Some(true) {
                return Err(UploadError::unsupported(
                    "executable_not_allowed",
                    format!(
                        "executable content ({}) is not accepted as an attachment, whatever the file name or declared type",
                        sniffed.content_type
                    ),
                ));
            }
            if sniffed.active && !limits.allow_html && listed != Some(true) {
                return Err(UploadError::unsupported(
                    "active_content_not_allowed",
                    format!(
                        "active content ({}: markup that can run script in a browser) is not accepted as an attachment",
                        sniffed.content_type
                    ),
                ));
            }
            if listed == Some(false) {
                return Err(UploadError::unsupported(
                    "unsupported_file_type",
                    format!(
                        "attachments of type {} are not accepted here; allowed: {}",
                        sniffed.content_type,
                        limits
                            .attachment_types
                            .as_deref()
                            .unwrap_or_default()
                            .join(", ")
                    ),
                ));
            }
            Ok(Inspected {
                sniffed,
                width: None,
                height: None,
            })
        }
    }
}

fn inspect_avatar(
    bytes: &[u8],
    sniffed: Sniffed,
    limits: &UploadLimits,
) -> Result<Inspected, UploadError> {
    if !AVATAR_TYPES.contains(&sniffed.content_type) {
        return Err(UploadError::unsupported(
            "unsupported_file_type",
            format!(
                "an avatar must be a JPEG, PNG or WebP image; the content is {}",
                sniffed.content_type
            ),
        ));
    }
    let size = imagesize::blob_size(bytes).map_err(|e| {
        InvalidInput::unprocessable(
            "invalid_image",
            format!("the image header cannot be read: {e}"),
        )
    })?;
    let complete = match sniffed.content_type {
        "image/png" => png_complete(bytes),
        "image/jpeg" => jpeg_complete(bytes),
        _ => webp_complete(bytes),
    };
    if !complete {
        return Err(InvalidInput::unprocessable(
            "invalid_image",
            format!("the {} image is truncated or corrupt", sniffed.content_type),
        )
        .into());
    }
    let (w, h) = (size.width, size.height);
    let max = limits.avatar_max_dimension as usize;
    if w == 0 || h == 0 || w > max || h > max {
        return Err(InvalidInput::unprocessable(
            "image_dimensions",
            format!(
                "an avatar may be at most {max}x{max} pixels (and not empty); this one is {w}x{h}"
            ),
        )
        .into());
    }
    Ok(Inspected {
        sniffed,
        width: Some(w as u32),
        height: Some(h as u32),
    })
}

/// A PNG ends with its IEND chunk (length 0, type, CRC).
fn png_complete(b: &[u8]) -> bool {
    b.len() >= 8 + 25 + 12
        && b.ends_with(&[0, 0, 0, 0, b'I', b'E', b'N', b'D', 0xAE, 0x42, 0x60, 0x82])
}

/// A JPEG ends with the EOI marker; some encoders pad after it, so look near the end.
fn jpeg_complete(b: &[u8]) -> bool {
    let tail = &b[b.len().saturating_sub(1024)..];
    tail.windows(2).any(|w| w == [0xFF, 0xD9])
}

/// A WebP's RIFF header states its length (plus one pad byte when odd).
fn webp_complete(b: &[u8]) -> bool {
    if b.len() < 12 {
        return false;
    }
    let riff = u32::from_le_bytes([b[4], b[5], b[6], b[7]]) as usize + 8;
    b.len() == riff || b.len() == riff + (riff & 1)
}

/// Longest file name kept, in characters (the extension included).
pub const MAX_FILENAME_CHARS: usize = 120;

/// A file name safe to show and to put in a `Content-Disposition`: the last path component
/// only, no control or bidirectional-override characters (`invoice\u{202E}fdp.exe`), none of
/// `"<>:|?*`, no leading dots (hidden files, `..`), whitespace collapsed, at most
/// [`MAX_FILENAME_CHARS`] characters with the extension kept. Empty becomes `file`.
pub fn sanitize_filename(raw: &str) -> String {
    let base = raw.rsplit(['/', '\\']).next().unwrap_or_default();
    let cleaned: String = base
        .chars()
        .filter(|c| {
            !c.is_control()
                && !is_bidi_control(*c)
                && !matches!(c, '"' | '<' | '>' | ':' | '|' | '?' | '*')
        })
        .collect();
    let collapsed = cleaned.split_whitespace().collect::<Vec<_>>().join(" ");
    let trimmed = collapsed
        .trim_start_matches(['.', ' '])
        .trim_end_matches(['.', ' ']);
    if trimmed.is_empty() {
        return "file".into();
    }
    if trimmed.chars().count() <= MAX_FILENAME_CHARS {
        return trimmed.to_string();
    }
    let (stem, ext) = split_extension(trimmed);
    let ext: String = ext
        .map(|e| format!(".{}", e.chars().take(16).collect::<String>()))
        .unwrap_or_default();
    let stem: String = stem
        .chars()
        .take(MAX_FILENAME_CHARS - ext.chars().count())
        .collect();
    format!("{}{ext}", stem.trim_end())
}

fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{FEFF}')
}

fn split_extension(name: &str) -> (&str, Option<&str>) {
    match name.rsplit_once('.') {
        Some((stem, ext)) if !stem.is_empty() && !ext.is_empty() && !ext.contains(' ') => {
            (stem, Some(ext))
        }
        _ => (name, None),
    }
}

/// The stored name: the client's stem with the extension of the detected type, so
/// `scan.pdf` holding a PNG is stored and downloaded as `scan.png`. Types without a fixed
/// extension (plain text, unknown binary) keep the client's.
pub fn stored_filename(sanitized: &str, sniffed: &Sniffed) -> String {
    let Some(ext) = sniffed.extension else {
        return sanitized.to_string();
    };
    let (stem, current) = split_extension(sanitized);
    let same = current.is_some_and(|c| {
        c.eq_ignore_ascii_case(ext) || (ext == "jpg" && c.eq_ignore_ascii_case("jpeg"))
    });
    if same {
        sanitized.to_string()
    } else {
        format!("{stem}.{ext}")
    }
}

/// A string safe in an S3 key and a local path: `[A-Za-z0-9._-]`, others replaced by `_`,
/// no leading dot, at most `max` characters.
pub fn key_segment(raw: &str, max: usize) -> String {
    let mut out = String::with_capacity(raw.len().min(max));
    for c in raw.chars() {
        let c = if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
            c
        } else {
            '_'
        };
        if !(c == '_' && out.ends_with('_')) {
            out.push(c);
        }
    }
    let out = out.trim_start_matches('.');
    let out: String = out.chars().take(max).collect();
    if out.is_empty() { "_".into() } else { out }
}

#[cfg(test)]
mod tests {

    use super::*;

    #[test]
    fn sanitizes_file_names() {
        assert_eq!(sanitize_filename("../../etc/passwd"), "passwd");
        assert_eq!(
            sanitize_filename("C:\\Users\\x\\report final.pdf"),
            "report final.pdf"
        );
        assert_eq!(sanitize_filename("a\u{0}b\nc\u{202E}fdp.exe"), "abcfdp.exe");
        assert_eq!(sanitize_filename(".."), "file");
        assert_eq!(sanitize_filename(".hidden"), "hidden");
        assert_eq!(sanitize_filename("  "), "file");
        let long = format!("{}.pdf", "x".repeat(300));
        let s = sanitize_filename(&long);
        assert_eq!(s.chars().count(), MAX_FILENAME_CHARS);
        assert!(s.ends_with(".pdf"));
    }

    #[test]
    fn key_segments_are_plain() {
        assert_eq!(
            key_segment("relatório final.pdf", 80),
            "relat_rio_final.pdf"
        );
        assert_eq!(key_segment("../x", 80), "_x");
        assert_eq!(key_segment("", 80), "_");
    }

    #[test]
    fn stored_name_follows_the_content() {
        let png = Sniffed {
            content_type: "image/png",
            extension: Some("png"),
            executable: false,
            active: false,
        };
        assert_eq!(stored_filename("scan.pdf", &png), "scan.png");
        assert_eq!(stored_filename("scan", &png), "scan.png");
        let jpg = Sniffed {
            content_type: "image/jpeg",
            extension: Some("jpg"),
            executable: false,
            active: false,
        };
        assert_eq!(stored_filename("me.JPEG", &jpg), "me.JPEG");
        let txt = Sniffed {
            content_type: "text/plain",
            extension: None,
            executable: false,
            active: false,
        };
        assert_eq!(stored_filename("data.csv", &txt), "data.csv");
    }
}
