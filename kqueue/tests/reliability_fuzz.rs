//! Fuzzing the kevent decoders of every system layout, on any host.
//!
//! * A corpus kept in the repository (`tests/fuzz_corpus/<layout>_*.bin`,
//!   hand-made records: a vnode write, an `EV_ERROR` receipt, an `EV_EOF`,
//!   an unknown filter, an `EVFILT_USER` trigger, all-extreme values) with
//!   the expected decoding next to each (`.expected`), replayed at every
//!   start alignment.
//! * proptest: arbitrary bytes of each layout's size decode exactly as an
//!   independent reference decoder (field offsets and widths written from
//!   each system's `sys/event.h`, filter numbers from kqueue-sys) says;
//!   any other length is refused, never read.
//!
//! The offsets below are those of 64-bit little-endian hosts, where the
//! corpus was made.
#![cfg(all(target_pointer_width = "64", target_endian = "little"))]

use std::path::PathBuf;
use std::sync::OnceLock;

use kqueue::layouts::Layout;
use kqueue::{Event, Filter};
use kqueue_sys::layout as sys;
use proptest::prelude::*;

/// Where each field sits in one layout (64-bit host), and its filter numbers.
struct Spec {
    name: &'static str,
    layout: Layout,
    size: usize,
    /// Offset and width (2 or 4 bytes) of `filter`; NetBSD's is unsigned.
    filter: (usize, usize),
    /// Offset and width of `flags`.
    flags: (usize, usize),
    fflags: usize,
    data: usize,
    udata: usize,
    /// `EVFILT_*` numbers of Read, Write, Aio, Vnode, Proc, Signal, Timer, User.
    filters: [i32; 8],
}

const NAMED: [Filter; 8] = [
    Filter::Read,
    Filter::Write,
    Filter::Aio,
    Filter::Vnode,
    Filter::Proc,
    Filter::Signal,
    Filter::Timer,
    Filter::User,
];

fn specs() -> Vec<Spec> {
    macro_rules! filters {
        ($m:ident) => {
            [
                sys::$m::EVFILT_READ as i32,
                sys::$m::EVFILT_WRITE as i32,
                sys::$m::EVFILT_AIO as i32,
                sys::$m::EVFILT_VNODE as i32,
                sys::$m::EVFILT_PROC as i32,
                sys::$m::EVFILT_SIGNAL as i32,
                sys::$m::EVFILT_TIMER as i32,
                sys::$m::EVFILT_USER as i32,
            ]
        };
    }
    // ident: u64 at 0; filter: short; flags: u_short; fflags: u_int;
    // data: intptr_t or int64_t; udata: pointer.
    let bsd = |name, layout, size, filters| Spec {
        name,
        layout,
        size,
        filter: (8, 2),
        flags: (10, 2),
        fflags: 12,
        data: 16,
        udata: 24,
        filters,
    };
    vec![
        bsd("macos", Layout::MacOs, 32, filters!(apple)),
        bsd("freebsd11", Layout::FreeBsd11, 32, filters!(freebsd)),
        // + uint64_t ext[4]
        bsd("freebsd12", Layout::FreeBsd12, 64, filters!(freebsd)),
        bsd("openbsd", Layout::OpenBsd, 32, filters!(openbsd)),
        bsd("dragonfly", Layout::DragonFly, 32, filters!(dragonfly)),
        bsd("libkqueue", Layout::LibKqueue, 32, filters!(libkqueue)),
        // uint32_t filter, uint32_t flags, uint32_t fflags, 4 bytes of
        // padding, int64_t data.
        Spec {
            name: "netbsd",
            layout: Layout::NetBsd,
            size: 40,
            filter: (8, 4),
            flags: (12, 4),
            fflags: 16,
            data: 24,
            udata: 32,
            filters: filters!(netbsd),
        },
    ]
}

/// The unsigned little-endian integer of `width` bytes at `at`.
fn field(bytes: &[u8], at: usize, width: usize) -> u64 {
    let mut buf = [0u8; 8];
    buf[..width].copy_from_slice(&bytes[at..at + width]);
    u64::from_le_bytes(buf)
}

fn render(
    ident: usize,
    filter: Filter,
    flags: u32,
    fflags: u32,
    data: i64,
    token: usize,
) -> String {
    let filter = match filter {
        Filter::Unknown(raw) => format!("Unknown({raw})"),
        named => format!("{named:?}"),
    };
    format!(
        "ident={ident} filter={filter} flags=0x{flags:x} fflags=0x{fflags:x} data={data} token={token}"
    )
}

