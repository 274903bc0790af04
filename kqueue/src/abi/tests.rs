//! Encoding and decoding for every layout, from hand-made `kevent` values.

use std::ptr;

use proptest::prelude::*;

use super::*;
use crate::flags::VnodeEvents;
use kqueue_sys::layout::{apple, dragonfly, freebsd, libkqueue, netbsd, openbsd};

fn vnode_change() -> Change {
    Change::new(
        17,
        Filter::Vnode,
        EventFlags::ADD | EventFlags::CLEAR | EventFlags::RECEIPT,
        (VnodeEvents::WRITE | VnodeEvents::DELETE).bits(),
        0,
        Token(0xABCD),
    )
}

#[test]
fn apple_encodes_into_the_packed_struct() {
    let k = Apple::encode(&vnode_change());
    let (ident, filter, flags, fflags, udata) = (k.ident, k.filter, k.flags, k.fflags, k.udata);
    assert_eq!(ident, 17);
    assert_eq!(filter, apple::EVFILT_VNODE);
    assert_eq!(flags, apple::EV_ADD | apple::EV_CLEAR | apple::EV_RECEIPT);
    assert_eq!(fflags, apple::NOTE_WRITE | apple::NOTE_DELETE);
    assert_eq!(udata.addr(), 0xABCD);
}

#[test]
fn freebsd_encoding_zeroes_ext() {
    let k = FreeBsd::encode(&vnode_change());
    assert_eq!(k.filter, freebsd::EVFILT_VNODE);
    assert_eq!(k.ext, [0; 4]);
    assert_eq!(k.udata.addr(), 0xABCD);
}

#[test]
fn netbsd_uses_its_own_filter_numbers() {
    let k = NetBsd::encode(&vnode_change());
    assert_eq!(k.filter, netbsd::EVFILT_VNODE);
    assert_eq!(
        k.flags,
        netbsd::EV_ADD | netbsd::EV_CLEAR | netbsd::EV_RECEIPT
    );
    let user = NetBsd::encode(&Change::user(3, Token(1)));
    assert_eq!(user.filter, netbsd::EVFILT_USER);
    let read = NetBsd::encode(&Change::new(
        0,
        Filter::Read,
        EventFlags::ADD,
        0,
        0,
        Token(0),
    ));
    assert_eq!(read.filter, 0);
}

#[test]
fn user_filter_number_follows_each_system() {
    let c = Change::user(1, Token(0));
    assert_eq!(Apple::encode(&c).filter, apple::EVFILT_USER);
    assert_eq!(FreeBsd::encode(&c).filter, freebsd::EVFILT_USER);
    assert_eq!(OpenBsd::encode(&c).filter, openbsd::EVFILT_USER);
    assert_eq!(DragonFly::encode(&c).filter, dragonfly::EVFILT_USER);
    assert_eq!(LibKqueue::encode(&c).filter, libkqueue::EVFILT_USER);
    assert_eq!(LibKqueue::encode(&c).filter, -11);
    let t = Change::trigger(1, Token(0));
    assert_eq!(FreeBsd::encode(&t).fflags, freebsd::NOTE_TRIGGER);
    assert_eq!(LibKqueue::encode(&t).fflags, libkqueue::NOTE_TRIGGER);
}

