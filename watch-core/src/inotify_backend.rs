//! The inotify backend: inotify.

use crate::backend::Driver;
use crate::{Backend, Config, Error};

/// Placeholder until the snapshot machinery lands.
pub(crate) struct InotifyDriver;

impl InotifyDriver {
    pub(crate) fn boxed(_config: Config) -> Result<Box<dyn Driver>, Error> {
        Err(Error::Unsupported {
            backend: Backend::Inotify,
            reason: "the inotify backend is not finished yet",
        })
    }
}
