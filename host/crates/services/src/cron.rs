//! A 5-field cron expression (`minute hour day-of-month month day-of-week`) and the next time it matches: in UTC
//! with Coral's own civil-date arithmetic, or in a time zone ([`Zoned`]: `CRON_TZ=Asia/Shanghai 0 8 * * *`, the
//! zone from the bundled tz database of the `jiff` crate).
//!
//! Fields take `*`, numbers, ranges `a-b`, steps `*/n`, `a-b/n` and `a/n` (from `a` to the field's end), and
//! comma lists; months and weekdays also take English three-letter names (`jan`, `mon-fri`); weekday 7 is Sunday
//! like 0. Macros: `@yearly`/`@annually`, `@monthly`, `@weekly`, `@daily`/`@midnight`, `@hourly`. As in Vixie
//! cron, when both day-of-month and day-of-week are restricted (neither starts with `*`), a day matches if
//! either does.

/// Why an expression was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid cron expression {expr:?}: {reason}")]
pub struct CronError {
    /// The expression.
    pub expr: String,
    /// What is wrong.
    pub reason: String,
}

/// A parsed expression: the allowed values of each field as bit sets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cron {
    minutes: u64,
    hours: u32,
    days: u32,
    months: u16,
    weekdays: u8,
    /// Both day fields restricted (neither starts with `*`): a day matches if either matches; otherwise both
    /// must (an unrestricted field matches every day).
    either_day: bool,
}

const MONTHS: [&str; 12] = [
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];
const WEEKDAYS: [&str; 7] = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];

fn value(text: &str, names: &[&str], offset: u32) -> Result<u32, String> {
    if let Some(i) = names.iter().position(|n| n.eq_ignore_ascii_case(text)) {
        return Ok(i as u32 + offset);
    }
    text.parse::<u32>().map_err(|_| format!("{text:?} is not a number"))
}

/// Parse one field into a bit set over `lo..=hi`.
fn field(text: &str, lo: u32, hi: u32, names: &[&str], offset: u32, what: &str) -> Result<u64, String> {
    let mut bits = 0u64;
    for part in text.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((range, step)) => {
                let step: u32 = step
                    .parse()
                    .map_err(|_| format!("{what}: step {step:?} is not a number"))?;
                if step == 0 {
                    return Err(format!("{what}: a step of 0"));
                }
                (range, step)
            }
            None => (part, 1),
        };
        let (start, end) = if range == "*" {
            (lo, hi)
        } else if let Some((a, b)) = range.split_once('-') {
            (
                value(a, names, offset).map_err(|e| format!("{what}: {e}"))?,
                value(b, names, offset).map_err(|e| format!("{what}: {e}"))?,
            )
        } else {
            let a = value(range, names, offset).map_err(|e| format!("{what}: {e}"))?;
            // `a/n` runs from a to the end of the field.
            (a, if part.contains('/') { hi } else { a })
        };
        if start < lo || end > hi {
            return Err(format!("{what}: {part:?} is outside {lo}-{hi}"));
        }
        if start > end {
            return Err(format!("{what}: range {part:?} runs backwards"));
        }
        let mut v = start;
        while v <= end {
            bits |= 1 << v;
            v += step;
        }
    }
    Ok(bits)
}

impl Cron {
    /// Parse an expression or macro.
    pub fn parse(expr: &str) -> Result<Cron, CronError> {
        let err = |reason: String| CronError {
            expr: expr.to_string(),
            reason,
        };
        let text = match expr.trim() {
            "@yearly" | "@annually" => "0 0 1 1 *",
            "@monthly" => "0 0 1 * *",
            "@weekly" => "0 0 * * 0",
            "@daily" | "@midnight" => "0 0 * * *",
            "@hourly" => "0 * * * *",
            other if other.starts_with('@') => return Err(err(format!("unknown macro {other}"))),
            other => other,
        };
        let fields: Vec<&str> = text.split_whitespace().collect();
        if fields.len() != 5 {
            return Err(err(format!(
                "{} fields; expected 5 (minute hour day-of-month month day-of-week)",
                fields.len()
            )));
        }
        let minutes = field(fields[0], 0, 59, &[], 0, "minute").map_err(err)?;
        let hours = field(fields[1], 0, 23, &[], 0, "hour").map_err(err)? as u32;
        let days = field(fields[2], 1, 31, &[], 0, "day of month").map_err(err)? as u32;
        let months = field(fields[3], 1, 12, &MONTHS, 1, "month").map_err(err)? as u16;
        let mut weekdays = field(fields[4], 0, 7, &WEEKDAYS, 0, "day of week").map_err(err)?;
        if weekdays & (1 << 7) != 0 {
            weekdays = (weekdays | 1) & 0x7f;
        }
        Ok(Cron {
            minutes,
            hours,
            days,
            months,
            weekdays: weekdays as u8,
            either_day: !fields[2].starts_with('*') && !fields[4].starts_with('*'),
        })
    }