fn describe(e: &Event) -> String {
    render(
        e.ident(),
        e.filter(),
        e.flags().bits(),
        e.fflags(),
        e.data(),
        e.token().0,
    )
}

/// The reference decoding of one record in `spec`'s layout.
fn reference(spec: &Spec, bytes: &[u8]) -> Option<String> {
    if bytes.len() != spec.size {
        return None;
    }
    let ident = field(bytes, 0, 8) as usize;
    let raw = field(bytes, spec.filter.0, spec.filter.1);
    let raw = match spec.filter.1 {
        2 => i32::from(raw as u16 as i16),
        _ => raw as u32 as i32,
    };
    let filter = spec
        .filters
        .iter()
        .position(|n| *n == raw)
        .map_or(Filter::Unknown(raw), |i| NAMED[i]);
    let flags = field(bytes, spec.flags.0, spec.flags.1) as u32;
    let fflags = field(bytes, spec.fflags, 4) as u32;
    let data = field(bytes, spec.data, 8) as i64;
    let token = field(bytes, spec.udata, 8) as usize;
    Some(render(ident, filter, flags, fflags, data, token))
}

struct Sample {
    name: String,
    bytes: Vec<u8>,
    expected: String,
}

fn corpus() -> &'static [Sample] {
    static CORPUS: OnceLock<Vec<Sample>> = OnceLock::new();
    CORPUS.get_or_init(|| {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz_corpus");
        let mut out = Vec::new();
        for entry in std::fs::read_dir(&dir).expect("corpus dir") {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "bin") {
                out.push(Sample {
                    name: path.file_stem().unwrap().to_string_lossy().into_owned(),
                    bytes: std::fs::read(&path).unwrap(),
                    expected: std::fs::read_to_string(path.with_extension("expected"))
                        .unwrap()
                        .trim_end()
                        .to_owned(),
                });
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        out
    })
}

#[test]
fn sizes_match_the_reference() {
    for spec in specs() {
        assert_eq!(spec.layout.size(), spec.size, "{}", spec.name);
    }
    assert_eq!(specs().len(), Layout::ALL.len());
}

#[test]
fn corpus_replays_exactly_at_every_alignment() {
    let specs = specs();
    let mut replayed = 0;
    for sample in corpus() {
        let spec = specs
            .iter()
            .find(|s| sample.name.starts_with(&format!("{}_", s.name)))
            .unwrap_or_else(|| panic!("{}: no such layout", sample.name));
        for shift in 0..8 {
            let mut shifted = vec![0x5a; shift];
            shifted.extend_from_slice(&sample.bytes);
            let event = spec
                .layout
                .decode(&shifted[shift..])
                .unwrap_or_else(|| panic!("{}: refused", sample.name));
            assert_eq!(
                describe(&event),
                sample.expected,
                "{} at +{shift}",
                sample.name
            );
        }
        assert_eq!(
            reference(spec, &sample.bytes).as_deref(),
            Some(sample.expected.as_str()),
            "{}",
            sample.name
        );
        replayed += 1;
    }
    // Six cases for each of the seven layouts.
    assert_eq!(replayed, 6 * Layout::ALL.len());
}

fn spec_index() -> impl Strategy<Value = usize> {
    0..Layout::ALL.len()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    #[test]
    fn arbitrary_records_decode_like_the_reference(
        which in spec_index(),
        seed in prop::collection::vec(any::<u8>(), 64),
        filter_pick in 0usize..10,
        shift in 0usize..8,
    ) {
        let specs = specs();
        let spec = &specs[which];
        let mut bytes = seed[..spec.size].to_vec();
        // Often a real filter number, so named filters are hit too.
        if filter_pick < 8 {
            let raw = spec.filters[filter_pick];
            let (at, width) = spec.filter;
            bytes[at..at + width].copy_from_slice(&raw.to_le_bytes()[..width]);
        }
        let mut shifted = vec![0u8; shift];
        shifted.extend_from_slice(&bytes);
        let got = spec.layout.decode(&shifted[shift..]).map(|e| describe(&e));
        prop_assert_eq!(got, reference(spec, &bytes));
    }

    #[test]
    fn wrong_lengths_are_refused(which in spec_index(), len in 0usize..200) {
        let specs = specs();
        let spec = &specs[which];
        prop_assume!(len != spec.size);
        let bytes = vec![0xffu8; len];
        prop_assert!(spec.layout.decode(&bytes).is_none());
    }
}
