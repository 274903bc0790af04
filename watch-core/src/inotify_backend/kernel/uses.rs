//! Who uses each watch of the instance, by the kernel's descriptor number.

use std::collections::HashMap;

use super::{Use, Users, Wd};
use crate::fast_hash::FastHash;

/// Who uses each watch, by the kernel's descriptor number.
///
/// One instance numbers its watches in sequence (a number is not handed
/// out again before the counter wraps), so a tree's watches hold runs of
/// consecutive numbers. The table is paged on that: a number's high bits
/// find a page of [`PAGE`] slots in a small map, its low bits the slot.
/// A tree then costs about one [`Users`] (24 bytes) per watch, where a hash
/// map keyed by the number paid for its spare capacity and the key (about
/// 55 bytes per watch at 10,000 directories). A page is freed with its
/// last watch, so adding and removing watches keeps the table as large as
/// the pages that still hold one; any number the kernel returns, negative
/// or past `i32::MAX / PAGE` pages, lands in some page.
#[derive(Default)]
pub(in crate::inotify_backend) struct Uses {
    pages: HashMap<u32, Page, FastHash>,
    /// Watches held, over all pages.
    len: usize,
}

/// Slots per page of [`Uses`]: one bit each in [`Page::held`].
const PAGE: usize = 64;

/// [`PAGE`] consecutive watch numbers of [`Uses`].
struct Page {
    /// Which slots hold a watch (a slot's bit is set for as long as the
    /// watch is in the table, even while its `Users` is empty, as a map's
    /// entry would be).
    held: u64,
    slots: Box<[Users; PAGE]>,
}

/// The page a watch number is on, and its slot there.
fn page_of(wd: &Wd) -> (u32, usize) {
    // The number's bits as they are: any `i32` has a place.
    let n = wd.raw().cast_unsigned();
    (n / PAGE as u32, (n % PAGE as u32) as usize)
}

impl Uses {
    pub(in crate::inotify_backend) fn get(&self, wd: &Wd) -> Option<&Users> {
        let (page, slot) = page_of(wd);
        let page = self.pages.get(&page)?;
        (page.held & 1 << slot != 0).then(|| &page.slots[slot])
    }

    pub(in crate::inotify_backend) fn get_mut(&mut self, wd: &Wd) -> Option<&mut Users> {
        let (page, slot) = page_of(wd);
        let page = self.pages.get_mut(&page)?;
        (page.held & 1 << slot != 0).then(|| &mut page.slots[slot])
    }

    pub(in crate::inotify_backend) fn remove(&mut self, wd: &Wd) -> Option<Users> {
        let (n, slot) = page_of(wd);
        let page = self.pages.get_mut(&n)?;
        if page.held & 1 << slot == 0 {
            return None;
        }
        page.held &= !(1 << slot);
        self.len -= 1;
        let users = std::mem::take(&mut page.slots[slot]);
        if page.held == 0 {
            self.pages.remove(&n);
        }
        Some(users)
    }

    /// Adds `user` to the users of `wd`.
    pub(in crate::inotify_backend) fn insert(&mut self, wd: Wd, user: Use) {
        let (n, slot) = page_of(&wd);
        let page = self.pages.entry(n).or_insert_with(|| Page {
            held: 0,
            slots: Box::new([const { Users::None }; PAGE]),
        });
        if page.held & 1 << slot == 0 {
            page.held |= 1 << slot;
            self.len += 1;
        }
        page.slots[slot].insert(user);
    }

    /// How many watches are in use.
    pub(in crate::inotify_backend) fn len(&self) -> usize {
        self.len
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::root_layer::Role;

    #[test]
    fn uses_take_any_number_and_free_a_page_with_its_last_watch() {
        let user = |root| Use {
            root,
            role: Role::Tree(Path::new("d").into()),
        };
        let mut uses = Uses::default();
        // A run of numbers, as a tree gets, then the numbers at the edges
        // of the range (and next to them), which the kernel never returns
        // but which must not break the table.
        let mut numbers: Vec<i32> = (1..=300).collect();
        numbers.extend([0, -1, -2, i32::MIN, i32::MIN + 1, i32::MAX, i32::MAX - 1]);
        for (i, &n) in numbers.iter().enumerate() {
            assert!(uses.get(&Wd(n)).is_none());
            uses.insert(Wd(n), user(i));
            assert_eq!(uses.len(), i + 1);
        }
        for (i, &n) in numbers.iter().enumerate() {
            let mut out = Vec::new();
            uses.get(&Wd(n)).unwrap().copy_into(&mut out);
            assert_eq!(out, [user(i)], "{n}");
        }
        // A second use of one watch is one watch.
        uses.insert(Wd(7), user(1000));
        assert_eq!(uses.len(), numbers.len());
        // A watch whose uses went away stays until it is removed, as a
        // map's entry would.
        let users = uses.get_mut(&Wd(7)).unwrap();
        users.remove(&user(6));
        users.remove(&user(1000));
        assert!(uses.get(&Wd(7)).is_some_and(Users::is_empty));
        assert!(uses.remove(&Wd(7)).is_some_and(|u| u.is_empty()));
        assert!(uses.remove(&Wd(7)).is_none());
        assert!(uses.get(&Wd(7)).is_none());
        // Neighbours on its page are untouched.
        assert!(uses.get(&Wd(8)).is_some_and(|u| !u.is_empty()));
        for &n in &numbers {
            if n != 7 {
                assert!(uses.remove(&Wd(n)).is_some_and(|u| !u.is_empty()), "{n}");
            }
        }
        assert_eq!(uses.len(), 0);
        assert!(uses.pages.is_empty());
        // Adding and removing, as numbers move on: one page at a time.
        for n in 1_000..2_000 {
            uses.insert(Wd(n), user(0));
            uses.remove(&Wd(n));
            assert!(uses.pages.is_empty());
        }
        assert!(uses.pages.is_empty());
    }
}
