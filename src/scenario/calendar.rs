//! Calendar arithmetic for scenarios: the start date, weekdays, and times
//! written as "day 3 19:00". Simulated time zero is midnight of the start
//! date in the scenario's time zone, so daily profiles and bursts are local
//! times and the zone only labels the output.

use std::fmt;

use schemars::json_schema;
use serde::de::{self, Deserializer};
use serde::{Deserialize, Serialize, Serializer};

use super::units::{Duration, named_schema};
use crate::sim::NANOS_PER_SEC;

/// A calendar date (proleptic Gregorian).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Date {
    /// Year.
    pub year: i32,
    /// Month, 1-12.
    pub month: u32,
    /// Day of the month, 1-31.
    pub day: u32,
}

impl Date {
    /// Days since 1970-01-01 (Howard Hinnant's `days_from_civil`).
    pub fn days_since_epoch(self) -> i64 {
        let year = i64::from(self.year) - i64::from(self.month <= 2);
        let era = year.div_euclid(400);
        let year_of_era = year - era * 400;
        let month = i64::from(self.month);
        let day_of_year =
            (153 * (month + if month > 2 { -3 } else { 9 }) + 2) / 5 + i64::from(self.day) - 1;
        let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
        era * 146_097 + day_of_era - 719_468
    }

    /// Day of the week, 0 = Monday .. 6 = Sunday.
    pub fn weekday(self) -> usize {
        // 1970-01-01 was a Thursday (index 3).
        (self.days_since_epoch() + 3).rem_euclid(7) as usize
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

/// Simulated times (nanoseconds from time zero, midnight of `start` in
/// `zone`) at which a calendar month begins in UTC, up to `horizon`.
pub fn utc_month_starts(start: Date, zone: Timezone, horizon: u64) -> Vec<u64> {
    // Time zero is UTC midnight of `start` less the zone's offset.
    let zero = start.days_since_epoch() * 86_400 - i64::from(zone.offset_minutes) * 60;
    let (mut year, mut month) = (start.year, start.month);
    let mut starts = Vec::new();
    loop {
        (year, month) = if month == 12 {
            (year + 1, 1)
        } else {
            (year, month + 1)
        };
        let first = Date {
            year,
            month,
            day: 1,
        };
        let at = first.days_since_epoch() * 86_400 - zero;
        let Ok(at) = u64::try_from(at) else { continue };
        match at.checked_mul(NANOS_PER_SEC) {
            Some(at) if at <= horizon => starts.push(at),
            _ => return starts,
        }
    }
}

/// The UTC day of the month at simulated time `at` (nanoseconds), with
/// the time of day as a fraction: 23.5 is noon on the 23rd.
pub fn utc_day_of_month(start: Date, zone: Timezone, at: u64) -> f64 {
    let seconds = start.days_since_epoch() as f64 * 86_400.0
        - f64::from(zone.offset_minutes) * 60.0
        + at as f64 / NANOS_PER_SEC as f64;
    let days = (seconds / 86_400.0).floor();
    let (_, _, day) = civil_from_days(days as i64);
    f64::from(day) + (seconds / 86_400.0 - days)
}

/// (year, month, day) of a count of days since 1970-01-01 (Howard
/// Hinnant's `civil_from_days`).
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (year_of_era + era * 400 + i64::from(month <= 2), month, day)
}

fn days_in_month(year: i32, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        _ => 28,
    }
}

/// Parses "2025-01-06".
pub fn parse_date(text: &str) -> Result<Date, String> {
    let invalid = || format!("`{text}` is not a date: write YYYY-MM-DD, e.g. 2025-01-06");
    let mut parts = text.trim().splitn(3, '-');
    let year: i32 = parts
        .next()
        .and_then(|p| p.parse().ok())
        .ok_or_else(invalid)?;
    let month: u32 = parts
        .next()
        .and_then(|p| p.parse().ok())
        .ok_or_else(invalid)?;
    let day: u32 = parts
        .next()
        .and_then(|p| p.parse().ok())
        .ok_or_else(invalid)?;
    if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
        return Err(invalid());
    }
    Ok(Date { year, month, day })
}

impl<'de> Deserialize<'de> for Date {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        parse_date(&text).map_err(de::Error::custom)
    }
}

/// The zone the scenario's clock times are in: UTC or a fixed offset.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Timezone {
    /// Offset from UTC in minutes.
    pub offset_minutes: i32,
}

/// Parses "UTC", "Z", "+02:00" or "-05:00".
pub fn parse_timezone(text: &str) -> Result<Timezone, String> {
    let text = text.trim();
    if text.eq_ignore_ascii_case("utc") || text == "Z" {
        return Ok(Timezone::default());
    }
    let invalid = || {
        format!(
            "`{text}` is not a supported time zone: write UTC or a fixed offset such as +01:00 \
             (zones with daylight saving are not modelled; use the offset in force)"
        )
    };
    let (sign, rest) = match text.as_bytes().first() {
        Some(b'+') => (1, &text[1..]),
        Some(b'-') => (-1, &text[1..]),
        _ => return Err(invalid()),
    };
    let (hours, minutes) = rest.split_once(':').ok_or_else(invalid)?;
    let hours: i32 = hours.parse().map_err(|_| invalid())?;
    let minutes: i32 = minutes.parse().map_err(|_| invalid())?;
    if hours > 14 || minutes >= 60 {
        return Err(invalid());
    }
    Ok(Timezone {
        offset_minutes: sign * (hours * 60 + minutes),
    })
}

