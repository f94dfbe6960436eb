//! Compiles the C++ shim over the system dlib (Debian `libdlib-dev`) and links dlib with the
//! BLAS/LAPACK it was built against (OpenBLAS through Debian's alternatives when
//! `libopenblas-dev` is installed: embeddings about 13x faster than with the reference BLAS).

use std::path::Path;

const SHIM: &str = "src/shim/faces.cpp";

fn main() {
    println!("cargo:rerun-if-changed={SHIM}");
    println!("cargo:rerun-if-changed=build.rs");

    let have_dlib = ["/usr/include", "/usr/local/include"]
        .iter()
        .any(|dir| Path::new(dir).join("dlib/dnn.h").exists());
    if !have_dlib {
        panic!(
            "kvs-faces needs the dlib 19.24 headers and libraries: run scripts/install-deps \
             (Debian/Ubuntu packages libdlib-dev libblas-dev liblapack-dev libopenblas-dev)"
        );
    }

    // dlib's network code is templates that the shim instantiates: unoptimised, one face
    // embedding takes seconds instead of milliseconds, so -O2 even in debug builds. No debug
    // info: it would make the object file ten times larger and the build slower.
    cc::Build::new()
        .cpp(true)
        .std("c++14")
        .file(SHIM)
        .opt_level(2)
        .debug(false)
        .define("DLIB_NO_GUI_SUPPORT", None)
        // dlib's headers trip many warnings that are not ours to fix
        .warnings(false)
        .compile("kvs_faces_shim");

    for lib in ["dlib", "lapack", "blas"] {
        println!("cargo:rustc-link-lib={lib}");
    }
}
