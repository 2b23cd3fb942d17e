//! Give the C library its SONAME, so that programs linked against
//! `libsyslets.so` record `libsyslets.so.0` and keep working across
//! compatible updates of the installed file.
fn main() {
    println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libsyslets.so.0");
}
