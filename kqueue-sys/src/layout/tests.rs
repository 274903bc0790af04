//! Layout and constant checks for every system, run on any 64-bit host
//! (the expected offsets are those of the 64-bit ABIs).
#![cfg(target_pointer_width = "64")]

use core::mem::{align_of, offset_of, size_of};
use core::ptr;

const PTR: usize = size_of::<usize>();

#[test]
fn apple_kevent_is_packed_to_four_bytes() {
    use super::apple::{kevent, kevent64_s};
    assert_eq!(align_of::<kevent>(), 4);
    assert_eq!(offset_of!(kevent, filter), PTR);
    assert_eq!(offset_of!(kevent, flags), PTR + 2);
    assert_eq!(offset_of!(kevent, fflags), PTR + 4);
    assert_eq!(offset_of!(kevent, data), PTR + 8);
    assert_eq!(offset_of!(kevent, udata), 2 * PTR + 8);
    assert_eq!(size_of::<kevent>(), 3 * PTR + 8);
    assert_eq!(size_of::<kevent64_s>(), 48);
    assert_eq!(offset_of!(kevent64_s, data), 16);
    assert_eq!(offset_of!(kevent64_s, ext), 32);
}

#[test]
fn freebsd_kevent_has_ext_words() {
    use super::freebsd::kevent;
    assert_eq!(align_of::<kevent>(), 8);
    assert_eq!(offset_of!(kevent, data), 16);
    assert_eq!(offset_of!(kevent, udata), 24);
    assert_eq!(offset_of!(kevent, ext), 32);
    assert_eq!(size_of::<kevent>(), 64);
}

#[test]
fn freebsd11_kevent_has_pointer_sized_data_and_no_ext() {
    use super::freebsd11::kevent;
    assert_eq!(size_of::<kevent>(), 32);
    assert_eq!(offset_of!(kevent, data), 16);
    assert_eq!(offset_of!(kevent, udata), 24);
}

#[test]
fn openbsd_kevent_has_64_bit_data() {
    use super::openbsd::kevent;
    assert_eq!(offset_of!(kevent, filter), PTR);
    assert_eq!(offset_of!(kevent, data), 16);
    assert_eq!(offset_of!(kevent, udata), 24);
    assert_eq!(size_of::<kevent>(), 32);
}

#[test]
fn netbsd_kevent_has_32_bit_filter_and_flags() {
    use super::netbsd::kevent;
    assert_eq!(offset_of!(kevent, filter), PTR);
    assert_eq!(offset_of!(kevent, flags), PTR + 4);
    assert_eq!(offset_of!(kevent, fflags), PTR + 8);
    assert_eq!(offset_of!(kevent, data), 24);
    assert_eq!(size_of::<kevent>(), 40);
}

#[test]
fn dragonfly_and_libkqueue_have_pointer_sized_data() {
    assert_eq!(size_of::<super::dragonfly::kevent>(), 4 * PTR);
    assert_eq!(offset_of!(super::dragonfly::kevent, data), 2 * PTR);
    assert_eq!(size_of::<super::libkqueue::kevent>(), 4 * PTR);
    assert_eq!(offset_of!(super::libkqueue::kevent, data), 2 * PTR);
    assert_eq!(offset_of!(super::libkqueue::kevent, udata), 3 * PTR);
}

#[test]
fn filters_differ_where_the_headers_differ() {
    assert_eq!(super::apple::EVFILT_USER, -10);
    assert_eq!(super::freebsd::EVFILT_USER, -11);
    assert_eq!(super::openbsd::EVFILT_USER, -10);
    assert_eq!(super::netbsd::EVFILT_USER, 8);
    assert_eq!(super::dragonfly::EVFILT_USER, -9);
    assert_eq!(super::libkqueue::EVFILT_USER, -11);
    assert_eq!(super::netbsd::EVFILT_VNODE, 3);
    for vnode in [
        super::apple::EVFILT_VNODE,
        super::freebsd::EVFILT_VNODE,
        super::openbsd::EVFILT_VNODE,
        super::dragonfly::EVFILT_VNODE,
        super::libkqueue::EVFILT_VNODE,
    ] {
        assert_eq!(vnode, -4);
    }
}

