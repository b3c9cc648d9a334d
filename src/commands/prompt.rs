//! Asking the user for a value on the terminal: secrets are typed without echo (raw mode) and
//! never pass through process arguments. Without a terminal, one line per value is read from
//! stdin, bounded, so scripts can pipe them in (`printf '%s\n' "$CODE" | creditops auth`).

use std::io::{BufRead, IsTerminal, Read, Write};

use creditops_core::secret::Secret;

/// Longest line read for one value (a grant code or a secret is under 200 bytes).
const MAX_LINE: usize = 4096;

/// Reads one value. `prompt` goes to stderr when stdin is a terminal; `hidden` types it without
/// echo. An empty answer is an error naming `what`.
pub fn ask(prompt: &str, what: &str, hidden: bool) -> anyhow::Result<Secret> {
    let stdin = std::io::stdin();
    let value = if stdin.is_terminal() {
        eprint!("{prompt}");
        std::io::stderr().flush()?;
        if hidden {
            read_hidden()?
        } else {
            read_line(&mut stdin.lock(), what)?
        }
    } else {
        read_line(&mut stdin.lock(), what)?
    };
    let value = value.trim().to_string();
    if value.is_empty() {
        return Err(super::input_error(format!("no {what} was given")));
    }
    Ok(Secret::new(value))
}

/// One line, at most [`MAX_LINE`] bytes.
fn read_line(input: &mut impl BufRead, what: &str) -> anyhow::Result<String> {
    let mut buf = Vec::new();
    let n = input
        .by_ref()
        .take(MAX_LINE as u64 + 1)
        .read_until(b'\n', &mut buf)?;
    if n == 0 {
        return Err(super::input_error(format!(
            "stdin ended before the {what} was given"
        )));
    }
    if buf.len() > MAX_LINE {
        return Err(super::input_error(format!(
            "the {what} is longer than {MAX_LINE} bytes"
        )));
    }
    String::from_utf8(buf).map_err(|_| super::input_error(format!("the {what} is not UTF-8 text")))
}

/// Reads keys in raw mode until Enter, echoing nothing; Ctrl-C or Esc gives up.
fn read_hidden() -> anyhow::Result<String> {
    use crossterm::event::{read, Event, KeyCode, KeyEventKind, KeyModifiers};
    struct Raw;
    impl Drop for Raw {
        fn drop(&mut self) {
            let _ = crossterm::terminal::disable_raw_mode();
            eprintln!();
        }
    }
    crossterm::terminal::enable_raw_mode()?;
    let _raw = Raw;
    let mut typed = String::new();
    loop {
        if let Event::Key(k) = read()? {
            if k.kind == KeyEventKind::Release {
                continue;
            }
            match k.code {
                KeyCode::Enter => return Ok(typed),
                KeyCode::Esc => return Err(super::input_error("cancelled")),
                KeyCode::Char('c') if k.modifiers.contains(KeyModifiers::CONTROL) => {
                    return Err(super::input_error("cancelled"))
                }
                KeyCode::Backspace => {
                    typed.pop();
                }
                KeyCode::Char(c) if typed.len() < MAX_LINE => typed.push(c),
                _ => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_is_bounded_and_must_be_there() {
        let mut ok = std::io::Cursor::new(b"1000.abc\nnext\n".to_vec());
        assert_eq!(read_line(&mut ok, "code").unwrap(), "1000.abc\n");
        assert_eq!(read_line(&mut ok, "code").unwrap(), "next\n");
        assert!(read_line(&mut ok, "code")
            .unwrap_err()
            .to_string()
            .contains("stdin ended before the code"));
        let mut long = std::io::Cursor::new(vec![b'a'; MAX_LINE + 10]);
        assert!(read_line(&mut long, "code")
            .unwrap_err()
            .to_string()
            .contains("longer than"));
    }
}
