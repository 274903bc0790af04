//! The poll backend: periodic rescans diffed against the last snapshot.

use crate::backend::Driver;
use crate::{Backend, Config, Error};

/// Placeholder until the snapshot machinery lands.
pub(crate) struct PollDriver;

impl PollDriver {
    pub(crate) fn boxed(_config: Config) -> Result<Box<dyn Driver>, Error> {
        Err(Error::Unsupported {
            backend: Backend::Poll,
            reason: "the poll backend is not finished yet",
        })
    }
}
