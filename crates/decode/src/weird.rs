//! Packet-level anomalies, named exactly as Zeek names them in weird.log.

/// A packet-level weird. `name()` is Zeek's string for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Weird {
    pub name: &'static str,
    /// The packet was inside a tunnel: Zeek appends `_in_tunnel`.
    pub in_tunnel: bool,
}

impl Weird {
    pub const fn new(name: &'static str) -> Self {
        Weird {
            name,
            in_tunnel: false,
        }
    }

    pub fn name(&self) -> String {
        if self.in_tunnel {
            format!("{}_in_tunnel", self.name)
        } else {
            self.name.to_string()
        }
    }
}
