//! The overview's "messages per day" bar chart as a small, self-contained SVG, drawn on the
//! server so the page needs no chart library and works offline.

use std::fmt::Write;

use confab_core::store::DayCount;

const WIDTH: u64 = 560;
const HEIGHT: u64 = 200;
const MARGIN_BOTTOM: u64 = 28;
const MARGIN_TOP: u64 = 20;

/// Bars for each day with its count above and `MM-DD` below.
pub(crate) fn daily_messages_svg(days: &[DayCount]) -> String {
    let max = days.iter().map(|day| day.count).max().unwrap_or(0).max(1);
    let n_days = days.len().max(1) as u64;
    let slot = WIDTH / n_days;
    let bar_width = slot * 3 / 5;
    let plot_height = HEIGHT - MARGIN_BOTTOM - MARGIN_TOP;
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {WIDTH} {HEIGHT}\" \
         width=\"{WIDTH}\" height=\"{HEIGHT}\" role=\"img\" aria-label=\"Messages per day\" \
         font-family=\"system-ui, sans-serif\" font-size=\"12\">"
    );
    let _ = write!(
        svg,
        "<line x1=\"0\" y1=\"{y}\" x2=\"{WIDTH}\" y2=\"{y}\" stroke=\"#8891a4\"/>",
        y = HEIGHT - MARGIN_BOTTOM
    );
    for (index, day) in days.iter().enumerate() {
        let bar_height = day.count * plot_height / max;
        let x = index as u64 * slot + (slot - bar_width) / 2;
        let y = HEIGHT - MARGIN_BOTTOM - bar_height;
        let center = x + bar_width / 2;
        let _ = write!(
            svg,
            "<rect x=\"{x}\" y=\"{y}\" width=\"{bar_width}\" height=\"{bar_height}\" rx=\"3\" fill=\"#0172ad\"/>\
             <text x=\"{center}\" y=\"{label_y}\" text-anchor=\"middle\" fill=\"#5d6b89\">{count}</text>\
             <text x=\"{center}\" y=\"{date_y}\" text-anchor=\"middle\" fill=\"#5d6b89\">{date}</text>",
            label_y = y.saturating_sub(4).max(12),
            count = day.count,
            date_y = HEIGHT - 8,
            date = month_day(day.day_start_ms),
        );
    }
    svg.push_str("</svg>");
    svg
}

/// `MM-DD` of a UTC midnight (civil-from-days, Howard Hinnant's algorithm).
fn month_day(day_start_ms: u64) -> String {
    let days = (day_start_ms / 86_400_000) as i64 + 719_468;
    let era = days.div_euclid(146_097);
    let day_of_era = days - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    format!("{month:02}-{day:02}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_bars() {
        // 2024-02-29 00:00 UTC.
        assert_eq!(month_day(1_709_164_800_000), "02-29");
        assert_eq!(month_day(0), "01-01");
        let svg = daily_messages_svg(&[
            DayCount {
                day_start_ms: 0,
                count: 0,
            },
            DayCount {
                day_start_ms: 86_400_000,
                count: 7,
            },
        ]);
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
        assert!(svg.contains(">7<") && svg.contains("01-02"));
    }
}