impl<'de> Deserialize<'de> for Timezone {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        parse_timezone(&text).map_err(de::Error::custom)
    }
}

/// A moment written as "day N HH:MM", days counted from 1; held as the
/// offset from simulated time zero.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DayTime(pub Duration);

/// Parses "day 3 19:00".
pub fn parse_day_time(text: &str) -> Result<DayTime, String> {
    let invalid = || {
        format!(
            "`{text}` is not a moment: write \"day N HH:MM\" with days counted from 1, e.g. \"day 3 19:00\""
        )
    };
    let mut words = text.split_whitespace();
    if words.next() != Some("day") {
        return Err(invalid());
    }
    let day: u64 = words
        .next()
        .and_then(|d| d.parse().ok())
        .ok_or_else(invalid)?;
    let (hours, minutes) = words
        .next()
        .and_then(|t| t.split_once(':'))
        .ok_or_else(invalid)?;
    let hours: u64 = hours.parse().map_err(|_| invalid())?;
    let minutes: u64 = minutes.parse().map_err(|_| invalid())?;
    if day == 0 || hours > 23 || minutes > 59 || words.next().is_some() {
        return Err(invalid());
    }
    let secs = (day - 1) * 86_400 + hours * 3_600 + minutes * 60;
    Ok(DayTime(Duration(secs * NANOS_PER_SEC)))
}

impl fmt::Display for DayTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let minutes = self.0.nanos() / (60 * NANOS_PER_SEC);
        let (day, minute_of_day) = (minutes / 1_440, minutes % 1_440);
        write!(
            f,
            "day {} {:02}:{:02}",
            day + 1,
            minute_of_day / 60,
            minute_of_day % 60
        )
    }
}

impl<'de> Deserialize<'de> for DayTime {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        parse_day_time(&text).map_err(de::Error::custom)
    }
}

named_schema!(
    Date,
    json_schema!({
        "type": "string",
        "description": "a date, YYYY-MM-DD",
        "pattern": r"^\s*[0-9]+-[0-9]+-[0-9]+\s*$",
        "examples": ["2025-01-06"],
    })
);

named_schema!(
    Timezone,
    json_schema!({
        "type": "string",
        "description": "UTC or a fixed offset from it (zones with daylight saving are not modelled; use the offset in force)",
        "pattern": r"^\s*([Uu][Tt][Cc]|Z|[+-][0-9]+:[0-9]+)\s*$",
        "examples": ["UTC", "+01:00", "-05:00"],
    })
);

named_schema!(
    DayTime,
    json_schema!({
        "type": "string",
        "description": "a moment, \"day N HH:MM\", days counted from 1",
        "pattern": r"^\s*day\s+[0-9]+\s+[0-9]+:[0-9]+\s*$",
        "examples": ["day 3 19:00"],
    })
);

/// The default zone is written into the schema as a scenario would write it.
impl Serialize for Timezone {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let minutes = self.offset_minutes;
        if minutes == 0 {
            return serializer.serialize_str("UTC");
        }
        let sign = if minutes < 0 { '-' } else { '+' };
        let minutes = minutes.abs();
        serializer.collect_str(&format_args!(
            "{sign}{:02}:{:02}",
            minutes / 60,
            minutes % 60
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_moment_prints_as_written() {
        for text in ["day 1 03:00", "day 12 14:05", "day 30 23:59"] {
            assert_eq!(parse_day_time(text).expect("valid").to_string(), text);
        }
    }

    #[test]
    fn utc_months_begin_where_the_zone_puts_them() {
        let start = parse_date("2025-01-06").expect("a date");
        let day = 86_400 * NANOS_PER_SEC;
        // 26 days to 1 February, then 28 to 1 March.
        assert_eq!(
            utc_month_starts(start, Timezone::default(), 60 * day),
            vec![26 * day, 54 * day]
        );
        // At +02:00 time zero is 22:00 UTC the day before: two hours later.
        let east = parse_timezone("+02:00").expect("a zone");
        assert_eq!(
            utc_month_starts(start, east, 30 * day),
            vec![26 * day + 7_200 * NANOS_PER_SEC]
        );
        assert_eq!(utc_day_of_month(start, Timezone::default(), day / 2), 6.5);
        assert_eq!(utc_day_of_month(start, Timezone::default(), 26 * day), 1.0);
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(start.days_since_epoch()), (2025, 1, 6));
    }

    #[test]
    fn dates_and_weekdays() {
        let monday = parse_date("2025-01-06").unwrap();
        assert_eq!(monday.weekday(), 0);
        assert_eq!(parse_date("2024-02-29").unwrap().weekday(), 3);
        assert!(parse_date("2025-02-29").is_err());
        assert!(parse_date("06/01/2025").is_err());
    }

    #[test]
    fn zones_and_moments() {
        assert_eq!(parse_timezone("UTC").unwrap().offset_minutes, 0);
        assert_eq!(parse_timezone("-05:30").unwrap().offset_minutes, -330);
        assert!(parse_timezone("Europe/Paris").is_err());
        assert_eq!(
            parse_day_time("day 3 19:00").unwrap().0,
            Duration::from_secs(2 * 86_400 + 19 * 3_600)
        );
        assert!(parse_day_time("day 0 10:00").is_err());
    }
}
