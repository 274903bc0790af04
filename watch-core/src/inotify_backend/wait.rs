//! Waiting for the instance, and `sync`: the cookie written into a watched
//! directory and the events processed until it is seen.

use std::io;
use std::time::{Duration, Instant};

use super::{InotifyDriver, MountTable};
use crate::Error;
use crate::root_layer::{Emit, write_cookie};

impl InotifyDriver {
    /// Polls the instance, the waker and the mount table; remembers a mount
    /// table change, which a poll reports only once.
    pub(super) fn ready(&mut self, timeout: Option<Duration>) -> Result<inotify::Readiness, Error> {
        let ready = self
            .kernel
            .ino
            .wait_for(
                Some(&self.wake),
                self.mounts.as_ref().map(MountTable::as_fd),
                timeout,
            )
            .map_err(|e| Error::io(None, io::Error::from(e)))?;
        self.remount_pending |= ready.priority;
        Ok(ready)
    }

    /// Writes one sync cookie and expects it. One is enough: the
    /// kernel queues all of an instance's events in one ordered queue, so
    /// the cookie's event comes after every event of every root caused
    /// before it.
    pub(super) fn write_cookie(&mut self) -> Result<(), Error> {
        if let Some((name, _)) = write_cookie(&self.roots)? {
            self.cookies_expected.insert(name);
        }
        Ok(())
    }

    /// Writes a cookie and processes events until one of this sync's
    /// cookies is seen: each was written after the call began, so seeing
    /// any of them means every earlier change has been processed. When the
    /// watches move meanwhile (overflow rescan, a swapped symlink) a cookie
    /// may have gone unseen, so another one is written.
    pub(super) fn sync_inner(
        &mut self,
        out: &mut Emit<'_>,
        deadline: Instant,
    ) -> Result<(), Error> {
        // Watches may have been freed where we cannot see it (another
        // process, a raised limit): try the blocked directories again.
        self.kernel.freed = true;
        let mut epoch = self.kernel.epoch;
        self.write_cookie()?;
        loop {
            self.drain(out)?;
            if !self.cookies_seen.is_empty() || self.cookies_expected.is_empty() {
                // Everything before the cookie is processed: paths are current.
                self.caught_up(out);
                return Ok(());
            }
            if self.kernel.epoch != epoch {
                epoch = self.kernel.epoch;
                self.write_cookie()?;
                continue;
            }
            if !self.wait(Some(deadline))? {
                return Err(Error::SyncTimeout {
                    waited: Default::default(),
                });
            }
        }
    }

    /// Like [`wait`](Self::wait), also ending when woken: `None` on timeout
    /// or wake-up (which is consumed), else whether events are queued (if
    /// not, the mount table changed).
    pub(super) fn wait_or_woken(
        &mut self,
        deadline: Option<Instant>,
    ) -> Result<Option<bool>, Error> {
        let timeout = deadline.map(|d| d.saturating_duration_since(Instant::now()));
        let ready = self.ready(timeout)?;
        if ready.woken {
            self.wake
                .reset()
                .map_err(|e| Error::io(None, io::Error::from(e)))?;
            return Ok(None);
        }
        Ok((ready.events || ready.priority).then_some(ready.events))
    }

    /// Waits until events are queued or the mount table changed: `false` on
    /// timeout.
    pub(super) fn wait(&mut self, deadline: Option<Instant>) -> Result<bool, Error> {
        let timeout = match deadline {
            None => None,
            Some(d) => {
                let now = Instant::now();
                if d <= now {
                    return Ok(false);
                }
                Some(d - now)
            }
        };
        let ready = self.ready(timeout)?;
        Ok(ready.events || ready.priority)
    }
}
