//! `hasip menu check|simulate` as functions of text, so that the command line and the
//! dashboard page give the same answers: the menu crate's loader, tree and simulator.

use std::sync::Arc;
use std::time::{Duration, Instant};

use hasip_menu::simulate::{SimOptions, parse_script, simulate as run};
use hasip_menu::{MenuFile, MenuTree};

fn load(text: &str, name: &str) -> Result<(MenuFile, MenuTree), String> {
    let file = MenuFile::from_yaml(text, Some(name)).map_err(|e| e.to_string())?;
    let tree = MenuTree::from_option(file.menu());
    Ok((file, tree))
}

/// What `hasip menu check` prints for `text` (named `name` in errors and the output).
///
/// # Errors
/// The loader's error: file, line, column and key.
pub fn check(text: &str, name: &str) -> Result<String, String> {
    use std::fmt::Write as _;
    let (menu_file, tree) = load(text, name)?;
    let mut out = format!("{name}: {} is valid\n", menu_file.kind());
    if let MenuFile::Incoming(f) = &menu_file {
        let list = |l: &[hasip_menu::NumberPattern]| {
            l.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        };
        if !f.allowed_numbers.is_empty() {
            let _ = writeln!(out, "allowed_numbers: {}", list(&f.allowed_numbers));
        }
        if !f.blocked_numbers.is_empty() {
            let _ = writeln!(out, "blocked_numbers: {}", list(&f.blocked_numbers));
        }
        let _ = writeln!(out, "answer_after: {}s", f.answer_after.as_secs_f64());
        for (event, id) in &f.webhook_to_call {
            let _ = writeln!(out, "webhook_to_call: {event} -> {id}");
        }
    }
    if menu_file.menu().is_none() {
        out.push_str("(no menu: the standard menu)\n");
    }
    out.push_str(&tree.render());
    Ok(out)
}

/// How a simulated caller behaves (`hasip menu simulate`'s options).
#[derive(Debug, Clone, PartialEq)]
pub struct Caller {
    /// The caller's script: digits, `wait 5s`, … (`--digits`).
    pub digits: String,
    /// Stop waiting this many seconds after the script (`--timeout-after`).
    pub timeout_after: Option<f64>,
    /// Digits cut a prompt short (`--barge-in`).
    pub barge_in: bool,
    /// How long each prompt plays, in seconds (`--prompt-seconds`).
    pub prompt_seconds: f64,
}

/// The transcript of a caller going through the menu of `text`.
///
/// # Errors
/// The loader's error, or a script or option that cannot be used, named as on the command
/// line.
pub fn simulate(text: &str, name: &str, caller: &Caller, now: Instant) -> Result<String, String> {
    let seconds = |what: &str, x: f64| {
        (x.is_finite() && (0.0..=86_400.0).contains(&x))
            .then(|| Duration::from_secs_f64(x))
            .ok_or_else(|| format!("{what} must be between 0 and 86400 seconds, not {x}"))
    };
    let steps = parse_script(&caller.digits).map_err(|e| format!("--digits: {e}"))?;
    let after = caller
        .timeout_after
        .map(|x| seconds("--timeout-after", x))
        .transpose()?;
    let prompt_length = seconds("--prompt-seconds", caller.prompt_seconds)?;
    let (_, tree) = load(text, name)?;
    let options = SimOptions {
        prompt_length,
        barge_in: caller.barge_in,
        ..SimOptions::default()
    };
    Ok(run(now, Arc::new(tree), &steps, after, options))
}
