//! The history string and its "seen" bits.
//!
//! Letters are recorded upper case for the originator and lower case for the
//! responder. Each letter has one "seen" bit per role; the bits are not
//! swapped when roles flip (a Zeek quirk we reproduce).

/// One bit per letter kind; the responder's bits are shifted by 16.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Letter {
    Syn = 0,
    Fin = 1,
    Rst = 2,
    FinRst = 3,
    MultiFlag = 4,
    Data = 5,
    Ack = 6,
}

#[derive(Clone, Debug, Default)]
pub(crate) struct History {
    pub text: String,
    seen: u32,
}

impl History {
    fn bit(letter: Letter, is_orig: bool) -> u32 {
        (1u32 << letter as u32) << if is_orig { 0 } else { 16 }
    }

    fn code(c: u8, is_orig: bool) -> char {
        if is_orig {
            c as char
        } else {
            c.to_ascii_lowercase() as char
        }
    }

    /// Records `c` unless this letter was already seen for this role.
    /// Returns true when the letter had been seen before.
    pub fn check(&mut self, letter: Letter, c: u8, is_orig: bool) -> bool {
        let bit = Self::bit(letter, is_orig);
        if self.seen & bit == 0 {
            self.seen |= bit;
            self.text.push(Self::code(c, is_orig));
            false
        } else {
            true
        }
    }

    /// Appends a letter unconditionally (repeats, scaled letters).
    pub fn add(&mut self, c: u8, is_orig: bool) {
        self.text.push(Self::code(c, is_orig));
    }

    /// Appends a role-independent marker (`^`, `X`).
    pub fn mark(&mut self, c: char) {
        self.text.push(c);
    }
}

/// A logarithmic history counter: fires at the 1st, 10th, 100th ... event.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Scaled {
    count: u32,
    threshold: u32,
}

impl Default for Scaled {
    fn default() -> Self {
        Scaled {
            count: 0,
            threshold: 1,
        }
    }
}

impl Scaled {
    /// Counts one event; true when the letter is to be recorded.
    pub fn event(&mut self) -> bool {
        self.count = self.count.wrapping_add(1);
        if self.count != self.threshold {
            return false;
        }
        match self.threshold.checked_mul(10) {
            Some(t) => self.threshold = t,
            None => self.count = 0,
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scaled_fires_at_powers_of_ten() {
        let mut s = Scaled::default();
        let fired: Vec<u32> = (1..=1000).filter(|_| s.event()).collect();
        assert_eq!(fired.len(), 4);
    }

    #[test]
    fn letters_once_per_role() {
        let mut h = History::default();
        assert!(!h.check(Letter::Ack, b'A', true));
        assert!(h.check(Letter::Ack, b'A', true));
        assert!(!h.check(Letter::Ack, b'A', false));
        h.mark('^');
        assert_eq!(h.text, "Aa^");
    }
}