    fn day_matches(&self, day: u32, weekday: u32) -> bool {
        let dom = self.days & (1 << day) != 0;
        let dow = self.weekdays & (1 << weekday) != 0;
        if self.either_day { dom || dow } else { dom && dow }
    }

    /// The first matching minute strictly after `after_ms` (Unix milliseconds), within about 8 years; none if the
    /// expression never matches (e.g. `0 0 30 2 *`).
    pub fn next_after(&self, after_ms: u64) -> Option<u64> {
        let mut minute = after_ms / 60_000 + 1;
        let limit = minute + 8 * 366 * 24 * 60;
        while minute < limit {
            let days = (minute / 1440) as i64;
            let (_, month, day) = civil_from_days(days);
            if self.months & (1 << month) == 0 {
                // Jump to the first day of the next month.
                let (y, m, _) = civil_from_days(days);
                let (ny, nm) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
                minute = days_from_civil(ny, nm, 1) as u64 * 1440;
                continue;
            }
            if !self.day_matches(day, weekday(days)) {
                minute = (days as u64 + 1) * 1440;
                continue;
            }
            let hour = (minute % 1440 / 60) as u32;
            if self.hours & (1 << hour) == 0 {
                minute = (minute / 60 + 1) * 60;
                continue;
            }
            if self.minutes & (1 << (minute % 60)) == 0 {
                minute += 1;
                continue;
            }
            return Some(minute * 60_000);
        }
        None
    }
}

/// Days since 1970-01-01 of a civil date (proleptic Gregorian; Howard Hinnant's algorithm).
pub fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The civil date (year, month 1-12, day 1-31) of a day number since 1970-01-01.
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(month <= 2), month, day)
}