#[test]
fn bit_0x80_means_something_different_per_system() {
    assert_eq!(super::apple::NOTE_NONE, 0x80);
    assert_eq!(super::freebsd::NOTE_OPEN, 0x80);
    assert_eq!(super::netbsd::NOTE_OPEN, 0x80);
    assert_eq!(super::openbsd::NOTE_TRUNCATE, 0x80);
    assert_eq!(super::libkqueue::NOTE_TRUNCATE, 0x80);
}

#[test]
fn timer_units_follow_each_header() {
    // macOS and libkqueue: bit flags, milliseconds by default.
    assert_eq!(
        (
            super::apple::NOTE_SECONDS,
            super::apple::NOTE_USECONDS,
            super::apple::NOTE_NSECONDS
        ),
        (1, 2, 4)
    );
    assert_eq!(
        (
            super::libkqueue::NOTE_SECONDS,
            super::libkqueue::NOTE_USECONDS,
            super::libkqueue::NOTE_NSECONDS
        ),
        (1, 2, 4)
    );
    // FreeBSD: bit flags with an explicit milliseconds bit.
    assert_eq!(super::freebsd::NOTE_MSECONDS, 2);
    assert_eq!(super::freebsd::NOTE_NSECONDS, 8);
    // NetBSD: an enumeration, milliseconds is zero.
    assert_eq!(super::netbsd::NOTE_MSECONDS, 0);
    assert_eq!(super::netbsd::NOTE_NSECONDS, 3);
}

#[test]
fn ev_set_zeroes_freebsd_ext_and_sets_every_field() {
    let udata = ptr::without_provenance_mut(0xdead_beef);
    let k = super::freebsd::ev_set(7, -4, 0x41, 0x2, -3, udata);
    assert_eq!(k.ident, 7);
    assert_eq!(k.filter, -4);
    assert_eq!(k.flags, 0x41);
    assert_eq!(k.fflags, 0x2);
    assert_eq!(k.data, -3);
    assert_eq!(k.udata.addr(), 0xdead_beef);
    assert_eq!(k.ext, [0; 4]);
}

#[test]
fn ev_set_sets_every_field_of_each_layout() {
    let udata = ptr::without_provenance_mut(42);
    let a = super::apple::ev_set(1, -4, 3, 4, 5, udata);
    // Packed: copy each field out before comparing.
    let (ident, filter, flags, fflags, data, ud) =
        (a.ident, a.filter, a.flags, a.fflags, a.data, a.udata);
    assert_eq!(
        (ident, filter, flags, fflags, data, ud.addr()),
        (1, -4, 3, 4, 5, 42)
    );

    let o = super::openbsd::ev_set(1, -4, 3, 4, 5, udata);
    assert_eq!(
        (o.ident, o.filter, o.flags, o.fflags, o.data, o.udata.addr()),
        (1, -4, 3, 4, 5, 42)
    );
    let n = super::netbsd::ev_set(1, 3, 3, 4, 5, udata);
    assert_eq!(
        (n.ident, n.filter, n.flags, n.fflags, n.data, n.udata.addr()),
        (1, 3, 3, 4, 5, 42)
    );
    let d = super::dragonfly::ev_set(1, -4, 3, 4, 5, udata);
    assert_eq!(
        (d.ident, d.filter, d.flags, d.fflags, d.data, d.udata.addr()),
        (1, -4, 3, 4, 5, 42)
    );
    let l = super::libkqueue::ev_set(1, -4, 3, 4, 5, udata);
    assert_eq!(
        (l.ident, l.filter, l.flags, l.fflags, l.data, l.udata.addr()),
        (1, -4, 3, 4, 5, 42)
    );

    let e = super::apple::ev_set64(1, -4, 3, 4, 5, 6, [7, 8]);
    assert_eq!((e.ident, e.udata, e.ext), (1, 6, [7, 8]));
}

#[test]
fn receipt_and_error_flags_agree_everywhere() {
    assert_eq!(super::apple::EV_RECEIPT, 0x40);
    assert_eq!(super::freebsd::EV_RECEIPT, 0x40);
    assert_eq!(super::openbsd::EV_RECEIPT, 0x40);
    assert_eq!(super::netbsd::EV_RECEIPT, 0x40);
    assert_eq!(super::dragonfly::EV_RECEIPT, 0x40);
    assert_eq!(super::libkqueue::EV_RECEIPT, 0x40);
    assert_eq!(super::apple::EV_ERROR, 0x4000);
    assert_eq!(super::netbsd::EV_ERROR, 0x4000);
    assert_eq!(super::libkqueue::EV_ERROR, 0x4000);
}
