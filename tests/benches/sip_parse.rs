//! Parse, validate and read a ~1 KB INVITE with SDP and its 200 OK (Record-Route, SDP) with
//! our parser, `ezk-sip-types` and `rsipstack`, in one criterion group so that the report
//! compares them; and count the heap allocations each makes per message.
//!
//! Each parser does the work a transaction layer needs from a message it receives:
//!
//! - ours: `Message::parse`, `validate_request`/`validate_response`, then the top Via
//!   branch, From tag, To tag, Call-ID and CSeq through the cached accessors the
//!   transaction layer uses (`branch()`, `from_tag()`, …; validation fills them);
//! - ezk-sip-types: cut the head into lines (`PullParser`), parse the start line and each
//!   header line into `Headers`, then read the same fields as typed headers;
//! - rsipstack: `parse_message`, then the same fields as typed headers.
//!
//! Ours and ezk read from a `Bytes` built with `Bytes::from_static`, rsipstack from the
//! same `&[u8]`, so no parser pays for making its input.
//!
//! Allocations are counted by a counting wrapper around `std::alloc::System` installed as
//! the global allocator. The wrapper is `stats_alloc::StatsAlloc` rather than one written
//! here: a `GlobalAlloc` impl needs `unsafe impl`, the workspace sets `unsafe_code =
//! "forbid"` (passed to rustc as `-F unsafe_code`), and a file-level
//! `#![allow(unsafe_code)]` cannot overrule a forbid (E0453). The wrapper updates four
//! atomic counters per allocation and free, which the timings include as well.
#![allow(clippy::print_stdout)] // the allocation counts are part of the report

use std::alloc::System;
use std::hint::black_box;

use bytes::Bytes;
use criterion::{BenchmarkId, Criterion, Throughput};
use hasip_sip::message::validate::{Policy, validate_request, validate_response};
use hasip_sip::message::{Message, Method};
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// The messages: part of the differential corpus, so that all three parsers are known to
/// read them alike (`tests/sip_differential.rs`).
const INVITE: &[u8] = include_bytes!("../fixtures/sip/valid/10_invite_sdp_baresip.sip");
const OK_200: &[u8] = include_bytes!("../fixtures/sip/valid/13_200_invite_sdp_record_route.sip");

const POLICY: Policy<'static> = Policy {
    allowed: &[
        Method::Invite,
        Method::Ack,
        Method::Bye,
        Method::Cancel,
        Method::Options,
        Method::Register,
        Method::Info,
        Method::Refer,
        Method::Notify,
    ],
    supported: &["100rel", "timer", "replaces", "norefersub"],
    accepted_bodies: &["application/sdp"],
};

/// What every parser reads from the message; compared once before timing so that the three
/// are known to do the same work.
#[derive(Debug, PartialEq, Eq)]
struct Read {
    branch: String,
    from_tag: String,
    to_tag: Option<String>,
    call_id: String,
    cseq: u32,
    cseq_method: String,
}

/// The fields as borrowed text, so that the timed functions do not allocate for them.
struct Fields<'a> {
    branch: &'a str,
    from_tag: &'a str,
    to_tag: Option<&'a str>,
    call_id: &'a str,
    cseq: u32,
    cseq_method: &'a str,
}

impl Fields<'_> {
    fn to_read(&self) -> Read {
        Read {
            branch: self.branch.to_owned(),
            from_tag: self.from_tag.to_owned(),
            to_tag: self.to_tag.map(str::to_owned),
            call_id: self.call_id.to_owned(),
            cseq: self.cseq,
            cseq_method: self.cseq_method.to_owned(),
        }
    }
}

