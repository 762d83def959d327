//! Builds `c/frames.c` with the C compiler and its defaults, as a `-sys` crate would. The one
//! flag added, where the compiler knows it, turns stack-clash probes off: some distributions'
//! compilers (Ubuntu's, Fedora's) probe by default, most others (Debian's GCC, upstream GCC
//! and Clang, Apple's) do not, and these tests are about the code that does not.

fn main() {
    println!("cargo:rerun-if-changed=c/frames.c");
    cc::Build::new()
        .file("c/frames.c")
        .flag_if_supported("-fno-stack-clash-protection")
        .compile("greenchan_ctest_frames");
}
