//! Masking of personal data before it reaches logs or log tables.

/// `+989123456789` -> `+98912*****89`: enough to tell numbers apart in an incident, not
/// enough to call anyone.
pub fn mask_phone(phone: &str) -> String {
    let chars: Vec<char> = phone.chars().collect();
    if chars.len() <= 6 {
        return "*".repeat(chars.len());
    }
    let keep_head = if chars[0] == '+' {
        6.min(chars.len() - 4)
    } else {
        4
    };
    let keep_tail = 2;
    let hidden = chars.len().saturating_sub(keep_head + keep_tail);
    let mut out: String = chars[..keep_head].iter().collect();
    out.push_str(&"*".repeat(hidden));
    out.extend(&chars[chars.len() - keep_tail..]);
    out
}

/// `patient@example.com` -> `p*****@example.com`.
pub fn mask_email(email: &str) -> String {
    match email.split_once('@') {
        Some((local, domain)) => {
            let first: String = local.chars().take(1).collect();
            format!(
                "{first}{}@{domain}",
                "*".repeat(local.chars().count().saturating_sub(1).max(1))
            )
        }
        None => "*".repeat(email.chars().count()),
    }
}

/// Masks a recipient, whichever kind it is.
pub fn mask_recipient(r: &str) -> String {
    if r.contains('@') {
        mask_email(r)
    } else {
        mask_phone(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phones_keep_prefix_and_last_two() {
        assert_eq!(mask_phone("+989123456789"), "+98912*****89");
        assert_eq!(mask_phone("09123456789"), "0912*****89");
        assert!(!mask_phone("+5511999999999").contains("9999999"));
    }

    #[test]
    fn emails_keep_first_letter_and_domain() {
        assert_eq!(mask_email("patient@example.com"), "p******@example.com");
        assert_eq!(mask_recipient("a@b.c"), "a*@b.c");
    }
}
