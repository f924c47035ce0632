//! Any valid menu, any digits, any timing: no panic, no spin, and the session keeps its
//! promises (a deadline is never in the past, nothing comes out after the hang-up).

use std::sync::Arc;
use std::time::{Duration, Instant};

use hasip_menu::{
    Menu, MenuFile, MenuSession, MenuTree, Output, PlaybackEnd, PlaybackId, PostAction,
};
use proptest::prelude::*;

#[allow(clippy::disallowed_methods)]
fn t0() -> Instant {
    Instant::now()
}

fn post_action() -> impl Strategy<Value = PostAction> {
    prop_oneof![
        Just(PostAction::Noop),
        Just(PostAction::Hangup),
        Just(PostAction::RepeatMessage),
        (0u32..4).prop_map(PostAction::Return),
        prop_oneof![Just("a"), Just("b"), Just("c"), Just("nowhere")]
            .prop_map(|s| PostAction::Jump(s.into())),
    ]
}

fn key() -> impl Strategy<Value = String> {
    proptest::string::string_regex("[0-9*#a-d]{1,4}").unwrap_or_else(|e| panic!("{e}"))
}

fn leaf() -> impl Strategy<Value = Menu> {
    (
        prop::option::of(prop_oneof![Just("a"), Just("b"), Just("c")]),
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        0u64..6,
        post_action(),
        prop::option::of(1u32..4),
    )
        .prop_map(
            |(id, message, audio, pin, wait, timeout, post_action, max)| Menu {
                id: id.map(str::to_owned),
                message: message.then(|| "hello".to_owned()),
                audio_file: audio.then(|| "/a.wav".to_owned()),
                choices_are_pin: pin,
                max_pin_attempts: if pin { max } else { None },
                wait_for_audio_to_finish: wait,
                timeout: Duration::from_secs(timeout),
                post_action,
                ..Menu::default()
            },
        )
}

/// Menus up to three levels deep, with choices, defaults and timeout menus; jump targets
/// may be missing (hand-built trees are not validated).
fn menu() -> impl Strategy<Value = Menu> {
    leaf().prop_recursive(3, 24, 4, |inner| {
        (
            leaf(),
            prop::collection::vec((key(), inner.clone()), 0..4),
            prop::option::of(inner.clone()),
            prop::option::of(inner),
        )
            .prop_map(|(mut m, choices, default, on_timeout)| {
                let mut seen = std::collections::BTreeSet::new();
                m.choices = choices
                    .into_iter()
                    .filter(|(k, _)| seen.insert(k.clone()))
                    .collect();
                m.default = default.map(Box::new);
                m.on_timeout = on_timeout.map(Box::new);
                m
            })
    })
}

#[derive(Debug, Clone)]
enum Step {
    Digit(char),
    Wait(u64),
    PlaybackEnds(u8),
    Stop,
    Activity,
}

fn steps() -> impl Strategy<Value = Vec<Step>> {
    prop::collection::vec(
        prop_oneof![
            4 => prop::sample::select(b"0123456789*#ABCDx".to_vec()).prop_map(|b| Step::Digit(char::from(b))),
            3 => (0u64..400_000).prop_map(Step::Wait),
            3 => (0u8..3).prop_map(Step::PlaybackEnds),
            1 => Just(Step::Stop),
            1 => Just(Step::Activity),
        ],
        0..40,
    )
}

/// Drains outputs; checks that nothing follows a hang-up and that the session does not
/// produce an unbounded stream for one input.
fn drain(s: &mut MenuSession, playing: &mut Option<PlaybackId>) {
    let mut hung_up = false;
    let mut n = 0;
    while let Some(o) = s.poll_output() {
        n += 1;
        assert!(n < 2_000, "one input produced too many outputs");
        assert!(!hung_up, "output after hang-up: {o:?}");
        match o {
            Output::Play(p) => *playing = Some(p.id),
            Output::StopPlayback => *playing = None,
            Output::HangUp => hung_up = true,
            _ => {}
        }
    }
    if hung_up {
        assert!(s.is_ended());
    }
}

fn run(tree: Arc<MenuTree>, steps: &[Step]) {
    let t = t0();
    let mut now = t;
    let mut s = MenuSession::new(tree);
    let mut playing = None;
    s.handle_established(now);
    drain(&mut s, &mut playing);
    for step in steps {
        match step {
            Step::Digit(d) => s.handle_digit(now, *d),
            Step::Wait(ms) => {
                let until = now + Duration::from_millis(*ms);
                // Fire every deadline on the way, as the shell's loop would.
                let mut fired = 0;
                while let Some(d) = s.poll_timeout().filter(|d| *d <= until) {
                    assert!(d >= now, "deadline in the past");
                    now = d;
                    s.handle_timeout(now);
                    drain(&mut s, &mut playing);
                    fired += 1;
                    assert!(fired < 10_000, "timer spins");
                }
                now = until;
                s.handle_timeout(now);
            }
            Step::PlaybackEnds(kind) => {
                if let Some(id) = playing.take() {
                    let end = [
                        PlaybackEnd::Finished,
                        PlaybackEnd::Stopped,
                        PlaybackEnd::Failed,
                    ][usize::from(*kind)];
                    s.handle_playback_end(now, id, end);
                }
            }
            Step::Stop => s.handle_stop_playback(now),
            Step::Activity => s.handle_activity(now),
        }
        drain(&mut s, &mut playing);
        if let Some(d) = s.poll_timeout() {
            assert!(
                d > now || s.is_ended(),
                "a deadline at or before now after an input"
            );
        }
    }
}