#[test]
fn decodes_a_hand_made_vnode_event_for_every_layout() {
    let udata = ptr::without_provenance_mut(42);
    let fired = apple::NOTE_WRITE | apple::NOTE_EXTEND;
    let events = [
        Apple::decode(&apple::ev_set(
            5,
            apple::EVFILT_VNODE,
            apple::EV_CLEAR,
            fired,
            0,
            udata,
        )),
        FreeBsd::decode(&freebsd::ev_set(
            5,
            freebsd::EVFILT_VNODE,
            freebsd::EV_CLEAR,
            fired,
            0,
            udata,
        )),
        OpenBsd::decode(&openbsd::ev_set(
            5,
            openbsd::EVFILT_VNODE,
            openbsd::EV_CLEAR,
            fired,
            0,
            udata,
        )),
        NetBsd::decode(&netbsd::ev_set(
            5,
            netbsd::EVFILT_VNODE,
            netbsd::EV_CLEAR,
            fired,
            0,
            udata,
        )),
        DragonFly::decode(&dragonfly::ev_set(
            5,
            dragonfly::EVFILT_VNODE,
            dragonfly::EV_CLEAR,
            fired,
            0,
            udata,
        )),
        LibKqueue::decode(&libkqueue::ev_set(
            5,
            libkqueue::EVFILT_VNODE,
            libkqueue::EV_CLEAR,
            fired,
            0,
            udata,
        )),
    ];
    for ev in events {
        assert_eq!(ev.filter(), Filter::Vnode);
        assert_eq!(ev.token(), Token(42));
        assert_eq!(ev.ident(), 5);
        assert_eq!(ev.vnode(), Some(VnodeEvents::WRITE | VnodeEvents::EXTEND));
        assert!(ev.flags().contains(EventFlags::CLEAR));
        assert!(ev.error().is_none());
    }
}

#[test]
fn unknown_notes_and_flags_are_kept() {
    // 0x80 is NOTE_OPEN on FreeBSD, NOTE_TRUNCATE on OpenBSD, NOTE_NONE on
    // macOS; 0x4000_0000 is defined nowhere for vnodes.
    let raw = 0x4000_0080 | freebsd::NOTE_DELETE;
    let k = freebsd::ev_set(
        1,
        freebsd::EVFILT_VNODE,
        0x0800 | freebsd::EV_EOF,
        raw,
        0,
        ptr::null_mut(),
    );
    let ev = FreeBsd::decode(&k);
    assert_eq!(ev.fflags(), raw);
    assert_eq!(ev.vnode().map(|v| v.bits()), Some(raw));
    assert!(ev.vnode().is_some_and(|v| v.contains(VnodeEvents::DELETE)));
    assert_eq!(ev.flags().bits(), 0x0800 | 0x8000);
    assert!(ev.is_eof());
}

#[test]
fn unknown_filters_decode_to_unknown_with_their_number() {
    let k = apple::ev_set(1, apple::EVFILT_VM, 0, 0, 0, ptr::null_mut());
    assert_eq!(Apple::decode(&k).filter(), Filter::Unknown(-12));
    let k = netbsd::ev_set(1, 77, 0, 0, 0, ptr::null_mut());
    assert_eq!(NetBsd::decode(&k).filter(), Filter::Unknown(77));
    let k = openbsd::ev_set(1, openbsd::EVFILT_DEVICE, 0, 0, 0, ptr::null_mut());
    assert_eq!(OpenBsd::decode(&k).filter(), Filter::Unknown(-8));
    // Same number, different meaning: -8 is EVFILT_EXCEPT on DragonFly.
    let k = dragonfly::ev_set(1, dragonfly::EVFILT_USER, 0, 0, 0, ptr::null_mut());
    assert_eq!(DragonFly::decode(&k).filter(), Filter::User);
}

#[test]
fn receipts_report_errno_only_when_nonzero() {
    let ok = FreeBsd::decode(&freebsd::ev_set(
        3,
        freebsd::EVFILT_VNODE,
        freebsd::EV_ERROR,
        0,
        0,
        ptr::null_mut(),
    ));
    assert_eq!(ok.error(), None);
    let bad = FreeBsd::decode(&freebsd::ev_set(
        3,
        freebsd::EVFILT_VNODE,
        freebsd::EV_ERROR,
        0,
        i64::from(libc::EBADF),
        ptr::null_mut(),
    ));
    assert_eq!(bad.error(), Some(libc::EBADF));
    // libkqueue repeats registration flags next to EV_ERROR.
    let lk = LibKqueue::decode(&libkqueue::ev_set(
        3,
        libkqueue::EVFILT_VNODE,
        libkqueue::EV_ERROR | libkqueue::EV_ADD | libkqueue::EV_RECEIPT,
        0,
        libc::ENOENT as isize,
        ptr::null_mut(),
    ));
    assert_eq!(lk.error(), Some(libc::ENOENT));
}

