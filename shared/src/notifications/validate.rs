//! Field checks of the notifications API: each failure names its field (400 `invalid_field`).

use super::model::Channel;
use crate::error::InvalidInput;

pub const MAX_TITLE_CHARS: usize = 200;
pub const MAX_MESSAGE_CHARS: usize = 4000;
pub const MAX_DATA_BYTES: usize = 16 * 1024;
pub const MAX_KIND_CHARS: usize = 64;
pub const MAX_USER_ID_CHARS: usize = 128;
/// `check_appointment_id`: a string id's length in bytes.
pub const MAX_APPOINTMENT_ID_BYTES: usize = 128;
/// What `validate_user_id` takes (with at most `MAX_USER_ID_CHARS` characters): something
/// besides whitespace, no `#` (it separates key parts) and no control characters.
pub const USER_ID_PATTERN: &str = r"^[^#\u0000-\u001f\u007f-\u009f]*[^#\s\u0000-\u001f\u007f-\u009f][^#\u0000-\u001f\u007f-\u009f]*$";
/// An email address both address checks take (`validate_email` here, and the stricter
/// `email::mailer::parse_address` of the email API): ASCII, a dot-atom local part, and a
/// host name of letters, digits and dashes with one to three dots; the local part is kept
/// within 64 characters (32 plus two 16-character dotted parts), as mail servers require. The OpenAPI document uses
/// it for every address field.
pub const EMAIL_PATTERN: &str = r"^[A-Za-z0-9_+-]{1,32}(?:\.[A-Za-z0-9_+-]{1,15}){0,2}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?){1,3}$";
/// `validate_email`'s length limit (bytes).
pub const MAX_EMAIL_BYTES: usize = 254;

pub fn validate_user_id(field: &str, user_id: &str) -> Result<(), InvalidInput> {
    if user_id.trim().is_empty() {
        return Err(InvalidInput::field(field, "must not be empty"));
    }
    if user_id.chars().count() > MAX_USER_ID_CHARS
        || user_id.contains('#')
        || user_id.chars().any(char::is_control)
    {
        return Err(InvalidInput::field(
            field,
            "must be at most 128 characters, without '#' or control characters",
        ));
    }
    Ok(())
}

pub fn validate_email(field: &str, email: &str) -> Result<(), InvalidInput> {
    let ok = email.len() <= MAX_EMAIL_BYTES
        && !email.chars().any(|c| c.is_whitespace() || c.is_control())
        && matches!(email.split_once('@'), Some((local, domain)) if !local.is_empty() && domain.contains('.') && !domain.starts_with('.') && !domain.ends_with('.') && !domain.contains('@'));
    if ok {
        Ok(())
    } else {
        Err(InvalidInput::field(
            field,
            "must be an email address like name@example.com",
        ))
    }
}

/// A phone number as the SMS module reads it (Iranian national forms, Persian digits, `00`
/// prefixes), normalised to E.164.
pub fn normalize_phone(field: &str, phone: &str) -> Result<String, InvalidInput> {
    crate::sms::Phone::parse(phone)
        .map(|p| p.e164().to_string())
        .map_err(|e| InvalidInput::field(field, e.0))
}

pub(super) fn check_len(field: &str, value: &str, max: usize) -> Result<(), InvalidInput> {
    if value.trim().is_empty() {
        return Err(InvalidInput::field(field, "must not be empty"));
    }
    if value.chars().count() > max {
        return Err(InvalidInput::field(
            field,
            format!("must be at most {max} characters"),
        ));
    }
    Ok(())
}

/// Parses a requested channel list: unknown names are a 400 naming them; `in_app` is added.
pub fn parse_channels(requested: Option<&[String]>) -> Result<Vec<Channel>, InvalidInput> {
    let mut out = vec![Channel::InApp];
    match requested {
        None => out.extend(Channel::QUEUED),
        Some(list) => {
            for (i, name) in list.iter().enumerate() {
                let c = Channel::parse(name).ok_or_else(|| {
                    InvalidInput::field(
                        format!("channels[{i}]"),
                        format!(
                            "unknown channel {name:?}; expected in_app, email, sms or websocket"
                        ),
                    )
                })?;
                if !out.contains(&c) {
                    out.push(c);
                }
            }
        }
    }
    Ok(out)
}

pub fn check_appointment_id(field: &str, id: &serde_json::Value) -> Result<(), InvalidInput> {
    match id {
        serde_json::Value::String(s)
            if !s.trim().is_empty() && s.len() <= MAX_APPOINTMENT_ID_BYTES =>
        {
            Ok(())
        }
        serde_json::Value::Number(_) => crate::store::storable::check(field, id),
        _ => Err(InvalidInput::field(
            field,
            "must be a non-empty string (at most 128 characters) or a number",
        )),
    }
}

pub fn check_date(field: &str, date: &str) -> Result<(), InvalidInput> {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    time::Date::parse(date, &format)
        .map(|_| ())
        .map_err(|_| InvalidInput::field(field, "must be a date as YYYY-MM-DD"))
}

pub fn check_time(field: &str, t: &str) -> Result<(), InvalidInput> {
    let format = time::macros::format_description!("[hour]:[minute]");
    time::Time::parse(t, &format)
        .map(|_| ())
        .map_err(|_| InvalidInput::field(field, "must be a time as HH:MM"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channels_default_to_all_and_in_app_is_always_there() {
        assert_eq!(parse_channels(None).unwrap(), Channel::ALL.to_vec());
        let only_sms = parse_channels(Some(&["sms".to_string()])).unwrap();
        assert_eq!(only_sms, vec![Channel::InApp, Channel::Sms]);
        let err = parse_channels(Some(&["pigeon".to_string()])).unwrap_err();
        assert_eq!(err.fields[0].field, "channels[0]");
    }

    #[test]
    fn validates_contact() {
        assert!(validate_email("e", "a@b.co").is_ok());
        assert!(validate_email("e", "a@b").is_err());
        assert_eq!(
            normalize_phone("p", "0912 000 0000").unwrap(),
            "+989120000000"
        );
        assert!(normalize_phone("p", "12ab").is_err());
    }
}