/// Failed playbacks reported at once, for ever: a menu that repeats or jumps must not
/// turn that into an endless exchange with the engine.
fn run_failing_playback(tree: Arc<MenuTree>) {
    let t = t0();
    let mut s = MenuSession::new(tree);
    let mut playing = None;
    s.handle_established(t);
    drain(&mut s, &mut playing);
    let mut rounds = 0;
    while let Some(id) = playing.take() {
        s.handle_playback_end(t, id, PlaybackEnd::Failed);
        drain(&mut s, &mut playing);
        rounds += 1;
        assert!(rounds < 1_000, "failing playback loops");
    }
}

proptest! {
    // 256 cases by default; PROPTEST_CASES=50000 for a longer search.

    #[test]
    fn any_menu_any_input_never_panics_or_spins(m in menu(), steps in steps()) {
        let tree = Arc::new(MenuTree::new(&m));
        let _ = tree.render();
        run(Arc::clone(&tree), &steps);
        run_failing_playback(tree);
    }

    #[test]
    fn any_text_loads_or_fails_cleanly(text in "(?s).{0,200}") {
        if let Ok(f) = MenuFile::from_yaml(&text, Some("p.yaml")) {
            let tree = Arc::new(MenuTree::from_option(f.menu()));
            run(tree, &[Step::Digit('1'), Step::Wait(400_000)]);
        }
    }

    #[test]
    fn yaml_shaped_text_loads_or_fails_cleanly(
        lines in prop::collection::vec(
            (0usize..4, prop::sample::select(vec![
                "message: hi", "choices:", "'1':", "'12': {}", "default:", "timeout: 0",
                "post_action: return 2", "post_action: jump a", "post_action: repeat_message",
                "id: a", "choices_are_pin: yes", "max_pin_attempts: 2", "- x", "menu:",
                "allowed_numbers: ['1{*}']", "&x {id: a}", "*x", "<<: *x", "timeout:",
            ])),
            0..16,
        )
    ) {
        let text: String = lines.iter().map(|(i, l)| format!("{}{l}\n", "  ".repeat(*i))).collect();
        if let Ok(f) = MenuFile::from_yaml(&text, None) {
            let tree = Arc::new(MenuTree::from_option(f.menu()));
            run(Arc::clone(&tree), &[Step::Digit('1'), Step::Digit('2'), Step::Wait(301_000)]);
            run_failing_playback(tree);
        }
    }
}

/// The fuzz target's entry point over the examples and a few hostile inputs, so that CI
/// runs it deterministically (`fuzz/fuzz_targets/menu_yaml.rs` explores further).
#[test]
fn fuzz_entry_point_replays_examples_and_hostile_inputs() {
    let mut inputs: Vec<Vec<u8>> = [
        include_str!("../../../examples/incoming-call-pin.yaml"),
        include_str!("../../../examples/menu-reference.yaml"),
        include_str!("../../../examples/dial-pin.yaml"),
        include_str!("../../../examples/dial-dtmf-services.yaml"),
        include_str!("../../../examples/dial-message-only.yaml"),
        include_str!("../../../examples/dial-burglar-alarm.yaml"),
        include_str!("../../../examples/answer-say-bye.yaml"),
        include_str!("../../../examples/mqtt-dial-hello.yaml"),
    ]
    .iter()
    .map(|s| s.as_bytes().to_vec())
    .collect();
    assert!(!inputs.is_empty());
    let mut bomb = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
    for i in 0..9 {
        let prev = if i == 0 {
            "a".to_owned()
        } else {
            format!("a{}", i - 1)
        };
        bomb.push_str(&format!(
            "a{i}: &a{i} [*{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}]\n"
        ));
    }
    inputs.extend([
        bomb.into_bytes(),
        "[".repeat(10_000).into_bytes(),
        "{a: ".repeat(5_000).into_bytes(),
        "- ".repeat(5_000).into_bytes(),
        b"\xff\xfe\x00garbage: [".to_vec(),
        b"post_action: jump a\nid: a\ntimeout: 0\n".to_vec(),
        b"menu:\n  timeout: 0\n  choices:\n    timeout: {timeout: 0, post_action: return 0}\n"
            .to_vec(),
        b"choices_are_pin: true\nchoices: {}\n".to_vec(),
        b"&x {<<: *x}\n".to_vec(),
    ]);
    for input in inputs {
        hasip_menu::fuzzing::menu_yaml(&input, t0());
    }
}
