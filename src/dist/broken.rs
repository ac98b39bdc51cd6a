//! A store's failure of its job (spec §6, faults): once a peer is lost, every later call
//! on the store fails at once with the first call's message instead of waiting again.

use parking_lot::Mutex;

use crate::error::{Error, Result};

/// The first failure of a store's job, if any.
#[derive(Default)]
pub struct Broken(Mutex<Option<Error>>);

impl Broken {
    /// Runs `f` unless the store already failed; a failure of the job (an error of the
    /// distributed engine, not the caller's bad input) breaks the store.
    pub fn guard<T>(&self, f: impl FnOnce() -> Result<T>) -> Result<T> {
        if let Some(e) = self.0.lock().clone() {
            return Err(e);
        }
        f().inspect_err(|e| {
            if matches!(e, Error::Dist(_)) {
                self.0.lock().get_or_insert_with(|| e.clone());
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_failure_of_the_job_is_repeated_and_bad_input_is_not() {
        let broken = Broken::default();
        assert_eq!(broken.guard(|| Ok(1)).unwrap(), 1);
        let bad = broken.guard(|| Err::<(), _>(Error::invalid("bad input")));
        assert!(bad.is_err());
        assert_eq!(
            broken.guard(|| Ok(2)).unwrap(),
            2,
            "bad input breaks nothing"
        );
        let lost = broken.guard(|| Err::<(), _>(Error::Dist("rank 2 is lost".into())));
        assert_eq!(lost.unwrap_err().to_string(), "rank 2 is lost");
        let mut ran = false;
        let again = broken.guard(|| {
            ran = true;
            Ok(())
        });
        assert!(!ran, "later calls do not run");
        assert_eq!(again.unwrap_err().to_string(), "rank 2 is lost");
        let other = broken.guard(|| Err::<(), _>(Error::Dist("another".into())));
        assert_eq!(other.unwrap_err().to_string(), "rank 2 is lost");
    }
}