/// Day of the week (0 = Sunday) of a day number since 1970-01-01 (a Thursday).
pub fn weekday(days: i64) -> u32 {
    (days + 4).rem_euclid(7) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Unix ms of a UTC date and time.
    fn at(y: i64, mo: u32, d: u32, h: u64, mi: u64) -> u64 {
        (days_from_civil(y, mo, d) as u64 * 1440 + h * 60 + mi) * 60_000
    }

    fn next(expr: &str, from: u64) -> u64 {
        Cron::parse(expr).unwrap().next_after(from).unwrap()
    }

    #[test]
    fn civil_dates_round_trip() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        assert_eq!(weekday(0), 4, "1970-01-01 was a Thursday");
        assert_eq!(weekday(days_from_civil(2024, 6, 10)), 1, "2024-06-10 was a Monday");
        for d in -800_000..800_000i64 {
            if d % 997 == 0 {
                let (y, m, dd) = civil_from_days(d);
                assert_eq!(days_from_civil(y, m, dd), d);
            }
        }
    }

    #[test]
    fn simple_fields_steps_ranges_and_lists() {
        let t = at(2024, 6, 10, 8, 29);
        assert_eq!(next("30 8 * * *", t), at(2024, 6, 10, 8, 30));
        assert_eq!(
            next("30 8 * * *", at(2024, 6, 10, 8, 30)),
            at(2024, 6, 11, 8, 30),
            "strictly after"
        );
        assert_eq!(next("*/15 * * * *", at(2024, 6, 10, 8, 31)), at(2024, 6, 10, 8, 45));
        assert_eq!(next("5-10/5 * * * *", at(2024, 6, 10, 8, 6)), at(2024, 6, 10, 8, 10));
        assert_eq!(next("50/5 * * * *", at(2024, 6, 10, 8, 56)), at(2024, 6, 10, 9, 50));
        assert_eq!(next("0 9,17 * * *", at(2024, 6, 10, 10, 0)), at(2024, 6, 10, 17, 0));
        assert_eq!(next("* * * * *", at(2024, 12, 31, 23, 59)), at(2025, 1, 1, 0, 0));
    }

    #[test]
    fn names_and_sunday_as_seven() {
        // 2024-06-10 is a Monday.
        let mon = at(2024, 6, 10, 12, 0);
        assert_eq!(next("0 9 * * mon-fri", mon), at(2024, 6, 11, 9, 0));
        assert_eq!(next("0 9 * * sat,sun", mon), at(2024, 6, 15, 9, 0));
        assert_eq!(next("0 9 * * 7", mon), at(2024, 6, 16, 9, 0));
        assert_eq!(next("0 9 * * 0", mon), at(2024, 6, 16, 9, 0));
        assert_eq!(next("0 0 1 jan *", mon), at(2025, 1, 1, 0, 0));
        assert_eq!(next("0 0 * FEB *", mon), at(2025, 2, 1, 0, 0));
    }

    #[test]
    fn vixie_day_rule() {
        // Both restricted: the 13th OR any Friday. From Monday 2024-06-10: Thursday 13th comes first.
        assert_eq!(next("0 0 13 * fri", at(2024, 6, 10, 0, 0)), at(2024, 6, 13, 0, 0));
        assert_eq!(next("0 0 13 * fri", at(2024, 6, 13, 0, 0)), at(2024, 6, 14, 0, 0));
        // Only the weekday restricted.
        assert_eq!(next("0 0 * * fri", at(2024, 6, 10, 0, 0)), at(2024, 6, 14, 0, 0));
        // `*/2` (odd days) starts with `*`: then both must match (AND): Monday the 17th, not Monday the 10th.
        assert_eq!(next("0 0 */2 * mon", at(2024, 6, 9, 0, 0)), at(2024, 6, 17, 0, 0));
    }

    #[test]
    fn leap_days_macros_and_impossible_dates() {
        assert_eq!(next("0 0 29 2 *", at(2024, 3, 1, 0, 0)), at(2028, 2, 29, 0, 0));
        assert_eq!(next("@daily", at(2024, 6, 10, 8, 0)), at(2024, 6, 11, 0, 0));
        assert_eq!(next("@hourly", at(2024, 6, 10, 8, 0)), at(2024, 6, 10, 9, 0));
        assert_eq!(next("@weekly", at(2024, 6, 10, 8, 0)), at(2024, 6, 16, 0, 0));
        assert_eq!(next("@monthly", at(2024, 6, 10, 8, 0)), at(2024, 7, 1, 0, 0));
        assert_eq!(next("@yearly", at(2024, 6, 10, 8, 0)), at(2025, 1, 1, 0, 0));
        assert_eq!(Cron::parse("0 0 30 2 *").unwrap().next_after(0), None);
        assert_eq!(next("0 0 31 * *", at(2024, 4, 1, 0, 0)), at(2024, 5, 31, 0, 0));
    }

    #[test]
    fn bad_expressions_say_why() {
        for (expr, why) in [
            ("* * * *", "4 fields"),
            ("60 * * * *", "outside 0-59"),
            ("* 24 * * *", "outside 0-23"),
            ("* * 0 * *", "outside 1-31"),
            ("* * * 13 *", "outside 1-12"),
            ("* * * * 8", "outside 0-7"),
            ("*/0 * * * *", "step of 0"),
            ("5-1 * * * *", "backwards"),
            ("x * * * *", "not a number"),
            ("@reboot", "unknown macro"),
            ("* * * foo *", "not a number"),
        ] {
            let err = Cron::parse(expr).unwrap_err().to_string();
            assert!(err.contains(why), "{expr}: {err}");
        }
    }
}

/// The prefix that puts a cron line in a time zone: `CRON_TZ=Europe/Berlin 30 8 * * mon-fri` (as cronie and
/// Kubernetes write it).
pub const TZ_PREFIX: &str = "CRON_TZ=";

/// Check a time-zone name (`Asia/Shanghai`, `UTC`) against the bundled tz database.
pub fn check_zone(name: &str) -> Result<(), String> {
    jiff::tz::TimeZone::get(name)
        .map(drop)
        .map_err(|_| format!("unknown time zone {name:?} (use a tz database name like \"Asia/Shanghai\")"))
}

/// A cron line, in UTC or in a time zone.
#[derive(Debug, Clone)]
pub struct Zoned {
    cron: Cron,
    zone: Option<jiff::tz::TimeZone>,
}

impl Zoned {
    /// Parse `[CRON_TZ=<zone> ]<expression>`.
    pub fn parse(line: &str) -> Result<Zoned, CronError> {
        let line = line.trim();
        let Some(rest) = line.strip_prefix(TZ_PREFIX) else {
            return Ok(Zoned {
                cron: Cron::parse(line)?,
                zone: None,
            });
        };
        let (name, expr) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
        let zone = jiff::tz::TimeZone::get(name).map_err(|_| CronError {
            expr: line.to_string(),
            reason: format!("unknown time zone {name:?}"),
        })?;
        Ok(Zoned {
            cron: Cron::parse(expr.trim())?,
            zone: Some(zone),
        })
    }

