//! Codes: made from the OS CSPRNG, read in any digit script, stored only as a keyed hash.

use std::sync::Arc;

use hmac::{Hmac, Mac};
use sha2::Sha256;
use tokio::sync::OnceCell;

use super::OtpError;
use crate::error::InvalidInput;
use crate::secrets::SecretSource;

/// A code: `Debug` never prints it.
#[derive(Clone, PartialEq, Eq)]
pub struct Code(String);

impl std::fmt::Debug for Code {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Code(<{} digits>)", self.0.len())
    }
}

impl Code {
    /// `length` uniformly random decimal digits (rejection sampling: no modulo bias).
    pub fn generate(length: usize) -> Code {
        let mut out = String::with_capacity(length);
        let mut buf = [0u8; 16];
        while out.len() < length {
            getrandom::fill(&mut buf).expect("the OS random source is available");
            for b in buf {
                // 250 = 25 * 10: bytes 250..=255 would favour 0-5.
                if b < 250 && out.len() < length {
                    out.push(char::from(b'0' + b % 10));
                }
            }
        }
        Code(out)
    }

    /// A code as typed: Persian (۰-۹) and Arabic-Indic (٠-٩) digits read as ASCII, spaces
    /// and dashes ignored (`۱۲۳ ۴۵۶` = `123456`).
    pub fn parse(input: &str) -> Result<Code, InvalidInput> {
        let mut out = String::with_capacity(10);
        for c in input.chars() {
            match crate::sms::phone::ascii_digit(c) {
                Some(d) => out.push(d),
                None if c.is_whitespace() || c == '-' => {}
                None => return Err(InvalidInput::field("code", "digits only")),
            }
        }
        if !super::CODE_LENGTHS.contains(&out.len()) {
            return Err(InvalidInput::field("code", "4 to 10 digits"));
        }
        Ok(Code(out))
    }

    /// The digits, for the one place that delivers them.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

/// HMAC-SHA256 of a verification's id and code, keyed by a secret the table never sees: a
/// leaked table cannot be brute-forced over the 10^6 codes without the key. The key is read
/// from Secrets Manager once, on first use (SMS requests that never touch OTP do not pay
/// for it).
pub struct CodeHasher {
    source: Arc<dyn SecretSource>,
    secret_id: String,
    key: OnceCell<Vec<u8>>,
}

impl CodeHasher {
    pub fn new(source: Arc<dyn SecretSource>, secret_id: impl Into<String>) -> Self {
        Self {
            source,
            secret_id: secret_id.into(),
            key: OnceCell::new(),
        }
    }

    async fn keyed(&self) -> Result<Hmac<Sha256>, OtpError> {
        let key = self
            .key
            .get_or_try_init(|| async {
                match self.source.get(&self.secret_id).await? {
                    Some(k) if k.trim().len() >= 16 => Ok(k.trim().as_bytes().to_vec()),
                    _ => Err(OtpError::NotConfigured(format!(
                        "the secret {} is missing or shorter than 16 characters",
                        self.secret_id
                    ))),
                }
            })
            .await?;
        Ok(Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length"))
    }

    async fn mac(&self, verification_id: &str, code: &Code) -> Result<Hmac<Sha256>, OtpError> {
        let mut mac = self.keyed().await?;
        mac.update(verification_id.as_bytes());
        mac.update(b":");
        mac.update(code.0.as_bytes());
        Ok(mac)
    }

    /// The key of a receptor's items: keyed too, so the table does not hold phone numbers
    /// in a form a dictionary of all numbers could reverse.
    pub async fn receptor_key(&self, e164: &str) -> Result<String, OtpError> {
        let mut mac = self.keyed().await?;
        mac.update(b"receptor:");
        mac.update(e164.as_bytes());
        Ok(hex::encode(&mac.finalize().into_bytes()[..16]))
    }

    /// The hex digest stored for a code.
    pub async fn hash(&self, verification_id: &str, code: &Code) -> Result<String, OtpError> {
        Ok(hex::encode(
            self.mac(verification_id, code)
                .await?
                .finalize()
                .into_bytes(),
        ))
    }

    /// Whether `code` is the one hashed into `stored`, in constant time.
    pub async fn matches(
        &self,
        verification_id: &str,
        code: &Code,
        stored: &str,
    ) -> Result<bool, OtpError> {
        let Ok(expected) = hex::decode(stored) else {
            return Ok(false);
        };
        Ok(self
            .mac(verification_id, code)
            .await?
            .verify_slice(&expected)
            .is_ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_codes_have_the_length_and_vary() {
        let a = Code::generate(6);
        assert_eq!(a.expose().len(), 6);
        assert!(a.expose().bytes().all(|b| b.is_ascii_digit()));
        let distinct: std::collections::HashSet<String> = (0..50)
            .map(|_| Code::generate(10).expose().to_string())
            .collect();
        assert!(distinct.len() > 45);
        assert!(!format!("{a:?}").contains(a.expose()));
    }

    #[test]
    fn persian_and_arabic_digits_read_as_ascii() {
        assert_eq!(Code::parse("۱۲۳۴۵۶").unwrap().expose(), "123456");
        assert_eq!(Code::parse("١٢٣ ٤٥٦").unwrap().expose(), "123456");
        assert_eq!(Code::parse("12a456").unwrap_err().fields[0].field, "code");
        assert!(Code::parse("123").is_err());
    }
}
