//! Dates and times as each audience reads them.
//!
//! Callers send Gregorian ISO dates (`2025-01-20`) and 24-hour times (`14:00`); templates get
//! them in the reader's form:
//!
//! | language | date | time | together (`date_time`) |
//! | --- | --- | --- | --- |
//! | `fa` | Solar Hijri, Persian digits: `۱۴۰۳/۱۱/۰۱` | `۱۴:۰۰` | `۱۴۰۳/۱۱/۰۱ ساعت ۱۴:۰۰` |
//! | `pt-BR` | `20/01/2025` | `14:00` | `20/01/2025 às 14:00` |
//! | `en` | `20 January 2025` (the month spelled out: no day/month order to guess) | `14:00` | `20 January 2025 at 14:00` |
//!
//! The Solar Hijri conversion is ICU4X's Persian calendar (`icu_calendar`), not our own
//! arithmetic. Numbers in `fa` text use Persian digits (U+06F0..U+06F9, the script
//! [`crate::sms::phone::ascii_digit`] reads back).

use icu_calendar::Date as IcuDate;
use icu_calendar::cal::Persian;
use serde_json::Value;
use time::{Date, Time};

use crate::email::Language;

/// Earliest Gregorian year accepted in a `date` field.
pub const MIN_YEAR: i32 = 1900;
/// Latest Gregorian year accepted in a `date` field.
pub const MAX_YEAR: i32 = 2199;

/// A `date` field: a Gregorian `YYYY-MM-DD` between [`MIN_YEAR`] and [`MAX_YEAR`]. The range
/// catches a Solar Hijri date sent in the ISO shape (`1403-11-01`), which would otherwise be
/// read as a Gregorian date six centuries ago.
pub fn parse_date(s: &str) -> Result<Date, String> {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    let date = Date::parse(s.trim(), &format)
        .map_err(|_| "must be a Gregorian date as YYYY-MM-DD, e.g. 2025-01-20".to_string())?;
    if !(MIN_YEAR..=MAX_YEAR).contains(&date.year()) {
        return Err(format!(
            "must be a Gregorian date as YYYY-MM-DD between {MIN_YEAR} and {MAX_YEAR} (send the Gregorian date; the hub writes it in the reader's calendar)"
        ));
    }
    Ok(date)
}

/// A `time` field: 24-hour `HH:MM`.
pub fn parse_time(s: &str) -> Result<Time, String> {
    let format = time::macros::format_description!("[hour]:[minute]");
    Time::parse(s.trim(), &format).map_err(|_| "must be a 24-hour time as HH:MM, e.g. 14:00".into())
}

/// The Solar Hijri (Persian) date of a Gregorian date: `(year, month, day)`.
pub fn solar_hijri(date: Date) -> (i32, u8, u8) {
    let iso = IcuDate::try_new_iso(date.year(), u8::from(date.month()), date.day())
        .expect("a valid time::Date is a valid ISO date");
    let persian = iso.to_calendar(Persian);
    (
        persian.year().extended_year(),
        persian.month().ordinal,
        persian.day_of_month().0,
    )
}

/// ASCII digits as Persian digits (۰-۹); everything else unchanged.
pub fn persian_digits(s: &str) -> String {
    s.chars()
        .map(|c| match c.to_digit(10) {
            Some(d) if c.is_ascii_digit() => char::from_u32(0x06F0 + d).unwrap_or(c),
            _ => c,
        })
        .collect()
}

/// A date as `language` reads it.
pub fn format_date(language: Language, date: Date) -> String {
    match language {
        Language::Fa => {
            let (y, m, d) = solar_hijri(date);
            persian_digits(&format!("{y:04}/{m:02}/{d:02}"))
        }
        Language::PtBr => format!(
            "{:02}/{:02}/{:04}",
            date.day(),
            u8::from(date.month()),
            date.year()
        ),
        Language::En => format!("{} {} {}", date.day(), date.month(), date.year()),
    }
}

/// A time of day as `language` reads it (24-hour).
pub fn format_time(language: Language, time: Time) -> String {
    let hh_mm = format!("{:02}:{:02}", time.hour(), time.minute());
    match language {
        Language::Fa => persian_digits(&hh_mm),
        Language::PtBr | Language::En => hh_mm,
    }
}

/// Date and time together, as the templates write them.
pub fn format_date_time(language: Language, date: Date, time: Time) -> String {
    let (d, t) = (format_date(language, date), format_time(language, time));
    match language {
        Language::Fa => format!("{d} ساعت {t}"),
        Language::PtBr => format!("{d} às {t}"),
        Language::En => format!("{d} at {t}"),
    }
}

