//! Identifier redaction before text leaves for a third-party model (`AI_REDACT_IDENTIFIERS`,
//! on by default).
//!
//! Pragmatic, not exhaustive: it removes what is reliably recognisable by shape or by the
//! word in front of it, in English, Portuguese and Persian, and keeps clinical numbers
//! (blood pressure `120/80`, `38.5` °C, `500 mg`, ages) intact:
//! - emails → `[EMAIL]`;
//! - dates with a four-digit year (`1990-05-12`, `12/05/1990`, `1369/02/15`) → `[DATE]`;
//! - long digit runs (7+ digits, spaces/dashes/dots allowed inside: phone numbers, Iranian
//!   national codes, CPF, record numbers) → `[PHONE]` when they start with `+` or `0`, else `[ID]`;
//! - up to three words after a name marker (`Patient:`, `Name:`, `Nome:`, `Paciente:`,
//!   `بیمار:`, `نام:`) or a title (`Mr`, `Mrs`, `Dr`, `Sr.`, `Sra.`, `آقای`, `خانم`) → `[NAME]`.
//!
//! Persian and Arabic-Indic digits count as digits (`\d` is Unicode-aware).

use std::sync::LazyLock;

use regex::{Captures, Regex};

static EMAIL: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+").expect("email pattern"));
static DATE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\b(?:\d{4}[-/.]\d{1,2}[-/.]\d{1,2}|\d{1,2}[-/.]\d{1,2}[-/.]\d{4})\b")
        .expect("date pattern")
});
static NUMBER: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\+?\(?\d(?:[\s\-.()]?\d){6,}").expect("number pattern"));
static NAME_AFTER_MARKER: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)((?:patient(?:'s)?(?:\s+name)?|full\s+name|name|nome(?:\s+completo)?|paciente|نام\s+بیمار|نام\s+و\s+نام\s+خانوادگی|بیمار|نام)\s*[:：]\s*)((?:[^\s,;.،:\n\[]+\s?){1,3})",
    )
    .expect("name marker pattern")
});
static NAME_AFTER_TITLE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(\b(?:Mr|Mrs|Ms|Miss|Dr|Sr|Sra|Srta)\.?\s+)(\p{Lu}[\p{L}'-]+(?:\s+\p{Lu}[\p{L}'-]+)?)|((?:آقای|خانم)\s+)([^\s,;.،]+(?:\s+[^\s,;.،]+)?)")
        .expect("title pattern")
});

/// The redacted text and how many identifiers were replaced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redacted {
    pub text: String,
    pub count: usize,
}

pub fn redact(text: &str) -> Redacted {
    let mut count = 0;
    let mut replace = |re: &Regex, input: &str, f: &dyn Fn(&Captures) -> String| -> String {
        re.replace_all(input, |c: &Captures| {
            count += 1;
            f(c)
        })
        .into_owned()
    };
    let t = replace(&EMAIL, text, &|_| "[EMAIL]".into());
    let t = replace(&DATE, &t, &|_| "[DATE]".into());
    let t = replace(&NUMBER, &t, &|c| {
        let m = c.get(0).map(|m| m.as_str()).unwrap_or_default();
        let first_digit = m.chars().find(|ch| ch.is_numeric());
        if m.starts_with('+') || matches!(first_digit, Some('0' | '۰' | '٠')) {
            "[PHONE]".into()
        } else {
            "[ID]".into()
        }
    });
    let t = replace(&NAME_AFTER_MARKER, &t, &|c| format!("{}[NAME] ", &c[1]));
    let t = replace(&NAME_AFTER_TITLE, &t, &|c| {
        let prefix = c
            .get(1)
            .or_else(|| c.get(3))
            .map(|m| m.as_str())
            .unwrap_or_default();
        format!("{prefix}[NAME]")
    });
    Redacted {
        text: t.replace("[NAME]  ", "[NAME] ").trim_end().to_string(),
        count,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn removes_identifiers_and_keeps_clinical_numbers() {
        let r = redact(
            "Patient: John Smith, DOB 1985-03-14, phone +1 415 555 0199, email john@example.com. BP 120/80, temp 38.5, 500 mg.",
        );
        assert!(
            !r.text.contains("John") && !r.text.contains("Smith"),
            "{}",
            r.text
        );
        assert!(
            !r.text.contains("1985") && !r.text.contains("555") && !r.text.contains("example.com"),
            "{}",
            r.text
        );
        assert!(
            r.text.contains("120/80") && r.text.contains("38.5") && r.text.contains("500 mg"),
            "{}",
            r.text
        );
        assert!(
            r.text.contains("[NAME]")
                && r.text.contains("[DATE]")
                && r.text.contains("[PHONE]")
                && r.text.contains("[EMAIL]")
        );
        assert_eq!(r.count, 4);
    }

    #[test]
    fn persian_identifiers() {
        let r = redact(
            "بیمار: علی رضایی، کد ملی ۰۰۱۲۳۴۵۶۷۸ و تلفن 09123456789 از سردرد و تب شکایت دارد",
        );
        assert!(
            !r.text.contains("علی")
                && !r.text.contains("۰۰۱۲۳۴۵۶۷۸")
                && !r.text.contains("09123456789"),
            "{}",
            r.text
        );
        assert!(r.text.contains("سردرد"), "{}", r.text);
        let r = redact("Sra. Maria Souza, CPF 123.456.789-09, dor de cabeça há 3 dias");
        assert!(
            !r.text.contains("Maria") && !r.text.contains("123.456"),
            "{}",
            r.text
        );
        assert!(r.text.contains("3 dias"));
    }
}
