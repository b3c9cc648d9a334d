//! Tabs whose feature has not landed: they say which issue brings them, and nothing else.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::Line;
use ratatui::widgets::{Block, Paragraph, Wrap};
use ratatui::Frame;

use crate::tui::app::{App, TABS};

/// (issue, its title, what the tab will show).
fn pending(tab: usize) -> Option<(u32, &'static str, &'static str)> {
    match tab {
        4 => Some((
            8,
            "The planner",
            "a queue of pending calls re-planned into batches, proven on the sandbox",
        )),
        _ => None,
    }
}

pub fn draw(f: &mut Frame, area: Rect, app: &App, tab: usize) {
    let p = app.theme.palette;
    let Some((issue, title, what)) = pending(tab) else {
        return;
    };
    let block = Block::bordered()
        .title(format!(" {} ", TABS[tab]))
        .border_style(Style::default().fg(p.border));
    let inner = block.inner(area);
    f.render_widget(block, area);
    let [_, mid, _] = Layout::vertical([
        Constraint::Fill(1),
        Constraint::Length(4),
        Constraint::Fill(1),
    ])
    .areas(inner);
    let text = vec![
        Line::styled(
            format!("Not here yet: issue #{issue} brings this tab."),
            Style::default().fg(p.header).add_modifier(Modifier::BOLD),
        ),
        Line::styled(format!("#{issue} {title}"), Style::default().fg(p.text)),
        Line::styled(
            format!("It will show {what}."),
            Style::default().fg(p.muted),
        ),
    ];
    f.render_widget(
        Paragraph::new(text).centered().wrap(Wrap { trim: true }),
        mid,
    );
}
