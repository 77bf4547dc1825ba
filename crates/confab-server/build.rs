//! Names the build in `confab --version`: the commit it was built from (`git describe`), or
//! "unknown commit" outside a git checkout (a source tarball).

use std::process::Command;

fn main() {
    let described = Command::new("git")
        .args(["describe", "--always", "--dirty", "--abbrev=12"])
        .output()
        .ok()
        .filter(|output| output.status.success())
        .and_then(|output| String::from_utf8(output.stdout).ok())
        .map(|text| text.trim().to_owned())
        .filter(|text| !text.is_empty());
    let build = described.unwrap_or_else(|| "unknown commit".to_owned());
    println!("cargo:rustc-env=CONFAB_BUILD={build}");
    // Again when HEAD moves or the index changes (a commit, a checkout).
    for path in [
        "../../.git/HEAD",
        "../../.git/index",
        "../../.git/refs/heads",
        "../../.git/packed-refs",
    ] {
        if std::path::Path::new(path).exists() {
            println!("cargo:rerun-if-changed={path}");
        }
    }
}