/// Our parser: parse, validate, read.
fn ours<R>(data: &Bytes, use_fields: impl FnOnce(Fields<'_>) -> R) -> R {
    let msg = Message::parse(data.clone()).expect("ours: the bench message parses");
    if msg.is_request() {
        validate_request(&msg, &POLICY).expect("ours: the bench request is valid");
    } else {
        validate_response(&msg).expect("ours: the bench response is valid");
    }
    // The accessors the transaction layer uses: read once during validation, then cached.
    let (cseq, cseq_method) = msg.cseq_parts().expect("ours: CSeq");
    use_fields(Fields {
        branch: msg.branch().expect("ours: branch"),
        from_tag: msg.from_tag().expect("ours: From tag"),
        to_tag: msg.to_tag(),
        call_id: msg.call_id().expect("ours: Call-ID"),
        cseq,
        cseq_method: cseq_method.as_str(),
    })
}

/// ezk-sip-types: lines, then typed headers.
fn ezk<R>(data: &Bytes, use_fields: impl FnOnce(Fields<'_>) -> R) -> R {
    use ezk_sip_types::header::typed::{CSeq, CallID, FromTo, Via};
    use ezk_sip_types::msg::{Line, MessageLine, PullParser};
    use ezk_sip_types::parse::Parse;
    use ezk_sip_types::{Headers, Name};

    let mut lines = PullParser::new(data, 0);
    let first = lines
        .next()
        .expect("ezk: start line")
        .expect("ezk: complete head");
    let first = std::str::from_utf8(first).expect("ezk: UTF-8 start line");
    let (_, start) = MessageLine::parse(data)(first).expect("ezk: start line parses");
    let mut headers = Headers::with_capacity(16);
    for line in lines {
        let line = line.expect("ezk: complete head");
        let line = std::str::from_utf8(line).expect("ezk: UTF-8 header line");
        let (_, line) = Line::parse(data, line).expect("ezk: header line parses");
        headers.insert(line.name, line.value);
    }
    black_box(&start);
    let via: Via = headers.get_named().expect("ezk: Via");
    let from: FromTo = headers.get(Name::FROM).expect("ezk: From");
    let to: FromTo = headers.get(Name::TO).expect("ezk: To");
    let call_id: CallID = headers.get_named().expect("ezk: Call-ID");
    let cseq: CSeq = headers.get_named().expect("ezk: CSeq");
    let method = cseq.method.to_string();
    use_fields(Fields {
        branch: via.params.get_val("branch").expect("ezk: branch"),
        from_tag: from.tag.as_deref().expect("ezk: From tag"),
        to_tag: to.tag.as_deref(),
        call_id: &call_id.0,
        cseq: cseq.cseq,
        cseq_method: &method,
    })
}

/// rsipstack: parse, then typed headers.
fn rsip<R>(data: &[u8], use_fields: impl FnOnce(Fields<'_>) -> R) -> R {
    use rsipstack::sip::prelude::*;

    let msg = rsipstack::sip::parser::parse_message(data).expect("rsipstack: parses");
    let via = msg
        .top_via_header()
        .expect("rsipstack: Via")
        .typed()
        .expect("rsipstack: Via parses");
    let from = msg
        .from_header()
        .expect("rsipstack: From")
        .typed()
        .expect("rsipstack: From parses");
    let to = msg
        .to_header()
        .expect("rsipstack: To")
        .typed()
        .expect("rsipstack: To parses");
    let cseq = msg
        .cseq_header()
        .expect("rsipstack: CSeq")
        .typed()
        .expect("rsipstack: CSeq parses");
    let method = cseq.method.to_string();
    use_fields(Fields {
        branch: via.branch().expect("rsipstack: branch").value(),
        from_tag: from.tag().expect("rsipstack: From tag").value(),
        to_tag: to.tag().map(|t| t.value()),
        call_id: msg.call_id_header().expect("rsipstack: Call-ID").value(),
        cseq: cseq.seq,
        cseq_method: &method,
    })
}

/// Keeps the fields alive without copying them.
fn consume(f: Fields<'_>) -> usize {
    black_box(&f);
    f.branch.len() + f.from_tag.len() + f.call_id.len() + f.cseq as usize
}

/// Heap allocations (and reallocations) of one run of `f`, after a first run that warms
/// up whatever a parser initialises once.
fn allocations(mut f: impl FnMut()) -> (usize, usize) {
    f();
    let region = Region::new(GLOBAL);
    f();
    let change = region.change();
    (change.allocations, change.reallocations)
}

struct Case {
    name: &'static str,
    data: Bytes,
}

fn cases() -> [Case; 2] {
    [
        Case {
            name: "INVITE",
            data: Bytes::from_static(INVITE),
        },
        Case {
            name: "200 OK",
            data: Bytes::from_static(OK_200),
        },
    ]
}

/// Checks that the three parsers read the same fields, then prints their allocations.
fn report_allocations(cases: &[Case]) {
    for case in cases {
        let mine = ours(&case.data, |f| f.to_read());
        assert_eq!(ezk(&case.data, |f| f.to_read()), mine, "ezk vs ours");
        assert_eq!(rsip(&case.data, |f| f.to_read()), mine, "rsipstack vs ours");

        let (o, o_re) = allocations(|| {
            black_box(ours(&case.data, consume));
        });
        let (e, e_re) = allocations(|| {
            black_box(ezk(&case.data, consume));
        });
        let (r, r_re) = allocations(|| {
            black_box(rsip(&case.data, consume));
        });
        println!(
            "allocations per parse: ours {o}, ezk {e}, rsipstack {r} \
             ({}, {} bytes; reallocations: ours {o_re}, ezk {e_re}, rsipstack {r_re})",
            case.name,
            case.data.len()
        );
    }
}

fn bench(c: &mut Criterion, cases: &[Case]) {
    let mut group = c.benchmark_group("sip_parse");
    for case in cases {
        group.throughput(Throughput::Bytes(case.data.len() as u64));
        group.bench_with_input(BenchmarkId::new("ours", case.name), &case.data, |b, d| {
            b.iter(|| ours(black_box(d), consume));
        });
        group.bench_with_input(BenchmarkId::new("ezk", case.name), &case.data, |b, d| {
            b.iter(|| ezk(black_box(d), consume));
        });
        group.bench_with_input(
            BenchmarkId::new("rsipstack", case.name),
            &case.data,
            |b, d| {
                b.iter(|| rsip(black_box(d), consume));
            },
        );
    }
    group.finish();
}

fn main() {
    let cases = cases();
    report_allocations(&cases);
    let mut c = Criterion::default().configure_from_args();
    bench(&mut c, &cases);
    c.final_summary();
}
