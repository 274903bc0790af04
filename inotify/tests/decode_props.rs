//! Property tests for the record decoder, through the public
//! `Events::from_bytes` (no system call).

use std::os::unix::ffi::OsStrExt;

use inotify::{ErrorKind, Event, EventMask, Events};
use inotify_sys::{IN_Q_OVERFLOW, INOTIFY_EVENT_SIZE};
use proptest::prelude::*;

#[derive(Clone, Debug, PartialEq)]
enum Rec {
    Watch {
        wd: i32,
        mask: u32,
        cookie: u32,
        name: Option<Vec<u8>>,
        pad: usize,
    },
    Overflow,
}

fn rec() -> impl Strategy<Value = Rec> {
    let name = prop::option::weighted(0.8, prop::collection::vec(1u8..=255, 1..=255));
    let watch = (0..=i32::MAX, any::<u32>(), any::<u32>(), name, 0usize..=40).prop_map(
        |(wd, mask, cookie, name, pad)| Rec::Watch {
            wd,
            mask,
            cookie,
            name,
            pad,
        },
    );
    prop_oneof![9 => watch, 1 => Just(Rec::Overflow)]
}

/// Encodes records as the kernel lays them out, with arbitrary padding.
/// Returns the bytes and the end offset of each record.
fn encode(recs: &[Rec], prefix: usize) -> (Vec<u8>, Vec<usize>) {
    let mut out = vec![0xAA; prefix];
    let mut ends = Vec::new();
    for r in recs {
        let (wd, mask, cookie, name, pad) = match r {
            Rec::Watch {
                wd,
                mask,
                cookie,
                name,
                pad,
            } => (*wd, *mask, *cookie, name.as_deref(), *pad),
            Rec::Overflow => (-1, IN_Q_OVERFLOW, 0, None, 0),
        };
        let len = match name {
            Some(n) => n.len() + 1 + pad,
            None => pad,
        };
        out.extend_from_slice(&wd.to_ne_bytes());
        out.extend_from_slice(&mask.to_ne_bytes());
        out.extend_from_slice(&cookie.to_ne_bytes());
        out.extend_from_slice(&(len as u32).to_ne_bytes());
        let start = out.len();
        if let Some(n) = name {
            out.extend_from_slice(n);
        }
        out.resize(start + len, 0);
        ends.push(out.len() - prefix);
    }
    (out, ends)
}

fn check_matches(ev: &Event<'_>, r: &Rec) {
    match (ev, r) {
        (
            Event::Watch(w),
            Rec::Watch {
                wd,
                mask,
                cookie,
                name,
                ..
            },
        ) => {
            assert_eq!(w.wd.raw(), *wd);
            assert_eq!(w.wd.instance_id(), 0);
            assert_eq!(w.mask, EventMask::from_bits_retain(*mask));
            assert_eq!(w.mask.bits(), *mask, "unknown bits are kept");
            assert_eq!(*cookie, w.cookie);
            assert_eq!(w.name.map(|n| n.as_bytes()), name.as_deref());
        }
        (Event::Overflow, Rec::Overflow) => {}
        _ => panic!("{ev:?} decoded for {r:?}"),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn well_formed_records_decode_back_exactly(
        recs in prop::collection::vec(rec(), 0..24),
        prefix in 0usize..8,
    ) {
        let (bytes, _) = encode(&recs, prefix);
        let decoded: Vec<_> = Events::from_bytes(&bytes[prefix..])
            .collect::<Result<_, _>>()
            .expect("well-formed input decodes");
        prop_assert_eq!(decoded.len(), recs.len());
        for (ev, r) in decoded.iter().zip(&recs) {
            check_matches(ev, r);
        }
    }

    #[test]
    fn truncation_yields_the_complete_prefix_then_one_error(
        recs in prop::collection::vec(rec(), 1..12),
        prefix in 0usize..8,
        cut_seed in any::<prop::sample::Index>(),
    ) {
        let (bytes, ends) = encode(&recs, prefix);
        let total = bytes.len() - prefix;
        let cut = cut_seed.index(total);
        let complete = ends.iter().take_while(|&&e| e <= cut).count();
        let mut it = Events::from_bytes(&bytes[prefix..prefix + cut]);
        for r in &recs[..complete] {
            let ev = it.next().expect("complete record").expect("decodes");
            check_matches(&ev, r);
        }
        let on_boundary = cut == 0 || ends.contains(&cut);
        if !on_boundary {
            let err = it.next().expect("an error item").expect_err("truncated record");
            prop_assert_eq!(err.kind(), ErrorKind::MalformedEvent);
            let start = if complete == 0 { 0 } else { ends[complete - 1] };
            prop_assert_eq!(err.offset(), Some(start));
        }
        prop_assert!(it.next().is_none());
        prop_assert!(it.next().is_none());
    }

    #[test]
    fn arbitrary_bytes_never_panic_nor_escape_the_input(
        bytes in prop::collection::vec(any::<u8>(), 0..2048),
        prefix in 0usize..8,
    ) {
        let input = bytes.get(prefix..).unwrap_or(&[]);
        let range = input.as_ptr_range();
        let mut it = Events::from_bytes(input);
        let mut items = 0usize;
        while let Some(item) = it.next() {
            items += 1;
            prop_assert!(items <= input.len() / INOTIFY_EVENT_SIZE + 1);
            match item {
                Ok(Event::Watch(w)) => {
                    if let Some(n) = w.name {
                        let b = n.as_bytes();
                        prop_assert!(!b.is_empty() && !b.contains(&0));
                        prop_assert!(range.start <= b.as_ptr());
                        prop_assert!(b.as_ptr_range().end <= range.end);
                    }
                    prop_assert!(w.wd.raw() >= 0);
                }
                Ok(Event::Overflow) => {}
                Err(e) => {
                    prop_assert_eq!(e.kind(), ErrorKind::MalformedEvent);
                    prop_assert!(it.next().is_none());
                    break;
                }
            }
        }
    }
}
