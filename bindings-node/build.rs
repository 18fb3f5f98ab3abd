//! napi-rs link setup for the addon.

fn main() {
    napi_build::setup();
}
