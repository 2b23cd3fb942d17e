//! System calls of the table that the installed kernel headers may predate.
//!
//! The conformance tests check every row's number against the `__NR_<name>`
//! (x86_64) and `SYS_<name>` (i386) of the headers the system compiler sees.
//! Headers lag the kernel: a call added by a newer kernel than the headers'
//! (this machine's glibc headers know no `fchmodat2`, its kernel has it) has
//! no macro there. Only the calls listed here may be missing, and then only
//! with exactly the number written here, from the kernel's
//! `arch/x86/entry/syscalls/syscall_64.tbl` and `syscall_32.tbl`; where the
//! headers do have the call they are checked as for any other row.
#![allow(dead_code)] // each test binary uses its own half

/// `(name, x86_64 number, i386 number, the kernel that added it)`.
pub const NEWER_THAN_HEADERS: &[(&str, u32, u32, &str)] = &[("fchmodat2", 452, 452, "Linux 6.6")];

/// The entry for `name`, if the headers may lack it.
pub fn newer_than_headers(name: &str) -> Option<(u32, u32, &'static str)> {
    NEWER_THAN_HEADERS
        .iter()
        .find(|(n, ..)| *n == name)
        .map(|&(_, nr64, nr32, since)| (nr64, nr32, since))
}
