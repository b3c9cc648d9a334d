//! Time charts (credits over the last 24 h, the last hour, events per minute): bars in bins of
//! round sizes (1, 2, 5, 10, 15, 20, 30, 60 or 120 minutes, the smallest that fits the width),
//! the newest bin at the right edge under "now", a time axis with labels, and a scale that
//! starts at a floor, so one credit in a quiet chart is a sliver, not a full-height bar.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph, Sparkline};
use ratatui::Frame;

use super::theme::Palette;
use creditops_core::fmt::thousands;

/// Bin sizes in minutes, smallest first.
const BINS: &[usize] = &[1, 2, 5, 10, 15, 20, 30, 60, 120];

/// The lowest top of a chart's scale: below it, bars are drawn against this.
const SCALE_FLOOR: u64 = 10;

/// The smallest round bin that shows `minutes` in `width` columns.
pub fn bin_for(minutes: usize, width: usize) -> usize {
    BINS.iter()
        .copied()
        .find(|b| minutes.div_ceil(*b) <= width.max(1))
        .unwrap_or(BINS[BINS.len() - 1])
}

/// Sums of `bin` minutes, newest last; a partial oldest bin is left out (each bar is a whole bin).
pub fn bucket(per_minute: &[u64], bin: usize) -> Vec<u64> {
    if bin == 0 {
        return Vec::new();
    }
    let mut out: Vec<u64> = per_minute
        .rchunks(bin)
        .filter(|c| c.len() == bin)
        .map(|c| c.iter().sum())
        .collect();
    out.reverse();
    out
}

/// The top of the scale: the peak rounded up to 1, 2 or 5 × 10ⁿ, at least [`SCALE_FLOOR`].
pub fn scale_top(peak: u64) -> u64 {
    let mut top = SCALE_FLOOR;
    while top < peak {
        top = match top.to_string().as_bytes()[0] {
            b'1' => top * 2,
            b'2' => top / 2 * 5,
            _ => top * 2,
        };
    }
    top
}

/// "1 minute", "15 minutes", "2 hours".
fn bin_label(bin: usize) -> String {
    match bin {
        1 => "minute".into(),
        60 => "hour".into(),
        b if b.is_multiple_of(60) => format!("{} hours", b / 60),
        b => format!("{b} minutes"),
    }
}

/// "-24h", "-30m".
fn ago(minutes: usize) -> String {
    if minutes >= 60 && minutes.is_multiple_of(60) {
        format!("-{}h", minutes / 60)
    } else {
        format!("-{minutes}m")
    }
}

/// A time chart's contents.
pub struct Timeline<'a> {
    /// What is counted ("Credits", "Events").
    pub what: &'a str,
    /// Per minute, oldest first, the newest minute last.
    pub per_minute: &'a [u64],
    /// Added to the title after the peak (" · last hour 246").
    pub extra: String,
    pub color: ratatui::style::Color,
}

/// Draws `t` in `area` (borders included).
pub fn draw(f: &mut Frame, area: Rect, t: &Timeline, p: &Palette) {
    let inner_w = area.width.saturating_sub(2) as usize;
    let bin = bin_for(t.per_minute.len(), inner_w);
    let bars = bucket(t.per_minute, bin);
    let shown = bars.len() * bin;
    let peak = bars.iter().copied().max().unwrap_or(0);
    let span_label = if shown >= 120 && shown.is_multiple_of(60) {
        format!("{} h", shown / 60)
    } else {
        format!("{shown} min")
    };
    let title = format!(
        " {} per {}, last {} · peak {}{} ",
        t.what,
        bin_label(bin),
        span_label,
        thousands(peak),
        t.extra
    );
    let block = Block::bordered()
        .title(title)
        .border_style(Style::default().fg(p.border));
    let inner = block.inner(area);
    f.render_widget(block, area);
    if inner.width == 0 || inner.height == 0 || bars.is_empty() {
        return;
    }
    // The bars end at the right edge: "now" is the last column.
    let width = (bars.len() as u16).min(inner.width);
    let bars = &bars[bars.len() - width as usize..];
    let with_axis = inner.height >= 3;
    let [plot, axis] = if with_axis {
        Layout::vertical([Constraint::Fill(1), Constraint::Length(1)]).areas(inner)
    } else {
        [inner, Rect::default()]
    };
    let plot = Rect {
        x: plot.x + plot.width - width,
        width,
        ..plot
    };
    f.render_widget(
        Sparkline::default()
            .data(bars)
            .max(scale_top(peak))
            .style(Style::default().fg(t.color)),
        plot,
    );
    if with_axis {
        let start = ago(bars.len() * bin);
        let mid = ago(bars.len() * bin / 2);
        let x0 = (inner.width - width) as usize;
        let w = width as usize;
        let mut text = " ".repeat(inner.width as usize);
        let mut put = |at: usize, label: &str| {
            if at + label.len() <= text.len() {
                text.replace_range(at..at + label.len(), label);
            }
        };
        put(x0, &start);
        let mid_at = x0 + w / 2 - mid.len().min(w / 2) / 2;
        if mid_at > x0 + start.len() + 1 && mid_at + mid.len() + 4 < x0 + w {
            put(mid_at, &mid);
        }
        put((x0 + w).saturating_sub(3), "now");
        f.render_widget(
            Paragraph::new(Line::from(Span::styled(text, Style::default().fg(p.muted)))),
            axis,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bins_are_round_and_fit_the_width() {
        assert_eq!(bin_for(1440, 200), 10);
        assert_eq!(bin_for(1440, 76), 20);
        assert_eq!(bin_for(1440, 1440), 1);
        assert_eq!(bin_for(60, 60), 1);
        assert_eq!(bin_for(60, 58), 2);
        assert_eq!(bin_for(60, 28), 5);
        assert_eq!(bin_for(60, 3), 20);
        assert_eq!(bin_for(60, 2), 30);
    }

    #[test]
    fn buckets_keep_the_newest_minute_at_the_right() {
        let data: Vec<u64> = (1..=7).collect();
        assert_eq!(bucket(&data, 2), vec![2 + 3, 4 + 5, 6 + 7]);
        assert_eq!(bucket(&data, 1), data);
        assert_eq!(bucket(&data, 10), Vec::<u64>::new());
    }

    #[test]
    fn one_credit_is_not_a_full_bar() {
        assert_eq!(scale_top(1), 10);
        assert_eq!(scale_top(10), 10);
        assert_eq!(scale_top(11), 20);
        assert_eq!(scale_top(21), 50);
        assert_eq!(scale_top(290), 500);
        assert_eq!(scale_top(1_000), 1_000);
    }
}
