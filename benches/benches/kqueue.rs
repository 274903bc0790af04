//! kqueue registration: add then delete an `EVFILT_VNODE` registration for
//! each of N directories, with one batched `kevent()` call each way
//! (`batch`, every change carrying `EV_RECEIPT`, via `Kqueue::apply`) versus
//! one `kevent()` call per descriptor (`per-fd`, via `Kqueue::apply_one`).
//! The directories are opened once, untimed; only registration is measured.
//!
//! Compiled where our `kqueue` crate has a kqueue: the BSDs and macOS, and
//! Linux with `--features libkqueue` (libkqueue installed). Elsewhere this
//! target only says that it was skipped. On macOS the default descriptor
//! limit (256) may stop N short; the bench then measures as many as opened
//! and says so.
#![forbid(unsafe_code)]

#[cfg(has_kqueue)]
mod imp {
    use benches::{Mode, TempDir, flat_dirs};
    use criterion::{BenchmarkId, Criterion, Throughput};
    use kqueue::{Change, Changes, Kqueue, Token, VnodeEvents, VnodeOptions, VnodeWatch};

    pub fn run(c: &mut Criterion) {
        for &n in Mode::current().sizes().registration {
            let tmp = TempDir::new("kqueue").expect("temp dir");
            let dirs = flat_dirs(tmp.path(), n).expect("create directories");
            let kq = Kqueue::new().expect("kqueue");
            let mut watches = Vec::with_capacity(n);
            for dir in &dirs {
                match VnodeWatch::open(&kq, dir, VnodeOptions::new().directory(true)) {
                    Ok(watch) => watches.push(watch),
                    Err(e) => {
                        eprintln!(
                            "kqueue: measuring {} of {n} directories: {e}",
                            watches.len()
                        );
                        break;
                    }
                }
            }
            let adds: Vec<Change> = watches
                .iter()
                .enumerate()
                .map(|(i, w)| w.change(VnodeEvents::classic(), Token(i)))
                .collect();
            let n = adds.len();
            let mut group = c.benchmark_group("kqueue_registration");
            group.throughput(Throughput::Elements(n as u64));
            let mut changes = Changes::with_capacity(n);
            group.bench_function(BenchmarkId::new("batch", n), |b| {
                b.iter(|| {
                    for add in &adds {
                        changes.push(*add);
                    }
                    assert!(kq.apply(&mut changes).expect("kevent").is_ok());
                    for add in &adds {
                        changes.push(add.to_delete());
                    }
                    assert!(kq.apply(&mut changes).expect("kevent").is_ok());
                })
            });
            group.bench_function(BenchmarkId::new("per-fd", n), |b| {
                b.iter(|| {
                    for add in &adds {
                        kq.apply_one(*add).expect("kevent");
                    }
                    for add in &adds {
                        kq.apply_one(add.to_delete()).expect("kevent");
                    }
                })
            });
            group.finish();
            drop(watches);
        }
    }
}

fn main() {
    #[cfg(has_kqueue)]
    {
        let mut c = benches::criterion();
        imp::run(&mut c);
        c.final_summary();
    }
    #[cfg(not(has_kqueue))]
    eprintln!("kqueue: skipped (no kqueue here; on Linux build with `--features libkqueue`)");
}
