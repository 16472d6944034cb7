//! Process CPU time, shared by the measuring examples (`speed`, `tiles`): robust on a shared,
//! busy machine, where wall time is not.

/// Process CPU seconds (user + system, all threads) from /proc/self/stat.
pub(crate) fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    let fields: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap()
        .split_whitespace()
        .collect();
    let ticks: f64 = fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap();
    ticks / 100.0
}
