//! Shared helpers: one base instant, and "load this YAML, run this caller, give me the
//! transcript" so that the tests do not depend on the API's details.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use hasip_menu::simulate::{SimOptions, Simulation, parse_script, simulate};
use hasip_menu::{MenuFile, MenuTree};

/// The one real instant the tests use; everything after it is virtual.
#[allow(clippy::disallowed_methods)]
pub(crate) fn t0() -> Instant {
    Instant::now()
}

#[track_caller]
pub(crate) fn tree(yaml: &str) -> Arc<MenuTree> {
    let file = MenuFile::from_yaml(yaml, Some("test.yaml")).unwrap_or_else(|e| panic!("{e}"));
    Arc::new(MenuTree::from_option(file.menu()))
}

/// Runs `script` (see `parse_script`) and then `after` seconds of silence (or until
/// nothing plays).
#[track_caller]
pub(crate) fn run(yaml: &str, script: &str, after: Option<f64>) -> String {
    run_with(yaml, script, after, SimOptions::default())
}

#[track_caller]
pub(crate) fn run_with(
    yaml: &str,
    script: &str,
    after: Option<f64>,
    options: SimOptions,
) -> String {
    let steps = parse_script(script).unwrap();
    simulate(
        t0(),
        tree(yaml),
        &steps,
        after.map(Duration::from_secs_f64),
        options,
    )
}

/// A simulation to drive step by step.
#[track_caller]
pub(crate) fn sim(yaml: &str) -> Simulation {
    Simulation::new(t0(), tree(yaml), SimOptions::default())
}

pub(crate) fn secs(x: f64) -> Duration {
    Duration::from_secs_f64(x)
}
