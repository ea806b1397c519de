//! This process's memory, from `/proc/self/status` (Linux): resident set size now and its
//! peak ("high water mark"), which the kernel lets a process reset.

use anyhow::Context;

/// Resident memory, in KiB.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Resident {
    /// `VmRSS`: resident now.
    pub now_kib: u64,
    /// `VmHWM`: the peak since the process started or the peak was last reset.
    pub peak_kib: u64,
}

/// Reads `VmRSS` and `VmHWM`.
pub fn resident() -> anyhow::Result<Resident> {
    let status =
        std::fs::read_to_string("/proc/self/status").context("reading /proc/self/status")?;
    parse_status(&status).context("no VmRSS or VmHWM in /proc/self/status")
}

/// Resets `VmHWM` to the current `VmRSS` (writing 5 to `clear_refs`, Linux 4.0 and later), so
/// that the next [`resident`] gives the peak of what ran in between.
pub fn reset_peak() -> anyhow::Result<()> {
    std::fs::write("/proc/self/clear_refs", "5")
        .context("resetting the peak RSS through /proc/self/clear_refs")
}

fn parse_status(status: &str) -> Option<Resident> {
    let field = |name: &str| {
        status.lines().find_map(|line| {
            let rest = line.strip_prefix(name)?.strip_prefix(':')?;
            rest.trim().strip_suffix("kB")?.trim().parse::<u64>().ok()
        })
    };
    Some(Resident {
        now_kib: field("VmRSS")?,
        peak_kib: field("VmHWM")?,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use super::*;

    #[test]
    fn parses_the_two_fields() {
        let status = "Name:\txtask\nVmPeak:\t  999 kB\nVmHWM:\t    2048 kB\nVmRSS:\t    1024 kB\n";
        assert_eq!(
            parse_status(status),
            Some(Resident {
                now_kib: 1024,
                peak_kib: 2048
            })
        );
        assert_eq!(parse_status("VmRSS:\t1 kB\n"), None);
    }

    #[test]
    fn the_peak_grows_with_touched_memory_and_can_be_reset() {
        reset_peak().unwrap();
        let before = resident().unwrap();
        // 64 MiB written page by page: resident, whatever the allocator does.
        let block = vec![1u8; 64 << 20];
        let during = resident().unwrap();
        assert!(
            during.peak_kib >= before.now_kib + 60 * 1024,
            "{before:?} {during:?}"
        );
        drop(std::hint::black_box(block));
        // A block this large is mapped on its own, and returned to the kernel when freed.
        reset_peak().unwrap();
        let after = resident().unwrap();
        assert!(
            after.peak_kib + 32 * 1024 < during.peak_kib,
            "{during:?} {after:?}"
        );
    }
}
