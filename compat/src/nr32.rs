//! i386 system call numbers (`arch/x86/entry/syscalls/syscall_32.tbl`) of every
//! call the translator accepts, and the `socketcall` call numbers, from the
//! system-call table of `syslets-abi`. The tests check each one against the
//! i386 `unistd_32.h` of the installed kernel headers.

pub use syslets_abi::compat32::nr32::*;
pub use syslets_abi::compat32::socketcall;
