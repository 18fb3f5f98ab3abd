//! `uniffi-bindgen`: uniffi's own command line, pinned to the uniffi version the bindings
//! crate is built with (generated sources and the library must come from the same version).

fn main() {
    uniffi::uniffi_bindgen_main()
}
