//! Phone numbers: what people type in, normalised to E.164 for storage, and rendered in the
//! form each provider wants (Kavenegar: `09…` for Iranian mobiles; Twilio: E.164).

use crate::error::InvalidInput;

/// A normalised phone number (E.164, e.g. `+989123456789`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Phone(String);

/// Why a number was refused; the message is safe to show (it never echoes the number).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct PhoneError(pub &'static str);

impl PhoneError {
    /// The validation error naming the field the number came from (`receptor`,
    /// `receptors[3]`).
    pub fn for_field(&self, field: impl Into<String>) -> InvalidInput {
        InvalidInput::field(field, self.0)
    }
}

const FORMS: &str = "expected an Iranian mobile number (09xxxxxxxxx, +989xxxxxxxxx or 00989xxxxxxxxx) or an international number in E.164 form (+ and country code)";

impl Phone {
    /// Normalises a number as typed: Persian (۰-۹) and Arabic-Indic (٠-٩) digits become ASCII,
    /// spaces, dashes, dots and parentheses are dropped, `00` becomes `+`, and the Iranian
    /// national (`09…`) and Kavenegar (`989…`) forms become `+989…`.
    pub fn parse(input: &str) -> Result<Phone, PhoneError> {
        let mut plus = false;
        let mut digits = String::with_capacity(16);
        for (i, c) in input.trim().chars().enumerate() {
            match c {
                c if ascii_digit(c).is_some() => digits.extend(ascii_digit(c)),
                '+' if i == 0 => plus = true,
                ' ' | '-' | '.' | '(' | ')' | '\u{00A0}' | '\u{200C}' | '\u{200E}' | '\u{200F}'
                | '\t' => {}
                _ => {
                    return Err(PhoneError(
                        "contains characters that are not part of a phone number",
                    ));
                }
            }
        }
        if digits.is_empty() {
            return Err(PhoneError("must not be empty"));
        }
        let international: String = if plus {
            digits
        } else if let Some(rest) = digits.strip_prefix("00") {
            rest.to_string()
        } else if digits.len() == 11 && digits.starts_with("09") {
            format!("98{}", &digits[1..])
        } else if digits.len() == 12 && digits.starts_with("989") {
            digits
        } else if digits.len() == 10 && digits.starts_with('9') {
            // `9123456789`: the national form with its leading 0 dropped, common in Iranian forms.
            format!("98{digits}")
        } else {
            return Err(PhoneError(FORMS));
        };
        if international.starts_with('0') {
            return Err(PhoneError(FORMS));
        }
        if let Some(national) = international.strip_prefix("98") {
            // Iranian numbers that can receive SMS are mobiles: 9 followed by nine digits.
            if !(national.len() == 10 && national.starts_with('9')) {
                return Err(PhoneError(
                    "an Iranian mobile number has 10 digits after +98 and starts with 9 (09xxxxxxxxx)",
                ));
            }
        } else if !(8..=15).contains(&international.len()) {
            return Err(PhoneError(
                "an international number has 8 to 15 digits including the country code",
            ));
        }
        Ok(Phone(format!("+{international}")))
    }

    /// The E.164 form (stored, and sent to Twilio).
    pub fn e164(&self) -> &str {
        &self.0
    }

    /// An Iranian (+98) number: routed to Kavenegar first.
    pub fn is_iranian(&self) -> bool {
        self.0.starts_with("+98")
    }

    /// Kavenegar's form: the national `09…` for Iranian mobiles, `00` + country code otherwise.
    pub fn kavenegar(&self) -> String {
        match self.0.strip_prefix("+98") {
            Some(national) => format!("0{national}"),
            None => format!("00{}", &self.0[1..]),
        }
    }

    /// Masked for logs: `+98912*****89`.
    pub fn masked(&self) -> String {
        crate::mask::mask_phone(&self.0)
    }

    /// A number as stored (E.164), read back through the same parser.
    pub fn from_stored(e164: &str) -> Result<Phone, PhoneError> {
        Phone::parse(e164)
    }
}

/// A decimal digit in ASCII, Persian (۰-۹) or Arabic-Indic (٠-٩) script, as its ASCII digit.
pub fn ascii_digit(c: char) -> Option<char> {
    let zero = match c {
        '0'..='9' => return Some(c),
        '\u{06F0}'..='\u{06F9}' => 0x06F0,
        '\u{0660}'..='\u{0669}' => 0x0660,
        _ => return None,
    };
    char::from_digit(c as u32 - zero, 10)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(s: &str) -> String {
        Phone::parse(s)
            .unwrap_or_else(|e| panic!("{s:?}: {e}"))
            .e164()
            .to_string()
    }

    #[test]
    fn iranian_forms_normalise_to_e164() {
        for s in [
            "09123456789",
            "+989123456789",
            "00989123456789",
            "989123456789",
            "9123456789",
            "0912 345 6789",
            "0912-345-6789",
            "(0912) 345-6789",
            "۰۹۱۲۳۴۵۶۷۸۹",
            "٠٩١٢٣٤٥٦٧٨٩",
            "+۹۸ ۹۱۲ ۳۴۵ ۶۷۸۹",
            " 0912\u{00A0}345\u{200C}6789 ",
        ] {
            assert_eq!(ok(s), "+989123456789", "{s:?}");
        }
    }

    #[test]
    fn other_countries_in_e164() {
        assert_eq!(ok("+5511999999999"), "+5511999999999");
        assert_eq!(ok("+1 (415) 555-2671"), "+14155552671");
        assert_eq!(ok("0044 20 7946 0958"), "+442079460958");
    }

    #[test]
    fn rejects_what_is_not_a_number() {
        for s in [
            "",
            "   ",
            "abc",
            "0912345678",
            "091234567890",
            "+98212345678",
            "+9891234567",
            "12345",
            "+1234567890123456",
            "+0123456789",
            "0912345678a",
            "1+2345678",
        ] {
            assert!(Phone::parse(s).is_err(), "{s:?} should be rejected");
        }
        let e = Phone::parse("0912").unwrap_err().for_field("receptor");
        assert_eq!(e.code, "invalid_field");
        assert_eq!(e.fields[0].field, "receptor");
        assert!(
            !e.detail.contains("0912"),
            "the problem must not echo the number"
        );
    }

    #[test]
    fn provider_forms() {
        let ir = Phone::parse("+989123456789").unwrap();
        assert!(ir.is_iranian());
        assert_eq!(ir.kavenegar(), "09123456789");
        let br = Phone::parse("+5511999999999").unwrap();
        assert!(!br.is_iranian());
        assert_eq!(br.kavenegar(), "005511999999999");
        assert_eq!(br.e164(), "+5511999999999");
        assert_eq!(ir.masked(), "+98912*****89");
    }
}
