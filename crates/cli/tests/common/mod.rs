//! Helpers shared by the integration tests that run the binary.

/// A `name: number` line of `--stats` (a trailing ` kB` is allowed).
pub fn stat(stderr: &str, name: &str) -> u64 {
    stderr
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{name}: ")))
        .unwrap_or_else(|| panic!("no '{name}' in the stats:\n{stderr}"))
        .trim()
        .trim_end_matches(" kB")
        .parse()
        .unwrap_or_else(|_| panic!("'{name}' is not a number:\n{stderr}"))
}