/// Checks a template field that has a localized form: `date` and `time`. Other fields pass.
pub fn check_field(field: &str, value: &Value) -> Result<(), String> {
    match (field, value) {
        ("date", Value::String(s)) => parse_date(s).map(|_| ()),
        ("time", Value::String(s)) => parse_time(s).map(|_| ()),
        ("date", _) => Err("must be a Gregorian date as YYYY-MM-DD, e.g. 2025-01-20".into()),
        ("time", _) => Err("must be a 24-hour time as HH:MM, e.g. 14:00".into()),
        _ => Ok(()),
    }
}

/// A template field's value as `language` reads it: `date` and `time` formatted (see the
/// module docs), numbers in Persian digits for `fa`; anything else as given.
pub fn localize_field(field: &str, value: &Value, language: Language) -> Result<Value, String> {
    Ok(match (field, value) {
        ("date", Value::String(s)) => Value::String(format_date(language, parse_date(s)?)),
        ("time", Value::String(s)) => Value::String(format_time(language, parse_time(s)?)),
        ("date" | "time", _) => {
            check_field(field, value)?;
            value.clone()
        }
        (_, Value::Number(n)) if language == Language::Fa => {
            Value::String(persian_digits(&n.to_string()))
        }
        _ => value.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn d(s: &str) -> Date {
        parse_date(s).unwrap()
    }

    #[test]
    fn the_seed_appointment_reads_right_in_every_language() {
        let (date, time) = (d("2025-01-20"), parse_time("14:00").unwrap());
        assert_eq!(
            format_date_time(Language::Fa, date, time),
            "۱۴۰۳/۱۱/۰۱ ساعت ۱۴:۰۰"
        );
        assert_eq!(
            format_date_time(Language::PtBr, date, time),
            "20/01/2025 às 14:00"
        );
        assert_eq!(
            format_date_time(Language::En, date, time),
            "20 January 2025 at 14:00"
        );
    }

    #[test]
    fn solar_hijri_years_turn_at_nowruz_and_keep_leap_days() {
        // Nowruz 1403 fell on 20 March 2024, Nowruz 1404 on 21 March 2025: 1403 is a leap
        // year, so its last month (Esfand) has 30 days.
        assert_eq!(solar_hijri(d("2024-03-19")), (1402, 12, 29));
        assert_eq!(solar_hijri(d("2024-03-20")), (1403, 1, 1));
        assert_eq!(solar_hijri(d("2025-03-20")), (1403, 12, 30));
        assert_eq!(solar_hijri(d("2025-03-21")), (1404, 1, 1));
        assert_eq!(solar_hijri(d("2025-01-19")), (1403, 10, 30));
        assert_eq!(format_date(Language::Fa, d("2025-03-21")), "۱۴۰۴/۰۱/۰۱");
    }

    #[test]
    fn persian_digits_round_trip_with_the_phone_reader() {
        let fa = persian_digits("09:30 on 2025");
        assert_eq!(fa, "۰۹:۳۰ on ۲۰۲۵");
        let back: String = fa
            .chars()
            .map(|c| crate::sms::phone::ascii_digit(c).unwrap_or(c))
            .collect();
        assert_eq!(back, "09:30 on 2025");
    }

    #[test]
    fn bad_dates_and_times_say_what_is_expected() {
        assert!(parse_date("20/01/2025").unwrap_err().contains("YYYY-MM-DD"));
        assert!(parse_date("2025-02-30").is_err());
        assert!(
            parse_date("1403-11-01").unwrap_err().contains("Gregorian"),
            "a Solar Hijri date in ISO shape is refused"
        );
        assert!(parse_time("2pm").unwrap_err().contains("HH:MM"));
        assert!(parse_time("24:00").is_err());
    }

    #[test]
    fn fields_are_localized_by_name_and_numbers_only_for_fa() {
        let fa = |f: &str, v: Value| localize_field(f, &v, Language::Fa).unwrap();
        assert_eq!(fa("date", json!("2025-01-20")), json!("۱۴۰۳/۱۱/۰۱"));
        assert_eq!(fa("time", json!("09:05")), json!("۰۹:۰۵"));
        assert_eq!(fa("expires_in_minutes", json!(30)), json!("۳۰"));
        assert_eq!(fa("patient_name", json!("Ali 2")), json!("Ali 2"));
        assert_eq!(
            localize_field("expires_in_minutes", &json!(30), Language::PtBr).unwrap(),
            json!(30)
        );
        assert!(localize_field("date", &json!(20250120), Language::En).is_err());
    }
}
