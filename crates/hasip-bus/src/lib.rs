//! The command and event wire formats of ha-sip (every JSON command of its README, every
//! webhook and MQTT state event), stdin and MQTT ingestion, and MQTT state/availability
//! publishing.
//!
//! It is empty until the commands issue fills it.
#![forbid(unsafe_code)]
