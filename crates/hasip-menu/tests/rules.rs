//! One transcript per rule of the menu state machine (spec §5), and per deliberate fix
//! (docs/compatibility.md). Refresh with `UPDATE_EXPECT=1`.

mod support;

use std::sync::Arc;

use expect_test::{Expect, expect};
use hasip_menu::simulate::SimOptions;
use hasip_menu::{Event, Menu, MenuSession, MenuTree, Output, PlayCommand, PlaybackEnd, Prompt};
use support::{run, run_with, secs, sim, t0, tree};

#[track_caller]
fn check(yaml: &str, script: &str, after: Option<f64>, expected: Expect) {
    expected.assert_eq(&run(yaml, script, after));
}

#[track_caller]
fn check_barge_in(yaml: &str, script: &str, after: Option<f64>, expected: Expect) {
    let options = SimOptions {
        barge_in: true,
        ..SimOptions::default()
    };
    expected.assert_eq(&run_with(yaml, script, after, options));
}

/// §5.2 item 5: without a menu, any digit plays "Unknown option" and returns; 300 s
/// without a digit hang up.
#[test]
fn spec_5_2_5_standard_menu() {
    let standard = "command: dial\nnumber: sip:1@x\n";
    check(
        standard,
        "7",
        Some(310.0),
        expect![[r#"
        +0.000s   call established
        +0.000s   (enter /)
        +0.500s   caller presses 7
        +0.500s   event dtmf_digit digit="7"
        +0.500s   (invalid input "7")
        +0.500s   (enter /default (built-in))
        +0.500s   say "Unknown option" [en]
        +2.500s   event playback_done type=message message="Unknown option"
        +2.500s   (enter /)
        +302.500s (timeout of 300s passed)
        +302.500s (enter /timeout (built-in))
        +302.500s event timeout menu_id=null
        +302.500s hang up
    "#]],
    );
}

/// §5.2 item 1: keys are lower-cased and A–D match the digits as the phone sends them
/// (a fix: ha-sip never matched them); `0042` keeps its digits; `#` and `*` are ordinary.
#[test]
fn spec_5_2_1_keys() {
    let yaml =
        "choices:\n  A: {message: letter}\n  0042: {message: zeros}\n  '*#': {message: signs}\n";
    check(
        yaml,
        "A",
        None,
        expect![[r#"
        +0.000s   call established
        +0.000s   (enter /)
        +0.500s   caller presses A
        +0.500s   event dtmf_digit digit="A"
        +0.500s   (enter /a)
        +0.500s   say "letter"
        +2.500s   event playback_done type=message message="letter"
        +2.500s   caller hangs up (in /a)
    "#]],
    );
    check(
        yaml,
        "0042",
        None,
        expect![[r#"
        +0.000s   call established
        +0.000s   (enter /)
        +0.500s   caller presses 0
        +0.500s   event dtmf_digit digit="0"
        +1.000s   caller presses 0
        +1.000s   event dtmf_digit digit="0"
        +1.500s   caller presses 4
        +1.500s   event dtmf_digit digit="4"
        +2.000s   caller presses 2
        +2.000s   event dtmf_digit digit="2"
        +2.000s   (enter /0042)
        +2.000s   say "zeros"
        +4.000s   event playback_done type=message message="zeros"
        +4.000s   caller hangs up (in /0042)
    "#]],
    );
    check(
        yaml,
        "*#",
        None,
        expect![[r##"
        +0.000s   call established
        +0.000s   (enter /)
        +0.500s   caller presses *
        +0.500s   event dtmf_digit digit="*"
        +1.000s   caller presses #
        +1.000s   event dtmf_digit digit="#"
        +1.000s   (enter /*#)
        +1.000s   say "signs"
        +3.000s   event playback_done type=message message="signs"
        +3.000s   caller hangs up (in /*#)
    "##]],
    );
}

/// §5.2 item 4: a default or timeout menu gets no built-ins; its own timeout repeats the
/// `timeout` event (naming it) every `timeout` seconds.
#[test]
fn spec_5_2_4_default_menus_have_no_built_ins() {
    let yaml = "choices:\n  '1': {}\n  default:\n    id: oops\n    message: Wrong\n    timeout: 5\n    choices:\n      '9': {message: nine}\n";
    check(
        yaml,
        "2,34",
        Some(12.0),
        expect![[r#"
        +0.000s   call established
        +0.000s   (enter /)
        +0.500s   caller presses 2
        +0.500s   event dtmf_digit digit="2"
        +0.500s   (invalid input "2")
        +0.500s   (enter /default)
        +0.500s   event entered_menu menu_id="oops"
        +0.500s   say "Wrong"
        +2.500s   event playback_done type=message message="Wrong"
        +3.000s   caller presses 3
        +3.000s   event dtmf_digit digit="3"
        +3.000s   (invalid input "3")
        +3.500s   caller presses 4
        +3.500s   event dtmf_digit digit="4"
        +3.500s   (invalid input "4")
        +8.500s   (timeout of 5s passed)
        +8.500s   event timeout menu_id="oops"
        +13.500s  (timeout of 5s passed)
        +13.500s  event timeout menu_id="oops"
        +15.500s  caller hangs up (in /default)
    "#]],
    );
}

/// Ones written inside a default menu do work (ha-sip left them unreachable).
#[test]
fn nested_default_inside_a_default_menu_works() {
    let yaml = "choices:\n  '1': {}\n  default:\n    message: Wrong\n    choices:\n      '9': {message: nine}\n      default: {message: still wrong, post_action: hangup}\n";
    check(
        yaml,
        "2,5",
        None,
        expect![[r#"
        +0.000s   call established
        +0.000s   (enter /)
        +0.500s   caller presses 2
        +0.500s   event dtmf_digit digit="2"
        +0.500s   (invalid input "2")
        +0.500s   (enter /default)
        +0.500s   say "Wrong"
        +2.500s   event playback_done type=message message="Wrong"
        +3.000s   caller presses 5
        +3.000s   event dtmf_digit digit="5"
        +3.000s   (invalid input "5")
        +3.000s   (enter /default/default)
        +3.000s   say "still wrong"
        +5.000s   event playback_done type=message message="still wrong"
        +5.000s   hang up
    "#]],
    );
}

/// §5.3: on entry, in this order: the `entered_menu` event, the prompt, the action; the
/// post_action once the prompt has played. Message plus audio file play both, in order (a
/// fix: ha-sip cut the message off).
#[test]
fn spec_5_3_entry_order_and_message_plus_audio_file() {
    let yaml = "id: main\nmessage: Hello\naudio_file: /media/chime.wav\nlanguage: de\ncache_audio: true\n\
                action: {domain: light, service: turn_on, entity_id: light.hall}\npost_action: hangup\n";
    check(
        yaml,
        "",
        None,
        expect![[r#"
        +0.000s   call established
        +0.000s   (enter /)
        +0.000s   event entered_menu menu_id="main"
        +0.000s   say "Hello" [de]
        +0.000s   run light.turn_on light.hall
        +2.000s   event playback_done type=message message="Hello"
        +2.000s   play /media/chime.wav
        +4.000s   event playback_done type=audio_file audio_file="/media/chime.wav"
        +4.000s   hang up
    "#]],
    );
}

/// §5.3: a message marked as a template is handed on as one.
#[test]
fn spec_5_10_template_flag_reaches_the_play_request() {
    check(
        "message: \"It is {{ now() }}\"\nhandle_as_template: true\n",
        "",
        None,
        expect![[r#"
        +0.000s   call established
        +0.000s   (enter /)
        +0.000s   say "It is {{ now() }}" (template)
        +2.000s   event playback_done type=message message="It is {{ now() }}"
        +2.000s   caller hangs up (in /)
    "#]],
    );
}

/// §5.4: a post_action waits for the prompt; a digit during the prompt stops it, the
/// post_action runs first, and the digit is processed in the new menu.
#[test]
fn spec_5_4_post_action_runs_before_the_digit() {
    let yaml = "choices:\n  '1':\n    message: Sub menu, press 2\n    post_action: return\n    choices:\n      '2': {message: two}\n  '2': {message: two at the top}\n";
    check_barge_in(
        yaml,
        "1[1s]2",
        None,
        expect![[r#"
        +0.000s   call established
        +0.000s   (enter /)
        +0.500s   caller presses 1
        +0.500s   event dtmf_digit digit="1"
        +0.500s   (enter /1)
        +0.500s   say "Sub menu, press 2"
        +2.000s   caller presses 2
        +2.000s   stop playback
        +2.000s   (enter /)
        +2.000s   event dtmf_digit digit="2"
        +2.000s   (enter /2)
        +2.000s   say "two at the top"
        +4.000s   event playback_done type=message message="two at the top"
        +4.000s   caller hangs up (in /2)
    "#]],
    );
}

/// §5.4: digits restart the timer; the end of a prompt does not, so a timeout shorter
/// than the prompt fires while it plays.
#[test]
fn spec_5_4_what_restarts_the_timer() {
    let yaml = "message: A long welcome\ntimeout: 1\nchoices:\n  '12': {}\n";
    check(
        yaml,
        "",
        Some(5.0),
        expect![[r#"
        +0.000s   call established
        +0.000s   (enter /)
        +0.000s   say "A long welcome"
        +1.000s   (timeout of 1s passed)
        +1.000s   stop playback
        +1.000s   (enter /timeout (built-in))
        +1.000s   event timeout menu_id=null
        +1.000s   hang up
    "#]],
    );
    let yaml = "timeout: 3\nchoices:\n  '12': {}\n";
    check(
        yaml,
        "1[2s]",
        Some(5.0),
        expect![[r#"
        +0.000s   call established
        +0.000s   (enter /)
        +0.500s   caller presses 1
        +0.500s   event dtmf_digit digit="1"
        +3.500s   (timeout of 3s passed)
        +3.500s   (enter /timeout (built-in))
        +3.500s   event timeout menu_id=null
        +3.500s   hang up
    "#]],
    );
}

/// §5.1: a timeout of 0 fires at once.
#[test]
fn spec_5_1_timeout_zero_fires_at_once() {
    check(
        "message: Hi\ntimeout: 0\nchoices:\n  timeout: {message: Bye, post_action: hangup}\n",
        "",
        None,
        expect![[r#"
        +0.000s   call established
        +0.000s   (enter /)
        +0.000s   say "Hi"
        +0.000s   (timeout of 0s passed)
        +0.000s   stop playback
        +0.000s   (enter /timeout)
        +0.000s   say "Bye"
        +0.000s   event timeout menu_id=null
        +2.000s   event playback_done type=message message="Bye"
        +2.000s   hang up
    "#]],
    );
}

/// §5.5: with `wait_for_audio_to_finish` digits are dropped (no event) while the prompt
/// plays, but restart the timer.
#[test]
fn spec_5_5_wait_for_audio_to_finish() {
    let yaml = "message: Listen first\nwait_for_audio_to_finish: true\ntimeout: 3\nchoices:\n  '1': {message: one}\n";
    check_barge_in(
        yaml,
        "1",
        Some(3.2),
        expect![[r#"
        +0.000s   call established
        +0.000s   (enter /)
        +0.000s   say "Listen first" (digits dropped until it ends)
        +0.500s   caller presses 1
        +0.500s   (digit 1 dropped: the prompt must finish first)
        +2.000s   event playback_done type=message message="Listen first"
        +3.500s   (timeout of 3s passed)
        +3.500s   (enter /timeout (built-in))
        +3.500s   event timeout menu_id=null
        +3.500s   hang up
    "#]],
    );
    check_barge_in(
        yaml,
        "1[1.5s]1",
        Some(1.0),
        expect![[r#"
        +0.000s   call established
        +0.000s   (enter /)
        +0.000s   say "Listen first" (digits dropped until it ends)
        +0.500s   caller presses 1
        +0.500s   (digit 1 dropped: the prompt must finish first)
        +2.000s   event playback_done type=message message="Listen first"
        +2.500s   caller presses 1
        +2.500s   event dtmf_digit digit="1"
        +2.500s   (enter /1)
        +2.500s   say "one"
        +3.500s   caller hangs up (in /1)
    "#]],
    );
}

/// §5.5 non-PIN: a prefix waits; input that no key starts with enters the default at once;
/// an exact match wins before longer keys (`1` hides `12`).
#[test]
fn spec_5_5_non_pin_matching() {
    let yaml = "choices:\n  '12': {message: twelve}\n  '34': {message: thirty-four}\n  default: {message: nope}\n";
    check(
        yaml,
        "12",
        None,
        expect![[r#"
        +0.000s   call established
        +0.000s   (enter /)
        +0.500s   caller presses 1
        +0.500s   event dtmf_digit digit="1"
        +1.000s   caller presses 2
        +1.000s   event dtmf_digit digit="2"
        +1.000s   (enter /12)
        +1.000s   say "twelve"
        +3.000s   event playback_done type=message message="twelve"
        +3.000s   caller hangs up (in /12)
    "#]],
    );
    check(
        yaml,
        "15",
        None,
        expect![[r#"
        +0.000s   call established
        +0.000s   (enter /)
        +0.500s   caller presses 1
        +0.500s   event dtmf_digit digit="1"
        +1.000s   caller presses 5
        +1.000s   event dtmf_digit digit="5"
        +1.000s   (invalid input "15")
        +1.000s   (enter /default)
        +1.000s   say "nope"
        +3.000s   event playback_done type=message message="nope"
        +3.000s   caller hangs up (in /default)
    "#]],
    );
    let shadow = "choices:\n  '1': {message: one}\n  '12': {message: twelve}\n";
    check(
        shadow,
        "12",
        None,
        expect![[r#"
        +0.000s   call established
        +0.000s   (enter /)
        +0.500s   caller presses 1
        +0.500s   event dtmf_digit digit="1"
        +0.500s   (enter /1)
        +0.500s   say "one"
        +2.500s   event playback_done type=message message="one"
        +3.000s   caller presses 2
        +3.000s   event dtmf_digit digit="2"
        +3.000s   (invalid input "2")
        +3.000s   (enter /1/default (built-in))
        +3.000s   say "Unknown option" [en]
        +5.000s   event playback_done type=message message="Unknown option"
        +5.000s   (enter /1)
        +5.000s   say "one"
        +7.000s   event playback_done type=message message="one"
        +7.000s   caller hangs up (in /1)
    "#]],
    );
}

/// §5.5 PIN: nothing happens before the length of the longest PIN; a shorter PIN matches
/// when typed in full.
#[test]
fn spec_5_5_pin_matching() {
    let yaml = "choices_are_pin: true\nchoices:\n  '12': {message: short}\n  '1234': {message: long}\n  default: {message: wrong, post_action: return}\n";
    check(
        yaml,
        "98",
        None,
        expect![[r#"
        +0.000s   call established
        +0.000s   (enter /)
        +0.500s   caller presses 9
        +0.500s   event dtmf_digit digit="9"
        +1.000s   caller presses 8
        +1.000s   event dtmf_digit digit="8"
        +1.000s   caller hangs up (in /)
    "#]],
    );
    check(
        yaml,
        "9876",
        None,
        expect![[r#"
        +0.000s   call established
        +0.000s   (enter /)
        +0.500s   caller presses 9
        +0.500s   event dtmf_digit digit="9"
        +1.000s   caller presses 8
        +1.000s   event dtmf_digit digit="8"
        +1.500s   caller presses 7
        +1.500s   event dtmf_digit digit="7"
        +2.000s   caller presses 6
        +2.000s   event dtmf_digit digit="6"
        +2.000s   (no PIN matched (wrong PIN 1))
        +2.000s   (enter /default)
        +2.000s   say "wrong"
        +4.000s   event playback_done type=message message="wrong"
        +4.000s   (enter /)
        +4.000s   caller hangs up (in /)
    "#]],
    );
    check(
        yaml,
        "12",
        None,
        expect![[r#"
        +0.000s   call established
        +0.000s   (enter /)
        +0.500s   caller presses 1
        +0.500s   event dtmf_digit digit="1"
        +1.000s   caller presses 2
        +1.000s   event dtmf_digit digit="2"
        +1.000s   (enter /12)
        +1.000s   say "short"
        +3.000s   event playback_done type=message message="short"
        +3.000s   caller hangs up (in /12)
    "#]],
    );
}

/// §10.3 (issue #7): a right and a wrong start of a PIN look the same to the caller until
/// the full length: no prefix feedback.
#[test]
fn pin_entry_gives_no_prefix_feedback() {
    let yaml = "message: PIN please\nchoices_are_pin: true\nchoices:\n  '4711': {message: open}\n  '99': {message: short}\n";
    let mask = |t: String| {
        t.chars()
            .map(|c| if c.is_ascii_digit() { '#' } else { c })
            .collect::<String>()
    };
    assert_eq!(
        mask(run(yaml, "471", Some(5.0))),
        mask(run(yaml, "000", Some(5.0)))
    );
    assert_eq!(
        mask(run(yaml, "47", Some(5.0))),
        mask(run(yaml, "98", Some(5.0)))
    );
}

/// `max_pin_attempts` (new): after the last wrong PIN the call is hung up with a
/// `pin_lockout` event; the count survives `return`.
#[test]
fn max_pin_attempts_locks_out() {
    let yaml = "id: door\nmessage: PIN please\nchoices_are_pin: true\nmax_pin_attempts: 2\nchoices:\n  '4711': {message: open}\n  default: {message: wrong, post_action: return}\n";
    check(
        yaml,
        "1111,2222",
        None,
        expect![[r#"
        +0.000s   call established
        +0.000s   (enter /)
        +0.000s   event entered_menu menu_id="door"
        +0.000s   say "PIN please"
        +2.000s   event playback_done type=message message="PIN please"
        +2.500s   caller presses 1
        +2.500s   event dtmf_digit digit="1"
        +3.000s   caller presses 1
        +3.000s   event dtmf_digit digit="1"
        +3.500s   caller presses 1
        +3.500s   event dtmf_digit digit="1"
        +4.000s   caller presses 1
        +4.000s   event dtmf_digit digit="1"
        +4.000s   (no PIN matched (wrong PIN 1))
        +4.000s   (enter /default)
        +4.000s   say "wrong"
        +6.000s   event playback_done type=message message="wrong"
        +6.000s   (enter /)
        +6.000s   event entered_menu menu_id="door"
        +6.000s   say "PIN please"
        +6.500s   caller presses 2
        +6.500s   stop playback
        +6.500s   event dtmf_digit digit="2"
        +7.000s   caller presses 2
        +7.000s   event dtmf_digit digit="2"
        +7.500s   caller presses 2
        +7.500s   event dtmf_digit digit="2"
        +8.000s   caller presses 2
        +8.000s   event dtmf_digit digit="2"
        +8.000s   (no PIN matched (wrong PIN 2))
        +8.000s   event pin_lockout menu_id="door"
        +8.000s   hang up
    "#]],
    );
}

/// §5.7 `repeat_message`: the prompt repeats (no `entered_menu`, no action) until the
/// menu's timeout (a fix: ha-sip restarted the timer on every repeat, so it never ended).
#[test]
fn spec_5_7_repeat_message_ends_at_the_timeout() {
    let yaml = "id: alarm\nmessage: Alarm\naction: {domain: light, service: turn_on}\npost_action: repeat_message\ntimeout: 5\n";
    check(
        yaml,
        "",
        Some(10.0),
        expect![[r#"
        +0.000s   call established
        +0.000s   (enter /)
        +0.000s   event entered_menu menu_id="alarm"
        +0.000s   say "Alarm"
        +0.000s   run light.turn_on
        +2.000s   event playback_done type=message message="Alarm"
        +2.000s   (repeat /)
        +2.000s   say "Alarm"
        +4.000s   event playback_done type=message message="Alarm"
        +4.000s   (repeat /)
        +4.000s   say "Alarm"
        +5.000s   (timeout of 5s passed)
        +5.000s   stop playback
        +5.000s   (enter /timeout (built-in))
        +5.000s   event timeout menu_id="alarm"
        +5.000s   hang up
    "#]],
    );
}

/// `repeat_message` with nothing to play does nothing (it cannot spin).
#[test]
fn repeat_message_without_a_prompt_is_a_no_op() {
    check(
        "post_action: repeat_message\ntimeout: 2\n",
        "",
        Some(3.0),
        expect![[r#"
        +0.000s   call established
        +0.000s   (enter /)
        +0.000s   (nothing to repeat)
        +2.000s   (timeout of 2s passed)
        +2.000s   (enter /timeout (built-in))
        +2.000s   event timeout menu_id=null
        +2.000s   hang up
    "#]],
    );
}

/// §5.7 `return`, `return 2`, `return 0` and a return past the root.
#[test]
fn spec_5_7_return_levels() {
    let yaml = "id: top\nchoices:\n  '1':\n    id: one\n    choices:\n      '2':\n        message: deep\n        post_action: return 2\n      '0':\n        message: again\n        post_action: return 0\n      '9':\n        message: too far\n        post_action: return 5\n";
    check(
        yaml,
        "12",
        None,
        expect![[r#"
        +0.000s   call established
        +0.000s   (enter /)
        +0.000s   event entered_menu menu_id="top"
        +0.500s   caller presses 1
        +0.500s   event dtmf_digit digit="1"
        +0.500s   (enter /1)
        +0.500s   event entered_menu menu_id="one"
        +1.000s   caller presses 2
        +1.000s   event dtmf_digit digit="2"
        +1.000s   (enter /1/2)
        +1.000s   say "deep"
        +3.000s   event playback_done type=message message="deep"
        +3.000s   (enter /)
        +3.000s   event entered_menu menu_id="top"
        +3.000s   caller hangs up (in /)
    "#]],
    );
    check(
        yaml,
        "10",
        Some(5.0),
        expect![[r#"
        +0.000s   call established
        +0.000s   (enter /)
        +0.000s   event entered_menu menu_id="top"
        +0.500s   caller presses 1
        +0.500s   event dtmf_digit digit="1"
        +0.500s   (enter /1)
        +0.500s   event entered_menu menu_id="one"
        +1.000s   caller presses 0
        +1.000s   event dtmf_digit digit="0"
        +1.000s   (enter /1/0)
        +1.000s   say "again"
        +3.000s   event playback_done type=message message="again"
        +3.000s   (enter /1/0)
        +3.000s   say "again"
        +5.000s   event playback_done type=message message="again"
        +5.000s   (enter /1/0)
        +5.000s   say "again"
        +6.000s   caller hangs up (in /1/0)
    "#]],
    );
    check(
        yaml,
        "19",
        None,
        expect![[r#"
        +0.000s   call established
        +0.000s   (enter /)
        +0.000s   event entered_menu menu_id="top"
        +0.500s   caller presses 1
        +0.500s   event dtmf_digit digit="1"
        +0.500s   (enter /1)
        +0.500s   event entered_menu menu_id="one"
        +1.000s   caller presses 9
        +1.000s   event dtmf_digit digit="9"
        +1.000s   (enter /1/9)
        +1.000s   say "too far"
        +3.000s   event playback_done type=message message="too far"
        +3.000s   (could not return 5 levels: past the root)
        +3.000s   caller hangs up (in /1/9)
    "#]],
    );
}

/// §5.7 `jump`: to any menu with an id, including below a default menu (ha-sip after
/// PR #185).
#[test]
fn spec_5_7_jump() {
    let yaml = "choices:\n  '1': {message: going, post_action: jump help}\n  default:\n    message: Unknown\n    choices:\n      '0': {id: help, message: Help here}\n";
    check(
        yaml,
        "1",
        None,
        expect![[r#"
        +0.000s   call established
        +0.000s   (enter /)
        +0.500s   caller presses 1
        +0.500s   event dtmf_digit digit="1"
        +0.500s   (enter /1)
        +0.500s   say "going"
        +2.500s   event playback_done type=message message="going"
        +2.500s   (enter /default/0)
        +2.500s   event entered_menu menu_id="help"
        +2.500s   say "Help here"
        +4.500s   event playback_done type=message message="Help here"
        +4.500s   caller hangs up (in /default/0)
    "#]],
    );
}

/// §5.7 `hangup` and `noop`.
#[test]
fn spec_5_7_hangup_and_noop() {
    check(
        "message: bye\npost_action: hangup\n",
        "",
        None,
        expect![[r#"
        +0.000s   call established
        +0.000s   (enter /)
        +0.000s   say "bye"
        +2.000s   event playback_done type=message message="bye"
        +2.000s   hang up
    "#]],
    );
    check(
        "message: stay\npost_action: noop\n",
        "",
        Some(1.0),
        expect![[r#"
        +0.000s   call established
        +0.000s   (enter /)
        +0.000s   say "stay"
        +1.000s   caller hangs up (in /)
    "#]],
    );
}

/// Spec §5.4 quirk fixed: the `timeout` event carries the id of the menu that timed out,
/// not the timeout menu's.
#[test]
fn timeout_event_names_the_menu_that_timed_out() {
    let yaml = "id: main\ntimeout: 4\nchoices:\n  timeout: {id: goodbye, message: Bye, post_action: hangup}\n";
    check(
        yaml,
        "",
        Some(10.0),
        expect![[r#"
        +0.000s   call established
        +0.000s   (enter /)
        +0.000s   event entered_menu menu_id="main"
        +4.000s   (timeout of 4s passed)
        +4.000s   (enter /timeout)
        +4.000s   event entered_menu menu_id="goodbye"
        +4.000s   say "Bye"
        +4.000s   event timeout menu_id="main"
        +6.000s   event playback_done type=message message="Bye"
        +6.000s   hang up
    "#]],
    );
}

/// Menus that jump to each other without a prompt would spin (ha-sip did, forever): the
/// loop is stopped and the call hung up.
#[test]
fn a_jump_cycle_without_prompts_is_stopped() {
    let yaml = "id: a\npost_action: jump b\nchoices:\n  '1': {id: b, post_action: jump a}\n";
    check(
        yaml,
        "",
        None,
        expect![[r#"
        +0.000s   call established
        +0.000s   (enter /)
        +0.000s   event entered_menu menu_id="a"
        +0.000s   (enter /1)
        +0.000s   event entered_menu menu_id="b"
        +0.000s   (enter /)
        +0.000s   event entered_menu menu_id="a"
        +0.000s   (menus loop without prompt or input: hanging up)
        +0.000s   hang up
    "#]],
    );
    check(
        "post_action: return 0\n",
        "",
        None,
        expect![[r#"
        +0.000s   call established
        +0.000s   (enter /)
        +0.000s   (enter /)
        +0.000s   (menus loop without prompt or input: hanging up)
        +0.000s   hang up
    "#]],
    );
}

/// A cycle whose menus play something is legitimate: it runs in real time.
#[test]
fn a_jump_cycle_with_prompts_runs() {
    let yaml = "id: a\nmessage: ping\npost_action: jump b\ntimeout: 7\nchoices:\n  '1': {id: b, message: pong, post_action: jump a}\n";
    check(
        yaml,
        "",
        Some(7.0),
        expect![[r#"
        +0.000s   call established
        +0.000s   (enter /)
        +0.000s   event entered_menu menu_id="a"
        +0.000s   say "ping"
        +2.000s   event playback_done type=message message="ping"
        +2.000s   (enter /1)
        +2.000s   event entered_menu menu_id="b"
        +2.000s   say "pong"
        +4.000s   event playback_done type=message message="pong"
        +4.000s   (enter /)
        +4.000s   event entered_menu menu_id="a"
        +4.000s   say "ping"
        +6.000s   event playback_done type=message message="ping"
        +6.000s   (enter /1)
        +6.000s   event entered_menu menu_id="b"
        +6.000s   say "pong"
        +7.000s   caller hangs up (in /1)
    "#]],
    );
}

/// §5.8: the post_action also runs when the prompt could not play, and after a
/// `stop_playback` command; a late end of a replaced prompt is ignored.
#[test]
fn spec_5_8_post_action_after_failed_or_stopped_playback() {
    let tree = tree("message: one\naudio_file: /x.wav\npost_action: hangup\n");
    let t = t0();
    let mut s = MenuSession::new(tree);
    s.handle_established(t);
    let first = match drain(&mut s).into_iter().find_map(|o| match o {
        Output::Play(p) => Some(p.id),
        _ => None,
    }) {
        Some(id) => id,
        None => panic!("no prompt"),
    };
    s.handle_playback_end(t + secs(1.0), first, PlaybackEnd::Failed);
    let out = drain(&mut s);
    let second = match out.iter().find_map(|o| match o {
        Output::Play(p) => Some(p.id),
        _ => None,
    }) {
        Some(id) => id,
        None => panic!("the audio file should follow: {out:?}"),
    };
    s.handle_playback_end(t + secs(1.5), first, PlaybackEnd::Finished);
    assert!(drain(&mut s).is_empty(), "stale end ignored");
    s.handle_stop_playback(t + secs(2.0));
    assert_eq!(drain(&mut s), vec![Output::StopPlayback, Output::HangUp]);
    s.handle_playback_end(t + secs(3.0), second, PlaybackEnd::Finished);
    assert!(drain(&mut s).is_empty());
    assert!(s.is_ended());
}

/// Digits that arrive before the call is established wait for the root menu (ha-sip
/// queued them too).
#[test]
fn digits_before_establishment_are_kept() {
    let tree = tree("message: hi\nchoices:\n  '1': {id: one}\n");
    let t = t0();
    let mut s = MenuSession::new(tree);
    s.handle_digit(t, '1');
    assert!(drain(&mut s).is_empty());
    s.handle_established(t + secs(1.0));
    let out = drain(&mut s);
    assert!(
        out.contains(&Output::Event(Event::EnteredMenu {
            menu_id: "one".into()
        })),
        "{out:?}"
    );
}

/// A `play_message` command with `post_action: hangup` hangs up when its prompt ends; a
/// digit that interrupts it ends it too.
#[test]
fn play_command_with_hangup() {
    let tree = tree("choices:\n  '1': {}\n");
    let t = t0();
    let mut s = MenuSession::new(tree);
    s.handle_established(t);
    drain(&mut s);
    let cmd = PlayCommand {
        prompt: Prompt::Message {
            text: "Goodbye".into(),
            language: None,
            handle_as_template: false,
        },
        cache_audio: false,
        wait_for_audio_to_finish: false,
        hangup_after: true,
    };
    let id = s.handle_play(t + secs(1.0), cmd.clone());
    assert!(id.is_some());
    drain(&mut s);
    s.handle_playback_end(
        t + secs(3.0),
        id.unwrap_or_else(|| panic!()),
        PlaybackEnd::Finished,
    );
    assert_eq!(drain(&mut s), vec![Output::HangUp]);

    let tree2 = tree_of("choices:\n  '1': {}\n");
    let mut s = MenuSession::new(tree2);
    s.handle_established(t);
    drain(&mut s);
    s.handle_play(t + secs(1.0), cmd);
    drain(&mut s);
    s.handle_digit(t + secs(1.5), '1');
    assert_eq!(drain(&mut s), vec![Output::StopPlayback, Output::HangUp]);
}

/// `answer` with a menu on an established call enters the new menu (ha-sip 5.5).
#[test]
fn a_replaced_menu_is_entered() {
    let t = t0();
    let mut s = MenuSession::new(tree("id: old\nmessage: old\n"));
    s.handle_established(t);
    drain(&mut s);
    s.handle_menu_replaced(t + secs(1.0), tree("id: new\nmessage: new\n"));
    let out = drain(&mut s);
    assert!(
        out.contains(&Output::Event(Event::EnteredMenu {
            menu_id: "new".into()
        })),
        "{out:?}"
    );
}

/// A timer that is late or a `now` that goes backwards does no harm.
#[test]
fn late_and_backward_time() {
    let mut sim = sim("message: hi\ntimeout: 1\n");
    sim.establish();
    sim.wait(secs(100.0));
    assert!(sim.is_over());
    let t = t0();
    let mut s = MenuSession::new(tree("timeout: 5\nchoices:\n  '12': {}\n"));
    s.handle_established(t + secs(10.0));
    s.handle_timeout(t);
    s.handle_digit(t, '1');
    assert!(!s.is_ended());
    assert_eq!(s.poll_timeout(), Some(t + secs(15.0)));
}

/// A menu loaded from JSON (a `dial` command's menu) runs the same.
#[test]
fn json_menus_run_the_same() {
    let v: serde_json::Value = serde_json::from_str(
        r#"{"message": "Hi", "choices": {"1": {"id": "one", "post_action": "hangup"}}}"#,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let menu = Menu::from_json(&v).unwrap_or_else(|e| panic!("{e}"));
    let mut sim = hasip_menu::simulate::Simulation::new(
        t0(),
        Arc::new(MenuTree::new(&menu)),
        SimOptions::default(),
    );
    sim.run(&[hasip_menu::simulate::CallerStep::Digit('1')], None);
    expect![[r#"
        +0.000s   call established
        +0.000s   (enter /)
        +0.000s   say "Hi"
        +2.000s   event playback_done type=message message="Hi"
        +2.500s   caller presses 1
        +2.500s   event dtmf_digit digit="1"
        +2.500s   (enter /1)
        +2.500s   event entered_menu menu_id="one"
        +2.500s   hang up
    "#]]
    .assert_eq(sim.transcript());
}

fn tree_of(yaml: &str) -> Arc<MenuTree> {
    tree(yaml)
}

fn drain(s: &mut MenuSession) -> Vec<Output> {
    std::iter::from_fn(|| s.poll_output())
        .filter(|o| !matches!(o, Output::Notice(_)))
        .collect()
}
