//! Decode: events per second over one prepared buffer of mixed records
//! (about 48 KiB; names from none to 255 bytes, see `prepared_events`).
//!
//! Group `decode`, no system call: `raw` is the hand-written loop over the
//! bytes (`benches::decode_raw`), `ours` is `inotify::Events::from_bytes`.
//! Each consumer touches every field and the name length so that nothing is
//! optimised away.
//!
//! Group `read_decode`: the published `inotify` crate has no decoder usable
//! without a system call (its event parser is crate-private and is reached
//! only through `read_events`), so all three are also measured reading the
//! same prepared bytes through a real descriptor and decoding them. The
//! descriptor is a pipe holding the prepared bytes, handed to each crate as
//! its instance fd (both crates take an `OwnedFd`): one `read(2)` returns the
//! whole buffer, exactly as an inotify read would. Refilling the pipe between
//! reads is not timed.
#![forbid(unsafe_code)]

#[cfg(target_os = "linux")]
mod imp {
    use std::fs::File;
    use std::hint::black_box;
    use std::io::{PipeWriter, Read, Write};
    use std::os::fd::OwnedFd;
    use std::time::{Duration, Instant};

    use benches::{PreparedEvents, decode_raw, prepared_events};
    use criterion::{BenchmarkGroup, Criterion, Throughput, measurement::WallTime};

    /// Stays below the 64 KiB default pipe capacity and read buffers.
    const BUFFER_BYTES: usize = 48 * 1024;

    pub fn run(c: &mut Criterion) {
        let prepared = prepared_events(BUFFER_BYTES);
        let bytes = &prepared.bytes[..];
        let records = prepared.records;

        let mut group = c.benchmark_group("decode");
        group.throughput(Throughput::Elements(records as u64));
        group.bench_function("raw", |b| {
            b.iter(|| {
                let mut sum = 0u64;
                let n = decode_raw(black_box(bytes), |e| {
                    sum += u64::from(e.mask ^ e.cookie) + e.wd as u64 + e.name.len() as u64;
                });
                assert_eq!(n, records);
                sum
            })
        });
        group.bench_function("ours", |b| {
            b.iter(|| {
                let (n, sum) = sum_ours(inotify::Events::from_bytes(black_box(bytes)));
                assert_eq!(n, records);
                sum
            })
        });
        group.finish();

        let mut group = c.benchmark_group("read_decode");
        group.throughput(Throughput::Elements(records as u64));
        read_decode_raw(&mut group, &prepared);
        read_decode_ours(&mut group, &prepared);
        read_decode_published(&mut group, &prepared);
        group.finish();
    }

    fn sum_ours(events: inotify::Events<'_>) -> (usize, u64) {
        let (mut n, mut sum) = (0, 0u64);
        for event in events {
            n += 1;
            match event.expect("well-formed prepared record") {
                inotify::Event::Watch(e) => {
                    sum += u64::from(e.mask.bits() ^ e.cookie)
                        + e.wd.raw() as u64
                        + e.name.map_or(0, |name| name.len() as u64);
                }
                inotify::Event::Overflow => sum += 1,
            }
        }
        (n, sum)
    }

    /// A pipe refilled with the prepared bytes before each timed read.
    struct Pipe {
        writer: PipeWriter,
        bytes: Vec<u8>,
    }

    impl Pipe {
        fn new(prepared: &PreparedEvents) -> (Pipe, OwnedFd) {
            let (reader, writer) = std::io::pipe().expect("pipe");
            let pipe = Pipe {
                writer,
                bytes: prepared.bytes.clone(),
            };
            (pipe, OwnedFd::from(reader))
        }

        /// Times `iters` refill-then-`read_decode` rounds, counting only the
        /// read and decode.
        fn time(&mut self, iters: u64, mut read_decode: impl FnMut() -> usize) -> Duration {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                self.writer.write_all(&self.bytes).expect("fill pipe");
                let start = Instant::now();
                black_box(read_decode());
                total += start.elapsed();
            }
            total
        }
    }

    fn read_decode_raw(group: &mut BenchmarkGroup<'_, WallTime>, prepared: &PreparedEvents) {
        let (mut pipe, fd) = Pipe::new(prepared);
        let mut file = File::from(fd);
        let mut buf = vec![0u8; 64 * 1024];
        let records = prepared.records;
        group.bench_function("raw", |b| {
            b.iter_custom(|iters| {
                pipe.time(iters, || {
                    let len = file.read(&mut buf).expect("read");
                    let mut sum = 0u64;
                    let n = decode_raw(&buf[..len], |e| {
                        sum += u64::from(e.mask ^ e.cookie) + e.wd as u64 + e.name.len() as u64;
                    });
                    assert_eq!(n, records);
                    black_box(sum);
                    n
                })
            })
        });
    }

    fn read_decode_ours(group: &mut BenchmarkGroup<'_, WallTime>, prepared: &PreparedEvents) {
        let (mut pipe, fd) = Pipe::new(prepared);
        let ino = inotify::Inotify::from(fd);
        let mut buf = inotify::EventBuffer::default();
        let records = prepared.records;
        group.bench_function("ours", |b| {
            b.iter_custom(|iters| {
                pipe.time(iters, || {
                    let (n, sum) = sum_ours(ino.read(&mut buf).expect("read"));
                    assert_eq!(n, records);
                    black_box(sum);
                    n
                })
            })
        });
    }

    fn read_decode_published(group: &mut BenchmarkGroup<'_, WallTime>, prepared: &PreparedEvents) {
        let (mut pipe, fd) = Pipe::new(prepared);
        let mut ino = inotify_published::Inotify::from(fd);
        let mut buf = vec![0u8; 64 * 1024];
        let records = prepared.records;
        group.bench_function("inotify-published", |b| {
            b.iter_custom(|iters| {
                pipe.time(iters, || {
                    let (mut n, mut sum) = (0, 0u64);
                    for e in ino.read_events(&mut buf).expect("read") {
                        n += 1;
                        sum += u64::from(e.mask.bits() ^ e.cookie)
                            + e.wd.get_watch_descriptor_id() as u64
                            + e.name.map_or(0, |name| name.len() as u64);
                    }
                    assert_eq!(n, records);
                    black_box(sum);
                    n
                })
            })
        });
    }
}

fn main() {
    #[cfg(target_os = "linux")]
    {
        let mut c = benches::criterion();
        imp::run(&mut c);
        c.final_summary();
    }
    #[cfg(not(target_os = "linux"))]
    eprintln!("decode: the inotify comparisons run on Linux only");
}
