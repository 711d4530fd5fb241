//! The history string and its "seen" bits.
//!
//! Letters are recorded upper case for the originator and lower case for the
//! responder. Each letter has one "seen" bit per role; the bits are not
//! swapped when roles flip (a Zeek quirk we reproduce).

/// One bit per letter kind; the responder's bits are shifted by 8.
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

/// Letters a history keeps inline.
const INLINE: usize = 15;

/// The history of one connection, 16 bytes: up to 15 letters inline (no
/// heap allocation for the histories nearly every connection has: a full
/// handshake, data both ways and a FIN exchange is 8), a longer one on the
/// heap. Letters are ASCII and never NUL, so the inline text ends at its
/// first zero byte.
#[derive(Clone, Debug)]
pub(crate) enum History {
    Inline([u8; INLINE]),
    // A thin pointer: `Box<str>` or `String` would make the enum 24 bytes.
    #[allow(clippy::box_collection)]
    Heap(Box<String>),
}

impl Default for History {
    fn default() -> Self {
        History::Inline([0; INLINE])
    }
}

impl PartialEq<&str> for History {
    fn eq(&self, other: &&str) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

/// The "seen" bits of a history's letters, one per letter kind and role.
/// Kept beside the history in the connection rather than in it: apart, the
/// 24-byte text and these 2 bytes pack without the 6 bytes of padding a
/// struct of both would take.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Seen(u16);

impl Seen {
    fn bit(letter: Letter, is_orig: bool) -> u16 {
        (1u16 << letter as u16) << if is_orig { 0 } else { 8 }
    }
}

impl History {
    fn code(c: u8, is_orig: bool) -> u8 {
        if is_orig {
            c
        } else {
            c.to_ascii_lowercase()
        }
    }

    /// The letters (ASCII), for the per-packet checks: no UTF-8
    /// validation.
    fn as_bytes(&self) -> &[u8] {
        match self {
            History::Inline(buf) => {
                let n = buf.iter().position(|&b| b == 0).unwrap_or(INLINE);
                &buf[..n]
            }
            History::Heap(s) => s.as_bytes(),
        }
    }

    pub fn as_str(&self) -> &str {
        // Only ASCII letters are ever pushed.
        std::str::from_utf8(self.as_bytes()).unwrap_or_default()
    }

    pub fn contains(&self, c: u8) -> bool {
        self.as_bytes().contains(&c)
    }

    pub fn clear(&mut self) {
        *self = History::default();
    }

    fn push(&mut self, b: u8) {
        debug_assert!(b.is_ascii() && b != 0);
        match self {
            History::Inline(buf) => match buf.iter().position(|&x| x == 0) {
                Some(n) => buf[n] = b,
                None => {
                    let mut s = String::with_capacity(2 * INLINE);
                    s.push_str(std::str::from_utf8(buf).unwrap_or_default());
                    s.push(b as char);
                    *self = History::Heap(Box::new(s));
                }
            },
            History::Heap(s) => s.push(b as char),
        }
    }

    pub fn push_str(&mut self, s: &str) {
        for b in s.bytes() {
            self.push(b);
        }
    }

    /// Records `c` unless this letter was already seen for this role.
    /// Returns true when the letter had been seen before.
    pub fn check(&mut self, seen: &mut Seen, letter: Letter, c: u8, is_orig: bool) -> bool {
        let bit = Seen::bit(letter, is_orig);
        if seen.0 & bit == 0 {
            seen.0 |= bit;
            self.push(Self::code(c, is_orig));
            false
        } else {
            true
        }
    }

    /// Appends a letter unconditionally (repeats, scaled letters).
    pub fn add(&mut self, c: u8, is_orig: bool) {
        self.push(Self::code(c, is_orig));
    }

    /// Appends a role-independent marker (`^`, `X`).
    pub fn mark(&mut self, c: char) {
        self.push(c as u8);
    }
}

/// A logarithmic history counter (Zeek's scaled history entries): fires at
/// the 1st, 10th, 100th ... event. Only the count is kept: the threshold is
/// the next power of ten above it. Past 10^9 the threshold cannot grow in
/// 32 bits, so the count restarts with the top bit set and fires at every
/// further 10^9 events.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Scaled(u32);

const SATURATED: u32 = 1 << 31;
const TOP_THRESHOLD: u32 = 1_000_000_000;

impl Scaled {
    pub const ZERO: Scaled = Scaled(0);

    /// Counts one event; true when the letter is to be recorded.
    pub fn event(&mut self) -> bool {
        let saturated = self.0 & SATURATED;
        let count = (self.0 & !SATURATED) + 1;
        if count == TOP_THRESHOLD {
            self.0 = SATURATED;
            return true;
        }
        self.0 = saturated | count;
        saturated == 0 && is_power_of_ten(count)
    }
}

fn is_power_of_ten(mut n: u32) -> bool {
    while n >= 10 && n % 10 == 0 {
        n /= 10;
    }
    n == 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scaled_fires_at_powers_of_ten() {
        let mut s = Scaled::default();
        let fired: Vec<u32> = (1..=100_000).filter(|_| s.event()).collect();
        assert_eq!(fired, vec![1, 10, 100, 1000, 10_000, 100_000]);
    }

    #[test]
    fn scaled_keeps_firing_every_billion_once_the_threshold_is_saturated() {
        let mut s = Scaled(TOP_THRESHOLD - 1);
        assert!(s.event(), "the 10^9th event fires");
        assert!(!s.event(), "not at 1 again");
        let mut s = Scaled(SATURATED | (TOP_THRESHOLD - 2));
        assert!(!s.event());
        assert!(s.event(), "and then every further 10^9 events");
    }

    #[test]
    fn letters_once_per_role() {
        let (mut h, mut seen) = (History::default(), Seen::default());
        assert!(!h.check(&mut seen, Letter::Ack, b'A', true));
        assert!(h.check(&mut seen, Letter::Ack, b'A', true));
        assert!(!h.check(&mut seen, Letter::Ack, b'A', false));
        h.mark('^');
        assert_eq!(h.as_str(), "Aa^");
    }

    #[test]
    fn long_histories_move_to_the_heap_intact() {
        let mut h = History::default();
        let letters = "ShADadtTwWcCgGiIqQ";
        for (i, b) in letters.bytes().enumerate() {
            h.add(b.to_ascii_uppercase(), b.is_ascii_uppercase());
            assert_eq!(h.as_str(), &letters[..=i]);
            assert_eq!(matches!(h, History::Inline(_)), i < INLINE, "at {i}");
        }
        assert!(h.contains(b'q') && !h.contains(b'X'));
        h.clear();
        assert_eq!(h.as_str(), "");
        h.push_str("^h");
        assert!(h == "^h");
        assert_eq!(std::mem::size_of::<History>(), 16);
    }
}
