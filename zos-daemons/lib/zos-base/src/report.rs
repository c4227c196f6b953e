//! Errors shown with their causes. The house rule is that an error's message never repeats its
//! `#[source]`, so each cause is printed once: by [`Report`] where an error becomes text (a
//! reply, a bus error, a console line), by tracing's error fields in logs.

use std::error::Error;
use std::fmt;

/// `error: cause: cause ...`, each message once.
pub struct Report<'a>(pub &'a (dyn Error + 'a));

impl fmt::Display for Report<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)?;
        let mut cause = self.0.source();
        while let Some(e) = cause {
            write!(f, ": {e}")?;
            cause = e.source();
        }
        Ok(())
    }
}

impl fmt::Debug for Report<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// [`Report`] as a string.
pub fn report(error: &dyn Error) -> String {
    Report(error).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Outer(std::io::Error);

    impl fmt::Display for Outer {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("reading /etc/x")
        }
    }

    impl Error for Outer {
        fn source(&self) -> Option<&(dyn Error + 'static)> {
            Some(&self.0)
        }
    }

    #[test]
    fn every_cause_once_in_order() {
        let e = Outer(std::io::Error::new(
            std::io::ErrorKind::NotFound,
            "no such file",
        ));
        assert_eq!(report(&e), "reading /etc/x: no such file");
        let plain = std::io::Error::other("plain");
        assert_eq!(report(&plain), "plain");
    }
}
