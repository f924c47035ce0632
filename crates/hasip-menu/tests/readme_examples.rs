//! Every menu example of ha-sip's README (the compatibility contract), from the files in
//! `examples/`, run as a caller would use it. Refresh with `UPDATE_EXPECT=1`.

mod support;

use expect_test::{Expect, expect};
use support::run;

#[track_caller]
fn check(yaml: &str, script: &str, after: Option<f64>, expected: Expect) {
    expected.assert_eq(&run(yaml, script, after));
}

const INCOMING_PIN: &str = include_str!("../../../examples/incoming-call-pin.yaml");
const REFERENCE: &str = include_str!("../../../examples/menu-reference.yaml");
const DIAL_PIN: &str = include_str!("../../../examples/dial-pin.yaml");
const DIAL_SERVICES: &str = include_str!("../../../examples/dial-dtmf-services.yaml");
const DIAL_MESSAGE: &str = include_str!("../../../examples/dial-message-only.yaml");
const BURGLAR: &str = include_str!("../../../examples/dial-burglar-alarm.yaml");
const ANSWER_BYE: &str = include_str!("../../../examples/answer-say-bye.yaml");
const MQTT_HELLO: &str = include_str!("../../../examples/mqtt-dial-hello.yaml");

/// Spec §5.11, steps 1–4: a wrong PIN, then the right one.
#[test]
fn incoming_pin_wrong_then_right() {
    check(
        INCOMING_PIN,
        "9999,1234",
        None,
        expect![[r#"
        +0.000s   call established
        +0.000s   (enter /)
        +0.000s   say "Please enter your access code"
        +2.000s   event playback_done type=message message="Please enter your access code"
        +2.500s   caller presses 9
        +2.500s   event dtmf_digit digit="9"
        +3.000s   caller presses 9
        +3.000s   event dtmf_digit digit="9"
        +3.500s   caller presses 9
        +3.500s   event dtmf_digit digit="9"
        +4.000s   caller presses 9
        +4.000s   event dtmf_digit digit="9"
        +4.000s   (no PIN matched (wrong PIN 1))
        +4.000s   (enter /default)
        +4.000s   event entered_menu menu_id="wrong_code"
        +4.000s   say "Wrong code, please try again"
        +6.000s   event playback_done type=message message="Wrong code, please try again"
        +6.000s   (enter /)
        +6.000s   say "Please enter your access code"
        +6.500s   caller presses 1
        +6.500s   stop playback
        +6.500s   event dtmf_digit digit="1"
        +7.000s   caller presses 2
        +7.000s   event dtmf_digit digit="2"
        +7.500s   caller presses 3
        +7.500s   event dtmf_digit digit="3"
        +8.000s   caller presses 4
        +8.000s   event dtmf_digit digit="4"
        +8.000s   (enter /1234)
        +8.000s   event entered_menu menu_id="owner"
        +8.000s   say "Welcome beautiful."
        +10.000s  event playback_done type=message message="Welcome beautiful."
        +10.000s  hang up
    "#]],
    );
}

/// Spec §5.11 step 5: nothing pressed for 300 s: the built-in timeout hangs up; the
/// `timeout` event names the menu that timed out (the root has no id: null).
#[test]
fn incoming_pin_silence_hangs_up_after_300_s() {
    check(
        INCOMING_PIN,
        "",
        Some(400.0),
        expect![[r#"
        +0.000s   call established
        +0.000s   (enter /)
        +0.000s   say "Please enter your access code"
        +2.000s   event playback_done type=message message="Please enter your access code"
        +300.000s (timeout of 300s passed)
        +300.000s (enter /timeout (built-in))
        +300.000s event timeout menu_id=null
        +300.000s hang up
    "#]],
    );
}

#[test]
fn incoming_pin_maintenance() {
    check(
        INCOMING_PIN,
        "5432",
        None,
        expect![[r#"
        +0.000s   call established
        +0.000s   (enter /)
        +0.000s   say "Please enter your access code"
        +2.000s   event playback_done type=message message="Please enter your access code"
        +2.500s   caller presses 5
        +2.500s   event dtmf_digit digit="5"
        +3.000s   caller presses 4
        +3.000s   event dtmf_digit digit="4"
        +3.500s   caller presses 3
        +3.500s   event dtmf_digit digit="3"
        +4.000s   caller presses 2
        +4.000s   event dtmf_digit digit="2"
        +4.000s   (enter /5432)
        +4.000s   event entered_menu menu_id="maintenance"
        +4.000s   say "Your entrance has been logged."
        +6.000s   event playback_done type=message message="Your entrance has been logged."
        +6.000s   hang up
    "#]],
    );
}

#[test]
fn reference_menu_jump_from_7777_to_owner() {
    check(
        REFERENCE,
        "7777",
        None,
        expect![[r#"
        +0.000s   call established
        +0.000s   (enter /)
        +0.000s   event entered_menu menu_id="main"
        +0.000s   say "Please enter your access code" [en]
        +0.000s   run switch.turn_on switch.open_front_door
        +2.000s   event playback_done type=message message="Please enter your access code"
        +2.500s   caller presses 7
        +2.500s   event dtmf_digit digit="7"
        +3.000s   caller presses 7
        +3.000s   event dtmf_digit digit="7"
        +3.500s   caller presses 7
        +3.500s   event dtmf_digit digit="7"
        +4.000s   caller presses 7
        +4.000s   event dtmf_digit digit="7"
        +4.000s   (enter /7777)
        +4.000s   play /config/audio/welcome.mp3
        +6.000s   event playback_done type=audio_file audio_file="/config/audio/welcome.mp3"
        +6.000s   (enter /1234)
        +6.000s   event entered_menu menu_id="owner"
        +6.000s   say "Welcome beautiful." (digits dropped until it ends)
        +8.000s   event playback_done type=message message="Welcome beautiful."
        +8.000s   hang up
    "#]],
    );
}

/// The reference menu has a 10 s timeout and its own timeout choice "Bye.".
#[test]
fn reference_menu_timeout_says_bye() {
    check(
        REFERENCE,
        "",
        Some(20.0),
        expect![[r#"
        +0.000s   call established
        +0.000s   (enter /)
        +0.000s   event entered_menu menu_id="main"
        +0.000s   say "Please enter your access code" [en]
        +0.000s   run switch.turn_on switch.open_front_door
        +2.000s   event playback_done type=message message="Please enter your access code"
        +10.000s  (timeout of 10s passed)
        +10.000s  (enter /timeout)
        +10.000s  event entered_menu menu_id="timeout"
        +10.000s  say "Bye."
        +10.000s  event timeout menu_id="main"
        +12.000s  event playback_done type=message message="Bye."
        +12.000s  hang up
    "#]],
    );
}

/// A wrong code returns to the root: the root's action runs again (spec §5.7 `return`).
#[test]
fn reference_menu_wrong_code_returns_and_reruns_the_action() {
    check(
        REFERENCE,
        "1111",
        None,
        expect![[r#"
        +0.000s   call established
        +0.000s   (enter /)
        +0.000s   event entered_menu menu_id="main"
        +0.000s   say "Please enter your access code" [en]
        +0.000s   run switch.turn_on switch.open_front_door
        +2.000s   event playback_done type=message message="Please enter your access code"
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
        +4.000s   event entered_menu menu_id="wrong_code"
        +4.000s   say "Wrong code, please try again"
        +6.000s   event playback_done type=message message="Wrong code, please try again"
        +6.000s   (enter /)
        +6.000s   event entered_menu menu_id="main"
        +6.000s   say "Please enter your access code" [en]
        +6.000s   run switch.turn_on switch.open_front_door
        +8.000s   event playback_done type=message message="Please enter your access code"
        +8.000s   caller hangs up (in /)
    "#]],
    );
}

#[test]
fn dial_pin_owner() {
    check(
        DIAL_PIN,
        "1234",
        None,
        expect![[r#"
        +0.000s   call established
        +0.000s   (enter /)
        +0.000s   say "Please enter your access code"
        +2.000s   event playback_done type=message message="Please enter your access code"
        +2.500s   caller presses 1
        +2.500s   event dtmf_digit digit="1"
        +3.000s   caller presses 2
        +3.000s   event dtmf_digit digit="2"
        +3.500s   caller presses 3
        +3.500s   event dtmf_digit digit="3"
        +4.000s   caller presses 4
        +4.000s   event dtmf_digit digit="4"
        +4.000s   (enter /1234)
        +4.000s   event entered_menu menu_id="owner"
        +4.000s   say "Welcome beautiful."
        +6.000s   event playback_done type=message message="Welcome beautiful."
        +6.000s   hang up
    "#]],
    );
}

#[test]
fn dial_pin_timeout_after_10_s() {
    check(
        DIAL_PIN,
        "12",
        Some(15.0),
        expect![[r#"
        +0.000s   call established
        +0.000s   (enter /)
        +0.000s   say "Please enter your access code"
        +2.000s   event playback_done type=message message="Please enter your access code"
        +2.500s   caller presses 1
        +2.500s   event dtmf_digit digit="1"
        +3.000s   caller presses 2
        +3.000s   event dtmf_digit digit="2"
        +13.000s  (timeout of 10s passed)
        +13.000s  (enter /timeout)
        +13.000s  event entered_menu menu_id="timeout"
        +13.000s  say "Bye."
        +13.000s  event timeout menu_id=null
        +15.000s  event playback_done type=message message="Bye."
        +15.000s  hang up
    "#]],
    );
}

#[test]
fn dial_services_each_key() {
    check(
        DIAL_SERVICES,
        "1",
        None,
        expect![[r#"
        +0.000s   call established
        +0.000s   (enter /)
        +0.000s   say "Press one to open the door, two to turn on light outside, three to play music"
        +2.000s   event playback_done type=message message="Press one to open the door, two to turn on light outside, three to play music"
        +2.500s   caller presses 1
        +2.500s   event dtmf_digit digit="1"
        +2.500s   (enter /1)
        +2.500s   say "Door has been opened"
        +2.500s   run switch.turn_on switch.open_front_door
        +4.500s   event playback_done type=message message="Door has been opened"
        +4.500s   caller hangs up (in /1)
    "#]],
    );
    check(
        DIAL_SERVICES,
        "3",
        None,
        expect![[r#"
        +0.000s   call established
        +0.000s   (enter /)
        +0.000s   say "Press one to open the door, two to turn on light outside, three to play music"
        +2.000s   event playback_done type=message message="Press one to open the door, two to turn on light outside, three to play music"
        +2.500s   caller presses 3
        +2.500s   event dtmf_digit digit="3"
        +2.500s   (enter /3)
        +2.500s   say "Play music"
        +2.500s   run script.turn_on script.play_music_please {"variables":{"song":"Never gonna give you up"}}
        +4.500s   event playback_done type=message message="Play music"
        +4.500s   caller hangs up (in /3)
    "#]],
    );
}

/// After "1" the call sits in menu 1, which has no choices: another key plays the
/// built-in "Unknown option" and returns to menu 1, which opens the door again (ha-sip's
/// behaviour, kept).
#[test]
fn dial_services_second_key_is_unknown_in_the_sub_menu() {
    check(
        DIAL_SERVICES,
        "12",
        None,
        expect![[r#"
        +0.000s   call established
        +0.000s   (enter /)
        +0.000s   say "Press one to open the door, two to turn on light outside, three to play music"
        +2.000s   event playback_done type=message message="Press one to open the door, two to turn on light outside, three to play music"
        +2.500s   caller presses 1
        +2.500s   event dtmf_digit digit="1"
        +2.500s   (enter /1)
        +2.500s   say "Door has been opened"
        +2.500s   run switch.turn_on switch.open_front_door
        +4.500s   event playback_done type=message message="Door has been opened"
        +5.000s   caller presses 2
        +5.000s   event dtmf_digit digit="2"
        +5.000s   (invalid input "2")
        +5.000s   (enter /1/default (built-in))
        +5.000s   say "Unknown option" [en]
        +7.000s   event playback_done type=message message="Unknown option"
        +7.000s   (enter /1)
        +7.000s   say "Door has been opened"
        +7.000s   run switch.turn_on switch.open_front_door
        +9.000s   event playback_done type=message message="Door has been opened"
        +9.000s   caller hangs up (in /1)
    "#]],
    );
}

#[test]
fn dial_message_only_and_burglar_alarm() {
    check(
        DIAL_MESSAGE,
        "",
        None,
        expect![[r#"
        +0.000s   call established
        +0.000s   (enter /)
        +0.000s   say "There's a burglar in da house."
        +2.000s   event playback_done type=message message="There's a burglar in da house."
        +2.000s   caller hangs up (in /)
    "#]],
    );
    check(
        BURGLAR,
        "",
        Some(301.0),
        expect![[r#"
        +0.000s   call established
        +0.000s   (enter /)
        +0.000s   say "There's a burglar in da house."
        +2.000s   event playback_done type=message message="There's a burglar in da house."
        +300.000s (timeout of 300s passed)
        +300.000s (enter /timeout (built-in))
        +300.000s event timeout menu_id=null
        +300.000s hang up
    "#]],
    );
}

#[test]
fn answer_say_bye() {
    check(
        ANSWER_BYE,
        "",
        None,
        expect![[r#"
        +0.000s   call established
        +0.000s   (enter /)
        +0.000s   say "Bye"
        +2.000s   event playback_done type=message message="Bye"
        +2.000s   hang up
    "#]],
    );
}

#[test]
fn mqtt_hello_any_key_is_unknown() {
    check(
        MQTT_HELLO,
        "5",
        None,
        expect![[r#"
        +0.000s   call established
        +0.000s   (enter /)
        +0.000s   say "Hello from ha-sip." [en]
        +2.000s   event playback_done type=message message="Hello from ha-sip."
        +2.500s   caller presses 5
        +2.500s   event dtmf_digit digit="5"
        +2.500s   (invalid input "5")
        +2.500s   (enter /default (built-in))
        +2.500s   say "Unknown option" [en]
        +4.500s   event playback_done type=message message="Unknown option"
        +4.500s   (enter /)
        +4.500s   say "Hello from ha-sip." [en]
        +6.500s   event playback_done type=message message="Hello from ha-sip."
        +6.500s   caller hangs up (in /)
    "#]],
    );
}
