//! The specification's validation codes and the findings that carry them.

use std::fmt;

macro_rules! codes {
    ($($code:ident),* $(,)?) => {
        /// A validation code from the OCFL 1.0 or 1.1 validation-code tables
        /// (`E...` errors for MUST, `W...` warnings for SHOULD).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        #[allow(missing_docs)]
        pub enum Code { $($code),* }

        impl Code {
            /// Every code of both tables.
            pub const ALL: &'static [Code] = &[$(Code::$code),*];

            /// The code as the tables write it, e.g. `"E040"`.
            pub fn as_str(self) -> &'static str {
                match self { $(Code::$code => stringify!($code)),* }
            }
        }
    };
}

codes! {
    E001, E002, E003, E004, E005, E006, E007, E008, E009, E010, E011, E012, E013, E014, E015,
    E016, E017, E018, E019, E020, E021, E022, E023, E024, E025, E026, E027, E028, E029, E030,
    E031, E032, E033, E034, E035, E036, E037, E038, E039, E040, E041, E042, E043, E044, E045,
    E046, E047, E048, E049, E050, E051, E052, E053, E054, E055, E056, E057, E058, E059, E060,
    E061, E062, E063, E064, E066, E067, E068, E069, E070, E071, E072, E073, E074, E075, E076,
    E077, E078, E079, E080, E081, E082, E083, E084, E085, E086, E087, E088, E089, E090, E091,
    E092, E093, E094, E095, E096, E097, E098, E099, E100, E101, E102, E103, E104, E105, E106,
    E107, E108, E110, E111, E112,
    W001, W002, W003, W004, W005, W007, W008, W009, W010, W011, W012, W013, W014, W015, W016,
}

/// Whether a finding makes the object invalid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// A MUST was broken: the object or root is invalid.
    Error,
    /// A SHOULD was not followed: still valid.
    Warning,
}

impl Code {
    /// `Error` for `E` codes, `Warning` for `W` codes.
    pub fn severity(self) -> Severity {
        if self.as_str().starts_with('E') {
            Severity::Error
        } else {
            Severity::Warning
        }
    }

    /// The code named by `s` (e.g. `"W004"`), if it is in either table.
    pub fn parse(s: &str) -> Option<Code> {
        Code::ALL.iter().copied().find(|c| c.as_str() == s)
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One problem found by validation: its code, a message naming what is wrong and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// The specification's code.
    pub code: Code,
    /// A human-readable explanation naming the file, key or path involved.
    pub message: String,
}

impl Finding {
    /// A finding with `code` and `message`.
    pub fn new(code: Code, message: impl Into<String>) -> Finding {
        Finding {
            code,
            message: message.into(),
        }
    }

    /// Error or warning, from the code.
    pub fn severity(&self) -> Severity {
        self.code.severity()
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{}] {}", self.code, self.message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_parse_and_classify() {
        assert_eq!(Code::parse("E040"), Some(Code::E040));
        assert_eq!(Code::parse("W016"), Some(Code::W016));
        assert_eq!(Code::parse("E065"), None);
        assert_eq!(Code::E112.severity(), Severity::Error);
        assert_eq!(Code::W001.severity(), Severity::Warning);
        assert_eq!(Code::ALL.len(), 125);
    }
}
