//! Fuzzing the inotify record decoder ([`Events::from_bytes`]).
//!
//! * A corpus kept in the repository (`tests/fuzz_corpus/`): real reads
//!   captured from the kernel (`kernel_*.bin`) and hand-made malformed
//!   records (`made_*.bin`), each with its expected decoding
//!   (`*.expected`, one line per item). Replayed exactly, at every start
//!   alignment.
//! * proptest mutations of the corpus (bit flips, truncation, insertion,
//!   splicing, rewritten length fields) and generated record streams, each
//!   decoded by the crate and by an independent reference decoder written
//!   from inotify(7) below: both must agree item by item, and the crate must
//!   never panic or read past the input.

use std::path::PathBuf;
use std::sync::OnceLock;

use inotify::{ErrorKind, Event, Events};
use proptest::prelude::*;

const HEADER: usize = 16;
const IN_Q_OVERFLOW: u32 = 0x4000;

/// One decoded item in the corpus' text form.
fn line_of(wd: i32, mask: u32, cookie: u32, name: Option<&[u8]>) -> String {
    let name = match name {
        Some(n) => n.iter().map(|b| format!("{b:02x}")).collect(),
        None => "-".to_owned(),
    };
    format!("watch wd={wd} mask=0x{mask:08x} cookie={cookie} name={name}")
}

/// What the crate decodes, in the corpus' text form. Also checks the
/// iterator's own promises: an error is `MalformedEvent` at an offset inside
/// the input, and it ends the iteration for good.
fn decode_with_crate(bytes: &[u8]) -> Vec<String> {
    use std::os::unix::ffi::OsStrExt;
    let mut events = Events::from_bytes(bytes);
    let mut out = Vec::new();
    for item in events.by_ref() {
        match item {
            Ok(Event::Watch(w)) => {
                let name = w.name.map(|n| n.as_bytes());
                if let Some(n) = name {
                    assert!(!n.is_empty() && !n.contains(&0), "{n:?}");
                }
                out.push(line_of(w.wd.raw(), w.mask.bits(), w.cookie, name));
            }
            Ok(Event::Overflow) => out.push("overflow".to_owned()),
            Err(e) => {
                assert_eq!(e.kind(), ErrorKind::MalformedEvent, "{e}");
                let at = e.offset().expect("offset");
                assert!(at < bytes.len(), "offset {at} of {}", bytes.len());
                assert!(!e.to_string().is_empty());
                out.push(format!("error at={at}"));
            }
        }
    }
    assert!(events.next().is_none(), "fused after the end");
    assert!(events.remaining_bytes().is_empty());
    out
}

/// Reference decoder, straight from inotify(7): a 16-byte header (wd, mask,
/// cookie, len; native endian) then `len` bytes of NUL-padded name. wd -1
/// with IN_Q_OVERFLOW is the overflow record; any other negative wd, a short
/// header or a name running past the end is malformed and ends the stream.
fn decode_reference(bytes: &[u8]) -> Vec<String> {
    let word = |at: usize| u32::from_ne_bytes(bytes[at..at + 4].try_into().unwrap());
    let mut out = Vec::new();
    let mut pos = 0usize;
    while pos < bytes.len() {
        if bytes.len() - pos < HEADER {
            out.push(format!("error at={pos}"));
            break;
        }
        let wd = word(pos) as i32;
        let (mask, cookie, len) = (word(pos + 4), word(pos + 8), word(pos + 12) as u64);
        if (pos + HEADER) as u64 + len > bytes.len() as u64 {
            out.push(format!("error at={pos}"));
            break;
        }
        let raw = &bytes[pos + HEADER..pos + HEADER + len as usize];
        let name = raw.split(|b| *b == 0).next().unwrap_or(&[]);
        if wd >= 0 {
            out.push(line_of(
                wd,
                mask,
                cookie,
                (!name.is_empty()).then_some(name),
            ));
        } else if wd == -1 && mask & IN_Q_OVERFLOW != 0 {
            out.push("overflow".to_owned());
        } else {
            out.push(format!("error at={pos}"));
            break;
        }
        pos += HEADER + len as usize;
    }
    out
}

struct Sample {
    name: String,
    bytes: Vec<u8>,
    expected: Vec<String>,
}

fn corpus() -> &'static [Sample] {
    static CORPUS: OnceLock<Vec<Sample>> = OnceLock::new();
    CORPUS.get_or_init(load_corpus)
}

fn load_corpus() -> Vec<Sample> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz_corpus");
    let mut out = Vec::new();
    for entry in std::fs::read_dir(&dir).expect("corpus dir") {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "bin") {
            let expected = std::fs::read_to_string(path.with_extension("expected"))
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            out.push(Sample {
                name: path.file_stem().unwrap().to_string_lossy().into_owned(),
                bytes: std::fs::read(&path).unwrap(),
                expected: expected.lines().map(str::to_owned).collect(),
            });
        }
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

// The corpus was captured on a little-endian machine.
#[cfg(target_endian = "little")]
#[test]
fn corpus_replays_exactly_at_every_alignment() {
    let corpus = corpus();
    let kernel = corpus
        .iter()
        .filter(|s| s.name.starts_with("kernel_"))
        .count();
    let made = corpus
        .iter()
        .filter(|s| s.name.starts_with("made_"))
        .count();
    assert!(
        kernel >= 6 && made >= 12,
        "corpus: {kernel} kernel, {made} made"
    );
    let mut items = 0;
    for sample in corpus {
        for shift in 0..8 {
            let mut shifted = vec![0xaa; shift];
            shifted.extend_from_slice(&sample.bytes);
            let got = decode_with_crate(&shifted[shift..]);
            assert_eq!(got, sample.expected, "{} at +{shift}", sample.name);
        }
        assert_eq!(
            decode_reference(&sample.bytes),
            sample.expected,
            "{}",
            sample.name
        );
        items += sample.expected.len();
    }
    // The corpus exercises each outcome.
    let all: Vec<&String> = corpus.iter().flat_map(|s| &s.expected).collect();
    assert!(all.iter().any(|l| *l == "overflow"));
    assert!(all.iter().any(|l| l.starts_with("error")));
    assert!(all.iter().any(|l| l.ends_with("name=-")));
    assert!(items >= 50, "{items}");
}