    /// The first matching minute of the zone's wall clock strictly after `after_ms` (Unix milliseconds). A time
    /// the clock skips (a DST gap) runs at the same distance after the jump; a time it passes twice runs once, at
    /// the first.
    pub fn next_after(&self, after_ms: u64) -> Option<u64> {
        use jiff::Timestamp;
        use jiff::tz::TimeZone;
        let Some(zone) = &self.zone else {
            return self.cron.next_after(after_ms);
        };
        let wall = |ms: u64| -> Option<u64> {
            let local = Timestamp::from_millisecond(ms as i64)
                .ok()?
                .to_zoned(zone.clone())
                .datetime();
            let as_utc = local.to_zoned(TimeZone::UTC).ok()?.timestamp().as_millisecond();
            u64::try_from(as_utc).ok()
        };
        let mut local = wall(after_ms)?;
        // A few rounds at most: only a clock turned back can map a later wall time to an earlier instant.
        for _ in 0..4 {
            let next_local = self.cron.next_after(local)?;
            let civil = Timestamp::from_millisecond(next_local as i64)
                .ok()?
                .to_zoned(TimeZone::UTC)
                .datetime();
            let instant = civil.to_zoned(zone.clone()).ok()?.timestamp().as_millisecond();
            let instant = u64::try_from(instant).ok()?;
            if instant > after_ms {
                return Some(instant);
            }
            local = next_local;
        }
        None
    }
}

#[cfg(test)]
mod zone_tests {
    use super::*;

    fn ms(iso: &str) -> u64 {
        iso.parse::<jiff::Timestamp>().unwrap().as_millisecond() as u64
    }

    #[test]
    fn a_zoned_line_runs_on_the_zone_s_wall_clock() {
        let shanghai = Zoned::parse("CRON_TZ=Asia/Shanghai 0 8 * * *").unwrap();
        // 08:00 in Shanghai is 00:00 UTC.
        assert_eq!(
            shanghai.next_after(ms("2026-12-06T23:00:00Z")),
            Some(ms("2026-12-07T00:00:00Z"))
        );
        assert_eq!(
            shanghai.next_after(ms("2026-12-07T00:00:00Z")),
            Some(ms("2026-12-08T00:00:00Z"))
        );
        // Without a zone: UTC, as before.
        let utc = Zoned::parse("0 8 * * *").unwrap();
        assert_eq!(
            utc.next_after(ms("2026-12-07T00:00:00Z")),
            Some(ms("2026-12-07T08:00:00Z"))
        );
    }

    #[test]
    fn daylight_saving_moves_the_utc_time_and_a_skipped_or_doubled_hour_runs_once() {
        let berlin = Zoned::parse("CRON_TZ=Europe/Berlin 30 8 * * *").unwrap();
        // Winter: UTC+1; summer: UTC+2.
        assert_eq!(
            berlin.next_after(ms("2026-01-10T00:00:00Z")),
            Some(ms("2026-01-10T07:30:00Z"))
        );
        assert_eq!(
            berlin.next_after(ms("2026-07-10T00:00:00Z")),
            Some(ms("2026-07-10T06:30:00Z"))
        );
        // 02:30 does not exist on 2026-03-29 in Berlin (02:00 → 03:00): it runs at 03:30 local, 01:30 UTC.
        let gap = Zoned::parse("CRON_TZ=Europe/Berlin 30 2 * * *").unwrap();
        assert_eq!(
            gap.next_after(ms("2026-03-29T00:00:00Z")),
            Some(ms("2026-03-29T01:30:00Z"))
        );
        // 02:30 happens twice on 2026-10-25 (03:00 → 02:00): once, at the first (00:30 UTC), then the next day.
        let first = gap.next_after(ms("2026-10-24T23:00:00Z")).unwrap();
        assert_eq!(first, ms("2026-10-25T00:30:00Z"));
        assert_eq!(gap.next_after(first), Some(ms("2026-10-26T01:30:00Z")));
    }

    #[test]
    fn an_unknown_zone_is_refused_by_name() {
        let err = Zoned::parse("CRON_TZ=Mars/Olympus 0 8 * * *").unwrap_err();
        assert!(err.reason.contains("Mars/Olympus"), "{err}");
        assert!(check_zone("Asia/Shanghai").is_ok() && check_zone("Nowhere/Else").is_err());
    }
}