#[test]
fn large_data_is_clamped_on_pointer_sized_layouts() {
    let c = Change::timer(1, std::time::Duration::MAX, Token(0));
    assert_eq!(c.data(), i64::MAX);
    let k = Apple::encode(&c);
    let data = k.data;
    assert_eq!(data as i64, isize::MAX as i64);
    assert_eq!(FreeBsd::encode(&c).data, i64::MAX);
}

#[test]
fn out_of_range_filters_become_invalid_numbers() {
    let c = Change::new(0, Filter::Unknown(100_000), EventFlags::ADD, 0, 0, Token(0));
    assert_eq!(FreeBsd::encode(&c).filter, i16::MIN);
}

fn any_filter() -> impl Strategy<Value = Filter> {
    prop_oneof![
        Just(Filter::Read),
        Just(Filter::Write),
        Just(Filter::Aio),
        Just(Filter::Vnode),
        Just(Filter::Proc),
        Just(Filter::Signal),
        Just(Filter::Timer),
        Just(Filter::User),
    ]
}

fn round_trip<A: Abi>(c: &Change) -> Event {
    A::decode(&A::encode(c))
}

proptest! {
    #[test]
    fn named_changes_round_trip_on_every_layout(
        ident in any::<usize>(),
        filter in any_filter(),
        flags in any::<u16>(),
        fflags in any::<u32>(),
        data in any::<i32>(),
        token in any::<usize>(),
    ) {
        let c = Change::new(
            ident,
            filter,
            EventFlags::from_bits_retain(u32::from(flags)),
            fflags,
            i64::from(data),
            Token(token),
        );
        for ev in [
            round_trip::<Apple>(&c),
            round_trip::<FreeBsd>(&c),
            round_trip::<FreeBsd11>(&c),
            round_trip::<OpenBsd>(&c),
            round_trip::<NetBsd>(&c),
            round_trip::<DragonFly>(&c),
            round_trip::<LibKqueue>(&c),
        ] {
            prop_assert_eq!(ev.ident(), ident);
            prop_assert_eq!(ev.filter(), filter);
            prop_assert_eq!(ev.flags().bits(), u32::from(flags));
            prop_assert_eq!(ev.fflags(), fflags);
            prop_assert_eq!(ev.data(), i64::from(data));
            prop_assert_eq!(ev.token(), Token(token));
        }
    }

    #[test]
    fn any_raw_event_decodes_without_panicking(
        ident in any::<usize>(),
        filter in any::<i16>(),
        nfilter in any::<u32>(),
        flags in any::<u16>(),
        fflags in any::<u32>(),
        data in any::<i64>(),
        udata in any::<usize>(),
    ) {
        let p = ptr::without_provenance_mut(udata);
        let a = Apple::decode(&apple::ev_set(ident, filter, flags, fflags, data as isize, p));
        let f = FreeBsd::decode(&freebsd::ev_set(ident, filter, flags, fflags, data, p));
        let n = NetBsd::decode(&netbsd::ev_set(ident, nfilter, u32::from(flags), fflags, data, p));
        for ev in [a, f, n] {
            prop_assert_eq!(ev.token(), Token(udata));
            prop_assert_eq!(ev.fflags(), fflags);
            if let Filter::Unknown(raw) = ev.filter() {
                prop_assert!(raw == i32::from(filter) || raw == nfilter as i32);
            }
        }
        // Unknown numbers survive re-encoding.
        let again = NetBsd::encode(&Change::new(
            n.ident(), n.filter(), n.flags(), n.fflags(), n.data(), n.token(),
        ));
        prop_assert_eq!(again.filter, nfilter);
    }
}
