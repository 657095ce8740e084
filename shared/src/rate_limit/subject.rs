//! Who is using what: the subject of a check, and the counter key of each scope (receptors
//! and IPs hashed, never stored in clear).

use sha2::{Digest, Sha256};

use super::rules::{Channel, Scope, Target};

/// Who is using what. Build with [`Subject::channel`] or [`Subject::route`] and add the
/// keys you know; rules whose scope key is missing are skipped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subject {
    pub target: Target,
    /// The user the work is done for.
    pub user_id: Option<String>,
    /// The receiving phone number (SMS); normalised and hashed, never stored in clear.
    pub receptor: Option<String>,
    /// The client IP (`shared::http::ClientIp` at the edge).
    pub ip: Option<String>,
}

impl Subject {
    pub fn channel(channel: Channel) -> Self {
        Self {
            target: Target::Channel(channel),
            user_id: None,
            receptor: None,
            ip: None,
        }
    }

    /// A route, as declared in the router (`MatchedPath`), e.g. `/api/integrations/webhook/{endpoint}`.
    pub fn route(pattern: impl Into<String>) -> Self {
        Self {
            target: Target::Route(pattern.into()),
            user_id: None,
            receptor: None,
            ip: None,
        }
    }

    pub fn user(mut self, user_id: impl Into<String>) -> Self {
        self.user_id = Some(user_id.into());
        self
    }

    pub fn receptor(mut self, phone: impl Into<String>) -> Self {
        self.receptor = Some(phone.into());
        self
    }

    pub fn ip(mut self, ip: impl Into<String>) -> Self {
        self.ip = Some(ip.into());
        self
    }

    pub fn ip_opt(mut self, ip: Option<impl Into<String>>) -> Self {
        self.ip = ip.map(Into::into);
        self
    }

    /// The counter key for a scope, or None when the subject does not carry it.
    pub(super) fn key_for(&self, scope: Scope) -> Option<String> {
        match scope {
            Scope::User => self
                .user_id
                .as_deref()
                .filter(|u| !u.is_empty())
                .map(str::to_string),
            Scope::Receptor => self
                .receptor
                .as_deref()
                .and_then(normalise_receptor)
                .map(|r| hashed(&r)),
            Scope::Ip => self
                .ip
                .as_deref()
                .map(str::trim)
                .filter(|i| !i.is_empty())
                .map(hashed),
            Scope::Service => Some("all".into()),
        }
    }
}

/// One key per number whatever its spelling (SMS pumping varies the format): the SMS
/// module's own reading of a phone number (national, `+CC`, `00CC`, Persian and Arabic-Indic
/// digits, separators) as E.164. Input it cannot read keeps its last 10 digits of any script,
/// so a malformed number is still counted rather than let through.
fn normalise_receptor(raw: &str) -> Option<String> {
    if let Ok(phone) = crate::sms::Phone::parse(raw) {
        return Some(phone.e164().to_string());
    }
    let digits: String = raw
        .chars()
        .filter_map(crate::sms::phone::ascii_digit)
        .collect();
    if digits.is_empty() {
        return None;
    }
    let start = digits.len().saturating_sub(10);
    Some(digits[start..].to_string())
}

fn hashed(v: &str) -> String {
    hex::encode(&Sha256::digest(v.as_bytes())[..12])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn receptor_forms_normalise_to_one_number() {
        let a = normalise_receptor("+98 912 123 4567").unwrap();
        assert_eq!(a, normalise_receptor("00989121234567").unwrap());
        assert_eq!(a, normalise_receptor("09121234567").unwrap());
        assert_eq!(normalise_receptor("n/a"), None);
        // Persian and Arabic-Indic digits are the same number, not an unkeyed one.
        assert_eq!(a, normalise_receptor("۰۹۱۲۱۲۳۴۵۶۷").unwrap());
        assert_eq!(a, normalise_receptor("٠٩١٢١٢٣٤٥٦٧").unwrap());
        // Unreadable but digit-bearing input is still counted.
        assert_eq!(normalise_receptor("x۱۲۳"), Some("123".into()));
    }
}
