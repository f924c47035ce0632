//! Entry points for fuzzing and for replaying the fuzz corpus in ordinary tests. Not part
//! of the API.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::load::MenuFile;
use crate::simulate::{CallerStep, SimOptions, simulate};
use crate::tree::MenuTree;

/// Loads `data` as every kind of menu file; whatever loads is normalised, rendered and run
/// against a short caller script taken from the input's last bytes.
pub fn menu_yaml(data: &[u8], t0: Instant) {
    let text = String::from_utf8_lossy(data);
    let _ = crate::Menu::from_yaml(&text, Some("fuzz.yaml"));
    let _ = crate::IncomingCallFile::from_yaml(&text, Some("fuzz.yaml"));
    let Ok(file) = MenuFile::from_yaml(&text, Some("fuzz.yaml")) else {
        return;
    };
    let tree = Arc::new(MenuTree::from_option(file.menu()));
    let _ = tree.render();
    const KEYS: &[u8] = b"0123456789*#ABCD";
    let steps: Vec<CallerStep> = data
        .iter()
        .rev()
        .take(16)
        .map(|b| match KEYS.get(usize::from(*b) % 20) {
            Some(k) => CallerStep::Digit(char::from(*k)),
            None => CallerStep::Pause(Duration::from_secs(u64::from(*b % 7) * 60)),
        })
        .collect();
    let options = SimOptions {
        limit: Duration::from_secs(3600),
        ..SimOptions::default()
    };
    let _ = simulate(t0, tree, &steps, Some(Duration::from_secs(301)), options);
}