#[derive(Clone, Debug)]
enum Mutation {
    FlipBit {
        at: usize,
        bit: u8,
    },
    SetByte {
        at: usize,
        value: u8,
    },
    Truncate {
        keep: usize,
    },
    Insert {
        at: usize,
        bytes: Vec<u8>,
    },
    /// Rewrite the length field of the record header found at a 16-byte
    /// boundary (or wherever `at` lands).
    SetLen {
        at: usize,
        len: u32,
    },
    SpliceWith {
        other: usize,
        from: usize,
    },
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), 0u8..8).prop_map(|(at, bit)| Mutation::FlipBit { at, bit }),
        (any::<usize>(), any::<u8>()).prop_map(|(at, value)| Mutation::SetByte { at, value }),
        any::<usize>().prop_map(|keep| Mutation::Truncate { keep }),
        (any::<usize>(), prop::collection::vec(any::<u8>(), 1..40))
            .prop_map(|(at, bytes)| Mutation::Insert { at, bytes }),
        (
            any::<usize>(),
            prop_oneof![0u32..300, Just(u32::MAX), Just(u32::MAX - 15), any::<u32>()]
        )
            .prop_map(|(at, len)| Mutation::SetLen { at, len }),
        (any::<usize>(), any::<usize>())
            .prop_map(|(other, from)| Mutation::SpliceWith { other, from }),
    ]
}

fn apply(bytes: &mut Vec<u8>, m: &Mutation, corpus: &[Sample]) {
    let n = bytes.len();
    match m {
        Mutation::FlipBit { at, bit } if n > 0 => bytes[at % n] ^= 1 << bit,
        Mutation::SetByte { at, value } if n > 0 => bytes[at % n] = *value,
        Mutation::Truncate { keep } => bytes.truncate(keep % (n + 1)),
        Mutation::Insert { at, bytes: b } => {
            let at = at % (n + 1);
            bytes.splice(at..at, b.iter().copied());
        }
        Mutation::SetLen { at, len } if n >= HEADER => {
            let at = (at % (n - HEADER + 1)) / 16 * 16;
            bytes[at + 12..at + 16].copy_from_slice(&len.to_ne_bytes());
        }
        Mutation::SpliceWith { other, from } => {
            let other = &corpus[other % corpus.len()].bytes;
            let from = from % (other.len() + 1);
            bytes.extend_from_slice(&other[from..]);
        }
        _ => {}
    }
}

/// A generated stream: plausible headers (small wds, -1 and others, any
/// mask, names of 0..=300 bytes with any padding), possibly truncated.
fn stream() -> impl Strategy<Value = Vec<u8>> {
    let record = (
        prop_oneof![0i32..8, Just(-1), Just(-2), Just(i32::MIN), any::<i32>()],
        prop_oneof![Just(IN_Q_OVERFLOW), Just(0x100), any::<u32>()],
        any::<u32>(),
        prop::collection::vec(any::<u8>(), 0..300),
        0usize..24,
        prop::option::weighted(0.1, any::<u32>()),
    );
    (
        prop::collection::vec(record, 0..12),
        any::<usize>(),
        any::<bool>(),
    )
        .prop_map(|(records, cut, do_cut)| {
            let mut out = Vec::new();
            for (wd, mask, cookie, name, pad, bogus_len) in records {
                let len = bogus_len.unwrap_or((name.len() + pad) as u32);
                out.extend_from_slice(&wd.to_ne_bytes());
                out.extend_from_slice(&mask.to_ne_bytes());
                out.extend_from_slice(&cookie.to_ne_bytes());
                out.extend_from_slice(&len.to_ne_bytes());
                out.extend_from_slice(&name);
                out.resize(out.len() + pad, 0);
            }
            if do_cut {
                out.truncate(cut % (out.len() + 1));
            }
            out
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    #[test]
    fn mutated_corpus_decodes_like_the_reference(
        pick in any::<usize>(),
        mutations in prop::collection::vec(mutation(), 1..6),
        shift in 0usize..8,
    ) {
        let corpus = corpus();
        let mut bytes = corpus[pick % corpus.len()].bytes.clone();
        for m in &mutations {
            apply(&mut bytes, m, corpus);
        }
        let mut shifted = vec![0x55; shift];
        shifted.extend_from_slice(&bytes);
        prop_assert_eq!(decode_with_crate(&shifted[shift..]), decode_reference(&bytes));
    }

    #[test]
    fn generated_streams_decode_like_the_reference(bytes in stream(), shift in 0usize..8) {
        let mut shifted = vec![0x55; shift];
        shifted.extend_from_slice(&bytes);
        prop_assert_eq!(decode_with_crate(&shifted[shift..]), decode_reference(&bytes));
    }

    #[test]
    fn arbitrary_bytes_decode_like_the_reference(
        bytes in prop::collection::vec(any::<u8>(), 0..600),
    ) {
        prop_assert_eq!(decode_with_crate(&bytes), decode_reference(&bytes));
    }
}
